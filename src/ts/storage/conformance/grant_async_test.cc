// The conformance suite's GrantStore cases for the token endpoint's writes, blocking and
// asynchronous, and the checked rotation (see conformance_test.h).
#include <gmock/gmock.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
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

// --- the token endpoint's writes, blocking and asynchronous ---
//
// Each of these writes has an asynchronous twin for the server's io threads. Every scenario below
// runs twice: `Name` through the blocking call and `NameAsync` through its twin, waited for, and
// both must answer and change the same.

// One asynchronous write that `start` begins with the completion it is given, waited for. A later
// asynchronous rotation's completion (here of an unknown token, which changes nothing) comes after
// every earlier one's, so once it is in, a second call of the first `done` would have happened:
// a `done` not called exactly once turns the result into Internal.
StatusOr<RotateOutcome> AwaitWithFence(Store& store, int64_t now,
                                       const std::function<void(Store::RotateDone)>& start) {
  auto c = std::make_shared<Completions>(2);
  start(RecordInto(c, 0));
  {
    std::unique_lock<std::mutex> lock(c->mu);
    if (!c->cv.wait_for(lock, kAsyncTimeout, [&] { return c->calls[0] > 0; })) {
      return InternalError("done was not called within the timeout");
    }
  }
  store.RotateRefreshTokenAsync("rt-fence", now, MakeRefresh("rt-fence-next", "fam-fence"),
                                RecordInto(c, 1));
  if (!AwaitAll(*c)) return InternalError("the fence's done was not called within the timeout");
  std::lock_guard<std::mutex> lock(c->mu);
  if (c->results[1].status().code() != StatusCode::kNotFound) {
    return InternalError("the fence rotation did not answer NotFound");
  }
  if (c->calls[0] != 1 || c->calls[1] != 1) {
    return InternalError("done was called " + std::to_string(c->calls[0]) + " times");
  }
  return std::move(c->results[0]);
}

// One RotateRefreshTokenAsync, waited for (AwaitWithFence).
StatusOr<RotateOutcome> RotateAsync(Store& store, const std::string& old_hash, int64_t now,
                                    const RefreshToken& successor) {
  return AwaitWithFence(store, now, [&](Store::RotateDone done) {
    store.RotateRefreshTokenAsync(old_hash, now, successor, std::move(done));
  });
}

// One CheckAndRotateRefreshTokenAsync whose check accepts `successor` for the token it was
// asked for (and fails with Internal if handed another row), waited for (AwaitWithFence).
StatusOr<RotateOutcome> RotateCheckedAsync(Store& store, const std::string& old_hash, int64_t now,
                                           const RefreshToken& successor) {
  return AwaitWithFence(store, now, [&](Store::RotateDone done) {
    store.CheckAndRotateRefreshTokenAsync(
        old_hash, now,
        [old_hash, successor](const RefreshTokenWithFamily& read) -> StatusOr<RefreshToken> {
          if (read.token.token_hash != old_hash || read.family.family_id != read.token.family_id) {
            return InternalError("the check was handed another row");
          }
          return successor;
        },
        std::move(done));
  });
}

// One CreateFamilyForAssertionAsync, waited for (AwaitWithFence).
Status CreateFamilyForAssertionAsync(Store& store, const TokenFamily& family,
                                     const std::optional<RefreshToken>& first_refresh,
                                     const std::string& assertion_id, int64_t expires_at) {
  StatusOr<RotateOutcome> outcome = AwaitWithFence(store, kNow, [&](Store::RotateDone done) {
    store.CreateFamilyForAssertionAsync(family, first_refresh, assertion_id, expires_at,
                                        [done = std::move(done)](Status created) {
                                          // The completions record outcomes; kRotated stands for OK
                                          // here.
                                          if (created.ok()) return done(RotateOutcome::kRotated);
                                          done(std::move(created));
                                        });
  });
  return outcome.status();
}

