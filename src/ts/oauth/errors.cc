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

// docs/protocol.md §2.1 (modeled) and §3.4 (generic SigV4 failures, restJson convention: 403).
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

// InvalidRequestRegion's message; RegionOfError reads the region back from between the two.
constexpr std::string_view kRegionPrefix = "The client was registered in region ";
constexpr std::string_view kRegionSuffix = ", which this server does not serve";

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

Status InvalidClientMetadata(std::string_view m) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidClientMetadataException", m);
}
Status InvalidRedirectUri(std::string_view m) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidRedirectUriException", m);
}
Status SlowDown(std::string_view m) {
  return ApiError(StatusCode::kResourceExhausted, "SlowDownException", m);
}
Status AuthorizationPending(std::string_view m) {
  return ApiError(StatusCode::kFailedPrecondition, "AuthorizationPendingException", m);
}
Status ExpiredToken(std::string_view m) {
  // Not kUnauthenticated: that is the SigV4 failure of the same name, answered with 403.
  return ApiError(StatusCode::kInvalidArgument, "ExpiredTokenException", m);
}
Status InvalidRequestRegion(std::string_view region) {
  std::string message(kRegionPrefix);
  message.append(region).append(kRegionSuffix);
  return ApiError(StatusCode::kInvalidArgument, "InvalidRequestRegionException", message);
}

std::string_view RegionOfError(const Status& status) {
  if (status.error_type() != "InvalidRequestRegionException") return {};
  std::string_view m = status.message();
  if (!m.starts_with(kRegionPrefix) || !m.ends_with(kRegionSuffix)) return {};
  m.remove_prefix(kRegionPrefix.size());
  m.remove_suffix(kRegionSuffix.size());
  return m;
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
  // failure: 403, as AWS's other restJson services answer (docs/protocol.md §2.5, §3.4).
  if (type == "ExpiredTokenException" && status.code() == StatusCode::kUnauthenticated) {
    response.status = 403;
  }
  // AWS appends the Coral namespace; every SDK strips it (docs/protocol.md §2.2).
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
  // The modeled members of InvalidRequestRegionException (the sso-oidc service model).
  if (const std::string_view region = RegionOfError(status); !region.empty()) {
    body.Member("endpoint", "https://oidc." + std::string(region) + ".amazonaws.com");
    body.Member("region", region);
  }
  // `message` is not sent by AWS but lets JS v3 and older botocore show the text (§2.5).
  body.Member("message", message);
  body.EndObject();
  response.body = body.Take();
  return response;
}

http::Response ToOAuthErrorResponse(const Status& status) {
  const Row* row = FindRow(status.error_type());
  std::string_view message = status.message();
  if (row == nullptr || row->oauth_error.empty()) {
    row = FindRow("InternalServerException");
    message = "An internal error occurred. Retry the request.";
  }
  http::Response response;
  response.status = row->http_status;
  if (response.status == 401) {
    // RFC 6749 §5.2: invalid_client answers 401 with the schemes the client may use.
    response.SetHeader("WWW-Authenticate", "Basic realm=\"tessera\", charset=\"UTF-8\"");
  }
  response.SetHeader("Content-Type", "application/json");
  response.SetHeader("Cache-Control", "no-store");
  JsonWriter body;
  body.BeginObject();
  body.Member("error", row->oauth_error);
  body.Member("error_description", message);
  body.EndObject();
  response.body = body.Take();
  return response;
}

}  // namespace ts::oauth
