// Tests of the sso-admin account side (permission sets, provisioning, account assignments),
// the permissions boundary in Authorize, the shipped managed policies, the server's own
// instance id against the models' patterns, and identitystore's UpdateGroup and membership
// lookups.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>

#include "test/common/temp_dir.h"
#include "ts/admin/admin_api.h"
#include "ts/admin/managed_policies.h"
#include "ts/admin/role_provisioning.h"
#include "ts/iam/policy.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::admin {
namespace {

using ::testing::HasSubstr;
namespace json = boost::json;

constexpr char kOwner[] = "111122223333";
constexpr char kInstanceId[] = "ssoins-0123456789abcdef";
constexpr char kInstanceArn[] = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
constexpr char kStoreId[] = "d-0123456789";
constexpr char kRoot[] = "arn:aws:iam::111122223333:root";
constexpr char kTarget[] = "444455556666";  // a declared account
constexpr char kOtherTarget[] = "777788889999";
constexpr char kUndeclared[] = "999999999999";
constexpr char kMissingSet[] =
    "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0000000000000000";
constexpr char kReadPolicy[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sso:List*","Resource":"*"}]})";

class PermissionSetsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(kInstanceId); }
  void TearDown() override {
    api_.reset();
    store_.reset();
    testing::RemoveTempDir(dir_);
  }

  void Open(const std::string& instance_id) {
    dir_ = testing::MakeTempDir("permission-sets");
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *store;
    instance_ = {"arn:aws:sso:::instance/" + instance_id,
                 instance_id,
                 kStoreId,
                 kOwner,
                 "us-east-1",
                 "Tessera",
                 1700000000};
    ASSERT_TRUE(store_->PutInstance(instance_).ok());
    clock_ = std::make_shared<FakeClock>(1700000000);
    auto api = AdminApi::Create({store_, store_, store_, store_, store_}, clock_,
                                {instance_, std::string(32, 'k')});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
    for (const char* id : {kTarget, kOtherTarget}) {
      ASSERT_TRUE(store_->PutAccount({id, "acct-" + std::string(id), "a@example.com", 0}).ok());
    }
  }

  json::object Call(const std::string& target, const json::object& in,
                    const std::string& caller = kRoot, const std::string& account = kOwner) {
    last_ = api_->Handle(target, {caller, account, "req-1"}, json::serialize(in));
    return json::parse(last_.body).as_object();
  }
  json::object Sso(const std::string& op, json::object in, const std::string& caller = kRoot,
                   const std::string& account = kOwner) {
    if (!in.contains("InstanceArn")) in["InstanceArn"] = instance_.instance_arn;
    return Call("SWBExternalService." + op, in, caller, account);
  }
  json::object Ids(const std::string& op, json::object in) {
    in["IdentityStoreId"] = kStoreId;
    return Call("AWSIdentityStore." + op, in);
  }
  void ExpectError(const json::object& out, const std::string& type, const std::string& fragment) {
    EXPECT_EQ(last_.status, 400) << last_.body;
    EXPECT_EQ(last_.FindHeader("x-amzn-ErrorType").value_or(""), type) << last_.body;
    ASSERT_TRUE(out.contains("Message")) << last_.body;
    EXPECT_EQ(out.at("__type").as_string(), type) << last_.body;
    EXPECT_THAT(std::string(out.at("Message").as_string()), HasSubstr(fragment)) << last_.body;
  }
  void ExpectOk() { EXPECT_EQ(last_.status, 200) << last_.body; }

  std::string CreateSet(const std::string& name, json::object extra = {}) {
    extra["Name"] = name;
    json::object out = Sso("CreatePermissionSet", extra);
    ExpectOk();
    return std::string(out.at("PermissionSet").at("PermissionSetArn").as_string());
  }
  std::string CreateUser(const std::string& name) {
    json::object out = Ids("CreateUser", {{"UserName", name}});
    ExpectOk();
    return std::string(out.at("UserId").as_string());
  }
  json::object Assign(const std::string& set, const std::string& account, const std::string& type,
                      const std::string& id, const std::string& op = "CreateAccountAssignment") {
    return Sso(op, {{"PermissionSetArn", set},
                    {"TargetId", account},
                    {"TargetType", "AWS_ACCOUNT"},
                    {"PrincipalType", type},
                    {"PrincipalId", id}});
  }
  storage::ProvisionedRole Role(const std::string& account, const std::string& set) {
    auto role = store_->GetProvisionedRole(account, set);
    EXPECT_TRUE(role.ok()) << role.status();
    return role.ok() ? *role : storage::ProvisionedRole{};
  }
  std::vector<std::string> Strings(const json::object& out, const char* member) {
    std::vector<std::string> v;
    for (const auto& s : out.at(member).as_array()) v.emplace_back(s.as_string());
    return v;
  }

  std::filesystem::path dir_;
  storage::Instance instance_;
  std::shared_ptr<storage::SqliteStore> store_;
  std::shared_ptr<FakeClock> clock_;
  std::unique_ptr<AdminApi> api_;
  http::Response last_;
};

// --- permission sets ---

