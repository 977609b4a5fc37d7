#include "ts/server/bootstrap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <string>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/crypto/password.h"
#include "ts/oauth/application.h"
#include "ts/server/credentials.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::server {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1";

// A small valid document without passwords (argon2 costs ~50 ms per hash).
json::object BaseDocument() {
  return json::parse(R"({
    "Instance": {"InstanceArn": "arn:aws:sso:::instance/ssoins-111111111111",
                 "IdentityStoreId": "d-3333333333", "OwnerAccountId": "111111111111",
                 "Name": "test"},
    "Users": [{"UserName": "alice", "DisplayName": "Alice",
               "Emails": [{"Value": "alice@example.com", "Primary": true}]}],
    "Applications": [{
      "ApplicationArn": "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1",
      "Name": "web", "AssignmentRequired": true,
      "Grants": [{"GrantType": "authorization_code",
                  "Grant": {"AuthorizationCode": {"RedirectUris": ["https://app.example/cb"]}}},
                 {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}}],
      "AuthenticationMethods": [{"AuthenticationMethodType": "IAM",
          "AuthenticationMethod": {"Iam": {"ActorPolicy": {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow",
                             "Principal": {"AWS": "arn:aws:iam::123456789012:role/webapp"},
                             "Action": "sso-oauth:CreateTokenWithIAM", "Resource": "*"}]}}}}],
      "AccessScopes": [{"Scope": "s3:access_grants:read_write", "AuthorizedTargets": []}],
      "Assignments": [{"PrincipalType": "USER", "UserName": "alice"}]}],
    "IamPrincipals": [{"Arn": "arn:aws:iam::123456789012:role/webapp",
      "AccessKeys": [{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                      "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}]}]
  })")
      .as_object();
}

json::object& FirstApp(json::object& doc) { return doc["Applications"].as_array()[0].as_object(); }
json::object& FirstGrant(json::object& doc) {
  return FirstApp(doc)["Grants"].as_array()[0].as_object();
}

class BootstrapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-bootstrap");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    ctx_ = BootstrapContext{store_.get(), std::string(32, 'q'), "eu-west-1", kNow};
  }
  void TearDown() override {
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  Status Apply(const json::object& doc) { return ApplyBootstrap(ctx_, json::serialize(doc)); }

  void ExpectNothingWritten() {
    EXPECT_THAT(store_->GetInstance(), StatusIs(StatusCode::kNotFound, _));
    auto users = store_->ListUsers();
    ASSERT_THAT(users, IsOk());
    EXPECT_THAT(*users, IsEmpty());
    auto apps = store_->ListApplications();
    ASSERT_THAT(apps, IsOk());
    EXPECT_THAT(*apps, IsEmpty());
    EXPECT_THAT(store_->GetPrincipal("arn:aws:iam::123456789012:role/webapp"),
                StatusIs(StatusCode::kNotFound, _));
  }

  fs::path dir_;
  std::shared_ptr<storage::SqliteStore> store_;
  BootstrapContext ctx_;
};

TEST_F(BootstrapTest, DemoAppliesAndIsIdempotent) {
  const std::string demo = DemoBootstrap("demo-pass\"word");
  ASSERT_THAT(ApplyBootstrap(ctx_, demo), IsOk());
  auto first = store_->GetUserByName("demo");
  ASSERT_THAT(first, IsOk());

  ASSERT_THAT(ApplyBootstrap(ctx_, demo), IsOk());
  auto users = store_->ListUsers();
  ASSERT_THAT(users, IsOk());
  ASSERT_THAT(*users, SizeIs(1));
  EXPECT_EQ((*users)[0].user_id, first->user_id);
  EXPECT_EQ((*users)[0].created_at, kNow);
  EXPECT_EQ((*users)[0].identity_store_id, "d-3333333333");
  EXPECT_TRUE(crypto::VerifyPassword("demo-pass\"word", (*users)[0].password_hash));

  auto instance = store_->GetInstance();
  ASSERT_THAT(instance, IsOk());
  EXPECT_EQ(instance->instance_arn, kDemoInstanceArn);
  EXPECT_EQ(instance->instance_id, "ssoins-111111111111");
  EXPECT_EQ(instance->owner_account_id, "111111111111");
  EXPECT_EQ(instance->region, "eu-west-1");

  auto apps = store_->ListApplications();
  ASSERT_THAT(apps, IsOk());
  ASSERT_THAT(*apps, SizeIs(1));
  const storage::Application& app = (*apps)[0];
  EXPECT_EQ(app.application_arn, kDemoApplicationArn);
  EXPECT_EQ(app.instance_arn, kDemoInstanceArn);
  EXPECT_EQ(app.status, "ENABLED");
  EXPECT_TRUE(app.assignment_required);
  EXPECT_THAT(oauth::RedirectUris(app), ElementsAre(kDemoRedirectUri));
  EXPECT_TRUE(oauth::HasGrant(app, oauth::kGrantRefreshToken));
  EXPECT_THAT(app.actor_policy_json, HasSubstr("arn:aws:iam::123456789012:role/webapp"));
  EXPECT_THAT(store_->IsAssigned(kDemoApplicationArn, first->user_id), IsOkAndHolds(true));
}