// One RedeemAuthorizationCodeAsync, waited for (AwaitWithFence).
StatusOr<RedeemOutcome> RedeemAsync(Store& store, const std::string& code_hash, int64_t now,
                                    const TokenFamily& family,
                                    const std::optional<RefreshToken>& first_refresh) {
  // Written before `done` runs and read after AwaitWithFence saw it run (under its mutex).
  auto outcome = std::make_shared<std::optional<RedeemOutcome>>();
  StatusOr<RotateOutcome> fenced = AwaitWithFence(store, kNow, [&](Store::RotateDone done) {
    store.RedeemAuthorizationCodeAsync(
        code_hash, now, family, first_refresh,
        [outcome, done = std::move(done)](StatusOr<RedeemOutcome> redeemed) {
          if (!redeemed.ok()) return done(redeemed.status());
          *outcome = *redeemed;
          done(RotateOutcome::kRotated);  // the completions record outcomes: stands for OK
        });
  });
  if (!fenced.ok()) return fenced.status();
  return **outcome;
}

// One CreateExchangedFamilyAsync, waited for (AwaitWithFence).
Status CreateExchangedFamilyAsync(Store& store, const TokenFamily& family,
                                  const std::optional<RefreshToken>& first_refresh) {
  StatusOr<RotateOutcome> outcome = AwaitWithFence(store, kNow, [&](Store::RotateDone done) {
    store.CreateExchangedFamilyAsync(family, first_refresh,
                                     [done = std::move(done)](Status created) {
                                       if (created.ok()) return done(RotateOutcome::kRotated);
                                       done(std::move(created));
                                     });
  });
  return outcome.status();
}

// The four writes, made one way or the other.
struct WriteCalls {
  std::function<StatusOr<RotateOutcome>(Store&, const std::string&, int64_t, const RefreshToken&)>
      rotate;
  std::function<StatusOr<RedeemOutcome>(Store&, const std::string&, int64_t, const TokenFamily&,
                                        const std::optional<RefreshToken>&)>
      redeem;
  std::function<Status(Store&, const TokenFamily&, const std::optional<RefreshToken>&,
                       const std::string&, int64_t)>
      create_for_assertion;
  std::function<Status(Store&, const TokenFamily&, const std::optional<RefreshToken>&)>
      create_exchanged;
};

WriteCalls BlockingCalls() {
  return {[](Store& s, const std::string& old_hash, int64_t now, const RefreshToken& successor) {
            return s.RotateRefreshToken(old_hash, now, successor);
          },
          [](Store& s, const std::string& code_hash, int64_t now, const TokenFamily& family,
             const std::optional<RefreshToken>& refresh) {
            return s.RedeemAuthorizationCode(code_hash, now, family, refresh);
          },
          [](Store& s, const TokenFamily& family, const std::optional<RefreshToken>& refresh,
             const std::string& assertion_id, int64_t expires_at) {
            return s.CreateFamilyForAssertion(family, refresh, assertion_id, expires_at);
          },
          [](Store& s, const TokenFamily& family, const std::optional<RefreshToken>& refresh) {
            return s.CreateExchangedFamily(family, refresh);
          }};
}

WriteCalls AsyncCalls() {
  return {RotateAsync, RedeemAsync, CreateFamilyForAssertionAsync, CreateExchangedFamilyAsync};
}

// The asynchronous calls, with rotations through CheckAndRotateRefreshTokenAsync.
WriteCalls CheckedCalls() {
  WriteCalls calls = AsyncCalls();
  calls.rotate = RotateCheckedAsync;
  return calls;
}

