#!/usr/bin/env python3
"""Cross-checks ts::jose against joserfc, an independent JOSE implementation (Python).

Usage: cross_check.py <path to jose_cross_tool>

(a) Tokens made by our Es256Signer verify in joserfc with our PublicJwkJson, and our kid equals
    joserfc's RFC 7638 thumbprint of that key.
(b) joserfc mints RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA tokens
    that our VerifyJws accepts, with the right payload; tampered ones it rejects.
(c) Our thumbprints of joserfc's RSA, EC and OKP keys equal joserfc's.

Exits non-zero when anything fails, including a missing joserfc: never skips.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

try:
    from joserfc import jws
    from joserfc.jwk import ECKey, OKPKey, RSAKey
except ImportError as e:  # fail loudly: this test must not pass without its oracle
    print(f"FAIL: the Python library joserfc is required for this test: {e}", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)

warnings.simplefilter("ignore")  # joserfc flags EdDSA as deprecated (RFC 9864); we still test it

TOOL = sys.argv[1] if len(sys.argv) == 2 else None
ALL_ALGS = "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512,EdDSA"
passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}", file=sys.stderr)


def run(*args):
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60)


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def part_a():
    for i in range(10):
        payload = json.dumps({"sub": f"user-{i}", "n": i, "s": "caf\u00e9"}, separators=(",", ":"))
        r = run("sign", payload)
        if r.returncode != 0:
            check(False, f"sign failed: {r.stderr}")
            continue
        jwk_json, token = r.stdout.splitlines()
        jwk = json.loads(jwk_json)
        key = ECKey.import_key(jwk)
        try:
            obj = jws.deserialize_compact(token, key, algorithms=["ES256"])
            check(obj.payload.decode() == payload, "joserfc: payload differs")
            check(obj.headers() == {"alg": "ES256", "kid": jwk["kid"], "typ": "JWT"},
                  f"joserfc: header {obj.headers()}")
        except Exception as e:  # noqa: BLE001 - any joserfc failure is a test failure
            check(False, f"joserfc rejected our ES256 token: {e!r}")
        check(key.thumbprint() == jwk["kid"], "our kid differs from joserfc's RFC 7638 thumbprint")
        check(set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}, f"JWK members {set(jwk)}")


def part_b_and_c(tmp):
    keys = {
        "RSA": RSAKey.generate_key(2048),
        "RSA3072": RSAKey.generate_key(3072),
        "P-256": ECKey.generate_key("P-256"),
        "P-384": ECKey.generate_key("P-384"),
        "P-521": ECKey.generate_key("P-521"),
        "Ed25519": OKPKey.generate_key("Ed25519"),
    }
    jwks = []
    for key in keys.values():
        d = dict(key.as_dict(private=False))
        d["kid"] = key.thumbprint()
        jwks.append(d)
    jwks_path = os.path.join(tmp, "jwks.json")
    with open(jwks_path, "w") as f:
        json.dump({"keys": jwks}, f)

    r = run("thumbprints", jwks_path)
    check(r.returncode == 0, f"thumbprints failed: {r.stderr}")
    lines = r.stdout.split("\n")[:-1]
    check(len(lines) == len(keys), f"thumbprints: {len(lines)} keys parsed, {len(keys)} expected")
    for line in lines:
        kid, ours = line.split(" ")
        check(kid == ours, f"thumbprint of {kid}: ours is {ours}")

    plan = [("RS256", "RSA"), ("RS384", "RSA"), ("RS512", "RSA3072"), ("PS256", "RSA"),
            ("PS384", "RSA3072"), ("PS512", "RSA"), ("ES256", "P-256"), ("ES384", "P-384"),
            ("ES512", "P-521"), ("EdDSA", "Ed25519")]
    for alg, name in plan:
        key = keys[name]
        payload = json.dumps({"iss": "https://idp.example", "sub": "alice", "alg_under_test": alg})
        token = jws.serialize_compact({"alg": alg, "kid": key.thumbprint(), "typ": "JWT"},
                                      payload, key, algorithms=[alg])
        r = run("verify", jwks_path, ALL_ALGS, token)
        check(r.returncode == 0 and r.stdout == payload,
              f"{alg}: joserfc token refused: {r.stderr.strip()}")
        # Only the token's alg allowed still verifies; any other alone refuses it.
        r = run("verify", jwks_path, alg, token)
        check(r.returncode == 0, f"{alg}: refused with only its own alg allowed: {r.stderr}")
        other = "ES256" if alg != "ES256" else "RS256"
        r = run("verify", jwks_path, other, token)
        check(r.returncode == 1 and "is not allowed here" in r.stderr,
              f"{alg}: accepted though only {other} allowed: {r.stderr}")
        # Tampered payload (joserfc's signature kept) must fail the signature check.
        h, _, s = token.split(".")
        tampered = ".".join([h, b64url(payload.replace("alice", "admin").encode()), s])
        r = run("verify", jwks_path, ALL_ALGS, tampered)
        check(r.returncode == 1 and "JWS signature is invalid" in r.stderr,
              f"{alg}: tampered token: rc={r.returncode} {r.stderr.strip()}")
        # joserfc's signature over another payload, spliced onto this one.
        token2 = jws.serialize_compact({"alg": alg, "kid": key.thumbprint(), "typ": "JWT"},
                                       payload + " ", key, algorithms=[alg])
        spliced = ".".join(token.split(".")[:2] + [token2.split(".")[2]])
        r = run("verify", jwks_path, ALL_ALGS, spliced)
        check(r.returncode == 1 and "JWS signature is invalid" in r.stderr,
              f"{alg}: spliced signature accepted: {r.stderr.strip()}")


def main():
    if TOOL is None or not os.access(TOOL, os.X_OK):
        print(f"FAIL: usage: cross_check.py <jose_cross_tool> (got {sys.argv[1:]})",
              file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    part_a()
    with tempfile.TemporaryDirectory() as tmp:
        part_b_and_c(tmp)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
