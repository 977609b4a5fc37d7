// File: token_grants.h
// The grants both token APIs share: an IAM application's CreateTokenWithIAM (token_service.h)
// and a registered client's CreateToken (public_clients.h). An authorization code's redemption
// and a refresh token's rotation, with their single-use and reuse rules, are written once here;
// the caller names the client (GrantClient) and turns the Grant into its own response.
//
// Thread-safe: holds no per-request state; races are settled by the store's compare-and-set.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/storage/audit.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {

struct TokenServiceOptions {
  int64_t access_token_ttl = 3600;  // seconds (AWS: 3600, docs/protocol.md §5.3)
  int64_t id_token_ttl = 3600;
  int64_t refresh_token_ttl = 90 * 86400;  // absolute bound on a token family
  // Reuse of a rotated refresh token within this many seconds returns the same successor
  // instead of revoking the family (RFC 9700 §4.14.2 leaves room for this; default off).
  int64_t refresh_grace_seconds = 0;
  // `--require-pkce`: a code issued without a code_challenge is not redeemable. Otherwise PKCE
  // is what AWS's model makes it for CreateTokenWithIAM, optional: a challenge binds the code
  // to its verifier, and a code without one takes none (RFC 9700 §2.1.1).
  bool require_pkce = false;
};

// The members of a token request these grants read; both APIs name them alike.
struct GrantRequest {
  std::string code;
  std::string refresh_token;
  std::string redirect_uri;
  std::string code_verifier;
  std::vector<std::string> scope;
};

// Who asks for the tokens.
struct GrantClient {
  // What its codes and token families name: an application's ARN or a registered client's id.
  std::string id;
  bool may_refresh = false;  // it has the refresh_token grant: new families get a refresh token
  // A refresh needs the family's user assigned to `id` (RefreshTokenWithFamily::user_assigned).
  bool assignment_required = false;
  // Its codes must carry a PKCE challenge whatever the server's setting (registered clients).
  bool require_pkce = false;
  // The API its token requests are, as the audit trail names them.
  std::string_view audit_api = "CreateTokenWithIAM";
};

// What a grant decided: whose tokens, which scopes, and the refresh token to hand back.
struct Grant {
  tokens::TokenSubject subject;
  std::string refresh_token;  // empty: none issued
};

// A code checked and its family built, waiting for the redemption.
struct PreparedCode {
  Grant grant;  // as issued once the redemption is durable
  std::string code_hash;
  int64_t now = 0;
  storage::TokenFamily family;
  std::optional<storage::RefreshToken> refresh;  // the family's first, if the client may refresh
  // The code was redeemed before: reuse, which revokes the family that use created (nothing
  // above is set then).
  bool already_used = false;
  std::string used_family_id;
};

// A refresh token read and checked, waiting for its rotation.
struct PreparedRefresh {
  Grant grant;                      // as issued if the rotation succeeds
  std::string presented;            // the refresh token the client sent
  std::string old_hash;             // its key in the store
  storage::RefreshToken successor;  // the record of grant.refresh_token
  int64_t now = 0;
  bool already_rotated = false;  // rotated before this request read it
};

// Runs a task where it may block (a thread pool).
using Executor = std::function<void(std::function<void()>)>;
// Receives the response body, or the modeled error.
using Done = std::function<void(StatusOr<std::string>)>;
// The response body, still to be computed (its tokens signed).
using Finish = std::function<StatusOr<std::string>()>;
// Receives a Finish to run on an io thread (an http::Response's `finish`).
using FinishDone = std::function<void(Finish)>;
// Turns a grant into the response body: signs its tokens.
using RespondFn = std::function<StatusOr<std::string>(const Grant&)>;

// A new family's id. Time-ordered (UUIDv7), so the families table and the refresh tokens' family
// index grow at their right edge: a batch of new families writes one leaf page of each instead
// of a random leaf per family (a fifth fewer bytes written per JWT-bearer grant).
std::string NewFamilyId(const Clock& clock);

// A new family's first refresh token when `wanted`: the plaintext goes to `plaintext` for the
// response, the record (its key only, the family's scopes and lifetime) is returned for the
// store. nullopt when not wanted.
std::optional<storage::RefreshToken> FirstRefreshToken(bool wanted,
                                                       const storage::TokenFamily& family,
                                                       int64_t now, const Clock& clock,
                                                       std::string& plaintext);

