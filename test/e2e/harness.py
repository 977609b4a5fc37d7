"""Starts a real Tessera binary for end-to-end tests and signs users in through its login page.

Every server gets a fresh database in a temporary directory and a port picked at run time
(--listen 127.0.0.1:0; the bound address is read from the first line it prints).
"""
import base64
import hashlib
import html.parser
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import queue
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials

DEMO_APP = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222"
DEMO_REDIRECT = "https://mywebapp.example/redirect"
ROOT_KEY_ID = "AKIAE2EROOTKEY000001"
ROOT_SECRET = "e2e-root-secret/abcdefghijklmnopqrstuvwxyz"
DEMO_PASSWORD = "correct horse battery staple"
MASTER_KEY = "00" * 31 + "01"
# The role the demo application's actor policy allows (the AWS S3 documentation example).
WEBAPP_ROLE = "arn:aws:iam::123456789012:role/webapp"
OTHER_ROLE = "arn:aws:iam::123456789012:role/other"

# A second application and a user assigned to nothing, added to the demo by `--bootstrap`.
OTHER_APP = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-444444444444"
OTHER_REDIRECT = "https://other.example/callback"
OUTSIDER = "outsider"
OUTSIDER_PASSWORD = "outsider password 4711"
EXTRA_BOOTSTRAP = json.dumps({
    "Users": [{"UserName": OUTSIDER, "DisplayName": "Not Assigned", "Password": OUTSIDER_PASSWORD}],
    "Applications": [{
        "ApplicationArn": OTHER_APP,
        "Name": "Other app",
        "AssignmentRequired": True,
        "Grants": [
            {"GrantType": "authorization_code",
             "Grant": {"AuthorizationCode": {"RedirectUris": [OTHER_REDIRECT]}}},
            {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}},
        ],
        "Assignments": [{"PrincipalType": "USER", "UserName": "demo"}],
    }],
})


def binary():
    path = os.environ.get("TESSERA_BIN")
    if not path:
        raise RuntimeError("TESSERA_BIN is not set (run through ctest)")
    return path


