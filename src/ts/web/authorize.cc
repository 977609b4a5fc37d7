#include "ts/web/authorize.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <iostream>
#include <map>
#include <optional>
#include <vector>

#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/http/uri.h"
#include "ts/oauth/application.h"
#include "ts/tokens/token_minter.h"
#include "ts/web/login_page.h"

namespace ts::web {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// OIDC Core §3.1.2.1 leaves nonce unbounded; this bound keeps codes small.
constexpr size_t kMaxNonceLength = 512;

// Splits on any of `separators`, dropping empty items: the AWS CLI sends `scopes` space
// separated, other clients comma separated.
std::vector<std::string> SplitList(std::string_view text, std::string_view separators) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t at = text.find_first_of(separators);
    std::string_view item = text.substr(0, at);
    text = at == std::string_view::npos ? std::string_view() : text.substr(at + 1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
bool ValidChallenge(std::string_view c) {
  return c.size() == 43 && crypto::Base64UrlDecode(c).has_value();
}

std::string AppendQuery(const std::string& uri, const Params& params) {
  std::string out = uri;
  char sep = uri.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    out.push_back(sep);
    sep = '&';
    out += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  return out;
}

// Application ARNs start so; a registered client's id never does (public-clients.md).
bool IsApplicationArn(std::string_view client_id) { return client_id.rfind("arn:", 0) == 0; }

// Why `uri` cannot receive a registered client's code, or nullopt. http(s) URIs follow
// http/uri.h; a native app's private-use scheme (RFC 8252 §7.1: reverse DNS, so it has a '.')
// is allowed for registered clients, without a fragment.
std::optional<std::string> RegisteredRedirectProblem(std::string_view uri) {
  const size_t colon = uri.find(':');
  const std::string_view scheme = uri.substr(0, colon);
  if (colon == std::string_view::npos || scheme.find('.') == std::string_view::npos) {
    return http::RedirectUriProblem(uri);
  }
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '+') {
      return "its scheme is not a valid URI scheme";
    }
  }
  if (uri.find('#') != std::string_view::npos) return "it has a fragment (RFC 6749 §3.1.2)";
  return std::nullopt;
}

