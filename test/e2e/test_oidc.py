"""What standard OAuth and OpenID clients read and call besides AWS's API: the discovery document
and RFC 8414 metadata, CORS on the public documents, the UserInfo endpoint (RFC 6750 bearer
tokens, OIDC Core §5.3) with tokens of IAM applications and registered clients, RFC 7591
registration, and registered clients' RFC 7662 / RFC 7009 form posts."""
import base64
import http.client
import json
import unittest
import urllib.parse

import boto3
import botocore.config

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
        for member, path in (("registration_endpoint", "/client/register"),
                             ("introspection_endpoint", "/introspect"),
                             ("revocation_endpoint", "/revoke")):
            self.assertEqual(discovery[member], self.server.url + path)
        self.assertNotIn("device_authorization_endpoint", discovery)
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


class RegisteredClientStandardsTest(unittest.TestCase):
    """RFC 7591 registration and RFC 7662 / RFC 7009 form posts of registered clients, and
    /userinfo with their tokens."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()
        cls.oidc = boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=cls.server.url,
                                aws_access_key_id="unused", aws_secret_access_key="unused",
                                config=botocore.config.Config(retries={"max_attempts": 1}))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def post(self, path, body, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, r.headers, (json.loads(data) if data else None)
        finally:
            conn.close()

    def register_rfc7591(self, **metadata):
        body = {"client_name": "rfc7591 e2e", "redirect_uris": ["http://127.0.0.1/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid profile"}
        body.update(metadata)
        return self.post("/client/register", json.dumps(body),
                         {"Content-Type": "application/json"})

    def sign_in(self, client):
        verifier, challenge = harness.pkce_pair()
        redirect_uri = "http://127.0.0.1:5555/cb"
        answer = harness.Browser(self.server).sign_in(
            challenge, client_id=client["client_id"], redirect_uri=redirect_uri,
            scope="openid profile")
        return self.oidc.create_token(
            clientId=client["client_id"], clientSecret=client["client_secret"],
            grantType="authorization_code", code=answer["code"], redirectUri=redirect_uri,
            codeVerifier=verifier)

    def form(self, path, client, token, post_auth=False):
        fields = {"token": token}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if post_auth:
            fields.update(client_id=client["client_id"], client_secret=client["client_secret"])
        else:
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        return self.post(path, urllib.parse.urlencode(fields), headers)

    def test_rfc7591_registration_and_its_errors(self):
        status, headers, client = self.register_rfc7591()
        self.assertEqual(status, 201, client)
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertTrue(client["client_secret"].startswith("tscs_"))
        self.assertEqual(client["grant_types"], ["authorization_code", "refresh_token"])
        self.assertEqual(client["redirect_uris"], ["http://127.0.0.1/cb"])
        self.assertGreater(client["client_secret_expires_at"], client["client_id_issued_at"])
        # The same checks as RegisterClient, in RFC 7591 §3.2.2's shape.
        for metadata, error in (({"redirect_uris": ["http://app.example/cb"]},
                                 "invalid_redirect_uri"),
                                ({"token_endpoint_auth_method": "none"},
                                 "invalid_client_metadata"),
                                ({"scope": "openid admin"}, "invalid_scope"),
                                ({"grant_types": ["implicit"]}, "unsupported_grant_type")):
            with self.subTest(metadata=metadata):
                status, _, body = self.register_rfc7591(**metadata)
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"], error)
        # AWS's RegisterClient is untouched: boto3 still gets its own answer.
        registered = self.oidc.register_client(clientName="aws", clientType="public")
        self.assertIn("clientSecret", registered)

    def test_introspection_and_revocation_of_its_own_tokens_only(self):
        _, _, mine = self.register_rfc7591()
        _, _, other = self.register_rfc7591()
        tokens = self.sign_in(mine)
        # Its own: active, with either way of authenticating.
        for post_auth in (False, True):
            status, headers, body = self.form("/introspect", mine, tokens["accessToken"],
                                              post_auth=post_auth)
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["Cache-Control"], "no-store")
            self.assertIs(body["active"], True)
            self.assertEqual(body["client_id"], mine["client_id"])
        # /userinfo with a registered client's access token.
        status, _, info = self.userinfo(tokens["accessToken"])
        self.assertEqual(status, 200, info)
        self.assertEqual(info["preferred_username"], "demo")
        # Another client learns nothing and revokes nothing.
        for token in (tokens["accessToken"], tokens["refreshToken"]):
            status, _, body = self.form("/introspect", other, token)
            self.assertEqual((status, body), (200, {"active": False}))
            status, _, body = self.form("/revoke", other, token)
            self.assertEqual((status, body), (200, None))
        self.assertIs(self.form("/introspect", mine, tokens["refreshToken"])[2]["active"], True)
        # A wrong secret: 401 invalid_client with the Basic challenge, nothing revoked.
        wrong = dict(mine, client_secret="tscs_" + "B" * 43)
        status, headers, body = self.form("/revoke", wrong, tokens["refreshToken"])
        self.assertEqual(status, 401)
        self.assertEqual(body["error"], "invalid_client")
        self.assertTrue(headers["WWW-Authenticate"].startswith("Basic"))
        # The owner's revocation of the refresh token ends the grant and its access token.
        status, _, body = self.form("/revoke", mine, tokens["refreshToken"])
        self.assertEqual((status, body), (200, None))
        self.assertEqual(self.form("/introspect", mine, tokens["accessToken"])[2],
                         {"active": False})
        self.assertEqual(self.userinfo(tokens["accessToken"])[0], 401)

    def userinfo(self, token):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("GET", "/userinfo", headers={"Authorization": "Bearer " + token})
            r = conn.getresponse()
            return r.status, r.headers, json.loads(r.read())
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
