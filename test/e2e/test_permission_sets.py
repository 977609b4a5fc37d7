"""sso-admin's account side (issue 19) through boto3 and AWS CLI v1: accounts declared with
`tessera account add`, permission sets with their policies, account assignments that provision
the role AWSReservedSSO_<name>_<hex>, whose credentials act exactly as far as the permission set
allows, and everything gone again when the assignment is deleted. Every validation, not-found and
conflict case is asserted by the SDK's exception class. Also identitystore's UpdateGroup and
membership lookups, and the demo instance's ARN passing the server's own validation."""
import json
import unittest

import boto3
import botocore.config
import botocore.exceptions

from test.e2e.harness import Server
from test.e2e.test_admin import admin_clients

ACCOUNT = "444455556666"
UNDECLARED = "999999999999"
READ_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["sso:List*", "sso:Describe*"], "Resource": "*"}]}
WRITE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sso:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "sso:DeletePermissionSet", "Resource": "*"}]}


def role_client(server, key):
    config = botocore.config.Config(retries={"max_attempts": 1})
    return boto3.client("sso-admin", region_name="us-east-1", endpoint_url=server.url,
                        aws_access_key_id=key["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=key["AWS_SECRET_ACCESS_KEY"], config=config)


class Journey(unittest.TestCase):
    """Account declared -> permission set with an inline policy -> assigned to a group -> the
    role's principal exists with that policy (used through an access key) -> deleted -> gone."""

    def setUp(self):
        self.server = Server(demo=False)
        self.addCleanup(self.server.stop)
        self.sso, self.ids = admin_clients(self.server)
        instance = self.sso.list_instances()["Instances"][0]
        self.instance_arn = instance["InstanceArn"]
        self.store_id = instance["IdentityStoreId"]

    def tessera(self, *args):
        r = self.server.tessera(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def roles(self, account=ACCOUNT):
        out = self.tessera("account", "roles", "--account-id", account)
        return [line.split("\t") for line in out.splitlines()]

    def test_journey_with_boto3(self):
        out = self.tessera("account", "add", "--account-id", ACCOUNT, "--name", "dev",
                           "--email", "aws-dev@example.com")
        self.assertIn(f"account {ACCOUNT} (dev) declared", out)
        self.assertIn(f"{ACCOUNT}\tdev\taws-dev@example.com", self.tessera("account", "list"))

        user = self.ids.create_user(IdentityStoreId=self.store_id, UserName="alice",
                                    DisplayName="Alice")["UserId"]
        group = self.ids.create_group(IdentityStoreId=self.store_id,
                                      DisplayName="developers")["GroupId"]
        self.ids.create_group_membership(IdentityStoreId=self.store_id, GroupId=group,
                                         MemberId={"UserId": user})

        ps = self.sso.create_permission_set(
            InstanceArn=self.instance_arn, Name="Developers", Description="dev access",
            SessionDuration="PT2H", Tags=[{"Key": "team", "Value": "dev"}])["PermissionSet"]
        arn = ps["PermissionSetArn"]
        self.assertEqual(ps["SessionDuration"], "PT2H")
        self.sso.put_inline_policy_to_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn,
            InlinePolicy=json.dumps(READ_POLICY))
        self.assertEqual(json.loads(self.sso.get_inline_policy_for_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn)["InlinePolicy"]), READ_POLICY)
        self.assertEqual(self.sso.list_tags_for_resource(
            InstanceArn=self.instance_arn, ResourceArn=arn)["Tags"],
            [{"Key": "team", "Value": "dev"}])

        status = self.sso.create_account_assignment(
            InstanceArn=self.instance_arn, TargetId=ACCOUNT, TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn, PrincipalType="GROUP",
            PrincipalId=group)["AccountAssignmentCreationStatus"]
        self.assertEqual(status["Status"], "SUCCEEDED")
        described = self.sso.describe_account_assignment_creation_status(
            InstanceArn=self.instance_arn,
            AccountAssignmentCreationRequestId=status["RequestId"])
        self.assertEqual(described["AccountAssignmentCreationStatus"]["Status"], "SUCCEEDED")
        self.assertEqual(described["AccountAssignmentCreationStatus"]["PrincipalId"], group)
        self.assertEqual(self.sso.list_account_assignments(
            InstanceArn=self.instance_arn, AccountId=ACCOUNT, PermissionSetArn=arn)
            ["AccountAssignments"],
            [{"AccountId": ACCOUNT, "PermissionSetArn": arn, "PrincipalType": "GROUP",
              "PrincipalId": group}])
        self.assertEqual(len(self.sso.list_account_assignments_for_principal(
            InstanceArn=self.instance_arn, PrincipalType="GROUP",
            PrincipalId=group)["AccountAssignments"]), 1)
        self.assertEqual(self.sso.list_accounts_for_provisioned_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn)["AccountIds"], [ACCOUNT])
        self.assertEqual(self.sso.list_permission_sets_provisioned_to_account(
            InstanceArn=self.instance_arn, AccountId=ACCOUNT)["PermissionSets"], [arn])

        # The role exists in the account, and a credential for it acts within the policy.
        [[role_arn, role_set]] = self.roles()
        self.assertEqual(role_set, arn)
        self.assertRegex(role_arn,
                         rf"^arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Developers_[0-9a-f]{{16}}$")
        key = self.server.new_access_key(role_arn)
        as_role = role_client(self.server, key)
        self.assertIn(arn, as_role.list_permission_sets(
            InstanceArn=self.instance_arn)["PermissionSets"])
        with self.assertRaises(as_role.exceptions.AccessDeniedException):
            as_role.create_permission_set(InstanceArn=self.instance_arn, Name="Mine")

        # A wider policy reaches the role when provisioned again, not before.
        self.sso.put_inline_policy_to_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn,
            InlinePolicy=json.dumps(WRITE_POLICY))
        self.assertEqual(self.sso.list_accounts_for_provisioned_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn,
            ProvisioningStatus="LATEST_PERMISSION_SET_NOT_PROVISIONED")["AccountIds"], [ACCOUNT])
        with self.assertRaises(as_role.exceptions.AccessDeniedException):
            as_role.create_permission_set(InstanceArn=self.instance_arn, Name="Mine")
        provisioned = self.sso.provision_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn,
            TargetType="ALL_PROVISIONED_ACCOUNTS")["PermissionSetProvisioningStatus"]
        self.assertEqual(provisioned["Status"], "SUCCEEDED")
        self.assertEqual(self.sso.describe_permission_set_provisioning_status(
            InstanceArn=self.instance_arn,
            ProvisionPermissionSetRequestId=provisioned["RequestId"])
            ["PermissionSetProvisioningStatus"]["RequestId"], provisioned["RequestId"])
        mine = as_role.create_permission_set(InstanceArn=self.instance_arn,
                                             Name="Mine")["PermissionSet"]["PermissionSetArn"]
        with self.assertRaises(as_role.exceptions.AccessDeniedException) as ctx:
            as_role.delete_permission_set(InstanceArn=self.instance_arn, PermissionSetArn=mine)
        self.assertIn("explicit deny", ctx.exception.response["Error"]["Message"])
        self.assertEqual(self.roles(), [[role_arn, arn]])  # the role kept its name

        # In use, the permission set and the account stay.
        with self.assertRaises(self.sso.exceptions.ConflictException):
            self.sso.delete_permission_set(InstanceArn=self.instance_arn, PermissionSetArn=arn)
        r = self.server.tessera("account", "remove", "--account-id", ACCOUNT)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("has account assignments", r.stderr)

        deletion = self.sso.delete_account_assignment(
            InstanceArn=self.instance_arn, TargetId=ACCOUNT, TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn, PrincipalType="GROUP",
            PrincipalId=group)["AccountAssignmentDeletionStatus"]
        self.assertEqual(deletion["Status"], "SUCCEEDED")
        self.assertEqual(self.sso.describe_account_assignment_deletion_status(
            InstanceArn=self.instance_arn, AccountAssignmentDeletionRequestId=deletion["RequestId"])
            ["AccountAssignmentDeletionStatus"]["Status"], "SUCCEEDED")
        # The role is gone, and its credential with it.
        self.assertEqual(self.roles(), [])
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            as_role.list_permission_sets(InstanceArn=self.instance_arn)
        self.assertIn(ctx.exception.response["Error"]["Code"],
                      ("AccessDeniedException", "UnrecognizedClientException"))
        self.sso.delete_permission_set(InstanceArn=self.instance_arn, PermissionSetArn=arn)
        with self.assertRaises(self.sso.exceptions.ResourceNotFoundException):
            self.sso.describe_permission_set(InstanceArn=self.instance_arn, PermissionSetArn=arn)
        self.assertIn(f"account {ACCOUNT} removed",
                      self.tessera("account", "remove", "--account-id", ACCOUNT))

    def test_errors_by_class(self):
        self.tessera("account", "add", "--account-id", ACCOUNT, "--name", "dev",
                     "--email", "aws-dev@example.com")
        sso = self.sso
        arn = sso.create_permission_set(InstanceArn=self.instance_arn,
                                        Name="Ops")["PermissionSet"]["PermissionSetArn"]
        missing = arn[:-16] + "0" * 16
        user = self.ids.create_user(IdentityStoreId=self.store_id, UserName="bob")["UserId"]

        def error(cls_name, fn, fragment, **kw):
            with self.assertRaises(getattr(sso.exceptions, cls_name)) as ctx:
                fn(InstanceArn=self.instance_arn, **kw)
            self.assertIn(fragment, ctx.exception.response["Error"]["Message"])

        error("ConflictException", sso.create_permission_set, "already exists", Name="Ops")
        error("ValidationException", sso.create_permission_set, "SessionDuration", Name="Long",
              SessionDuration="PT13H")
        error("ValidationException", sso.create_permission_set, "Name", Name="two words")
        error("ResourceNotFoundException", sso.describe_permission_set, missing,
              PermissionSetArn=missing)
        error("ValidationException", sso.put_inline_policy_to_permission_set,
              "not a policy Tessera can evaluate", PermissionSetArn=arn,
              InlinePolicy='{"Statement": {"Effect": "Allow"}}')
        error("ValidationException", sso.put_permissions_boundary_to_permission_set,
              "exactly one", PermissionSetArn=arn, PermissionsBoundary={})
        error("ResourceNotFoundException", sso.get_permissions_boundary_for_permission_set,
              "no permissions boundary", PermissionSetArn=arn)
        error("ResourceNotFoundException", sso.detach_managed_policy_from_permission_set,
              "not attached", PermissionSetArn=arn,
              ManagedPolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        sso.attach_managed_policy_to_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn,
            ManagedPolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        error("ConflictException", sso.attach_managed_policy_to_permission_set, "already attached",
              PermissionSetArn=arn, ManagedPolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        self.assertEqual(sso.list_managed_policies_in_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn)["AttachedManagedPolicies"],
            [{"Arn": "arn:aws:iam::aws:policy/ReadOnlyAccess", "Name": "ReadOnlyAccess"}])
        assignment = dict(TargetType="AWS_ACCOUNT", PermissionSetArn=arn, PrincipalType="USER",
                          PrincipalId=user)
        error("ResourceNotFoundException", sso.create_account_assignment,
              f"tessera account add --account-id {UNDECLARED}", TargetId=UNDECLARED,
              **assignment)
        error("ResourceNotFoundException", sso.delete_account_assignment, "is not assigned",
              TargetId=ACCOUNT, **assignment)
        error("ResourceNotFoundException", sso.create_account_assignment, "does not exist",
              TargetId=ACCOUNT, **{**assignment, "PermissionSetArn": missing})
        error("ResourceNotFoundException", sso.create_account_assignment, "Group",
              TargetId=ACCOUNT, **{**assignment, "PrincipalType": "GROUP"})
        error("ValidationException", sso.provision_permission_set, "TargetId is required",
              PermissionSetArn=arn, TargetType="AWS_ACCOUNT")
        error("ResourceNotFoundException", sso.describe_account_assignment_creation_status,
              "00000000-0000-4000-8000-000000000000",
              AccountAssignmentCreationRequestId="00000000-0000-4000-8000-000000000000")
        # The remaining operations, read back through botocore's output shapes.
        sso.update_permission_set(InstanceArn=self.instance_arn, PermissionSetArn=arn,
                                  Description="operations", SessionDuration="PT3H")
        ps = sso.describe_permission_set(InstanceArn=self.instance_arn,
                                         PermissionSetArn=arn)["PermissionSet"]
        self.assertEqual((ps["Description"], ps["SessionDuration"]), ("operations", "PT3H"))
        sso.put_inline_policy_to_permission_set(InstanceArn=self.instance_arn,
                                                PermissionSetArn=arn,
                                                InlinePolicy=json.dumps(READ_POLICY))
        sso.delete_inline_policy_from_permission_set(InstanceArn=self.instance_arn,
                                                     PermissionSetArn=arn)
        self.assertNotIn("InlinePolicy", sso.get_inline_policy_for_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn))
        sso.put_permissions_boundary_to_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn,
            PermissionsBoundary={"CustomerManagedPolicyReference": {"Name": "Mine",
                                                                    "Path": "/team/"}})
        self.assertEqual(sso.get_permissions_boundary_for_permission_set(
            InstanceArn=self.instance_arn, PermissionSetArn=arn)["PermissionsBoundary"],
            {"CustomerManagedPolicyReference": {"Name": "Mine", "Path": "/team/"}})
        sso.delete_permissions_boundary_from_permission_set(InstanceArn=self.instance_arn,
                                                            PermissionSetArn=arn)
        self.assertEqual(sso.list_permission_set_provisioning_status(
            InstanceArn=self.instance_arn)["PermissionSetsProvisioningStatus"], [])
        self.assertEqual(sso.list_account_assignment_deletion_status(
            InstanceArn=self.instance_arn,
            Filter={"Status": "SUCCEEDED"})["AccountAssignmentsDeletionStatus"], [])
        # Nothing was assigned or provisioned by the refused calls.
        self.assertEqual(sso.list_account_assignment_creation_status(
            InstanceArn=self.instance_arn)["AccountAssignmentsCreationStatus"], [])
        self.assertEqual(self.roles(), [])
        # The CLI's own rules.
        for args, fragment in ((["--account-id", "12", "--name", "x", "--email", "a@b.example"],
                                "--account-id"),
                               (["--account-id", ACCOUNT, "--name", "", "--email", "a@b.example"],
                                "--name"),
                               (["--account-id", ACCOUNT, "--name", "x", "--email", "nope"],
                                "--email")):
            r = self.server.tessera("account", "add", *args)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(fragment, r.stderr)


