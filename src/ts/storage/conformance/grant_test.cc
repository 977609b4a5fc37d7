// The conformance suite's GrantStore cases: authorization codes, token families, refresh
// tokens, exchange lineage, revoked access tokens, used assertions and the blocking writes' races
// (see conformance_test.h). The token endpoint's writes, blocking and asynchronous, and the
// checked rotation are in grant_async_test.cc.
#include <gmock/gmock.h>

#include <optional>
#include <string>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::Eq;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

// --- authorization codes ---

TEST_P(StoreConformanceTest, AuthorizationCodeCreateGetAndDuplicate) {
  const AuthorizationCode code = MakeCode("code-1", "user-1");
  ASSERT_THAT(store_->CreateAuthorizationCode(code), IsOk());
  EXPECT_THAT(store_->GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(code)));
  EXPECT_THAT(store_->CreateAuthorizationCode(code),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("authorization code")));
  EXPECT_THAT(store_->GetAuthorizationCode("code-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
}

// A redemption's one read: the code and whether its user still exists.
TEST_P(StoreConformanceTest, CodeToRedeemSaysWhetherItsUserExists) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "someone")), IsOk());
  const AuthorizationCode orphan = MakeCode("code-1", "user-gone");
  const AuthorizationCode held = MakeCode("code-2", "user-2");
  ASSERT_THAT(store_->CreateAuthorizationCode(orphan), IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(held), IsOk());
  auto read = store_->GetCodeToRedeem("code-1");
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->code, orphan);
  EXPECT_FALSE(read->user_exists);
  read = store_->GetCodeToRedeem("code-2");
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->code, held);
  EXPECT_TRUE(read->user_exists);
  EXPECT_THAT(store_->GetCodeToRedeem("code-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
}

// --- token families and refresh tokens ---

TEST_P(StoreConformanceTest, CreateFamilyWithAndWithoutRefreshToken) {
  const TokenFamily with = MakeFamily("fam-1");
  const RefreshToken refresh = MakeRefresh("rt-1", "fam-1");
  TokenFamily without = MakeFamily("fam-2");
  without.grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer";
  without.session_hash = "";
  without.scopes = {};
  ASSERT_THAT(store_->CreateFamily(with, refresh), IsOk());
  ASSERT_THAT(store_->CreateFamily(without, std::nullopt), IsOk());
  EXPECT_THAT(store_->GetFamily("fam-1"), IsOkAndHolds(Eq(with)));
  EXPECT_THAT(store_->GetFamily("fam-2"), IsOkAndHolds(Eq(without)));
  auto stored = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->token, refresh);
  EXPECT_EQ(stored->family, with);
}

