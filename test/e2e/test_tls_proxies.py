"""Native TLS and trusted proxies (issue 20), end to end.

TLS: a test CA and leaves made at test time (python `cryptography`); boto3 (sso-oidc
RegisterClient and CreateTokenWithIAM) trusting it through AWS_CA_BUNDLE and verify=, curl with
--cacert, a TLS 1.1 client refused, plain HTTP on the TLS port, the certificate reloaded on SIGHUP
and when the files change (a bad pair keeps the old one), and headless Chromium loading the
sign-in page with the test leaf pinned.

Trusted proxies: two peers on loopback, 127.0.0.1 (untrusted) and 127.0.0.2 (the proxy, bound as
the client's source address). A spoofed X-Forwarded-For from the untrusted peer is ignored; from
the proxy, each forwarded address has its own sign-in throttle.
"""
import base64
import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import shutil
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import warnings

import boto3
import botocore.config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from test.e2e import harness

JS_TLS_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js", "tls_page.mjs")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TestCa:
    """A CA and the leaves it signs, as PEM files in a directory."""

    def __init__(self, directory):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tessera e2e CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(1)
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = os.path.join(directory, "ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, serial, cert_name="cert.pem", key_name="key.pem"):
        """Writes a new leaf for 127.0.0.1 (then the CA) and its key; returns (sha256 of the
        leaf's DER, base64 sha256 of its SubjectPublicKeyInfo)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(serial)
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                     x509.DNSName("localhost")]), critical=False)
                .sign(self.key, hashes.SHA256()))
        self.write(cert_name, cert.public_bytes(serialization.Encoding.PEM) +
                   self.cert.public_bytes(serialization.Encoding.PEM))
        self.write(key_name, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return (hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
                base64.b64encode(hashlib.sha256(spki).digest()).decode())

    def write(self, name, data):
        # A new file renamed over the old one, as certbot and Kubernetes replace certificates.
        path = os.path.join(self.dir, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.chmod(path + ".tmp", 0o600)
        os.replace(path + ".tmp", path)
        return path

    def path(self, name):
        return os.path.join(self.dir, name)


def served_fingerprint(port, ca_file):
    """The sha256 of the certificate a verifying TLS client is served now."""
    ctx = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


class TlsServerBase(unittest.TestCase):
    reload_interval = "0"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tessera-e2e-tls-")
        self.ca = TestCa(self.dir)
        self.fingerprint, self.spki = self.ca.issue(100)
        self.server = harness.Server(
            extra_args=["--tls-cert", self.ca.path("cert.pem"), "--tls-key", self.ca.path("key.pem"),
                        "--tls-reload-interval", self.reload_interval],
            ca_file=self.ca.ca_file)

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def https_request(self, method, path, body=None, headers=None):
        ctx = ssl.create_default_context(cafile=self.ca.ca_file)
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=30, context=ctx)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
        return resp.status, resp.headers, data


class TlsBrowser(harness.Browser):
    """harness.Browser over https, trusting the test CA."""

    def __init__(self, server, ca_file):
        super().__init__(server)
        self.ca_file = ca_file

    def request(self, method, path, body=None, headers=None):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        original = http.client.HTTPConnection
        try:
            http.client.HTTPConnection = (
                lambda host, port, timeout=30: http.client.HTTPSConnection(
                    host, port, timeout=timeout, context=ctx))
            return super().request(method, path, body, headers)
        finally:
            http.client.HTTPConnection = original


class TlsTest(TlsServerBase):
    def test_https_is_the_default_public_url_and_issuer(self):
        self.assertTrue(self.server.url.startswith("https://127.0.0.1:"), self.server.url)
        status, _, body = self.https_request("GET", "/.well-known/jwks.json")
        self.assertEqual(status, 200)
        banner = "\n".join(self.server.banner)
        self.assertIn("issuer: https://127.0.0.1:", banner)
        self.assertIn("certificate: CN=127.0.0.1 sha256=" + self.fingerprint.upper(), banner)
        self.assertEqual(served_fingerprint(self.server.port, self.ca.ca_file), self.fingerprint)

    def test_boto3_register_client_and_create_token_with_iam_over_https(self):
        # RegisterClient, trusting the CA through AWS_CA_BUNDLE as the CLI and SDKs do.
        os.environ["AWS_CA_BUNDLE"] = self.ca.ca_file
        try:
            oidc = boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=self.server.url,
                                config=botocore.config.Config(retries={"max_attempts": 1}))
            registered = oidc.register_client(clientName="tls-e2e", clientType="public")
        finally:
            del os.environ["AWS_CA_BUNDLE"]
        self.assertTrue(registered["clientId"])
        # CreateTokenWithIAM with the code of a sign-in made over https, verify= naming the CA.
        verifier, challenge = harness.pkce_pair()
        redirect = TlsBrowser(self.server, self.ca.ca_file).sign_in(challenge)
        self.assertIn("code", redirect)
        client = boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=self.server.url,
                              verify=self.ca.ca_file,
                              aws_access_key_id=harness.ROOT_KEY_ID,
                              aws_secret_access_key=harness.ROOT_SECRET,
                              config=botocore.config.Config(retries={"max_attempts": 1}))
        token = client.create_token_with_iam(
            clientId=harness.DEMO_APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)
        claims = harness.decode_jwt_part(token["idToken"].split(".")[1])
        self.assertTrue(claims["iss"].startswith("https://127.0.0.1:"), claims["iss"])
        # Without the CA, the SDK refuses the server.
        untrusting = boto3.client("sso-oidc", region_name="us-east-1",
                                  endpoint_url=self.server.url,
                                  config=botocore.config.Config(retries={"max_attempts": 1}))
        with self.assertRaises(Exception) as refused:
            untrusting.register_client(clientName="x", clientType="public")
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(refused.exception))

    def test_curl_with_cacert(self):
        ok = subprocess.run(["curl", "-sS", "--cacert", self.ca.ca_file, "-o", "/dev/null",
                             "-w", "%{http_code} %{ssl_verify_result}",
                             self.server.url + "/healthz"],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(ok.stdout, "200 0")
        refused = subprocess.run(["curl", "-sS", "-o", "/dev/null", self.server.url + "/healthz"],
                                 capture_output=True, text=True, timeout=30)
        self.assertEqual(refused.returncode, 60, refused.stderr)  # peer certificate not verified

    def test_tls11_is_refused_and_tls12_accepted(self):
        def handshake(version):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(self.ca.ca_file)
            ctx.set_ciphers("ALL:@SECLEVEL=0")  # so that the client can offer TLS 1.1 at all
            with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = version
                ctx.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    return tls.version()

        with self.assertRaises(ssl.SSLError) as refused:
            handshake(ssl.TLSVersion.TLSv1_1)
        self.assertIn("PROTOCOL_VERSION", str(refused.exception).upper())
        self.assertEqual(handshake(ssl.TLSVersion.TLSv1_2), "TLSv1.2")

    def test_plain_http_on_the_tls_port_gets_a_400(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        self.assertEqual(resp.status, 400)
        self.assertIn("This port speaks HTTPS", resp.read().decode())
        conn.close()

    def test_chromium_loads_the_sign_in_page_with_the_leaf_pinned(self):
        env = dict(os.environ, TESSERA_URL=self.server.url + "/start", TS_SPKI_SHA256=self.spki)
        run = subprocess.run(["node", JS_TLS_PAGE], capture_output=True, text=True, env=env,
                             cwd=REPO, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertEqual(seen.get("status"), 200, seen)
        self.assertTrue(seen["hasPassword"], seen)
        self.assertTrue(seen["secure"], seen)  # a secure context: the page's Secure cookies work
        # The control: pinned to another key, Chromium refuses the certificate.
        env["TS_SPKI_SHA256"] = base64.b64encode(b"\0" * 32).decode()
        run = subprocess.run(["node", JS_TLS_PAGE], capture_output=True, text=True, env=env,
                             cwd=REPO, timeout=120)
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertIn("ERR_CERT_AUTHORITY_INVALID", seen.get("error", ""), seen)


class SighupReloadTest(TlsServerBase):
    reload_interval = "0"  # SIGHUP only

    def test_bad_then_good_certificate(self):
        port, ca = self.server.port, self.ca.ca_file
        # A new leaf whose key does not match: SIGHUP keeps the old certificate.
        new_fingerprint, _ = self.ca.issue(101, key_name="next-key.pem")
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "keeping the current certificate" not in self.server.server_log():
            self.assertLess(time.time(), deadline, self.server.server_log())
            time.sleep(0.05)
        log = self.server.server_log()
        self.assertIn("does not match the certificate", log)
        self.assertNotIn("PRIVATE KEY", log)
        self.assertEqual(served_fingerprint(port, ca), self.fingerprint)
        # Still serving requests, over a connection opened before the good reload too.
        ctx = ssl.create_default_context(cafile=ca)
        before = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
        before.request("GET", "/healthz")
        first = before.getresponse()
        self.assertEqual(first.status, 200)
        first.read()
        # The matching key arrives: SIGHUP serves the new certificate to new connections.
        os.replace(self.ca.path("next-key.pem"), self.ca.path("key.pem"))
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while served_fingerprint(port, ca) != new_fingerprint:
            self.assertLess(time.time(), deadline, self.server.server_log())
            time.sleep(0.05)
        self.assertIn("now serving CN=127.0.0.1 sha256=" + new_fingerprint.upper(),
                      self.server.server_log())
        before.request("GET", "/healthz")
        self.assertEqual(before.getresponse().status, 200)
        before.close()
        self.assertIsNone(self.server.proc.poll())  # SIGHUP did not stop the server


class WatchedFilesReloadTest(TlsServerBase):
    reload_interval = "1"

    def test_changed_files_are_picked_up(self):
        new_fingerprint, _ = self.ca.issue(200)
        deadline = time.time() + 15
        while served_fingerprint(self.server.port, self.ca.ca_file) != new_fingerprint:
            self.assertLess(time.time(), deadline, self.server.server_log())
            time.sleep(0.1)


class ProxyBrowser(harness.Browser):
    """harness.Browser from a chosen loopback source address, with extra headers."""

    def __init__(self, server, source, forwarded_for=None):
        super().__init__(server)
        self.source = source
        self.forwarded_for = forwarded_for

    def request(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.forwarded_for is not None:
            h["X-Forwarded-For"] = self.forwarded_for
        original = http.client.HTTPConnection
        source = self.source
        try:
            http.client.HTTPConnection = (
                lambda host, port, timeout=30: original(host, port, timeout=timeout,
                                                        source_address=(source, 0)))
            return super().request(method, path, body, h)
        finally:
            http.client.HTTPConnection = original


class TrustedProxyTest(unittest.TestCase):
    PROXY = "127.0.0.2"  # trusted; 127.0.0.1 is not

    def setUp(self):
        self.server = harness.Server(extra_args=["--trusted-proxy", self.PROXY + "/32",
                                                 "--trusted-proxy", "::1/128", "--access-log"])

    def tearDown(self):
        self.server.stop()

    def sign_in(self, source, forwarded_for, user, password):
        _, challenge = harness.pkce_pair()
        browser = ProxyBrowser(self.server, source, forwarded_for)
        status, _, _, form = browser.open_login(browser.authorize_url(challenge))
        self.assertEqual(status, 200)
        status, _, _ = browser.submit_login(form, user, password)
        return status

    def fail_twenty_times(self, source, forwarded_for_each):
        for i in range(20):
            self.assertEqual(self.sign_in(source, forwarded_for_each(i), f"guess-{i}", "wrong"),
                             401)

    def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(self):
        # A different spoofed address on every guess: the throttle counts the peer anyway.
        self.fail_twenty_times("127.0.0.1", lambda i: f"198.51.100.{i + 1}")
        self.assertEqual(self.sign_in("127.0.0.1", "203.0.113.99", "demo", harness.DEMO_PASSWORD),
                         429)
        # Behind the trusted proxy, the same spoofed address is someone else: not locked.
        self.assertEqual(self.sign_in(self.PROXY, "198.51.100.1", "demo", harness.DEMO_PASSWORD),
                         303)

    def test_each_forwarded_address_behind_a_trusted_proxy_has_its_own_throttle(self):
        # The client's own X-Forwarded-For entry, left of what the proxy appended, is ignored.
        self.fail_twenty_times(self.PROXY, lambda i: f"10.9.9.{i}, 2001:db8::1")
        self.assertEqual(self.sign_in(self.PROXY, "2001:DB8:0::1", "demo", harness.DEMO_PASSWORD),
                         429)
        # Twenty failures from one forwarded address lock out neither another address behind the
        # same proxy nor the proxy's own.
        self.assertEqual(self.sign_in(self.PROXY, "198.51.100.2", "demo", harness.DEMO_PASSWORD),
                         303)
        # A malformed header from the proxy: the proxy itself, not locked either.
        self.assertEqual(self.sign_in(self.PROXY, "not an address", "demo",
                                      harness.DEMO_PASSWORD), 303)
        log = self.server.server_log()
        self.assertIn("client=2001:db8::1", log)
        self.assertIn("client=198.51.100.2", log)
        self.assertIn("client=127.0.0.2", log)

    def test_bad_trusted_proxy_flags_are_refused_at_start(self):
        for flag, message in [("10.0.0.1/8", "host bits are set"),
                              ("10.0.0.0/33", "prefix length must be 0 to 32"),
                              ("proxy.local", "not an IPv4 or IPv6 address")]:
            run = subprocess.run([harness.binary(), "serve", "--trusted-proxy", flag],
                                 capture_output=True, text=True, timeout=30)
            self.assertNotEqual(run.returncode, 0)
            self.assertIn("--trusted-proxy: '" + flag + "' is not a CIDR block", run.stderr)
            self.assertIn(message, run.stderr)


if __name__ == "__main__":
    unittest.main()
