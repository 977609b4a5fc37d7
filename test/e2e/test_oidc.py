"""What standard OAuth and OpenID clients read and call besides AWS's API: the discovery document
and RFC 8414 metadata, CORS on the public documents, and the UserInfo endpoint (RFC 6750 bearer
tokens, OIDC Core §5.3) with tokens of IAM applications."""
import http.client
import json
import unittest
import urllib.parse

from test.e2e import harness
from test.e2e.tx_support import signed_post

PREFIX = "arn:aws:sso::123456789012:application/ssoins-111111111111/"
# An IAM application whose access scopes include OpenID's profile and email.
APP = PREFIX + "apl-0100000000c1"
REDIRECT = "https://rp.example/callback"
BOOTSTRAP = json.dumps({
    "Users": [{"UserName": "grace", "DisplayName": "Grace Hopper",
               "Name": {"GivenName": "Grace", "FamilyName": "Hopper"},
               "Emails": [{"Value": "grace@navy.example", "Type": "work", "Primary": True}],
               "Password": "grace's long password"}],
    "Applications": [{
        "ApplicationArn": APP, "Name": "rp", "AssignmentRequired": True,
        "Grants": [{"GrantType": "authorization_code",
                    "Grant": {"AuthorizationCode": {"RedirectUris": [REDIRECT]}}},
                   {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}}],
        "AccessScopes": [{"Scope": "profile", "AuthorizedTargets": []},
                         {"Scope": "email", "AuthorizedTargets": []}],
        "Assignments": [{"PrincipalType": "USER", "UserName": "grace"},
                        {"PrincipalType": "USER", "UserName": "demo"}],
    }],
})
INSTANCE = "ssoins-111111111111"


class OidcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(bootstrap=BOOTSTRAP)
        cls.issuer = cls.server.url + "/" + INSTANCE

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, r.headers, data
        finally:
            conn.close()

    def sign_in(self, scope, user="grace", password="grace's long password"):
        verifier, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        redirect = browser.sign_in(challenge, client_id=APP, redirect_uri=REDIRECT, scope=scope,
                                   username=user, password=password)
        return self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT, codeVerifier=verifier)

    def userinfo(self, token, method="GET"):
        if method == "GET":
            status, headers, data = self.request(
                "GET", "/userinfo", headers={"Authorization": "Bearer " + token})
        else:
            status, headers, data = self.request(
                "POST", "/userinfo", body=urllib.parse.urlencode({"access_token": token}),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        return status, headers, json.loads(data)

    # --- discovery ---

    def test_discovery_and_rfc8414_metadata_are_one_document(self):
        status, headers, data = self.request("GET", f"/{INSTANCE}/.well-known/openid-configuration")
        self.assertEqual(status, 200)
        discovery = json.loads(data)
        status, headers, data = self.request(
            "GET", f"/.well-known/oauth-authorization-server/{INSTANCE}")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(data), discovery)
        self.assertEqual(discovery["issuer"], self.issuer)
        self.assertEqual(discovery["userinfo_endpoint"], self.server.url + "/userinfo")
        self.assertIn("urn:ietf:params:oauth:grant-type:device_code",
                      discovery["grant_types_supported"])
        self.assertEqual(discovery["token_endpoint_auth_methods_supported"],
                         ["client_secret_basic", "client_secret_post", "aws_sigv4"])
        for claim in ("sub", "nonce", "auth_time", "email", "email_verified", "name"):
            self.assertIn(claim, discovery["claims_supported"])
        # Every endpoint it names answers in its standard's way: no SigV4-only URL is offered.
        for member, value in discovery.items():
            if member.endswith("_endpoint") or member == "jwks_uri":
                self.assertNotIn("aws_iam", value, member)

    def test_cors_on_public_documents_and_userinfo(self):
        for path in (f"/{INSTANCE}/.well-known/openid-configuration",
                     f"/.well-known/oauth-authorization-server/{INSTANCE}",
                     f"/{INSTANCE}/.well-known/jwks.json", "/.well-known/jwks.json", "/userinfo"):
            with self.subTest(path=path):
                status, headers, body = self.request(
                    "OPTIONS", path, headers={"Origin": "https://spa.example",
                                              "Access-Control-Request-Method": "GET",
                                              "Access-Control-Request-Headers": "authorization"})
                self.assertEqual(status, 204)
                self.assertEqual(body, b"")
                self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
                self.assertIn("GET", headers["Access-Control-Allow-Methods"])
                self.assertIn("Authorization", headers["Access-Control-Allow-Headers"])
                status, headers, _ = self.request("GET", path,
                                                  headers={"Origin": "https://spa.example"})
                self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
        # Not the sign-in page, nor the SigV4 endpoints.
        status, headers, _ = self.request("OPTIONS", "/authorize",
                                          headers={"Origin": "https://spa.example"})
        self.assertEqual(status, 404)
        self.assertIsNone(headers["Access-Control-Allow-Origin"])
        status, headers, _ = self.request("GET", "/authorize?client_id=x",
                                          headers={"Origin": "https://spa.example"})
        self.assertIsNone(headers["Access-Control-Allow-Origin"])

    # --- userinfo ---

    def test_userinfo_answers_the_granted_scopes(self):
        tokens = self.sign_in("openid profile email")
        for method in ("GET", "POST"):
            with self.subTest(method=method):
                status, headers, info = self.userinfo(tokens["accessToken"], method)
                self.assertEqual(status, 200, info)
                self.assertEqual(headers["Cache-Control"], "no-store")
                id_claims = harness.decode_jwt_part(tokens["idToken"].split(".")[1])
                self.assertEqual(info["sub"], id_claims["sub"])
                self.assertEqual(info["preferred_username"], "grace")
                self.assertEqual(info["name"], "Grace Hopper")
                self.assertEqual(info["given_name"], "Grace")
                self.assertEqual(info["family_name"], "Hopper")
                self.assertEqual(info["email"], "grace@navy.example")
                self.assertIs(info["email_verified"], True)

    def test_userinfo_with_openid_alone_is_the_subject(self):
        tokens = self.sign_in("openid aws", user="demo", password=harness.DEMO_PASSWORD)
        status, _, info = self.userinfo(tokens["accessToken"])
        self.assertEqual(status, 200, info)
        self.assertEqual(list(info), ["sub"])

    def test_userinfo_without_openid_is_insufficient_scope(self):
        tokens = self.sign_in("aws profile")
        status, headers, info = self.userinfo(tokens["accessToken"])
        self.assertEqual(status, 403)
        self.assertEqual(info["error"], "insufficient_scope")
        self.assertIn('error="insufficient_scope"', headers["WWW-Authenticate"])
        self.assertIn('scope="openid"', headers["WWW-Authenticate"])

    def test_userinfo_refuses_bad_expired_revoked_and_missing_tokens(self):
        tokens = self.sign_in("openid profile")
        # No token: the challenge without an error code (RFC 6750 §3.1).
        status, headers, data = self.request("GET", "/userinfo")
        self.assertEqual(status, 401)
        self.assertEqual(headers["WWW-Authenticate"], f'Bearer realm="{self.issuer}"')
        # The ID token is no access token; nor is the refresh token.
        for token in (tokens["idToken"], tokens["refreshToken"], "garbage"):
            status, headers, info = self.userinfo(token)
            self.assertEqual(status, 401)
            self.assertEqual(info["error"], "invalid_token")
            self.assertIn('error="invalid_token"', headers["WWW-Authenticate"])
            self.assertNotIn(token, json.dumps(info))
        # The token in the URL is refused outright.
        status, _, data = self.request(
            "GET", "/userinfo?" + urllib.parse.urlencode({"access_token": tokens["accessToken"]}))
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(data)["error"], "invalid_request")
        # Revoked through the resource-server API: userinfo stops answering at once.
        self.assertEqual(self.userinfo(tokens["accessToken"])[0], 200)
        status, _, body = signed_post(self.server, "/revoke",
                                      {"clientId": APP, "token": tokens["refreshToken"]})
        self.assertEqual(status, 200, body)
        status, _, info = self.userinfo(tokens["accessToken"])
        self.assertEqual(status, 401)
        self.assertEqual(info["error"], "invalid_token")
        self.assertEqual(self.server.internal_error_lines(), [])


if __name__ == "__main__":
    unittest.main()