TEST_F(PermissionSetsTest, CreateDescribeUpdateList) {
  const std::string arn = CreateSet(
      "Developers",
      {{"Description", "dev"}, {"SessionDuration", "PT4H"}, {"RelayState", "https://x.example/"}});
  EXPECT_TRUE(std::regex_match(arn, std::regex("arn:aws:sso:::permissionSet/"
                                               "ssoins-0123456789abcdef/ps-[0-9a-f]{16}")))
      << arn;
  json::object d = Sso("DescribePermissionSet", {{"PermissionSetArn", arn}});
  ExpectOk();
  const json::object& ps = d.at("PermissionSet").as_object();
  EXPECT_EQ(ps.at("Name").as_string(), "Developers");
  EXPECT_EQ(ps.at("Description").as_string(), "dev");
  EXPECT_EQ(ps.at("SessionDuration").as_string(), "PT4H");
  EXPECT_EQ(ps.at("RelayState").as_string(), "https://x.example/");
  EXPECT_EQ(ps.at("CreatedDate").as_int64(), 1700000000);
  // The default session duration is an hour.
  const std::string other = CreateSet("Ops");
  EXPECT_EQ(Sso("DescribePermissionSet", {{"PermissionSetArn", other}})
                .at("PermissionSet")
                .at("SessionDuration")
                .as_string(),
            "PT1H");
  Sso("UpdatePermissionSet",
      {{"PermissionSetArn", arn}, {"Description", "developers"}, {"SessionDuration", "PT12H"}});
  ExpectOk();
  d = Sso("DescribePermissionSet", {{"PermissionSetArn", arn}});
  EXPECT_EQ(d.at("PermissionSet").at("Description").as_string(), "developers");
  EXPECT_EQ(d.at("PermissionSet").at("SessionDuration").as_string(), "PT12H");
  EXPECT_EQ(d.at("PermissionSet").at("RelayState").as_string(), "https://x.example/");
  // Listed one page at a time.
  json::object page = Sso("ListPermissionSets", {{"MaxResults", 1}});
  ExpectOk();
  ASSERT_EQ(page.at("PermissionSets").as_array().size(), 1u);
  json::object rest =
      Sso("ListPermissionSets", {{"MaxResults", 1}, {"NextToken", page.at("NextToken")}});
  ExpectOk();
  ASSERT_EQ(rest.at("PermissionSets").as_array().size(), 1u);
  EXPECT_FALSE(rest.contains("NextToken"));
  std::set<std::string> all = {std::string(page.at("PermissionSets").as_array()[0].as_string()),
                               std::string(rest.at("PermissionSets").as_array()[0].as_string())};
  EXPECT_EQ(all, (std::set<std::string>{arn, other}));
  ExpectError(Sso("ListPermissionSets", {{"NextToken", "bm9wZQ/bm9wZQ"}}), "ValidationException",
              "NextToken");
}

TEST_F(PermissionSetsTest, CreateRefusesDuplicatesAndBadValuesChangingNothing) {
  CreateSet("Developers");
  ExpectError(Sso("CreatePermissionSet", {{"Name", "Developers"}}), "ConflictException",
              "'Developers' already exists");
  ExpectError(Sso("CreatePermissionSet", {{"Name", "TooLong"}, {"SessionDuration", "PT13H"}}),
              "ValidationException", "SessionDuration");
  ExpectError(Sso("CreatePermissionSet", {{"Name", "Short"}, {"SessionDuration", "PT30M"}}),
              "ValidationException", "SessionDuration");
  ExpectError(Sso("CreatePermissionSet", {{"Name", "has space"}}), "ValidationException", "'Name'");
  ExpectError(Sso("CreatePermissionSet", {{"Name", std::string(33, 'a')}}), "ValidationException",
              "length less than or equal to 32");
  ExpectError(
      Sso("CreatePermissionSet",
          {{"Name", "Dup"},
           {"Tags", json::array{{{"Key", "k"}, {"Value", "1"}}, {{"Key", "k"}, {"Value", "2"}}}}}),
      "ValidationException", "duplicate tag key");
  ExpectError(Sso("CreatePermissionSet",
                  {{"Name", "Elsewhere"},
                   {"InstanceArn", "arn:aws:sso:::instance/ssoins-ffffffffffffffff"}}),
              "ResourceNotFoundException", "ssoins-ffffffffffffffff");
  EXPECT_EQ(Sso("ListPermissionSets", {}).at("PermissionSets").as_array().size(), 1u);
  const std::string arn = CreateSet("Other");
  ExpectError(Sso("UpdatePermissionSet", {{"PermissionSetArn", arn}, {"SessionDuration", "P1D"}}),
              "ValidationException", "SessionDuration");
  EXPECT_EQ(store_->GetPermissionSet(arn)->session_duration, "PT1H");
}

TEST_F(PermissionSetsTest, UnknownPermissionSetIsNotFoundEverywhere) {
  for (const char* op :
       {"DescribePermissionSet", "UpdatePermissionSet", "DeletePermissionSet",
        "GetInlinePolicyForPermissionSet", "DeleteInlinePolicyFromPermissionSet",
        "ListManagedPoliciesInPermissionSet", "GetPermissionsBoundaryForPermissionSet",
        "DeletePermissionsBoundaryFromPermissionSet", "ListAccountsForProvisionedPermissionSet"}) {
    SCOPED_TRACE(op);
    ExpectError(Sso(op, {{"PermissionSetArn", kMissingSet}}), "ResourceNotFoundException",
                kMissingSet);
  }
  ExpectError(Sso("PutInlinePolicyToPermissionSet",
                  {{"PermissionSetArn", kMissingSet}, {"InlinePolicy", kReadPolicy}}),
              "ResourceNotFoundException", kMissingSet);
  ExpectError(Sso("AttachManagedPolicyToPermissionSet",
                  {{"PermissionSetArn", kMissingSet},
                   {"ManagedPolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"}}),
              "ResourceNotFoundException", kMissingSet);
  ExpectError(Sso("ProvisionPermissionSet",
                  {{"PermissionSetArn", kMissingSet}, {"TargetType", "ALL_PROVISIONED_ACCOUNTS"}}),
              "ResourceNotFoundException", kMissingSet);
  ExpectError(Assign(kMissingSet, kTarget, "USER", CreateUser("u")), "ResourceNotFoundException",
              kMissingSet);
}

