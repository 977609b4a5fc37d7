#include "ts/oauth/token_service.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
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
#include "ts/tti/assertion.h"
#include "ts/tti/claims.h"

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

struct TokenService::Admitted {
  Request req;
  std::shared_ptr<const CachedApplication> app;
};

// What a grant decided: whose tokens, which scopes, and the refresh token to hand back.
struct TokenService::Grant {
  tokens::TokenSubject subject;
  std::string refresh_token;  // empty: none issued
};

struct TokenService::PreparedAssertion {
  Grant grant;  // as issued once the family is stored
  storage::TokenFamily family;
  std::optional<storage::RefreshToken> refresh;  // the family's first, if the app may refresh
  std::string replay_id;                         // the assertion's replay record
  int64_t replay_until = 0;
};

struct TokenService::PreparedCode {
  Grant grant;  // as issued once the redemption is durable
  std::string code_hash;
  int64_t now = 0;
  storage::TokenFamily family;
  std::optional<storage::RefreshToken> refresh;  // the family's first, if the app may refresh
  // The code was redeemed before: reuse, which revokes the family that use created (nothing
  // above is set then).
  bool already_used = false;
  std::string used_family_id;
};

struct TokenService::PreparedExchange {
  Grant grant;  // as issued once the family is stored
  storage::TokenFamily family;
  std::optional<storage::RefreshToken> refresh;  // when a refresh token was requested
};

struct TokenService::RefreshStart {
  int64_t now = 0;
  std::string old_hash;   // the presented token's key in the store
  std::string successor;  // the presented token's derived successor, stamped now
};

struct TokenService::PreparedRefresh {
  Grant grant;                      // as issued if the rotation succeeds
  std::string presented;            // the refresh token the client sent
  std::string old_hash;             // its key in the store
  storage::RefreshToken successor;  // the record of grant.refresh_token
  int64_t now = 0;
  bool already_rotated = false;  // rotated before this request read it
};

namespace {

// A refresh token's stamp (TokenMinter::NewRefreshToken): the clock's microseconds.
uint64_t RefreshStamp(const Clock& clock) {
  return static_cast<uint64_t>(std::max<int64_t>(0, clock.NowUnixMicros()));
}

// A new family's first refresh token when `wanted` (the application has the refresh_token
// grant): the plaintext goes to `plaintext` for the response, the record (its key only, the
// family's scopes and lifetime) is returned for the store. nullopt when not wanted.
std::optional<storage::RefreshToken> FirstRefreshToken(bool wanted,
                                                       const storage::TokenFamily& family,
                                                       int64_t now, const Clock& clock,
                                                       std::string& plaintext) {
  if (!wanted) return std::nullopt;
  plaintext = tokens::TokenMinter::NewRefreshToken(RefreshStamp(clock));
  storage::RefreshToken refresh;
  refresh.token_hash = tokens::TokenMinter::RefreshTokenKey(plaintext);
  refresh.family_id = family.family_id;
  refresh.scopes = family.scopes;
  refresh.created_at = now;
  refresh.expires_at = family.expires_at;
  return refresh;
}

// How many applications an identity may pass through by exchange; bounds the act claim's size.
constexpr int kMaxActorDepth = 8;

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

// A new family's id. Time-ordered (UUIDv7), so the families table and the refresh tokens' family
// index grow at their right edge: a batch of new families writes one leaf page of each instead
// of a random leaf per family (a fifth fewer bytes written per JWT-bearer grant).
std::string NewFamilyId(const Clock& clock) {
  return crypto::TimeOrderedUuid(clock.NowUnixMicros() / 1000);
}

constexpr char kCodeReused[] =
    "Authorization code has already been used; the tokens it produced are revoked";

// Revokes a family; one already purged (expired) needs no revoking.
Status RevokeIfPresent(storage::GrantStore& store, const std::string& family_id, int64_t now) {
  Status s = store.RevokeFamily(family_id, now);
  return s.code() == StatusCode::kNotFound ? OkStatus() : s;
}

// How deep an act claim nests (RFC 8693 §4.1: each prior actor is one more level).
int ActorDepth(std::string_view act_json) {
  if (act_json.empty()) return 0;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(act_json, ec);
  int depth = 0;
  const boost::json::value* cur = ec ? nullptr : &v;
  while (cur != nullptr && cur->is_object()) {
    ++depth;
    cur = cur->as_object().if_contains("act");
  }
  return depth;
}

}  // namespace

