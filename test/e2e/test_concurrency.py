"""Races on single-use credentials: one code or one refresh token presented by 16 callers at once.

Exactly one caller may win; the others must get InvalidGrantException (never a 500), and a
refresh-token race counts as reuse, which revokes the whole family, the winner's token included.
"""
import concurrent.futures
import threading
import unittest

from test.e2e import harness

APP = harness.DEMO_APP
WORKERS = 16
TIMEOUT_SECONDS = 60


class ConcurrencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # No grace window: a second presentation of a rotated token is reuse.
        cls.server = harness.Server(extra_args=["--refresh-grace", "0"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def race(self, **request):
        """Sends the same CreateTokenWithIAM request from WORKERS threads released together.
        Returns (successes, failures) lists."""
        # boto3's default session is not thread-safe to build clients from; clients are safe to
        # use from one thread each.
        clients = [self.server.client() for _ in range(WORKERS)]
        barrier = threading.Barrier(WORKERS, timeout=TIMEOUT_SECONDS)

        def call(client):
            barrier.wait()
            try:
                return ("ok", client.create_token_with_iam(**request))
            except Exception as e:  # noqa: BLE001 - classified by the caller
                return ("error", e)

        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(call, c) for c in clients]
            done, not_done = concurrent.futures.wait(futures, timeout=TIMEOUT_SECONDS)
            self.assertEqual(len(not_done), 0, "requests did not finish in time")
            results = [f.result() for f in futures]
        successes = [r for kind, r in results if kind == "ok"]
        failures = [e for kind, e in results if kind == "error"]
        return successes, failures

    def assert_all_invalid_grant(self, failures):
        invalid_grant = self.server.client().exceptions.InvalidGrantException
        for e in failures:
            self.assertEqual(type(e).__name__, invalid_grant.__name__, repr(e))
            self.assertEqual(e.response["Error"]["Code"], "InvalidGrantException")
            self.assertEqual(e.response["error"], "invalid_grant")

    def redeem(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        return self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)

    def test_one_code_redeemed_by_sixteen_callers(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        successes, failures = self.race(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)
        self.assertEqual(len(successes), 1, failures)
        self.assertEqual(len(failures), WORKERS - 1)
        self.assert_all_invalid_grant(failures)
        for e in failures:
            self.assertIn("already been used", e.response["error_description"])
        self.assertEqual(self.server.internal_error_lines(), [])

    def test_one_refresh_token_rotated_by_sixteen_callers(self):
        first = self.redeem()
        successes, failures = self.race(clientId=APP, grantType="refresh_token",
                                        refreshToken=first["refreshToken"])
        self.assertEqual(len(successes), 1, failures)
        self.assertEqual(len(failures), WORKERS - 1)
        self.assert_all_invalid_grant(failures)
        # The losers' reuse revoked the family: the winner's successor is dead too.
        client = self.server.client()
        with self.assertRaises(client.exceptions.InvalidGrantException) as e:
            client.create_token_with_iam(clientId=APP, grantType="refresh_token",
                                         refreshToken=successes[0]["refreshToken"])
        self.assertEqual(e.exception.response["error_description"],
                         "Refresh token has been revoked")
        self.assertEqual(self.server.internal_error_lines(), [])

    def test_independent_families_refresh_in_parallel(self):
        # Control: concurrency alone does not fail requests; distinct tokens all succeed.
        tokens = [self.redeem()["refreshToken"] for _ in range(8)]
        clients = [self.server.client() for _ in tokens]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(tokens)) as pool:
            futures = [pool.submit(c.create_token_with_iam, clientId=APP,
                                   grantType="refresh_token", refreshToken=t)
                       for c, t in zip(clients, tokens)]
            results = [f.result(timeout=TIMEOUT_SECONDS) for f in futures]
        self.assertEqual(len({r["refreshToken"] for r in results}), len(tokens))
        self.assertEqual(self.server.internal_error_lines(), [])


if __name__ == "__main__":
    unittest.main()
