// AccountStore (account_store.h) on PostgreSQL: accounts, permission sets, provisioned roles,
// account assignments, operation statuses and role credentials. Multi-statement changes run in
// one READ COMMITTED transaction (Impl::Write); what they must not race on is settled by a
// primary key (a duplicate assignment) or a row they lock.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using internal::JoinList;
using internal::RoleNoLongerHeld;
using internal::RolePrincipalArn;
using internal::SplitList;
using internal::SplitPageKey;
using internal::ValidatePrincipalType;
using internal::ValidateRoleCredential;

using postgres_internal::Connection;
using postgres_internal::ExecPage;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::Result;
using postgres_internal::RunPage;

namespace {

#define TS_ACCOUNT_COLUMNS(p) p "account_id, " p "name, " p "email, " p "created_at"
#define TS_PERMISSION_SET_COLUMNS(p)                                                 \
  p "arn, " p "instance_arn, " p "name, " p "description, " p "session_duration, " p \
    "relay_state, " p "inline_policy_json, " p "managed_policy_arns, " p             \
    "permissions_boundary_json, " p "created_at, " p "updated_at"
#define TS_ROLE_COLUMNS(p)                                                                 \
  p "account_id, " p "permission_set_arn, " p "role_name, " p "permission_set_version, " p \
    "provisioned_at"
#define TS_ACCOUNT_ASSIGNMENT_COLUMNS \
  "account_id, permission_set_arn, principal_type, principal_id, created_at"
#define TS_OPERATION_STATUS_COLUMNS \
  "request_id, kind, status, failure_reason, body_json, created_at"
#define TS_ROLE_CREDENTIAL_COLUMNS \
  "access_key_id, user_id, account_id, permission_set_arn, family_id, session_hash, expires_at"
constexpr int kAccountColumnCount = 4;
constexpr int kPermissionSetColumnCount = 11;

Account ReadAccount(const Result& r, int row, int first = 0) {
  Account a;
  a.account_id = r.Text(row, first + 0);
  a.name = r.Text(row, first + 1);
  a.email = r.Text(row, first + 2);
  a.created_at = r.Int(row, first + 3);
  return a;
}

PermissionSet ReadPermissionSet(const Result& r, int row, int first = 0) {
  PermissionSet p;
  p.arn = r.Text(row, first + 0);
  p.instance_arn = r.Text(row, first + 1);
  p.name = r.Text(row, first + 2);
  p.description = r.Text(row, first + 3);
  p.session_duration = r.Text(row, first + 4);
  p.relay_state = r.Text(row, first + 5);
  p.inline_policy_json = r.Text(row, first + 6);
  p.managed_policy_arns = SplitList(r.Text(row, first + 7));
  p.permissions_boundary_json = r.Text(row, first + 8);
  p.created_at = r.Int(row, first + 9);
  p.updated_at = r.Int(row, first + 10);
  return p;
}

ProvisionedRole ReadRole(const Result& r, int row, int first = 0) {
  ProvisionedRole role;
  role.account_id = r.Text(row, first + 0);
  role.permission_set_arn = r.Text(row, first + 1);
  role.role_name = r.Text(row, first + 2);
  role.permission_set_version = r.Int(row, first + 3);
  role.provisioned_at = r.Int(row, first + 4);
  return role;
}

AccountAssignment ReadAssignment(const Result& r, int row) {
  AccountAssignment a;
  a.account_id = r.Text(row, 0);
  a.permission_set_arn = r.Text(row, 1);
  a.principal_type = r.Text(row, 2);
  a.principal_id = r.Text(row, 3);
  a.created_at = r.Int(row, 4);
  return a;
}

OperationStatus ReadOperationStatus(const Result& r, int row) {
  OperationStatus o;
  o.request_id = r.Text(row, 0);
  o.kind = r.Text(row, 1);
  o.status = r.Text(row, 2);
  o.failure_reason = r.Text(row, 3);
  o.body_json = r.Text(row, 4);
  o.created_at = r.Int(row, 5);
  return o;
}

RoleCredential ReadRoleCredential(const Result& r, int row) {
  RoleCredential c;
  c.access_key_id = r.Text(row, 0);
  c.user_id = r.Text(row, 1);
  c.account_id = r.Text(row, 2);
  c.permission_set_arn = r.Text(row, 3);
  c.family_id = r.Text(row, 4);
  c.session_hash = r.Text(row, 5);
  c.expires_at = r.Int(row, 6);
  return c;
}

// Steps of the transactions below, inside the caller's.

Status InsertOperationStatus(Connection& c, const OperationStatus& o) {
  auto r = c.Exec(
      "INSERT INTO operation_statuses (" TS_OPERATION_STATUS_COLUMNS
      ") VALUES ($1, $2, $3, $4, $5, $6)",
      MakeParams(o.request_id, o.kind, o.status, o.failure_reason, o.body_json, o.created_at));
  if (!r.ok() && c.UniqueViolated()) {
    return AlreadyExistsError("operation status already exists: " + o.request_id);
  }
  return r.status();
}

// Checks that the account and the permission set exist and locks both rows (FOR SHARE), so
// neither is deleted before this transaction commits what refers to them.
Status RequireAccountAndPermissionSet(Connection& c, const std::string& account_id,
                                      const std::string& permission_set_arn) {
  TS_ASSIGN_OR_RETURN(
      Result account,
      c.Exec("SELECT 1 FROM accounts WHERE account_id = $1 FOR SHARE", MakeParams(account_id)));
  if (account.rows() == 0) return NotFoundError("no such account: " + account_id);
  TS_ASSIGN_OR_RETURN(Result ps, c.Exec("SELECT 1 FROM permission_sets WHERE arn = $1 FOR SHARE",
                                        MakeParams(permission_set_arn)));
  if (ps.rows() == 0) return NotFoundError("no such permission set: " + permission_set_arn);
  return OkStatus();
}

// ProvisionRole's body: the role row (insert or replace) and its principal. A replaced role of
// another name takes its old principal with it.
Status WriteRole(Connection& c, const RoleProvisioning& provisioning) {
  const ProvisionedRole& role = provisioning.role;
  TS_RETURN_IF_ERROR(RequireAccountAndPermissionSet(c, role.account_id, role.permission_set_arn));
  TS_ASSIGN_OR_RETURN(Result old, c.Exec("SELECT role_name FROM provisioned_roles WHERE "
                                         "account_id = $1 AND permission_set_arn = $2 FOR UPDATE",
                                         MakeParams(role.account_id, role.permission_set_arn)));
  if (old.rows() > 0 && old.Text(0, 0) != role.role_name) {
    TS_RETURN_IF_ERROR(c.Exec("DELETE FROM iam_principals WHERE arn = $1",
                              MakeParams(RolePrincipalArn(role.account_id, old.Text(0, 0))))
                           .status());
  }
  TS_RETURN_IF_ERROR(c.Exec("INSERT INTO provisioned_roles (" TS_ROLE_COLUMNS(
                                "") ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, "
                                    "permission_set_arn) DO UPDATE SET "
                                    "role_name = excluded.role_name, "
                                    "permission_set_version = excluded.permission_set_version, "
                                    "provisioned_at = excluded.provisioned_at",
                            MakeParams(role.account_id, role.permission_set_arn, role.role_name,
                                       role.permission_set_version, role.provisioned_at))
                         .status());
  return postgres_internal::UpsertPrincipal(c, provisioning.principal);
}

// Removes the role of (account, permission set) and its principal when no assignment is left.
Status DeprovisionIfUnassigned(Connection& c, const std::string& account_id,
                               const std::string& permission_set_arn) {
  return c
      .Exec(
          "WITH role AS (DELETE FROM provisioned_roles WHERE account_id = $1 AND "
          "permission_set_arn = $2 AND NOT EXISTS (SELECT 1 FROM account_assignments WHERE "
          "account_id = $1 AND permission_set_arn = $2) RETURNING account_id, role_name) "
          "DELETE FROM iam_principals WHERE arn IN (SELECT 'arn:aws:iam::' || account_id || "
          "':role/' || role_name FROM role)",
          MakeParams(account_id, permission_set_arn))
      .status();
}

// Deletes the provisioned roles (and principals) `where` selects, by one parameter.
Status DeleteRolesWhere(Connection& c, std::string_view sql, const std::string& key) {
  return c.Exec(sql, MakeParams(key)).status();
}

// The paged listing of account assignments by a two-part key (SplitPageKey): `params` holds
// the parameters before the key's two parts and the limit.
template <typename KeyFn>
StatusOr<Page<AccountAssignment>> AssignmentPage(Connection& c, std::string_view sql, Params params,
                                                 const PageRequest& page, KeyFn key_of) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  TS_ASSIGN_OR_RETURN(auto after, SplitPageKey(page.after));
  params.Add(after.first).Add(after.second);
  return ExecPage<AccountAssignment>(c, sql, std::move(params), page.limit, ReadAssignment, key_of);
}

