// File: postgres_store.h
// PostgresStore: the Store (storage/store.h) on a PostgreSQL server through libpq, for several
// Tessera nodes sharing one database (docs/design/deployment.md).
//
// Durability: every state change commits before the method returns; with the server's default
// synchronous_commit = on the commit is flushed to the WAL before the server acknowledges it.
// Races between nodes are settled by the database: single use and rotation are conditional
// statements (UPDATE ... WHERE consumed_at = 0 / rotated_at = 0 ... RETURNING) that PostgreSQL's
// row locks serialise, so exactly one of many concurrent callers wins.
//
// Round trips: RedeemAuthorizationCode, RotateRefreshToken and CreateFamilyForAssertion (the
// token endpoint's writes) are each ONE statement (data-modifying CTEs, implicitly one
// transaction), so each costs one round trip once its statement is prepared on the connection.
// The loser of a concurrent redemption needs a second one to revoke the winner's family. Their
// `...Async` forms queue the same statement on the node's group-commit writer, which sends many
// of them as one pipelined transaction: one round trip and one WAL flush per batch
// (group_commit_writer.h).
//
// Failures: a lost connection, a server restart or shutdown, a serialization failure or a
// deadlock is Unavailable (transient: the HTTP layer answers InternalServerException, which the
// SDKs retry); the broken connection is dropped and the pool reconnects on the next call. A
// write whose connection broke while the commit was in flight is NOT retried here: it may have
// committed, and replaying a single-use operation would turn the caller's success into a reuse.
// Read-only statements are retried once on a fresh connection. Anything else is Internal with
// the server's message.
//
// Thread-safe: each call checks a connection out of an internal pool (at most
// max_connections open; callers beyond that wait up to acquire_timeout, then get Unavailable).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ts/common/status.h"
#include "ts/storage/audit.h"
#include "ts/storage/store.h"

namespace ts::storage {

struct PostgresStoreOptions {
  // Connections open at most; each holds one backend process on the server.
  int max_connections = 16;
  // How long a caller waits for a free connection before getting Unavailable.
  std::chrono::milliseconds acquire_timeout{5000};
  // libpq connect_timeout (seconds) unless the URL sets its own.
  int connect_timeout_seconds = 5;
  // Statements per group commit at most (the asynchronous token-endpoint writes share one
  // pipelined transaction; group_commit_writer.h). The writer has one connection of its own,
  // beside the pool's max_connections.
  int writer_max_batch = 256;
};

// Whether `db` names a PostgreSQL database (a postgresql:// or postgres:// URL) rather than a
// SQLite file path.
bool IsPostgresUrl(const std::string& db);

// Also the audit trail (audit.h): events ride on the Store's writes.
class PostgresStore final : public Store, public AuditStore {
 public:
  // Connects to `url` (a libpq URL, postgresql://user@host:port/dbname?...) and applies pending
  // migrations (migrations/postgres/V*.sql, embedded at build time), each in its own
  // transaction under an advisory lock so nodes starting together migrate once.
  // Returns the store on success; InvalidArgument if `url` is not a PostgreSQL URL;
  // Unavailable if the server cannot be reached; FailedPrecondition if the database carries a
  // schema version newer than this binary knows; Internal for any other failure.
  static StatusOr<std::shared_ptr<PostgresStore>> Open(const std::string& url);
  static StatusOr<std::shared_ptr<PostgresStore>> Open(const std::string& url,
                                                       const PostgresStoreOptions& options);

  ~PostgresStore() override;

  // Requests sent to the server so far, connection set-up and statement preparation included
  // (each is one round trip). For tests and metrics.
  int64_t RoundTrips() const;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // Store. Behaviour beyond store.h is the SQLite backend's (sqlite_store.h), so the two are
  // interchangeable: scope lists space-joined (InvalidArgument for an element that is empty or
  // holds whitespace), user_name unique byte-for-byte, the same list orders, the same cascades,
  // PurgeExpired's `batch` counting. Two differences in the purge: refresh tokens are found by
  // their expiry index (no sweep), and a purged family's remaining tokens go with it by cascade
  // rather than at the SQLite sweep's next pass (PostgreSQL's secondary indexes were not the
  // SQLite writer's cost, and were left as they were).
  // AccountStore (V005): multi-statement changes run in one transaction; an account assignment
  // locks its account, permission set and principal FOR SHARE, DeleteAccount and
  // DeletePermissionSet their row FOR UPDATE. IssueRoleCredential is one statement (the key
  // and its link); it has no asynchronous form (the default blocks).

  // DirectoryStore (directory_store.cc).
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

  // ApplicationStore (application_store.cc).
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

  // CredentialStore (credential_store.cc).
  Status PutPrincipal(const IamPrincipal& principal) override;
  StatusOr<IamPrincipal> GetPrincipal(const std::string& arn) override;
  Status CreateAccessKey(const AccessKey& key) override;
  StatusOr<AccessKey> GetAccessKey(const std::string& access_key_id) override;
  StatusOr<std::vector<AccessKey>> ListAccessKeys(const std::string& principal_arn) override;
  Status DeleteAccessKey(const std::string& access_key_id) override;

