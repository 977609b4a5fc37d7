"""A real OpenID provider (test/e2e/idp/oidc_idp.mjs, npm oidc-provider) run as a trusted token
issuer, plus assertions minted with an independent JOSE library (joserfc) for negative cases."""
import base64
import hashlib
import hmac
import http.cookiejar
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from joserfc import jwt
from joserfc.jwk import RSAKey

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDP_SCRIPT = os.path.join(ROOT, "test", "e2e", "idp", "oidc_idp.mjs")
CLIENT_ID = "tessera-app"
CLIENT_SECRET = "idp-client-secret"


def new_key(kid):
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"},
                               private=True)


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Idp:
    """`node oidc_idp.mjs` on 127.0.0.1; restart() keeps the port (key rotation, outages)."""

    def __init__(self, accounts, key):
        self.dir = tempfile.mkdtemp(prefix="tessera-idp-")
        self.accounts_path = os.path.join(self.dir, "accounts.json")
        with open(self.accounts_path, "w") as f:
            json.dump(accounts, f)
        self.port = 0
        self.proc = None
        self.key = key
        self.start(key)

    def start(self, key):
        self.key = key
        keys_path = os.path.join(self.dir, "keys.json")
        with open(keys_path, "w") as f:
            json.dump({"keys": [key.as_dict(private=True)]}, f)
        self.log = open(os.path.join(self.dir, "idp.log"), "a")
        self.proc = subprocess.Popen(
            ["node", IDP_SCRIPT, "--port", str(self.port), "--keys", keys_path,
             "--accounts", self.accounts_path],
            cwd=os.path.join(ROOT, "test", "e2e"), stdout=subprocess.PIPE, stderr=self.log,
            text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout] and None,
                         daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            first = ""
        m = re.match(r"IDP listening on (http://127\.0\.0\.1:(\d+))", first)
        if not m:
            self.stop_process()
            raise RuntimeError(f"the IdP did not start: {first!r} (log in {self.dir})")
        self.issuer = m.group(1)
        self.port = int(m.group(2))

    def stop_process(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.log.close()
        self.proc = None

    def restart(self, key):
        self.stop_process()
        self.start(key)

    def close(self):
        self.stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sign_in(self, account):
        """Runs the authorization-code flow for `account` and returns the ID token."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        verifier = b64url(os.urandom(32))
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode({
            "client_id": CLIENT_ID, "response_type": "code", "scope": "openid email",
            "redirect_uri": self.issuer + "/cb", "login_hint": account,
            "state": b64url(os.urandom(8)), "nonce": b64url(os.urandom(8)),
            "code_challenge": challenge, "code_challenge_method": "S256"})
        with opener.open(self.issuer + "/auth?" + query, timeout=30) as r:
            result = json.loads(r.read())
        if "code" not in result:
            raise RuntimeError(f"IdP sign-in failed: {result}")
        body = urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": result["code"],
            "redirect_uri": self.issuer + "/cb", "code_verifier": verifier}).encode()
        auth = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        request = urllib.request.Request(self.issuer + "/token", data=body, headers={
            "Authorization": "Basic " + auth,
            "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())["id_token"]


def mint(key, claims, header=None):
    """A JWT signed by `key` (joserfc), with RS256 and the key's kid unless told otherwise."""
    h = {"alg": "RS256", "kid": key.kid}
    h.update(header or {})
    return jwt.encode(h, claims, key)


def mint_none(claims):
    return b64url(json.dumps({"alg": "none"})) + "." + b64url(json.dumps(claims)) + "."


def mint_hs256_with_public_key(key, claims):
    """The algorithm-confusion attack: HMAC keyed with the RSA public key's PEM."""
    secret = key.as_pem(private=False)
    signing_input = (b64url(json.dumps({"alg": "HS256", "kid": key.kid})) + "." +
                     b64url(json.dumps(claims)))
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def standard_claims(issuer, email, aud=CLIENT_ID, lifetime=300, **extra):
    now = int(time.time())
    claims = {"iss": issuer, "sub": email.split("@")[0], "aud": aud, "iat": now,
              "exp": now + lifetime, "jti": b64url(os.urandom(12)), "email": email}
    claims.update(extra)
    return claims