// The keys of role credentials selected by one parameter: DELETE ... WHERE access_key_id IN.
#define TS_DELETE_ROLE_KEYS_WHERE(condition)                                                    \
  "DELETE FROM access_keys WHERE access_key_id IN (SELECT access_key_id FROM role_credentials " \
  "WHERE " condition ")"

}  // namespace

namespace postgres_internal {

Status DeleteAccountAssignmentsOf(Connection& c, const std::string& principal_type,
                                  const std::string& principal_id) {
  TS_ASSIGN_OR_RETURN(Result r, c.Exec("DELETE FROM account_assignments WHERE principal_type = $1 "
                                       "AND principal_id = $2 RETURNING account_id, "
                                       "permission_set_arn",
                                       MakeParams(principal_type, principal_id)));
  for (int i = 0; i < r.rows(); ++i) {
    TS_RETURN_IF_ERROR(DeprovisionIfUnassigned(c, r.Text(i, 0), r.Text(i, 1)));
  }
  return OkStatus();
}

Status RevokeUnheldRoleCredentials(Connection& c, const std::string& user_id) {
  // A credential stays while an assignment of its (account, permission set) names the user or
  // a group the user is a member of.
  return c
      .Exec(TS_DELETE_ROLE_KEYS_WHERE(
                "user_id = $1 AND NOT EXISTS (SELECT 1 FROM account_assignments aa WHERE "
                "aa.account_id = role_credentials.account_id AND aa.permission_set_arn = "
                "role_credentials.permission_set_arn AND ((aa.principal_type = 'USER' AND "
                "aa.principal_id = $1) OR (aa.principal_type = 'GROUP' AND aa.principal_id IN "
                "(SELECT group_id FROM group_memberships WHERE user_id = $1)))) "),
            MakeParams(user_id))
      .status();
}

Status DeleteRoleCredentialsOfUser(Connection& c, const std::string& user_id) {
  return c.Exec(TS_DELETE_ROLE_KEYS_WHERE("user_id = $1"), MakeParams(user_id)).status();
}

Status DeleteRoleCredentialsOfSession(Connection& c, const std::string& session_hash) {
  return c.Exec(TS_DELETE_ROLE_KEYS_WHERE("session_hash = $1"), MakeParams(session_hash)).status();
}

}  // namespace postgres_internal

