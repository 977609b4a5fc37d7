#include "ts/storage/row_codec.h"

#include "ts/common/status_macros.h"

namespace ts::storage::internal {

StatusOr<std::string> JoinList(const std::vector<std::string>& items, std::string_view what) {
  std::string joined;
  for (const std::string& item : items) {
    if (item.empty() || item.find_first_of(" \t\r\n\f\v") != std::string::npos) {
      return InvalidArgumentError(std::string(what) + " entries must be non-empty and contain no " +
                                  "whitespace: \"" + item + "\"");
    }
    if (!joined.empty()) joined += ' ';
    joined += item;
  }
  return joined;
}

std::vector<std::string> SplitList(std::string_view joined) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start < joined.size()) {
    size_t end = joined.find(' ', start);
    if (end == std::string_view::npos) end = joined.size();
    if (end > start) items.emplace_back(joined.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

StatusOr<FamilyScopes> ValidateFamily(const TokenFamily& family,
                                      const std::optional<RefreshToken>& first_refresh) {
  FamilyScopes scopes;
  TS_ASSIGN_OR_RETURN(scopes.family, JoinList(family.scopes, "scope"));
  if (first_refresh.has_value()) {
    if (first_refresh->family_id != family.family_id) {
      return InvalidArgumentError("first refresh token's family_id " + first_refresh->family_id +
                                  " is not the family's " + family.family_id);
    }
    TS_ASSIGN_OR_RETURN(scopes.refresh, JoinList(first_refresh->scopes, "scope"));
  }
  return scopes;
}

std::string RolePrincipalArn(std::string_view account_id, std::string_view role_name) {
  std::string arn = "arn:aws:iam::";
  arn.append(account_id).append(":role/").append(role_name);
  return arn;
}

StatusOr<std::pair<std::string, std::string>> SplitPageKey(const std::string& after) {
  if (after.empty()) return std::make_pair(std::string(), std::string());
  const size_t slash = after.find('/');
  if (slash == std::string::npos) return InvalidArgumentError("malformed page key: " + after);
  return std::make_pair(after.substr(0, slash), after.substr(slash + 1));
}

Status ValidatePrincipalType(const std::string& principal_type) {
  if (principal_type == "USER" || principal_type == "GROUP") return OkStatus();
  return InvalidArgumentError("principal_type must be USER or GROUP, not \"" + principal_type +
                              "\"");
}

Status ValidateRoleCredential(const AccessKey& key, const RoleCredential& link) {
  if (key.access_key_id.empty()) return InvalidArgumentError("access_key_id must not be empty");
  if (link.access_key_id != key.access_key_id) {
    return InvalidArgumentError("role credential link names access key " + link.access_key_id +
                                ", not " + key.access_key_id);
  }
  return OkStatus();
}

Status RoleNoLongerHeld() {
  return FailedPreconditionError(
      "the user no longer holds the role, or its token or sign-in session was revoked: no "
      "credential issued");
}

}  // namespace ts::storage::internal
