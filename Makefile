# Two commands do all the set-up on a fresh Debian 12 machine:
#   make run    installs what is missing, builds the release binary, starts the demo
#   make test   installs what is missing, builds, runs every test (unit, end-to-end, browser)
#   make bench  the benchmarks (BENCHMARKS.md)
#   make fuzz   each fuzz target for FUZZ_SECONDS under libFuzzer (docs/design/fuzzing.md)
#   make fuzz-ci each fuzz target for 20 s, as CI runs them
#   make crash  the crash durability test, CRASH_CYCLES kills per backend (RELIABILITY.md)
#   make install  the binary, the systemd unit, example settings and docs under PREFIX (DESTDIR)
#   make deb    a Debian package of the same in build/release/packages/
#   make soak   SOAK_SECONDS (1800) of mixed load at half capacity; fails on an upward trend
.PHONY: run test build release asan unit clean format bench fuzz fuzz-ci fuzz-merge crash soak \
        install deb

JOBS ?= $(shell nproc)
# The python the end-to-end tests use: the project's .venv when scripts/python-test-env.sh made
# one (Debian 12's boto3 predates CreateTokenWithIAM), as test/CMakeLists.txt picks it. A shell
# test, so that it sees a .venv made by install-deps.sh earlier in the same recipe.
TEST_PYTHON = $$(if [ -x .venv/bin/python ]; then echo $(CURDIR)/.venv/bin/python; else echo python3; fi)

run: release
	@mkdir -p var
	./build/release/tessera serve --demo --db var/tessera.db $(ARGS)

# `make run` needs only the server binary, not the test binaries.
release:
	./scripts/install-deps.sh
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target tessera

# PREFIX (default /usr/local; /usr puts the settings in /etc) and DESTDIR (a staging root) as
# usual. The unit goes to $(PREFIX)/lib/systemd/system, the settings to $(PREFIX)/etc/tessera
# (/etc/tessera for /usr), kept when present (docs/design/operations.md).
PREFIX ?= /usr/local

install: release
	cmake --install build/release --prefix $(PREFIX)

deb: release
	cd build/release && cpack -G DEB -B packages

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

# The fuzz targets under libFuzzer with ASan and UBSan (clang), one after the other, each for
# FUZZ_SECONDS, from its committed corpus. New inputs go to build/fuzz/corpus/<target>, crashes to
# build/fuzz/artifacts/; `make fuzz-merge` then adds the inputs that reach new code to
# fuzz/corpus/<target> (minimised), to be committed. FUZZ_TARGETS picks a subset.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= form uri sigv4 jose jose_verify token_request admin_model handle iam_policy bootstrap \
                http_parser discovery
FUZZ_FLAGS ?=

fuzz:
	./scripts/install-deps.sh --fuzz
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@mkdir -p build/fuzz/artifacts
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ./build/fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/artifacts/$$t- $(FUZZ_FLAGS) \
	    build/fuzz/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done

# CI's fuzz run (.ci/run): every target for FUZZ_CI_SECONDS from its committed corpus; a finding
# (crash, sanitizer report, broken invariant, an input running over 30 s) fails it.
FUZZ_CI_SECONDS ?= 20

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS) FUZZ_FLAGS="-timeout=30 $(FUZZ_FLAGS)"

fuzz-merge:
	@for t in $(FUZZ_TARGETS); do \
	  ./build/fuzz/fuzz/fuzz_$$t -merge=1 fuzz/corpus/$$t build/fuzz/corpus/$$t || exit 1; \
	done

# The crash durability test (test/e2e/test_crash_durability.py) at length: CRASH_CYCLES kills -9
# under load on SQLite, then as many faults on PostgreSQL (two nodes; every third a PostgreSQL
# crash), each followed by the check of every acknowledged token. The suite runs 20 of each.
# About 3 minutes per 100 cycles on SQLite, 5 on PostgreSQL.
CRASH_CYCLES ?= 100

crash:
	./scripts/install-deps.sh --test
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target tessera
	TESSERA_BIN=$(CURDIR)/build/release/tessera TS_CRASH_CYCLES=$(CRASH_CYCLES) \
	  PYTHONDONTWRITEBYTECODE=1 $(TEST_PYTHON) -m unittest -v test.e2e.test_crash_durability

format:
	find src test bench fuzz -path '*/node_modules' -prune -o \( -name '*.cc' -o -name '*.h' \) -print | xargs clang-format -i

clean:
	rm -rf build

# The soak (bench/soak.py, RELIABILITY.md "Soak"): refresh, authorization-code, jwt-bearer and
# admin-plane traffic at half the measured capacity for SOAK_SECONDS, a CSV row (RSS, database
# size, p99s) per round in build/soak/soak.csv; fails when memory or latency trends upward.
SOAK_SECONDS ?= 1800

soak:
	./scripts/install-deps.sh --test
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target tessera tessera-loadgen
	SOAK_SECONDS=$(SOAK_SECONDS) $(TEST_PYTHON) bench/soak.py