// Defines the tests `Name` and `NameAsync` from the scenario function `Name`.
#define TS_BLOCKING_AND_ASYNC(Name)                                      \
  TEST_P(StoreConformanceTest, Name) { Name(*store_, BlockingCalls()); } \
  TEST_P(StoreConformanceTest, Name##Async) { Name(*store_, AsyncCalls()); }
// And `NameCheckedAsync`, for the rotation scenarios.
#define TS_BLOCKING_ASYNC_AND_CHECKED(Name) \
  TS_BLOCKING_AND_ASYNC(Name)               \
  TEST_P(StoreConformanceTest, Name##CheckedAsync) { Name(*store_, CheckedCalls()); }

void RotateMarksOldAndStoresSuccessor(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  RefreshToken successor = MakeRefresh("rt-2", "fam-1");
  successor.scopes = {"openid"};  // downscoped
  successor.created_at = kNow + 60;
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, successor),
              IsOkAndHolds(RotateOutcome::kRotated));

  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 60);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  auto stored = store.GetRefreshToken("rt-2");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->token, successor);
  EXPECT_EQ(stored->family, MakeFamily("fam-1"));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateMarksOldAndStoresSuccessor)

void RotateAgainIsAlreadyRotatedAndChangesNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 70, MakeRefresh("rt-3", "fam-1")),
              IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  // The blocking call agrees.
  EXPECT_THAT(store.RotateRefreshToken("rt-1", kNow + 80, MakeRefresh("rt-4", "fam-1")),
              IsOkAndHolds(RotateOutcome::kAlreadyRotated));

  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 60);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  EXPECT_EQ(old->family.revoked_at, 0);  // the reuse policy is the caller's
  EXPECT_THAT(store.GetRefreshToken("rt-3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  auto successor = store.GetRefreshToken("rt-2");
  ASSERT_THAT(successor, IsOk());
  EXPECT_EQ(successor->token.rotated_at, 0);
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateAgainIsAlreadyRotatedAndChangesNothing)

void RotateInRevokedFamilyIsFamilyRevoked(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(store.RevokeFamily("fam-1", kNow + 1), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kFamilyRevoked));
  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->family.revoked_at, kNow + 1);
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateInRevokedFamilyIsFamilyRevoked)

void RotateUnknownTokenIsNotFound(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-9", kNow, MakeRefresh("rt-2", "fam-1")),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateUnknownTokenIsNotFound)

void RotateIntoAnotherFamilyIsInvalidArgument(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-2"), MakeRefresh("rt-other", "fam-2")), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-2", "fam-2")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("fam-2")));
  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->token.successor_hash, "");
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateIntoAnotherFamilyIsInvalidArgument)

void RotateIsAllOrNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-2"), MakeRefresh("rt-taken", "fam-2")), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-taken", "fam-1")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->token.successor_hash, "");
  auto taken = store.GetRefreshToken("rt-taken");
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->token.family_id, "fam-2");
  // Nothing was left half done: the token still rotates.
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 61, MakeRefresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kRotated));
}
TS_BLOCKING_AND_ASYNC(RotateIsAllOrNothing)

void RedeemFirstUseCreatesFamilyAndRefreshToken(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  const TokenFamily family = MakeFamily("fam-1");
  const RefreshToken refresh = MakeRefresh("rt-1", "fam-1");
  EXPECT_THAT(call.redeem(store, "code-1", kNow + 1, family, refresh),
              IsOkAndHolds(RedeemOutcome::kRedeemed));

  auto code = store.GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(code->consumed_at, kNow + 1);
  EXPECT_EQ(code->family_id, "fam-1");
  EXPECT_THAT(store.GetFamily("fam-1"), IsOkAndHolds(Eq(family)));
  auto stored = store.GetRefreshToken("rt-1");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->token, refresh);
  EXPECT_EQ(stored->family, family);
}
TS_BLOCKING_AND_ASYNC(RedeemFirstUseCreatesFamilyAndRefreshToken)

void RedeemWithoutRefreshTokenCreatesOnlyTheFamily(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  EXPECT_THAT(call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), std::nullopt),
              IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_THAT(store.GetFamily("fam-1"), IsOkAndHolds(Eq(MakeFamily("fam-1"))));
}
TS_BLOCKING_AND_ASYNC(RedeemWithoutRefreshTokenCreatesOnlyTheFamily)

