#include "ts/admin/admin_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>

#include "test/common/temp_dir.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::admin {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

constexpr char kAccount[] = "111122223333";
constexpr char kInstanceArn[] = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
constexpr char kStoreId[] = "d-0123456789";
constexpr char kRoot[] = "arn:aws:iam::111122223333:root";
constexpr char kRole[] = "arn:aws:iam::111122223333:role/admin";

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("admin-api");
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *store;
    storage::Instance instance{
        kInstanceArn, "ssoins-0123456789abcdef", kStoreId, kAccount, "us-east-1", "Tessera",
        1700000000};
    ASSERT_TRUE(store_->PutInstance(instance).ok());
    clock_ = std::make_shared<FakeClock>(1700000000);
    auto api = AdminApi::Create({store_, store_, store_, store_, store_}, clock_,
                                {instance, std::string(32, 'k')});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    testing::RemoveTempDir(dir_);
  }

  // Calls `op` ("SWBExternalService.X" or "AWSIdentityStore.X") as `caller`.
  json::object Call(const std::string& target, const json::object& in,
                    const std::string& caller = kRoot) {
    last_ = api_->Handle(target, {caller, kAccount, "req-1"}, json::serialize(in));
    json::value v = json::parse(last_.body);
    return v.as_object();
  }
  json::object Sso(const std::string& op, const json::object& in,
                   const std::string& caller = kRoot) {
    return Call("SWBExternalService." + op, in, caller);
  }
  json::object Ids(const std::string& op, json::object in) {
    in["IdentityStoreId"] = kStoreId;
    return Call("AWSIdentityStore." + op, in);
  }
  // Asserts the last call failed with `type` and a message containing `fragment`.
  void ExpectError(const json::object& out, const std::string& type, const std::string& fragment) {
    EXPECT_EQ(last_.status, 400) << last_.body;
    EXPECT_EQ(last_.FindHeader("x-amzn-ErrorType").value_or(""), type) << last_.body;
    ASSERT_TRUE(out.contains("__type")) << last_.body;
    EXPECT_EQ(out.at("__type").as_string(), type) << last_.body;
    EXPECT_THAT(std::string(out.at("Message").as_string()), HasSubstr(fragment));
  }
  void ExpectOk() { EXPECT_EQ(last_.status, 200) << last_.body; }

  std::string CreateApp(const std::string& name) {
    json::object out =
        Sso("CreateApplication",
            {{"InstanceArn", kInstanceArn},
             {"ApplicationProviderArn", "arn:aws:sso::aws:applicationProvider/custom"},
             {"Name", name}});
    ExpectOk();
    return std::string(out.at("ApplicationArn").as_string());
  }

  // A valid authorization_code grant with one redirect URI.
  void PutCodeGrant(const std::string& arn, const std::string& redirect_uri) {
    Sso("PutApplicationGrant",
        {{"ApplicationArn", arn},
         {"GrantType", "authorization_code"},
         {"Grant", {{"AuthorizationCode", {{"RedirectUris", json::array{redirect_uri}}}}}}});
    ExpectOk();
  }

  std::filesystem::path dir_;
  std::shared_ptr<storage::SqliteStore> store_;
  std::shared_ptr<FakeClock> clock_;
  std::unique_ptr<AdminApi> api_;
  http::Response last_;
};

TEST_F(AdminApiTest, SigningNames) {
  EXPECT_EQ(AdminApi::SigningNameFor("SWBExternalService.ListInstances"), "sso");
  EXPECT_EQ(AdminApi::SigningNameFor("AWSIdentityStore.ListUsers"), "identitystore");
  EXPECT_EQ(AdminApi::SigningNameFor("AWSSSOOIDCService.CreateToken"), "");
}

TEST_F(AdminApiTest, UnknownOperation) {
  json::object out = Sso("CreateInstance", {});
  ExpectError(out, "UnknownOperationException", "SWBExternalService.CreateInstance");
  out = Call("Bogus.ListUsers", {});
  ExpectError(out, "UnknownOperationException", "Bogus.ListUsers");
}

TEST_F(AdminApiTest, MalformedBodyIsASerializationError) {
  last_ = api_->Handle("SWBExternalService.ListInstances", {kRoot, kAccount}, "[1]");
  EXPECT_EQ(last_.FindHeader("x-amzn-ErrorType").value_or(""), "SerializationException");
  EXPECT_THAT(last_.body, HasSubstr("\"__type\":\"SerializationException\""));
}

