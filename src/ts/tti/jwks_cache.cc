#include "ts/tti/jwks_cache.h"

#include <algorithm>
#include <boost/json.hpp>

#include "ts/common/metrics.h"
#include "ts/common/status_macros.h"

namespace ts::tti {
namespace {

Status Unavailable(const std::string& issuer_url, std::string_view why) {
  return UnavailableError("cannot get the signing keys of " + issuer_url + ": " + std::string(why));
}

}  // namespace

JwksCache::JwksCache(std::shared_ptr<HttpFetcher> fetcher, ClockPtr clock, JwksCacheOptions options)
    : fetcher_(std::move(fetcher)), clock_(std::move(clock)), options_(options) {}

StatusOr<jose::JwkSet> JwksCache::Get(const std::string& issuer_url) {
  return Lookup(issuer_url, false);
}

StatusOr<jose::JwkSet> JwksCache::RefreshForUnknownKid(const std::string& issuer_url) {
  return Lookup(issuer_url, true);
}

std::optional<jose::JwkSet> JwksCache::GetCached(const std::string& issuer_url) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(issuer_url);
  if (it == entries_.end() || !it->second.keys.has_value()) return std::nullopt;
  if (clock_->NowUnixSeconds() >= it->second.expires_at) return std::nullopt;
  return it->second.keys;
}

int64_t JwksCache::fetch_count() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

namespace {
// Fetches of trusted token issuers' keys (discovery document, then JWKS) by outcome. No issuer
// label: issuers are configuration an admin call can add without bound.
metrics::Counter JwksFetches(bool ok) {
  static const metrics::CounterFamily& family = metrics::DefaultRegistry().AddCounter(
      "tessera_jwks_fetches_total",
      "Fetches of trusted token issuers' signing keys (discovery document and JWKS) by outcome.",
      {{"outcome", {"success", "failure"}}});
  return family.At({ok ? size_t{0} : size_t{1}});
}
}  // namespace

StatusOr<jose::JwkSet> JwksCache::Lookup(const std::string& issuer_url, bool unknown_kid) {
  std::unique_lock lock(mu_);
  Entry& e = entries_[issuer_url];
  const int64_t now = clock_->NowUnixSeconds();
  const bool fresh = e.keys.has_value() && now < e.expires_at;
  if (fresh && !unknown_kid) return *e.keys;
  // What the cache holds may serve: fresh keys, or expired ones within the stale window.
  auto outcome = [&](int64_t at) -> StatusOr<jose::JwkSet> {
    if (e.keys.has_value() && at < e.expires_at + options_.max_stale) {
      return *e.keys;
    }
    return e.last_error.ok() ? Unavailable(issuer_url, "no keys") : e.last_error;
  };
  if (e.last_attempt != 0 && now - e.last_attempt < options_.refetch_interval) {
    // Rate limit: what the last attempt left us with, without asking the IdP again.
    return outcome(now);
  }
  if (e.in_flight) {
    // Single flight: wait for the fetch under way and take its outcome.
    const uint64_t generation = e.generation;
    cv_.wait(lock, [&] { return e.generation != generation; });
    return outcome(clock_->NowUnixSeconds());
  }
  e.in_flight = true;
  ++fetches_;
  lock.unlock();
  auto fetched = Fetch(issuer_url);
  JwksFetches(fetched.ok()).Inc();
  lock.lock();
  const int64_t done = clock_->NowUnixSeconds();
  e.in_flight = false;
  e.last_attempt = done;
  ++e.generation;
  if (fetched.ok()) {
    e.keys = std::move(fetched->first);
    e.expires_at = done + fetched->second;
    e.last_error = OkStatus();
  } else {
    e.last_error = fetched.status();
  }
  cv_.notify_all();
  return outcome(done);
}

StatusOr<std::pair<jose::JwkSet, int64_t>> JwksCache::Fetch(const std::string& issuer_url) {
  std::string base = issuer_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string discovery_url = base + "/.well-known/openid-configuration";
  auto discovery = fetcher_->Get(discovery_url);
  if (!discovery.ok()) return Unavailable(issuer_url, discovery.status().message());
  if (discovery->status != 200) {
    return Unavailable(issuer_url,
                       discovery_url + " answered HTTP " + std::to_string(discovery->status));
  }
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(discovery->body, ec);
  if (ec || !doc.is_object()) {
    return Unavailable(issuer_url, "the discovery document is not a JSON object");
  }
  const boost::json::object& o = doc.as_object();
  const boost::json::value* issuer = o.if_contains("issuer");
  if (issuer == nullptr || !issuer->is_string() || issuer->as_string() != issuer_url) {
    // OpenID Connect Discovery §4.3: the issuer must be exactly the one asked about.
    return Unavailable(issuer_url, "the discovery document's issuer does not match");
  }
  const boost::json::value* jwks_uri = o.if_contains("jwks_uri");
  if (jwks_uri == nullptr || !jwks_uri->is_string() || jwks_uri->as_string().empty()) {
    return Unavailable(issuer_url, "the discovery document has no jwks_uri");
  }
  const std::string jwks_url(jwks_uri->as_string());
  auto jwks = fetcher_->Get(jwks_url);
  if (!jwks.ok()) return Unavailable(issuer_url, jwks.status().message());
  if (jwks->status != 200) {
    return Unavailable(issuer_url, jwks_url + " answered HTTP " + std::to_string(jwks->status));
  }
  auto set = jose::JwkSet::Parse(jwks->body);
  if (!set.ok())
    return Unavailable(issuer_url, "invalid JWKS: " + std::string(set.status().message()));
  if (set->empty()) return Unavailable(issuer_url, "the JWKS has no usable signing key");
  int64_t ttl = jwks->max_age < 0 ? options_.default_ttl : jwks->max_age;
  ttl = std::clamp(ttl, options_.min_ttl, std::max(options_.min_ttl, options_.max_ttl));
  return std::make_pair(std::move(*set), ttl);
}

}  // namespace ts::tti
