// File: directory_store.cc
// PostgresStore's DirectoryStore methods: users, groups and group memberships, with their
// attribute indexes (attribute_index.h).
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/attribute_index.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::ReadUser;
using postgres_internal::Result;
using postgres_internal::RunPage;

// --- users ---

namespace {
// Rewrites a user's or group's attribute-index rows (attribute_index.h) in the caller's
// transaction.
Status WriteIndex(Connection& c, const std::string& table, const std::string& id_column,
                  const std::string& id, const std::vector<IndexEntry>& entries) {
  TS_RETURN_IF_ERROR(
      c.Exec("DELETE FROM " + table + " WHERE " + id_column + " = $1", MakeParams(id)).status());
  for (const auto& [path, value] : entries) {
    TS_RETURN_IF_ERROR(
        c.Exec("INSERT INTO " + table + " (" + id_column + ", path, value) VALUES ($1, $2, $3)",
               MakeParams(id, path, value))
            .status());
  }
  return OkStatus();
}
Status WriteUserIndex(Connection& c, const User& user) {
  return WriteIndex(c, "user_index", "user_id", user.user_id, UserIndexEntries(user));
}
Status WriteGroupIndex(Connection& c, const Group& group) {
  return WriteIndex(c, "group_index", "group_id", group.group_id, GroupIndexEntries(group));
}

Status UserConflict(const Connection& c, const Status& status, const User& user) {
  if (!c.UniqueViolated()) return status;
  if (status.message().find("user_name") != std::string_view::npos) {
    return AlreadyExistsError("user name already exists: " + user.user_name);
  }
  return AlreadyExistsError("user already exists: " + user.user_id);
}
}  // namespace

Status PostgresStore::CreateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO users (" TS_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        MakeParams(user.user_id, user.identity_store_id, user.user_name, user.display_name,
                   user.attributes_json, user.password_hash, user.created_at, user.updated_at));
    if (!r.ok()) return UserConflict(c, r.status(), user);
    return WriteUserIndex(c, user);
  });
}

Status PostgresStore::UpdateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "UPDATE users SET identity_store_id = $1, user_name = $2, display_name = $3, "
        "attributes_json = $4, password_hash = $5, updated_at = $6 WHERE user_id = $7",
        MakeParams(user.identity_store_id, user.user_name, user.display_name, user.attributes_json,
                   user.password_hash, user.updated_at, user.user_id));
    if (!r.ok()) return UserConflict(c, r.status(), user);
    if (r->affected() == 0) return NotFoundError("no such user: " + user.user_id);
    return WriteUserIndex(c, user);
  });
}

StatusOr<User> PostgresStore::GetUser(const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id = $1",
                                         MakeParams(user_id)));
    if (r.rows() == 0) return NotFoundError("no such user: " + user_id);
    return ReadUser(r, 0);
  });
}

StatusOr<User> PostgresStore::GetUserByName(const std::string& user_name) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT " TS_USER_COLUMNS " FROM users WHERE user_name = $1",
                               MakeParams(user_name)));
    if (r.rows() == 0) return NotFoundError("no such user name: " + user_name);
    return ReadUser(r, 0);
  });
}

StatusOr<std::vector<User>> PostgresStore::ListUsers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT " TS_USER_COLUMNS " FROM users ORDER BY user_name"));
    std::vector<User> users;
    for (int i = 0; i < r.rows(); ++i) users.push_back(ReadUser(r, i));
    return users;
  });
}

Status PostgresStore::DeleteUser(const std::string& user_id, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    // One statement for the grant, session and application side: every part sees the same
    // snapshot. The account side follows in the same transaction.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec(
            "WITH u AS (DELETE FROM users WHERE user_id = $1 RETURNING user_id), "
            "f AS (UPDATE token_families SET revoked_at = $2 WHERE user_id = $1 "
            "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM u)), "
            "s AS (UPDATE sign_in_sessions SET revoked_at = $2 WHERE user_id = $1 "
            "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM u)), "
            "c AS (DELETE FROM authorization_codes WHERE user_id = $1 AND consumed_at = 0 "
            "AND EXISTS (SELECT 1 FROM u)), "
            "d AS (DELETE FROM device_authorizations WHERE user_id = $1 AND consumed_at = 0 "
            "AND status = 'APPROVED' AND EXISTS (SELECT 1 FROM u)), "
            "a AS (DELETE FROM assignments WHERE principal_id = $1 AND EXISTS (SELECT 1 FROM u)) "
            "SELECT count(*) FROM u",
            MakeParams(user_id, now)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such user: " + user_id);
    TS_RETURN_IF_ERROR(postgres_internal::DeleteAccountAssignmentsOf(c, "USER", user_id));
    return postgres_internal::DeleteRoleCredentialsOfUser(c, user_id);
  });
}

