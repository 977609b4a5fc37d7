#include "ts/web/start_page.h"

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "ts/crypto/random.h"
#include "ts/portal/role_credentials.h"
#include "ts/web/login_page.h"

namespace ts::web {
namespace {

constexpr std::string_view kPath = "/start";
constexpr std::string_view kCsrfCookie = "tessera_csrf";

// The portal's own frame: wider than the sign-in card, a banner with the user and sign-out.
constexpr std::string_view kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;
color:#111827;margin:0}
header{background:#1f2937;color:#fff;padding:.75rem 1.5rem;display:flex;flex-wrap:wrap;
gap:1rem;align-items:center;justify-content:space-between}
header p{margin:0}
header form{margin:0}
header button{background:#fff;color:#1f2937;border:0;border-radius:6px;padding:.4rem .9rem;
font-weight:600;cursor:pointer}
main{max-width:60rem;margin:1.5rem auto;background:#fff;padding:1.5rem 2rem;border-radius:12px;
box-shadow:0 4px 24px rgba(0,0,0,.08)}
h1{font-size:1.5rem;margin:0 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
h3{font-size:1.05rem;margin:1rem 0 .25rem}
ul.cards{list-style:none;padding:0;margin:0}
ul.cards>li{border:1px solid #e5e7eb;border-radius:8px;padding:.75rem 1rem;margin:.75rem 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.25rem 0 .75rem}
dl.facts dt{color:#4b5563}
dl.facts dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;padding:.4rem .5rem;border-top:1px solid #e5e7eb;vertical-align:top}
thead th{color:#4b5563;font-size:.85rem}
td form{margin:0}
button{padding:.45rem .8rem;border:0;border-radius:6px;background:#1d4ed8;color:#fff;
font-weight:600;cursor:pointer}
button:focus,a:focus{outline:3px solid #2563eb;outline-offset:1px}
pre{background:#111827;color:#f9fafb;padding:.75rem 1rem;border-radius:6px;overflow-x:auto;
white-space:pre-wrap;word-break:break-all}
.alert{background:#fef2f2;border:1px solid #fca5a5;color:#991b1b;padding:.6rem .8rem;
border-radius:6px;margin-bottom:1rem}
.empty{color:#4b5563}
footer{text-align:center;color:#6b7280;font-size:.8rem;margin:1rem 0 2rem}
)";

// A whole page: the banner (who is signed in, sign-out), `main` (escaped by the caller), footer.
std::string RenderPortalFrame(std::string_view title, std::string_view user_label,
                              std::string_view main) {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + HtmlEscape(title) + "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<header>\n";
  out += "<p>Signed in as <strong id=\"user\">" + HtmlEscape(user_label) + "</strong></p>\n";
  // The browser sign-out of /authorize (AuthorizeHandler::Logout): it revokes the session, and
  // with it the credentials issued here.
  out += "<form method=\"post\" action=\"/logout\">";
  out += "<button type=\"submit\" id=\"sign-out\">Sign out</button></form>\n";
  out += "</header>\n<main>\n";
  out += main;
  out +=
      "</main>\n<footer>Tessera &middot; IAM Identity Center compatible access portal</footer>\n";
  out += "</body>\n</html>\n";
  return out;
}

std::string UserLabel(const storage::User& user) {
  if (user.display_name.empty() || user.display_name == user.user_name) return user.user_name;
  return user.display_name + " (" + user.user_name + ")";
}

bool IsAccountId(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// sso-admin's permission-set name: [\w+=,.@-]{1,32}.
bool IsRoleName(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_+=,.@-").find(c) != std::string_view::npos;
  });
}

// An application as the portal lists it, or nullopt when its PortalOptions hide it.
struct PortalApplication {
  std::string name;
  std::string description;
  std::string url;  // http(s) only; "" when it has none
};

std::optional<PortalApplication> ForPortal(const storage::Application& app) {
  PortalApplication out;
  out.name = app.name.empty() ? app.application_arn : app.name;
  out.description = app.description;
  if (app.portal_options_json.empty()) return out;
  boost::system::error_code ec;
  const boost::json::value options = boost::json::parse(app.portal_options_json, ec);
  if (ec || !options.is_object()) return out;
  const boost::json::object& o = options.get_object();
  if (const auto* visibility = o.if_contains("Visibility");
      visibility && visibility->is_string() && visibility->get_string() == "DISABLED") {
    return std::nullopt;
  }
  const auto* sign_in = o.if_contains("SignInOptions");
  if (sign_in == nullptr || !sign_in->is_object()) return out;
  const auto* url = sign_in->get_object().if_contains("ApplicationUrl");
  if (url == nullptr || !url->is_string()) return out;
  const std::string_view u = url->get_string();
  // Only web addresses become links: a stored javascript: or data: URL stays unlinked.
  if (u.starts_with("https://") || u.starts_with("http://")) out.url = std::string(u);
  return out;
}

std::string Iso8601(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Readable(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Duration(int64_t seconds) {
  const int64_t hours = seconds / 3600;
  const int64_t minutes = (seconds % 3600 + 59) / 60;
  std::string out;
  if (hours > 0) out += std::to_string(hours) + (hours == 1 ? " hour" : " hours");
  if (minutes > 0) {
    if (!out.empty()) out += " ";
    out += std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes");
  }
  return out.empty() ? "less than a minute" : out;
}

struct PortalModel {
  std::string user_label;
  std::vector<storage::UserRole> roles;  // ordered by (account_id, permission set name)
  std::vector<PortalApplication> applications;
  std::string csrf;
  std::string error;
};

std::string RenderRoleRow(const storage::UserRole& role, size_t account_index, size_t role_index,
                          std::string_view csrf) {
  const std::string row_id =
      "role-" + std::to_string(account_index) + "-" + std::to_string(role_index);
  std::string out;
  out += "<tr>\n<th scope=\"row\" id=\"" + row_id + "\">" + HtmlEscape(role.permission_set.name) +
         "</th>\n";
  out += "<td>" + HtmlEscape(role.permission_set.description) + "</td>\n";
  out += "<td><form method=\"post\" action=\"/start\">\n";
  out += HiddenInput("csrf_token", csrf);
  out += HiddenInput("step", "credentials");
  out += HiddenInput("account_id", role.account.account_id);
  out += HiddenInput("role_name", role.permission_set.name);
  // The button's text is the same on every row; the row's role and account describe it.
  out += "<button type=\"submit\" aria-describedby=\"" + row_id + " account-" +
         std::to_string(account_index) +
         "\">Command line or programmatic access</button>\n</form></td>\n</tr>\n";
  return out;
}

std::string RenderPortal(const PortalModel& m) {
  std::string main;
  main += "<h1>AWS access portal</h1>\n";
  main += AlertRegion(m.error);

  main += "<section aria-labelledby=\"accounts-title\">\n";
  main += "<h2 id=\"accounts-title\">AWS accounts</h2>\n";
  if (m.roles.empty()) {
    main +=
        "<p class=\"empty\" id=\"no-accounts\">You have no roles in any AWS account. An "
        "administrator assigns them with permission sets.</p>\n";
  } else {
    main += "<ul class=\"cards\" id=\"accounts\">\n";
    size_t account_index = 0;
    for (size_t i = 0; i < m.roles.size();) {
      const storage::Account& account = m.roles[i].account;
      const std::string heading_id = "account-" + std::to_string(account_index);
      main += "<li>\n<h3 id=\"" + heading_id + "\">" +
              HtmlEscape(account.name.empty() ? account.account_id : account.name) + "</h3>\n";
      main += "<dl class=\"facts\">\n<dt>Account ID</dt><dd>" + HtmlEscape(account.account_id) +
              "</dd>\n";
      if (!account.email.empty()) {
        main += "<dt>E-mail</dt><dd>" + HtmlEscape(account.email) + "</dd>\n";
      }
      main += "</dl>\n<table>\n<caption>Roles in " +
              HtmlEscape(account.name.empty() ? account.account_id : account.name) + "</caption>\n";
      main +=
          "<thead><tr><th scope=\"col\">Role</th><th scope=\"col\">Description</th>"
          "<th scope=\"col\">Access</th></tr></thead>\n<tbody>\n";
      size_t role_index = 0;
      for (; i < m.roles.size() && m.roles[i].account.account_id == account.account_id; ++i) {
        main += RenderRoleRow(m.roles[i], account_index, role_index++, m.csrf);
      }
      main += "</tbody>\n</table>\n</li>\n";
      ++account_index;
    }
    main += "</ul>\n";
  }
  main += "</section>\n";

  main += "<section aria-labelledby=\"applications-title\">\n";
  main += "<h2 id=\"applications-title\">Applications</h2>\n";
  if (m.applications.empty()) {
    main += "<p class=\"empty\" id=\"no-applications\">No applications are assigned to you.</p>\n";
  } else {
    main += "<ul class=\"cards\" id=\"applications\">\n";
    for (const PortalApplication& app : m.applications) {
      main += "<li>\n<h3>";
      main += app.url.empty() ? HtmlEscape(app.name)
                              : "<a href=\"" + HtmlEscape(app.url) + "\" rel=\"noopener\">" +
                                    HtmlEscape(app.name) + "</a>";
      main += "</h3>\n";
      if (!app.description.empty()) main += "<p>" + HtmlEscape(app.description) + "</p>\n";
      main += "</li>\n";
    }
    main += "</ul>\n";
  }
  main += "</section>\n";
  return RenderPortalFrame("AWS access portal - Tessera", m.user_label, main);
}

struct CredentialsModel {
  std::string user_label;
  storage::UserRole role;
  portal::IssuedRoleCredentials issued;
  int64_t now = 0;
  std::string public_url;
  std::string start_url;
  std::string region;
};

std::string CodeBlock(std::string_view id, std::string_view heading, std::string_view text) {
  std::string out;
  out += "<h3 id=\"" + std::string(id) + "-title\">" + HtmlEscape(heading) + "</h3>\n";
  out += "<pre id=\"" + std::string(id) + "\" aria-labelledby=\"" + std::string(id) +
         "-title\"><code>" + HtmlEscape(text) + "</code></pre>\n";
  return out;
}

std::string RenderCredentials(const CredentialsModel& m) {
  const portal::IssuedRoleCredentials& c = m.issued;
  const std::string& account_id = m.role.account.account_id;
  const std::string& role_name = m.role.permission_set.name;
  const std::string account_label =
      m.role.account.name.empty() ? account_id : m.role.account.name + " (" + account_id + ")";
  std::string main;
  main += "<h1>Get credentials for " + HtmlEscape(role_name) + "</h1>\n";
  main += "<dl class=\"facts\">\n";
  main += "<dt>Account</dt><dd id=\"account\">" + HtmlEscape(account_label) + "</dd>\n";
  main += "<dt>Role</dt><dd id=\"role\">" + HtmlEscape(role_name) + "</dd>\n";
  main += "<dt>Expires</dt><dd><time id=\"expiry\" datetime=\"" + Iso8601(c.expires_at) + "\">" +
          Readable(c.expires_at) + "</time> (in " + Duration(c.expires_at - m.now) + ")</dd>\n";
  main += "</dl>\n";
  main += "<p>These temporary credentials are shown once. Tessera accepts them at <code>" +
          HtmlEscape(m.public_url) +
          "</code> (give it as the endpoint URL), as far as the role's policy allows; signing "
          "out revokes them.</p>\n";

  main += "<section aria-labelledby=\"option-1\">\n";
  main += "<h2 id=\"option-1\">Option 1: Set AWS environment variables</h2>\n";
  main += CodeBlock("env-unix", "macOS and Linux",
                    "export AWS_ACCESS_KEY_ID=\"" + c.access_key_id +
                        "\"\nexport AWS_SECRET_ACCESS_KEY=\"" + c.secret_access_key +
                        "\"\nexport AWS_SESSION_TOKEN=\"" + c.session_token + "\"");
  main += CodeBlock("env-cmd", "Windows (Command Prompt)",
                    "set AWS_ACCESS_KEY_ID=" + c.access_key_id + "\nset AWS_SECRET_ACCESS_KEY=" +
                        c.secret_access_key + "\nset AWS_SESSION_TOKEN=" + c.session_token);
  main += CodeBlock("env-powershell", "PowerShell",
                    "$Env:AWS_ACCESS_KEY_ID=\"" + c.access_key_id +
                        "\"\n$Env:AWS_SECRET_ACCESS_KEY=\"" + c.secret_access_key +
                        "\"\n$Env:AWS_SESSION_TOKEN=\"" + c.session_token + "\"");
  main += "</section>\n";

  main += "<section aria-labelledby=\"option-2\">\n";
  main += "<h2 id=\"option-2\">Option 2: Add a profile to your AWS credentials file</h2>\n";
  main += "<p>Paste this into <code>~/.aws/credentials</code>:</p>\n";
  main +=
      "<pre id=\"profile\" aria-labelledby=\"option-2\"><code>" +
      HtmlEscape("[" + account_id + "_" + role_name + "]\naws_access_key_id=" + c.access_key_id +
                 "\naws_secret_access_key=" + c.secret_access_key +
                 "\naws_session_token=" + c.session_token) +
      "</code></pre>\n";
  main += "</section>\n";

  main += "<section aria-labelledby=\"option-3\">\n";
  main += "<h2 id=\"option-3\">Option 3: Use individual values</h2>\n";
  main += "<dl class=\"facts\">\n";
  main += "<dt>AWS access key ID</dt><dd><code id=\"access-key-id\">" +
          HtmlEscape(c.access_key_id) + "</code></dd>\n";
  main += "<dt>AWS secret access key</dt><dd><code id=\"secret-access-key\">" +
          HtmlEscape(c.secret_access_key) + "</code></dd>\n";
  main += "<dt>AWS session token</dt><dd><code id=\"session-token\">" +
          HtmlEscape(c.session_token) + "</code></dd>\n";
  main += "</dl>\n</section>\n";

  main += "<section aria-labelledby=\"refreshing\">\n";
  main += "<h2 id=\"refreshing\">Credentials that refresh themselves</h2>\n";
  main +=
      "<p>Run <code>aws configure sso</code> with this start URL and region, and point the "
      "AWS CLI at Tessera with <code>AWS_ENDPOINT_URL_SSO_OIDC</code> and "
      "<code>AWS_ENDPOINT_URL_SSO</code> set to <code>" +
      HtmlEscape(m.public_url) + "</code>.</p>\n";
  main += "<dl class=\"facts\">\n<dt>SSO start URL</dt><dd><code>" + HtmlEscape(m.start_url) +
          "</code></dd>\n<dt>SSO region</dt><dd><code>" + HtmlEscape(m.region) +
          "</code></dd>\n</dl>\n</section>\n";

  main += "<p><a href=\"/start\">Back to the access portal</a></p>\n";
  return RenderPortalFrame("Credentials for " + role_name + " - Tessera", m.user_label, main);
}

// The CSRF token of the page: the one the browser already holds for /start when it has one (so
// portal pages open in several tabs all post), else a new one.
std::string PageCsrf(const http::Request& request) {
  if (auto cookie = CookieValue(request, kCsrfCookie);
      cookie && cookie->size() >= 32 && cookie->size() <= 128) {
    const bool ours = std::all_of(cookie->begin(), cookie->end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_';
    });
    if (ours) return std::string(*cookie);
  }
  return crypto::RandomToken(32);
}

}  // namespace

StartPageHandler::StartPageHandler(StartPageStorage storage, std::shared_ptr<SignIn> sign_in,
                                   ClockPtr clock, StartPageOptions options)
    : storage_(std::move(storage)),
      sign_in_(std::move(sign_in)),
      clock_(std::move(clock)),
      options_(std::move(options)) {}

http::Response StartPageHandler::SignInPage(const std::string& user_name, const std::string& error,
                                            int status, const std::string& csrf) {
  LoginPageModel model;
  model.action = std::string(kPath);
  model.application_name = "the AWS access portal";
  model.error = error;
  model.csrf_token = csrf;
  model.user_name = user_name;
  model.hidden = {{"step", "signin"}};
  http::Response r = HtmlResponse(status, RenderLoginPage(model));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie(kPath, csrf));
  return r;
}

http::Response StartPageHandler::PortalPage(const storage::SignInSession& session,
                                            const std::string& csrf, const std::string& error,
                                            int status) {
  auto fail = [&](const Status& cause, std::string_view what) {
    std::cerr << "start: " << what << ": " << cause.ToString() << "\n";
    return HtmlResponse(
        503, RenderErrorPage("temporarily_unavailable", "The server could not read your " +
                                                            std::string(what) + ". Try again."));
  };
  auto user = storage_.directory->GetUser(session.user_id);
  if (!user.ok()) return fail(user.status(), "user");
  PortalModel m;
  m.user_label = UserLabel(*user);
  m.csrf = csrf;
  m.error = error;
  auto roles = storage_.accounts->ListUserRoles(session.user_id, "");
  if (!roles.ok()) return fail(roles.status(), "accounts");
  m.roles = std::move(*roles);
  auto applications = storage_.applications->ListApplications();
  if (!applications.ok()) return fail(applications.status(), "applications");
  for (const storage::Application& app : *applications) {
    if (app.status != "ENABLED") continue;
    std::optional<PortalApplication> shown = ForPortal(app);
    if (!shown) continue;
    auto assigned = storage_.applications->IsAssigned(app.application_arn, session.user_id);
    if (!assigned.ok()) return fail(assigned.status(), "applications");
    if (*assigned) m.applications.push_back(std::move(*shown));
  }
  http::Response r = HtmlResponse(status, RenderPortal(m));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie(kPath, csrf));
  return r;
}

http::Response StartPageHandler::IssueCredentials(const storage::SignInSession& session,
                                                  const std::string& csrf,
                                                  const std::string& account_id,
                                                  const std::string& role_name) {
  if (!IsAccountId(account_id) || !IsRoleName(role_name)) {
    return PortalPage(session, csrf, "Choose a role from the list.", 400);
  }
  auto user = storage_.directory->GetUser(session.user_id);
  auto roles = user.ok() ? storage_.accounts->ListUserRoles(session.user_id, account_id)
                         : StatusOr<std::vector<storage::UserRole>>(user.status());
  if (!roles.ok()) {
    std::cerr << "start: " << roles.status().ToString() << "\n";
    return HtmlResponse(503, RenderErrorPage("temporarily_unavailable",
                                             "The server could not read your roles. Try again."));
  }
  auto role = std::find_if(roles->begin(), roles->end(), [&](const storage::UserRole& r) {
    return r.permission_set.name == role_name;
  });
  if (role == roles->end()) {
    return PortalPage(session, csrf,
                      "You have no role " + role_name + " in account " + account_id +
                          " (any more). Choose a role from the list.",
                      404);
  }
  const int64_t now = clock_->NowUnixSeconds();
  auto prepared = portal::PrepareRoleCredential(options_.seal_key, *role, *user,
                                                /*family_id=*/"", session.session_hash, now);
  if (!prepared.ok()) {
    // A stored session duration the portal cannot read: the server's problem, not the user's.
    std::cerr << "start: role " << role->role.role_name << ": " << prepared.status().ToString()
              << "\n";
    return HtmlResponse(500, RenderErrorPage("server_error",
                                             "The server could not issue credentials for this "
                                             "role. Ask an administrator."));
  }
  storage::AuditScope audit(portal::RoleCredentialEvent(*prepared, now));
  if (Status issued = storage_.accounts->IssueRoleCredential(prepared->key, prepared->link);
      !issued.ok()) {
    // Re-checked inside the write: the role or the session went after this request's checks.
    if (issued.code() == StatusCode::kFailedPrecondition) {
      return HtmlResponse(403, RenderErrorPage("access_denied",
                                               "You no longer hold this role, or your sign-in "
                                               "ended. Nothing was issued."));
    }
    std::cerr << "start: issuing a role credential: " << issued.ToString() << "\n";
    return HtmlResponse(503, RenderErrorPage("temporarily_unavailable",
                                             "The server could not issue credentials. Try "
                                             "again."));
  }
  CredentialsModel m;
  m.user_label = UserLabel(*user);
  m.role = *role;
  m.issued = std::move(prepared->issued);
  m.now = now;
  m.public_url = options_.public_url;
  m.start_url = "https://" + options_.identity_store_id + ".awsapps.com/start";
  m.region = options_.region;
  http::Response r = HtmlResponse(200, RenderCredentials(m));
  r.AddHeader("Set-Cookie", sign_in_->CsrfCookie(kPath, csrf));
  return r;
}

http::Response StartPageHandler::Get(const http::Request& request) {
  const std::string csrf = PageCsrf(request);
  if (auto session = sign_in_->LiveSession(request)) return PortalPage(*session, csrf, "", 200);
  return SignInPage("", "", 200, csrf);
}

http::Response StartPageHandler::Post(const http::Request& request) {
  auto params = http::ParseForm(request.body);
  if (!params) {
    return HtmlResponse(400, RenderErrorPage("invalid_request", "The form data is malformed."));
  }
  const std::map<std::string, std::string> form = FirstFormValues(*params);
  auto csrf = sign_in_->CheckCsrf(request, FormValue(form, "csrf_token"));
  if (!csrf) {
    return HtmlResponse(403, RenderErrorPage("invalid_request",
                                             "The form has expired or did not come from this "
                                             "server. Open the access portal again."));
  }
  const std::string step = FormValue(form, "step");
  if (step == "signin") {
    const std::string user_name = FormValue(form, "username");
    SignIn::Result signed_in =
        sign_in_->PasswordSignIn(user_name, FormValue(form, "password"), request.ClientAddress());
    if (!signed_in.session) {
      return SignInPage(user_name, signed_in.error, signed_in.status, *csrf);
    }
    // 303: the browser GETs the portal, and a reload does not post the password again.
    http::Response r;
    r.status = 303;
    r.SetHeader("Location", std::string(kPath));
    r.SetHeader("Cache-Control", "no-store");
    r.AddHeader("Set-Cookie", signed_in.set_cookie);
    return r;
  }
  std::optional<storage::SignInSession> session = sign_in_->LiveSession(request);
  if (!session) {
    return SignInPage("", "Your session has ended. Sign in again.", 401, *csrf);
  }
  if (step == "credentials") {
    return IssueCredentials(*session, *csrf, FormValue(form, "account_id"),
                            FormValue(form, "role_name"));
  }
  return PortalPage(*session, *csrf, "Choose a role from the list.", 400);
}

}  // namespace ts::web
