// The conformance suite's AccountStore cases: accounts, permission sets, provisioned roles,
// account assignments, operation statuses, the roles a user holds and the role credentials the
// access portal issues, with what other aggregates' deletions do to them (see
// conformance_test.h).
#include <gmock/gmock.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

constexpr char kAccount[] = "111122223333";
constexpr char kOtherAccount[] = "444455556666";
constexpr char kInstance[] = "arn:aws:sso:::instance/ssoins-111111111111";

std::string PsArn(const std::string& suffix) {
  return "arn:aws:sso:::permissionSet/ssoins-111111111111/ps-" + suffix;
}

Account MakeAccount(const std::string& id, const std::string& name = "Production") {
  return Account{id, name, name + "@example.com", kNow};
}

PermissionSet MakePermissionSet(const std::string& suffix, const std::string& name) {
  PermissionSet p;
  p.arn = PsArn(suffix);
  p.instance_arn = kInstance;
  p.name = name;
  p.description = "the " + name + " role";
  p.session_duration = "PT4H";
  p.relay_state = "https://console.example/";
  p.inline_policy_json = R"({"Version":"2012-10-17","Statement":[]})";
  p.managed_policy_arns = {"arn:aws:iam::aws:policy/ReadOnlyAccess"};
  p.permissions_boundary_json = R"({"ManagedPolicyArn":"arn:aws:iam::aws:policy/PowerUserAccess"})";
  p.created_at = kNow;
  p.updated_at = kNow;
  return p;
}

std::string RoleName(const PermissionSet& p) {
  return "AWSReservedSSO_" + p.name + "_0123456789abcdef";
}

RoleProvisioning MakeProvisioning(const std::string& account_id, const PermissionSet& p) {
  RoleProvisioning r;
  r.role.account_id = account_id;
  r.role.permission_set_arn = p.arn;
  r.role.role_name = RoleName(p);
  r.role.permission_set_version = p.updated_at;
  r.role.provisioned_at = kNow + 5;
  r.principal.arn = "arn:aws:iam::" + account_id + ":role/" + r.role.role_name;
  r.principal.account_id = account_id;
  r.principal.identity_policy_json = p.inline_policy_json;
  r.principal.permissions_boundary_json = R"({"Version":"2012-10-17","Statement":[]})";
  r.principal.created_at = kNow + 5;
  return r;
}

OperationStatus MakeStatus(const std::string& request_id,
                           const std::string& kind = "ACCOUNT_ASSIGNMENT_CREATION",
                           int64_t created_at = kNow) {
  OperationStatus o;
  o.request_id = request_id;
  o.kind = kind;
  o.body_json = R"({"TargetId":"111122223333"})";
  o.created_at = created_at;
  return o;
}

AccountAssignment MakeAssignment(const std::string& account_id, const std::string& ps_arn,
                                 const std::string& type, const std::string& id) {
  return AccountAssignment{account_id, ps_arn, type, id, kNow};
}

AccessKey MakeRoleKey(const std::string& id, int64_t expires_at = kNow + 3600) {
  AccessKey k;
  k.access_key_id = id;
  k.principal_arn = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice";
  k.secret_sealed = std::string("sealed\0role\xfe", 12);
  k.session_token_hash = "token-hash-" + id;
  k.expires_at = expires_at;
  k.created_at = kNow;
  return k;
}

RoleCredential MakeLink(const std::string& key_id, const std::string& user_id,
                        const std::string& account_id, const std::string& ps_arn,
                        const std::string& family_id = "", const std::string& session_hash = "",
                        int64_t expires_at = kNow + 3600) {
  return RoleCredential{key_id, user_id, account_id, ps_arn, family_id, session_hash, expires_at};
}

// The account side's fixture: two accounts, two permission sets, users alice and bob, group
// admins with alice as a member.
class AccountFixture {
 public:
  explicit AccountFixture(Store& store) : store_(store) {}

  void Seed() {
    ASSERT_THAT(store_.PutAccount(MakeAccount(kAccount)), IsOk());
    ASSERT_THAT(store_.PutAccount(MakeAccount(kOtherAccount, "Staging")), IsOk());
    ASSERT_THAT(store_.CreatePermissionSet(admin), IsOk());
    ASSERT_THAT(store_.CreatePermissionSet(reader), IsOk());
    ASSERT_THAT(store_.CreateUser(MakeUser("user-alice", "alice")), IsOk());
    ASSERT_THAT(store_.CreateUser(MakeUser("user-bob", "bob")), IsOk());
    ASSERT_THAT(store_.CreateGroup(MakeGroup("group-admins", "admins")), IsOk());
    ASSERT_THAT(
        store_.CreateGroupMembership(MakeMembership("m-alice", "group-admins", "user-alice")),
        IsOk());
  }

  // Assigns and provisions (when not yet) `p` on `account_id` to the principal.
  void Assign(const std::string& account_id, const PermissionSet& p, const std::string& type,
              const std::string& id) {
    std::optional<RoleProvisioning> provisioning;
    if (!store_.GetProvisionedRole(account_id, p.arn).ok()) {
      provisioning = MakeProvisioning(account_id, p);
    }
    ASSERT_THAT(
        store_.CreateAccountAssignment(MakeAssignment(account_id, p.arn, type, id), provisioning,
                                       MakeStatus("req-" + std::to_string(++requests_))),
        IsOk());
  }

  // Issues a role credential for (account, permission set) to the user.
  void Issue(const std::string& key_id, const std::string& user_id, const std::string& account_id,
             const PermissionSet& p, const std::string& family_id = "",
             const std::string& session_hash = "") {
    ASSERT_THAT(
        store_.IssueRoleCredential(MakeRoleKey(key_id), MakeLink(key_id, user_id, account_id, p.arn,
                                                                 family_id, session_hash)),
        IsOk());
  }

  OperationStatus NextDeletion() {
    return MakeStatus("del-" + std::to_string(++requests_), "ACCOUNT_ASSIGNMENT_DELETION");
  }

  PermissionSet admin = MakePermissionSet("aaaaaaaaaaaaaaaa", "Admin");
  PermissionSet reader = MakePermissionSet("bbbbbbbbbbbbbbbb", "Reader");

 private:
  Store& store_;
  int requests_ = 0;
};

// Whether the access key still exists.
bool KeyExists(Store& store, const std::string& id) { return store.GetAccessKey(id).ok(); }

