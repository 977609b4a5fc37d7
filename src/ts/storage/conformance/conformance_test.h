// File: conformance_test.h
// The storage conformance suite: the behaviour store.h promises, checked the same way against
// every backend. A backend's test binary links ts::storage_conformance and instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//                            ::testing::Values(StoreFactory([] { return MakeFreshStore(); })));
//
// The factory must return a fresh, empty store on each call (one per test case); it may attach
// cleanup to the returned shared_ptr's deleter. The suite only uses the Store interface, so it
// stays backend-neutral. Tests run single-threaded apart from the concurrency cases, which use
// one store from many threads.
//
// The cases check store.h's contract, one case per behaviour, in one file per aggregate of the
// store (directory_test.cc, application_test.cc, ..., housekeeping_test.cc). Where store.h leaves
// a detail open (orderings, NotFound on deleting something absent, what else
// DeleteUser/DeleteApplication/RevokeSession clean up), the case says so and pins the behaviour
// every backend agrees on. The constants and record makers the parts share are declared here, in
// namespace `conformance`, so that they do not meet a backend test's own helpers.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ts/storage/store.h"

namespace ts::storage {

using StoreFactory = std::function<StorePtr()>;

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    ASSERT_NE(store_, nullptr) << "the store factory returned no store";
  }
  void TearDown() override { store_.reset(); }

  StorePtr store_;
};

// --- for tests of RotateRefreshTokenAsync (here and in the backends' own tests) ---

inline constexpr std::chrono::seconds kAsyncTimeout{30};

// The completions of n RotateRefreshTokenAsync calls, one slot each. Shared with the completions,
// which may run on another thread, and after a test that gave up waiting has returned.
struct Completions {
  explicit Completions(size_t n);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> calls;                        // how often each slot's `done` ran
  std::vector<StatusOr<RotateOutcome>> results;  // what each slot's first call got
  size_t answered = 0;                           // slots called at least once
};

// A completion that records into `slot` of `c`.
Store::RotateDone RecordInto(std::shared_ptr<Completions> c, size_t slot);

// Waits until every slot was answered; false if that took longer than kAsyncTimeout.
bool AwaitAll(Completions& c);

// Field-wise equality for the records, so whole round trips are checked.
bool operator==(const Instance& a, const Instance& b);
bool operator==(const User& a, const User& b);
bool operator==(const Application& a, const Application& b);
bool operator==(const Group& a, const Group& b);
bool operator==(const GroupMembership& a, const GroupMembership& b);
bool operator==(const Assignment& a, const Assignment& b);
bool operator==(const IamPrincipal& a, const IamPrincipal& b);
bool operator==(const AccessKey& a, const AccessKey& b);
bool operator==(const SigningKey& a, const SigningKey& b);
bool operator==(const SignInSession& a, const SignInSession& b);
bool operator==(const AuthorizationCode& a, const AuthorizationCode& b);
bool operator==(const TokenFamily& a, const TokenFamily& b);
bool operator==(const RefreshToken& a, const RefreshToken& b);
bool operator==(const RegisteredClient& a, const RegisteredClient& b);
bool operator==(const DeviceAuthorization& a, const DeviceAuthorization& b);
bool operator==(const Account& a, const Account& b);
bool operator==(const PermissionSet& a, const PermissionSet& b);
bool operator==(const ProvisionedRole& a, const ProvisionedRole& b);
bool operator==(const AccountAssignment& a, const AccountAssignment& b);
bool operator==(const OperationStatus& a, const OperationStatus& b);
bool operator==(const RoleCredential& a, const RoleCredential& b);

// --- shared by the parts of the suite ---

namespace conformance {

inline constexpr int64_t kNow = 1'700'000'000;
inline constexpr char kAppArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222";
inline constexpr char kOtherAppArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-333333333333";
// Threads of the concurrency cases.
inline constexpr int kThreads = 16;

User MakeUser(const std::string& id, const std::string& name);
Application MakeApp(const std::string& arn);
SignInSession MakeSession(const std::string& hash, const std::string& user_id);
AuthorizationCode MakeCode(const std::string& hash, const std::string& user_id,
                           const std::string& session_hash = "session-1",
                           const std::string& app_arn = kAppArn);
TokenFamily MakeFamily(const std::string& id, const std::string& user_id = "user-1",
                       const std::string& app_arn = kAppArn,
                       const std::string& session_hash = "session-1");
RefreshToken MakeRefresh(const std::string& hash, const std::string& family_id);
Group MakeGroup(const std::string& id, const std::string& name);
GroupMembership MakeMembership(const std::string& id, const std::string& group_id,
                               const std::string& user_id);
// A family made by token exchange from `parent`.
TokenFamily ExchangedFamily(const std::string& id, const std::string& parent);

// A PurgeExpired result: `deleted` rows, and whether the call said it had finished.
::testing::Matcher<const StatusOr<PurgeResult>&> Purged(int64_t deleted, bool finished = true);

// Refused: no live family of that id is left (this backend may have written and revoked it).
void ExpectNoLiveFamily(Store& store, const std::string& id);

}  // namespace conformance

}  // namespace ts::storage
