// The conformance suite's ApplicationStore cases: applications, assignments, trusted token
// issuers and tags (see conformance_test.h).
#include <gmock/gmock.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include "test/common/status_matchers.h"
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

// --- applications and assignments ---

TEST_P(StoreConformanceTest, PutApplicationRoundTrips) {
  const Application app = MakeApp(kAppArn);
  ASSERT_THAT(store_->PutApplication(app), IsOk());
  EXPECT_THAT(store_->GetApplication(kAppArn), IsOkAndHolds(Eq(app)));
}

TEST_P(StoreConformanceTest, PutApplicationReplacesGrantsAndScopesButKeepsAssignments) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  Application changed = MakeApp(kAppArn);
  changed.status = "DISABLED";
  changed.assignment_required = false;
  changed.grants.erase("refresh_token");
  changed.grants["urn:ietf:params:oauth:grant-type:jwt-bearer"] =
      R"({"AuthorizedTokenIssuers":[]})";
  changed.access_scopes.erase("openid");
  changed.access_scopes["aws"] = {kOtherAppArn};
  changed.actor_policy_json = "";
  ASSERT_THAT(store_->PutApplication(changed), IsOk());
  EXPECT_THAT(store_->GetApplication(kAppArn), IsOkAndHolds(Eq(changed)));
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(true));
}

TEST_P(StoreConformanceTest, GetAbsentApplicationIsNotFound) {
  EXPECT_THAT(store_->GetApplication(kAppArn), StatusIs(StatusCode::kNotFound, HasSubstr(kAppArn)));
}

TEST_P(StoreConformanceTest, ListApplicationsCarriesGrantsAndScopes) {
  EXPECT_THAT(store_->ListApplications(), IsOkAndHolds(IsEmpty()));
  Application other = MakeApp(kOtherAppArn);
  other.grants.clear();
  other.access_scopes.clear();
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(other), IsOk());
  EXPECT_THAT(store_->ListApplications(),
              IsOkAndHolds(UnorderedElementsAre(Eq(MakeApp(kAppArn)), Eq(other))));
}

TEST_P(StoreConformanceTest, DeleteAbsentApplicationIsNotFound) {
  EXPECT_THAT(store_->DeleteApplication(kAppArn, kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr(kAppArn)));
}

TEST_P(StoreConformanceTest, DeleteApplicationRevokesItsFamilies) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kOtherAppArn)), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1", "user-1", kAppArn), std::nullopt), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-2", "user-1", kOtherAppArn), std::nullopt),
              IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());

  ASSERT_THAT(store_->DeleteApplication(kAppArn, kNow + 7), IsOk());

  EXPECT_THAT(store_->GetApplication(kAppArn), StatusIs(StatusCode::kNotFound, HasSubstr(kAppArn)));
  auto fam1 = store_->GetFamily("fam-1");
  ASSERT_THAT(fam1, IsOk());
  EXPECT_EQ(fam1->revoked_at, kNow + 7);
  auto fam2 = store_->GetFamily("fam-2");
  ASSERT_THAT(fam2, IsOk());
  EXPECT_EQ(fam2->revoked_at, 0);
  // Beyond store.h: its assignments and unused codes go too; re-creating the application does
  // not bring them back.
  EXPECT_THAT(store_->GetAuthorizationCode("code-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(false));
}

TEST_P(StoreConformanceTest, AssignmentsPutIsIdempotentAndDeleteRemoves) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(false));
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(true));
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-2"), IsOkAndHolds(false));
  EXPECT_THAT(store_->IsAssigned(kOtherAppArn, "user-1"), IsOkAndHolds(false));
  ASSERT_THAT(store_->DeleteAssignment(kAppArn, "user-1"), IsOk());
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(false));
}

TEST_P(StoreConformanceTest, DeleteAbsentAssignmentIsNotFound) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  EXPECT_THAT(store_->DeleteAssignment(kAppArn, "user-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("user-1")));
}

TEST_P(StoreConformanceTest, PutAssignmentToAbsentApplicationIsNotFound) {
  EXPECT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"),
              StatusIs(StatusCode::kNotFound, HasSubstr(kAppArn)));
}

// --- admin plane: paging, per-item application changes, tags ---