// The names of the roles ListUserRoles returns, as "<account>/<permission set name>".
std::vector<std::string> RoleKeys(const StatusOr<std::vector<UserRole>>& roles) {
  std::vector<std::string> out;
  if (!roles.ok()) return {"error: " + roles.status().ToString()};
  for (const UserRole& r : *roles) {
    out.push_back(r.account.account_id + "/" + r.permission_set.name);
  }
  return out;
}

// --- accounts ---

TEST_P(StoreConformanceTest, AccountPutGetReplaceListDelete) {
  EXPECT_THAT(store_->GetAccount(kAccount), StatusIs(StatusCode::kNotFound, HasSubstr(kAccount)));
  Account b = MakeAccount(kOtherAccount, "Staging");
  Account a = MakeAccount(kAccount);
  ASSERT_THAT(store_->PutAccount(b), IsOk());
  ASSERT_THAT(store_->PutAccount(a), IsOk());
  EXPECT_THAT(store_->GetAccount(kAccount), IsOkAndHolds(Eq(a)));
  // Replacing keeps created_at.
  Account renamed = a;
  renamed.name = "Prod";
  renamed.email = "prod@example.com";
  renamed.created_at = kNow + 100;
  ASSERT_THAT(store_->PutAccount(renamed), IsOk());
  renamed.created_at = kNow;
  EXPECT_THAT(store_->GetAccount(kAccount), IsOkAndHolds(Eq(renamed)));
  EXPECT_THAT(store_->ListAccounts(), IsOkAndHolds(ElementsAre(Eq(renamed), Eq(b))));

  ASSERT_THAT(store_->DeleteAccount(kAccount), IsOk());
  EXPECT_THAT(store_->GetAccount(kAccount), StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->DeleteAccount(kAccount),
              StatusIs(StatusCode::kNotFound, HasSubstr(kAccount)));
}

TEST_P(StoreConformanceTest, DeleteAccountWithAssignmentsIsFailedPrecondition) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  EXPECT_THAT(store_->DeleteAccount(kAccount),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("assignments")));
  EXPECT_THAT(store_->GetAccount(kAccount), IsOk());
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOk());
}

TEST_P(StoreConformanceTest, DeleteAccountTakesRolesProvisionedWithoutAssignment) {
  AccountFixture f(*store_);
  f.Seed();
  RoleProvisioning r = MakeProvisioning(kAccount, f.admin);
  ASSERT_THAT(store_->ProvisionRole(r, MakeStatus("prov-1", "PERMISSION_SET_PROVISIONING")),
              IsOk());
  ASSERT_THAT(store_->DeleteAccount(kAccount), IsOk());
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetPrincipal(r.principal.arn), StatusIs(StatusCode::kNotFound, _));
}

// --- permission sets ---

TEST_P(StoreConformanceTest, PermissionSetCreateGetUpdate) {
  PermissionSet p = MakePermissionSet("aaaaaaaaaaaaaaaa", "Admin");
  p.managed_policy_arns = {"arn:aws:iam::aws:policy/AdministratorAccess",
                           "arn:aws:iam::aws:policy/ReadOnlyAccess"};
  EXPECT_THAT(store_->GetPermissionSet(p.arn), StatusIs(StatusCode::kNotFound, HasSubstr(p.arn)));
  ASSERT_THAT(store_->CreatePermissionSet(p), IsOk());
  EXPECT_THAT(store_->GetPermissionSet(p.arn), IsOkAndHolds(Eq(p)));

  PermissionSet same_arn = MakePermissionSet("aaaaaaaaaaaaaaaa", "Other");
  EXPECT_THAT(store_->CreatePermissionSet(same_arn),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr(p.arn)));
  PermissionSet same_name = MakePermissionSet("cccccccccccccccc", "Admin");
  EXPECT_THAT(store_->CreatePermissionSet(same_name),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("name")));
  // Names compare exactly: another case is another name.
  EXPECT_THAT(store_->CreatePermissionSet(MakePermissionSet("dddddddddddddddd", "admin")), IsOk());

  // Update rewrites all but arn, instance_arn, name and created_at.
  PermissionSet changed = p;
  changed.instance_arn = "arn:aws:sso:::instance/ssoins-999";
  changed.name = "Renamed";
  changed.description = "new";
  changed.session_duration = "PT12H";
  changed.relay_state = "";
  changed.inline_policy_json = "";
  changed.managed_policy_arns = {};
  changed.permissions_boundary_json = "";
  changed.created_at = kNow + 50;
  changed.updated_at = kNow + 60;
  ASSERT_THAT(store_->UpdatePermissionSet(changed), IsOk());
  PermissionSet expected = changed;
  expected.instance_arn = p.instance_arn;
  expected.name = p.name;
  expected.created_at = p.created_at;
  EXPECT_THAT(store_->GetPermissionSet(p.arn), IsOkAndHolds(Eq(expected)));

  EXPECT_THAT(store_->UpdatePermissionSet(MakePermissionSet("eeeeeeeeeeeeeeee", "Ghost")),
              StatusIs(StatusCode::kNotFound, HasSubstr("ps-eeeeeeeeeeeeeeee")));
}

