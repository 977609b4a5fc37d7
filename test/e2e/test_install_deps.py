"""scripts/python-test-env.sh (run by `scripts/install-deps.sh --test`): the system python is kept
when it has boto3/botocore new enough for CreateTokenWithIAM, joserfc and the AWS CLI; otherwise
the pinned packages go into a virtual environment, and a failure says what and why.

This machine has no PyPI: the venv route is exercised with an interpreter that lacks the
packages (or has too old ones) and an index that refuses connections, so pip fails at once.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "python-test-env.sh")


class PythonTestEnvTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tessera-deps-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.venv = os.path.join(self.dir, "venv")

    def run_script(self, python, extra_env=None):
        env = dict(os.environ, PYTHON=python, TS_VENV_DIR=self.venv,
                   # Nothing listens on port 9: pip fails fast, as without PyPI.
                   PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_FIND_LINKS="",
                   PIP_CONFIG_FILE=os.devnull)
        env.pop("TS_FORCE_VENV", None)
        env.update(extra_env or {})
        return subprocess.run([SCRIPT], capture_output=True, text=True, env=env, timeout=300)

    def bare_python(self):
        """An interpreter without site-packages: no boto3, botocore or joserfc."""
        path = os.path.join(self.dir, "bare-python")
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
        os.chmod(path, 0o755)
        return path

    def python_without_venv(self, pythonpath=""):
        """This python, but `-m venv` fails at once (building a venv takes up to a minute on a
        loaded machine; test_missing_packages... builds one)."""
        path = os.path.join(self.dir, "python-no-venv")
        with open(path, "w") as f:
            f.write(textwrap.dedent(f"""\
                #!/bin/sh
                if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
                  echo "Error: venv left out of this interpreter" >&2; exit 1
                fi
                PYTHONPATH={pythonpath} exec {sys.executable} "$@"
                """))
        os.chmod(path, 0o755)
        return path

    def assert_no_venv_left(self):
        # No venv, whole or half, is left to be mistaken for a working one.
        self.assertFalse(os.path.exists(self.venv))
        self.assertFalse(os.path.exists(self.venv + ".partial"))

    def assert_venv_not_created(self, r):
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("could not create the virtual environment", r.stderr)
        self.assertIn("Error: venv left out of this interpreter", r.stderr)
        self.assert_no_venv_left()

    def assert_failed_cleanly(self, r):
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("could not install the end-to-end tests' Python packages", r.stderr)
        self.assertIn("PyPI (or the index pip is configured with) is unreachable", r.stderr)
        self.assertIn("boto3==", r.stderr)
        self.assertIn("joserfc==", r.stderr)
        self.assert_no_venv_left()

    def test_system_python_with_everything_is_kept(self):
        if shutil.which("aws") is None:
            self.skipTest("this machine has no AWS CLI")
        r = self.run_script(sys.executable)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertFalse(os.path.exists(self.venv))

    def test_missing_packages_take_the_venv_route_and_name_what_failed(self):
        r = self.run_script(self.bare_python())
        self.assertIn("it lacks boto3, botocore, joserfc", r.stderr)
        self.assert_failed_cleanly(r)

    def test_too_old_botocore_takes_the_venv_route(self):
        # Debian 12's python3-boto3 1.26.27 with python3-botocore 1.29.27, as stubs.
        stubs = os.path.join(self.dir, "stubs")
        os.makedirs(stubs)
        for name, version in (("boto3", "1.26.27"), ("botocore", "1.29.27"),
                              ("joserfc", "1.0.0")):
            with open(os.path.join(stubs, name + ".py"), "w") as f:
                f.write(textwrap.dedent(f"__version__ = {version!r}\n"))
        r = self.run_script(self.python_without_venv(stubs))
        self.assertIn("boto3 1.26.27 (needs >= 1.29.3) and botocore 1.29.27 (needs >= 1.32.3) "
                      "predate CreateTokenWithIAM", r.stderr)
        self.assert_venv_not_created(r)

    def test_forced_venv(self):
        r = self.run_script(self.python_without_venv(), {"TS_FORCE_VENV": "1"})
        self.assertIn("TS_FORCE_VENV is set", r.stderr)
        self.assert_venv_not_created(r)


if __name__ == "__main__":
    unittest.main()
