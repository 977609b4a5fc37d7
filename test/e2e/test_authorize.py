"""GET/POST /authorize over plain HTTP with a scripted cookie-keeping client.

Covers which errors are shown as a page and which go back to the application, the sign-in
form's CSRF defences, throttling, the security headers and cookies, logout, and the discovery
document and JWKS.
"""
import http.client
import json
import threading
import unittest
import urllib.parse
import urllib.request

from test.e2e import harness

APP = harness.DEMO_APP
REDIRECT = harness.DEMO_REDIRECT


def authorize_path(**params):
    """/authorize with exactly the given parameters (None values are left out)."""
    return "/authorize?" + urllib.parse.urlencode(
        {k: v for k, v in params.items() if v is not None})


def set_cookies(headers):
    """{name: full Set-Cookie header} of a response."""
    return {v.split("=", 1)[0]: v for v in headers.get_all("Set-Cookie") or []}


class AuthorizeTestBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(bootstrap=harness.EXTRA_BOOTSTRAP)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def valid_params(self, challenge, **overrides):
        params = {"response_type": "code", "client_id": APP, "redirect_uri": REDIRECT,
                  "state": "st-1", "code_challenge": challenge, "code_challenge_method": "S256"}
        params.update(overrides)
        return params

    def assert_error_page(self, status, headers, body, expected_status, error, description_part):
        self.assertEqual(status, expected_status, body)
        self.assertIsNone(headers.get("Location"))
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn(f"<strong>{error}</strong>", body)
        self.assertIn(description_part, body)
        self.assertNotIn("<form", body)

    def assert_redirect_error(self, status, headers, error, description_part, state="st-1"):
        self.assertEqual(status, 302)
        redirect = harness.parse_redirect(headers["Location"])
        self.assertEqual(redirect["_base"], REDIRECT)
        self.assertEqual(redirect["error"], error)
        self.assertIn(description_part, redirect["error_description"])
        self.assertEqual(redirect.get("state"), state)
        self.assertEqual(redirect["iss"], self.server.url + "/ssoins-111111111111")
        self.assertNotIn("code", redirect)


class PageErrorsTest(AuthorizeTestBase):
    """Until the redirect URI is known to be registered, errors never leave the server."""

    def test_unknown_client_id(self):
        _, challenge = harness.pkce_pair()
        unknown = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-999999999999"
        status, headers, body = harness.Browser(self.server).request(
            "GET", authorize_path(**self.valid_params(challenge, client_id=unknown)))
        self.assert_error_page(status, headers, body, 400, "invalid_client",
                               "No application has the client_id " + unknown)

    def test_missing_client_id(self):
        _, challenge = harness.pkce_pair()
        status, headers, body = harness.Browser(self.server).request(
            "GET", authorize_path(**self.valid_params(challenge, client_id=None)))
        self.assert_error_page(status, headers, body, 400, "invalid_request", "no client_id")

    def test_unregistered_redirect_uri(self):
        _, challenge = harness.pkce_pair()
        for uri in ("https://evil.example/redirect", REDIRECT + "/", REDIRECT + "?x=1",
                    "http://mywebapp.example/redirect"):
            status, headers, body = harness.Browser(self.server).request(
                "GET", authorize_path(**self.valid_params(challenge, redirect_uri=uri)))
            self.assert_error_page(status, headers, body, 400, "invalid_request",
                                   "The redirect_uri is not registered for this application")

    def test_redirect_uri_of_another_application(self):
        _, challenge = harness.pkce_pair()
        status, headers, body = harness.Browser(self.server).request(
            "GET", authorize_path(**self.valid_params(challenge,
                                                      redirect_uri=harness.OTHER_REDIRECT)))
        self.assert_error_page(status, headers, body, 400, "invalid_request",
                               "not registered")


