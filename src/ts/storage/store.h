// File: store.h
// The storage interface. Everything above it is backend-neutral: SQLite today (sqlite/), a
// PostgreSQL implementation next, both held to the conformance suite in store_conformance_test.h.
//
// Contract shared by every method:
// - Each state change is one transaction: it happens whole or not at all.
// - A method that returns OK has made its change durable (the backend syncs before returning).
// - Lookups of something absent return NotFound; inserting a duplicate key returns AlreadyExists;
//   anything else the backend could not do is Unavailable (transient) or Internal.
// - Implementations are thread-safe; callers need no lock of their own.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

// What RedeemAuthorizationCode did.
enum class RedeemOutcome {
  kRedeemed,         // the code was unused and unexpired; the family (and token) now exist
  kAlreadyRedeemed,  // the code was used before; the family that use created is now revoked
  kExpired,          // the code exists but expired; nothing changed
};

// What RotateRefreshToken did.
enum class RotateOutcome {
  kRotated,         // the token was current; it is now rotated and the successor stored
  kAlreadyRotated,  // the token was rotated before; nothing changed (caller applies reuse policy)
  kFamilyRevoked,   // the family is revoked; nothing changed
};

struct RefreshTokenWithFamily {
  RefreshToken token;
  TokenFamily family;
  // The family's user is assigned to the family's application, directly or through a group
  // (what IsAssigned answers), read with the token so the refresh grant needs no second read.
  bool user_assigned = false;
};

// What one PurgeExpired call did.
struct PurgeResult {
  int64_t deleted = 0;   // rows deleted by this call
  bool finished = true;  // false: a further call may find more to delete
};

class Store {
 public:
  virtual ~Store() = default;

  // --- instance (exactly one per deployment) ---
  virtual Status PutInstance(const Instance& instance) = 0;  // insert or replace
  virtual StatusOr<Instance> GetInstance() = 0;              // NotFound before the first Put

  // --- key/value metadata (e.g. the master-key check value) ---
  virtual Status PutMeta(const std::string& key, const std::string& value) = 0;
  virtual StatusOr<std::string> GetMeta(const std::string& key) = 0;

  // --- identity-store users ---
  virtual Status CreateUser(const User& user) = 0;  // AlreadyExists on user_id or user_name
  virtual Status UpdateUser(const User& user) = 0;  // NotFound if absent
  virtual StatusOr<User> GetUser(const std::string& user_id) = 0;
  virtual StatusOr<User> GetUserByName(const std::string& user_name) = 0;
  virtual StatusOr<std::vector<User>> ListUsers() = 0;
  // Users ordered by user_id, one page at a time.
  virtual StatusOr<Page<User>> ListUsersPage(const PageRequest& page) = 0;
  // Users having `value` at the attribute `path`, through the index that UserIndexEntries
  // (attribute_index.h) defines: the pair is canonicalised with CanonicalLookup first. Ordered by
  // user_id; empty when none.
  virtual StatusOr<std::vector<User>> FindUsersByAttribute(const std::string& path,
                                                           const std::string& value) = 0;
  // Deletes the user, their group memberships and assignments, revokes their token families and
  // ends their sign-in sessions.
  virtual Status DeleteUser(const std::string& user_id, int64_t now) = 0;

