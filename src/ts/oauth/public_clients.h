// File: public_clients.h
// A registered client's operations after RegisterClient (client_registration.h;
// docs/design/public-clients.md): StartDeviceAuthorization (`POST /device_authorization`) and
// CreateToken (`POST /token` without aws_iam=t) with the grants authorization_code (PKCE S256
// required), urn:ietf:params:oauth:grant-type:device_code (RFC 8628) and refresh_token (rotation
// and reuse detection shared with CreateTokenWithIAM, token_grants.h).
//
// CreateToken has two front ends and one service: AWS's rest-json (the AWS CLI, the SDKs' SSO
// token providers; camelCase members, `scope` a list) and RFC 6749 form posts (standard OAuth
// clients, client_secret_basic or client_secret_post; snake_case parameters). Both parse into a
// ClientTokenRequest; only the response's shape differs (TokenFormat).
//
// Thread-safe: the in-memory tables (device-code polls, per-address limits) are locked.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/oauth/token_grants.h"
#include "ts/storage/application_store.h"
#include "ts/storage/client_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"

namespace ts::oauth {

class ApplicationCache;
struct CachedApplication;
class ClientAuthenticator;
class RateLimiter;

struct PublicClientOptions {
  // verificationUri is <public_url>/device; <public_url>/start is an accepted startUrl.
  std::string public_url;
  int64_t device_code_ttl = 600;  // expiresIn
  int64_t poll_interval = 1;      // interval: CreateToken polls faster get SlowDownException
  // StartDeviceAuthorization calls per minute from one address; 0: no limit.
  int64_t device_authorizations_per_minute = 60;
  // Bound of each in-memory table: addresses, and device codes being polled.
  size_t max_tracked = 100000;
};

// The storage the operations use (storage/store.h); one database serves them all.
struct ClientStorage {
  std::shared_ptr<storage::ClientStore> clients;            // device authorizations
  std::shared_ptr<storage::GrantStore> grants;              // codes, families, refresh tokens
  std::shared_ptr<storage::DirectoryStore> directory;       // the user, the ID token's claims
  std::shared_ptr<storage::ApplicationStore> applications;  // entitled applications' assignments
};

// A CreateToken request from either front end.
struct ClientTokenRequest : GrantRequest {
  std::string client_id;
  std::string client_secret;
  std::string grant_type;
  std::string device_code;
};

// The response's shape: AWS's CreateTokenResponse (accessToken, tokenType, expiresIn,
// refreshToken, idToken) or RFC 6749 §5.1 (access_token, token_type, expires_in,
// refresh_token, id_token, scope).
enum class TokenFormat { kAwsJson, kOAuthForm };

// The rest-json front end: InvalidRequestException for malformed JSON, a member of the wrong
// type, or a missing clientId, clientSecret or grantType.
StatusOr<ClientTokenRequest> ParseCreateTokenJson(std::string_view body);

// The RFC 6749 front end: an application/x-www-form-urlencoded body and the Authorization
// header, if any. The client authenticates with HTTP Basic (RFC 6749 §2.3.1: id and secret each
// form-url-encoded) or with client_id and client_secret in the body, not both.
// InvalidRequestException for a malformed body, a repeated parameter, two authentication methods
// or a missing grant_type; InvalidClientException for no client authentication, malformed Basic
// credentials or another Authorization scheme.
StatusOr<ClientTokenRequest> ParseCreateTokenForm(std::string_view body,
                                                  std::optional<std::string_view> authorization);

// What the store keeps of a user code as a user types it: TokenMinter::Hash of its letters in
// upper case, without the '-' (and spaces) it is shown with.
std::string UserCodeHash(std::string_view user_code);

// The ID token's profile claims (OIDC Core §5.4) the granted scopes ask for: `profile`:
// preferred_username (the user name) and name (the display name, else Name.Formatted); `email`:
// the primary email, else the first.
tokens::OidcProfile ProfileClaims(const storage::User& user,
                                  const std::vector<std::string>& scopes);

class PublicClientService {
 public:
  // `applications` finds entitled applications.
  PublicClientService(ClientStorage storage, std::shared_ptr<ClientAuthenticator> authenticator,
                      std::shared_ptr<ApplicationCache> applications,
                      std::shared_ptr<const tokens::TokenMinter> minter, ClockPtr clock,
                      TokenServiceOptions token_options, PublicClientOptions options);
  ~PublicClientService();

