"""The SDKs' own SSO token providers refreshing an `sso-session` profile against Tessera:
botocore's SSOTokenProvider and the JavaScript SDK's `fromSso` (@aws-sdk/token-providers), each
in a process of its own with HOME, AWS_CONFIG_FILE and AWS_ENDPOINT_URL_SSO_OIDC pointing at a
temporary home and the server. The first tokens come from the real service: RegisterClient with
boto3, the browser sign-in at /authorize, CreateToken authorization_code, written to the token
cache (`~/.aws/sso/cache/<sha1(session name)>.json`) as `aws sso login` writes it."""
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import boto3
import botocore.config

from test.e2e import harness

START_URL = "https://d-3333333333.awsapps.com/start"
SESSION = "tessera-e2e"
REDIRECT = "http://127.0.0.1/oauth/callback"
JS_PROVIDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js",
                           "sso_token_provider.mjs")

# Prints what botocore's token provider chain (SSOTokenProvider for an sso-session profile)
# returns; warnings of a failed refresh go to stderr.
PY_PROVIDER = textwrap.dedent("""
    import json, logging, sys
    import botocore.session
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    session = botocore.session.Session(profile="tessera")
    token = session.get_auth_token().get_frozen_token()
    print(json.dumps({"token": token.token, "expiration": str(token.expiration)}))
""")


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class SsoTokenProviderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()
        cls.oidc = boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=cls.server.url,
                                aws_access_key_id="unused", aws_secret_access_key="unused",
                                config=botocore.config.Config(retries={"max_attempts": 1}))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="tessera-sso-home-")
        self.addCleanup(shutil.rmtree, self.home, ignore_errors=True)
        os.makedirs(os.path.join(self.home, ".aws", "sso", "cache"))
        self.config = os.path.join(self.home, ".aws", "config")
        with open(self.config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [profile tessera]
                sso_session = {SESSION}
                sso_account_id = 111111111111
                sso_role_name = Reader

                [sso-session {SESSION}]
                sso_start_url = {START_URL}
                sso_region = us-east-1
                sso_registration_scopes = sso:account:access
            """))
        self.cache = os.path.join(self.home, ".aws", "sso", "cache",
                                  hashlib.sha1(SESSION.encode()).hexdigest() + ".json")

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def login(self):
        """What `aws sso login` leaves behind: a registration and its first tokens."""
        registration = self.oidc.register_client(
            clientName="sdk-provider-e2e", clientType="public",
            grantTypes=["authorization_code", "refresh_token"], redirectUris=[REDIRECT],
            issuerUrl=START_URL, scopes=["sso:account:access"])
        verifier, challenge = harness.pkce_pair()
        redirect_uri = "http://127.0.0.1:4711/oauth/callback"
        answer = harness.Browser(self.server).sign_in(
            challenge, client_id=registration["clientId"], redirect_uri=redirect_uri,
            scopes="sso:account:access")
        tokens = self.oidc.create_token(
            clientId=registration["clientId"], clientSecret=registration["clientSecret"],
            grantType="authorization_code", code=answer["code"], redirectUri=redirect_uri,
            codeVerifier=verifier)
        return registration, tokens

    def write_cache(self, registration, tokens, expires_in):
        entry = {
            "startUrl": START_URL, "region": "us-east-1",
            "accessToken": tokens["accessToken"],
            "expiresAt": iso(utc_now() + datetime.timedelta(seconds=expires_in)),
            "clientId": registration["clientId"], "clientSecret": registration["clientSecret"],
            "registrationExpiresAt": iso(datetime.datetime.fromtimestamp(
                registration["clientSecretExpiresAt"], datetime.timezone.utc)),
            "refreshToken": tokens["refreshToken"],
        }
        with open(self.cache, "w") as f:
            json.dump(entry, f)
        return entry

    def read_cache(self):
        with open(self.cache) as f:
            return json.load(f)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"HOME": self.home, "AWS_CONFIG_FILE": self.config,
                    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.home, ".aws", "none"),
                    "AWS_ENDPOINT_URL_SSO_OIDC": self.server.url, "AWS_PROFILE": "tessera"})
        return env

    def run_python(self):
        r = subprocess.run([sys.executable, "-c", PY_PROVIDER], capture_output=True, text=True,
                           env=self.env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout), r.stderr

    def run_js(self):
        r = subprocess.run(["node", JS_PROVIDER], capture_output=True, text=True, env=self.env(),
                           timeout=60, cwd=os.path.dirname(JS_PROVIDER))
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout), r.stderr

    def assert_refreshed(self, before, provided):
        after = self.read_cache()
        self.assertNotEqual(after["accessToken"], before["accessToken"])
        self.assertEqual(provided["token"], after["accessToken"])
        # Rotated: a new refresh token, kept with the registration.
        self.assertNotEqual(after["refreshToken"], before["refreshToken"])
        self.assertEqual(after["clientId"], before["clientId"])
        self.assertEqual(after["clientSecret"], before["clientSecret"])
        expires = datetime.datetime.fromisoformat(after["expiresAt"].replace("Z", "+00:00"))
        self.assertGreater(expires, utc_now() + datetime.timedelta(minutes=50))
        # The new access token is one of Tessera's, live: the client's own introspection says so.
        status, _, body = self.introspect(after)
        self.assertEqual(status, 200, body)
        self.assertIs(body["active"], True)
        self.assertEqual(body["client_id"], before["clientId"])
        # The old refresh token is spent: presenting it again is reuse.
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException):
            self.oidc.create_token(clientId=before["clientId"],
                                   clientSecret=before["clientSecret"],
                                   grantType="refresh_token", refreshToken=before["refreshToken"])

    def introspect(self, entry):
        import base64
        import http.client
        import urllib.parse
        basic = base64.b64encode(
            f"{entry['clientId']}:{entry['clientSecret']}".encode()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("POST", "/introspect",
                         body=urllib.parse.urlencode({"token": entry["accessToken"]}),
                         headers={"Authorization": "Basic " + basic,
                                  "Content-Type": "application/x-www-form-urlencoded"})
            r = conn.getresponse()
            return r.status, r.headers, json.loads(r.read() or b"{}")
        finally:
            conn.close()

    def test_botocore_refreshes_an_expiring_token_and_rewrites_the_cache(self):
        registration, tokens = self.login()
        before = self.write_cache(registration, tokens, expires_in=120)
        provided, _ = self.run_python()
        self.assert_refreshed(before, provided)
        # A fresh token is used as it is: no second refresh.
        again, _ = self.run_python()
        self.assertEqual(again["token"], provided["token"])
        self.assertEqual(self.read_cache()["accessToken"], provided["token"])

    def test_javascript_from_sso_refreshes_an_expiring_token_and_rewrites_the_cache(self):
        registration, tokens = self.login()
        before = self.write_cache(registration, tokens, expires_in=120)
        provided, _ = self.run_js()
        self.assert_refreshed(before, provided)
        again, _ = self.run_js()
        self.assertEqual(again["token"], provided["token"])

    def test_a_wrong_client_secret_is_invalid_client_and_the_cache_stays(self):
        registration, tokens = self.login()
        registration = dict(registration, clientSecret="tscs_" + "A" * 43)
        before = self.write_cache(registration, tokens, expires_in=120)
        provided, stderr = self.run_python()
        # botocore keeps the cached token (still valid for two minutes) and says why it could
        # not refresh: the modeled error class reached it.
        self.assertEqual(provided["token"], before["accessToken"])
        self.assertIn("InvalidClientException", stderr)
        self.assertEqual(self.read_cache(), before)


if __name__ == "__main__":
    unittest.main()
