#!/usr/bin/env bash
# Makes sure the end-to-end tests have boto3/botocore new enough for CreateTokenWithIAM
# (>= 1.29.3 / 1.32.3), joserfc and the AWS CLI. The system python is used when it has them;
# otherwise (Debian 12's python3-boto3 is 1.26, joserfc is not packaged) the pinned versions of
# test/e2e/requirements.txt are installed with pip into a project virtual environment, .venv,
# which the tests then use (test/CMakeLists.txt picks .venv/bin/python when it exists).
#
# Environment: PYTHON (default python3) the interpreter to check and to build the venv from;
# TS_VENV_DIR (default .venv) where the venv goes; TS_FORCE_VENV=1 takes the venv route even
# when PYTHON has everything. Exit 0 when the tests have what they need, 1 with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=${TS_VENV_DIR:-.venv}
requirements=test/e2e/requirements.txt

# Prints why `$1` cannot run the tests, or nothing (and exits 0) when it can.
check() {
  "$1" - <<'PY'
import sys
missing = []
for name in ("boto3", "botocore", "joserfc"):
    try:
        __import__(name)
    except ImportError:
        missing.append(name)
if missing:
    print("it lacks " + ", ".join(missing))
    sys.exit(1)
import boto3, botocore
def version(text):
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())
old = [f"{m.__name__} {m.__version__} (needs >= {need})"
       for m, need in ((boto3, "1.29.3"), (botocore, "1.32.3"))
       if version(m.__version__) < version(need)]
if old:
    print("its " + " and ".join(old) + " predate CreateTokenWithIAM")
    sys.exit(1)
PY
}

if [[ -x "$venv/bin/python" ]] && check "$venv/bin/python" >/dev/null; then
  exit 0  # made earlier
fi
if [[ -z "${TS_FORCE_VENV:-}" ]] && why=$(check "$python" 2>&1); then
  command -v aws >/dev/null && exit 0
  why="the AWS CLI (aws) is missing"
elif [[ -n "${TS_FORCE_VENV:-}" ]]; then
  why="TS_FORCE_VENV is set"
fi
echo "install-deps: $python cannot run the tests: $why; installing $requirements into $venv" >&2

if ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
  echo "install-deps: apt-get install python3-venv" >&2
  sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    python3-venv
fi

# Built aside and moved into place only once complete: a failed attempt leaves no half venv
# that a later run would take for a working one.
staging="$venv.partial"
rm -rf "$staging"
if ! out=$("$python" -m venv "$staging" 2>&1); then
  rm -rf "$staging"
  {
    echo "install-deps: could not create the virtual environment $venv ($python -m venv):"
    tail -n 4 <<<"$out" | sed 's/^/    /'
    echo "  because $python: $why"
  } >&2
  exit 1
fi
if ! out=$("$staging/bin/pip" install --disable-pip-version-check --no-input --retries 1 \
             --timeout 15 -r "$requirements" 2>&1); then
  rm -rf "$staging"
  reason="pip failed"
  if grep -qiE "NewConnectionError|Name or service not known|Temporary failure in name resolution|Network is unreachable|ConnectTimeout|Connection refused|ProxyError|Could not fetch URL|No matching distribution|Could not find a version" <<<"$out"; then
    reason="PyPI (or the index pip is configured with) is unreachable"
  fi
  packages=$(grep -vE '^\s*(#|$)' "$requirements" | tr '\n' ' ')
  {
    echo "install-deps: could not install the end-to-end tests' Python packages: $reason."
    echo "  needed (test/e2e/requirements.txt): $packages"
    echo "  because $python: $why"
    echo "  pip said:"
    tail -n 4 <<<"$out" | sed 's/^/    /'
    echo "  Fix: make PyPI reachable (or set PIP_INDEX_URL to a mirror) and run 'make test' again,"
    echo "  or install boto3/botocore >= 1.32.3, joserfc and awscli for $python yourself."
  } >&2
  exit 1
fi
if ! why_not=$(check "$staging/bin/python" 2>&1); then
  rm -rf "$staging"
  echo "install-deps: $venv was built but still cannot run the tests: $why_not" >&2
  exit 1
fi
rm -rf "$venv"
mv "$staging" "$venv"
echo "install-deps: the tests use $venv/bin/python" >&2