  // KeyStore (key_store.cc).
  Status PutSigningKey(const SigningKey& key) override;
  StatusOr<std::vector<SigningKey>> ListSigningKeys() override;
  Status UpdateSigningKeys(const SigningKeyUpdate& update) override;

  // SessionStore (session_store.cc).
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

  // GrantStore (grant_store.cc).
  Status CreateAuthorizationCode(const AuthorizationCode& code) override;
  StatusOr<AuthorizationCode> GetAuthorizationCode(const std::string& code_hash) override;
  StatusOr<CodeToRedeem> GetCodeToRedeem(const std::string& code_hash) override;
  StatusOr<RedeemOutcome> RedeemAuthorizationCode(
      const std::string& code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) override;
  Status CreateFamily(const TokenFamily& family,
                      const std::optional<RefreshToken>& first_refresh) override;
  StatusOr<TokenFamily> GetFamily(const std::string& family_id) override;
  StatusOr<ExchangeSubject> GetExchangeSubject(const std::string& token_id,
                                               const std::string& family_id,
                                               const std::string& user_id,
                                               const std::string& application_arn) override;
  void CheckAndCreateExchangedFamilyAsync(const ExchangeSubjectLookup& lookup, ExchangeCheck check,
                                          WriteDone done) override;
  Status RevokeFamily(const std::string& family_id, int64_t now) override;
  StatusOr<RefreshTokenWithFamily> GetRefreshToken(const std::string& token_hash) override;
  StatusOr<RotateOutcome> RotateRefreshToken(const std::string& old_hash, int64_t now,
                                             const RefreshToken& successor) override;
  // The asynchronous forms queue the same statement on the group-commit writer
  // (group_commit_writer.h): many requests' writes share one pipelined transaction, and the
  // completion runs on the writer thread once it committed.
  void RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                               const RefreshToken& successor, RotateDone done) override;
  // The token is read by the writer too, in one pipeline with the rest of its batch's reads
  // before the batch's transaction, and `check` runs on the writer thread: the caller's thread
  // makes no round trip, and a batch costs two however many refreshes it holds.
  void CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                       const RotationCheck& check, RotateDone done) override;
  // The audit event pending on the calling thread rides in the pipelined statement (inserted
  // only with the family), so an audited grant stays in the writer's batch: redemptions,
  // exchanges and jwt-bearer grants alike.
  void RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                    const TokenFamily& family,
                                    const std::optional<RefreshToken>& first_refresh,
                                    RedeemDone done) override;
  // One statement that inserts the family only under a live parent, read FOR SHARE: the check
  // and the insert are one transaction (the base class's write-then-reread is not needed).
  Status CreateExchangedFamily(const TokenFamily& family,
                               const std::optional<RefreshToken>& first_refresh) override;
  void CreateExchangedFamilyAsync(const TokenFamily& family,
                                  const std::optional<RefreshToken>& first_refresh,
                                  WriteDone done) override;
  void CreateFamilyForAssertionAsync(const TokenFamily& family,
                                     const std::optional<RefreshToken>& first_refresh,
                                     const std::string& assertion_id, int64_t assertion_expires_at,
                                     WriteDone done) override;
  // The users are read by the writer in its batch's read pipeline and `check` runs on its
  // thread, as for CheckAndRotateRefreshTokenAsync: a batch of grants costs two round trips.
  void CheckAndCreateFamilyForAssertionAsync(const AssertionUserLookup& lookup,
                                             AssertionCheck check, WriteDone done) override;
  bool ChecksGrantsInWriter() const override { return true; }
  bool GrantWritesWithoutBlocking() const override { return true; }
  Status CreateFamilyForAssertion(const TokenFamily& family,
                                  const std::optional<RefreshToken>& first_refresh,
                                  const std::string& assertion_id,
                                  int64_t assertion_expires_at) override;
  Status RevokeAccessToken(const std::string& token_id, int64_t expires_at) override;
  StatusOr<bool> IsAccessTokenRevoked(const std::string& token_id) override;

  // ClientStore (client_store.cc).
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

  // AccountStore (account_store.cc).
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
  Status LogoutPortalSession(const std::string& family_id, const std::string& session_hash,
                             int64_t now) override;
  StatusOr<std::vector<RoleCredential>> ListRoleCredentials(const std::string& user_id,
                                                            int64_t now) override;

  // InstanceStore (postgres_store.cc).
  Status PutInstance(const Instance& instance) override;
  StatusOr<Instance> GetInstance() override;
  Status PutMeta(const std::string& key, const std::string& value) override;
  StatusOr<std::string> GetMeta(const std::string& key) override;
  Status CreateMeta(const std::string& key, const std::string& value) override;

  // Housekeeping (housekeeping.cc).
  StatusOr<PurgeResult> PurgeExpired(int64_t now, int batch) override;

  // AuditStore (postgres/audit_store.cc).
  Status AppendAuditEvent(AuditEvent event) override;
  StatusOr<std::vector<AuditRecord>> ListAuditEvents(const AuditQuery& query) override;
  StatusOr<int64_t> PurgeAuditEvents(int64_t before, int batch) override;

 private:
  class Impl;
  explicit PostgresStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ts::storage
