// File: account_store.h
// AccountStore: the account side of Identity Center, which the access portal serves: declared
// AWS accounts, sso-admin permission sets, their provisioning to accounts as roles, account
// assignments with the status objects of those asynchronous requests, and the temporary
// credentials the portal issues for a role (docs/design/access-portal.md). The contract every
// storage interface shares is in store.h.
//
// Roles and credentials reach into CredentialStore's tables: provisioning a permission set to
// an account writes the role's IamPrincipal (arn:aws:iam::<account>:role/<role name>, its
// identity policy and boundary computed by the caller), and a role credential is an AccessKey
// row plus its RoleCredential link, written in one transaction. Every change that takes a role
// away from a user (deleting the assignment, the group, the user; Logout; sign-out) deletes the
// access keys issued for it in the same transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

// What CreateAccountAssignment needs when the permission set is not provisioned to the account
// yet: the role to record and its principal (written together with the assignment).
struct RoleProvisioning {
  ProvisionedRole role;
  IamPrincipal principal;  // arn:aws:iam::<account>:role/<role name>
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // --- accounts ---
  // Inserts the account or replaces its name and e-mail (created_at stays).
  virtual Status PutAccount(const Account& account) = 0;
  virtual StatusOr<Account> GetAccount(const std::string& account_id) = 0;  // NotFound
  virtual StatusOr<std::vector<Account>> ListAccounts() = 0;                // by account_id
  // NotFound if absent; FailedPrecondition (nothing changed) while it has account assignments.
  virtual Status DeleteAccount(const std::string& account_id) = 0;

  // --- permission sets ---
  // AlreadyExists on the ARN or on the name (names are unique, compared exactly).
  virtual Status CreatePermissionSet(const PermissionSet& permission_set) = 0;
  virtual StatusOr<PermissionSet> GetPermissionSet(const std::string& arn) = 0;  // NotFound
  // Permission sets ordered by ARN, one page at a time.
  virtual StatusOr<Page<PermissionSet>> ListPermissionSets(const PageRequest& page) = 0;
  // Rewrites every field but arn, instance_arn, name and created_at. NotFound if absent.
  virtual Status UpdatePermissionSet(const PermissionSet& permission_set) = 0;
  // Deletes the permission set and its tags. NotFound if absent; FailedPrecondition (nothing
  // changed) while it has account assignments.
  virtual Status DeletePermissionSet(const std::string& arn) = 0;

  // --- provisioning ---
  // Records (insert or replace) the permission set's role in the account and writes its
  // principal (PutPrincipal), and `status` (PutOperationStatus), in one transaction. NotFound if
  // the account or the permission set does not exist.
  virtual Status ProvisionRole(const RoleProvisioning& provisioning,
                               const OperationStatus& status) = 0;
  virtual StatusOr<ProvisionedRole> GetProvisionedRole(const std::string& account_id,
                                                       const std::string& permission_set_arn) = 0;
  // Roles ordered by (account_id, permission_set_arn); an empty filter matches all.
  virtual StatusOr<std::vector<ProvisionedRole>> ListProvisionedRoles(
      const std::string& account_id, const std::string& permission_set_arn) = 0;

  // --- account assignments ---
  // One transaction: inserts the assignment (AlreadyExists, nothing changed, when it exists),
  // provisions the role first when `provisioning` is given (as ProvisionRole), and stores
  // `status`. NotFound if the account, the permission set or the principal (user or group) does
  // not exist; InvalidArgument for a principal_type other than USER or GROUP.
  virtual Status CreateAccountAssignment(const AccountAssignment& assignment,
                                         const std::optional<RoleProvisioning>& provisioning,
                                         const OperationStatus& status) = 0;
  // One transaction: deletes the assignment, deletes the access keys of role credentials for
  // (account, permission set) whose user no longer holds the role through any other assignment,
  // removes the provisioned role and its principal when it was the permission set's last
  // assignment on the account, and stores `status`. NotFound (nothing changed) when there is no
  // such assignment.
  virtual Status DeleteAccountAssignment(const AccountAssignment& assignment,
                                         const OperationStatus& status) = 0;
  // The assignments of one permission set on one account, ordered by (principal_type,
  // principal_id); the page key is principal_type + "/" + principal_id.
  virtual StatusOr<Page<AccountAssignment>> ListAccountAssignments(
      const std::string& account_id, const std::string& permission_set_arn,
      const PageRequest& page) = 0;
  // The assignments of one principal (only those made to it, not through its groups), ordered by
  // (account_id, permission_set_arn); `account_id` non-empty filters. Page key account_id + "/" +
  // permission_set_arn.
  virtual StatusOr<Page<AccountAssignment>> ListAccountAssignmentsForPrincipal(
      const std::string& principal_type, const std::string& principal_id,
      const std::string& account_id, const PageRequest& page) = 0;

  // --- status objects ---
  virtual Status PutOperationStatus(const OperationStatus& status) = 0;  // AlreadyExists on id
  // NotFound unless a status with this request id and kind exists.
  virtual StatusOr<OperationStatus> GetOperationStatus(const std::string& request_id,
                                                       const std::string& kind) = 0;
  // Statuses of one kind, newest first; `status` non-empty filters (IN_PROGRESS, ...).
  virtual StatusOr<std::vector<OperationStatus>> ListOperationStatuses(
      const std::string& kind, const std::string& status) = 0;

  // --- what the portal reads ---
  // Every role the user holds, directly or through a group they are a member of, on
  // `account_id` ("" for every account): one entry per (account, permission set), ordered by
  // (account_id, permission set name). Only provisioned roles appear.
  virtual StatusOr<std::vector<UserRole>> ListUserRoles(const std::string& user_id,
                                                        const std::string& account_id) = 0;

  // --- role credentials ---
  // Writes the access key (as CredentialStore::CreateAccessKey) and its link in one
  // transaction. AlreadyExists on the access key id. FailedPrecondition, nothing written, unless
  // inside that transaction the user still holds the role (a provisioned role and an assignment
  // to the user or one of their groups) and the link's family and session are not revoked
  // (absent ones count as not revoked): a credential checked before a concurrent revocation is
  // never written after it.
  virtual Status IssueRoleCredential(const AccessKey& key, const RoleCredential& link) = 0;
  using WriteDone = std::function<void(Status)>;
  // The same, for callers on the server's io threads: SQLite queues it to its group-commit
  // writer and calls `done` on that thread once it has synced; the default calls
  // IssueRoleCredential and so blocks (GrantStore::GrantsWithoutBlocking says when not to).
  virtual void IssueRoleCredentialAsync(const AccessKey& key, const RoleCredential& link,
                                        WriteDone done) {
    done(IssueRoleCredential(key, link));
  }
  // The portal's Logout, one transaction: revokes the token family (and its descendants, as
  // GrantStore::RevokeFamily) unless `family_id` is "", revokes the sign-in session (as
  // SessionStore::RevokeSession) unless `session_hash` is "", and deletes the access keys of
  // every role credential issued for either. Absent family or session: nothing to revoke there,
  // not an error.
  virtual Status LogoutPortalSession(const std::string& family_id, const std::string& session_hash,
                                     int64_t now) = 0;
  // The links of the role credentials issued to a user that are still live at `now`, ordered by
  // access_key_id (for the start page and tests).
  virtual StatusOr<std::vector<RoleCredential>> ListRoleCredentials(const std::string& user_id,
                                                                    int64_t now) = 0;
};

}  // namespace ts::storage