TEST_F(BootstrapTest, DocumentIsAppliedFaithfully) {
  ASSERT_THAT(Apply(BaseDocument()), IsOk());
  auto alice = store_->GetUserByName("alice");
  ASSERT_THAT(alice, IsOk());
  EXPECT_EQ(alice->display_name, "Alice");
  EXPECT_EQ(alice->password_hash, "");
  EXPECT_EQ(alice->user_id.size(), 36u);  // a fresh UUID
  json::object attributes = json::parse(alice->attributes_json).as_object();
  EXPECT_EQ(attributes["UserName"], "alice");
  EXPECT_TRUE(attributes.contains("Emails"));

  auto app = store_->GetApplication(kApp);
  ASSERT_THAT(app, IsOk());
  EXPECT_EQ(app->name, "web");
  EXPECT_EQ(app->application_provider_arn, "arn:aws:sso::aws:applicationProvider/custom");
  EXPECT_THAT(oauth::RedirectUris(*app), ElementsAre("https://app.example/cb"));
  EXPECT_EQ(app->grants.at("refresh_token"), "{}");
  EXPECT_EQ(app->access_scopes.count("s3:access_grants:read_write"), 1u);
  EXPECT_THAT(store_->IsAssigned(kApp, alice->user_id), IsOkAndHolds(true));

  auto principal = store_->GetPrincipal("arn:aws:iam::123456789012:role/webapp");
  ASSERT_THAT(principal, IsOk());
  EXPECT_EQ(principal->account_id, "123456789012");
  StoreCredentialProvider credentials(store_, ctx_.iam_seal_key);
  auto key = credentials.Find("AKIAIOSFODNN7EXAMPLE");
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  EXPECT_EQ(key->principal_arn, "arn:aws:iam::123456789012:role/webapp");

  // Applying again changes nothing that exists.
  ASSERT_THAT(Apply(BaseDocument()), IsOk());
  auto again = store_->GetUserByName("alice");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->user_id, alice->user_id);
  auto keys = store_->ListAccessKeys("arn:aws:iam::123456789012:role/webapp");
  ASSERT_THAT(keys, IsOk());
  EXPECT_THAT(*keys, SizeIs(1));
}

TEST_F(BootstrapTest, GivenUserIdIsUsedAndReapplyWithoutPasswordKeepsTheHash) {
  json::object doc = BaseDocument();
  json::object& user = doc["Users"].as_array()[0].as_object();
  user["UserId"] = "99999999-9999-4999-8999-999999999999";
  user["Password"] = "first";
  ASSERT_THAT(Apply(doc), IsOk());
  auto alice = store_->GetUserByName("alice");
  ASSERT_THAT(alice, IsOk());
  EXPECT_EQ(alice->user_id, "99999999-9999-4999-8999-999999999999");
  EXPECT_THAT(alice->attributes_json, ::testing::Not(HasSubstr("first")));  // never stored
  const std::string hash = alice->password_hash;
  ASSERT_FALSE(hash.empty());

  user.erase("Password");
  user["DisplayName"] = "Alice B.";
  ASSERT_THAT(Apply(doc), IsOk());
  auto updated = store_->GetUserByName("alice");
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->password_hash, hash);
  EXPECT_EQ(updated->display_name, "Alice B.");
}

