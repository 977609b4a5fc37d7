// File: jwks_cache.h
// The signing keys of trusted token issuers, found by OpenID Connect Discovery 1.0 (§4:
// <IssuerUrl>/.well-known/openid-configuration, whose "issuer" must equal IssuerUrl, §4.3, and
// whose "jwks_uri" names the JWK Set) and cached per issuer:
// - for the JWKS response's Cache-Control max-age, clamped to [min_ttl, max_ttl] (default_ttl
//   when it says nothing);
// - refetched early when a token names an unknown kid (key rotation), at most once per
//   `refetch_interval` per issuer, so forged kids cannot make us hammer the IdP;
// - served stale for at most `max_stale` past expiry while the IdP cannot be reached or answers
//   garbage; a failed fetch is not retried before `refetch_interval` has passed;
// - single-flight: concurrent requests for one issuer wait for one fetch instead of each
//   starting their own.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/jose/jwk.h"
#include "ts/tti/fetcher.h"

namespace ts::tti {

struct JwksCacheOptions {
  int64_t default_ttl = 600;
  int64_t min_ttl = 60;
  int64_t max_ttl = 86400;
  int64_t max_stale = 6 * 3600;
  int64_t refetch_interval = 10;
};

class JwksCache {
 public:
  JwksCache(std::shared_ptr<HttpFetcher> fetcher, ClockPtr clock, JwksCacheOptions options);

  // The issuer's keys: cached while fresh, else fetched (or stale within max_stale when the fetch
  // fails). Errors: Unavailable with the reason the keys could not be had (unreachable, timeout,
  // non-200 status, not JSON, discovery "issuer" mismatch, no jwks_uri, invalid or empty JWKS,
  // URL refused by the fetcher's policy).
  StatusOr<jose::JwkSet> Get(const std::string& issuer_url);

  // For a token whose kid is not in the cached set: fetches again unless a fetch for this issuer
  // was attempted within refetch_interval (then the cached set is returned). Errors as Get.
  StatusOr<jose::JwkSet> RefreshForUnknownKid(const std::string& issuer_url);

  // The issuer's keys while they are fresh in the cache, else nullopt. Never fetches and never
  // waits for a fetch: for threads that must not block (the server's io threads).
  std::optional<jose::JwkSet> GetCached(const std::string& issuer_url) const;

  // How many fetches (discovery + JWKS pairs) were started; for tests and logs.
  int64_t fetch_count() const;

 private:
  struct Entry {
    std::optional<jose::JwkSet> keys;
    int64_t expires_at = 0;    // keys fresh before this
    int64_t last_attempt = 0;  // when the last fetch finished (ok or not)
    Status last_error;
    bool in_flight = false;
    uint64_t generation = 0;  // bumped when a fetch finishes
  };
  StatusOr<jose::JwkSet> Lookup(const std::string& issuer_url, bool unknown_kid);
  // The discovery document, then the JWKS; returns the set and its lifetime.
  StatusOr<std::pair<jose::JwkSet, int64_t>> Fetch(const std::string& issuer_url);

  std::shared_ptr<HttpFetcher> fetcher_;
  ClockPtr clock_;
  JwksCacheOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
  int64_t fetches_ = 0;                   // guarded by mu_
};

}  // namespace ts::tti
