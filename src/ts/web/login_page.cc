#include "ts/web/login_page.h"

namespace ts::web {
namespace {

constexpr std::string_view kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;
color:#111827;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.08);
width:100%;max-width:22rem}
h1{font-size:1.35rem;margin:0 0 .25rem}
p.app{color:#4b5563;margin:0 0 1.5rem;font-size:.95rem;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:1rem 0 .35rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem .7rem;
border:1px solid #9ca3af;border-radius:6px;font-size:1rem}
input:focus,button:focus{outline:3px solid #2563eb;outline-offset:1px}
button{margin-top:1.5rem;width:100%;padding:.7rem;border:0;border-radius:6px;background:#1d4ed8;
color:#fff;font-size:1rem;font-weight:600;cursor:pointer}
button.secondary{margin-top:.75rem;background:#fff;color:#1d4ed8;border:1px solid #1d4ed8}
p.hint{color:#4b5563;font-size:.85rem;margin:.35rem 0 0}
.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:1.15rem;letter-spacing:.08em}
ul.scopes{margin:.5rem 0 0;padding-left:1.25rem}
ul.scopes li{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.alert{background:#fef2f2;border:1px solid #fca5a5;color:#991b1b;padding:.6rem .8rem;
border-radius:6px;margin-bottom:1rem}
footer{margin-top:1.5rem;color:#6b7280;font-size:.8rem;text-align:center}
)";

}  // namespace

std::string RenderPage(std::string_view title, std::string_view main) {
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + HtmlEscape(title) + "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<main>\n";
  out += main;
  out += "<footer>Tessera &middot; IAM Identity Center compatible sign-in</footer>\n";
  out += "</main>\n</body>\n</html>\n";
  return out;
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string RenderLoginPage(const LoginPageModel& m) {
  std::string main;
  main += "<h1 id=\"title\">Sign in</h1>\n";
  main += "<p class=\"app\">to continue to <strong>" + HtmlEscape(m.application_name) +
          "</strong></p>\n";
  if (!m.error.empty()) {
    main += "<div class=\"alert\" role=\"alert\" id=\"error\">" + HtmlEscape(m.error) + "</div>\n";
  }
  main +=
      "<form method=\"post\" action=\"" + HtmlEscape(m.action) + "\" aria-labelledby=\"title\">\n";
  main +=
      "<input type=\"hidden\" name=\"csrf_token\" value=\"" + HtmlEscape(m.csrf_token) + "\">\n";
  for (const auto& [name, value] : m.hidden) {
    main += "<input type=\"hidden\" name=\"" + HtmlEscape(name) + "\" value=\"" +
            HtmlEscape(value) + "\">\n";
  }
  main += "<label for=\"username\">User name</label>\n";
  main +=
      "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
      "autocapitalize=\"none\" spellcheck=\"false\" required" +
      std::string(m.user_name.empty() ? " autofocus" : "") + " value=\"" + HtmlEscape(m.user_name) +
      "\"" + (m.error.empty() ? "" : " aria-describedby=\"error\"") + ">\n";
  main += "<label for=\"password\">Password</label>\n";
  main +=
      "<input type=\"password\" id=\"password\" name=\"password\" "
      "autocomplete=\"current-password\" required" +
      std::string(m.user_name.empty() ? "" : " autofocus") +
      (m.error.empty() ? "" : " aria-describedby=\"error\"") + ">\n";
  main += "<button type=\"submit\">Sign in</button>\n";
  main += "</form>\n";
  return RenderPage("Sign in - Tessera", main);
}

std::string RenderErrorPage(std::string_view error, std::string_view description) {
  std::string main;
  main += "<h1>Sign-in request problem</h1>\n";
  main += "<div class=\"alert\" role=\"alert\"><strong>" + HtmlEscape(error) +
          "</strong>: " + HtmlEscape(description) + "</div>\n";
  return RenderPage("Sign-in problem - Tessera", main);
}

std::map<std::string, std::string> FirstFormValues(
    const std::vector<std::pair<std::string, std::string>>& params) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : params) out.emplace(k, v);
  return out;
}

std::string FormValue(const std::map<std::string, std::string>& form, const std::string& key) {
  auto it = form.find(key);
  return it == form.end() ? std::string() : it->second;
}

std::string HiddenInput(std::string_view name, std::string_view value) {
  return "<input type=\"hidden\" name=\"" + HtmlEscape(name) + "\" value=\"" + HtmlEscape(value) +
         "\">\n";
}

std::string AlertRegion(std::string_view error) {
  if (error.empty()) return "";
  return "<div class=\"alert\" role=\"alert\" id=\"error\">" + HtmlEscape(error) + "</div>\n";
}

}  // namespace ts::web
