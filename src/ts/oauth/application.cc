#include "ts/oauth/application.h"

#include <algorithm>
#include <boost/json.hpp>

#include "ts/oauth/errors.h"

namespace ts::oauth {

const std::vector<std::string>& DefaultScopes() {
  static const std::vector<std::string> kScopes = {"openid", "aws", "sts:identity_context"};
  return kScopes;
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool HasGrant(const storage::Application& app, std::string_view grant_type) {
  return app.grants.find(std::string(grant_type)) != app.grants.end();
}

std::vector<std::string> RedirectUris(const storage::Application& app) {
  std::vector<std::string> uris;
  auto it = app.grants.find(std::string(kGrantAuthorizationCode));
  if (it == app.grants.end()) return uris;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(it->second, ec);
  if (ec || !v.is_object()) return uris;
  const auto* list = v.as_object().if_contains("RedirectUris");
  if (list == nullptr || !list->is_array()) return uris;
  for (const auto& u : list->as_array()) {
    if (u.is_string()) uris.emplace_back(u.as_string());
  }
  return uris;
}

std::vector<std::string> AllowedScopes(const storage::Application& app) {
  std::vector<std::string> scopes = DefaultScopes();
  for (const auto& [scope, targets] : app.access_scopes) {
    if (!Contains(scopes, scope)) scopes.push_back(scope);
  }
  return scopes;
}

StatusOr<std::vector<std::string>> NarrowScopes(const std::vector<std::string>& requested,
                                                const std::vector<std::string>& ceiling) {
  if (requested.empty()) return ceiling;
  std::vector<std::string> granted;
  for (const std::string& s : requested) {
    if (!Contains(ceiling, s)) {
      return InvalidScope("Scope '" + s + "' is not allowed: the request may only narrow to " +
                          "scopes the application and this grant permit");
    }
    if (!Contains(granted, s)) granted.push_back(s);
  }
  return granted;
}

}  // namespace ts::oauth
