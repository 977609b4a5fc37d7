// The conformance suite's KeyStore cases: signing keys (see conformance_test.h).
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

SigningKey MakeSigningKey(const std::string& kid, int64_t created_at) {
  SigningKey k;
  k.kid = kid;
  k.alg = "ES256";
  k.private_key_sealed = std::string("\x00\x01pkcs8\x80", 8);
  k.public_jwk_json = R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"("})";
  k.created_at = created_at;
  return k;
}

// --- signing keys ---

TEST_P(StoreConformanceTest, SigningKeysListOldestFirstAndReplaceByKid) {
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(IsEmpty()));
  SigningKey second = MakeSigningKey("kid-b", kNow + 10);
  SigningKey first = MakeSigningKey("kid-a", kNow);
  ASSERT_THAT(store_->PutSigningKey(second), IsOk());
  ASSERT_THAT(store_->PutSigningKey(first), IsOk());
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(ElementsAre(Eq(first), Eq(second))));
  first.activated_at = kNow + 1;
  first.retired_at = kNow + 20;
  first.delete_after = kNow + 100;
  ASSERT_THAT(store_->PutSigningKey(first), IsOk());
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(ElementsAre(Eq(first), Eq(second))));
}

// --- coordination between nodes ---

TEST_P(StoreConformanceTest, UpdateSigningKeysWritesWhatTheUpdateReturns) {
  ASSERT_THAT(store_->PutSigningKey(MakeSigningKey("kid-a", kNow)), IsOk());
  ASSERT_THAT(store_->UpdateSigningKeys(
                  [](const std::vector<SigningKey>& current) -> StatusOr<std::vector<SigningKey>> {
                    EXPECT_EQ(current.size(), 1u);
                    std::vector<SigningKey> changed;
                    SigningKey retired = current.at(0);
                    retired.retired_at = kNow + 5;
                    changed.push_back(retired);
                    changed.push_back(MakeSigningKey("kid-b", kNow + 1));
                    return changed;
                  }),
              IsOk());
  auto keys = store_->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "kid-a");
  EXPECT_EQ((*keys)[0].retired_at, kNow + 5);
  EXPECT_EQ((*keys)[1].kid, "kid-b");
  // An error from the update writes nothing.
  EXPECT_THAT(store_->UpdateSigningKeys(
                  [](const std::vector<SigningKey>&) -> StatusOr<std::vector<SigningKey>> {
                    return FailedPreconditionError("not now");
                  }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("not now")));
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(::testing::SizeIs(2)));
}

// One rotator at a time: concurrent updates that each add a key only when there is none leave
// exactly one key, which only holds if every update sees the previous one's result.
TEST_P(StoreConformanceTest, ConcurrentUpdateSigningKeysAreSerialised) {
  RunConcurrently(kThreads, [&](int i) {
    EXPECT_THAT(
        store_->UpdateSigningKeys(
            [&](const std::vector<SigningKey>& current) -> StatusOr<std::vector<SigningKey>> {
              if (!current.empty()) return std::vector<SigningKey>{};
              return std::vector<SigningKey>{MakeSigningKey("kid-" + std::to_string(i), kNow)};
            }),
        IsOk());
  });
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(::testing::SizeIs(1)));
}

}  // namespace
}  // namespace ts::storage::conformance
