// File: claims.h
// Matching a trusted token issuer's JWT to an identity-store user (docs/protocol.md §5.1, §6.2):
// the claim at ClaimAttributePath is compared with the user attribute at
// IdentityStoreAttributePath. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::tti {

// OK if `path` fits the model's ClaimAttributePath pattern \p{L}+(?:(\.|\_)\p{L}+){0,2}
// ("email", "preferred_username", "ext.login"). InvalidArgument naming the path otherwise.
// Non-ASCII bytes count as letters (the pattern's \p{L}).
Status ValidateClaimPath(std::string_view path);

// OK if `path` fits IdentityStoreAttributePath \p{L}+(?:\.\p{L}+){0,2} ("userName",
// "emails.value", "externalIds.id", "name.givenName", "id"). InvalidArgument otherwise.
Status ValidateAttributePath(std::string_view path);

// The string value of the claim at `path` in the JWT claims `payload_json`: dots step into
// nested objects, underscores are part of names. Errors (InvalidArgument): "no claim '<path>'"
// when absent, "claim '<path>' is not a string" when it is another JSON type (arrays included:
// one value must name one user), also for a payload that is not a JSON object.
StatusOr<std::string> ClaimAtPath(std::string_view payload_json, std::string_view path);

// True if `user` has `value` at the identity-store attribute `path`. "id" is the UserId,
// "userName" the user name, "displayName" the display name; any other path walks the user's
// identitystore document (camelCase path segments name its PascalCase members, and a list such
// as Emails matches if any element does). userName and emails.value compare ASCII
// case-insensitively (the identity store treats them so); everything else exactly.
bool UserHasAttribute(const storage::User& user, std::string_view path, std::string_view value);

}  // namespace ts::tti
