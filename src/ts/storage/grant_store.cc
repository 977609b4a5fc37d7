// File: grant_store.cc
// GrantStore's defaults (grant_store.h): the asynchronous forms of the token endpoint's writes
// that call the blocking ones, and token exchange for stores without one writer.
#include "ts/storage/grant_store.h"

#include <utility>

namespace ts::storage {

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

void GrantStore::CheckAndCreateFamilyForAssertionAsync(const AssertionUserLookup&, AssertionCheck,
                                                       WriteDone done) {
  done(FailedPreconditionError("this store does not read an assertion's users in its writer"));
}

void GrantStore::CheckAndCreateExchangedFamilyAsync(const ExchangeSubjectLookup&, ExchangeCheck,
                                                    WriteDone done) {
  done(FailedPreconditionError("this store does not read an exchange's subject in its writer"));
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