TEST_P(StoreConformanceTest, PermissionSetManagedPolicyArnWithWhitespaceIsInvalid) {
  PermissionSet p = MakePermissionSet("aaaaaaaaaaaaaaaa", "Admin");
  p.managed_policy_arns = {"arn:aws:iam::aws:policy/A B"};
  EXPECT_THAT(store_->CreatePermissionSet(p), StatusIs(StatusCode::kInvalidArgument, _));
  EXPECT_THAT(store_->GetPermissionSet(p.arn), StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, ListPermissionSetsPagesByArn) {
  for (const char* suffix : {"3333333333333333", "1111111111111111", "2222222222222222"}) {
    ASSERT_THAT(store_->CreatePermissionSet(MakePermissionSet(suffix, std::string("n") + suffix)),
                IsOk());
  }
  auto first = store_->ListPermissionSets({"", 2});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(first->items, SizeIs(2));
  EXPECT_EQ(first->items[0].arn, PsArn("1111111111111111"));
  EXPECT_EQ(first->items[1].arn, PsArn("2222222222222222"));
  EXPECT_EQ(first->next, PsArn("2222222222222222"));
  auto second = store_->ListPermissionSets({first->next, 2});
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(second->items, SizeIs(1));
  EXPECT_EQ(second->items[0].arn, PsArn("3333333333333333"));
  EXPECT_EQ(second->next, "");
  EXPECT_THAT(store_->ListPermissionSets({"", 0}), StatusIs(StatusCode::kInvalidArgument, _));
}

TEST_P(StoreConformanceTest, DeletePermissionSet) {
  AccountFixture f(*store_);
  f.Seed();
  EXPECT_THAT(store_->DeletePermissionSet(PsArn("ffffffffffffffff")),
              StatusIs(StatusCode::kNotFound, HasSubstr("ps-ffffffffffffffff")));
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  EXPECT_THAT(store_->DeletePermissionSet(f.admin.arn),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("assignments")));
  EXPECT_THAT(store_->GetPermissionSet(f.admin.arn), IsOk());

  // Provisioned without an assignment, tagged: the role, its principal and the tags go with it.
  RoleProvisioning r = MakeProvisioning(kOtherAccount, f.reader);
  ASSERT_THAT(store_->ProvisionRole(r, MakeStatus("prov-1", "PERMISSION_SET_PROVISIONING")),
              IsOk());
  ASSERT_THAT(store_->TagResource(f.reader.arn, {{"team", "ops"}}), IsOk());
  ASSERT_THAT(store_->DeletePermissionSet(f.reader.arn), IsOk());
  EXPECT_THAT(store_->GetPermissionSet(f.reader.arn), StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetProvisionedRole(kOtherAccount, f.reader.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetPrincipal(r.principal.arn), StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->ListTags(f.reader.arn), IsOkAndHolds(IsEmpty()));
}

// --- provisioning ---

TEST_P(StoreConformanceTest, ProvisionRoleWritesRolePrincipalAndStatus) {
  AccountFixture f(*store_);
  f.Seed();
  RoleProvisioning r = MakeProvisioning(kAccount, f.admin);
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, HasSubstr(kAccount)));
  const OperationStatus status = MakeStatus("prov-1", "PERMISSION_SET_PROVISIONING");
  ASSERT_THAT(store_->ProvisionRole(r, status), IsOk());
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOkAndHolds(Eq(r.role)));
  // The principal with its boundary (CredentialStore reads what provisioning wrote).
  EXPECT_THAT(store_->GetPrincipal(r.principal.arn), IsOkAndHolds(Eq(r.principal)));
  EXPECT_THAT(store_->GetOperationStatus("prov-1", "PERMISSION_SET_PROVISIONING"),
              IsOkAndHolds(Eq(status)));

  // Again: replaces the role (a re-provisioning of a changed permission set).
  r.role.permission_set_version = kNow + 70;
  r.role.provisioned_at = kNow + 80;
  r.principal.identity_policy_json = R"({"Version":"2012-10-17","Statement":[{}]})";
  ASSERT_THAT(store_->ProvisionRole(r, MakeStatus("prov-2", "PERMISSION_SET_PROVISIONING")),
              IsOk());
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOkAndHolds(Eq(r.role)));
  EXPECT_THAT(store_->GetPrincipal(r.principal.arn), IsOkAndHolds(Eq(r.principal)));
  // The status id is taken: nothing of this call stays.
  RoleProvisioning other = MakeProvisioning(kOtherAccount, f.admin);
  EXPECT_THAT(store_->ProvisionRole(other, MakeStatus("prov-2", "PERMISSION_SET_PROVISIONING")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("prov-2")));
  EXPECT_THAT(store_->GetProvisionedRole(kOtherAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, ProvisionRoleNeedsAccountAndPermissionSet) {
  AccountFixture f(*store_);
  f.Seed();
  RoleProvisioning no_account = MakeProvisioning("999999999999", f.admin);
  EXPECT_THAT(store_->ProvisionRole(no_account, MakeStatus("p-1", "PERMISSION_SET_PROVISIONING")),
              StatusIs(StatusCode::kNotFound, HasSubstr("999999999999")));
  PermissionSet ghost = MakePermissionSet("9999999999999999", "Ghost");
  RoleProvisioning no_ps = MakeProvisioning(kAccount, ghost);
  EXPECT_THAT(store_->ProvisionRole(no_ps, MakeStatus("p-2", "PERMISSION_SET_PROVISIONING")),
              StatusIs(StatusCode::kNotFound, HasSubstr(ghost.arn)));
  EXPECT_THAT(store_->GetPrincipal(no_account.principal.arn), StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetPrincipal(no_ps.principal.arn), StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetOperationStatus("p-1", "PERMISSION_SET_PROVISIONING"),
              StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, ListProvisionedRolesFiltersAndOrders) {
  AccountFixture f(*store_);
  f.Seed();
  const RoleProvisioning a1 = MakeProvisioning(kOtherAccount, f.admin);
  const RoleProvisioning a2 = MakeProvisioning(kAccount, f.reader);
  const RoleProvisioning a3 = MakeProvisioning(kAccount, f.admin);
  for (const RoleProvisioning* r : {&a1, &a2, &a3}) {
    ASSERT_THAT(store_->ProvisionRole(*r, MakeStatus("p-" + r->role.account_id + r->role.role_name,
                                                     "PERMISSION_SET_PROVISIONING")),
                IsOk());
  }
  // (account_id, permission_set_arn): admin's ARN (ps-aaaa) sorts before reader's (ps-bbbb).
  EXPECT_THAT(store_->ListProvisionedRoles("", ""),
              IsOkAndHolds(ElementsAre(Eq(a3.role), Eq(a2.role), Eq(a1.role))));
  EXPECT_THAT(store_->ListProvisionedRoles(kAccount, ""),
              IsOkAndHolds(ElementsAre(Eq(a3.role), Eq(a2.role))));
  EXPECT_THAT(store_->ListProvisionedRoles("", f.admin.arn),
              IsOkAndHolds(ElementsAre(Eq(a3.role), Eq(a1.role))));
  EXPECT_THAT(store_->ListProvisionedRoles(kOtherAccount, f.reader.arn), IsOkAndHolds(IsEmpty()));
}

// --- account assignments ---

TEST_P(StoreConformanceTest, CreateAccountAssignmentWithProvisioning) {
  AccountFixture f(*store_);
  f.Seed();
  const AccountAssignment a = MakeAssignment(kAccount, f.admin.arn, "USER", "user-alice");
  const RoleProvisioning r = MakeProvisioning(kAccount, f.admin);
  const OperationStatus status = MakeStatus("req-1");
  ASSERT_THAT(store_->CreateAccountAssignment(a, r, status), IsOk());
  EXPECT_THAT(store_->ListAccountAssignments(kAccount, f.admin.arn, {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, ElementsAre(Eq(a)))));
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOkAndHolds(Eq(r.role)));
  EXPECT_THAT(store_->GetPrincipal(r.principal.arn), IsOkAndHolds(Eq(r.principal)));
  EXPECT_THAT(store_->GetOperationStatus("req-1", "ACCOUNT_ASSIGNMENT_CREATION"),
              IsOkAndHolds(Eq(status)));

  // The same assignment again: AlreadyExists, and its status is not stored.
  EXPECT_THAT(store_->CreateAccountAssignment(a, std::nullopt, MakeStatus("req-2")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("user-alice")));
  EXPECT_THAT(store_->GetOperationStatus("req-2", "ACCOUNT_ASSIGNMENT_CREATION"),
              StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, CreateAccountAssignmentWithoutProvisioningLeavesNoRole) {
  AccountFixture f(*store_);
  f.Seed();
  const AccountAssignment a = MakeAssignment(kAccount, f.admin.arn, "GROUP", "group-admins");
  ASSERT_THAT(store_->CreateAccountAssignment(a, std::nullopt, MakeStatus("req-1")), IsOk());
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->ListAccountAssignmentsForPrincipal("GROUP", "group-admins", "", {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, ElementsAre(Eq(a)))));
  // Only provisioned roles are the user's.
  EXPECT_THAT(store_->ListUserRoles("user-alice", ""), IsOkAndHolds(IsEmpty()));
}

TEST_P(StoreConformanceTest, CreateAccountAssignmentNotFoundChangesNothing) {
  AccountFixture f(*store_);
  f.Seed();
  struct Case {
    AccountAssignment assignment;
    std::string missing;
  };
  const PermissionSet ghost = MakePermissionSet("9999999999999999", "Ghost");
  const std::vector<Case> cases = {
      {MakeAssignment("999999999999", f.admin.arn, "USER", "user-alice"), "999999999999"},
      {MakeAssignment(kAccount, ghost.arn, "USER", "user-alice"), ghost.arn},
      {MakeAssignment(kAccount, f.admin.arn, "USER", "user-nobody"), "user-nobody"},
      {MakeAssignment(kAccount, f.admin.arn, "GROUP", "group-nobody"), "group-nobody"},
      // A user's id named as a group, and the reverse.
      {MakeAssignment(kAccount, f.admin.arn, "GROUP", "user-alice"), "user-alice"},
      {MakeAssignment(kAccount, f.admin.arn, "USER", "group-admins"), "group-admins"},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.missing);
    const std::string request = "req-" + std::to_string(++i);
    EXPECT_THAT(store_->CreateAccountAssignment(c.assignment, MakeProvisioning(kAccount, f.admin),
                                                MakeStatus(request)),
                StatusIs(StatusCode::kNotFound, HasSubstr(c.missing)));
    EXPECT_THAT(store_->GetOperationStatus(request, "ACCOUNT_ASSIGNMENT_CREATION"),
                StatusIs(StatusCode::kNotFound, _));
  }
  // Atomic: no role, no principal, no assignment from any of them.
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetPrincipal(MakeProvisioning(kAccount, f.admin).principal.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->ListAccountAssignments(kAccount, f.admin.arn, {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, IsEmpty())));
}

