#include "ts/oauth/client_registration.h"

#include <algorithm>
#include <boost/json.hpp>
#include <utility>
#include <vector>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/http/uri.h"
#include "ts/oauth/application.h"
#include "ts/oauth/application_cache.h"
#include "ts/oauth/client_auth.h"
#include "ts/oauth/errors.h"
#include "ts/oauth/json_request.h"
#include "ts/storage/audit.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

// Limits on what one registration may hold (docs/design/public-clients.md): a registration is
// unauthenticated, so every member is bounded.
constexpr size_t kMaxNameLength = 256;
constexpr size_t kMaxScopes = 25;
constexpr size_t kMaxScopeLength = 256;
constexpr size_t kMaxRedirectUris = 10;
constexpr size_t kMaxUriLength = 2048;
constexpr size_t kMaxGrantTypes = 10;
constexpr size_t kMaxArnLength = 1224;  // the sso-admin model's ApplicationArn

// The scopes any client may register without an entitled application: OpenID Connect's, and
// AWS-style <service>:<name> scopes (sso:account:access, codewhisperer:completions, ...).
bool IsOpenIdScope(std::string_view scope) {
  return scope == "openid" || scope == "profile" || scope == "email" || scope == "offline_access";
}

bool IsAwsStyleScope(std::string_view scope) {
  const size_t colon = scope.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == scope.size()) return false;
  const std::string_view service = scope.substr(0, colon);
  const std::string_view name = scope.substr(colon + 1);
  const bool service_ok = std::all_of(service.begin(), service.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  const bool name_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
  });
  return service_ok && name_ok;
}

bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// The request's members, as sent.
struct RegisterRequest {
  std::string client_name;
  std::string client_type;
  std::string issuer_url;
  std::string entitled_application_arn;
  std::vector<std::string> scopes;
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;
  bool grant_types_given = false;
};

Status TooLong(std::string_view member, size_t limit) {
  return InvalidClientMetadata("Member '" + std::string(member) + "' is longer than " +
                               std::to_string(limit) + " characters");
}

Status TooMany(std::string_view member, size_t limit) {
  return InvalidClientMetadata("Member '" + std::string(member) + "' has more than " +
                               std::to_string(limit) + " entries");
}

// Every entry of `list` at most `max_length` long, and at most `max_entries` of them.
Status CheckList(std::string_view member, const std::vector<std::string>& list, size_t max_entries,
                 size_t max_length) {
  if (list.size() > max_entries) return TooMany(member, max_entries);
  for (const std::string& entry : list) {
    if (entry.size() > max_length) return TooLong(std::string(member) + " entry", max_length);
    if (entry.empty())
      return InvalidClientMetadata("Member '" + std::string(member) + "' has an empty entry");
  }
  return OkStatus();
}

StatusOr<RegisterRequest> ParseRegisterRequest(std::string_view body) {
  static constexpr StringMember<RegisterRequest> kStrings[] = {
      {"clientName", &RegisterRequest::client_name},
      {"clientType", &RegisterRequest::client_type},
      {"issuerUrl", &RegisterRequest::issuer_url},
      {"entitledApplicationArn", &RegisterRequest::entitled_application_arn},
  };
  TS_ASSIGN_OR_RETURN(boost::json::object o, ParseJsonObject(body));
  RegisterRequest req;
  TS_RETURN_IF_ERROR(ReadStringMembers<RegisterRequest>(o, kStrings, req));
  TS_RETURN_IF_ERROR(ReadStringList(o, "scopes", req.scopes));
  TS_RETURN_IF_ERROR(ReadStringList(o, "redirectUris", req.redirect_uris));
  TS_RETURN_IF_ERROR(ReadStringList(o, "grantTypes", req.grant_types));
  const boost::json::value* grants = o.if_contains("grantTypes");
  req.grant_types_given = grants != nullptr && !grants->is_null();
  if (req.client_name.empty()) return InvalidRequest("Member 'clientName' is required");
  if (req.client_type.empty()) return InvalidRequest("Member 'clientType' is required");
  return req;
}

