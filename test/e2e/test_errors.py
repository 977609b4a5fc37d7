"""Every modeled CreateTokenWithIAM error, as boto3 sees it and as it goes over the wire.

Each test asserts the specific exception class, the OAuth `error` member and the message, and
the server must stay 500-free: no test here may make it log an internal error.
"""
import json
import time
import unittest

from test.e2e import harness

APP = harness.DEMO_APP
REDIRECT = harness.DEMO_REDIRECT


def code_args(code, verifier, client_id=APP, redirect_uri=REDIRECT):
    return dict(clientId=client_id, grantType="authorization_code", code=code,
                redirectUri=redirect_uri, codeVerifier=verifier)


class ErrorTestBase(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(extra_args=cls.server_args, bootstrap=harness.EXTRA_BOOTSTRAP)
        cls.client = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tearDown(self):
        # Client mistakes are 4xx: none may surface as an internal error (a 500 and a log line).
        self.assertEqual(self.server.internal_error_lines(), [])

    def sign_in(self, **kw):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge, **kw)
        return redirect["code"], verifier

    def assert_error(self, raised, exception_name, error, message_part, status=400):
        """`raised` is the context of assertRaises(self.client.exceptions.<exception_name>)."""
        response = raised.exception.response
        self.assertEqual(type(raised.exception).__name__, exception_name)
        self.assertEqual(response["Error"]["Code"], exception_name)
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(response["error"], error)
        self.assertIn(message_part, response["error_description"])
        self.assertIn(message_part, response["Error"]["Message"])


class InvalidRequestTest(ErrorTestBase):
    def test_missing_code(self):
        with self.assertRaises(self.client.exceptions.InvalidRequestException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                              redirectUri=REDIRECT, codeVerifier="x" * 43)
        self.assert_error(e, "InvalidRequestException", "invalid_request",
                          "Member 'code' is required")

    def test_missing_redirect_uri(self):
        with self.assertRaises(self.client.exceptions.InvalidRequestException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                              code="tsac_x", codeVerifier="x" * 43)
        self.assert_error(e, "InvalidRequestException", "invalid_request",
                          "Member 'redirectUri' is required")

    def test_missing_code_verifier(self):
        code, _ = self.sign_in()
        with self.assertRaises(self.client.exceptions.InvalidRequestException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="authorization_code",
                                              code=code, redirectUri=REDIRECT)
        self.assert_error(e, "InvalidRequestException", "invalid_request",
                          "Member 'codeVerifier' is required")

    def test_missing_refresh_token(self):
        with self.assertRaises(self.client.exceptions.InvalidRequestException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="refresh_token")
        self.assert_error(e, "InvalidRequestException", "invalid_request",
                          "Member 'refreshToken' is required")

    def assert_raw_invalid_request(self, body, message_part):
        status, headers, parsed = self.server.token_request(body)
        self.assertEqual(status, 400, parsed)
        self.assertTrue(headers["x-amzn-ErrorType"].startswith("InvalidRequestException"),
                        headers["x-amzn-ErrorType"])
        self.assertEqual(parsed["error"], "invalid_request")
        self.assertIn(message_part, parsed["error_description"])

    def test_malformed_json_body(self):
        self.assert_raw_invalid_request(b'{"clientId": "' + APP.encode() + b'", "grantType":',
                                        "Request body is not valid JSON")

    def test_body_not_an_object(self):
        self.assert_raw_invalid_request([APP, "authorization_code"],
                                        "Request body must be a JSON object")

    def test_client_id_not_a_string(self):
        self.assert_raw_invalid_request({"clientId": 42, "grantType": "refresh_token"},
                                        "Member 'clientId' must be a string")

    def test_code_not_a_string(self):
        self.assert_raw_invalid_request(
            {"clientId": APP, "grantType": "authorization_code", "code": ["tsac_x"],
             "redirectUri": REDIRECT, "codeVerifier": "x" * 43},
            "Member 'code' must be a string")

    def test_scope_not_a_list_of_strings(self):
        self.assert_raw_invalid_request(
            {"clientId": APP, "grantType": "refresh_token", "refreshToken": "tsrt_x",
             "scope": "openid aws"}, "Member 'scope' must be a list of strings")
        self.assert_raw_invalid_request(
            {"clientId": APP, "grantType": "refresh_token", "refreshToken": "tsrt_x",
             "scope": ["openid", 7]}, "Member 'scope' must be a list of strings")

    def test_missing_client_id_and_grant_type(self):
        # boto3 refuses these client-side (both members are required by the model).
        self.assert_raw_invalid_request({"grantType": "refresh_token", "refreshToken": "tsrt_x"},
                                        "Member 'clientId' is required")
        self.assert_raw_invalid_request({"clientId": APP, "refreshToken": "tsrt_x"},
                                        "Member 'grantType' is required")


