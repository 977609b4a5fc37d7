"""Shared set-up for the token exchange, introspection and revocation tests.

Applications (all in the demo instance, the demo user assigned to each):
  A  signs users in (authorization_code, refresh_token); its access scope tx:read names B and E
     as targets, tx:all names the instance, tx:own names nobody.
  B  TokenExchange + RefreshToken; its tx:read names C.
  C  TokenExchange only.
  D  TokenExchange, named by nobody.
  E  named by A, but without the TokenExchange grant.
"""
import json

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import http.client

from test.e2e import harness

PREFIX = "arn:aws:sso::123456789012:application/ssoins-111111111111/"
APP_A = PREFIX + "apl-a00000000001"
APP_B = PREFIX + "apl-b00000000002"
APP_C = PREFIX + "apl-c00000000003"
APP_D = PREFIX + "apl-d00000000004"
APP_E = PREFIX + "apl-e00000000005"
INSTANCE_ARN = "arn:aws:sso:::instance/ssoins-111111111111"
REDIRECT_A = "https://a.example/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
REFRESH_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"


def _app(arn, grants, scopes):
    return {
        "ApplicationArn": arn, "Name": arn[-16:], "AssignmentRequired": True,
        "Grants": grants,
        "AccessScopes": [{"Scope": s, "AuthorizedTargets": t} for s, t in scopes.items()],
        "Assignments": [{"PrincipalType": "USER", "UserName": "demo"}],
    }


_EXCHANGE_GRANT = {"GrantType": EXCHANGE, "Grant": {"TokenExchange": {}}}
_REFRESH_GRANT = {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}}

BOOTSTRAP = json.dumps({"Applications": [
    _app(APP_A, [{"GrantType": "authorization_code",
                  "Grant": {"AuthorizationCode": {"RedirectUris": [REDIRECT_A]}}},
                 _REFRESH_GRANT],
         {"tx:read": [APP_B, APP_E], "tx:all": [INSTANCE_ARN], "tx:own": []}),
    _app(APP_B, [_EXCHANGE_GRANT, _REFRESH_GRANT], {"tx:read": [APP_C]}),
    _app(APP_C, [_EXCHANGE_GRANT], {"tx:read": [], "tx:all": []}),
    _app(APP_D, [_EXCHANGE_GRANT], {"tx:read": []}),
    _app(APP_E, [_REFRESH_GRANT], {"tx:read": []}),
]})


def sign_in_to_a(server, browser=None, scope=None):
    """Signs the demo user in to A through the login page (with all of A's scopes unless `scope`,
    space-separated, says otherwise); returns (tokens, browser)."""
    browser = browser or harness.Browser(server)
    verifier, challenge = harness.pkce_pair()
    redirect = browser.sign_in(challenge, client_id=APP_A, redirect_uri=REDIRECT_A, scope=scope)
    tokens = server.client().create_token_with_iam(
        clientId=APP_A, grantType="authorization_code", code=redirect["code"],
        redirectUri=REDIRECT_A, codeVerifier=verifier)
    return tokens, browser


def exchange(client, target, subject_token, **extra):
    args = {"clientId": target, "grantType": EXCHANGE, "subjectToken": subject_token,
            "subjectTokenType": ACCESS_TYPE}
    args.update(extra)
    return client.create_token_with_iam(**args)


def signed_post(server, path, body, key_id=harness.ROOT_KEY_ID, secret=harness.ROOT_SECRET,
                token=None):
    """POST <path>?aws_iam=t with a JSON body signed by botocore's SigV4Auth for sso-oauth.
    Returns (status, headers, parsed body)."""
    data = json.dumps(body).encode()
    url = server.url + path + "?aws_iam=t"
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    credentials = botocore.credentials.Credentials(key_id, secret, token)
    botocore.auth.SigV4Auth(credentials, "sso-oauth", "us-east-1").add_auth(request)
    prepared = request.prepare()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path + "?aws_iam=t", body=data, headers=dict(prepared.headers.items()))
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    return resp.status, resp.headers, json.loads(raw)


def claims(jwt):
    return harness.decode_jwt_part(jwt.split(".")[1])
