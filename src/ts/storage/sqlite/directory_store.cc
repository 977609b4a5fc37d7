// DirectoryStore (directory_store.h) on SQLite: users, groups and group memberships, with their
// attribute indexes (attribute_index.h).

#include <string>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/attribute_index.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::Exists;
using sqlite_internal::IndexUnindexedUsers;
using sqlite_internal::ReadGroup;
using sqlite_internal::ReadMembership;
using sqlite_internal::ReadUser;
using sqlite_internal::RunPage;
using sqlite_internal::Statement;
using sqlite_internal::Transaction;

// --- users ---

namespace {
// Rewrites the user's attribute-index rows (attribute_index.h) inside the caller's transaction.
Status WriteUserIndex(Connection& c, const User& user) {
  TS_RETURN_IF_ERROR(Change(c, "DELETE FROM user_index WHERE user_id = ?", user.user_id).status());
  for (const auto& [path, value] : UserIndexEntries(user)) {
    TS_RETURN_IF_ERROR(Change(c, "INSERT INTO user_index (user_id, path, value) VALUES (?, ?, ?)",
                              user.user_id, path, value)
                           .status());
  }
  return OkStatus();
}

Status WriteGroupIndex(Connection& c, const Group& group) {
  TS_RETURN_IF_ERROR(
      Change(c, "DELETE FROM group_index WHERE group_id = ?", group.group_id).status());
  for (const auto& [path, value] : GroupIndexEntries(group)) {
    TS_RETURN_IF_ERROR(Change(c, "INSERT INTO group_index (group_id, path, value) VALUES (?, ?, ?)",
                              group.group_id, path, value)
                           .status());
  }
  return OkStatus();
}

}  // namespace

namespace sqlite_internal {

Status IndexUnindexedUsers(Connection& c) {
  std::vector<User> users;
  {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id NOT IN "
                                  "(SELECT user_id FROM user_index)"));
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(ReadUser(stmt));
    }
  }
  if (users.empty()) return OkStatus();
  Transaction txn(c);
  TS_RETURN_IF_ERROR(txn.BeginImmediate());
  for (const User& user : users) TS_RETURN_IF_ERROR(WriteUserIndex(c, user));
  return txn.Commit();
}

}  // namespace sqlite_internal

namespace {

Status UserConflict(const Statement& stmt, const User& user) {
  if (stmt.ErrorMessage().find("users.user_name") != std::string::npos) {
    return AlreadyExistsError("user name already exists: " + user.user_name);
  }
  return AlreadyExistsError("user already exists: " + user.user_id);
}
}  // namespace

Status SqliteStore::CreateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO users (" TS_USER_COLUMNS
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(user.user_id)
        .Bind(user.identity_store_id)
        .Bind(user.user_name)
        .Bind(user.display_name)
        .Bind(user.attributes_json)
        .Bind(user.password_hash)
        .Bind(user.created_at)
        .Bind(user.updated_at);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return UserConflict(stmt, user);
    TS_RETURN_IF_ERROR(status);
    return WriteUserIndex(c, user);
  });
}

Status SqliteStore::UpdateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("UPDATE users SET identity_store_id = ?, user_name = ?, display_name = ?, "
                  "attributes_json = ?, password_hash = ?, updated_at = ? WHERE user_id = ?"));
    stmt.Bind(user.identity_store_id)
        .Bind(user.user_name)
        .Bind(user.display_name)
        .Bind(user.attributes_json)
        .Bind(user.password_hash)
        .Bind(user.updated_at)
        .Bind(user.user_id);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return UserConflict(stmt, user);
    TS_RETURN_IF_ERROR(status);
    if (stmt.Changes() == 0) return NotFoundError("no such user: " + user.user_id);
    return WriteUserIndex(c, user);
  });
}

StatusOr<User> SqliteStore::GetUser(const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id = ?"));
    stmt.Bind(user_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such user: " + user_id);
    return ReadUser(stmt);
  });
}

StatusOr<User> SqliteStore::GetUserByName(const std::string& user_name) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_name = ?"));
    stmt.Bind(user_name);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such user name: " + user_name);
    return ReadUser(stmt);
  });
}

StatusOr<std::vector<User>> SqliteStore::ListUsers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users ORDER BY user_name"));
    std::vector<User> users;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(ReadUser(stmt));
    }
    return users;
  });
}