TEST_F(BootstrapTest, TenRedirectUrisAreAccepted) {
  json::object doc = BaseDocument();
  json::array uris;
  for (int i = 0; i < 10; ++i) uris.emplace_back("https://app.example/cb" + std::to_string(i));
  FirstGrant(doc)["Grant"].as_object()["AuthorizationCode"].as_object()["RedirectUris"] = uris;
  ASSERT_THAT(Apply(doc), IsOk());
  auto app = store_->GetApplication(kApp);
  ASSERT_THAT(app, IsOk());
  EXPECT_THAT(oauth::RedirectUris(*app), SizeIs(10));
}

struct MalformedCase {
  const char* name;
  std::function<void(json::object&)> mutate;
  const char* fragment;
};

class MalformedBootstrapTest : public BootstrapTest,
                               public ::testing::WithParamInterface<MalformedCase> {};

TEST_P(MalformedBootstrapTest, NamesTheMemberAndWritesNothing) {
  json::object doc = BaseDocument();
  GetParam().mutate(doc);
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument,
                                   HasSubstr(std::string("bootstrap: ") + GetParam().fragment)));
  ExpectNothingWritten();
}

json::array Uris(int n) {
  json::array a;
  for (int i = 0; i < n; ++i) a.emplace_back("https://app.example/cb" + std::to_string(i));
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedBootstrapTest,
    ::testing::Values(
        MalformedCase{
            "MissingUserName",
            [](json::object& d) { d["Users"].as_array()[0].as_object().erase("UserName"); },
            "Users[0]: member UserName is required"},
        MalformedCase{"UserNameNotAString",
                      [](json::object& d) { d["Users"].as_array()[0].as_object()["UserName"] = 7; },
                      "Users[0]: member UserName must be a string"},
        MalformedCase{"UsersNotAList", [](json::object& d) { d["Users"] = "alice"; },
                      "document: member Users must be a list"},
        MalformedCase{"BadStatus", [](json::object& d) { FirstApp(d)["Status"] = "PAUSED"; },
                      "Applications[0]: Status must be ENABLED or DISABLED"},
        MalformedCase{"AssignmentRequiredNotBool",
                      [](json::object& d) { FirstApp(d)["AssignmentRequired"] = "yes"; },
                      "Applications[0]: AssignmentRequired must be true or false"},
        MalformedCase{"MissingApplicationArn",
                      [](json::object& d) { FirstApp(d).erase("ApplicationArn"); },
                      "Applications[0]: member ApplicationArn is required"},
        MalformedCase{"GrantWithTwoMembers",
                      [](json::object& d) {
                        FirstGrant(d)["Grant"].as_object()["RefreshToken"] = json::object();
                      },
                      "Applications[0].Grants[]: Grant must have exactly one member, "
                      "AuthorizationCode"},
        MalformedCase{
            "GrantMemberOfAnotherType",
            [](json::object& d) {
              FirstGrant(d)["Grant"] = json::object{{"RefreshToken", json::object()}};
            },
            "Applications[0].Grants[]: Grant must have exactly one member, AuthorizationCode"},
        MalformedCase{"UnknownGrantType",
                      [](json::object& d) { FirstGrant(d)["GrantType"] = "password"; },
                      "Applications[0].Grants[]: unknown GrantType password"},
        MalformedCase{
            "RedirectUrisEmpty",
            [](json::object& d) {
              FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] =
                  json::object{{"RedirectUris", Uris(0)}};
            },
            "Applications[0].Grants[]: AuthorizationCode.RedirectUris must list 1 to 10 URIs"},
        MalformedCase{
            "RedirectUrisEleven",
            [](json::object& d) {
              FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] =
                  json::object{{"RedirectUris", Uris(11)}};
            },
            "Applications[0].Grants[]: AuthorizationCode.RedirectUris must list 1 to 10 URIs"},
        MalformedCase{"RedirectUriNotAString",
                      [](json::object& d) {
                        FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] =
                            json::object{{"RedirectUris", json::array{1}}};
                      },
                      "Applications[0].Grants[]: RedirectUris must be strings"},
        MalformedCase{"RedirectUriWithFragment",
                      [](json::object& d) {
                        FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] = json::object{
                            {"RedirectUris",
                             json::array{"https://app.example/cb", "https://x.example/cb#frag"}}};
                      },
                      "Applications[0].Grants[]: AuthorizationCode.RedirectUris[1] "
                      "'https://x.example/cb#frag' is not a valid redirect URI: it has a "
                      "fragment (RFC 6749 §3.1.2)"},
        MalformedCase{"RedirectUriJavascript",
                      [](json::object& d) {
                        FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] =
                            json::object{{"RedirectUris", json::array{"javascript:alert(1)//"}}};
                      },
                      "Applications[0].Grants[]: AuthorizationCode.RedirectUris[0] "
                      "'javascript:alert(1)//' is not a valid redirect URI: scheme 'javascript' "
                      "is not allowed, only https and http"},
        MalformedCase{"RedirectUriNotAUri",
                      [](json::object& d) {
                        FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] =
                            json::object{{"RedirectUris", json::array{"not a uri"}}};
                      },
                      "Applications[0].Grants[]: AuthorizationCode.RedirectUris[0] 'not a uri' "
                      "is not a valid redirect URI: it is not an absolute URI "
                      "(https://host/path)"},
        MalformedCase{"RedirectUriWildcard",
                      [](json::object& d) {
                        FirstGrant(d)["Grant"].as_object()["AuthorizationCode"] =
                            json::object{{"RedirectUris", json::array{"*"}}};
                      },
                      "Applications[0].Grants[]: AuthorizationCode.RedirectUris[0] '*' is not a "
                      "valid redirect URI: it is not an absolute URI (https://host/path)"},
        MalformedCase{"NonIamAuthenticationMethod",
                      [](json::object& d) {
                        FirstApp(d)["AuthenticationMethods"]
                            .as_array()[0]
                            .as_object()["AuthenticationMethodType"] = "SAML";
                      },
                      "Applications[0].AuthenticationMethods[]: AuthenticationMethodType must "
                      "be IAM"},
        MalformedCase{"ActorPolicyNotAnObject",
                      [](json::object& d) {
                        FirstApp(d)["AuthenticationMethods"]
                            .as_array()[0]
                            .as_object()["AuthenticationMethod"] =
                            json::parse(R"({"Iam":{"ActorPolicy":"x"}})");
                      },
                      "Applications[0].AuthenticationMethods[]: "
                      "AuthenticationMethod.Iam.ActorPolicy must be a policy object"},
        MalformedCase{"AssignmentWithBothIdAndName",
                      [](json::object& d) {
                        FirstApp(d)["Assignments"].as_array()[0].as_object()["PrincipalId"] = "x";
                      },
                      "Applications[0].Assignments[]: give exactly one of PrincipalId, UserName"},
        MalformedCase{
            "PrincipalArnWithoutAccount",
            [](json::object& d) { d["IamPrincipals"].as_array()[0].as_object()["Arn"] = "webapp"; },
            "IamPrincipals[0]: Arn must name a 12-digit account"},
        MalformedCase{"PrincipalArnWithShortAccount",
                      [](json::object& d) {
                        d["IamPrincipals"].as_array()[0].as_object()["Arn"] =
                            "arn:aws:iam::12345:role/webapp";
                      },
                      "IamPrincipals[0]: Arn must name a 12-digit account"},
        MalformedCase{"AccessKeyWithoutSecret",
                      [](json::object& d) {
                        d["IamPrincipals"].as_array()[0].as_object()["AccessKeys"] =
                            json::parse(R"([{"AccessKeyId":"AKIAX"}])");
                      },
                      "IamPrincipals[0].AccessKeys[]: member SecretAccessKey is required"},
        MalformedCase{"BadInstanceArn",
                      [](json::object& d) {
                        d["Instance"].as_object()["InstanceArn"] = "ssoins-111111111111";
                      },
                      "Instance: InstanceArn must look like"},
        MalformedCase{"InstanceWithoutOwner",
                      [](json::object& d) { d["Instance"].as_object().erase("OwnerAccountId"); },
                      "Instance: member OwnerAccountId is required"}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST_F(BootstrapTest, InvalidJsonOrNonObjectNamesTheDocument) {
  EXPECT_THAT(
      ApplyBootstrap(ctx_, "{\"Users\": ["),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("bootstrap: document: not valid JSON")));
  EXPECT_THAT(
      ApplyBootstrap(ctx_, "[]"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("bootstrap: document: must be an object")));
  ExpectNothingWritten();
}

