#include "ts/admin/service_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "test/common/status_matchers.h"

namespace ts::admin {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
namespace json = boost::json;

const ServiceModel& Sso() {
  static std::shared_ptr<const ServiceModel> model = *SsoAdminModel();
  return *model;
}
const ServiceModel& Ids() {
  static std::shared_ptr<const ServiceModel> model = *IdentityStoreModel();
  return *model;
}

constexpr char kInstance[] = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
constexpr char kApp[] =
    "arn:aws:sso::111122223333:application/ssoins-0123456789abcdef/apl-0123456789abcdef";

// The validation message of `op` on `body`, or "" if it is valid.
std::string Check(const ServiceModel& model, const char* op, const std::string& body) {
  Status status = model.ValidateInput(op, json::parse(body));
  if (status.ok()) return "";
  EXPECT_EQ(status.error_type(), "ValidationException") << status;
  return std::string(status.message());
}

TEST(ServiceModelTest, EmbeddedModelsParseAndCompileEveryPattern) {
  ASSERT_TRUE(SsoAdminModel().ok()) << SsoAdminModel().status();
  ASSERT_TRUE(IdentityStoreModel().ok()) << IdentityStoreModel().status();
  EXPECT_EQ(Sso().target_prefix(), "SWBExternalService");
  EXPECT_EQ(Sso().signing_name(), "sso");
  EXPECT_EQ(Ids().target_prefix(), "AWSIdentityStore");
  EXPECT_EQ(Ids().signing_name(), "identitystore");
  EXPECT_TRUE(Sso().HasOperation("CreateApplication"));
  EXPECT_FALSE(Sso().HasOperation("CreateInstance"));  // not served, trimmed away
  EXPECT_THAT(Sso().IdempotencyTokenMembers("CreateApplication"),
              ::testing::ElementsAre("ClientToken"));
}

TEST(ServiceModelTest, AcceptsAValidRequest) {
  EXPECT_EQ(Check(Sso(), "CreateApplication",
                  std::string(R"({"InstanceArn":")") + kInstance +
                      R"(","ApplicationProviderArn":"arn:aws:sso::aws:applicationProvider/custom",)"
                      R"("Name":"Expense reports","Status":"ENABLED"})"),
            "");
}

TEST(ServiceModelTest, RequiredMembersAreNamed) {
  const std::string message = Check(Sso(), "CreateApplication", R"({"Name":"x"})");
  EXPECT_THAT(message, HasSubstr("2 validation errors detected"));
  EXPECT_THAT(message, HasSubstr("Value null at 'InstanceArn' failed to satisfy constraint: "
                                 "Member must not be null"));
  EXPECT_THAT(message, HasSubstr("'ApplicationProviderArn'"));
  // null counts as absent.
  EXPECT_THAT(Check(Sso(), "DescribeApplication", R"({"ApplicationArn":null})"),
              HasSubstr("Value null at 'ApplicationArn'"));
}

TEST(ServiceModelTest, StringLengthCountsCodePoints) {
  const std::string base = std::string(R"({"ApplicationArn":")") + kApp + R"(","Name":")";
  // 100 code points of two bytes each: within max 100.
  std::string name;
  for (int i = 0; i < 100; ++i) name += "\xc3\xa9";
  EXPECT_EQ(Check(Sso(), "UpdateApplication", base + name + R"("})"), "");
  EXPECT_THAT(Check(Sso(), "UpdateApplication", base + name + R"(x"})"),
              HasSubstr("Value at 'Name' failed to satisfy constraint: Member must have length "
                        "less than or equal to 100"));
  EXPECT_THAT(Check(Sso(), "UpdateApplication",
                    std::string(R"({"ApplicationArn":")") + kApp + R"(","Description":""})"),
              HasSubstr("'Description' failed to satisfy constraint: Member must have length "
                        "greater than or equal to 1"));
}

