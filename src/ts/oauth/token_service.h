// File: token_service.h
// CreateTokenWithIAM (docs/protocol.md §1.4, §5): takes the SigV4-verified caller and the JSON
// body, checks the application, the caller's authorization (actor policy) and the grant, and
// returns the response body. Every failure is a modeled error (errors.h); nothing changes on
// failure.
//
// Thread-safe: holds no per-request state; races (two redemptions of one code, two rotations of
// one refresh token) are settled by the store's compare-and-set.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/oauth/application_cache.h"
#include "ts/oauth/token_grants.h"
#include "ts/storage/application_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"

namespace ts::tti {
class AssertionValidator;
}

namespace ts::oauth {

// The verified IAM identity that signed the request.
struct Caller {
  std::string principal_arn;
  std::string account_id;
};

// IAM actions the application's actor policy is consulted for (docs/protocol.md §5.8).
inline constexpr std::string_view kActionCreateToken = "sso-oauth:CreateTokenWithIAM";
inline constexpr std::string_view kActionIntrospectToken = "sso-oauth:IntrospectTokenWithIAM";
inline constexpr std::string_view kActionRevokeToken = "sso-oauth:RevokeTokenWithIAM";

// The application `client_id` names, if it exists and is enabled; else InvalidClientException
// (Internal on store failures).
StatusOr<storage::Application> FindEnabledApplication(storage::ApplicationStore& store,
                                                      const std::string& client_id);
// The same through the application cache (application_cache.h).
StatusOr<std::shared_ptr<const CachedApplication>> FindEnabledApplication(
    ApplicationCache& applications, const std::string& client_id);

// OK if `caller` may perform `action` on `app`: the instance owner's root credential always may;
// anyone else needs an Allow (and no Deny) in the application's actor policy. Otherwise
// AccessDeniedException naming the principal, action and application.
Status AuthorizeCaller(const Caller& caller, const storage::Application& app,
                       const storage::Instance& instance, std::string_view action);
// The same with the cached application's pre-parsed actor policy.
Status AuthorizeCaller(const Caller& caller, const CachedApplication& app,
                       const storage::Instance& instance, std::string_view action);

// The storage the token endpoint and the resource-server operations use (storage/store.h); one
// database serves all three.
struct TokenStorage {
  std::shared_ptr<storage::GrantStore> grants;  // codes, families, refresh tokens, revocations
  std::shared_ptr<storage::ApplicationStore> applications;  // the client, its assignments
  std::shared_ptr<storage::DirectoryStore> directory;       // the user's claims, jwt-bearer match
};

class TokenService {
 public:
  // `assertions` validates jwt-bearer assertions; without it that grant answers
  // UnsupportedGrantTypeException. `applications` is the shared application cache; without it
  // every request reads the application from the store.
  TokenService(TokenStorage storage, std::shared_ptr<const tokens::TokenMinter> minter,
               ClockPtr clock, TokenServiceOptions options,
               std::shared_ptr<const tti::AssertionValidator> assertions = nullptr,
               std::shared_ptr<ApplicationCache> applications = nullptr);

  // Returns the CreateTokenWithIAM response JSON, or a modeled error:
  // InvalidRequestException (malformed JSON, wrong member types, missing members),
  // InvalidClientException (unknown or disabled application), AccessDeniedException (actor
  // policy), UnsupportedGrantTypeException, UnauthorizedClientException (grant not configured),
  // InvalidGrantException (bad/expired/used code or refresh token, PKCE or redirect mismatch, a
  // verifier for a code issued without a challenge),
  // InvalidScopeException (scope outside what may be granted). Internal on store failures.
  // Token exchange errors are listed at TokenExchangeGrant (docs/design/token-exchange.md).
  StatusOr<std::string> CreateTokenWithIam(const Caller& caller, std::string_view body) const;

  // As token_grants.h defines them: a pool for what blocks, the answer, and the answer's
  // signing left to an io thread.
  using Executor = oauth::Executor;
  using Done = oauth::Done;
  using Finish = oauth::Finish;
  using FinishDone = oauth::FinishDone;
  // CreateTokenWithIam for an io thread, which it never blocks. When the store
  // GrantsWithoutBlocking(), every grant is served here and answered on the store's writer
  // thread once its write is durable. On a store whose reads block but whose writes do not
  // (GrantWritesWithoutBlocking: PostgreSQL) the caller calls it from a worker thread instead,
  // which the service lets go once the write is queued. A code, an assertion or an exchange is
  // checked and signed on the calling thread while its write waits for the group commit. A refresh
  // is read, checked and rotated on the writer thread and signed once durable (its claims come from
  // the row read there): given `finish_done`, the service hands that signing to it, to run on an io
  // thread; without, it signs on the writer thread and calls `done`. What may wait (a reused
  // refresh token or code, whose revocation is a write of its own; an assertion whose issuer's
  // keys are not cached; any request on a store that blocks) runs on `blocking`. Exactly one of
  // `done` and `finish_done` is called, once; the service must outlive the call.
  void CreateTokenWithIamAsync(Caller caller, std::string body, Executor blocking, Done done,
                               FinishDone finish_done = nullptr) const;

  // Defined in the .cc: the parsed request, the request admitted (application found, caller
  // authorized, grant allowed), and what the exchange and jwt-bearer grants decided before
  // their write.
  struct Request;
  struct Admitted;
  struct ExchangeRequest;
  struct PreparedExchange;
  struct PreparedAssertion;

