#include "ts/web/device_page.h"

#include <cctype>
#include <iostream>
#include <map>
#include <optional>
#include <vector>

#include "ts/crypto/random.h"
#include "ts/tokens/token_minter.h"
#include "ts/web/login_page.h"

namespace ts::web {
namespace {

constexpr std::string_view kPath = "/device";
// Longer input is no code: the form says so without a store read.
constexpr size_t kMaxEnteredLength = 64;
constexpr size_t kMaxCodeLength = 16;

std::string RenderCodePage(std::string_view entered, std::string_view error,
                           std::string_view csrf) {
  std::string main;
  main += "<h1 id=\"title\">Connect a device</h1>\n";
  main += "<p class=\"app\">Enter the code your device shows to let it sign in as you.</p>\n";
  main += AlertRegion(error);
  main += "<form method=\"post\" action=\"/device\" aria-labelledby=\"title\">\n";
  main += HiddenInput("csrf_token", csrf);
  main += HiddenInput("step", "code");
  main += "<label for=\"user_code\">Code</label>\n";
  main +=
      "<input type=\"text\" id=\"user_code\" name=\"user_code\" class=\"code\" "
      "autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"" +
      std::to_string(kMaxEnteredLength) + "\" required autofocus value=\"" + HtmlEscape(entered) +
      "\" aria-describedby=\"hint" + std::string(error.empty() ? "" : " error") + "\">\n";
  main += "<p class=\"hint\" id=\"hint\">Eight letters, for example BCDF-GHJK.</p>\n";
  main += "<button type=\"submit\">Continue</button>\n";
  main += "</form>\n";
  return RenderPage("Connect a device - Tessera", main);
}

struct ConsentModel {
  std::string client_name;
  std::string user_name;
  std::string code;  // formatted
  std::vector<std::string> scopes;
  std::string error;
  std::string csrf;
  bool may_approve = true;
};

std::string RenderConsentPage(const ConsentModel& m) {
  std::string main;
  main += "<h1 id=\"title\">Allow access?</h1>\n";
  main += "<p class=\"app\"><strong>" + HtmlEscape(m.client_name) +
          "</strong> on your device asks to sign in as you.</p>\n";
  main += AlertRegion(m.error);
  main += "<p>Check that your device shows this code: <strong class=\"code\" id=\"code\">" +
          HtmlEscape(m.code) + "</strong></p>\n";
  if (!m.user_name.empty()) {
    main += "<p>Signed in as <strong id=\"user\">" + HtmlEscape(m.user_name) + "</strong>.</p>\n";
  }
  main += "<p id=\"scopes-title\">It asks for:</p>\n";
  main += "<ul class=\"scopes\" aria-labelledby=\"scopes-title\">\n";
  if (m.scopes.empty()) main += "<li>sign-in only (no scopes)</li>\n";
  for (const std::string& s : m.scopes) main += "<li>" + HtmlEscape(s) + "</li>\n";
  main += "</ul>\n";
  main += "<form method=\"post\" action=\"/device\" aria-labelledby=\"title\">\n";
  main += HiddenInput("csrf_token", m.csrf);
  main += HiddenInput("step", "decide");
  main += HiddenInput("user_code", m.code);
  if (m.may_approve) {
    main += "<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n";
  }
  main +=
      "<button type=\"submit\" name=\"decision\" value=\"deny\" "
      "class=\"secondary\">Deny</button>\n";
  main += "</form>\n";
  return RenderPage("Allow access - Tessera", main);
}

std::string RenderDonePage(bool approved, std::string_view client_name) {
  std::string main;
  if (approved) {
    main += "<h1>Device approved</h1>\n";
    main += "<p class=\"app\" role=\"status\"><strong>" + HtmlEscape(client_name) +
            "</strong> may now sign in as you. You may return to your device.</p>\n";
  } else {
    main += "<h1>Request denied</h1>\n";
    main += "<p class=\"app\" role=\"status\"><strong>" + HtmlEscape(client_name) +
            "</strong> was not given access. You may close this window.</p>\n";
  }
  return RenderPage(approved ? "Device approved - Tessera" : "Request denied - Tessera", main);
}

std::string Minutes(int64_t seconds) {
  const int64_t minutes = (seconds + 59) / 60;
  return std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes");
}

}  // namespace

std::string NormalizeUserCode(std::string_view entered) {
  std::string out;
  out.reserve(entered.size());
  for (char c : entered) {
    if (c == '-' || std::isspace(static_cast<unsigned char>(c))) continue;
    out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string FormatUserCode(std::string_view normalized) {
  if (normalized.size() != 8) return std::string(normalized);
  return std::string(normalized.substr(0, 4)) + "-" + std::string(normalized.substr(4));
}

struct DevicePageHandler::Found {
  // Set when the code names a pending authorization of a usable client:
  bool ok = false;
  storage::DeviceAuthorization authorization;
  storage::RegisteredClient client;
  std::optional<storage::Application> app;  // the client's entitled application
  std::string code;                         // normalised
  std::string code_hash;
  // Otherwise what the code form says, and its status.
  std::string error;
  int status = 400;
};

DevicePageHandler::DevicePageHandler(DevicePageStorage storage, std::shared_ptr<SignIn> sign_in,
                                     ClockPtr clock, DevicePageOptions options)
    : storage_(std::move(storage)),
      sign_in_(std::move(sign_in)),
      clock_(std::move(clock)),
      options_(options),
      code_throttle_(options_.max_code_failures_per_address, options_.code_failure_window_seconds,
                     storage_.sessions) {}

DevicePageHandler::Found DevicePageHandler::Lookup(const std::string& entered,
                                                   const std::string& client_address, int64_t now) {
  Found found;
  auto fail = [&](int status, std::string error) {
    found.status = status;
    found.error = std::move(error);
    return found;
  };
  const std::string code = NormalizeUserCode(entered.substr(0, kMaxEnteredLength + 1));
  if (code.empty()) return fail(400, "Enter the code shown on your device.");
  // RFC 8628 §5.1: a user code has little entropy, so guesses are limited per client address.
  // Reserved before the lookup (throttle.h), so lookups in flight cannot outrun the limit; a
  // code that names a pending authorization gives it back.
  ThrottledAttempt attempt =
      ThrottledAttempt::Reserve({{&code_throttle_, "device:addr:" + client_address}}, now);
  if (const int64_t wait = attempt.retry_after(); wait > 0) {
    return fail(429, "Too many incorrect codes. Try again in " + Minutes(wait) + ".");
  }
  const std::string code_hash = tokens::TokenMinter::Hash(code);
  StatusOr<storage::DeviceAuthorization> authorization =
      code.size() > kMaxCodeLength || entered.size() > kMaxEnteredLength
          ? StatusOr<storage::DeviceAuthorization>(NotFoundError("not a user code"))
          : storage_.clients->GetDeviceAuthorizationByUserCode(code_hash, now);
  if (!authorization.ok()) {
    if (authorization.status().code() != StatusCode::kNotFound) {
      std::cerr << "device: " << authorization.status().ToString() << "\n";
      attempt.Refund();  // not the user's mistake
      return fail(503, "The server could not look the code up. Try again.");
    }
    // The reservation stays: a wrong code.
    return fail(400,
                "That code is not valid or has expired. Check the code on your device and enter "
                "it again.");
  }
  // A real code, whatever follows: not a guess.
  attempt.Refund();
  if (authorization->status != "PENDING") {
    return fail(400, "This code has already been used. Start again on your device.");
  }
  auto client = storage_.clients->GetClient(authorization->client_id);
  if (!client.ok()) {
    if (client.status().code() != StatusCode::kNotFound) {
      std::cerr << "device: " << client.status().ToString() << "\n";
      return fail(503, "The server could not read the client. Try again.");
    }
    return fail(400, "The application that asked for this code is no longer registered.");
  }
  if (!client->entitled_application_arn.empty()) {
    auto app = storage_.applications->GetApplication(client->entitled_application_arn);
    if (!app.ok() && app.status().code() != StatusCode::kNotFound) {
      std::cerr << "device: " << app.status().ToString() << "\n";
      return fail(503, "The server could not read the application. Try again.");
    }
    if (!app.ok() || app->status != "ENABLED") {
      return fail(403, "The application this client signs in to is disabled or deleted.");
    }
    found.app = std::move(*app);
  }
  found.ok = true;
  found.authorization = std::move(*authorization);
  found.client = std::move(*client);
  found.code = code;
  found.code_hash = code_hash;
  return found;
}

StatusOr<bool> DevicePageHandler::MayApprove(const Found& found, const std::string& user_id) {
  if (!found.app || !found.app->assignment_required) return true;
  return storage_.applications->IsAssigned(found.app->application_arn, user_id);
}

http::Response DevicePageHandler::CodePage(std::string_view entered, std::string_view error,
                                           int status, const std::string& csrf) {
  http::Response r = HtmlResponse(status, RenderCodePage(entered, error, csrf));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie(kPath, csrf));
  return r;
}

http::Response DevicePageHandler::SignInPage(const Found& found, std::string_view user_name,
                                             std::string_view error, int status,
                                             const std::string& csrf) {
  LoginPageModel model;
  model.action = std::string(kPath);
  model.application_name =
      found.client.client_name.empty() ? found.client.client_id : found.client.client_name;
  model.error = std::string(error);
  model.csrf_token = csrf;
  model.user_name = std::string(user_name);
  model.hidden = {{"step", "signin"}, {"user_code", FormatUserCode(found.code)}};
  http::Response r = HtmlResponse(status, RenderLoginPage(model));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie(kPath, csrf));
  return r;
}

http::Response DevicePageHandler::ConsentPage(const Found& found,
                                              const storage::SignInSession& session,
                                              std::string_view error, int status,
                                              const std::string& csrf) {
  ConsentModel m;
  m.client_name =
      found.client.client_name.empty() ? found.client.client_id : found.client.client_name;
  if (auto user = storage_.directory->GetUser(session.user_id); user.ok()) {
    m.user_name = user->display_name.empty() ? user->user_name : user->display_name;
  }
  m.code = FormatUserCode(found.code);
  m.scopes = found.authorization.scopes;
  m.error = std::string(error);
  m.csrf = csrf;
  StatusOr<bool> may = MayApprove(found, session.user_id);
  if (!may.ok()) {
    m.may_approve = false;
    m.error = "The server could not check your access to this application. Try again.";
    status = 503;
  } else if (!*may) {
    m.may_approve = false;
    m.error = "You cannot approve this: your user is not assigned to the application " +
              (found.app->name.empty() ? found.app->application_arn : found.app->name) +
              ". Ask an administrator, or deny the request.";
    status = 403;
  }
  http::Response r = HtmlResponse(status, RenderConsentPage(m));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie(kPath, csrf));
  return r;
}

