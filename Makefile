# Thin wrapper around CMake presets. The README's two commands are `make run` and `make test`.
PRESET ?= dev
BUILD   = build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all deps build run test test-asan-integration test-unit fuzz bench lint format clean

all: build

deps:
	./scripts/install-deps

build:
	@test -f $(BUILD)/build.ninja || cmake --preset $(PRESET) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Brings up the embedded default (examples/local/cluster.yml) and shows it working.
run: deps
	$(MAKE) --no-print-directory build PRESET=release
	./scripts/run-local build/release

# Installs what tests need, builds, runs every test (dev preset), then the unit tests under asan.
test: deps lint
	$(MAKE) --no-print-directory build PRESET=dev
	$(MAKE) --no-print-directory build PRESET=asan
	cd build/asan && ctest --output-on-failure -j $(JOBS) -LE integration
	cd build/dev && ctest --output-on-failure -j $(JOBS)

# Opt-in: the integration tests against the ASan/UBSan binaries (a sanitizer report in any
# component log fails the test). About twice as slow as the dev run.
test-asan-integration: deps
	$(MAKE) --no-print-directory build PRESET=asan
	cd build/asan && ctest --output-on-failure -j $(JOBS) -L integration

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz'

fuzz:
	@test -f build/fuzz/build.ninja || cmake --preset fuzz >/dev/null
	cmake --build build/fuzz -j $(JOBS)
	./scripts/run-fuzz build/fuzz $${FUZZ_SECONDS:-60}

bench:
	$(MAKE) --no-print-directory build PRESET=release
	./scripts/run-bench build/release

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h') && echo "lint: clang-format clean"

clean:
	rm -rf build
