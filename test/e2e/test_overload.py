"""Overload and slow clients (issue 23, docs/design/overload.md): past its bounds, or while its
io threads' CPU is saturated, a request gets its API's throttling answer at once, in the modeled
shape the SDKs parse; the cheap endpoints keep answering; a connection past --max-connections is
closed; the timeouts are flags.

The servers here run one worker thread and no queue (--threads 1 --max-queued-requests 0
--max-worker-queue 0), so two requests at once are already one too many: a storm from a few
threads meets the bound within a second.
"""
import concurrent.futures
import http.client
import json
import socket
import threading
import time
import unittest

import boto3
import botocore.config
import botocore.exceptions
import botocore.retries.standard

from test.e2e import harness
from test.e2e.test_metrics import management_port, parse_exposition

TIGHT = ["--threads", "1", "--max-queued-requests", "0", "--max-worker-queue", "0"]
STORM_SECONDS = 8


def storm(call, classify, want, threads=12):
    """Runs `call` from `threads` threads until every kind in `want` was seen (or STORM_SECONDS
    pass). Returns {kind: [example, ...]} where classify(result) names each result's kind."""
    seen = {}
    lock = threading.Lock()
    deadline = time.monotonic() + STORM_SECONDS

    def worker():
        while time.monotonic() < deadline:
            kind, example = classify(call())
            with lock:
                seen.setdefault(kind, []).append(example)
                if all(k in seen for k in want):
                    return

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker) for _ in range(threads)]:
            f.result()
    return seen


def raw(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


class ThrottlingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=TIGHT)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_the_admin_plane_answers_throttling_exception(self):
        local = threading.local()

        def call():
            if not hasattr(local, "client"):
                local.client = boto3.client(
                    "sso-admin", region_name="us-east-1", endpoint_url=self.server.url,
                    aws_access_key_id=harness.ROOT_KEY_ID,
                    aws_secret_access_key=harness.ROOT_SECRET,
                    config=botocore.config.Config(retries={"max_attempts": 1}))
            try:
                return local.client.list_instances()
            except botocore.exceptions.ClientError as e:
                return e.response

        def classify(r):
            return r.get("Error", {}).get("Code", "ok"), r

        seen = storm(call, classify, {"ok", "ThrottlingException"})
        self.assertIn("ok", seen)
        self.assertIn("ThrottlingException", seen)
        self.assertEqual(set(seen) - {"ok", "ThrottlingException"}, set())
        throttled = seen["ThrottlingException"][0]
        meta = throttled["ResponseMetadata"]
        self.assertEqual(meta["HTTPStatusCode"], 400)
        self.assertEqual(meta["HTTPHeaders"]["retry-after"], "1")
        self.assertIn("busy", throttled["Error"]["Message"])
        # botocore's standard retry mode retries it (its throttling codes include it).
        self.assertIn("ThrottlingException",
                      botocore.retries.standard.ThrottledRetryableChecker()._throttled_error_codes)
        self.assertIn("overload: refused", self.server.server_log())
        self.assertEqual(self.server.internal_error_lines(), [])

    def test_the_token_endpoint_answers_slow_down_exception(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        tokens = self.server.client().create_token_with_iam(
            clientId=harness.DEMO_APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)
        # One rotation, then reuse (refused, its family revoked by a worker): each admitted
        # request holds its place for a commit.
        body = {"clientId": harness.DEMO_APP, "grantType": "refresh_token",
                "refreshToken": tokens["refreshToken"]}

        def call():
            return self.server.token_request(body)

        def classify(r):
            status, headers, parsed = r
            return parsed.get("error", "ok"), r

        seen = storm(call, classify, {"slow_down", "invalid_grant"})
        self.assertIn("slow_down", seen)
        self.assertIn("invalid_grant", seen)  # the admitted ones are answered as usual
        self.assertEqual(set(seen) - {"ok", "invalid_grant", "slow_down"}, set())
        status, headers, parsed = seen["slow_down"][0]
        self.assertEqual(status, 400)
        self.assertTrue(headers["x-amzn-ErrorType"].startswith("SlowDownException"))
        self.assertEqual(headers["Retry-After"], "1")
        self.assertIn("busy", parsed["error_description"])
        self.assertEqual(self.server.internal_error_lines(), [])

    def test_browser_pages_answer_503_and_health_checks_stay_up(self):
        path = "/authorize?" + "&".join([
            "response_type=code", "client_id=" + harness.DEMO_APP,
            "redirect_uri=" + harness.DEMO_REDIRECT, "state=s"])
        health = []

        def call():
            # /healthz between page loads: answered on the io thread, never refused.
            health.append(raw(self.server.port, "GET", "/healthz")[0])
            return raw(self.server.port, "GET", path)

        def classify(r):
            return r[0], r

        seen = storm(call, classify, {200, 503})
        self.assertEqual(set(seen) - {200, 503}, set())
        self.assertIn(503, seen)
        status, headers, body = seen[503][0]
        self.assertEqual(headers["Retry-After"], "1")
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"temporarily_unavailable", body)
        self.assertEqual(set(health), {200})
        self.assertEqual(self.server.internal_error_lines(), [])