TEST_F(AdminApiTest, CreateApplicationThenDescribe) {
  const std::string arn = CreateApp("Expenses");
  EXPECT_TRUE(std::regex_match(
      arn, std::regex("arn:aws:sso::111122223333:application/ssoins-0123456789abcdef/"
                      "apl-[0-9a-f]{16}")))
      << arn;
  json::object d = Sso("DescribeApplication", {{"ApplicationArn", arn}});
  ExpectOk();
  EXPECT_EQ(d.at("Name").as_string(), "Expenses");
  EXPECT_EQ(d.at("Status").as_string(), "ENABLED");
  EXPECT_EQ(d.at("ApplicationAccount").as_string(), kAccount);
  EXPECT_EQ(d.at("CreatedDate").as_int64(), 1700000000);
  // Same name again: Conflict.
  json::object out = Sso("CreateApplication",
                         {{"InstanceArn", kInstanceArn},
                          {"ApplicationProviderArn", "arn:aws:sso::aws:applicationProvider/custom"},
                          {"Name", "Expenses"}});
  ExpectError(out, "ConflictException", "Expenses");
}

TEST_F(AdminApiTest, ValidationHappensBeforeAnything) {
  json::object out = Sso("CreateApplication", {{"InstanceArn", kInstanceArn}, {"Name", "x"}});
  ExpectError(out, "ValidationException", "'ApplicationProviderArn'");
  EXPECT_TRUE(store_->ListApplications()->empty());
}

TEST_F(AdminApiTest, ClientTokenReplaysAndRefusesDifferentParameters) {
  json::object in{{"InstanceArn", kInstanceArn},
                  {"ApplicationProviderArn", "arn:aws:sso::aws:applicationProvider/custom"},
                  {"Name", "Once"},
                  {"ClientToken", "token-1"}};
  json::object first = Sso("CreateApplication", in);
  ExpectOk();
  json::object again = Sso("CreateApplication", in);
  ExpectOk();
  EXPECT_EQ(first.at("ApplicationArn"), again.at("ApplicationArn"));
  EXPECT_EQ(store_->ListApplications()->size(), 1u);
  in["Name"] = "Twice";
  json::object out = Sso("CreateApplication", in);
  ExpectError(out, "ConflictException", "ClientToken token-1");
}

TEST_F(AdminApiTest, NotFoundErrors) {
  const std::string missing =
      "arn:aws:sso::111122223333:application/ssoins-0123456789abcdef/apl-0000000000000000";
  ExpectError(Sso("DescribeApplication", {{"ApplicationArn", missing}}),
              "ResourceNotFoundException", missing);
  ExpectError(Sso("DeleteApplication", {{"ApplicationArn", missing}}), "ResourceNotFoundException",
              missing);
  ExpectError(
      Sso("DescribeInstance", {{"InstanceArn", "arn:aws:sso:::instance/ssoins-ffffffffffffffff"}}),
      "ResourceNotFoundException", "ssoins-ffffffffffffffff");
  json::object out = Ids("DescribeUser", {{"UserId", "0b1c2d3e-0000-4000-8000-000000000000"}});
  ExpectError(out, "ResourceNotFoundException", "User");
  EXPECT_EQ(out.at("ResourceType").as_string(), "USER");
  EXPECT_EQ(out.at("ResourceId").as_string(), "0b1c2d3e-0000-4000-8000-000000000000");
  EXPECT_EQ(out.at("RequestId").as_string(), "req-1");
}

