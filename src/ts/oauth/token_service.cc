#include "ts/oauth/token_service.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <optional>
#include <vector>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/random.h"
#include "ts/iam/policy.h"
#include "ts/oauth/application.h"
#include "ts/oauth/errors.h"
#include "ts/oauth/json_request.h"
#include "ts/tokens/token_minter.h"
#include "ts/tti/assertion.h"
#include "ts/tti/claims.h"

namespace ts::oauth {

// The members of CreateTokenWithIAMRequest (docs/protocol.md §1.4); absent members stay empty.
// Those the shared grants read (code, refreshToken, redirectUri, codeVerifier, scope) are
// GrantRequest's.
struct TokenService::Request : GrantRequest {
  std::string client_id;
  std::string grant_type;
  std::string assertion;
  std::string subject_token;
  std::string subject_token_type;
  std::string requested_token_type;
};

struct TokenService::Admitted {
  Request req;
  std::shared_ptr<const CachedApplication> app;
};

struct TokenService::PreparedAssertion {
  Grant grant;  // as issued once the family is stored
  storage::TokenFamily family;
  std::optional<storage::RefreshToken> refresh;  // the family's first, if the app may refresh
  std::string replay_id;                         // the assertion's replay record
  int64_t replay_until = 0;
};

struct TokenService::ExchangeRequest {
  tokens::AccessTokenClaims subject;  // the subject token, verified
  // The application it was issued to, looked up in the cache before the store read; judged
  // after it, so a revoked subject is refused as revoked whatever became of its application.
  StatusOr<std::shared_ptr<const CachedApplication>> source;
  bool want_refresh = false;
  int64_t now = 0;
};

struct TokenService::PreparedExchange {
  Grant grant;  // as issued once the family is stored
  storage::TokenFamily family;
  std::optional<storage::RefreshToken> refresh;  // when a refresh token was requested
};

namespace {

// How many applications an identity may pass through by exchange; bounds the act claim's size.
constexpr int kMaxActorDepth = 8;

StatusOr<TokenService::Request> ParseRequest(std::string_view body) {
  using Request = TokenService::Request;
  static constexpr StringMember<Request> kStrings[] = {
      {"clientId", &Request::client_id},
      {"grantType", &Request::grant_type},
      {"code", &Request::code},
      {"refreshToken", &Request::refresh_token},
      {"assertion", &Request::assertion},
      {"redirectUri", &Request::redirect_uri},
      {"subjectToken", &Request::subject_token},
      {"subjectTokenType", &Request::subject_token_type},
      {"requestedTokenType", &Request::requested_token_type},
      {"codeVerifier", &Request::code_verifier},
  };
  TS_ASSIGN_OR_RETURN(boost::json::object o, ParseJsonObject(body));
  Request req;
  TS_RETURN_IF_ERROR(ReadStringMembers<Request>(o, kStrings, req));
  TS_RETURN_IF_ERROR(ReadStringList(o, "scope", req.scope));
  if (req.client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  if (req.grant_type.empty()) return InvalidRequest("Member 'grantType' is required");
  return req;
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

// The application as the shared grants see it.
GrantClient ClientOf(const storage::Application& app) {
  return {app.application_arn, HasGrant(app, kGrantRefreshToken), app.assignment_required};
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

// The store's completion for a grant checked in its writer (the check left what it decided in
// `prepared`): settle's error, or the response signed once the family is durable, through
// `finish_done` when given (so the caller signs off the store's thread, as a refresh does).
template <typename Prepared, typename Sign>
std::function<void(Status)> SignOnceWritten(std::shared_ptr<StatusOr<Prepared>> prepared, Sign sign,
                                            Status (*settle)(const Status&),
                                            TokenService::Done done,
                                            TokenService::FinishDone finish_done) {
  return [prepared = std::move(prepared), sign = std::move(sign), settle, done = std::move(done),
          finish_done = std::move(finish_done)](Status written) mutable {
    Status settled = settle(written);
    if (!settled.ok()) return done(std::move(settled));
    auto p = std::make_shared<const Prepared>(std::move(**prepared));
    TokenService::Finish finish = [p, sign] { return sign(p->grant); };
    if (finish_done) return finish_done(std::move(finish));
    done(finish());
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
      grants_(storage_.grants, minter_, clock_, options),
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
  if (!storage_.grants->GrantWritesWithoutBlocking()) {
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
    std::shared_ptr<const CachedApplication> app = admitted->app;
    GrantClient client = ClientOf(app->app);
    return grants_.RefreshAsync(
        std::make_shared<const Request>(std::move(admitted->req)), std::move(client),
        std::move(blocking),
        [this, app = std::move(app)](const Grant& grant) { return Respond(grant, app->app); },
        std::move(done), std::move(finish_done));
  }
  if (grant_type == kGrantAuthorizationCode) {
    return AuthorizationCodeAsync(std::move(*admitted), std::move(blocking), std::move(done));
  }
  if (grant_type == kGrantJwtBearer) {
    return JwtBearerAsync(std::move(*admitted), std::move(blocking), std::move(done),
                          std::move(finish_done));
  }
  TokenExchangeAsync(std::move(*admitted), std::move(done), std::move(finish_done));
}

void TokenService::AuthorizationCodeAsync(Admitted admitted, Executor blocking, Done done) const {
  const storage::Application& app = admitted.app->app;
  StatusOr<PreparedCode> prepared = grants_.PrepareCode(admitted.req, ClientOf(app));
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
  storage::AuditScope audit(TokenFamilyEvent("CreateTokenWithIAM", p.family));
  storage_.grants->RedeemAuthorizationCodeAsync(
      p.code_hash, p.now, p.family, p.refresh,
      [done = std::move(done),
       response = std::move(*response)](StatusOr<storage::RedeemOutcome> outcome) mutable {
        if (!outcome.ok()) return done(outcome.status());
        Status settled = TokenGrants::SettleCode(*outcome);
        if (!settled.ok()) return done(std::move(settled));
        done(std::move(response));
      });
}

void TokenService::TokenExchangeAsync(Admitted admitted, Done done, FinishDone finish_done) const {
  const storage::Application& app = admitted.app->app;
  if (storage_.grants->ChecksGrantsInWriter()) {
    StatusOr<ExchangeRequest> exchange = CheckExchangeRequest(admitted.req, app);
    if (!exchange.ok()) return done(exchange.status());
    const tokens::AccessTokenClaims& subject = exchange->subject;
    storage::GrantStore::ExchangeSubjectLookup lookup{subject.token_id, subject.family_id,
                                                      subject.user_id, app.application_arn};
    // Written by the check (on the store's writer thread, before the batch's transaction) and
    // read by the completion (on that thread, after the commit), one after the other.
    auto prepared = std::make_shared<StatusOr<PreparedExchange>>(InternalError("not checked"));
    auto admitted_ref = std::make_shared<const Admitted>(std::move(admitted));
    auto check = [this, admitted_ref, exchange = std::move(*exchange),
                  prepared](const storage::ExchangeSubject& stored)
        -> StatusOr<storage::GrantStore::ExchangeWrite> {
      *prepared = PrepareExchangeFor(admitted_ref->req, admitted_ref->app->app, exchange, stored);
      if (!prepared->ok()) return prepared->status();
      const PreparedExchange& p = **prepared;
      return storage::GrantStore::ExchangeWrite{p.family, p.refresh,
                                                TokenFamilyEvent("CreateTokenWithIAM", p.family)};
    };
    auto sign = [this, admitted_ref](const Grant& grant) {
      return Respond(grant, admitted_ref->app->app);
    };
    storage_.grants->CheckAndCreateExchangedFamilyAsync(
        lookup, std::move(check),
        SignOnceWritten(std::move(prepared), std::move(sign), &SettleExchange, std::move(done),
                        std::move(finish_done)));
    return;
  }
  StatusOr<PreparedExchange> prepared = PrepareExchange(admitted.req, app);
  if (!prepared.ok()) return done(prepared.status());
  const PreparedExchange& p = *prepared;
  // Sign now, while the family waits for its batch's commit.
  StatusOr<std::string> response = Respond(p.grant, app);
  if (!response.ok()) return done(response.status());
  storage::AuditScope audit(TokenFamilyEvent("CreateTokenWithIAM", p.family));
  storage_.grants->CreateExchangedFamilyAsync(
      p.family, p.refresh,
      AnswerOnceWritten(std::move(done), std::move(*response), &SettleExchange));
}

void TokenService::JwtBearerAsync(Admitted admitted, Executor blocking, Done done,
                                  FinishDone finish_done) const {
  const storage::Application& app = admitted.app->app;
  if (!storage_.grants->ChecksGrantsInWriter()) {
    StatusOr<std::optional<PreparedAssertion>> prepared =
        PrepareJwtBearer(admitted.req, app, admitted.app->jwt_issuers, /*cached_keys_only=*/true);
    if (!prepared.ok()) return done(prepared.status());
    if (!prepared->has_value()) {
      // The issuer's keys must be fetched first: that may take seconds, so not on this thread.
      blocking([this, admitted = std::move(admitted), done = std::move(done)] {
        done(Serve(admitted));
      });
      return;
    }
    const PreparedAssertion& p = **prepared;
    // Sign now, while the family waits for its batch's commit.
    StatusOr<std::string> response = Respond(p.grant, app);
    if (!response.ok()) return done(response.status());
    storage::AuditScope audit(TokenFamilyEvent("CreateTokenWithIAM", p.family));
    storage_.grants->CreateFamilyForAssertionAsync(
        p.family, p.refresh, p.replay_id, p.replay_until,
        AnswerOnceWritten(std::move(done), std::move(*response), &SettleJwtBearer));
    return;
  }
  StatusOr<std::optional<tti::ValidatedAssertion>> validated =
      ValidateJwtBearer(admitted.req, admitted.app->jwt_issuers, /*cached_keys_only=*/true);
  if (!validated.ok()) return done(validated.status());
  if (!validated->has_value()) {
    blocking(
        [this, admitted = std::move(admitted), done = std::move(done)] { done(Serve(admitted)); });
    return;
  }
  storage::GrantStore::AssertionUserLookup lookup{
      (*validated)->issuer.identity_store_attribute_path, (*validated)->claim_value,
      app.application_arn};
  std::shared_ptr<const CachedApplication> app_ref = admitted.app;
  // Written by the check (on the store's writer thread, before the batch's transaction) and
  // read by the completion (on that thread, after the commit), one after the other.
  auto prepared = std::make_shared<StatusOr<PreparedAssertion>>(InternalError("not checked"));
  auto check = [this, admitted = std::make_shared<const Admitted>(std::move(admitted)),
                validated = std::move(**validated),
                prepared](const std::vector<storage::UserWithAssignment>& users)
      -> StatusOr<storage::GrantStore::AssertionWrite> {
    *prepared = PrepareAssertionFor(admitted->req, admitted->app->app, validated, users);
    if (!prepared->ok()) return prepared->status();
    const PreparedAssertion& p = **prepared;
    return storage::GrantStore::AssertionWrite{p.family, p.refresh, p.replay_id, p.replay_until,
                                               TokenFamilyEvent("CreateTokenWithIAM", p.family)};
  };
  auto sign = [this, app_ref = std::move(app_ref)](const Grant& grant) {
    return Respond(grant, app_ref->app);
  };
  storage_.grants->CheckAndCreateFamilyForAssertionAsync(
      lookup, std::move(check),
      SignOnceWritten(std::move(prepared), std::move(sign), &SettleJwtBearer, std::move(done),
                      std::move(finish_done)));
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
    TS_ASSIGN_OR_RETURN(grant, grants_.RedeemCode(req, ClientOf(app)));
  } else if (req.grant_type == kGrantRefreshToken) {
    TS_ASSIGN_OR_RETURN(grant, grants_.Refresh(req, ClientOf(app)));
  } else if (req.grant_type == kGrantTokenExchange) {
    TS_ASSIGN_OR_RETURN(grant, TokenExchangeGrant(req, app));
  } else {
    TS_ASSIGN_OR_RETURN(grant, JwtBearerGrant(req, app, admitted.app->jwt_issuers));
  }
  return Respond(grant, app);
}

StatusOr<Grant> TokenService::TokenExchangeGrant(const Request& req,
                                                 const storage::Application& app) const {
  TS_ASSIGN_OR_RETURN(PreparedExchange p, PrepareExchange(req, app));
  storage::AuditScope audit(TokenFamilyEvent("CreateTokenWithIAM", p.family));
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
  TS_ASSIGN_OR_RETURN(ExchangeRequest exchange, CheckExchangeRequest(req, app));
  const tokens::AccessTokenClaims& subject = exchange.subject;
  TS_ASSIGN_OR_RETURN(storage::ExchangeSubject stored,
                      storage_.grants->GetExchangeSubject(subject.token_id, subject.family_id,
                                                          subject.user_id, app.application_arn));
  return PrepareExchangeFor(req, app, exchange, stored);
}

StatusOr<TokenService::ExchangeRequest> TokenService::CheckExchangeRequest(
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
  return ExchangeRequest{subject, applications_->Get(subject.client_id), want_refresh, now};
}

StatusOr<TokenService::PreparedExchange> TokenService::PrepareExchangeFor(
    const Request& req, const storage::Application& app, const ExchangeRequest& exchange,
    const storage::ExchangeSubject& stored) const {
  const tokens::AccessTokenClaims& subject = exchange.subject;
  const int64_t now = exchange.now;
  if (stored.token_revoked || !stored.family.has_value() || stored.family->revoked_at != 0) {
    return InvalidGrant("Subject token has been revoked");
  }
  const storage::TokenFamily& parent = *stored.family;
  auto cached_source =
      NotFoundAs(exchange.source, InvalidGrant,
                 "The application the subject token was issued to no longer exists");
  if (!cached_source.ok()) return cached_source.status();
  const storage::Application* source = &(*cached_source)->app;
  if (source->status != "ENABLED") {
    return InvalidGrant("The application the subject token was issued to is disabled");
  }

  // docs/protocol.md §5.1/§5.2: the source application's access scopes say which targets may
  // receive them. A scope passes if the token carries it and its AuthorizedTargets name this
  // application or the instance.
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

  if (!stored.user_exists) {
    return InvalidGrant("The user the subject token was issued to no longer exists");
  }
  if (app.assignment_required && !stored.user_assigned) {
    return UserNotAssigned(app.application_arn);
  }
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
  family.session_hash = parent.session_hash;
  family.auth_time = parent.auth_time;
  family.created_at = now;
  family.expires_at = std::min(now + options_.refresh_token_ttl, parent.expires_at);
  family.parent_family_id = parent.family_id;
  family.act_json = act.Take();

  p.refresh = FirstRefreshToken(exchange.want_refresh, family, now, *clock_, p.grant.refresh_token);
  p.grant.subject = {subject.user_id,  app.application_arn, scopes,
                     family.family_id, family.auth_time,    "",
                     family.act_json};
  return p;
}

StatusOr<Grant> TokenService::JwtBearerGrant(
    const Request& req, const storage::Application& app,
    const std::vector<tti::AuthorizedIssuer>& authorized) const {
  TS_ASSIGN_OR_RETURN(std::optional<PreparedAssertion> prepared,
                      PrepareJwtBearer(req, app, authorized, /*cached_keys_only=*/false));
  // Never empty when keys may be fetched; checked so that no path reads an empty optional.
  if (!prepared.has_value()) return InternalError("the assertion was not validated");
  storage::AuditScope audit(TokenFamilyEvent("CreateTokenWithIAM", prepared->family));
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
  TS_ASSIGN_OR_RETURN(std::optional<tti::ValidatedAssertion> validated,
                      ValidateJwtBearer(req, authorized, cached_keys_only));
  if (!validated.has_value()) return std::optional<PreparedAssertion>();
  // Read with each candidate's assignment to `app`, so the grant makes one read, not two.
  TS_ASSIGN_OR_RETURN(std::vector<storage::UserWithAssignment> users,
                      storage_.directory->FindUsersByAttributeWithAssignment(
                          validated->issuer.identity_store_attribute_path, validated->claim_value,
                          app.application_arn));
  TS_ASSIGN_OR_RETURN(PreparedAssertion p,
                      PrepareAssertionFor(req, app, std::move(*validated), users));
  return std::optional<PreparedAssertion>(std::move(p));
}

StatusOr<std::optional<tti::ValidatedAssertion>> TokenService::ValidateJwtBearer(
    const Request& req, const std::vector<tti::AuthorizedIssuer>& authorized,
    bool cached_keys_only) const {
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
  if (!checked) return std::optional<tti::ValidatedAssertion>();  // the keys must be fetched
  StatusOr<tti::ValidatedAssertion>& validated = *checked;
  if (!validated.ok()) {
    if (validated.status().code() != StatusCode::kInvalidArgument &&
        validated.status().code() != StatusCode::kUnavailable) {
      return validated.status();
    }
    return InvalidGrant("Invalid assertion: " + std::string(validated.status().message()));
  }
  return std::optional<tti::ValidatedAssertion>(std::move(*validated));
}

StatusOr<TokenService::PreparedAssertion> TokenService::PrepareAssertionFor(
    const Request& req, const storage::Application& app, tti::ValidatedAssertion validated,
    const std::vector<storage::UserWithAssignment>& users) const {
  const int64_t now = clock_->NowUnixSeconds();
  const storage::TrustedTokenIssuer& issuer = validated.issuer;

  // Exactly one identity-store user must carry the claim's value at IdentityStoreAttributePath.
  // The attribute index finds the candidates (its path match is case-insensitive, so a superset);
  // UserHasAttribute keeps the exact semantics.
  std::vector<const storage::UserWithAssignment*> matches;
  for (const storage::UserWithAssignment& candidate : users) {
    if (tti::UserHasAttribute(candidate.user, issuer.identity_store_attribute_path,
                              validated.claim_value)) {
      matches.push_back(&candidate);
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
  const storage::User& user = matches.front()->user;
  if (app.assignment_required && !matches.front()->assigned) {
    return UserNotAssigned(app.application_arn);
  }
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes, NarrowScopes(req.scope, AllowedScopes(app)));

  // The trusted token issuer acts for the user (docs/protocol.md §5.6: act.sub is its ARN). Kept on
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
  family.auth_time = validated.auth_time;
  family.created_at = now;
  family.expires_at = now + options_.refresh_token_ttl;
  family.act_json = act.Take();
  p.refresh = FirstRefreshToken(HasGrant(app, kGrantRefreshToken), family, now, *clock_,
                                p.grant.refresh_token);
  // RFC 7523 §3 item 7: the store records the jti with the family in one transaction, so two
  // concurrent redemptions of one assertion cannot both succeed, on any node.
  p.replay_id = std::move(validated.replay_id);
  p.replay_until = validated.replay_until;
  p.grant.subject = {user.user_id,     app.application_arn, std::move(scopes), family.family_id,
                     family.auth_time, issuer.arn,          family.act_json};
  return p;
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
