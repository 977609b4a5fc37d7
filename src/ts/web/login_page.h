// File: login_page.h
// Server-rendered HTML for the sign-in flow: the login form and the error page, and the page
// frame the other sign-in pages (device_page.h) share. No scripts; every interpolated value is
// HTML-escaped.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ts::web {

struct LoginPageModel {
  std::string action = "/authorize";  // where the form posts
  std::string application_name;
  std::string error;  // shown in an alert region when not empty
  std::string csrf_token;
  std::string user_name;                                    // re-filled after a failed attempt
  std::vector<std::pair<std::string, std::string>> hidden;  // the authorization request
};

std::string RenderLoginPage(const LoginPageModel& model);
std::string RenderErrorPage(std::string_view error, std::string_view description);
std::string HtmlEscape(std::string_view text);
// A whole page: `main` (HTML, escaped by the caller) inside the shared frame, style and footer.
std::string RenderPage(std::string_view title, std::string_view main);

// What the pages' form handlers and renderers share.
// The first value of each field (a form a page posted has each once).
std::map<std::string, std::string> FirstFormValues(
    const std::vector<std::pair<std::string, std::string>>& params);
// The field's value; "" when absent.
std::string FormValue(const std::map<std::string, std::string>& form, const std::string& key);
// <input type="hidden"> with both attributes escaped.
std::string HiddenInput(std::string_view name, std::string_view value);
// The alert region that announces `error` (role="alert"); "" when there is none.
std::string AlertRegion(std::string_view error);

}  // namespace ts::web