StatusOr<Page<User>> PostgresStore::ListUsersPage(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<User>> {
    return RunPage<User>(
        c, "SELECT " TS_USER_COLUMNS " FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
        Params(), page, ReadUser, [](const User& u) { return u.user_id; });
  });
}

StatusOr<std::vector<User>> PostgresStore::FindUsersByAttribute(const std::string& path,
                                                                const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id IN (SELECT user_id "
                         "FROM user_index WHERE path = $1 AND value = $2) ORDER BY user_id",
                         MakeParams(key.first, key.second)));
    std::vector<User> users;
    for (int i = 0; i < r.rows(); ++i) users.push_back(ReadUser(r, i));
    return users;
  });
}

const std::string_view postgres_internal::kUsersByAttributeWithAssignmentSql =
    "SELECT " TS_USER_COLUMNS ", " TS_USER_ASSIGNED(
        "$3", "users.user_id") " FROM users WHERE user_id IN (SELECT user_id FROM "
                               "user_index WHERE path = $1 AND value = $2) ORDER BY user_id";

Params postgres_internal::UsersByAttributeWithAssignmentParams(const std::string& path,
                                                               const std::string& value,
                                                               const std::string& application_arn) {
  const IndexEntry key = CanonicalLookup(path, value);
  return MakeParams(key.first, key.second, application_arn);
}

std::vector<UserWithAssignment> postgres_internal::ReadUsersWithAssignment(const Result& r) {
  std::vector<UserWithAssignment> users;
  for (int i = 0; i < r.rows(); ++i) users.push_back({ReadUser(r, i), r.Bool(i, 8)});
  return users;
}

StatusOr<std::vector<UserWithAssignment>> PostgresStore::FindUsersByAttributeWithAssignment(
    const std::string& path, const std::string& value, const std::string& application_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<UserWithAssignment>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec(postgres_internal::kUsersByAttributeWithAssignmentSql,
                                         postgres_internal::UsersByAttributeWithAssignmentParams(
                                             path, value, application_arn)));
    return postgres_internal::ReadUsersWithAssignment(r);
  });
}

// --- groups and memberships ---

namespace {

#define TS_GROUP_COLUMNS                                                                  \
  "group_id, identity_store_id, display_name, description, attributes_json, created_at, " \
  "updated_at"
#define TS_MEMBERSHIP_COLUMNS "membership_id, identity_store_id, group_id, user_id, created_at"

Group ReadGroup(const Result& r, int row) {
  Group g;
  g.group_id = r.Text(row, 0);
  g.identity_store_id = r.Text(row, 1);
  g.display_name = r.Text(row, 2);
  g.description = r.Text(row, 3);
  g.attributes_json = r.Text(row, 4);
  g.created_at = r.Int(row, 5);
  g.updated_at = r.Int(row, 6);
  return g;
}

GroupMembership ReadMembership(const Result& r, int row) {
  GroupMembership m;
  m.membership_id = r.Text(row, 0);
  m.identity_store_id = r.Text(row, 1);
  m.group_id = r.Text(row, 2);
  m.user_id = r.Text(row, 3);
  m.created_at = r.Int(row, 4);
  return m;
}

Status GroupConflict(const Connection& c, const Status& status, const Group& group) {
  if (!c.UniqueViolated()) return status;
  if (status.message().find("display_name") != std::string_view::npos) {
    return AlreadyExistsError("group display name already exists: " + group.display_name);
  }
  return AlreadyExistsError("group already exists: " + group.group_id);
}

}  // namespace

Status PostgresStore::CreateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO groups (" TS_GROUP_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
        MakeParams(group.group_id, group.identity_store_id, group.display_name, group.description,
                   group.attributes_json, group.created_at, group.updated_at));
    if (!r.ok()) return GroupConflict(c, r.status(), group);
    return WriteGroupIndex(c, group);
  });
}

Status PostgresStore::UpdateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "UPDATE groups SET identity_store_id = $1, display_name = $2, description = $3, "
        "attributes_json = $4, updated_at = $5 WHERE group_id = $6",
        MakeParams(group.identity_store_id, group.display_name, group.description,
                   group.attributes_json, group.updated_at, group.group_id));
    if (!r.ok()) return GroupConflict(c, r.status(), group);
    if (r->affected() == 0) return NotFoundError("no such group: " + group.group_id);
    return WriteGroupIndex(c, group);
  });
}

StatusOr<Group> PostgresStore::GetGroup(const std::string& group_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<Group> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id = $1",
                               MakeParams(group_id)));
    if (r.rows() == 0) return NotFoundError("no such group: " + group_id);
    return ReadGroup(r, 0);
  });
}

StatusOr<Page<Group>> PostgresStore::ListGroups(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Group>> {
    return RunPage<Group>(
        c, "SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id > $1 ORDER BY group_id LIMIT $2",
        Params(), page, ReadGroup, [](const Group& g) { return g.group_id; });
  });
}

