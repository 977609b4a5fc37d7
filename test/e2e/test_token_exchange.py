"""Token exchange (RFC 8693) between applications with boto3: A -> B, B -> C, a requested
refresh token, and every refusal by its modeled exception class."""
import time
import unittest

from test.e2e import harness, pg_harness
from test.e2e.tx_support import (ACCESS_TYPE, APP_A, APP_B, APP_C, APP_D, APP_E, BOOTSTRAP,
                                 REFRESH_TYPE, claims, exchange, sign_in_to_a, signed_post)


class TokenExchangeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(bootstrap=BOOTSTRAP)
        cls.client = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def a_tokens(self):
        return sign_in_to_a(self.server)[0]

    def assert_refused(self, exception, fragment, target, subject_token, **extra):
        with self.assertRaises(exception) as e:
            exchange(self.client, target, subject_token, **extra)
        self.assertIn(fragment, e.exception.response["error_description"])
        return e.exception

    def test_a_to_b(self):
        a = self.a_tokens()
        self.assertIn("tx:read", a["scope"])
        b = exchange(self.client, APP_B, a["accessToken"])
        self.assertEqual(b["issuedTokenType"], ACCESS_TYPE)
        self.assertNotIn("refreshToken", b)
        self.assertEqual(b["tokenType"], "Bearer")
        self.assertEqual(b["expiresIn"], 3600)
        self.assertEqual(b["scope"], ["openid", "aws", "sts:identity_context", "tx:read"])
        access = claims(b["accessToken"])
        self.assertEqual(access["client_id"], APP_B)
        self.assertEqual(access["aud"], APP_B)
        self.assertEqual(access["sub"], claims(a["accessToken"])["sub"])
        self.assertEqual(access["act"], {"sub": APP_A})
        id_token = claims(b["idToken"])
        self.assertEqual(id_token["aud"], APP_B)
        self.assertEqual(id_token["sub"], access["sub"])
        self.assertEqual(id_token["act"], {"sub": APP_A})
        self.assertEqual(b["awsAdditionalDetails"]["identityContext"],
                         id_token["sts:identity_context"])

    def test_b_to_c_keeps_the_chain(self):
        b = exchange(self.client, APP_B, self.a_tokens()["accessToken"])
        c = exchange(self.client, APP_C, b["accessToken"])
        access = claims(c["accessToken"])
        self.assertEqual(access["client_id"], APP_C)
        self.assertEqual(access["act"], {"sub": APP_B, "act": {"sub": APP_A}})
        self.assertEqual(claims(c["idToken"])["act"], access["act"])

    def test_requested_refresh_token(self):
        b = exchange(self.client, APP_B, self.a_tokens()["accessToken"],
                     requestedTokenType=REFRESH_TYPE)
        self.assertEqual(b["issuedTokenType"], REFRESH_TYPE)
        self.assertTrue(b["refreshToken"].startswith("tsrt_"))
        refreshed = self.client.create_token_with_iam(
            clientId=APP_B, grantType="refresh_token", refreshToken=b["refreshToken"])
        self.assertEqual(claims(refreshed["accessToken"])["act"], {"sub": APP_A})
        self.assertEqual(claims(refreshed["accessToken"])["client_id"], APP_B)

    def test_requested_scope_narrows(self):
        b = exchange(self.client, APP_B, self.a_tokens()["accessToken"], scope=["tx:read"])
        self.assertEqual(b["scope"], ["tx:read"])
        self.assertNotIn("idToken", b)

    def test_instance_as_target(self):
        c = exchange(self.client, APP_C, self.a_tokens()["accessToken"], scope=["tx:all"])
        self.assertEqual(c["scope"], ["tx:all"])

    def test_scope_outside_what_the_target_may_get_is_invalid_scope(self):
        self.assert_refused(self.client.exceptions.InvalidScopeException, "tx:own",
                            APP_B, self.a_tokens()["accessToken"], scope=["tx:own"])

    def test_same_application_is_invalid_grant(self):
        b = exchange(self.client, APP_B, self.a_tokens()["accessToken"])
        self.assert_refused(self.client.exceptions.InvalidGrantException,
                            "issued to this same application", APP_B, b["accessToken"])

    def test_unauthorized_target_is_invalid_grant(self):
        # Without tx:all (which names the whole instance) nothing the token carries names D.
        a = sign_in_to_a(self.server, scope="openid aws tx:read tx:own")[0]
        self.assert_refused(self.client.exceptions.InvalidGrantException,
                            "has not authorized this application as a target",
                            APP_D, a["accessToken"])

    def test_revoked_subject_is_invalid_grant(self):
        a = self.a_tokens()
        status, _, _ = signed_post(self.server, "/revoke",
                                   {"clientId": APP_A, "token": a["refreshToken"]})
        self.assertEqual(status, 200)
        self.assert_refused(self.client.exceptions.InvalidGrantException,
                            "Subject token has been revoked", APP_B, a["accessToken"])

    def test_revoked_access_token_is_invalid_grant(self):
        a = self.a_tokens()
        status, _, _ = signed_post(self.server, "/revoke",
                                   {"clientId": APP_A, "token": a["accessToken"]})
        self.assertEqual(status, 200)
        self.assert_refused(self.client.exceptions.InvalidGrantException,
                            "Subject token has been revoked", APP_B, a["accessToken"])

    def test_tampered_subject_is_invalid_grant(self):
        token = self.a_tokens()["accessToken"]
        header, payload, signature = token.split(".")
        body = claims(token)
        body["sub"] = "00000000-0000-0000-0000-000000000000"
        forged_payload = harness.base64.urlsafe_b64encode(
            harness.json.dumps(body).encode()).rstrip(b"=").decode()
        self.assert_refused(self.client.exceptions.InvalidGrantException,
                            "Invalid subject token", APP_B,
                            ".".join([header, forged_payload, signature]))

    def test_id_token_as_subject_is_invalid_request(self):
        self.assert_refused(self.client.exceptions.InvalidRequestException,
                            "not an access token", APP_B, self.a_tokens()["idToken"])

    def test_refresh_token_as_subject_is_invalid_request(self):
        self.assert_refused(self.client.exceptions.InvalidRequestException,
                            "is a refresh token", APP_B, self.a_tokens()["refreshToken"])

    def test_wrong_subject_token_type_is_invalid_request(self):
        self.assert_refused(self.client.exceptions.InvalidRequestException,
                            "subjectTokenType must be", APP_B, self.a_tokens()["accessToken"],
                            subjectTokenType=REFRESH_TYPE)

    def test_grant_missing_is_unauthorized_client(self):
        self.assert_refused(self.client.exceptions.UnauthorizedClientException,
                            "not authorized for grant type", APP_E,
                            self.a_tokens()["accessToken"])

    def test_refresh_token_without_refresh_grant_is_unauthorized_client(self):
        self.assert_refused(self.client.exceptions.UnauthorizedClientException,
                            "refresh_token", APP_C, self.a_tokens()["accessToken"],
                            requestedTokenType=REFRESH_TYPE)

    def test_sign_out_revokes_what_was_exchanged(self):
        a, browser = sign_in_to_a(self.server)
        b = exchange(self.client, APP_B, a["accessToken"], requestedTokenType=REFRESH_TYPE)
        status, _, _ = browser.request("POST", "/logout", "",
                                       headers={"Origin": self.server.url})
        self.assertIn(status, (200, 303))
        with self.assertRaises(self.client.exceptions.InvalidGrantException):
            self.client.create_token_with_iam(clientId=APP_B, grantType="refresh_token",
                                              refreshToken=b["refreshToken"])
        _, _, body = signed_post(self.server, "/introspect",
                                 {"clientId": APP_B, "token": b["accessToken"]})
        self.assertEqual(body, {"active": False})


