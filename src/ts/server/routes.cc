// File: routes.cc
// The route table (routes.h) and its lookup.
#include "ts/server/routes.h"

#include <optional>

namespace ts::server {
namespace {

// RFC 9110 §9.3.2: HEAD answers as GET does; the transport sends the headers (Content-Length
// included) without the body.
constexpr uint8_t kGetOrHead = kGet | kHead;
// Public documents, readable by web pages of any origin.
constexpr uint8_t kPublicRead = kGetOrHead | kOptions;

constexpr Route kRoutes[] = {
    // CreateTokenWithIAM: POST /token?aws_iam=t (or SigV4-signed); CreateToken: POST /token.
    {kAnyMethod, PathKind::kExact, "/token", Endpoint::kToken, Auth::kSigV4OrClientSecret},
    // Registered clients (docs/design/public-clients.md), unsigned rest-json.
    {kPost, PathKind::kExact, "/client/register", Endpoint::kRegisterClient, Auth::kNone},
    {kPost, PathKind::kExact, "/device_authorization", Endpoint::kDeviceAuthorization,
     Auth::kClientSecret},
    // Resource-server operations: SigV4-signed JSON like CreateTokenWithIAM, POST <path>?aws_iam=t;
    // /introspect and /revoke also take registered clients' RFC 7662 / RFC 7009 form posts.
    {kAnyMethod, PathKind::kExact, "/introspect", Endpoint::kIntrospect,
     Auth::kSigV4OrClientSecret},
    {kAnyMethod, PathKind::kExact, "/revoke", Endpoint::kRevoke, Auth::kSigV4OrClientSecret},
    {kAnyMethod, PathKind::kExact, "/identity-context", Endpoint::kIdentityContext,
     Auth::kSigV4SsoOauth},
    // The admin plane (awsJson 1.1): POST / with X-Amz-Target naming the operation.
    {kPost, PathKind::kExact, "/", Endpoint::kAdmin, Auth::kSigV4Admin},
    // Browser sign-in.
    {kGet, PathKind::kExact, "/authorize", Endpoint::kAuthorizeGet, Auth::kBrowser},
    {kPost, PathKind::kExact, "/authorize", Endpoint::kAuthorizePost, Auth::kBrowser},
    // The browser's sign-out form, or the access portal's Logout (the bearer header says which).
    {kPost, PathKind::kExact, "/logout", Endpoint::kLogout, Auth::kBrowserOrSsoBearer},
    // RFC 8628 §3.3: where StartDeviceAuthorization's verificationUri points.
    {kGet, PathKind::kExact, "/device", Endpoint::kDeviceGet, Auth::kBrowser},
    {kPost, PathKind::kExact, "/device", Endpoint::kDevicePost, Auth::kBrowser},
    // The access portal's start page (web/start_page.h). The start URL clients are configured
    // with, https://<identity store id>.awsapps.com/start, is only compared, never fetched.
    {kGet, PathKind::kExact, "/start", Endpoint::kStartGet, Auth::kBrowser},
    {kPost, PathKind::kExact, "/start", Endpoint::kStartPost, Auth::kBrowser},
    // OpenID Connect UserInfo, for browser apps too.
    {kGet | kPost | kOptions, PathKind::kExact, "/userinfo", Endpoint::kUserInfo, Auth::kBearer,
     true},
    // The access portal API (rest-json, unsigned; portal/portal_api.h).
    {kGet, PathKind::kExact, "/federation/credentials", Endpoint::kPortalCredentials,
     Auth::kSsoBearer},
    {kGet, PathKind::kExact, "/assignment/accounts", Endpoint::kPortalAccounts, Auth::kSsoBearer},
    {kGet, PathKind::kExact, "/assignment/roles", Endpoint::kPortalRoles, Auth::kSsoBearer},
    // Public documents.
    {kPublicRead, PathKind::kUnderInstance, "/.well-known/openid-configuration",
     Endpoint::kDiscovery, Auth::kNone, true},
    {kPublicRead, PathKind::kBeforeInstance, "/.well-known/oauth-authorization-server",
     Endpoint::kDiscovery, Auth::kNone, true},
    {kPublicRead, PathKind::kUnderInstance, "/.well-known/jwks.json", Endpoint::kJwks, Auth::kNone,
     true},
    {kPublicRead, PathKind::kExact, "/.well-known/jwks.json", Endpoint::kJwks, Auth::kNone, true},
    {kGetOrHead, PathKind::kExact, "/healthz", Endpoint::kHealthz, Auth::kNone},
};

// Whether `path` is `route_path`, for kUnderInstance "/" + instance_id + route_path, for
// kBeforeInstance route_path + "/" + instance_id.
bool PathMatches(const Route& route, std::string_view path, std::string_view instance_id) {
  if (path.size() !=
      route.path.size() + (route.path_kind == PathKind::kExact ? 0 : 1 + instance_id.size())) {
    return false;
  }
  switch (route.path_kind) {
    case PathKind::kExact:
      return path == route.path;
    case PathKind::kUnderInstance:
      return path[0] == '/' && path.substr(1, instance_id.size()) == instance_id &&
             path.substr(1 + instance_id.size()) == route.path;
    case PathKind::kBeforeInstance:
      return path.starts_with(route.path) && path[route.path.size()] == '/' &&
             path.substr(route.path.size() + 1) == instance_id;
  }
  return false;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whether `text`, percent-decoded as a form value ('+' is a space), is `want`; nullopt when it
// is not valid percent-encoding (http::PercentDecode's rules).
std::optional<bool> FormDecodesTo(std::string_view text, std::string_view want) {
  bool same = true;
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i, ++n) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexDigit(text[i + 1]);
      const int lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>((hi << 4) | lo);
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    same = same && n < want.size() && want[n] == c;
  }
  return same && n == want.size();
}

}  // namespace

std::span<const Route> Routes() { return kRoutes; }

uint8_t MethodBit(std::string_view method) {
  if (method == "GET") return kGet;
  if (method == "HEAD") return kHead;
  if (method == "POST") return kPost;
  if (method == "OPTIONS") return kOptions;
  return 0;
}

const Route* FindRoute(std::string_view method, std::string_view path,
                       std::string_view instance_id) {
  const uint8_t bit = MethodBit(method);
  for (const Route& route : kRoutes) {
    // kAnyMethod matches methods without a bit too.
    if ((route.methods == kAnyMethod || (route.methods & bit) != 0) &&
        PathMatches(route, path, instance_id)) {
      return &route;
    }
  }
  return nullptr;
}

void AllowAnyOrigin(http::Response& r) {
  r.SetHeader("Access-Control-Allow-Origin", "*");
  if (r.FindHeader("WWW-Authenticate").has_value()) {
    r.SetHeader("Access-Control-Expose-Headers", "WWW-Authenticate");
  }
}

bool HasAwsIamQuery(std::string_view query) {
  // http::ParseForm's answer without its copies (this runs for every token request): any pair
  // aws_iam=t once decoded, and false when any pair is not valid percent-encoding.
  bool found = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::optional<bool> key = FormDecodesTo(pair.substr(0, eq), "aws_iam");
    const std::optional<bool> value =
        FormDecodesTo(eq == std::string_view::npos ? "" : pair.substr(eq + 1), "t");
    if (!key || !value) return false;
    found = found || (*key && *value);
  }
  return found;
}

bool IsIamTokenRequest(const http::Request& request) {
  if (HasAwsIamQuery(request.Query())) return true;
  const std::string_view authorization = request.FindHeader("authorization").value_or("");
  return authorization.starts_with("AWS4-");
}

}  // namespace ts::server
