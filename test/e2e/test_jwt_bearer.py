"""The jwt-bearer grant with a real OpenID provider (npm oidc-provider) as the trusted token
issuer, driven with boto3: sign-in at the IdP, exchange of its ID token, key rotation, an IdP
outage, and every refusal by its modeled exception class and message (negative assertions are
minted with joserfc, independently of Tessera's JOSE code)."""
import http.server
import json
import threading
import time
import unittest

from test.e2e import harness
from test.e2e.idp_support import (CLIENT_ID, Idp, mint, mint_hs256_with_public_key, mint_none,
                                   new_key, standard_claims)
from test.e2e.tx_support import claims

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_APP = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-777777777777"
OTHER_APP = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-888888888888"
TTI_PREFIX = "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/"
TTI_IDP = TTI_PREFIX + "tti-11111111-1111-4111-8111-111111111111"
TTI_SLOW = TTI_PREFIX + "tti-22222222-2222-4222-8222-222222222222"
TTI_GARBAGE = TTI_PREFIX + "tti-33333333-3333-4333-8333-333333333333"
TTI_OTHER = TTI_PREFIX + "tti-44444444-4444-4444-8444-444444444444"
ACCOUNTS = {"alice": {"email": "alice@example.com"}, "nobody": {"email": "nobody@example.com"},
            "twin": {"email": "dup@example.com"}, "dave": {"email": "dave@example.com"}}