TEST_P(StoreConformanceTest, ListAssignmentsPagesByPrincipalId) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-2", "USER"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "group-1", "GROUP"), IsOk());
  auto page = store_->ListAssignments(kAppArn, PageRequest{"", 1});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->items, ElementsAre(Eq(Assignment{kAppArn, "group-1", "GROUP"})));
  page = store_->ListAssignments(kAppArn, PageRequest{page->next, 1});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->items, ElementsAre(Eq(Assignment{kAppArn, "user-2", "USER"})));
  EXPECT_EQ(page->next, "");
  EXPECT_THAT(store_->ListAssignments(kOtherAppArn, PageRequest{}),
              IsOkAndHolds(Field(&Page<Assignment>::items, IsEmpty())));
}

TEST_P(StoreConformanceTest, ApplicationPerItemChanges) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  Application expected = MakeApp(kAppArn);

  Application update = MakeApp(kAppArn);
  update.name = "renamed";
  update.description = "";
  update.status = "DISABLED";
  update.assignment_required = false;
  update.portal_options_json = "";
  update.grants.clear();  // ignored by UpdateApplication
  update.created_at = kNow + 99;
  ASSERT_THAT(store_->UpdateApplication(update), IsOk());
  expected.name = "renamed";
  expected.description = "";
  expected.status = "DISABLED";
  expected.assignment_required = false;
  expected.portal_options_json = "";
  EXPECT_THAT(store_->GetApplication(kAppArn), IsOkAndHolds(Eq(expected)));

  ASSERT_THAT(store_->PutApplicationGrant(kAppArn, "refresh_token", R"({"x":1})"), IsOk());
  expected.grants["refresh_token"] = R"({"x":1})";
  ASSERT_THAT(store_->DeleteApplicationGrant(kAppArn, "authorization_code"), IsOk());
  expected.grants.erase("authorization_code");
  ASSERT_THAT(store_->PutApplicationAccessScope(kAppArn, "aws", {kOtherAppArn}), IsOk());
  expected.access_scopes["aws"] = {kOtherAppArn};
  ASSERT_THAT(store_->DeleteApplicationAccessScope(kAppArn, "openid"), IsOk());
  expected.access_scopes.erase("openid");
  ASSERT_THAT(store_->SetActorPolicy(kAppArn, ""), IsOk());
  expected.actor_policy_json = "";
  EXPECT_THAT(store_->GetApplication(kAppArn), IsOkAndHolds(Eq(expected)));
  EXPECT_THAT(store_->IsAssigned(kAppArn, "user-1"), IsOkAndHolds(true));

  EXPECT_THAT(store_->DeleteApplicationGrant(kAppArn, "authorization_code"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization_code")));
  EXPECT_THAT(store_->DeleteApplicationAccessScope(kAppArn, "openid"),
              StatusIs(StatusCode::kNotFound, HasSubstr("openid")));
  EXPECT_THAT(store_->PutApplicationAccessScope(kAppArn, "aws", {"has space"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("AuthorizedTargets")));
  for (const Status& status : {store_->UpdateApplication(MakeApp(kOtherAppArn)),
                               store_->PutApplicationGrant(kOtherAppArn, "refresh_token", "{}"),
                               store_->DeleteApplicationGrant(kOtherAppArn, "refresh_token"),
                               store_->PutApplicationAccessScope(kOtherAppArn, "aws", {}),
                               store_->DeleteApplicationAccessScope(kOtherAppArn, "aws"),
                               store_->SetActorPolicy(kOtherAppArn, "{}")}) {
    EXPECT_THAT(status, StatusIs(StatusCode::kNotFound, HasSubstr(kOtherAppArn)));
  }
}

TEST_P(StoreConformanceTest, ListApplicationsPagePagesByArn) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kOtherAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  const std::string first_arn = std::min<std::string>(kAppArn, kOtherAppArn);
  const std::string second_arn = std::max<std::string>(kAppArn, kOtherAppArn);
  auto page = store_->ListApplicationsPage(PageRequest{"", 1});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->items, ElementsAre(Eq(MakeApp(first_arn))));
  page = store_->ListApplicationsPage(PageRequest{page->next, 1});
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->items, ElementsAre(Eq(MakeApp(second_arn))));
  EXPECT_EQ(page->next, "");
}

