"""The audit trail end to end (docs/design/audit.md): CloudTrail-shaped events after each kind of
change made with the real clients (boto3's identitystore, sso-admin, sso-oidc and sso; the
scripted browser; the CLI), none after a refused change, sign-in failures without the password,
no secret anywhere in the trail or the --audit-log stream, and `tessera audit`'s filters.
"""
import json
import os
import tempfile
import unittest

import boto3
import botocore.config
import botocore.exceptions

from test.e2e import harness

NO_RETRY = botocore.config.Config(retries={"max_attempts": 1})
ROOT_ARN = "arn:aws:iam::111111111111:root"
DEMO_ACCOUNT = "123456789012"  # --demo's account, where the demo user holds ReadOnly
WRONG_PASSWORD = "wrong-password-that-must-not-be-logged-9b1f"


class AuditTrailTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.log_dir = tempfile.mkdtemp(prefix="tessera-audit-")
        cls.audit_log = os.path.join(cls.log_dir, "audit.jsonl")
        cls.server = harness.Server(extra_args=["--audit-log", cls.audit_log])
        kw = dict(region_name="us-east-1", endpoint_url=cls.server.url,
                  aws_access_key_id=harness.ROOT_KEY_ID,
                  aws_secret_access_key=harness.ROOT_SECRET, config=NO_RETRY)
        cls.ids = boto3.client("identitystore", **kw)
        cls.admin = boto3.client("sso-admin", **kw)
        cls.store_id = cls.admin.list_instances()["Instances"][0]["IdentityStoreId"]
        # Every secret this test sends or receives, searched for in the whole trail at the end.
        cls.secrets = {harness.DEMO_PASSWORD, WRONG_PASSWORD, harness.ROOT_SECRET}

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def trail(self, *args):
        r = self.server.tessera("audit", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def events(self, name):
        return self.trail("--event-name", name)

    def assert_api_call(self, event, source, name, request_id):
        self.assertEqual(event["eventSource"], source)
        self.assertEqual(event["eventName"], name)
        self.assertEqual(event["eventType"], "AwsApiCall")
        self.assertEqual(event["awsRegion"], "us-east-1")
        self.assertEqual(event["recipientAccountId"], "111111111111")
        self.assertEqual(event["sourceIPAddress"], "127.0.0.1")
        self.assertIn("Boto3", event["userAgent"])
        self.assertEqual(event["requestID"], request_id)
        self.assertRegex(event["eventID"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab]")
        self.assertRegex(event["eventTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertFalse(event["readOnly"])
        self.assertEqual(event["eventVersion"], "1.09")

    def test_admin_change_names_the_caller_and_the_request(self):
        created = self.ids.create_user(
            IdentityStoreId=self.store_id, UserName="audited-user", DisplayName="Audited User",
            Name={"GivenName": "Audited", "FamilyName": "User"},
            Emails=[{"Value": "audited@example.com", "Primary": True}])
        request_id = created["ResponseMetadata"]["RequestId"]
        [event] = [e for e in self.events("CreateUser") if e["requestID"] == request_id]
        self.assert_api_call(event, "identitystore.amazonaws.com", "CreateUser", request_id)
        self.assertEqual(event["userIdentity"]["type"], "Root")
        self.assertEqual(event["userIdentity"]["arn"], ROOT_ARN)
        self.assertEqual(event["userIdentity"]["accountId"], "111111111111")
        self.assertEqual(event["userIdentity"]["accessKeyId"], harness.ROOT_KEY_ID)
        self.assertEqual(event["requestParameters"], {"identityStoreId": self.store_id})
        self.assertEqual(event["responseElements"], {"userId": created["UserId"]})
        # Attributes are not identifiers: left out (allow-list).
        self.assertNotIn("audited@example.com", json.dumps(event))
        self.assertNotIn("Audited User", json.dumps(event))

        deleted = self.ids.delete_user(IdentityStoreId=self.store_id, UserId=created["UserId"])
        [event] = [e for e in self.events("DeleteUser")
                   if e["requestID"] == deleted["ResponseMetadata"]["RequestId"]]
        self.assertEqual(event["requestParameters"],
                         {"identityStoreId": self.store_id, "userId": created["UserId"]})

    def test_sso_admin_change_is_recorded(self):
        instance = self.admin.list_instances()["Instances"][0]["InstanceArn"]
        ps = self.admin.create_permission_set(InstanceArn=instance, Name="AuditedSet")
        arn = ps["PermissionSet"]["PermissionSetArn"]
        [event] = [e for e in self.events("CreatePermissionSet")
                   if e["requestID"] == ps["ResponseMetadata"]["RequestId"]]
        self.assert_api_call(event, "sso.amazonaws.com", "CreatePermissionSet",
                             ps["ResponseMetadata"]["RequestId"])
        self.assertEqual(event["requestParameters"], {"instanceArn": instance})
        self.assertEqual(event["responseElements"], {"permissionSetArn": arn})

    def test_no_event_after_a_refused_change(self):
        self.ids.create_user(IdentityStoreId=self.store_id, UserName="taken")
        # Access denied: a principal without an identity policy (made first: the CLI's own
        # events are changes).
        key = self.server.new_access_key("arn:aws:iam::111111111111:user/nobody")
        before = len(self.trail("--limit", "1000000"))
        # A conflict, a validation error, a missing resource.
        with self.assertRaises(self.ids.exceptions.ConflictException):
            self.ids.create_user(IdentityStoreId=self.store_id, UserName="taken")
        with self.assertRaises(botocore.exceptions.ClientError) as invalid:
            self.ids.create_user(IdentityStoreId=self.store_id, UserName="x" * 200)
        self.assertEqual(invalid.exception.response["Error"]["Code"], "ValidationException")
        with self.assertRaises(self.ids.exceptions.ResourceNotFoundException):
            self.ids.delete_user(IdentityStoreId=self.store_id,
                                 UserId="00000000-0000-4000-8000-000000000000")
        nobody = boto3.client("identitystore", region_name="us-east-1",
                              endpoint_url=self.server.url,
                              aws_access_key_id=key["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=key["AWS_SECRET_ACCESS_KEY"], config=NO_RETRY)
        self.secrets.add(key["AWS_SECRET_ACCESS_KEY"])
        with self.assertRaises(botocore.exceptions.ClientError) as denied:
            nobody.create_user(IdentityStoreId=self.store_id, UserName="sneaky")
        self.assertEqual(denied.exception.response["Error"]["Code"], "AccessDeniedException")
        self.assertEqual(len(self.trail("--limit", "1000000")), before)

    def test_sign_in_failure_success_and_token_family(self):
        browser = harness.Browser(self.server)
        verifier, challenge = harness.pkce_pair()
        self.secrets.add(verifier)
        status, _, _, form = browser.open_login(browser.authorize_url(challenge))
        self.assertEqual(status, 200)
        status, _, body = browser.submit_login(form, "demo", WRONG_PASSWORD)
        self.assertEqual(status, 401, body)
        failure = self.events("CredentialVerification")[-1]
        self.assertEqual(failure["eventSource"], "signin.amazonaws.com")
        self.assertEqual(failure["eventType"], "AwsServiceEvent")
        self.assertEqual(failure["errorCode"], "InvalidCredentials")
        self.assertEqual(failure["userIdentity"]["type"], "IdentityCenterUser")
        self.assertEqual(failure["userIdentity"]["userName"], "demo")
        self.assertEqual(failure["serviceEventDetails"], {"CredentialVerification": "Failure"})
        self.assertEqual(failure["additionalEventData"], {"CredentialType": "PASSWORD"})

        redirect = browser.sign_in(challenge)
        self.secrets.add(redirect["code"])
        success = self.events("UserAuthentication")[-1]
        user_id = success["userIdentity"]["onBehalfOf"]["userId"]
        self.assertEqual(success["serviceEventDetails"], {"UserAuthentication": "Success"})
        self.assertEqual(success["userIdentity"]["onBehalfOf"]["identityStoreArn"],
                         "arn:aws:identitystore::111111111111:identitystore/" + self.store_id)

        client = self.server.client()
        tokens = client.create_token_with_iam(
            clientId=harness.DEMO_APP, grantType="authorization_code", code=redirect["code"],
            redirectUri=harness.DEMO_REDIRECT, codeVerifier=verifier)
        self.secrets.update({tokens["accessToken"], tokens["refreshToken"], tokens["idToken"]})
        request_id = tokens["ResponseMetadata"]["RequestId"]
        [issued] = [e for e in self.events("CreateTokenWithIAM") if e["requestID"] == request_id]
        self.assert_api_call(issued, "sso-oauth.amazonaws.com", "CreateTokenWithIAM", request_id)
        self.assertEqual(issued["userIdentity"]["arn"], ROOT_ARN)
        self.assertEqual(issued["requestParameters"],
                         {"clientId": harness.DEMO_APP, "grantType": "authorization_code"})
        self.assertEqual(issued["additionalEventData"]["userId"], user_id)
        family = issued["additionalEventData"]["tokenFamilyId"]

        # A refresh rotates within the family: not a change the trail records.
        count = len(self.events("CreateTokenWithIAM"))
        second = client.create_token_with_iam(clientId=harness.DEMO_APP,
                                              grantType="refresh_token",
                                              refreshToken=tokens["refreshToken"])
        self.secrets.update({second["accessToken"], second["refreshToken"]})
        self.assertEqual(len(self.events("CreateTokenWithIAM")), count)
        # Reuse of the rotated token revokes the family: recorded with the request that did it.
        with self.assertRaises(client.exceptions.InvalidGrantException) as reuse:
            client.create_token_with_iam(clientId=harness.DEMO_APP, grantType="refresh_token",
                                         refreshToken=tokens["refreshToken"])
        [revoked] = [e for e in self.events("RevokeTokenFamily")
                     if e["additionalEventData"]["tokenFamilyId"] == family]
        self.assertEqual(revoked["additionalEventData"]["reason"], "refresh token reuse")
        self.assertEqual(revoked["requestID"],
                         reuse.exception.response["ResponseMetadata"]["RequestId"])
        self.assertEqual(revoked["userIdentity"]["accessKeyId"], harness.ROOT_KEY_ID)

        # `tessera audit --principal` finds the user's events by name or id.
        by_name = self.trail("--principal", "demo")
        self.assertEqual(by_name, self.trail("--principal", user_id))
        self.assertIn("UserAuthentication", [e["eventName"] for e in by_name])

    def assert_portal_user_event(self, event, name, request_id, user_id):
        self.assert_api_call(event, "portal.sso.amazonaws.com", name, request_id)
        # The signed-in user, as CloudTrail names an Identity Center user; no IAM key of theirs.
        self.assertEqual(event["userIdentity"], {
            "type": "IdentityCenterUser", "principalId": user_id, "accountId": "111111111111",
            "onBehalfOf": {"userId": user_id, "identityStoreArn":
                           "arn:aws:identitystore::111111111111:identitystore/" + self.store_id}})

    def test_portal_role_credentials_and_logout(self):
        registration, tokens = harness.portal_login(self.server, client_name="audited-portal")
        self.secrets.update({registration["clientSecret"], tokens["accessToken"],
                             tokens["refreshToken"]})
        user_id = self.ids.get_user_id(
            IdentityStoreId=self.store_id,
            AlternateIdentifier={"UniqueAttribute": {"AttributePath": "userName",
                                                     "AttributeValue": "demo"}})["UserId"]
        sso = boto3.client("sso", region_name="us-east-1", endpoint_url=self.server.url,
                           config=NO_RETRY)
        # A role the user does not hold: refused, and nothing recorded.
        before = len(self.events("GetRoleCredentials"))
        with self.assertRaises(sso.exceptions.ResourceNotFoundException):
            sso.get_role_credentials(accessToken=tokens["accessToken"], roleName="Admin",
                                     accountId=DEMO_ACCOUNT)
        self.assertEqual(len(self.events("GetRoleCredentials")), before)

        answer = sso.get_role_credentials(accessToken=tokens["accessToken"],
                                          roleName="ReadOnly", accountId=DEMO_ACCOUNT)
        creds = answer["roleCredentials"]
        self.secrets.update({creds["secretAccessKey"], creds["sessionToken"]})
        request_id = answer["ResponseMetadata"]["RequestId"]
        [issued] = [e for e in self.events("GetRoleCredentials") if e["requestID"] == request_id]
        self.assert_portal_user_event(issued, "GetRoleCredentials", request_id, user_id)
        permission_set = issued["requestParameters"]["permissionSetArn"]
        self.assertRegex(permission_set,
                         r"^arn:aws:sso:::permissionSet/ssoins-111111111111/ps-[0-9a-f]{16}$")
        self.assertEqual(issued["requestParameters"],
                         {"accountId": DEMO_ACCOUNT, "roleName": "ReadOnly",
                          "permissionSetArn": permission_set})
        self.assertEqual(issued["responseElements"]["accessKeyId"], creds["accessKeyId"])
        self.assertRegex(issued["responseElements"]["roleArn"],
                         rf"^arn:aws:sts::{DEMO_ACCOUNT}:assumed-role/AWSReservedSSO_ReadOnly_"
                         r"[0-9a-f]+/demo$")
        self.assertRegex(issued["responseElements"]["expiration"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(sorted(issued["responseElements"]),
                         ["accessKeyId", "expiration", "roleArn"])
        text = json.dumps(issued)
        for secret in (creds["secretAccessKey"], creds["sessionToken"], tokens["accessToken"]):
            self.assertNotIn(secret, text)

        logout = sso.logout(accessToken=tokens["accessToken"])
        request_id = logout["ResponseMetadata"]["RequestId"]
        [ended] = [e for e in self.events("Logout")
                   if e["eventSource"] == "portal.sso.amazonaws.com"
                   and e["requestID"] == request_id]
        self.assert_portal_user_event(ended, "Logout", request_id, user_id)
        self.assertIsNone(ended["requestParameters"])
        self.assertIsNone(ended["responseElements"])
        self.assertRegex(ended["additionalEventData"]["tokenFamilyId"], r"^\S+$")
        self.assertNotIn(tokens["accessToken"], json.dumps(ended))
        # Signed out already: refused, and no second event.
        count = len(self.events("Logout"))
        with self.assertRaises(sso.exceptions.UnauthorizedException):
            sso.logout(accessToken=tokens["accessToken"])
        self.assertEqual(len(self.events("Logout")), count)

    def test_cli_changes_are_the_operators(self):
        r = self.server.tessera("create-principal", "--arn",
                                "arn:aws:iam::111111111111:user/audited-cli")
        self.assertEqual(r.returncode, 0, r.stderr)
        event = self.events("CreatePrincipal")[-1]
        self.assertEqual(event["eventSource"], "tessera.cli")
        self.assertEqual(event["userIdentity"]["type"], "LocalOperator")
        self.assertTrue(event["userIdentity"]["userName"])
        self.assertEqual(event["requestParameters"],
                         {"principalArn": "arn:aws:iam::111111111111:user/audited-cli"})
        r = self.server.tessera("set-password", "--user-name", "demo",
                                stdin="a brand new password 12345\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.secrets.add("a brand new password 12345")
        self.assertTrue(self.events("SetPassword"))
        # Put the demo password back for the other cases.
        r = self.server.tessera("set-password", "--user-name", "demo",
                                stdin=harness.DEMO_PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_demo_seeding_is_the_operators(self):
        # The server was started with --demo: its writes are recorded as the operator's.
        seeded = [e for e in self.trail("--limit", "1000000")
                  if e["eventSource"] == "tessera.bootstrap"]
        names = [e["eventName"] for e in seeded]
        for name in ("CreateInstance", "CreateUser", "CreateApplication", "AddAccount",
                     "CreatePermissionSet", "CreateAccountAssignment"):
            self.assertIn(name, names)
        for event in seeded:
            self.assertEqual(event["userIdentity"]["type"], "LocalOperator")
            self.assertTrue(event["userIdentity"]["userName"])
            self.assertEqual(event["additionalEventData"], {"bootstrap": "--demo"})
            self.assertEqual(event["sourceIPAddress"], "localhost")
            self.assertTrue(event["userAgent"].startswith("tessera-serve/"))
            self.assertEqual(event["recipientAccountId"], "111111111111")
        [user] = [e for e in seeded if e["eventName"] == "CreateUser"]
        self.assertEqual(user["requestParameters"], {"identityStoreId": self.store_id})
        self.assertNotIn(harness.DEMO_PASSWORD, json.dumps(seeded))

    def test_audit_filters_and_errors(self):
        self.ids.create_group(IdentityStoreId=self.store_id, DisplayName="filter-group")
        everything = self.trail("--limit", "1000000")
        self.assertTrue(everything)
        times = [e["eventTime"] for e in everything]
        self.assertEqual(times, sorted(times))  # oldest first
        self.assertEqual(self.trail("--limit", "1"), everything[-1:])
        self.assertEqual(self.trail("--since", "2999-01-01"), [])
        self.assertEqual(self.trail("--until", "2000-01-01T00:00:00Z"), [])
        self.assertEqual(len(self.trail("--since", everything[0]["eventTime"],
                                        "--limit", "1000000")), len(everything))
        groups = self.events("CreateGroup")
        self.assertTrue(groups)
        self.assertTrue(all(e["eventName"] == "CreateGroup" for e in groups))
        self.assertTrue(all(e["userIdentity"].get("arn") == ROOT_ARN
                            for e in self.trail("--principal", ROOT_ARN)))
        r = self.server.tessera("audit", "--since", "yesterday")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--since takes an ISO 8601 time", r.stderr)
        r = self.server.tessera("audit", "--limit", "0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--limit takes a whole number from 1", r.stderr)

    def test_zz_no_secret_in_the_trail_or_the_stream(self):
        # Runs last (unittest orders by name): every path above has sent its secrets.
        trail = self.server.tessera("audit", "--limit", "1000000").stdout
        with open(self.audit_log) as f:
            stream = f.read()
        self.assertTrue(trail)
        # The stream holds the server's events, its start-up's bootstrap included (the CLI,
        # another process, has no stream), one a line.
        served = [json.loads(l) for l in trail.splitlines()]
        self.assertEqual(sorted(json.loads(l)["eventID"] for l in stream.splitlines()),
                         sorted(e["eventID"] for e in served if e["eventSource"] != "tessera.cli"))
        for secret in self.secrets:
            self.assertNotIn(secret, trail)
            self.assertNotIn(secret, stream)
        for marker in ("tsrt_", "tsac_", "password", "secret"):
            self.assertNotIn(marker, trail)


if __name__ == "__main__":
    unittest.main()
