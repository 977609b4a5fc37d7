// File: row_codec.h
// How records become rows, shared by every backend so they store the same thing the same way:
// list columns (scopes, AuthorizedTargets) and the checks a token family passes before insert.
// Stateless; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
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

}  // namespace ts::storage::internal
