// File: grant_store.cc
// GrantStore's derived forms: each of the token endpoint's writes, blocking or asynchronous, in
// terms of the form a backend implements (grant_store.h).
#include "ts/storage/grant_store.h"

#include <condition_variable>
#include <memory>
#include <mutex>

namespace ts::storage {

template <typename Result>
Result GrantStore::AwaitCompletion(const std::function<void(std::function<void(Result)>)>& start) {
  // Shared with the completion, which may run on the backend's thread and may still be leaving
  // the lock when this returns.
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result> result;
  };
  auto slot = std::make_shared<Slot>();
  start([slot](Result result) {
    std::lock_guard lock(slot->mu);
    slot->result.emplace(std::move(result));
    slot->cv.notify_one();
  });
  std::unique_lock lock(slot->mu);
  slot->cv.wait(lock, [&] { return slot->result.has_value(); });
  return std::move(*slot->result);
}

template Status GrantStore::AwaitCompletion<Status>(
    const std::function<void(std::function<void(Status)>)>&);
template StatusOr<RedeemOutcome> GrantStore::AwaitCompletion<StatusOr<RedeemOutcome>>(
    const std::function<void(std::function<void(StatusOr<RedeemOutcome>)>)>&);
template StatusOr<RotateOutcome> GrantStore::AwaitCompletion<StatusOr<RotateOutcome>>(
    const std::function<void(std::function<void(StatusOr<RotateOutcome>)>)>&);

// --- the blocking forms, waiting for the asynchronous ones ---

StatusOr<RedeemOutcome> GrantStore::RedeemAuthorizationCode(
    const std::string& code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh) {
  return AwaitCompletion<StatusOr<RedeemOutcome>>([&](RedeemDone done) {
    RedeemAuthorizationCodeAsync(code_hash, now, family, first_refresh, std::move(done));
  });
}

StatusOr<RotateOutcome> GrantStore::RotateRefreshToken(const std::string& old_hash, int64_t now,
                                                       const RefreshToken& successor) {
  return AwaitCompletion<StatusOr<RotateOutcome>>(
      [&](RotateDone done) { RotateRefreshTokenAsync(old_hash, now, successor, std::move(done)); });
}

Status GrantStore::CreateFamilyForAssertion(const TokenFamily& family,
                                            const std::optional<RefreshToken>& first_refresh,
                                            const std::string& assertion_id,
                                            int64_t assertion_expires_at) {
  return AwaitCompletion<Status>([&](WriteDone done) {
    CreateFamilyForAssertionAsync(family, first_refresh, assertion_id, assertion_expires_at,
                                  std::move(done));
  });
}

// --- the asynchronous forms, calling the blocking ones ---

void GrantStore::RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                              const TokenFamily& family,
                                              const std::optional<RefreshToken>& first_refresh,
                                              RedeemDone done) {
  done(RedeemAuthorizationCode(code_hash, now, family, first_refresh));
}

void GrantStore::RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                         const RefreshToken& successor, RotateDone done) {
  done(RotateRefreshToken(old_hash, now, successor));
}

void GrantStore::CreateFamilyForAssertionAsync(const TokenFamily& family,
                                               const std::optional<RefreshToken>& first_refresh,
                                               const std::string& assertion_id,
                                               int64_t assertion_expires_at, WriteDone done) {
  done(CreateFamilyForAssertion(family, first_refresh, assertion_id, assertion_expires_at));
}

void GrantStore::CreateExchangedFamilyAsync(const TokenFamily& family,
                                            const std::optional<RefreshToken>& first_refresh,
                                            WriteDone done) {
  done(CreateExchangedFamily(family, first_refresh));
}

void GrantStore::CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                                 const RotationCheck& check, RotateDone done) {
  StatusOr<RefreshTokenWithFamily> read = GetRefreshToken(old_hash);
  if (!read.ok()) return done(read.status());
  StatusOr<std::optional<RefreshToken>> successor = CheckedSuccessor(*read, check);
  if (!successor.ok()) return done(successor.status());
  if (!successor->has_value()) return done(RotateOutcome::kAlreadyRotated);
  RotateRefreshTokenAsync(old_hash, now, **successor, std::move(done));
}

// --- token exchange: an implementation of its own for backends without one writer ---

Status GrantStore::CreateExchangedFamily(const TokenFamily& family,
                                         const std::optional<RefreshToken>& first_refresh) {
  if (family.parent_family_id.empty()) {
    return InvalidArgumentError("an exchanged family needs a parent_family_id");
  }
  if (Status created = CreateFamily(family, first_refresh); !created.ok()) return created;
  StatusOr<TokenFamily> parent = GetFamily(family.parent_family_id);
  if (parent.ok() && parent->revoked_at == 0) return OkStatus();
  if (!parent.ok() && parent.status().code() != StatusCode::kNotFound) return parent.status();
  if (Status revoked = RevokeFamily(family.family_id, family.created_at); !revoked.ok()) {
    return revoked;
  }
  return FailedPreconditionError("parent token family is revoked");
}

}  // namespace ts::storage