TEST_F(AdminApiTest, GrantsMustMatchTheirType) {
  const std::string arn = CreateApp("App");
  json::object out = Sso("PutApplicationGrant", {{"ApplicationArn", arn},
                                                 {"GrantType", "authorization_code"},
                                                 {"Grant", {{"RefreshToken", json::object()}}}});
  ExpectError(out, "ValidationException", "AuthorizationCode");
  PutCodeGrant(arn, "https://a.example/cb");
  json::object got =
      Sso("GetApplicationGrant", {{"ApplicationArn", arn}, {"GrantType", "authorization_code"}});
  ExpectOk();
  EXPECT_EQ(json::serialize(got),
            R"({"Grant":{"AuthorizationCode":{"RedirectUris":["https://a.example/cb"]}}})");
  ExpectError(Sso("GetApplicationGrant", {{"ApplicationArn", arn}, {"GrantType", "refresh_token"}}),
              "ResourceNotFoundException", "refresh_token");
}

TEST_F(AdminApiTest, RedirectUrisMustBeAbsoluteHttpUrisWithoutFragment) {
  const std::string arn = CreateApp("App");
  // A valid grant first: a refused call must leave it as it was.
  PutCodeGrant(arn, "https://a.example/cb");
  json::object out =
      Sso("PutApplicationGrant",
          {{"ApplicationArn", arn},
           {"GrantType", "authorization_code"},
           {"Grant",
            {{"AuthorizationCode",
              {{"RedirectUris", json::array{"https://x.example/cb#frag", "https://ok.example/cb",
                                            "javascript:alert(1)//"}}}}}}});
  ExpectError(out, "ValidationException", "");
  EXPECT_EQ(out.at("Message").as_string(),
            "2 validation errors detected: Value 'https://x.example/cb#frag' at "
            "'Grant.AuthorizationCode.RedirectUris.1' failed to satisfy constraint: Member must "
            "be an absolute https or http URI with a host and no fragment: it has a fragment "
            "(RFC 6749 §3.1.2); Value 'javascript:alert(1)//' at "
            "'Grant.AuthorizationCode.RedirectUris.3' failed to satisfy constraint: Member must "
            "be an absolute https or http URI with a host and no fragment: scheme 'javascript' "
            "is not allowed, only https and http");
  for (const char* bad : {"not a uri", "*"}) {
    out = Sso("PutApplicationGrant",
              {{"ApplicationArn", arn},
               {"GrantType", "authorization_code"},
               {"Grant", {{"AuthorizationCode", {{"RedirectUris", json::array{bad}}}}}}});
    ExpectError(out, "ValidationException", "");
    EXPECT_EQ(out.at("Message").as_string(),
              "1 validation error detected: Value '" + std::string(bad) +
                  "' at 'Grant.AuthorizationCode.RedirectUris.1' failed to satisfy constraint: "
                  "Member must be an absolute https or http URI with a host and no fragment: it "
                  "is not an absolute URI (https://host/path)");
  }
  json::object got =
      Sso("GetApplicationGrant", {{"ApplicationArn", arn}, {"GrantType", "authorization_code"}});
  ExpectOk();
  EXPECT_EQ(json::serialize(got),
            R"({"Grant":{"AuthorizationCode":{"RedirectUris":["https://a.example/cb"]}}})");
}

TEST_F(AdminApiTest, ActorPolicyMustParse) {
  const std::string arn = CreateApp("App");
  json::object out =
      Sso("PutApplicationAuthenticationMethod",
          {{"ApplicationArn", arn},
           {"AuthenticationMethodType", "IAM"},
           {"AuthenticationMethod", {{"Iam", {{"ActorPolicy", {{"Effect", "Perhaps"}}}}}}}});
  ExpectError(out, "ValidationException", "ActorPolicy");
}

TEST_F(AdminApiTest, PaginationTokensAreOpaqueAndTamperEvident) {
  for (const char* name : {"a", "b", "c"}) CreateApp(name);
  json::object page = Sso("ListApplications", {{"InstanceArn", kInstanceArn}, {"MaxResults", 2}});
  ExpectOk();
  ASSERT_EQ(page.at("Applications").as_array().size(), 2u);
  const std::string token(page.at("NextToken").as_string());
  json::object rest = Sso("ListApplications",
                          {{"InstanceArn", kInstanceArn}, {"MaxResults", 2}, {"NextToken", token}});
  ExpectOk();
  EXPECT_EQ(rest.at("Applications").as_array().size(), 1u);
  EXPECT_FALSE(rest.contains("NextToken"));
  std::string tampered = token;
  tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
  ExpectError(Sso("ListApplications", {{"InstanceArn", kInstanceArn}, {"NextToken", tampered}}),
              "ValidationException", "NextToken");
  // A token from another listing is refused too.
  ExpectError(Ids("ListUsers", {{"NextToken", token}}), "ValidationException", "NextToken");
}

TEST_F(AdminApiTest, IdentityPolicyAuthorizesNonRootCallers) {
  ExpectError(Sso("ListInstances", {}, kRole), "AccessDeniedException",
              "User: arn:aws:iam::111122223333:role/admin is not authorized to perform: "
              "sso:ListInstances");
  storage::IamPrincipal p{kRole, kAccount,
                          R"({"Version":"2012-10-17","Statement":[)"
                          R"({"Effect":"Allow","Action":"sso:*","Resource":"*"},)"
                          R"({"Effect":"Deny","Action":"sso:DeleteApplication","Resource":"*"}]})",
                          0};
  ASSERT_TRUE(store_->PutPrincipal(p).ok());
  Sso("ListInstances", {}, kRole);
  ExpectOk();
  const std::string arn = CreateApp("App");
  ExpectError(Sso("DeleteApplication", {{"ApplicationArn", arn}}, kRole), "AccessDeniedException",
              "explicit deny");
  // identitystore actions are not covered by sso:*.
  last_ = api_->Handle("AWSIdentityStore.ListUsers", {kRole, kAccount},
                       std::string(R"({"IdentityStoreId":")") + kStoreId + "\"}");
  EXPECT_EQ(last_.FindHeader("x-amzn-ErrorType").value_or(""), "AccessDeniedException");
  // Assumed-role sessions use their role's policy.
  Sso("ListInstances", {}, "arn:aws:sts::111122223333:assumed-role/admin/session-1");
  ExpectOk();
}

TEST_F(AdminApiTest, UsersAreUniqueByNameCaseInsensitively) {
  json::object created = Ids("CreateUser", {{"UserName", "Alice"}, {"DisplayName", "Alice"}});
  ExpectOk();
  const std::string id(created.at("UserId").as_string());
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                                              "[0-9a-f]{12}")));
  json::object out = Ids("CreateUser", {{"UserName", "alice"}});
  ExpectError(out, "ConflictException", "alice");
  EXPECT_EQ(out.at("Reason").as_string(), "UNIQUENESS_CONSTRAINT_VIOLATION");
  json::object found =
      Ids("GetUserId",
          {{"AlternateIdentifier",
            {{"UniqueAttribute", {{"AttributePath", "userName"}, {"AttributeValue", "ALICE"}}}}}});
  ExpectOk();
  EXPECT_EQ(found.at("UserId").as_string(), id);
}

