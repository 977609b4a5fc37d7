// File: dynamic_registration.cc
// RFC 7591 requests and answers around RegisterClient (dynamic_registration.h).
#include "ts/oauth/dynamic_registration.h"

#include <boost/json.hpp>

#include "ts/common/json_writer.h"
#include "ts/oauth/errors.h"

namespace ts::oauth {
namespace {

namespace json = boost::json;

// RFC 7591 §2 and the IANA "OAuth Dynamic Client Registration Metadata" members clients send.
constexpr std::string_view kRfc7591Members[] = {"redirect_uris",
                                                "token_endpoint_auth_method",
                                                "grant_types",
                                                "response_types",
                                                "client_name",
                                                "client_uri",
                                                "logo_uri",
                                                "scope",
                                                "contacts",
                                                "tos_uri",
                                                "policy_uri",
                                                "jwks_uri",
                                                "jwks",
                                                "software_id",
                                                "software_version",
                                                "software_statement"};
// RegisterClient's members (botocore sso-oidc RegisterClientRequest).
constexpr std::string_view kRegisterClientMembers[] = {"clientName",
                                                       "clientType",
                                                       "scopes",
                                                       "redirectUris",
                                                       "grantTypes",
                                                       "issuerUrl",
                                                       "entitledApplicationArn"};

Status InvalidMetadata(std::string_view message) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidClientMetadataException", message);
}

StatusOr<std::vector<std::string>> StringList(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) return InvalidMetadata(std::string(name) + " must be an array of strings");
  for (const json::value& e : v->as_array()) {
    if (!e.is_string()) {
      return InvalidMetadata(std::string(name) + " must be an array of strings");
    }
    out.emplace_back(e.as_string());
  }
  return out;
}

StatusOr<std::string> String(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return InvalidMetadata(std::string(name) + " must be a string");
  return std::string(v->as_string());
}

std::vector<std::string> SplitScope(std::string_view scope) {
  std::vector<std::string> out;
  while (!scope.empty()) {
    const size_t space = scope.find(' ');
    if (space != 0) out.emplace_back(scope.substr(0, space));
    if (space == std::string_view::npos) break;
    scope.remove_prefix(space + 1);
  }
  return out;
}

}  // namespace

bool IsRfc7591Request(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return false;
  const json::object& o = doc.as_object();
  for (std::string_view m : kRegisterClientMembers) {
    if (o.contains(m)) return false;
  }
  for (std::string_view m : kRfc7591Members) {
    if (o.contains(m)) return true;
  }
  return false;
}

StatusOr<Rfc7591Request> ParseRfc7591Request(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return InvalidRequest("The body must be a JSON object");
  const json::object& o = doc.as_object();
  Rfc7591Request req;
  auto redirect_uris = StringList(o, "redirect_uris");
  if (!redirect_uris.ok()) return redirect_uris.status();
  req.redirect_uris = std::move(*redirect_uris);
  auto grant_types = StringList(o, "grant_types");
  if (!grant_types.ok()) return grant_types.status();
  req.grant_types = std::move(*grant_types);
  if (req.grant_types.empty()) req.grant_types = {"authorization_code"};  // RFC 7591 §2
  auto response_types = StringList(o, "response_types");
  if (!response_types.ok()) return response_types.status();
  for (const std::string& type : *response_types) {
    if (type != "code") {
      return InvalidMetadata("response_types: only \"code\" is supported, not \"" + type + "\"");
    }
  }
  auto name = String(o, "client_name");
  if (!name.ok()) return name.status();
  req.client_name = name->empty() ? "RFC 7591 client" : std::move(*name);
  auto scope = String(o, "scope");
  if (!scope.ok()) return scope.status();
  req.scope = std::move(*scope);
  auto method = String(o, "token_endpoint_auth_method");
  if (!method.ok()) return method.status();
  req.token_endpoint_auth_method = method->empty() ? "client_secret_basic" : std::move(*method);
  if (req.token_endpoint_auth_method != "client_secret_basic" &&
      req.token_endpoint_auth_method != "client_secret_post") {
    return InvalidMetadata(
        "token_endpoint_auth_method: every client is issued a secret; use client_secret_basic "
        "or client_secret_post, not \"" +
        req.token_endpoint_auth_method + "\"");
  }
  JsonWriter w;
  w.BeginObject();
  w.Member("clientName", req.client_name);
  w.Member("clientType", "public");
  w.Member("grantTypes", req.grant_types);
  if (!req.redirect_uris.empty()) w.Member("redirectUris", req.redirect_uris);
  if (!req.scope.empty()) w.Member("scopes", SplitScope(req.scope));
  w.EndObject();
  req.register_client_json = w.Take();
  return req;
}

StatusOr<std::string> Rfc7591Response(std::string_view register_client_response,
                                      const Rfc7591Request& request) {
  boost::system::error_code ec;
  json::value doc = json::parse(register_client_response, ec);
  if (ec || !doc.is_object()) {
    return InternalError("RegisterClient answered something other than a JSON object");
  }
  const json::object& o = doc.as_object();
  const json::value* id = o.if_contains("clientId");
  const json::value* secret = o.if_contains("clientSecret");
  const json::value* issued = o.if_contains("clientIdIssuedAt");
  const json::value* expires = o.if_contains("clientSecretExpiresAt");
  if (id == nullptr || !id->is_string() || secret == nullptr || !secret->is_string() ||
      issued == nullptr || !issued->is_int64() || expires == nullptr || !expires->is_int64()) {
    return InternalError("RegisterClient's answer lacks the client's id, secret or times");
  }
  JsonWriter w;
  w.BeginObject();
  w.Member("client_id", std::string_view(id->as_string()));
  w.Member("client_secret", std::string_view(secret->as_string()));
  w.Member("client_id_issued_at", issued->as_int64());
  w.Member("client_secret_expires_at", expires->as_int64());
  w.Member("client_name", request.client_name);
  if (!request.redirect_uris.empty()) w.Member("redirect_uris", request.redirect_uris);
  w.Member("grant_types", request.grant_types);
  w.Member("response_types", std::vector<std::string>{"code"});
  w.Member("token_endpoint_auth_method", request.token_endpoint_auth_method);
  if (!request.scope.empty()) w.Member("scope", request.scope);
  w.EndObject();
  return w.Take();
}

}  // namespace ts::oauth