void RedeemSecondUseRevokesTheFirstFamily(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  ASSERT_THAT(
      call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")),
      IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_THAT(
      call.redeem(store, "code-1", kNow + 2, MakeFamily("fam-2"), MakeRefresh("rt-2", "fam-2")),
      IsOkAndHolds(RedeemOutcome::kAlreadyRedeemed));

  auto fam1 = store.GetFamily("fam-1");
  ASSERT_THAT(fam1, IsOk());
  EXPECT_EQ(fam1->revoked_at, kNow + 2);
  EXPECT_THAT(store.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  auto code = store.GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(code->consumed_at, kNow + 1);
  EXPECT_EQ(code->family_id, "fam-1");
}
TS_BLOCKING_AND_ASYNC(RedeemSecondUseRevokesTheFirstFamily)

void RedeemExpiredCodeChangesNothing(Store& store, const WriteCalls& call) {
  const AuthorizationCode original = MakeCode("code-1", "user-1");
  ASSERT_THAT(store.CreateAuthorizationCode(original), IsOk());
  // Valid while now < expires_at: at expires_at it has expired.
  EXPECT_THAT(call.redeem(store, "code-1", original.expires_at, MakeFamily("fam-1"),
                          MakeRefresh("rt-1", "fam-1")),
              IsOkAndHolds(RedeemOutcome::kExpired));
  EXPECT_THAT(store.GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(original)));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  EXPECT_THAT(store.GetRefreshToken("rt-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_AND_ASYNC(RedeemExpiredCodeChangesNothing)

void RedeemUnknownCodeIsNotFound(Store& store, const WriteCalls& call) {
  EXPECT_THAT(call.redeem(store, "code-9", kNow, MakeFamily("fam-1"), std::nullopt),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
}
TS_BLOCKING_AND_ASYNC(RedeemUnknownCodeIsNotFound)

void RedeemAtTimeZeroIsInvalidArgument(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  EXPECT_THAT(call.redeem(store, "code-1", 0, MakeFamily("fam-1"), std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("now")));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
}
TS_BLOCKING_AND_ASYNC(RedeemAtTimeZeroIsInvalidArgument)

void RedeemIsAllOrNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-0"), MakeRefresh("rt-taken", "fam-0")), IsOk());
  // The refresh token hash collides: the whole redemption is undone.
  EXPECT_THAT(
      call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), MakeRefresh("rt-taken", "fam-1")),
      StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  EXPECT_THAT(store.GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(MakeCode("code-1", "user-1"))));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  // Afterwards the code still redeems.
  EXPECT_THAT(call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), std::nullopt),
              IsOkAndHolds(RedeemOutcome::kRedeemed));
}
TS_BLOCKING_AND_ASYNC(RedeemIsAllOrNothing)

void CreateFamilyForAssertionRefusesReplayAndWritesNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(call.create_for_assertion(store, MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1"),
                                        "assertion-1", kNow + 100),
              IsOk());
  EXPECT_THAT(store.GetFamily("fam-1"), IsOkAndHolds(Eq(MakeFamily("fam-1"))));
  auto first = store.GetRefreshToken("rt-1");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->token, MakeRefresh("rt-1", "fam-1"));
  // Replayed, either way: refused, and nothing of the second family is written.
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-2"), MakeRefresh("rt-2", "fam-2"),
                                        "assertion-1", kNow + 100),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion has already been used")));
  EXPECT_THAT(store.CreateFamilyForAssertion(MakeFamily("fam-2"), MakeRefresh("rt-2", "fam-2"),
                                             "assertion-1", kNow + 100),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion has already been used")));
  EXPECT_THAT(store.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(store.GetRefreshToken("rt-2"), StatusIs(StatusCode::kNotFound, ::testing::_));
  // A family without a refresh token, and the argument checks.
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-3"), std::nullopt, "assertion-3",
                                        kNow + 100),
              IsOk());
  EXPECT_THAT(store.GetFamily("fam-3"), IsOk());
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-4"), std::nullopt, "", kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("assertion_id")));
  EXPECT_THAT(store.GetFamily("fam-4"), StatusIs(StatusCode::kNotFound, ::testing::_));
  // An existing family id: the whole transaction is refused, the replay record included.
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-1"), std::nullopt, "assertion-5",
                                        kNow + 100),
              StatusIs(StatusCode::kAlreadyExists, ::testing::_));
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-5"), std::nullopt, "assertion-5",
                                        kNow + 100),
              IsOk());
}
TS_BLOCKING_AND_ASYNC(CreateFamilyForAssertionRefusesReplayAndWritesNothing)

