# Harbor Edge: build the nginx module and the replicator, run every test.
#
#   make            build/ngx_http_harbor_module.so and build/harbor-replicator
#   make test       unit, module (t/) and integration tests
#   make demo       a whole edge in front of a local primary
#   make bench      side-by-side benchmarks (not part of make test)
#   make fuzz       libFuzzer targets for FUZZ_SECONDS each

SHELL       := /bin/bash
BUILD       := build
NGX_SRC     ?= /usr/share/nginx/src
NGX_BUILD   := $(BUILD)/nginx
MODULE_SO   := $(BUILD)/ngx_http_harbor_module.so
REPLICATOR  := $(BUILD)/harbor-replicator

CC          ?= cc
CFLAGS      ?= -O2 -g -D_FORTIFY_SOURCE=2
NGX_CC_OPT  ?= -g -O2 -D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security
HR_CFLAGS   := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror \
               -D_GNU_SOURCE -Ireplicator -Ilib \
               $(shell pkg-config --cflags libcurl jansson openssl hiredis)
HR_LIBS     := $(shell pkg-config --libs libcurl jansson openssl hiredis) \
               -lpthread -lm

# lib/: what both programs compile (the OCI grammars)
SHARED_SRCS := $(wildcard lib/*.c)
SHARED_HDRS := $(wildcard lib/*.h)
SHARED_OBJS := $(patsubst lib/%.c,$(BUILD)/hr/%.o,$(SHARED_SRCS))

MODULE_SRCS := $(wildcard ngx_harbor_module/*.c ngx_harbor_module/*.h) \
               $(SHARED_SRCS) $(SHARED_HDRS)
HR_SRCS     := $(wildcard replicator/*.c)
HR_HDRS     := $(wildcard replicator/*.h) $(SHARED_HDRS)
HR_LIB_SRCS := $(filter-out replicator/main.c,$(HR_SRCS))
HR_OBJS     := $(patsubst replicator/%.c,$(BUILD)/hr/%.o,$(HR_SRCS)) \
               $(SHARED_OBJS)
HR_LIB_OBJS := $(patsubst replicator/%.c,$(BUILD)/hr/%.o,$(HR_LIB_SRCS)) \
               $(SHARED_OBJS)

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

.PHONY: deps all module replicator test test-unit test-unit-san test-t \
        test-integration demo bench fuzz clean style deb

all: module replicator

deps:
	tests/tools/install-deps.sh

module: $(MODULE_SO)
replicator: $(REPLICATOR)

# nginx's own build: Debian's nginx-dev tree configured with the flags Debian's
# nginx was built with, so the .so loads into /usr/sbin/nginx (--with-compat).
$(NGX_BUILD)/objs/Makefile: config
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -a $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(NGX_CC_OPT)" \
	        --add-dynamic-module=$(CURDIR) > ../nginx-configure.log 2>&1 \
	    || { tail -30 ../nginx-configure.log; exit 1; }

$(MODULE_SO): $(NGX_BUILD)/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules
	@# a new inode: nginx processes that mapped the old file keep it intact
	cp $(NGX_BUILD)/objs/ngx_http_harbor_module.so $@.tmp && mv -f $@.tmp $@

$(BUILD)/hr/%.o: replicator/%.c $(HR_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(HR_CFLAGS) -c -o $@ $<

$(BUILD)/hr/%.o: lib/%.c $(SHARED_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(HR_CFLAGS) -c -o $@ $<

$(REPLICATOR): $(HR_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(HR_LIBS)

# Unit tests: cmocka, one file per replicator source file.
$(BUILD)/unit/%: tests/unit/%.c $(HR_LIB_OBJS) $(HR_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(HR_CFLAGS) -o $@ $< $(HR_LIB_OBJS) $(HR_LIBS) -lcmocka

# test_jwt includes the module's files it tests
$(BUILD)/unit/test_jwt: $(wildcard ngx_harbor_module/ngx_http_harbor_jwt.[ch] \
                                   ngx_harbor_module/ngx_http_harbor_json.[ch])

test-unit: $(UNIT_BINS)
	tests/unit/run.sh $(UNIT_BINS)

# The same unit tests under ASan and UBSan.
test-unit-san:
	$(MAKE) -s BUILD=$(BUILD)/san CC=clang \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    test-unit

test-t: $(MODULE_SO)
	tests/tnginx/run-tests.sh

test-integration: all
	tests/integration/run.sh

# Every suite, even after one fails, and one summary at the end
# (tests/run-all.sh; each suite's log in build/test-logs/).
test: all
	MAKE="$(MAKE)" tests/run-all.sh

demo: deps
	$(MAKE) all
	tests/integration/demo.sh

bench: all
	tests/bench/run.sh
	tests/bench/replicate.sh

fuzz: $(NGX_BUILD)/objs/Makefile
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# Debian packages (libnginx-mod-http-harbor, harbor-replicator, source package
# harbor-edge) in build/deb/, built by dpkg-buildpackage in a copy of the tree.
deb:
	packaging/build-deb.sh

style:
	tests/tools/style.sh

clean:
	rm -rf $(BUILD)
