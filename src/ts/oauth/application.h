// File: application.h
// What the OAuth layer reads from an application's configuration (docs/protocol.md §5.1, §5.2):
// which grants it has, its redirect URIs, the scopes it may grant, and scope narrowing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::oauth {

inline constexpr std::string_view kGrantAuthorizationCode = "authorization_code";
inline constexpr std::string_view kGrantRefreshToken = "refresh_token";
inline constexpr std::string_view kGrantJwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
inline constexpr std::string_view kGrantTokenExchange =
    "urn:ietf:params:oauth:grant-type:token-exchange";
// RFC 8628: what registered clients poll CreateToken with (public-clients.md).
inline constexpr std::string_view kGrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code";
inline constexpr std::string_view kTokenTypeAccess =
    "urn:ietf:params:oauth:token-type:access_token";
inline constexpr std::string_view kTokenTypeRefresh =
    "urn:ietf:params:oauth:token-type:refresh_token";

// The scopes every application may grant besides its access scopes (model doc of `scope`).
const std::vector<std::string>& DefaultScopes();

bool HasGrant(const storage::Application& app, std::string_view grant_type);

// RedirectUris of the AuthorizationCode grant; empty if the grant is absent or malformed.
std::vector<std::string> RedirectUris(const storage::Application& app);

// openid, aws, sts:identity_context, then the application's access scopes.
std::vector<std::string> AllowedScopes(const storage::Application& app);

// The scopes to grant: `ceiling` when nothing is requested, else the requested ones (deduplicated,
// in request order), each of which must be in `ceiling`; InvalidScopeException naming the first
// that is not.
StatusOr<std::vector<std::string>> NarrowScopes(const std::vector<std::string>& requested,
                                                const std::vector<std::string>& ceiling);

bool Contains(const std::vector<std::string>& list, std::string_view value);

}  // namespace ts::oauth