def issuer_doc(arn, name, url):
    return {"TrustedTokenIssuerArn": arn, "Name": name, "TrustedTokenIssuerType": "OIDC_JWT",
            "TrustedTokenIssuerConfiguration": {"OidcJwtConfiguration": {
                "IssuerUrl": url, "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}}}


def jwt_grant(*arns):
    return {"GrantType": JWT_BEARER, "Grant": {"JwtBearer": {"AuthorizedTokenIssuers": [
        {"TrustedTokenIssuerArn": arn, "AuthorizedAudiences": [CLIENT_ID]} for arn in arns]}}}


def bootstrap(idp_url, slow_url="https://slow.invalid", garbage_url="https://garbage.invalid"):
    def user(name, email):
        return {"UserName": name, "DisplayName": name, "Emails": [{"Value": email}]}
    return json.dumps({
        "TrustedTokenIssuers": [
            issuer_doc(TTI_IDP, "oidc-provider", idp_url),
            issuer_doc(TTI_SLOW, "slow", slow_url),
            issuer_doc(TTI_GARBAGE, "garbage", garbage_url),
            issuer_doc(TTI_OTHER, "other", "https://other.invalid"),
        ],
        "Users": [user("alice", "alice@example.com"), user("twin1", "dup@example.com"),
                  user("twin2", "dup@example.com"), user("dave", "dave@example.com")],
        "Applications": [
            {"ApplicationArn": JWT_APP, "Name": "jwt app", "AssignmentRequired": True,
             "Grants": [jwt_grant(TTI_IDP, TTI_SLOW, TTI_GARBAGE),
                        {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}}],
             "Assignments": [{"PrincipalType": "USER", "UserName": n}
                             for n in ("alice", "twin1", "twin2")]},
            {"ApplicationArn": OTHER_APP, "Name": "other", "AssignmentRequired": False,
             "Grants": [jwt_grant(TTI_OTHER)]},
        ],
    })


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "garbage"

    def do_GET(self):
        if self.mode == "slow":
            time.sleep(3)
        body = b"<html>this is not an OpenID configuration</html>"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def bad_idp(mode):
    handler = type("H", (_Handler,), {"mode": mode})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def exchange(client, assertion, app=JWT_APP):
    return client.create_token_with_iam(clientId=app, grantType=JWT_BEARER, assertion=assertion)


class JwtBearerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.idp = Idp(ACCOUNTS, new_key("k1"))
        cls.slow, slow_url = bad_idp("slow")
        cls.garbage, garbage_url = bad_idp("garbage")
        cls.slow_url, cls.garbage_url = slow_url, garbage_url
        cls.server = harness.Server(
            bootstrap=bootstrap(cls.idp.issuer, slow_url, garbage_url),
            extra_args=["--allow-insecure-loopback-issuers", "--issuer-fetch-timeout-ms", "1000",
                        "--jwks-refetch-interval", "1"])
        cls.client = cls.server.client()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.idp.close()
        cls.slow.shutdown()
        cls.garbage.shutdown()

    def refused(self, assertion, fragment, app=JWT_APP, exception="InvalidGrantException"):
        with self.assertRaises(getattr(self.client.exceptions, exception)) as e:
            exchange(self.client, assertion, app)
        self.assertIn(fragment, e.exception.response["error_description"])

    def claims_for(self, email="alice@example.com", **kw):
        return standard_claims(self.idp.issuer, email, **kw)

    def test_id_token_from_a_real_idp_is_exchanged(self):
        id_token = self.idp.sign_in("alice")
        r = exchange(self.client, id_token)
        self.assertEqual(r["tokenType"], "Bearer")
        self.assertEqual(r["expiresIn"], 3600)
        self.assertIn("refreshToken", r)
        self.assertEqual(r["scope"], ["openid", "aws", "sts:identity_context"])
        access, ours = claims(r["accessToken"]), claims(r["idToken"])
        self.assertEqual(access["client_id"], JWT_APP)
        self.assertEqual(access["act"], {"sub": TTI_IDP})
        self.assertEqual(ours["act"], {"sub": TTI_IDP})
        self.assertEqual(ours["aud"], JWT_APP)
        self.assertEqual(ours["sub"], access["sub"])
        self.assertEqual(r["awsAdditionalDetails"]["identityContext"],
                         ours["sts:identity_context"])
        # The refresh token works and keeps the issuer as actor.
        again = self.client.create_token_with_iam(clientId=JWT_APP, grantType="refresh_token",
                                                  refreshToken=r["refreshToken"])
        self.assertEqual(claims(again["accessToken"])["act"], {"sub": TTI_IDP})
        # The same ID token a second time is a replay.
        self.refused(id_token, "assertion has already been used")

    def test_unsigned_and_hmac_assertions_are_refused(self):
        self.refused(mint_none(self.claims_for()), "JWS alg 'none' is refused")
        self.refused(mint_hs256_with_public_key(self.idp.key, self.claims_for()),
                     "JWS alg 'HS256' is refused")

    def test_bad_signature_and_unknown_kid(self):
        token = mint(self.idp.key, self.claims_for())
        head, payload, sig = token.split(".")
        forged = mint(self.idp.key, self.claims_for(email="twin@example.com")).split(".")[1]
        self.refused(f"{head}.{forged}.{sig}", "JWS signature is invalid")
        self.refused(mint(new_key("k-unknown"), self.claims_for()), "JWS kid")

    def test_times(self):
        now = int(time.time())
        self.refused(mint(self.idp.key, self.claims_for(iat=now - 600, exp=now - 120)),
                     "assertion has expired")
        self.refused(mint(self.idp.key, self.claims_for(nbf=now + 600)),
                     "assertion is not valid yet (nbf)")
        self.refused(mint(self.idp.key, self.claims_for(iat=now - 7200, exp=now + 300)),
                     "assertion is too old")

    def test_issuer_and_audience(self):
        self.refused(mint(self.idp.key, standard_claims("https://unknown.invalid", "a@b.c")),
                     "assertion issuer 'https://unknown.invalid' is not a trusted token issuer "
                     "authorized for this application")
        self.refused(mint(self.idp.key, self.claims_for(aud="someone-else")),
                     "AuthorizedAudiences")
        # A valid IdP token, but this application trusts only another issuer.
        self.refused(self.idp.sign_in("alice"), "is not a trusted token issuer authorized for "
                     "this application", app=OTHER_APP)

    def test_user_matching(self):
        no_email = self.claims_for()
        del no_email["email"]
        self.refused(mint(self.idp.key, no_email), "no claim 'email'")
        self.refused(self.idp.sign_in("nobody"), "No user matches the assertion's 'email' claim")
        self.refused(self.idp.sign_in("twin"), "2 users match")
        self.refused(self.idp.sign_in("dave"), "The user is not assigned to application")

    def test_replayed_jti(self):
        token = mint(self.idp.key, self.claims_for())
        exchange(self.client, token)
        self.refused(token, "assertion has already been used")

    def test_slow_and_garbage_idps(self):
        key = new_key("bad")
        self.refused(mint(key, standard_claims(self.slow_url, "alice@example.com")),
                     "timed out after 1000 ms")
        self.refused(mint(key, standard_claims(self.garbage_url, "alice@example.com")),
                     "the discovery document is not a JSON object")

    def test_missing_assertion(self):
        with self.assertRaises(self.client.exceptions.InvalidRequestException) as e:
            self.client.create_token_with_iam(clientId=JWT_APP, grantType=JWT_BEARER)
        self.assertIn("'assertion' is required", e.exception.response["error_description"])


class KeyRotationTest(unittest.TestCase):
    """The IdP rotates its key; Tessera's cached JWKS lacks the new kid and is refetched."""

    def test_tessera_follows_a_rotation(self):
        idp = Idp(ACCOUNTS, new_key("before"))
        server = harness.Server(bootstrap=bootstrap(idp.issuer), extra_args=[
            "--allow-insecure-loopback-issuers", "--jwks-refetch-interval", "1"])
        try:
            client = server.client()
            exchange(client, idp.sign_in("alice"))
            idp.restart(new_key("after"))
            time.sleep(1.2)  # past the refetch interval of the first fetch
            r = exchange(client, idp.sign_in("alice"))
            self.assertEqual(claims(r["idToken"])["act"], {"sub": TTI_IDP})
        finally:
            server.stop()
            idp.close()


class IdpOutageTest(unittest.TestCase):
    """The IdP stops: expired cached keys keep working for --jwks-max-stale, then not."""

    def test_stale_keys_serve_for_a_bounded_time(self):
        idp = Idp(ACCOUNTS, new_key("k1"))
        server = harness.Server(bootstrap=bootstrap(idp.issuer), extra_args=[
            "--allow-insecure-loopback-issuers", "--jwks-min-cache", "1", "--jwks-max-cache",
            "1", "--jwks-max-stale", "3", "--jwks-refetch-interval", "1"])
        try:
            client = server.client()
            tokens = [idp.sign_in("alice") for _ in range(3)]
            exchange(client, tokens[0])
            fetched = time.time()
            idp.stop_process()
            time.sleep(1.5)  # the keys have expired; the IdP is down
            exchange(client, tokens[1])
            time.sleep(max(0.0, fetched + 1 + 3 + 1.5 - time.time()))
            with self.assertRaises(client.exceptions.InvalidGrantException) as e:
                exchange(client, tokens[2])
            self.assertIn("cannot get the signing keys of " + idp.issuer,
                          e.exception.response["error_description"])
        finally:
            server.stop()
            idp.close()


class InsecureIssuerTest(unittest.TestCase):
    """Without --allow-insecure-loopback-issuers, an http:// issuer is refused."""

    def test_http_issuer_needs_the_development_flag(self):
        server = harness.Server(bootstrap=bootstrap("http://127.0.0.1:9"))
        try:
            with self.assertRaises(server.client().exceptions.InvalidGrantException) as e:
                exchange(server.client(),
                         mint(new_key("k"), standard_claims("http://127.0.0.1:9", "a@b.c")))
            self.assertIn("needs --allow-insecure-loopback-issuers",
                          e.exception.response["error_description"])
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
