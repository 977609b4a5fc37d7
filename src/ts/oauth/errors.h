// File: errors.h
// The modeled errors of the sso-oidc service (docs/protocol.md §2.1) and the generic AWS auth
// errors (§3.4), and the one function that turns a Status into the HTTP response SDKs expect
// (§2.5).
#pragma once

#include <string_view>

#include "ts/common/status.h"
#include "ts/http/message.h"

namespace ts::oauth {

// Constructors for the modeled sso-oidc exceptions. The message becomes `error_description`.
Status InvalidRequest(std::string_view message);        // 400 invalid_request
Status InvalidClient(std::string_view message);         // 401 invalid_client
Status InvalidGrant(std::string_view message);          // 400 invalid_grant
Status UnauthorizedClient(std::string_view message);    // 400 unauthorized_client
Status UnsupportedGrantType(std::string_view message);  // 400 unsupported_grant_type
Status InvalidScope(std::string_view message);          // 400 invalid_scope
Status AccessDenied(std::string_view message);          // 400 access_denied
// RegisterClient, StartDeviceAuthorization and CreateToken (docs/design/public-clients.md).
Status InvalidClientMetadata(std::string_view message);  // 400 invalid_client_metadata
Status InvalidRedirectUri(std::string_view message);     // 400 invalid_redirect_uri
Status SlowDown(std::string_view message);               // 400 slow_down
Status AuthorizationPending(std::string_view message);   // 400 authorization_pending
Status ExpiredToken(std::string_view message);           // 400 expired_token
// 400 InvalidRequestRegionException: a client (or token) of `region`, which this server does
// not serve. ToErrorResponse adds the members `region` and `endpoint`
// (https://oidc.<region>.amazonaws.com, the endpoint that serves it).
Status InvalidRequestRegion(std::string_view region);
// The region an InvalidRequestRegion status names ("" for any other status).
std::string_view RegionOfError(const Status& status);

// For a store lookup whose NotFound is the client's mistake: NotFound becomes
// `client_error(message)`; success and every other failure (the store's own) pass through.
// Lazy, so the hot path builds no error it does not return.
template <typename T>
StatusOr<T> NotFoundAs(StatusOr<T> found, Status (*client_error)(std::string_view),
                       std::string_view message) {
  if (!found.ok() && found.status().code() == StatusCode::kNotFound) return client_error(message);
  return found;
}

// Builds the error response for `status`:
// - a modeled sso-oidc shape: its status code, `x-amzn-ErrorType: <Shape>`, body
//   {"error": <oauth code>, "error_description": <message>, "message": <message>};
// - a generic AWS auth shape (SigV4 failures): 403 (or as listed), body {"message": ...};
// - anything without a shape: 500 InternalServerException with a generic description (the cause
//   is for the log, never the client).
http::Response ToErrorResponse(const Status& status);

// The same failure for the RFC 6749 form front end of /token (standard OAuth clients): RFC 6749
// §5.2, the shape's status (401 invalid_client with `WWW-Authenticate: Basic`, RFC 9110 §11.6.1),
// body {"error", "error_description"}, Cache-Control: no-store. Unshaped failures are 500
// server_error with a generic description.
http::Response ToOAuthErrorResponse(const Status& status);

// Status code and OAuth `error` value for a shape name; {500, "server_error"} when unknown.
struct ErrorMapping {
  int http_status;
  std::string_view oauth_error;
};
ErrorMapping MapErrorType(std::string_view error_type);

}  // namespace ts::oauth