class RedirectErrorsTest(AuthorizeTestBase):
    """Once the redirect URI is trusted, errors go back to it with state and iss."""

    def get(self, **overrides):
        _, challenge = harness.pkce_pair()
        return harness.Browser(self.server).request(
            "GET", authorize_path(**self.valid_params(challenge, **overrides)))

    def test_response_type_token(self):
        status, headers, _ = self.get(response_type="token")
        self.assert_redirect_error(status, headers, "unsupported_response_type",
                                   "Only response_type=code is supported.")

    def test_plain_challenge_method(self):
        status, headers, _ = self.get(code_challenge_method="plain")
        self.assert_redirect_error(status, headers, "invalid_request",
                                   "code_challenge_method plain is refused")

    def test_challenge_without_method(self):
        # RFC 7636 §4.3: the method would default to plain, which is refused.
        status, headers, _ = self.get(code_challenge_method=None)
        self.assert_redirect_error(status, headers, "invalid_request",
                                   "code_challenge_method=S256 is required")

    def test_method_without_challenge(self):
        status, headers, _ = self.get(code_challenge=None)
        self.assert_redirect_error(status, headers, "invalid_request",
                                   "code_challenge is required with code_challenge_method.")

    def test_overlong_nonce(self):
        status, headers, _ = self.get(nonce="n" * 513)
        self.assert_redirect_error(status, headers, "invalid_request",
                                   "nonce is longer than 512 characters.")

    def test_unknown_prompt(self):
        status, headers, _ = self.get(prompt="consent bogus")
        self.assert_redirect_error(status, headers, "invalid_request",
                                   "prompt value 'bogus' is not supported")

    def test_prompt_none_without_a_session_is_login_required(self):
        status, headers, body = self.get(prompt="none")
        self.assert_redirect_error(status, headers, "login_required", "prompt=none")
        self.assertEqual(body, "")

    def test_malformed_challenge(self):
        status, headers, _ = self.get(code_challenge="too-short")
        self.assert_redirect_error(status, headers, "invalid_request",
                                   "code_challenge must be the 43-character")

    def test_unknown_scope(self):
        status, headers, _ = self.get(scope="openid admin:everything")
        self.assert_redirect_error(status, headers, "invalid_scope",
                                   "Scope 'admin:everything' is not allowed")

    def test_unknown_scope_in_comma_form(self):
        status, headers, _ = self.get(scopes="openid,admin:everything")
        self.assert_redirect_error(status, headers, "invalid_scope",
                                   "Scope 'admin:everything' is not allowed")

    def test_duplicate_parameter(self):
        _, challenge = harness.pkce_pair()
        path = authorize_path(**self.valid_params(challenge)) + "&state=again"
        status, headers, _ = harness.Browser(self.server).request("GET", path)
        self.assertEqual(status, 302)
        redirect = harness.parse_redirect(headers["Location"])
        self.assertEqual(redirect["error"], "invalid_request")
        self.assertIn("Parameter state is given more than once", redirect["error_description"])

    def test_error_without_state_has_no_state(self):
        status, headers, _ = self.get(response_type="token", state=None)
        self.assert_redirect_error(status, headers, "unsupported_response_type",
                                   "Only response_type=code", state=None)

    def test_unassigned_user_is_denied(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge, state="st-1"))
        status, headers, _ = browser.submit_login(form, harness.OUTSIDER,
                                                  harness.OUTSIDER_PASSWORD)
        self.assertEqual(status, 303)
        redirect = harness.parse_redirect(headers["Location"])
        self.assertEqual(redirect["_base"], REDIRECT)
        self.assertEqual(redirect["error"], "access_denied")
        self.assertEqual(redirect["error_description"],
                         "The user is not assigned to this application.")
        self.assertEqual(redirect["state"], "st-1")
        self.assertNotIn("code", redirect)


class PkceWhereAwsHasItTest(AuthorizeTestBase):
    """AWS's CreateTokenWithIAM example redeems a code without codeVerifier: an IAM application
    may sign a user in without PKCE, and a challenge, when sent, still binds the code."""

    def sign_in_without_pkce(self, **extra):
        browser = harness.Browser(self.server)
        status, headers, body, form = browser.open_login(authorize_path(
            response_type="code", client_id=APP, redirect_uri=REDIRECT, state="st-1", **extra))
        self.assertEqual(status, 200, body)
        self.assertNotIn("code_challenge", form.inputs)
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 303, body)
        return harness.parse_redirect(headers["Location"])

    def test_aws_documented_example_without_code_verifier(self):
        redirect = self.sign_in_without_pkce()
        r = self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT)
        self.assertEqual(r["tokenType"], "Bearer")
        self.assertTrue(r["refreshToken"].startswith("tsrt_"))
        self.assertIn("idToken", r)

    def test_a_verifier_for_a_code_without_challenge_is_refused(self):
        redirect = self.sign_in_without_pkce()
        verifier, _ = harness.pkce_pair()
        client = self.server.client()
        with self.assertRaises(client.exceptions.InvalidGrantException) as ctx:
            client.create_token_with_iam(
                clientId=APP, grantType="authorization_code", code=redirect["code"],
                redirectUri=REDIRECT, codeVerifier=verifier)
        self.assertIn("issued without a code_challenge",
                      ctx.exception.response["error_description"])
        # Nothing was consumed: the code is still good as it was issued.
        r = client.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                         code=redirect["code"], redirectUri=REDIRECT)
        self.assertIn("accessToken", r)

    def test_a_code_with_a_challenge_needs_its_verifier(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        client = self.server.client()
        with self.assertRaises(client.exceptions.InvalidRequestException) as ctx:
            client.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                         code=redirect["code"], redirectUri=REDIRECT)
        self.assertIn("codeVerifier", ctx.exception.response["error_description"])
        r = client.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                         code=redirect["code"], redirectUri=REDIRECT,
                                         codeVerifier=verifier)
        self.assertIn("accessToken", r)

    def test_nonce_is_echoed_in_the_id_token(self):
        redirect = self.sign_in_without_pkce(nonce="n-0S6_WzA2Mj")
        r = self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT)
        payload = harness.decode_jwt_part(r["idToken"].split(".")[1])
        self.assertEqual(payload["nonce"], "n-0S6_WzA2Mj")


