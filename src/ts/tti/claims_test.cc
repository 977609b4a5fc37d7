#include "ts/tti/claims.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/common/status_matchers.h"

namespace ts::tti {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

storage::User Alice() {
  storage::User u;
  u.user_id = "6f1c0f4e-0000-4000-8000-000000000001";
  u.user_name = "alice";
  u.display_name = "Alice Example";
  u.attributes_json = R"({"UserName":"alice","Name":{"GivenName":"Alice","FamilyName":"Example"},)"
                      R"("Emails":[{"Value":"Alice@Example.com","Type":"work","Primary":true}],)"
                      R"("ExternalIds":[{"Issuer":"https://idp.example","Id":"00u123"}]})";
  return u;
}

TEST(ClaimPath, AcceptsTheModelPattern) {
  EXPECT_THAT(ValidateClaimPath("email"), IsOk());
  EXPECT_THAT(ValidateClaimPath("preferred_username"), IsOk());
  EXPECT_THAT(ValidateClaimPath("ext.profile.login"), IsOk());
  EXPECT_THAT(ValidateClaimPath("a_b.c"), IsOk());
}

TEST(ClaimPath, RefusesWhatThePatternRefuses) {
  for (const char* bad : {"", "a.b.c.d", "a_b_c_d", ".email", "email.", "a..b", "e-mail", "sub1"}) {
    EXPECT_THAT(ValidateClaimPath(bad),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("ClaimAttributePath")))
        << bad;
  }
}

TEST(AttributePath, AcceptsDotsButNotUnderscores) {
  EXPECT_THAT(ValidateAttributePath("emails.value"), IsOk());
  EXPECT_THAT(ValidateAttributePath("userName"), IsOk());
  EXPECT_THAT(ValidateAttributePath("user_name"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("IdentityStoreAttributePath")));
}

TEST(ClaimAtPath, ReadsTopLevelAndNestedStrings) {
  const std::string claims =
      R"({"email":"a@example.com","preferred_username":"alice","ext":{"login":"al"},"n":5,)"
      R"("list":["x"],"nothing":null})";
  EXPECT_THAT(ClaimAtPath(claims, "email"), IsOkAndHolds("a@example.com"));
  EXPECT_THAT(ClaimAtPath(claims, "preferred_username"), IsOkAndHolds("alice"));
  EXPECT_THAT(ClaimAtPath(claims, "ext.login"), IsOkAndHolds("al"));
  EXPECT_THAT(ClaimAtPath(claims, "missing"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no claim 'missing'")));
  EXPECT_THAT(ClaimAtPath(claims, "ext.other"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no claim 'ext.other'")));
  EXPECT_THAT(ClaimAtPath(claims, "nothing"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no claim")));
  EXPECT_THAT(ClaimAtPath(claims, "n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is not a string")));
  EXPECT_THAT(ClaimAtPath(claims, "list"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is not a string")));
}

TEST(UserHasAttribute, MatchesTheIdentityStoreAttributes) {
  const storage::User alice = Alice();
  EXPECT_TRUE(UserHasAttribute(alice, "userName", "alice"));
  EXPECT_TRUE(UserHasAttribute(alice, "userName", "ALICE"));
  EXPECT_FALSE(UserHasAttribute(alice, "userName", "bob"));
  EXPECT_TRUE(UserHasAttribute(alice, "id", alice.user_id));
  EXPECT_TRUE(UserHasAttribute(alice, "emails.value", "alice@example.com"));
  EXPECT_FALSE(UserHasAttribute(alice, "emails.value", "bob@example.com"));
  EXPECT_TRUE(UserHasAttribute(alice, "externalIds.id", "00u123"));
  EXPECT_FALSE(UserHasAttribute(alice, "externalIds.id", "00U123"));  // exact elsewhere
  EXPECT_TRUE(UserHasAttribute(alice, "name.givenName", "Alice"));
  EXPECT_TRUE(UserHasAttribute(alice, "displayName", "Alice Example"));
  EXPECT_FALSE(UserHasAttribute(alice, "name.middleName", "Alice"));
  EXPECT_FALSE(UserHasAttribute(alice, "userName", ""));
}

}  // namespace
}  // namespace ts::tti
