// File: sqlite_store.h
// SqliteStore: the Store (storage/store.h) on an embedded SQLite database file.
//
// Durability: WAL journal with synchronous=FULL, so every state-changing method has committed and
// synced its transaction before it returns OK. Writes run in BEGIN IMMEDIATE transactions, which
// SQLite serialises per database file (across threads and processes); compare-and-set methods
// (RedeemAuthorizationCode, RotateRefreshToken) are therefore settled by the database. Reads use
// WAL snapshots and never wait for writers.
//
// Thread-safe: calls check a connection out of an internal pool (one connection per concurrent
// caller, each with its own prepared-statement cache), so concurrent readers do not serialise.
//
// Errors besides the Store contract: a writer that still finds the database locked after the busy
// timeout gets Unavailable; any other SQLite failure is Internal with SQLite's message.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ts/common/status.h"
#include "ts/storage/audit.h"
#include "ts/storage/store.h"

namespace ts::storage {

struct SqliteStoreOptions {
  // How long a writer waits for another writer's lock before giving up with Unavailable.
  std::chrono::milliseconds busy_timeout{5000};
  // Connections kept open for reuse once idle; more are opened (then closed) under load.
  int max_idle_connections = 16;
  // When the write-ahead log is copied back into the database file (a checkpoint, on a thread
  // of its own): once the log holds `checkpoint_pages` pages, or `light_load_checkpoint_pages`
  // while the load is light: the last `light_load_batches` batches each held at most
  // `light_load_batch_size` writes. light_load_batch_size = 0, the default, turns the light-load
  // ones off: they kept the writer's own checkpoints short while it made them, and now each
  // checkpoint still costs the writer one short copy and sync (its catch-up), so fewer are
  // better (docs/design/storage.md).
  int checkpoint_pages = 10000;
  int light_load_checkpoint_pages = 1000;
  int light_load_batches = 8;
  int light_load_batch_size = 0;
};

// Also the audit trail (audit.h): events ride on the Store's writes.
class SqliteStore final : public Store, public AuditStore {
 public:
  // Opens (creating if missing) the database at `path`: creates missing parent directories with
  // mode 0700 and a new database file with mode 0600, then applies pending migrations
  // (migrations/sqlite/V*.sql, embedded at build time), each in its own transaction.
  // Returns the store on success; Unavailable if the file cannot be opened or stays locked;
  // FailedPrecondition if the database carries a schema version newer than this binary knows;
  // Internal for any other failure.
  static StatusOr<std::shared_ptr<SqliteStore>> Open(const std::string& path);
  static StatusOr<std::shared_ptr<SqliteStore>> Open(const std::string& path,
                                                     const SqliteStoreOptions& options);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Store. Notes beyond store.h:
  // - Scope lists and AuthorizedTargets are stored space-joined: an element that is empty or
  //   contains whitespace is rejected with InvalidArgument (RFC 6749 §3.3 scope tokens never do).
  // - user_name uniqueness is case-sensitive (byte comparison).
  // - UpdateUser rewrites every field but user_id and created_at.
  // - DeleteUser also deletes the user's assignments, unused authorization codes and the device
  //   authorizations they approved that were not redeemed yet; DeleteApplication its unused
  //   codes (assignments, grants and scopes go with it); RevokeSession the session's unused
  //   codes and unredeemed device approvals. Consumed codes and redeemed device authorizations
  //   stay for reuse detection.
  // - ListUsers is ordered by user_name, ListApplications by ARN, ListAccessKeys oldest first.
  // - PutAssignment: NotFound if the application does not exist. DeleteAssignment: NotFound if
  //   there was no such assignment. IsAssigned: false for an unknown application.
  // - RevokeSession and RevokeFamily: NotFound if absent; revoking again keeps the first time.
  //   RevokeFamily reaches descendants through parent_family_id with a recursive query.
  // - RevokeAccessToken: InvalidArgument for an empty id.
  // - RotateRefreshToken: InvalidArgument if `successor.family_id` is not the old token's family;
  //   NotFound if `old_hash` is unknown. It does not check expiry (callers do, with the clock).
  // - PurgeExpired deletes rows with 0 < expires_at <= now (codes, sessions, device
  //   authorizations, registered clients by secret_expires_at, families, then revoked
  //   access-token ids and used assertion ids with expires_at <= now, then login-failure
  //   windows that ended), at most `batch` rows per call, and then sweeps refresh_tokens: it
  //   visits as many rows as the batch has left, in rowid order from where the last call stopped,
  //   and deletes those expired or whose family is gone (a purged family's tokens no longer go
  //   by cascade: V006); a pass starts at most every 10 minutes. `finished` once a table had
  //   fewer rows to delete than the batch allowed and the sweep reached the table's end (or has
  //   no pass due).
  // - UpdateSigningKeys runs in BEGIN IMMEDIATE, which serialises it across processes.
  // - AccountStore (V008): a role credential's link is deleted with its access key (foreign key
  //   ON DELETE CASCADE), so every revocation deletes keys and DeleteAccessKey takes the link
  //   too. DeleteUser and DeleteGroup de-provision the roles their account assignments were the
  //   last of; DeleteAccount and DeletePermissionSet delete the roles provisioned without an
  //   assignment. Page keys of account assignments that hold no '/' are InvalidArgument.
  //   IssueRoleCredentialAsync goes through the group-commit writer like the token endpoint's
  //   writes.