class JourneyWithTheAwsCli(unittest.TestCase):
    """The same through AWS CLI v1's `aws sso-admin` and `aws identitystore`."""

    def setUp(self):
        self.server = Server(demo=False)
        self.addCleanup(self.server.stop)

    def aws(self, *args):
        r = self.server.cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def test_cli_journey(self):
        r = self.server.tessera("account", "add", "--account-id", ACCOUNT, "--name", "cli",
                                "--email", "aws-cli@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        instance = self.aws("sso-admin", "list-instances")["Instances"][0]
        inst = instance["InstanceArn"]
        store = instance["IdentityStoreId"]
        user = self.aws("identitystore", "create-user", "--identity-store-id", store,
                        "--user-name", "carol", "--display-name", "Carol")["UserId"]
        group = self.aws("identitystore", "create-group", "--identity-store-id", store,
                         "--display-name", "cli-devs")["GroupId"]
        membership = self.aws("identitystore", "create-group-membership", "--identity-store-id",
                              store, "--group-id", group, "--member-id",
                              f"UserId={user}")["MembershipId"]
        # identitystore's remaining operations.
        self.aws("identitystore", "update-group", "--identity-store-id", store, "--group-id",
                 group, "--operations",
                 json.dumps([{"AttributePath": "displayName", "AttributeValue": "cli-developers"},
                             {"AttributePath": "description", "AttributeValue": "from the CLI"}]))
        g = self.aws("identitystore", "describe-group", "--identity-store-id", store,
                     "--group-id", group)
        self.assertEqual((g["DisplayName"], g["Description"]), ("cli-developers", "from the CLI"))
        self.assertEqual(self.aws("identitystore", "get-group-membership-id",
                                  "--identity-store-id", store, "--group-id", group,
                                  "--member-id", f"UserId={user}")["MembershipId"], membership)
        m = self.aws("identitystore", "describe-group-membership", "--identity-store-id", store,
                     "--membership-id", membership)
        self.assertEqual((m["GroupId"], m["MemberId"]["UserId"]), (group, user))
        listed = self.aws("identitystore", "list-group-memberships-for-member",
                          "--identity-store-id", store, "--member-id", f"UserId={user}")
        self.assertEqual([x["GroupId"] for x in listed["GroupMemberships"]], [group])

        ps = self.aws("sso-admin", "create-permission-set", "--instance-arn", inst,
                      "--name", "CliReaders", "--session-duration", "PT8H")["PermissionSet"]
        arn = ps["PermissionSetArn"]
        self.aws("sso-admin", "put-inline-policy-to-permission-set", "--instance-arn", inst,
                 "--permission-set-arn", arn, "--inline-policy", json.dumps(READ_POLICY))
        self.aws("sso-admin", "put-permissions-boundary-to-permission-set", "--instance-arn",
                 inst, "--permission-set-arn", arn, "--permissions-boundary",
                 "ManagedPolicyArn=arn:aws:iam::aws:policy/ReadOnlyAccess")
        status = self.aws("sso-admin", "create-account-assignment", "--instance-arn", inst,
                          "--target-id", ACCOUNT, "--target-type", "AWS_ACCOUNT",
                          "--permission-set-arn", arn, "--principal-type", "USER",
                          "--principal-id", user)["AccountAssignmentCreationStatus"]
        self.assertEqual(status["Status"], "SUCCEEDED")
        self.assertEqual(self.aws("sso-admin", "describe-account-assignment-creation-status",
                                  "--instance-arn", inst,
                                  "--account-assignment-creation-request-id",
                                  status["RequestId"])["AccountAssignmentCreationStatus"]
                         ["Status"], "SUCCEEDED")
        self.assertEqual(self.aws("sso-admin", "list-account-assignments", "--instance-arn", inst,
                                  "--account-id", ACCOUNT, "--permission-set-arn", arn)
                         ["AccountAssignments"][0]["PrincipalId"], user)
        r = self.server.tessera("account", "roles", "--account-id", ACCOUNT)
        self.assertEqual(r.returncode, 0, r.stderr)
        role_arn = r.stdout.split("\t")[0]
        key = self.server.new_access_key(role_arn)
        # Within the policy and boundary: reads; beyond: AccessDenied, by class.
        r = self.server.cli("sso-admin", "list-permission-sets", "--instance-arn", inst,
                            key_id=key["AWS_ACCESS_KEY_ID"], secret=key["AWS_SECRET_ACCESS_KEY"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(arn, json.loads(r.stdout)["PermissionSets"])
        r = self.server.cli("sso-admin", "create-permission-set", "--instance-arn", inst,
                            "--name", "Nope", key_id=key["AWS_ACCESS_KEY_ID"],
                            secret=key["AWS_SECRET_ACCESS_KEY"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("AccessDeniedException", r.stderr)

        r = self.server.cli("sso-admin", "delete-permission-set", "--instance-arn", inst,
                            "--permission-set-arn", arn)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ConflictException", r.stderr)
        r = self.server.cli("sso-admin", "create-account-assignment", "--instance-arn", inst,
                            "--target-id", UNDECLARED, "--target-type", "AWS_ACCOUNT",
                            "--permission-set-arn", arn, "--principal-type", "USER",
                            "--principal-id", user)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ResourceNotFoundException", r.stderr)
        self.assertIn("tessera account add", r.stderr)
        r = self.server.cli("sso-admin", "create-permission-set", "--instance-arn", inst,
                            "--name", "Bad", "--session-duration", "PT20M")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ValidationException", r.stderr)

        self.aws("sso-admin", "delete-account-assignment", "--instance-arn", inst,
                 "--target-id", ACCOUNT, "--target-type", "AWS_ACCOUNT",
                 "--permission-set-arn", arn, "--principal-type", "USER", "--principal-id", user)
        r = self.server.tessera("account", "roles", "--account-id", ACCOUNT)
        self.assertEqual(r.stdout, "")
        self.aws("sso-admin", "delete-permission-set", "--instance-arn", inst,
                 "--permission-set-arn", arn)
        self.assertEqual(self.aws("sso-admin", "list-permission-sets", "--instance-arn", inst)
                         ["PermissionSets"], [])


class DemoInstance(unittest.TestCase):
    """`--demo`'s instance id (the AWS documentation's, 12 characters) passes the server's own
    validation, and the demo offers one account with one role to the demo user."""

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def test_describe_instance_with_what_list_instances_returns(self):
        r = self.server.cli("sso-admin", "list-instances")
        self.assertEqual(r.returncode, 0, r.stderr)
        arn = json.loads(r.stdout)["Instances"][0]["InstanceArn"]
        self.assertEqual(arn, "arn:aws:sso:::instance/ssoins-111111111111")
        r = self.server.cli("sso-admin", "describe-instance", "--instance-arn", arn)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["InstanceArn"], arn)
        sso, ids = admin_clients(self.server)
        [ps] = sso.list_permission_sets(InstanceArn=arn)["PermissionSets"]
        self.assertIn("permissionSet/ssoins-111111111111/ps-", ps)
        self.assertEqual(sso.describe_permission_set(InstanceArn=arn, PermissionSetArn=ps)
                         ["PermissionSet"]["Name"], "ReadOnly")
        [assignment] = sso.list_account_assignments(InstanceArn=arn, AccountId="123456789012",
                                                    PermissionSetArn=ps)["AccountAssignments"]
        store = sso.list_instances()["Instances"][0]["IdentityStoreId"]
        demo = ids.get_user_id(IdentityStoreId=store, AlternateIdentifier={"UniqueAttribute": {
            "AttributePath": "userName", "AttributeValue": "demo"}})["UserId"]
        self.assertEqual((assignment["PrincipalType"], assignment["PrincipalId"]), ("USER", demo))
        # Another short instance id is still refused by the model's pattern.
        with self.assertRaises(sso.exceptions.ValidationException):
            sso.describe_instance(InstanceArn="arn:aws:sso:::instance/ssoins-222222222222")


if __name__ == "__main__":
    unittest.main()
