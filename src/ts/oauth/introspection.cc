#include "ts/oauth/introspection.h"

#include <boost/json.hpp>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/oauth/errors.h"
#include "ts/storage/audit.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {

struct TokenIntrospection::Request {
  std::string client_id;
  std::string token;
  std::string token_type_hint;
  std::string identity_context;
};

namespace {

constexpr std::string_view kInactive = R"({"active":false})";

// Parses the JSON body; `token_member` ("token" or "identityContext") is required.
StatusOr<TokenIntrospection::Request> ParseBody(std::string_view body,
                                                std::string_view token_member) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(body, ec);
  if (ec) return InvalidRequest("Request body is not valid JSON: " + ec.message());
  if (!doc.is_object()) return InvalidRequest("Request body must be a JSON object");
  const boost::json::object& o = doc.as_object();
  TokenIntrospection::Request req;
  struct Member {
    const char* name;
    std::string* out;
  };
  const Member members[] = {{"clientId", &req.client_id},
                            {"token", &req.token},
                            {"tokenTypeHint", &req.token_type_hint},
                            {"identityContext", &req.identity_context}};
  for (const Member& m : members) {
    const boost::json::value* v = o.if_contains(m.name);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_string()) {
      return InvalidRequest("Member '" + std::string(m.name) + "' must be a string");
    }
    *m.out = std::string(v->as_string());
  }
  if (req.client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  const std::string& token = token_member == "token" ? req.token : req.identity_context;
  if (token.empty()) {
    return InvalidRequest("Member '" + std::string(token_member) + "' is required");
  }
  return req;
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const std::string& s : scopes) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

// The Identity Center identifiers an ID token carries (docs/protocol.md §5.6).
void WriteIdentifiers(JsonWriter& w, const storage::Instance& instance,
                      const std::string& family_id) {
  w.Member("aws:identity_store_id", instance.identity_store_id);
  w.Member("aws:identity_store_arn", "arn:aws:identitystore::" + instance.owner_account_id +
                                         ":identitystore/" + instance.identity_store_id);
  w.Member("aws:instance_account", instance.owner_account_id);
  w.Member("aws:instance_arn", instance.instance_arn);
  if (!family_id.empty()) w.Member("aws:credential_id", family_id);
}

// Whether the family is live; a purged (expired) one is not.
StatusOr<bool> FamilyLive(storage::GrantStore& store, const std::string& family_id, int64_t now) {
  auto family = store.GetFamily(family_id);
  if (!family.ok()) {
    if (family.status().code() == StatusCode::kNotFound) return false;
    return family.status();
  }
  return family->revoked_at == 0 && family->expires_at > now;
}

}  // namespace

TokenIntrospection::TokenIntrospection(TokenStorage storage,
                                       std::shared_ptr<const tokens::TokenMinter> minter,
                                       ClockPtr clock)
    : storage_(std::move(storage)), minter_(std::move(minter)), clock_(std::move(clock)) {}

StatusOr<storage::Application> TokenIntrospection::Authorize(const Caller& caller,
                                                             const Request& req,
                                                             std::string_view action) const {
  TS_ASSIGN_OR_RETURN(storage::Application app,
                      FindEnabledApplication(*storage_.applications, req.client_id));
  TS_RETURN_IF_ERROR(AuthorizeCaller(caller, app, minter_->instance(), action));
  return app;
}

StatusOr<std::string> TokenIntrospection::Introspect(const Caller& caller,
                                                     std::string_view body) const {
  TS_ASSIGN_OR_RETURN(Request req, ParseBody(body, "token"));
  TS_RETURN_IF_ERROR(Authorize(caller, req, kActionIntrospectToken).status());
  const int64_t now = clock_->NowUnixSeconds();
  // The token's form says what it is; the hint (RFC 7662 §2.1) is accepted and not needed.
  if (req.token.starts_with("tsrt_")) return IntrospectRefresh(req, now);
  return IntrospectAccess(req, now);
}

