// The conformance suite's InstanceStore cases: the instance, meta and CreateMeta (see
// conformance_test.h).
#include <gmock/gmock.h>

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

// --- instance and meta ---

TEST_P(StoreConformanceTest, GetInstanceBeforePutIsNotFound) {
  EXPECT_THAT(store_->GetInstance(), StatusIs(StatusCode::kNotFound, HasSubstr("instance")));
}

TEST_P(StoreConformanceTest, PutInstanceInsertsThenReplaces) {
  Instance instance{"arn:aws:sso:::instance/ssoins-111111111111",
                    "ssoins-111111111111",
                    "d-3333333333",
                    "111111111111",
                    "us-east-1",
                    "Tessera",
                    kNow};
  ASSERT_THAT(store_->PutInstance(instance), IsOk());
  EXPECT_THAT(store_->GetInstance(), IsOkAndHolds(Eq(instance)));
  instance.name = "Renamed";
  instance.region = "eu-west-1";
  ASSERT_THAT(store_->PutInstance(instance), IsOk());
  EXPECT_THAT(store_->GetInstance(), IsOkAndHolds(Eq(instance)));
}

TEST_P(StoreConformanceTest, MetaPutGetAndReplace) {
  EXPECT_THAT(store_->GetMeta("master_key_check"),
              StatusIs(StatusCode::kNotFound, HasSubstr("master_key_check")));
  ASSERT_THAT(store_->PutMeta("master_key_check", "v1"), IsOk());
  EXPECT_THAT(store_->GetMeta("master_key_check"), IsOkAndHolds(std::string("v1")));
  ASSERT_THAT(store_->PutMeta("master_key_check", "v2"), IsOk());
  EXPECT_THAT(store_->GetMeta("master_key_check"), IsOkAndHolds(std::string("v2")));
}

// --- coordination between nodes ---

TEST_P(StoreConformanceTest, CreateMetaKeepsTheFirstValue) {
  ASSERT_THAT(store_->CreateMeta("check", "first"), IsOk());
  EXPECT_THAT(store_->CreateMeta("check", "second"),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("check")));
  EXPECT_THAT(store_->GetMeta("check"), IsOkAndHolds(std::string("first")));
}

TEST_P(StoreConformanceTest, ConcurrentCreateMetaHasOneWinner) {
  std::vector<Status> results(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    results[i] = store_->CreateMeta("check", "value-" + std::to_string(i));
  });
  int created = 0;
  for (const Status& s : results) {
    if (s.ok()) {
      ++created;
    } else {
      EXPECT_THAT(s, StatusIs(StatusCode::kAlreadyExists, HasSubstr("check")));
    }
  }
  EXPECT_EQ(created, 1);
}

}  // namespace
}  // namespace ts::storage::conformance
