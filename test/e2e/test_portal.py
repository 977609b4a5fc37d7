"""The access portal end to end (docs/design/access-portal.md): from the token `aws sso login`
leaves in the cache to role credentials that Tessera's own SigV4 verifier and IAM evaluation
accept, with the real clients:

- botocore's SSOProvider (`boto3.Session(profile_name=...)` on an `sso-session` profile, the
  portal at AWS_ENDPOINT_URL_SSO) and the JavaScript SDK's `fromSSO`, each in a process of its
  own: the credentials call the admin plane, allowed where the permission set's inline policy
  allows and AccessDeniedException where it does not;
- AWS CLI v1's `aws sso list-accounts`, `list-account-roles`, `get-role-credentials`, `logout`;
- CreateTokenWithIAM signed with portal credentials, allowed once the application's actor policy
  names the reserved role (its path included);
- every modeled error by type and status, and the credentials refused after Logout and after
  the assignment is deleted (expiry is tested in process with a fake clock: app_test.cc).

Accounts are declared with `tessera account add`; permission sets, groups and assignments are
made with boto3's sso-admin and identitystore clients, as an administrator would.
"""
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions

from test.e2e import harness

START_URL = harness.PORTAL_START_URL
SESSION = "tessera-portal"
DEMO_ACCOUNT = "123456789012"  # --demo's own account, where the demo user holds ReadOnly
ACCOUNT_A = "210987654321"  # Reader, assigned to the demo user directly
ACCOUNT_B = "310987654321"  # Admin and Auditor, assigned to a group the demo user is in
JS_FROM_SSO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js", "portal_from_sso.mjs")
NO_RETRY = botocore.config.Config(retries={"max_attempts": 1})

READER_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["sso:ListInstances", "sso:DescribeInstance"],
    "Resource": "*"}]}

# What botocore's SSOProvider does for an `sso-session` profile, then one allowed and one denied
# sso-admin call with the credentials it obtained.
PY_PROVIDER = textwrap.dedent("""
    import json, os
    import boto3, botocore.config, botocore.exceptions
    session = boto3.Session(profile_name="tessera")
    creds = session.get_credentials().get_frozen_credentials()
    admin = session.client("sso-admin", endpoint_url=os.environ["TESSERA_URL"],
                           region_name="us-east-1",
                           config=botocore.config.Config(retries={"max_attempts": 1}))
    out = {"access_key": creds.access_key}
    out["instance"] = admin.list_instances()["Instances"][0]["InstanceArn"]
    try:
        admin.create_permission_set(InstanceArn=out["instance"], Name="Nope")
        out["denied"] = None
    except botocore.exceptions.ClientError as e:
        out["denied"] = e.response["Error"]["Code"]
        out["denied_message"] = e.response["Error"]["Message"]
    print(json.dumps(out))
""")


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


