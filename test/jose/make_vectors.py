#!/usr/bin/env python3
"""Writes test/testdata/jose/joserfc_vectors.json: public keys and tokens minted by joserfc
(an implementation independent of ours), for jose's gtest suite. Run once by hand; the output is
checked in so the C++ tests need no Python. The cross-check test (cross_check.py) mints fresh
tokens on every run instead.

Usage: python3 test/jose/make_vectors.py > test/testdata/jose/joserfc_vectors.json
"""
import json
import warnings

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

warnings.simplefilter("ignore")  # joserfc flags EdDSA as deprecated (RFC 9864); we still test it

PAYLOAD = json.dumps({"iss": "https://idp.example.com", "sub": "alice", "aud": "tessera",
                      "exp": 4102444800}, separators=(",", ":"))

rsa = RSAKey.generate_key(2048)
keys = {
    "RSA": rsa,
    "P-256": ECKey.generate_key("P-256"),
    "P-384": ECKey.generate_key("P-384"),
    "P-521": ECKey.generate_key("P-521"),
    "Ed25519": OKPKey.generate_key("Ed25519"),
}
alg_key = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA",
           "PS512": "RSA", "ES256": "P-256", "ES384": "P-384", "ES512": "P-521",
           "EdDSA": "Ed25519"}

jwks = []
for name, key in keys.items():
    d = dict(key.as_dict(private=False))
    d["kid"] = key.thumbprint()
    d["use"] = "sig"
    jwks.append(d)
# The same RSA key again, restricted to RS256 by its "alg" member.
restricted = dict(rsa.as_dict(private=False))
restricted.update({"kid": "rsa-rs256-only", "alg": "RS256"})
jwks.append(restricted)

tokens = []
for alg, name in alg_key.items():
    key = keys[name]
    header = {"alg": alg, "kid": key.thumbprint(), "typ": "JWT"}
    tokens.append({"alg": alg, "kid": key.thumbprint(),
                   "token": jws.serialize_compact(header, PAYLOAD, key, algorithms=[alg])})
restricted_token = jws.serialize_compact({"alg": "PS256", "kid": "rsa-rs256-only"}, PAYLOAD, rsa,
                                         algorithms=["PS256"])

print(json.dumps({
    "payload": PAYLOAD,
    "jwks": {"keys": jwks},
    "thumbprints": {name: key.thumbprint() for name, key in keys.items()},
    "tokens": tokens,
    "ps256_with_rs256_only_key": restricted_token,
}, indent=1))