// --- accounts ---

Status PostgresStore::PutAccount(const Account& account) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec("INSERT INTO accounts (" TS_ACCOUNT_COLUMNS("") ") VALUES ($1, $2, $3, $4) "
              "ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, "
              "email = excluded.email",
              MakeParams(account.account_id, account.name, account.email, account.created_at))
        .status();
  });
}

StatusOr<Account> PostgresStore::GetAccount(const std::string& account_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<Account> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_ACCOUNT_COLUMNS("") " FROM accounts WHERE account_id = $1",
                         MakeParams(account_id)));
    if (r.rows() == 0) return NotFoundError("no such account: " + account_id);
    return ReadAccount(r, 0);
  });
}

StatusOr<std::vector<Account>> PostgresStore::ListAccounts() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Account>> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_ACCOUNT_COLUMNS("") " FROM accounts ORDER BY account_id"));
    std::vector<Account> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadAccount(r, i));
    return out;
  });
}

Status PostgresStore::DeleteAccount(const std::string& account_id) {
  return impl_->Write([&](Connection& c) -> Status {
    // FOR UPDATE: a concurrent assignment (which locks the row FOR SHARE) waits or is waited for.
    TS_ASSIGN_OR_RETURN(
        Result exists,
        c.Exec("SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE", MakeParams(account_id)));
    if (exists.rows() == 0) return NotFoundError("no such account: " + account_id);
    TS_ASSIGN_OR_RETURN(Result assigned,
                        c.Exec("SELECT 1 FROM account_assignments WHERE account_id = $1 LIMIT 1",
                               MakeParams(account_id)));
    if (assigned.rows() > 0) {
      return FailedPreconditionError("account " + account_id + " still has account assignments");
    }
    // Roles provisioned without an assignment (ProvisionPermissionSet alone).
    TS_RETURN_IF_ERROR(DeleteRolesWhere(
        c,
        "WITH role AS (DELETE FROM provisioned_roles WHERE account_id = $1 RETURNING account_id, "
        "role_name) DELETE FROM iam_principals WHERE arn IN (SELECT 'arn:aws:iam::' || "
        "account_id || ':role/' || role_name FROM role)",
        account_id));
    return c.Exec("DELETE FROM accounts WHERE account_id = $1", MakeParams(account_id)).status();
  });
}

