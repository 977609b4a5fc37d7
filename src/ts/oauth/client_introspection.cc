// File: client_introspection.cc
// RFC 7662 introspection and RFC 7009 revocation for registered clients (client_introspection.h).
#include "ts/oauth/client_introspection.h"

#include <optional>
#include <string>
#include <string_view>

#include "ts/common/ascii.h"
#include "ts/common/status_macros.h"
#include "ts/oauth/client_auth.h"
#include "ts/oauth/errors.h"
#include "ts/oauth/introspection.h"

namespace ts::oauth {

struct ClientIntrospection::Parsed {
  std::string client_id;  // authenticated
  std::string token;
};

namespace {

http::Response Answer(std::string body) {
  http::Response r;
  r.status = 200;
  r.body = std::move(body);
  if (!r.body.empty()) r.SetHeader("Content-Type", "application/json");
  // RFC 7662 §2.2 / RFC 6749 §5.1: answers about tokens must not be cached.
  r.SetHeader("Cache-Control", "no-store");
  r.SetHeader("Pragma", "no-cache");
  return r;
}

http::Response Failure(const Status& status, Status* internal) {
  if (status.error_type().empty()) *internal = status;
  return ToOAuthErrorResponse(status);
}

}  // namespace

ClientIntrospection::ClientIntrospection(std::shared_ptr<ClientAuthenticator> authenticator,
                                         const TokenIntrospection* introspection)
    : authenticator_(std::move(authenticator)), introspection_(introspection) {}

StatusOr<ClientIntrospection::Parsed> ClientIntrospection::Admit(
    const http::Request& request) const {
  // RFC 7662 §2.1 and RFC 7009 §2.1: POST, application/x-www-form-urlencoded.
  const std::string type = AsciiLower(request.FindHeader("content-type").value_or(""));
  if (type != "application/x-www-form-urlencoded" &&
      !type.starts_with("application/x-www-form-urlencoded;")) {
    return InvalidRequest(
        "Send the parameters as application/x-www-form-urlencoded (RFC 7662, RFC 7009); "
        "IAM applications call POST " +
        std::string(request.Path()) + "?aws_iam=t with SigV4");
  }
  auto form = http::ParseForm(request.body);
  if (!form.has_value()) return InvalidRequest("The form body has a malformed %-escape");
  std::optional<std::string> token, hint, client_id, client_secret;
  for (auto& [name, value] : *form) {
    std::optional<std::string>* slot = name == "token"             ? &token
                                       : name == "token_type_hint" ? &hint
                                       : name == "client_id"       ? &client_id
                                       : name == "client_secret"   ? &client_secret
                                                                   : nullptr;
    if (slot == nullptr) continue;  // RFC 6749 §3.2: unknown parameters are ignored
    if (slot->has_value()) return InvalidRequest("Parameter '" + name + "' is repeated");
    *slot = std::move(value);
  }
  if (!token.has_value() || token->empty()) return InvalidRequest("Parameter 'token' is required");
  TS_ASSIGN_OR_RETURN(ClientCredentials credentials,
                      ReadClientCredentials(request.FindHeader("authorization"),
                                            client_id.value_or(""), client_secret.value_or("")));
  TS_ASSIGN_OR_RETURN(auto client,
                      authenticator_->Authenticate(credentials.client_id, credentials.secret));
  return Parsed{client->client_id, std::move(*token)};
}

http::Response ClientIntrospection::Introspect(const http::Request& request,
                                               Status* internal) const {
  auto parsed = Admit(request);
  if (!parsed.ok()) return Failure(parsed.status(), internal);
  auto body = introspection_->IntrospectForClient(parsed->client_id, parsed->token);
  if (!body.ok()) return Failure(body.status(), internal);
  return Answer(std::move(*body));
}

http::Response ClientIntrospection::Revoke(const http::Request& request, Status* internal) const {
  auto parsed = Admit(request);
  if (!parsed.ok()) return Failure(parsed.status(), internal);
  Status revoked = introspection_->RevokeForClient(parsed->client_id, parsed->token);
  if (!revoked.ok()) return Failure(revoked, internal);
  return Answer("");
}

}  // namespace ts::oauth