namespace {

// Every grant and every refresh refuse a user an application requires assignment of but does not
// have (directly or through a group), as sign-in does.
Status UserNotAssigned(const storage::Application& app) {
  return InvalidGrant("The user is not assigned to application " + app.application_arn);
}

// The message names the ARN, so it is built only when the lookup failed.
Status ApplicationLookupError(const Status& status, const std::string& client_id) {
  if (status.code() == StatusCode::kNotFound) {
    return InvalidClient("Invalid client: no application with ARN " + client_id);
  }
  return status;
}

Status AuthorizeWithPolicy(const Caller& caller, const storage::Application& app,
                           const iam::Policy* policy, std::string_view policy_error,
                           const storage::Instance& instance, std::string_view action) {
  // The instance owner's root credential may call every operation on every application.
  if (caller.principal_arn == "arn:aws:iam::" + instance.owner_account_id + ":root") {
    return OkStatus();
  }
  if (policy == nullptr && policy_error.empty()) {
    return AccessDenied(
        "The application has no IAM authentication method: no principal may "
        "call " +
        std::string(action.substr(action.find(':') + 1)) + " for it");
  }
  if (policy == nullptr) {
    return AccessDenied("The application's actor policy is not valid: " +
                        std::string(policy_error));
  }
  iam::RequestContext context;
  context.principal_arn = caller.principal_arn;
  context.principal_account = caller.account_id;
  context.action = std::string(action);
  context.resource = app.application_arn;
  if (iam::Evaluate(*policy, context) != iam::Decision::kAllow) {
    return AccessDenied("User: " + caller.principal_arn + " is not authorized to perform: " +
                        std::string(action) + " on resource: " + app.application_arn);
  }
  return OkStatus();
}

// The store's completion for a grant whose family was written while its response was signed:
// the response once `settle` finds the write OK, settle's error otherwise.
std::function<void(Status)> AnswerOnceWritten(TokenService::Done done, std::string response,
                                              Status (*settle)(const Status&)) {
  return [done = std::move(done), response = std::move(response), settle](Status written) mutable {
    Status settled = settle(written);
    if (!settled.ok()) return done(std::move(settled));
    done(std::move(response));
  };
}

}  // namespace

