#include "ts/tokens/key_ring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/jose/jwk.h"
#include "ts/jose/signer.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::tokens {
namespace {

using ::testing::HasSubstr;
using ::testing::NotNull;
using ::testing::SizeIs;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'700'000'000;

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-key-ring");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
  }
  void TearDown() override {
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  std::shared_ptr<KeyRing> OpenRing(const std::string& seal_key) {
    auto ring = KeyRing::Open(store_, seal_key, clock_);
    EXPECT_THAT(ring, IsOk());
    return ring.ok() ? *ring : nullptr;
  }

  static jose::JwkSet ParseJwks(const std::string& json) {
    auto set = jose::JwkSet::Parse(json);
    EXPECT_THAT(set, IsOk()) << json;
    return set.ok() ? *set : jose::JwkSet();
  }

  fs::path dir_;
  storage::StorePtr store_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  const std::string seal_key_ = std::string(32, 'k');
};

TEST_F(KeyRingTest, OpenCreatesOneKeyWhenTheStoreHasNone) {
  std::shared_ptr<KeyRing> ring = OpenRing(seal_key_);
  ASSERT_THAT(ring, NotNull());
  ASSERT_THAT(ring->Active(), NotNull());
  auto keys = store_->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_THAT(*keys, SizeIs(1));
  EXPECT_EQ((*keys)[0].kid, ring->Active()->kid());
  EXPECT_EQ((*keys)[0].alg, "ES256");
  EXPECT_EQ((*keys)[0].activated_at, kNow);
  EXPECT_EQ((*keys)[0].retired_at, 0);
  // The private key is stored sealed, never as the raw PKCS#8 bytes.
  EXPECT_EQ((*keys)[0].private_key_sealed.find(ring->Active()->Pkcs8Der()), std::string::npos);
}

TEST_F(KeyRingTest, ReopenReusesTheStoredKey) {
  std::string kid;
  {
    std::shared_ptr<KeyRing> ring = OpenRing(seal_key_);
    ASSERT_THAT(ring, NotNull());
    kid = ring->Active()->kid();
  }
  std::shared_ptr<KeyRing> again = OpenRing(seal_key_);
  ASSERT_THAT(again, NotNull());
  EXPECT_EQ(again->Active()->kid(), kid);
  auto keys = store_->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  EXPECT_THAT(*keys, SizeIs(1));
}

TEST_F(KeyRingTest, JwksJsonParsesAndHoldsTheActiveKid) {
  std::shared_ptr<KeyRing> ring = OpenRing(seal_key_);
  ASSERT_THAT(ring, NotNull());
  jose::JwkSet set = ParseJwks(ring->JwksJson());
  ASSERT_EQ(set.size(), 1u);
  const jose::Jwk* key = set.Find(ring->Active()->kid());
  ASSERT_THAT(key, NotNull());
  EXPECT_EQ(key->kty(), jose::KeyType::kEc);
  EXPECT_EQ(key->crv(), "P-256");
  EXPECT_EQ(key->alg(), "ES256");
  // Only public members are published.
  EXPECT_THAT(ring->JwksJson(), ::testing::Not(HasSubstr("\"d\"")));
}

TEST_F(KeyRingTest, RotateActivatesANewKeyAndKeepsTheOldOneUntilDeleteAfter) {
  std::shared_ptr<KeyRing> ring = OpenRing(seal_key_);
  ASSERT_THAT(ring, NotNull());
  const std::string old_kid = ring->Active()->kid();

  clock_->Advance(std::chrono::seconds(10));
  auto new_kid = ring->Rotate(3600);
  ASSERT_THAT(new_kid, IsOk());
  EXPECT_NE(*new_kid, old_kid);
  EXPECT_EQ(ring->Active()->kid(), *new_kid);

  jose::JwkSet both = ParseJwks(ring->JwksJson());
  EXPECT_EQ(both.size(), 2u);
  EXPECT_THAT(both.Find(old_kid), NotNull());
  EXPECT_THAT(both.Find(*new_kid), NotNull());

  auto keys = store_->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_THAT(*keys, SizeIs(2));
  for (const storage::SigningKey& k : *keys) {
    if (k.kid == old_kid) {
      EXPECT_EQ(k.retired_at, kNow + 10);
      EXPECT_EQ(k.delete_after, kNow + 10 + 3600);
    } else {
      EXPECT_EQ(k.retired_at, 0);
    }
  }

  // Still published at the last second of delete_after.
  clock_->Advance(std::chrono::seconds(3600));
  ASSERT_THAT(ring->Reload(), IsOk());
  EXPECT_EQ(ParseJwks(ring->JwksJson()).size(), 2u);

  clock_->Advance(std::chrono::seconds(1));
  ASSERT_THAT(ring->Reload(), IsOk());
  jose::JwkSet after = ParseJwks(ring->JwksJson());
  EXPECT_EQ(after.size(), 1u);
  EXPECT_THAT(after.Find(*new_kid), NotNull());
  EXPECT_EQ(after.Find(old_kid), nullptr);
  EXPECT_EQ(ring->Active()->kid(), *new_kid);
}