class Server:
    """A running `tessera serve --demo` with known credentials."""

    def __init__(self, extra_args=(), bootstrap=None, env=None, demo=True, db=None, ca_file=None):
        """`db`: a postgresql:// URL several Servers share (pg_harness.PostgresServer), or a
        SQLite path that outlives this server (a restart); default a fresh SQLite file of this
        server's own. `env`: variables to set, or with None to unset. `ca_file`: the CA that
        signed --tls-cert, trusted for the readiness check over https."""
        self.dir = tempfile.mkdtemp(prefix="tessera-e2e-")
        self.db = db if db is not None else os.path.join(self.dir, "tessera.db")
        args = [binary(), "serve", "--listen", "127.0.0.1:0", "--db", self.db]
        if demo:
            args.append("--demo")
        if bootstrap is not None:
            path = os.path.join(self.dir, "bootstrap.json")
            with open(path, "w") as f:
                f.write(bootstrap)
            args += ["--bootstrap", path]
        args += list(extra_args)
        self.env = dict(os.environ)
        self.env.update({
            "TESSERA_MASTER_KEY": MASTER_KEY,
            "TESSERA_ROOT_ACCESS_KEY_ID": ROOT_KEY_ID,
            "TESSERA_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
            "TESSERA_DEMO_PASSWORD": DEMO_PASSWORD,
        })
        for name, value in (env or {}).items():
            # None unsets a variable the harness would set (a generated credential, say).
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        self.log_path = os.path.join(self.dir, "server.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=self.env)
        # A reader thread keeps the pipe drained; the first line names the bound address.
        self.banner = []
        first_line = queue.Queue()

        def read_stdout():
            for line in self.proc.stdout:
                if not self.banner:
                    first_line.put(line)
                self.banner.append(line.rstrip("\n"))
            first_line.put("")

        threading.Thread(target=read_stdout, daemon=True).start()
        try:
            first = first_line.get(timeout=30)
        except queue.Empty:
            first = ""
        m = re.match(r"Tessera listening on (https?://127\.0\.0\.1:(\d+))", first)
        if not m:
            self.proc.kill()
            self.proc.wait()
            self.log.seek(0)
            log = self.log.read()
            # Nothing of a server that never started is left behind.
            self.proc.stdout.close()
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"tessera did not start: {first!r} {log}")
        self.url = m.group(1)
        self.port = int(m.group(2))
        # What browsers see (the load balancer's address when nodes share one --public-url).
        self.public_url = self.url
        if "--public-url" in args:
            self.public_url = args[args.index("--public-url") + 1]
        # The banner is printed in one go after the first line; wait until readiness.
        tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        for _ in range(100):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5, context=tls) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_log(self):
        with open(self.log_path) as f:
            return f.read()

    def client(self, key_id=ROOT_KEY_ID, secret=ROOT_SECRET, token=None, region="us-east-1"):
        return boto3.client(
            "sso-oidc", region_name=region, endpoint_url=self.url,
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token,
            config=botocore.config.Config(retries={"max_attempts": 1}))

    def cli(self, *args, key_id=ROOT_KEY_ID, secret=ROOT_SECRET):
        # AWS CLI v1 fetches any parameter value that starts with https:// (the redirect URI
        # included) unless cli_follow_urlparam is off; only a config file can turn it off.
        config = os.path.join(self.dir, "aws-config")
        if not os.path.exists(config):
            with open(config, "w") as f:
                f.write("[default]\ncli_follow_urlparam = false\n")
        env = dict(os.environ)
        env.update({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": config,
                    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
        env.pop("AWS_SESSION_TOKEN", None)
        return subprocess.run(["aws", "--endpoint-url", self.url, "--output", "json", *args],
                              capture_output=True, text=True, env=env, timeout=60)

    def tessera(self, *args, stdin=None):
        return subprocess.run([binary(), *args, "--db", self.db], capture_output=True, text=True,
                              env=self.env, input=stdin, timeout=60)

    def new_access_key(self, principal_arn, duration_seconds=None):
        """Registers the principal (idempotent) and returns a new key as a dict of the printed
        AWS_* variables."""
        r = self.tessera("create-principal", "--arn", principal_arn)
        if r.returncode != 0:
            raise RuntimeError(f"create-principal failed: {r.stderr}")
        args = ["create-access-key", "--principal-arn", principal_arn]
        if duration_seconds is not None:
            args += ["--duration-seconds", str(duration_seconds)]
        r = self.tessera(*args)
        if r.returncode != 0:
            raise RuntimeError(f"create-access-key failed: {r.stderr}")
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def internal_error_lines(self):
        """The log lines the server writes for a 500 (app.cc LogInternal)."""
        return [l for l in self.server_log().splitlines() if l.startswith("error path=")]

    def token_request(self, body, key_id=ROOT_KEY_ID, secret=ROOT_SECRET, token=None,
                      region="us-east-1", service="sso-oauth", sign=True, extra_headers=None,
                      tamper=None):
        """POST /token?aws_iam=t with a raw body, signed by botocore's SigV4Auth unless
        sign=False. `tamper(headers, body) -> (headers, body)` edits the request after signing.
        Returns (status, headers, parsed JSON body)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": "application/json"}
        headers.update(extra_headers or {})
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=self.url + "/token?aws_iam=t", data=body, headers=headers)
        if sign:
            credentials = botocore.credentials.Credentials(key_id, secret, token)
            botocore.auth.SigV4Auth(credentials, service, region).add_auth(request)
        prepared = request.prepare()
        out_headers = dict(prepared.headers.items())
        out_headers.setdefault("Host", f"127.0.0.1:{self.port}")
        if tamper is not None:
            out_headers, body = tamper(out_headers, body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/token?aws_iam=t", body=body, headers=out_headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = {"_raw": data.decode(errors="replace")}
        return resp.status, resp.headers, parsed


def pkce_pair():
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge



PORTAL_START_URL = "https://d-3333333333.awsapps.com/start"


def portal_login(server, client_name="portal-e2e"):
    """What `aws sso login` leaves behind for the demo user: a registration (sso:account:access)
    and the first tokens of CreateToken. Returns (registration, tokens)."""
    oidc = boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id="unused", aws_secret_access_key="unused",
                        config=botocore.config.Config(retries={"max_attempts": 1}))
    registration = oidc.register_client(
        clientName=client_name, clientType="public",
        grantTypes=["authorization_code", "refresh_token"],
        redirectUris=["http://127.0.0.1/oauth/callback"], issuerUrl=PORTAL_START_URL,
        scopes=["sso:account:access"])
    verifier, challenge = pkce_pair()
    # A loopback redirect URI matches on any port (RFC 8252 §7.3), as the CLI uses it.
    redirect_uri = "http://127.0.0.1:4711/oauth/callback"
    answer = Browser(server).sign_in(
        challenge, client_id=registration["clientId"], redirect_uri=redirect_uri,
        scopes="sso:account:access")
    tokens = oidc.create_token(
        clientId=registration["clientId"], clientSecret=registration["clientSecret"],
        grantType="authorization_code", code=answer["code"], redirectUri=redirect_uri,
        codeVerifier=verifier)
    return registration, tokens

class _FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = {}
        self.alert = None
        self._in_alert = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.inputs[a["name"]] = a.get("value", "")
        if a.get("role") == "alert":
            self._in_alert = True
            self.alert = ""

    def handle_endtag(self, tag):
        if tag == "div":
            self._in_alert = False

    def handle_data(self, data):
        if self._in_alert:
            self.alert += data


class Browser:
    """A scripted HTTP client that keeps cookies, as a browser would, for /authorize."""

    def __init__(self, server):
        self.server = server
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read().decode()
        for value in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            val = rest.split(";", 1)[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = val
        conn.close()
        return resp.status, resp.headers, data

    def authorize_url(self, challenge, client_id=DEMO_APP, redirect_uri=DEMO_REDIRECT,
                      state="xyz", scope=None, scopes=None, method="S256", extra=None):
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "state": state, "code_challenge": challenge, "code_challenge_method": method}
        if scope is not None:
            q["scope"] = scope
        if scopes is not None:
            q["scopes"] = scopes
        q.update(extra or {})
        return "/authorize?" + urllib.parse.urlencode(q)

    def open_login(self, url):
        status, headers, body = self.request("GET", url)
        parser = _FormParser()
        parser.feed(body)
        return status, headers, body, parser

    def submit_login(self, form, username, password, origin=None):
        fields = dict(form.inputs)
        fields["username"] = username
        fields["password"] = password
        headers = {"Origin": origin or self.server.public_url}
        return self.request("POST", "/authorize", urllib.parse.urlencode(fields), headers)

    def sign_in(self, challenge, username="demo", password=DEMO_PASSWORD, **kw):
        """Runs the login page and returns the query of the redirect (code, state, iss)."""
        status, headers, body, form = self.open_login(self.authorize_url(challenge, **kw))
        if status == 302:
            return parse_redirect(headers["Location"])
        assert status == 200, (status, body)
        status, headers, body = self.submit_login(form, username, password)
        assert status == 303, (status, body)
        return parse_redirect(headers["Location"])


def page(browser, method, path, fields=None):
    """A request through the scripted browser; returns (status, headers, body, form)."""
    body = None
    headers = None
    if fields is not None:
        body = urllib.parse.urlencode(fields)
        headers = {"Origin": browser.server.public_url}
    status, response_headers, text = browser.request(method, path, body, headers)
    form = _FormParser()
    form.feed(text)
    return status, response_headers, text, form


def decide_on_device_page(server, device, decision, username="demo", password=DEMO_PASSWORD,
                          on_consent=None):
    """What a user does on the device verification page (RFC 8628 §3.3): opens
    verificationUriComplete, confirms the user code, signs in and approves or denies
    (`decision` "approve" or "deny"). `on_consent(body)` sees the consent page. Returns the last
    page's (status, body): the sign-in's when it failed, else the decision's."""
    browser = Browser(server)
    complete = urllib.parse.urlsplit(device["verificationUriComplete"])
    status, _, body, form = page(browser, "GET", complete.path + "?" + complete.query)
    assert status == 200 and f'value="{device["userCode"]}"' in body, (status, body)
    status, _, body, form = page(browser, "POST", "/device",
                                 {**form.inputs, "user_code": device["userCode"]})
    assert status == 200 and form.inputs.get("step") == "signin", (status, body)
    status, _, body, form = page(browser, "POST", "/device",
                                 {**form.inputs, "username": username, "password": password})
    if status != 200:
        return status, body
    if on_consent is not None:
        on_consent(body)
    status, _, body, _ = page(browser, "POST", "/device", {**form.inputs, "decision": decision})
    return status, body


def parse_redirect(location):
    parts = urllib.parse.urlsplit(location)
    q = dict(urllib.parse.parse_qsl(parts.query))
    q["_base"] = f"{parts.scheme}://{parts.netloc}{parts.path}"
    return q


def decode_jwt_part(part):
    import json
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
