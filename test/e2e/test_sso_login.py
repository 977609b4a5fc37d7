"""`aws sso login` against Tessera, step by step as AWS CLI v2 makes its calls, with boto3's
sso-oidc client (unsigned, like the CLI's) and a scripted cookie-keeping browser:

- the browser flow: RegisterClient (authorization_code + refresh_token, the loopback redirect
  URI without a port), /authorize with `scopes` and PKCE and a redirect URI on the port of a
  real callback server, the callback, CreateToken authorization_code, then refresh_token;
- the device flow: RegisterClient, StartDeviceAuthorization, the device verification page
  (code, sign-in, consent), CreateToken device_code polled until approved or denied.

js/sso_login.test.mjs drives the same pages with headless Chromium.
"""
import http.server
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid

import boto3
import botocore.config

from test.e2e import harness

# The demo instance's start URL in the form AWS CLI >= 2.35.13 accepts (an AWS-owned host).
START_URL = "https://d-3333333333.awsapps.com/start"
CLI_REDIRECT = "http://127.0.0.1/oauth/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def sso_oidc(server):
    # The sso-oidc operations the CLI calls are unsigned: no credentials are configured.
    return boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id="unused", aws_secret_access_key="unused",
                        config=botocore.config.Config(retries={"max_attempts": 1}))


