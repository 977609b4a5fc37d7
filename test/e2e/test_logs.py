"""`--log-format json --access-log`: every stderr line is one JSON object, and every line a
request causes carries the request id its response carries in x-amzn-RequestId
(docs/design/operations.md). No secret a request carries reaches the log.
"""
import json
import re
import socket
import unittest
import urllib.parse

import boto3
import botocore.exceptions

from test.e2e import harness

APP = harness.DEMO_APP
REDIRECT = harness.DEMO_REDIRECT
RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class JsonLogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--log-format", "json", "--access-log"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.secrets = []

    def log_size(self):
        return len(self.server.server_log())

    def lines_since(self, offset):
        """The lines written after `offset`, each parsed (the test fails on any other line)."""
        text = self.server.server_log()[offset:]
        parsed = []
        for line in text.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                self.fail(f"not a JSON line: {line!r}")
            self.assertIsInstance(value, dict, line)
            parsed.append(value)
        return parsed

    def assert_request_lines(self, offset, headers, status, operation, error_type=None):
        """Every line since `offset` belongs to the one request answered with `headers`."""
        request_id = headers["x-amzn-RequestId"]
        self.assertTrue(request_id)
        lines = self.lines_since(offset)
        self.assertGreaterEqual(len(lines), 1)
        for line in lines:
            self.assertEqual(line.get("request_id"), request_id, line)
            self.assertRegex(line["time"], RFC3339_MS)
            self.assertIn(line["level"], ("info", "warn", "error"))
            self.assertIsInstance(line["msg"], str)
        access = [l for l in lines if l["msg"].startswith("http: ")]
        self.assertEqual(len(access), 1, lines)
        access = access[0]
        self.assertEqual(access["status"], status)
        self.assertEqual(access["client_address"], "127.0.0.1")
        self.assertIsInstance(access["duration_ms"], float)
        self.assertNotIn("?", access["path"])  # never the query
        if operation is None:
            self.assertNotIn("operation", access)
        else:
            self.assertEqual(access["operation"], operation)
        self.assertEqual(access.get("error_type"), error_type)
        return access

    def signed_token_request(self, body):
        """CreateTokenWithIAM; the SigV4 Authorization header joins the secrets."""
        def keep_authorization(headers, raw):
            self.secrets.append(headers["Authorization"].split("Signature=")[1])
            return headers, raw
        return self.server.token_request(body, tamper=keep_authorization)

    def test_failing_and_succeeding_requests_name_their_request_id_on_every_line(self):
        # A failing CreateTokenWithIAM: a code that was never issued.
        bogus_code = "tsac_never-issued-code-0123456789"
        self.secrets.append(bogus_code)
        offset = self.log_size()
        status, headers, body = self.signed_token_request({
            "clientId": APP, "grantType": "authorization_code", "code": bogus_code,
            "redirectUri": REDIRECT, "codeVerifier": "v" * 43})
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")
        access = self.assert_request_lines(offset, headers, 400, "CreateTokenWithIAM",
                                           "InvalidGrantException")
        self.assertEqual(access["method"], "POST")
        self.assertEqual(access["path"], "/token")

        # A succeeding sign-in: the page, the password post, the code's redemption, a refresh.
        verifier, challenge = harness.pkce_pair()
        # The challenge is no secret, but it rides in the query, which is never logged.
        self.secrets += [harness.DEMO_PASSWORD, verifier, challenge]
        browser = harness.Browser(self.server)
        offset = self.log_size()
        status, headers, page, form = browser.open_login(browser.authorize_url(challenge))
        self.assertEqual(status, 200)
        self.assert_request_lines(offset, headers, 200, "GET /authorize")

        offset = self.log_size()
        status, headers, _ = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 303)
        self.assert_request_lines(offset, headers, 303, "POST /authorize")
        code = harness.parse_redirect(headers["Location"])["code"]
        self.secrets.append(code)
        self.secrets += list(browser.cookies.values())

        offset = self.log_size()
        status, headers, tokens = self.signed_token_request({
            "clientId": APP, "grantType": "authorization_code", "code": code,
            "redirectUri": REDIRECT, "codeVerifier": verifier})
        self.assertEqual(status, 200, tokens)
        self.assert_request_lines(offset, headers, 200, "CreateTokenWithIAM")
        self.secrets += [tokens["accessToken"], tokens["refreshToken"], tokens["idToken"]]

        # A refresh on SQLite is answered from the writer thread and finished on an io thread.
        offset = self.log_size()
        status, headers, refreshed = self.signed_token_request({
            "clientId": APP, "grantType": "refresh_token",
            "refreshToken": tokens["refreshToken"]})
        self.assertEqual(status, 200, refreshed)
        self.assert_request_lines(offset, headers, 200, "CreateTokenWithIAM")
        self.secrets.append(refreshed["refreshToken"])

        # The reused refresh token: refused, its family revoked (on the worker threads).
        offset = self.log_size()
        status, headers, body = self.signed_token_request({
            "clientId": APP, "grantType": "refresh_token",
            "refreshToken": tokens["refreshToken"]})
        self.assertEqual(status, 400)
        self.assert_request_lines(offset, headers, 400, "CreateTokenWithIAM",
                                  "InvalidGrantException")

        self.assert_no_secret_in_log()

    def test_admin_call(self):
        sso = boto3.client("sso-admin", region_name="us-east-1", endpoint_url=self.server.url,
                           aws_access_key_id=harness.ROOT_KEY_ID,
                           aws_secret_access_key=harness.ROOT_SECRET)
        offset = self.log_size()
        answer = sso.list_instances()
        headers = {"x-amzn-RequestId": answer["ResponseMetadata"]["RequestId"]}
        self.assert_request_lines(offset, headers, 200, "ListInstances")
        offset = self.log_size()
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            sso.describe_application(
                ApplicationArn="arn:aws:sso::123456789012:application/ssoins-1111111111111111/"
                               "apl-9999999999999999")
        error = e.exception.response
        self.assertIn(error["Error"]["Code"],
                      ("ResourceNotFoundException", "ValidationException"))
        headers = {"x-amzn-RequestId": error["ResponseMetadata"]["RequestId"]}
        self.assert_request_lines(offset, headers, 400, "DescribeApplication",
                                  error["Error"]["Code"])
        self.assert_no_secret_in_log()

    def test_unknown_path(self):
        offset = self.log_size()
        status, headers, _ = harness.Browser(self.server).request(
            "GET", "/no/such/path?token=" + "q" * 20)
        self.assertEqual(status, 404)
        self.assert_request_lines(offset, headers, 404, None, "UnknownOperationException")
        self.secrets.append("q" * 20)
        self.assert_no_secret_in_log()

    def test_malformed_request_answered_by_the_transport(self):
        offset = self.log_size()
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"NOT A REQUEST\r\n\r\n")
            raw = b""
            while b"\r\n\r\n" not in raw:
                chunk = s.recv(4096)
                if not chunk:
                    break
                raw += chunk
        head = raw.split(b"\r\n\r\n")[0].decode()
        self.assertTrue(head.startswith("HTTP/1.1 400"), head)
        headers = dict(l.split(": ", 1) for l in head.split("\r\n")[1:])
        self.assert_request_lines(offset, headers, 400, None, "InvalidRequestException")

    def assert_no_secret_in_log(self):
        log = self.server.server_log()
        for secret in self.secrets:
            self.assertTrue(secret)
            self.assertNotIn(secret, log)
            self.assertNotIn(urllib.parse.quote(secret, safe=""), log)
        self.assertNotIn(harness.ROOT_SECRET, log)
        self.assertNotIn("AWS4-HMAC-SHA256", log)  # no Authorization header


if __name__ == "__main__":
    unittest.main()
