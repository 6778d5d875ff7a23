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
# through live updates and kill -9 restarts, the media downloader (its storing
# thread) through downloads, faults and a kill -9, the publishing writer (sharded
# collectors into RabbitMQ) in the scale-out scenario, the live feed, and the
# HTTP server's threads (a thread per connection, streams, the store pool), and
# the gap check inside the collecting daemon next to the API's gauges thread.
test-tsan: deps
	@CC=clang cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
		-DCMAKE_C_FLAGS="-fsanitize=thread -g -O1" \
		-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
		-DCMAKE_MODULE_LINKER_FLAGS=-fsanitize=thread >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target test_pipeline test_feed tgharvest fake_tdjson \
		gen_events qtool
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure \
		-R '^(test_pipeline|test_feed|cli_test_collect_live|cli_test_collect_kill|cli_test_collect_media|cli_test_collect_media_faults|cli_test_scale_pipeline|cli_test_api|cli_test_api_stream|cli_test_gaps)$$'

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTGH_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The scale-out benchmarks need PostgreSQL, RabbitMQ and Redis: started here
# (and s3rver) on ports BENCH_PORT..BENCH_PORT+5 (scripts/services.sh) and stopped after.
BENCH_SVC  ?= build/bench-services
BENCH_PORT ?= 24900
BENCH_ENV   = TGH_BENCH_PG_URL=postgresql://postgres@127.0.0.1:$(BENCH_PORT)/tgharvest \
	TGH_BENCH_REDIS_URL=redis://127.0.0.1:$(shell echo $$(($(BENCH_PORT)+1))) \
	TGH_BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:$(shell echo $$(($(BENCH_PORT)+2)))/%2f \
	TGH_BENCH_S3_URL='s3://tgh-test?endpoint=http://127.0.0.1:$(shell echo $$(($(BENCH_PORT)+5)))&region=us-east-1'

bench: build
	$(BUILD)/bench/bench_ingest $(BENCH_N)
	$(BUILD)/bench/bench_store_insert
	$(BUILD)/bench/bench_codec
	$(BUILD)/bench/bench_botapi
	$(BUILD)/bench/bench_collect
	$(BUILD)/bench/bench_api
	@bash scripts/services.sh start $(BENCH_SVC) $(BENCH_PORT)
	$(BENCH_ENV) $(BUILD)/bench/bench_store_pg; \
	$(BENCH_ENV) $(BUILD)/bench/bench_media; \
	$(BENCH_ENV) $(BUILD)/bench/bench_cache; \
	$(BENCH_ENV) $(BUILD)/bench/bench_queue; \
	$(BENCH_ENV) $(BUILD)/bench/bench_pipeline; \
	$(BENCH_ENV) $(BUILD)/bench/bench_stream; \
	rc=$$?; bash scripts/services.sh stop $(BENCH_SVC); exit $$rc

clean:
	rm -rf build
