#include "ts/oauth/token_service.h"

#include <boost/json.hpp>
#include <optional>
#include <vector>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/iam/policy.h"
#include "ts/oauth/application.h"
#include "ts/oauth/errors.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {

// The members of CreateTokenWithIAMRequest (PROTOCOL.md §1.4); absent members stay empty.
struct TokenService::Request {
  std::string client_id;
  std::string grant_type;
  std::string code;
  std::string refresh_token;
  std::string assertion;
  std::string redirect_uri;
  std::string subject_token;
  std::string subject_token_type;
  std::string requested_token_type;
  std::string code_verifier;
  std::vector<std::string> scope;
};

// What a grant decided: whose tokens, which scopes, and the refresh token to hand back.
struct TokenService::Grant {
  tokens::TokenSubject subject;
  std::string refresh_token;  // empty: none issued
};

namespace {

constexpr std::string_view kActionCreateToken = "sso-oauth:CreateTokenWithIAM";

Status WrongType(std::string_view member, std::string_view expected) {
  return InvalidRequest("Member '" + std::string(member) + "' must be " + std::string(expected));
}

StatusOr<TokenService::Request> ParseRequest(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(body, ec);
  if (ec) return InvalidRequest("Request body is not valid JSON: " + ec.message());
  if (!doc.is_object()) return InvalidRequest("Request body must be a JSON object");
  TokenService::Request req;
  struct StringMember {
    const char* name;
    std::string TokenService::Request::*field;
  };
  static constexpr StringMember kStrings[] = {
      {"clientId", &TokenService::Request::client_id},
      {"grantType", &TokenService::Request::grant_type},
      {"code", &TokenService::Request::code},
      {"refreshToken", &TokenService::Request::refresh_token},
      {"assertion", &TokenService::Request::assertion},
      {"redirectUri", &TokenService::Request::redirect_uri},
      {"subjectToken", &TokenService::Request::subject_token},
      {"subjectTokenType", &TokenService::Request::subject_token_type},
      {"requestedTokenType", &TokenService::Request::requested_token_type},
      {"codeVerifier", &TokenService::Request::code_verifier},
  };
  const boost::json::object& o = doc.as_object();
  for (const StringMember& m : kStrings) {
    const boost::json::value* v = o.if_contains(m.name);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_string()) return WrongType(m.name, "a string");
    req.*(m.field) = std::string(v->as_string());
  }
  if (const boost::json::value* v = o.if_contains("scope"); v != nullptr && !v->is_null()) {
    if (!v->is_array()) return WrongType("scope", "a list of strings");
    for (const auto& s : v->as_array()) {
      if (!s.is_string()) return WrongType("scope", "a list of strings");
      req.scope.emplace_back(s.as_string());
    }
  }
  if (req.client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  if (req.grant_type.empty()) return InvalidRequest("Member 'grantType' is required");
  return req;
}

// RFC 7636 §4.1: 43..128 characters of [A-Z a-z 0-9 - . _ ~].
bool ValidVerifier(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (char c : v) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

// Revokes a family; one already purged (expired) needs no revoking.
Status RevokeIfPresent(storage::Store& store, const std::string& family_id, int64_t now) {
  Status s = store.RevokeFamily(family_id, now);
  return s.code() == StatusCode::kNotFound ? OkStatus() : s;
}

Status AuthorizeCaller(const Caller& caller, const storage::Application& app,
                       const storage::Instance& instance) {
  // The instance owner's root credential may call every operation on every application.
  if (caller.principal_arn == "arn:aws:iam::" + instance.owner_account_id + ":root") {
    return OkStatus();
  }
  if (app.actor_policy_json.empty()) {
    return AccessDenied(
        "The application has no IAM authentication method: no principal may "
        "call CreateTokenWithIAM for it");
  }
  auto policy = iam::ParsePolicy(app.actor_policy_json);
  if (!policy.ok()) {
    return AccessDenied("The application's actor policy is not valid: " +
                        std::string(policy.status().message()));
  }
  iam::RequestContext context;
  context.principal_arn = caller.principal_arn;
  context.principal_account = caller.account_id;
  context.action = std::string(kActionCreateToken);
  context.resource = app.application_arn;
  if (iam::Evaluate(*policy, context) != iam::Decision::kAllow) {
    return AccessDenied("User: " + caller.principal_arn + " is not authorized to perform: " +
                        std::string(kActionCreateToken) + " on resource: " + app.application_arn);
  }
  return OkStatus();
}

}  // namespace

TokenService::TokenService(storage::StorePtr store,
                           std::shared_ptr<const tokens::TokenMinter> minter, ClockPtr clock,
                           TokenServiceOptions options)
    : store_(std::move(store)),
      minter_(std::move(minter)),
      clock_(std::move(clock)),
      options_(options) {}

StatusOr<std::string> TokenService::CreateTokenWithIam(const Caller& caller,
                                                       std::string_view body) const {
  TS_ASSIGN_OR_RETURN(Request req, ParseRequest(body));
  auto app = store_->GetApplication(req.client_id);
  if (!app.ok()) {
    if (app.status().code() == StatusCode::kNotFound) {
      return InvalidClient("Invalid client: no application with ARN " + req.client_id);
    }
    return app.status();
  }
  if (app->status != "ENABLED") return InvalidClient("The application is disabled");
  TS_RETURN_IF_ERROR(AuthorizeCaller(caller, *app, minter_->instance()));

  const bool known = req.grant_type == kGrantAuthorizationCode ||
                     req.grant_type == kGrantRefreshToken || req.grant_type == kGrantJwtBearer ||
                     req.grant_type == kGrantTokenExchange;
  if (!known) return UnsupportedGrantType("Unsupported grant type: " + req.grant_type);
  if (!HasGrant(*app, req.grant_type)) {
    return UnauthorizedClient("The application is not authorized for grant type " + req.grant_type);
  }
  Grant grant;
  if (req.grant_type == kGrantAuthorizationCode) {
    TS_ASSIGN_OR_RETURN(grant, AuthorizationCodeGrant(req, *app));
  } else if (req.grant_type == kGrantRefreshToken) {
    TS_ASSIGN_OR_RETURN(grant, RefreshTokenGrant(req, *app));
  } else {
    return UnsupportedGrantType("Grant type " + req.grant_type +
                                " is not supported by this server yet");
  }
  return Respond(grant, *app);
}

StatusOr<TokenService::Grant> TokenService::AuthorizationCodeGrant(
    const Request& req, const storage::Application& app) const {
  if (req.code.empty()) return InvalidRequest("Member 'code' is required for authorization_code");
  if (req.redirect_uri.empty()) {
    return InvalidRequest("Member 'redirectUri' is required for authorization_code");
  }
  if (req.code_verifier.empty()) {
    return InvalidRequest("Member 'codeVerifier' is required: PKCE is mandatory");
  }
  const int64_t now = clock_->NowUnixSeconds();
  const std::string code_hash = tokens::TokenMinter::Hash(req.code);
  auto code = store_->GetAuthorizationCode(code_hash);
  if (!code.ok()) {
    if (code.status().code() == StatusCode::kNotFound) {
      return InvalidGrant("Invalid authorization code provided");
    }
    return code.status();
  }
  // A code held by another application is as good as unknown to this one.
  if (code->application_arn != app.application_arn) {
    return InvalidGrant("Invalid authorization code provided");
  }
  if (code->consumed_at != 0) {
    // RFC 6749 §4.1.2: a reused code revokes what it produced.
    TS_RETURN_IF_ERROR(RevokeIfPresent(*store_, code->family_id, now));
    return InvalidGrant(
        "Authorization code has already been used; the tokens it produced are "
        "revoked");
  }
  if (code->expires_at <= now) return InvalidGrant("Authorization code has expired");
  if (code->redirect_uri != req.redirect_uri) {
    return InvalidGrant("redirectUri does not match the one used at authorization");
  }
  if (!ValidVerifier(req.code_verifier)) {
    return InvalidGrant("codeVerifier must be 43 to 128 characters of [A-Za-z0-9-._~]");
  }
  const std::string challenge = crypto::Base64UrlEncode(crypto::Sha256(req.code_verifier));
  if (!crypto::ConstantTimeEquals(challenge, code->code_challenge)) {
    return InvalidGrant("codeVerifier does not match the code challenge");
  }
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes, NarrowScopes(req.scope, code->scopes));
  auto user = store_->GetUser(code->user_id);
  if (!user.ok()) {
    if (user.status().code() == StatusCode::kNotFound) {
      return InvalidGrant("The user this code was issued to no longer exists");
    }
    return user.status();
  }