// The loopback URI without its port, or nullopt when `uri` is not an http loopback IP literal
// URI (RFC 8252 §7.3; "localhost" is not one, §8.3).
std::optional<std::string> WithoutLoopbackPort(std::string_view uri) {
  for (std::string_view prefix :
       {std::string_view("http://127.0.0.1"), std::string_view("http://[::1]")}) {
    if (uri.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = uri.substr(prefix.size());
    if (!rest.empty() && rest.front() == ':') {
      const size_t end = std::min(rest.find_first_of("/?#"), rest.size());
      const std::string_view port = rest.substr(1, end - 1);
      int value = 0;
      auto [last, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      if (port.empty() || ec != std::errc() || last != port.data() + port.size() || value < 1 ||
          value > 65535) {
        return std::nullopt;
      }
      rest.remove_prefix(end);
    }
    // http://127.0.0.10 is another host.
    if (!rest.empty() && rest.front() != '/' && rest.front() != '?') return std::nullopt;
    return std::string(prefix) + std::string(rest);
  }
  return std::nullopt;
}

http::Response Redirect(const std::string& redirect_uri, const Params& params, int status) {
  http::Response r;
  r.status = status;
  r.SetHeader("Location", AppendQuery(redirect_uri, params));
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

http::Response RedirectError(const std::string& redirect_uri, const std::string& state,
                             const std::string& issuer, const std::string& error,
                             const std::string& description, int status) {
  Params q = {{"error", error}, {"error_description", description}};
  if (!state.empty()) q.emplace_back("state", state);
  q.emplace_back("iss", issuer);
  return Redirect(redirect_uri, q, status);
}

}  // namespace

bool RedirectUriMatches(std::string_view registered, std::string_view requested) {
  if (registered == requested) return true;
  auto a = WithoutLoopbackPort(registered);
  if (!a) return false;
  auto b = WithoutLoopbackPort(requested);
  return b && *a == *b;
}

// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core
// §3.1.2.1).
struct AuthorizeHandler::AuthRequest {
  std::map<std::string, std::string> params;
  std::string duplicate;  // a parameter given twice (RFC 6749 §3.1 forbids it)

  std::string Get(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  }
  bool Has(const std::string& key) const { return params.count(key) != 0; }
};

// The result of validating an AuthRequest: a page error, a redirect error, or the go-ahead.
struct AuthorizeHandler::Outcome {
  enum Kind { kPageError, kRedirectError, kOk } kind = kPageError;
  std::string error;
  std::string description;
  std::string client_id;    // what the code records: the application ARN or the client id
  std::string client_name;  // shown on the login page
  // The application whose assignments decide who may sign in: the application itself, or a
  // registered client's entitled application; none when every user may.
  std::optional<storage::Application> gate;
  std::vector<std::string> scopes;
  bool prompt_none = false;   // answer without any page
  bool prompt_login = false;  // ask for the password even with a live session

  // What validating the client found, for the checks that follow it.
  bool registered = false;                 // a RegisterClient client, not an application
  std::vector<std::string> redirect_uris;  // its registered redirect URIs
  std::vector<std::string> ceiling;        // the scopes the client may be granted
  std::string refusal;                     // why the client may not use this grant ("" if it may)
};

namespace {

// A request that cannot be redirected back gets a page. The database being unreachable is the
// server's failure, answered 503 as the device page does (the user may try again), not 400.
http::Response PageError(const AuthorizeHandler::Outcome& out) {
  const int status = out.error == "server_error" ? 503 : 400;
  return HtmlResponse(status, RenderErrorPage(out.error, out.description));
}

}  // namespace

AuthorizeHandler::AuthorizeHandler(AuthorizeStorage storage, ClockPtr clock,
                                   AuthorizeOptions options)
    : storage_(std::move(storage)), clock_(std::move(clock)), options_(std::move(options)) {
  SignInOptions sopts;
  sopts.public_url = options_.public_url;
  sopts.session_ttl = options_.session_ttl;
  sopts.max_failures_per_user = options_.max_failures_per_user;
  sopts.max_failures_per_address = options_.max_failures_per_address;
  sopts.failure_window_seconds = options_.failure_window_seconds;
  sign_in_ = std::make_shared<SignIn>(storage_.sessions, storage_.directory, clock_, sopts);
}

namespace {

constexpr const char* kAuthParams[] = {
    "response_type",         "client_id", "redirect_uri", "state", "code_challenge",
    "code_challenge_method", "scope",     "scopes",       "nonce", "prompt"};

}  // namespace

void AuthorizeHandler::ValidateApplication(const AuthRequest& req, Outcome& out) {
  const std::string client_id = req.Get("client_id");
  auto app = storage_.applications->GetApplication(client_id);
  if (!app.ok()) {
    if (app.status().code() != StatusCode::kNotFound) {
      std::cerr << "authorize: " << app.status().ToString() << "\n";
    }
    out.error = app.status().code() == StatusCode::kNotFound ? "invalid_client" : "server_error";
    out.description = app.status().code() == StatusCode::kNotFound
                          ? "No application has the client_id " + client_id + "."
                          : "The server could not read the application. Try again.";
    return;
  }
  out.client_id = app->application_arn;
  out.client_name = app->name.empty() ? app->application_arn : app->name;
  out.redirect_uris = oauth::RedirectUris(*app);
  out.ceiling = oauth::AllowedScopes(*app);
  if (app->status != "ENABLED") out.refusal = "The application is disabled.";
  out.gate = std::move(*app);
}

void AuthorizeHandler::ValidateRegisteredClient(const AuthRequest& req, Outcome& out) {
  const std::string client_id = req.Get("client_id");
  out.registered = true;
  StatusOr<storage::RegisteredClient> client =
      storage_.clients ? storage_.clients->GetClient(client_id)
                       : StatusOr<storage::RegisteredClient>(NotFoundError("no client store"));
  const bool unknown = !client.ok() && client.status().code() == StatusCode::kNotFound;
  // A registration whose secret has expired is purged soon: the client registers again.
  if (unknown || (client.ok() && client->secret_expires_at != 0 &&
                  client->secret_expires_at <= clock_->NowUnixSeconds())) {
    out.error = "invalid_client";
    out.description =
        unknown ? "No application or registered client has the client_id " + client_id + "."
                : "The registration of client " + client_id +
                      " has expired. Register the client again.";
    return;
  }
  if (!client.ok()) {
    std::cerr << "authorize: " << client.status().ToString() << "\n";
    out.error = "server_error";
    out.description = "The server could not read the client. Try again.";
    return;
  }
  out.client_id = client->client_id;
  out.client_name = client->client_name.empty() ? client->client_id : client->client_name;
  out.redirect_uris = client->redirect_uris;
  out.ceiling = client->scopes;
  if (!oauth::Contains(client->grant_types, oauth::kGrantAuthorizationCode)) {
    out.refusal = "The client is not registered for the authorization_code grant.";
    return;
  }
  if (client->entitled_application_arn.empty()) return;
  auto app = storage_.applications->GetApplication(client->entitled_application_arn);
  if (!app.ok() && app.status().code() != StatusCode::kNotFound) {
    std::cerr << "authorize: " << app.status().ToString() << "\n";
    out.error = "server_error";
    out.description = "The server could not read the client's application. Try again.";
    return;
  }
  if (!app.ok()) {
    out.refusal = "The application this client is entitled to no longer exists.";
  } else if (app->status != "ENABLED") {
    out.refusal = "The application this client is entitled to is disabled.";
  }
  if (app.ok()) out.gate = std::move(*app);
}

AuthorizeHandler::Outcome AuthorizeHandler::Validate(const AuthRequest& req) {
  Outcome out;
  const std::string client_id = req.Get("client_id");
  if (client_id.empty()) {
    out.error = "invalid_request";
    out.description = "The request has no client_id (the application ARN or client id).";
    return out;
  }
  if (IsApplicationArn(client_id)) {
    ValidateApplication(req, out);
  } else {
    ValidateRegisteredClient(req, out);
  }
  if (!out.error.empty()) return out;
  const std::string redirect_uri = req.Get("redirect_uri");
  if (redirect_uri.empty()) {
    out.error = "invalid_request";
    out.description = "The request has no redirect_uri.";
    return out;
  }
  bool registered = false;
  for (const std::string& uri : out.redirect_uris) {
    registered |= out.registered ? RedirectUriMatches(uri, redirect_uri) : uri == redirect_uri;
  }
  if (!registered) {
    out.error = "invalid_request";
    out.description = out.registered
                          ? "The redirect_uri is not registered for this client (exact match "
                            "required; a loopback IP literal URI matches on any port)."
                          : "The redirect_uri is not registered for this application (exact match "
                            "required).";
    return out;
  }
  // Registered before redirect URIs were checked (http/uri.h)? Never redirect there.
  if (auto problem = out.registered ? RegisteredRedirectProblem(redirect_uri)
                                    : http::RedirectUriProblem(redirect_uri)) {
    out.error = "invalid_request";
    out.description = "The registered redirect_uri cannot be used: " + *problem +
                      (out.registered ? "." : ". Register a valid one with PutApplicationGrant.");
    return out;
  }

  // The redirect URI is trusted from here on: errors go back to it.
  out.kind = Outcome::kRedirectError;
  auto fail = [&](std::string error, std::string description) {
    out.error = std::move(error);
    out.description = std::move(description);
    return out;
  };
  if (!req.duplicate.empty()) {
    return fail("invalid_request", "Parameter " + req.duplicate + " is given more than once.");
  }
  if (!out.refusal.empty()) return fail("unauthorized_client", out.refusal);
  if (req.Get("response_type") != "code") {
    return fail("unsupported_response_type", "Only response_type=code is supported.");
  }
  // PKCE (RFC 7636): S256 only. Optional for IAM applications, as CreateTokenWithIAM's
  // codeVerifier is; a challenge, when sent, binds the code.
  const std::string method = req.Get("code_challenge_method");
  const std::string challenge = req.Get("code_challenge");  // empty counts as omitted (§3.1)
  if (challenge.empty()) {
    if (!method.empty()) {
      return fail("invalid_request", "code_challenge is required with code_challenge_method.");
    }
    if (out.registered) {
      return fail("invalid_request",
                  "PKCE is required for registered clients: send code_challenge and "
                  "code_challenge_method=S256.");
    }
    if (options_.require_pkce) {
      return fail("invalid_request",
                  "PKCE is required: send code_challenge and code_challenge_method=S256.");
    }
  } else {
    if (method != "S256") {
      return fail("invalid_request",
                  method.empty()
                      ? "code_challenge_method=S256 is required (the default, plain, is refused)."
                      : "code_challenge_method " + method + " is refused: only S256 is allowed.");
    }
    if (!ValidChallenge(challenge)) {
      return fail("invalid_request",
                  "code_challenge must be the 43-character base64url SHA-256 of the verifier.");
    }
  }
  if (req.Get("nonce").size() > kMaxNonceLength) {
    return fail("invalid_request",
                "nonce is longer than " + std::to_string(kMaxNonceLength) + " characters.");
  }
  // OIDC Core §3.1.2.1.
  const std::vector<std::string> prompts = SplitList(req.Get("prompt"), " ");
  for (const std::string& p : prompts) {
    if (p == "none") {
      out.prompt_none = true;
    } else if (p == "login" || p == "select_account") {
      out.prompt_login = true;
    } else if (p != "consent") {
      return fail("invalid_request", "prompt value '" + p +
                                         "' is not supported (none, login, consent, "
                                         "select_account).");
    }
  }
  if (out.prompt_none && prompts.size() > 1) {
    return fail("invalid_request", "prompt=none cannot be combined with other values.");
  }
  std::vector<std::string> requested = SplitList(req.Get("scope"), " ,");
  for (std::string& s : SplitList(req.Get("scopes"), " ,")) requested.push_back(std::move(s));
  auto scopes = oauth::NarrowScopes(requested, out.ceiling);
  if (!scopes.ok()) return fail("invalid_scope", std::string(scopes.status().message()));
  out.kind = Outcome::kOk;
  out.scopes = std::move(*scopes);
  return out;
}

http::Response AuthorizeHandler::IssueCode(const AuthRequest& req, const Outcome& ok,
                                           const storage::SignInSession& session,
                                           int redirect_status) {
  const std::string redirect_uri = req.Get("redirect_uri");
  const std::string state = req.Get("state");
  const int64_t now = clock_->NowUnixSeconds();
  if (ok.gate && ok.gate->assignment_required) {
    auto assigned = storage_.applications->IsAssigned(ok.gate->application_arn, session.user_id);
    if (!assigned.ok()) {
      return RedirectError(redirect_uri, state, options_.issuer, "server_error",
                           "The server could not check the assignment. Try again.",
                           redirect_status);
    }
    if (!*assigned) {
      return RedirectError(redirect_uri, state, options_.issuer, "access_denied",
                           "The user is not assigned to this application.", redirect_status);
    }
  }
  const std::string code = tokens::TokenMinter::NewAuthorizationCode();
  storage::AuthorizationCode record;
  record.code_hash = tokens::TokenMinter::Hash(code);
  record.application_arn = ok.client_id;
  record.user_id = session.user_id;
  record.redirect_uri = redirect_uri;
  record.code_challenge = req.Get("code_challenge");  // "" binds no verifier
  record.scopes = ok.scopes;
  record.session_hash = session.session_hash;
  record.auth_time = session.auth_time;
  record.created_at = now;
  record.expires_at = now + options_.code_ttl;
  record.nonce = req.Get("nonce");
  // Durable before the redirect leaves: a code the browser carries always exists.
  if (!storage_.grants->CreateAuthorizationCode(record).ok()) {
    return RedirectError(redirect_uri, state, options_.issuer, "server_error",
                         "The server could not store the authorization code. Try again.",
                         redirect_status);
  }
  Params q = {{"code", code}};
  if (!state.empty()) q.emplace_back("state", state);
  q.emplace_back("iss", options_.issuer);
  return Redirect(redirect_uri, q, redirect_status);
}

http::Response AuthorizeHandler::LoginPage(const AuthRequest& req, const Outcome& ok,
                                           std::string_view error, int status,
                                           const std::string& csrf) {
  LoginPageModel model;
  model.application_name = ok.client_name;
  model.error = std::string(error);
  model.csrf_token = csrf;
  model.user_name = req.Get("username");
  for (const char* key : kAuthParams) {
    if (req.Has(key)) model.hidden.emplace_back(key, req.Get(key));
  }
  http::Response r = HtmlResponse(status, RenderLoginPage(model));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie("/authorize", csrf));
  return r;
}

namespace {

AuthorizeHandler::AuthRequest ParseAuthRequest(const Params& params) {
  AuthorizeHandler::AuthRequest req;
  for (const auto& [k, v] : params) {
    if (!req.params.emplace(k, v).second) {
      bool is_auth_param = false;
      for (const char* key : kAuthParams) is_auth_param |= (k == key);
      if (is_auth_param && req.duplicate.empty()) req.duplicate = k;
    }
  }
  return req;
}

}  // namespace

http::Response AuthorizeHandler::Get(const http::Request& request) {
  auto params = http::ParseForm(request.Query());
  if (!params) {
    return HtmlResponse(
        400, RenderErrorPage("invalid_request", "The request's query string is malformed."));
  }
  AuthRequest req = ParseAuthRequest(*params);
  Outcome ok = Validate(req);
  if (ok.kind == Outcome::kPageError) return PageError(ok);
  if (ok.kind == Outcome::kRedirectError) {
    return RedirectError(req.Get("redirect_uri"), req.Get("state"), options_.issuer, ok.error,
                         ok.description, 302);
  }
  // A live sign-in session authorizes without asking for the password again, unless the client
  // asks for it (prompt=login).
  if (!ok.prompt_login) {
    if (auto session = sign_in_->LiveSession(request)) return IssueCode(req, ok, *session, 302);
  }
  // OIDC Core §3.1.2.6: prompt=none must not show a page.
  if (ok.prompt_none) {
    return RedirectError(req.Get("redirect_uri"), req.Get("state"), options_.issuer,
                         "login_required",
                         "The user is not signed in, and prompt=none forbids showing the sign-in "
                         "page.",
                         302);
  }
  return LoginPage(req, ok, "", 200, crypto::RandomToken(32));
}

http::Response AuthorizeHandler::Post(const http::Request& request) {
  auto params = http::ParseForm(request.body);
  if (!params) {
    return HtmlResponse(400, RenderErrorPage("invalid_request", "The form data is malformed."));
  }
  AuthRequest req = ParseAuthRequest(*params);
  auto csrf = sign_in_->CheckCsrf(request, req.Get("csrf_token"));
  if (!csrf) {
    return HtmlResponse(403, RenderErrorPage("invalid_request",
                                             "The sign-in form has expired or did not come from "
                                             "this server. Go back to the application and start "
                                             "again."));
  }
  Outcome ok = Validate(req);
  if (ok.kind == Outcome::kPageError) return PageError(ok);
  if (ok.kind == Outcome::kRedirectError) {
    return RedirectError(req.Get("redirect_uri"), req.Get("state"), options_.issuer, ok.error,
                         ok.description, 303);
  }
  SignIn::Result signed_in =
      sign_in_->PasswordSignIn(req.Get("username"), req.Get("password"), request.ClientAddress());
  if (!signed_in.session) return LoginPage(req, ok, signed_in.error, signed_in.status, *csrf);
  // RFC 9700 §4.11: 303 so the browser does not re-post the credentials to the client.
  http::Response r = IssueCode(req, ok, *signed_in.session, 303);
  r.AddHeader("Set-Cookie", signed_in.set_cookie);
  r.AddHeader("Set-Cookie", sign_in_->ClearCsrfCookie("/authorize"));
  return r;
}

http::Response AuthorizeHandler::Logout(const http::Request& request) {
  http::Response r = HtmlResponse(200, RenderErrorPage("signed_out", "You are signed out."));
  r.AddHeader("Set-Cookie", sign_in_->SignOut(request));
  return r;
}

}  // namespace ts::web
