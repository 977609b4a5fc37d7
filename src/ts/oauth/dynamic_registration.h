// File: dynamic_registration.h
// RFC 7591 dynamic client registration at `POST /client/register`, beside AWS's RegisterClient:
// a body in RFC 7591's snake_case (redirect_uris, grant_types, scope, ...) is translated into
// RegisterClient's request, registered by the same ClientRegistration (same checks, limits and
// errors), and answered in RFC 7591 §3.2.1's shape (201, client_id, client_secret,
// client_id_issued_at, client_secret_expires_at and the registered metadata). A body with any of
// RegisterClient's camelCase members is AWS's (docs/design/public-clients.md).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"

namespace ts::oauth {

// Whether `body` is an RFC 7591 request: a JSON object with one of RFC 7591's metadata members
// and none of RegisterClient's.
bool IsRfc7591Request(std::string_view body);

// An RFC 7591 request as RegisterClient's JSON, and what the answer repeats.
struct Rfc7591Request {
  std::string register_client_json;
  std::string client_name;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;
  std::string scope;  // "" when not asked
  std::string token_endpoint_auth_method;
};

// RFC 7591 §2 defaults: grant_types ["authorization_code"], token_endpoint_auth_method
// client_secret_basic; client_name "RFC 7591 client" when absent (RegisterClient requires one).
// Unknown members are ignored (§2). InvalidRequestException for a body that is not a JSON
// object; InvalidClientMetadataException for a member of the wrong type, response_types other
// than ["code"], or an authentication method other than client_secret_basic or
// client_secret_post (every client gets a secret).
StatusOr<Rfc7591Request> ParseRfc7591Request(std::string_view body);

// The RFC 7591 §3.2.1 body from RegisterClient's answer (clientId, clientSecret,
// clientIdIssuedAt, clientSecretExpiresAt) and the request.
StatusOr<std::string> Rfc7591Response(std::string_view register_client_response,
                                      const Rfc7591Request& request);

}  // namespace ts::oauth