class ClientAndGrantTypeTest(ErrorTestBase):
    def test_unknown_application_is_invalid_client_401(self):
        unknown = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-999999999999"
        with self.assertRaises(self.client.exceptions.InvalidClientException) as e:
            self.client.create_token_with_iam(clientId=unknown, grantType="refresh_token",
                                              refreshToken="tsrt_x")
        self.assert_error(e, "InvalidClientException", "invalid_client",
                          "no application with ARN " + unknown, status=401)

    def test_password_grant_is_unsupported(self):
        with self.assertRaises(self.client.exceptions.UnsupportedGrantTypeException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="password")
        self.assert_error(e, "UnsupportedGrantTypeException", "unsupported_grant_type",
                          "Unsupported grant type: password")

    def test_jwt_bearer_without_that_grant_is_unauthorized_client(self):
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        with self.assertRaises(self.client.exceptions.UnauthorizedClientException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType=grant,
                                              assertion="eyJ.eyJ.sig")
        self.assert_error(e, "UnauthorizedClientException", "unauthorized_client",
                          "not authorized for grant type " + grant)


class InvalidGrantTest(ErrorTestBase):
    def test_unknown_code(self):
        verifier, _ = harness.pkce_pair()
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(**code_args("tsac_not-a-real-code", verifier))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "Invalid authorization code provided")

    def test_wrong_verifier_changes_nothing(self):
        code, verifier = self.sign_in()
        wrong, _ = harness.pkce_pair()
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(**code_args(code, wrong))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "codeVerifier does not match the code challenge")
        # The failed attempt neither consumed nor revoked the code.
        ok = self.client.create_token_with_iam(**code_args(code, verifier))
        self.assertTrue(ok["refreshToken"].startswith("tsrt_"))

    def test_malformed_verifier(self):
        code, verifier = self.sign_in()
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(**code_args(code, "short"))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "codeVerifier must be 43 to 128 characters")
        self.client.create_token_with_iam(**code_args(code, verifier))

    def test_redirect_uri_mismatch_changes_nothing(self):
        code, verifier = self.sign_in()
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(
                **code_args(code, verifier, redirect_uri=REDIRECT + "/other"))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "redirectUri does not match the one used at authorization")
        self.client.create_token_with_iam(**code_args(code, verifier))

    def test_code_reuse(self):
        code, verifier = self.sign_in()
        self.client.create_token_with_iam(**code_args(code, verifier))
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(**code_args(code, verifier))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "Authorization code has already been used")

    def test_code_issued_to_another_application(self):
        code, verifier = self.sign_in(client_id=harness.OTHER_APP,
                                      redirect_uri=harness.OTHER_REDIRECT)
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(
                **code_args(code, verifier, redirect_uri=harness.OTHER_REDIRECT))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "Invalid authorization code provided")
        # The application it was issued to can still redeem it.
        ok = self.client.create_token_with_iam(
            **code_args(code, verifier, client_id=harness.OTHER_APP,
                        redirect_uri=harness.OTHER_REDIRECT))
        # ... and that application's refresh token is no good to the demo application either.
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="refresh_token",
                                              refreshToken=ok["refreshToken"])
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "Invalid refresh token provided")
        self.client.create_token_with_iam(clientId=harness.OTHER_APP, grantType="refresh_token",
                                          refreshToken=ok["refreshToken"])

    def test_unknown_refresh_token(self):
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(clientId=APP, grantType="refresh_token",
                                              refreshToken="tsrt_not-a-real-token")
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "Invalid refresh token provided")