TEST_F(AdminApiTest, UpdateUserAppliesOperationsAndRevalidates) {
  const std::string id(Ids("CreateUser", {{"UserName", "bob"}}).at("UserId").as_string());
  Ids("UpdateUser",
      {{"UserId", id},
       {"Operations",
        json::array{json::object{{"AttributePath", "name.givenName"}, {"AttributeValue", "Bob"}},
                    json::object{{"AttributePath", "displayName"}, {"AttributeValue", "Bob B"}}}}});
  ExpectOk();
  json::object d = Ids("DescribeUser", {{"UserId", id}});
  EXPECT_EQ(d.at("Name").at("GivenName").as_string(), "Bob");
  EXPECT_EQ(d.at("DisplayName").as_string(), "Bob B");
  ExpectError(
      Ids("UpdateUser",
          {{"UserId", id},
           {"Operations", json::array{json::object{{"AttributePath", "displayName"},
                                                   {"AttributeValue", std::string(1025, 'x')}}}}}),
      "ValidationException", "'DisplayName'");
  ExpectError(
      Ids("UpdateUser", {{"UserId", id},
                         {"Operations", json::array{json::object{{"AttributePath", "password"},
                                                                 {"AttributeValue", "x"}}}}}),
      "ValidationException", "password");
}

TEST_F(AdminApiTest, GroupAssignmentGrantsAccess) {
  const std::string app = CreateApp("App");
  const std::string user(Ids("CreateUser", {{"UserName", "carol"}}).at("UserId").as_string());
  const std::string group(Ids("CreateGroup", {{"DisplayName", "staff"}}).at("GroupId").as_string());
  ExpectError(Ids("CreateGroup", {{"DisplayName", "staff"}}), "ConflictException", "staff");
  Sso("CreateApplicationAssignment",
      {{"ApplicationArn", app}, {"PrincipalId", group}, {"PrincipalType", "GROUP"}});
  ExpectOk();
  EXPECT_FALSE(*store_->IsAssigned(app, user));
  json::object m =
      Ids("CreateGroupMembership", {{"GroupId", group}, {"MemberId", {{"UserId", user}}}});
  ExpectOk();
  EXPECT_TRUE(*store_->IsAssigned(app, user));
  ExpectError(Ids("CreateGroupMembership", {{"GroupId", group}, {"MemberId", {{"UserId", user}}}}),
              "ConflictException", "already a member");
  json::object is =
      Ids("IsMemberInGroups", {{"MemberId", {{"UserId", user}}}, {"GroupIds", json::array{group}}});
  EXPECT_TRUE(is.at("Results").as_array()[0].at("MembershipExists").as_bool());
  ExpectError(
      Sso("CreateApplicationAssignment", {{"ApplicationArn", app},
                                          {"PrincipalId", "0b1c2d3e-0000-4000-8000-000000000000"},
                                          {"PrincipalType", "USER"}}),
      "ResourceNotFoundException", "User");
}