// The checks of the members on their own (before any store is consulted).
Status ValidateMembers(const RegisterRequest& req) {
  if (req.client_name.size() > kMaxNameLength) return TooLong("clientName", kMaxNameLength);
  if (HasControlCharacter(req.client_name)) {
    return InvalidClientMetadata("Member 'clientName' has a control character");
  }
  if (req.client_type != "public") {
    return InvalidClientMetadata("Member 'clientType' must be 'public'");
  }
  if (req.issuer_url.size() > kMaxUriLength) return TooLong("issuerUrl", kMaxUriLength);
  if (!req.issuer_url.empty() && http::RedirectUriProblem(req.issuer_url).has_value()) {
    return InvalidClientMetadata("Member 'issuerUrl' must be an http or https URL");
  }
  if (req.entitled_application_arn.size() > kMaxArnLength) {
    return TooLong("entitledApplicationArn", kMaxArnLength);
  }
  TS_RETURN_IF_ERROR(CheckList("scopes", req.scopes, kMaxScopes, kMaxScopeLength));
  TS_RETURN_IF_ERROR(CheckList("redirectUris", req.redirect_uris, kMaxRedirectUris, kMaxUriLength));
  TS_RETURN_IF_ERROR(CheckList("grantTypes", req.grant_types, kMaxGrantTypes, kMaxScopeLength));
  for (const std::string& grant : req.grant_types) {
    if (grant != kGrantAuthorizationCode && grant != kGrantDeviceCode &&
        grant != kGrantRefreshToken) {
      return UnsupportedGrantType("Unsupported grant type: " + grant +
                                  " (a client may register authorization_code, " +
                                  std::string(kGrantDeviceCode) + " and refresh_token)");
    }
  }
  for (const std::string& scope : req.scopes) {
    if (!IsOpenIdScope(scope) && !IsAwsStyleScope(scope)) {
      return InvalidScope("Scope '" + scope +
                          "' is not allowed: register openid, profile, email, offline_access or "
                          "<service>:<name> scopes");
    }
  }
  for (const std::string& uri : req.redirect_uris) {
    if (std::optional<std::string> problem = http::ClientRedirectUriProblem(uri)) {
      return InvalidRedirectUri("Redirect URI '" + uri + "' is not allowed: " + *problem);
    }
  }
  return OkStatus();
}

// The grant types to store: as sent (each once, in a fixed order), or the default.
std::vector<std::string> GrantTypes(const RegisterRequest& req) {
  if (!req.grant_types_given || req.grant_types.empty()) {
    // docs/design/public-clients.md: the AWS CLI's legacy device flow names no grants.
    return {std::string(kGrantDeviceCode), std::string(kGrantRefreshToken)};
  }
  std::vector<std::string> grants;
  for (std::string_view grant : {kGrantAuthorizationCode, kGrantDeviceCode, kGrantRefreshToken}) {
    if (Contains(req.grant_types, grant)) grants.emplace_back(grant);
  }
  return grants;
}

// The entitled application bounds the client: its scopes, grants and redirect URIs.
Status CheckEntitlement(const storage::Application& app, const std::vector<std::string>& scopes,
                        const std::vector<std::string>& grants,
                        const std::vector<std::string>& redirect_uris) {
  const std::vector<std::string> allowed = AllowedScopes(app);
  for (const std::string& scope : scopes) {
    if (!Contains(allowed, scope)) {
      return InvalidScope("Scope '" + scope + "' is not one the entitled application " +
                          app.application_arn + " may grant");
    }
  }
  for (std::string_view grant : {kGrantAuthorizationCode, kGrantRefreshToken}) {
    if (Contains(grants, grant) && !HasGrant(app, grant)) {
      return InvalidClientMetadata("The entitled application " + app.application_arn + " has no " +
                                   std::string(grant) + " grant");
    }
  }
  const std::vector<std::string> registered = RedirectUris(app);
  for (const std::string& uri : redirect_uris) {
    if (!Contains(registered, uri)) {
      return InvalidRedirectUri("Redirect URI '" + uri +
                                "' is not one of the entitled application's");
    }
  }
  return OkStatus();
}

}  // namespace

