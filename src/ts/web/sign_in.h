// File: sign_in.h
// The sign-in the browser pages share, /authorize and the device verification page (/device):
// the session cookie and the live session it names; the forms' CSRF defence (the form's token
// must equal a SameSite=Strict cookie set with the form, and a browser-sent Origin must be this
// server's); and the password check with its throttles (per user name and per client address)
// that starts a session. One SignIn serves both pages, so a user signed in on one is signed in on
// the other, and failed attempts on either count against the same limits.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/http/message.h"
#include "ts/storage/audit.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/records.h"
#include "ts/storage/session_store.h"
#include "ts/web/throttle.h"

namespace ts::web {

struct SignInOptions {
  std::string public_url;  // e.g. http://127.0.0.1:8080; https:// makes every cookie Secure
  int64_t session_ttl = 8 * 3600;
  int max_failures_per_user = 5;
  int max_failures_per_address = 20;
  int64_t failure_window_seconds = 15 * 60;
};

// An HTML answer with the headers every page carries: no caching, a Content-Security-Policy
// without scripts, no framing, no referrer.
http::Response HtmlResponse(int status, std::string body);

// The value of cookie `name` in the request's Cookie headers.
std::optional<std::string_view> CookieValue(const http::Request& request, std::string_view name);

class SignIn {
 public:
  SignIn(std::shared_ptr<storage::SessionStore> sessions,
         std::shared_ptr<storage::DirectoryStore> directory, ClockPtr clock, SignInOptions options);

  // The session the request's cookie names if it is unrevoked, unexpired and its user still
  // exists; nullopt otherwise (a store failure included: the caller asks for the password).
  std::optional<storage::SignInSession> LiveSession(const http::Request& request) const;

  // The CSRF check of a form posted to `path`: the form's `form_token` must equal the CSRF cookie
  // set for that path, and an Origin header, when the browser sends one, must be this server's.
  // Returns the token (to render the form again with) when the post passes, nullopt otherwise.
  std::optional<std::string> CheckCsrf(const http::Request& request,
                                       std::string_view form_token) const;
  // Set-Cookie values: the CSRF cookie for the forms posted to `path` (SameSite=Strict), and the
  // same cookie expired.
  std::string CsrfCookie(std::string_view path, std::string_view token) const;
  std::string ClearCsrfCookie(std::string_view path) const;

  // What a password sign-in did.
  struct Result {
    // On success: the new session and the Set-Cookie value that carries its id.
    std::optional<storage::SignInSession> session;
    std::string set_cookie;
    // Otherwise: the message for the form's alert region and the status to answer with (400 for
    // an empty field, 401 for a wrong password, 429 when throttled, 503/500 when the store
    // fails).
    std::string error;
    int status = 200;
  };
  // Checks the password (the same cost whether or not the user exists) under the per-user and
  // per-address throttles, and on success starts a session.
  Result PasswordSignIn(const std::string& user_name, const std::string& password,
                        const std::string& client_address);

  // Revokes the request's session if it has one; returns the Set-Cookie value that clears it.
  std::string SignOut(const http::Request& request);

 private:
  std::shared_ptr<storage::SessionStore> sessions_;
  std::shared_ptr<storage::DirectoryStore> directory_;
  ClockPtr clock_;
  SignInOptions options_;
  std::string origin_;  // scheme://host[:port] of public_url
  bool secure_cookies_;
  Throttle user_throttle_;
  Throttle address_throttle_;
  std::shared_ptr<storage::AuditStore> audit_;  // null when the sessions' store has no trail

  // Records a sign-in that changed nothing but the failure count (audit.h); best effort.
  void RecordFailure(storage::AuditEvent event) const;
};

}  // namespace ts::web
