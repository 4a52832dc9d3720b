# dynvol - top-level entry points. meson + ninja do the building; this file
# only wires the set-up script, the build directories and the test runners.

SHELL      := /bin/bash
BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     := /usr/bin/python3
PYTEST     := $(PYTHON) -m pytest -q -p no:cacheprovider
RUN_DIR    := $(CURDIR)/run

.PHONY: all deps build build-asan build-fuzz run test test-twice test-load test-unit \
	test-integration test-asan \
	fuzz fuzz-replay bench clean

FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_parsers fuzz_config fuzz_http2 fuzz_csi fuzz_rest fuzz_k8spb fuzz_patch

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD)

# Sanitized build: ASan + UBSan, and any UB report is fatal.
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug -Dc_args=-fno-sanitize-recover=all

build-asan: deps $(ASAN_BUILD)/build.ninja
	@ninja -C $(ASAN_BUILD)

# The driver with every default: state, socket and a 'dir' pool under ./run.
run: build
	@mkdir -p $(RUN_DIR)
	@echo "dynvol: CSI socket unix://$(RUN_DIR)/csi.sock (Ctrl-C stops)"
	@echo "dynvol: try:  $(BUILD)/dynvolctl -e unix://$(RUN_DIR)/csi.sock identity info"
	@exec $(BUILD)/dynvol driver --state-dir $(RUN_DIR) --endpoint unix://$(RUN_DIR)/csi.sock

test: build
	@$(MAKE) --no-print-directory test-unit test-integration BUILD=$(BUILD)

# The flakiness checks (docs/testing.md): the whole suite twice in a row,
# and once while tests/integration/loadgen.py hogs the CPUs and the disk
# (started and stopped by the harness, at most LOAD_SECONDS).
LOAD_SECONDS ?= 1200
test-twice: build
	@$(MAKE) --no-print-directory test-unit test-integration BUILD=$(BUILD)
	@$(MAKE) --no-print-directory test-unit test-integration BUILD=$(BUILD)

test-load: build
	DYNVOL_TEST_LOAD=$(LOAD_SECONDS) $(MAKE) --no-print-directory test-integration BUILD=$(BUILD)

test-unit:
	meson test -C $(BUILD) --print-errorlogs --suite unit

test-integration:
	DYNVOL_BIN=$(CURDIR)/$(BUILD)/dynvol DYNVOLCTL_BIN=$(CURDIR)/$(BUILD)/dynvolctl \
		$(PYTEST) tests/integration

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(MAKE) --no-print-directory test-unit test-integration BUILD=$(ASAN_BUILD)

# libFuzzer targets (clang, ASan+UBSan). Each runs FUZZ_SECONDS from its
# committed seed corpus; new inputs go to a scratch dir, crashes to
# $(FUZZ_BUILD)/crashes/ and fail the run.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized -Dc_args=-fno-sanitize-recover=all

build-fuzz: deps $(FUZZ_BUILD)/build.ninja
	@ninja -C $(FUZZ_BUILD)

fuzz: build-fuzz
	@mkdir -p $(FUZZ_BUILD)/crashes
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
		rm -rf $(FUZZ_BUILD)/corpus-$$t; mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
		ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/tests/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | tail -4; \
		test "$${PIPESTATUS[0]}" = 0 || exit 1; \
	done

# Replays the committed corpora (seeds and regression cases) once each:
# deterministic, so CI can run it on every change.
fuzz-replay: build-fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		out=$$(ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BUILD)/tests/fuzz/$$t -runs=0 \
			tests/fuzz/corpus/$$t 2>&1) || { echo "$$out" | tail -40; \
			echo "fuzz-replay: $$t failed"; exit 1; }; \
		echo "fuzz-replay: $$t: $$(echo "$$out" | grep -E '^Done')"; \
	done

bench: build
	$(PYTHON) bench/report.py --build $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
