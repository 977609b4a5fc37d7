// The conformance suite's DirectoryStore cases: users, groups and group memberships (see
// conformance_test.h).
#include <gmock/gmock.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/storage/attribute_index.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

std::vector<std::string> UserIds(const std::vector<User>& users) {
  std::vector<std::string> ids;
  for (const User& u : users) ids.push_back(u.user_id);
  return ids;
}

// --- users ---

TEST_P(StoreConformanceTest, CreateUserRoundTrips) {
  const User user = MakeUser("user-1", "alice");
  ASSERT_THAT(store_->CreateUser(user), IsOk());
  EXPECT_THAT(store_->GetUser("user-1"), IsOkAndHolds(Eq(user)));
  EXPECT_THAT(store_->GetUserByName("alice"), IsOkAndHolds(Eq(user)));
}

TEST_P(StoreConformanceTest, GetAbsentUserIsNotFound) {
  EXPECT_THAT(store_->GetUser("nobody"), StatusIs(StatusCode::kNotFound, HasSubstr("nobody")));
  EXPECT_THAT(store_->GetUserByName("ghost"), StatusIs(StatusCode::kNotFound, HasSubstr("ghost")));
}

TEST_P(StoreConformanceTest, CreateUserDuplicateIdIsAlreadyExists) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  EXPECT_THAT(store_->CreateUser(MakeUser("user-1", "bob")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("user-1")));
  EXPECT_THAT(store_->GetUserByName("bob"), StatusIs(StatusCode::kNotFound, HasSubstr("bob")));
}

TEST_P(StoreConformanceTest, CreateUserDuplicateNameIsAlreadyExists) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  EXPECT_THAT(store_->CreateUser(MakeUser("user-2", "alice")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("alice")));
  EXPECT_THAT(store_->GetUser("user-2"), StatusIs(StatusCode::kNotFound, HasSubstr("user-2")));
}

TEST_P(StoreConformanceTest, UserNamesAreCaseSensitive) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "Alice")), IsOk());
  EXPECT_THAT(store_->GetUserByName("Alice"), IsOkAndHolds(Eq(MakeUser("user-2", "Alice"))));
}

TEST_P(StoreConformanceTest, UpdateUserRewritesFieldsButCreatedAt) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  User changed = MakeUser("user-1", "alice2");
  changed.display_name = "Alice Two";
  changed.attributes_json = R"({"UserName":"alice2"})";
  changed.password_hash = "";
  changed.updated_at = kNow + 10;
  changed.created_at = kNow + 10;  // ignored: creation time is immutable
  ASSERT_THAT(store_->UpdateUser(changed), IsOk());
  User expected = changed;
  expected.created_at = kNow;
  EXPECT_THAT(store_->GetUser("user-1"), IsOkAndHolds(Eq(expected)));
  EXPECT_THAT(store_->GetUserByName("alice"), StatusIs(StatusCode::kNotFound, HasSubstr("alice")));
}

TEST_P(StoreConformanceTest, UpdateAbsentUserIsNotFound) {
  EXPECT_THAT(store_->UpdateUser(MakeUser("user-9", "zed")),
              StatusIs(StatusCode::kNotFound, HasSubstr("user-9")));
}

TEST_P(StoreConformanceTest, UpdateUserToTakenNameIsAlreadyExists) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "bob")), IsOk());
  EXPECT_THAT(store_->UpdateUser(MakeUser("user-2", "alice")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("alice")));
  EXPECT_THAT(store_->GetUser("user-2"), IsOkAndHolds(Eq(MakeUser("user-2", "bob"))));
}

TEST_P(StoreConformanceTest, ListUsers) {
  EXPECT_THAT(store_->ListUsers(), IsOkAndHolds(IsEmpty()));
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "carol")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "alice")), IsOk());
  auto users = store_->ListUsers();
  ASSERT_THAT(users, IsOk());
  EXPECT_THAT(UserIds(*users), UnorderedElementsAre("user-1", "user-2"));
}

TEST_P(StoreConformanceTest, DeleteAbsentUserIsNotFound) {
  EXPECT_THAT(store_->DeleteUser("user-9", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("user-9")));
}

