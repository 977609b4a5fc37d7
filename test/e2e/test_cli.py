"""The AWS CLI v1 against Tessera, and the `tessera` maintenance commands on a live server."""
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

import boto3
import botocore.exceptions

from test.e2e import harness

APP = harness.DEMO_APP
REDIRECT = harness.DEMO_REDIRECT


class AwsCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def sign_in_at_banner_url(self, url):
        """Signs the demo user in at a URL the banner printed; returns the code."""
        browser = harness.Browser(self.server)
        status, headers, body, form = browser.open_login(url[len(self.server.url):])
        self.assertEqual(status, 200, body)
        status, headers, body = browser.submit_login(form, "demo", harness.DEMO_PASSWORD)
        self.assertEqual(status, 303, body)
        return harness.parse_redirect(headers["Location"])["code"]

    def banner_command(self, code, leave_out=()):
        """The banner's AWS CLI command for `code`, without --endpoint-url (cli() adds it) and
        the options in `leave_out`, as arguments."""
        banner = "\n".join(self.server.banner)
        command = re.search(r"^  aws (sso-oidc create-token-with-iam .*?--code CODE)$",
                            banner.replace("\\\n", ""), re.M | re.S).group(1)
        args = shlex.split(command.replace("CODE", code))
        drop = {"--endpoint-url", *leave_out}
        return [a for i, a in enumerate(args)
                if a not in drop and (i == 0 or args[i - 1] not in drop)]

    def banner_urls(self):
        banner = "\n".join(self.server.banner)
        return re.findall(r"^  (http://127\.0\.0\.1:\d+/authorize\?\S+)$", banner, re.M)

    def test_demo_banner_commands_work_as_printed(self):
        """The banner's sign-in URL and AWS CLI command, pasted as a new user would."""
        code = self.sign_in_at_banner_url(self.banner_urls()[0])
        r = self.server.cli(*self.banner_command(code))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("refreshToken", json.loads(r.stdout))

    def test_demo_banner_url_without_pkce_works_as_in_aws_example(self):
        """The banner's second URL, redeemed as AWS's CreateTokenWithIAM example does: the
        printed command without --code-verifier."""
        urls = self.banner_urls()
        self.assertEqual(len(urls), 2, urls)
        self.assertIn("code_challenge=", urls[0])
        self.assertNotIn("code_challenge", urls[1])
        code = self.sign_in_at_banner_url(urls[1])
        args = self.banner_command(code, leave_out=("--code-verifier",))
        self.assertNotIn("--code-verifier", args)
        r = self.server.cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("refreshToken", json.loads(r.stdout))

    def test_redeem_and_refresh(self):
        verifier, challenge = harness.pkce_pair()
        redirect = harness.Browser(self.server).sign_in(challenge)
        r = self.server.cli("sso-oidc", "create-token-with-iam", "--client-id", APP,
                            "--grant-type", "authorization_code", "--code", redirect["code"],
                            # One verifier in 64 starts with '-', which the CLI's argument
                            # parser would take for an option: pass it joined with '='.
                            "--redirect-uri", REDIRECT, f"--code-verifier={verifier}")
        self.assertEqual(r.returncode, 0, r.stderr)
        first = json.loads(r.stdout)
        self.assertEqual(first["tokenType"], "Bearer")
        self.assertEqual(first["expiresIn"], 3600)
        self.assertEqual(first["scope"], ["openid", "aws", "sts:identity_context"])
        self.assertTrue(first["refreshToken"].startswith("tsrt_"))
        self.assertIn("identityContext", first["awsAdditionalDetails"])
        self.assertEqual(len(first["idToken"].split(".")), 3)

        r = self.server.cli("sso-oidc", "create-token-with-iam", "--client-id", APP,
                            "--grant-type", "refresh_token",
                            "--refresh-token", first["refreshToken"], "--scope", "openid", "aws")
        self.assertEqual(r.returncode, 0, r.stderr)
        second = json.loads(r.stdout)
        self.assertEqual(second["scope"], ["openid", "aws"])
        self.assertNotEqual(second["refreshToken"], first["refreshToken"])
        self.assertNotIn("awsAdditionalDetails", second)

    def test_error_exits_non_zero_with_the_error_code(self):
        verifier, _ = harness.pkce_pair()
        r = self.server.cli("sso-oidc", "create-token-with-iam", "--client-id", APP,
                            "--grant-type", "authorization_code", "--code", "tsac_bogus",
                            "--redirect-uri", REDIRECT, f"--code-verifier={verifier}")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("InvalidGrantException", r.stderr)
        self.assertIn("Invalid authorization code provided", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_signature_error_exits_non_zero(self):
        r = self.server.cli("sso-oidc", "create-token-with-iam", "--client-id", APP,
                            "--grant-type", "refresh_token", "--refresh-token", "tsrt_x",
                            secret="not-the-secret")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("InvalidSignatureException", r.stderr)


class TesseraCommandsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def login_status(self, password):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(self.server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, headers, _ = browser.submit_login(form, "demo", password)
        return status, headers

    def test_set_password_then_sign_in(self):
        new_password = "a brand new passphrase 42"
        r = self.server.tessera("set-password", "--user-name", "demo", stdin=new_password + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "password set for demo\n")
        status, headers = self.login_status(new_password)
        self.assertEqual(status, 303)
        self.assertIn("code=tsac_", headers["Location"])
        status, _ = self.login_status(harness.DEMO_PASSWORD)
        self.assertEqual(status, 401)
        # Put the demo password back for the other tests of this class.
        r = self.server.tessera("set-password", "--user-name", "demo",
                                stdin=harness.DEMO_PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        status, _ = self.login_status(harness.DEMO_PASSWORD)
        self.assertEqual(status, 303)

    def test_set_password_refuses_short_passwords_and_unknown_users(self):
        r = self.server.tessera("set-password", "--user-name", "demo", stdin="short\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("the password must have at least 8 characters", r.stderr)
        r = self.server.tessera("set-password", "--user-name", "nobody",
                                stdin="long enough password\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.startswith("tessera: "), r.stderr)

    def test_list_and_delete_access_keys(self):
        role = "arn:aws:iam::123456789012:role/listing"
        long_term = self.server.new_access_key(role)
        temporary = self.server.new_access_key(role, duration_seconds=900)
        self.assertTrue(long_term["AWS_ACCESS_KEY_ID"].startswith("AKIA"))
        self.assertNotIn("AWS_SESSION_TOKEN", long_term)
        self.assertTrue(temporary["AWS_ACCESS_KEY_ID"].startswith("ASIA"))
        self.assertIn("AWS_SESSION_TOKEN", temporary)

        r = self.server.tessera("list-access-keys", "--principal-arn", role)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {line.split("\t")[0]: line.split("\t") for line in r.stdout.splitlines()}
        self.assertEqual(set(rows), {long_term["AWS_ACCESS_KEY_ID"],
                                     temporary["AWS_ACCESS_KEY_ID"]})
        self.assertEqual(rows[long_term["AWS_ACCESS_KEY_ID"]][1:3], ["Active", "long-term"])
        self.assertEqual(rows[temporary["AWS_ACCESS_KEY_ID"]][1:3], ["Active", "temporary"])
        self.assertTrue(rows[temporary["AWS_ACCESS_KEY_ID"]][4].startswith("expires "))
        for row in r.stdout.splitlines():
            # The listing never shows a secret.
            self.assertNotIn(long_term["AWS_SECRET_ACCESS_KEY"], row)

        r = self.server.tessera("delete-access-key", "--access-key-id",
                                long_term["AWS_ACCESS_KEY_ID"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"deleted {long_term['AWS_ACCESS_KEY_ID']}\n")
        r = self.server.tessera("list-access-keys", "--principal-arn", role)
        self.assertEqual([line.split("\t")[0] for line in r.stdout.splitlines()],
                         [temporary["AWS_ACCESS_KEY_ID"]])
        # The running server no longer accepts the deleted key.
        client = self.server.client(long_term["AWS_ACCESS_KEY_ID"],
                                    long_term["AWS_SECRET_ACCESS_KEY"])
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            client.create_token_with_iam(clientId=APP, grantType="refresh_token",
                                         refreshToken="tsrt_x")
        self.assertEqual(e.exception.response["Error"]["Code"], "UnrecognizedClientException")

    def test_version_names_the_commit_it_was_built_from(self):
        outputs = [subprocess.run([harness.binary(), arg], capture_output=True, text=True,
                                  timeout=30) for arg in ("--version", "version")]
        for r in outputs:
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(outputs[0].stdout, outputs[1].stdout)
        m = re.fullmatch(r"tessera \d+\.\d+\.\d+ \(commit ([0-9a-f]{12})(-dirty)?\)\n",
                         outputs[0].stdout)
        self.assertIsNotNone(m, outputs[0].stdout)
        # A commit of this repository (the suite runs in the checkout it was built from).
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        r = subprocess.run(["git", "-C", repo, "cat-file", "-e", m.group(1) + "^{commit}"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, f"{m.group(1)} is not a commit here: {r.stderr}")

    def test_create_access_key_for_unknown_principal_fails(self):
        r = self.server.tessera("create-access-key", "--principal-arn",
                                "arn:aws:iam::123456789012:role/never-registered")
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.startswith("tessera: "), r.stderr)
        self.assertEqual(r.stdout, "")

    def test_create_access_key_refuses_bad_durations_and_creates_nothing(self):
        role = "arn:aws:iam::123456789012:role/durations"
        r = self.server.tessera("create-principal", "--arn", role)
        self.assertEqual(r.returncode, 0, r.stderr)
        for bad in ["abc", "-5", "0", "1.5", "129601", "99999999999999999999"]:
            with self.subTest(bad=bad):
                r = self.server.tessera("create-access-key", "--principal-arn", role,
                                        "--duration-seconds", bad)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stderr, "tessera: --duration-seconds takes a whole number "
                                 f"of seconds from 1 to 129600, got '{bad}'\n")
                self.assertEqual(r.stdout, "")
        r = self.server.tessera("list-access-keys", "--principal-arn", role)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_create_principal_rejects_non_iam_arns(self):
        r = self.server.tessera("create-principal", "--arn", "arn:aws:s3:::bucket")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--arn must be an IAM user or role ARN", r.stderr)

    def test_rotate_signing_key_refuses_bad_numbers_and_rotates_nothing(self):
        before = self.server.tessera("print-jwks").stdout
        for flag in ["--keep-retired-seconds", "--activate-after-seconds"]:
            for bad in ["abc", "-1", "1.5", "315360001"]:
                with self.subTest(flag=flag, bad=bad):
                    r = self.server.tessera("rotate-signing-key", flag, bad)
                    self.assertEqual(r.returncode, 2)
                    self.assertEqual(r.stderr, f"tessera: {flag} takes a whole number of seconds "
                                     f"from 0 to 315360000, got '{bad}'\n")
        self.assertEqual(self.server.tessera("print-jwks").stdout, before)

    def test_print_jwks_matches_the_served_set(self):
        r = self.server.tessera("print-jwks")
        self.assertEqual(r.returncode, 0, r.stderr)
        with urllib.request.urlopen(self.server.url + "/.well-known/jwks.json") as f:
            served = json.load(f)
        self.assertEqual(json.loads(r.stdout), served)


class DemoRestartTest(unittest.TestCase):
    """`make run` again on the same database: nothing the first start printed goes stale, and
    nothing is printed that the first start did not generate."""

    # What `make run` has: no password or root credential in the environment.
    FRESH = {"TESSERA_DEMO_PASSWORD": None, "TESSERA_ROOT_ACCESS_KEY_ID": None,
             "TESSERA_ROOT_SECRET_ACCESS_KEY": None}

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tessera-e2e-restart-")
        self.db = os.path.join(self.dir, "tessera.db")
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, env=None):
        server = harness.Server(db=self.db, env={**self.FRESH, **(env or {})})
        self.servers.append(server)
        return server

    def stop(self, server):
        server.stop()
        self.servers.remove(server)

    @staticmethod
    def banner_value(server, pattern):
        m = re.search(pattern, "\n".join(server.banner), re.M)
        return m.group(1) if m else None

    def signs_in(self, server, password):
        _, challenge = harness.pkce_pair()
        browser = harness.Browser(server)
        _, _, _, form = browser.open_login(browser.authorize_url(challenge))
        status, _, _ = browser.submit_login(form, "demo", password)
        return status == 303

    def first_start(self):
        server = self.start()
        password = self.banner_value(server, r"^Sign-in user: demo   password: (\S+)$")
        secret = self.banner_value(server, r"^  export AWS_SECRET_ACCESS_KEY='([^']+)'")
        self.assertIsNotNone(password, server.banner)
        self.assertIsNotNone(secret, server.banner)
        return server, password, secret

    def test_restart_keeps_the_password_and_prints_no_secret(self):
        server, password, secret = self.first_start()
        self.stop(server)
        again = self.start()
        banner = "\n".join(again.banner)
        self.assertNotIn(password, banner)
        self.assertNotIn(secret, banner)
        self.assertIn("password: printed when the demo user was created (first start)", banner)
        self.assertIn(f"set-password --user-name demo --db {self.db}", banner)
        self.assertIn("AWS_SECRET_ACCESS_KEY was printed when this key was generated", banner)
        self.assertTrue(self.signs_in(again, password))

    def test_a_start_that_cannot_bind_changes_nothing(self):
        server, password, _ = self.first_start()
        r = subprocess.run([harness.binary(), "serve", "--demo", "--db", self.db,
                            "--listen", f"127.0.0.1:{server.port}"],
                           capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in server.env.items() if k not in self.FRESH})
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot bind 127.0.0.1:{server.port}: Address already in use", r.stderr)
        self.assertTrue(self.signs_in(server, password))

    def test_set_password_survives_a_restart(self):
        server, _, _ = self.first_start()
        r = server.tessera("set-password", "--user-name", "demo", stdin="chosen by the user\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.stop(server)
        again = self.start()
        self.assertTrue(self.signs_in(again, "chosen by the user"))

    def test_tessera_demo_password_replaces_it(self):
        server, password, _ = self.first_start()
        self.stop(server)
        again = self.start({"TESSERA_DEMO_PASSWORD": "given in the environment"})
        self.assertIn("Sign-in user: demo   password: the value of TESSERA_DEMO_PASSWORD",
                      again.banner)
        self.assertTrue(self.signs_in(again, "given in the environment"))
        self.assertFalse(self.signs_in(again, password))

    def test_a_root_secret_from_the_environment_is_not_echoed(self):
        server = self.start({"TESSERA_ROOT_ACCESS_KEY_ID": harness.ROOT_KEY_ID,
                             "TESSERA_ROOT_SECRET_ACCESS_KEY": harness.ROOT_SECRET})
        self.assertNotIn(harness.ROOT_SECRET, "\n".join(server.banner))
        self.assertIn('  export AWS_SECRET_ACCESS_KEY="$TESSERA_ROOT_SECRET_ACCESS_KEY"',
                      server.banner)

    def test_list_access_keys_shows_the_root_key_taken_from_the_environment(self):
        env = {"TESSERA_ROOT_ACCESS_KEY_ID": harness.ROOT_KEY_ID,
               "TESSERA_ROOT_SECRET_ACCESS_KEY": harness.ROOT_SECRET}
        server = self.start(env)
        admin = boto3.client("sso-admin", region_name="us-east-1", endpoint_url=server.url,
                             aws_access_key_id=harness.ROOT_KEY_ID,
                             aws_secret_access_key=harness.ROOT_SECRET)
        root = admin.list_instances()["Instances"][0]["OwnerAccountId"]
        root_arn = f"arn:aws:iam::{root}:root"
        r = server.tessera("list-access-keys", "--principal-arn", root_arn)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{harness.ROOT_KEY_ID}\tActive\tlong-term\tfrom "
                                   "TESSERA_ROOT_ACCESS_KEY_ID (not stored)\n")
        self.assertNotIn(harness.ROOT_SECRET, r.stdout)
        # Another principal's listing does not show it.
        r = server.tessera("list-access-keys", "--principal-arn",
                           "arn:aws:iam::123456789012:role/other")
        self.assertEqual(r.stdout, "")
        # A start without it in the environment generates a stored key, and the environment's
        # is no longer listed.
        self.stop(server)
        server = self.start()
        r = server.tessera("list-access-keys", "--principal-arn", root_arn)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(harness.ROOT_KEY_ID, r.stdout)
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
        self.assertIn("\tActive\tlong-term\tcreated ", r.stdout)


if __name__ == "__main__":
    unittest.main()
