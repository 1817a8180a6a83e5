# Misuse of the directives is refused when nginx starts (nginx -t), each
# with the message that names the mistake; valid settings start.
use Test::Nginx::Socket;
use lib 't/lib';
use HarborStore;
use HarborTest;

our $S = HarborStore::build();

repeat_each(1);
HarborTest::setup();
run_tests();

__DATA__

=== TEST 1: harbor_verify with a bad value
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify sometimes;
--- must_die
--- error_log
invalid value "sometimes" in



=== TEST 2: harbor_registry on without any harbor_root
--- http_config
--- must_die
--- error_log
"harbor_registry on" requires "harbor_root"



=== TEST 3: harbor_ns with a prefix that is not a repository name
--- config
location /v2/ {
    harbor_registry on;
    harbor_ns docker.io Docker_Hub/;
}
--- must_die
--- error_log
invalid repository prefix "Docker_Hub/" in "harbor_ns"



=== TEST 4: harbor_catalog_max_entries that is not a number
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_catalog_max_entries many;
--- must_die
--- error_log
"harbor_catalog_max_entries" directive invalid number



=== TEST 5: harbor_miss_pass to something that is not a named location
--- config
location /v2/ {
    harbor_registry on;
    harbor_miss_pass /primary;
}
--- must_die
--- error_log
"harbor_miss_pass" needs a named location ("@name"), not "/primary"



=== TEST 6: harbor_shm_size outside http
--- config
location /v2/ {
    harbor_registry on;
    harbor_shm_size 1m;
}
--- must_die
--- error_log
"harbor_shm_size" directive is not allowed here



=== TEST 7: harbor_verify_thread_pool naming a pool nobody declares (as aio threads=)
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify_thread_pool nosuchpool;
--- must_die
--- error_log
unknown thread pool "nosuchpool"



=== TEST 8: every directive with a valid value starts
--- http_config
harbor_root $TEST_NGINX_HARBOR_ROOT;
harbor_verify always;
harbor_verify_thread_pool default;
harbor_manifest_max_size 1m;
harbor_catalog_max_entries 50;
harbor_shm_size 2m;
--- config
location /v2/ {
    harbor_registry on;
    harbor_ns docker.io dockerhub;
    harbor_miss_pass @primary;
}
location @primary {
    return 502;
}
--- request
GET /v2/
--- response_body_like: ^\{\}
--- no_error_log
[error]
