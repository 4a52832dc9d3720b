# dynvol - top-level entry points. meson + ninja do the building; this file
# only wires the set-up script, the build directories and the test runners.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     := /usr/bin/python3
PYTEST     := $(PYTHON) -m pytest -q -p no:cacheprovider
RUN_DIR    := $(CURDIR)/run

.PHONY: all deps build build-asan run test test-unit test-integration test-asan bench clean

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

test-unit:
	meson test -C $(BUILD) --print-errorlogs --suite unit

test-integration:
	DYNVOL_BIN=$(CURDIR)/$(BUILD)/dynvol DYNVOLCTL_BIN=$(CURDIR)/$(BUILD)/dynvolctl \
		$(PYTEST) tests/integration

test-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(MAKE) --no-print-directory test-unit test-integration BUILD=$(ASAN_BUILD)

bench: build
	$(PYTHON) bench/rpc.py --build $(BUILD)
	$(PYTHON) bench/controller.py --build $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