TEST_P(StoreConformanceTest, TagsAddOverwriteRemoveAndGoWithTheResource) {
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  EXPECT_THAT(store_->ListTags(kAppArn), IsOkAndHolds(IsEmpty()));
  ASSERT_THAT(store_->TagResource(kAppArn, {{"team", "a"}, {"env", "dev"}}), IsOk());
  ASSERT_THAT(store_->TagResource(kAppArn, {{"team", "b"}}), IsOk());
  ASSERT_THAT(store_->TagResource(kOtherAppArn, {{"team", "z"}}), IsOk());
  using Tags = std::map<std::string, std::string>;
  EXPECT_THAT(store_->ListTags(kAppArn), IsOkAndHolds(Eq(Tags{{"env", "dev"}, {"team", "b"}})));
  ASSERT_THAT(store_->UntagResource(kAppArn, {"env", "absent"}), IsOk());
  EXPECT_THAT(store_->ListTags(kAppArn), IsOkAndHolds(Eq(Tags{{"team", "b"}})));
  ASSERT_THAT(store_->DeleteApplication(kAppArn, kNow), IsOk());
  EXPECT_THAT(store_->ListTags(kAppArn), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->ListTags(kOtherAppArn), IsOkAndHolds(Eq(Tags{{"team", "z"}})));
}

TEST_P(StoreConformanceTest, DeleteTrustedTokenIssuerRemovesItAndItsTags) {
  TrustedTokenIssuer tti;
  tti.arn = "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/tti-1";
  tti.name = "okta";
  tti.issuer_url = "https://example.okta.com";
  ASSERT_THAT(store_->PutTrustedTokenIssuer(tti), IsOk());
  ASSERT_THAT(store_->TagResource(tti.arn, {{"k", "v"}}), IsOk());
  ASSERT_THAT(store_->DeleteTrustedTokenIssuer(tti.arn), IsOk());
  EXPECT_THAT(store_->GetTrustedTokenIssuer(tti.arn),
              StatusIs(StatusCode::kNotFound, HasSubstr("tti-1")));
  EXPECT_THAT(store_->ListTags(tti.arn), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->DeleteTrustedTokenIssuer(tti.arn),
              StatusIs(StatusCode::kNotFound, HasSubstr("tti-1")));
}

// --- trusted token issuers ---

TrustedTokenIssuer MakeIssuer(const std::string& arn, const std::string& url) {
  TrustedTokenIssuer t;
  t.arn = arn;
  t.instance_arn = "arn:aws:sso:::instance/ssoins-1111111111111111";
  t.name = "idp";
  t.issuer_url = url;
  t.claim_attribute_path = "email";
  t.identity_store_attribute_path = "emails.value";
  t.created_at = kNow;
  return t;
}

TEST_P(StoreConformanceTest, TrustedTokenIssuersPutGetListReplace) {
  EXPECT_THAT(store_->ListTrustedTokenIssuers(), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store_->GetTrustedTokenIssuer("arn:tti/b"),
              StatusIs(StatusCode::kNotFound, HasSubstr("arn:tti/b")));
  ASSERT_THAT(store_->PutTrustedTokenIssuer(MakeIssuer("arn:tti/b", "https://b.example")), IsOk());
  ASSERT_THAT(store_->PutTrustedTokenIssuer(MakeIssuer("arn:tti/a", "https://a.example")), IsOk());
  TrustedTokenIssuer changed = MakeIssuer("arn:tti/b", "https://b2.example");
  changed.claim_attribute_path = "preferred_username";
  changed.identity_store_attribute_path = "userName";
  ASSERT_THAT(store_->PutTrustedTokenIssuer(changed), IsOk());
  auto got = store_->GetTrustedTokenIssuer("arn:tti/b");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->issuer_url, "https://b2.example");
  EXPECT_EQ(got->claim_attribute_path, "preferred_username");
  EXPECT_EQ(got->identity_store_attribute_path, "userName");
  EXPECT_EQ(got->type, "OIDC_JWT");
  EXPECT_EQ(got->jwks_retrieval_option, "OPEN_ID_DISCOVERY");
  EXPECT_EQ(got->created_at, kNow);
  auto all = store_->ListTrustedTokenIssuers();
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].arn, "arn:tti/a");
  EXPECT_EQ((*all)[1].arn, "arn:tti/b");
}

}  // namespace
}  // namespace ts::storage::conformance