class Portal:
    """A server with two declared accounts, three permission sets and the demo user's
    assignments (direct and through a group)."""

    def __init__(self, extra_args=()):
        self.server = harness.Server(extra_args=extra_args)
        try:
            self.setup()
        except Exception:
            self.server.stop()
            raise

    def setup(self):
        s = self.server
        for account, name in ((ACCOUNT_A, "Production"), (ACCOUNT_B, "Sandbox")):
            r = s.tessera("account", "add", "--account-id", account, "--name", name,
                          "--email", f"aws+{account}@example.com")
            assert r.returncode == 0, r.stderr
        kw = dict(region_name="us-east-1", endpoint_url=s.url,
                  aws_access_key_id=harness.ROOT_KEY_ID,
                  aws_secret_access_key=harness.ROOT_SECRET, config=NO_RETRY)
        self.admin = boto3.client("sso-admin", **kw)
        self.ids = boto3.client("identitystore", **kw)
        instance = self.admin.list_instances()["Instances"][0]
        self.instance_arn = instance["InstanceArn"]
        self.store_id = instance["IdentityStoreId"]
        self.user_id = self.ids.get_user_id(
            IdentityStoreId=self.store_id,
            AlternateIdentifier={"UniqueAttribute": {"AttributePath": "userName",
                                                     "AttributeValue": "demo"}})["UserId"]
        self.group_id = self.ids.create_group(IdentityStoreId=self.store_id,
                                              DisplayName="portal-admins")["GroupId"]
        self.ids.create_group_membership(IdentityStoreId=self.store_id, GroupId=self.group_id,
                                         MemberId={"UserId": self.user_id})
        self.permission_sets = {}
        for name, duration, policy in (("Reader", "PT2H", READER_POLICY),
                                       ("Admin", "PT1H", None), ("Auditor", "PT1H", None)):
            arn = self.admin.create_permission_set(
                InstanceArn=self.instance_arn, Name=name,
                SessionDuration=duration)["PermissionSet"]["PermissionSetArn"]
            if policy:
                self.admin.put_inline_policy_to_permission_set(
                    InstanceArn=self.instance_arn, PermissionSetArn=arn,
                    InlinePolicy=json.dumps(policy))
            self.permission_sets[name] = arn
        self.assign(ACCOUNT_A, "Reader", "USER", self.user_id)
        self.assign(ACCOUNT_B, "Admin", "GROUP", self.group_id)
        self.assign(ACCOUNT_B, "Auditor", "GROUP", self.group_id)

    def assign(self, account, permission_set, principal_type, principal_id, delete=False):
        call = self.admin.delete_account_assignment if delete else \
            self.admin.create_account_assignment
        call(InstanceArn=self.instance_arn, TargetId=account, TargetType="AWS_ACCOUNT",
             PermissionSetArn=self.permission_sets[permission_set],
             PrincipalType=principal_type, PrincipalId=principal_id)

    def login(self):
        """What `aws sso login` leaves behind: a registration and its first tokens."""
        return harness.portal_login(self.server)

    def sso(self):
        return boto3.client("sso", region_name="us-east-1", endpoint_url=self.server.url,
                            config=NO_RETRY)

    def raw(self, method, path, token=None, headers=None):
        """One portal request as sent; (status, headers, parsed body)."""
        h = dict(headers or {})
        if token is not None:
            h["x-amz-sso_bearer_token"] = token
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(method, path, headers=h)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        return r.status, r.headers, json.loads(data) if data else None

    def admin_as(self, credentials):
        return boto3.client(
            "sso-admin", region_name="us-east-1", endpoint_url=self.server.url,
            aws_access_key_id=credentials["accessKeyId"],
            aws_secret_access_key=credentials["secretAccessKey"],
            aws_session_token=credentials["sessionToken"], config=NO_RETRY)

    def stop(self):
        self.server.stop()


class PortalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.portal = Portal()
        cls.server = cls.portal.server

    @classmethod
    def tearDownClass(cls):
        cls.portal.stop()

    def tearDown(self):
        self.assertEqual(self.server.internal_error_lines(), [])

    def assertClientError(self, code, status, fn, *args, **kw):
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.response["Error"]["Code"], code)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        return cm.exception

    def assertRaw(self, answer, status, error_type, message_part=""):
        got_status, headers, body = answer
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers["x-amzn-ErrorType"], error_type)
        self.assertEqual(list(body), ["message"])
        self.assertIn(message_part, body["message"])

    # --- the SDKs' credential providers ---

    def profile_home(self, registration, tokens):
        home = tempfile.mkdtemp(prefix="tessera-portal-home-")
        self.addCleanup(shutil.rmtree, home, ignore_errors=True)
        os.makedirs(os.path.join(home, ".aws", "sso", "cache"))
        config = os.path.join(home, ".aws", "config")
        with open(config, "w") as f:
            f.write(textwrap.dedent(f"""\
                [profile tessera]
                sso_session = {SESSION}
                sso_account_id = {ACCOUNT_A}
                sso_role_name = Reader

                [sso-session {SESSION}]
                sso_start_url = {START_URL}
                sso_region = us-east-1
                sso_registration_scopes = sso:account:access
            """))
        cache = os.path.join(home, ".aws", "sso", "cache",
                             hashlib.sha1(SESSION.encode()).hexdigest() + ".json")
        with open(cache, "w") as f:
            json.dump({
                "startUrl": START_URL, "region": "us-east-1",
                "accessToken": tokens["accessToken"],
                "expiresAt": iso(utc_now() + datetime.timedelta(seconds=3000)),
                "clientId": registration["clientId"],
                "clientSecret": registration["clientSecret"],
                "registrationExpiresAt": iso(datetime.datetime.fromtimestamp(
                    registration["clientSecretExpiresAt"], datetime.timezone.utc)),
                "refreshToken": tokens["refreshToken"],
            }, f)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"HOME": home, "AWS_CONFIG_FILE": config,
                    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, ".aws", "none"),
                    "AWS_ENDPOINT_URL_SSO": self.server.url,
                    "AWS_ENDPOINT_URL_SSO_OIDC": self.server.url, "AWS_PROFILE": "tessera",
                    "TESSERA_URL": self.server.url})
        return env

    def assert_provided(self, out):
        self.assertTrue(out["access_key"].startswith("ASIA"), out)
        self.assertEqual(out["instance"], self.portal.instance_arn)
        # The permission set's inline policy allows ListInstances and nothing else.
        self.assertEqual(out["denied"], "AccessDeniedException")
        self.assertIn(f"arn:aws:sts::{ACCOUNT_A}:assumed-role/AWSReservedSSO_Reader_",
                      out["denied_message"])
        self.assertIn("/demo is not authorized to perform: sso:CreatePermissionSet",
                      out["denied_message"])

    def test_botocore_sso_provider_from_an_sso_session_profile(self):
        env = self.profile_home(*self.portal.login())
        r = subprocess.run([sys.executable, "-c", PY_PROVIDER], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_provided(json.loads(r.stdout))

    def test_javascript_from_sso(self):
        env = self.profile_home(*self.portal.login())
        r = subprocess.run(["node", JS_FROM_SSO], capture_output=True, text=True, env=env,
                           timeout=60, cwd=os.path.dirname(JS_FROM_SSO))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertTrue(out["accessKeyId"].startswith("ASIA"), out)
        # fromSSO turns the portal's epoch milliseconds into the credentials' expiry: PT2H.
        expiration = datetime.datetime.fromisoformat(out["expiration"].replace("Z", "+00:00"))
        self.assertAlmostEqual((expiration - utc_now()).total_seconds(), 7200, delta=120)
        self.assertEqual(out["instanceArn"], self.portal.instance_arn)
        self.assertEqual(out["denied"], "AccessDeniedException")
        self.assertIn("AWSReservedSSO_Reader_", out["deniedMessage"])

    # --- the portal API with boto3 ---

    def test_accounts_and_roles_direct_and_through_a_group(self):
        _, tokens = self.portal.login()
        sso = self.portal.sso()
        token = tokens["accessToken"]
        accounts = sso.list_accounts(accessToken=token)["accountList"]
        self.assertEqual(accounts, [
            {"accountId": DEMO_ACCOUNT, "accountName": "Demo account",
             "emailAddress": accounts[0]["emailAddress"]},
            {"accountId": ACCOUNT_A, "accountName": "Production",
             "emailAddress": f"aws+{ACCOUNT_A}@example.com"},
            {"accountId": ACCOUNT_B, "accountName": "Sandbox",
             "emailAddress": f"aws+{ACCOUNT_B}@example.com"}])
        roles = sso.list_account_roles(accessToken=token, accountId=ACCOUNT_B)["roleList"]
        self.assertEqual(roles, [{"roleName": "Admin", "accountId": ACCOUNT_B},
                                 {"roleName": "Auditor", "accountId": ACCOUNT_B}])
        # botocore's paginator follows nextToken page by page.
        pages = list(sso.get_paginator("list_account_roles").paginate(
            accessToken=token, accountId=ACCOUNT_B, PaginationConfig={"PageSize": 1}))
        self.assertEqual([p["roleList"][0]["roleName"] for p in pages], ["Admin", "Auditor"])
        self.assertTrue(pages[0]["nextToken"])
        pages = list(sso.get_paginator("list_accounts").paginate(
            accessToken=token, PaginationConfig={"PageSize": 1}))
        self.assertEqual([p["accountList"][0]["accountId"] for p in pages],
                         [DEMO_ACCOUNT, ACCOUNT_A, ACCOUNT_B])

    def test_role_credentials_work_until_logout(self):
        registration, tokens = self.portal.login()
        sso = self.portal.sso()
        token = tokens["accessToken"]
        creds = sso.get_role_credentials(accessToken=token, roleName="Reader",
                                         accountId=ACCOUNT_A)["roleCredentials"]
        self.assertTrue(creds["accessKeyId"].startswith("ASIA"))
        # Epoch milliseconds, the permission set's PT2H.
        now_ms = utc_now().timestamp() * 1000
        self.assertAlmostEqual(creds["expiration"] - now_ms, 7200 * 1000, delta=120 * 1000)
        admin = self.portal.admin_as(creds)
        self.assertEqual(admin.list_instances()["Instances"][0]["InstanceArn"],
                         self.portal.instance_arn)
        # A session token that is not the one issued is refused.
        forged = dict(creds, sessionToken=creds["sessionToken"][:-4] + "AAAA")
        self.assertClientError("UnrecognizedClientException", 403,
                               self.portal.admin_as(forged).list_instances)
        # An Admin role without a policy: the admin plane allows nothing.
        admin_creds = sso.get_role_credentials(accessToken=token, roleName="Admin",
                                               accountId=ACCOUNT_B)["roleCredentials"]
        self.assertClientError("AccessDeniedException", 400,
                               self.portal.admin_as(admin_creds).list_instances)

        sso.logout(accessToken=token)
        # The token and every credential issued with it end.
        self.assertClientError("UnrecognizedClientException", 403, admin.list_instances)
        self.assertClientError("UnauthorizedException", 401, sso.list_accounts,
                               accessToken=token)
        self.assertClientError("UnauthorizedException", 401, sso.logout, accessToken=token)
        # The refresh token's family is revoked too: the CLI cannot refresh its way back.
        oidc = self.server.client()
        with self.assertRaises(oidc.exceptions.InvalidGrantException):
            oidc.create_token(clientId=registration["clientId"],
                              clientSecret=registration["clientSecret"],
                              grantType="refresh_token", refreshToken=tokens["refreshToken"])

    def test_deleting_the_assignment_revokes_its_credentials(self):
        _, tokens = self.portal.login()
        sso = self.portal.sso()
        token = tokens["accessToken"]
        # A third account's role, so the other tests' assignments stay.
        r = self.server.tessera("account", "add", "--account-id", "410987654321", "--name",
                                "Temp", "--email", "temp@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.portal.assign("410987654321", "Reader", "USER", self.portal.user_id)
        creds = sso.get_role_credentials(accessToken=token, roleName="Reader",
                                         accountId="410987654321")["roleCredentials"]
        admin = self.portal.admin_as(creds)
        admin.list_instances()
        self.portal.assign("410987654321", "Reader", "USER", self.portal.user_id, delete=True)
        self.assertClientError("UnrecognizedClientException", 403, admin.list_instances)
        self.assertClientError("ResourceNotFoundException", 404, sso.get_role_credentials,
                               accessToken=token, roleName="Reader", accountId="410987654321")
        self.assertEqual(sso.list_account_roles(accessToken=token,
                                                accountId="410987654321")["roleList"], [])

    def test_modeled_errors(self):
        _, tokens = self.portal.login()
        sso = self.portal.sso()
        token = tokens["accessToken"]
        self.assertClientError("UnauthorizedException", 401, sso.list_accounts,
                               accessToken="not-a-token")
        self.assertClientError("UnauthorizedException", 401, sso.get_role_credentials,
                               accessToken=token[:-3] + "abc", roleName="Reader",
                               accountId=ACCOUNT_A)
        self.assertClientError("ResourceNotFoundException", 404, sso.get_role_credentials,
                               accessToken=token, roleName="Admin", accountId=ACCOUNT_A)
        self.assertClientError("ResourceNotFoundException", 404, sso.get_role_credentials,
                               accessToken=token, roleName="Reader", accountId="999999999999")
        # What botocore's validation would stop, as a client without it sends it.
        p = self.portal
        self.assertRaw(p.raw("GET", "/federation/credentials?account_id=" + ACCOUNT_A, token),
                       400, "InvalidRequestException", "role_name")
        self.assertRaw(p.raw("GET", "/assignment/roles", token), 400, "InvalidRequestException",
                       "account_id")
        for bad in ("0", "101", "ten"):
            self.assertRaw(p.raw("GET", "/assignment/accounts?max_result=" + bad, token), 400,
                           "InvalidRequestException", "max_result")
        self.assertRaw(p.raw("GET", "/assignment/accounts?next_token=forged", token), 400,
                       "InvalidRequestException", "next_token")
        # A next_token of one listing does not continue another.
        page = sso.list_account_roles(accessToken=token, accountId=ACCOUNT_B, maxResults=1)
        self.assertRaw(p.raw("GET", "/assignment/roles?account_id=" + ACCOUNT_A + "&next_token=" +
                             urllib.parse.quote(page["nextToken"]), token),
                       400, "InvalidRequestException", "next_token")
        self.assertRaw(p.raw("GET", "/assignment/accounts"), 401, "UnauthorizedException",
                       "x-amz-sso_bearer_token")
        # Nothing was issued by the refused calls: only the good ones answer 200.
        self.assertEqual(p.raw("GET", "/assignment/accounts", token)[0], 200)

    def test_tokens_the_portal_does_not_take(self):
        # An IAM application's token (CreateTokenWithIAM) is for that application.
        verifier, challenge = harness.pkce_pair()
        code = harness.Browser(self.server).sign_in(challenge)["code"]
        status, _, body = self.server.token_request({
            "clientId": harness.DEMO_APP, "grantType": "authorization_code", "code": code,
            "redirectUri": harness.DEMO_REDIRECT, "codeVerifier": verifier})
        self.assertEqual(status, 200, body)
        self.assertClientError("UnauthorizedException", 401, self.portal.sso().list_accounts,
                               accessToken=body["accessToken"])

    # --- AWS CLI v1 ---

    def test_aws_cli_v1_sso_commands(self):
        _, tokens = self.portal.login()
        token = tokens["accessToken"]
        cli = self.server.cli
        r = cli("sso", "list-accounts", "--access-token", token)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([a["accountId"] for a in json.loads(r.stdout)["accountList"]],
                         [DEMO_ACCOUNT, ACCOUNT_A, ACCOUNT_B])
        r = cli("sso", "list-account-roles", "--access-token", token, "--account-id", ACCOUNT_B)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["roleName"] for x in json.loads(r.stdout)["roleList"]],
                         ["Admin", "Auditor"])
        r = cli("sso", "get-role-credentials", "--access-token", token, "--account-id", ACCOUNT_A,
                "--role-name", "Reader")
        self.assertEqual(r.returncode, 0, r.stderr)
        creds = json.loads(r.stdout)["roleCredentials"]
        self.assertTrue(creds["accessKeyId"].startswith("ASIA"))
        r = cli("sso", "get-role-credentials", "--access-token", token, "--account-id", ACCOUNT_A,
                "--role-name", "Nope")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("(ResourceNotFoundException)", r.stderr)
        r = cli("sso", "logout", "--access-token", token)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cli("sso", "list-accounts", "--access-token", token)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("(UnauthorizedException)", r.stderr)
        # The credentials obtained before the logout went with it.
        self.assertClientError("UnrecognizedClientException", 403,
                               self.portal.admin_as(creds).list_instances)

    # --- CreateTokenWithIAM with portal credentials ---

    def test_create_token_with_iam_as_the_reserved_role(self):
        _, tokens = self.portal.login()
        creds = self.portal.sso().get_role_credentials(
            accessToken=tokens["accessToken"], roleName="Reader",
            accountId=ACCOUNT_A)["roleCredentials"]
        admin = self.portal.admin
        redirect = "https://portal-actor.example/callback"
        app = admin.create_application(
            InstanceArn=self.portal.instance_arn, Name="portal-actor",
            ApplicationProviderArn="arn:aws:sso::aws:applicationProvider/custom")["ApplicationArn"]
        admin.put_application_grant(
            ApplicationArn=app, GrantType="authorization_code",
            Grant={"AuthorizationCode": {"RedirectUris": [redirect]}})
        admin.put_application_assignment_configuration(ApplicationArn=app,
                                                       AssignmentRequired=False)

        def allow(principal):
            admin.put_application_authentication_method(
                ApplicationArn=app, AuthenticationMethodType="IAM",
                AuthenticationMethod={"Iam": {"ActorPolicy": {
                    "Version": "2012-10-17", "Statement": [{
                        "Effect": "Allow", "Principal": {"AWS": principal},
                        "Action": "sso-oauth:CreateTokenWithIAM", "Resource": "*"}]}}})

        def create_token():
            verifier, challenge = harness.pkce_pair()
            code = harness.Browser(self.server).sign_in(
                challenge, client_id=app, redirect_uri=redirect)["code"]
            return self.server.token_request(
                {"clientId": app, "grantType": "authorization_code", "code": code,
                 "redirectUri": redirect, "codeVerifier": verifier},
                key_id=creds["accessKeyId"], secret=creds["secretAccessKey"],
                token=creds["sessionToken"])

        # An actor policy naming another role: denied, naming the session.
        allow(harness.OTHER_ROLE)
        status, headers, body = create_token()
        self.assertEqual(status, 400, body)
        self.assertEqual(headers["x-amzn-ErrorType"].split(":")[0], "AccessDeniedException")
        m = re.search(r"arn:aws:sts::(\d{12}):assumed-role/(AWSReservedSSO_Reader_[0-9a-f]{16})/"
                      r"demo", body["error_description"])
        self.assertIsNotNone(m, body)
        self.assertEqual(m.group(1), ACCOUNT_A)
        # The reserved role as AWS documents naming it in policies: with its path.
        allow(f"arn:aws:iam::{ACCOUNT_A}:role/aws-reserved/sso.amazonaws.com/{m.group(2)}")
        status, _, body = create_token()
        self.assertEqual(status, 200, body)
        self.assertTrue(body["accessToken"])


class PortalRateLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.portal = Portal(extra_args=["--portal-requests-per-minute", "3"])

    @classmethod
    def tearDownClass(cls):
        cls.portal.stop()

    def test_too_many_requests_per_sign_in(self):
        _, tokens = self.portal.login()
        _, other = self.portal.login()
        sso = self.portal.sso()
        for _ in range(3):
            sso.list_accounts(accessToken=tokens["accessToken"])
        with self.assertRaises(botocore.exceptions.ClientError) as cm:
            sso.list_accounts(accessToken=tokens["accessToken"])
        self.assertEqual(cm.exception.response["Error"]["Code"], "TooManyRequestsException")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 429)
        # Another sign-in has its own budget.
        self.assertEqual(len(sso.list_accounts(accessToken=other["accessToken"])["accountList"]),
                         3)


if __name__ == "__main__":
    unittest.main()
