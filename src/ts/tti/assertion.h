// File: assertion.h
// Validation of a JWT bearer assertion (RFC 7523 §3) issued by a trusted token issuer, for
// CreateTokenWithIAM's jwt-bearer grant (docs/protocol.md §5.1). Thread-safe.
//
// Checks, in order (docs/design/jwt-bearer.md); those needing no key come before the keys are
// fetched, so an unreachable issuer does not hide them:
// 1. compact JWS passing jose::ParseJws (allow-listed algorithms, never none/HS*, no
//    jwk/jku/x5u/x5c/crit), with a JSON payload whose `iss` equals the IssuerUrl of one of the
//    issuers authorized for the application;
// 2. `exp` present and not passed, `nbf` and `iat` not in the future (each with `leeway`),
//    `iat` present and at most `max_age` ago;
// 3. the signature verifies with a key of that issuer's JWKS (jose::VerifyParsedJws: key by
//    kid with kty/alg/use agreeing); an unknown kid refetches the JWKS once (rate-limited by
//    the cache);
// 4. `aud` (string or list) contains one of the issuer's AuthorizedAudiences (after the
//    signature: an unsigned probe learns nothing about them);
// 5. a string claim at the issuer's ClaimAttributePath.
// Replay (`jti`) is the caller's: the returned replay_id goes into the store with the family.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"
#include "ts/tti/jwks_cache.h"

namespace ts::tti {

struct AuthorizedIssuer {
  storage::TrustedTokenIssuer issuer;
  std::vector<std::string> audiences;  // the grant's AuthorizedAudiences for this issuer
};

struct AssertionOptions {
  int64_t leeway_seconds = 60;     // clock skew allowed for exp, nbf and iat
  int64_t max_age_seconds = 3600;  // now - iat at most this
};

// Algorithms accepted in assertions (RFC 7518 §3.1 asymmetric ones and RFC 8037 EdDSA).
const std::vector<std::string>& AssertionAlgorithms();

struct ValidatedAssertion {
  storage::TrustedTokenIssuer issuer;  // the one whose IssuerUrl and audience matched
  std::string claim_value;             // the value at ClaimAttributePath
  int64_t auth_time = 0;               // the auth_time claim, else iat
  // hex SHA-256 of iss and jti (of iss and the signature when there is no jti), and the time
  // after which the assertion can no longer be accepted anyway (when the replay record may go).
  std::string replay_id;
  int64_t replay_until = 0;
};

class AssertionValidator {
 public:
  AssertionValidator(std::shared_ptr<JwksCache> keys, AssertionOptions options);

  // Returns what the assertion proves. Errors: InvalidArgument whose message says which check
  // failed ("assertion is not a compact JWS", "assertion issuer '<iss>' is not a trusted token
  // issuer authorized for this application", "JWS ..." from the verifier, "assertion has
  // expired", "assertion is not valid yet", "assertion is too old", "assertion has no exp
  // claim", "assertion audience ... is not authorized", "no claim '<path>'" ...); Unavailable
  // "cannot get the signing keys of <issuer>: ..." when the keys cannot be had.
  StatusOr<ValidatedAssertion> Validate(std::string_view assertion,
                                        const std::vector<AuthorizedIssuer>& authorized,
                                        int64_t now) const;

  // Validate for threads that must not block: only keys fresh in the cache are used. nullopt
  // when the keys would have to be fetched (not cached, expired, or the kid is unknown to the
  // cached set); then call Validate where blocking is allowed. Otherwise what Validate returns.
  std::optional<StatusOr<ValidatedAssertion>> ValidateWithCachedKeys(
      std::string_view assertion, const std::vector<AuthorizedIssuer>& authorized,
      int64_t now) const;

 private:
  // Validate's body; with `cached_keys_only`, sets `needs_fetch` instead of fetching.
  StatusOr<ValidatedAssertion> Check(std::string_view assertion,
                                     const std::vector<AuthorizedIssuer>& authorized, int64_t now,
                                     bool cached_keys_only, bool& needs_fetch) const;

  std::shared_ptr<JwksCache> keys_;
  AssertionOptions options_;
};

}  // namespace ts::tti