TEST_P(StoreConformanceTest, CreateAccountAssignmentBadPrincipalTypeIsInvalid) {
  AccountFixture f(*store_);
  f.Seed();
  EXPECT_THAT(
      store_->CreateAccountAssignment(MakeAssignment(kAccount, f.admin.arn, "ROLE", "user-alice"),
                                      MakeProvisioning(kAccount, f.admin), MakeStatus("req-1")),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("ROLE")));
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, ConcurrentCreateAccountAssignmentHasExactlyOneWinner) {
  AccountFixture f(*store_);
  f.Seed();
  const AccountAssignment a = MakeAssignment(kAccount, f.admin.arn, "USER", "user-bob");
  std::vector<Status> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    results[i] = store_->CreateAccountAssignment(a, MakeProvisioning(kAccount, f.admin),
                                                 MakeStatus("race-" + std::to_string(i)));
  });
  int ok = 0;
  int exists = 0;
  for (const Status& s : results) {
    if (s.ok()) ++ok;
    if (s.code() == StatusCode::kAlreadyExists) ++exists;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(exists, kThreads - 1);
  EXPECT_THAT(store_->ListOperationStatuses("ACCOUNT_ASSIGNMENT_CREATION", ""),
              IsOkAndHolds(SizeIs(1)));
  EXPECT_THAT(store_->ListAccountAssignments(kAccount, f.admin.arn, {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, ElementsAre(Eq(a)))));
}

TEST_P(StoreConformanceTest, DeleteAccountAssignmentDeprovisionsTheLastOne) {
  AccountFixture f(*store_);
  f.Seed();
  const AccountAssignment alice = MakeAssignment(kAccount, f.admin.arn, "USER", "user-alice");
  EXPECT_THAT(store_->DeleteAccountAssignment(alice, f.NextDeletion()),
              StatusIs(StatusCode::kNotFound, HasSubstr("user-alice")));
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "USER", "user-bob");
  const std::string role_arn = MakeProvisioning(kAccount, f.admin).principal.arn;

  const OperationStatus first = f.NextDeletion();
  ASSERT_THAT(store_->DeleteAccountAssignment(alice, first), IsOk());
  EXPECT_THAT(store_->GetOperationStatus(first.request_id, "ACCOUNT_ASSIGNMENT_DELETION"),
              IsOkAndHolds(Eq(first)));
  // Bob's assignment keeps the role.
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOk());
  EXPECT_THAT(store_->GetPrincipal(role_arn), IsOk());

  ASSERT_THAT(store_->DeleteAccountAssignment(
                  MakeAssignment(kAccount, f.admin.arn, "USER", "user-bob"), f.NextDeletion()),
              IsOk());
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetPrincipal(role_arn), StatusIs(StatusCode::kNotFound, _));
  // Deleting again: NotFound.
  EXPECT_THAT(store_->DeleteAccountAssignment(alice, f.NextDeletion()),
              StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, DeleteAccountAssignmentRevokesOnlyCredentialsThatLostTheirLastPath) {
  AccountFixture f(*store_);
  f.Seed();
  // Alice holds Admin directly and through admins; bob is in admins only (added here).
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-bob", "group-admins", "user-bob")),
              IsOk());
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kAccount, f.reader, "USER", "user-alice");
  f.Issue("ASIAALICEADMIN", "user-alice", kAccount, f.admin);
  f.Issue("ASIAALICEREADER", "user-alice", kAccount, f.reader);
  f.Issue("ASIABOBADMIN", "user-bob", kAccount, f.admin);

  // The group path goes: bob loses Admin, alice keeps it through her own assignment.
  ASSERT_THAT(store_->DeleteAccountAssignment(
                  MakeAssignment(kAccount, f.admin.arn, "GROUP", "group-admins"), f.NextDeletion()),
              IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIABOBADMIN"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAALICEADMIN"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAALICEREADER"));
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOk());

  // Her own path goes: now her Admin credential goes too; Reader stays.
  ASSERT_THAT(store_->DeleteAccountAssignment(
                  MakeAssignment(kAccount, f.admin.arn, "USER", "user-alice"), f.NextDeletion()),
              IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAALICEADMIN"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAALICEREADER"));
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow),
              IsOkAndHolds(ElementsAre(Field(&RoleCredential::access_key_id, "ASIAALICEREADER"))));
  EXPECT_THAT(store_->ListRoleCredentials("user-bob", kNow), IsOkAndHolds(IsEmpty()));
}