class RequirePkceTest(unittest.TestCase):
    """`tessera serve --require-pkce`: PKCE for every client."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=["--require-pkce"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_authorize_without_pkce_is_refused(self):
        status, headers, _ = harness.Browser(self.server).request("GET", authorize_path(
            response_type="code", client_id=APP, redirect_uri=REDIRECT, state="st-1"))
        self.assertEqual(status, 302)
        redirect = harness.parse_redirect(headers["Location"])
        self.assertEqual(redirect["error"], "invalid_request")
        self.assertEqual(redirect["error_description"],
                         "PKCE is required: send code_challenge and code_challenge_method=S256.")

    def test_the_banner_offers_only_the_pkce_url(self):
        banner = "\n".join(self.server.banner)
        self.assertIn("code_challenge_method=S256", banner)
        self.assertNotIn("without PKCE", banner)

    def test_pkce_still_signs_in(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        r = self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT, codeVerifier=verifier)
        self.assertIn("accessToken", r)


class SignInTest(AuthorizeTestBase):
    def test_comma_separated_scopes_narrow_the_grant(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge, scopes="openid,aws")
        r = self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT, codeVerifier=verifier)
        self.assertEqual(r["scope"], ["openid", "aws"])
        self.assertIn("idToken", r)
        self.assertNotIn("awsAdditionalDetails", r)

    def test_space_separated_scope_narrows_the_grant(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge, scope="aws")
        r = self.server.client().create_token_with_iam(
            clientId=APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT, codeVerifier=verifier)
        self.assertEqual(r["scope"], ["aws"])
        self.assertNotIn("idToken", r)

    def test_wrong_password(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, headers, body = browser.submit_login(form, "demo", "not the password")
        self.assertEqual(status, 401)
        self.assertIsNone(headers.get("Location"))
        parser = harness._FormParser()
        parser.feed(body)
        self.assertEqual(parser.alert, "Incorrect user name or password.")
        self.assertNotIn("tessera_session", browser.cookies)
        self.assertNotIn("tsac_", body)
        # The form is shown again with the user name kept, ready for another try.
        self.assertIn('value="demo"', body)
        self.assertEqual(parser.inputs["client_id"], APP)

    def test_unknown_user_reads_like_a_wrong_password(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, _, body = browser.submit_login(form, "nobody-here", "whatever password")
        self.assertEqual(status, 401)
        self.assertIn("Incorrect user name or password.", body)

    def test_empty_password(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, _, body = browser.submit_login(form, "demo", "")
        self.assertEqual(status, 400)
        self.assertIn("Enter your user name and password.", body)

    def test_post_without_csrf_cookie(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        browser.cookies.pop("tessera_csrf")
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assert_error_page(status, headers, body, 403, "invalid_request",
                               "The sign-in form has expired or did not come from this server")
        self.assertNotIn("tessera_session", browser.cookies)

    def test_post_without_csrf_token(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        del form.inputs["csrf_token"]
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assert_error_page(status, headers, body, 403, "invalid_request",
                               "did not come from this server")

    def test_post_with_mismatched_csrf_token(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        # Change the first character: it always changes the decoded bytes (the last one of a
        # base64url token carries padding bits), and it is never already the replacement.
        token = form.inputs["csrf_token"]
        form.inputs["csrf_token"] = ("B" if token[0] == "A" else "A") + token[1:]
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assert_error_page(status, headers, body, 403, "invalid_request",
                               "did not come from this server")

    def test_post_with_foreign_origin(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD,
                                                     origin="https://evil.example")
        self.assert_error_page(status, headers, body, 403, "invalid_request",
                               "did not come from this server")
        self.assertNotIn("tessera_session", browser.cookies)
        # The same form from our own origin goes through.
        status, _, _ = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 303)

    def test_login_page_security_headers_and_csrf_cookie(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        status, headers, body, form = browser.open_login(browser.authorize_url(challenge))
        self.assertEqual(status, 200)
        csp = headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("script-src", csp)
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(headers["Referrer-Policy"], "no-referrer")
        self.assertNotIn("<script", body)
        csrf = set_cookies(headers)["tessera_csrf"]
        attributes = [a.strip() for a in csrf.split(";")]
        self.assertIn("HttpOnly", attributes)
        self.assertIn("SameSite=Strict", attributes)
        self.assertIn("Path=/authorize", attributes)
        self.assertEqual(attributes[0], "tessera_csrf=" + form.inputs["csrf_token"])
        self.assertEqual(len(form.inputs["csrf_token"]), len(browser.cookies["tessera_csrf"]))

    def test_session_cookie_attributes(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, headers, _ = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 303)
        self.assertEqual(headers["Cache-Control"], "no-store")
        cookies = set_cookies(headers)
        session = [a.strip() for a in cookies["tessera_session"].split(";")]
        self.assertIn("HttpOnly", session)
        self.assertIn("SameSite=Lax", session)
        self.assertIn("Path=/", session)
        # The CSRF cookie is spent with the form.
        self.assertIn("Max-Age=0", cookies["tessera_csrf"])

    def test_logout_ends_the_session(self):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        browser.sign_in(challenge)
        session = browser.cookies["tessera_session"]
        status, _, _ = browser.request("GET", browser.authorize_url(challenge))
        self.assertEqual(status, 302)  # the live session skips the form

        status, headers, body = browser.request("POST", "/logout", body="")
        self.assertEqual(status, 200)
        self.assertIn("You are signed out.", body)
        self.assertIn("Max-Age=0", set_cookies(headers)["tessera_session"])
        self.assertNotIn("tessera_session", browser.cookies)
        status, _, body, form = browser.open_login(browser.authorize_url(challenge))
        self.assertEqual(status, 200)
        self.assertIn("csrf_token", form.inputs)
        # The old cookie, replayed, is dead on the server too.
        browser.cookies["tessera_session"] = session
        status, _, body = browser.request("GET", browser.authorize_url(challenge))
        self.assertEqual(status, 200)
        self.assertIn("<form", body)


class LockoutTest(AuthorizeTestBase):
    """Throttling state is per server; this class has its own so other tests are not locked."""

    def attempt(self, user, password):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, headers, body = browser.submit_login(form, user, password)
        parser = harness._FormParser()
        parser.feed(body)
        return status, headers, parser.alert

    def test_five_failures_lock_the_user(self):
        for _ in range(5):
            status, _, alert = self.attempt("demo", "wrong password")
            self.assertEqual(status, 401)
            self.assertEqual(alert, "Incorrect user name or password.")
        status, headers, alert = self.attempt("demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 429)
        self.assertIsNone(headers.get("Location"))
        self.assertRegex(alert,
                         r"^Too many failed sign-in attempts\. Try again in 1[45] minutes\.$")
        # The lock is per user: another user still signs in (and is then refused as unassigned).
        status, headers, _ = self.attempt(harness.OUTSIDER, harness.OUTSIDER_PASSWORD)
        self.assertEqual(status, 303)
        self.assertIn("error=access_denied", headers["Location"])


class ConcurrentGuessesTest(AuthorizeTestBase):
    """Issue 23's black-box probe: guesses in flight together must not all pass the throttle."""

    def test_thirty_two_simultaneous_wrong_passwords_get_five_answers(self):
        guesses = 32
        forms = []
        for _ in range(guesses):  # 32 prepared login forms, each with its own CSRF cookie
            _, challenge = harness.pkce_pair()
            browser = harness.Browser(self.server)
            status, _, _, form = browser.open_login(browser.authorize_url(challenge))
            self.assertEqual(status, 200)
            forms.append((browser, form))
        start = threading.Barrier(guesses)
        answers = [None] * guesses

        def guess(i):
            browser, form = forms[i]
            start.wait()
            status, _, body = browser.submit_login(form, "demo", f"wrong password {i}")
            parser = harness._FormParser()
            parser.feed(body)
            answers[i] = (status, parser.alert)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(guesses)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        incorrect = [a for a in answers if a == (401, "Incorrect user name or password.")]
        throttled = [a for a in answers if a is not None and a[0] == 429 and
                     a[1].startswith("Too many failed sign-in attempts")]
        self.assertEqual(len(incorrect), 5, answers)
        self.assertEqual(len(throttled), guesses - 5, answers)
        # The lock holds for the right password as well.
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, _, _ = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 429)