  storage::TokenFamily family;
  family.family_id = crypto::RandomUuid();
  family.application_arn = app.application_arn;
  family.user_id = code->user_id;
  family.scopes = scopes;
  family.grant_type = std::string(kGrantAuthorizationCode);
  family.session_hash = code->session_hash;
  family.auth_time = code->auth_time;
  family.created_at = now;
  family.expires_at = now + options_.refresh_token_ttl;

  Grant grant;
  std::optional<storage::RefreshToken> refresh;
  if (HasGrant(app, kGrantRefreshToken)) {
    grant.refresh_token = tokens::TokenMinter::NewRefreshToken();
    refresh.emplace();
    refresh->token_hash = tokens::TokenMinter::Hash(grant.refresh_token);
    refresh->family_id = family.family_id;
    refresh->scopes = scopes;
    refresh->created_at = now;
    refresh->expires_at = family.expires_at;
  }
  TS_ASSIGN_OR_RETURN(storage::RedeemOutcome outcome,
                      store_->RedeemAuthorizationCode(code_hash, now, family, refresh));
  switch (outcome) {
    case storage::RedeemOutcome::kRedeemed:
      break;
    case storage::RedeemOutcome::kAlreadyRedeemed:
      return InvalidGrant(
          "Authorization code has already been used; the tokens it produced are "
          "revoked");
    case storage::RedeemOutcome::kExpired:
      return InvalidGrant("Authorization code has expired");
  }
  grant.subject = {code->user_id,    app.application_arn, scopes,
                   family.family_id, code->auth_time,     ""};
  return grant;
}