  // --- identity-store groups and memberships ---
  virtual Status CreateGroup(const Group& group) = 0;  // AlreadyExists on id or display_name
  // Rewrites every field but group_id and created_at. NotFound if absent; AlreadyExists if the new
  // display_name is another group's.
  virtual Status UpdateGroup(const Group& group) = 0;
  virtual StatusOr<Group> GetGroup(const std::string& group_id) = 0;
  // Groups ordered by group_id, one page at a time.
  virtual StatusOr<Page<Group>> ListGroups(const PageRequest& page) = 0;
  // Like FindUsersByAttribute, over GroupIndexEntries ("id", "displayname", "externalid").
  virtual StatusOr<std::vector<Group>> FindGroupsByAttribute(const std::string& path,
                                                             const std::string& value) = 0;
  // Deletes the group, its memberships and its application assignments. NotFound if absent.
  virtual Status DeleteGroup(const std::string& group_id) = 0;
  // AlreadyExists on membership_id or on the (group_id, user_id) pair; NotFound if the group or
  // the user does not exist.
  virtual Status CreateGroupMembership(const GroupMembership& membership) = 0;
  virtual StatusOr<GroupMembership> GetGroupMembership(const std::string& membership_id) = 0;
  virtual Status DeleteGroupMembership(const std::string& membership_id) = 0;  // NotFound if absent
  // A group's memberships ordered by membership_id, one page at a time (empty for an unknown
  // group).
  virtual StatusOr<Page<GroupMembership>> ListGroupMemberships(const std::string& group_id,
                                                               const PageRequest& page) = 0;
  // Every membership of one user, ordered by group_id.
  virtual StatusOr<std::vector<GroupMembership>> ListGroupMembershipsForUser(
      const std::string& user_id) = 0;

  // --- applications ---
  // Inserts or replaces the application's own fields. Grants, actor policy and access scopes in
  // `app` are written too, replacing what was stored.
  virtual Status PutApplication(const Application& app) = 0;
  virtual StatusOr<Application> GetApplication(const std::string& application_arn) = 0;
  virtual StatusOr<std::vector<Application>> ListApplications() = 0;
  // Applications ordered by ARN, one page at a time (grants and scopes filled in).
  virtual StatusOr<Page<Application>> ListApplicationsPage(const PageRequest& page) = 0;
  // Rewrites the application's own fields (name, description, status, assignment_required,
  // portal_options_json), leaving grants, actor policy, access scopes, assignments, instance_arn
  // and created_at alone. NotFound if absent.
  virtual Status UpdateApplication(const Application& app) = 0;
  // Per-item changes to one application (NotFound if the application does not exist; the Delete
  // methods also NotFound if the item does not exist). PutApplicationAccessScope takes the same
  // AuthorizedTargets rules as PutApplication.
  virtual Status PutApplicationGrant(const std::string& application_arn,
                                     const std::string& grant_type,
                                     const std::string& grant_json) = 0;
  virtual Status DeleteApplicationGrant(const std::string& application_arn,
                                        const std::string& grant_type) = 0;
  virtual Status PutApplicationAccessScope(const std::string& application_arn,
                                           const std::string& scope,
                                           const std::vector<std::string>& authorized_targets) = 0;
  virtual Status DeleteApplicationAccessScope(const std::string& application_arn,
                                              const std::string& scope) = 0;
  // Sets the IAM authentication method's actor policy; "" removes it.
  virtual Status SetActorPolicy(const std::string& application_arn,
                                const std::string& actor_policy_json) = 0;
  // Deletes the application, its tags, and revokes every token family issued to it.
  virtual Status DeleteApplication(const std::string& application_arn, int64_t now) = 0;
  virtual Status PutAssignment(const std::string& application_arn, const std::string& principal_id,
                               const std::string& principal_type) = 0;  // idempotent
  virtual Status DeleteAssignment(const std::string& application_arn,
                                  const std::string& principal_id) = 0;
  // True if the user is assigned directly or through a group they are a member of.
  virtual StatusOr<bool> IsAssigned(const std::string& application_arn,
                                    const std::string& user_id) = 0;
  // An application's assignments ordered by principal_id, one page at a time (empty for an
  // unknown application).
  virtual StatusOr<Page<Assignment>> ListAssignments(const std::string& application_arn,
                                                     const PageRequest& page) = 0;

  // --- IAM principals and access keys ---
  virtual Status PutPrincipal(const IamPrincipal& principal) = 0;  // insert or replace
  virtual StatusOr<IamPrincipal> GetPrincipal(const std::string& arn) = 0;
  virtual Status CreateAccessKey(const AccessKey& key) = 0;  // AlreadyExists on the id
  virtual StatusOr<AccessKey> GetAccessKey(const std::string& access_key_id) = 0;
  virtual StatusOr<std::vector<AccessKey>> ListAccessKeys(const std::string& principal_arn) = 0;
  virtual Status DeleteAccessKey(const std::string& access_key_id) = 0;  // NotFound if absent

