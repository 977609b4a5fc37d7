// File: application_cache.h
// Applications as the token endpoint reads them, kept for a short time: the busiest path would
// otherwise reread the application's rows (five SQLite statements), reparse its actor policy and
// reread its trusted token issuers on every request.
//
// Freshness: Clear() drops everything at once; the admin plane calls it after every operation it
// serves, so a change made through this node takes effect on the next token request. A change
// made elsewhere (another node, the CLI) takes effect within `ttl`. Only found applications are
// kept; a lookup that fails is never cached.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/iam/policy.h"
#include "ts/storage/application_store.h"
#include "ts/tti/assertion.h"

namespace ts::oauth {

struct CachedApplication {
  storage::Application app;
  // The actor policy, parsed once: null when the application has none, or when it does not
  // parse (then `policy_error` says why and AuthorizeCaller refuses every non-root caller).
  std::shared_ptr<const iam::Policy> actor_policy;
  std::string policy_error;
  // The jwt-bearer grant's AuthorizedTokenIssuers with their trusted-token-issuer records (empty
  // without that grant; an issuer deleted since is left out).
  std::vector<tti::AuthorizedIssuer> jwt_issuers;
};

// Resolves `app`'s jwt-bearer AuthorizedTokenIssuers (docs/protocol.md §6.2) to their
// configuration. Returns them (issuers that no longer exist are skipped), or a store error.
StatusOr<std::vector<tti::AuthorizedIssuer>> ResolveAuthorizedIssuers(
    storage::ApplicationStore& store, const storage::Application& app);

class ApplicationCache {
 public:
  // `ttl` zero: every Get reads the store (no caching).
  ApplicationCache(std::shared_ptr<storage::ApplicationStore> store, ClockPtr clock,
                   std::chrono::milliseconds ttl);

  // The application with this ARN: from the cache when read less than `ttl` ago, else from the
  // store. Returns what ApplicationStore::GetApplication returns on failure (NotFound,
  // Unavailable, ...).
  StatusOr<std::shared_ptr<const CachedApplication>> Get(const std::string& application_arn);

  // Forgets every application (the next Get of each reads the store).
  void Clear();

 private:
  struct Slot {
    std::shared_ptr<const CachedApplication> value;
    Clock::TimePoint read_at;
  };
  static constexpr size_t kMaxEntries = 10000;  // beyond: start over (applications are few)

  const std::shared_ptr<storage::ApplicationStore> store_;
  const ClockPtr clock_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Slot> slots_;
  uint64_t generation_ = 0;  // bumped by Clear(): a read that raced with it is not kept
};

}  // namespace ts::oauth
