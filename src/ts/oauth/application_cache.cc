#include "ts/oauth/application_cache.h"

#include <utility>

namespace ts::oauth {

ApplicationCache::ApplicationCache(storage::StorePtr store, ClockPtr clock,
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
