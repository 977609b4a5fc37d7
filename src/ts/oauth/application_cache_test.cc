#include "ts/oauth/application_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/oauth/application.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::oauth {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

constexpr char kArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1111111111111111";
constexpr char kPolicy[] = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::123456789012:role/webapp"},
  "Action":"sso-oauth:CreateTokenWithIAM","Resource":"*"}]})";

class ApplicationCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-app-cache");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    app_.application_arn = kArn;
    app_.name = "first";
    app_.actor_policy_json = kPolicy;
    ASSERT_THAT(store_->PutApplication(app_), IsOk());
  }
  void TearDown() override {
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }
  void Rename(const std::string& name) {
    app_.name = name;
    ASSERT_THAT(store_->PutApplication(app_), IsOk());
  }
  std::string NameSeen(ApplicationCache& cache) {
    auto got = cache.Get(kArn);
    EXPECT_THAT(got, IsOk());
    return got.ok() ? (*got)->app.name : "";
  }

  std::filesystem::path dir_;
  storage::StorePtr store_;
  storage::Application app_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(1'700'000'000);
};

TEST_F(ApplicationCacheTest, KeepsAnApplicationForTheTtlThenRereadsIt) {
  ApplicationCache cache(store_, clock_, std::chrono::milliseconds(1000));
  EXPECT_EQ(NameSeen(cache), "first");
  Rename("second");
  clock_->Advance(std::chrono::milliseconds(999));
  EXPECT_EQ(NameSeen(cache), "first");  // within the lifetime
  clock_->Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(NameSeen(cache), "second");
}

TEST_F(ApplicationCacheTest, ClearMakesTheNextGetReadTheStore) {
  ApplicationCache cache(store_, clock_, std::chrono::seconds(60));
  EXPECT_EQ(NameSeen(cache), "first");
  Rename("second");
  cache.Clear();
  EXPECT_EQ(NameSeen(cache), "second");
}

TEST_F(ApplicationCacheTest, ZeroTtlAlwaysReadsTheStore) {
  ApplicationCache cache(store_, clock_, std::chrono::milliseconds(0));
  EXPECT_EQ(NameSeen(cache), "first");
  Rename("second");
  EXPECT_EQ(NameSeen(cache), "second");
}

TEST_F(ApplicationCacheTest, DeletedApplicationDisappearsAfterClearAndIsNotCachedAsMissing) {
  ApplicationCache cache(store_, clock_, std::chrono::seconds(60));
  EXPECT_EQ(NameSeen(cache), "first");
  ASSERT_THAT(store_->DeleteApplication(kArn, 1'700'000'000), IsOk());
  cache.Clear();
  EXPECT_THAT(cache.Get(kArn), StatusIs(StatusCode::kNotFound, HasSubstr(kArn)));
  // A failed lookup is not remembered: the application is found as soon as it exists again.
  ASSERT_THAT(store_->PutApplication(app_), IsOk());
  EXPECT_THAT(cache.Get(kArn), IsOk());
}

TEST_F(ApplicationCacheTest, ParsesTheActorPolicyOnceAndReportsABadOne) {
  ApplicationCache cache(store_, clock_, std::chrono::seconds(60));
  auto good = cache.Get(kArn);
  ASSERT_THAT(good, IsOk());
  ASSERT_NE((*good)->actor_policy, nullptr);
  EXPECT_EQ((*good)->policy_error, "");
  EXPECT_EQ(cache.Get(kArn)->get(), good->get());  // the same entry, not reparsed

  app_.actor_policy_json = R"({"Statement":"not a list"})";
  ASSERT_THAT(store_->PutApplication(app_), IsOk());
  cache.Clear();
  auto bad = cache.Get(kArn);
  ASSERT_THAT(bad, IsOk());
  EXPECT_EQ((*bad)->actor_policy, nullptr);
  EXPECT_NE((*bad)->policy_error, "");
}

TEST_F(ApplicationCacheTest, ResolvesTheJwtBearerIssuersOnceAndSkipsDeletedOnes) {
  const std::string tti = "arn:aws:sso::123456789012:trustedTokenIssuer/ssoins-111111111111/tti-1";
  storage::TrustedTokenIssuer issuer;
  issuer.arn = tti;
  issuer.name = "idp";
  issuer.issuer_url = "https://idp.example";
  ASSERT_THAT(store_->PutTrustedTokenIssuer(issuer), IsOk());
  app_.grants[std::string(kGrantJwtBearer)] =
      R"({"AuthorizedTokenIssuers":[{"TrustedTokenIssuerArn":")" + tti +
      R"(","AuthorizedAudiences":["aud-1","aud-2"]},{"TrustedTokenIssuerArn":"arn:gone"}]})";
  ASSERT_THAT(store_->PutApplication(app_), IsOk());
  ApplicationCache cache(store_, clock_, std::chrono::seconds(60));
  auto got = cache.Get(kArn);
  ASSERT_THAT(got, IsOk());
  ASSERT_EQ((*got)->jwt_issuers.size(), 1u);  // the unknown ARN is skipped
  EXPECT_EQ((*got)->jwt_issuers[0].issuer.issuer_url, "https://idp.example");
  EXPECT_THAT((*got)->jwt_issuers[0].audiences, ::testing::ElementsAre("aud-1", "aud-2"));

  // An issuer changed through the admin plane is seen once the cache is cleared.
  issuer.issuer_url = "https://idp2.example";
  ASSERT_THAT(store_->PutTrustedTokenIssuer(issuer), IsOk());
  EXPECT_EQ((*cache.Get(kArn))->jwt_issuers[0].issuer.issuer_url, "https://idp.example");
  cache.Clear();
  EXPECT_EQ((*cache.Get(kArn))->jwt_issuers[0].issuer.issuer_url, "https://idp2.example");
}

}  // namespace
}  // namespace ts::oauth
