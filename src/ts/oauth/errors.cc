#include "ts/oauth/errors.h"

#include <array>

#include "ts/common/json_writer.h"

namespace ts::oauth {
namespace {

struct Row {
  std::string_view type;
  int http_status;
  std::string_view oauth_error;  // "" for the generic AWS shapes, which carry only a message
};

// PROTOCOL.md §2.1 (modeled) and §3.4 (generic SigV4 failures, restJson convention: 403).
constexpr std::array kRows{
    Row{"AccessDeniedException", 400, "access_denied"},
    Row{"AuthorizationPendingException", 400, "authorization_pending"},
    Row{"ExpiredTokenException", 400, "expired_token"},
    Row{"InternalServerException", 500, "server_error"},
    Row{"InvalidClientException", 401, "invalid_client"},
    Row{"InvalidClientMetadataException", 400, "invalid_client_metadata"},
    Row{"InvalidGrantException", 400, "invalid_grant"},
    Row{"InvalidRedirectUriException", 400, "invalid_redirect_uri"},
    Row{"InvalidRequestException", 400, "invalid_request"},
    Row{"InvalidRequestRegionException", 400, "invalid_request"},
    Row{"InvalidScopeException", 400, "invalid_scope"},
    Row{"SlowDownException", 400, "slow_down"},
    Row{"UnauthorizedClientException", 400, "unauthorized_client"},
    Row{"UnsupportedGrantTypeException", 400, "unsupported_grant_type"},
    Row{"MissingAuthenticationTokenException", 403, ""},
    Row{"IncompleteSignatureException", 403, ""},
    Row{"UnrecognizedClientException", 403, ""},
    Row{"InvalidSignatureException", 403, ""},
    Row{"UnknownOperationException", 404, ""},
    Row{"SerializationException", 400, ""},
};

const Row* FindRow(std::string_view type) {
  for (const Row& row : kRows) {
    if (row.type == type) return &row;
  }
  return nullptr;
}

}  // namespace

Status InvalidRequest(std::string_view m) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidRequestException", m);
}
Status InvalidClient(std::string_view m) {
  return ApiError(StatusCode::kUnauthenticated, "InvalidClientException", m);
}
Status InvalidGrant(std::string_view m) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidGrantException", m);
}
Status UnauthorizedClient(std::string_view m) {
  return ApiError(StatusCode::kPermissionDenied, "UnauthorizedClientException", m);
}
Status UnsupportedGrantType(std::string_view m) {
  return ApiError(StatusCode::kInvalidArgument, "UnsupportedGrantTypeException", m);
}
Status InvalidScope(std::string_view m) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidScopeException", m);
}
Status AccessDenied(std::string_view m) {
  return ApiError(StatusCode::kPermissionDenied, "AccessDeniedException", m);
}

ErrorMapping MapErrorType(std::string_view error_type) {
  const Row* row = FindRow(error_type);
  if (row == nullptr) return {500, "server_error"};
  return {row->http_status, row->oauth_error};
}

http::Response ToErrorResponse(const Status& status) {
  std::string_view type = status.error_type();
  const Row* row = FindRow(type);
  std::string_view message = status.message();
  if (row == nullptr) {
    // No modeled shape: an internal failure. Its cause stays in the log.
    row = FindRow("InternalServerException");
    type = row->type;
    message = "An internal error occurred. Retry the request.";
  }
  http::Response response;
  response.status = row->http_status;
  // Expired SigV4 session credentials share the modeled shape's name but are an authentication
  // failure: 403, as AWS's other restJson services answer (PROTOCOL.md §2.5, §3.4).
  if (type == "ExpiredTokenException" && status.code() == StatusCode::kUnauthenticated) {
    response.status = 403;
  }
  // AWS appends the Coral namespace; every SDK strips it (PROTOCOL.md §2.2).
  response.SetHeader(
      "x-amzn-ErrorType",
      std::string(type) + ":http://internal.amazon.com/coral/com.amazonaws.sso.oidc/");
  response.SetHeader("Content-Type", "application/json");
  JsonWriter body;
  body.BeginObject();
  if (!row->oauth_error.empty()) {
    body.Member("error", row->oauth_error);
    body.Member("error_description", message);
  }
  // `message` is not sent by AWS but lets JS v3 and older botocore show the text (§2.5).
  body.Member("message", message);
  body.EndObject();
  response.body = body.Take();
  return response;
}

}  // namespace ts::oauth