 private:
  // Everything before the grant: parse, application, caller's authorization, grant type.
  StatusOr<Admitted> Admit(const Caller& caller, std::string_view body) const;
  // The grant and the response for an admitted request.
  StatusOr<std::string> Serve(const Admitted& admitted) const;
  // The authorization-code grant on a store that does not block: checked and signed on this
  // thread, answered once the redemption is durable; a reused code goes to `blocking`.
  void AuthorizationCodeAsync(Admitted admitted, Executor blocking, Done done) const;
  // RFC 8693 with docs/protocol.md §5.1: `app` is the target. InvalidRequestException for a missing
  // subjectToken/subjectTokenType, a subjectTokenType or requestedTokenType that is not the
  // access-token (or refresh-token) URI, or a subject that is not an access token (an ID token, a
  // refresh token); UnauthorizedClientException for a requested refresh token without the
  // RefreshToken grant; InvalidGrantException for a subject token that is forged, tampered,
  // expired, revoked, from another issuer, issued to this same application, or whose application
  // has not named this one (or the instance) in AuthorizedTargets for any scope the token carries,
  // or whose user is gone or not assigned here; InvalidScopeException for a requested scope
  // outside (the token's authorized scopes ∪ its default scopes) ∩ this application's scopes.
  StatusOr<Grant> TokenExchangeGrant(const Request& req, const storage::Application& app) const;
  // TokenExchangeGrant's parts: every check and read before the family is stored, and the
  // grant's error for the store's answer (a parent revoked meanwhile).
  StatusOr<PreparedExchange> PrepareExchange(const Request& req,
                                             const storage::Application& app) const;
  // PrepareExchange's two halves around its one read (GetExchangeSubject): the request's and the
  // subject token's own checks, and the grant decided from what the read found.
  StatusOr<ExchangeRequest> CheckExchangeRequest(const Request& req,
                                                 const storage::Application& app) const;
  StatusOr<PreparedExchange> PrepareExchangeFor(const Request& req, const storage::Application& app,
                                                const ExchangeRequest& exchange,
                                                const storage::ExchangeSubject& stored) const;
  static Status SettleExchange(const Status& created);
  // The token-exchange grant on a store that does not block its writes. A store that checks
  // grants in its writer (ChecksGrantsInWriter) reads the subject there and the response is
  // signed once the family is durable (through `finish_done` when given); otherwise the subject
  // is read and the response signed on this thread while the family waits for its batch.
  void TokenExchangeAsync(Admitted admitted, Done done, FinishDone finish_done) const;
  // RFC 7523 with docs/protocol.md §5.1 (docs/design/jwt-bearer.md): InvalidRequestException for a
  // missing assertion; InvalidGrantException "Invalid assertion: <which check failed>" for an
  // assertion that is malformed, unsigned or HMAC-signed, badly signed, signed by an unknown key,
  // expired, not yet valid, too old, from an issuer not authorized here, for another audience,
  // without the configured claim, or whose issuer's keys cannot be fetched; InvalidGrantException
  // when no user or several users match the claim, the user is not assigned, or the assertion
  // was used before; InvalidScopeException for a scope the application cannot grant.
  // `authorized`: the grant's AuthorizedTokenIssuers, resolved (CachedApplication::jwt_issuers).
  StatusOr<Grant> JwtBearerGrant(const Request& req, const storage::Application& app,
                                 const std::vector<tti::AuthorizedIssuer>& authorized) const;
  // JwtBearerGrant's parts: every check and read before the family is stored (nullopt when
  // `cached_keys_only` and the issuer's keys would have to be fetched), and the grant's error
  // for the store's answer (a recorded assertion is reuse).
  StatusOr<std::optional<PreparedAssertion>> PrepareJwtBearer(
      const Request& req, const storage::Application& app,
      const std::vector<tti::AuthorizedIssuer>& authorized, bool cached_keys_only) const;
  // PrepareJwtBearer's two halves around its read: the assertion's checks (nullopt as above),
  // and the grant decided from the users the read found.
  StatusOr<std::optional<tti::ValidatedAssertion>> ValidateJwtBearer(
      const Request& req, const std::vector<tti::AuthorizedIssuer>& authorized,
      bool cached_keys_only) const;
  StatusOr<PreparedAssertion> PrepareAssertionFor(
      const Request& req, const storage::Application& app, tti::ValidatedAssertion validated,
      const std::vector<storage::UserWithAssignment>& users) const;
  static Status SettleJwtBearer(const Status& created);
  // The JWT-bearer grant on a store that does not block its writes: validated with cached keys
  // on this thread; handed to `blocking` when the keys must be fetched. A store that reads the
  // users in its writer (ChecksGrantsInWriter) gets the rest there and the response is
  // signed once the family is durable (through `finish_done` when given, as a refresh is);
  // otherwise the users are read and the response signed on this thread while the family waits
  // for its batch.
  void JwtBearerAsync(Admitted admitted, Executor blocking, Done done,
                      FinishDone finish_done) const;
  StatusOr<std::string> Respond(const Grant& grant, const storage::Application& app) const;

  TokenStorage storage_;
  std::shared_ptr<const tokens::TokenMinter> minter_;
  ClockPtr clock_;
  TokenServiceOptions options_;
  TokenGrants grants_;  // authorization_code and refresh_token, shared with CreateToken
  std::shared_ptr<const tti::AssertionValidator> assertions_;
  std::shared_ptr<ApplicationCache> applications_;
};

}  // namespace ts::oauth
