// AccountStore (account_store.h) on PostgreSQL.

#include <optional>
#include <string>
#include <vector>

#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

namespace {
// Temporary, until the PostgreSQL implementation lands (issue 19).
Status NotYet() { return InternalError("AccountStore is not implemented on PostgreSQL yet"); }
}  // namespace

Status PostgresStore::PutAccount(const Account& /*account*/) { return NotYet(); }

StatusOr<Account> PostgresStore::GetAccount(const std::string& /*account_id*/) { return NotYet(); }

StatusOr<std::vector<Account>> PostgresStore::ListAccounts() { return NotYet(); }

Status PostgresStore::DeleteAccount(const std::string& /*account_id*/) { return NotYet(); }

Status PostgresStore::CreatePermissionSet(const PermissionSet& /*permission_set*/) {
  return NotYet();
}

StatusOr<PermissionSet> PostgresStore::GetPermissionSet(const std::string& /*arn*/) {
  return NotYet();
}

StatusOr<Page<PermissionSet>> PostgresStore::ListPermissionSets(const PageRequest& /*page*/) {
  return NotYet();
}

Status PostgresStore::UpdatePermissionSet(const PermissionSet& /*permission_set*/) {
  return NotYet();
}

Status PostgresStore::DeletePermissionSet(const std::string& /*arn*/) { return NotYet(); }

Status PostgresStore::ProvisionRole(const RoleProvisioning& /*provisioning*/,
                                    const OperationStatus& /*status*/) {
  return NotYet();
}

StatusOr<ProvisionedRole> PostgresStore::GetProvisionedRole(
    const std::string& /*account_id*/, const std::string& /*permission_set_arn*/) {
  return NotYet();
}

StatusOr<std::vector<ProvisionedRole>> PostgresStore::ListProvisionedRoles(
    const std::string& /*account_id*/, const std::string& /*permission_set_arn*/) {
  return NotYet();
}

Status PostgresStore::CreateAccountAssignment(
    const AccountAssignment& /*assignment*/,
    const std::optional<RoleProvisioning>& /*provisioning*/, const OperationStatus& /*status*/) {
  return NotYet();
}

Status PostgresStore::DeleteAccountAssignment(const AccountAssignment& /*assignment*/,
                                              const OperationStatus& /*status*/) {
  return NotYet();
}

StatusOr<Page<AccountAssignment>> PostgresStore::ListAccountAssignments(
    const std::string& /*account_id*/, const std::string& /*permission_set_arn*/,
    const PageRequest& /*page*/) {
  return NotYet();
}

StatusOr<Page<AccountAssignment>> PostgresStore::ListAccountAssignmentsForPrincipal(
    const std::string& /*principal_type*/, const std::string& /*principal_id*/,
    const std::string& /*account_id*/, const PageRequest& /*page*/) {
  return NotYet();
}

Status PostgresStore::PutOperationStatus(const OperationStatus& /*status*/) { return NotYet(); }

StatusOr<OperationStatus> PostgresStore::GetOperationStatus(const std::string& /*request_id*/,
                                                            const std::string& /*kind*/) {
  return NotYet();
}

StatusOr<std::vector<OperationStatus>> PostgresStore::ListOperationStatuses(
    const std::string& /*kind*/, const std::string& /*status*/) {
  return NotYet();
}

StatusOr<std::vector<UserRole>> PostgresStore::ListUserRoles(const std::string& /*user_id*/,
                                                             const std::string& /*account_id*/) {
  return NotYet();
}

Status PostgresStore::IssueRoleCredential(const AccessKey& /*key*/,
                                          const RoleCredential& /*link*/) {
  return NotYet();
}

Status PostgresStore::LogoutPortalSession(const std::string& /*family_id*/,
                                          const std::string& /*session_hash*/, int64_t /*now*/) {
  return NotYet();
}

StatusOr<std::vector<RoleCredential>> PostgresStore::ListRoleCredentials(
    const std::string& /*user_id*/, int64_t /*now*/) {
  return NotYet();
}

}  // namespace ts::storage
