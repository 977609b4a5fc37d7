#include "ts/tti/jwks_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/jose/signer.h"
#include "ts/tti/fake_fetcher.h"

namespace ts::tti {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

constexpr char kIssuer[] = "https://idp.example";
constexpr char kDiscovery[] = "https://idp.example/.well-known/openid-configuration";
constexpr char kJwksUri[] = "https://idp.example/keys";
constexpr int64_t kNow = 1'800'000'000;

std::string Jwks(const jose::Es256Signer& key) {
  return R"({"keys":[)" + key.PublicJwkJson() + "]}";
}

class JwksCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *jose::Es256Signer::Generate();
    fetcher_->SetJson(kDiscovery,
                      R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"})");
    fetcher_->SetJson(kJwksUri, Jwks(key_), 300);
  }
  JwksCache MakeCache(JwksCacheOptions options = {}) {
    return JwksCache(fetcher_, clock_, options);
  }
  void Advance(int64_t seconds) { clock_->Advance(std::chrono::seconds(seconds)); }

  std::shared_ptr<FakeFetcher> fetcher_ = std::make_shared<FakeFetcher>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  jose::Es256Signer key_ = *jose::Es256Signer::Generate();
};

TEST_F(JwksCacheTest, GetCachedReturnsOnlyFreshKeysAndNeverFetches) {
  JwksCache cache = MakeCache();
  EXPECT_EQ(cache.GetCached(kIssuer), std::nullopt);
  EXPECT_EQ(fetcher_->calls(kDiscovery), 0);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  Advance(299);
  auto cached = cache.GetCached(kIssuer);
  ASSERT_TRUE(cached.has_value());
  EXPECT_NE(cached->Find(key_.kid()), nullptr);
  Advance(1);  // max-age 300 has passed: stale keys are Get's business (max_stale), not ours
  EXPECT_EQ(cache.GetCached(kIssuer), std::nullopt);
  EXPECT_EQ(cache.GetCached("https://other.example"), std::nullopt);
  EXPECT_EQ(fetcher_->calls(kJwksUri), 1);
}

TEST_F(JwksCacheTest, FetchesThroughDiscoveryAndCachesForMaxAge) {
  JwksCache cache = MakeCache();
  auto keys = cache.Get(kIssuer);
  ASSERT_THAT(keys, IsOk());
  ASSERT_NE(keys->Find(key_.kid()), nullptr);
  Advance(299);
  EXPECT_THAT(cache.Get(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 1);
  Advance(1);  // max-age 300 has passed
  EXPECT_THAT(cache.Get(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 2);
  EXPECT_EQ(fetcher_->calls(kDiscovery), 2);
}

TEST_F(JwksCacheTest, ClampsCacheControlToBounds) {
  fetcher_->SetJson(kJwksUri, Jwks(key_), 0);  // no-store: still kept for min_ttl
  JwksCacheOptions options;
  options.min_ttl = 60;
  options.max_ttl = 120;
  JwksCache cache = MakeCache(options);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  Advance(59);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 1);
  Advance(1);
  fetcher_->SetJson(kJwksUri, Jwks(key_), 999999);  // capped at max_ttl
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 2);
  Advance(119);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 2);
  Advance(1);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 3);
}

TEST_F(JwksCacheTest, UnknownKidRefetchesAtMostOncePerInterval) {
  JwksCacheOptions options;
  options.refetch_interval = 10;
  JwksCache cache = MakeCache(options);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  Advance(10);
  jose::Es256Signer rotated = *jose::Es256Signer::Generate();
  fetcher_->SetJson(kJwksUri, Jwks(rotated), 300);
  auto keys = cache.RefreshForUnknownKid(kIssuer);
  ASSERT_THAT(keys, IsOk());
  EXPECT_NE(keys->Find(rotated.kid()), nullptr);
  EXPECT_EQ(fetcher_->calls(kJwksUri), 2);
  // Forged kids right after: served from the cache, no new fetch.
  for (int i = 0; i < 5; ++i) EXPECT_THAT(cache.RefreshForUnknownKid(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 2);
  Advance(10);
  EXPECT_THAT(cache.RefreshForUnknownKid(kIssuer), IsOk());
  EXPECT_EQ(fetcher_->calls(kJwksUri), 3);
}

TEST_F(JwksCacheTest, ServesStaleKeysForABoundedTimeWhileTheIdpIsDown) {
  JwksCacheOptions options;
  options.max_stale = 1000;
  JwksCache cache = MakeCache(options);
  ASSERT_THAT(cache.Get(kIssuer), IsOk());
  fetcher_->Set(kDiscovery, UnavailableError("connection refused"));
  Advance(300 + 999);
  auto stale = cache.Get(kIssuer);
  ASSERT_THAT(stale, IsOk());
  EXPECT_NE(stale->Find(key_.kid()), nullptr);
  Advance(1);
  EXPECT_THAT(cache.Get(kIssuer),
              StatusIs(StatusCode::kUnavailable, HasSubstr("connection refused")));
}

TEST_F(JwksCacheTest, AFailedFetchIsNotRetriedWithinTheInterval) {
  fetcher_->Set(kDiscovery, UnavailableError("timed out"));
  JwksCache cache = MakeCache();
  EXPECT_THAT(cache.Get(kIssuer), StatusIs(StatusCode::kUnavailable, HasSubstr("timed out")));
  EXPECT_THAT(cache.Get(kIssuer), StatusIs(StatusCode::kUnavailable, HasSubstr("timed out")));
  EXPECT_EQ(fetcher_->calls(kDiscovery), 1);
  Advance(10);
  EXPECT_THAT(cache.Get(kIssuer), StatusIs(StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(fetcher_->calls(kDiscovery), 2);
}

TEST_F(JwksCacheTest, RefusesBadDiscoveryAndJwks) {
  struct Case {
    std::string discovery;
    FetchResult jwks;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not json", {200, "{}", -1}, "not a JSON object"},
      {R"({"issuer":"https://evil.example","jwks_uri":"https://idp.example/keys"})",
       {200, "{}", -1},
       "issuer does not match"},
      {R"({"issuer":"https://idp.example"})", {200, "{}", -1}, "no jwks_uri"},
      {R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"})",
       {500, "{}", -1},
       "answered HTTP 500"},
      {R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"})",
       {200, "<html>", -1},
       "invalid JWKS"},
      {R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/keys"})",
       {200, R"({"keys":[]})", -1},
       "no usable signing key"},
  };
  for (const Case& c : cases) {
    fetcher_->SetJson(kDiscovery, c.discovery);
    fetcher_->Set(kJwksUri, c.jwks);
    JwksCache cache = MakeCache();
    EXPECT_THAT(cache.Get(kIssuer), StatusIs(StatusCode::kUnavailable, HasSubstr(c.message)))
        << c.message;
  }
}

TEST_F(JwksCacheTest, ConcurrentRequestsShareOneFetch) {
  JwksCache cache = MakeCache();
  fetcher_->Hold();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (cache.Get(kIssuer).ok()) ++ok;
    });
  }
  // Wait until the one fetch is in progress, let the others pile up behind it, then release.
  while (fetcher_->waiting() == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  fetcher_->Release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(fetcher_->calls(kDiscovery), 1);
  EXPECT_EQ(cache.fetch_count(), 1);
}

}  // namespace
}  // namespace ts::tti
