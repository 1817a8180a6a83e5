/*
 * test_metrics.c: the replicator's node_exporter textfile (metrics.h):
 * sums per policy and status from execution records (a Running record of a
 * dead process counts as interrupted), escaping of policy names in label
 * values, families without samples left out, the atomic write (no temp
 * file left, mode 0644), the loader's "last line of an id wins", and the
 * whole file accepted by tests/tools/promcheck.py.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics.h"


static pid_t
dead_pid(void)
{
    pid_t  pid;

    pid = fork();
    if (pid == 0) {
        _exit(0);
    }

    waitpid(pid, NULL, 0);

    return pid;
}


static json_t *
records(void)
{
    json_t  *a;
    char     text[2048];

    snprintf(text, sizeof(text),
        "["
        "{\"id\":1,\"policy\":\"edge-prod\",\"status\":\"Succeed\","
        "\"start_time\":100,\"end_time\":160,\"failed\":0,\"bytes\":1000,"
        "\"blobs_fetched\":3,\"blobs_linked\":1,"
        "\"tasks\":[{\"tags_copied\":2},{\"tags_copied\":1}]},"
        "{\"id\":2,\"policy\":\"edge-prod\",\"status\":\"Failed\","
        "\"start_time\":200,\"end_time\":230,\"failed\":2,\"bytes\":500,"
        "\"tasks\":[{\"tags_copied\":1}]},"
        "{\"id\":3,\"policy\":\"edge-prod\",\"status\":\"Succeed\","
        "\"start_time\":300,\"end_time\":330,\"bytes\":0,\"tasks\":[]},"
        "{\"id\":4,\"policy\":\"we\\\"ird\\\\name\",\"status\":\"Running\","
        "\"pid\":%d},"
        "{\"id\":5,\"policy\":\"charts\",\"status\":\"Running\",\"pid\":%d},"
        "{\"id\":6,\"policy\":\"charts\",\"status\":\"Stopped\"}"
        "]", (int) getpid(), (int) dead_pid());

    a = json_loads(text, 0, NULL);
    assert_non_null(a);

    return a;
}


static void
test_render(void **state)
{
    char              err[256];
    json_t           *stats;
    hr_buf_t          out;
    hr_metrics_src_t  src;

    hr_metrics_src_init(&src);
    src.execs = records();
    stats = json_pack("{s:i, s:i, s:i}", "events", 7, "copied", 5,
                      "Bad-Key", 1);
    src.stats = stats;
    src.queue[HR_METRICS_WAITING] = 4;
    src.queue[HR_METRICS_FAILED] = 1;

    hr_buf_init(&out, HR_METRICS_MAX);
    assert_int_equal(hr_metrics_render(&src, &out, err, sizeof(err)), 0);

#define HAS(line)  assert_non_null(strstr(out.data, line "\n"))

    HAS("# TYPE harbor_replicator_executions_total counter");
    HAS("harbor_replicator_executions_total{policy=\"edge-prod\","
        "status=\"succeed\"} 2");
    HAS("harbor_replicator_executions_total{policy=\"edge-prod\","
        "status=\"failed\"} 1");
    HAS("harbor_replicator_executions_total{policy=\"charts\","
        "status=\"stopped\"} 1");
    HAS("harbor_replicator_executions_total{policy=\"charts\","
        "status=\"interrupted\"} 1");
    HAS("harbor_replicator_executions_running{policy=\"we\\\"ird\\\\name\"} "
        "1");
    HAS("harbor_replicator_executions_running{policy=\"charts\"} 0");
    HAS("harbor_replicator_artifacts_copied_total{policy=\"edge-prod\"} 4");
    HAS("harbor_replicator_blobs_total{policy=\"edge-prod\","
        "result=\"fetched\"} 3");
    HAS("harbor_replicator_copied_bytes_total{policy=\"edge-prod\"} 1500");
    HAS("harbor_replicator_task_failures_total{policy=\"edge-prod\"} 2");
    HAS("harbor_replicator_last_success_timestamp_seconds"
        "{policy=\"edge-prod\"} 330");
    HAS("harbor_replicator_events_total{result=\"events\"} 7");
    HAS("harbor_replicator_queue_depth{queue=\"waiting\"} 4");
    HAS("harbor_replicator_queue_depth{queue=\"failed\"} 1");

#undef HAS

    /* no success yet: no sample; unknown depth and odd keys: nothing */
    assert_null(strstr(out.data, "last_success_timestamp_seconds"
                                 "{policy=\"charts\"}"));
    assert_null(strstr(out.data, "queue=\"processing\""));
    assert_null(strstr(out.data, "Bad-Key"));

    /* policies sorted: charts before edge-prod */
    assert_true(strstr(out.data, "executions_total{policy=\"charts\"")
                < strstr(out.data, "executions_total{policy=\"edge-prod\""));

    hr_buf_free(&out);
    json_decref(src.execs);
    json_decref(stats);
}


