// File: token_minter.h
// Makes the strings CreateTokenWithIAM hands out: signed access and ID tokens, the encrypted
// identity context, refresh tokens and authorization codes. Stateless apart from its keys;
// thread-safe.
//
// Formats (docs/design/tokens.md):
// - Access token: JWS ES256, typ "at+jwt" (RFC 9068 shape): iss, sub (UserId), aud and client_id
//   (application ARN), scope, iat, exp, jti, and "tsr:fid" (token family). Under 1 KB.
// - ID token: JWS ES256 with the claims of docs/protocol.md §5.6; auth_time is an ISO-8601 string.
// - OpenID Connect ID token (registered clients, docs/design/public-clients.md): JWS ES256 with
//   the claims of OIDC Core §2 and §5.1; auth_time is a number.
// - identityContext: base64url(AES-256-GCM(user, instance, application, times)); the same string
//   is the ID token's sts:identity_context claim.
// - Refresh token: "tsrt_" + base64url(stamp + 256 random bits), the stamp being the minting time
//   (microseconds, big-endian) that leads the token's store key. A rotated token's successor is
//   derived from it with a keyed HMAC, so a retry inside the grace window gets the very same
//   successor back while the store keeps only hashes.
// - Authorization code: "tsac_" + 256 random bits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::tokens {

class KeyRing;

// Who the tokens are for and what they allow.
struct TokenSubject {
  std::string user_id;
  std::string application_arn;
  std::vector<std::string> scopes;
  std::string family_id;
  int64_t auth_time = 0;
  // For tokens obtained through a trusted token issuer: the issuer's ARN ("act" claim).
  std::string actor;
  // For tokens obtained by token exchange: the whole RFC 8693 §4.1 "act" object (JSON), written
  // into the access and ID tokens as is. Takes precedence over `actor`.
  std::string act_json;
  // The OpenID Connect nonce of the authorization request the tokens come from ("" for none):
  // the ID token carries it (OIDC Core §3.1.2.1).
  std::string nonce;
};

// The claims of a verified access token (VerifyAccessToken).
struct AccessTokenClaims {
  std::string issuer;
  std::string user_id;  // sub
  std::string audience;
  std::string client_id;
  std::vector<std::string> scopes;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  std::string token_id;   // jti
  std::string family_id;  // tsr:fid
  std::string act_json;   // "" when the token has no act claim
};

// The standard claims of the `profile` and `email` scopes (OIDC Core §5.4) an ID token carries;
// an empty one is left out.
struct OidcProfile {
  std::string preferred_username;
  std::string name;
  std::string email;
};

struct IdentityContextClaims {
  std::string user_id;
  std::string instance_arn;
  std::string application_arn;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

class TokenMinter {
 public:
  // `identity_context_key` and `refresh_key` are 32-byte keys derived from the master key.
  TokenMinter(std::shared_ptr<KeyRing> keys, storage::Instance instance, std::string issuer,
              std::string identity_context_key, std::string refresh_key);

  const std::string& issuer() const { return issuer_; }
  const storage::Instance& instance() const { return instance_; }

  StatusOr<std::string> AccessToken(const TokenSubject& subject, std::string_view token_id,
                                    int64_t now, int64_t expires_at) const;
  StatusOr<std::string> IdToken(const TokenSubject& subject, std::string_view credential_id,
                                std::string_view identity_context, int64_t now,
                                int64_t expires_at) const;

  // An OpenID Connect ID token for a registered client (OIDC Core §2): iss, sub (UserId), aud
  // and azp (the client id, subject.application_arn), iat, exp, auth_time (seconds), nonce when
  // the subject has one, and the profile's claims that are set.
  StatusOr<std::string> OidcIdToken(const TokenSubject& subject, const OidcProfile& profile,
                                    int64_t now, int64_t expires_at) const;

  // Verifies an access token this server signed (RFC 9068 §4): ES256 only, against the key ring's
  // published keys; typ must be at+jwt (so an ID token is refused), iss ours, now < exp, and the
  // claims well-formed. Revocation is the caller's business (the store). Every failure is
  // InvalidArgument, starting with "malformed access token", "access token signature",
  // "not an access token", "access token issuer", or "access token has expired".
  StatusOr<AccessTokenClaims> VerifyAccessToken(std::string_view token, int64_t now) const;

  std::string IdentityContext(const IdentityContextClaims& claims) const;
  // Opens an identity context made by this server; InvalidArgument if forged or damaged.
  StatusOr<IdentityContextClaims> ReadIdentityContext(std::string_view context) const;

  // Refresh tokens carry a stamp, the minting time in microseconds since the epoch by the
  // caller's clock, that leads their store key, so that new keys land at the end of the store's
  // index (RefreshTokenKey).
  static std::string NewRefreshToken(uint64_t stamp);
  // The successor of `parent`: its secret part depends only on `parent` and the key, so a retry
  // that passes the stored successor's stamp again (RefreshStampOfKey) gets the very same token
  // back. With nullopt, the unstamped successor tokens had before stamps existed.
  std::string SuccessorRefreshToken(std::string_view parent, std::optional<uint64_t> stamp) const;
  // What the store keeps of a refresh token: hex(stamp) + base64url(SHA-256(token)) for a
  // stamped token, Hash(token) for a token minted before stamps (or anything else).
  static std::string RefreshTokenKey(std::string_view token);
  // The stamp a key made by RefreshTokenKey starts with; nullopt for a key without one.
  static std::optional<uint64_t> RefreshStampOfKey(std::string_view key);
  static std::string NewAuthorizationCode();
  static std::string NewSessionId();

  // What the store keeps of a secret token: hex SHA-256.
  static std::string Hash(std::string_view secret);

 private:
  std::shared_ptr<KeyRing> keys_;
  storage::Instance instance_;
  std::string issuer_;
  std::string identity_context_key_;
  std::string refresh_key_;
};

// "2020-01-22T12:45:29Z" for a Unix time (UTC).
std::string Iso8601(int64_t unix_seconds);

}  // namespace ts::tokens