TEST_F(KeyRingTest, ReloadSeesARotationByAnotherRing) {
  std::shared_ptr<KeyRing> first = OpenRing(seal_key_);
  std::shared_ptr<KeyRing> second = OpenRing(seal_key_);
  ASSERT_THAT(first, NotNull());
  ASSERT_THAT(second, NotNull());
  clock_->Advance(std::chrono::seconds(1));
  auto kid = second->Rotate(600);
  ASSERT_THAT(kid, IsOk());
  EXPECT_NE(first->Active()->kid(), *kid);
  ASSERT_THAT(first->Reload(), IsOk());
  EXPECT_EQ(first->Active()->kid(), *kid);
}

TEST_F(KeyRingTest, OpenWithAnotherSealKeyFailsNamingTheMasterKey) {
  ASSERT_THAT(OpenRing(seal_key_), NotNull());
  auto wrong = KeyRing::Open(store_, std::string(32, 'x'), clock_);
  EXPECT_THAT(wrong, StatusIs(StatusCode::kInternal, HasSubstr("TESSERA_MASTER_KEY")));
}

TEST_F(KeyRingTest, RotateWithADelayPublishesNowAndSignsLater) {
  std::shared_ptr<KeyRing> ring = OpenRing(seal_key_);
  ASSERT_THAT(ring, NotNull());
  const std::string old_kid = ring->Active()->kid();
  auto new_kid = ring->Rotate(3600, 100);
  ASSERT_THAT(new_kid, IsOk());
  // Published before use: in the JWKS now, signing only from its activation.
  EXPECT_THAT(ParseJwks(ring->JwksJson()).Find(*new_kid), NotNull());
  EXPECT_EQ(ring->Active()->kid(), old_kid);
  clock_->Advance(std::chrono::seconds(99));
  ASSERT_THAT(ring->Reload(), IsOk());
  EXPECT_EQ(ring->Active()->kid(), old_kid);
  clock_->Advance(std::chrono::seconds(1));
  ASSERT_THAT(ring->Reload(), IsOk());
  EXPECT_EQ(ring->Active()->kid(), *new_kid);
  EXPECT_THAT(ParseJwks(ring->JwksJson()).Find(old_kid), NotNull());
  auto keys = store_->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  for (const storage::SigningKey& k : *keys) {
    if (k.kid == old_kid) {
      EXPECT_EQ(k.retired_at, kNow + 100);
      EXPECT_EQ(k.delete_after, kNow + 100 + 3600);
    }
  }
}

TEST_F(KeyRingTest, MaybeRotatePublishesASuccessorOnceWhenDue) {
  std::shared_ptr<KeyRing> ring = OpenRing(seal_key_);
  ASSERT_THAT(ring, NotNull());
  const std::string first = ring->Active()->kid();
  const RotationPolicy policy{1000, 100, 50};
  clock_->Advance(std::chrono::seconds(899));
  EXPECT_THAT(ring->MaybeRotate(policy), ::ts::testing::IsOkAndHolds(std::string()));
  clock_->Advance(std::chrono::seconds(1));
  auto next = ring->MaybeRotate(policy);
  ASSERT_THAT(next, IsOk());
  ASSERT_NE(*next, "");
  EXPECT_EQ(ring->Active()->kid(), first);  // published, not yet signing
  EXPECT_THAT(ParseJwks(ring->JwksJson()).Find(*next), NotNull());
  // The pending successor counts: nothing more is due.
  EXPECT_THAT(ring->MaybeRotate(policy), ::ts::testing::IsOkAndHolds(std::string()));
  clock_->Advance(std::chrono::seconds(100));
  ASSERT_THAT(ring->Reload(), IsOk());
  EXPECT_EQ(ring->Active()->kid(), *next);
  EXPECT_THAT(store_->ListSigningKeys(), ::ts::testing::IsOkAndHolds(SizeIs(2)));
  // Zero rotation period: automatic rotation is off.
  clock_->Advance(std::chrono::seconds(100000));
  EXPECT_THAT(ring->MaybeRotate(RotationPolicy{0, 100, 50}),
              ::ts::testing::IsOkAndHolds(std::string()));
}

// Several nodes' rings asking at once: one successor, not one per node.
TEST_F(KeyRingTest, ConcurrentMaybeRotateCreatesOneSuccessor) {
  std::vector<std::shared_ptr<KeyRing>> rings;
  for (int i = 0; i < 4; ++i) rings.push_back(OpenRing(seal_key_));
  for (const auto& r : rings) ASSERT_THAT(r, NotNull());
  clock_->Advance(std::chrono::seconds(5000));
  std::vector<std::thread> threads;
  for (const auto& r : rings) {
    threads.emplace_back([&r] {
      EXPECT_THAT(r->MaybeRotate(RotationPolicy{1000, 100, 50}), IsOk());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(store_->ListSigningKeys(), ::ts::testing::IsOkAndHolds(SizeIs(2)));
}

}  // namespace
}  // namespace ts::tokens
