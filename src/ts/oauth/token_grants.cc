#include "ts/oauth/token_grants.h"

#include <algorithm>
#include <utility>

#include "ts/common/status_macros.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/oauth/application.h"
#include "ts/oauth/errors.h"

namespace ts::oauth {

struct TokenGrants::RefreshStart {
  int64_t now = 0;
  std::string old_hash;   // the presented token's key in the store
  std::string successor;  // the presented token's derived successor, stamped now
};

namespace {

// A refresh token's stamp (TokenMinter::NewRefreshToken): the clock's microseconds.
uint64_t RefreshStamp(const Clock& clock) {
  return static_cast<uint64_t>(std::max<int64_t>(0, clock.NowUnixMicros()));
}

constexpr char kCodeReused[] =
    "Authorization code has already been used; the tokens it produced are revoked";

}  // namespace

std::string NewFamilyId(const Clock& clock) {
  return crypto::TimeOrderedUuid(clock.NowUnixMicros() / 1000);
}

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

Status RevokeIfPresent(storage::GrantStore& store, const std::string& family_id, int64_t now,
                       std::string_view why) {
  storage::AuditEvent e;
  e.event_time = now;
  e.event_source = "sso-oauth.amazonaws.com";
  e.event_name = "RevokeTokenFamily";
  e.event_type = "AwsServiceEvent";
  e.additional_event_data = {{"tokenFamilyId", family_id}, {"reason", std::string(why)}};
  storage::AuditScope audit(std::move(e));
  Status s = store.RevokeFamily(family_id, now);
  return s.code() == StatusCode::kNotFound ? OkStatus() : s;
}

storage::AuditEvent TokenFamilyEvent(std::string_view api, const storage::TokenFamily& family) {
  storage::AuditEvent e;
  e.event_time = family.created_at;
  e.event_source = "sso-oauth.amazonaws.com";
  e.event_name = std::string(api);
  e.request_parameters = {{"clientId", family.application_arn}, {"grantType", family.grant_type}};
  e.additional_event_data = {{"tokenFamilyId", family.family_id}, {"userId", family.user_id}};
  if (!family.parent_family_id.empty()) {
    e.additional_event_data.emplace_back("parentTokenFamilyId", family.parent_family_id);
  }
  return e;
}

// Every grant and every refresh refuse a user an application requires assignment of but does not
// have (directly or through a group), as sign-in does.
Status UserNotAssigned(const std::string& application_arn) {
  return InvalidGrant("The user is not assigned to application " + application_arn);
}

bool ValidVerifier(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (char c : v) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

TokenGrants::TokenGrants(std::shared_ptr<storage::GrantStore> grants,
                         std::shared_ptr<const tokens::TokenMinter> minter, ClockPtr clock,
                         TokenServiceOptions options)
    : grants_(std::move(grants)),
      minter_(std::move(minter)),
      clock_(std::move(clock)),
      options_(options) {}

StatusOr<Grant> TokenGrants::RedeemCode(
    const GrantRequest& req, const GrantClient& client,
    const std::function<Status(const storage::TokenFamily&)>& admit) const {
  TS_ASSIGN_OR_RETURN(PreparedCode p, PrepareCode(req, client));
  if (p.already_used) {
    // RFC 6749 §4.1.2: a reused code revokes what it produced.
    TS_RETURN_IF_ERROR(
        RevokeIfPresent(*grants_, p.used_family_id, p.now, "authorization code reuse"));
    return InvalidGrant(kCodeReused);
  }
  if (admit) TS_RETURN_IF_ERROR(admit(p.family));
  storage::AuditScope audit(TokenFamilyEvent(client.audit_api, p.family));
  TS_ASSIGN_OR_RETURN(storage::RedeemOutcome outcome,
                      grants_->RedeemAuthorizationCode(p.code_hash, p.now, p.family, p.refresh));
  TS_RETURN_IF_ERROR(SettleCode(outcome));
  return p.grant;
}

StatusOr<PreparedCode> TokenGrants::PrepareCode(const GrantRequest& req,
                                                const GrantClient& client) const {
  if (req.code.empty()) return InvalidRequest("Member 'code' is required for authorization_code");
  if (req.redirect_uri.empty()) {
    return InvalidRequest("Member 'redirectUri' is required for authorization_code");
  }
  PreparedCode p;
  p.now = clock_->NowUnixSeconds();
  p.code_hash = tokens::TokenMinter::Hash(req.code);
  auto to_redeem = NotFoundAs(grants_->GetCodeToRedeem(p.code_hash), InvalidGrant,
                              "Invalid authorization code provided");
  if (!to_redeem.ok()) return to_redeem.status();
  const storage::AuthorizationCode* code = &to_redeem->code;
  // A code held by another client is as good as unknown to this one.
  if (code->application_arn != client.id) {
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
    if (options_.require_pkce || client.require_pkce) {
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
  if (!to_redeem->user_exists) {
    return InvalidGrant("The user this code was issued to no longer exists");
  }

  storage::TokenFamily& family = p.family;
  family.family_id = NewFamilyId(*clock_);
  family.application_arn = client.id;
  family.user_id = code->user_id;
  family.scopes = scopes;
  family.grant_type = std::string(kGrantAuthorizationCode);
  family.session_hash = code->session_hash;
  family.auth_time = code->auth_time;
  family.created_at = p.now;
  family.expires_at = p.now + options_.refresh_token_ttl;
  p.refresh = FirstRefreshToken(client.may_refresh, family, p.now, *clock_, p.grant.refresh_token);
  tokens::TokenSubject& subject = p.grant.subject;
  subject.user_id = code->user_id;
  subject.application_arn = client.id;
  subject.scopes = std::move(scopes);
  subject.family_id = family.family_id;
  subject.auth_time = code->auth_time;
  // OIDC Core §3.1.2.1: the ID token of this redemption echoes the authorization request's.
  subject.nonce = code->nonce;
  return p;
}

Status TokenGrants::SettleCode(storage::RedeemOutcome outcome) {
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

StatusOr<Grant> TokenGrants::Refresh(
    const GrantRequest& req, const GrantClient& client,
    const std::function<Status(const storage::TokenFamily&)>& admit) const {
  TS_ASSIGN_OR_RETURN(RefreshStart start, StartRefresh(req));
  auto found = NotFoundAs(grants_->GetRefreshToken(start.old_hash), InvalidGrant,
                          "Invalid refresh token provided");
  if (!found.ok()) return found.status();
  TS_ASSIGN_OR_RETURN(PreparedRefresh prepared,
                      CheckRefresh(*found, req, client, std::move(start.successor), start.now));
  if (admit) TS_RETURN_IF_ERROR(admit(found->family));
  storage::RotateOutcome outcome = storage::RotateOutcome::kAlreadyRotated;
  if (!prepared.already_rotated) {
    TS_ASSIGN_OR_RETURN(
        outcome, grants_->RotateRefreshToken(prepared.old_hash, prepared.now, prepared.successor));
  }
  return SettleRefresh(prepared, outcome);
}

void TokenGrants::RefreshAsync(std::shared_ptr<const GrantRequest> req, GrantClient client,
                               Executor blocking, RespondFn respond, Done done,
                               FinishDone finish_done) const {
  StatusOr<RefreshStart> start = StartRefresh(*req);
  if (!start.ok()) return done(start.status());
  // Written by the check (on the writer thread, inside the rotation's transaction) and read by
  // the completion (on the writer thread after the commit), one after the other.
  auto prepared = std::make_shared<StatusOr<PreparedRefresh>>(InternalError("not checked"));
  auto check =
      [this, req = std::move(req), client = std::move(client), prepared, now = start->now,
       successor = std::move(start->successor)](
          const storage::RefreshTokenWithFamily& found) -> StatusOr<storage::RefreshToken> {
    *prepared = CheckRefresh(found, *req, client, successor, now);
    if (!prepared->ok()) return prepared->status();
    return (*prepared)->successor;
  };
  auto completion = [this, prepared, blocking = std::move(blocking), respond = std::move(respond),
                     done = std::move(done), finish_done = std::move(finish_done)](
                        StatusOr<storage::RotateOutcome> outcome) mutable {
    if (!outcome.ok()) {
      return done(
          NotFoundAs(std::move(outcome), InvalidGrant, "Invalid refresh token provided").status());
    }
    auto p = std::make_shared<const PreparedRefresh>(std::move(**prepared));
    if (*outcome != storage::RotateOutcome::kRotated) {
      // Reuse (or a retry inside the grace window): the rare path, which reads again and may
      // revoke the family.
      return blocking(
          [this, respond = std::move(respond), done = std::move(done), p, outcome = *outcome] {
            StatusOr<Grant> grant = SettleRefresh(*p, outcome);
            if (!grant.ok()) return done(grant.status());
            done(respond(*grant));
          });
    }
    Finish sign = [respond = std::move(respond), p] { return respond(p->grant); };
    if (finish_done) return finish_done(std::move(sign));
    done(sign());
  };
  grants_->CheckAndRotateRefreshTokenAsync(start->old_hash, start->now, check,
                                           std::move(completion));
}

StatusOr<TokenGrants::RefreshStart> TokenGrants::StartRefresh(const GrantRequest& req) const {
  if (req.refresh_token.empty()) {
    return InvalidRequest("Member 'refreshToken' is required for refresh_token");
  }
  return RefreshStart{clock_->NowUnixSeconds(),
                      tokens::TokenMinter::RefreshTokenKey(req.refresh_token),
                      minter_->SuccessorRefreshToken(req.refresh_token, RefreshStamp(*clock_))};
}

StatusOr<PreparedRefresh> TokenGrants::CheckRefresh(const storage::RefreshTokenWithFamily& found,
                                                    const GrantRequest& req,
                                                    const GrantClient& client,
                                                    std::string successor, int64_t now) const {
  const storage::RefreshToken& token = found.token;
  const storage::TokenFamily& family = found.family;
  if (family.application_arn != client.id) return InvalidGrant("Invalid refresh token provided");
  if (family.revoked_at != 0) return InvalidGrant("Refresh token has been revoked");
  if (token.expires_at <= now || family.expires_at <= now) {
    return InvalidGrant("Refresh token has expired");
  }
  // Access is checked at every token request, as on sign-in: an unassigned user's family stays
  // as it is (assigning the user again lets it refresh) but refreshes no more.
  if (client.assignment_required && !found.user_assigned) return UserNotAssigned(client.id);
  // Downscoping is bounded by the family: a narrowed token can widen again up to what the
  // original grant allowed (the model doc: "the refresh token's scopes").
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes,
                      NarrowScopes(req.scope.empty() ? token.scopes : req.scope, family.scopes));
  // No user lookup: deleting a user revokes their families in the same transaction (store.h),
  // so a live family's user exists. That saves a read on the busiest path.

  PreparedRefresh p;
  p.grant.subject = {family.user_id,   client.id, scopes,         family.family_id,
                     family.auth_time, "",        family.act_json};
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

StatusOr<Grant> TokenGrants::SettleRefresh(const PreparedRefresh& prepared,
                                           storage::RotateOutcome outcome) const {
  if (outcome == storage::RotateOutcome::kRotated) return prepared.grant;
  if (outcome == storage::RotateOutcome::kFamilyRevoked) {
    return InvalidGrant("Refresh token has been revoked");
  }
  // The token was rotated before (now or by a concurrent request). Inside the grace window the
  // same successor is handed out again while it is still current; otherwise this is reuse.
  const int64_t now = prepared.now;
  auto latest = grants_->GetRefreshToken(prepared.old_hash);
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
    auto next = grants_->GetRefreshToken(successor_key);
    if (next.ok() && next->token.rotated_at == 0 && next->family.revoked_at == 0) {
      Grant grant = prepared.grant;
      grant.refresh_token = std::move(successor);
      grant.subject.scopes = next->token.scopes;
      return grant;
    }
  }
  // RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family.
  TS_RETURN_IF_ERROR(
      RevokeIfPresent(*grants_, prepared.successor.family_id, now, "refresh token reuse"));
  return InvalidGrant(
      "Refresh token has already been used; every token of its family is now "
      "revoked");
}

}  // namespace ts::oauth