void ExchangedFamilyIsWrittenOnlyUnderALiveParent(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  const TokenFamily child = ExchangedFamily("fam-2", "fam-1");
  ASSERT_THAT(call.create_exchanged(store, child, MakeRefresh("rt-2", "fam-2")), IsOk());
  EXPECT_THAT(store.GetFamily("fam-2"), IsOkAndHolds(Eq(child)));
  EXPECT_THAT(store.GetRefreshToken("rt-2"), IsOk());
  // An existing family id: refused as CreateFamily refuses it.
  EXPECT_THAT(call.create_exchanged(store, child, std::nullopt),
              StatusIs(StatusCode::kAlreadyExists, ::testing::_));

  ASSERT_THAT(store.RevokeFamily("fam-1", kNow + 5), IsOk());
  EXPECT_THAT(
      call.create_exchanged(store, ExchangedFamily("fam-3", "fam-1"), MakeRefresh("rt-3", "fam-3")),
      StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  ExpectNoLiveFamily(store, "fam-3");
  EXPECT_THAT(call.create_exchanged(store, ExchangedFamily("fam-4", "fam-unknown"), std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  ExpectNoLiveFamily(store, "fam-4");
  EXPECT_THAT(call.create_exchanged(store, MakeFamily("fam-5"), std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("parent_family_id")));
  EXPECT_THAT(store.GetFamily("fam-5"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-5")));
}
TS_BLOCKING_AND_ASYNC(ExchangedFamilyIsWrittenOnlyUnderALiveParent)

#undef TS_BLOCKING_AND_ASYNC

// --- concurrency: compare-and-set settled by the backend ---

// Many asynchronous rotations of distinct tokens, issued from several threads without waiting:
// every completion comes, once, with kRotated, and every rotation is stored.
TEST_P(StoreConformanceTest, ConcurrentAsyncRotationsOfDistinctTokensAllComplete) {
  constexpr int kIssuers = 8;
  constexpr int kPerIssuer = 16;
  constexpr size_t kTotal = kIssuers * kPerIssuer;
  for (size_t i = 0; i < kTotal; ++i) {
    const std::string family_id = "fam-" + std::to_string(i);
    ASSERT_THAT(store_->CreateFamily(MakeFamily(family_id),
                                     MakeRefresh("rt-" + std::to_string(i), family_id)),
                IsOk());
  }
  auto completions = std::make_shared<Completions>(kTotal);
  RunConcurrently(kIssuers, [&](int t) {
    for (int k = 0; k < kPerIssuer; ++k) {
      const size_t i = static_cast<size_t>(t * kPerIssuer + k);
      store_->RotateRefreshTokenAsync(
          "rt-" + std::to_string(i), kNow + 1,
          MakeRefresh("rt-next-" + std::to_string(i), "fam-" + std::to_string(i)),
          RecordInto(completions, i));
    }
  });
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";
  // A later rotation's completion: any second call of an earlier `done` has happened by now.
  EXPECT_THAT(RotateAsync(*store_, "rt-none", kNow + 2, MakeRefresh("rt-none-next", "fam-0")),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));

  std::lock_guard<std::mutex> lock(completions->mu);
  for (size_t i = 0; i < kTotal; ++i) {
    EXPECT_EQ(completions->calls[i], 1) << i;
    EXPECT_THAT(completions->results[i], IsOkAndHolds(RotateOutcome::kRotated)) << i;
    auto old = store_->GetRefreshToken("rt-" + std::to_string(i));
    ASSERT_THAT(old, IsOk()) << i;
    EXPECT_EQ(old->token.rotated_at, kNow + 1) << i;
    EXPECT_EQ(old->token.successor_hash, "rt-next-" + std::to_string(i)) << i;
    EXPECT_THAT(store_->GetRefreshToken("rt-next-" + std::to_string(i)), IsOk()) << i;
  }
}

// The compare-and-set holds for asynchronous rotations too: one winner, the rest kAlreadyRotated.
TEST_P(StoreConformanceTest, ConcurrentAsyncRotateOfOneTokenHasExactlyOneWinner) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  auto completions = std::make_shared<Completions>(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    store_->RotateRefreshTokenAsync("rt-0", kNow + 1,
                                    MakeRefresh("rt-next-" + std::to_string(i), "fam-1"),
                                    RecordInto(completions, static_cast<size_t>(i)));
  });
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";
  EXPECT_THAT(RotateAsync(*store_, "rt-none", kNow + 2, MakeRefresh("rt-none-next", "fam-1")),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));

  std::lock_guard<std::mutex> lock(completions->mu);
  int rotated = 0;
  int already = 0;
  std::string winner;
  for (int i = 0; i < kThreads; ++i) {
    const auto& result = completions->results[static_cast<size_t>(i)];
    EXPECT_EQ(completions->calls[static_cast<size_t>(i)], 1) << i;
    ASSERT_THAT(result, IsOk()) << i;
    if (*result == RotateOutcome::kRotated) {
      ++rotated;
      winner = "rt-next-" + std::to_string(i);
    }
    if (*result == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto old = store_->GetRefreshToken("rt-0");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.successor_hash, winner);
  for (int i = 0; i < kThreads; ++i) {
    const std::string hash = "rt-next-" + std::to_string(i);
    if (hash == winner) {
      EXPECT_THAT(store_->GetRefreshToken(hash), IsOk());
    } else {
      EXPECT_THAT(store_->GetRefreshToken(hash),
                  StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")))
          << hash;
    }
  }
}

// One CheckAndRotateRefreshTokenAsync, waited for: its outcome, and the rows its check was
// handed (the check answers with `verdict` for each).
struct CheckedCall {
  StatusOr<RotateOutcome> result = InternalError("done was not called");
  std::vector<RefreshTokenWithFamily> checked;
};
CheckedCall CheckAndRotate(Store& store, const std::string& old_hash, int64_t now,
                           const StatusOr<RefreshToken>& verdict) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    CheckedCall call;
  };
  auto shared = std::make_shared<Shared>();
  store.CheckAndRotateRefreshTokenAsync(
      old_hash, now,
      [shared, verdict](const RefreshTokenWithFamily& read) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->call.checked.push_back(read);
        return verdict;
      },
      [shared](StatusOr<RotateOutcome> result) {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (shared->calls++ == 0) shared->call.result = std::move(result);
        shared->cv.notify_all();
      });
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->cv.wait_for(lock, kAsyncTimeout, [&] { return shared->calls > 0; })) {
    return CheckedCall{};
  }
  return shared->call;
}

