"""The web sign-in journey end to end with boto3: login page, code redemption, refresh."""
import json
import time
import unittest
import urllib.request

from joserfc import jwt
from joserfc.jwk import KeySet

from test.e2e import harness


class SignInAndRedeemTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def redeem(self, scope=None):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge, scope=scope)
        return self.server.client().create_token_with_iam(
            clientId=harness.DEMO_APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)

    def test_redirect_carries_code_state_and_issuer(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge, state="s-123")
        self.assertEqual(redirect["_base"], harness.DEMO_REDIRECT)
        self.assertEqual(redirect["state"], "s-123")
        self.assertEqual(redirect["iss"], self.server.url + "/ssoins-111111111111")
        self.assertTrue(redirect["code"].startswith("tsac_"))

    def test_code_redemption_returns_every_member(self):
        r = self.redeem()
        self.assertEqual(r["tokenType"], "Bearer")
        self.assertEqual(r["expiresIn"], 3600)
        self.assertEqual(r["issuedTokenType"], "urn:ietf:params:oauth:token-type:refresh_token")
        self.assertEqual(r["scope"], ["openid", "aws", "sts:identity_context"])
        self.assertTrue(r["refreshToken"].startswith("tsrt_"))
        self.assertEqual(r["awsAdditionalDetails"]["identityContext"],
                         harness.decode_jwt_part(r["idToken"].split(".")[1])["sts:identity_context"])
        self.assertLess(len(r["accessToken"]), 1024)

    def test_id_token_verifies_against_published_jwks(self):
        r = self.redeem()
        issuer = self.server.url + "/ssoins-111111111111"
        with urllib.request.urlopen(issuer + "/.well-known/openid-configuration") as f:
            discovery = json.load(f)
        self.assertEqual(discovery["issuer"], issuer)
        with urllib.request.urlopen(discovery["jwks_uri"]) as f:
            keys = KeySet.import_key_set(json.load(f))
        token = jwt.decode(r["idToken"], keys, algorithms=["ES256"])
        claims = token.claims
        self.assertEqual(token.header["alg"], "ES256")
        self.assertEqual(claims["iss"], issuer)
        self.assertEqual(claims["aud"], harness.DEMO_APP)
        self.assertEqual(claims["aws:identity_store_id"], "d-3333333333")
        self.assertEqual(claims["aws:instance_arn"], "arn:aws:sso:::instance/ssoins-111111111111")
        self.assertEqual(claims["aws:instance_account"], "111111111111")
        self.assertRegex(claims["auth_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        access = jwt.decode(r["accessToken"], keys, algorithms=["ES256"])
        self.assertEqual(access.header["typ"], "at+jwt")
        self.assertEqual(access.claims["sub"], claims["sub"])
        self.assertEqual(access.claims["client_id"], harness.DEMO_APP)

    def test_refresh_rotates_and_reuse_revokes_the_family(self):
        client = self.server.client()
        first = self.redeem()
        second = client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                              refreshToken=first["refreshToken"])
        self.assertNotEqual(second["refreshToken"], first["refreshToken"])
        self.assertEqual(second["scope"], ["openid", "aws", "sts:identity_context"])
        # Reusing the rotated token is theft by RFC 9700's reckoning: the family dies.
        with self.assertRaises(client.exceptions.InvalidGrantException) as reuse:
            client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=first["refreshToken"])
        self.assertEqual(reuse.exception.response["error"], "invalid_grant")
        self.assertIn("already been used", reuse.exception.response["error_description"])
        with self.assertRaises(client.exceptions.InvalidGrantException) as after:
            client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=second["refreshToken"])
        self.assertIn("revoked", after.exception.response["error_description"])

    def test_refresh_can_narrow_scopes_but_not_widen(self):
        client = self.server.client()
        first = self.redeem()
        narrow = client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                              refreshToken=first["refreshToken"], scope=["aws"])
        self.assertEqual(narrow["scope"], ["aws"])
        self.assertNotIn("idToken", narrow)
        self.assertNotIn("awsAdditionalDetails", narrow)
        with self.assertRaises(client.exceptions.InvalidScopeException) as wide:
            client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=narrow["refreshToken"],
                                         scope=["aws", "s3:access_grants:read_write"])
        self.assertEqual(wide.exception.response["error"], "invalid_scope")

    def test_second_redemption_fails_and_revokes_the_first_tokens(self):
        client = self.server.client()
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        args = dict(clientId=harness.DEMO_APP, grantType="authorization_code",
                    code=redirect["code"], redirectUri=harness.DEMO_REDIRECT,
                    codeVerifier=verifier)
        first = client.create_token_with_iam(**args)
        with self.assertRaises(client.exceptions.InvalidGrantException) as again:
            client.create_token_with_iam(**args)
        self.assertIn("already been used", again.exception.response["error_description"])
        with self.assertRaises(client.exceptions.InvalidGrantException):
            client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=first["refreshToken"])

    def test_live_session_authorizes_without_password(self):
        browser = harness.Browser(self.server)
        _, challenge = harness.pkce_pair()
        browser.sign_in(challenge)
        _, challenge2 = harness.pkce_pair()
        status, headers, _ = browser.request("GET", browser.authorize_url(challenge2))
        self.assertEqual(status, 302)
        self.assertIn("code=tsac_", headers["Location"])


class GraceWindowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--refresh-grace", "60"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_retry_inside_grace_window_returns_the_same_successor(self):
        client = self.server.client()
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        first = client.create_token_with_iam(
            clientId=harness.DEMO_APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)
        a = client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=first["refreshToken"])
        b = client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=first["refreshToken"])
        self.assertEqual(a["refreshToken"], b["refreshToken"])
        # The successor is still good, and rotating it ends the grace for its parent.
        c = client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=a["refreshToken"])
        self.assertNotEqual(c["refreshToken"], a["refreshToken"])
        with self.assertRaises(client.exceptions.InvalidGrantException):
            client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=first["refreshToken"])


if __name__ == "__main__":
    unittest.main()