TEST(ServiceModelTest, PatternsMatchTheWholeValue) {
  EXPECT_THAT(Check(Sso(), "DescribeApplication", R"({"ApplicationArn":"arn:aws:sso::1:app"})"),
              HasSubstr("at 'ApplicationArn' failed to satisfy constraint: Member must satisfy "
                        "regular expression pattern"));
  // A valid ARN with trailing junk does not match either.
  EXPECT_THAT(
      Check(Sso(), "DescribeApplication", std::string(R"({"ApplicationArn":")") + kApp + R"(X"})"),
      HasSubstr("'ApplicationArn'"));
  // Scope: up to three colon-separated words.
  const std::string scope = std::string(R"({"ApplicationArn":")") + kApp + R"(","Scope":")";
  EXPECT_EQ(Check(Sso(), "PutApplicationAccessScope", scope + R"(expenses:read"})"), "");
  EXPECT_THAT(Check(Sso(), "PutApplicationAccessScope", scope + R"(has space"})"),
              HasSubstr("'Scope'"));
}

TEST(ServiceModelTest, UnicodeClassesAcceptNonAsciiLetters) {
  // TagKey: [\p{L}\p{Z}\p{N}_.:/=+\-@]*
  const std::string base = std::string(R"({"ResourceArn":")") + kApp + R"(","Tags":[{"Key":")";
  EXPECT_EQ(Check(Sso(), "TagResource", base + "\xc3\xa9quipe" + R"(","Value":"v"}]})"), "");
  EXPECT_THAT(Check(Sso(), "TagResource", base + "bad*key" + R"(","Value":"v"}]})"),
              HasSubstr("'Tags.1.Key'"));
}

