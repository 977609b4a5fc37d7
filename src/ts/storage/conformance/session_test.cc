// The conformance suite's SessionStore cases: sign-in sessions and login failures (see
// conformance_test.h).
#include <gmock/gmock.h>

#include <optional>
#include <string>

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

// --- sign-in sessions ---

TEST_P(StoreConformanceTest, SessionCreateGetAndDuplicate) {
  const SignInSession session = MakeSession("session-1", "user-1");
  ASSERT_THAT(store_->CreateSession(session), IsOk());
  EXPECT_THAT(store_->GetSession("session-1"), IsOkAndHolds(Eq(session)));
  EXPECT_THAT(store_->CreateSession(session),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("session")));
  EXPECT_THAT(store_->GetSession("session-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("session")));
}

TEST_P(StoreConformanceTest, RevokeSessionRevokesFamiliesItStarted) {
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-1")), IsOk());
  ASSERT_THAT(store_->CreateSession(MakeSession("session-2", "user-1")), IsOk());
  ASSERT_THAT(
      store_->CreateFamily(MakeFamily("fam-1", "user-1", kAppArn, "session-1"), std::nullopt),
      IsOk());
  ASSERT_THAT(
      store_->CreateFamily(MakeFamily("fam-2", "user-1", kAppArn, "session-2"), std::nullopt),
      IsOk());
  // A family from a grant without a browser session.
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-3", "user-1", kAppArn, ""), std::nullopt),
              IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-1", "user-1", "session-1")), IsOk());

  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 3), IsOk());

  auto session = store_->GetSession("session-1");
  ASSERT_THAT(session, IsOk());
  EXPECT_EQ(session->revoked_at, kNow + 3);
  auto fam1 = store_->GetFamily("fam-1");
  ASSERT_THAT(fam1, IsOk());
  EXPECT_EQ(fam1->revoked_at, kNow + 3);
  for (const char* id : {"fam-2", "fam-3"}) {
    auto fam = store_->GetFamily(id);
    ASSERT_THAT(fam, IsOk());
    EXPECT_EQ(fam->revoked_at, 0) << id;
  }
  auto session2 = store_->GetSession("session-2");
  ASSERT_THAT(session2, IsOk());
  EXPECT_EQ(session2->revoked_at, 0);
  // Beyond store.h: the session's unused codes go too.
  EXPECT_THAT(store_->GetAuthorizationCode("code-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));

  // Revoking again succeeds and keeps the first revocation time.
  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 9), IsOk());
  session = store_->GetSession("session-1");
  ASSERT_THAT(session, IsOk());
  EXPECT_EQ(session->revoked_at, kNow + 3);
}

TEST_P(StoreConformanceTest, RevokeAbsentSessionIsNotFoundAndRevokesNothing) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1", "user-1", kAppArn, ""), std::nullopt),
              IsOk());
  EXPECT_THAT(store_->RevokeSession("", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("session")));
  auto fam = store_->GetFamily("fam-1");
  ASSERT_THAT(fam, IsOk());
  EXPECT_EQ(fam->revoked_at, 0);
}

// --- coordination between nodes ---

TEST_P(StoreConformanceTest, LoginFailuresCountWithinTheWindowAndRestartAfterIt) {
  EXPECT_THAT(store_->GetLoginFailures("k"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
  auto first = store_->RecordLoginFailure("k", kNow, 60);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->failures, 1);
  EXPECT_EQ(first->window_start, kNow);
  EXPECT_EQ(first->window_end, kNow + 60);
  auto second = store_->RecordLoginFailure("k", kNow + 59, 60);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->failures, 2);
  EXPECT_EQ(second->window_start, kNow);
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, 2);
  // At the window's end a failure opens a new window.
  auto third = store_->RecordLoginFailure("k", kNow + 60, 60);
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ(third->failures, 1);
  EXPECT_EQ(third->window_start, kNow + 60);
  ASSERT_THAT(store_->ClearLoginFailures("k"), IsOk());
  EXPECT_THAT(store_->GetLoginFailures("k"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
  EXPECT_THAT(store_->ClearLoginFailures("k"), IsOk());
  EXPECT_THAT(store_->RecordLoginFailure("k", kNow, 0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("window_seconds")));
}

TEST_P(StoreConformanceTest, ConcurrentLoginFailuresAreAllCounted) {
  RunConcurrently(kThreads,
                  [&](int) { EXPECT_THAT(store_->RecordLoginFailure("k", kNow, 60), IsOk()); });
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, kThreads);
}

}  // namespace
}  // namespace ts::storage::conformance
