// The conformance suite's SessionStore cases: sign-in sessions and login failures (see
// conformance_test.h).
#include <gmock/gmock.h>

#include <atomic>
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

// --- sign-in attempts: reserved before the check, refunded on success ---

TEST_P(StoreConformanceTest, ReservationsCountUpToTheLimitThenAreRefused) {
  for (int i = 1; i <= 3; ++i) {
    auto attempt = store_->ReserveLoginAttempt("k", kNow + i, 60, 3);
    ASSERT_THAT(attempt, IsOk());
    EXPECT_TRUE(attempt->reserved) << "attempt " << i;
    EXPECT_EQ(attempt->window.failures, i);
    EXPECT_EQ(attempt->window.window_start, kNow + 1);  // the first attempt opened the window
    EXPECT_EQ(attempt->window.window_end, kNow + 61);
  }
  // Full: refused, nothing counted, and the window says until when.
  auto refused = store_->ReserveLoginAttempt("k", kNow + 30, 60, 3);
  ASSERT_THAT(refused, IsOk());
  EXPECT_FALSE(refused->reserved);
  EXPECT_EQ(refused->window.failures, 3);
  EXPECT_EQ(refused->window.window_end, kNow + 61);
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, 3);
  // Unreserved attempts are failures: they hold the window like RecordLoginFailure's.
  auto recorded = store_->RecordLoginFailure("k", kNow + 31, 60);
  ASSERT_THAT(recorded, IsOk());
  EXPECT_EQ(recorded->failures, 4);
  // Other keys are not affected.
  auto other = store_->ReserveLoginAttempt("other", kNow + 30, 60, 3);
  ASSERT_THAT(other, IsOk());
  EXPECT_TRUE(other->reserved);
  // At the window's end a reservation opens a new window.
  auto next = store_->ReserveLoginAttempt("k", kNow + 61, 60, 3);
  ASSERT_THAT(next, IsOk());
  EXPECT_TRUE(next->reserved);
  EXPECT_EQ(next->window.failures, 1);
  EXPECT_EQ(next->window.window_start, kNow + 61);
  EXPECT_EQ(next->window.window_end, kNow + 121);
}

TEST_P(StoreConformanceTest, ReserveLoginAttemptRefusesBadArguments) {
  EXPECT_THAT(store_->ReserveLoginAttempt("k", kNow, 0, 3),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("window_seconds")));
  EXPECT_THAT(store_->ReserveLoginAttempt("k", kNow, 60, 0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(store_->GetLoginFailures("k"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
}

TEST_P(StoreConformanceTest, RefundGivesBackOneAttemptOfItsOwnWindow) {
  auto first = store_->ReserveLoginAttempt("k", kNow, 60, 2);
  ASSERT_THAT(first, IsOk());
  auto second = store_->ReserveLoginAttempt("k", kNow + 1, 60, 2);
  ASSERT_THAT(second, IsOk());
  ASSERT_TRUE(second->reserved);
  auto full = store_->ReserveLoginAttempt("k", kNow + 2, 60, 2);
  ASSERT_THAT(full, IsOk());
  ASSERT_FALSE(full->reserved);
  // A refund frees a place in the window.
  ASSERT_THAT(store_->RefundLoginAttempt("k", second->window.window_start), IsOk());
  EXPECT_EQ(store_->GetLoginFailures("k")->failures, 1);
  auto again = store_->ReserveLoginAttempt("k", kNow + 3, 60, 2);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->reserved);
  EXPECT_EQ(again->window.failures, 2);
  // A refund for another window (one that has ended) changes nothing.
  ASSERT_THAT(store_->RefundLoginAttempt("k", kNow - 60), IsOk());
  EXPECT_EQ(store_->GetLoginFailures("k")->failures, 2);
  // Never below zero; a key with nothing recorded is fine.
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(store_->RefundLoginAttempt("k", first->window.window_start), IsOk());
  }
  EXPECT_EQ(store_->GetLoginFailures("k")->failures, 0);
  EXPECT_THAT(store_->RefundLoginAttempt("absent", kNow), IsOk());
  EXPECT_THAT(store_->GetLoginFailures("absent"),
              StatusIs(StatusCode::kNotFound, HasSubstr("login")));
}

TEST_P(StoreConformanceTest, RefundAfterTheWindowRolledOverLeavesTheNewWindow) {
  auto old = store_->ReserveLoginAttempt("k", kNow, 60, 5);
  ASSERT_THAT(old, IsOk());
  // While the first attempt was being checked its window ended and another began.
  auto fresh = store_->ReserveLoginAttempt("k", kNow + 60, 60, 5);
  ASSERT_THAT(fresh, IsOk());
  ASSERT_EQ(fresh->window.window_start, kNow + 60);
  ASSERT_THAT(store_->RefundLoginAttempt("k", old->window.window_start), IsOk());
  EXPECT_EQ(store_->GetLoginFailures("k")->failures, 1);
}

// The probe of issue 23: 32 guesses at once for one key with a limit of 5. The reservation is
// one atomic step, so exactly 5 get through, however the threads interleave.
TEST_P(StoreConformanceTest, ConcurrentReservationsStopExactlyAtTheLimit) {
  constexpr int kGuesses = 32;
  constexpr int kLimit = 5;
  std::atomic<int> reserved{0};
  std::atomic<int> refused{0};
  RunConcurrently(kGuesses, [&](int) {
    auto attempt = store_->ReserveLoginAttempt("k", kNow, 900, kLimit);
    ASSERT_THAT(attempt, IsOk());
    if (attempt->reserved) {
      reserved.fetch_add(1);
    } else {
      EXPECT_EQ(attempt->window.window_end, kNow + 900);
      refused.fetch_add(1);
    }
  });
  EXPECT_EQ(reserved.load(), kLimit);
  EXPECT_EQ(refused.load(), kGuesses - kLimit);
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, kLimit);
}

// Refunds racing reservations lose no update: every thread reserves and refunds in turn, so
// the count ends where it began.
TEST_P(StoreConformanceTest, ConcurrentReserveAndRefundKeepTheCountExact) {
  ASSERT_THAT(store_->RecordLoginFailure("k", kNow, 900), IsOk());
  RunConcurrently(kThreads, [&](int) {
    for (int i = 0; i < 10; ++i) {
      auto attempt = store_->ReserveLoginAttempt("k", kNow, 900, 1000);
      ASSERT_THAT(attempt, IsOk());
      ASSERT_TRUE(attempt->reserved);
      ASSERT_THAT(store_->RefundLoginAttempt("k", attempt->window.window_start), IsOk());
    }
  });
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, 1);
}

}  // namespace
}  // namespace ts::storage::conformance