TEST_F(BootstrapTest, DocumentWithoutInstanceNeedsOneInTheStore) {
  json::object doc = BaseDocument();
  doc.erase("Instance");
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kNotFound, _));
  ExpectNothingWritten();
}

TEST_F(BootstrapTest, AssignmentToAnUnknownUserName) {
  json::object doc = BaseDocument();
  FirstApp(doc)["Assignments"].as_array()[0].as_object()["UserName"] = "ghost";
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument,
                                   HasSubstr("bootstrap: Assignments: no user named ghost")));
  ExpectNothingWritten();
}

// --- groups ---

TEST_F(BootstrapTest, GroupsMembersAndGroupAssignmentsAreAppliedIdempotently) {
  json::object doc = BaseDocument();
  doc["Users"].as_array().push_back(json::object{{"UserName", "bob"}});
  doc["Groups"] = json::parse(R"([{"DisplayName": "staff", "Description": "Everyone",
                                   "Members": ["bob"]}])");
  FirstApp(doc)["Assignments"] =
      json::parse(R"([{"PrincipalType": "GROUP", "DisplayName": "staff"}])");
  ASSERT_THAT(Apply(doc), IsOk());
  ASSERT_THAT(Apply(doc), IsOk());  // a restart: nothing duplicated
  auto groups = store_->FindGroupsByAttribute("displayname", "staff");
  ASSERT_THAT(groups, IsOk());
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ((*groups)[0].description, "Everyone");
  auto bob = store_->GetUserByName("bob");
  ASSERT_THAT(bob, IsOk());
  auto memberships = store_->ListGroupMembershipsForUser(bob->user_id);
  ASSERT_THAT(memberships, IsOk());
  EXPECT_EQ(memberships->size(), 1u);
  // bob reaches the application through the group; alice (not a member) does not.
  EXPECT_THAT(store_->IsAssigned(kApp, bob->user_id), IsOkAndHolds(true));
  EXPECT_THAT(store_->IsAssigned(kApp, store_->GetUserByName("alice")->user_id),
              IsOkAndHolds(false));
}