TEST_P(StoreConformanceTest, DeleteUserDirectAssignmentKeepsGroupHeldCredentials) {
  AccountFixture f(*store_);
  f.Seed();
  // The other order: the direct path goes first, the group path keeps the credential.
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Issue("ASIAALICE", "user-alice", kAccount, f.admin);
  ASSERT_THAT(store_->DeleteAccountAssignment(
                  MakeAssignment(kAccount, f.admin.arn, "USER", "user-alice"), f.NextDeletion()),
              IsOk());
  EXPECT_TRUE(KeyExists(*store_, "ASIAALICE"));
}

TEST_P(StoreConformanceTest, ListAccountAssignmentsPages) {
  AccountFixture f(*store_);
  f.Seed();
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-b", "b")), IsOk());
  f.Assign(kAccount, f.admin, "USER", "user-bob");
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "GROUP", "group-b");
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kAccount, f.reader, "USER", "user-alice");  // another permission set: not listed

  // (principal_type, principal_id); page key principal_type/principal_id.
  auto first = store_->ListAccountAssignments(kAccount, f.admin.arn, {"", 3});
  ASSERT_THAT(first, IsOk());
  std::vector<std::string> keys;
  for (const auto& a : first->items) keys.push_back(a.principal_type + "/" + a.principal_id);
  EXPECT_THAT(keys, ElementsAre("GROUP/group-admins", "GROUP/group-b", "USER/user-alice"));
  EXPECT_EQ(first->next, "USER/user-alice");
  auto second = store_->ListAccountAssignments(kAccount, f.admin.arn, {first->next, 3});
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(second->items, SizeIs(1));
  EXPECT_EQ(second->items[0].principal_id, "user-bob");
  EXPECT_EQ(second->next, "");
  EXPECT_THAT(store_->ListAccountAssignments(kOtherAccount, f.admin.arn, {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, IsEmpty())));
  EXPECT_THAT(store_->ListAccountAssignments(kAccount, f.admin.arn, {"no-slash", 3}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("page key")));
  EXPECT_THAT(store_->ListAccountAssignments(kAccount, f.admin.arn, {"", 0}),
              StatusIs(StatusCode::kInvalidArgument, _));
}

TEST_P(StoreConformanceTest, ListAccountAssignmentsForPrincipalPagesAndFilters) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kOtherAccount, f.reader, "USER", "user-alice");
  f.Assign(kAccount, f.reader, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kOtherAccount, f.admin, "GROUP", "group-admins");  // through a group: not listed

  auto first = store_->ListAccountAssignmentsForPrincipal("USER", "user-alice", "", {"", 2});
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(first->items, SizeIs(2));
  EXPECT_EQ(first->items[0].account_id, kAccount);
  EXPECT_EQ(first->items[0].permission_set_arn, f.admin.arn);
  EXPECT_EQ(first->items[1].permission_set_arn, f.reader.arn);
  EXPECT_EQ(first->next, std::string(kAccount) + "/" + f.reader.arn);
  auto second =
      store_->ListAccountAssignmentsForPrincipal("USER", "user-alice", "", {first->next, 2});
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT(second->items, SizeIs(1));
  EXPECT_EQ(second->items[0].account_id, kOtherAccount);
  EXPECT_EQ(second->next, "");

  // The account filter, paged too.
  auto filtered =
      store_->ListAccountAssignmentsForPrincipal("USER", "user-alice", kAccount, {"", 1});
  ASSERT_THAT(filtered, IsOk());
  ASSERT_THAT(filtered->items, SizeIs(1));
  EXPECT_EQ(filtered->items[0].permission_set_arn, f.admin.arn);
  auto filtered2 = store_->ListAccountAssignmentsForPrincipal("USER", "user-alice", kAccount,
                                                              {filtered->next, 1});
  ASSERT_THAT(filtered2, IsOk());
  ASSERT_THAT(filtered2->items, SizeIs(1));
  EXPECT_EQ(filtered2->items[0].permission_set_arn, f.reader.arn);
  EXPECT_EQ(filtered2->next, "");

  EXPECT_THAT(store_->ListAccountAssignmentsForPrincipal("GROUP", "group-admins", kAccount, {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, IsEmpty())));
  EXPECT_THAT(store_->ListAccountAssignmentsForPrincipal("USER", "user-alice", "", {"bad", 1}),
              StatusIs(StatusCode::kInvalidArgument, _));
}

// --- status objects ---

TEST_P(StoreConformanceTest, OperationStatusesPutGetList) {
  OperationStatus a = MakeStatus("req-a", "ACCOUNT_ASSIGNMENT_CREATION", kNow);
  OperationStatus b = MakeStatus("req-b", "ACCOUNT_ASSIGNMENT_CREATION", kNow + 10);
  b.status = "FAILED";
  b.failure_reason = "the principal is gone";
  OperationStatus c = MakeStatus("req-c", "PERMISSION_SET_PROVISIONING", kNow + 20);
  for (const OperationStatus* s : {&a, &b, &c}) ASSERT_THAT(store_->PutOperationStatus(*s), IsOk());
  EXPECT_THAT(store_->PutOperationStatus(MakeStatus("req-a", "PERMISSION_SET_PROVISIONING")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("req-a")));
  EXPECT_THAT(store_->GetOperationStatus("req-b", "ACCOUNT_ASSIGNMENT_CREATION"),
              IsOkAndHolds(Eq(b)));
  // Another kind's id is not found.
  EXPECT_THAT(store_->GetOperationStatus("req-c", "ACCOUNT_ASSIGNMENT_CREATION"),
              StatusIs(StatusCode::kNotFound, HasSubstr("req-c")));
  EXPECT_THAT(store_->GetOperationStatus("req-none", "ACCOUNT_ASSIGNMENT_DELETION"),
              StatusIs(StatusCode::kNotFound, _));
  // Newest first; the status filter.
  EXPECT_THAT(store_->ListOperationStatuses("ACCOUNT_ASSIGNMENT_CREATION", ""),
              IsOkAndHolds(ElementsAre(Eq(b), Eq(a))));
  EXPECT_THAT(store_->ListOperationStatuses("ACCOUNT_ASSIGNMENT_CREATION", "SUCCEEDED"),
              IsOkAndHolds(ElementsAre(Eq(a))));
  EXPECT_THAT(store_->ListOperationStatuses("ACCOUNT_ASSIGNMENT_DELETION", ""),
              IsOkAndHolds(IsEmpty()));
}