Status SqliteStore::DeleteUser(const std::string& user_id, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c, "DELETE FROM users WHERE user_id = ?", user_id));
    if (deleted == 0) return NotFoundError("no such user: " + user_id);
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE user_id = ? AND revoked_at = 0",
                              now, user_id)
                           .status());
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE sign_in_sessions SET revoked_at = ? "
                              "WHERE user_id = ? AND revoked_at = 0",
                              now, user_id)
                           .status());
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM authorization_codes WHERE user_id = ? AND consumed_at = 0", user_id)
            .status());
    TS_RETURN_IF_ERROR(Change(c,
                              "DELETE FROM device_authorizations WHERE user_id = ? "
                              "AND consumed_at = 0 AND status = 'APPROVED'",
                              user_id)
                           .status());
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM assignments WHERE principal_id = ?", user_id).status());
    TS_RETURN_IF_ERROR(sqlite_internal::DeleteAccountAssignmentsOf(c, "USER", user_id));
    // Every role credential of the user (the links go by cascade).
    return Change(c,
                  "DELETE FROM access_keys WHERE access_key_id IN (SELECT access_key_id FROM "
                  "role_credentials WHERE user_id = ?)",
                  user_id)
        .status();
  });
}

namespace {

Status GroupConflict(const Statement& stmt, const Group& group) {
  if (stmt.ErrorMessage().find("groups.display_name") != std::string::npos) {
    return AlreadyExistsError("group display name already exists: " + group.display_name);
  }
  return AlreadyExistsError("group already exists: " + group.group_id);
}

}  // namespace

StatusOr<Page<User>> SqliteStore::ListUsersPage(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<User>> {
    return RunPage<User>(
        c, "SELECT " TS_USER_COLUMNS " FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?", page,
        ReadUser, [](const User& u) { return u.user_id; });
  });
}

StatusOr<std::vector<User>> SqliteStore::FindUsersByAttribute(const std::string& path,
                                                              const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id IN (SELECT user_id FROM "
                  "user_index WHERE path = ? AND value = ?) ORDER BY user_id"));
    stmt.Bind(key.first).Bind(key.second);
    std::vector<User> users;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(ReadUser(stmt));
    }
    return users;
  });
}

StatusOr<std::vector<UserWithAssignment>> SqliteStore::FindUsersByAttributeWithAssignment(
    const std::string& path, const std::string& value, const std::string& application_arn) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<UserWithAssignment>> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_USER_COLUMNS ", " TS_USER_ASSIGNED(
            "?3", "users.user_id") " FROM users WHERE user_id IN (SELECT user_id FROM "
                                   "user_index WHERE path = ?1 AND value = ?2) ORDER BY user_id"));
    stmt.Bind(key.first).Bind(key.second).Bind(application_arn);
    std::vector<UserWithAssignment> users;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(UserWithAssignment{ReadUser(stmt), stmt.Int(8) != 0});
    }
    return users;
  });
}

Status SqliteStore::CreateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO groups (" TS_GROUP_COLUMNS
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(group.group_id)
        .Bind(group.identity_store_id)
        .Bind(group.display_name)
        .Bind(group.description)
        .Bind(group.attributes_json)
        .Bind(group.created_at)
        .Bind(group.updated_at);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return GroupConflict(stmt, group);
    TS_RETURN_IF_ERROR(status);
    return WriteGroupIndex(c, group);
  });
}

Status SqliteStore::UpdateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("UPDATE groups SET identity_store_id = ?, display_name = ?, description = ?, "
                  "attributes_json = ?, updated_at = ? WHERE group_id = ?"));
    stmt.Bind(group.identity_store_id)
        .Bind(group.display_name)
        .Bind(group.description)
        .Bind(group.attributes_json)
        .Bind(group.updated_at)
        .Bind(group.group_id);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return GroupConflict(stmt, group);
    TS_RETURN_IF_ERROR(status);
    if (stmt.Changes() == 0) return NotFoundError("no such group: " + group.group_id);
    return WriteGroupIndex(c, group);
  });
}

StatusOr<Group> SqliteStore::GetGroup(const std::string& group_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<Group> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id = ?"));
    stmt.Bind(group_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such group: " + group_id);
    return ReadGroup(stmt);
  });
}

StatusOr<Page<Group>> SqliteStore::ListGroups(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Group>> {
    return RunPage<Group>(
        c, "SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id > ? ORDER BY group_id LIMIT ?",
        page, ReadGroup, [](const Group& g) { return g.group_id; });
  });
}

