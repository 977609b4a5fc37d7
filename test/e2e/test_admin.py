"""The admin plane (issue 3): boto3 and the AWS CLI configure a Tessera started from nothing
through sso-admin and identitystore, then users sign in and refresh against what they set up.
Every validation, not-found, conflict, idempotency, pagination and authorization case is
asserted by the SDK's exception class (botocore's client-side validation is turned off where it
would stop the request before the server sees it)."""
import http.client
import json
import os
import unittest

import boto3
import botocore
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

from test.e2e.harness import (ROOT_KEY_ID, ROOT_SECRET, Browser, Server, pkce_pair)
from test.e2e.idp_support import CLIENT_ID, Idp, new_key

CUSTOM = "arn:aws:sso::aws:applicationProvider/custom"
REDIRECT = "https://app.example/callback"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "third_party",
                      "aws-models")
PASSWORD = "alice's long password"


def admin_clients(server, key_id=ROOT_KEY_ID, secret=ROOT_SECRET, validate=True):
    config = botocore.config.Config(retries={"max_attempts": 1},
                                    parameter_validation=validate)
    kw = dict(region_name="us-east-1", endpoint_url=server.url, aws_access_key_id=key_id,
              aws_secret_access_key=secret, config=config)
    return boto3.client("sso-admin", **kw), boto3.client("identitystore", **kw)


def actor_policy(role_arn):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": role_arn},
        "Action": "sso-oauth:CreateTokenWithIAM", "Resource": "*"}]}