TEST_F(BootstrapTest, GroupReferencesMustResolveBeforeAnythingIsWritten) {
  json::object doc = BaseDocument();
  FirstApp(doc)["Assignments"] =
      json::parse(R"([{"PrincipalType": "GROUP", "DisplayName": "nobody"}])");
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument,
                                   HasSubstr("bootstrap: Assignments: no group named nobody")));
  ExpectNothingWritten();
  doc = BaseDocument();
  doc["Groups"] = json::parse(R"([{"DisplayName": "staff", "Members": ["ghost"]}])");
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument, HasSubstr("no user named ghost")));
  ExpectNothingWritten();
  doc = BaseDocument();
  FirstApp(doc)["Assignments"] = json::parse(R"([{"PrincipalType": "ROBOT", "UserName": "x"}])");
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument, HasSubstr("USER or GROUP")));
}

// --- trusted token issuers and the JwtBearer grant ---

json::object Issuer(const char* arn = nullptr) {
  json::object t = json::parse(R"({"Name": "okta", "TrustedTokenIssuerType": "OIDC_JWT",
      "TrustedTokenIssuerConfiguration": {"OidcJwtConfiguration": {
        "IssuerUrl": "https://example.okta.com", "ClaimAttributePath": "email",
        "IdentityStoreAttributePath": "emails.value",
        "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}}})")
                       .as_object();
  if (arn != nullptr) t["TrustedTokenIssuerArn"] = arn;
  return t;
}

constexpr char kTtiArn[] = "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/tti-1";

void AddJwtBearer(json::object& doc, const std::string& arn) {
  FirstApp(doc)["Grants"].as_array().push_back(json::parse(
      R"({"GrantType": "urn:ietf:params:oauth:grant-type:jwt-bearer", "Grant": {"JwtBearer": {
          "AuthorizedTokenIssuers": [{"TrustedTokenIssuerArn": ")" +
      arn + R"(", "AuthorizedAudiences": ["web"]}]}}})"));
}