StatusOr<TokenService::Grant> TokenService::RefreshTokenGrant(
    const Request& req, const storage::Application& app) const {
  if (req.refresh_token.empty()) {
    return InvalidRequest("Member 'refreshToken' is required for refresh_token");
  }
  const int64_t now = clock_->NowUnixSeconds();
  const std::string hash = tokens::TokenMinter::Hash(req.refresh_token);
  auto found = store_->GetRefreshToken(hash);
  if (!found.ok()) {
    if (found.status().code() == StatusCode::kNotFound) {
      return InvalidGrant("Invalid refresh token provided");
    }
    return found.status();
  }
  const storage::RefreshToken& token = found->token;
  const storage::TokenFamily& family = found->family;
  if (family.application_arn != app.application_arn) {
    return InvalidGrant("Invalid refresh token provided");
  }
  if (family.revoked_at != 0) return InvalidGrant("Refresh token has been revoked");
  if (token.expires_at <= now || family.expires_at <= now) {
    return InvalidGrant("Refresh token has expired");
  }
  // Downscoping is bounded by the family: a narrowed token can widen again up to what the
  // original grant allowed (the model doc: "the refresh token's scopes").
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes,
                      NarrowScopes(req.scope.empty() ? token.scopes : req.scope, family.scopes));
  auto user = store_->GetUser(family.user_id);
  if (!user.ok()) {
    if (user.status().code() == StatusCode::kNotFound) {
      TS_RETURN_IF_ERROR(RevokeIfPresent(*store_, family.family_id, now));
      return InvalidGrant("The user this token was issued to no longer exists");
    }
    return user.status();
  }

  Grant grant;
  grant.subject = {family.user_id,   app.application_arn, scopes,
                   family.family_id, family.auth_time,    ""};
  grant.refresh_token = minter_->SuccessorRefreshToken(req.refresh_token);
  storage::RefreshToken successor;
  successor.token_hash = tokens::TokenMinter::Hash(grant.refresh_token);
  successor.family_id = family.family_id;
  successor.scopes = scopes;
  successor.created_at = now;
  successor.expires_at = family.expires_at;

  storage::RotateOutcome outcome = storage::RotateOutcome::kAlreadyRotated;
  if (token.rotated_at == 0) {
    TS_ASSIGN_OR_RETURN(outcome, store_->RotateRefreshToken(hash, now, successor));
  }
  if (outcome == storage::RotateOutcome::kRotated) return grant;
  if (outcome == storage::RotateOutcome::kFamilyRevoked) {
    return InvalidGrant("Refresh token has been revoked");
  }
  // The token was rotated before (now or by a concurrent request). Inside the grace window the
  // same successor is handed out again while it is still current; otherwise this is reuse.
  auto latest = store_->GetRefreshToken(hash);
  if (!latest.ok()) return latest.status();
  const int64_t rotated_at = latest->token.rotated_at;
  if (options_.refresh_grace_seconds > 0 && rotated_at != 0 &&
      now - rotated_at <= options_.refresh_grace_seconds &&
      latest->token.successor_hash == successor.token_hash) {
    auto next = store_->GetRefreshToken(successor.token_hash);
    if (next.ok() && next->token.rotated_at == 0 && next->family.revoked_at == 0) {
      grant.subject.scopes = next->token.scopes;
      return grant;
    }
  }
  // RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family.
  TS_RETURN_IF_ERROR(RevokeIfPresent(*store_, family.family_id, now));
  return InvalidGrant(
      "Refresh token has already been used; every token of its family is now "
      "revoked");
}