class CallbackServer:
    """The CLI's local OAuth callback server (AuthCodeFetcher): an ephemeral port on 127.0.0.1,
    answering /oauth/callback and remembering its query."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                if parts.path != "/oauth/callback":
                    self.send_error(404)
                    return
                received.append(dict(urllib.parse.parse_qsl(parts.query)))
                body = b"<!DOCTYPE html><title>done</title><p>You may close this window.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.redirect_uri = f"http://127.0.0.1:{self.port}/oauth/callback"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class BrowserFlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()
        cls.oidc = sso_oidc(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def register(self):
        return self.oidc.register_client(
            clientName="botocore-client-e2e", clientType="public",
            grantTypes=["authorization_code", "refresh_token"], redirectUris=[CLI_REDIRECT],
            issuerUrl=START_URL, scopes=["sso:account:access"])

    def authorize_path(self, registration, redirect_uri, challenge, state):
        # The CLI's parameters, in its order (awscli/customizations/sso/utils.py).
        return "/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": registration["clientId"],
            "redirect_uri": redirect_uri, "state": state, "code_challenge_method": "S256",
            "scopes": "sso:account:access", "code_challenge": challenge})

    def test_aws_sso_login_browser_flow(self):
        registration = self.register()
        self.assertEqual(registration["authorizationEndpoint"], self.server.url + "/authorize")
        callback = CallbackServer()
        self.addCleanup(callback.stop)
        verifier, challenge = harness.pkce_pair()
        state = str(uuid.uuid4())
        browser = harness.Browser(self.server)
        status, _, body, form = harness.page(browser, "GET", self.authorize_path(
            registration, callback.redirect_uri, challenge, state))
        self.assertEqual(status, 200, body)
        self.assertIn("botocore-client-e2e", body)
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 303, body)
        location = headers["Location"]
        self.assertTrue(location.startswith(callback.redirect_uri + "?"), location)
        # The browser follows the redirect to the CLI's callback server.
        with urllib.request.urlopen(location, timeout=10) as r:
            self.assertEqual(r.status, 200)
        self.assertEqual(len(callback.received), 1)
        answer = callback.received[0]
        self.assertEqual(answer["state"], state)
        self.assertEqual(answer["iss"], self.server.url + "/ssoins-111111111111")

        tokens = self.oidc.create_token(
            clientId=registration["clientId"], clientSecret=registration["clientSecret"],
            grantType="authorization_code", code=answer["code"],
            redirectUri=callback.redirect_uri, codeVerifier=verifier)
        self.assertEqual(tokens["tokenType"], "Bearer")
        self.assertEqual(tokens["expiresIn"], 3600)
        self.assertTrue(tokens["accessToken"])
        self.assertTrue(tokens["refreshToken"])
        # botocore's SSOTokenProvider refreshes the same way later.
        refreshed = self.oidc.create_token(
            clientId=registration["clientId"], clientSecret=registration["clientSecret"],
            grantType="refresh_token", refreshToken=tokens["refreshToken"])
        self.assertNotEqual(refreshed["accessToken"], tokens["accessToken"])

    def test_a_live_session_sends_the_browser_straight_back(self):
        registration = self.register()
        callback = CallbackServer()
        self.addCleanup(callback.stop)
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        browser.sign_in(challenge)  # signed in through the demo application
        status, headers, _ = browser.request("GET", self.authorize_path(
            registration, callback.redirect_uri, challenge, "s-2"))
        self.assertEqual(status, 302)
        self.assertTrue(headers["Location"].startswith(callback.redirect_uri + "?code="))

    def test_redirect_uris_that_do_not_match_the_registration_stay_on_the_server(self):
        registration = self.register()
        _, challenge = harness.pkce_pair()
        for uri in ("http://127.0.0.1:5000/other/callback", "http://localhost:5000/oauth/callback",
                    "https://127.0.0.1:5000/oauth/callback"):
            status, headers, body, _ = harness.page(harness.Browser(self.server), "GET",
                                            self.authorize_path(registration, uri, challenge, "s"))
            self.assertEqual(status, 400, uri)
            self.assertIsNone(headers.get("Location"))
            self.assertIn("not registered for this client", body)

    def test_without_pkce_the_client_is_sent_back_an_error(self):
        registration = self.register()
        callback = CallbackServer()
        self.addCleanup(callback.stop)
        path = "/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": registration["clientId"],
            "redirect_uri": callback.redirect_uri, "state": "s-3",
            "scopes": "sso:account:access"})
        status, headers, _ = harness.Browser(self.server).request("GET", path)
        self.assertEqual(status, 302)
        redirect = harness.parse_redirect(headers["Location"])
        self.assertEqual(redirect["error"], "invalid_request")
        self.assertIn("PKCE is required for registered clients", redirect["error_description"])


class DeviceFlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(bootstrap=harness.EXTRA_BOOTSTRAP)
        cls.oidc = sso_oidc(cls.server)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def start(self, **register):
        registration = self.oidc.register_client(
            clientName="botocore-client-device", clientType="public", **register)
        device = self.oidc.start_device_authorization(
            clientId=registration["clientId"], clientSecret=registration["clientSecret"],
            startUrl=START_URL)
        return registration, device

    def poll(self, registration, device):
        """One CreateToken poll, `interval` seconds after the previous answer, as the CLI
        sleeps between polls."""
        last = getattr(self, "_last_answer", 0.0)
        time.sleep(max(0.0, last + device["interval"] - time.monotonic()))
        try:
            return self.oidc.create_token(
                clientId=registration["clientId"], clientSecret=registration["clientSecret"],
                grantType=DEVICE_GRANT, deviceCode=device["deviceCode"])
        finally:
            self._last_answer = time.monotonic()

    def through_the_page(self, device, decision, user="demo", password=harness.DEMO_PASSWORD,
                         scopes=()):
        """The user opens verificationUriComplete, confirms the code, signs in and decides; the
        consent page names the client and the registered `scopes`. Returns the final page
        (status, body)."""
        def consent(body):
            self.assertIn("botocore-client-device", body)
            for scope in scopes:
                self.assertIn(f"<li>{scope}</li>", body)
            if not scopes:
                self.assertIn("no scopes", body)
        return harness.decide_on_device_page(self.server, device, decision, user, password,
                                             on_consent=consent)

    def test_aws_sso_login_device_flow(self):
        registration, device = self.start(scopes=["sso:account:access"])
        self.assertEqual(device["verificationUri"], self.server.url + "/device")
        self.assertEqual(device["verificationUriComplete"],
                         self.server.url + "/device?user_code=" + device["userCode"])
        # The CLI polls every `interval` seconds; pending until the user approves.
        with self.assertRaises(self.oidc.exceptions.AuthorizationPendingException):
            self.poll(registration, device)
        status, body = self.through_the_page(device, "approve", scopes=["sso:account:access"])
        self.assertEqual(status, 200, body)
        self.assertIn("You may return to your device.", body)
        # The CLI waits `interval` between polls (a faster poll is told to slow down).
        time.sleep(device["interval"])
        tokens = self.poll(registration, device)
        self.assertEqual(tokens["tokenType"], "Bearer")
        self.assertTrue(tokens["accessToken"])
        self.assertTrue(tokens["refreshToken"])
        # A device code is redeemed once.
        with self.assertRaises(self.oidc.exceptions.InvalidGrantException):
            self.poll(registration, device)

    def test_denied_on_the_page_is_access_denied_for_the_device(self):
        registration, device = self.start()
        status, body = self.through_the_page(device, "deny")
        self.assertEqual(status, 200, body)
        self.assertIn("was not given access", body)
        with self.assertRaises(self.oidc.exceptions.AccessDeniedException):
            self.poll(registration, device)

    def test_a_user_not_assigned_to_the_entitled_application_cannot_approve(self):
        registration, device = self.start(entitledApplicationArn=harness.OTHER_APP)
        status, body = self.through_the_page(device, "approve", harness.OUTSIDER,
                                             harness.OUTSIDER_PASSWORD)
        self.assertEqual(status, 403, body)
        self.assertIn("not assigned to the application Other app", body)
        with self.assertRaises(self.oidc.exceptions.AuthorizationPendingException):
            self.poll(registration, device)


class UserCodeGuessingTest(unittest.TestCase):
    """RFC 8628 §5.1: wrong user codes are limited per client address (10 per 15 minutes)."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_wrong_codes_are_throttled_and_change_nothing(self):
        oidc = sso_oidc(self.server)
        registration = oidc.register_client(clientName="guessed", clientType="public")
        device = oidc.start_device_authorization(
            clientId=registration["clientId"], clientSecret=registration["clientSecret"],
            startUrl=START_URL)
        browser = harness.Browser(self.server)
        status, _, _, form = harness.page(browser, "GET", "/device")
        self.assertEqual(status, 200)
        for i in range(10):
            status, _, body, form = harness.page(browser, "POST", "/device",
                                         {**form.inputs, "user_code": f"BCDF-GH{'JKLMNPQRST'[i]}Z"})
            self.assertEqual(status, 400, body)
            self.assertIn("That code is not valid or has expired", form.alert)
        # Now even the right code is refused from this address.
        status, _, body, form = harness.page(browser, "POST", "/device",
                                     {**form.inputs, "user_code": device["userCode"]})
        self.assertEqual(status, 429, body)
        self.assertIn("Too many incorrect codes", form.alert)
        with self.assertRaises(oidc.exceptions.AuthorizationPendingException):
            oidc.create_token(clientId=registration["clientId"],
                              clientSecret=registration["clientSecret"],
                              grantType=DEVICE_GRANT, deviceCode=device["deviceCode"])


if __name__ == "__main__":
    unittest.main()