StatusOr<std::string> TokenIntrospection::IntrospectAccess(const Request& req, int64_t now) const {
  auto claims = minter_->VerifyAccessToken(req.token, now);
  // RFC 7662 §2.2: an invalid token reveals nothing but that; so does another application's.
  if (!claims.ok() || claims->client_id != req.client_id) return std::string(kInactive);
  TS_ASSIGN_OR_RETURN(bool revoked, storage_.grants->IsAccessTokenRevoked(claims->token_id));
  if (revoked) return std::string(kInactive);
  TS_ASSIGN_OR_RETURN(bool live, FamilyLive(*storage_.grants, claims->family_id, now));
  if (!live) return std::string(kInactive);
  JsonWriter w;
  w.BeginObject();
  w.MemberBool("active", true);
  w.Member("scope", JoinScopes(claims->scopes));
  w.Member("client_id", claims->client_id);
  w.Member("sub", claims->user_id);
  w.Member("exp", claims->expires_at);
  w.Member("iat", claims->issued_at);
  w.Member("iss", claims->issuer);
  w.Member("token_type", "Bearer");
  w.Member("aud", claims->audience);
  w.Member("jti", claims->token_id);
  if (!claims->act_json.empty()) {
    w.Key("act");
    w.Raw(claims->act_json);
  }
  WriteIdentifiers(w, minter_->instance(), claims->family_id);
  w.EndObject();
  return w.Take();
}

StatusOr<std::string> TokenIntrospection::IntrospectRefresh(const Request& req, int64_t now) const {
  auto found = storage_.grants->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(req.token));
  if (!found.ok()) {
    if (found.status().code() == StatusCode::kNotFound) return std::string(kInactive);
    return found.status();
  }
  const storage::RefreshToken& token = found->token;
  const storage::TokenFamily& family = found->family;
  if (family.application_arn != req.client_id || token.rotated_at != 0 || family.revoked_at != 0 ||
      token.expires_at <= now || family.expires_at <= now) {
    return std::string(kInactive);
  }
  JsonWriter w;
  w.BeginObject();
  w.MemberBool("active", true);
  w.Member("scope", JoinScopes(token.scopes));
  w.Member("client_id", family.application_arn);
  w.Member("sub", family.user_id);
  w.Member("exp", token.expires_at);
  w.Member("iat", token.created_at);
  w.Member("iss", minter_->issuer());
  w.Member("token_type", "refresh_token");
  w.Member("aud", family.application_arn);
  if (!family.act_json.empty()) {
    w.Key("act");
    w.Raw(family.act_json);
  }
  WriteIdentifiers(w, minter_->instance(), family.family_id);
  w.EndObject();
  return w.Take();
}

namespace {
// The audit event of a revocation (storage/audit.h): which family or access token id, never the
// token presented.
storage::AuditEvent RevokeEvent(std::string_view api, const std::string& client_id,
                                std::string_view what, const std::string& id, int64_t now) {
  storage::AuditEvent e;
  e.event_time = now;
  e.event_source = "sso-oauth.amazonaws.com";
  e.event_name = std::string(api);
  e.request_parameters = {{"clientId", client_id}};
  e.additional_event_data = {{std::string(what), id}};
  return e;
}
}  // namespace