// --- permission sets ---

Status PostgresStore::CreatePermissionSet(const PermissionSet& p) {
  TS_ASSIGN_OR_RETURN(std::string managed, JoinList(p.managed_policy_arns, "managed policy ARN"));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec("INSERT INTO permission_sets (" TS_PERMISSION_SET_COLUMNS(
                        "") ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    MakeParams(p.arn, p.instance_arn, p.name, p.description, p.session_duration,
                               p.relay_state, p.inline_policy_json, managed,
                               p.permissions_boundary_json, p.created_at, p.updated_at));
    if (!r.ok() && c.UniqueViolated()) {
      if (r.status().message().find("permission_sets_name_key") != std::string_view::npos) {
        return AlreadyExistsError("permission set name already exists: " + p.name);
      }
      return AlreadyExistsError("permission set already exists: " + p.arn);
    }
    return r.status();
  });
}

StatusOr<PermissionSet> PostgresStore::GetPermissionSet(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<PermissionSet> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT " TS_PERMISSION_SET_COLUMNS("") " FROM permission_sets WHERE arn = $1",
               MakeParams(arn)));
    if (r.rows() == 0) return NotFoundError("no such permission set: " + arn);
    return ReadPermissionSet(r, 0);
  });
}

StatusOr<Page<PermissionSet>> PostgresStore::ListPermissionSets(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<PermissionSet>> {
    return RunPage<PermissionSet>(
        c,
        "SELECT " TS_PERMISSION_SET_COLUMNS(
            "") " FROM permission_sets WHERE arn > $1 ORDER BY arn LIMIT $2",
        Params(), page, [](const Result& r, int row) { return ReadPermissionSet(r, row); },
        [](const PermissionSet& p) { return p.arn; });
  });
}

Status PostgresStore::UpdatePermissionSet(const PermissionSet& p) {
  TS_ASSIGN_OR_RETURN(std::string managed, JoinList(p.managed_policy_arns, "managed policy ARN"));
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("UPDATE permission_sets SET description = $1, session_duration = $2, "
               "relay_state = $3, inline_policy_json = $4, managed_policy_arns = $5, "
               "permissions_boundary_json = $6, updated_at = $7 WHERE arn = $8",
               MakeParams(p.description, p.session_duration, p.relay_state, p.inline_policy_json,
                          managed, p.permissions_boundary_json, p.updated_at, p.arn)));
    if (r.affected() == 0) return NotFoundError("no such permission set: " + p.arn);
    return OkStatus();
  });
}

