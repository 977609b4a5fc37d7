#!/usr/bin/env bash
# Installs what Tessera needs to build and test on Debian 12, from Debian's archive and npm only.
# Idempotent and quick when everything is present (no apt-get update then).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ cmake ninja-build ccache pkg-config make
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libargon2-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpq-dev
  nodejs npm
)
if [[ "${1:-}" == "--test" ]]; then
  # postgresql: the tests labelled `postgres` start their own throwaway PostgreSQL 15 server.
  # systemd: systemd-analyze checks the unit in packaging/ (e2e.test_packaging).
  # valgrind: bench/instructions.py counts instructions per request (e2e.bench_instructions_smoke).
  packages+=(chromium postgresql systemd valgrind)
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  # make fuzz: clang with libFuzzer's runtime (docs/design/fuzzing.md).
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and npm may come from outside Debian (the machine image ships Node 20): accept them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" == "--test" ]]; then
  # The end-to-end tests' npm packages, pinned by test/e2e/package-lock.json.
  if [[ ! -d test/e2e/node_modules ]] || [[ test/e2e/package-lock.json -nt test/e2e/node_modules ]]; then
    (cd test/e2e && npm ci --no-audit --no-fund --loglevel=error)
  fi
  # boto3/botocore new enough for CreateTokenWithIAM, joserfc and the AWS CLI: the system's, or
  # pinned versions in .venv when they are missing or too old (it says what failed and why).
  ./scripts/python-test-env.sh
fi
