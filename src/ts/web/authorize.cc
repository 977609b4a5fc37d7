#include "ts/web/authorize.h"

#include <iostream>
#include <map>
#include <optional>
#include <vector>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/password.h"
#include "ts/crypto/random.h"
#include "ts/http/uri.h"
#include "ts/oauth/application.h"
#include "ts/tokens/token_minter.h"
#include "ts/web/login_page.h"

namespace ts::web {
namespace {

constexpr std::string_view kSessionCookie = "tessera_session";
constexpr std::string_view kCsrfCookie = "tessera_csrf";

using Params = std::vector<std::pair<std::string, std::string>>;

std::optional<std::string_view> CookieValue(const http::Request& request, std::string_view name) {
  for (std::string_view header : request.FindHeaders("cookie")) {
    while (!header.empty()) {
      size_t semi = header.find(';');
      std::string_view part = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      size_t eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
    }
  }
  return std::nullopt;
}

std::vector<std::string> SplitScopes(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t at = text.find(sep);
    std::string_view item = text.substr(0, at);
    text = at == std::string_view::npos ? std::string_view() : text.substr(at + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
  }
  return out;
}

// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
bool ValidChallenge(std::string_view c) {
  return c.size() == 43 && crypto::Base64UrlDecode(c).has_value();
}

http::Response HtmlResponse(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.SetHeader("Content-Type", "text/html; charset=utf-8");
  r.SetHeader("Cache-Control", "no-store");
  r.SetHeader("Pragma", "no-cache");
  // No scripts at all; styles inline. form-action is left out on purpose: browsers apply it to
  // the redirect that follows the form post, which goes to the application's origin.
  r.SetHeader("Content-Security-Policy",
              "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
              "base-uri 'none'");
  r.SetHeader("X-Frame-Options", "DENY");
  r.SetHeader("Referrer-Policy", "no-referrer");
  r.SetHeader("X-Content-Type-Options", "nosniff");
  return r;
}

std::string Cookie(std::string_view name, std::string_view value, std::string_view path,
                   std::string_view same_site, int64_t max_age, bool secure) {
  std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                  "; HttpOnly; SameSite=" + std::string(same_site) +
                  "; Max-Age=" + std::to_string(max_age);
  if (secure) c += "; Secure";
  return c;
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

std::string Origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

}  // namespace

// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
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
  storage::Application app;
  std::vector<std::string> scopes;
};

AuthorizeHandler::AuthorizeHandler(AuthorizeStorage storage, ClockPtr clock,
                                   AuthorizeOptions options)
    : storage_(std::move(storage)),
      clock_(std::move(clock)),
      options_(std::move(options)),
      secure_cookies_(options_.public_url.rfind("https://", 0) == 0),
      // Windows in the store: every node sharing the database enforces one limit.
      user_throttle_(options_.max_failures_per_user, options_.failure_window_seconds,
                     storage_.sessions),
      address_throttle_(options_.max_failures_per_address, options_.failure_window_seconds,
                        storage_.sessions) {}

namespace {

constexpr const char* kAuthParams[] = {"response_type", "client_id",      "redirect_uri",
                                       "state",         "code_challenge", "code_challenge_method",
                                       "scope",         "scopes"};

}  // namespace

AuthorizeHandler::Outcome AuthorizeHandler::Validate(const AuthRequest& req) {
  Outcome out;
  const std::string client_id = req.Get("client_id");
  const std::string redirect_uri = req.Get("redirect_uri");
  if (client_id.empty()) {
    out.error = "invalid_request";
    out.description = "The request has no client_id (the application ARN).";
    return out;
  }
  auto app = storage_.applications->GetApplication(client_id);
  if (!app.ok()) {
    out.error = app.status().code() == StatusCode::kNotFound ? "invalid_client" : "server_error";
    out.description = app.status().code() == StatusCode::kNotFound
                          ? "No application has the client_id " + client_id + "."
                          : "The server could not read the application. Try again.";
    return out;
  }
  if (redirect_uri.empty()) {
    out.error = "invalid_request";
    out.description = "The request has no redirect_uri.";
    return out;
  }
  std::vector<std::string> registered = oauth::RedirectUris(*app);
  if (!oauth::Contains(registered, redirect_uri)) {
    out.error = "invalid_request";
    out.description =
        "The redirect_uri is not registered for this application (exact match "
        "required).";
    return out;
  }
  // Registered before redirect URIs were checked (http/uri.h)? Never redirect there.
  if (auto problem = http::RedirectUriProblem(redirect_uri)) {
    out.error = "invalid_request";
    out.description = "The registered redirect_uri cannot be used: " + *problem +
                      ". Register a valid one with PutApplicationGrant.";
    return out;
  }
  // The redirect URI is trusted from here on: errors go back to it.
  out.kind = Outcome::kRedirectError;
  out.app = std::move(*app);
  if (!req.duplicate.empty()) {
    out.error = "invalid_request";
    out.description = "Parameter " + req.duplicate + " is given more than once.";
    return out;
  }
  if (out.app.status != "ENABLED") {
    out.error = "unauthorized_client";
    out.description = "The application is disabled.";
    return out;
  }
  if (req.Get("response_type") != "code") {
    out.error = "unsupported_response_type";
    out.description = "Only response_type=code is supported.";
    return out;
  }
  const std::string method = req.Get("code_challenge_method");
  if (method != "S256") {
    out.error = "invalid_request";
    out.description =
        method.empty() ? "PKCE is required: send code_challenge_method=S256."
                       : "code_challenge_method " + method + " is refused: only S256 is allowed.";
    return out;
  }
  // RFC 6749 §3.1: a parameter without a value counts as omitted.
  if (req.Get("code_challenge").empty()) {
    out.error = "invalid_request";
    out.description = "code_challenge is required (PKCE, S256).";
    return out;
  }
  if (!ValidChallenge(req.Get("code_challenge"))) {
    out.error = "invalid_request";
    out.description = "code_challenge must be the 43-character base64url SHA-256 of the verifier.";
    return out;
  }
  std::vector<std::string> requested = SplitScopes(req.Get("scope"), ' ');
  for (std::string& s : SplitScopes(req.Get("scopes"), ',')) requested.push_back(std::move(s));
  auto scopes = oauth::NarrowScopes(requested, oauth::AllowedScopes(out.app));
  if (!scopes.ok()) {
    out.error = "invalid_scope";
    out.description = std::string(scopes.status().message());
    return out;
  }
  out.kind = Outcome::kOk;
  out.scopes = std::move(*scopes);
  return out;
}

namespace {

AuthorizeHandler::AuthRequest ParseAuthRequest(const Params& params);

http::Response RedirectError(const std::string& redirect_uri, const std::string& state,
                             const std::string& issuer, const std::string& error,
                             const std::string& description, int status) {
  Params q = {{"error", error}, {"error_description", description}};
  if (!state.empty()) q.emplace_back("state", state);
  q.emplace_back("iss", issuer);
  http::Response r;
  r.status = status;
  r.SetHeader("Location", AppendQuery(redirect_uri, q));
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

}  // namespace

http::Response AuthorizeHandler::IssueCode(const AuthRequest& req, const Outcome& ok,
                                           const storage::SignInSession& session,
                                           int redirect_status) {
  const std::string redirect_uri = req.Get("redirect_uri");
  const std::string state = req.Get("state");
  const int64_t now = clock_->NowUnixSeconds();
  if (ok.app.assignment_required) {
    auto assigned = storage_.applications->IsAssigned(ok.app.application_arn, session.user_id);
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
  record.application_arn = ok.app.application_arn;
  record.user_id = session.user_id;
  record.redirect_uri = redirect_uri;
  record.code_challenge = req.Get("code_challenge");
  record.scopes = ok.scopes;
  record.session_hash = session.session_hash;
  record.auth_time = session.auth_time;
  record.created_at = now;
  record.expires_at = now + options_.code_ttl;
  // Durable before the redirect leaves: a code the browser carries always exists.
  if (!storage_.grants->CreateAuthorizationCode(record).ok()) {
    return RedirectError(redirect_uri, state, options_.issuer, "server_error",
                         "The server could not store the authorization code. Try again.",
                         redirect_status);
  }
  Params q = {{"code", code}};
  if (!state.empty()) q.emplace_back("state", state);
  q.emplace_back("iss", options_.issuer);
  http::Response r;
  r.status = redirect_status;
  r.SetHeader("Location", AppendQuery(redirect_uri, q));
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

http::Response AuthorizeHandler::LoginPage(const AuthRequest& req, const Outcome& ok,
                                           std::string_view error, int status,
                                           const std::string& csrf) {
  LoginPageModel model;
  model.application_name = ok.app.name.empty() ? ok.app.application_arn : ok.app.name;
  model.error = std::string(error);
  model.csrf_token = csrf;
  model.user_name = req.Get("username");
  for (const char* key : kAuthParams) {
    if (req.Has(key)) model.hidden.emplace_back(key, req.Get(key));
  }
  http::Response r = HtmlResponse(status, RenderLoginPage(model));
  r.AddHeader("Set-Cookie", Cookie(kCsrfCookie, csrf, "/authorize", "Strict", options_.session_ttl,
                                   secure_cookies_));
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
  if (ok.kind == Outcome::kPageError) {
    return HtmlResponse(400, RenderErrorPage(ok.error, ok.description));
  }
  if (ok.kind == Outcome::kRedirectError) {
    return RedirectError(req.Get("redirect_uri"), req.Get("state"), options_.issuer, ok.error,
                         ok.description, 302);
  }
  // A live sign-in session authorizes without asking for the password again.
  if (auto cookie = CookieValue(request, kSessionCookie)) {
    auto session = storage_.sessions->GetSession(tokens::TokenMinter::Hash(*cookie));
    const int64_t now = clock_->NowUnixSeconds();
    if (session.ok() && session->revoked_at == 0 && session->expires_at > now &&
        storage_.directory->GetUser(session->user_id).ok()) {
      return IssueCode(req, ok, *session, 302);
    }
  }
  return LoginPage(req, ok, "", 200, crypto::RandomToken(32));
}

http::Response AuthorizeHandler::Post(const http::Request& request) {
  auto params = http::ParseForm(request.body);
  if (!params) {
    return HtmlResponse(400, RenderErrorPage("invalid_request", "The form data is malformed."));
  }
  AuthRequest req = ParseAuthRequest(*params);
  // CSRF: the form's token must equal the SameSite=Strict cookie set with the form, and a
  // browser-sent Origin must be ours.
  auto origin = request.FindHeader("origin");
  auto cookie = CookieValue(request, kCsrfCookie);
  const std::string form_csrf = req.Get("csrf_token");
  if ((origin && *origin != Origin(options_.public_url) && *origin != "null") || !cookie ||
      form_csrf.empty() || !crypto::ConstantTimeEquals(*cookie, form_csrf)) {
    return HtmlResponse(403, RenderErrorPage("invalid_request",
                                             "The sign-in form has expired or did not come from "
                                             "this server. Go back to the application and start "
                                             "again."));
  }
  Outcome ok = Validate(req);
  if (ok.kind == Outcome::kPageError) {
    return HtmlResponse(400, RenderErrorPage(ok.error, ok.description));
  }
  if (ok.kind == Outcome::kRedirectError) {
    return RedirectError(req.Get("redirect_uri"), req.Get("state"), options_.issuer, ok.error,
                         ok.description, 303);
  }
  const std::string csrf(*cookie);
  const std::string user_name = req.Get("username");
  const std::string password = req.Get("password");
  if (user_name.empty() || password.empty()) {
    return LoginPage(req, ok, "Enter your user name and password.", 400, csrf);
  }
  const int64_t now = clock_->NowUnixSeconds();
  const std::string user_key = "user:" + user_name;
  const std::string address_key = "addr:" + request.remote_address;
  // Reserved before the password is checked, refunded if it is right (throttle.h): guesses in
  // flight count against the limit as they are made.
  ThrottledAttempt attempt = ThrottledAttempt::Reserve(
      {{&user_throttle_, user_key}, {&address_throttle_, address_key}}, now);
  if (const int64_t wait = attempt.retry_after(); wait > 0) {
    int64_t minutes = (wait + 59) / 60;
    return LoginPage(req, ok,
                     "Too many failed sign-in attempts. Try again in " + std::to_string(minutes) +
                         (minutes == 1 ? " minute." : " minutes."),
                     429, csrf);
  }
  auto user = storage_.directory->GetUserByName(user_name);
  if (!user.ok() && user.status().code() != StatusCode::kNotFound) {
    // The database is unreachable (e.g. restarting): not the user's mistake, and no failure to
    // count against them.
    std::cerr << "authorize: " << user.status().ToString() << "\n";
    attempt.Refund();
    return LoginPage(req, ok, "The server could not check your password. Try again.", 503, csrf);
  }
  bool good = false;
  if (user.ok() && !user->password_hash.empty()) {
    good = crypto::VerifyPassword(password, user->password_hash);
  } else {
    crypto::DummyVerify();  // same cost whether or not the user exists
  }
  if (!good) {
    // The reservations stay: a failure under the user's limit and the address's.
    return LoginPage(req, ok, "Incorrect user name or password.", 401, csrf);
  }
  attempt.Refund();

  const std::string session_id = tokens::TokenMinter::NewSessionId();
  storage::SignInSession session;
  session.session_hash = tokens::TokenMinter::Hash(session_id);
  session.user_id = user->user_id;
  session.auth_time = now;
  session.created_at = now;
  session.expires_at = now + options_.session_ttl;
  if (!storage_.sessions->CreateSession(session).ok()) {
    return LoginPage(req, ok, "The server could not start your session. Try again.", 500, csrf);
  }
  // RFC 9700 §4.11: 303 so the browser does not re-post the credentials to the client.
  http::Response r = IssueCode(req, ok, session, 303);
  r.AddHeader("Set-Cookie", Cookie(kSessionCookie, session_id, "/", "Lax", options_.session_ttl,
                                   secure_cookies_));
  r.AddHeader("Set-Cookie", Cookie(kCsrfCookie, "", "/authorize", "Strict", 0, secure_cookies_));
  return r;
}

http::Response AuthorizeHandler::Logout(const http::Request& request) {
  if (auto cookie = CookieValue(request, kSessionCookie)) {
    storage_.sessions->RevokeSession(tokens::TokenMinter::Hash(*cookie), clock_->NowUnixSeconds())
        .IgnoreError();  // an unknown session is already signed out
  }
  http::Response r = HtmlResponse(200, RenderErrorPage("signed_out", "You are signed out."));
  r.AddHeader("Set-Cookie", Cookie(kSessionCookie, "", "/", "Lax", 0, secure_cookies_));
  return r;
}

}  // namespace ts::web