Status PostgresStore::DeletePermissionSet(const std::string& arn) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result exists, c.Exec("SELECT 1 FROM permission_sets WHERE arn = $1 "
                                              "FOR UPDATE",
                                              MakeParams(arn)));
    if (exists.rows() == 0) return NotFoundError("no such permission set: " + arn);
    TS_ASSIGN_OR_RETURN(Result assigned, c.Exec("SELECT 1 FROM account_assignments WHERE "
                                                "permission_set_arn = $1 LIMIT 1",
                                                MakeParams(arn)));
    if (assigned.rows() > 0) {
      return FailedPreconditionError("permission set " + arn + " still has account assignments");
    }
    TS_RETURN_IF_ERROR(DeleteRolesWhere(
        c,
        "WITH role AS (DELETE FROM provisioned_roles WHERE permission_set_arn = $1 RETURNING "
        "account_id, role_name) DELETE FROM iam_principals WHERE arn IN (SELECT "
        "'arn:aws:iam::' || account_id || ':role/' || role_name FROM role)",
        arn));
    TS_RETURN_IF_ERROR(
        c.Exec("DELETE FROM tags WHERE resource_arn = $1", MakeParams(arn)).status());
    return c.Exec("DELETE FROM permission_sets WHERE arn = $1", MakeParams(arn)).status();
  });
}

// --- provisioning ---

Status PostgresStore::ProvisionRole(const RoleProvisioning& provisioning,
                                    const OperationStatus& status) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_RETURN_IF_ERROR(WriteRole(c, provisioning));
    return InsertOperationStatus(c, status);
  });
}

StatusOr<ProvisionedRole> PostgresStore::GetProvisionedRole(const std::string& account_id,
                                                            const std::string& permission_set_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<ProvisionedRole> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT " TS_ROLE_COLUMNS("") " FROM provisioned_roles WHERE account_id = $1 "
                                             "AND permission_set_arn = $2",
               MakeParams(account_id, permission_set_arn)));
    if (r.rows() == 0) {
      return NotFoundError("permission set " + permission_set_arn +
                           " is not provisioned to account " + account_id);
    }
    return ReadRole(r, 0);
  });
}

StatusOr<std::vector<ProvisionedRole>> PostgresStore::ListProvisionedRoles(
    const std::string& account_id, const std::string& permission_set_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<ProvisionedRole>> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_ROLE_COLUMNS("") " FROM provisioned_roles WHERE ($1::text "
                                                       "= '' OR account_id = $1) AND ($2::text "
                                                       "= '' OR permission_set_arn = $2) ORDER "
                                                       "BY account_id, permission_set_arn",
                         MakeParams(account_id, permission_set_arn)));
    std::vector<ProvisionedRole> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadRole(r, i));
    return out;
  });
}

// --- account assignments ---

Status PostgresStore::CreateAccountAssignment(const AccountAssignment& a,
                                              const std::optional<RoleProvisioning>& provisioning,
                                              const OperationStatus& status) {
  TS_RETURN_IF_ERROR(ValidatePrincipalType(a.principal_type));
  return impl_->Write([&](Connection& c) -> Status {
    TS_RETURN_IF_ERROR(RequireAccountAndPermissionSet(c, a.account_id, a.permission_set_arn));
    const bool user = a.principal_type == "USER";
    // FOR SHARE: the principal is not deleted before the assignment commits (its deletion
    // would otherwise miss the new row).
    TS_ASSIGN_OR_RETURN(Result principal,
                        c.Exec(user ? "SELECT 1 FROM users WHERE user_id = $1 FOR SHARE"
                                    : "SELECT 1 FROM groups WHERE group_id = $1 FOR SHARE",
                               MakeParams(a.principal_id)));
    if (principal.rows() == 0) {
      return NotFoundError(std::string(user ? "no such user: " : "no such group: ") +
                           a.principal_id);
    }
    auto r = c.Exec("INSERT INTO account_assignments (" TS_ACCOUNT_ASSIGNMENT_COLUMNS
                    ") VALUES ($1, $2, $3, $4, $5)",
                    MakeParams(a.account_id, a.permission_set_arn, a.principal_type, a.principal_id,
                               a.created_at));
    if (!r.ok() && c.UniqueViolated()) {
      return AlreadyExistsError("account assignment already exists: " + a.principal_type + " " +
                                a.principal_id + " on account " + a.account_id + " with " +
                                a.permission_set_arn);
    }
    TS_RETURN_IF_ERROR(r.status());
    if (provisioning.has_value()) TS_RETURN_IF_ERROR(WriteRole(c, *provisioning));
    return InsertOperationStatus(c, status);
  });
}