// --- what the portal reads ---

TEST_P(StoreConformanceTest, ListUserRolesDirectAndGroupDeduplicatedOrdered) {
  AccountFixture f(*store_);
  f.Seed();
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-readers", "readers")), IsOk());
  ASSERT_THAT(
      store_->CreateGroupMembership(MakeMembership("m-alice-r", "group-readers", "user-alice")),
      IsOk());
  // Admin on kAccount directly and through admins (one entry); Reader on both accounts through
  // readers; Admin on kOtherAccount assigned without provisioning (absent); bob's own.
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kOtherAccount, f.reader, "GROUP", "group-readers");
  f.Assign(kAccount, f.reader, "GROUP", "group-readers");
  ASSERT_THAT(store_->CreateAccountAssignment(
                  MakeAssignment(kOtherAccount, f.admin.arn, "USER", "user-alice"), std::nullopt,
                  MakeStatus("unprovisioned")),
              IsOk());
  f.Assign(kOtherAccount, f.admin, "USER", "user-bob");

  // Ordered by account, then permission set name. (kOtherAccount's Admin role now exists, via
  // bob: alice holds it too, by her unprovisioned-at-the-time assignment.)
  auto roles = store_->ListUserRoles("user-alice", "");
  EXPECT_THAT(
      RoleKeys(roles),
      ElementsAre(std::string(kAccount) + "/Admin", std::string(kAccount) + "/Reader",
                  std::string(kOtherAccount) + "/Admin", std::string(kOtherAccount) + "/Reader"));
  ASSERT_THAT(roles, IsOk());
  const UserRole& first = (*roles)[0];
  EXPECT_THAT(first.account, Eq(MakeAccount(kAccount)));
  EXPECT_THAT(first.permission_set, Eq(f.admin));
  EXPECT_THAT(first.role, Eq(MakeProvisioning(kAccount, f.admin).role));

  EXPECT_THAT(
      RoleKeys(store_->ListUserRoles("user-alice", kOtherAccount)),
      ElementsAre(std::string(kOtherAccount) + "/Admin", std::string(kOtherAccount) + "/Reader"));
  EXPECT_THAT(RoleKeys(store_->ListUserRoles("user-bob", "")),
              ElementsAre(std::string(kOtherAccount) + "/Admin"));
  EXPECT_THAT(RoleKeys(store_->ListUserRoles("user-bob", kAccount)), IsEmpty());
  EXPECT_THAT(store_->ListUserRoles("user-nobody", ""), IsOkAndHolds(IsEmpty()));
}

// --- role credentials ---

TEST_P(StoreConformanceTest, IssueRoleCredentialWritesTheKeyAndItsLink) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  const AccessKey key = MakeRoleKey("ASIAROLE1");
  const RoleCredential link =
      MakeLink("ASIAROLE1", "user-alice", kAccount, f.admin.arn, "fam-1", "session-1");
  ASSERT_THAT(store_->IssueRoleCredential(key, link), IsOk());
  // The SigV4 verifier finds it as any access key.
  EXPECT_THAT(store_->GetAccessKey("ASIAROLE1"), IsOkAndHolds(Eq(key)));
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow), IsOkAndHolds(ElementsAre(Eq(link))));

  EXPECT_THAT(store_->IssueRoleCredential(key, link),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("ASIAROLE1")));
  // A link naming another key is refused, and nothing is written.
  EXPECT_THAT(store_->IssueRoleCredential(MakeRoleKey("ASIAROLE2"), link),
              StatusIs(StatusCode::kInvalidArgument, _));
  EXPECT_THAT(store_->GetAccessKey("ASIAROLE2"), StatusIs(StatusCode::kNotFound, _));

  // Deleting the key (CredentialStore) takes the link with it.
  ASSERT_THAT(store_->DeleteAccessKey("ASIAROLE1"), IsOk());
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow), IsOkAndHolds(IsEmpty()));
}

TEST_P(StoreConformanceTest, IssueRoleCredentialRechecksTheRoleInsideItsTransaction) {
  AccountFixture f(*store_);
  f.Seed();
  auto issue = [&](const std::string& id, const std::string& family, const std::string& session) {
    return store_->IssueRoleCredential(
        MakeRoleKey(id), MakeLink(id, "user-alice", kAccount, f.admin.arn, family, session));
  };
  // Never assigned: nothing is written.
  EXPECT_THAT(issue("ASIANEVER", "", ""), StatusIs(StatusCode::kFailedPrecondition, _));
  EXPECT_FALSE(KeyExists(*store_, "ASIANEVER"));

  // Held through the group, then the membership goes: refused again.
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  ASSERT_THAT(issue("ASIAVIAGROUP", "", ""), IsOk());
  ASSERT_THAT(store_->DeleteGroupMembership("m-alice"), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAVIAGROUP"));
  EXPECT_THAT(issue("ASIAAFTERMEMBERSHIP", "", ""), StatusIs(StatusCode::kFailedPrecondition, _));

  // Held directly, but the family or the session it is issued under was revoked (a Logout or a
  // sign-out that committed between the caller's check and this write).
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-alice")), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1", "user-alice", kAppArn, ""), std::nullopt),
              IsOk());
  ASSERT_THAT(issue("ASIALIVEFAMILY", "fam-1", "session-1"), IsOk());
  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 1), IsOk());
  EXPECT_THAT(issue("ASIAREVOKEDFAMILY", "fam-1", ""),
              StatusIs(StatusCode::kFailedPrecondition, _));
  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 2), IsOk());
  EXPECT_THAT(issue("ASIAREVOKEDSESSION", "", "session-1"),
              StatusIs(StatusCode::kFailedPrecondition, _));
  EXPECT_FALSE(KeyExists(*store_, "ASIAREVOKEDFAMILY"));
  EXPECT_FALSE(KeyExists(*store_, "ASIAREVOKEDSESSION"));

  // The assignment deleted: refused, whatever the family and session.
  ASSERT_THAT(store_->DeleteAccountAssignment(
                  MakeAssignment(kAccount, f.admin.arn, "USER", "user-alice"), f.NextDeletion()),
              IsOk());
  EXPECT_THAT(issue("ASIAAFTERDELETE", "", ""), StatusIs(StatusCode::kFailedPrecondition, _));
}