StatusOr<std::vector<Group>> SqliteStore::FindGroupsByAttribute(const std::string& path,
                                                                const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Group>> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id IN (SELECT group_id "
                  "FROM group_index WHERE path = ? AND value = ?) ORDER BY group_id"));
    stmt.Bind(key.first).Bind(key.second);
    std::vector<Group> groups;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      groups.push_back(ReadGroup(stmt));
    }
    return groups;
  });
}

Status SqliteStore::DeleteGroup(const std::string& group_id) {
  return impl_->Write([&](Connection& c) -> Status {
    // The members, before their memberships go: each may lose roles held through the group.
    std::vector<std::string> members;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT user_id FROM group_memberships WHERE group_id = ?"));
      stmt.Bind(group_id);
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        members.push_back(stmt.Text(0));
      }
    }
    // Memberships and index rows go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(int64_t deleted,
                        Change(c, "DELETE FROM groups WHERE group_id = ?", group_id));
    if (deleted == 0) return NotFoundError("no such group: " + group_id);
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM assignments WHERE principal_id = ?", group_id).status());
    TS_RETURN_IF_ERROR(sqlite_internal::DeleteAccountAssignmentsOf(c, "GROUP", group_id));
    for (const std::string& user_id : members) {
      TS_RETURN_IF_ERROR(sqlite_internal::RevokeUnheldRoleCredentials(c, user_id));
    }
    return OkStatus();
  });
}

Status SqliteStore::CreateGroupMembership(const GroupMembership& m) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool group,
                        Exists(c, "SELECT 1 FROM groups WHERE group_id = ?", m.group_id));
    if (!group) return NotFoundError("no such group: " + m.group_id);
    TS_ASSIGN_OR_RETURN(bool user, Exists(c, "SELECT 1 FROM users WHERE user_id = ?", m.user_id));
    if (!user) return NotFoundError("no such user: " + m.user_id);
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO group_memberships (" TS_MEMBERSHIP_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?)"));
    stmt.Bind(m.membership_id)
        .Bind(m.identity_store_id)
        .Bind(m.group_id)
        .Bind(m.user_id)
        .Bind(m.created_at);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) {
      if (stmt.ErrorMessage().find("membership_id") != std::string::npos) {
        return AlreadyExistsError("membership already exists: " + m.membership_id);
      }
      return AlreadyExistsError("user " + m.user_id + " is already a member of group " +
                                m.group_id);
    }
    return status;
  });
}

StatusOr<GroupMembership> SqliteStore::GetGroupMembership(const std::string& membership_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<GroupMembership> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_MEMBERSHIP_COLUMNS
                                  " FROM group_memberships WHERE membership_id = ?"));
    stmt.Bind(membership_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such membership: " + membership_id);
    return ReadMembership(stmt);
  });
}

Status SqliteStore::DeleteGroupMembership(const std::string& membership_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("DELETE FROM group_memberships WHERE membership_id = ? RETURNING user_id"));
    stmt.Bind(membership_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such membership: " + membership_id);
    const std::string user_id = stmt.Text(0);
    TS_ASSIGN_OR_RETURN(row, stmt.Step());  // finish the statement
    // The roles that membership was the user's only path to.
    return sqlite_internal::RevokeUnheldRoleCredentials(c, user_id);
  });
}

StatusOr<Page<GroupMembership>> SqliteStore::ListGroupMemberships(const std::string& group_id,
                                                                  const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<GroupMembership>> {
    return RunPage<GroupMembership>(
        c,
        "SELECT " TS_MEMBERSHIP_COLUMNS
        " FROM group_memberships WHERE group_id = ? AND "
        "membership_id > ? ORDER BY membership_id LIMIT ?",
        page, ReadMembership, [](const GroupMembership& m) { return m.membership_id; }, group_id);
  });
}

StatusOr<std::vector<GroupMembership>> SqliteStore::ListGroupMembershipsForUser(
    const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<GroupMembership>> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_MEMBERSHIP_COLUMNS
                                  " FROM group_memberships WHERE user_id = ? ORDER BY group_id"));
    stmt.Bind(user_id);
    std::vector<GroupMembership> out;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(ReadMembership(stmt));
    }
    return out;
  });
}

}  // namespace ts::storage