TEST_P(StoreConformanceTest, DeleteUserRevokesFamiliesAndSessions) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "bob")), IsOk());
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-1")), IsOk());
  ASSERT_THAT(store_->CreateSession(MakeSession("session-2", "user-2")), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1", "user-1"), MakeRefresh("rt-1", "fam-1")),
              IsOk());
  ASSERT_THAT(
      store_->CreateFamily(MakeFamily("fam-2", "user-2", kAppArn, "session-2"), std::nullopt),
      IsOk());

  ASSERT_THAT(store_->DeleteUser("user-1", kNow + 5), IsOk());

  EXPECT_THAT(store_->GetUser("user-1"), StatusIs(StatusCode::kNotFound, HasSubstr("user-1")));
  auto fam1 = store_->GetFamily("fam-1");
  ASSERT_THAT(fam1, IsOk());
  EXPECT_EQ(fam1->revoked_at, kNow + 5);
  auto session1 = store_->GetSession("session-1");
  ASSERT_THAT(session1, IsOk());
  EXPECT_EQ(session1->revoked_at, kNow + 5);
  // The other user's are untouched.
  auto fam2 = store_->GetFamily("fam-2");
  ASSERT_THAT(fam2, IsOk());
  EXPECT_EQ(fam2->revoked_at, 0);
  auto session2 = store_->GetSession("session-2");
  ASSERT_THAT(session2, IsOk());
  EXPECT_EQ(session2->revoked_at, 0);
  // A revoked family stops rotation.
  EXPECT_THAT(store_->RotateRefreshToken("rt-1", kNow + 6, MakeRefresh("rt-1b", "fam-1")),
              IsOkAndHolds(RotateOutcome::kFamilyRevoked));
}