class AddressThrottleTest(AuthorizeTestBase):
    def test_twenty_failures_from_one_address_block_every_user(self):
        for i in range(20):
            _, challenge = harness.pkce_pair()
            browser = harness.Browser(self.server)
            _, _, _, form = browser.open_login(browser.authorize_url(challenge))
            status, _, _ = browser.submit_login(form, f"guess-{i}", "wrong password")
            self.assertEqual(status, 401)
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, _, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 429)
        self.assertIn("Too many failed sign-in attempts", body)


class DiscoveryTest(AuthorizeTestBase):
    def fetch(self, url):
        with urllib.request.urlopen(url, timeout=10) as f:
            self.assertEqual(f.status, 200)
            self.assertEqual(f.headers["Content-Type"], "application/json")
            return json.load(f)

    def test_discovery_document(self):
        issuer = self.server.url + "/ssoins-111111111111"
        d = self.fetch(issuer + "/.well-known/openid-configuration")
        self.assertEqual(d["issuer"], issuer)
        self.assertEqual(d["authorization_endpoint"], self.server.url + "/authorize")
        self.assertEqual(d["token_endpoint"], self.server.url + "/token")
        self.assertEqual(d["jwks_uri"], issuer + "/.well-known/jwks.json")
        self.assertEqual(d["response_types_supported"], ["code"])
        self.assertEqual(d["code_challenge_methods_supported"], ["S256"])
        self.assertEqual(d["id_token_signing_alg_values_supported"], ["ES256"])
        self.assertEqual(d["grant_types_supported"],
                         ["authorization_code", "refresh_token",
                          "urn:ietf:params:oauth:grant-type:device_code",
                          "urn:ietf:params:oauth:grant-type:jwt-bearer",
                          "urn:ietf:params:oauth:grant-type:token-exchange"])
        self.assertIn("openid", d["scopes_supported"])
        self.assertIs(d["authorization_response_iss_parameter_supported"], True)

    def test_jwks_shape(self):
        issuer = self.server.url + "/ssoins-111111111111"
        jwks = self.fetch(issuer + "/.well-known/jwks.json")
        self.assertEqual(list(jwks), ["keys"])
        self.assertGreaterEqual(len(jwks["keys"]), 1)
        kids = set()
        for key in jwks["keys"]:
            self.assertEqual(key["kty"], "EC")
            self.assertEqual(key["crv"], "P-256")
            self.assertEqual(key["alg"], "ES256")
            self.assertEqual(key["use"], "sig")
            self.assertTrue(key["kid"])
            kids.add(key["kid"])
            for coordinate in ("x", "y"):
                raw = harness.base64.urlsafe_b64decode(key[coordinate] + "==")
                self.assertEqual(len(raw), 32)
                self.assertNotIn("=", key[coordinate])
            self.assertNotIn("d", key)  # never the private part
        self.assertEqual(len(kids), len(jwks["keys"]))
        # The root alias serves the same set.
        self.assertEqual(self.fetch(self.server.url + "/.well-known/jwks.json"), jwks)

    def test_head_of_public_documents(self):
        """curl -I: same status and headers as GET, Content-Length of the GET body, no body."""
        for path in ["/ssoins-111111111111/.well-known/openid-configuration",
                     "/ssoins-111111111111/.well-known/jwks.json", "/.well-known/jwks.json",
                     "/healthz"]:
            with self.subTest(path=path):
                with urllib.request.urlopen(self.server.url + path, timeout=10) as f:
                    body = f.read()
                    get_headers = f.headers
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                conn.request("HEAD", path)
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.read(), b"")
                self.assertEqual(r.getheader("Content-Length"), str(len(body)))
                self.assertEqual(r.getheader("Content-Type"), get_headers["Content-Type"])
                self.assertEqual(r.getheader("Cache-Control"), get_headers["Cache-Control"])
                # The connection stays usable: no stray body bytes were sent.
                conn.request("GET", path)
                again = conn.getresponse()
                self.assertEqual(again.status, 200)
                self.assertEqual(len(again.read()), len(body))
                conn.close()

    def test_discovery_of_unknown_instance_is_404(self):
        status, headers, _ = harness.Browser(self.server).request(
            "GET", "/ssoins-000000000000/.well-known/openid-configuration")
        self.assertEqual(status, 404)


if __name__ == "__main__":
    unittest.main()
