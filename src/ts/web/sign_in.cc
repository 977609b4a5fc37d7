#include "ts/web/sign_in.h"

#include <iostream>

#include "ts/common/metrics.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/password.h"
#include "ts/tokens/token_minter.h"

namespace ts::web {
namespace {

constexpr std::string_view kSessionCookie = "tessera_session";
constexpr std::string_view kCsrfCookie = "tessera_csrf";

std::string Cookie(std::string_view name, std::string_view value, std::string_view path,
                   std::string_view same_site, int64_t max_age, bool secure) {
  std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                  "; HttpOnly; SameSite=" + std::string(same_site) +
                  "; Max-Age=" + std::to_string(max_age);
  if (secure) c += "; Secure";
  return c;
}

std::string Origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? url : url.substr(0, slash);
}

}  // namespace

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

SignIn::SignIn(std::shared_ptr<storage::SessionStore> sessions,
               std::shared_ptr<storage::DirectoryStore> directory, ClockPtr clock,
               SignInOptions options)
    : sessions_(std::move(sessions)),
      directory_(std::move(directory)),
      clock_(std::move(clock)),
      options_(std::move(options)),
      origin_(Origin(options_.public_url)),
      secure_cookies_(options_.public_url.rfind("https://", 0) == 0),
      // Windows in the store: every node sharing the database enforces one limit.
      user_throttle_(options_.max_failures_per_user, options_.failure_window_seconds, sessions_),
      address_throttle_(options_.max_failures_per_address, options_.failure_window_seconds,
                        sessions_),
      // The database that holds the sessions holds the audit trail (storage/store.h); a
      // session store of its own (tests) has none, and then failures go unrecorded.
      audit_(std::dynamic_pointer_cast<storage::AuditStore>(sessions_)) {}

namespace {
// CloudTrail's sign-in events for Identity Center users (signin.amazonaws.com, AwsServiceEvent):
// CredentialVerification for each password checked or refused, UserAuthentication once signed in.
storage::AuditEvent SignInEvent(std::string_view name, const std::string& user_name,
                                const std::string& user_id, int64_t now) {
  storage::AuditEvent e;
  e.event_time = now;
  e.event_source = "signin.amazonaws.com";
  e.event_name = std::string(name);
  e.event_type = "AwsServiceEvent";
  e.identity_type = "IdentityCenterUser";
  e.principal_id = user_id;
  e.user_name = user_name;
  e.additional_event_data = {{"CredentialType", "PASSWORD"}};
  return e;
}
}  // namespace

void SignIn::RecordFailure(storage::AuditEvent event) const {
  if (audit_ == nullptr) return;
  if (Status s = audit_->AppendAuditEvent(std::move(event)); !s.ok()) {
    std::cerr << "audit: " << s.ToString() << "\n";
  }
}

std::optional<storage::SignInSession> SignIn::LiveSession(const http::Request& request) const {
  auto cookie = CookieValue(request, kSessionCookie);
  if (!cookie) return std::nullopt;
  auto session = sessions_->GetSession(tokens::TokenMinter::Hash(*cookie));
  const int64_t now = clock_->NowUnixSeconds();
  if (!session.ok() || session->revoked_at != 0 || session->expires_at <= now ||
      !directory_->GetUser(session->user_id).ok()) {
    return std::nullopt;
  }
  return std::move(*session);
}

std::optional<std::string> SignIn::CheckCsrf(const http::Request& request,
                                             std::string_view form_token) const {
  auto origin = request.FindHeader("origin");
  auto cookie = CookieValue(request, kCsrfCookie);
  if ((origin && *origin != origin_ && *origin != "null") || !cookie || form_token.empty() ||
      !crypto::ConstantTimeEquals(*cookie, form_token)) {
    return std::nullopt;
  }
  return std::string(*cookie);
}

std::string SignIn::CsrfCookie(std::string_view path, std::string_view token) const {
  return Cookie(kCsrfCookie, token, path, "Strict", options_.session_ttl, secure_cookies_);
}

std::string SignIn::ClearCsrfCookie(std::string_view path) const {
  return Cookie(kCsrfCookie, "", path, "Strict", 0, secure_cookies_);
}

namespace {
// Password sign-ins (the login, device and start pages share this one) by outcome.
enum SignInOutcome : size_t { kSignedIn, kRefused, kThrottled, kNotChecked };
metrics::Counter SignIns(SignInOutcome outcome) {
  static const metrics::CounterFamily& family = metrics::DefaultRegistry().AddCounter(
      "tessera_sign_ins_total",
      "Password sign-ins by outcome: success; failure (wrong or missing user name or password); "
      "throttled (too many failures for the user or the address); error (the store failed).",
      {{"outcome", {"success", "failure", "throttled", "error"}}});
  return family.At({outcome});
}
}  // namespace