class FromNothingWithBoto3(unittest.TestCase):
    """A script written for AWS sets up a fresh Tessera, then the sign-in and refresh flows run."""

    def setUp(self):
        self.server = Server(demo=False)
        self.addCleanup(self.server.stop)
        self.sso, self.ids = admin_clients(self.server)

    def configure(self):
        instance = self.sso.list_instances()["Instances"][0]
        self.instance_arn = instance["InstanceArn"]
        self.store_id = instance["IdentityStoreId"]
        self.account = instance["OwnerAccountId"]
        self.role = f"arn:aws:iam::{self.account}:role/webapp"

        user = self.ids.create_user(
            IdentityStoreId=self.store_id, UserName="alice", DisplayName="Alice Doe",
            Name={"GivenName": "Alice", "FamilyName": "Doe"},
            Emails=[{"Value": "alice@example.com", "Type": "work", "Primary": True}])
        self.user_id = user["UserId"]
        group = self.ids.create_group(IdentityStoreId=self.store_id, DisplayName="staff")
        self.group_id = group["GroupId"]
        self.ids.create_group_membership(IdentityStoreId=self.store_id, GroupId=self.group_id,
                                         MemberId={"UserId": self.user_id})

        app = self.sso.create_application(InstanceArn=self.instance_arn,
                                          ApplicationProviderArn=CUSTOM, Name="Expenses",
                                          ClientToken="create-expenses-1")
        self.app = app["ApplicationArn"]
        self.sso.put_application_grant(
            ApplicationArn=self.app, GrantType="authorization_code",
            Grant={"AuthorizationCode": {"RedirectUris": [REDIRECT]}})
        self.sso.put_application_grant(ApplicationArn=self.app, GrantType="refresh_token",
                                       Grant={"RefreshToken": {}})
        self.sso.put_application_authentication_method(
            ApplicationArn=self.app, AuthenticationMethodType="IAM",
            AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(self.role)}})
        self.sso.put_application_access_scope(ApplicationArn=self.app, Scope="expenses:read")
        self.sso.put_application_assignment_configuration(ApplicationArn=self.app,
                                                          AssignmentRequired=True)
        # Assigned through the group, not directly.
        self.sso.create_application_assignment(ApplicationArn=self.app,
                                               PrincipalId=self.group_id, PrincipalType="GROUP")
        tti = self.sso.create_trusted_token_issuer(
            InstanceArn=self.instance_arn, Name="okta", TrustedTokenIssuerType="OIDC_JWT",
            TrustedTokenIssuerConfiguration={"OidcJwtConfiguration": {
                "IssuerUrl": "https://example.okta.com", "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}})
        self.tti = tti["TrustedTokenIssuerArn"]
        self.sso.tag_resource(InstanceArn=self.instance_arn, ResourceArn=self.app,
                              Tags=[{"Key": "team", "Value": "finance"}])
        # What AWS has no API for: the password (CLI) and the role's access key.
        r = self.server.tessera("set-password", "--user-name", "alice", stdin=PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.role_key = self.server.new_access_key(self.role)

    def sign_in(self):
        verifier, challenge = pkce_pair()
        redirect = Browser(self.server).sign_in(challenge, username="alice", password=PASSWORD,
                                                client_id=self.app, redirect_uri=REDIRECT)
        self.assertIn("code", redirect, redirect)
        return self.server.client(self.role_key["AWS_ACCESS_KEY_ID"],
                                  self.role_key["AWS_SECRET_ACCESS_KEY"]), redirect, verifier

    def test_configure_then_sign_in_and_refresh(self):
        self.configure()
        # Read back what was configured.
        d = self.sso.describe_application(ApplicationArn=self.app)
        self.assertEqual(d["Name"], "Expenses")
        self.assertEqual(d["ApplicationAccount"], self.account)
        self.assertEqual(self.sso.get_application_grant(
            ApplicationArn=self.app, GrantType="authorization_code")["Grant"],
            {"AuthorizationCode": {"RedirectUris": [REDIRECT]}})
        self.assertEqual(
            self.sso.get_application_authentication_method(
                ApplicationArn=self.app, AuthenticationMethodType="IAM")
            ["AuthenticationMethod"]["Iam"]["ActorPolicy"], actor_policy(self.role))
        self.assertEqual([s["Scope"] for s in self.sso.list_application_access_scopes(
            ApplicationArn=self.app)["Scopes"]], ["expenses:read"])
        self.assertEqual(self.sso.list_tags_for_resource(ResourceArn=self.app)["Tags"],
                         [{"Key": "team", "Value": "finance"}])
        self.assertEqual(self.sso.describe_trusted_token_issuer(
            TrustedTokenIssuerArn=self.tti)["Name"], "okta")
        self.assertEqual(self.ids.get_user_id(
            IdentityStoreId=self.store_id, AlternateIdentifier={"UniqueAttribute": {
                "AttributePath": "emails.value", "AttributeValue": "alice@example.com"}})
            ["UserId"], self.user_id)

        oidc, redirect, verifier = self.sign_in()
        tokens = oidc.create_token_with_iam(
            clientId=self.app, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT, codeVerifier=verifier)
        self.assertIn("expenses:read", tokens["scope"])
        refreshed = oidc.create_token_with_iam(clientId=self.app, grantType="refresh_token",
                                               refreshToken=tokens["refreshToken"])
        self.assertIn("accessToken", refreshed)

        # Changes take effect on the next token request: removing the group membership ends
        # the user's access through the group (a new sign-in is refused).
        memberships = self.ids.list_group_memberships(IdentityStoreId=self.store_id,
                                                      GroupId=self.group_id)
        self.ids.delete_group_membership(
            IdentityStoreId=self.store_id,
            MembershipId=memberships["GroupMemberships"][0]["MembershipId"])
        _, challenge2 = pkce_pair()
        browser = Browser(self.server)
        status, headers, body, form = browser.open_login(
            browser.authorize_url(challenge2, client_id=self.app, redirect_uri=REDIRECT))
        status, headers, body = browser.submit_login(form, "alice", PASSWORD)
        self.assertIn("error=access_denied", headers.get("Location", ""))

        # Deleting the user revokes their tokens.
        self.ids.delete_user(IdentityStoreId=self.store_id, UserId=self.user_id)
        with self.assertRaises(oidc.exceptions.InvalidGrantException):
            oidc.create_token_with_iam(clientId=self.app, grantType="refresh_token",
                                       refreshToken=refreshed["refreshToken"])

    def test_deleting_the_application_revokes_its_tokens(self):
        self.configure()
        oidc, redirect, verifier = self.sign_in()
        tokens = oidc.create_token_with_iam(
            clientId=self.app, grantType="authorization_code", code=redirect["code"],
            redirectUri=REDIRECT, codeVerifier=verifier)
        # Disabling takes effect on the next token request, and so does enabling again.
        self.sso.update_application(ApplicationArn=self.app, Status="DISABLED")
        with self.assertRaises(oidc.exceptions.InvalidClientException):
            oidc.create_token_with_iam(clientId=self.app, grantType="refresh_token",
                                       refreshToken=tokens["refreshToken"])
        self.sso.update_application(ApplicationArn=self.app, Status="ENABLED")
        tokens = oidc.create_token_with_iam(clientId=self.app, grantType="refresh_token",
                                            refreshToken=tokens["refreshToken"])
        self.sso.delete_application(ApplicationArn=self.app)
        with self.assertRaises(oidc.exceptions.InvalidClientException):
            oidc.create_token_with_iam(clientId=self.app, grantType="refresh_token",
                                       refreshToken=tokens["refreshToken"])
        with self.assertRaises(self.sso.exceptions.ResourceNotFoundException):
            self.sso.describe_application(ApplicationArn=self.app)


class ErrorsThroughBoto3(unittest.TestCase):
    """Every error class the admin plane raises, through the real SDK."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(demo=False)
        cls.sso, cls.ids = admin_clients(cls.server)
        cls.raw_sso, cls.raw_ids = admin_clients(cls.server, validate=False)
        instance = cls.sso.list_instances()["Instances"][0]
        cls.instance_arn = instance["InstanceArn"]
        cls.store_id = instance["IdentityStoreId"]
        cls.account = instance["OwnerAccountId"]
        cls.app = cls.sso.create_application(InstanceArn=cls.instance_arn,
                                             ApplicationProviderArn=CUSTOM,
                                             Name="Errors")["ApplicationArn"]
        cls.missing_app = cls.app[:-16] + "0" * 16

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def assertError(self, client, cls_name, fn, fragment=None, **kw):
        with self.assertRaises(getattr(client.exceptions, cls_name)) as ctx:
            fn(**kw)
        if fragment is not None:
            self.assertIn(fragment, ctx.exception.response["Error"]["Message"])
        return ctx.exception

    def raw_admin(self, target, body):
        """A signed admin request with a body no SDK sends; (status, headers, parsed body)."""
        service = "identitystore" if target.startswith("AWSIdentityStore.") else "sso"
        data = json.dumps(body).encode()
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=self.server.url + "/", data=data,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
        credentials = botocore.credentials.Credentials(ROOT_KEY_ID, ROOT_SECRET)
        botocore.auth.SigV4Auth(credentials, service, "us-east-1").add_auth(request)
        headers = dict(request.prepare().headers.items())
        headers.setdefault("Host", f"127.0.0.1:{self.server.port}")
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("POST", "/", body=data, headers=headers)
            r = conn.getresponse()
            return r.status, r.headers, json.loads(r.read())
        finally:
            conn.close()

    def test_null_in_a_list_is_a_validation_exception(self):
        """Issue 23's fuzzer finding: a JSON null in a list answered 500 (the handler threw).
        SDKs validate client-side, so the bodies are sent raw."""
        user = self.ids.create_user(IdentityStoreId=self.store_id, UserName="nulls",
                                    DisplayName="Nulls")["UserId"]
        store = {"IdentityStoreId": self.store_id}
        cases = [
            ("AWSIdentityStore.ListUsers", {**store, "Filters": [None]}, "Filters.1"),
            ("AWSIdentityStore.ListGroups", {**store, "Filters": [None]}, "Filters.1"),
            ("AWSIdentityStore.IsMemberInGroups",
             {**store, "MemberId": {"UserId": user}, "GroupIds": [None]}, "GroupIds.1"),
            ("AWSIdentityStore.UpdateUser", {**store, "UserId": user, "Operations": [None]},
             "Operations.1"),
            ("SWBExternalService.PutApplicationGrant",
             {"ApplicationArn": self.app, "GrantType": "authorization_code",
              "Grant": {"AuthorizationCode": {"RedirectUris": [None]}}},
             "Grant.AuthorizationCode.RedirectUris.1"),
        ]
        for target, body, element in cases:
            with self.subTest(target=target):
                status, headers, parsed = self.raw_admin(target, body)
                self.assertEqual(status, 400, parsed)
                self.assertEqual(headers["x-amzn-ErrorType"], "ValidationException")
                self.assertEqual(parsed["__type"], "ValidationException")
                self.assertIn(f"Value null at '{element}' failed to satisfy constraint: "
                              "Member must not be null", parsed["Message"])
        self.assertEqual(self.server.internal_error_lines(), [])

    # --- validation (the model's constraints, reaching the server) ---

    def test_validation_required_member(self):
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.create_application,
                         "'ApplicationProviderArn'", InstanceArn=self.instance_arn, Name="x")

    def test_validation_length(self):
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.update_application,
                         "'Name' failed to satisfy constraint: Member must have length less "
                         "than or equal to 100", ApplicationArn=self.app, Name="n" * 101)
        self.assertError(self.raw_ids, "ValidationException", self.raw_ids.create_user,
                         "'UserName'", IdentityStoreId=self.store_id, UserName="")

    def test_validation_pattern(self):
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.describe_application,
                         "regular expression pattern", ApplicationArn="arn:aws:sso::1:x")
        self.assertError(self.raw_sso, "ValidationException",
                         self.raw_sso.put_application_access_scope, "'Scope'",
                         ApplicationArn=self.app, Scope="not a scope")

    def test_validation_enum(self):
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.update_application,
                         "enum value set", ApplicationArn=self.app, Status="PAUSED")

    def test_validation_union_exactly_one_member(self):
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.put_application_grant,
                         "exactly one of", ApplicationArn=self.app, GrantType="refresh_token",
                         Grant={"RefreshToken": {}, "TokenExchange": {}})
        self.assertError(self.raw_ids, "ValidationException", self.raw_ids.get_user_id,
                         "exactly one of", IdentityStoreId=self.store_id,
                         AlternateIdentifier={})

    def test_validation_grant_member_must_match_type(self):
        self.assertError(self.sso, "ValidationException", self.sso.put_application_grant,
                         "AuthorizationCode", ApplicationArn=self.app,
                         GrantType="authorization_code", Grant={"RefreshToken": {}})

    def test_validation_redirect_uri_list_limits(self):
        uris = [f"https://app.example/{i}" for i in range(11)]
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.put_application_grant,
                         "'Grant.AuthorizationCode.RedirectUris'", ApplicationArn=self.app,
                         GrantType="authorization_code",
                         Grant={"AuthorizationCode": {"RedirectUris": uris}})
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.put_application_grant,
                         "greater than or equal to 1", ApplicationArn=self.app,
                         GrantType="authorization_code",
                         Grant={"AuthorizationCode": {"RedirectUris": []}})

    def test_oversized_body_is_a_validation_exception(self):
        """A 2 MB actor policy: refused by the transport's size limit, in sso-admin's shape."""
        big = {"Effect": "Allow", "Principal": {"AWS": "x" * (2 * 1024 * 1024)},
               "Action": "sso-oauth:CreateTokenWithIAM", "Resource": "*"}
        e = self.assertError(self.sso, "ValidationException",
                             self.sso.put_application_authentication_method,
                             ApplicationArn=self.app, AuthenticationMethodType="IAM",
                             AuthenticationMethod={"Iam": {"ActorPolicy": big}})
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 413)
        self.assertEqual(e.response["Error"]["Message"],
                         "request body too large: at most 262144 bytes")
        # Nothing changed.
        self.assertError(self.sso, "ResourceNotFoundException",
                         self.sso.get_application_authentication_method,
                         ApplicationArn=self.app, AuthenticationMethodType="IAM")
        # identitystore's shape carries RequestId.
        e = self.assertError(self.ids, "ValidationException", self.ids.create_user,
                             IdentityStoreId=self.store_id, UserName="big",
                             DisplayName="d" * 1024, Title="t" * (300 * 1024))
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 413)
        self.assertEqual(e.response["RequestId"],
                         e.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])

    def test_oversized_body_is_refused_from_its_header(self):
        """The exact wire shape, answered before any of the body is sent."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", "application/x-amz-json-1.1")
        conn.putheader("X-Amz-Target", "SWBExternalService.PutApplicationAuthenticationMethod")
        conn.putheader("Content-Length", str(2 * 1024 * 1024))
        conn.endheaders()
        r = conn.getresponse()
        self.assertEqual(r.status, 413)
        self.assertEqual(r.getheader("x-amzn-ErrorType"), "ValidationException")
        self.assertEqual(r.getheader("Content-Type"), "application/x-amz-json-1.1")
        self.assertEqual(json.loads(r.read()), {
            "__type": "ValidationException",
            "Message": "request body too large: at most 262144 bytes"})
        conn.close()

    def test_validation_redirect_uris(self):
        """Fragments, non-http(s) schemes and non-URIs are refused, naming the member."""
        e = self.assertError(
            self.sso, "ValidationException", self.sso.put_application_grant,
            ApplicationArn=self.app, GrantType="authorization_code",
            Grant={"AuthorizationCode": {"RedirectUris": ["https://x.example/cb#frag",
                                                          "javascript:alert(1)//"]}})
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(
            e.response["Error"]["Message"],
            "2 validation errors detected: Value 'https://x.example/cb#frag' at "
            "'Grant.AuthorizationCode.RedirectUris.1' failed to satisfy constraint: Member must "
            "be an absolute https or http URI with a host and no fragment: it has a fragment "
            "(RFC 6749 §3.1.2); Value 'javascript:alert(1)//' at "
            "'Grant.AuthorizationCode.RedirectUris.2' failed to satisfy constraint: Member must "
            "be an absolute https or http URI with a host and no fragment: scheme 'javascript' "
            "is not allowed, only https and http")
        for bad in ["not a uri", "*"]:
            with self.subTest(bad=bad):
                self.assertError(
                    self.sso, "ValidationException", self.sso.put_application_grant,
                    f"Value '{bad}' at 'Grant.AuthorizationCode.RedirectUris.1' failed to "
                    "satisfy constraint: Member must be an absolute https or http URI with a "
                    "host and no fragment: it is not an absolute URI (https://host/path)",
                    ApplicationArn=self.app, GrantType="authorization_code",
                    Grant={"AuthorizationCode": {"RedirectUris": [bad]}})
        # Nothing was stored.
        self.assertError(self.sso, "ResourceNotFoundException", self.sso.get_application_grant,
                         ApplicationArn=self.app, GrantType="authorization_code")
        # Loopback http, as native apps and the AWS CLI use, is fine.
        self.sso.put_application_grant(
            ApplicationArn=self.app, GrantType="authorization_code",
            Grant={"AuthorizationCode": {"RedirectUris": ["http://127.0.0.1:9000/callback"]}})
        self.sso.delete_application_grant(ApplicationArn=self.app,
                                          GrantType="authorization_code")

    def test_validation_max_results_range(self):
        self.assertError(self.raw_sso, "ValidationException", self.raw_sso.list_applications,
                         "'MaxResults'", InstanceArn=self.instance_arn, MaxResults=0)

    def test_validation_actor_policy(self):
        self.assertError(self.sso, "ValidationException",
                         self.sso.put_application_authentication_method, "ActorPolicy",
                         ApplicationArn=self.app, AuthenticationMethodType="IAM",
                         AuthenticationMethod={"Iam": {"ActorPolicy": {"Effect": "Maybe"}}})

    def test_every_required_member_of_every_operation(self):
        """An empty request to each operation Tessera serves names each of its required members
        (as botocore's own copy of the model lists them)."""
        for client, served in ((self.raw_sso, "sso-admin"), (self.raw_ids, "identitystore")):
            with open(os.path.join(MODELS, served + ".json")) as f:
                operations = json.load(f)["operations"]
            model = client.meta.service_model
            for name in operations:
                required = model.operation_model(name).input_shape.required_members
                if not required:
                    continue
                with self.subTest(operation=name):
                    with self.assertRaises(client.exceptions.ValidationException) as ctx:
                        getattr(client, botocore.xform_name(name))()
                    message = ctx.exception.response["Error"]["Message"]
                    for member in required:
                        self.assertIn(f"Value null at '{member}'", message)

    # --- not found ---

    def test_not_found(self):
        self.assertError(self.sso, "ResourceNotFoundException", self.sso.describe_application,
                         self.missing_app, ApplicationArn=self.missing_app)
        self.assertError(self.sso, "ResourceNotFoundException", self.sso.delete_application,
                         ApplicationArn=self.missing_app)
        self.assertError(self.sso, "ResourceNotFoundException", self.sso.get_application_grant,
                         "refresh_token", ApplicationArn=self.app, GrantType="refresh_token")
        self.assertError(self.sso, "ResourceNotFoundException",
                         self.sso.get_application_access_scope, ApplicationArn=self.app,
                         Scope="nope")
        self.assertError(self.sso, "ResourceNotFoundException", self.sso.describe_instance,
                         InstanceArn="arn:aws:sso:::instance/ssoins-ffffffffffffffff")
        self.assertError(self.sso, "ResourceNotFoundException",
                         self.sso.create_application_assignment, ApplicationArn=self.app,
                         PrincipalId="0b1c2d3e-0000-4000-8000-000000000000",
                         PrincipalType="USER")
        e = self.assertError(self.ids, "ResourceNotFoundException", self.ids.describe_user,
                             IdentityStoreId=self.store_id,
                             UserId="0b1c2d3e-0000-4000-8000-000000000000")
        self.assertEqual(e.response["ResourceType"], "USER")
        self.assertError(self.ids, "ResourceNotFoundException", self.ids.list_users,
                         IdentityStoreId="d-ffffffffff")
        self.assertError(self.ids, "ResourceNotFoundException", self.ids.get_user_id,
                         IdentityStoreId=self.store_id, AlternateIdentifier={"UniqueAttribute": {
                             "AttributePath": "userName", "AttributeValue": "nobody"}})

    # --- conflicts and idempotency ---

    def test_conflicts(self):
        self.ids.create_user(IdentityStoreId=self.store_id, UserName="dup", DisplayName="Dup")
        e = self.assertError(self.ids, "ConflictException", self.ids.create_user, "DUP",
                             IdentityStoreId=self.store_id, UserName="DUP", DisplayName="Dup")
        self.assertEqual(e.response["Reason"], "UNIQUENESS_CONSTRAINT_VIOLATION")
        self.ids.create_group(IdentityStoreId=self.store_id, DisplayName="dup-group")
        self.assertError(self.ids, "ConflictException", self.ids.create_group,
                         IdentityStoreId=self.store_id, DisplayName="dup-group")
        self.assertError(self.sso, "ConflictException", self.sso.create_application,
                         "Errors", InstanceArn=self.instance_arn, ApplicationProviderArn=CUSTOM,
                         Name="Errors")

    def test_client_token_idempotency(self):
        kw = dict(InstanceArn=self.instance_arn, ApplicationProviderArn=CUSTOM, Name="Idem",
                  ClientToken="idem-token-1")
        first = self.sso.create_application(**kw)["ApplicationArn"]
        second = self.sso.create_application(**kw)["ApplicationArn"]
        self.assertEqual(first, second)
        kw["Description"] = "changed"
        self.assertError(self.sso, "ConflictException", self.sso.create_application,
                         "idem-token-1", **kw)

    # --- pagination ---

    def test_pagination(self):
        for i in range(5):
            self.ids.create_user(IdentityStoreId=self.store_id, UserName=f"page-{i}",
                                 DisplayName=f"Page {i}")
        names = []
        token = None
        pages = 0
        while True:
            kw = {"IdentityStoreId": self.store_id, "MaxResults": 2}
            if token:
                kw["NextToken"] = token
            page = self.ids.list_users(**kw)
            pages += 1
            self.assertLessEqual(len(page["Users"]), 2)
            names += [u["UserName"] for u in page["Users"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertGreaterEqual(pages, 3)
        self.assertEqual(len(names), len(set(names)))
        self.assertTrue({f"page-{i}" for i in range(5)} <= set(names))
        # The boto3 paginator agrees.
        paged = [u["UserName"] for p in self.ids.get_paginator("list_users").paginate(
            IdentityStoreId=self.store_id, PaginationConfig={"PageSize": 2}) for u in p["Users"]]
        self.assertEqual(sorted(paged), sorted(names))
        # A tampered token is refused.
        first = self.ids.list_users(IdentityStoreId=self.store_id, MaxResults=1)["NextToken"]
        self.assertError(self.ids, "ValidationException", self.ids.list_users, "NextToken",
                         IdentityStoreId=self.store_id, NextToken="A" + first[1:])
        # Filters (deprecated, still modeled) find one user.
        found = self.ids.list_users(IdentityStoreId=self.store_id, Filters=[
            {"AttributePath": "UserName", "AttributeValue": "page-3"}])["Users"]
        self.assertEqual([u["UserName"] for u in found], ["page-3"])

    # --- authorization ---

    def test_identity_policy_authorizes_other_principals(self):
        role = f"arn:aws:iam::{self.account}:role/reader"
        key = self.server.new_access_key(role)
        sso, ids = admin_clients(self.server, key["AWS_ACCESS_KEY_ID"],
                                 key["AWS_SECRET_ACCESS_KEY"])
        self.assertError(sso, "AccessDeniedException", sso.list_instances,
                         "sso:ListInstances")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sso:List*", "sso:Describe*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "sso:DescribeApplication", "Resource": self.app}]}
        r = self.server.tessera("put-identity-policy", "--principal-arn", role,
                                stdin=json.dumps(policy))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(sso.list_instances()["Instances"]), 1)
        self.assertError(sso, "AccessDeniedException", sso.describe_application, "explicit deny",
                         ApplicationArn=self.app)
        self.assertError(sso, "AccessDeniedException", sso.create_application,
                         InstanceArn=self.instance_arn, ApplicationProviderArn=CUSTOM, Name="no")
        self.assertError(ids, "AccessDeniedException", ids.list_users,
                         IdentityStoreId=self.store_id)

    def test_signed_for_the_wrong_service(self):
        wrong = boto3.client("sso-admin", region_name="us-east-1", endpoint_url=self.server.url,
                             aws_access_key_id=ROOT_KEY_ID, aws_secret_access_key="wrong",
                             config=botocore.config.Config(retries={"max_attempts": 1}))
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            wrong.list_instances()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidSignatureException")


class EveryOperationThroughBoto3(unittest.TestCase):
    """Each of the 48 operations once through boto3, reading back what it wrote (botocore parses
    every output shape, timestamps included)."""

    def setUp(self):
        self.server = Server(demo=False)
        self.addCleanup(self.server.stop)
        self.sso, self.ids = admin_clients(self.server)

    def test_every_operation(self):
        sso, ids = self.sso, self.ids
        instance = sso.list_instances()["Instances"][0]
        arn, store = instance["InstanceArn"], instance["IdentityStoreId"]
        self.assertEqual(sso.describe_instance(InstanceArn=arn)["Status"], "ACTIVE")

        app = sso.create_application(
            InstanceArn=arn, ApplicationProviderArn=CUSTOM, Name="All ops", Description="d",
            PortalOptions={"Visibility": "ENABLED", "SignInOptions": {"Origin": "IDENTITY_CENTER"}},
            Tags=[{"Key": "a", "Value": "1"}])["ApplicationArn"]
        sso.update_application(ApplicationArn=app, Name="All ops 2", Status="DISABLED",
                               PortalOptions={"SignInOptions": {
                                   "Origin": "APPLICATION",
                                   "ApplicationUrl": "https://app.example/start"}})
        d = sso.describe_application(ApplicationArn=app)
        self.assertEqual((d["Name"], d["Status"], d["Description"]), ("All ops 2", "DISABLED", "d"))
        self.assertEqual(d["PortalOptions"], {"Visibility": "ENABLED", "SignInOptions": {
            "Origin": "APPLICATION", "ApplicationUrl": "https://app.example/start"}})
        self.assertIn("CreatedDate", d)
        self.assertEqual([a["ApplicationArn"] for a in sso.list_applications(
            InstanceArn=arn, Filter={"ApplicationProvider": CUSTOM})["Applications"]], [app])

        sso.put_application_grant(ApplicationArn=app, GrantType="refresh_token",
                                  Grant={"RefreshToken": {}})
        sso.put_application_grant(ApplicationArn=app,
                                  GrantType="urn:ietf:params:oauth:grant-type:token-exchange",
                                  Grant={"TokenExchange": {}})
        self.assertEqual(sorted(g["GrantType"] for g in sso.list_application_grants(
            ApplicationArn=app)["Grants"]),
            ["refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"])
        sso.delete_application_grant(ApplicationArn=app, GrantType="refresh_token")
        self.assertEqual(len(sso.list_application_grants(ApplicationArn=app)["Grants"]), 1)
        self.assertEqual(sso.get_application_grant(
            ApplicationArn=app, GrantType="urn:ietf:params:oauth:grant-type:token-exchange")
            ["Grant"], {"TokenExchange": {}})

        sso.put_application_authentication_method(
            ApplicationArn=app, AuthenticationMethodType="IAM",
            AuthenticationMethod={"Iam": {"ActorPolicy": actor_policy(
                "arn:aws:iam::111122223333:role/x")}})
        self.assertEqual(len(sso.list_application_authentication_methods(
            ApplicationArn=app)["AuthenticationMethods"]), 1)
        self.assertEqual(sso.get_application_authentication_method(
            ApplicationArn=app, AuthenticationMethodType="IAM")["AuthenticationMethod"],
            {"Iam": {"ActorPolicy": actor_policy("arn:aws:iam::111122223333:role/x")}})
        sso.delete_application_authentication_method(ApplicationArn=app,
                                                      AuthenticationMethodType="IAM")
        self.assertEqual(sso.list_application_authentication_methods(
            ApplicationArn=app)["AuthenticationMethods"], [])

        sso.put_application_access_scope(ApplicationArn=app, Scope="a:read",
                                         AuthorizedTargets=[app])
        self.assertEqual(sso.get_application_access_scope(ApplicationArn=app, Scope="a:read")
                         ["AuthorizedTargets"], [app])
        sso.delete_application_access_scope(ApplicationArn=app, Scope="a:read")
        self.assertEqual(sso.list_application_access_scopes(ApplicationArn=app)["Scopes"], [])

        sso.put_application_assignment_configuration(ApplicationArn=app, AssignmentRequired=False)
        self.assertFalse(sso.get_application_assignment_configuration(
            ApplicationArn=app)["AssignmentRequired"])

        user = ids.create_user(IdentityStoreId=store, UserName="u1", DisplayName="U One",
                               Name={"GivenName": "U"})["UserId"]
        ids.update_user(IdentityStoreId=store, UserId=user, Operations=[
            {"AttributePath": "displayName", "AttributeValue": "U 1"},
            {"AttributePath": "name.familyName", "AttributeValue": "One"},
            {"AttributePath": "title"}])
        u = ids.describe_user(IdentityStoreId=store, UserId=user)
        self.assertEqual((u["DisplayName"], u["Name"]), ("U 1", {"GivenName": "U",
                                                                 "FamilyName": "One"}))
        self.assertEqual([x["UserId"] for x in ids.list_users(IdentityStoreId=store)["Users"]],
                         [user])
        self.assertEqual(ids.get_user_id(IdentityStoreId=store, AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "u1"}})["UserId"],
            user)
        group = ids.create_group(IdentityStoreId=store, DisplayName="g1",
                                 Description="G")["GroupId"]
        self.assertEqual(ids.describe_group(IdentityStoreId=store, GroupId=group)["DisplayName"],
                         "g1")
        self.assertEqual([g["GroupId"] for g in ids.list_groups(IdentityStoreId=store)["Groups"]],
                         [group])
        self.assertEqual(ids.get_group_id(IdentityStoreId=store, AlternateIdentifier={
            "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "g1"}})
            ["GroupId"], group)
        membership = ids.create_group_membership(IdentityStoreId=store, GroupId=group,
                                                 MemberId={"UserId": user})["MembershipId"]
        self.assertEqual(ids.list_group_memberships(IdentityStoreId=store, GroupId=group)
                         ["GroupMemberships"][0]["MemberId"], {"UserId": user})
        self.assertTrue(ids.is_member_in_groups(IdentityStoreId=store, MemberId={"UserId": user},
                                                GroupIds=[group])["Results"][0]
                        ["MembershipExists"])

        for principal, kind in ((user, "USER"), (group, "GROUP")):
            sso.create_application_assignment(ApplicationArn=app, PrincipalId=principal,
                                              PrincipalType=kind)
            self.assertEqual(sso.describe_application_assignment(
                ApplicationArn=app, PrincipalId=principal, PrincipalType=kind)["PrincipalType"],
                kind)
        self.assertEqual(len(sso.list_application_assignments(ApplicationArn=app)
                             ["ApplicationAssignments"]), 2)
        sso.delete_application_assignment(ApplicationArn=app, PrincipalId=user,
                                          PrincipalType="USER")
        with self.assertRaises(sso.exceptions.ResourceNotFoundException):
            sso.describe_application_assignment(ApplicationArn=app, PrincipalId=user,
                                                PrincipalType="USER")

        tti = sso.create_trusted_token_issuer(
            InstanceArn=arn, Name="kc", TrustedTokenIssuerType="OIDC_JWT",
            TrustedTokenIssuerConfiguration={"OidcJwtConfiguration": {
                "IssuerUrl": "https://kc.example/realms/x", "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}})["TrustedTokenIssuerArn"]
        sso.update_trusted_token_issuer(TrustedTokenIssuerArn=tti, Name="keycloak",
                                        TrustedTokenIssuerConfiguration={"OidcJwtConfiguration": {
                                            "ClaimAttributePath": "preferred_username",
                                            "IdentityStoreAttributePath": "userName"}})
        t = sso.describe_trusted_token_issuer(TrustedTokenIssuerArn=tti)
        self.assertEqual(t["Name"], "keycloak")
        self.assertEqual(t["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]
                         ["ClaimAttributePath"], "preferred_username")
        self.assertEqual([x["TrustedTokenIssuerArn"] for x in sso.list_trusted_token_issuers(
            InstanceArn=arn)["TrustedTokenIssuers"]], [tti])
        sso.tag_resource(ResourceArn=tti, Tags=[{"Key": "k", "Value": "v"}])
        sso.untag_resource(ResourceArn=app, TagKeys=["a"])
        self.assertEqual(sso.list_tags_for_resource(ResourceArn=app)["Tags"], [])
        self.assertEqual(sso.list_tags_for_resource(ResourceArn=tti)["Tags"],
                         [{"Key": "k", "Value": "v"}])
        sso.delete_trusted_token_issuer(TrustedTokenIssuerArn=tti)
        self.assertEqual(sso.list_trusted_token_issuers(InstanceArn=arn)["TrustedTokenIssuers"],
                         [])

        ids.delete_group_membership(IdentityStoreId=store, MembershipId=membership)
        ids.delete_group(IdentityStoreId=store, GroupId=group)
        ids.delete_user(IdentityStoreId=store, UserId=user)
        sso.delete_application(ApplicationArn=app)
        self.assertEqual(sso.list_applications(InstanceArn=arn)["Applications"], [])
        self.assertEqual(ids.list_groups(IdentityStoreId=store)["Groups"], [])


class JwtBearerConfiguredThroughTheAdminPlane(unittest.TestCase):
    """A trusted token issuer created with sso-admin (a real OpenID provider on loopback) serves
    the jwt-bearer grant; deleting it stops the next exchange."""

    def test_trusted_token_issuer_from_sso_admin(self):
        idp = Idp({"alice": {"email": "alice@example.com"}}, new_key("k1"))
        self.addCleanup(idp.close)
        server = Server(demo=False, extra_args=["--allow-insecure-loopback-issuers"])
        self.addCleanup(server.stop)
        sso, ids = admin_clients(server)
        instance = sso.list_instances()["Instances"][0]
        store = instance["IdentityStoreId"]
        user = ids.create_user(IdentityStoreId=store, UserName="alice", DisplayName="Alice",
                               Emails=[{"Value": "alice@example.com"}])["UserId"]
        group = ids.create_group(IdentityStoreId=store, DisplayName="idp-users")["GroupId"]
        ids.create_group_membership(IdentityStoreId=store, GroupId=group,
                                    MemberId={"UserId": user})
        tti = sso.create_trusted_token_issuer(
            InstanceArn=instance["InstanceArn"], Name="local-idp",
            TrustedTokenIssuerType="OIDC_JWT",
            TrustedTokenIssuerConfiguration={"OidcJwtConfiguration": {
                "IssuerUrl": idp.issuer, "ClaimAttributePath": "email",
                "IdentityStoreAttributePath": "emails.value",
                "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}})["TrustedTokenIssuerArn"]
        app = sso.create_application(InstanceArn=instance["InstanceArn"],
                                     ApplicationProviderArn=CUSTOM,
                                     Name="jwt app")["ApplicationArn"]
        sso.put_application_grant(ApplicationArn=app, GrantType=JWT_BEARER, Grant={"JwtBearer": {
            "AuthorizedTokenIssuers": [{"TrustedTokenIssuerArn": tti,
                                        "AuthorizedAudiences": [CLIENT_ID]}]}})
        sso.put_application_grant(ApplicationArn=app, GrantType="refresh_token",
                                  Grant={"RefreshToken": {}})
        sso.create_application_assignment(ApplicationArn=app, PrincipalId=group,
                                          PrincipalType="GROUP")
        oidc = server.client()  # the owner's root credential may call every application
        tokens = oidc.create_token_with_iam(clientId=app, grantType=JWT_BEARER,
                                            assertion=idp.sign_in("alice"))
        refreshed = oidc.create_token_with_iam(clientId=app, grantType="refresh_token",
                                               refreshToken=tokens["refreshToken"])
        self.assertIn("accessToken", refreshed)

        sso.delete_trusted_token_issuer(TrustedTokenIssuerArn=tti)
        with self.assertRaises(oidc.exceptions.InvalidGrantException) as e:
            oidc.create_token_with_iam(clientId=app, grantType=JWT_BEARER,
                                       assertion=idp.sign_in("alice"))
        self.assertIn("not a trusted token issuer authorized", e.exception.response[
            "error_description"])


class FromNothingWithTheAwsCli(unittest.TestCase):
    """The AWS CLI (v1) configures a fresh Tessera and runs the sign-in and refresh."""

    def setUp(self):
        self.server = Server(demo=False)
        self.addCleanup(self.server.stop)

    def aws(self, *args):
        r = self.server.cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def test_cli_configures_then_sign_in_and_refresh(self):
        instance = self.aws("sso-admin", "list-instances")["Instances"][0]
        store = instance["IdentityStoreId"]
        role = f"arn:aws:iam::{instance['OwnerAccountId']}:role/cli-app"
        user = self.aws("identitystore", "create-user", "--identity-store-id", store,
                        "--user-name", "bob", "--display-name", "Bob",
                        "--name", "GivenName=Bob,FamilyName=B")["UserId"]
        app = self.aws("sso-admin", "create-application", "--instance-arn",
                       instance["InstanceArn"], "--application-provider-arn", CUSTOM,
                       "--name", "CLI app")["ApplicationArn"]
        self.aws("sso-admin", "put-application-grant", "--application-arn", app,
                 "--grant-type", "authorization_code", "--grant",
                 json.dumps({"AuthorizationCode": {"RedirectUris": [REDIRECT]}}))
        self.aws("sso-admin", "put-application-grant", "--application-arn", app,
                 "--grant-type", "refresh_token", "--grant", '{"RefreshToken": {}}')
        self.aws("sso-admin", "put-application-authentication-method", "--application-arn", app,
                 "--authentication-method-type", "IAM", "--authentication-method",
                 json.dumps({"Iam": {"ActorPolicy": actor_policy(role)}}))
        # bob reaches the application through a group.
        group = self.aws("identitystore", "create-group", "--identity-store-id", store,
                         "--display-name", "cli-staff")["GroupId"]
        self.aws("identitystore", "create-group-membership", "--identity-store-id", store,
                 "--group-id", group, "--member-id", f"UserId={user}")
        self.aws("sso-admin", "create-application-assignment", "--application-arn", app,
                 "--principal-id", group, "--principal-type", "GROUP")
        self.aws("sso-admin", "put-application-access-scope", "--application-arn", app,
                 "--scope", "cli:read")
        tti = self.aws("sso-admin", "create-trusted-token-issuer", "--instance-arn",
                       instance["InstanceArn"], "--name", "cli-idp",
                       "--trusted-token-issuer-type", "OIDC_JWT",
                       "--trusted-token-issuer-configuration", json.dumps({
                           "OidcJwtConfiguration": {
                               "IssuerUrl": "https://idp.example", "ClaimAttributePath": "email",
                               "IdentityStoreAttributePath": "emails.value",
                               "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}}))
        self.assertEqual(self.aws("sso-admin", "list-trusted-token-issuers", "--instance-arn",
                                  instance["InstanceArn"])["TrustedTokenIssuers"][0]
                         ["TrustedTokenIssuerArn"], tti["TrustedTokenIssuerArn"])
        r = self.server.cli("sso-admin", "describe-application", "--application-arn",
                            app[:-16] + "0" * 16)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ResourceNotFoundException", r.stderr)

        self.assertEqual(self.server.tessera("set-password", "--user-name", "bob",
                                             stdin=PASSWORD + "\n").returncode, 0)
        key = self.server.new_access_key(role)
        verifier, challenge = pkce_pair()
        redirect = Browser(self.server).sign_in(challenge, username="bob", password=PASSWORD,
                                                client_id=app, redirect_uri=REDIRECT)
        r = self.server.cli("sso-oidc", "create-token-with-iam", "--client-id", app,
                            "--grant-type", "authorization_code", "--code", redirect["code"],
                            "--redirect-uri", REDIRECT, f"--code-verifier={verifier}",
                            key_id=key["AWS_ACCESS_KEY_ID"], secret=key["AWS_SECRET_ACCESS_KEY"])
        self.assertEqual(r.returncode, 0, r.stderr)
        tokens = json.loads(r.stdout)
        r = self.server.cli("sso-oidc", "create-token-with-iam", "--client-id", app,
                            "--grant-type", "refresh_token",
                            f"--refresh-token={tokens['refreshToken']}",
                            key_id=key["AWS_ACCESS_KEY_ID"], secret=key["AWS_SECRET_ACCESS_KEY"])
        self.assertEqual(r.returncode, 0, r.stderr)
        refreshed = json.loads(r.stdout)
        self.assertIn("accessToken", refreshed)
        self.assertIn("cli:read", refreshed["scope"])
        # Validation errors reach the CLI by class too.
        r = self.server.cli("sso-admin", "put-application-access-scope", "--application-arn",
                            app, "--scope", "not a scope")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ValidationException", r.stderr)


if __name__ == "__main__":
    unittest.main()
