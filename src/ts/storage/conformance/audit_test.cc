// The conformance suite's AuditStore cases: an event commits with the change it records, and
// only then (see conformance_test.h and storage/audit.h).
#include "ts/storage/audit.h"

#include <gmock/gmock.h>

#include <boost/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

AuditEvent MakeEvent(const std::string& name, int64_t time,
                     const std::string& principal = "arn:aws:iam::111111111111:root") {
  AuditEvent e;
  e.event_time = time;
  e.event_source = "identitystore.amazonaws.com";
  e.event_name = name;
  e.identity_type = "Root";
  e.principal_arn = principal;
  e.principal_id = "111111111111";
  e.account_id = "111111111111";
  e.access_key_id = "AKIAEXAMPLE";
  e.request_parameters = {{"identityStoreId", "d-1234567890"}};
  return e;
}

std::vector<std::string> Names(const std::vector<AuditRecord>& records) {
  std::vector<std::string> out;
  for (const AuditRecord& r : records) out.push_back(r.event_name);
  return out;
}

// Both backends keep the trail beside the Store (sqlite_store.h, postgres_store.h).
AuditStore& Trail(const StorePtr& store) {
  auto* trail = dynamic_cast<AuditStore*>(store.get());
  if (trail == nullptr) throw std::logic_error("the store keeps no audit trail");
  return *trail;
}

std::vector<AuditRecord> All(const StorePtr& store) {
  auto all = Trail(store).ListAuditEvents(AuditQuery{});
  EXPECT_THAT(all, IsOk());
  return all.ok() ? *all : std::vector<AuditRecord>{};
}

TEST_P(StoreConformanceTest, AuditEventCommitsWithTheChangeItRecords) {
  {
    AuditScope scope(MakeEvent("CreateUser", kNow));
    ASSERT_THAT(store_->CreateUser(MakeUser("u-1", "alice")), IsOk());
  }
  const std::vector<AuditRecord> all = All(store_);
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_EQ(all[0].event_name, "CreateUser");
  EXPECT_EQ(all[0].event_time, kNow);
  EXPECT_GT(all[0].id, 0);
  const boost::json::object record = boost::json::parse(all[0].json).as_object();
  EXPECT_EQ(record.at("eventName").as_string(), "CreateUser");
  EXPECT_EQ(record.at("eventSource").as_string(), "identitystore.amazonaws.com");
  EXPECT_EQ(record.at("eventTime").as_string(), "2023-11-14T22:13:20Z");
  EXPECT_EQ(record.at("userIdentity").at("arn").as_string(), "arn:aws:iam::111111111111:root");
  EXPECT_EQ(record.at("userIdentity").at("accessKeyId").as_string(), "AKIAEXAMPLE");
  EXPECT_EQ(record.at("requestParameters").at("identityStoreId").as_string(), "d-1234567890");
  EXPECT_EQ(record.at("eventID").as_string().size(), 36u);
}

TEST_P(StoreConformanceTest, AuditEventOfAFailedChangeLeavesNeither) {
  ASSERT_THAT(store_->CreateUser(MakeUser("u-1", "alice")), IsOk());
  {
    // A duplicate: the transaction fails, and with it the event.
    AuditScope scope(MakeEvent("CreateUser", kNow));
    EXPECT_THAT(store_->CreateUser(MakeUser("u-1", "alice")),
                StatusIs(StatusCode::kAlreadyExists, ::testing::_));
    // The event went with the failed write: a later write in the scope does not carry it.
    ASSERT_THAT(store_->CreateUser(MakeUser("u-2", "bob")), IsOk());
  }
  EXPECT_THAT(All(store_), IsEmpty());
  EXPECT_THAT(store_->GetUser("u-2"), IsOk());
}

TEST_P(StoreConformanceTest, AuditEventOfARefusedDeletionIsDropped) {
  {
    AuditScope scope(MakeEvent("DeleteUser", kNow));
    EXPECT_THAT(store_->DeleteUser("nobody", kNow), StatusIs(StatusCode::kNotFound, ::testing::_));
  }
  {
    AuditScope scope(MakeEvent("CreateUser", kNow + 1));
    ASSERT_THAT(store_->CreateUser(MakeUser("u-1", "alice")), IsOk());
  }
  EXPECT_THAT(Names(All(store_)), ElementsAre("CreateUser"));
}

TEST_P(StoreConformanceTest, AuditEventTakenByTheFirstWriteOnlyAndNotByReads) {
  {
    AuditScope scope(MakeEvent("CreateGroup", kNow));
    EXPECT_THAT(store_->GetUser("u-1"),
                StatusIs(StatusCode::kNotFound, ::testing::_));  // a read: untouched
    ASSERT_THAT(store_->CreateGroup(MakeGroup("g-1", "admins")), IsOk());
    ASSERT_THAT(store_->CreateGroup(MakeGroup("g-2", "others")), IsOk());  // no second event
  }
  EXPECT_THAT(Names(All(store_)), ElementsAre("CreateGroup"));
}

TEST_P(StoreConformanceTest, AuditResponseElementsAddedBeforeTheWriteAreRecorded) {
  {
    AuditScope scope(MakeEvent("CreateUser", kNow));
    ASSERT_NE(AuditScope::Current(), nullptr);
    AuditScope::Current()->response_elements.emplace_back("userId", "u-1");
    ASSERT_THAT(store_->CreateUser(MakeUser("u-1", "alice")), IsOk());
    EXPECT_EQ(AuditScope::Current(), nullptr);  // taken
  }
  const std::vector<AuditRecord> all = All(store_);
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_THAT(all[0].json, HasSubstr(R"("responseElements":{"userId":"u-1"})"));
}

