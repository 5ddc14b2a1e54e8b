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
PKGS      = rdkafka lua5.4 libmariadb libcurl jansson simdjson libcrypto libmicrohttpd
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
# tests/<dir>/kt_*.c: tools the integration scripts use (e.g. a producer
# with given record timestamps), not tests
TEST_TOOL:= $(patsubst %.c,$(BUILD)/%,$(wildcard tests/*/kt_*.c))
BENCH_BIN:= $(patsubst %.c,$(BUILD)/%,$(wildcard bench/*.c))
TOOL_BIN := $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c))
WARDEN   := $(BUILD)/warden

.PHONY: all build test-build deps test-deps test soak chaos unit integration bench run demo asan asan-build valgrind lint tidy clean
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory build
build: $(WARDEN) $(TEST_BIN) $(TEST_TOOL) $(BENCH_BIN) $(TOOL_BIN)

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

# The whole suite (tools/run_tests.sh; README.md "Development" has how it
# runs): the dependencies, then the plain build with `make lint` beside it;
# then the unit tests, the integration tests against real servers (JOBS=4
# scripts at once) and beside them, in the background, the ASan+UBSan and
# fuzz builds followed by every unit test and the server-less integration
# tests on the ASan build and a short run of each fuzz target, and every unit
# test under valgrind.  (`make asan` runs the whole suite on the ASan build.)
NPROC := $(shell nproc 2>/dev/null || echo 2)
ifeq ($(SAN),1)
test: all test-deps
	@BUILD=$(BUILD) tools/run_tests.sh $(TEST_BIN)
else
test:
	@$(MAKE) --no-print-directory deps test-deps
	@$(MAKE) --no-print-directory -j$(NPROC) build lint
	@BUILD=$(BUILD) SANITIZE=1 FUZZ_SECS=5 \
	  SANITIZE_BUILD="make --no-print-directory -j$(NPROC) asan-build fuzz" tools/run_tests.sh $(TEST_BIN)
endif

# The long forms of the resource tests: 100 rebalances (the suite does 40)
# beside 100 reloads, against a private broker.
soak: all test-deps
	@BUILD=$(BUILD) REBALANCES=100 SCRIPTS=tests/integration/kafka_leaks.sh tools/run_tests.sh

# Chaos at full size: 200,000 events, two processes, kill -9s, a broker
# restart and a store outage (the suite runs it with 20,000).
chaos: all test-deps
	@BUILD=$(BUILD) CHAOS_EVENTS=200000 SCRIPTS=tests/integration/kafka_db_chaos.sh tools/run_tests.sh

# What the suite runs on the ASan build: the binary, the unit tests and the
# tools the scripts use (not the benchmarks and examples).
asan-build: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 test-build
test-build: $(WARDEN) $(TEST_BIN) $(TEST_TOOL)

unit: all test-deps
	@BUILD=$(BUILD) UNIT_ONLY=1 tools/run_tests.sh $(TEST_BIN)

# The embedded main job: the example pack over the sample events.
run: all
	$(WARDEN) eval examples/rules examples/events/sample.jsonl > $(BUILD)/hits.jsonl
	@echo "the first hits (one JSON object per rule verdict on an event):"; head -n 3 $(BUILD)/hits.jsonl
	@echo "hits written to $(BUILD)/hits.jsonl ($$(wc -l < $(BUILD)/hits.jsonl) lines)"

# warden end to end on private servers: split, two run processes, actions,
# MariaDB, /metrics, a replay diff, the breaker (tools/demo.sh; about 2 min).
demo: all test-deps
	@WARDEN=$(CURDIR)/$(WARDEN) tools/demo.sh

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

# libFuzzer targets (tests/fuzz/fuzz_*.c), each linked against a copy of the
# library built with clang and -fsanitize=fuzzer-no-link,address,undefined in
# build-fuzz/.  Seed corpora: tests/fuzz/corpus/<target>/.  `make fuzz`
# builds them; `make fuzz-run FUZZ_SECS=600` runs each for that long on a
# scratch copy of its corpus (the suite runs each for FUZZ_SECS=5); run from
# the repository root (the targets read examples/rules).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECS  ?= 60
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/fuzz/%)
.PHONY: fuzz fuzz-lib fuzz-run
fuzz: test-deps fuzz-lib
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz-lib:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang CXX=clang++ OPT=-O1 \
	  SAN_FLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BUILD)/libwarden.a

# Linked by clang++: the library holds C++ (simdjson) and UBSan's C++ checks.
$(FUZZ_BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_BUILD)/libwarden.a
	@mkdir -p $(dir $@)
	clang $(filter-out -MMD -MP,$(CPPFLAGS)) -std=c11 -g -O1 -Wall -Wextra -Werror $(FUZZ_SAN) -fsanitize=fuzzer \
	  $(shell pkg-config --cflags $(PKGS)) -c -o $@.o $<
	clang++ $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $@.o $(FUZZ_BUILD)/libwarden.a $(LDLIBS)

fuzz-run: fuzz
	@tools/run_fuzz.sh $(FUZZ_SECS) $(FUZZ_BIN)