TEST_P(StoreConformanceTest, CheckedRotationHandsTheCheckTheStoredRows) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  CheckedCall call = CheckAndRotate(*store_, "rt-1", kNow + 5, MakeRefresh("rt-2", "fam-1"));
  EXPECT_THAT(call.result, IsOkAndHolds(RotateOutcome::kRotated));
  ASSERT_EQ(call.checked.size(), 1u);
  EXPECT_EQ(call.checked[0].token, MakeRefresh("rt-1", "fam-1"));  // as it was, not rotated
  EXPECT_EQ(call.checked[0].family, MakeFamily("fam-1"));
  auto old = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 5);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  EXPECT_THAT(store_->GetRefreshToken("rt-2"), IsOk());

  // A token rotated before is checked too (the caller needs the row for its reuse policy) and
  // not rotated again.
  CheckedCall again = CheckAndRotate(*store_, "rt-1", kNow + 6, MakeRefresh("rt-3", "fam-1"));
  EXPECT_THAT(again.result, IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  ASSERT_EQ(again.checked.size(), 1u);
  EXPECT_EQ(again.checked[0].token.successor_hash, "rt-2");
  EXPECT_THAT(store_->GetRefreshToken("rt-3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

// A refresh token is read with whether its family's user may still use the family's
// application: assigned directly or through a group, to that application and no other.
TEST_P(StoreConformanceTest, RefreshTokenIsReadWithItsUsersAssignment) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-1", "admins")), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kOtherAppArn)), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  auto assigned = [&] {
    auto read = store_->GetRefreshToken("rt-1");
    EXPECT_THAT(read, IsOk());
    return read.ok() && read->user_assigned;
  };
  EXPECT_FALSE(assigned());
  ASSERT_THAT(store_->PutAssignment(kOtherAppArn, "user-1", "USER"), IsOk());
  EXPECT_FALSE(assigned()) << "an assignment to another application counts";
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  EXPECT_TRUE(assigned());
  ASSERT_THAT(store_->DeleteAssignment(kAppArn, "user-1"), IsOk());
  EXPECT_FALSE(assigned());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "group-1", "GROUP"), IsOk());
  EXPECT_FALSE(assigned()) << "a group the user is not a member of counts";
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-1", "group-1", "user-1")), IsOk());
  EXPECT_TRUE(assigned());

  // The checked rotation hands its check the same answer.
  CheckedCall call = CheckAndRotate(*store_, "rt-1", kNow + 5, MakeRefresh("rt-2", "fam-1"));
  ASSERT_EQ(call.checked.size(), 1u);
  EXPECT_TRUE(call.checked[0].user_assigned);
  ASSERT_THAT(store_->DeleteGroupMembership("m-1"), IsOk());
  CheckedCall refused = CheckAndRotate(*store_, "rt-2", kNow + 6, MakeRefresh("rt-3", "fam-1"));
  ASSERT_EQ(refused.checked.size(), 1u);
  EXPECT_FALSE(refused.checked[0].user_assigned);
}

