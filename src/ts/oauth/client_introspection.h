// File: client_introspection.h
// RFC 7662 token introspection and RFC 7009 token revocation for registered clients: form posts
// to /introspect and /revoke without `aws_iam=t` (the SigV4-signed JSON operations of
// introspection.h keep that query), the client authenticating with its secret as at the token
// endpoint: HTTP Basic (client_secret_basic) or client_id and client_secret in the body
// (client_secret_post), checked by the shared ClientAuthenticator (client_auth.h).
//
// Parameters: `token` (required), `token_type_hint` (accepted and not needed: a token's form
// says what it is). A client learns about and revokes only its own tokens: any other token is
// {"active": false} and a revocation that changes nothing (docs/design/public-clients.md).
// Errors are RFC 6749 §5.2's (ToOAuthErrorResponse): 401 invalid_client with
// `WWW-Authenticate: Basic`, 400 invalid_request.
//
// Thread-safe.
#pragma once

#include <memory>

#include "ts/common/status.h"
#include "ts/http/message.h"

namespace ts::oauth {

class ClientAuthenticator;
class TokenIntrospection;

class ClientIntrospection {
 public:
  // `introspection` must outlive this object.
  ClientIntrospection(std::shared_ptr<ClientAuthenticator> authenticator,
                      const TokenIntrospection* introspection);

  // POST /introspect: 200 with the RFC 7662 §2.2 JSON, or the error. A store failure is a 500
  // whose cause is set in `*internal` for the log.
  http::Response Introspect(const http::Request& request, Status* internal) const;
  // POST /revoke: 200 with an empty body (RFC 7009 §2.2), or the error.
  http::Response Revoke(const http::Request& request, Status* internal) const;

  struct Parsed;  // defined in the .cc

 private:
  StatusOr<Parsed> Admit(const http::Request& request) const;

  std::shared_ptr<ClientAuthenticator> authenticator_;
  const TokenIntrospection* introspection_;
};

}  // namespace ts::oauth