  // DirectoryStore (sqlite/directory_store.cc).
  Status CreateUser(const User& user) override;
  Status UpdateUser(const User& user) override;
  StatusOr<User> GetUser(const std::string& user_id) override;
  StatusOr<User> GetUserByName(const std::string& user_name) override;
  StatusOr<std::vector<User>> ListUsers() override;
  StatusOr<Page<User>> ListUsersPage(const PageRequest& page) override;
  StatusOr<std::vector<User>> FindUsersByAttribute(const std::string& path,
                                                   const std::string& value) override;
  StatusOr<std::vector<UserWithAssignment>> FindUsersByAttributeWithAssignment(
      const std::string& path, const std::string& value,
      const std::string& application_arn) override;
  Status DeleteUser(const std::string& user_id, int64_t now) override;
  Status CreateGroup(const Group& group) override;
  Status UpdateGroup(const Group& group) override;
  StatusOr<Group> GetGroup(const std::string& group_id) override;
  StatusOr<Page<Group>> ListGroups(const PageRequest& page) override;
  StatusOr<std::vector<Group>> FindGroupsByAttribute(const std::string& path,
                                                     const std::string& value) override;
  Status DeleteGroup(const std::string& group_id) override;
  Status CreateGroupMembership(const GroupMembership& membership) override;
  StatusOr<GroupMembership> GetGroupMembership(const std::string& membership_id) override;
  Status DeleteGroupMembership(const std::string& membership_id) override;
  StatusOr<Page<GroupMembership>> ListGroupMemberships(const std::string& group_id,
                                                       const PageRequest& page) override;
  StatusOr<std::vector<GroupMembership>> ListGroupMembershipsForUser(
      const std::string& user_id) override;

  // ApplicationStore (sqlite/application_store.cc).
  Status PutApplication(const Application& app) override;
  StatusOr<Application> GetApplication(const std::string& application_arn) override;
  StatusOr<std::vector<Application>> ListApplications() override;
  StatusOr<Page<Application>> ListApplicationsPage(const PageRequest& page) override;
  Status UpdateApplication(const Application& app) override;
  Status PutApplicationGrant(const std::string& application_arn, const std::string& grant_type,
                             const std::string& grant_json) override;
  Status DeleteApplicationGrant(const std::string& application_arn,
                                const std::string& grant_type) override;
  Status PutApplicationAccessScope(const std::string& application_arn, const std::string& scope,
                                   const std::vector<std::string>& authorized_targets) override;
  Status DeleteApplicationAccessScope(const std::string& application_arn,
                                      const std::string& scope) override;
  Status SetActorPolicy(const std::string& application_arn,
                        const std::string& actor_policy_json) override;
  Status DeleteApplication(const std::string& application_arn, int64_t now) override;
  Status PutAssignment(const std::string& application_arn, const std::string& principal_id,
                       const std::string& principal_type) override;
  Status DeleteAssignment(const std::string& application_arn,
                          const std::string& principal_id) override;
  StatusOr<bool> IsAssigned(const std::string& application_arn,
                            const std::string& user_id) override;
  StatusOr<Page<Assignment>> ListAssignments(const std::string& application_arn,
                                             const PageRequest& page) override;
  Status PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) override;
  StatusOr<TrustedTokenIssuer> GetTrustedTokenIssuer(const std::string& arn) override;
  StatusOr<std::vector<TrustedTokenIssuer>> ListTrustedTokenIssuers() override;
  Status DeleteTrustedTokenIssuer(const std::string& arn) override;
  Status TagResource(const std::string& resource_arn,
                     const std::map<std::string, std::string>& tags) override;
  Status UntagResource(const std::string& resource_arn,
                       const std::vector<std::string>& keys) override;
  StatusOr<std::map<std::string, std::string>> ListTags(const std::string& resource_arn) override;