TEST_P(StoreConformanceTest, CreateFamilyDuplicateIsAlreadyExists) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  EXPECT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("fam-1")));
  EXPECT_THAT(store_->GetRefreshToken("rt-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

TEST_P(StoreConformanceTest, CreateFamilyWithDuplicateRefreshTokenCreatesNothing) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  EXPECT_THAT(store_->CreateFamily(MakeFamily("fam-2"), MakeRefresh("rt-1", "fam-2")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
}

TEST_P(StoreConformanceTest, FamilyAndRefreshTokenAbsentAreNotFound) {
  EXPECT_THAT(store_->GetFamily("fam-9"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-9")));
  EXPECT_THAT(store_->RevokeFamily("fam-9", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("fam-9")));
  EXPECT_THAT(store_->GetRefreshToken("rt-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

TEST_P(StoreConformanceTest, RevokeFamilyIsIdempotent) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 1), IsOk());
  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 2), IsOk());
  auto fam = store_->GetFamily("fam-1");
  ASSERT_THAT(fam, IsOk());
  EXPECT_EQ(fam->revoked_at, kNow + 1);
}

TEST_P(StoreConformanceTest, RotateChainsThroughSuccessors) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  for (int i = 1; i <= 5; ++i) {
    EXPECT_THAT(store_->RotateRefreshToken("rt-" + std::to_string(i - 1), kNow + i,
                                           MakeRefresh("rt-" + std::to_string(i), "fam-1")),
                IsOkAndHolds(RotateOutcome::kRotated));
  }
  auto last = store_->GetRefreshToken("rt-5");
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(last->token.rotated_at, 0);
}

// --- token exchange lineage and revoked access tokens ---

TEST_P(StoreConformanceTest, ExchangedFamilyKeepsParentAndActor) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  TokenFamily child = MakeFamily("fam-2", "user-1", kOtherAppArn);
  child.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
  child.parent_family_id = "fam-1";
  child.act_json = R"({"sub":"arn:aws:sso::1:application/a"})";
  ASSERT_THAT(store_->CreateFamily(child, MakeRefresh("rt-2", "fam-2")), IsOk());
  EXPECT_THAT(store_->GetFamily("fam-2"), IsOkAndHolds(Eq(child)));
  auto with_family = store_->GetRefreshToken("rt-2");
  ASSERT_THAT(with_family, IsOk());
  EXPECT_EQ(with_family->family, child);
}

TEST_P(StoreConformanceTest, RevokeFamilyRevokesEveryDescendantAndNothingElse) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  TokenFamily child = MakeFamily("fam-2", "user-1", kOtherAppArn);
  child.parent_family_id = "fam-1";
  TokenFamily grandchild = MakeFamily("fam-3", "user-1", kAppArn);
  grandchild.parent_family_id = "fam-2";
  ASSERT_THAT(store_->CreateFamily(child, std::nullopt), IsOk());
  ASSERT_THAT(store_->CreateFamily(grandchild, std::nullopt), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-4"), std::nullopt), IsOk());

  // Revoking the middle one reaches down, never up.
  ASSERT_THAT(store_->RevokeFamily("fam-2", kNow + 5), IsOk());
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, 0);
  EXPECT_EQ(store_->GetFamily("fam-2")->revoked_at, kNow + 5);
  EXPECT_EQ(store_->GetFamily("fam-3")->revoked_at, kNow + 5);

  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 9), IsOk());
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 9);
  EXPECT_EQ(store_->GetFamily("fam-2")->revoked_at, kNow + 5);  // the first revocation stays
  EXPECT_EQ(store_->GetFamily("fam-3")->revoked_at, kNow + 5);
  EXPECT_EQ(store_->GetFamily("fam-4")->revoked_at, 0);
  EXPECT_THAT(store_->RevokeFamily("fam-9", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("fam-9")));
}

TEST_P(StoreConformanceTest, CodeUsedTwiceRevokesWhatWasExchangedFromItsFamily) {
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  ASSERT_THAT(
      store_->RedeemAuthorizationCode("code-1", kNow + 1, MakeFamily("fam-1"), std::nullopt),
      IsOkAndHolds(RedeemOutcome::kRedeemed));
  ASSERT_THAT(store_->CreateExchangedFamily(ExchangedFamily("fam-2", "fam-1"), std::nullopt),
              IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-other"), std::nullopt), IsOk());

  EXPECT_THAT(
      store_->RedeemAuthorizationCode("code-1", kNow + 2, MakeFamily("fam-3"), std::nullopt),
      IsOkAndHolds(RedeemOutcome::kAlreadyRedeemed));
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 2);
  EXPECT_EQ(store_->GetFamily("fam-2")->revoked_at,
            kNow + 2);  // exchanged from it: RFC 6749 §4.1.2
  EXPECT_EQ(store_->GetFamily("fam-other")->revoked_at, 0);
  EXPECT_THAT(store_->GetFamily("fam-3"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-3")));
}

TEST_P(StoreConformanceTest, RevokedAccessTokensAreRememberedUntilTheyExpire) {
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-1"), IsOkAndHolds(false));
  ASSERT_THAT(store_->RevokeAccessToken("jti-1", kNow + 100), IsOk());
  ASSERT_THAT(store_->RevokeAccessToken("jti-1", kNow + 100), IsOk());  // idempotent
  ASSERT_THAT(store_->RevokeAccessToken("jti-2", kNow + 200), IsOk());
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-1"), IsOkAndHolds(true));
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-3"), IsOkAndHolds(false));
  EXPECT_THAT(store_->RevokeAccessToken("", kNow + 100),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("token_id")));

  EXPECT_THAT(store_->PurgeExpired(kNow + 100, 100), Purged(1));
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-1"), IsOkAndHolds(false));
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-2"), IsOkAndHolds(true));
}

// Token exchange's one read: the subject token's revocation, family, user and assignment.
TEST_P(StoreConformanceTest, ExchangeSubjectReadsTokenFamilyUserAndAssignmentTogether) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "direct")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "by-group")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-3", "elsewhere")), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kOtherAppArn)), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-1", "readers")), IsOk());
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-1", "group-1", "user-2")), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "group-1", "GROUP"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kOtherAppArn, "user-3", "USER"), IsOk());
  const TokenFamily family = MakeFamily("fam-1", "user-1", kOtherAppArn);
  ASSERT_THAT(store_->CreateFamily(family, std::nullopt), IsOk());
  ASSERT_THAT(store_->RevokeAccessToken("jti-revoked", kNow + 100), IsOk());

  auto read = store_->GetExchangeSubject("jti-1", "fam-1", "user-1", kAppArn);
  ASSERT_THAT(read, IsOk());
  EXPECT_FALSE(read->token_revoked);
  EXPECT_EQ(read->family, family);
  EXPECT_TRUE(read->user_exists);
  EXPECT_TRUE(read->user_assigned);

  read = store_->GetExchangeSubject("jti-revoked", "fam-gone", "user-2", kAppArn);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->token_revoked);
  EXPECT_EQ(read->family, std::nullopt);
  EXPECT_TRUE(read->user_exists);
  EXPECT_TRUE(read->user_assigned);  // through group-1

  read = store_->GetExchangeSubject("jti-1", "fam-1", "user-3", kAppArn);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->user_exists);
  EXPECT_FALSE(read->user_assigned);  // assigned to the other application only

  read = store_->GetExchangeSubject("jti-1", "fam-1", "user-gone", kAppArn);
  ASSERT_THAT(read, IsOk());
  EXPECT_FALSE(read->user_exists);
  EXPECT_FALSE(read->user_assigned);

  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 5), IsOk());
  read = store_->GetExchangeSubject("jti-1", "fam-1", "user-1", kAppArn);
  ASSERT_THAT(read, IsOk());
  ASSERT_TRUE(read->family.has_value());
  EXPECT_EQ(read->family->revoked_at, kNow + 5);
}

