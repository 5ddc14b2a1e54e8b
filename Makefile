# warden — build, test, bench.  See README.md.
#
# Sources are found by directory: every engine/ rules/ storage/ replay/ admin/
# *.c (and engine/*.cpp) goes into build/libwarden.a; engine/eng_main.c is the
# binary.  tests/<dir>/test_*.c are cmocka binaries; tests/integration/*.sh
# drive the real binary; bench/*.c are benchmarks; examples/*.c are tools.

BUILD    ?= build
CC       ?= cc
CXX      ?= c++
PKGS      = rdkafka lua5.4 libmariadb libcurl jansson libmicrohttpd simdjson libcrypto
OPT      ?= -O2
CPPFLAGS += -I. -D_GNU_SOURCE -DWARDEN_VERSION=\"$(VERSION)\"
CFLAGS   += -std=c11 $(OPT) -g -Wall -Wextra -Werror -fno-omit-frame-pointer $(SAN_FLAGS) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CXXFLAGS += -std=c++17 $(OPT) -g -Wall -Wextra -Werror -fno-omit-frame-pointer $(SAN_FLAGS) \
            $(shell pkg-config --cflags simdjson 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -lm -lpthread
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

ifeq ($(SAN),1)
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif

LIB_C    := $(filter-out engine/eng_main.c,$(wildcard engine/*.c rules/*.c storage/*.c replay/*.c admin/*.c))
LIB_CXX  := $(wildcard engine/*.cpp)
LIB_OBJS := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cpp=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*/test_*.c)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_BIN:= $(patsubst %.c,$(BUILD)/%,$(wildcard bench/*.c))
TOOL_BIN := $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c))
WARDEN   := $(BUILD)/warden

.PHONY: all deps test unit integration bench run asan asan-build valgrind lint tidy clean
.DEFAULT_GOAL := all

all: deps $(WARDEN) $(TEST_BIN) $(BENCH_BIN) $(TOOL_BIN)

# Installs missing Debian packages; quick when everything is present.
deps:
	@tools/deps.sh

$(BUILD)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cpp $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c -o $@ $<

$(BUILD)/libwarden.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(WARDEN): $(BUILD)/engine/eng_main.o $(BUILD)/libwarden.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libwarden.a $(wildcard tests/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libwarden.a $(LDLIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/% $(BUILD)/examples/%: CFLAGS += -Wno-unused-parameter
$(BUILD)/bench/%: bench/%.c $(BUILD)/libwarden.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libwarden.a $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libwarden.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libwarden.a $(LDLIBS)

# The whole suite: unit tests, then integration tests against real servers.
# then, on the plain build, the sanitizer stage: every unit test and the
# server-less integration tests again on an ASan+UBSan build, and every unit
# test under valgrind.  (`make asan` runs the whole suite on the ASan build.)
ifeq ($(SAN),1)
test: all
	@BUILD=$(BUILD) tools/run_tests.sh $(TEST_BIN)
else
test: all asan-build
	@BUILD=$(BUILD) SANITIZE=1 tools/run_tests.sh $(TEST_BIN)
endif

asan-build:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all

unit: all
	@BUILD=$(BUILD) UNIT_ONLY=1 tools/run_tests.sh $(TEST_BIN)

# The embedded main job: the example pack over the sample events.
run: all
	$(WARDEN) eval examples/rules examples/events/sample.jsonl > $(BUILD)/hits.jsonl
	@echo "hits written to $(BUILD)/hits.jsonl ($$(wc -l < $(BUILD)/hits.jsonl) lines)"

bench: all
	@BUILD=$(BUILD) tools/run_bench.sh

# ASan+UBSan build of everything, then the whole suite on it.
asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 test

# Unit tests and the eval integration test under valgrind.
valgrind: all
	@BUILD=$(BUILD) VALGRIND=1 UNIT_ONLY=1 tools/run_tests.sh $(TEST_BIN)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem -I. engine rules storage replay admin

# clang-tidy's default checks (see .clang-tidy) over every library source.
tidy:
	@for f in $(LIB_C) engine/eng_main.c; do \
	  clang-tidy -quiet $$f -- $(CPPFLAGS) -std=c11 $(shell pkg-config --cflags $(PKGS)) 2>/dev/null; \
	done | grep -E -A3 'warning:|error:' ; true

clean:
	rm -rf build build-asan

# libFuzzer target for the event parser (clang; not part of `all`).  Run by
# hand, e.g.: build/fuzz/fuzz_json -max_total_time=120 -max_len=4096 DIR
FUZZ_CC    ?= clang
FUZZ_CXX   ?= clang++
FUZZ_FLAGS  = -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_json

$(BUILD)/fuzz/fuzz_json: tests/fuzz/fuzz_json.c tests/engine/json_diff.h engine/eng_json.cpp engine/eng_json.h
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(CPPFLAGS) -std=c++17 -Wall -Wextra -Werror $(FUZZ_FLAGS) $(shell pkg-config --cflags simdjson) \
	  -c -o $(BUILD)/fuzz/eng_json.o engine/eng_json.cpp
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) -c -o $(BUILD)/fuzz/fuzz_json.o tests/fuzz/fuzz_json.c
	$(FUZZ_CXX) $(FUZZ_FLAGS) -o $@ $(BUILD)/fuzz/fuzz_json.o $(BUILD)/fuzz/eng_json.o $(shell pkg-config --libs jansson simdjson) -lm