TEST_P(StoreConformanceTest, ListRoleCredentialsLiveOnlyOrderedByKey) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kAccount, f.reader, "USER", "user-alice");
  f.Assign(kAccount, f.admin, "USER", "user-bob");
  ASSERT_THAT(store_->IssueRoleCredential(
                  MakeRoleKey("ASIAB", kNow + 100),
                  MakeLink("ASIAB", "user-alice", kAccount, f.admin.arn, "", "", kNow + 100)),
              IsOk());
  ASSERT_THAT(store_->IssueRoleCredential(
                  MakeRoleKey("ASIAA", kNow + 200),
                  MakeLink("ASIAA", "user-alice", kAccount, f.reader.arn, "", "", kNow + 200)),
              IsOk());
  ASSERT_THAT(store_->IssueRoleCredential(
                  MakeRoleKey("ASIAC", kNow + 200),
                  MakeLink("ASIAC", "user-bob", kAccount, f.admin.arn, "", "", kNow + 200)),
              IsOk());
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow),
              IsOkAndHolds(ElementsAre(Field(&RoleCredential::access_key_id, "ASIAA"),
                                       Field(&RoleCredential::access_key_id, "ASIAB"))));
  // Expired at `now`: not live.
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow + 100),
              IsOkAndHolds(ElementsAre(Field(&RoleCredential::access_key_id, "ASIAA"))));
}

TEST_P(StoreConformanceTest, IssueRoleCredentialAsyncCompletesOnceDurable) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  auto issue = [&](const std::string& id) {
    auto promise = std::make_shared<std::promise<Status>>();
    std::future<Status> future = promise->get_future();
    store_->IssueRoleCredentialAsync(MakeRoleKey(id),
                                     MakeLink(id, "user-alice", kAccount, f.admin.arn),
                                     [promise](Status s) { promise->set_value(std::move(s)); });
    if (future.wait_for(kAsyncTimeout) != std::future_status::ready) {
      return InternalError("IssueRoleCredentialAsync did not complete");
    }
    return future.get();
  };
  ASSERT_THAT(issue("ASIAASYNC1"), IsOk());
  EXPECT_THAT(store_->GetAccessKey("ASIAASYNC1"), IsOk());
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow), IsOkAndHolds(SizeIs(1)));
  EXPECT_THAT(issue("ASIAASYNC1"), StatusIs(StatusCode::kAlreadyExists, HasSubstr("ASIAASYNC1")));

  // Many at once from many threads: each is written.
  std::vector<Status> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) { results[i] = issue("ASIAMANY" + std::to_string(i)); });
  for (const Status& s : results) EXPECT_THAT(s, IsOk());
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow), IsOkAndHolds(SizeIs(1 + kThreads)));
}

TEST_P(StoreConformanceTest, LogoutPortalSessionRevokesFamilySessionAndTheirKeys) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-alice")), IsOk());
  ASSERT_THAT(store_->CreateSession(MakeSession("session-2", "user-alice")), IsOk());
  ASSERT_THAT(
      store_->CreateFamily(MakeFamily("fam-portal", "user-alice", kAppArn, ""), std::nullopt),
      IsOk());
  ASSERT_THAT(
      store_->CreateExchangedFamily(ExchangedFamily("fam-child", "fam-portal"), std::nullopt),
      IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-session", "user-alice", kAppArn, "session-1"),
                                   std::nullopt),
              IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-other", "user-alice", kAppArn, "session-2"),
                                   std::nullopt),
              IsOk());
  f.Issue("ASIAFAMILY", "user-alice", kAccount, f.admin, "fam-portal", "");
  f.Issue("ASIASESSION", "user-alice", kAccount, f.admin, "", "session-1");
  f.Issue("ASIAOTHER", "user-alice", kAccount, f.admin, "fam-other", "session-2");

  ASSERT_THAT(store_->LogoutPortalSession("fam-portal", "session-1", kNow + 10), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAFAMILY"));
  EXPECT_FALSE(KeyExists(*store_, "ASIASESSION"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAOTHER"));
  EXPECT_THAT(store_->GetFamily("fam-portal"),
              IsOkAndHolds(Field(&TokenFamily::revoked_at, kNow + 10)));
  EXPECT_THAT(store_->GetFamily("fam-child"),
              IsOkAndHolds(Field(&TokenFamily::revoked_at, kNow + 10)));
  EXPECT_THAT(store_->GetFamily("fam-session"),
              IsOkAndHolds(Field(&TokenFamily::revoked_at, kNow + 10)));
  EXPECT_THAT(store_->GetFamily("fam-other"), IsOkAndHolds(Field(&TokenFamily::revoked_at, 0)));
  EXPECT_THAT(store_->GetSession("session-1"),
              IsOkAndHolds(Field(&SignInSession::revoked_at, kNow + 10)));
  EXPECT_THAT(store_->GetSession("session-2"), IsOkAndHolds(Field(&SignInSession::revoked_at, 0)));

  // Absent family or session: nothing to revoke there, not an error; "" skips.
  EXPECT_THAT(store_->LogoutPortalSession("fam-none", "session-none", kNow + 20), IsOk());
  EXPECT_THAT(store_->LogoutPortalSession("", "", kNow + 20), IsOk());
  EXPECT_TRUE(KeyExists(*store_, "ASIAOTHER"));
  // Only the family: the session's keys stay.
  ASSERT_THAT(store_->LogoutPortalSession("fam-other", "", kNow + 30), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAOTHER"));
  EXPECT_THAT(store_->GetSession("session-2"), IsOkAndHolds(Field(&SignInSession::revoked_at, 0)));
}

// --- what other aggregates' deletions do ---

TEST_P(StoreConformanceTest, DeleteUserDeletesAccountAssignmentsAndRoleCredentials) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  f.Assign(kAccount, f.reader, "USER", "user-alice");
  f.Assign(kAccount, f.reader, "USER", "user-bob");
  f.Issue("ASIAALICE1", "user-alice", kAccount, f.admin);
  f.Issue("ASIAALICE2", "user-alice", kAccount, f.reader);
  f.Issue("ASIABOB", "user-bob", kAccount, f.reader);

  ASSERT_THAT(store_->DeleteUser("user-alice", kNow + 10), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAALICE1"));
  EXPECT_FALSE(KeyExists(*store_, "ASIAALICE2"));
  EXPECT_TRUE(KeyExists(*store_, "ASIABOB"));
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", kNow), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->ListAccountAssignmentsForPrincipal("USER", "user-alice", "", {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, IsEmpty())));
  // Admin had only alice: de-provisioned. Reader keeps bob's.
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetPrincipal(MakeProvisioning(kAccount, f.admin).principal.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.reader.arn), IsOk());
}

TEST_P(StoreConformanceTest, DeleteGroupDeletesAssignmentsRevokesAndDeprovisions) {
  AccountFixture f(*store_);
  f.Seed();
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-bob", "group-admins", "user-bob")),
              IsOk());
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kOtherAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kOtherAccount, f.admin, "USER", "user-alice");
  f.Issue("ASIAALICE1", "user-alice", kAccount, f.admin);
  f.Issue("ASIAALICE2", "user-alice", kOtherAccount, f.admin);
  f.Issue("ASIABOB1", "user-bob", kAccount, f.admin);
  f.Issue("ASIABOB2", "user-bob", kOtherAccount, f.admin);

  ASSERT_THAT(store_->DeleteGroup("group-admins"), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAALICE1"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAALICE2"));  // her own assignment there
  EXPECT_FALSE(KeyExists(*store_, "ASIABOB1"));
  EXPECT_FALSE(KeyExists(*store_, "ASIABOB2"));
  EXPECT_THAT(store_->ListAccountAssignmentsForPrincipal("GROUP", "group-admins", "", {}),
              IsOkAndHolds(Field(&Page<AccountAssignment>::items, IsEmpty())));
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetProvisionedRole(kOtherAccount, f.admin.arn), IsOk());
  EXPECT_THAT(RoleKeys(store_->ListUserRoles("user-alice", "")),
              ElementsAre(std::string(kOtherAccount) + "/Admin"));
}

