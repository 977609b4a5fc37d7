#!/usr/bin/env python3
"""A resource server's check of a Tessera access token, offline and online.

    resource_server.py --endpoint http://127.0.0.1:8080 --instance-id ssoins-111111111111 \
        --client-id <application ARN> <access token>

1. Offline (no call to Tessera per request): fetch the discovery document and JWKS once, then
   verify the token's ES256 signature, its header `typ` (must be `at+jwt`, which refuses ID
   tokens), `iss`, `exp` and that it was issued to this application (`client_id`/`aud`).
   Fast, but cannot see revocation before `exp`.
2. Online: ask Tessera's introspection endpoint (RFC 7662 semantics, SigV4-signed for service
   `sso-oauth` with the AWS credentials in the environment). Sees revocation at once.

Prints {"offline": {...}, "online": {...}} and exits 0 only if both accept the token.
Needs `joserfc` and `botocore` (pip install joserfc botocore).
"""
import argparse
import json
import sys
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet


def fetch_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def verify_offline(token, issuer, client_id, keys):
    """Returns the claims, or raises ValueError saying why the token is refused."""
    try:
        decoded = jwt.decode(token, keys, algorithms=["ES256"])
    except (JoseError, ValueError) as e:
        raise ValueError(f"signature: {e}") from e
    if decoded.header.get("typ") != "at+jwt":  # RFC 9068 §4: ID tokens are not access tokens
        raise ValueError("not an access token (typ is not at+jwt)")
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        client_id={"essential": True, "value": client_id},
        exp={"essential": True})
    try:
        registry.validate(decoded.claims)  # also checks exp (and nbf/iat if present)
    except JoseError as e:
        raise ValueError(f"claims: {e}") from e
    return decoded.claims


def introspect(endpoint, client_id, token, region):
    credentials = botocore.session.Session().get_credentials()
    if credentials is None:
        raise SystemExit("no AWS credentials in the environment")
    body = json.dumps({"clientId": client_id, "token": token}).encode()
    request = botocore.awsrequest.AWSRequest(
        method="POST", url=endpoint + "/introspect?aws_iam=t", data=body,
        headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(credentials, "sso-oauth", region).add_auth(request)
    prepared = request.prepare()
    http_request = urllib.request.Request(prepared.url, data=body, method="POST",
                                          headers=dict(prepared.headers.items()))
    with urllib.request.urlopen(http_request, timeout=10) as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--client-id", required=True, help="this resource server's application")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("token")
    args = parser.parse_args()

    issuer = f"{args.endpoint}/{args.instance_id}"
    discovery = fetch_json(issuer + "/.well-known/openid-configuration")
    keys = KeySet.import_key_set(fetch_json(discovery["jwks_uri"]))
    result = {}
    try:
        result["offline"] = {"valid": True,
                             "claims": verify_offline(args.token, issuer, args.client_id, keys)}
    except ValueError as e:
        result["offline"] = {"valid": False, "error": str(e)}
    result["online"] = introspect(args.endpoint, args.client_id, args.token, args.region)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0 if result["offline"]["valid"] and result["online"].get("active") else 1


if __name__ == "__main__":
    sys.exit(main())