  // StartDeviceAuthorization for the caller at `client_address`: the response JSON, or
  // SlowDownException (that address started too many lately), InvalidRequestException (malformed
  // JSON, a member of the wrong type or missing, a startUrl that is not this instance's),
  // InvalidClientException / InvalidRequestRegionException (ClientAuthenticator; also
  // InvalidClientException when its entitled application is gone or disabled), or
  // UnauthorizedClientException (the client is not registered for the device_code grant).
  StatusOr<std::string> StartDeviceAuthorization(std::string_view body,
                                                 std::string_view client_address) const;

  // CreateToken: the response in `format`, or a modeled error: InvalidClientException,
  // InvalidRequestRegionException (ClientAuthenticator); UnsupportedGrantTypeException;
  // UnauthorizedClientException (a grant the client is not registered for); for
  // authorization_code and refresh_token what TokenGrants answers; for device_code
  // InvalidRequestException (no deviceCode), AuthorizationPendingException, SlowDownException
  // (polled again within the interval), AccessDeniedException (the user denied),
  // ExpiredTokenException, InvalidGrantException (unknown, another client's, or redeemed before:
  // then the family it produced is revoked; the user gone or not assigned to the entitled
  // application), InvalidScopeException. Blocks on the store.
  StatusOr<std::string> CreateToken(const ClientTokenRequest& req, TokenFormat format) const;

  // CreateToken for an io thread, which it never blocks. On a store that
  // GrantsWithoutBlocking(), a refresh is read, checked and rotated on the store's writer
  // thread and signed through `finish_done` (TokenGrants::RefreshAsync), and a device-code poll
  // that is answered without a write (pending, slow down, denied, expired) is answered here;
  // what writes otherwise goes to `blocking`, as does every request on a store that blocks.
  // Exactly one of `done` and `finish_done` is called, once; the service must outlive the call.
  void CreateTokenAsync(ClientTokenRequest req, TokenFormat format, Executor blocking, Done done,
                        FinishDone finish_done) const;

  // Defined in the .cc: an authenticated request, and a device-code poll that found its
  // authorization approved (or redeemed before).
  struct Admitted;
  struct DevicePoll;

 private:
  class PollTable;

  StatusOr<Admitted> Admit(const ClientTokenRequest& req) const;
  StatusOr<Grant> Serve(const ClientTokenRequest& req, const Admitted& admitted) const;
  // The device-code grant up to its write: every answer that writes nothing comes back as an
  // error; an approved (or reused) authorization comes back for RedeemDevice.
  StatusOr<DevicePoll> PollDevice(const ClientTokenRequest& req, const Admitted& admitted) const;
  StatusOr<Grant> RedeemDevice(const DevicePoll& poll, const ClientTokenRequest& req,
                               const Admitted& admitted) const;
  // The client's entitled application (null when it has none); InvalidClientException when it
  // is gone or disabled: the client cannot be used without it.
  StatusOr<std::shared_ptr<const CachedApplication>> Entitled(
      const storage::RegisteredClient& client) const;
  // InvalidGrant when the client's entitled application requires assignment and `user_id` has
  // none (a store read).
  Status RequireEntitlement(const Admitted& admitted, const std::string& user_id) const;
  bool IsOwnStartUrl(std::string_view start_url) const;
  StatusOr<std::string> Respond(const Grant& grant, TokenFormat format) const;

  ClientStorage storage_;
  std::shared_ptr<ClientAuthenticator> authenticator_;
  std::shared_ptr<ApplicationCache> applications_;
  std::shared_ptr<const tokens::TokenMinter> minter_;
  ClockPtr clock_;
  PublicClientOptions options_;
  TokenGrants grants_;
  std::unique_ptr<PollTable> polls_;
  std::unique_ptr<RateLimiter> device_starts_;
};

}  // namespace ts::oauth
