// File: errors.h
// The modeled errors of the sso-oidc service (PROTOCOL.md §2.1) and the generic AWS auth errors
// (§3.4), and the one function that turns a Status into the HTTP response SDKs expect (§2.5).
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

// Status code and OAuth `error` value for a shape name; {500, "server_error"} when unknown.
struct ErrorMapping {
  int http_status;
  std::string_view oauth_error;
};
ErrorMapping MapErrorType(std::string_view error_type);

}  // namespace ts::oauth
