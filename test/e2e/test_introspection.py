"""Introspection, revocation and identity contexts through SigV4-signed requests, offline
verification of access tokens with an independent JOSE library (joserfc), and the runnable
resource-server example (examples/resource_server.py), so the guide cannot rot."""
import json
import os
import subprocess
import sys
import unittest

from joserfc import jwt
from joserfc.jwk import KeySet

from test.e2e import harness
from test.e2e.tx_support import (APP_A, APP_B, BOOTSTRAP, REFRESH_TYPE, claims, exchange,
                                 sign_in_to_a, signed_post)

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "resource_server.py")
INACTIVE = {"active": False}


class IntrospectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(bootstrap=BOOTSTRAP)
        cls.client = cls.server.client()
        cls.issuer = cls.server.url + "/ssoins-111111111111"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def introspect(self, client_id, token):
        status, headers, body = signed_post(self.server, "/introspect",
                                            {"clientId": client_id, "token": token})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Cache-Control"], "no-store")
        return body

    def revoke(self, client_id, token):
        status, _, body = signed_post(self.server, "/revoke",
                                      {"clientId": client_id, "token": token})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {})

    def test_active_access_token(self):
        a = sign_in_to_a(self.server)[0]
        body = self.introspect(APP_A, a["accessToken"])
        access = claims(a["accessToken"])
        self.assertIs(body["active"], True)
        self.assertEqual(body["scope"], " ".join(a["scope"]))
        self.assertEqual(body["client_id"], APP_A)
        self.assertEqual(body["aud"], APP_A)
        self.assertEqual(body["sub"], access["sub"])
        self.assertEqual(body["exp"], access["exp"])
        self.assertEqual(body["iat"], access["iat"])
        self.assertEqual(body["iss"], self.issuer)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["aws:identity_store_id"], "d-3333333333")
        self.assertEqual(body["aws:instance_arn"], "arn:aws:sso:::instance/ssoins-111111111111")
        self.assertEqual(body["aws:credential_id"], access["tsr:fid"])

    def test_inactive_reveals_nothing(self):
        a = sign_in_to_a(self.server)[0]
        self.assertEqual(self.introspect(APP_B, a["accessToken"]), INACTIVE)  # not B's
        self.assertEqual(self.introspect(APP_A, "garbage"), INACTIVE)
        self.assertEqual(self.introspect(APP_A, "tsrt_unknown"), INACTIVE)
        self.assertEqual(self.introspect(APP_A, a["idToken"]), INACTIVE)

    def test_revoking_an_access_token(self):
        a = sign_in_to_a(self.server)[0]
        self.revoke(APP_A, a["accessToken"])
        self.assertEqual(self.introspect(APP_A, a["accessToken"]), INACTIVE)
        # The refresh token lives on and gives a new, active access token.
        self.assertIs(self.introspect(APP_A, a["refreshToken"])["active"], True)
        renewed = self.client.create_token_with_iam(
            clientId=APP_A, grantType="refresh_token", refreshToken=a["refreshToken"])
        self.assertIs(self.introspect(APP_A, renewed["accessToken"])["active"], True)

    def test_revoking_a_refresh_token_revokes_its_family_and_exchanges(self):
        a = sign_in_to_a(self.server)[0]
        b = exchange(self.client, APP_B, a["accessToken"], requestedTokenType=REFRESH_TYPE)
        self.assertEqual(self.introspect(APP_B, b["accessToken"])["act"], {"sub": APP_A})
        self.assertEqual(self.introspect(APP_B, b["refreshToken"])["token_type"],
                         "refresh_token")
        self.revoke(APP_A, a["refreshToken"])
        for client_id, token in ((APP_A, a["accessToken"]), (APP_A, a["refreshToken"]),
                                 (APP_B, b["accessToken"]), (APP_B, b["refreshToken"])):
            self.assertEqual(self.introspect(client_id, token), INACTIVE)
        with self.assertRaises(self.client.exceptions.InvalidGrantException):
            self.client.create_token_with_iam(clientId=APP_A, grantType="refresh_token",
                                              refreshToken=a["refreshToken"])

    def test_revoking_unknown_tokens_succeeds(self):
        self.revoke(APP_A, "tsrt_unknown")
        self.revoke(APP_A, "not-a-token")

    def test_revoking_another_applications_token_is_refused(self):
        a = sign_in_to_a(self.server)[0]
        status, headers, body = signed_post(self.server, "/revoke",
                                            {"clientId": APP_B, "token": a["refreshToken"]})
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"].split(":")[0],
                         "UnauthorizedClientException")
        self.assertIs(self.introspect(APP_A, a["refreshToken"])["active"], True)

    def test_actor_policy_decides_who_may_introspect(self):
        key = self.server.new_access_key(harness.WEBAPP_ROLE)
        # The demo application allows the webapp role CreateTokenWithIAM only.
        status, headers, body = signed_post(
            self.server, "/introspect", {"clientId": harness.DEMO_APP, "token": "x"},
            key_id=key["AWS_ACCESS_KEY_ID"], secret=key["AWS_SECRET_ACCESS_KEY"])
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"].split(":")[0], "AccessDeniedException")
        self.assertIn("sso-oauth:IntrospectTokenWithIAM", body["error_description"])

    def test_unsigned_and_malformed_requests(self):
        status, headers, _ = signed_post(self.server, "/introspect", {"clientId": APP_A})
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"].split(":")[0], "InvalidRequestException")
        conn = harness.http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        conn.request("POST", "/introspect?aws_iam=t", body="{}",
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        self.assertEqual(resp.status, 403)
        self.assertEqual(resp.headers["x-amzn-ErrorType"].split(":")[0],
                         "MissingAuthenticationTokenException")

    def test_identity_context_names_the_user(self):
        a = sign_in_to_a(self.server)[0]
        context = a["awsAdditionalDetails"]["identityContext"]
        status, _, body = signed_post(self.server, "/identity-context",
                                      {"clientId": APP_A, "identityContext": context})
        self.assertEqual(status, 200)
        self.assertIs(body["active"], True)
        self.assertEqual(body["sub"], claims(a["accessToken"])["sub"])
        self.assertEqual(body["username"], "demo")
        self.assertEqual(body["client_id"], APP_A)
        _, _, forged = signed_post(self.server, "/identity-context",
                                   {"clientId": APP_A, "identityContext": context[:-2] + "AA"})
        self.assertEqual(forged, INACTIVE)

    def test_offline_verification_with_joserfc(self):
        a = sign_in_to_a(self.server)[0]
        b = exchange(self.client, APP_B, a["accessToken"])
        with harness.urllib.request.urlopen(self.issuer + "/.well-known/jwks.json") as f:
            keys = KeySet.import_key_set(json.load(f))
        for token, app in ((a["accessToken"], APP_A), (b["accessToken"], APP_B)):
            decoded = jwt.decode(token, keys, algorithms=["ES256"])
            self.assertEqual(decoded.header["typ"], "at+jwt")
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer},
                                  client_id={"essential": True, "value": app},
                                  exp={"essential": True}).validate(decoded.claims)
        self.assertEqual(jwt.decode(b["accessToken"], keys).claims["act"], {"sub": APP_A})
        # The ID token verifies too, but its typ says it is not an access token.
        self.assertEqual(jwt.decode(a["idToken"], keys, algorithms=["ES256"]).header["typ"],
                         "JWT")

    def run_example(self, token, client_id=APP_A):
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": harness.ROOT_KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": harness.ROOT_SECRET,
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        env.pop("AWS_SESSION_TOKEN", None)
        r = subprocess.run([sys.executable, EXAMPLE, "--endpoint", self.server.url,
                            "--instance-id", "ssoins-111111111111", "--client-id", client_id,
                            token], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.stderr, "")
        return r.returncode, json.loads(r.stdout)

    def test_resource_server_example(self):
        a = sign_in_to_a(self.server)[0]
        code, out = self.run_example(a["accessToken"])
        self.assertEqual(code, 0, out)
        self.assertIs(out["offline"]["valid"], True)
        self.assertEqual(out["offline"]["claims"]["client_id"], APP_A)
        self.assertIs(out["online"]["active"], True)
        # An ID token fails offline on typ.
        code, out = self.run_example(a["idToken"])
        self.assertEqual(code, 1)
        self.assertIn("not an access token", out["offline"]["error"])
        # After revocation the signature still verifies offline; introspection sees it.
        self.revoke(APP_A, a["accessToken"])
        code, out = self.run_example(a["accessToken"])
        self.assertEqual(code, 1)
        self.assertIs(out["offline"]["valid"], True)
        self.assertEqual(out["online"], INACTIVE)


if __name__ == "__main__":
    unittest.main()
