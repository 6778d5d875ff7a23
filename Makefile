# SPDX-License-Identifier: MIT
# Thin wrapper over CMake. The two commands a newcomer needs:
#   make run    install what is missing, build, run the main job on the embedded default
#   make test   install what is missing, build, run every test (plus an ASan+UBSan pass
#               and short libFuzzer runs)

BUILD      ?= build/release
SAN_BUILD  ?= build/asan
TSAN_BUILD ?= build/tsan
FUZZ_BUILD ?= build/fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 20
BENCH_N    ?= 1000000

.PHONY: all deps build run test test-release test-asan test-tsan fuzz bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/tgharvest run --import examples

test: deps test-release test-asan test-tsan fuzz
	@echo "make test: all suites passed"

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTGH_SANITIZE=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

# The threaded parts under ThreadSanitizer: the writer thread and the import
# job, and the collector (its loop, the writer, the TDLib stand-in's thread)
# through live updates and kill -9 restarts.
test-tsan: deps
	@CC=clang cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_FLAGS="-fsanitize=thread -g -O1" \
		-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
		-DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target test_pipeline tgharvest fake_tdjson
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure \
		-R '^(test_pipeline|cli_test_collect_live|cli_test_collect_kill)$$'

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTGH_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	$(BUILD)/bench/bench_ingest $(BENCH_N)
	$(BUILD)/bench/bench_store_insert
	$(BUILD)/bench/bench_codec
	$(BUILD)/bench/bench_collect

clean:
	rm -rf build