Status PostgresStore::DeleteAccountAssignment(const AccountAssignment& a,
                                              const OperationStatus& status) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result deleted,
        c.Exec("DELETE FROM account_assignments WHERE account_id = $1 AND permission_set_arn = $2 "
               "AND principal_type = $3 AND principal_id = $4",
               MakeParams(a.account_id, a.permission_set_arn, a.principal_type, a.principal_id)));
    if (deleted.affected() == 0) {
      return NotFoundError("no such account assignment: " + a.principal_type + " " +
                           a.principal_id + " on account " + a.account_id + " with " +
                           a.permission_set_arn);
    }
    // The users who may have lost the role: the principal, or the group's members.
    std::vector<std::string> users;
    if (a.principal_type == "GROUP") {
      TS_ASSIGN_OR_RETURN(Result members,
                          c.Exec("SELECT user_id FROM group_memberships WHERE group_id = $1",
                                 MakeParams(a.principal_id)));
      for (int i = 0; i < members.rows(); ++i) users.push_back(members.Text(i, 0));
    } else {
      users.push_back(a.principal_id);
    }
    for (const std::string& user_id : users) {
      TS_RETURN_IF_ERROR(postgres_internal::RevokeUnheldRoleCredentials(c, user_id));
    }
    TS_RETURN_IF_ERROR(DeprovisionIfUnassigned(c, a.account_id, a.permission_set_arn));
    return InsertOperationStatus(c, status);
  });
}

StatusOr<Page<AccountAssignment>> PostgresStore::ListAccountAssignments(
    const std::string& account_id, const std::string& permission_set_arn, const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<AccountAssignment>> {
    return AssignmentPage(
        c,
        "SELECT " TS_ACCOUNT_ASSIGNMENT_COLUMNS
        " FROM account_assignments WHERE account_id = $1 AND permission_set_arn = $2 AND "
        "(principal_type, principal_id) > ($3, $4) ORDER BY principal_type, principal_id "
        "LIMIT $5",
        MakeParams(account_id, permission_set_arn), page,
        [](const AccountAssignment& a) { return a.principal_type + "/" + a.principal_id; });
  });
}

StatusOr<Page<AccountAssignment>> PostgresStore::ListAccountAssignmentsForPrincipal(
    const std::string& principal_type, const std::string& principal_id,
    const std::string& account_id, const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<AccountAssignment>> {
    return AssignmentPage(
        c,
        "SELECT " TS_ACCOUNT_ASSIGNMENT_COLUMNS
        " FROM account_assignments WHERE principal_type = $1 AND principal_id = $2 AND "
        "($3::text = '' OR account_id = $3) AND (account_id, permission_set_arn) > ($4, $5) "
        "ORDER BY account_id, permission_set_arn LIMIT $6",
        MakeParams(principal_type, principal_id, account_id), page,
        [](const AccountAssignment& a) { return a.account_id + "/" + a.permission_set_arn; });
  });
}

// --- status objects ---

Status PostgresStore::PutOperationStatus(const OperationStatus& status) {
  return impl_->Single([&](Connection& c) { return InsertOperationStatus(c, status); });
}