ClientRegistration::ClientRegistration(std::shared_ptr<storage::ClientStore> clients,
                                       std::shared_ptr<ApplicationCache> applications,
                                       ClockPtr clock, RegistrationOptions options)
    : clients_(std::move(clients)),
      applications_(std::move(applications)),
      clock_(std::move(clock)),
      options_(std::move(options)),
      per_address_(options_.registrations_per_minute, options_.max_tracked_addresses) {}

StatusOr<std::string> ClientRegistration::Register(std::string_view body,
                                                   std::string_view client_address) {
  // First, before any parsing: a flood is refused at the cost of a table lookup.
  if (!per_address_.Allow(client_address, clock_->NowUnixMicros())) {
    return SlowDown("Too many client registrations from this address; retry later");
  }
  TS_ASSIGN_OR_RETURN(RegisterRequest req, ParseRegisterRequest(body));
  TS_RETURN_IF_ERROR(ValidateMembers(req));
  std::vector<std::string> grants = GrantTypes(req);
  if (Contains(grants, kGrantAuthorizationCode) && req.redirect_uris.empty()) {
    return InvalidRedirectUri("Member 'redirectUris' is required for authorization_code");
  }
  if (!req.entitled_application_arn.empty()) {
    auto app = applications_->Get(req.entitled_application_arn);
    if (!app.ok() && app.status().code() != StatusCode::kNotFound) return app.status();
    if (!app.ok() || (*app)->app.status != "ENABLED") {
      return InvalidClientMetadata("Member 'entitledApplicationArn' names no enabled application");
    }
    TS_RETURN_IF_ERROR(CheckEntitlement((*app)->app, req.scopes, grants, req.redirect_uris));
  }

  const int64_t now = clock_->NowUnixSeconds();
  TS_ASSIGN_OR_RETURN(int64_t live, clients_->CountLiveClients(now));
  if (live >= options_.max_live_clients) {
    return SlowDown("This server holds as many client registrations as it allows; retry later");
  }
  const std::string secret = NewClientSecret();
  storage::RegisteredClient client;
  client.secret_hash = tokens::TokenMinter::Hash(secret);
  client.client_name = std::move(req.client_name);
  client.client_type = std::move(req.client_type);
  client.scopes = std::move(req.scopes);
  client.redirect_uris = std::move(req.redirect_uris);
  client.grant_types = std::move(grants);
  client.issuer_url = std::move(req.issuer_url);
  client.entitled_application_arn = std::move(req.entitled_application_arn);
  client.created_at = now;
  client.secret_expires_at = now + options_.secret_ttl;
  // 128 random bits: a second draw is for form's sake.
  Status created;
  for (int attempt = 0; attempt < 2; ++attempt) {
    client.client_id = NewClientId(options_.region);
    storage::AuditEvent e;
    e.event_time = now;
    e.event_source = "sso-oauth.amazonaws.com";
    e.event_name = "RegisterClient";
    e.credential_id = client.client_id;
    e.response_elements = {{"clientId", client.client_id}};
    if (!client.entitled_application_arn.empty()) {
      e.request_parameters = {{"entitledApplicationArn", client.entitled_application_arn}};
    }
    storage::AuditScope audit(std::move(e));
    created = clients_->CreateClient(client);
    if (created.code() != StatusCode::kAlreadyExists) break;
  }
  TS_RETURN_IF_ERROR(created);

  JsonWriter w;
  w.BeginObject();
  w.Member("clientId", client.client_id);
  w.Member("clientSecret", secret);
  w.Member("clientIdIssuedAt", client.created_at);
  w.Member("clientSecretExpiresAt", client.secret_expires_at);
  w.Member("authorizationEndpoint", options_.public_url + "/authorize");
  w.Member("tokenEndpoint", options_.public_url + "/token");
  w.EndObject();
  return w.Take();
}

}  // namespace ts::oauth
