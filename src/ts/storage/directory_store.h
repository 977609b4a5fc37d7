// File: directory_store.h
// DirectoryStore: the identity store: users, groups, group memberships and the attribute index
// that GetUserId, GetGroupId and the jwt-bearer user match look up by. Used by the admin plane's
// identitystore operations, the sign-in page and the token service (claims, the jwt-bearer
// match). The contract every storage interface shares is in store.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

// A user FindUsersByAttributeWithAssignment found, with whether they are assigned to the
// application asked about.
struct UserWithAssignment {
  User user;
  // Assigned to the application, directly or through a group (what IsAssigned answers).
  bool assigned = false;
};

class DirectoryStore {
 public:
  virtual ~DirectoryStore() = default;

  // --- users ---
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
  // FindUsersByAttribute with, for each user, whether they are assigned to `application_arn`,
  // in one read: the jwt-bearer grant's user match and its assignment check (on PostgreSQL one
  // round trip instead of two).
  virtual StatusOr<std::vector<UserWithAssignment>> FindUsersByAttributeWithAssignment(
      const std::string& path, const std::string& value, const std::string& application_arn) = 0;
  // Deletes the user, their group memberships, application and account assignments (and the
  // provisioned roles left without an assignment, as AccountStore::DeleteAccountAssignment), the
  // access keys of their role credentials, revokes their token families and ends their sign-in
  // sessions (one transaction, across the grant, session, account and credential tables).
  virtual Status DeleteUser(const std::string& user_id, int64_t now) = 0;

  // --- groups and memberships ---
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
  // Deletes the group, its memberships, its application and account assignments; then, as
  // AccountStore::DeleteAccountAssignment, the access keys of its members' role credentials for
  // roles they no longer hold by any path, and the provisioned roles left without an assignment.
  // NotFound if absent.
  virtual Status DeleteGroup(const std::string& group_id) = 0;
  // AlreadyExists on membership_id or on the (group_id, user_id) pair; NotFound if the group or
  // the user does not exist.
  virtual Status CreateGroupMembership(const GroupMembership& membership) = 0;
  virtual StatusOr<GroupMembership> GetGroupMembership(const std::string& membership_id) = 0;
  // Also deletes the access keys of the user's role credentials for roles that membership was
  // their only path to. NotFound if absent.
  virtual Status DeleteGroupMembership(const std::string& membership_id) = 0;
  // A group's memberships ordered by membership_id, one page at a time (empty for an unknown
  // group).
  virtual StatusOr<Page<GroupMembership>> ListGroupMemberships(const std::string& group_id,
                                                               const PageRequest& page) = 0;
  // Every membership of one user, ordered by group_id.
  virtual StatusOr<std::vector<GroupMembership>> ListGroupMembershipsForUser(
      const std::string& user_id) = 0;
};

}  // namespace ts::storage