  // --- signing keys ---
  virtual Status PutSigningKey(const SigningKey& key) = 0;          // insert or replace by kid
  virtual StatusOr<std::vector<SigningKey>> ListSigningKeys() = 0;  // oldest first

  // --- sign-in sessions ---
  virtual Status CreateSession(const SignInSession& session) = 0;
  virtual StatusOr<SignInSession> GetSession(const std::string& session_hash) = 0;
  // Marks the session revoked and revokes every family it started.
  virtual Status RevokeSession(const std::string& session_hash, int64_t now) = 0;

  // --- authorization codes ---
  virtual Status CreateAuthorizationCode(const AuthorizationCode& code) = 0;
  virtual StatusOr<AuthorizationCode> GetAuthorizationCode(const std::string& code_hash) = 0;
  // One transaction: if the code is unused and `now` < expires_at, marks it consumed, records
  // `family.family_id` on it, inserts `family` and, when given, `first_refresh` -> kRedeemed.
  // If it was consumed before, revokes the family that use created -> kAlreadyRedeemed.
  // If it expired -> kExpired. NotFound if no such code.
  virtual StatusOr<RedeemOutcome> RedeemAuthorizationCode(
      const std::string& code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) = 0;
  // RedeemAuthorizationCode for callers that must not wait for the commit; `done` is called as
  // RotateRefreshTokenAsync's is. The default calls RedeemAuthorizationCode and so blocks.
  using RedeemDone = std::function<void(StatusOr<RedeemOutcome>)>;
  virtual void RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                            const TokenFamily& family,
                                            const std::optional<RefreshToken>& first_refresh,
                                            RedeemDone done) {
    done(RedeemAuthorizationCode(code_hash, now, family, first_refresh));
  }

  // --- token families and refresh tokens ---
  // Inserts a family and, when given, its first refresh token (grants without a code).
  virtual Status CreateFamily(const TokenFamily& family,
                              const std::optional<RefreshToken>& first_refresh) = 0;
  // Token exchange: inserts `family`, whose parent_family_id names the exchanged token's family,
  // and when given its first refresh token, unless the parent family is revoked or gone; then
  // FailedPrecondition("parent token family is revoked") and no live family is left behind, so a
  // revocation racing with the exchange reaches the new family too. InvalidArgument for an empty
  // parent_family_id. The default writes the family, reads the parent again and revokes the new
  // family if the parent was revoked meanwhile (for backends whose transactions cannot see a
  // concurrent revocation); a backend with one writer checks inside the transaction instead.
  virtual Status CreateExchangedFamily(const TokenFamily& family,
                                       const std::optional<RefreshToken>& first_refresh) {
    if (family.parent_family_id.empty()) {
      return InvalidArgumentError("an exchanged family needs a parent_family_id");
    }
    if (Status created = CreateFamily(family, first_refresh); !created.ok()) return created;
    StatusOr<TokenFamily> parent = GetFamily(family.parent_family_id);
    if (parent.ok() && parent->revoked_at == 0) return OkStatus();
    if (!parent.ok() && parent.status().code() != StatusCode::kNotFound) return parent.status();
    if (Status revoked = RevokeFamily(family.family_id, family.created_at); !revoked.ok()) {
      return revoked;
    }
    return FailedPreconditionError("parent token family is revoked");
  }
  // CreateExchangedFamily for callers that must not wait for the commit; `done` is called as
  // RotateRefreshTokenAsync's is. The default calls CreateExchangedFamily and so blocks.
  virtual void CreateExchangedFamilyAsync(const TokenFamily& family,
                                          const std::optional<RefreshToken>& first_refresh,
                                          std::function<void(Status)> done) {
    done(CreateExchangedFamily(family, first_refresh));
  }
  virtual StatusOr<TokenFamily> GetFamily(const std::string& family_id) = 0;
  // Revokes the family and every family descended from it by token exchange (parent_family_id),
  // in one transaction. Idempotent; NotFound if no such family.
  virtual Status RevokeFamily(const std::string& family_id, int64_t now) = 0;
  virtual StatusOr<RefreshTokenWithFamily> GetRefreshToken(const std::string& token_hash) = 0;
  // Compare-and-set: if `old_hash` is current (not rotated) and its family live, marks it rotated
  // at `now` with `successor.token_hash` as successor and inserts `successor` -> kRotated.
  virtual StatusOr<RotateOutcome> RotateRefreshToken(const std::string& old_hash, int64_t now,
                                                     const RefreshToken& successor) = 0;
  // RotateRefreshToken for callers that must not wait for the commit (the server's io threads):
  // `done` gets what RotateRefreshToken would return, once the change is durable, exactly once,
  // possibly on another thread and possibly before this returns. `done` must be quick and must
  // not call the store. A backend whose commits complete on a thread of its own overrides this
  // (SQLite's group-commit writer); the default calls RotateRefreshToken and so blocks.
  using RotateDone = std::function<void(StatusOr<RotateOutcome>)>;
  virtual void RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                       const RefreshToken& successor, RotateDone done) {
    done(RotateRefreshToken(old_hash, now, successor));
  }
  // The refresh grant's read and rotation in one step, for callers that must not wait for the
  // commit: reads the token `old_hash` with its family (NotFound if there is none) and passes
  // them to `check`, which returns the successor to store, or an error that `done` then gets
  // with nothing changed. A token rotated before is not rotated again (kAlreadyRotated);
  // otherwise the rotation is RotateRefreshToken's compare-and-set. `check` may run on the
  // store's own thread: it must be quick and must not call the store. `done` is called as
  // RotateRefreshTokenAsync's is. A backend that writes on a thread of its own reads there too,
  // where its cache is current (SQLite: a reader's page cache is dropped by every commit); the
  // default reads with GetRefreshToken and then calls RotateRefreshTokenAsync.
  using RotationCheck = std::function<StatusOr<RefreshToken>(const RefreshTokenWithFamily&)>;
  virtual void CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                               const RotationCheck& check, RotateDone done) {
    StatusOr<RefreshTokenWithFamily> read = GetRefreshToken(old_hash);
    if (!read.ok()) return done(read.status());
    StatusOr<std::optional<RefreshToken>> successor = CheckedSuccessor(*read, check);
    if (!successor.ok()) return done(successor.status());
    if (!successor->has_value()) return done(RotateOutcome::kAlreadyRotated);
    RotateRefreshTokenAsync(old_hash, now, **successor, std::move(done));
  }
  // CheckAndRotateRefreshTokenAsync's decision on the row it read, for every backend: the
  // check's error, or nullopt for a token rotated before, or the successor to rotate to. The
  // check runs first either way (its caller needs the row for its reuse policy).
  static StatusOr<std::optional<RefreshToken>> CheckedSuccessor(const RefreshTokenWithFamily& read,
                                                                const RotationCheck& check) {
    StatusOr<RefreshToken> successor = check(read);
    if (!successor.ok()) return successor.status();
    if (read.token.rotated_at != 0) return std::optional<RefreshToken>();
    return std::optional<RefreshToken>(std::move(*successor));
  }

  // True when the token endpoint's grants never wait on this store from the calling thread:
  // their reads are local and short, and RotateRefreshTokenAsync, RedeemAuthorizationCodeAsync,
  // CreateFamilyForAssertionAsync and CreateExchangedFamilyAsync do not block. The token
  // endpoint then serves those grants on its io threads; otherwise it hands them to its pool of
  // blocking threads.
  virtual bool GrantsWithoutBlocking() const { return false; }

  // One transaction: records `assertion_id` (a JWT bearer assertion's replay key) as used until
  // `assertion_expires_at`, then inserts the family and, when given, its first refresh token.
  // AlreadyExists("assertion has already been used") if the id is recorded already; then nothing
  // is written. InvalidArgument for an empty id.
  virtual Status CreateFamilyForAssertion(const TokenFamily& family,
                                          const std::optional<RefreshToken>& first_refresh,
                                          const std::string& assertion_id,
                                          int64_t assertion_expires_at) = 0;
  // CreateFamilyForAssertion for callers that must not wait for the commit; `done` is called as
  // RotateRefreshTokenAsync's is. The default calls CreateFamilyForAssertion and so blocks.
  using WriteDone = std::function<void(Status)>;
  virtual void CreateFamilyForAssertionAsync(const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh,
                                             const std::string& assertion_id,
                                             int64_t assertion_expires_at, WriteDone done) {
    done(CreateFamilyForAssertion(family, first_refresh, assertion_id, assertion_expires_at));
  }

  // --- trusted token issuers ---
  virtual Status PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) = 0;  // insert/replace
  virtual StatusOr<TrustedTokenIssuer> GetTrustedTokenIssuer(const std::string& arn) = 0;
  virtual StatusOr<std::vector<TrustedTokenIssuer>> ListTrustedTokenIssuers() = 0;  // by ARN
  // Deletes the issuer and its tags. NotFound if absent.
  virtual Status DeleteTrustedTokenIssuer(const std::string& arn) = 0;

  // --- tags (sso-admin TagResource) on any resource ARN ---
  // Adds or overwrites the given keys.
  virtual Status TagResource(const std::string& resource_arn,
                             const std::map<std::string, std::string>& tags) = 0;
  // Removes the given keys; keys that are not there are ignored.
  virtual Status UntagResource(const std::string& resource_arn,
                               const std::vector<std::string>& keys) = 0;
  // The resource's tags (empty when none).
  virtual StatusOr<std::map<std::string, std::string>> ListTags(
      const std::string& resource_arn) = 0;

  // --- revoked access tokens (RFC 7009) ---
  // Records that the access token with this jti is revoked; kept until `expires_at` (the token's
  // own exp), after which the token is dead anyway. Idempotent.
  virtual Status RevokeAccessToken(const std::string& token_id, int64_t expires_at) = 0;
  virtual StatusOr<bool> IsAccessTokenRevoked(const std::string& token_id) = 0;

  // --- housekeeping ---
  // Deletes up to `batch` expired codes, sessions, refresh tokens, families, revoked access
  // token ids, used assertion ids and ended login-failure windows (expired before `now`), and
  // refresh tokens whose family is gone. Called repeatedly in small batches, until `finished`,
  // so no purge holds a long lock. A backend may find refresh tokens by sweeping their table a
  // bounded stretch per call (SQLite: docs/design/storage.md), so a call can delete fewer than
  // `batch` rows and still not be finished.
  virtual StatusOr<PurgeResult> PurgeExpired(int64_t now, int batch) = 0;

  // --- coordination between nodes sharing one database (docs/design/deployment.md) ---
  // Inserts key = value unless the key is there already: then AlreadyExists and nothing changes
  // (first writer wins, e.g. the master-key check value of nodes starting together).
  virtual Status CreateMeta(const std::string& key, const std::string& value) = 0;

  // Failed sign-ins per key (a user name, a client address), shared by every node. Counts one
  // failure for `key` at `now` in a fixed window of `window_seconds` that starts at the first
  // failure (a window that has ended starts afresh) and returns the window after counting.
  virtual StatusOr<LoginFailures> RecordLoginFailure(const std::string& key, int64_t now,
                                                     int64_t window_seconds) = 0;
  // The current window of `key`; NotFound when it has no failures recorded.
  virtual StatusOr<LoginFailures> GetLoginFailures(const std::string& key) = 0;
  virtual Status ClearLoginFailures(const std::string& key) = 0;  // idempotent

  // Read-modify-write of the signing keys, serialised across every node (one rotator at a time):
  // calls `update` with the stored keys (oldest first) and writes the keys it returns (insert or
  // replace by kid), all in one transaction. An error from `update` writes nothing and is
  // returned. `update` must not call the store.
  using SigningKeyUpdate =
      std::function<StatusOr<std::vector<SigningKey>>(const std::vector<SigningKey>& current)>;
  virtual Status UpdateSigningKeys(const SigningKeyUpdate& update) = 0;
};
using StorePtr = std::shared_ptr<Store>;

}  // namespace ts::storage