// Beyond store.h: DeleteUser also removes the user's assignments and unused codes (so nothing
// can be issued to a deleted user), while a used code stays for reuse detection.
TEST_P(StoreConformanceTest, DeleteUserRemovesAssignmentsAndUnusedCodes) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-unused", "user-1")), IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-used", "user-1")), IsOk());
  ASSERT_THAT(
      store_->RedeemAuthorizationCode("code-used", kNow + 1, MakeFamily("fam-1"), std::nullopt),
      IsOkAndHolds(RedeemOutcome::kRedeemed));

  ASSERT_THAT(store_->DeleteUser("user-1", kNow + 5), IsOk());

  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(false));
  EXPECT_THAT(store_->GetAuthorizationCode("code-unused"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  EXPECT_THAT(store_->GetAuthorizationCode("code-used"), IsOk());
}

// --- admin plane: paging, attribute lookups, groups ---

TEST_P(StoreConformanceTest, ListUsersPagePagesByUserId) {
  for (const char* id : {"user-3", "user-1", "user-2"}) {
    ASSERT_THAT(store_->CreateUser(MakeUser(id, std::string("n") + id)), IsOk());
  }
  auto first = store_->ListUsersPage(PageRequest{"", 2});
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(UserIds(first->items), ElementsAre("user-1", "user-2"));
  EXPECT_EQ(first->next, "user-2");
  auto second = store_->ListUsersPage(PageRequest{first->next, 2});
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(UserIds(second->items), ElementsAre("user-3"));
  EXPECT_EQ(second->next, "");
  // A page that ends exactly at the last record says so.
  auto exact = store_->ListUsersPage(PageRequest{"", 3});
  ASSERT_THAT(exact, IsOk());
  EXPECT_EQ(exact->items.size(), 3u);
  EXPECT_EQ(exact->next, "");
  EXPECT_THAT(store_->ListUsersPage(PageRequest{"", 0}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_P(StoreConformanceTest, FindUsersByAttributeUsesTheIndexAndFollowsUpdates) {
  User alice = MakeUser("user-1", "Alice");
  alice.attributes_json =
      R"({"UserName":"Alice","Emails":[{"Value":"Alice@Example.com","Primary":true}],)"
      R"("Name":{"GivenName":"Alice"},"ExternalIds":[{"Issuer":"okta","Id":"00u1"}]})";
  ASSERT_THAT(store_->CreateUser(alice), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "bob")), IsOk());
  // userName and emails.value compare case-insensitively; paths are case-insensitive.
  EXPECT_THAT(store_->FindUsersByAttribute("userName", "alice"),
              IsOkAndHolds(ElementsAre(Eq(alice))));
  EXPECT_THAT(store_->FindUsersByAttribute("emails.value", "alice@example.COM"),
              IsOkAndHolds(ElementsAre(Eq(alice))));
  EXPECT_THAT(store_->FindUsersByAttribute("Name.GivenName", "Alice"),
              IsOkAndHolds(ElementsAre(Eq(alice))));
  EXPECT_THAT(store_->FindUsersByAttribute("name.givenName", "alice"), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->FindUsersByAttribute("externalid", ExternalIdValue("okta", "00u1")),
              IsOkAndHolds(ElementsAre(Eq(alice))));
  EXPECT_THAT(store_->FindUsersByAttribute("id", "user-2"),
              IsOkAndHolds(ElementsAre(Eq(MakeUser("user-2", "bob")))));
  // Both users share x@example.com? No: only bob has it now.
  EXPECT_THAT(UserIds(*store_->FindUsersByAttribute("emails.value", "x@example.com")),
              ElementsAre("user-2"));

  alice.attributes_json = R"({"UserName":"Alice","Emails":[{"Value":"x@example.com"}]})";
  ASSERT_THAT(store_->UpdateUser(alice), IsOk());
  EXPECT_THAT(store_->FindUsersByAttribute("emails.value", "alice@example.com"),
              IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(UserIds(*store_->FindUsersByAttribute("emails.value", "x@example.com")),
              ElementsAre("user-1", "user-2"));
  ASSERT_THAT(store_->DeleteUser("user-1", kNow), IsOk());
  EXPECT_THAT(UserIds(*store_->FindUsersByAttribute("emails.value", "x@example.com")),
              ElementsAre("user-2"));
}

// The jwt-bearer grant's one read: the users FindUsersByAttribute finds, each with what
// IsAssigned answers for the application (assigned directly, through a group, or not; another
// application's assignment does not count).
TEST_P(StoreConformanceTest, FindUsersByAttributeWithAssignmentReadsIsAssignedWithTheUsers) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kOtherAppArn)), IsOk());
  for (const char* id : {"user-1", "user-2", "user-3", "user-4"}) {
    User u = MakeUser(id, std::string("name-") + id);
    u.attributes_json = R"({"Emails":[{"Value":"shared@example.com"}]})";
    ASSERT_THAT(store_->CreateUser(u), IsOk());
  }
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-1", "readers")), IsOk());
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-1", "group-1", "user-2")), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "group-1", "GROUP"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kOtherAppArn, "user-3", "USER"), IsOk());

  auto found =
      store_->FindUsersByAttributeWithAssignment("emails.value", "SHARED@example.com", kAppArn);
  ASSERT_THAT(found, IsOk());
  std::vector<std::pair<std::string, bool>> seen;
  for (const UserWithAssignment& u : *found) seen.emplace_back(u.user.user_id, u.assigned);
  EXPECT_THAT(seen, ElementsAre(std::pair<std::string, bool>("user-1", true),
                                std::pair<std::string, bool>("user-2", true),
                                std::pair<std::string, bool>("user-3", false),
                                std::pair<std::string, bool>("user-4", false)));
  for (const UserWithAssignment& u : *found) {
    EXPECT_EQ(u.assigned, *store_->IsAssigned(kAppArn, u.user.user_id)) << u.user.user_id;
    EXPECT_THAT(store_->GetUser(u.user.user_id), IsOkAndHolds(Eq(u.user)));
  }
  EXPECT_THAT(
      store_->FindUsersByAttributeWithAssignment("emails.value", "none@example.com", kAppArn),
      IsOkAndHolds(IsEmpty()));
}