TEST_P(StoreConformanceTest, DeleteGroupMembershipRevokesRolesItWasTheOnlyPathTo) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "GROUP", "group-admins");
  f.Assign(kAccount, f.reader, "GROUP", "group-admins");
  f.Assign(kAccount, f.reader, "USER", "user-alice");
  f.Issue("ASIAADMIN", "user-alice", kAccount, f.admin);
  f.Issue("ASIAREADER", "user-alice", kAccount, f.reader);

  ASSERT_THAT(store_->DeleteGroupMembership("m-alice"), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAADMIN"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAREADER"));
  // The group keeps its assignments and the roles stay provisioned.
  EXPECT_THAT(store_->GetProvisionedRole(kAccount, f.admin.arn), IsOk());
  EXPECT_THAT(store_->DeleteGroupMembership("m-alice"), StatusIs(StatusCode::kNotFound, _));
}

TEST_P(StoreConformanceTest, RevokeSessionDeletesItsRoleCredentials) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-alice")), IsOk());
  f.Issue("ASIAINSESSION", "user-alice", kAccount, f.admin, "fam-x", "session-1");
  f.Issue("ASIAELSEWHERE", "user-alice", kAccount, f.admin, "fam-y", "session-2");
  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 10), IsOk());
  EXPECT_FALSE(KeyExists(*store_, "ASIAINSESSION"));
  EXPECT_TRUE(KeyExists(*store_, "ASIAELSEWHERE"));
}

TEST_P(StoreConformanceTest, PurgeExpiredTakesExpiredKeysAndOldStatuses) {
  AccountFixture f(*store_);
  f.Seed();
  f.Assign(kAccount, f.admin, "USER", "user-alice");
  const int64_t now = kNow + 100 * 86400;
  ASSERT_THAT(store_->IssueRoleCredential(
                  MakeRoleKey("ASIAEXPIRED", now),
                  MakeLink("ASIAEXPIRED", "user-alice", kAccount, f.admin.arn, "", "", now)),
              IsOk());
  ASSERT_THAT(store_->IssueRoleCredential(
                  MakeRoleKey("ASIALIVE", now + 1),
                  MakeLink("ASIALIVE", "user-alice", kAccount, f.admin.arn, "", "", now + 1)),
              IsOk());
  AccessKey long_term = MakeRoleKey("AKIALONGTERM", 0);
  long_term.session_token_hash = "";
  ASSERT_THAT(store_->CreateAccessKey(long_term), IsOk());
  const int64_t retention = 90 * 86400;
  ASSERT_THAT(
      store_->PutOperationStatus(MakeStatus("old", "ACCOUNT_ASSIGNMENT_CREATION", now - retention)),
      IsOk());
  ASSERT_THAT(store_->PutOperationStatus(
                  MakeStatus("recent", "ACCOUNT_ASSIGNMENT_CREATION", now - retention + 1)),
              IsOk());

  // The expired key (its link goes with it) and the old statuses (also the assignment's, made
  // at kNow).
  EXPECT_THAT(store_->PurgeExpired(now, 100), Purged(3));
  EXPECT_FALSE(KeyExists(*store_, "ASIAEXPIRED"));
  EXPECT_TRUE(KeyExists(*store_, "ASIALIVE"));
  EXPECT_TRUE(KeyExists(*store_, "AKIALONGTERM"));
  EXPECT_THAT(store_->ListRoleCredentials("user-alice", 0),
              IsOkAndHolds(ElementsAre(Field(&RoleCredential::access_key_id, "ASIALIVE"))));
  EXPECT_THAT(store_->GetOperationStatus("old", "ACCOUNT_ASSIGNMENT_CREATION"),
              StatusIs(StatusCode::kNotFound, _));
  EXPECT_THAT(store_->GetOperationStatus("recent", "ACCOUNT_ASSIGNMENT_CREATION"), IsOk());
}

TEST_P(StoreConformanceTest, PrincipalPermissionsBoundaryRoundTrips) {
  IamPrincipal p{"arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef",
                 "111122223333", R"({"Version":"2012-10-17"})", kNow,
                 R"({"Version":"2012-10-17","Statement":[]})"};
  ASSERT_THAT(store_->PutPrincipal(p), IsOk());
  EXPECT_THAT(store_->GetPrincipal(p.arn), IsOkAndHolds(Eq(p)));
  p.permissions_boundary_json = "";
  ASSERT_THAT(store_->PutPrincipal(p), IsOk());
  EXPECT_THAT(store_->GetPrincipal(p.arn), IsOkAndHolds(Eq(p)));
}

}  // namespace
}  // namespace ts::storage::conformance