TEST_F(BootstrapTest, TrustedTokenIssuerWithoutArnGetsOneOnceAndKeepsIt) {
  json::object doc = BaseDocument();
  doc["TrustedTokenIssuers"] = json::array{Issuer()};
  ASSERT_THAT(Apply(doc), IsOk());
  ASSERT_THAT(Apply(doc), IsOk());
  auto all = store_->ListTrustedTokenIssuers();
  ASSERT_THAT(all, IsOk());
  ASSERT_THAT(*all, SizeIs(1));
  const storage::TrustedTokenIssuer& t = (*all)[0];
  EXPECT_THAT(t.arn, ::testing::StartsWith(
                         "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/tti-"));
  EXPECT_EQ(t.arn.size(), std::string("arn:aws:sso::111111111111:trustedTokenIssuer/"
                                      "ssoins-111111111111/tti-")
                                  .size() +
                              36);
  EXPECT_EQ(t.issuer_url, "https://example.okta.com");
  EXPECT_EQ(t.claim_attribute_path, "email");
  EXPECT_EQ(t.identity_store_attribute_path, "emails.value");
  EXPECT_EQ(t.instance_arn, "arn:aws:sso:::instance/ssoins-111111111111");
}

TEST_F(BootstrapTest, JwtBearerGrantNamesAConfiguredIssuer) {
  json::object doc = BaseDocument();
  doc["TrustedTokenIssuers"] = json::array{Issuer(kTtiArn)};
  AddJwtBearer(doc, kTtiArn);
  ASSERT_THAT(Apply(doc), IsOk());
  auto app = store_->GetApplication(kApp);
  ASSERT_THAT(app, IsOk());
  EXPECT_TRUE(oauth::HasGrant(*app, oauth::kGrantJwtBearer));
  EXPECT_THAT(store_->GetTrustedTokenIssuer(kTtiArn), IsOk());
}

TEST_F(BootstrapTest, JwtBearerGrantWithAnUnknownIssuerWritesNothing) {
  json::object doc = BaseDocument();
  AddJwtBearer(doc, kTtiArn);
  EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument,
                                   HasSubstr("no trusted token issuer " + std::string(kTtiArn))));
  ExpectNothingWritten();
}

TEST_F(BootstrapTest, MalformedTrustedTokenIssuersAreRefused) {
  struct Case {
    std::function<void(json::object&)> mutate;
    const char* fragment;
  };
  auto conf = [](json::object& t) -> json::object& {
    return t["TrustedTokenIssuerConfiguration"].as_object()["OidcJwtConfiguration"].as_object();
  };
  const std::vector<Case> cases = {
      {[](json::object& t) { t["TrustedTokenIssuerType"] = "SAML"; }, "must be OIDC_JWT"},
      {[](json::object& t) { t["Name"] = "has space"; }, "Name must match"},
      {[](json::object& t) { t["TrustedTokenIssuerArn"] = "tti-1"; }, "must look like"},
      {[&](json::object& t) { conf(t)["ClaimAttributePath"] = "a.b.c.d"; }, "ClaimAttributePath"},
      {[&](json::object& t) { conf(t)["IdentityStoreAttributePath"] = "user_name"; },
       "IdentityStoreAttributePath"},
      {[&](json::object& t) { conf(t)["JwksRetrievalOption"] = "STATIC"; },
       "must be OPEN_ID_DISCOVERY"},
      {[&](json::object& t) { conf(t)["IssuerUrl"] = "ftp://x"; }, "IssuerUrl must be"},
      {[&](json::object& t) { conf(t).erase("IssuerUrl"); }, "IssuerUrl is required"},
  };
  for (const Case& c : cases) {
    json::object doc = BaseDocument();
    json::object t = Issuer();
    c.mutate(t);
    doc["TrustedTokenIssuers"] = json::array{t};
    EXPECT_THAT(Apply(doc), StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.fragment)))
        << c.fragment;
    ExpectNothingWritten();
  }
}

}  // namespace
}  // namespace ts::server
