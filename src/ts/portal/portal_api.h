// File: portal_api.h
// The AWS access portal API (service `sso`, rest-json, unsigned; docs/design/access-portal.md):
// what botocore's SSOProvider, the JavaScript SDK's fromSSO and `aws sso` call with the access
// token CreateToken issued, sent in the header `x-amz-sso_bearer_token`:
//   GET  /federation/credentials?role_name=&account_id=   GetRoleCredentials
//   GET  /assignment/accounts[?next_token=&max_result=]   ListAccounts
//   GET  /assignment/roles?account_id=[&next_token=...]   ListAccountRoles
//   POST /logout                                          Logout
//
// Every call checks the token: signed by this server, unexpired, not revoked, its family live,
// issued to a registered client (not an IAM application) with no scopes or sso:account:access,
// its user still in the directory. Errors are the model's: `x-amzn-ErrorType` and {"message"}:
// UnauthorizedException 401 (the token), InvalidRequestException 400 (the query),
// ResourceNotFoundException 404 (no such role for this user on this account),
// TooManyRequestsException 429 (the per-token rate), and a store failure a 500
// InternalServerException that says nothing of its cause.
//
// Thread-safe: no per-request state but the rate limiter's table.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/http/message.h"
#include "ts/storage/account_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"

namespace ts::tokens {
class TokenMinter;
}
namespace ts::oauth {
class RateLimiter;
}

namespace ts::portal {

// The header the SDKs send the access token in (the model's `x-amz-sso_bearer_token`).
inline constexpr char kBearerHeader[] = "x-amz-sso_bearer_token";

struct PortalStorage {
  std::shared_ptr<storage::GrantStore> grants;         // the token's family
  std::shared_ptr<storage::DirectoryStore> directory;  // the token's user
  std::shared_ptr<storage::AccountStore> accounts;     // roles, role credentials, Logout
};

struct PortalOptions {
  std::string seal_key;        // seals the role credentials' secrets: the IAM secrets key
  std::string page_token_key;  // MACs the next_token values this API issues
  // Requests a minute per token family (a token bucket of this size); 0: no limit.
  int64_t requests_per_minute = 600;
  size_t max_rate_keys = 100'000;  // the limiter's table bound (rate_limiter.h)
  // Access tokens whose signature was verified, kept (by SHA-256) until they expire so that the
  // next call with the same token skips the ES256 verification; 0: verify every time.
  size_t verified_tokens = 10'000;
};

enum class Operation { kGetRoleCredentials, kListAccounts, kListAccountRoles, kLogout };

class PortalApi {
 public:
  PortalApi(PortalStorage storage, std::shared_ptr<const tokens::TokenMinter> minter,
            ClockPtr clock, PortalOptions options);
  ~PortalApi();

  // Whether a request on a path the portal shares (POST /logout, also the browser's sign-out
  // form) is the portal's: it carries the bearer header.
  static bool IsPortalRequest(const http::Request& request);

  // The whole answer. A store failure is a 500 whose cause is set in `*internal` for the log.
  http::Response Handle(Operation operation, const http::Request& request, Status* internal) const;

  // The same for the server's io threads on a store that GrantsWithoutBlocking(): the reads run
  // here, GetRoleCredentials' write is queued (AccountStore::IssueRoleCredentialAsync) and
  // `done` is called once, on this thread or the store's writer thread. Logout writes
  // synchronously: callers send it to Handle on a worker.
  using Done = std::function<void(http::Response, Status internal)>;
  void HandleAsync(Operation operation, const http::Request& request, Done done) const;

 private:
  struct Caller;
  struct Prepared;
  StatusOr<Caller> Authenticate(const http::Request& request, int64_t now) const;
  StatusOr<std::string> ListAccounts(const Caller& caller, const http::Request& request) const;
  StatusOr<std::string> ListAccountRoles(const Caller& caller, const http::Request& request) const;
  StatusOr<Prepared> PrepareCredentials(const Caller& caller, const http::Request& request,
                                        int64_t now) const;
  StatusOr<std::string> Logout(const Caller& caller, int64_t now) const;

  PortalStorage storage_;
  std::shared_ptr<const tokens::TokenMinter> minter_;
  ClockPtr clock_;
  PortalOptions options_;
  std::string page_mac_key_;
  std::unique_ptr<oauth::RateLimiter> limiter_;
  class VerifiedTokens;
  std::unique_ptr<VerifiedTokens> verified_;
};

// The answer for `body` (200 JSON, no-store) or its error in the portal's shape (`{message}`,
// x-amzn-ErrorType). An unshaped failure is a 500 InternalServerException; its cause goes to
// `*internal`.
http::Response PortalAnswer(StatusOr<std::string> body, Status* internal);

}  // namespace ts::portal
