// File: managed_policies.h
// The AWS managed policies Tessera ships, with their documented meaning, for permission sets
// that attach them (AttachManagedPolicyToPermissionSet) or use one as permissions boundary.
// Tessera cannot fetch AWS's policies: any other AWS managed ARN is stored and listed but grants
// nothing, and as a boundary allows nothing (docs/design/access-portal.md).
#pragma once

#include <optional>
#include <string_view>

namespace ts::admin {

// The policy document for an AWS managed policy ARN (arn:aws:iam::aws:policy/AdministratorAccess,
// .../PowerUserAccess, .../ReadOnlyAccess, .../job-function/ViewOnlyAccess), nullopt for any
// other.
std::optional<std::string_view> ShippedManagedPolicy(std::string_view arn);

// The policy's name: the ARN's last path segment ("ViewOnlyAccess").
std::string_view ManagedPolicyName(std::string_view arn);

}  // namespace ts::admin