StatusOr<std::vector<Group>> PostgresStore::FindGroupsByAttribute(const std::string& path,
                                                                  const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Group>> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id IN (SELECT group_id "
               "FROM group_index WHERE path = $1 AND value = $2) ORDER BY group_id",
               MakeParams(key.first, key.second)));
    std::vector<Group> groups;
    for (int i = 0; i < r.rows(); ++i) groups.push_back(ReadGroup(r, i));
    return groups;
  });
}

Status PostgresStore::DeleteGroup(const std::string& group_id) {
  return impl_->Write([&](Connection& c) -> Status {
    // The members, before their memberships go: each may lose roles held through the group.
    TS_ASSIGN_OR_RETURN(
        Result members,
        c.Exec("SELECT user_id FROM group_memberships WHERE group_id = $1", MakeParams(group_id)));
    // Memberships and index rows go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("WITH g AS (DELETE FROM groups WHERE group_id = $1 RETURNING group_id), "
                         "a AS (DELETE FROM assignments WHERE principal_id = $1 "
                         "AND EXISTS (SELECT 1 FROM g)) SELECT count(*) FROM g",
                         MakeParams(group_id)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such group: " + group_id);
    TS_RETURN_IF_ERROR(postgres_internal::DeleteAccountAssignmentsOf(c, "GROUP", group_id));
    for (int i = 0; i < members.rows(); ++i) {
      TS_RETURN_IF_ERROR(postgres_internal::RevokeUnheldRoleCredentials(c, members.Text(i, 0)));
    }
    return OkStatus();
  });
}

Status PostgresStore::CreateGroupMembership(const GroupMembership& m) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result group,
                        c.Exec("SELECT 1 FROM groups WHERE group_id = $1", MakeParams(m.group_id)));
    if (group.rows() == 0) return NotFoundError("no such group: " + m.group_id);
    TS_ASSIGN_OR_RETURN(Result user,
                        c.Exec("SELECT 1 FROM users WHERE user_id = $1", MakeParams(m.user_id)));
    if (user.rows() == 0) return NotFoundError("no such user: " + m.user_id);
    auto r = c.Exec(
        "INSERT INTO group_memberships (" TS_MEMBERSHIP_COLUMNS ") VALUES ($1, $2, $3, $4, $5)",
        MakeParams(m.membership_id, m.identity_store_id, m.group_id, m.user_id, m.created_at));
    if (!r.ok() && c.UniqueViolated()) {
      if (r.status().message().find("membership_id") != std::string_view::npos) {
        return AlreadyExistsError("membership already exists: " + m.membership_id);
      }
      return AlreadyExistsError("user " + m.user_id + " is already a member of group " +
                                m.group_id);
    }
    // A group or user deleted concurrently after the checks above.
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such group or user: " + m.group_id + ", " + m.user_id);
    }
    return r.status();
  });
}

StatusOr<GroupMembership> PostgresStore::GetGroupMembership(const std::string& membership_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<GroupMembership> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_MEMBERSHIP_COLUMNS
                                         " FROM group_memberships WHERE membership_id = $1",
                                         MakeParams(membership_id)));
    if (r.rows() == 0) return NotFoundError("no such membership: " + membership_id);
    return ReadMembership(r, 0);
  });
}

Status PostgresStore::DeleteGroupMembership(const std::string& membership_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("DELETE FROM group_memberships WHERE membership_id = $1 "
                                         "RETURNING user_id",
                                         MakeParams(membership_id)));
    if (r.rows() == 0) return NotFoundError("no such membership: " + membership_id);
    // The roles that membership was the user's only path to.
    return postgres_internal::RevokeUnheldRoleCredentials(c, r.Text(0, 0));
  });
}

StatusOr<Page<GroupMembership>> PostgresStore::ListGroupMemberships(const std::string& group_id,
                                                                    const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<GroupMembership>> {
    return RunPage<GroupMembership>(
        c,
        "SELECT " TS_MEMBERSHIP_COLUMNS
        " FROM group_memberships WHERE group_id = $1 AND membership_id > $2 "
        "ORDER BY membership_id LIMIT $3",
        MakeParams(group_id), page, ReadMembership,
        [](const GroupMembership& m) { return m.membership_id; });
  });
}

StatusOr<std::vector<GroupMembership>> PostgresStore::ListGroupMembershipsForUser(
    const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<GroupMembership>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_MEMBERSHIP_COLUMNS
                                         " FROM group_memberships WHERE user_id = $1 "
                                         "ORDER BY group_id",
                                         MakeParams(user_id)));
    std::vector<GroupMembership> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadMembership(r, i));
    return out;
  });
}

}  // namespace ts::storage
