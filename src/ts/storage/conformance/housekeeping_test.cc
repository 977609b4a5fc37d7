// The conformance suite's PurgeExpired cases (see conformance_test.h).
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

// --- housekeeping ---

TEST_P(StoreConformanceTest, PurgeExpiredRemovesOnlyExpiredRows) {
  const int64_t now = kNow + 1000;
  AuthorizationCode old_code = MakeCode("code-old", "user-1");
  old_code.expires_at = now - 1;
  AuthorizationCode live_code = MakeCode("code-live", "user-1");
  live_code.expires_at = now + 1;
  ASSERT_THAT(store_->CreateAuthorizationCode(old_code), IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(live_code), IsOk());
  SignInSession old_session = MakeSession("session-old", "user-1");
  old_session.expires_at = now;  // expired at `now` exactly
  SignInSession live_session = MakeSession("session-live", "user-1");
  live_session.expires_at = now + 1;
  ASSERT_THAT(store_->CreateSession(old_session), IsOk());
  ASSERT_THAT(store_->CreateSession(live_session), IsOk());
  TokenFamily old_family = MakeFamily("fam-old");
  old_family.expires_at = now - 10;
  RefreshToken old_family_token = MakeRefresh("rt-old-family", "fam-old");
  old_family_token.expires_at = now - 10;
  ASSERT_THAT(store_->CreateFamily(old_family, old_family_token), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-live"), MakeRefresh("rt-live", "fam-live")),
              IsOk());
  RefreshToken old_token = MakeRefresh("rt-old", "fam-live");
  old_token.expires_at = now - 1;
  ASSERT_THAT(store_->RotateRefreshToken("rt-live", kNow + 1, old_token),
              IsOkAndHolds(RotateOutcome::kRotated));

  // Gone: code-old, session-old, rt-old-family, rt-old, fam-old.
  EXPECT_THAT(store_->PurgeExpired(now, 100), Purged(5));

  EXPECT_THAT(store_->GetAuthorizationCode("code-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  EXPECT_THAT(store_->GetAuthorizationCode("code-live"), IsOk());
  EXPECT_THAT(store_->GetSession("session-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("session")));
  EXPECT_THAT(store_->GetSession("session-live"), IsOk());
  EXPECT_THAT(store_->GetFamily("fam-old"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-old")));
  EXPECT_THAT(store_->GetRefreshToken("rt-old-family"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetRefreshToken("rt-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetFamily("fam-live"), IsOk());
  EXPECT_THAT(store_->GetRefreshToken("rt-live"), IsOk());

  EXPECT_THAT(store_->PurgeExpired(now, 100), Purged(0));
}

TEST_P(StoreConformanceTest, PurgeExpiredRespectsBatchSize) {
  for (int i = 0; i < 5; ++i) {
    AuthorizationCode code = MakeCode("code-" + std::to_string(i), "user-1");
    code.expires_at = kNow;
    ASSERT_THAT(store_->CreateAuthorizationCode(code), IsOk());
  }
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(1));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(0));
}

TEST_P(StoreConformanceTest, PurgeExpiredBatchSpansKinds) {
  AuthorizationCode code = MakeCode("code-1", "user-1");
  code.expires_at = kNow;
  ASSERT_THAT(store_->CreateAuthorizationCode(code), IsOk());
  SignInSession session = MakeSession("session-1", "user-1");
  session.expires_at = kNow;
  ASSERT_THAT(store_->CreateSession(session), IsOk());
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 1), Purged(1, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 1), Purged(1, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 1), Purged(0));
}

// Purges in calls of `batch` until one says it has finished (at most 100 calls); the rows
// deleted, or -1 if a call failed or it never finished.
int64_t PurgeUntilFinished(Store& store, int64_t now, int batch) {
  int64_t deleted = 0;
  for (int call = 0; call < 100; ++call) {
    auto purged = store.PurgeExpired(now, batch);
    if (!purged.ok()) return -1;
    deleted += purged->deleted;
    if (purged->finished) return deleted;
  }
  return -1;
}

TEST_P(StoreConformanceTest, PurgeInSmallBatchesTakesEveryExpiredRefreshTokenAndNoLiveOne) {
  // One live family whose chain holds six rotated tokens that expired and three that did not,
  // interleaved, so a sweep in small stretches meets both kinds in every stretch.
  const int64_t now = kNow + 1000;
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  std::vector<std::string> live = {"rt-0"};
  std::vector<std::string> expired;
  for (int i = 1; i <= 9; ++i) {
    RefreshToken next = MakeRefresh("rt-" + std::to_string(i), "fam-1");
    const bool expires = i % 3 != 0;
    next.expires_at = expires ? now - i : now + 1;
    ASSERT_THAT(store_->RotateRefreshToken("rt-" + std::to_string(i - 1), kNow + i, next),
                IsOkAndHolds(RotateOutcome::kRotated));
    (expires ? expired : live).push_back(next.token_hash);
  }

  EXPECT_EQ(PurgeUntilFinished(*store_, now, 2), static_cast<int64_t>(expired.size()));
  for (const std::string& hash : expired) {
    EXPECT_THAT(store_->GetRefreshToken(hash),
                StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")))
        << hash;
  }
  for (const std::string& hash : live) EXPECT_THAT(store_->GetRefreshToken(hash), IsOk()) << hash;
  EXPECT_EQ(PurgeUntilFinished(*store_, now, 2), 0);
}

TEST_P(StoreConformanceTest, PurgingAFamilyTakesTheTokensThatWouldOutliveIt) {
  // The token service never mints a token that outlives its family, but the store does not rely
  // on it: once the family is purged, so is the token (PostgreSQL by cascade, SQLite by its
  // sweep: SqliteStoreTest checks the row, which GetRefreshToken's join with the family hides).
  const int64_t now = kNow + 1000;
  TokenFamily family = MakeFamily("fam-old");
  family.expires_at = now - 10;
  RefreshToken token = MakeRefresh("rt-outliving", "fam-old");
  token.expires_at = now + 1000;
  ASSERT_THAT(store_->CreateFamily(family, token), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-live"), MakeRefresh("rt-live", "fam-live")),
              IsOk());

  EXPECT_GE(PurgeUntilFinished(*store_, now, 100), 1);
  EXPECT_THAT(store_->GetFamily("fam-old"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-old")));
  EXPECT_THAT(store_->GetRefreshToken("rt-outliving"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetRefreshToken("rt-live"), IsOk());
}

TEST_P(StoreConformanceTest, PurgeExpiredRemovesEndedLoginFailureWindows) {
  ASSERT_THAT(store_->RecordLoginFailure("old", kNow, 60), IsOk());
  ASSERT_THAT(store_->RecordLoginFailure("new", kNow + 30, 60), IsOk());
  EXPECT_THAT(store_->PurgeExpired(kNow + 60, 100), Purged(1));
  EXPECT_THAT(store_->GetLoginFailures("old"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
  EXPECT_THAT(store_->GetLoginFailures("new"), IsOk());
}

}  // namespace
}  // namespace ts::storage::conformance
