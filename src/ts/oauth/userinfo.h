// File: userinfo.h
// The OpenID Connect UserInfo endpoint (OIDC Core §5.3): GET or POST /userinfo with an access
// token this server issued, to an IAM application or a registered client alike. The token comes
// as `Authorization: Bearer` (RFC 6750 §2.1) or, on a POST, as the form body's `access_token`
// (§2.2); it is verified as introspection does (signature, issuer, expiry, revocation, a live
// family) and must carry the `openid` scope. The answer holds `sub` and, per granted scope, the
// standard claims of the identity-store user: `profile` → preferred_username, name, given_name,
// family_name, updated_at; `email` → email, email_verified.
//
// Errors follow RFC 6750 §3 (not the sso-oidc shapes: this is no AWS operation): 401 with
// `WWW-Authenticate: Bearer error="invalid_token"` for a token that is not (or no longer) good,
// 403 `insufficient_scope` without `openid`, 400 `invalid_request` for a malformed request; the
// body repeats them as {error, error_description}.
//
// Thread-safe: no per-request state; reads only.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/http/message.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"

namespace ts::tokens {
class TokenMinter;
}

namespace ts::oauth {

class UserInfo {
 public:
  UserInfo(std::shared_ptr<storage::GrantStore> grants,
           std::shared_ptr<storage::DirectoryStore> directory,
           std::shared_ptr<const tokens::TokenMinter> minter, ClockPtr clock);

  // The whole answer to GET or POST /userinfo. A store failure is a 500 whose cause is set in
  // `*internal` for the log (never sent).
  http::Response Handle(const http::Request& request, Status* internal) const;

 private:
  std::shared_ptr<storage::GrantStore> grants_;
  std::shared_ptr<storage::DirectoryStore> directory_;
  std::shared_ptr<const tokens::TokenMinter> minter_;
  ClockPtr clock_;
};

// The claims JSON of `user` for the granted `scopes` (OIDC Core §5.4): always `sub`; with
// `profile` preferred_username (UserName), name (DisplayName, else Name.Formatted, else given
// and family name), given_name, family_name, updated_at; with `email` the primary (else first)
// of Emails and email_verified. Absent attributes are left out.
std::string UserInfoClaims(const storage::User& user, const std::vector<std::string>& scopes);

}  // namespace ts::oauth
