// File: routes.h
// The server's HTTP surface as one declared table: for every route its method(s), path, the
// endpoint that answers it and how the caller authenticates. Tessera::Handle looks a request up
// here and dispatches on the endpoint; a request no route matches is the 404
// UnknownOperationException "No operation at <method> <path>".
//
// Lookup is a linear scan comparing string_views: no allocation, cheap enough for the token
// endpoint's rate.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "ts/http/message.h"

namespace ts::server {

// What answers a route: Tessera::Handle has one case per endpoint.
enum class Endpoint : uint8_t {
  kToken,                // CreateTokenWithIAM, or CreateToken (JSON or RFC 6749 form)
  kRegisterClient,       // RegisterClient (oauth/client_registration.h)
  kDeviceAuthorization,  // StartDeviceAuthorization (oauth/public_clients.h)
  kIntrospect,           // resource-server operations (docs/resource-servers.md)
  kRevoke,               //
  kIdentityContext,      //
  kAdmin,                // the admin plane (awsJson 1.1), the operation named by X-Amz-Target
  kAuthorizeGet,         // browser sign-in (web/authorize.h)
  kAuthorizePost,        //
  kLogout,               //
  kDeviceGet,            // the device verification page (web/device_page.h)
  kDevicePost,           //
  kStartGet,             // the access portal's start page (web/start_page.h)
  kStartPost,            //
  kDiscovery,            // the instance's OpenID discovery document and RFC 8414 metadata
  kUserInfo,             // OpenID Connect UserInfo (oauth/userinfo.h)
  kPortalCredentials,    // the access portal (portal/portal_api.h): GetRoleCredentials
  kPortalAccounts,       // ListAccounts
  kPortalRoles,          // ListAccountRoles (its Logout shares kLogout's POST /logout)
  kJwks,                 // the published signing keys
  kHealthz,
};

// How the endpoint authenticates its caller. Each endpoint checks it itself, after its own
// checks of method and query (whose errors come first), so this column documents rather than
// enforces.
enum class Auth : uint8_t {
  kSigV4SsoOauth,  // SigV4, signing name sso-oauth
  // /token, /introspect, /revoke: SigV4 (sso-oauth) when the query has aws_iam=t or the request
  // carries a SigV4 Authorization header (CreateTokenWithIAM, the resource-server operations);
  // otherwise a registered client's id and secret (CreateToken; RFC 7662 / RFC 7009 form posts).
  kSigV4OrClientSecret,
  kClientSecret,  // a registered client's clientId and clientSecret in the body
  kSigV4Admin,    // SigV4, signing name sso or identitystore, chosen by X-Amz-Target
  kBrowser,       // the browser session cookie, or none (the sign-in form)
  kBearer,        // an access token this server issued (RFC 6750)
  kSsoBearer,     // the access portal: CreateToken's access token in x-amz-sso_bearer_token
  // POST /logout: the portal's Logout when the request carries x-amz-sso_bearer_token, else the
  // browser's sign-out form (session cookie).
  kBrowserOrSsoBearer,
  kNone,  // public documents
};

// Methods a route answers, as bits. kAnyMethod routes answer every method: their endpoint
// refuses the wrong one with its own modeled error ("Use POST /token").
enum MethodBits : uint8_t {
  kGet = 1,
  kHead = 2,
  kPost = 4,
  kOptions = 8,  // CORS preflight (RFC 9110 §9.3.7), answered by Tessera::Handle for cors routes
  kAnyMethod = 0xff,
};

// kUnderInstance paths follow /<instance id>, known only at start-up; kBeforeInstance paths
// precede it ("/.well-known/oauth-authorization-server" + "/<instance id>", RFC 8414 §3.1).
enum class PathKind : uint8_t { kExact, kUnderInstance, kBeforeInstance };

struct Route {
  uint8_t methods;  // MethodBits
  PathKind path_kind;
  std::string_view path;
  Endpoint endpoint;
  Auth auth;
  // Readable from any web origin: every answer carries Access-Control-Allow-Origin: * and an
  // OPTIONS preflight (the route lists kOptions) is answered without reaching the endpoint.
  // Only for what needs no cookie: public documents and bearer-token endpoints.
  bool cors = false;
};

// Every route, in the order they are matched.
std::span<const Route> Routes();

// The bit of a method the table names, 0 for any other (methods are case-sensitive).
uint8_t MethodBit(std::string_view method);

// The first route matching the method and the path (the request-target before '?'), or null.
// `instance_id` completes the kUnderInstance paths.
const Route* FindRoute(std::string_view method, std::string_view path,
                       std::string_view instance_id);

// What every answer of a cors route carries, errors included (a page's script must be able to
// read why it failed). WWW-Authenticate is not a CORS-safelisted response header.
void AllowAnyOrigin(http::Response& r);

// Whether the query has aws_iam=t (decoded as a form).
bool HasAwsIamQuery(std::string_view query);

// Whether a request to /token, /introspect or /revoke is the SigV4-signed operation
// (CreateTokenWithIAM, IntrospectTokenWithIAM, RevokeTokenWithIAM): ?aws_iam=t, or a SigV4
// Authorization header (which then passes or fails as SigV4). Anything else is a registered
// client's. Dispatch and the request's classification (RequestMetrics::Classify, which the
// access log names too) both ask this, so they cannot disagree.
bool IsIamTokenRequest(const http::Request& request);

}  // namespace ts::server