StatusOr<storage::Application> FindEnabledApplication(storage::ApplicationStore& store,
                                                      const std::string& client_id) {
  if (client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  auto app = store.GetApplication(client_id);
  if (!app.ok()) return ApplicationLookupError(app.status(), client_id);
  if (app->status != "ENABLED") return InvalidClient("The application is disabled");
  return *app;
}

StatusOr<std::shared_ptr<const CachedApplication>> FindEnabledApplication(
    ApplicationCache& applications, const std::string& client_id) {
  if (client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  auto app = applications.Get(client_id);
  if (!app.ok()) return ApplicationLookupError(app.status(), client_id);
  if ((*app)->app.status != "ENABLED") return InvalidClient("The application is disabled");
  return *app;
}

Status AuthorizeCaller(const Caller& caller, const storage::Application& app,
                       const storage::Instance& instance, std::string_view action) {
  if (app.actor_policy_json.empty()) {
    return AuthorizeWithPolicy(caller, app, nullptr, "", instance, action);
  }
  auto policy = iam::ParsePolicy(app.actor_policy_json);
  if (!policy.ok()) {
    return AuthorizeWithPolicy(caller, app, nullptr, policy.status().message(), instance, action);
  }
  return AuthorizeWithPolicy(caller, app, &*policy, "", instance, action);
}

Status AuthorizeCaller(const Caller& caller, const CachedApplication& app,
                       const storage::Instance& instance, std::string_view action) {
  return AuthorizeWithPolicy(caller, app.app, app.actor_policy.get(), app.policy_error, instance,
                             action);
}

TokenService::TokenService(TokenStorage storage, std::shared_ptr<const tokens::TokenMinter> minter,
                           ClockPtr clock, TokenServiceOptions options,
                           std::shared_ptr<const tti::AssertionValidator> assertions,
                           std::shared_ptr<ApplicationCache> applications)
    : storage_(std::move(storage)),
      minter_(std::move(minter)),
      clock_(std::move(clock)),
      options_(options),
      assertions_(std::move(assertions)),
      applications_(applications != nullptr
                        ? std::move(applications)
                        : std::make_shared<ApplicationCache>(storage_.applications, clock_,
                                                             std::chrono::milliseconds(0))) {}

StatusOr<std::string> TokenService::CreateTokenWithIam(const Caller& caller,
                                                       std::string_view body) const {
  TS_ASSIGN_OR_RETURN(Admitted admitted, Admit(caller, body));
  return Serve(admitted);
}

void TokenService::CreateTokenWithIamAsync(Caller caller, std::string body, Executor blocking,
                                           Done done, FinishDone finish_done) const {
  if (!storage_.grants->GrantsWithoutBlocking()) {
    blocking([this, caller = std::move(caller), body = std::move(body), done = std::move(done)] {
      done(CreateTokenWithIam(caller, body));
    });
    return;
  }
  StatusOr<Admitted> admitted = Admit(caller, body);
  if (!admitted.ok()) return done(admitted.status());
  // Admit lets only the four grants through (as in Serve).
  const std::string& grant_type = admitted->req.grant_type;
  if (grant_type == kGrantRefreshToken) {
    return RefreshAsync(std::move(*admitted), std::move(blocking), std::move(done),
                        std::move(finish_done));
  }
  if (grant_type == kGrantAuthorizationCode) {
    return AuthorizationCodeAsync(std::move(*admitted), std::move(blocking), std::move(done));
  }
  if (grant_type == kGrantJwtBearer) {
    return JwtBearerAsync(std::move(*admitted), std::move(blocking), std::move(done));
  }
  TokenExchangeAsync(std::move(*admitted), std::move(done));
}

void TokenService::RefreshAsync(Admitted admitted, Executor blocking, Done done,
                                FinishDone finish_done) const {
  StatusOr<RefreshStart> start = StartRefresh(admitted.req);
  if (!start.ok()) return done(start.status());
  std::shared_ptr<const CachedApplication> app = admitted.app;
  // Written by the check (on the writer thread, inside the rotation's transaction) and read by
  // the completion (on the writer thread after the commit), one after the other.
  auto prepared = std::make_shared<StatusOr<PreparedRefresh>>(InternalError("not checked"));
  auto check =
      [this, req = std::make_shared<const Request>(std::move(admitted.req)), app, prepared,
       now = start->now, successor = std::move(start->successor)](
          const storage::RefreshTokenWithFamily& found) -> StatusOr<storage::RefreshToken> {
    *prepared = CheckRefresh(found, *req, app->app, successor, now);
    if (!prepared->ok()) return prepared->status();
    return (*prepared)->successor;
  };
  auto completion = [this, app, prepared, blocking = std::move(blocking), done = std::move(done),
                     finish_done =
                         std::move(finish_done)](StatusOr<storage::RotateOutcome> outcome) mutable {
    if (!outcome.ok()) {
      return done(
          NotFoundAs(std::move(outcome), InvalidGrant, "Invalid refresh token provided").status());
    }
    auto p = std::make_shared<const PreparedRefresh>(std::move(**prepared));
    if (*outcome != storage::RotateOutcome::kRotated) {
      // Reuse (or a retry inside the grace window): the rare path, which reads again and may
      // revoke the family.
      return blocking([this, app, done = std::move(done), p, outcome = *outcome] {
        StatusOr<Grant> grant = SettleRefresh(*p, outcome);
        if (!grant.ok()) return done(grant.status());
        done(Respond(*grant, app->app));
      });
    }
    Finish sign = [this, app, p] { return Respond(p->grant, app->app); };
    if (finish_done) return finish_done(std::move(sign));
    done(sign());
  };
  storage_.grants->CheckAndRotateRefreshTokenAsync(start->old_hash, start->now, check,
                                                   std::move(completion));
}

void TokenService::AuthorizationCodeAsync(Admitted admitted, Executor blocking, Done done) const {
  const storage::Application& app = admitted.app->app;
  StatusOr<PreparedCode> prepared = PrepareCode(admitted.req, app);
  if (!prepared.ok()) return done(prepared.status());
  if (prepared->already_used) {
    // Reuse revokes the family the first use created: a write not to wait for on this thread.
    blocking(
        [this, admitted = std::move(admitted), done = std::move(done)] { done(Serve(admitted)); });
    return;
  }
  const PreparedCode& p = *prepared;
  // Sign now, while the redemption waits for its batch's commit.
  StatusOr<std::string> response = Respond(p.grant, app);
  if (!response.ok()) return done(response.status());
  storage_.grants->RedeemAuthorizationCodeAsync(
      p.code_hash, p.now, p.family, p.refresh,
      [done = std::move(done),
       response = std::move(*response)](StatusOr<storage::RedeemOutcome> outcome) mutable {
        if (!outcome.ok()) return done(outcome.status());
        Status settled = SettleCode(*outcome);
        if (!settled.ok()) return done(std::move(settled));
        done(std::move(response));
      });
}

void TokenService::TokenExchangeAsync(Admitted admitted, Done done) const {
  const storage::Application& app = admitted.app->app;
  StatusOr<PreparedExchange> prepared = PrepareExchange(admitted.req, app);
  if (!prepared.ok()) return done(prepared.status());
  const PreparedExchange& p = *prepared;
  // Sign now, while the family waits for its batch's commit.
  StatusOr<std::string> response = Respond(p.grant, app);
  if (!response.ok()) return done(response.status());
  storage_.grants->CreateExchangedFamilyAsync(
      p.family, p.refresh,
      AnswerOnceWritten(std::move(done), std::move(*response), &SettleExchange));
}

void TokenService::JwtBearerAsync(Admitted admitted, Executor blocking, Done done) const {
  const storage::Application& app = admitted.app->app;
  StatusOr<std::optional<PreparedAssertion>> prepared =
      PrepareJwtBearer(admitted.req, app, admitted.app->jwt_issuers, /*cached_keys_only=*/true);
  if (!prepared.ok()) return done(prepared.status());
  if (!prepared->has_value()) {
    // The issuer's keys must be fetched first: that may take seconds, so not on this thread.
    blocking(
        [this, admitted = std::move(admitted), done = std::move(done)] { done(Serve(admitted)); });
    return;
  }
  const PreparedAssertion& p = **prepared;
  // Sign now, while the family waits for its batch's commit.
  StatusOr<std::string> response = Respond(p.grant, app);
  if (!response.ok()) return done(response.status());
  storage_.grants->CreateFamilyForAssertionAsync(
      p.family, p.refresh, p.replay_id, p.replay_until,
      AnswerOnceWritten(std::move(done), std::move(*response), &SettleJwtBearer));
}

StatusOr<TokenService::Admitted> TokenService::Admit(const Caller& caller,
                                                     std::string_view body) const {
  TS_ASSIGN_OR_RETURN(Request req, ParseRequest(body));
  TS_ASSIGN_OR_RETURN(std::shared_ptr<const CachedApplication> cached,
                      FindEnabledApplication(*applications_, req.client_id));
  TS_RETURN_IF_ERROR(AuthorizeCaller(caller, *cached, minter_->instance(), kActionCreateToken));

  const bool known = req.grant_type == kGrantAuthorizationCode ||
                     req.grant_type == kGrantRefreshToken || req.grant_type == kGrantJwtBearer ||
                     req.grant_type == kGrantTokenExchange;
  if (!known) return UnsupportedGrantType("Unsupported grant type: " + req.grant_type);
  if (!HasGrant(cached->app, req.grant_type)) {
    return UnauthorizedClient("The application is not authorized for grant type " + req.grant_type);
  }
  return Admitted{std::move(req), std::move(cached)};
}

StatusOr<std::string> TokenService::Serve(const Admitted& admitted) const {
  const Request& req = admitted.req;
  const storage::Application& app = admitted.app->app;
  Grant grant;
  if (req.grant_type == kGrantAuthorizationCode) {
    TS_ASSIGN_OR_RETURN(grant, AuthorizationCodeGrant(req, app));
  } else if (req.grant_type == kGrantRefreshToken) {
    TS_ASSIGN_OR_RETURN(grant, RefreshTokenGrant(req, app));
  } else if (req.grant_type == kGrantTokenExchange) {
    TS_ASSIGN_OR_RETURN(grant, TokenExchangeGrant(req, app));
  } else {
    TS_ASSIGN_OR_RETURN(grant, JwtBearerGrant(req, app, admitted.app->jwt_issuers));
  }
  return Respond(grant, app);
}

StatusOr<TokenService::Grant> TokenService::AuthorizationCodeGrant(
    const Request& req, const storage::Application& app) const {
  TS_ASSIGN_OR_RETURN(PreparedCode p, PrepareCode(req, app));
  if (p.already_used) {
    // RFC 6749 §4.1.2: a reused code revokes what it produced.
    TS_RETURN_IF_ERROR(RevokeIfPresent(*storage_.grants, p.used_family_id, p.now));
    return InvalidGrant(kCodeReused);
  }
  TS_ASSIGN_OR_RETURN(storage::RedeemOutcome outcome, storage_.grants->RedeemAuthorizationCode(
                                                          p.code_hash, p.now, p.family, p.refresh));
  TS_RETURN_IF_ERROR(SettleCode(outcome));
  return p.grant;
}

StatusOr<TokenService::PreparedCode> TokenService::PrepareCode(
    const Request& req, const storage::Application& app) const {
  if (req.code.empty()) return InvalidRequest("Member 'code' is required for authorization_code");
  if (req.redirect_uri.empty()) {
    return InvalidRequest("Member 'redirectUri' is required for authorization_code");
  }
  PreparedCode p;
  p.now = clock_->NowUnixSeconds();
  p.code_hash = tokens::TokenMinter::Hash(req.code);
  auto code = NotFoundAs(storage_.grants->GetAuthorizationCode(p.code_hash), InvalidGrant,
                         "Invalid authorization code provided");
  if (!code.ok()) return code.status();
  // A code held by another application is as good as unknown to this one.
  if (code->application_arn != app.application_arn) {
    return InvalidGrant("Invalid authorization code provided");
  }
  if (code->consumed_at != 0) {
    p.already_used = true;
    p.used_family_id = code->family_id;
    return p;
  }
  if (code->expires_at <= p.now) return InvalidGrant("Authorization code has expired");
  if (code->redirect_uri != req.redirect_uri) {
    return InvalidGrant("redirectUri does not match the one used at authorization");
  }
  // PKCE binds a code only when /authorize received a challenge (RFC 7636 §4.6).
  if (code->code_challenge.empty()) {
    // RFC 9700 §4.8.2: a verifier for a code without a challenge is a downgrade attempt.
    if (!req.code_verifier.empty()) {
      return InvalidGrant(
          "codeVerifier was sent, but the code was issued without a code_challenge");
    }
    if (options_.require_pkce) {
      return InvalidGrant("PKCE is required, and the code was issued without a code_challenge");
    }
  } else {
    if (req.code_verifier.empty()) {
      return InvalidRequest(
          "Member 'codeVerifier' is required: the code was issued with a code_challenge");
    }
    if (!ValidVerifier(req.code_verifier)) {
      return InvalidGrant("codeVerifier must be 43 to 128 characters of [A-Za-z0-9-._~]");
    }
    const std::string challenge = crypto::Base64UrlEncode(crypto::Sha256(req.code_verifier));
    if (!crypto::ConstantTimeEquals(challenge, code->code_challenge)) {
      return InvalidGrant("codeVerifier does not match the code challenge");
    }
  }
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes, NarrowScopes(req.scope, code->scopes));
  auto user = NotFoundAs(storage_.directory->GetUser(code->user_id), InvalidGrant,
                         "The user this code was issued to no longer exists");
  if (!user.ok()) return user.status();

  storage::TokenFamily& family = p.family;
  family.family_id = NewFamilyId(*clock_);
  family.application_arn = app.application_arn;
  family.user_id = code->user_id;
  family.scopes = scopes;
  family.grant_type = std::string(kGrantAuthorizationCode);
  family.session_hash = code->session_hash;
  family.auth_time = code->auth_time;
  family.created_at = p.now;
  family.expires_at = p.now + options_.refresh_token_ttl;
  p.refresh = FirstRefreshToken(HasGrant(app, kGrantRefreshToken), family, p.now, *clock_,
                                p.grant.refresh_token);
  p.grant.subject = {code->user_id,    app.application_arn, scopes,
                     family.family_id, code->auth_time,     ""};
  p.grant.subject.nonce = code->nonce;
  return p;
}

Status TokenService::SettleCode(storage::RedeemOutcome outcome) {
  switch (outcome) {
    case storage::RedeemOutcome::kRedeemed:
      return OkStatus();
    case storage::RedeemOutcome::kAlreadyRedeemed:  // the store revoked the first use's family
      return InvalidGrant(kCodeReused);
    case storage::RedeemOutcome::kExpired:
      return InvalidGrant("Authorization code has expired");
  }
  return InternalError("unknown redemption outcome");
}

StatusOr<TokenService::Grant> TokenService::RefreshTokenGrant(
    const Request& req, const storage::Application& app) const {
  TS_ASSIGN_OR_RETURN(PreparedRefresh prepared, PrepareRefresh(req, app));
  storage::RotateOutcome outcome = storage::RotateOutcome::kAlreadyRotated;
  if (!prepared.already_rotated) {
    TS_ASSIGN_OR_RETURN(outcome, storage_.grants->RotateRefreshToken(
                                     prepared.old_hash, prepared.now, prepared.successor));
  }
  return SettleRefresh(prepared, outcome);
}

StatusOr<TokenService::RefreshStart> TokenService::StartRefresh(const Request& req) const {
  if (req.refresh_token.empty()) {
    return InvalidRequest("Member 'refreshToken' is required for refresh_token");
  }
  return RefreshStart{clock_->NowUnixSeconds(),
                      tokens::TokenMinter::RefreshTokenKey(req.refresh_token),
                      minter_->SuccessorRefreshToken(req.refresh_token, RefreshStamp(*clock_))};
}

StatusOr<TokenService::PreparedRefresh> TokenService::PrepareRefresh(
    const Request& req, const storage::Application& app) const {
  TS_ASSIGN_OR_RETURN(RefreshStart start, StartRefresh(req));
  auto found = NotFoundAs(storage_.grants->GetRefreshToken(start.old_hash), InvalidGrant,
                          "Invalid refresh token provided");
  if (!found.ok()) return found.status();
  return CheckRefresh(*found, req, app, std::move(start.successor), start.now);
}

StatusOr<TokenService::PreparedRefresh> TokenService::CheckRefresh(
    const storage::RefreshTokenWithFamily& found, const Request& req,
    const storage::Application& app, std::string successor, int64_t now) const {
  const storage::RefreshToken& token = found.token;
  const storage::TokenFamily& family = found.family;
  if (family.application_arn != app.application_arn) {
    return InvalidGrant("Invalid refresh token provided");
  }
  if (family.revoked_at != 0) return InvalidGrant("Refresh token has been revoked");
  if (token.expires_at <= now || family.expires_at <= now) {
    return InvalidGrant("Refresh token has expired");
  }
  // Access is checked at every token request, as on sign-in: an unassigned user's family stays
  // as it is (assigning the user again lets it refresh) but refreshes no more.
  if (app.assignment_required && !found.user_assigned) return UserNotAssigned(app);
  // Downscoping is bounded by the family: a narrowed token can widen again up to what the
  // original grant allowed (the model doc: "the refresh token's scopes").
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes,
                      NarrowScopes(req.scope.empty() ? token.scopes : req.scope, family.scopes));
  // No user lookup: deleting a user revokes their families in the same transaction (store.h),
  // so a live family's user exists. That saves a read on the busiest path.

  PreparedRefresh p;
  p.grant.subject = {family.user_id,   app.application_arn, scopes,
                     family.family_id, family.auth_time,    "",
                     family.act_json};
  p.grant.refresh_token = std::move(successor);
  p.presented = req.refresh_token;
  p.old_hash = token.token_hash;
  p.successor.token_hash = tokens::TokenMinter::RefreshTokenKey(p.grant.refresh_token);
  p.successor.family_id = family.family_id;
  p.successor.scopes = std::move(scopes);
  p.successor.created_at = now;
  p.successor.expires_at = family.expires_at;
  p.now = now;
  p.already_rotated = token.rotated_at != 0;
  return p;
}