TEST(ServiceModelTest, EnumsAreChecked) {
  EXPECT_THAT(Check(Sso(), "UpdateApplication",
                    std::string(R"({"ApplicationArn":")") + kApp + R"(","Status":"PAUSED"})"),
              HasSubstr("Value 'PAUSED' at 'Status' failed to satisfy constraint: Member must "
                        "satisfy enum value set: [DISABLED, ENABLED]"));
}

TEST(ServiceModelTest, UnionsNeedExactlyOneMember) {
  const std::string base = std::string(R"({"ApplicationArn":")") + kApp +
                           R"(","GrantType":"authorization_code","Grant":)";
  EXPECT_EQ(Check(Sso(), "PutApplicationGrant",
                  base + R"({"AuthorizationCode":{"RedirectUris":["https://a.example/cb"]}}})"),
            "");
  EXPECT_THAT(Check(Sso(), "PutApplicationGrant", base + R"({}})"),
              HasSubstr("at 'Grant' failed to satisfy constraint: exactly one of"));
  EXPECT_THAT(
      Check(Sso(), "PutApplicationGrant", base + R"({"RefreshToken":{},"TokenExchange":{}}})"),
      HasSubstr("got 2"));
}

TEST(ServiceModelTest, ListLimitsAndNestedPaths) {
  std::string uris;
  for (int i = 0; i < 11; ++i)
    uris += std::string(i ? "," : "") + "\"https://a.example/" + std::to_string(i) + "\"";
  const std::string base = std::string(R"({"ApplicationArn":")") + kApp +
                           R"(","GrantType":"authorization_code","Grant":{"AuthorizationCode":)";
  EXPECT_THAT(Check(Sso(), "PutApplicationGrant", base + R"({"RedirectUris":[)" + uris + "]}}}"),
              HasSubstr("Value at 'Grant.AuthorizationCode.RedirectUris' failed to satisfy "
                        "constraint: Member must have length less than or equal to 10"));
  EXPECT_THAT(Check(Sso(), "PutApplicationGrant", base + R"({"RedirectUris":[]}}})"),
              HasSubstr("greater than or equal to 1"));
}

TEST(ServiceModelTest, IntegerRangesAndTypes) {
  const std::string base = std::string(R"({"InstanceArn":")") + kInstance + R"(","MaxResults":)";
  EXPECT_EQ(Check(Sso(), "ListApplications", base + "100}"), "");
  EXPECT_THAT(Check(Sso(), "ListApplications", base + "0}"),
              HasSubstr("Value '0' at 'MaxResults' failed to satisfy constraint: Member must have "
                        "value greater than or equal to 1"));
  EXPECT_THAT(Check(Sso(), "ListApplications", base + "101}"), HasSubstr("less than or equal"));
  EXPECT_THAT(Check(Sso(), "ListApplications", base + R"("ten"})"),
              HasSubstr("Member must be an integer, not a string"));
  EXPECT_THAT(Check(Ids(), "CreateUser", R"({"IdentityStoreId":"d-0123456789","UserName":5})"),
              HasSubstr("'UserName' failed to satisfy constraint: Member must be a string"));
}

TEST(ServiceModelTest, IdentityStoreShapes) {
  EXPECT_EQ(Check(Ids(), "GetUserId",
                  R"({"IdentityStoreId":"d-0123456789","AlternateIdentifier":)"
                  R"({"UniqueAttribute":{"AttributePath":"userName","AttributeValue":"alice"}}})"),
            "");
  EXPECT_THAT(Check(Ids(), "GetUserId", R"({"IdentityStoreId":"x","AlternateIdentifier":{}})"),
              HasSubstr("'IdentityStoreId'"));
  EXPECT_THAT(Check(Ids(), "GetUserId",
                    R"({"IdentityStoreId":"d-0123456789",)"
                    R"("AlternateIdentifier":{}})"),
              HasSubstr("exactly one of [ExternalId, UniqueAttribute]"));
}

TEST(ServiceModelTest, SensitiveValuesAreNotEchoed) {
  // identitystore's UserName is a sensitive shape.
  const std::string message =
      Check(Ids(), "CreateUser", R"({"IdentityStoreId":"d-0123456789","UserName":"  "})");
  EXPECT_THAT(message, HasSubstr("Value at 'UserName' failed to satisfy constraint"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("'  '")));
}

TEST(ServiceModelTest, OverlongValuesFailWithoutRunningThePattern) {
  // 200 KB in a [\S\s]* field with max 100: refused on length and pattern, no deep recursion.
  const std::string huge(200 * 1024, 'x');
  const std::string message =
      Check(Sso(), "UpdateApplication",
            std::string(R"({"ApplicationArn":")") + kApp + R"(","Name":")" + huge + R"("})");
  EXPECT_THAT(message, HasSubstr("less than or equal to 100"));
  EXPECT_THAT(
      Check(Sso(), "PutApplicationAccessScope",
            std::string(R"({"ApplicationArn":")") + kApp + R"(","Scope":")" + huge + R"("})"),
      HasSubstr("'Scope'"));
}

TEST(ServiceModelTest, UnknownOperationIsNotFound) {
  Status status = Sso().ValidateInput("Nope", json::object());
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
}

// --- the file style (bootstrap files: ValidationOptions with a root) ---

std::string CheckFile(const ServiceModel& model, const char* op, const std::string& body,
                      const ValidationOptions& options) {
  Status status = model.ValidateInput(op, json::parse(body), options);
  if (status.ok()) return "";
  EXPECT_EQ(status.error_type(), "ValidationException") << status;
  return std::string(status.message());
}

TEST(ServiceModelTest, FileStyleNamesMembersFromTheRootAndCountsElementsFromZero) {
  ValidationOptions options;
  options.root = "Applications[0].Grants[1]";
  options.omit = {"ApplicationArn"};
  EXPECT_EQ(CheckFile(Sso(), "PutApplicationGrant",
                      R"({"GrantType":"authorization_code","Grant":{"AuthorizationCode":)"
                      R"({"RedirectUris":["https://a.example/cb","https://b.example/cb"]}}})",
                      options),
            "");
  EXPECT_EQ(CheckFile(Sso(), "PutApplicationGrant",
                      R"({"GrantType":"authorization_code","Grant":{"AuthorizationCode":)"
                      R"({"RedirectUris":["https://a.example/cb",7]}}})",
                      options),
            "Applications[0].Grants[1].Grant.AuthorizationCode.RedirectUris[1]: Value failed to "
            "satisfy constraint: Member must be a string, not a number");
  EXPECT_EQ(CheckFile(Sso(), "PutApplicationGrant", R"({"Grant":{"RefreshToken":{}}})", options),
            "Applications[0].Grants[1].GrantType: is required");
}

TEST(ServiceModelTest, FileStyleRefusesUnknownAndOmittedMembersAtEveryLevel) {
  ValidationOptions options;
  options.root = "Applications[0].Grants[0]";
  options.reject_unknown = true;
  options.omit = {"ApplicationArn"};
  EXPECT_EQ(CheckFile(Sso(), "PutApplicationGrant",
                      std::string(R"({"ApplicationArn":")") + kApp +
                          R"(","GrantType":"refresh_token","Grant":{"RefreshToken":{}}})",
                      options),
            "Applications[0].Grants[0].ApplicationArn: unknown member (expected one of Grant, "
            "GrantType)");
  EXPECT_THAT(CheckFile(Sso(), "PutApplicationGrant",
                        R"({"GrantType":"authorization_code","Grant":{"AuthorizationCode":)"
                        R"({"RedirectUri":["https://a.example/cb"]}}})",
                        options),
              HasSubstr("Applications[0].Grants[0].Grant.AuthorizationCode.RedirectUri: "
                        "unknown member (expected one of RedirectUris)"));
  // The wire keeps ignoring them (SDKs newer than the model).
  EXPECT_EQ(Check(Sso(), "PutApplicationGrant",
                  std::string(R"({"ApplicationArn":")") + kApp +
                      R"(","GrantType":"refresh_token","Grant":{"RefreshToken":{}},"New":1})"),
            "");
}

TEST(ServiceModelTest, ValidateShapeChecksOneValue) {
  ValidationOptions options;
  options.root = "Applications[0].ApplicationArn";
  EXPECT_THAT(Sso().ValidateShape("ApplicationArn", json::value(kApp), options), IsOk());
  Status bad = Sso().ValidateShape("ApplicationArn", json::value("foo"), options);
  EXPECT_EQ(bad.error_type(), "ValidationException");
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("Applications[0].ApplicationArn: Value 'foo' failed to satisfy "
                        "constraint: Member must satisfy regular expression pattern: arn:aws"));
  EXPECT_EQ(Sso().ValidateShape("NoSuchShape", json::value(1)).code(), StatusCode::kNotFound);
}