static void
test_empty(void **state)
{
    char              err[256];
    hr_buf_t          out;
    hr_metrics_src_t  src;

    hr_metrics_src_init(&src);
    hr_buf_init(&out, HR_METRICS_MAX);
    assert_int_equal(hr_metrics_render(&src, &out, err, sizeof(err)), 0);

    /* only the info family: nothing else has a sample to show */
    assert_string_equal(out.data,
        "# HELP harbor_replicator_info The replicator that wrote this file.\n"
        "# TYPE harbor_replicator_info gauge\n"
        "harbor_replicator_info{version=\"" HR_VERSION "\"} 1\n");

    hr_buf_free(&out);
}


static void
test_load_and_write(void **state)
{
    int               n;
    char              dir[] = "/tmp/hr-test-metrics.XXXXXX", path[512];
    char              err[256], cmd[1024], *promcheck;
    FILE             *f;
    DIR              *d;
    json_t           *execs;
    struct stat       st;
    struct dirent    *de;
    hr_metrics_src_t  src;

    assert_non_null(mkdtemp(dir));

    /* missing file: no records */
    assert_int_equal(hr_metrics_load(dir, &execs, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(execs), 0);
    json_decref(execs);

    snprintf(path, sizeof(path), "%s/executions.jsonl", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
        "{\"id\":1,\"policy\":\"p\",\"status\":\"Running\",\"pid\":%d}\n"
        "{\"id\":2,\"policy\":\"p\",\"status\":\"Failed\",\"failed\":1}\n"
        "{\"id\":1,\"policy\":\"p\",\"status\":\"Succeed\","
        "\"end_time\":1700000000,\"bytes\":42}\n"
        "not json\n"
        "{\"id\":3,\"policy\":\"p\",\"status\":\"Succ", (int) getpid());
    fclose(f);

    assert_int_equal(hr_metrics_load(dir, &execs, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(execs), 2);
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(execs, 0), "status")), "Succeed");

    hr_metrics_src_init(&src);
    src.execs = execs;
    src.queue[HR_METRICS_PROCESSING] = 0;

    snprintf(path, sizeof(path), "%s/harbor_replicator.prom", dir);
    assert_int_equal(hr_metrics_write(NULL, path, &src, err, sizeof(err)),
                     0);
    /* again: the file is replaced, not appended to */
    assert_int_equal(hr_metrics_write(NULL, path, &src, err, sizeof(err)),
                     0);
    json_decref(execs);

    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    n = 0;
    d = opendir(dir);
    assert_non_null(d);

    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.') {
            n++;
        }
    }

    closedir(d);
    assert_int_equal(n, 2);     /* executions.jsonl and the .prom, no temp */

    promcheck = getenv("HR_PROMCHECK");
    if (promcheck == NULL) {
        promcheck = "tests/tools/promcheck.py";
    }

    if (access(promcheck, R_OK) == 0 && system("python3 -c '' 2>/dev/null")
                                        == 0)
    {
        snprintf(cmd, sizeof(cmd), "python3 %s %s", promcheck, path);
        assert_int_equal(system(cmd), 0);

        snprintf(cmd, sizeof(cmd),
                 "python3 %s --print %s 2>/dev/null | grep -qx "
                 "'harbor_replicator_copied_bytes_total{policy=\"p\"} 42'",
                 promcheck, path);
        assert_int_equal(system(cmd), 0);

    } else {
        printf("promcheck.py not found from here: not run\n");
    }

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_load_and_write),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