Status TokenService::RequireAssignment(const storage::Application& app,
                                       const std::string& user_id) const {
  if (!app.assignment_required) return OkStatus();
  TS_ASSIGN_OR_RETURN(bool assigned,
                      storage_.applications->IsAssigned(app.application_arn, user_id));
  return assigned ? OkStatus() : UserNotAssigned(app);
}

StatusOr<TokenService::Grant> TokenService::SettleRefresh(const PreparedRefresh& prepared,
                                                          storage::RotateOutcome outcome) const {
  if (outcome == storage::RotateOutcome::kRotated) return prepared.grant;
  if (outcome == storage::RotateOutcome::kFamilyRevoked) {
    return InvalidGrant("Refresh token has been revoked");
  }
  // The token was rotated before (now or by a concurrent request). Inside the grace window the
  // same successor is handed out again while it is still current; otherwise this is reuse.
  const int64_t now = prepared.now;
  auto latest = storage_.grants->GetRefreshToken(prepared.old_hash);
  if (!latest.ok()) return latest.status();
  const int64_t rotated_at = latest->token.rotated_at;
  // The successor this token was rotated to, rebuilt with the stored successor's stamp: equal
  // to the stored one only if the rotation was this token's own (not an attacker's guess).
  const std::string& successor_key = latest->token.successor_hash;
  std::string successor = minter_->SuccessorRefreshToken(
      prepared.presented, tokens::TokenMinter::RefreshStampOfKey(successor_key));
  if (options_.refresh_grace_seconds > 0 && rotated_at != 0 &&
      now - rotated_at <= options_.refresh_grace_seconds &&
      tokens::TokenMinter::RefreshTokenKey(successor) == successor_key) {
    auto next = storage_.grants->GetRefreshToken(successor_key);
    if (next.ok() && next->token.rotated_at == 0 && next->family.revoked_at == 0) {
      Grant grant = prepared.grant;
      grant.refresh_token = std::move(successor);
      grant.subject.scopes = next->token.scopes;
      return grant;
    }
  }
  // RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family.
  TS_RETURN_IF_ERROR(RevokeIfPresent(*storage_.grants, prepared.successor.family_id, now));
  return InvalidGrant(
      "Refresh token has already been used; every token of its family is now "
      "revoked");
}

