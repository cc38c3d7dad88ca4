# Sonde build. `make` builds build/sonde; `make test` runs every test;
# `make bench` runs the benchmark. See README.md.
SHELL    := /bin/bash
BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     ?= $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS := -Iinclude -Isrc -I$(BUILD) -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN)
LDLIBS   := -lbpf -lelf -lz -lmicrohttpd -lgnutls -lcrypt -lyaml -lpthread -lm -lprotobuf-c -lcurl
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
OBJ      := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRC))
LIB_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
SAN_OBJ  := $(patsubst src/%.c,$(BUILD)/san/%.o,$(LIB_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRC))
SKEL     := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRC))
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# OTLP messages: C generated from proto/*.proto by protoc-c into $(BUILD)/proto/,
# compiled into both the agent's objects and the sanitizer (unit-test) objects.
PROTO_SRC := $(sort $(wildcard proto/*.proto))
PROTO_C  := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTO_SRC))
PROTO_H  := $(PROTO_C:.c=.h)
OBJ      += $(patsubst $(BUILD)/proto/%.c,$(BUILD)/obj/proto/%.o,$(PROTO_C))
LIB_OBJ  += $(patsubst $(BUILD)/proto/%.c,$(BUILD)/obj/proto/%.o,$(PROTO_C))
SAN_OBJ  += $(patsubst $(BUILD)/proto/%.c,$(BUILD)/san/proto/%.o,$(PROTO_C))

.SECONDARY:
.PHONY: all test doc-check unit-test bpf-test e2e-test fuzz fuzz-long soak bench demo setup clean
all: $(BUILD)/sonde

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) include/sonde/abi.h $(BUILD)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-I$(BUILD) -Iinclude -Ibpf -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,,$(notdir $<))_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: src/%.c $(SKEL) | $(BUILD)/obj
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: src/%.c $(SKEL)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DSONDE_VERSION='"$(VERSION)"' $(CFLAGS) $(SAN) -MMD -MP -c $< -o $@

$(PROTO_C) $(PROTO_H) &: $(PROTO_SRC)
	@mkdir -p $(BUILD)/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $(PROTO_SRC)

$(BUILD)/obj/proto/%.o: $(BUILD)/proto/%.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/san/proto/%.o: $(BUILD)/proto/%.c $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -c $< -o $@

# Sources may include the generated headers ("proto/trace.pb-c.h").
$(OBJ) $(SAN_OBJ): | $(PROTO_H)

$(BUILD)/obj/version.o $(BUILD)/san/version.o: CPPFLAGS += -DSONDE_VERSION='"$(VERSION)"'
$(BUILD)/obj/version.o $(BUILD)/san/version.o: .FORCE
.PHONY: .FORCE

$(BUILD)/obj:
	@mkdir -p $@

$(BUILD)/sonde: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# One unit-test executable per module, sanitizers on.
$(BUILD)/tests/%: tests/unit/%.c $(SAN_OBJ) $(wildcard tests/unit/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit -DGOLDEN_DIR='"$(CURDIR)/tests/golden"' $(CFLAGS) $(SAN) \
		-o $@ $< $(SAN_OBJ) $(LDLIBS) -lcmocka

$(BUILD)/tests/bpf_load: tests/bpf/test_load.c $(SKEL) $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS) -lcmocka

FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
$(BUILD)/fuzz/%: tests/fuzz/%.c src/decode/http1.c src/model/route.c src/model/traceparent.c \
		src/util/utf8.c
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $^ \
		$(FUZZ_LDLIBS)
# Targets with code of their own beyond the common sources.
$(BUILD)/fuzz/fuzz_elf: src/util/elf_inspect.c
$(BUILD)/fuzz/fuzz_elf: FUZZ_LDLIBS := -lelf -lz
$(BUILD)/fuzz/fuzz_proc: src/util/proc_parse.c

unit-test: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# The kernel-side HTTP/1 parsers under BPF_PROG_TEST_RUN: a test-only BPF
# object, kept out of bpf/ (every bpf/*.bpf.c goes into the agent).
$(BUILD)/tests/proto_test.bpf.o: tests/bpf/proto_test.bpf.c $(wildcard bpf/*.h) include/sonde/abi.h $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-I$(BUILD) -Iinclude -Ibpf -c $< -o $@

$(BUILD)/tests/proto_test.skel.h: $(BUILD)/tests/proto_test.bpf.o
	$(BPFTOOL) gen skeleton $< name proto_test_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/bpf_proto: tests/bpf/test_proto.c $(BUILD)/tests/proto_test.skel.h
	$(CC) $(CPPFLAGS) -I$(BUILD)/tests $(CFLAGS) -o $@ $< -lbpf -lelf -lz -lcmocka

bpf-test: $(BUILD)/tests/bpf_load $(BUILD)/tests/bpf_proto
	$(BUILD)/tests/bpf_load
	$(BUILD)/tests/bpf_proto

FUZZ_SECONDS ?= 20
# Each target for FUZZ_SECONDS; seeded from tests/fuzz/seeds/<target> when
# there is one (fuzz_http1 from tests/golden/http1).
fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$t; \
		seeds=; [ $$t = fuzz_http1 ] && seeds=tests/golden/http1; \
		[ -d tests/fuzz/seeds/$$t ] && seeds=tests/fuzz/seeds/$$t; \
		echo "== $$t"; \
		$(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(BUILD)/fuzz/corpus-$$t $$seeds; \
	done

# Beyond CI: each target until FUZZ_LONG_RUNS executions or FUZZ_LONG_SECONDS,
# whichever comes first; execs, time and crashes per target in docs/fuzzing.md.
FUZZ_LONG_SECONDS ?= 600
FUZZ_LONG_RUNS ?= 10000000
fuzz-long: $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
	/usr/bin/python3 tests/fuzz/run_long.py --build $(BUILD)/fuzz --seconds $(FUZZ_LONG_SECONDS) \
		--runs $(FUZZ_LONG_RUNS) --report docs/fuzzing.md $(FUZZ_TARGETS)

e2e-test: $(BUILD)/sonde
	/usr/bin/python3 -m pytest -v tests/e2e

# The README's configuration table is generated from the option table.
doc-check: $(BUILD)/sonde
	@$(BUILD)/sonde --help-markdown | diff -u - <(sed -n '/^| YAML key/,/^$$/p' README.md | sed '/^$$/d') \
		&& echo "doc-check: README configuration table matches the option table"

# Everything CI runs: unit tests, a short fuzz run, BPF load test, end to end.
test: all unit-test doc-check fuzz bpf-test e2e-test

# The platform-cost probe of the benchmark (bench/floor/): what an empty
# syscall tracepoint program and single helpers cost here, apart from Sonde.
$(BUILD)/bench/floor.bpf.o: bench/floor/floor.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(BUILD) -c $< -o $@

$(BUILD)/bench/floor: bench/floor/floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lbpf

# The minimal reference agent of the benchmark (bench/minimal/): the least an
# agent on sys_exit or on the socket tracepoints does per socket read/write.
$(BUILD)/bench/minimal.bpf.o: bench/minimal/minimal.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(BUILD) -c $< -o $@

$(BUILD)/bench/minimal: bench/minimal/minimal.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< -lbpf

BENCH_BIN := $(BUILD)/bench/floor $(BUILD)/bench/floor.bpf.o \
	$(BUILD)/bench/minimal $(BUILD)/bench/minimal.bpf.o

bench: $(BUILD)/sonde $(BENCH_BIN)
	bench/run.sh

demo: $(BUILD)/sonde
	demo/run.sh

# Not in CI: SOAK_SECONDS (1800) of load with connection churn and server
# restarts under Sonde; RSS drift and spans vs requests in docs/soak.md.
soak: $(BUILD)/sonde
	/usr/bin/python3 bench/soak.py

setup:
	scripts/setup.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/san -name '*.d' 2>/dev/null)