class InvalidScopeTest(ErrorTestBase):
    def test_scope_the_code_did_not_grant(self):
        code, verifier = self.sign_in(scope="openid aws")
        with self.assertRaises(self.client.exceptions.InvalidScopeException) as e:
            self.client.create_token_with_iam(**code_args(code, verifier),
                                              scope=["openid", "sts:identity_context"])
        self.assert_error(e, "InvalidScopeException", "invalid_scope",
                          "Scope 'sts:identity_context' is not allowed")
        # Narrowing within the grant still works with the same code.
        ok = self.client.create_token_with_iam(**code_args(code, verifier), scope=["aws"])
        self.assertEqual(ok["scope"], ["aws"])


class AccessDeniedTest(ErrorTestBase):
    def test_principal_outside_the_actor_policy_is_denied(self):
        key = self.server.new_access_key(harness.OTHER_ROLE)
        other = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"])
        code, verifier = self.sign_in()
        with self.assertRaises(other.exceptions.AccessDeniedException) as e:
            other.create_token_with_iam(**code_args(code, verifier))
        self.assert_error(e, "AccessDeniedException", "access_denied",
                          "User: " + harness.OTHER_ROLE + " is not authorized to perform: "
                          "sso-oauth:CreateTokenWithIAM on resource: " + APP)
        # The denied call did not touch the code: the allowed role redeems it.
        webapp_key = self.server.new_access_key(harness.WEBAPP_ROLE)
        webapp = self.server.client(webapp_key["AWS_ACCESS_KEY_ID"],
                                    webapp_key["AWS_SECRET_ACCESS_KEY"])
        ok = webapp.create_token_with_iam(**code_args(code, verifier))
        self.assertEqual(ok["tokenType"], "Bearer")
        refreshed = webapp.create_token_with_iam(clientId=APP, grantType="refresh_token",
                                                 refreshToken=ok["refreshToken"])
        self.assertTrue(refreshed["refreshToken"].startswith("tsrt_"))

    def test_application_without_iam_method_denies_everyone_but_root(self):
        # OTHER_APP has no AuthenticationMethods: only the instance owner's root may call.
        key = self.server.new_access_key(harness.WEBAPP_ROLE)
        webapp = self.server.client(key["AWS_ACCESS_KEY_ID"], key["AWS_SECRET_ACCESS_KEY"])
        with self.assertRaises(webapp.exceptions.AccessDeniedException) as e:
            webapp.create_token_with_iam(clientId=harness.OTHER_APP, grantType="refresh_token",
                                         refreshToken="tsrt_x")
        self.assert_error(e, "AccessDeniedException", "access_denied",
                          "The application has no IAM authentication method")


class ExpiredCodeTest(ErrorTestBase):
    server_args = ("--code-ttl", "1")

    def test_code_past_its_lifetime(self):
        code, verifier = self.sign_in()
        time.sleep(2.1)
        with self.assertRaises(self.client.exceptions.InvalidGrantException) as e:
            self.client.create_token_with_iam(**code_args(code, verifier))
        self.assert_error(e, "InvalidGrantException", "invalid_grant",
                          "Authorization code has expired")


class WireShapeTest(ErrorTestBase):
    def test_error_body_and_headers(self):
        status, headers, body = self.server.token_request(
            {"clientId": APP, "grantType": "refresh_token", "refreshToken": "tsrt_unknown"})
        self.assertEqual(status, 400)
        self.assertEqual(headers["x-amzn-ErrorType"],
                         "InvalidGrantException:http://internal.amazon.com/coral/"
                         "com.amazonaws.sso.oidc/")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertRegex(headers["x-amzn-RequestId"],
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertRegex(headers["Date"], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
        self.assertEqual(body, {"error": "invalid_grant",
                                "error_description": "Invalid refresh token provided",
                                "message": "Invalid refresh token provided"})
        self.assertNotIn("code", body)
        self.assertNotIn("__type", body)

    def test_unknown_path_and_wrong_method(self):
        status, headers, body = harness.Browser(self.server).request("GET", "/nope")
        self.assertEqual(status, 404)
        self.assertTrue(headers["x-amzn-ErrorType"].startswith("UnknownOperationException"))
        self.assertEqual(json.loads(body)["message"], "No operation at GET /nope")
        status, headers, body = harness.Browser(self.server).request("GET", "/token?aws_iam=t")
        self.assertEqual(status, 400)
        self.assertTrue(headers["x-amzn-ErrorType"].startswith("InvalidRequestException"))
        self.assertEqual(json.loads(body)["error_description"], "Use POST /token")


if __name__ == "__main__":
    unittest.main()