  // CredentialStore (sqlite/credential_store.cc).
  Status PutPrincipal(const IamPrincipal& principal) override;
  StatusOr<IamPrincipal> GetPrincipal(const std::string& arn) override;
  Status CreateAccessKey(const AccessKey& key) override;
  StatusOr<AccessKey> GetAccessKey(const std::string& access_key_id) override;
  StatusOr<std::vector<AccessKey>> ListAccessKeys(const std::string& principal_arn) override;
  Status DeleteAccessKey(const std::string& access_key_id) override;

  // KeyStore (sqlite/key_store.cc).
  Status PutSigningKey(const SigningKey& key) override;
  StatusOr<std::vector<SigningKey>> ListSigningKeys() override;
  Status UpdateSigningKeys(const SigningKeyUpdate& update) override;

  // SessionStore (sqlite/session_store.cc).
  Status CreateSession(const SignInSession& session) override;
  StatusOr<SignInSession> GetSession(const std::string& session_hash) override;
  Status RevokeSession(const std::string& session_hash, int64_t now) override;
  StatusOr<LoginAttempt> ReserveLoginAttempt(const std::string& key, int64_t now,
                                             int64_t window_seconds, int limit) override;
  Status RefundLoginAttempt(const std::string& key, int64_t window_start) override;
  StatusOr<LoginFailures> RecordLoginFailure(const std::string& key, int64_t now,
                                             int64_t window_seconds) override;
  StatusOr<LoginFailures> GetLoginFailures(const std::string& key) override;
  Status ClearLoginFailures(const std::string& key) override;