StatusOr<OperationStatus> PostgresStore::GetOperationStatus(const std::string& request_id,
                                                            const std::string& kind) {
  return impl_->Read([&](Connection& c) -> StatusOr<OperationStatus> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_OPERATION_STATUS_COLUMNS
                                         " FROM operation_statuses WHERE request_id = $1 AND "
                                         "kind = $2",
                                         MakeParams(request_id, kind)));
    if (r.rows() == 0) return NotFoundError("no such " + kind + " request: " + request_id);
    return ReadOperationStatus(r, 0);
  });
}

StatusOr<std::vector<OperationStatus>> PostgresStore::ListOperationStatuses(
    const std::string& kind, const std::string& status) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<OperationStatus>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_OPERATION_STATUS_COLUMNS
                                         " FROM operation_statuses WHERE kind = $1 AND ($2::text "
                                         "= '' OR status = $2) ORDER BY created_at DESC, "
                                         "request_id DESC",
                                         MakeParams(kind, status)));
    std::vector<OperationStatus> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadOperationStatus(r, i));
    return out;
  });
}

// --- what the portal reads ---

StatusOr<std::vector<UserRole>> PostgresStore::ListUserRoles(const std::string& user_id,
                                                             const std::string& account_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<UserRole>> {
    // One query: the user's own assignments UNION those of their groups (each arm a range of
    // account_assignments_by_principal), de-duplicated by the UNION, joined to the role, the
    // account and the permission set.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH held (account_id, permission_set_arn) AS ("
               "SELECT account_id, permission_set_arn FROM account_assignments "
               "WHERE principal_type = 'USER' AND principal_id = $1 "
               "AND ($2::text = '' OR account_id = $2) "
               "UNION SELECT aa.account_id, aa.permission_set_arn FROM group_memberships m "
               "JOIN account_assignments aa ON aa.principal_type = 'GROUP' "
               "AND aa.principal_id = m.group_id WHERE m.user_id = $1 "
               "AND ($2::text = '' OR aa.account_id = $2)) "
               "SELECT " TS_ACCOUNT_COLUMNS("a.") ", " TS_PERMISSION_SET_COLUMNS(
                   "p.") ", " TS_ROLE_COLUMNS("r.") " FROM held h "
                                                    "JOIN provisioned_roles r ON r.account_id = "
                                                    "h.account_id AND r.permission_set_arn = "
                                                    "h.permission_set_arn "
                                                    "JOIN accounts a ON a.account_id = "
                                                    "h.account_id "
                                                    "JOIN permission_sets p ON p.arn = "
                                                    "h.permission_set_arn "
                                                    "ORDER BY a.account_id, p.name",
               MakeParams(user_id, account_id)));
    std::vector<UserRole> out;
    for (int i = 0; i < r.rows(); ++i) {
      UserRole role;
      role.account = ReadAccount(r, i, 0);
      role.permission_set = ReadPermissionSet(r, i, kAccountColumnCount);
      role.role = ReadRole(r, i, kAccountColumnCount + kPermissionSetColumnCount);
      out.push_back(std::move(role));
    }
    return out;
  });
}

// --- role credentials ---

