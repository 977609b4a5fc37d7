# Two commands do all the set-up on a fresh Debian 12 machine:
#   make run    installs what is missing, builds the release binary, starts the demo
#   make test   installs what is missing, builds, runs every test (unit, end-to-end, browser)
#   make bench  the benchmarks (BENCHMARKS.md)
.PHONY: run test build release asan unit clean format bench

JOBS ?= $(shell nproc)

run: release
	@mkdir -p var
	./build/release/tessera serve --demo --db var/tessera.db $(ARGS)

# `make run` needs only the server binary, not the test binaries.
release:
	./scripts/install-deps.sh
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target tessera

asan:
	./scripts/install-deps.sh
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)

# Everything: unit and end-to-end tests against the release build, then the unit tests again
# under AddressSanitizer and UndefinedBehaviorSanitizer.
test:
	./scripts/install-deps.sh --test
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

# The benchmarks (bench/run_bench.py): microbenchmarks and crypto floor, the load generator against
# Tessera on one core, and the node oidc-provider peer on the same core. About ten minutes.
bench:
	./scripts/install-deps.sh
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target tessera tessera-loadgen tessera-microbench
	python3 bench/run_bench.py $(ARGS)

format:
	find src test bench -path '*/node_modules' -prune -o \( -name '*.cc' -o -name '*.h' \) -print | xargs clang-format -i

clean:
	rm -rf build
