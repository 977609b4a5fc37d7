// File: row_codec.h
// How records become rows, shared by every backend so they store the same thing the same way:
// list columns (scopes, AuthorizedTargets) and the checks a token family passes before insert.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

// SQL, in both backends' dialects: whether user `user` is assigned to application `app`,
// directly or through a group (`app` and `user` are SQL expressions: columns or parameters).
// What IsAssigned answers and what a refresh token is read with.
#define TS_USER_ASSIGNED(app, user)                                    \
  "EXISTS (SELECT 1 FROM assignments a WHERE a.application_arn = " app \
  " AND (a.principal_id = " user                                       \
  " OR a.principal_id IN (SELECT group_id FROM "                       \
  "group_memberships WHERE user_id = " user ")))"

namespace ts::storage::internal {

// Scope lists are stored space-joined (RFC 6749 §3.3: scope tokens are %x21 / %x23-5B /
// %x5D-7E, so never empty and never whitespace), which keeps the row flat and the split
// unambiguous. Returns the joined text, or InvalidArgument naming `what` for an entry that is
// empty or contains whitespace.
StatusOr<std::string> JoinList(const std::vector<std::string>& items, std::string_view what);

// The inverse of JoinList ("" is the empty list).
std::vector<std::string> SplitList(std::string_view joined);

// The joined scopes of a family and of its first refresh token.
struct FamilyScopes {
  std::string family;
  std::string refresh;  // "" when there is no first refresh token
};

// Checks a family about to be inserted with its optional first refresh token: scopes must join
// (JoinList) and the token must belong to the family. InvalidArgument otherwise.
StatusOr<FamilyScopes> ValidateFamily(const TokenFamily& family,
                                      const std::optional<RefreshToken>& first_refresh);

// --- the account side (account_store.h) ---

// The IAM principal a provisioned role is stored under: arn:aws:iam::<account>:role/<role name>
// (no path; docs/design/access-portal.md).
std::string RolePrincipalArn(std::string_view account_id, std::string_view role_name);

// How long PurgeExpired keeps an operation status (docs/design/access-portal.md, Choices).
inline constexpr int64_t kOperationStatusRetentionSeconds = 90 * 24 * 3600;

// A two-part page key "<first>/<second>" (account assignments: principal_type/principal_id,
// account_id/permission_set_arn); the first part never holds '/'. "" is the first page: both
// parts empty, before every key. InvalidArgument for a key without '/'.
StatusOr<std::pair<std::string, std::string>> SplitPageKey(const std::string& after);

// The checks every backend makes before writing account rows: principal_type is USER or GROUP,
// a role credential's link names its key. InvalidArgument otherwise.
Status ValidatePrincipalType(const std::string& principal_type);
Status ValidateRoleCredential(const AccessKey& key, const RoleCredential& link);
// IssueRoleCredential's answer when, inside its transaction, the user no longer holds the role
// or the family or session it is issued under was revoked: FailedPrecondition, nothing written.
Status RoleNoLongerHeld();

}  // namespace ts::storage::internal