StatusOr<TokenService::Grant> TokenService::TokenExchangeGrant(
    const Request& req, const storage::Application& app) const {
  TS_ASSIGN_OR_RETURN(PreparedExchange p, PrepareExchange(req, app));
  TS_RETURN_IF_ERROR(SettleExchange(storage_.grants->CreateExchangedFamily(p.family, p.refresh)));
  return p.grant;
}

Status TokenService::SettleExchange(const Status& created) {
  // The parent was revoked after the checks (a revocation racing with this exchange).
  if (created.code() == StatusCode::kFailedPrecondition) {
    return InvalidGrant("Subject token has been revoked");
  }
  return created;
}

StatusOr<TokenService::PreparedExchange> TokenService::PrepareExchange(
    const Request& req, const storage::Application& app) const {
  if (req.subject_token.empty()) {
    return InvalidRequest("Member 'subjectToken' is required for token-exchange");
  }
  if (req.subject_token_type.empty()) {
    return InvalidRequest("Member 'subjectTokenType' is required for token-exchange");
  }
  if (req.subject_token_type != kTokenTypeAccess) {
    return InvalidRequest("subjectTokenType must be " + std::string(kTokenTypeAccess) +
                          ": only access tokens can be exchanged");
  }
  const bool want_refresh = req.requested_token_type == kTokenTypeRefresh;
  if (!want_refresh && !req.requested_token_type.empty() &&
      req.requested_token_type != kTokenTypeAccess) {
    return InvalidRequest("requestedTokenType must be " + std::string(kTokenTypeAccess) + " or " +
                          std::string(kTokenTypeRefresh));
  }
  if (want_refresh && !HasGrant(app, kGrantRefreshToken)) {
    return UnauthorizedClient(
        "The application is not authorized for grant type refresh_token, so it cannot be "
        "issued a refresh token");
  }
  if (req.subject_token.starts_with("tsrt_")) {
    return InvalidRequest(
        "subjectToken is a refresh token; token exchange takes an access token issued to "
        "another application");
  }
  const int64_t now = clock_->NowUnixSeconds();
  auto verified = minter_->VerifyAccessToken(req.subject_token, now);
  if (!verified.ok()) {
    const std::string_view why = verified.status().message();
    if (why.starts_with("not an access token")) {
      return InvalidRequest(
          "subjectToken is not an access token (an ID token cannot be exchanged)");
    }
    if (why.starts_with("access token has expired")) {
      return InvalidGrant("Subject token has expired");
    }
    return InvalidGrant("Invalid subject token: " + std::string(why));
  }
  const tokens::AccessTokenClaims& subject = *verified;
  if (subject.client_id == app.application_arn) {
    return InvalidGrant(
        "The subject token was issued to this same application; token exchange takes a token "
        "issued to a different application");
  }
  TS_ASSIGN_OR_RETURN(bool jti_revoked, storage_.grants->IsAccessTokenRevoked(subject.token_id));
  if (jti_revoked) return InvalidGrant("Subject token has been revoked");
  auto parent = NotFoundAs(storage_.grants->GetFamily(subject.family_id), InvalidGrant,
                           "Subject token has been revoked");
  if (!parent.ok()) return parent.status();
  if (parent->revoked_at != 0) return InvalidGrant("Subject token has been revoked");
  auto cached_source =
      NotFoundAs(applications_->Get(subject.client_id), InvalidGrant,
                 "The application the subject token was issued to no longer exists");
  if (!cached_source.ok()) return cached_source.status();
  const storage::Application* source = &(*cached_source)->app;
  if (source->status != "ENABLED") {
    return InvalidGrant("The application the subject token was issued to is disabled");
  }

  // PROTOCOL.md §5.1/§5.2: the source application's access scopes say which targets may receive
  // them. A scope passes if the token carries it and its AuthorizedTargets name this application
  // or the instance.
  const std::string& instance_arn = minter_->instance().instance_arn;
  std::vector<std::string> authorized;
  for (const std::string& scope : subject.scopes) {
    auto it = source->access_scopes.find(scope);
    if (it == source->access_scopes.end()) continue;
    if (Contains(it->second, app.application_arn) || Contains(it->second, instance_arn)) {
      authorized.push_back(scope);
    }
  }
  if (authorized.empty()) {
    return InvalidGrant("Application " + source->application_arn +
                        " has not authorized this application as a target of any scope the "
                        "subject token carries");
  }
  // The new token may carry what the target application can grant, limited to the authorized
  // access scopes and the default scopes the subject token already had.
  std::vector<std::string> ceiling;
  for (const std::string& scope : AllowedScopes(app)) {
    const bool is_default = Contains(DefaultScopes(), scope);
    if ((is_default && Contains(subject.scopes, scope)) || Contains(authorized, scope)) {
      ceiling.push_back(scope);
    }
  }
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes, NarrowScopes(req.scope, ceiling));

  auto user = NotFoundAs(storage_.directory->GetUser(subject.user_id), InvalidGrant,
                         "The user the subject token was issued to no longer exists");
  if (!user.ok()) return user.status();
  TS_RETURN_IF_ERROR(RequireAssignment(app, subject.user_id));
  if (ActorDepth(subject.act_json) >= kMaxActorDepth) {
    return InvalidGrant("The subject token has passed through too many applications");
  }
  // RFC 8693 §4.1: the application whose token was exchanged is the current actor (outermost);
  // the actors before it stay nested inside.
  JsonWriter act;
  act.BeginObject();
  act.Member("sub", subject.client_id);
  if (!subject.act_json.empty()) {
    act.Key("act");
    act.Raw(subject.act_json);
  }
  act.EndObject();

  PreparedExchange p;
  storage::TokenFamily& family = p.family;
  family.family_id = NewFamilyId(*clock_);
  family.application_arn = app.application_arn;
  family.user_id = subject.user_id;
  family.scopes = scopes;
  family.grant_type = std::string(kGrantTokenExchange);
  // The same sign-in session: signing out ends what was exchanged from it too.
  family.session_hash = parent->session_hash;
  family.auth_time = parent->auth_time;
  family.created_at = now;
  family.expires_at = std::min(now + options_.refresh_token_ttl, parent->expires_at);
  family.parent_family_id = parent->family_id;
  family.act_json = act.Take();

  p.refresh = FirstRefreshToken(want_refresh, family, now, *clock_, p.grant.refresh_token);
  p.grant.subject = {subject.user_id,  app.application_arn, scopes,
                     family.family_id, family.auth_time,    "",
                     family.act_json};
  return p;
}

