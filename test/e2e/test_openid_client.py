"""A standard OpenID Connect relying party against Tessera: js/openid_client_flow.mjs runs
`openid-client` (discovery, RegisterClient, authorization code + PKCE + nonce in headless
Chromium, client_secret_basic, ID token validation, UserInfo, refresh, RFC 7662 and RFC 7009,
prompt=none) and `jose`; this test starts the server and checks what the library obtained."""
import json
import os
import subprocess
import unittest

from test.e2e import harness

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js", "openid_client_flow.mjs")


class OpenIdClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_the_standard_flow_with_openid_client_and_jose(self):
        r = subprocess.run(["node", SCRIPT, self.server.url, "ssoins-111111111111", "demo",
                            harness.DEMO_PASSWORD], capture_output=True, text=True, timeout=180,
                           cwd=os.path.dirname(SCRIPT))
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        issuer = self.server.url + "/ssoins-111111111111"
        self.assertEqual(summary["callback"]["iss"], issuer)
        claims = summary["idTokenClaims"]
        self.assertEqual(claims["iss"], issuer)
        self.assertIsInstance(claims["auth_time"], int)
        self.assertEqual(summary["userinfo"]["sub"], claims["sub"])
        self.assertEqual(summary["userinfo"]["preferred_username"], "demo")
        self.assertEqual(summary["userinfo"]["name"], "Demo User")
        self.assertEqual(summary["userinfo"]["email"], "demo@example.com")
        self.assertIs(summary["userinfo"]["email_verified"], True)
        self.assertEqual(summary["accessTokenClaims"]["sub"], claims["sub"])
        self.assertIs(summary["introspection"]["active"]["active"], True)
        self.assertEqual(summary["introspection"]["revoked"], {"active": False})
        self.assertEqual(summary["promptNone"]["signedOut"], "login_required")
        self.assertEqual(self.server.internal_error_lines(), [])


if __name__ == "__main__":
    unittest.main()
