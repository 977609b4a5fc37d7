// File: role_provisioning.h
// What a permission set becomes in an account when it is provisioned there: the IAM role
// AWSReservedSSO_<PermissionSetName>_<16 hex> and its principal
// arn:aws:iam::<account>:role/<role name>, whose identity policy is one document holding the
// inline policy's statements and those of the attached AWS managed policies Tessera ships
// (managed_policies.h), and whose permissions boundary is the shipped policy the boundary names,
// or a deny-all when Tessera cannot evaluate it (docs/design/access-portal.md). Used by the
// sso-admin handlers and the bootstrap file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ts/storage/account_store.h"

namespace ts::admin {

// AWSReservedSSO_<permission set name>_<16 random hex>.
std::string NewReservedRoleName(std::string_view permission_set_name);

// The role's identity policy: "" when the permission set grants nothing (no inline policy, no
// shipped managed policy).
std::string RoleIdentityPolicy(const storage::PermissionSet& permission_set);
// The role's permissions boundary: "" when the permission set has none.
std::string RolePermissionsBoundary(const storage::PermissionSet& permission_set);

// The provisioning of `permission_set` to `account_id` at `now`, keeping the role name of
// `existing` when the permission set is provisioned there already.
storage::RoleProvisioning ProvisioningFor(const storage::PermissionSet& permission_set,
                                          const std::string& account_id,
                                          const std::optional<storage::ProvisionedRole>& existing,
                                          int64_t now);

}  // namespace ts::admin