TEST_F(PermissionSetsTest, InlinePolicyMustBeOneTesseraCanEvaluate) {
  const std::string arn = CreateSet("Developers");
  EXPECT_FALSE(
      Sso("GetInlinePolicyForPermissionSet", {{"PermissionSetArn", arn}}).contains("InlinePolicy"));
  ExpectError(
      Sso("PutInlinePolicyToPermissionSet", {{"PermissionSetArn", arn}, {"InlinePolicy", "{nope"}}),
      "ValidationException", "InlinePolicy is not a policy Tessera can evaluate");
  // An operator Tessera cannot evaluate is refused, saying which.
  ExpectError(Sso("PutInlinePolicyToPermissionSet",
                  {{"PermissionSetArn", arn},
                   {"InlinePolicy",
                    R"({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*",)"
                    R"("Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}]})"}}),
              "ValidationException", "NumericLessThan");
  EXPECT_EQ(store_->GetPermissionSet(arn)->inline_policy_json, "");
  const int64_t version = store_->GetPermissionSet(arn)->updated_at;
  Sso("PutInlinePolicyToPermissionSet", {{"PermissionSetArn", arn}, {"InlinePolicy", kReadPolicy}});
  ExpectOk();
  EXPECT_GT(store_->GetPermissionSet(arn)->updated_at, version);
  EXPECT_EQ(Sso("GetInlinePolicyForPermissionSet", {{"PermissionSetArn", arn}})
                .at("InlinePolicy")
                .as_string(),
            kReadPolicy);
  Sso("DeleteInlinePolicyFromPermissionSet", {{"PermissionSetArn", arn}});
  ExpectOk();
  EXPECT_FALSE(
      Sso("GetInlinePolicyForPermissionSet", {{"PermissionSetArn", arn}}).contains("InlinePolicy"));
  // Deleting what is not there changes nothing.
  Sso("DeleteInlinePolicyFromPermissionSet", {{"PermissionSetArn", arn}});
  ExpectOk();
}

TEST_F(PermissionSetsTest, ManagedPoliciesAttachDetachAndList) {
  const std::string arn = CreateSet("Developers");
  auto attach = [&](const std::string& policy, const std::string& op) {
    return Sso(op, {{"PermissionSetArn", arn}, {"ManagedPolicyArn", policy}});
  };
  attach("arn:aws:iam::aws:policy/ReadOnlyAccess", "AttachManagedPolicyToPermissionSet");
  ExpectOk();
  attach("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
         "AttachManagedPolicyToPermissionSet");
  ExpectOk();
  ExpectError(
      attach("arn:aws:iam::aws:policy/ReadOnlyAccess", "AttachManagedPolicyToPermissionSet"),
      "ConflictException", "already attached");
  ExpectError(attach("arn:aws:iam::123456789012:policy/Mine", "AttachManagedPolicyToPermissionSet"),
              "ValidationException", "ManagedPolicyArn");
  json::object list = Sso("ListManagedPoliciesInPermissionSet", {{"PermissionSetArn", arn}});
  ExpectOk();
  EXPECT_EQ(json::serialize(list.at("AttachedManagedPolicies")),
            R"([{"Arn":"arn:aws:iam::aws:policy/ReadOnlyAccess","Name":"ReadOnlyAccess"},)"
            R"({"Arn":"arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",)"
            R"("Name":"ViewOnlyAccess"}])");
  attach("arn:aws:iam::aws:policy/ReadOnlyAccess", "DetachManagedPolicyFromPermissionSet");
  ExpectOk();
  ExpectError(
      attach("arn:aws:iam::aws:policy/ReadOnlyAccess", "DetachManagedPolicyFromPermissionSet"),
      "ResourceNotFoundException", "is not attached");
  // Ten at most (AWS's default quota).
  for (int i = 1; i < 10; ++i) {
    attach("arn:aws:iam::aws:policy/P" + std::to_string(i), "AttachManagedPolicyToPermissionSet");
    ExpectOk();
  }
  ExpectError(attach("arn:aws:iam::aws:policy/P10", "AttachManagedPolicyToPermissionSet"),
              "ServiceQuotaExceededException", "10 managed policies");
  EXPECT_EQ(store_->GetPermissionSet(arn)->managed_policy_arns.size(), 10u);
}

