"""Registered clients through boto3's sso-oidc client: RegisterClient, StartDeviceAuthorization
and CreateToken (docs/design/public-clients.md), as the AWS CLI's device flow calls them, with
every modeled error asserted by its class, hostile input, and the RFC 6749 form front end of
/token for standard OAuth clients.

The user approves or denies on the device verification page (approve()); the database is
read to count what was stored, and written only to age a registration or an authorization
(expiry).
"""
import base64
import hashlib
import http.client
import json
import os
import sqlite3
import time
import unittest
import urllib.parse

import botocore.config
import boto3

from test.e2e import harness

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
IDENTITY_STORE_ID = "d-3333333333"  # the demo's
START_URL = f"https://{IDENTITY_STORE_ID}.awsapps.com/start"


def oidc(server):
    """An sso-oidc client as the AWS CLI makes one: unsigned operations, no retries."""
    return boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id="unused", aws_secret_access_key="unused",
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def user_code_hash(user_code):
    return hashlib.sha256(user_code.replace("-", "").upper().encode()).hexdigest()


def db(server):
    conn = sqlite3.connect(server.db, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def approve(server, device, allow=True):
    """The demo user decides on the device verification page."""
    status, body = harness.decide_on_device_page(server, device, "approve" if allow else "deny")
    if status != 200:
        raise AssertionError(f"the verification page answered {status}: {body}")


def raw_post(server, path, body, headers=None, source="127.0.0.1"):
    """POST without boto3 (what boto3 will not send: missing required members, form posts),
    from `source` (any 127.0.0.0/8 address reaches the server). Returns (status, headers,
    parsed JSON)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30,
                                      source_address=(source, 0))
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        conn.request("POST", path, body=body if isinstance(body, (str, bytes)) else
                     json.dumps(body), headers=h)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, resp.headers, json.loads(data)


class PublicClientsBase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=("--access-log", *cls.server_args))
        cls.oidc = oidc(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        # Client mistakes are 4xx: none may surface as an internal error.
        self.assertEqual(self.server.internal_error_lines(), [])

    def assert_error(self, raised, name, error, message_part, status=400):
        response = raised.exception.response
        self.assertEqual(type(raised.exception).__name__, name)
        self.assertEqual(response["Error"]["Code"], name)
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(response["error"], error)
        self.assertIn(message_part, response["error_description"])

    def register(self, **kw):
        args = dict(clientName="aws-cli", clientType="public", scopes=["sso:account:access"])
        args.update(kw)
        return self.oidc.register_client(**args)

    def start(self, client, start_url=START_URL):
        return self.oidc.start_device_authorization(
            clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=start_url)

    def poll(self, client, device, **kw):
        return self.oidc.create_token(clientId=client["clientId"],
                                      clientSecret=client["clientSecret"],
                                      grantType=DEVICE_GRANT, deviceCode=device["deviceCode"],
                                      **kw)

    def device_tokens(self, client=None, **kw):
        """The AWS CLI's device flow, the user approving at once; returns (client, tokens)."""
        client = client or self.register(**kw)
        device = self.start(client)
        approve(self.server, device)
        return client, self.poll(client, device)

    def live_clients(self):
        with db(self.server) as conn:
            return conn.execute("SELECT COUNT(*) FROM registered_clients").fetchone()[0]


class RegisterClientTest(PublicClientsBase):
    def test_members_and_the_secret_stored_hashed(self):
        before = int(time.time())
        r = self.register(grantTypes=["authorization_code", "refresh_token"],
                          redirectUris=["http://127.0.0.1/oauth/callback"],
                          issuerUrl=START_URL)
        for member in ("clientId", "clientSecret", "clientIdIssuedAt", "clientSecretExpiresAt",
                       "authorizationEndpoint", "tokenEndpoint"):
            self.assertIn(member, r)
        self.assertTrue(r["clientId"].endswith(base64.urlsafe_b64encode(b"us-east-1")
                                               .decode().rstrip("=")))
        self.assertGreaterEqual(r["clientIdIssuedAt"], before)
        self.assertEqual(r["clientSecretExpiresAt"], r["clientIdIssuedAt"] + 90 * 86400)
        self.assertEqual(r["authorizationEndpoint"], self.server.url + "/authorize")
        self.assertEqual(r["tokenEndpoint"], self.server.url + "/token")
        # Security: the plaintext secret is neither in the database nor in the log.
        secret = r["clientSecret"]
        for name in os.listdir(self.server.dir):
            with open(os.path.join(self.server.dir, name), "rb") as f:
                self.assertNotIn(secret[5:].encode(), f.read(), name)
        self.assertNotIn(secret, self.server.server_log())

    def test_invalid_client_metadata(self):
        before = self.live_clients()
        cases = [
            dict(clientType="confidential"),
            dict(clientName="n" * 257),
            dict(scopes=[f"svc:scope{i}" for i in range(26)]),
            dict(scopes=["svc:" + "x" * 300]),
            dict(redirectUris=[f"https://a.example/{i}" for i in range(11)]),
            dict(issuerUrl="https://a.example/" + "x" * 3000),
            dict(entitledApplicationArn="arn:aws:sso::123456789012:application/x/apl-none"),
        ]
        for kw in cases:
            with self.subTest(kw=str(kw)[:60]):
                with self.assertRaises(self.oidc.exceptions.InvalidClientMetadataException) as e:
                    self.register(**kw)
                self.assert_error(e, "InvalidClientMetadataException", "invalid_client_metadata",
                                  "")
        self.assertEqual(self.live_clients(), before)

    def test_oversized_body_is_refused_before_it_is_read(self):
        status, headers, body = raw_post(
            self.server, "/client/register",
            {"clientName": "x" * (300 * 1024), "clientType": "public"})
        self.assertEqual(status, 413)
        self.assertTrue(headers["x-amzn-ErrorType"].startswith("InvalidRequestException"))

    def test_invalid_redirect_uri_scope_and_grant_type(self):
        for uri in ("http://example.com/cb", "http://localhost:8080/cb",
                    "https://a.example/cb#x", "javascript:alert(1)"):
            with self.subTest(uri=uri):
                with self.assertRaises(self.oidc.exceptions.InvalidRedirectUriException) as e:
                    self.register(grantTypes=["authorization_code"], redirectUris=[uri])
                self.assert_error(e, "InvalidRedirectUriException", "invalid_redirect_uri", uri)
        with self.assertRaises(self.oidc.exceptions.InvalidRedirectUriException) as e:
            self.register(grantTypes=["authorization_code"])
        self.assert_error(e, "InvalidRedirectUriException", "invalid_redirect_uri",
                          "'redirectUris' is required")
        with self.assertRaises(self.oidc.exceptions.InvalidScopeException) as e:
            self.register(scopes=["admin"])
        self.assert_error(e, "InvalidScopeException", "invalid_scope", "Scope 'admin'")
        with self.assertRaises(self.oidc.exceptions.UnsupportedGrantTypeException) as e:
            self.register(grantTypes=["client_credentials"])
        self.assert_error(e, "UnsupportedGrantTypeException", "unsupported_grant_type",
                          "client_credentials")

    def test_missing_members_are_invalid_request(self):
        # boto3 refuses to send these; the wire must still answer the modeled error.
        for body, member in (({"clientType": "public"}, "clientName"),
                             ({"clientName": "x"}, "clientType"),
                             ("{not json", None),
                             ({"clientName": ["x"], "clientType": "public"}, "clientName")):
            with self.subTest(body=body):
                status, headers, parsed = raw_post(self.server, "/client/register", body)
                self.assertEqual(status, 400)
                self.assertTrue(headers["x-amzn-ErrorType"].startswith("InvalidRequestException"))
                self.assertEqual(parsed["error"], "invalid_request")
                if member:
                    self.assertIn(f"'{member}'", parsed["error_description"])


class RegistrationFloodTest(PublicClientsBase):
    def test_thousands_of_registrations_from_one_address(self):
        body = {"clientName": "flood", "clientType": "public"}
        before = self.live_clients()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30,
                                          source_address=("127.0.0.3", 0))
        created, refused = 0, 0
        try:
            for _ in range(2000):
                conn.request("POST", "/client/register", body=json.dumps(body),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                parsed = json.loads(resp.read())
                if resp.status == 200:
                    created += 1
                else:
                    self.assertEqual(resp.status, 400)
                    self.assertTrue(resp.headers["x-amzn-ErrorType"].startswith(
                        "SlowDownException"))
                    self.assertEqual(parsed["error"], "slow_down")
                    refused += 1
        finally:
            conn.close()
        # A burst of 60, then one a second at most.
        self.assertGreaterEqual(created, 60)
        self.assertLess(created, 60 + 60)
        self.assertEqual(created + refused, 2000)
        # Nothing else changed: only the accepted ones are stored, and another address (boto3's,
        # as the CLI would) still registers.
        self.assertEqual(self.live_clients(), before + created)
        self.assertIn("clientId", self.register())


class RegistrationSlowDownTest(PublicClientsBase):
    server_args = ("--client-registrations-per-minute", "3")

    def test_slow_down_by_class(self):
        for _ in range(3):
            self.register()
        with self.assertRaises(self.oidc.exceptions.SlowDownException) as e:
            self.register()
        self.assert_error(e, "SlowDownException", "slow_down", "Too many client registrations")


class LiveCapTest(PublicClientsBase):
    server_args = ("--max-live-clients", "3")

    def test_the_cap_on_live_registrations(self):
        for _ in range(3):
            self.register()
        with self.assertRaises(self.oidc.exceptions.SlowDownException) as e:
            self.register()
        self.assert_error(e, "SlowDownException", "slow_down", "retry later")
        self.assertEqual(self.live_clients(), 3)


class ClientAuthenticationTest(PublicClientsBase):
    def test_unknown_expired_and_wrong_secret_answer_alike(self):
        client = self.register()
        other = self.register()
        attempts = [
            dict(clientId=client["clientId"], clientSecret=other["clientSecret"]),
            dict(clientId=client["clientId"], clientSecret=client["clientSecret"] + "x"),
            dict(clientId="A" * 22 + "dXMtZWFzdC0x", clientSecret=client["clientSecret"]),
        ]
        answers = []
        for kw in attempts:
            with self.assertRaises(self.oidc.exceptions.InvalidClientException) as e:
                self.oidc.start_device_authorization(startUrl=START_URL, **kw)
            self.assert_error(e, "InvalidClientException", "invalid_client", "Invalid client",
                              status=401)
            answers.append(e.exception.response["error_description"])
        # An expired secret: a registration's expiry moved into the past before the server
        # first read it (registrations never change, so the server keeps what it read).
        expired = self.register()
        with db(self.server) as conn:
            conn.execute("UPDATE registered_clients SET secret_expires_at = ? "
                         "WHERE client_id = ?", (int(time.time()) - 1, expired["clientId"]))
        with self.assertRaises(self.oidc.exceptions.InvalidClientException) as e:
            self.start(expired)
        answers.append(e.exception.response["error_description"])
        self.assertEqual(len(set(answers)), 1, answers)

    def test_a_client_of_another_region(self):
        eu = "A" * 22 + base64.urlsafe_b64encode(b"eu-west-3").decode().rstrip("=")
        with self.assertRaises(self.oidc.exceptions.InvalidRequestRegionException) as e:
            self.oidc.create_token(clientId=eu, clientSecret="tscs_x", grantType="refresh_token",
                                   refreshToken="tsrt_x")
        self.assert_error(e, "InvalidRequestRegionException", "invalid_request", "eu-west-3")
        self.assertEqual(e.exception.response["region"], "eu-west-3")
        self.assertEqual(e.exception.response["endpoint"], "https://oidc.eu-west-3.amazonaws.com")

    def test_unauthorized_and_unsupported(self):
        code_client = self.register(grantTypes=["authorization_code"],
                                    redirectUris=["http://127.0.0.1/oauth/callback"])
        with self.assertRaises(self.oidc.exceptions.UnauthorizedClientException) as e:
            self.start(code_client)
        self.assert_error(e, "UnauthorizedClientException", "unauthorized_client",
                          "not registered for grant type")
        with self.assertRaises(self.oidc.exceptions.UnsupportedGrantTypeException) as e:
            self.oidc.create_token(clientId=code_client["clientId"],
                                   clientSecret=code_client["clientSecret"],
                                   grantType="client_credentials")
        self.assert_error(e, "UnsupportedGrantTypeException", "unsupported_grant_type",
                          "client_credentials")
        with self.assertRaises(self.oidc.exceptions.InvalidRequestException) as e:
            self.start(self.register(), start_url="https://evil.example/start")
        self.assert_error(e, "InvalidRequestException", "invalid_request",
                          "startUrl is not this instance's")


class DeviceFlowTest(PublicClientsBase):
    def test_the_aws_cli_device_flow(self):
        client = self.register()
        device = self.start(client)
        for member in ("deviceCode", "userCode", "verificationUri", "verificationUriComplete",
                       "expiresIn", "interval"):
            self.assertIn(member, device)
        self.assertRegex(device["userCode"], r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
        self.assertEqual(device["verificationUri"], self.server.url + "/device")
        self.assertEqual(device["verificationUriComplete"],
                         self.server.url + "/device?user_code=" + device["userCode"])
        self.assertEqual(device["expiresIn"], 600)
        self.assertEqual(device["interval"], 1)
        with self.assertRaises(self.oidc.exceptions.AuthorizationPendingException) as e:
            self.poll(client, device)
        self.assert_error(e, "AuthorizationPendingException", "authorization_pending",
                          "Authorization is still pending")
        with self.assertRaises(self.oidc.exceptions.SlowDownException) as e:
            self.poll(client, device)
        self.assert_error(e, "SlowDownException", "slow_down", "interval")
        approve(self.server, device)
        time.sleep(device["interval"] + 0.1)
        tokens = self.poll(client, device)
        self.assertEqual(tokens["tokenType"], "Bearer")
        self.assertEqual(tokens["expiresIn"], 3600)
        self.assertIn("refreshToken", tokens)
        self.assertNotIn("idToken", tokens)
        claims = harness.decode_jwt_part(tokens["accessToken"].split(".")[1])
        self.assertEqual(claims["aud"], client["clientId"])
        self.assertEqual(claims["client_id"], client["clientId"])
        self.assertEqual(claims["scope"], "sso:account:access")

        # botocore's SSOTokenProvider refreshes like this; reuse revokes the family.
        refreshed = self.oidc.create_token(clientId=client["clientId"],
                                           clientSecret=client["clientSecret"],
                                           grantType="refresh_token",
                                           refreshToken=tokens["refreshToken"])
        self.assertNotEqual(refreshed["refreshToken"], tokens["refreshToken"])
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException) as e:
            self.oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                   grantType="refresh_token", refreshToken=tokens["refreshToken"])
        self.assert_error(e, "InvalidGrantException", "invalid_grant", "already been used")
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException):
            self.oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                   grantType="refresh_token",
                                   refreshToken=refreshed["refreshToken"])

        # The device code is single-use.
        time.sleep(1.1)
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException) as e:
            self.poll(client, device)
        self.assert_error(e, "InvalidGrantException", "invalid_grant", "already been used")
        # Secrets stay out of the log (the access log is on).
        log = self.server.server_log()
        for secret in (client["clientSecret"], device["deviceCode"], tokens["refreshToken"],
                       tokens["accessToken"]):
            self.assertNotIn(secret, log)

    def test_denied_expired_and_foreign_device_codes(self):
        client = self.register()
        denied = self.start(client)
        approve(self.server, denied, allow=False)
        with self.assertRaises(self.oidc.exceptions.AccessDeniedException) as e:
            self.poll(client, denied)
        self.assert_error(e, "AccessDeniedException", "access_denied", "denied")

        late = self.start(client)
        with db(self.server) as conn:
            conn.execute("UPDATE device_authorizations SET expires_at = ? "
                         "WHERE user_code_hash = ?", (int(time.time()) - 1,
                                                      user_code_hash(late["userCode"])))
        with self.assertRaises(self.oidc.exceptions.ExpiredTokenException) as e:
            self.poll(client, late)
        self.assert_error(e, "ExpiredTokenException", "expired_token", "expired")

        foreign = self.start(client)
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException) as e:
            self.poll(self.register(), foreign)
        self.assert_error(e, "InvalidGrantException", "invalid_grant", "Invalid device code")
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException):
            self.poll(client, {"deviceCode": "tsdc_guessed"})

    def test_scope_narrows_within_the_registration(self):
        client = self.register(scopes=["sso:account:access", "codewhisperer:completions"])
        device = self.start(client)
        approve(self.server, device)
        with self.assertRaises(self.oidc.exceptions.InvalidScopeException) as e:
            self.poll(client, device, scope=["openid"])
        self.assert_error(e, "InvalidScopeException", "invalid_scope", "Scope 'openid'")
        time.sleep(1.1)
        tokens = self.poll(client, device, scope=["codewhisperer:completions"])
        claims = harness.decode_jwt_part(tokens["accessToken"].split(".")[1])
        self.assertEqual(claims["scope"], "codewhisperer:completions")

    def test_a_polling_storm_is_slowed_down_and_writes_nothing(self):
        client = self.register()
        device = self.start(client)
        with self.assertRaises(self.oidc.exceptions.AuthorizationPendingException):
            self.poll(client, device)
        body = json.dumps({"clientId": client["clientId"], "clientSecret": client["clientSecret"],
                           "grantType": DEVICE_GRANT, "deviceCode": device["deviceCode"]})
        watcher = db(self.server)
        version = watcher.execute("PRAGMA data_version").fetchone()[0]
        wal = os.path.join(self.server.dir, "tessera.db-wal")
        wal_size = os.path.getsize(wal) if os.path.exists(wal) else 0
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        answers = {}
        try:
            for _ in range(500):
                conn.request("POST", "/token", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                kind = resp.headers["x-amzn-ErrorType"].split(":")[0]
                answers[kind] = answers.get(kind, 0) + 1
        finally:
            conn.close()
        self.assertEqual(set(answers), {"SlowDownException"} | (
            {"AuthorizationPendingException"} if "AuthorizationPendingException" in answers
            else set()))
        self.assertGreater(answers["SlowDownException"], 400)
        # No commit by the server meanwhile (data_version moves with every other connection's
        # commit), and the log of writes did not grow.
        self.assertEqual(watcher.execute("PRAGMA data_version").fetchone()[0], version)
        self.assertEqual(os.path.getsize(wal) if os.path.exists(wal) else 0, wal_size)
        watcher.close()


class OAuthFormTest(PublicClientsBase):
    """The same /token as a standard OAuth client posts to it (RFC 6749)."""

    def form(self, params, client=None, basic=True, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if client is not None and basic:
            pair = (urllib.parse.quote(client["clientId"], safe="") + ":" +
                    urllib.parse.quote(client["clientSecret"], safe=""))
            h["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif client is not None:
            params = dict(params, client_id=client["clientId"],
                          client_secret=client["clientSecret"])
        h.update(headers or {})
        return raw_post(self.server, "/token", urllib.parse.urlencode(params), h)

    def test_refresh_with_client_secret_basic_and_post(self):
        client, tokens = self.device_tokens()
        status, headers, body = self.form(
            {"grant_type": "refresh_token", "refresh_token": tokens["refreshToken"]}, client)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertEqual(set(body), {"access_token", "token_type", "expires_in", "refresh_token",
                                     "scope"})
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["scope"], "sso:account:access")
        status, _, body = self.form(
            {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
             "scope": "sso:account:access"}, client, basic=False)
        self.assertEqual(status, 200, body)

    def test_errors_in_rfc6749_shape(self):
        client, tokens = self.device_tokens()
        wrong = dict(client, clientSecret="tscs_wrong")
        status, headers, body = self.form(
            {"grant_type": "refresh_token", "refresh_token": tokens["refreshToken"]}, wrong)
        self.assertEqual(status, 401)
        self.assertTrue(headers["WWW-Authenticate"].startswith("Basic"))
        self.assertEqual(set(body), {"error", "error_description"})
        self.assertEqual(body["error"], "invalid_client")
        status, _, body = self.form({"grant_type": "refresh_token", "refresh_token": "x"})
        self.assertEqual((status, body["error"]), (401, "invalid_client"))
        status, _, body = self.form({"grant_type": "password"}, client)
        self.assertEqual((status, body["error"]), (400, "unsupported_grant_type"))
        status, _, body = self.form(
            {"grant_type": DEVICE_GRANT, "device_code": "tsdc_guessed"}, client)
        self.assertEqual((status, body["error"]), (400, "invalid_grant"))
        status, _, body = raw_post(self.server, "/token", "grant_type=a&grant_type=b",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, body["error"]), (400, "invalid_request"))


if __name__ == "__main__":
    unittest.main()