StatusOr<TokenService::Grant> TokenService::JwtBearerGrant(
    const Request& req, const storage::Application& app,
    const std::vector<tti::AuthorizedIssuer>& authorized) const {
  TS_ASSIGN_OR_RETURN(std::optional<PreparedAssertion> prepared,
                      PrepareJwtBearer(req, app, authorized, /*cached_keys_only=*/false));
  // Never empty when keys may be fetched; checked so that no path reads an empty optional.
  if (!prepared.has_value()) return InternalError("the assertion was not validated");
  TS_RETURN_IF_ERROR(SettleJwtBearer(storage_.grants->CreateFamilyForAssertion(
      prepared->family, prepared->refresh, prepared->replay_id, prepared->replay_until)));
  return std::move(prepared->grant);
}

Status TokenService::SettleJwtBearer(const Status& created) {
  if (created.code() == StatusCode::kAlreadyExists) {
    return InvalidGrant("Invalid assertion: assertion has already been used");
  }
  return created;
}

StatusOr<std::optional<TokenService::PreparedAssertion>> TokenService::PrepareJwtBearer(
    const Request& req, const storage::Application& app,
    const std::vector<tti::AuthorizedIssuer>& authorized, bool cached_keys_only) const {
  if (assertions_ == nullptr) {
    return UnsupportedGrantType("Grant type " + req.grant_type +
                                " is not supported by this server");
  }
  if (req.assertion.empty()) {
    return InvalidRequest("Member 'assertion' is required for jwt-bearer");
  }
  const int64_t now = clock_->NowUnixSeconds();
  std::optional<StatusOr<tti::ValidatedAssertion>> checked =
      cached_keys_only ? assertions_->ValidateWithCachedKeys(req.assertion, authorized, now)
                       : assertions_->Validate(req.assertion, authorized, now);
  if (!checked) return std::optional<PreparedAssertion>();  // the keys must be fetched
  StatusOr<tti::ValidatedAssertion>& validated = *checked;
  if (!validated.ok()) {
    if (validated.status().code() != StatusCode::kInvalidArgument &&
        validated.status().code() != StatusCode::kUnavailable) {
      return validated.status();
    }
    return InvalidGrant("Invalid assertion: " + std::string(validated.status().message()));
  }
  const storage::TrustedTokenIssuer& issuer = validated->issuer;

  // Exactly one identity-store user must carry the claim's value at IdentityStoreAttributePath.
  // The attribute index finds the candidates (its path match is case-insensitive, so a superset);
  // UserHasAttribute keeps the exact semantics.
  TS_ASSIGN_OR_RETURN(std::vector<storage::User> users,
                      storage_.directory->FindUsersByAttribute(issuer.identity_store_attribute_path,
                                                               validated->claim_value));
  std::vector<const storage::User*> matches;
  for (const storage::User& user : users) {
    if (tti::UserHasAttribute(user, issuer.identity_store_attribute_path, validated->claim_value)) {
      matches.push_back(&user);
    }
  }
  const std::string which = "the assertion's '" + issuer.claim_attribute_path +
                            "' claim at identity-store attribute '" +
                            issuer.identity_store_attribute_path + "'";
  if (matches.empty()) return InvalidGrant("No user matches " + which);
  if (matches.size() > 1) {
    return InvalidGrant(std::to_string(matches.size()) + " users match " + which +
                        "; it must identify exactly one");
  }
  const storage::User& user = *matches.front();
  TS_RETURN_IF_ERROR(RequireAssignment(app, user.user_id));
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes, NarrowScopes(req.scope, AllowedScopes(app)));

  // The trusted token issuer acts for the user (PROTOCOL.md §5.6: act.sub is its ARN). Kept on
  // the family so refreshed tokens carry it and a later exchange nests it (RFC 8693 §4.1).
  JsonWriter act;
  act.BeginObject();
  act.Member("sub", issuer.arn);
  act.EndObject();

  PreparedAssertion p;
  storage::TokenFamily& family = p.family;
  family.family_id = NewFamilyId(*clock_);
  family.application_arn = app.application_arn;
  family.user_id = user.user_id;
  family.scopes = scopes;
  family.grant_type = std::string(kGrantJwtBearer);
  family.auth_time = validated->auth_time;
  family.created_at = now;
  family.expires_at = now + options_.refresh_token_ttl;
  family.act_json = act.Take();
  p.refresh = FirstRefreshToken(HasGrant(app, kGrantRefreshToken), family, now, *clock_,
                                p.grant.refresh_token);
  // RFC 7523 §3 item 7: the store records the jti with the family in one transaction, so two
  // concurrent redemptions of one assertion cannot both succeed, on any node.
  p.replay_id = std::move(validated->replay_id);
  p.replay_until = validated->replay_until;
  p.grant.subject = {user.user_id,     app.application_arn, std::move(scopes), family.family_id,
                     family.auth_time, issuer.arn,          family.act_json};
  return std::optional<PreparedAssertion>(std::move(p));
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
