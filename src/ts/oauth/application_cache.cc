#include "ts/oauth/application_cache.h"

#include <boost/json.hpp>
#include <utility>

#include "ts/common/status_macros.h"
#include "ts/oauth/application.h"

namespace ts::oauth {

StatusOr<std::vector<tti::AuthorizedIssuer>> ResolveAuthorizedIssuers(
    storage::ApplicationStore& store, const storage::Application& app) {
  std::vector<tti::AuthorizedIssuer> authorized;
  auto it = app.grants.find(std::string(kGrantJwtBearer));
  boost::system::error_code ec;
  boost::json::value grant =
      it == app.grants.end() ? boost::json::value() : boost::json::parse(it->second, ec);
  const boost::json::value* list =
      !ec && grant.is_object() ? grant.as_object().if_contains("AuthorizedTokenIssuers") : nullptr;
  if (list != nullptr && list->is_array()) {
    for (const boost::json::value& entry : list->as_array()) {
      if (!entry.is_object()) continue;
      const boost::json::value* arn = entry.as_object().if_contains("TrustedTokenIssuerArn");
      const boost::json::value* auds = entry.as_object().if_contains("AuthorizedAudiences");
      if (arn == nullptr || !arn->is_string()) continue;
      auto issuer = store.GetTrustedTokenIssuer(std::string(arn->as_string()));
      if (!issuer.ok()) {
        if (issuer.status().code() == StatusCode::kNotFound) continue;  // deleted since
        return issuer.status();
      }
      tti::AuthorizedIssuer a{*issuer, {}};
      if (auds != nullptr && auds->is_array()) {
        for (const boost::json::value& aud : auds->as_array()) {
          if (aud.is_string()) a.audiences.emplace_back(aud.as_string());
        }
      }
      authorized.push_back(std::move(a));
    }
  }
  return authorized;
}

ApplicationCache::ApplicationCache(std::shared_ptr<storage::ApplicationStore> store, ClockPtr clock,
                                   std::chrono::milliseconds ttl)
    : store_(std::move(store)), clock_(std::move(clock)), ttl_(ttl) {}

StatusOr<std::shared_ptr<const CachedApplication>> ApplicationCache::Get(
    const std::string& application_arn) {
  const Clock::TimePoint now = clock_->Now();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(application_arn);
    if (it != slots_.end() && now - it->second.read_at < ttl_ && now >= it->second.read_at) {
      return it->second.value;
    }
    generation = generation_;
  }
  // Read outside the lock: a slow store must not hold up lookups of other applications.
  auto app = store_->GetApplication(application_arn);
  if (!app.ok()) return app.status();
  auto entry = std::make_shared<CachedApplication>();
  entry->app = *std::move(app);
  if (!entry->app.actor_policy_json.empty()) {
    auto policy = iam::ParsePolicy(entry->app.actor_policy_json);
    if (policy.ok()) {
      entry->actor_policy = std::make_shared<const iam::Policy>(*std::move(policy));
    } else {
      entry->policy_error = std::string(policy.status().message());
    }
  }
  if (entry->app.grants.count(std::string(kGrantJwtBearer)) != 0) {
    TS_ASSIGN_OR_RETURN(entry->jwt_issuers, ResolveAuthorizedIssuers(*store_, entry->app));
  }
  std::shared_ptr<const CachedApplication> value = std::move(entry);
  if (ttl_.count() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == generation_) {  // no Clear() since the read began
      if (slots_.size() >= kMaxEntries) slots_.clear();
      slots_[application_arn] = Slot{value, now};
    }
  }
  return value;
}

void ApplicationCache::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  slots_.clear();
  ++generation_;
}

}  // namespace ts::oauth