TEST_P(StoreConformanceTest, GroupLifecycle) {
  const Group admins = MakeGroup("group-1", "admins");
  ASSERT_THAT(store_->CreateGroup(admins), IsOk());
  EXPECT_THAT(store_->GetGroup("group-1"), IsOkAndHolds(Eq(admins)));
  EXPECT_THAT(store_->CreateGroup(MakeGroup("group-1", "other")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("group-1")));
  EXPECT_THAT(store_->CreateGroup(MakeGroup("group-2", "admins")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("admins")));
  EXPECT_THAT(store_->FindGroupsByAttribute("DisplayName", "admins"),
              IsOkAndHolds(ElementsAre(Eq(admins))));
  EXPECT_THAT(store_->FindGroupsByAttribute("externalid", ExternalIdValue("scim", "ext-group-1")),
              IsOkAndHolds(ElementsAre(Eq(admins))));

  Group renamed = admins;
  renamed.display_name = "operators";
  renamed.updated_at = kNow + 1;
  ASSERT_THAT(store_->UpdateGroup(renamed), IsOk());
  EXPECT_THAT(store_->GetGroup("group-1"), IsOkAndHolds(Eq(renamed)));
  EXPECT_THAT(store_->FindGroupsByAttribute("displayname", "admins"), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->UpdateGroup(MakeGroup("group-9", "x")),
              StatusIs(StatusCode::kNotFound, HasSubstr("group-9")));
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-2", "readers")), IsOk());
  Group clash = renamed;
  clash.display_name = "readers";
  EXPECT_THAT(store_->UpdateGroup(clash),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("readers")));

  auto page = store_->ListGroups(PageRequest{"", 1});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].group_id, "group-1");
  EXPECT_EQ(page->next, "group-1");
  page = store_->ListGroups(PageRequest{page->next, 1});
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].group_id, "group-2");
  EXPECT_EQ(page->next, "");

  ASSERT_THAT(store_->DeleteGroup("group-1"), IsOk());
  EXPECT_THAT(store_->GetGroup("group-1"), StatusIs(StatusCode::kNotFound, HasSubstr("group-1")));
  EXPECT_THAT(store_->DeleteGroup("group-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("group-1")));
}

TEST_P(StoreConformanceTest, GroupMembershipsAndGroupAssignments) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->CreateUser(MakeUser("user-2", "bob")), IsOk());
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-1", "admins")), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());

  EXPECT_THAT(store_->CreateGroupMembership(MakeMembership("m-0", "group-9", "user-1")),
              StatusIs(StatusCode::kNotFound, HasSubstr("group-9")));
  EXPECT_THAT(store_->CreateGroupMembership(MakeMembership("m-0", "group-1", "user-9")),
              StatusIs(StatusCode::kNotFound, HasSubstr("user-9")));
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-1", "group-1", "user-1")), IsOk());
  EXPECT_THAT(store_->CreateGroupMembership(MakeMembership("m-2", "group-1", "user-1")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("already a member")));
  EXPECT_THAT(store_->GetGroupMembership("m-1"),
              IsOkAndHolds(Eq(MakeMembership("m-1", "group-1", "user-1"))));
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-3", "group-1", "user-2")), IsOk());
  auto page = store_->ListGroupMemberships("group-1", PageRequest{"", 1});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->items, ElementsAre(Eq(MakeMembership("m-1", "group-1", "user-1"))));
  page = store_->ListGroupMemberships("group-1", PageRequest{page->next, 5});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->items, ElementsAre(Eq(MakeMembership("m-3", "group-1", "user-2"))));
  EXPECT_EQ(page->next, "");
  EXPECT_THAT(store_->ListGroupMembershipsForUser("user-1"),
              IsOkAndHolds(ElementsAre(Eq(MakeMembership("m-1", "group-1", "user-1")))));

  // A group's assignment counts for its members only.
  ASSERT_THAT(store_->PutAssignment(kAppArn, "group-1", "GROUP"), IsOk());
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(true));
  ASSERT_THAT(store_->DeleteGroupMembership("m-1"), IsOk());
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(false));
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-2"), IsOkAndHolds(true));
  EXPECT_THAT(store_->DeleteGroupMembership("m-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("m-1")));

  // Deleting a user removes their memberships; deleting a group its memberships and assignments.
  ASSERT_THAT(store_->DeleteUser("user-2", kNow), IsOk());
  EXPECT_THAT(store_->GetGroupMembership("m-3"), StatusIs(StatusCode::kNotFound, HasSubstr("m-3")));
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-4", "group-1", "user-1")), IsOk());
  ASSERT_THAT(store_->DeleteGroup("group-1"), IsOk());
  EXPECT_THAT(store_->GetGroupMembership("m-4"), StatusIs(StatusCode::kNotFound, HasSubstr("m-4")));
  EXPECT_THAT(store_->ListAssignments(kAppArn, PageRequest{}),
              IsOkAndHolds(Field(&Page<Assignment>::items, IsEmpty())));
}

}  // namespace
}  // namespace ts::storage::conformance
