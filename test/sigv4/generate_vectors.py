#!/usr/bin/env python3
"""Generates SigV4 test vectors with botocore's own signer (botocore.auth.SigV4Auth).

Writes test/testdata/sigv4/botocore/<case>.json. Each file holds the request exactly as the
server would receive it (method, raw target, lower-case headers including Authorization, body),
the credentials, region, service and time, and what botocore computed: canonical request,
string to sign, Authorization header and signature. The C++ test (src/ts/sigv4/
canonical_request_test.cc) recomputes each part and runs the Verifier over the request.

Time is fixed by patching botocore.auth.get_current_datetime; the canonical request and string
to sign are recorded by wrapping SigV4Auth's own methods, so they are botocore's values, not ours.

Usage (from the repository root; needs boto3/botocore, no network):
    python3 test/sigv4/generate_vectors.py
"""

import datetime
import json
import os
import sys
from unittest import mock
from urllib.parse import urlsplit

import boto3
import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "sigv4",
                       "botocore")
FIXED_TIME = datetime.datetime(2026, 11, 21, 16, 19, 14)
UNIX_TIME = int(FIXED_TIME.replace(tzinfo=datetime.timezone.utc).timestamp())
# Unsigned and random per call; pinned so regenerating gives identical files.
FIXED_INVOCATION_ID = "3f1e6d2a-8b4c-4e0f-9a7d-5c2b1e0f4a6d"

LONG_TERM = {"access_key_id": "AKIDEXAMPLE",
             "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
             "session_token": ""}
SESSION = {"access_key_id": "ASIAEXAMPLESESSION01",
           "secret_access_key": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
           "session_token": "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD"
                            "EXAMPLEtokenEXAMPLEtoken+/=="}

# Every call of SigV4Auth.canonical_request / string_to_sign is recorded here.
_recorded = {}


def _record(name, original):
    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        _recorded[name] = result
        return result
    return wrapper


class _Captured(Exception):
    def __init__(self, request):
        super().__init__("captured")
        self.request = request


def _lower_headers(headers, url):
    out = [[k.lower(), v.decode() if isinstance(v, bytes) else v] for k, v in headers.items()]
    if not any(k == "host" for k, _ in out):
        # urllib3 sends Host from the URL; botocore signs the same value (_host_from_url).
        out.insert(0, ["host", botocore.auth._host_from_url(url)])
    for pair in out:
        if pair[0] == "amz-sdk-invocation-id":
            pair[1] = FIXED_INVOCATION_ID
    return out


def _target(url):
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _case(name, description, creds, region, service, method, url, headers, body):
    authorization = next(v for k, v in headers if k == "authorization")
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    return {
        "name": name,
        "description": description,
        "generator": "botocore %s SigV4Auth (test/sigv4/generate_vectors.py)" % botocore.__version__,
        "credentials": creds,
        "region": region,
        "service": service,
        "unix_time": UNIX_TIME,
        "amz_date": FIXED_TIME.strftime("%Y%m%dT%H%M%SZ"),
        "request": {"method": method, "target": _target(url), "headers": headers,
                    "body": body.decode("utf-8") if isinstance(body, bytes) else body},
        "signed_headers": signed,
        "expected": {
            "canonical_request": _recorded["canonical_request"],
            "string_to_sign": _recorded["string_to_sign"],
            "authorization": authorization,
            "signature": authorization.rsplit("Signature=", 1)[1],
        },
    }


def boto3_case(name, description, creds, region, endpoint, params):
    _recorded.clear()
    session = boto3.session.Session(
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"] or None,
        region_name=region)
    client = session.client("sso-oidc", endpoint_url=endpoint)

    def capture(request, **_):
        raise _Captured(request)

    client.meta.events.register("before-send.sso-oidc.CreateTokenWithIAM", capture)
    try:
        client.create_token_with_iam(**params)
    except _Captured as c:
        req = c.request
    headers = _lower_headers(req.headers, req.url)
    return _case(name, description, creds, region, "sso-oauth", req.method, req.url, headers,
                 req.body or b"")