http::Response DevicePageHandler::Get(const http::Request& request) {
  std::string entered;
  if (auto params = http::ParseForm(request.Query())) {
    entered = FormValue(FirstFormValues(*params), "user_code");
  }
  if (entered.size() > kMaxEnteredLength) entered.clear();
  const std::string code = NormalizeUserCode(entered);
  return CodePage(code.size() == 8 ? FormatUserCode(code) : entered, "", 200,
                  crypto::RandomToken(32));
}

http::Response DevicePageHandler::Post(const http::Request& request) {
  auto params = http::ParseForm(request.body);
  if (!params) {
    return HtmlResponse(400, RenderErrorPage("invalid_request", "The form data is malformed."));
  }
  const std::map<std::string, std::string> form = FirstFormValues(*params);
  auto csrf = sign_in_->CheckCsrf(request, FormValue(form, "csrf_token"));
  if (!csrf) {
    return HtmlResponse(403, RenderErrorPage("invalid_request",
                                             "The form has expired or did not come from this "
                                             "server. Open the verification page again."));
  }
  const std::string entered = FormValue(form, "user_code");
  const std::string step = FormValue(form, "step");
  const int64_t now = clock_->NowUnixSeconds();
  Found found = Lookup(entered, request.ClientAddress(), now);
  if (!found.ok) return CodePage(entered, found.error, found.status, *csrf);

  std::optional<storage::SignInSession> session = sign_in_->LiveSession(request);
  std::string session_cookie;
  if (step == "signin") {
    const std::string user_name = FormValue(form, "username");
    SignIn::Result signed_in =
        sign_in_->PasswordSignIn(user_name, FormValue(form, "password"), request.ClientAddress());
    if (!signed_in.session) {
      return SignInPage(found, user_name, signed_in.error, signed_in.status, *csrf);
    }
    session = std::move(signed_in.session);
    session_cookie = std::move(signed_in.set_cookie);
  }
  if (!session) return SignInPage(found, "", "", 200, *csrf);

  if (step != "decide") {
    http::Response r = ConsentPage(found, *session, "", 200, *csrf);
    if (!session_cookie.empty()) r.AddHeader("Set-Cookie", session_cookie);
    return r;
  }
  const std::string decision = FormValue(form, "decision");
  if (decision != "approve" && decision != "deny") {
    return ConsentPage(found, *session, "Choose Approve or Deny.", 400, *csrf);
  }
  const bool approve = decision == "approve";
  if (approve) {
    StatusOr<bool> may = MayApprove(found, session->user_id);
    // ConsentPage says why.
    if (!may.ok() || !*may) return ConsentPage(found, *session, "", 403, *csrf);
  }
  Status decided = storage_.clients->DecideDeviceAuthorization(
      found.code_hash, approve, session->user_id, session->session_hash, session->auth_time, now);
  if (!decided.ok()) {
    if (decided.code() == StatusCode::kFailedPrecondition ||
        decided.code() == StatusCode::kNotFound) {
      return CodePage("",
                      "This code has already been used or has expired. Start again on your "
                      "device.",
                      400, *csrf);
    }
    std::cerr << "device: " << decided.ToString() << "\n";
    return ConsentPage(found, *session, "The server could not record your answer. Try again.", 503,
                       *csrf);
  }
  http::Response r = HtmlResponse(
      200, RenderDonePage(approve, found.client.client_name.empty() ? found.client.client_id
                                                                    : found.client.client_name));
  r.AddHeader("Set-Cookie", sign_in_->ClearCsrfCookie(kPath));
  return r;
}

}  // namespace ts::web