Status PostgresStore::IssueRoleCredential(const AccessKey& key, const RoleCredential& link) {
  TS_RETURN_IF_ERROR(ValidateRoleCredential(key, link));
  return impl_->Write([&](Connection& c) -> Status {
    // The rows that make the role held (an assignment and, through a group, the membership),
    // and the family and session it is issued under, are locked FOR SHARE before the key is
    // written: a concurrent DeleteAccountAssignment, DeleteGroupMembership, Logout or sign-out
    // either commits first (then the check fails) or waits for this commit, and its revocation,
    // a later statement, then sees and deletes the key. Read committed alone would let a
    // credential checked before the revocation be written after it.
    TS_ASSIGN_OR_RETURN(
        Result direct,
        c.Exec("SELECT 1 FROM account_assignments aa JOIN provisioned_roles r ON "
               "r.account_id = aa.account_id AND r.permission_set_arn = aa.permission_set_arn "
               "WHERE aa.account_id = $2 AND aa.permission_set_arn = $3 AND "
               "aa.principal_type = 'USER' AND aa.principal_id = $1 FOR SHARE",
               MakeParams(link.user_id, link.account_id, link.permission_set_arn)));
    if (direct.rows() == 0) {
      TS_ASSIGN_OR_RETURN(
          Result via_group,
          c.Exec("SELECT 1 FROM account_assignments aa JOIN group_memberships m ON "
                 "m.group_id = aa.principal_id JOIN provisioned_roles r ON r.account_id = "
                 "aa.account_id AND r.permission_set_arn = aa.permission_set_arn WHERE "
                 "aa.account_id = $2 AND aa.permission_set_arn = $3 AND aa.principal_type = "
                 "'GROUP' AND m.user_id = $1 FOR SHARE",
                 MakeParams(link.user_id, link.account_id, link.permission_set_arn)));
      if (via_group.rows() == 0) return RoleNoLongerHeld();
    }
    if (!link.family_id.empty()) {
      TS_ASSIGN_OR_RETURN(Result family,
                          c.Exec("SELECT revoked_at FROM token_families WHERE family_id = $1 "
                                 "FOR SHARE",
                                 MakeParams(link.family_id)));
      if (family.rows() > 0 && family.Int(0, 0) != 0) return RoleNoLongerHeld();
    }
    if (!link.session_hash.empty()) {
      TS_ASSIGN_OR_RETURN(Result session,
                          c.Exec("SELECT revoked_at FROM sign_in_sessions WHERE session_hash = $1 "
                                 "FOR SHARE",
                                 MakeParams(link.session_hash)));
      if (session.rows() > 0 && session.Int(0, 0) != 0) return RoleNoLongerHeld();
    }
    Params p;
    p.Add(key.access_key_id)
        .Add(key.principal_arn)
        .AddBytes(key.secret_sealed)
        .Add(key.session_token_hash)
        .Add(key.expires_at)
        .Add(key.active)
        .Add(key.created_at)
        .Add(link.user_id)
        .Add(link.account_id)
        .Add(link.permission_set_arn)
        .Add(link.family_id)
        .Add(link.session_hash)
        .Add(link.expires_at);
    auto r = c.Exec("WITH k AS (INSERT INTO access_keys (" TS_ACCESS_KEY_COLUMNS
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING access_key_id) "
                    "INSERT INTO role_credentials (" TS_ROLE_CREDENTIAL_COLUMNS
                    ") SELECT access_key_id, $8, $9, $10, $11, $12, $13 FROM k",
                    p);
    if (!r.ok() && c.UniqueViolated()) {
      return AlreadyExistsError("access key already exists: " + key.access_key_id);
    }
    return r.status();
  });
}

Status PostgresStore::LogoutPortalSession(const std::string& family_id,
                                          const std::string& session_hash, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    if (!family_id.empty()) {
      TS_RETURN_IF_ERROR(postgres_internal::RevokeFamilyTree(c, family_id, now).status());
      TS_RETURN_IF_ERROR(
          c.Exec(TS_DELETE_ROLE_KEYS_WHERE("family_id = $1"), MakeParams(family_id)).status());
    }
    if (!session_hash.empty()) {
      TS_RETURN_IF_ERROR(
          postgres_internal::RevokeSessionInTransaction(c, session_hash, now).status());
      // The session's credentials, also when the session itself is gone (purged).
      TS_RETURN_IF_ERROR(postgres_internal::DeleteRoleCredentialsOfSession(c, session_hash));
    }
    return OkStatus();
  });
}

StatusOr<std::vector<RoleCredential>> PostgresStore::ListRoleCredentials(const std::string& user_id,
                                                                         int64_t now) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<RoleCredential>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_ROLE_CREDENTIAL_COLUMNS
                                         " FROM role_credentials WHERE user_id = $1 AND "
                                         "expires_at > $2 ORDER BY access_key_id",
                                         MakeParams(user_id, now)));
    std::vector<RoleCredential> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadRoleCredential(r, i));
    return out;
  });
}

}  // namespace ts::storage