// --- used assertions ---

TEST_P(StoreConformanceTest, UsedAssertionsArePurgedAfterTheyExpire) {
  ASSERT_THAT(store_->CreateFamilyForAssertion(MakeFamily("fam-1"), std::nullopt, "assertion-1",
                                               kNow + 100),
              IsOk());
  // The family outlives the assertion: only the replay record goes.
  EXPECT_THAT(store_->PurgeExpired(kNow + 99, 100), Purged(0));
  EXPECT_THAT(store_->PurgeExpired(kNow + 100, 100), Purged(1));
  EXPECT_THAT(store_->CreateFamilyForAssertion(MakeFamily("fam-2"), std::nullopt, "assertion-1",
                                               kNow + 300),
              IsOk());
}

// --- concurrency: compare-and-set settled by the backend ---

TEST_P(StoreConformanceTest, ConcurrentRedeemHasExactlyOneWinner) {
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  std::vector<StatusOr<RedeemOutcome>> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    const std::string family_id = "fam-" + std::to_string(i);
    results[i] = store_->RedeemAuthorizationCode("code-1", kNow + 1, MakeFamily(family_id),
                                                 MakeRefresh("rt-" + std::to_string(i), family_id));
  });

  int redeemed = 0;
  int already = 0;
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    if (*result == RedeemOutcome::kRedeemed) ++redeemed;
    if (*result == RedeemOutcome::kAlreadyRedeemed) ++already;
  }
  EXPECT_EQ(redeemed, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto code = store_->GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  // The losers' reuse revoked the winner's family.
  auto family = store_->GetFamily(code->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_NE(family->revoked_at, 0);
  int families = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (store_->GetFamily("fam-" + std::to_string(i)).ok()) ++families;
  }
  EXPECT_EQ(families, 1);
}

TEST_P(StoreConformanceTest, ConcurrentRotateHasExactlyOneWinner) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  std::vector<StatusOr<RotateOutcome>> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    results[i] = store_->RotateRefreshToken("rt-0", kNow + 1,
                                            MakeRefresh("rt-next-" + std::to_string(i), "fam-1"));
  });

  int rotated = 0;
  int already = 0;
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    if (*result == RotateOutcome::kRotated) ++rotated;
    if (*result == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto old = store_->GetRefreshToken("rt-0");
  ASSERT_THAT(old, IsOk());
  int successors = 0;
  for (int i = 0; i < kThreads; ++i) {
    const std::string hash = "rt-next-" + std::to_string(i);
    if (store_->GetRefreshToken(hash).ok()) {
      ++successors;
      EXPECT_EQ(old->token.successor_hash, hash);
    }
  }
  EXPECT_EQ(successors, 1);
}

}  // namespace
}  // namespace ts::storage::conformance
