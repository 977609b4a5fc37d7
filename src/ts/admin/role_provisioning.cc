#include "ts/admin/role_provisioning.h"

#include <boost/json.hpp>

#include "ts/admin/managed_policies.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"

namespace ts::admin {
namespace {

namespace json = boost::json;

// What a boundary Tessera cannot evaluate becomes: nothing is allowed (fail closed).
constexpr std::string_view kDenyAll =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]})";

// Appends the statements of a stored policy document (or bare statement) to `out`.
void AppendStatements(std::string_view document, json::array& out) {
  boost::system::error_code ec;
  json::value v = json::parse(document, ec);
  if (ec || !v.is_object()) return;
  const json::value* statement = v.get_object().if_contains("Statement");
  if (statement == nullptr) {
    out.push_back(v);  // a bare statement
  } else if (statement->is_array()) {
    for (const json::value& s : statement->get_array()) out.push_back(s);
  } else {
    out.push_back(*statement);
  }
}

}  // namespace

std::string NewReservedRoleName(std::string_view permission_set_name) {
  return "AWSReservedSSO_" + std::string(permission_set_name) + "_" +
         crypto::HexEncode(crypto::RandomBytes(8));
}

std::string RoleIdentityPolicy(const storage::PermissionSet& permission_set) {
  json::array statements;
  if (!permission_set.inline_policy_json.empty()) {
    AppendStatements(permission_set.inline_policy_json, statements);
  }
  for (const std::string& arn : permission_set.managed_policy_arns) {
    if (auto shipped = ShippedManagedPolicy(arn)) AppendStatements(*shipped, statements);
  }
  if (statements.empty()) return "";
  return json::serialize(
      json::object{{"Version", "2012-10-17"}, {"Statement", std::move(statements)}});
}

std::string RolePermissionsBoundary(const storage::PermissionSet& permission_set) {
  if (permission_set.permissions_boundary_json.empty()) return "";
  boost::system::error_code ec;
  json::value v = json::parse(permission_set.permissions_boundary_json, ec);
  if (!ec && v.is_object()) {
    if (const json::value* arn = v.get_object().if_contains("ManagedPolicyArn");
        arn != nullptr && arn->is_string()) {
      if (auto shipped = ShippedManagedPolicy(arn->get_string())) return std::string(*shipped);
    }
  }
  // A customer managed policy reference, or an AWS managed policy Tessera does not ship.
  return std::string(kDenyAll);
}

storage::RoleProvisioning ProvisioningFor(const storage::PermissionSet& permission_set,
                                          const std::string& account_id,
                                          const std::optional<storage::ProvisionedRole>& existing,
                                          int64_t now) {
  storage::RoleProvisioning p;
  p.role.account_id = account_id;
  p.role.permission_set_arn = permission_set.arn;
  p.role.role_name = existing ? existing->role_name : NewReservedRoleName(permission_set.name);
  p.role.permission_set_version = permission_set.updated_at;
  p.role.provisioned_at = now;
  p.principal.arn = "arn:aws:iam::" + account_id + ":role/" + p.role.role_name;
  p.principal.account_id = account_id;
  p.principal.identity_policy_json = RoleIdentityPolicy(permission_set);
  p.principal.permissions_boundary_json = RolePermissionsBoundary(permission_set);
  p.principal.created_at = now;
  return p;
}

}  // namespace ts::admin
