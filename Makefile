# warden — build, test, bench.  See README.md.
#
# Sources are found by directory: every *.c (and base/*.cpp) of the rooms
# base/ state/ rules/ engine/ kafka/ storage/ replay/ admin/ cmd/ goes into
# build/libwarden.a; cmd/cmd_main.c is the binary (docs/architecture.md has
# the rooms and the include direction `make lint` checks).
# tests/<dir>/test_*.c are cmocka binaries (test_broker* need a broker:
# tools/run_tests.sh leaves them to the kafka_* scripts); tests/integration/*.sh
# drive the real binary; bench/*.c are benchmarks; examples/*.c are tools.

BUILD    ?= build
CC       ?= cc
CXX      ?= c++
PKGS      = rdkafka lua5.4 libmariadb libcurl jansson simdjson libcrypto
ROOMS     = base state rules engine kafka storage replay admin cmd
OPT      ?= -O2
CPPFLAGS += -I. -MMD -MP -D_GNU_SOURCE -DWARDEN_VERSION=\"$(VERSION)\"
CFLAGS   += -std=c11 $(OPT) -g -Wall -Wextra -Werror -fno-omit-frame-pointer $(SAN_FLAGS) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CXXFLAGS += -std=c++17 $(OPT) -g -Wall -Wextra -Werror -fno-omit-frame-pointer $(SAN_FLAGS) \
            $(shell pkg-config --cflags simdjson 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -lm -lpthread
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(SAN),1)
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif

LIB_C    := $(filter-out cmd/cmd_main.c,$(wildcard $(addsuffix /*.c,$(ROOMS))))
LIB_CXX  := $(wildcard base/*.cpp)
LIB_OBJS := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cpp=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*/test_*.c)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_BIN:= $(patsubst %.c,$(BUILD)/%,$(wildcard bench/*.c))
TOOL_BIN := $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c))
WARDEN   := $(BUILD)/warden

.PHONY: all build deps test-deps test unit integration bench run asan asan-build valgrind lint tidy clean
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory build
build: $(WARDEN) $(TEST_BIN) $(BENCH_BIN) $(TOOL_BIN)

# Installs missing Debian packages; quick when everything is present.
# deps: what building needs; test-deps: the servers and tools of the suite.
deps:
	@tools/deps.sh build
test-deps:
	@tools/deps.sh test

# Header dependencies per object (-MMD -MP writes a .d beside each .o).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c -o $@ $<

$(BUILD)/libwarden.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(WARDEN): $(BUILD)/cmd/cmd_main.o $(BUILD)/libwarden.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libwarden.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -MF $@.d $(CFLAGS) -o $@ $< $(BUILD)/libwarden.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/% $(BUILD)/examples/%: CFLAGS += -Wno-unused-parameter
$(BUILD)/bench/%: bench/%.c $(BUILD)/libwarden.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -MF $@.d $(CFLAGS) -o $@ $< $(BUILD)/libwarden.a $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libwarden.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -MF $@.d $(CFLAGS) -o $@ $< $(BUILD)/libwarden.a $(LDLIBS)

# The whole suite: unit tests, then integration tests against real servers.
# then, on the plain build, the sanitizer stage: every unit test and the
# server-less integration tests again on an ASan+UBSan build, and every unit
# test under valgrind.  (`make asan` runs the whole suite on the ASan build.)
ifeq ($(SAN),1)
test: all test-deps
	@BUILD=$(BUILD) tools/run_tests.sh $(TEST_BIN)
else
test: all test-deps asan-build
	@BUILD=$(BUILD) SANITIZE=1 tools/run_tests.sh $(TEST_BIN)
endif

asan-build:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all

unit: all test-deps
	@BUILD=$(BUILD) UNIT_ONLY=1 tools/run_tests.sh $(TEST_BIN)

# The embedded main job: the example pack over the sample events.
run: all
	$(WARDEN) eval examples/rules examples/events/sample.jsonl > $(BUILD)/hits.jsonl
	@echo "hits written to $(BUILD)/hits.jsonl ($$(wc -l < $(BUILD)/hits.jsonl) lines)"

bench: all test-deps
	@BUILD=$(BUILD) tools/run_bench.sh

# ASan+UBSan build of everything, then the whole suite on it.
asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 test

# Unit tests and the eval integration test under valgrind.
valgrind: all test-deps
	@BUILD=$(BUILD) VALGRIND=1 UNIT_ONLY=1 tools/run_tests.sh $(TEST_BIN)

# The include direction between rooms (tools/lint_includes.sh), then cppcheck.
lint:
	@tools/lint_includes.sh
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem -I. $(ROOMS)

# clang-tidy's default checks (see .clang-tidy) over every library source;
# fails on any finding, and when clang-tidy is not installed.
tidy:
	@command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is not installed (make test-deps)"; exit 1; }
	@out=$$(for f in $(LIB_C) cmd/cmd_main.c; do \
	  clang-tidy -quiet $$f -- $(filter-out -MMD -MP,$(CPPFLAGS)) -std=c11 $(shell pkg-config --cflags $(PKGS)) 2>/dev/null; \
	done | grep -E -A3 'warning:|error:'); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; echo "tidy: clean"

clean:
	rm -rf build build-asan

# libFuzzer target for the event parser (clang; not part of `all`).  Run by
# hand, e.g.: build/fuzz/fuzz_json -max_total_time=120 -max_len=4096 DIR
FUZZ_CC    ?= clang
FUZZ_CXX   ?= clang++
FUZZ_FLAGS  = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_json

$(BUILD)/fuzz/fuzz_json: tests/fuzz/fuzz_json.c tests/base/json_diff.h base/wd_json.cpp base/wd_json.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS) -std=c++17 -Wall -Wextra -Werror $(FUZZ_FLAGS) $(shell pkg-config --cflags simdjson) \
	  -c -o $(BUILD)/fuzz/wd_json.o base/wd_json.cpp
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) -c -o $(BUILD)/fuzz/fuzz_json.o tests/fuzz/fuzz_json.c
	$(FUZZ_CXX) $(FUZZ_FLAGS) -o $@ $(BUILD)/fuzz/fuzz_json.o $(BUILD)/fuzz/wd_json.o $(shell pkg-config --libs jansson simdjson) -lm
