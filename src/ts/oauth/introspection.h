// File: introspection.h
// What resource servers ask of Tessera about tokens, over SigV4-signed JSON requests (AWS has no
// public wire API for these; docs/design/token-exchange.md):
// - Introspect (RFC 7662): is this access or refresh token active, and for whom?
// - Revoke (RFC 7009): end an access token, or a refresh token's whole family.
// - ReadIdentityContext: open an identityContext and say whom it names (the role STS plays for
//   AWS, docs/protocol.md §5.7).
// The caller is authorized like CreateTokenWithIAM: the `clientId` application's actor policy
// must allow sso-oauth:IntrospectTokenWithIAM (Introspect, ReadIdentityContext) or
// sso-oauth:RevokeTokenWithIAM (Revoke); the instance owner's root credential always may.
//
// Thread-safe: no per-request state; revocations are single store transactions.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/oauth/token_service.h"

namespace ts::tokens {
class TokenMinter;
}

namespace ts::oauth {

class TokenIntrospection {
 public:
  TokenIntrospection(TokenStorage storage, std::shared_ptr<const tokens::TokenMinter> minter,
                     ClockPtr clock);

  // Body {"clientId": app ARN, "token": "...", "tokenTypeHint": optional}. Returns the RFC 7662
  // JSON: {"active": true, "scope", "client_id", "sub", "exp", "iat", "iss", "token_type", "aud",
  // "jti", "act", and the Identity Center identifiers} for a token issued to `clientId` that is
  // validly signed (or known), unexpired, unrevoked and (refresh) not yet rotated; exactly
  // {"active":false} for anything else, including another application's token. Errors:
  // InvalidRequestException (malformed body, missing member), InvalidClientException,
  // AccessDeniedException; Internal on store failures.
  StatusOr<std::string> Introspect(const Caller& caller, std::string_view body) const;

  // Same body. An access token is revoked by its jti; a refresh token revokes its family, every
  // access token the family produced and every family exchanged from them. Returns "{}" (RFC 7009
  // §2.2: also for a token that is unknown, malformed or expired). Errors as Introspect, plus
  // UnauthorizedClientException when the token is valid but was issued to another application.
  StatusOr<std::string> Revoke(const Caller& caller, std::string_view body) const;

  // Body {"clientId": app ARN, "identityContext": "..."}. Returns {"active": true, "sub" (UserId),
  // "username", "client_id" (the application it was issued to), "iat", "exp", "iss",
  // "aws:instance_arn", "aws:identity_store_id"} for a context this server sealed that has not
  // expired and whose user still exists; {"active":false} otherwise. Errors as Introspect.
  StatusOr<std::string> ReadIdentityContext(const Caller& caller, std::string_view body) const;

  // RFC 7662 and RFC 7009 for a registered client that has authenticated with its secret
  // (client_auth.h), `token` from its form post. IntrospectForClient answers as Introspect does
  // for the client's own tokens; RevokeForClient revokes them as Revoke does. Another client's
  // or an application's token is {"active":false} and is left alone: a client learns nothing
  // about tokens that are not its own. Internal on store failures only.
  StatusOr<std::string> IntrospectForClient(const std::string& client_id,
                                            std::string_view token) const;
  Status RevokeForClient(const std::string& client_id, std::string_view token) const;

  struct Request;  // defined in the .cc

 private:
  StatusOr<storage::Application> Authorize(const Caller& caller, const Request& req,
                                           std::string_view action) const;
  StatusOr<std::string> IntrospectAccess(const Request& req, int64_t now) const;
  StatusOr<std::string> IntrospectRefresh(const Request& req, int64_t now) const;

  TokenStorage storage_;
  std::shared_ptr<const tokens::TokenMinter> minter_;
  ClockPtr clock_;
};

}  // namespace ts::oauth
