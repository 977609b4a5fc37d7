"""SigV4 failures on POST /token: requests signed by botocore, then broken one way at a time.

Every failure is a 403 with the generic AWS error code in x-amzn-ErrorType (docs/protocol.md §3.4).
"""
import datetime
import hashlib
import json
import time
import unittest
from unittest import mock

import botocore
import botocore.auth
import botocore.config
import botocore.exceptions

from test.e2e import harness

APP = harness.DEMO_APP
MISMATCH = "The request signature we calculated does not match the signature you provided."
BAD_TOKEN = "The security token included in the request is invalid."
# A well-formed request that reaches the grant logic: InvalidGrant proves the signature passed.
PROBE = {"clientId": APP, "grantType": "refresh_token", "refreshToken": "tsrt_probe"}


class SigV4Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()
        cls.webapp = cls.server.new_access_key(harness.WEBAPP_ROLE)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def probe(self, client):
        client.create_token_with_iam(**PROBE)

    def assert_client_error(self, raised, code, message_part, status=403):
        response = raised.exception.response
        self.assertEqual(response["Error"]["Code"], code)
        self.assertIn(message_part, response["Error"]["Message"])
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], status)

    def assert_raw_error(self, result, code, message_part, status=403):
        got_status, headers, body = result
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers["x-amzn-ErrorType"].split(":", 1)[0], code)
        self.assertIn(message_part, body["message"])

    # -- controls: the same paths succeed when nothing is broken ---------------------------------

    def test_control_boto3_root_key_passes_signature_check(self):
        client = self.server.client()
        with self.assertRaises(client.exceptions.InvalidGrantException):
            self.probe(client)

    def test_control_raw_signing_passes_signature_check(self):
        status, headers, body = self.server.token_request(PROBE)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "invalid_grant")

    # -- broken credentials ----------------------------------------------------------------------

    def test_wrong_secret(self):
        client = self.server.client(secret=harness.ROOT_SECRET + "x")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(client)
        self.assert_client_error(e, "InvalidSignatureException", MISMATCH)

    def test_unknown_access_key(self):
        client = self.server.client(key_id="AKIAUNKNOWNKEY000000")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(client)
        self.assert_client_error(e, "UnrecognizedClientException", BAD_TOKEN)

    def test_session_token_on_a_long_term_key(self):
        client = self.server.client(token="some-session-token")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(client)
        self.assert_client_error(e, "UnrecognizedClientException", BAD_TOKEN)

    def test_temporary_credentials_need_their_session_token(self):
        key = self.server.new_access_key(harness.WEBAPP_ROLE, duration_seconds=3600)
        self.assertTrue(key["AWS_ACCESS_KEY_ID"].startswith("ASIA"))
        good = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"],
                                  token=key["AWS_SESSION_TOKEN"])
        with self.assertRaises(good.exceptions.InvalidGrantException):
            self.probe(good)  # signature and token accepted, the grant is what fails
        # And a full redemption works with them.
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        r = good.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                       code=redirect["code"], redirectUri=harness.DEMO_REDIRECT,
                                       codeVerifier=verifier)
        self.assertEqual(r["tokenType"], "Bearer")

        wrong = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"],
                                   token=key["AWS_SESSION_TOKEN"] + "x")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(wrong)
        self.assert_client_error(e, "UnrecognizedClientException", BAD_TOKEN)

        missing = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"])
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(missing)
        self.assert_client_error(e, "UnrecognizedClientException", BAD_TOKEN)

    def test_expired_temporary_credentials(self):
        key = self.server.new_access_key(harness.WEBAPP_ROLE, duration_seconds=1)
        client = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"],
                                    token=key["AWS_SESSION_TOKEN"])
        time.sleep(2.1)
        # ExpiredTokenException is also a modeled sso-oidc shape, so boto3 raises that class.
        with self.assertRaises(client.exceptions.ExpiredTokenException) as e:
            self.probe(client)
        self.assert_client_error(e, "ExpiredTokenException",
                                 "The security token included in the request is expired")

    def test_deleted_access_key(self):
        key = self.server.new_access_key(harness.WEBAPP_ROLE)
        client = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"])
        with self.assertRaises(client.exceptions.InvalidGrantException):
            self.probe(client)
        r = self.server.tessera("delete-access-key", "--access-key-id", key["AWS_ACCESS_KEY_ID"])
        self.assertEqual(r.returncode, 0, r.stderr)
        # The server keeps a long-term key it has found for --config-cache-ttl-ms (default 1 s):
        # a deletion by the CLI, another process, applies within that.
        time.sleep(1.1)
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(client)
        self.assert_client_error(e, "UnrecognizedClientException", BAD_TOKEN)

    # -- broken scope, time and body --------------------------------------------------------------

    def test_clock_skew_past(self):
        past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - \
            datetime.timedelta(minutes=10)
        client = self.server.client()
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=past):
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                self.probe(client)
        self.assert_client_error(e, "InvalidSignatureException", "Signature expired: " +
                                 past.strftime("%Y%m%dT%H%M%SZ") + " is now earlier than")
        self.assertIn("- 5 min.)", e.exception.response["Error"]["Message"])

    def test_clock_skew_future(self):
        future = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + \
            datetime.timedelta(minutes=10)
        client = self.server.client()
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=future):
            with self.assertRaises(botocore.exceptions.ClientError) as e:
                self.probe(client)
        self.assert_client_error(e, "InvalidSignatureException",
                                 "Signature not yet current: " +
                                 future.strftime("%Y%m%dT%H%M%SZ") + " is still later than")

    def test_wrong_region(self):
        client = self.server.client(region="eu-west-1")
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(client)
        self.assert_client_error(e, "InvalidSignatureException",
                                 "Credential should be scoped to a valid region: 'us-east-1'.")

    def test_wrong_service(self):
        self.assert_raw_error(self.server.token_request(PROBE, service="sso"),
                              "InvalidSignatureException",
                              "Credential should be scoped to correct service: 'sso-oauth'.")

    def test_tampered_body(self):
        def swap_body(headers, body):
            other = body.replace(b"tsrt_probe", b"tsrt_other")
            headers["Content-Length"] = str(len(other))
            return headers, other
        self.assert_raw_error(self.server.token_request(PROBE, tamper=swap_body),
                              "InvalidSignatureException", MISMATCH)

    def test_tampered_body_with_signed_content_hash(self):
        # As the JS SDK signs: x-amz-content-sha256 is sent and signed; the body then changes.
        body = json.dumps(PROBE).encode()

        def swap_body(headers, sent):
            other = sent.replace(b"tsrt_probe", b"tsrt_other")
            headers["Content-Length"] = str(len(other))
            return headers, other
        self.assert_raw_error(
            self.server.token_request(
                body, extra_headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
                tamper=swap_body),
            "InvalidSignatureException",
            "The provided 'x-amz-content-sha256' header does not match what was computed.")

    def test_unsigned_payload_is_refused(self):
        self.assert_raw_error(
            self.server.token_request(PROBE, extra_headers={
                "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}),
            "InvalidSignatureException", "This service requires a signed payload")

    def test_tampered_signed_header(self):
        def change_date(headers, body):
            headers["X-Amz-Date"] = headers["X-Amz-Date"][:-3] + (
                "00Z" if not headers["X-Amz-Date"].endswith("00Z") else "01Z")
            return headers, body
        self.assert_raw_error(self.server.token_request(PROBE, tamper=change_date),
                              "InvalidSignatureException", MISMATCH)

    def test_missing_authorization(self):
        self.assert_raw_error(self.server.token_request(PROBE, sign=False),
                              "MissingAuthenticationTokenException",
                              "Missing Authentication Token")
        unsigned = harness.boto3.client(
            "sso-oidc", region_name="us-east-1", endpoint_url=self.server.url,
            config=botocore.config.Config(signature_version=botocore.UNSIGNED,
                                          retries={"max_attempts": 1}))
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.probe(unsigned)
        self.assert_client_error(e, "MissingAuthenticationTokenException",
                                 "Missing Authentication Token")

    def test_malformed_authorization(self):
        def drop_signature(headers, body):
            auth = headers["Authorization"]
            headers["Authorization"] = auth[:auth.index(", Signature=")]
            return headers, body
        self.assert_raw_error(self.server.token_request(PROBE, tamper=drop_signature),
                              "IncompleteSignatureException",
                              "Authorization header requires 'Signature' parameter.")


if __name__ == "__main__":
    unittest.main()