TEST_P(StoreConformanceTest, CheckedRotationRefusedByItsCheckChangesNothing) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  CheckedCall call = CheckAndRotate(*store_, "rt-1", kNow + 5,
                                    PermissionDeniedError("refused by the grant's check"));
  EXPECT_THAT(call.result, StatusIs(StatusCode::kPermissionDenied, HasSubstr("grant's check")));
  EXPECT_EQ(call.checked.size(), 1u);
  auto old = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->token.successor_hash, "");

  // An unknown token is NotFound, and its check is never called.
  CheckedCall unknown = CheckAndRotate(*store_, "rt-9", kNow + 5, MakeRefresh("rt-2", "fam-1"));
  EXPECT_THAT(unknown.result, StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_TRUE(unknown.checked.empty());
  EXPECT_THAT(store_->GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

// The read and the compare-and-set are one step: of concurrent checked rotations of one token,
// one rotates and every other reads it rotated.
TEST_P(StoreConformanceTest, ConcurrentCheckedRotationsOfOneTokenHaveExactlyOneWinner) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  std::vector<CheckedCall> calls(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    calls[static_cast<size_t>(i)] = CheckAndRotate(
        *store_, "rt-0", kNow + 1, MakeRefresh("rt-next-" + std::to_string(i), "fam-1"));
  });
  int rotated = 0;
  int already = 0;
  std::string winner;
  for (int i = 0; i < kThreads; ++i) {
    const CheckedCall& call = calls[static_cast<size_t>(i)];
    ASSERT_THAT(call.result, IsOk()) << i;
    if (*call.result == RotateOutcome::kRotated) {
      ++rotated;
      winner = "rt-next-" + std::to_string(i);
    }
    if (*call.result == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto old = store_->GetRefreshToken("rt-0");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.successor_hash, winner);
}

}  // namespace
}  // namespace ts::storage::conformance