class CpuSaturationTest(unittest.TestCase):
    """--shed-io-lag-us 1: any lag of the io threads (a timer's wake-up alone takes tens of
    microseconds) is past twice the threshold, so the server sheds every request it would admit,
    deterministically, as it would when its CPU is saturated (docs/design/overload.md)."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--shed-io-lag-us", "1",
                                                "--management-listen", "127.0.0.1:0"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def token(self):
        return self.server.token_request({"clientId": harness.DEMO_APP,
                                          "grantType": "refresh_token",
                                          "refreshToken": "not-a-refresh-token"})

    def setUp(self):
        # The first lag samples arrive within milliseconds of the start; wait for them.
        deadline = time.monotonic() + 10
        while self.token()[2].get("error") != "slow_down":
            self.assertLess(time.monotonic(), deadline, "never shed")
            time.sleep(0.05)

    def sdk(self, service):
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.server.url,
                            aws_access_key_id=harness.ROOT_KEY_ID,
                            aws_secret_access_key=harness.ROOT_SECRET,
                            config=botocore.config.Config(retries={"max_attempts": 1}))

    def assertSdkError(self, call, code, status):
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call()
        response = caught.exception.response
        self.assertEqual(response["Error"]["Code"], code)
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(response["ResponseMetadata"]["HTTPHeaders"]["retry-after"], "1")
        return response

    def test_each_api_answers_its_throttling_error_before_any_work(self):
        # sso-oidc: SlowDownException, not the invalid_grant the bogus token would get.
        status, headers, parsed = self.token()
        self.assertEqual(status, 400)
        self.assertTrue(headers["x-amzn-ErrorType"].startswith("SlowDownException"))
        self.assertEqual(parsed["error"], "slow_down")
        self.assertEqual(headers["Retry-After"], "1")
        # The admin planes: ThrottlingException (identitystore's with RetryAfterSeconds).
        self.assertSdkError(self.sdk("sso-admin").list_instances, "ThrottlingException", 400)
        response = self.assertSdkError(
            lambda: self.sdk("identitystore").list_users(IdentityStoreId="d-1234567890"),
            "ThrottlingException", 400)
        self.assertIn("busy", response["Error"]["Message"])
        # The access portal: 429 TooManyRequestsException, not the 401 of a bogus token.
        self.assertSdkError(lambda: self.sdk("sso").list_accounts(accessToken="not-a-token"),
                            "TooManyRequestsException", 429)
        # A browser page: the 503 page.
        status, headers, body = raw(self.server.port, "GET", "/authorize?response_type=code")
        self.assertEqual(status, 503)
        self.assertIn(b"temporarily_unavailable", body)
        # What is answered from memory is never shed.
        self.assertEqual(raw(self.server.port, "GET", "/healthz")[0], 200)
        self.assertEqual(self.server.internal_error_lines(), [])
        self.assertIn("CPU saturated", self.server.server_log())

    def test_refusals_are_counted_as_cpu_saturation(self):
        for _ in range(3):
            self.token()
        mport = management_port(self.server)
        status, _, body = raw(mport, "GET", "/metrics")
        self.assertEqual(status, 200)
        samples = parse_exposition(body.decode())
        shed = [v for (n, l), v in samples.items()
                if n == "tessera_refusals_total" and 'reason="cpu_saturation"' in l]
        self.assertEqual(len(shed), 1)
        self.assertGreaterEqual(shed[0], 3)
        queue = [v for (n, l), v in samples.items()
                 if n == "tessera_refusals_total" and 'reason="queue_full"' in l]
        self.assertEqual(queue, [0])
        lag = [v for (n, l), v in samples.items() if n == "tessera_io_lag_seconds"]
        self.assertEqual(len(lag), 1)
        self.assertGreater(lag[0], 0)


class ConnectionsAndTimeoutsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--max-connections", "3", "--read-timeout", "1",
                                                "--idle-timeout", "1"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.addCleanup(s.close)
        return s

    def test_a_connection_past_the_cap_is_closed_and_one_below_it_is_served(self):
        held = []
        for _ in range(3):
            s = self.connect()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
            self.assertIn(b"200 OK", s.recv(4096))
            held.append(s)
        over = self.connect()
        over.sendall(b"GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
        try:
            self.assertEqual(over.recv(4096), b"")
        except ConnectionResetError:
            pass
        for s in held:
            s.close()
        # Once the server has seen them go (the idle timeout would close them anyway).
        for _ in range(100):
            try:
                if raw(self.server.port, "GET", "/healthz")[0] == 200:
                    break
            except (ConnectionError, http.client.HTTPException):
                time.sleep(0.05)
        else:
            self.fail("no connection was served after the held ones closed")
        self.assertIn("--max-connections", self.server.server_log())

    def test_a_silent_connection_is_closed_after_the_read_timeout(self):
        s = self.connect()
        start = time.monotonic()
        self.assertEqual(s.recv(4096), b"")
        self.assertLess(time.monotonic() - start, 5)

    def test_the_flags_are_checked(self):
        for flag, value in [("--read-timeout", "0"), ("--write-timeout", "-1"),
                            ("--max-connections", "x"), ("--max-queued-requests", "1.5"),
                            ("--shed-io-lag-us", "-1")]:
            r = harness.subprocess.run([harness.binary(), "serve", flag, value],
                                       capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(flag, r.stderr)


if __name__ == "__main__":
    unittest.main()