TEST_P(StoreConformanceTest, AuditEventOfAnAsynchronousWriteCommitsWithIt) {
  {
    AuditScope scope(MakeEvent("CreateToken", kNow));
    store_->RedeemAuthorizationCodeAsync("missing", kNow, MakeFamily("fam-1"), std::nullopt,
                                         [](StatusOr<RedeemOutcome>) {});
  }
  {
    AuditScope scope(MakeEvent("CreateToken", kNow + 1, "user-1"));
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status result;
    store_->CreateFamilyForAssertionAsync(MakeFamily("fam-2"), std::nullopt, "assertion-1",
                                          kNow + 100, [&](Status s) {
                                            std::lock_guard lock(mu);
                                            result = s;
                                            done = true;
                                            cv.notify_all();
                                          });
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kAsyncTimeout, [&] { return done; }));
    ASSERT_THAT(result, IsOk());
  }
  // The redemption of an unknown code changed nothing: its event is gone with it.
  const std::vector<AuditRecord> all = All(store_);
  ASSERT_THAT(all, SizeIs(1));
  EXPECT_EQ(all[0].principal_arn, "user-1");
}

TEST_P(StoreConformanceTest, AuditSigningKeyUpdateThatChangesNothingRecordsNothing) {
  {
    AuditScope scope(MakeEvent("RotateSigningKey", kNow));
    ASSERT_THAT(store_->UpdateSigningKeys([](const std::vector<SigningKey>&) {
      return StatusOr<std::vector<SigningKey>>(std::vector<SigningKey>{});
    }),
                IsOk());
  }
  EXPECT_THAT(All(store_), IsEmpty());
}

TEST_P(StoreConformanceTest, AuditAppendedEventsFilterByTimeNameAndPrincipal) {
  ASSERT_THAT(Trail(store_).AppendAuditEvent(MakeEvent("UserAuthentication", kNow, "user-a")),
              IsOk());
  ASSERT_THAT(Trail(store_).AppendAuditEvent(MakeEvent("CreateUser", kNow + 10)), IsOk());
  ASSERT_THAT(Trail(store_).AppendAuditEvent(MakeEvent("UserAuthentication", kNow + 20, "user-b")),
              IsOk());
  const std::vector<AuditRecord> all = All(store_);
  ASSERT_THAT(all, SizeIs(3));
  EXPECT_LT(all[0].id, all[1].id);  // oldest first, ids increasing
  EXPECT_LT(all[1].id, all[2].id);

  AuditQuery by_name;
  by_name.event_name = "UserAuthentication";
  auto named = Trail(store_).ListAuditEvents(by_name);
  ASSERT_THAT(named, IsOk());
  EXPECT_THAT(*named, SizeIs(2));

  AuditQuery by_time;
  by_time.since = kNow + 5;
  by_time.until = kNow + 20;  // exclusive
  auto timed = Trail(store_).ListAuditEvents(by_time);
  ASSERT_THAT(timed, IsOk());
  EXPECT_THAT(Names(*timed), ElementsAre("CreateUser"));

  AuditQuery by_principal;
  by_principal.principal = "user-b";
  auto mine = Trail(store_).ListAuditEvents(by_principal);
  ASSERT_THAT(mine, IsOk());
  ASSERT_THAT(*mine, SizeIs(1));
  EXPECT_EQ(mine->front().event_time, kNow + 20);
  by_principal.principal = "111111111111";  // the principal id matches too
  EXPECT_THAT(Trail(store_).ListAuditEvents(by_principal), IsOk());
  EXPECT_THAT(*Trail(store_).ListAuditEvents(by_principal), SizeIs(3));

  AuditQuery paged;
  paged.limit = 2;
  auto first = Trail(store_).ListAuditEvents(paged);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(*first, SizeIs(2));
  paged.after_id = first->back().id;
  auto rest = Trail(store_).ListAuditEvents(paged);
  ASSERT_THAT(rest, IsOk());
  EXPECT_THAT(Names(*rest), ElementsAre("UserAuthentication"));

  paged.limit = 0;
  EXPECT_THAT(Trail(store_).ListAuditEvents(paged),
              StatusIs(StatusCode::kInvalidArgument, ::testing::_));
}

TEST_P(StoreConformanceTest, AuditRetentionDeletesOnlyOlderEventsInBatches) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(Trail(store_).AppendAuditEvent(MakeEvent("E" + std::to_string(i), kNow + i)),
                IsOk());
  }
  auto purged = Trail(store_).PurgeAuditEvents(kNow + 3, 2);
  ASSERT_THAT(purged, IsOk());
  EXPECT_EQ(*purged, 2);
  purged = Trail(store_).PurgeAuditEvents(kNow + 3, 2);
  ASSERT_THAT(purged, IsOk());
  EXPECT_EQ(*purged, 1);
  purged = Trail(store_).PurgeAuditEvents(kNow + 3, 2);
  ASSERT_THAT(purged, IsOk());
  EXPECT_EQ(*purged, 0);
  EXPECT_THAT(Names(All(store_)), ElementsAre("E3", "E4"));
  // Ids keep increasing after a purge.
  const int64_t last = All(store_).back().id;
  ASSERT_THAT(Trail(store_).AppendAuditEvent(MakeEvent("E5", kNow + 5)), IsOk());
  EXPECT_GT(All(store_).back().id, last);
}

}  // namespace
}  // namespace ts::storage::conformance