class PostgresTokenExchangeTest(TokenExchangeTest):
    """Every case above on PostgreSQL, where the subject token's revocation, family, user and
    assignment are read in the group-commit writer's read pipeline and the family is written in
    its batch (label postgres: the CTest test e2e.test_token_exchange.postgres)."""

    @classmethod
    def setUpClass(cls):
        cls.pg = pg_harness.PostgresServer()
        cls.server = harness.Server(bootstrap=BOOTSTRAP, db=cls.pg.create_database("tessera"))
        cls.client = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.pg.stop()

    def test_no_internal_errors(self):
        self.test_a_to_b()
        self.test_revoked_subject_is_invalid_grant()
        self.assertEqual(self.server.internal_error_lines(), [])


class ExpiredSubjectTest(unittest.TestCase):
    """A server whose access tokens live one second."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--access-token-ttl", "1"], bootstrap=BOOTSTRAP)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_expired_subject_is_invalid_grant(self):
        a = sign_in_to_a(self.server)[0]
        time.sleep(2.2)  # past exp (a whole second later, whatever the rounding)
        client = self.server.client()
        with self.assertRaises(client.exceptions.InvalidGrantException) as e:
            exchange(client, APP_B, a["accessToken"])
        self.assertIn("Subject token has expired", e.exception.response["error_description"])


if __name__ == "__main__":
    unittest.main()