// Issue 23: a JSON null inside a list reached handlers that read every element as its shape,
// and they threw (500 InternalServerException, which SDKs retry). Every list member of every
// operation's input (found by walking both models), nested ones included, is now a 400
// ValidationException naming the element, and the call changes nothing.
TEST_F(AdminApiTest, NullListElementsAreValidationErrorsNamingTheElement) {
  const std::string app = CreateApp("App");
  const std::string user(Ids("CreateUser", {{"UserName", "dora"}}).at("UserId").as_string());
  ExpectOk();
  const std::string store = std::string(R"("IdentityStoreId":")") + kStoreId + R"(",)";
  const std::string instance = std::string(R"("InstanceArn":")") + kInstanceArn + R"(",)";
  const std::string app_arn = R"("ApplicationArn":")" + app + R"(",)";
  const std::string tti =
      "arn:aws:sso::111122223333:trustedTokenIssuer/ssoins-0123456789abcdef/"
      "tti-0b1c2d3e-0000-4000-8000-000000000000";
  const std::string oidc =
      R"("TrustedTokenIssuerConfiguration":{"OidcJwtConfiguration":{"IssuerUrl":)"
      R"("https://idp.example","ClaimAttributePath":"email","IdentityStoreAttributePath":)"
      R"("emails.value","JwksRetrievalOption":"OPEN_ID_DISCOVERY"}},)";
  struct Case {
    std::string target;
    std::string body;
    std::string element;  // the path the message must name
  };
  const std::vector<Case> cases = {
      // identitystore: the four the black-box fuzzer found, then the rest of the model's lists.
      {"AWSIdentityStore.ListUsers", "{" + store + R"("Filters":[null]})", "Filters.1"},
      {"AWSIdentityStore.ListGroups", "{" + store + R"("Filters":[null]})", "Filters.1"},
      {"AWSIdentityStore.IsMemberInGroups",
       "{" + store + R"("MemberId":{"UserId":")" + user + R"("},"GroupIds":[null]})", "GroupIds.1"},
      {"AWSIdentityStore.IsMemberInGroups",
       "{" + store + R"("MemberId":{"UserId":")" + user + R"("},"GroupIds":[")" + user +
           R"(",null]})",
       "GroupIds.2"},
      {"AWSIdentityStore.UpdateUser",
       "{" + store + R"("UserId":")" + user + R"(","Operations":[null]})", "Operations.1"},
      {"AWSIdentityStore.ListUsers", "{" + store + R"("Extensions":[null]})", "Extensions.1"},
      {"AWSIdentityStore.DescribeUser",
       "{" + store + R"("UserId":")" + user + R"(","Extensions":[null]})", "Extensions.1"},
      {"AWSIdentityStore.CreateUser", "{" + store + R"("UserName":"eve","Emails":[null]})",
       "Emails.1"},
      {"AWSIdentityStore.CreateUser", "{" + store + R"("UserName":"eve","Addresses":[null]})",
       "Addresses.1"},
      {"AWSIdentityStore.CreateUser", "{" + store + R"("UserName":"eve","PhoneNumbers":[null]})",
       "PhoneNumbers.1"},
      {"AWSIdentityStore.CreateUser", "{" + store + R"("UserName":"eve","Photos":[null]})",
       "Photos.1"},
      {"AWSIdentityStore.CreateUser", "{" + store + R"("UserName":"eve","Roles":[null]})",
       "Roles.1"},
      // An operation's value is a document, checked as the user it makes.
      {"AWSIdentityStore.UpdateUser",
       "{" + store + R"("UserId":")" + user +
           R"(","Operations":[{"AttributePath":"emails","AttributeValue":[null]}]})",
       "Emails.1"},
      // sso-admin, nested lists included.
      {"SWBExternalService.CreateApplication",
       "{" + instance +
           R"("ApplicationProviderArn":"arn:aws:sso::aws:applicationProvider/custom",)"
           R"("Name":"Other","Tags":[null]})",
       "Tags.1"},
      {"SWBExternalService.CreateTrustedTokenIssuer",
       "{" + instance + oidc + R"("Name":"idp","TrustedTokenIssuerType":"OIDC_JWT","Tags":[null]})",
       "Tags.1"},
      {"SWBExternalService.TagResource",
       "{" + instance + R"("ResourceArn":")" + app + R"(","Tags":[null]})", "Tags.1"},
      {"SWBExternalService.UntagResource",
       "{" + instance + R"("ResourceArn":")" + app + R"(","TagKeys":[null]})", "TagKeys.1"},
      {"SWBExternalService.PutApplicationAccessScope",
       "{" + app_arn + R"("Scope":"sso:account:access","AuthorizedTargets":[null]})",
       "AuthorizedTargets.1"},
      {"SWBExternalService.PutApplicationGrant",
       "{" + app_arn +
           R"("GrantType":"authorization_code","Grant":{"AuthorizationCode":{"RedirectUris":[null]}}})",
       "Grant.AuthorizationCode.RedirectUris.1"},
      {"SWBExternalService.PutApplicationGrant",
       "{" + app_arn + R"("GrantType":"urn:ietf:params:oauth:grant-type:jwt-bearer",)" +
           R"("Grant":{"JwtBearer":{"AuthorizedTokenIssuers":[null]}}})",
       "Grant.JwtBearer.AuthorizedTokenIssuers.1"},
      {"SWBExternalService.PutApplicationGrant",
       "{" + app_arn + R"("GrantType":"urn:ietf:params:oauth:grant-type:jwt-bearer",)" +
           R"("Grant":{"JwtBearer":{"AuthorizedTokenIssuers":[{"TrustedTokenIssuerArn":")" + tti +
           R"(","AuthorizedAudiences":[null]}]}}})",
       "Grant.JwtBearer.AuthorizedTokenIssuers.1.AuthorizedAudiences.1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target + " " + c.body);
    last_ = api_->Handle(c.target, {kRoot, kAccount, "req-1"}, c.body);
    json::value parsed = json::parse(last_.body);
    ASSERT_TRUE(parsed.is_object()) << last_.body;
    ExpectError(
        parsed.as_object(), "ValidationException",
        "Value null at '" + c.element + "' failed to satisfy constraint: Member must not be null");
  }
  // Nothing changed: no second user, no application, grant, scope or tag, the user as made.
  json::object users = Ids("ListUsers", {});
  ASSERT_EQ(users.at("Users").as_array().size(), 1u);
  EXPECT_FALSE(users.at("Users").as_array()[0].as_object().contains("Emails"));
  auto stored = store_->GetApplication(app);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_TRUE(stored->grants.empty());
  EXPECT_TRUE(stored->access_scopes.empty());
  EXPECT_EQ(store_->ListApplications()->size(), 1u);
  EXPECT_TRUE(store_->ListTrustedTokenIssuers()->empty());
  EXPECT_TRUE(store_->ListTags(app)->empty());
}