SignIn::Result SignIn::PasswordSignIn(const std::string& user_name, const std::string& password,
                                      const std::string& client_address) {
  Result result;
  auto fail = [&](int status, std::string error) {
    result.status = status;
    result.error = std::move(error);
    SignIns(status == 429                    ? kThrottled
            : status == 400 || status == 401 ? kRefused
                                             : kNotChecked)
        .Inc();
    return result;
  };
  if (user_name.empty() || password.empty()) {
    return fail(400, "Enter your user name and password.");
  }
  const int64_t now = clock_->NowUnixSeconds();
  const std::string user_key = "user:" + user_name;
  const std::string address_key = "addr:" + client_address;
  // Reserved before the password is checked, refunded if it is right (throttle.h): guesses in
  // flight count against the limit as they are made.
  ThrottledAttempt attempt = ThrottledAttempt::Reserve(
      {{&user_throttle_, user_key}, {&address_throttle_, address_key}}, now);
  if (const int64_t wait = attempt.retry_after(); wait > 0) {
    storage::AuditEvent refused = SignInEvent("CredentialVerification", user_name, "", now);
    refused.error_code = "ThrottlingException";
    refused.error_message = "Too many failed sign-in attempts";
    refused.service_event_details = {{"CredentialVerification", "Failure"}};
    RecordFailure(std::move(refused));
    int64_t minutes = (wait + 59) / 60;
    return fail(429, "Too many failed sign-in attempts. Try again in " + std::to_string(minutes) +
                         (minutes == 1 ? " minute." : " minutes."));
  }
  auto user = directory_->GetUserByName(user_name);
  if (!user.ok() && user.status().code() != StatusCode::kNotFound) {
    // The database is unreachable (e.g. restarting): not the user's mistake, and no failure to
    // count against them.
    std::cerr << "sign-in: " << user.status().ToString() << "\n";
    attempt.Refund();
    return fail(503, "The server could not check your password. Try again.");
  }
  bool good = false;
  if (user.ok() && !user->password_hash.empty()) {
    good = crypto::VerifyPassword(password, user->password_hash);
  } else {
    crypto::DummyVerify();  // same cost whether or not the user exists
  }
  if (!good) {
    // The reservations stay: a failure under the user's limit and the address's.
    storage::AuditEvent failed =
        SignInEvent("CredentialVerification", user_name, user.ok() ? user->user_id : "", now);
    failed.error_code = "InvalidCredentials";  // never the password tried
    failed.error_message = "Failed authentication";
    failed.service_event_details = {{"CredentialVerification", "Failure"}};
    RecordFailure(std::move(failed));
    return fail(401, "Incorrect user name or password.");
  }
  attempt.Refund();

  const std::string session_id = tokens::TokenMinter::NewSessionId();
  storage::SignInSession session;
  session.session_hash = tokens::TokenMinter::Hash(session_id);
  session.user_id = user->user_id;
  session.auth_time = now;
  session.created_at = now;
  session.expires_at = now + options_.session_ttl;
  storage::AuditScope audit(SignInEvent("UserAuthentication", user->user_name, user->user_id, now));
  storage::AuditScope::Current()->service_event_details = {{"UserAuthentication", "Success"}};
  if (!sessions_->CreateSession(session).ok()) {
    return fail(500, "The server could not start your session. Try again.");
  }
  result.session = std::move(session);
  result.set_cookie =
      Cookie(kSessionCookie, session_id, "/", "Lax", options_.session_ttl, secure_cookies_);
  SignIns(kSignedIn).Inc();
  return result;
}

std::string SignIn::SignOut(const http::Request& request) {
  if (auto cookie = CookieValue(request, kSessionCookie)) {
    const std::string hash = tokens::TokenMinter::Hash(*cookie);
    auto session = sessions_->GetSession(hash);
    std::optional<storage::AuditScope> audit;
    if (session.ok() && session->revoked_at == 0) {
      audit.emplace(SignInEvent("Logout", "", session->user_id, clock_->NowUnixSeconds()));
      storage::AuditScope::Current()->additional_event_data.clear();
    }
    sessions_->RevokeSession(tokens::TokenMinter::Hash(*cookie), clock_->NowUnixSeconds())
        .IgnoreError();  // an unknown session is already signed out
  }
  return Cookie(kSessionCookie, "", "/", "Lax", 0, secure_cookies_);
}

}  // namespace ts::web
