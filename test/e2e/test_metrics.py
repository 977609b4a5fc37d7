"""Metrics, health and the drained shutdown (issue 20; docs/design/metrics.md).

- The management listener (--management-listen) serves /metrics in the Prometheus text format,
  /health/live and /health/ready; the public listener serves none of them.
- Metric values after known requests: exact counts on a fresh server.
- Label cardinality: 1,000 distinct client ids add no series.
- Readiness: 503 while the server is still starting (its database locked), and from SIGTERM on.
- SIGTERM under load loses no acknowledged refresh: every 200 a client got is a committed
  rotation, as a restart on the same database shows; the process exits 0.
"""
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

from test.e2e import harness
from test.e2e.test_crash_durability import Client, NoAnswer, NotSent, exchange

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def parse_exposition(text):
    """{(name, labels-as-written): value}; fails on a line that is not HELP/TYPE/sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not a sample line: {line!r}")
        samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, r.headers, r.read().decode()
    finally:
        conn.close()


def management_port(server):
    for _ in range(100):
        for line in server.banner:
            m = re.search(r"management: http://127\.0\.0\.1:(\d+)", line)
            if m:
                return int(m.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no management address in {server.banner}")


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--management-listen", "127.0.0.1:0"])
        cls.mport = management_port(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def scrape(self):
        status, headers, body = get(self.mport, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return parse_exposition(body), body

    def value(self, samples, name, **labels):
        matches = [v for (n, l), v in samples.items()
                   if n == name and all(f'{k}="{v}"' in l for k, v in labels.items())]
        self.assertEqual(len(matches), 1, f"{name} {labels}: {len(matches)} series")
        return matches[0]

    def token_request(self, body):
        status, headers, parsed = self.server.token_request(body)
        return status, headers.get("x-amzn-ErrorType", "").split(":")[0], parsed

    def test_counts_after_known_requests(self):
        before, _ = self.scrape()
        browser = harness.Browser(self.server)
        verifier, challenge = harness.pkce_pair()
        code = browser.sign_in(challenge)["code"]
        status, _, body = self.token_request({
            "clientId": harness.DEMO_APP, "grantType": "authorization_code", "code": code,
            "redirectUri": harness.DEMO_REDIRECT, "codeVerifier": verifier})
        self.assertEqual(status, 200, body)
        token = body["refreshToken"]
        for _ in range(3):
            status, _, body = self.token_request({
                "clientId": harness.DEMO_APP, "grantType": "refresh_token",
                "refreshToken": token})
            self.assertEqual(status, 200, body)
            token = body["refreshToken"]
        status, error, _ = self.token_request({
            "clientId": harness.DEMO_APP, "grantType": "refresh_token",
            "refreshToken": "not-a-refresh-token"})
        self.assertEqual((status, error), (400, "InvalidGrantException"))
        after, text = self.scrape()

        def delta(name, **labels):
            old = self.value(before, name, **labels) if any(
                n == name for n, _ in before) else 0
            return self.value(after, name, **labels) - old

        token_total = "tessera_token_requests_total"
        self.assertEqual(delta(token_total, grant_type="refresh_token", outcome="success"), 3)
        self.assertEqual(
            delta(token_total, grant_type="refresh_token", outcome="InvalidGrantException"), 1)
        self.assertEqual(delta(token_total, grant_type="authorization_code", outcome="success"), 1)
        requests = "tessera_requests_total"
        self.assertEqual(delta(requests, api="sso-oidc", operation="CreateTokenWithIAM",
                               status_class="2xx"), 4)
        self.assertEqual(delta(requests, api="sso-oidc", operation="CreateTokenWithIAM",
                               status_class="4xx"), 1)
        self.assertEqual(delta("tessera_request_errors_total", api="sso-oidc",
                               error_type="InvalidGrantException"), 1)
        self.assertEqual(delta("tessera_request_duration_seconds_count", api="sso-oidc",
                               operation="CreateTokenWithIAM"), 5)
        # Every refresh took more than 0 and, on this machine, well under the top bucket.
        self.assertGreater(delta("tessera_request_duration_seconds_sum", api="sso-oidc",
                                 operation="CreateTokenWithIAM"), 0)
        self.assertEqual(delta("tessera_sign_ins_total", outcome="success"), 1)
        self.assertEqual(delta(requests, api="web", operation="POST /authorize",
                               status_class="3xx"), 1)
        # The SQLite writer committed the rotations in batches.
        self.assertGreaterEqual(delta("tessera_sqlite_writer_batch_size_count"), 4)
        self.assertIn("# TYPE tessera_request_duration_seconds histogram", text)
        self.assertIn('le="0.0001"', text)
        # Giving freed memory back (--memory-trim-interval, 10 s by default): exposed from the
        # start, before the first trim.
        self.assertIn("# TYPE tessera_memory_trim_duration_seconds histogram", text)
        self.assertIn("# TYPE tessera_memory_returned_bytes_total counter", text)

    def test_throttled_sign_in_is_counted(self):
        before, _ = self.scrape()
        browser = harness.Browser(self.server)
        _, challenge = harness.pkce_pair()
        statuses = []
        user = "nobody-" + uuid.uuid4().hex[:8]  # its own per-user limit (5 failures)
        for _ in range(6):
            status, _, _, form = browser.open_login(browser.authorize_url(challenge))
            self.assertEqual(status, 200)
            status, _, _ = browser.submit_login(form, user, "wrong password")
            statuses.append(status)
        self.assertEqual(statuses, [401] * 5 + [429])
        after, _ = self.scrape()
        self.assertEqual(self.value(after, "tessera_sign_ins_total", outcome="failure") -
                         self.value(before, "tessera_sign_ins_total", outcome="failure"), 5)
        self.assertEqual(self.value(after, "tessera_sign_ins_total", outcome="throttled") -
                         self.value(before, "tessera_sign_ins_total", outcome="throttled"), 1)

    def test_cardinality_stays_bounded_with_many_client_ids(self):
        _, before = self.scrape()
        series_before = len(parse_exposition(before))
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        marker = uuid.uuid4().hex[:12]
        try:
            for i in range(1000):
                body = json.dumps({"clientId": f"client-{marker}-{i}", "clientSecret": "x",
                                   "grantType": "refresh_token", "refreshToken": "r"})
                conn.request("POST", "/token", body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 401)  # InvalidClientException
        finally:
            conn.close()
        samples, after = self.scrape()
        self.assertEqual(len(samples), series_before)
        self.assertNotIn(marker, after)
        self.assertGreaterEqual(self.value(samples, "tessera_token_requests_total",
                                           grant_type="refresh_token",
                                           outcome="InvalidClientException"), 1000)

    def test_public_listener_serves_no_management_endpoint(self):
        for path in ("/metrics", "/health/ready", "/health/live"):
            status, headers, body = get(self.server.port, path)
            self.assertEqual(status, 404, path)
            self.assertTrue(headers["x-amzn-ErrorType"].startswith("UnknownOperationException"))
            self.assertEqual(json.loads(body)["message"], f"No operation at GET {path}")

    def test_health(self):
        status, _, body = get(self.mport, "/health/live")
        self.assertEqual((status, json.loads(body)), (200, {"status": "UP"}))
        status, _, body = get(self.mport, "/health/ready")
        self.assertEqual((status, json.loads(body)), (200, {"status": "UP"}))
        status, _, body = get(self.mport, "/nothing")
        self.assertEqual(status, 404)
        self.assertIn("No management endpoint at /nothing", json.loads(body)["message"])
        status, headers, _ = get(self.mport, "/metrics", method="POST")
        self.assertEqual((status, headers["Allow"]), (405, "GET, HEAD"))

    def test_process_build_and_key_metrics(self):
        samples, text = self.scrape()
        version = subprocess.run([harness.binary(), "--version"], capture_output=True,
                                 text=True).stdout
        commit = re.search(r"commit (\S+)\)", version).group(1)
        self.assertEqual(self.value(samples, "tessera_build_info", commit=commit), 1)
        self.assertGreater(self.value(samples, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(self.value(samples, "process_open_fds"), 3)
        self.assertLess(abs(self.value(samples, "process_start_time_seconds") - time.time()),
                        3600)
        age = self.value(samples, "tessera_signing_key_age_seconds")
        self.assertGreaterEqual(age, 0)
        self.assertLess(age, 3600)  # the demo's key was created at this start
        self.assertIn("# TYPE process_cpu_seconds_total counter", text)


class FlagsTest(unittest.TestCase):
    def test_bad_management_listen_is_refused(self):
        for value, want in (("nope", "--management-listen takes HOST:PORT"),
                            ("127.0.0.1:70000", "--management-listen takes HOST:PORT")):
            r = subprocess.run([harness.binary(), "serve", "--management-listen", value],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(want, r.stderr)
        r = subprocess.run([harness.binary(), "serve", "--shutdown-grace-seconds", "-1"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--shutdown-grace-seconds takes a whole number of seconds", r.stderr)

    def test_management_port_in_use_fails_start(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with tempfile.TemporaryDirectory() as d:
                r = subprocess.run(
                    [harness.binary(), "serve", "--listen", "127.0.0.1:0", "--db",
                     os.path.join(d, "t.db"), "--management-listen", f"127.0.0.1:{port}"],
                    capture_output=True, text=True, timeout=30,
                    env={**os.environ, "TESSERA_MASTER_KEY": harness.MASTER_KEY})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("--management-listen", r.stderr)


class ReadinessWhileStartingTest(unittest.TestCase):
    def test_not_ready_until_started(self):
        """The database locked by another process: the start waits for it, live but not
        ready, then becomes ready once the lock is gone."""
        d = tempfile.mkdtemp(prefix="tessera-ready-")
        db = os.path.join(d, "t.db")
        harness.Server(db=db).stop()  # created and migrated; a later start writes (the demo)
        lock = sqlite3.connect(db, isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        mport = free_port()
        started = {}

        def start():
            started["server"] = harness.Server(
                db=db, extra_args=["--management-listen", f"127.0.0.1:{mport}"])

        t = threading.Thread(target=start)
        t.start()
        seen = []
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(seen) < 3:
                try:
                    live = get(mport, "/health/live")
                    ready = get(mport, "/health/ready")
                    seen.append((live[0], ready[0], json.loads(ready[2])))
                except OSError:
                    pass
                time.sleep(0.1)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
            t.join(timeout=30)
        server = started["server"]
        try:
            self.assertTrue(seen, "the management listener never answered during the start")
            for live, ready, body in seen:
                self.assertEqual((live, ready), (200, 503))
                self.assertEqual(body, {"status": "DOWN", "reason":
                                        "starting: migrations and signing keys not loaded yet"})
            status, _, body = get(mport, "/health/ready")
            self.assertEqual((status, json.loads(body)), (200, {"status": "UP"}))
        finally:
            server.stop()


class DrainTest(unittest.TestCase):
    """SIGTERM under load: refresh rotations on several threads."""

    CHAINS = 6

    def test_sigterm_under_load_loses_no_acknowledged_refresh(self):
        d = tempfile.mkdtemp(prefix="tessera-drain-")
        db = os.path.join(d, "t.db")
        mport = free_port()
        server = harness.Server(db=db, extra_args=[
            "--management-listen", f"127.0.0.1:{mport}", "--shutdown-delay-seconds", "1",
            "--shutdown-grace-seconds", "10"])
        port = server.port
        client = Client("iam")
        browser = harness.Browser(server)
        chains = []
        for _ in range(self.CHAINS):
            verifier, challenge = harness.pkce_pair()
            code = browser.sign_in(challenge)["code"]
            answer = client.redeem(port, code, verifier)
            self.assertTrue(answer.ok(), str(answer))
            chains.append({"acked": answer.body["refreshToken"], "in_flight": False,
                           "after_signal": 0, "refusals": []})

        signalled = threading.Event()
        stop = threading.Event()
        failures = []

        def rotate(chain):
            while not stop.is_set():
                try:
                    answer = client.refresh(port, chain["acked"])
                except NotSent:
                    return  # the listener is closed: nothing was sent
                except NoAnswer:
                    chain["in_flight"] = True  # may or may not have committed
                    return
                if answer.ok():
                    chain["acked"] = answer.body["refreshToken"]
                    if signalled.is_set():
                        chain["after_signal"] += 1
                elif signalled.is_set() and answer.status == 503:
                    chain["refusals"].append(str(answer))  # a clean refusal while draining
                else:
                    failures.append(f"refresh answered {answer}")
                    return

        readiness = []

        def poll():
            while not stop.is_set():
                try:
                    status, _, body = get(mport, "/health/ready")
                    readiness.append((signalled.is_set(), status, body))
                except OSError:
                    pass
                time.sleep(0.05)

        threads = [threading.Thread(target=rotate, args=(c,)) for c in chains]
        threads.append(threading.Thread(target=poll))
        for t in threads:
            t.start()
        time.sleep(1.0)
        signalled.set()
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = server.proc.wait(timeout=30)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        log = server.server_log()
        banner = list(server.banner)
        server.stop()
        self.assertEqual(code, 0, log)
        self.assertEqual(failures, [])
        self.assertTrue(any(l.startswith("tessera: stopped") for l in banner), banner)
        # Ready before the signal; 503 "draining" after it, while the public listener served.
        self.assertIn((False, 200), [(s, st) for s, st, _ in readiness])
        drained = [json.loads(b) for s, st, b in readiness if s and st == 503]
        self.assertTrue(drained, readiness[-5:])
        self.assertEqual(drained[0]["reason"], "shutting down: draining in-flight requests")
        # Once draining was seen, never ready again. (A probe answered 200 just after the test
        # set `signalled` was in flight before the server handled SIGTERM: that is not a fault.)
        first_drained = next(i for i, (s, st, _) in enumerate(readiness) if s and st == 503)
        self.assertFalse([st for _, st, _ in readiness[first_drained:] if st == 200],
                         readiness[first_drained:first_drained + 5])
        # Load went on through the delay: refreshes were acknowledged after the signal.
        self.assertGreater(sum(c["after_signal"] for c in chains), 0)

        # Every acknowledged rotation was committed: the last acknowledged token of each chain
        # rotates on a restart over the same database.
        again = harness.Server(db=db)
        try:
            for chain in chains:
                answer = client.refresh(again.port, chain["acked"])
                if chain["in_flight"]:
                    # Its last rotation may have committed unseen: then the acked token is
                    # refused as reused; both are correct (test_crash_durability's rules).
                    self.assertTrue(answer.ok() or answer.refused("already been used"),
                                    str(answer))
                else:
                    self.assertTrue(answer.ok(), str(answer))
        finally:
            again.stop()


if __name__ == "__main__":
    unittest.main()