TEST_F(PermissionSetsTest, PermissionsBoundaryPutGetDelete) {
  const std::string arn = CreateSet("Developers");
  ExpectError(Sso("GetPermissionsBoundaryForPermissionSet", {{"PermissionSetArn", arn}}),
              "ResourceNotFoundException", "no permissions boundary");
  ExpectError(Sso("PutPermissionsBoundaryToPermissionSet",
                  {{"PermissionSetArn", arn},
                   {"PermissionsBoundary",
                    {{"ManagedPolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                     {"CustomerManagedPolicyReference", {{"Name", "Mine"}}}}}}),
              "ValidationException", "exactly one");
  ExpectError(Sso("PutPermissionsBoundaryToPermissionSet",
                  {{"PermissionSetArn", arn}, {"PermissionsBoundary", json::object()}}),
              "ValidationException", "exactly one");
  Sso("PutPermissionsBoundaryToPermissionSet",
      {{"PermissionSetArn", arn},
       {"PermissionsBoundary", {{"CustomerManagedPolicyReference", {{"Name", "Mine"}}}}}});
  ExpectOk();
  EXPECT_EQ(
      json::serialize(Sso("GetPermissionsBoundaryForPermissionSet", {{"PermissionSetArn", arn}})),
      R"({"PermissionsBoundary":{"CustomerManagedPolicyReference":{"Name":"Mine"}}})");
  Sso("DeletePermissionsBoundaryFromPermissionSet", {{"PermissionSetArn", arn}});
  ExpectOk();
  ExpectError(Sso("GetPermissionsBoundaryForPermissionSet", {{"PermissionSetArn", arn}}),
              "ResourceNotFoundException", "no permissions boundary");
}

TEST_F(PermissionSetsTest, TagsOnPermissionSetsGoWithThem) {
  const std::string arn =
      CreateSet("Tagged", {{"Tags", json::array{{{"Key", "team"}, {"Value", "blue"}}}}});
  json::object tags = Sso("ListTagsForResource", {{"ResourceArn", arn}});
  ExpectOk();
  EXPECT_EQ(json::serialize(tags.at("Tags")), R"([{"Key":"team","Value":"blue"}])");
  Sso("TagResource",
      {{"ResourceArn", arn}, {"Tags", json::array{{{"Key", "env"}, {"Value", "x"}}}}});
  ExpectOk();
  Sso("UntagResource", {{"ResourceArn", arn}, {"TagKeys", json::array{"team"}}});
  ExpectOk();
  EXPECT_EQ(json::serialize(Sso("ListTagsForResource", {{"ResourceArn", arn}}).at("Tags")),
            R"([{"Key":"env","Value":"x"}])");
  ExpectError(Sso("TagResource", {{"ResourceArn", kMissingSet},
                                  {"Tags", json::array{{{"Key", "a"}, {"Value", "b"}}}}}),
              "ResourceNotFoundException", kMissingSet);
  Sso("DeletePermissionSet", {{"PermissionSetArn", arn}});
  ExpectOk();
  EXPECT_TRUE(store_->ListTags(arn)->empty());
  ExpectError(Sso("ListTagsForResource", {{"ResourceArn", arn}}), "ResourceNotFoundException", arn);
}

// --- provisioning and account assignments ---

TEST_F(PermissionSetsTest, AssignmentProvisionsTheRoleAndDeletionRemovesIt) {
  const std::string set = CreateSet("Developers");
  Sso("PutInlinePolicyToPermissionSet", {{"PermissionSetArn", set}, {"InlinePolicy", kReadPolicy}});
  Sso("AttachManagedPolicyToPermissionSet",
      {{"PermissionSetArn", set}, {"ManagedPolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"}});
  Sso("AttachManagedPolicyToPermissionSet",
      {{"PermissionSetArn", set}, {"ManagedPolicyArn", "arn:aws:iam::aws:policy/Unshipped"}});
  const std::string user = CreateUser("alice");
  json::object created = Assign(set, kTarget, "USER", user);
  ExpectOk();
  const json::object& status = created.at("AccountAssignmentCreationStatus").as_object();
  EXPECT_EQ(status.at("Status").as_string(), "SUCCEEDED");
  EXPECT_EQ(status.at("TargetId").as_string(), kTarget);
  EXPECT_EQ(status.at("TargetType").as_string(), "AWS_ACCOUNT");
  EXPECT_EQ(status.at("PrincipalId").as_string(), user);
  EXPECT_EQ(status.at("PrincipalType").as_string(), "USER");
  EXPECT_EQ(status.at("PermissionSetArn").as_string(), set);
  const std::string request(status.at("RequestId").as_string());
  EXPECT_TRUE(
      std::regex_match(request, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                                           "[0-9a-f]{12}")));
  json::object described = Sso("DescribeAccountAssignmentCreationStatus",
                               {{"AccountAssignmentCreationRequestId", request}});
  ExpectOk();
  EXPECT_EQ(described.at("AccountAssignmentCreationStatus"), status);
  json::object listed =
      Sso("ListAccountAssignmentCreationStatus", {{"Filter", {{"Status", "SUCCEEDED"}}}});
  ExpectOk();
  ASSERT_EQ(listed.at("AccountAssignmentsCreationStatus").as_array().size(), 1u);
  EXPECT_EQ(listed.at("AccountAssignmentsCreationStatus").as_array()[0].at("RequestId"),
            json::value(request));
  EXPECT_TRUE(Sso("ListAccountAssignmentCreationStatus", {{"Filter", {{"Status", "FAILED"}}}})
                  .at("AccountAssignmentsCreationStatus")
                  .as_array()
                  .empty());

  // The role and its principal: the inline statements and the shipped ReadOnlyAccess; the
  // unshipped policy grants nothing.
  const storage::ProvisionedRole role = Role(kTarget, set);
  EXPECT_TRUE(
      std::regex_match(role.role_name, std::regex("AWSReservedSSO_Developers_[0-9a-f]{16}")))
      << role.role_name;
  const std::string principal_arn =
      "arn:aws:iam::" + std::string(kTarget) + ":role/" + role.role_name;
  auto principal = store_->GetPrincipal(principal_arn);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->account_id, kTarget);
  EXPECT_EQ(principal->permissions_boundary_json, "");
  json::value policy = json::parse(principal->identity_policy_json);
  EXPECT_EQ(json::serialize(policy.at("Statement")),
            R"([{"Effect":"Allow","Action":"sso:List*","Resource":"*"},)"
            R"({"Effect":"Allow","Action":["*:Describe*","*:Get*","*:List*","*:BatchGet*"],)"
            R"("Resource":"*"}])");

  // Listed by account, by permission set and by principal.
  json::object by_account =
      Sso("ListAccountAssignments", {{"AccountId", kTarget}, {"PermissionSetArn", set}});
  ExpectOk();
  EXPECT_EQ(json::serialize(by_account.at("AccountAssignments")),
            R"([{"AccountId":")" + std::string(kTarget) + R"(","PermissionSetArn":")" + set +
                R"(","PrincipalType":"USER","PrincipalId":")" + user + R"("}])");
  json::object by_principal =
      Sso("ListAccountAssignmentsForPrincipal", {{"PrincipalType", "USER"}, {"PrincipalId", user}});
  ExpectOk();
  EXPECT_EQ(by_principal.at("AccountAssignments").as_array().size(), 1u);
  EXPECT_TRUE(Sso("ListAccountAssignmentsForPrincipal", {{"PrincipalType", "USER"},
                                                         {"PrincipalId", user},
                                                         {"Filter", {{"AccountId", kOtherTarget}}}})
                  .at("AccountAssignments")
                  .as_array()
                  .empty());
  EXPECT_EQ(Strings(Sso("ListAccountsForProvisionedPermissionSet", {{"PermissionSetArn", set}}),
                    "AccountIds"),
            std::vector<std::string>{kTarget});
  EXPECT_EQ(Strings(Sso("ListPermissionSetsProvisionedToAccount", {{"AccountId", kTarget}}),
                    "PermissionSets"),
            std::vector<std::string>{set});

  // Assigning again succeeds and changes nothing (the role keeps its name).
  Assign(set, kTarget, "USER", user);
  ExpectOk();
  EXPECT_EQ(Role(kTarget, set).role_name, role.role_name);
  // In use: the permission set cannot go.
  ExpectError(Sso("DeletePermissionSet", {{"PermissionSetArn", set}}), "ConflictException",
              "delete its account assignments first");

  json::object deleted = Assign(set, kTarget, "USER", user, "DeleteAccountAssignment");
  ExpectOk();
  const json::object& deletion = deleted.at("AccountAssignmentDeletionStatus").as_object();
  EXPECT_EQ(deletion.at("Status").as_string(), "SUCCEEDED");
  Sso("DescribeAccountAssignmentDeletionStatus",
      {{"AccountAssignmentDeletionRequestId", deletion.at("RequestId")}});
  ExpectOk();
  EXPECT_EQ(Sso("ListAccountAssignmentDeletionStatus", {})
                .at("AccountAssignmentsDeletionStatus")
                .as_array()
                .size(),
            1u);
  // The last assignment gone, the role and its principal go.
  EXPECT_EQ(store_->GetPrincipal(principal_arn).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetProvisionedRole(kTarget, set).status().code(), StatusCode::kNotFound);
  ExpectError(Assign(set, kTarget, "USER", user, "DeleteAccountAssignment"),
              "ResourceNotFoundException", "is not assigned");
  Sso("DeletePermissionSet", {{"PermissionSetArn", set}});
  ExpectOk();
  ExpectError(Sso("DeletePermissionSet", {{"PermissionSetArn", set}}), "ResourceNotFoundException",
              set);
}