def manual_case(name, description, creds, region, method, url, headers, body):
    """Signs a hand-built request; every header present is signed except user-agent."""
    _recorded.clear()
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    token = creds["session_token"] or None
    SigV4Auth(Credentials(creds["access_key_id"], creds["secret_access_key"], token),
              "sso-oauth", region).add_auth(request)
    prepared = request.prepare()
    out_headers = _lower_headers(prepared.headers, prepared.url)
    return _case(name, description, creds, region, "sso-oauth", method, prepared.url,
                 out_headers, body)


def main():
    cases = []
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: FIXED_TIME), \
         mock.patch.object(SigV4Auth, "canonical_request",
                           _record("canonical_request", SigV4Auth.canonical_request)), \
         mock.patch.object(SigV4Auth, "string_to_sign",
                           _record("string_to_sign", SigV4Auth.string_to_sign)):
        jwt_params = {
            "clientId": "arn:aws:sso::123456789012:application/ssoins-1111/apl-2222",
            "grantType": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        }
        cases.append(boto3_case(
            "boto3_create_token_with_iam_session",
            "boto3 CreateTokenWithIAM (jwt-bearer) with STS session credentials: signs "
            "content-type;host;x-amz-date;x-amz-security-token; amz-sdk-*, user-agent, "
            "content-length are sent unsigned.",
            SESSION, "us-east-1", "http://127.0.0.1:18099", jwt_params))
        cases.append(boto3_case(
            "boto3_create_token_with_iam_long_term",
            "boto3 CreateTokenWithIAM with long-term keys in eu-west-1: signs "
            "content-type;host;x-amz-date.",
            LONG_TERM, "eu-west-1", "http://127.0.0.1:18099", jwt_params))
        cases.append(boto3_case(
            "boto3_base_path",
            "boto3 with an endpoint URL carrying a base path and a non-default port "
            "(refresh_token grant).",
            SESSION, "us-east-1", "http://tessera.example.test:8443/base/path",
            {"clientId": "arn:aws:sso::123456789012:application/ssoins-1111/apl-2222",
             "grantType": "refresh_token", "refreshToken": "aorAAAAAGExampleRefreshToken"}))

        js_body = (b'{"clientId":"arn:aws:sso::123456789012:application/ssoins-1111/apl-2222",'
                   b'"grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer",'
                   b'"assertion":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"}')
        import hashlib
        cases.append(manual_case(
            "js_sdk_like_session",
            "A request shaped like @aws-sdk/client-sso-oidc v3: 9 signed headers including "
            "x-amz-content-sha256, content-length, amz-sdk-* and x-amz-user-agent (user-agent "
            "unsigned), signed by botocore.",
            SESSION, "us-east-1", "POST", "http://localhost:18099/token?aws_iam=t",
            {"amz-sdk-invocation-id": FIXED_INVOCATION_ID,
             "amz-sdk-request": "attempt=1; max=3",
             "content-length": str(len(js_body)),
             "content-type": "application/json",
             "host": "localhost:18099",
             "x-amz-content-sha256": hashlib.sha256(js_body).hexdigest(),
             "x-amz-user-agent": "aws-sdk-js/3.1162.0",
             "user-agent": "aws-sdk-js/3.1162.0 ua/2.1 os/linux lang/js md/nodejs#22.0.0"},
            js_body))
        cases.append(manual_case(
            "query_needing_encoding",
            "Several query parameters, repeated keys, an empty value and percent-encoded UTF-8 "
            "and space; canonical query sorts by encoded key then value.",
            LONG_TERM, "us-east-1", "POST",
            "http://localhost:18099/token?aws_iam=t&b=2&a=x%20y&c=%E2%9C%93&a=1&empty=&t=~a.b-c_d",
            {"content-type": "application/json"}, b'{"grantType":"refresh_token"}'))
        cases.append(manual_case(
            "non_ascii_body",
            "A UTF-8 JSON body with non-ASCII characters, hashed as raw bytes; header value "
            "with internal whitespace runs.",
            SESSION, "us-east-1", "POST", "http://localhost:18099/token?aws_iam=t",
            {"content-type": "application/json;  charset=utf-8",
             "x-custom": "  a   b\tc  "},
            '{"clientId":"ünïcødé","assertion":"日本語 ✓"}'.encode("utf-8")))

    os.makedirs(OUT_DIR, exist_ok=True)
    for case in cases:
        path = os.path.join(OUT_DIR, case["name"] + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(case, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print("wrote", os.path.relpath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