// Revokes a family; one already purged (expired) needs no revoking.
// `why` names the reuse (audit trail: RevokeTokenFamily's additionalEventData.reason).
Status RevokeIfPresent(storage::GrantStore& store, const std::string& family_id, int64_t now,
                       std::string_view why);

// The audit event (storage/audit.h) of a new token family, for the API that issued it
// (CreateTokenWithIAM or CreateToken): the client or application, grant type and user, never a
// token or code.
storage::AuditEvent TokenFamilyEvent(std::string_view api, const storage::TokenFamily& family);

// InvalidGrantException: the user is not assigned to the application `application_arn`.
Status UserNotAssigned(const std::string& application_arn);

// RFC 7636 §4.1: 43..128 characters of [A-Z a-z 0-9 - . _ ~].
bool ValidVerifier(std::string_view verifier);

class TokenGrants {
 public:
  TokenGrants(std::shared_ptr<storage::GrantStore> grants,
              std::shared_ptr<const tokens::TokenMinter> minter, ClockPtr clock,
              TokenServiceOptions options);

  const TokenServiceOptions& options() const { return options_; }
  storage::GrantStore& store() const { return *grants_; }

  // --- authorization_code ---
  // Every check and read before the redemption: code, redirectUri and codeVerifier present;
  // the code `client`'s, unexpired, its redirect URI the one sent, the verifier matching its
  // S256 challenge, the scopes narrowed within the code's, the user still there. A code used
  // before comes back marked (already_used) for the caller to revoke what it produced.
  // InvalidRequestException for a missing member, InvalidGrantException for the rest,
  // InvalidScopeException for a scope outside the code's.
  StatusOr<PreparedCode> PrepareCode(const GrantRequest& req, const GrantClient& client) const;
  // The grant's error for the redemption's outcome (OK for kRedeemed).
  static Status SettleCode(storage::RedeemOutcome outcome);
  // PrepareCode, then the redemption (or a reused code's revocation). `admit` (optional) sees
  // the family to be created before the redemption and may refuse it. Blocks on the store.
  StatusOr<Grant> RedeemCode(
      const GrantRequest& req, const GrantClient& client,
      const std::function<Status(const storage::TokenFamily&)>& admit = nullptr) const;

  // --- refresh_token ---
  // Rotation with reuse detection (RFC 9700 §4.14.2): InvalidRequestException without
  // refreshToken; InvalidGrantException for an unknown, another client's, revoked or expired
  // token, an unassigned user (when `client.assignment_required`) and a reused token (which
  // revokes the family, unless inside the grace window); InvalidScopeException for a scope
  // outside the family's. `admit` (optional) sees the family before the rotation and may refuse
  // it. Blocks on the store.
  StatusOr<Grant> Refresh(
      const GrantRequest& req, const GrantClient& client,
      const std::function<Status(const storage::TokenFamily&)>& admit = nullptr) const;
  // Refresh for a caller that must not block, on a store that GrantsWithoutBlocking(): read,
  // checked and rotated in the writer's transaction (CheckAndRotateRefreshTokenAsync), signed
  // by `respond` once durable (through `finish_done` when given, else on the writer thread
  // before `done`); a token rotated before goes to `blocking`, which settles reuse. Exactly one
  // of `done` and `finish_done` is called, once; `this` must outlive the call.
  void RefreshAsync(std::shared_ptr<const GrantRequest> req, GrantClient client, Executor blocking,
                    RespondFn respond, Done done, FinishDone finish_done) const;

 private:
  struct RefreshStart;
  StatusOr<RefreshStart> StartRefresh(const GrantRequest& req) const;
  StatusOr<PreparedRefresh> CheckRefresh(const storage::RefreshTokenWithFamily& found,
                                         const GrantRequest& req, const GrantClient& client,
                                         std::string successor, int64_t now) const;
  StatusOr<Grant> SettleRefresh(const PreparedRefresh& prepared,
                                storage::RotateOutcome outcome) const;

  std::shared_ptr<storage::GrantStore> grants_;
  std::shared_ptr<const tokens::TokenMinter> minter_;
  ClockPtr clock_;
  TokenServiceOptions options_;
};

}  // namespace ts::oauth
