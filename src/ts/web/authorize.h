// File: authorize.h
// The browser side of the authorization_code grant: GET /authorize validates the request and
// either issues a code at once (a live sign-in session) or shows the login page; POST /authorize
// checks the login form and issues the code; POST /logout ends the sign-in session.
//
// The client is an IAM application (client_id is its ARN; CreateTokenWithIAM redeems the code)
// or a client registered with RegisterClient (any other client_id; CreateToken redeems it). The
// rules that differ between them are in docs/design/public-clients.md: a registered client must
// use PKCE S256, may name its scopes with `scopes` as the AWS CLI does, and its loopback
// redirect URIs match on any port (RFC 8252 §7.3). OpenID Connect's `nonce` is kept on the code
// for the ID token, and `prompt` is honoured (none, login, consent, select_account).
//
// Error handling follows RFC 6749 §4.1.2.1: until client_id and redirect_uri are known to be
// registered errors are shown on a page, never redirected; afterwards they go back to the
// redirect URI with error=, error_description=, state= and iss= (RFC 9207).
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/http/message.h"
#include "ts/storage/application_store.h"
#include "ts/storage/client_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"
#include "ts/storage/session_store.h"
#include "ts/web/sign_in.h"

namespace ts::web {

struct AuthorizeOptions {
  std::string public_url;  // e.g. http://127.0.0.1:8080 (no trailing slash)
  std::string issuer;      // the OIDC issuer, sent as `iss` on redirects (RFC 9207)
  int64_t code_ttl = 300;
  int64_t session_ttl = 8 * 3600;
  int max_failures_per_user = 5;
  int max_failures_per_address = 20;
  int64_t failure_window_seconds = 15 * 60;
  // PKCE for every client (`--require-pkce`); without it IAM applications may leave it out, as
  // CreateTokenWithIAM's model allows. Registered clients always need it.
  bool require_pkce = false;
};

// The storage the sign-in page uses (storage/store.h); one database serves all five.
struct AuthorizeStorage {
  std::shared_ptr<storage::SessionStore> sessions;          // sessions, failed sign-in windows
  std::shared_ptr<storage::GrantStore> grants;              // the authorization codes it issues
  std::shared_ptr<storage::ApplicationStore> applications;  // the client, its assignments
  std::shared_ptr<storage::DirectoryStore> directory;       // the user signing in
  std::shared_ptr<storage::ClientStore> clients;            // registered clients (may be null)
};

// RFC 8252 §7.3: whether the redirect URI a request names matches a registered one. Exactly,
// except that a registered loopback IP literal URI (http://127.0.0.1/..., http://[::1]/...)
// matches the same URI with any port (or none).
bool RedirectUriMatches(std::string_view registered, std::string_view requested);

class AuthorizeHandler {
 public:
  AuthorizeHandler(AuthorizeStorage storage, ClockPtr clock, AuthorizeOptions options);

  http::Response Get(const http::Request& request);
  http::Response Post(const http::Request& request);
  http::Response Logout(const http::Request& request);

  // The sign-in this handler uses, for the other pages that share it (device_page.h).
  std::shared_ptr<SignIn> sign_in() const { return sign_in_; }

  // Defined in the .cc: the parsed authorization request and the result of validating it.
  struct AuthRequest;
  struct Outcome;

 private:
  Outcome Validate(const AuthRequest& req);
  // Validate's first part: the client's record (page errors only).
  void ValidateApplication(const AuthRequest& req, Outcome& out);
  void ValidateRegisteredClient(const AuthRequest& req, Outcome& out);
  http::Response IssueCode(const AuthRequest& req, const Outcome& ok,
                           const storage::SignInSession& session, int redirect_status);
  http::Response LoginPage(const AuthRequest& req, const Outcome& ok, std::string_view error,
                           int status, const std::string& csrf);

  AuthorizeStorage storage_;
  ClockPtr clock_;
  AuthorizeOptions options_;
  std::shared_ptr<SignIn> sign_in_;
};

}  // namespace ts::web