TEST(ServiceModelTest, SkippedPatternsAreLeftToTheCaller) {
  ValidationOptions options;
  options.root = "Instance.InstanceArn";
  options.skip_patterns = {"InstanceArn"};
  const json::value doc_example("arn:aws:sso:::instance/ssoins-111111111111");
  EXPECT_THAT(Sso().ValidateShape("InstanceArn", doc_example, options), IsOk());
  options.skip_patterns.clear();
  EXPECT_THAT(std::string(Sso().ValidateShape("InstanceArn", doc_example, options).message()),
              HasSubstr("regular expression pattern"));
}

TEST(ServiceModelTest, TheServersOwnInstanceIdPassesThePatterns) {
  // The demo instance's id (12 characters after "ins-") fails the models' patterns as such.
  const json::value instance("arn:aws:sso:::instance/ssoins-111111111111");
  const json::value permission_set(
      "arn:aws:sso:::permissionSet/ssoins-111111111111/ps-0123456789abcdef");
  EXPECT_THAT(std::string(Sso().ValidateShape("InstanceArn", instance).message()),
              HasSubstr("regular expression pattern"));
  ValidationOptions options;
  options.own_instance_id = "ssoins-111111111111";
  EXPECT_THAT(Sso().ValidateShape("InstanceArn", instance, options), IsOk());
  EXPECT_THAT(Sso().ValidateShape("PermissionSetArn", permission_set, options), IsOk());
  // Another short id is still refused, and so is the own id with anything else wrong.
  EXPECT_THAT(
      std::string(Sso()
                      .ValidateShape("InstanceArn",
                                     json::value("arn:aws:sso:::instance/ssoins-222222222222"),
                                     options)
                      .message()),
      HasSubstr("regular expression pattern"));
  EXPECT_THAT(
      std::string(
          Sso()
              .ValidateShape("PermissionSetArn",
                             json::value("arn:aws:sso:::permissionSet/ssoins-111111111111/ps-1"),
                             options)
              .message()),
      HasSubstr("regular expression pattern"));
}

TEST(ServiceModelTest, MarkNonAsciiCountsCodePoints) {
  size_t n = 0;
  EXPECT_EQ(MarkNonAscii("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", &n), "a\x01\x01\x01z");
  EXPECT_EQ(n, 5u);
}

}  // namespace
}  // namespace ts::admin
