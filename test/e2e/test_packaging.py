"""Packaging (packaging/, docs/design/operations.md): the systemd unit passes
`systemd-analyze verify` and scores "OK" in `systemd-analyze security`; `make install`'s install
step honours PREFIX and DESTDIR; the .deb holds the same files with the settings as a 0600
conffile.
"""
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "packaging", "tessera.service.in")
# The exposure score `systemd-analyze security` may give the unit at most: 0 is fully locked
# down, below 2 is labelled "OK" (systemd 252). What is left is DynamicUser-independent
# (IP address ranges, which an operator sets for their network, and a few syscall groups).
MAX_EXPOSURE = 2.0


def build_dir():
    path = os.environ.get("TS_BUILD_DIR")
    if not path:
        raise unittest.SkipTest("TS_BUILD_DIR is not set (run through ctest)")
    return path


def render_unit(bindir, sysconfdir, docdir):
    with open(TEMPLATE) as f:
        text = f.read()
    return (text.replace("@TS_BINDIR@", bindir).replace("@TS_SYSCONFDIR@", sysconfdir)
            .replace("@TS_DOCDIR@", docdir))


def unit_settings(text):
    """The [Service] lines as (key, value) pairs, in order."""
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            pairs.append((key, value))
    return pairs


class SystemdUnitTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("systemd-analyze") is None:
            self.skipTest("systemd-analyze is missing (scripts/install-deps.sh --test installs "
                          "the systemd package)")
        binary = os.environ.get("TESSERA_BIN")
        if not binary:
            self.skipTest("TESSERA_BIN is not set (run through ctest)")
        self.dir = tempfile.mkdtemp(prefix="tessera-unit-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "tessera"))
        shutil.copy(os.path.join(ROOT, "packaging", "tessera.env"),
                    os.path.join(self.dir, "tessera", "tessera.env"))
        # verify needs ExecStart's binary to exist: the build's, in place of the install path.
        self.unit = os.path.join(self.dir, "tessera.service")
        with open(self.unit, "w") as f:
            f.write(render_unit(os.path.dirname(os.path.abspath(binary)), self.dir, ROOT))

    def test_verify_reports_nothing(self):
        r = subprocess.run(["systemd-analyze", "verify", self.unit], capture_output=True,
                           text=True, cwd=self.dir, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "")

    def test_verify_catches_a_broken_unit(self):
        # Control: the check above can fail.
        with open(self.unit) as f:
            text = f.read()
        with open(self.unit, "w") as f:
            f.write(text.replace("ProtectSystem=strict", "ProtectSytem=strict"))
        r = subprocess.run(["systemd-analyze", "verify", self.unit], capture_output=True,
                           text=True, cwd=self.dir, timeout=60)
        self.assertIn("ProtectSytem", r.stderr)

    def test_hardening_settings(self):
        with open(self.unit) as f:
            settings = unit_settings(f.read())
        values = dict(settings)
        expected = {
            "DynamicUser": "yes", "StateDirectory": "tessera", "NoNewPrivileges": "yes",
            "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "PrivateDevices": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
            "SystemCallArchitectures": "native",
            "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
            "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
            "RestrictNamespaces": "yes", "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "UMask": "0077",
        }
        for key, value in expected.items():
            self.assertEqual(values.get(key), value, key)
        self.assertIn(("SystemCallFilter", "@system-service"), settings)
        self.assertTrue(values["EnvironmentFile"].endswith("/tessera/tessera.env"))
        self.assertEqual(values["ExecReload"], "/bin/kill -HUP $MAINPID")
        # Longer than the 10 s drain `tessera serve` gives in-flight requests on SIGTERM.
        self.assertGreater(int(values["TimeoutStopSec"]), 10)
        # The default port needs no capability.
        with open(os.path.join(ROOT, "packaging", "tessera.env")) as f:
            port = re.search(r"--listen \S+:(\d+)", f.read())
        self.assertGreaterEqual(int(port.group(1)), 1024)

    def test_security_exposure_is_ok(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", self.unit],
                           capture_output=True, text=True, cwd=self.dir, timeout=60)
        m = re.search(r"Overall exposure level for tessera\.service: ([0-9.]+) (\w+)", r.stdout)
        if r.returncode != 0 or m is None:
            self.skipTest(f"systemd-analyze security --offline=yes cannot run here: "
                          f"{r.returncode} {r.stderr.strip()[:200]}")
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, r.stdout)
        self.assertEqual(m.group(2), "OK", r.stdout)