StatusOr<std::string> TokenService::Respond(const Grant& grant,
                                            const storage::Application& app) const {
  const int64_t now = clock_->NowUnixSeconds();
  const tokens::TokenSubject& s = grant.subject;
  TS_ASSIGN_OR_RETURN(
      std::string access_token,
      minter_->AccessToken(s, crypto::RandomUuid(), now, now + options_.access_token_ttl));
  std::string identity_context;
  if (Contains(s.scopes, "sts:identity_context")) {
    identity_context =
        minter_->IdentityContext({s.user_id, minter_->instance().instance_arn, app.application_arn,
                                  now, now + options_.access_token_ttl});
  }
  std::string id_token;
  if (Contains(s.scopes, "openid")) {
    TS_ASSIGN_OR_RETURN(id_token, minter_->IdToken(s, s.family_id, identity_context, now,
                                                   now + options_.id_token_ttl));
  }
  JsonWriter w;
  w.BeginObject();
  w.Member("accessToken", access_token);
  w.Member("tokenType", "Bearer");
  w.Member("expiresIn", options_.access_token_ttl);
  if (!grant.refresh_token.empty()) w.Member("refreshToken", grant.refresh_token);
  if (!id_token.empty()) w.Member("idToken", id_token);
  w.Member("issuedTokenType", grant.refresh_token.empty() ? kTokenTypeAccess : kTokenTypeRefresh);
  w.Member("scope", s.scopes);
  if (!identity_context.empty()) {
    w.Key("awsAdditionalDetails");
    w.BeginObject();
    w.Member("identityContext", identity_context);
    w.EndObject();
  }
  w.EndObject();
  return w.Take();
}

}  // namespace ts::oauth