StatusOr<std::string> TokenIntrospection::Revoke(const Caller& caller,
                                                 std::string_view body) const {
  TS_ASSIGN_OR_RETURN(Request req, ParseBody(body, "token"));
  TS_RETURN_IF_ERROR(Authorize(caller, req, kActionRevokeToken).status());
  const int64_t now = clock_->NowUnixSeconds();
  const std::string kOk = "{}";
  if (req.token.starts_with("tsrt_")) {
    auto found = storage_.grants->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(req.token));
    if (!found.ok()) {
      if (found.status().code() == StatusCode::kNotFound) return kOk;
      return found.status();
    }
    if (found->family.application_arn != req.client_id) {
      return UnauthorizedClient("The token was not issued to application " + req.client_id);
    }
    // RFC 7009 §2.1: revoking a refresh token ends its grant: the family, the access tokens it
    // produced (introspection checks the family) and what was exchanged from them.
    storage::AuditScope audit(RevokeEvent("RevokeTokenWithIAM", req.client_id, "tokenFamilyId",
                                          found->family.family_id, now));
    Status s = storage_.grants->RevokeFamily(found->family.family_id, now);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    return kOk;
  }
  auto claims = minter_->VerifyAccessToken(req.token, now);
  if (!claims.ok()) return kOk;  // forged, malformed or expired: nothing to revoke
  if (claims->client_id != req.client_id) {
    return UnauthorizedClient("The token was not issued to application " + req.client_id);
  }
  storage::AuditScope audit(
      RevokeEvent("RevokeTokenWithIAM", req.client_id, "accessTokenId", claims->token_id, now));
  TS_RETURN_IF_ERROR(storage_.grants->RevokeAccessToken(claims->token_id, claims->expires_at));
  return kOk;
}

StatusOr<std::string> TokenIntrospection::IntrospectForClient(const std::string& client_id,
                                                              std::string_view token) const {
  Request req;
  req.client_id = client_id;
  req.token = std::string(token);
  const int64_t now = clock_->NowUnixSeconds();
  if (req.token.starts_with("tsrt_")) return IntrospectRefresh(req, now);
  return IntrospectAccess(req, now);
}

Status TokenIntrospection::RevokeForClient(const std::string& client_id,
                                           std::string_view token) const {
  const int64_t now = clock_->NowUnixSeconds();
  if (token.starts_with("tsrt_")) {
    auto found = storage_.grants->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(token));
    if (!found.ok()) {
      if (found.status().code() == StatusCode::kNotFound) return OkStatus();
      return found.status();
    }
    // Not this client's: nothing changes, and the answer says nothing (see the header).
    if (found->family.application_arn != client_id) return OkStatus();
    storage::AuditScope audit(
        RevokeEvent("RevokeToken", client_id, "tokenFamilyId", found->family.family_id, now));
    Status s = storage_.grants->RevokeFamily(found->family.family_id, now);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
    return OkStatus();
  }
  auto claims = minter_->VerifyAccessToken(token, now);
  if (!claims.ok() || claims->client_id != client_id) return OkStatus();
  storage::AuditScope audit(
      RevokeEvent("RevokeToken", client_id, "accessTokenId", claims->token_id, now));
  return storage_.grants->RevokeAccessToken(claims->token_id, claims->expires_at);
}

StatusOr<std::string> TokenIntrospection::ReadIdentityContext(const Caller& caller,
                                                              std::string_view body) const {
  TS_ASSIGN_OR_RETURN(Request req, ParseBody(body, "identityContext"));
  TS_RETURN_IF_ERROR(Authorize(caller, req, kActionIntrospectToken).status());
  const int64_t now = clock_->NowUnixSeconds();
  auto context = minter_->ReadIdentityContext(req.identity_context);
  if (!context.ok() || context->expires_at <= now ||
      context->instance_arn != minter_->instance().instance_arn) {
    return std::string(kInactive);
  }
  auto user = storage_.directory->GetUser(context->user_id);
  if (!user.ok()) {
    if (user.status().code() == StatusCode::kNotFound) return std::string(kInactive);
    return user.status();
  }
  JsonWriter w;
  w.BeginObject();
  w.MemberBool("active", true);
  w.Member("sub", context->user_id);
  w.Member("username", user->user_name);
  w.Member("client_id", context->application_arn);
  w.Member("iat", context->issued_at);
  w.Member("exp", context->expires_at);
  w.Member("iss", minter_->issuer());
  w.Member("aws:instance_arn", context->instance_arn);
  w.Member("aws:identity_store_id", minter_->instance().identity_store_id);
  w.EndObject();
  return w.Take();
}

}  // namespace ts::oauth