class InstallTest(unittest.TestCase):
    """What `make install` runs after building: cmake --install build/release --prefix P."""

    def setUp(self):
        self.build = build_dir()
        self.dest = tempfile.mkdtemp(prefix="tessera-install-")
        self.addCleanup(shutil.rmtree, self.dest, ignore_errors=True)

    def install(self, prefix):
        env = dict(os.environ, DESTDIR=self.dest)
        r = subprocess.run(["cmake", "--install", self.build, "--prefix", prefix],
                           capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def files(self):
        out = set()
        for parent, _, names in os.walk(self.dest):
            for name in names:
                out.add(os.path.relpath(os.path.join(parent, name), self.dest))
        return out

    def test_prefix_usr_puts_settings_in_etc(self):
        self.install("/usr")
        files = self.files()
        for path in ("usr/bin/tessera", "usr/lib/systemd/system/tessera.service",
                     "etc/tessera/tessera.env", "usr/share/doc/tessera/README.md",
                     "usr/share/doc/tessera/docs/protocol.md",
                     "usr/share/doc/tessera/docs/design/operations.md",
                     "usr/share/doc/tessera/examples/tessera.env"):
            self.assertIn(path, files)
        self.assertFalse([f for f in files if not f.startswith(("usr/", "etc/tessera/"))], files)
        mode = stat.S_IMODE(os.stat(os.path.join(self.dest, "etc/tessera/tessera.env")).st_mode)
        self.assertEqual(mode, 0o600)
        self.assertTrue(os.access(os.path.join(self.dest, "usr/bin/tessera"), os.X_OK))
        with open(os.path.join(self.dest, "usr/lib/systemd/system/tessera.service")) as f:
            unit = dict(unit_settings(f.read()))
        self.assertTrue(unit["ExecStart"].startswith("/usr/bin/tessera serve "))
        self.assertEqual(unit["EnvironmentFile"], "/etc/tessera/tessera.env")

    def test_prefix_usr_local_and_existing_settings_kept(self):
        self.install("/usr/local")
        files = self.files()
        self.assertIn("usr/local/bin/tessera", files)
        self.assertIn("usr/local/etc/tessera/tessera.env", files)
        with open(os.path.join(self.dest, "usr/local/lib/systemd/system/tessera.service")) as f:
            unit = dict(unit_settings(f.read()))
        self.assertTrue(unit["ExecStart"].startswith("/usr/local/bin/tessera serve "))
        self.assertEqual(unit["EnvironmentFile"], "/usr/local/etc/tessera/tessera.env")
        # A second install keeps the operator's settings (they hold secrets).
        settings = os.path.join(self.dest, "usr/local/etc/tessera/tessera.env")
        with open(settings, "w") as f:
            f.write("TESSERA_MASTER_KEY=operator-choice\n")
        out = self.install("/usr/local")
        self.assertIn("Keeping", out)
        with open(settings) as f:
            self.assertEqual(f.read(), "TESSERA_MASTER_KEY=operator-choice\n")


class DebTest(unittest.TestCase):
    def test_deb_contains_binary_unit_settings_and_docs(self):
        for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps"):
            if shutil.which(tool) is None:
                self.skipTest(f"{tool} is missing")
        build = build_dir()
        out = tempfile.mkdtemp(prefix="tessera-deb-")
        self.addCleanup(shutil.rmtree, out, ignore_errors=True)
        r = subprocess.run(["cpack", "-G", "DEB", "--config",
                            os.path.join(build, "CPackConfig.cmake"), "-B", out],
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, os.listdir(out))
        deb = os.path.join(out, debs[0])
        listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                                 check=True).stdout
        entries = {line.split()[-1]: line.split()[:2] for line in listing.splitlines()}
        for path in ("./usr/bin/tessera", "./usr/lib/systemd/system/tessera.service",
                     "./etc/tessera/tessera.env", "./usr/share/doc/tessera/README.md"):
            self.assertIn(path, entries)
        self.assertEqual(entries["./etc/tessera/tessera.env"], ["-rw-------", "root/root"])
        self.assertEqual(entries["./usr/bin/tessera"][1], "root/root")
        info = subprocess.run(["dpkg-deb", "-I", deb], capture_output=True, text=True,
                              check=True).stdout
        depends = re.search(r"^ Depends: (.*)$", info, re.M).group(1)
        for lib in ("libssl3", "libsqlite3-0", "systemd"):
            self.assertIn(lib, depends)
        conffiles = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True,
                                   text=True, check=True).stdout
        self.assertEqual(conffiles.split(), ["/etc/tessera/tessera.env"])
        postinst = subprocess.run(["dpkg-deb", "-I", deb, "postinst"], capture_output=True,
                                  text=True, check=True).stdout
        self.assertIn("daemon-reload", postinst)


if __name__ == "__main__":
    unittest.main()