  // GrantStore (sqlite/grant_store.cc). The token endpoint's four writes are implemented in both
  // forms, sharing one transaction body each: the asynchronous one for the io threads, and the
  // blocking one because its callers wait on one broadcast per batch rather than one wake-up
  // each (grant_store.h).
  Status CreateAuthorizationCode(const AuthorizationCode& code) override;
  StatusOr<AuthorizationCode> GetAuthorizationCode(const std::string& code_hash) override;
  StatusOr<CodeToRedeem> GetCodeToRedeem(const std::string& code_hash) override;
  StatusOr<RedeemOutcome> RedeemAuthorizationCode(
      const std::string& code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) override;
  void RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                    const TokenFamily& family,
                                    const std::optional<RefreshToken>& first_refresh,
                                    RedeemDone done) override;
  Status CreateFamily(const TokenFamily& family,
                      const std::optional<RefreshToken>& first_refresh) override;
  Status CreateExchangedFamily(const TokenFamily& family,
                               const std::optional<RefreshToken>& first_refresh) override;
  void CreateExchangedFamilyAsync(const TokenFamily& family,
                                  const std::optional<RefreshToken>& first_refresh,
                                  std::function<void(Status)> done) override;
  StatusOr<TokenFamily> GetFamily(const std::string& family_id) override;
  StatusOr<ExchangeSubject> GetExchangeSubject(const std::string& token_id,
                                               const std::string& family_id,
                                               const std::string& user_id,
                                               const std::string& application_arn) override;
  Status RevokeFamily(const std::string& family_id, int64_t now) override;
  StatusOr<RefreshTokenWithFamily> GetRefreshToken(const std::string& token_hash) override;
  StatusOr<RotateOutcome> RotateRefreshToken(const std::string& old_hash, int64_t now,
                                             const RefreshToken& successor) override;
  void RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                               const RefreshToken& successor, RotateDone done) override;
  void CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                       const RotationCheck& check, RotateDone done) override;
  bool GrantsWithoutBlocking() const override { return true; }
  Status CreateFamilyForAssertion(const TokenFamily& family,
                                  const std::optional<RefreshToken>& first_refresh,
                                  const std::string& assertion_id,
                                  int64_t assertion_expires_at) override;
  void CreateFamilyForAssertionAsync(const TokenFamily& family,
                                     const std::optional<RefreshToken>& first_refresh,
                                     const std::string& assertion_id, int64_t assertion_expires_at,
                                     WriteDone done) override;
  Status RevokeAccessToken(const std::string& token_id, int64_t expires_at) override;
  StatusOr<bool> IsAccessTokenRevoked(const std::string& token_id) override;

  // ClientStore (sqlite/client_store.cc). Redemption is once per sign-in: blocking form only.
  Status CreateClient(const RegisteredClient& client) override;
  StatusOr<RegisteredClient> GetClient(const std::string& client_id) override;
  StatusOr<int64_t> CountLiveClients(int64_t now) override;
  Status CreateDeviceAuthorization(const DeviceAuthorization& authorization) override;
  StatusOr<DeviceAuthorization> GetDeviceAuthorization(
      const std::string& device_code_hash) override;
  StatusOr<DeviceAuthorization> GetDeviceAuthorizationByUserCode(const std::string& user_code_hash,
                                                                 int64_t now) override;
  Status DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                   const std::string& user_id, const std::string& session_hash,
                                   int64_t auth_time, int64_t now) override;
  StatusOr<DeviceRedeemOutcome> RedeemDeviceAuthorization(
      const std::string& device_code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) override;

  // AccountStore (sqlite/account_store.cc).
  Status PutAccount(const Account& account) override;
  StatusOr<Account> GetAccount(const std::string& account_id) override;
  StatusOr<std::vector<Account>> ListAccounts() override;
  Status DeleteAccount(const std::string& account_id) override;
  Status CreatePermissionSet(const PermissionSet& permission_set) override;
  StatusOr<PermissionSet> GetPermissionSet(const std::string& arn) override;
  StatusOr<Page<PermissionSet>> ListPermissionSets(const PageRequest& page) override;
  Status UpdatePermissionSet(const PermissionSet& permission_set) override;
  Status DeletePermissionSet(const std::string& arn) override;
  Status ProvisionRole(const RoleProvisioning& provisioning,
                       const OperationStatus& status) override;
  StatusOr<ProvisionedRole> GetProvisionedRole(const std::string& account_id,
                                               const std::string& permission_set_arn) override;
  StatusOr<std::vector<ProvisionedRole>> ListProvisionedRoles(
      const std::string& account_id, const std::string& permission_set_arn) override;
  Status CreateAccountAssignment(const AccountAssignment& assignment,
                                 const std::optional<RoleProvisioning>& provisioning,
                                 const OperationStatus& status) override;
  Status DeleteAccountAssignment(const AccountAssignment& assignment,
                                 const OperationStatus& status) override;
  StatusOr<Page<AccountAssignment>> ListAccountAssignments(const std::string& account_id,
                                                           const std::string& permission_set_arn,
                                                           const PageRequest& page) override;
  StatusOr<Page<AccountAssignment>> ListAccountAssignmentsForPrincipal(
      const std::string& principal_type, const std::string& principal_id,
      const std::string& account_id, const PageRequest& page) override;
  Status PutOperationStatus(const OperationStatus& status) override;
  StatusOr<OperationStatus> GetOperationStatus(const std::string& request_id,
                                               const std::string& kind) override;
  StatusOr<std::vector<OperationStatus>> ListOperationStatuses(const std::string& kind,
                                                               const std::string& status) override;
  StatusOr<std::vector<UserRole>> ListUserRoles(const std::string& user_id,
                                                const std::string& account_id) override;
  Status IssueRoleCredential(const AccessKey& key, const RoleCredential& link) override;
  void IssueRoleCredentialAsync(const AccessKey& key, const RoleCredential& link,
                                WriteDone done) override;
  Status LogoutPortalSession(const std::string& family_id, const std::string& session_hash,
                             int64_t now) override;
  StatusOr<std::vector<RoleCredential>> ListRoleCredentials(const std::string& user_id,
                                                            int64_t now) override;

  // InstanceStore (sqlite/sqlite_store.cc).
  Status PutInstance(const Instance& instance) override;
  StatusOr<Instance> GetInstance() override;
  Status PutMeta(const std::string& key, const std::string& value) override;
  StatusOr<std::string> GetMeta(const std::string& key) override;
  Status CreateMeta(const std::string& key, const std::string& value) override;

  // Housekeeping (sqlite/housekeeping.cc).
  StatusOr<PurgeResult> PurgeExpired(int64_t now, int batch) override;

  // AuditStore (sqlite/audit_store.cc).
  Status AppendAuditEvent(AuditEvent event) override;
  StatusOr<std::vector<AuditRecord>> ListAuditEvents(const AuditQuery& query) override;
  StatusOr<int64_t> PurgeAuditEvents(int64_t before, int batch) override;

 private:
  class Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ts::storage
