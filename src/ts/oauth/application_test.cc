#include "ts/oauth/application.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/common/status_matchers.h"

namespace ts::oauth {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::ts::testing::IsOkAndHolds;

using Scopes = std::vector<std::string>;

const Scopes kCeiling = {"openid", "aws", "sts:identity_context", "s3:access_grants:read"};

TEST(NarrowScopesTest, NothingRequestedGrantsTheCeiling) {
  EXPECT_THAT(NarrowScopes({}, kCeiling), IsOkAndHolds(kCeiling));
}

TEST(NarrowScopesTest, SubsetIsGrantedInRequestOrder) {
  EXPECT_THAT(NarrowScopes({"aws", "openid"}, kCeiling),
              IsOkAndHolds(ElementsAre("aws", "openid")));
}

TEST(NarrowScopesTest, DuplicatesAreDropped) {
  EXPECT_THAT(NarrowScopes({"openid", "aws", "openid", "aws"}, kCeiling),
              IsOkAndHolds(ElementsAre("openid", "aws")));
}

TEST(NarrowScopesTest, ScopeOutsideTheCeilingIsInvalidScopeNamingIt) {
  auto r = NarrowScopes({"openid", "s3:access_grants:read_write", "admin"}, kCeiling);
  EXPECT_THAT(r, ::ts::testing::StatusIs(StatusCode::kInvalidArgument,
                                         AllOf(HasSubstr("'s3:access_grants:read_write'"),
                                               ::testing::Not(HasSubstr("admin")))));
  EXPECT_EQ(r.status().error_type(), "InvalidScopeException");
}

TEST(NarrowScopesTest, EmptyCeilingRefusesAnyRequest) {
  auto r = NarrowScopes({"openid"}, {});
  EXPECT_EQ(r.status().error_type(), "InvalidScopeException");
  EXPECT_THAT(NarrowScopes({}, {}), IsOkAndHolds(IsEmpty()));
}

storage::Application AppWithGrants(std::map<std::string, std::string> grants) {
  storage::Application app;
  app.application_arn = "arn:aws:sso::123456789012:application/ssoins-1/apl-1";
  app.grants = std::move(grants);
  return app;
}

TEST(AllowedScopesTest, DefaultsThenAccessScopesWithoutDuplicates) {
  storage::Application app = AppWithGrants({});
  EXPECT_THAT(AllowedScopes(app), ElementsAre("openid", "aws", "sts:identity_context"));
  app.access_scopes["s3:access_grants:read_write"] = {};
  app.access_scopes["openid"] = {};  // a default listed again is not repeated
  app.access_scopes["qbusiness:conversations:access"] = {"arn:aws:sso::1:application/x/y"};
  EXPECT_THAT(AllowedScopes(app),
              ElementsAre("openid", "aws", "sts:identity_context", "qbusiness:conversations:access",
                          "s3:access_grants:read_write"));
  EXPECT_THAT(DefaultScopes(), ElementsAre("openid", "aws", "sts:identity_context"));
}

TEST(RedirectUrisTest, ReadsTheAuthorizationCodeGrant) {
  storage::Application app = AppWithGrants(
      {{"authorization_code", R"({"RedirectUris":["https://a.example/cb","http://127.0.0.1/cb"]})"},
       {"refresh_token", "{}"}});
  EXPECT_THAT(RedirectUris(app), ElementsAre("https://a.example/cb", "http://127.0.0.1/cb"));
  EXPECT_TRUE(HasGrant(app, kGrantAuthorizationCode));
  EXPECT_TRUE(HasGrant(app, kGrantRefreshToken));
  EXPECT_FALSE(HasGrant(app, kGrantJwtBearer));
}

TEST(RedirectUrisTest, EmptyWhenAbsentOrMalformed) {
  EXPECT_THAT(RedirectUris(AppWithGrants({{"refresh_token", "{}"}})), IsEmpty());
  EXPECT_THAT(RedirectUris(AppWithGrants({{"authorization_code", "not json"}})), IsEmpty());
  EXPECT_THAT(RedirectUris(AppWithGrants({{"authorization_code", "[]"}})), IsEmpty());
  EXPECT_THAT(RedirectUris(AppWithGrants({{"authorization_code", R"({"RedirectUris":"x"})"}})),
              IsEmpty());
  // Non-string entries are skipped, the rest kept.
  EXPECT_THAT(RedirectUris(AppWithGrants(
                  {{"authorization_code", R"({"RedirectUris":[1,"https://b/cb"]})"}})),
              ElementsAre("https://b/cb"));
}

TEST(ContainsTest, ExactMatchOnly) {
  EXPECT_TRUE(Contains({"a", "b"}, "b"));
  EXPECT_FALSE(Contains({"a", "b"}, "B"));
  EXPECT_FALSE(Contains({}, "a"));
}

}  // namespace
}  // namespace ts::oauth