TEST_F(PermissionSetsTest, AssignmentsNeedDeclaredAccountsAndExistingPrincipals) {
  const std::string set = CreateSet("Developers");
  const std::string user = CreateUser("bob");
  ExpectError(Assign(set, kUndeclared, "USER", user), "ResourceNotFoundException",
              "tessera account add --account-id 999999999999");
  ExpectError(Assign(set, kTarget, "USER", "0b1c2d3e-0000-4000-8000-000000000000"),
              "ResourceNotFoundException", "User 0b1c2d3e-0000-4000-8000-000000000000");
  ExpectError(Assign(set, kTarget, "GROUP", "0b1c2d3e-0000-4000-8000-000000000000"),
              "ResourceNotFoundException", "Group 0b1c2d3e-0000-4000-8000-000000000000");
  ExpectError(Assign(set, "12345", "USER", user), "ValidationException", "TargetId");
  ExpectError(Sso("CreateAccountAssignment", {{"PermissionSetArn", set},
                                              {"TargetId", kTarget},
                                              {"TargetType", "OU"},
                                              {"PrincipalType", "USER"},
                                              {"PrincipalId", user}}),
              "ValidationException", "TargetType");
  ExpectError(
      Sso("ListAccountAssignments", {{"AccountId", kUndeclared}, {"PermissionSetArn", set}}),
      "ResourceNotFoundException", "not declared");
  ExpectError(Sso("ListPermissionSetsProvisionedToAccount", {{"AccountId", kUndeclared}}),
              "ResourceNotFoundException", "not declared");
  ExpectError(Sso("ListAccountAssignmentsForPrincipal",
                  {{"PrincipalType", "GROUP"}, {"PrincipalId", user}}),
              "ResourceNotFoundException", "Group");
  ExpectError(Sso("DescribeAccountAssignmentCreationStatus",
                  {{"AccountAssignmentCreationRequestId", "00000000-0000-4000-8000-000000000000"}}),
              "ResourceNotFoundException", "00000000-0000-4000-8000-000000000000");
  ExpectError(Sso("DescribePermissionSetProvisioningStatus",
                  {{"ProvisionPermissionSetRequestId", "00000000-0000-4000-8000-000000000000"}}),
              "ResourceNotFoundException", "00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(store_->ListProvisionedRoles("", "")->size(), 0u);
  EXPECT_TRUE(Sso("ListAccountAssignmentCreationStatus", {})
                  .at("AccountAssignmentsCreationStatus")
                  .as_array()
                  .empty());
}

TEST_F(PermissionSetsTest, ProvisioningFollowsThePermissionSetsVersion) {
  const std::string set = CreateSet("Developers");
  const std::string group(Ids("CreateGroup", {{"DisplayName", "devs"}}).at("GroupId").as_string());
  Assign(set, kTarget, "GROUP", group);
  ExpectOk();
  Assign(set, kOtherTarget, "GROUP", group);
  ExpectOk();
  const std::string role_name = Role(kTarget, set).role_name;
  const std::string principal_arn = "arn:aws:iam::" + std::string(kTarget) + ":role/" + role_name;
  EXPECT_EQ(store_->GetPrincipal(principal_arn)->identity_policy_json, "");  // grants nothing yet
  auto accounts = [&](const char* filter) {
    return Strings(Sso("ListAccountsForProvisionedPermissionSet",
                       {{"PermissionSetArn", set}, {"ProvisioningStatus", filter}}),
                   "AccountIds");
  };
  const std::vector<std::string> both = {kTarget, kOtherTarget};
  EXPECT_EQ(accounts("LATEST_PERMISSION_SET_PROVISIONED"), both);
  // A changed policy reaches the roles only when provisioned again.
  Sso("PutInlinePolicyToPermissionSet", {{"PermissionSetArn", set}, {"InlinePolicy", kReadPolicy}});
  ExpectOk();
  EXPECT_EQ(accounts("LATEST_PERMISSION_SET_NOT_PROVISIONED"), both);
  EXPECT_TRUE(accounts("LATEST_PERMISSION_SET_PROVISIONED").empty());
  EXPECT_EQ(store_->GetPrincipal(principal_arn)->identity_policy_json, "");
  json::object provisioned =
      Sso("ProvisionPermissionSet",
          {{"PermissionSetArn", set}, {"TargetType", "AWS_ACCOUNT"}, {"TargetId", kTarget}});
  ExpectOk();
  const json::object& status = provisioned.at("PermissionSetProvisioningStatus").as_object();
  EXPECT_EQ(status.at("Status").as_string(), "SUCCEEDED");
  EXPECT_EQ(status.at("AccountId").as_string(), kTarget);
  EXPECT_EQ(status.at("PermissionSetArn").as_string(), set);
  EXPECT_EQ(Sso("DescribePermissionSetProvisioningStatus",
                {{"ProvisionPermissionSetRequestId", status.at("RequestId")}})
                .at("PermissionSetProvisioningStatus"),
            status);
  EXPECT_EQ(accounts("LATEST_PERMISSION_SET_PROVISIONED"), std::vector<std::string>{kTarget});
  EXPECT_EQ(Strings(Sso("ListPermissionSetsProvisionedToAccount",
                        {{"AccountId", kOtherTarget},
                         {"ProvisioningStatus", "LATEST_PERMISSION_SET_NOT_PROVISIONED"}}),
                    "PermissionSets"),
            std::vector<std::string>{set});
  EXPECT_EQ(Role(kTarget, set).role_name, role_name);  // re-provisioning keeps the role
  EXPECT_THAT(store_->GetPrincipal(principal_arn)->identity_policy_json, HasSubstr("sso:List*"));
  // Everywhere at once.
  json::object all = Sso("ProvisionPermissionSet",
                         {{"PermissionSetArn", set}, {"TargetType", "ALL_PROVISIONED_ACCOUNTS"}});
  ExpectOk();
  EXPECT_FALSE(all.at("PermissionSetProvisioningStatus").as_object().contains("AccountId"));
  EXPECT_EQ(accounts("LATEST_PERMISSION_SET_PROVISIONED"), both);
  // One status per request.
  EXPECT_EQ(Sso("ListPermissionSetProvisioningStatus", {})
                .at("PermissionSetsProvisioningStatus")
                .as_array()
                .size(),
            2u);
  ExpectError(
      Sso("ProvisionPermissionSet", {{"PermissionSetArn", set}, {"TargetType", "AWS_ACCOUNT"}}),
      "ValidationException", "TargetId is required");
  ExpectError(Sso("ProvisionPermissionSet", {{"PermissionSetArn", set},
                                             {"TargetType", "ALL_PROVISIONED_ACCOUNTS"},
                                             {"TargetId", kTarget}}),
              "ValidationException", "TargetId must not be given");
  ExpectError(
      Sso("ProvisionPermissionSet",
          {{"PermissionSetArn", set}, {"TargetType", "AWS_ACCOUNT"}, {"TargetId", kUndeclared}}),
      "ResourceNotFoundException", "not declared");
}

TEST_F(PermissionSetsTest, RoleBoundaryIsTheShippedPolicyOrDenyAll) {
  storage::PermissionSet ps;
  ps.arn = kMissingSet;
  ps.name = "B";
  ps.permissions_boundary_json = R"({"ManagedPolicyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"})";
  EXPECT_EQ(RolePermissionsBoundary(ps),
            *ShippedManagedPolicy("arn:aws:iam::aws:policy/ReadOnlyAccess"));
  iam::RequestContext ctx;
  ctx.principal_arn = "arn:aws:iam::444455556666:role/x";
  ctx.principal_account = "444455556666";
  ctx.action = "sso:ListInstances";
  ctx.resource = "*";
  for (const char* unevaluable : {R"({"ManagedPolicyArn":"arn:aws:iam::aws:policy/SomethingElse"})",
                                  R"({"CustomerManagedPolicyReference":{"Name":"Mine"}})"}) {
    ps.permissions_boundary_json = unevaluable;
    auto boundary = iam::ParsePolicy(RolePermissionsBoundary(ps));
    ASSERT_TRUE(boundary.ok()) << boundary.status();
    EXPECT_EQ(iam::Evaluate(*boundary, ctx), iam::Decision::kExplicitDeny) << unevaluable;
  }
  ps.permissions_boundary_json = "";
  EXPECT_EQ(RolePermissionsBoundary(ps), "");
  EXPECT_EQ(RoleIdentityPolicy(ps), "");
}

TEST(ManagedPoliciesTest, ShippedPoliciesParseAndMeanWhatAwsDocuments) {
  iam::RequestContext ctx;
  ctx.principal_arn = "arn:aws:iam::444455556666:role/x";
  ctx.principal_account = "444455556666";
  ctx.resource = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
  auto decide = [&](const char* name, const char* action) {
    auto doc = ShippedManagedPolicy(std::string("arn:aws:iam::aws:policy/") + name);
    EXPECT_TRUE(doc.has_value()) << name;
    auto policy = iam::ParsePolicy(doc.value_or(""));
    EXPECT_TRUE(policy.ok()) << name << ": " << policy.status();
    ctx.action = action;
    return policy.ok() ? iam::Evaluate(*policy, ctx) : iam::Decision::kExplicitDeny;
  };
  using iam::Decision;
  EXPECT_EQ(decide("AdministratorAccess", "sso:DeletePermissionSet"), Decision::kAllow);
  EXPECT_EQ(decide("PowerUserAccess", "sso:CreatePermissionSet"), Decision::kAllow);
  EXPECT_EQ(decide("PowerUserAccess", "iam:CreateRole"), Decision::kImplicitDeny);
  EXPECT_EQ(decide("ReadOnlyAccess", "sso:ListPermissionSets"), Decision::kAllow);
  EXPECT_EQ(decide("ReadOnlyAccess", "identitystore:DescribeUser"), Decision::kAllow);
  EXPECT_EQ(decide("ReadOnlyAccess", "sso:GetInlinePolicyForPermissionSet"), Decision::kAllow);
  EXPECT_EQ(decide("ReadOnlyAccess", "sso:CreatePermissionSet"), Decision::kImplicitDeny);
  EXPECT_EQ(decide("ReadOnlyAccess", "sso-oauth:CreateTokenWithIAM"), Decision::kImplicitDeny);
  EXPECT_EQ(decide("job-function/ViewOnlyAccess", "sso:ListApplications"), Decision::kAllow);
  EXPECT_EQ(decide("job-function/ViewOnlyAccess", "sso:GetApplicationGrant"),
            Decision::kImplicitDeny);
  EXPECT_FALSE(ShippedManagedPolicy("arn:aws:iam::aws:policy/AmazonS3FullAccess").has_value());
  EXPECT_EQ(ManagedPolicyName("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"),
            "ViewOnlyAccess");
}

// --- Authorize: identity policy within the permissions boundary ---

TEST_F(PermissionSetsTest, PermissionsBoundaryCapsTheIdentityPolicy) {
  const std::string role = "arn:aws:iam::111122223333:role/capped";
  storage::IamPrincipal p{
      role, kOwner, R"({"Statement":[{"Effect":"Allow","Action":"sso:*","Resource":"*"}]})", 0,
      R"({"Statement":[{"Effect":"Allow","Action":"sso:List*","Resource":"*"}]})"};
  ASSERT_TRUE(store_->PutPrincipal(p).ok());
  Sso("ListPermissionSets", {}, role);
  ExpectOk();
  ExpectError(Sso("CreatePermissionSet", {{"Name", "X"}}, role), "AccessDeniedException",
              "because no permissions boundary allows it");
  // The boundary alone grants nothing.
  p.identity_policy_json =
      R"({"Statement":[{"Effect":"Allow","Action":"sso:ListInstances","Resource":"*"}]})";
  ASSERT_TRUE(store_->PutPrincipal(p).ok());
  ExpectError(Sso("ListPermissionSets", {}, role), "AccessDeniedException",
              "because no identity-based policy allows it");
  // An explicit deny in the boundary wins.
  p.identity_policy_json = R"({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
  p.permissions_boundary_json =
      R"({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},)"
      R"({"Effect":"Deny","Action":"sso:ListPermissionSets","Resource":"*"}]})";
  ASSERT_TRUE(store_->PutPrincipal(p).ok());
  ExpectError(Sso("ListPermissionSets", {}, role), "AccessDeniedException",
              "explicit deny in a permissions boundary");
  Sso("ListInstances", {}, role);
  ExpectOk();
  // A boundary that cannot be read allows nothing.
  p.permissions_boundary_json = "{not json";
  ASSERT_TRUE(store_->PutPrincipal(p).ok());
  ExpectError(Sso("ListInstances", {}, role), "AccessDeniedException",
              "permissions boundary cannot be read");
  EXPECT_EQ(store_->ListPermissionSets({"", 10})->items.size(), 0u);
}

TEST_F(PermissionSetsTest, RoleSessionsActWithinTheirPermissionSet) {
  const std::string set = CreateSet("Readers");
  Sso("PutInlinePolicyToPermissionSet", {{"PermissionSetArn", set}, {"InlinePolicy", kReadPolicy}});
  Sso("PutPermissionsBoundaryToPermissionSet",
      {{"PermissionSetArn", set},
       {"PermissionsBoundary", {{"ManagedPolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"}}}});
  Assign(set, kTarget, "USER", CreateUser("dana"));
  ExpectOk();
  const std::string session = "arn:aws:sts::" + std::string(kTarget) + ":assumed-role/" +
                              Role(kTarget, set).role_name + "/dana";
  Sso("ListPermissionSets", {}, session, kTarget);
  ExpectOk();
  ExpectError(Sso("CreatePermissionSet", {{"Name", "Mine"}}, session, kTarget),
              "AccessDeniedException", "sso:CreatePermissionSet");
  // A boundary Tessera cannot evaluate allows nothing once provisioned.
  Sso("PutPermissionsBoundaryToPermissionSet",
      {{"PermissionSetArn", set},
       {"PermissionsBoundary", {{"CustomerManagedPolicyReference", {{"Name", "Mine"}}}}}});
  Sso("ProvisionPermissionSet",
      {{"PermissionSetArn", set}, {"TargetType", "AWS_ACCOUNT"}, {"TargetId", kTarget}});
  ExpectOk();
  ExpectError(Sso("ListPermissionSets", {}, session, kTarget), "AccessDeniedException",
              "explicit deny in a permissions boundary");
}

// --- the server's own instance id ---

TEST_F(PermissionSetsTest, TheDemoInstancePassesItsOwnValidation) {
  api_.reset();
  store_.reset();
  testing::RemoveTempDir(dir_);
  Open("ssoins-111111111111");
  json::object listed = Sso("ListInstances", {});
  ExpectOk();
  const std::string arn(listed.at("Instances").as_array()[0].at("InstanceArn").as_string());
  EXPECT_EQ(arn, "arn:aws:sso:::instance/ssoins-111111111111");
  Sso("DescribeInstance", {{"InstanceArn", arn}});
  ExpectOk();
  const std::string set = CreateSet("Demo");
  EXPECT_THAT(set, HasSubstr("permissionSet/ssoins-111111111111/ps-"));
  Sso("DescribePermissionSet", {{"PermissionSetArn", set}});
  ExpectOk();
  Sso("ListTagsForResource", {{"ResourceArn", set}});
  ExpectOk();
  // Another short instance id is still refused by the pattern.
  ExpectError(
      Sso("DescribeInstance", {{"InstanceArn", "arn:aws:sso:::instance/ssoins-222222222222"}}),
      "ValidationException", "regular expression pattern");
}

// --- identitystore ---

TEST_F(PermissionSetsTest, UpdateGroupRenamesAndDescribes) {
  const std::string group(Ids("CreateGroup", {{"DisplayName", "devs"}, {"Description", "d"}})
                              .at("GroupId")
                              .as_string());
  Ids("CreateGroup", {{"DisplayName", "ops"}});
  auto update = [&](const std::string& id, json::array ops) {
    return Ids("UpdateGroup", {{"GroupId", id}, {"Operations", std::move(ops)}});
  };
  update(group, {{{"AttributePath", "displayName"}, {"AttributeValue", "developers"}},
                 {{"AttributePath", "description"}, {"AttributeValue", "the developers"}}});
  ExpectOk();
  json::object d = Ids("DescribeGroup", {{"GroupId", group}});
  EXPECT_EQ(d.at("DisplayName").as_string(), "developers");
  EXPECT_EQ(d.at("Description").as_string(), "the developers");
  update(group, {{{"AttributePath", "description"}, {"AttributeValue", nullptr}}});
  ExpectOk();
  EXPECT_FALSE(Ids("DescribeGroup", {{"GroupId", group}}).contains("Description"));
  json::object conflict =
      update(group, {{{"AttributePath", "displayName"}, {"AttributeValue", "ops"}}});
  ExpectError(conflict, "ConflictException", "'ops' already exists");
  EXPECT_EQ(conflict.at("Reason").as_string(), "UNIQUENESS_CONSTRAINT_VIOLATION");
  ExpectError(update(group, {{{"AttributePath", "members"}, {"AttributeValue", "x"}}}),
              "ValidationException", "'members'");
  ExpectError(update(group, {{{"AttributePath", "displayName"}}}), "ValidationException",
              "cannot be removed");
  ExpectError(update(group, {{{"AttributePath", "displayName"}, {"AttributeValue", 3}}}),
              "ValidationException", "must be a string");
  EXPECT_EQ(Ids("DescribeGroup", {{"GroupId", group}}).at("DisplayName").as_string(), "developers");
  json::object missing = update("0b1c2d3e-0000-4000-8000-000000000000",
                                {{{"AttributePath", "displayName"}, {"AttributeValue", "x"}}});
  ExpectError(missing, "ResourceNotFoundException", "Group");
  EXPECT_EQ(missing.at("ResourceType").as_string(), "GROUP");
}

TEST_F(PermissionSetsTest, MembershipLookups) {
  const std::string user = CreateUser("erin");
  const std::string a(Ids("CreateGroup", {{"DisplayName", "a"}}).at("GroupId").as_string());
  const std::string b(Ids("CreateGroup", {{"DisplayName", "b"}}).at("GroupId").as_string());
  std::map<std::string, std::string> membership;
  for (const std::string& g : {a, b}) {
    membership[g] =
        std::string(Ids("CreateGroupMembership", {{"GroupId", g}, {"MemberId", {{"UserId", user}}}})
                        .at("MembershipId")
                        .as_string());
  }
  json::object id = Ids("GetGroupMembershipId", {{"GroupId", a}, {"MemberId", {{"UserId", user}}}});
  ExpectOk();
  EXPECT_EQ(id.at("MembershipId").as_string(), membership[a]);
  EXPECT_EQ(id.at("IdentityStoreId").as_string(), kStoreId);
  json::object d = Ids("DescribeGroupMembership", {{"MembershipId", membership[b]}});
  ExpectOk();
  EXPECT_EQ(d.at("GroupId").as_string(), b);
  EXPECT_EQ(d.at("MemberId").at("UserId").as_string(), user);
  EXPECT_EQ(d.at("IdentityStoreId").as_string(), kStoreId);
  json::object page =
      Ids("ListGroupMembershipsForMember", {{"MemberId", {{"UserId", user}}}, {"MaxResults", 1}});
  ExpectOk();
  ASSERT_EQ(page.at("GroupMemberships").as_array().size(), 1u);
  json::object rest = Ids("ListGroupMembershipsForMember",
                          {{"MemberId", {{"UserId", user}}}, {"NextToken", page.at("NextToken")}});
  ExpectOk();
  ASSERT_EQ(rest.at("GroupMemberships").as_array().size(), 1u);
  EXPECT_NE(page.at("GroupMemberships").as_array()[0].at("GroupId"),
            rest.at("GroupMemberships").as_array()[0].at("GroupId"));
  // Not found, by type.
  const std::string nobody = "0b1c2d3e-0000-4000-8000-000000000000";
  json::object out =
      Ids("GetGroupMembershipId", {{"GroupId", nobody}, {"MemberId", {{"UserId", user}}}});
  ExpectError(out, "ResourceNotFoundException", "Group membership");
  EXPECT_EQ(out.at("ResourceType").as_string(), "GROUP_MEMBERSHIP");
  out = Ids("DescribeGroupMembership", {{"MembershipId", nobody}});
  ExpectError(out, "ResourceNotFoundException", nobody);
  EXPECT_EQ(out.at("ResourceType").as_string(), "GROUP_MEMBERSHIP");
  out = Ids("ListGroupMembershipsForMember", {{"MemberId", {{"UserId", nobody}}}});
  ExpectError(out, "ResourceNotFoundException", "User");
  EXPECT_EQ(out.at("ResourceType").as_string(), "USER");
  ExpectError(Ids("DescribeGroupMembership", {{"MembershipId", "not an id"}}),
              "ValidationException", "MembershipId");
}

}  // namespace
}  // namespace ts::admin