// What the handlers read without the model's guarantees is still read safely: a wrong element
// type is named like a null one.
TEST_F(AdminApiTest, WrongElementTypesAreValidationErrorsNamingTheElement) {
  const std::string store = std::string(R"("IdentityStoreId":")") + kStoreId + R"(",)";
  for (const char* op : {"ListUsers", "ListGroups"}) {
    last_ = api_->Handle(std::string("AWSIdentityStore.") + op, {kRoot, kAccount, "req-1"},
                         "{" + store + R"("Filters":[1]})");
    ExpectError(json::parse(last_.body).as_object(), "ValidationException", "'Filters.1'");
  }
}

// A document may be null anywhere: the map of extensions keeps accepting a null value.
TEST_F(AdminApiTest, NullDocumentValuesInAMapAreAccepted) {
  last_ = api_->Handle(
      "AWSIdentityStore.CreateUser", {kRoot, kAccount, "req-1"},
      std::string(R"({"IdentityStoreId":")") + kStoreId +
          R"(","UserName":"fred","Extensions":{"aws:identitystore:enterprise":null}})");
  ExpectOk();
}

TEST_F(AdminApiTest, ErrorsFromStoreFailuresAreInternal) {
  http::Response r = AwsJsonError(InternalError("disk on fire"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType").value_or(""), "InternalServerException");
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("disk")));
  r = AwsJsonError(ApiError(StatusCode::kPermissionDenied, "InvalidSignatureException", "bad"));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.body, HasSubstr(R"("__type":"InvalidSignatureException")"));
}

}  // namespace
}  // namespace ts::admin
