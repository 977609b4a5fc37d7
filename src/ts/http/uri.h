// File: uri.h
// Checks on absolute URIs (RFC 3986) that Tessera is configured with. Pure functions, thread-safe.
//
// The redirect URI rules live here, in the lowest module that the admin plane, the bootstrap file
// and /authorize all depend on, so that every way a redirect URI enters applies the same rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ts::http {

// Why `uri` cannot be an OAuth redirection endpoint, or nullopt when it can. Required:
// - an absolute URI (RFC 3986 §4.3) made of URI characters only (§2: unreserved, reserved and
//   %XX escapes; no spaces, quotes, angle brackets, backslashes, controls or non-ASCII);
// - scheme https or http (any case). Custom schemes (javascript:, data:, native-app schemes)
//   are refused: the browser, not an app, receives the code (docs/design/admin-plane.md);
// - an authority with a host (a name of letters, digits, '-', '.', '_', '~', or an IP literal)
//   and an optional port from 1 to 65535; no user information (https://good@evil/ phishing)
//   and no '*': redirect URIs are compared exactly (RFC 9700 §2.1), never as patterns;
// - no fragment (RFC 6749 §3.1.2): the code is appended as a query parameter.
// The reason is a short phrase, e.g. "it has a fragment (RFC 6749 §3.1.2)".
std::optional<std::string> RedirectUriProblem(std::string_view uri);

// Why `uri` cannot be a registered client's redirect URI (sso-oidc RegisterClient, native apps
// per RFC 8252), or nullopt when it can: the same URI rules, except for the schemes:
// - https with any host;
// - http only on a loopback IP literal, 127.0.0.1 or [::1], with any port (RFC 8252 §7.3;
//   "localhost" is not one, §8.3);
// - a private-use scheme in reverse-DNS form, e.g. com.example.app:/callback (RFC 8252 §7.1).
std::optional<std::string> ClientRedirectUriProblem(std::string_view uri);

}  // namespace ts::http
