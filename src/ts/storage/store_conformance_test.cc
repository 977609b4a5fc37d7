// The storage conformance suite (see store_conformance_test.h): store.h's contract, one case per
// behaviour. Where store.h leaves a detail open (orderings, NotFound on deleting something absent,
// what else DeleteUser/DeleteApplication/RevokeSession clean up), the case says so and pins the
// behaviour every backend agrees on.
#include "ts/storage/store_conformance_test.h"

#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/storage/attribute_index.h"

namespace ts::storage {

Completions::Completions(size_t n)
    : calls(n, 0), results(n, StatusOr<RotateOutcome>(InternalError("done was not called"))) {}

Store::RotateDone RecordInto(std::shared_ptr<Completions> c, size_t slot) {
  return [c = std::move(c), slot](StatusOr<RotateOutcome> result) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->calls[slot]++ == 0) {
      c->results[slot] = std::move(result);
      ++c->answered;
    }
    c->cv.notify_all();
  };
}

// A PurgeExpired result: `deleted` rows, and whether the call said it had finished.
::testing::Matcher<const StatusOr<PurgeResult>&> Purged(int64_t deleted, bool finished = true) {
  return ::ts::testing::IsOkAndHolds(
      ::testing::AllOf(::testing::Field("deleted", &PurgeResult::deleted, deleted),
                       ::testing::Field("finished", &PurgeResult::finished, finished)));
}

bool AwaitAll(Completions& c) {
  std::unique_lock<std::mutex> lock(c.mu);
  return c.cv.wait_for(lock, kAsyncTimeout, [&] { return c.answered == c.calls.size(); });
}

// Field-wise equality for the records, so whole round trips are checked.
bool operator==(const Instance& a, const Instance& b) {
  return std::tie(a.instance_arn, a.instance_id, a.identity_store_id, a.owner_account_id, a.region,
                  a.name, a.created_at) == std::tie(b.instance_arn, b.instance_id,
                                                    b.identity_store_id, b.owner_account_id,
                                                    b.region, b.name, b.created_at);
}
bool operator==(const User& a, const User& b) {
  return std::tie(a.user_id, a.identity_store_id, a.user_name, a.display_name, a.attributes_json,
                  a.password_hash, a.created_at, a.updated_at) ==
         std::tie(b.user_id, b.identity_store_id, b.user_name, b.display_name, b.attributes_json,
                  b.password_hash, b.created_at, b.updated_at);
}
bool operator==(const Application& a, const Application& b) {
  return std::tie(a.application_arn, a.instance_arn, a.application_provider_arn, a.name,
                  a.description, a.status, a.assignment_required, a.grants, a.actor_policy_json,
                  a.access_scopes, a.portal_options_json, a.created_at) ==
         std::tie(b.application_arn, b.instance_arn, b.application_provider_arn, b.name,
                  b.description, b.status, b.assignment_required, b.grants, b.actor_policy_json,
                  b.access_scopes, b.portal_options_json, b.created_at);
}
bool operator==(const Group& a, const Group& b) {
  return std::tie(a.group_id, a.identity_store_id, a.display_name, a.description, a.attributes_json,
                  a.created_at, a.updated_at) ==
         std::tie(b.group_id, b.identity_store_id, b.display_name, b.description, b.attributes_json,
                  b.created_at, b.updated_at);
}
bool operator==(const GroupMembership& a, const GroupMembership& b) {
  return std::tie(a.membership_id, a.identity_store_id, a.group_id, a.user_id, a.created_at) ==
         std::tie(b.membership_id, b.identity_store_id, b.group_id, b.user_id, b.created_at);
}
bool operator==(const Assignment& a, const Assignment& b) {
  return std::tie(a.application_arn, a.principal_id, a.principal_type) ==
         std::tie(b.application_arn, b.principal_id, b.principal_type);
}
bool operator==(const IamPrincipal& a, const IamPrincipal& b) {
  return std::tie(a.arn, a.account_id, a.identity_policy_json, a.created_at) ==
         std::tie(b.arn, b.account_id, b.identity_policy_json, b.created_at);
}
bool operator==(const AccessKey& a, const AccessKey& b) {
  return std::tie(a.access_key_id, a.principal_arn, a.secret_sealed, a.session_token_hash,
                  a.expires_at, a.active, a.created_at) ==
         std::tie(b.access_key_id, b.principal_arn, b.secret_sealed, b.session_token_hash,
                  b.expires_at, b.active, b.created_at);
}
bool operator==(const SigningKey& a, const SigningKey& b) {
  return std::tie(a.kid, a.alg, a.private_key_sealed, a.public_jwk_json, a.created_at,
                  a.activated_at, a.retired_at, a.delete_after) ==
         std::tie(b.kid, b.alg, b.private_key_sealed, b.public_jwk_json, b.created_at,
                  b.activated_at, b.retired_at, b.delete_after);
}
bool operator==(const SignInSession& a, const SignInSession& b) {
  return std::tie(a.session_hash, a.user_id, a.csrf_secret, a.auth_time, a.created_at, a.expires_at,
                  a.revoked_at) == std::tie(b.session_hash, b.user_id, b.csrf_secret, b.auth_time,
                                            b.created_at, b.expires_at, b.revoked_at);
}
bool operator==(const AuthorizationCode& a, const AuthorizationCode& b) {
  return std::tie(a.code_hash, a.application_arn, a.user_id, a.redirect_uri, a.code_challenge,
                  a.scopes, a.session_hash, a.auth_time, a.created_at, a.expires_at, a.consumed_at,
                  a.family_id) == std::tie(b.code_hash, b.application_arn, b.user_id,
                                           b.redirect_uri, b.code_challenge, b.scopes,
                                           b.session_hash, b.auth_time, b.created_at, b.expires_at,
                                           b.consumed_at, b.family_id);
}
bool operator==(const TokenFamily& a, const TokenFamily& b) {
  return std::tie(a.family_id, a.application_arn, a.user_id, a.scopes, a.grant_type, a.session_hash,
                  a.auth_time, a.created_at, a.expires_at, a.revoked_at, a.parent_family_id,
                  a.act_json) == std::tie(b.family_id, b.application_arn, b.user_id, b.scopes,
                                          b.grant_type, b.session_hash, b.auth_time, b.created_at,
                                          b.expires_at, b.revoked_at, b.parent_family_id,
                                          b.act_json);
}
bool operator==(const RefreshToken& a, const RefreshToken& b) {
  return std::tie(a.token_hash, a.family_id, a.scopes, a.created_at, a.expires_at, a.rotated_at,
                  a.successor_hash) == std::tie(b.token_hash, b.family_id, b.scopes, b.created_at,
                                                b.expires_at, b.rotated_at, b.successor_hash);
}

namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kAppArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222";
constexpr char kOtherAppArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-333333333333";

User MakeUser(const std::string& id, const std::string& name) {
  User u;
  u.user_id = id;
  u.identity_store_id = "d-3333333333";
  u.user_name = name;
  u.display_name = "Display " + name;
  u.attributes_json = R"({"UserName":")" + name + R"(","Emails":[{"Value":"x@example.com"}]})";
  u.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA";
  u.created_at = kNow;
  u.updated_at = kNow;
  return u;
}

Application MakeApp(const std::string& arn) {
  Application a;
  a.application_arn = arn;
  a.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
  a.application_provider_arn = "arn:aws:sso::aws:applicationProvider/custom";
  a.name = "webapp";
  a.description = "My web app";
  a.status = "ENABLED";
  a.assignment_required = true;
  a.grants["authorization_code"] = R"({"RedirectUris":["https://mywebapp.example/redirect"]})";
  a.grants["refresh_token"] = "{}";
  a.actor_policy_json = R"({"Version":"2012-10-17","Statement":[]})";
  a.access_scopes["openid"] = {};
  a.access_scopes["sso:account:access"] = {arn, "arn:aws:sso:::instance/ssoins-111111111111"};
  a.portal_options_json = R"({"Visibility":"ENABLED"})";
  a.created_at = kNow;
  return a;
}

SignInSession MakeSession(const std::string& hash, const std::string& user_id) {
  SignInSession s;
  s.session_hash = hash;
  s.user_id = user_id;
  s.csrf_secret = "csrf-" + hash;
  s.auth_time = kNow;
  s.created_at = kNow;
  s.expires_at = kNow + 3600;
  return s;
}

AuthorizationCode MakeCode(const std::string& hash, const std::string& user_id,
                           const std::string& session_hash = "session-1",
                           const std::string& app_arn = kAppArn) {
  AuthorizationCode c;
  c.code_hash = hash;
  c.application_arn = app_arn;
  c.user_id = user_id;
  c.redirect_uri = "https://mywebapp.example/redirect";
  c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  c.scopes = {"openid", "aws"};
  c.session_hash = session_hash;
  c.auth_time = kNow;
  c.created_at = kNow;
  c.expires_at = kNow + 300;
  return c;
}

TokenFamily MakeFamily(const std::string& id, const std::string& user_id = "user-1",
                       const std::string& app_arn = kAppArn,
                       const std::string& session_hash = "session-1") {
  TokenFamily f;
  f.family_id = id;
  f.application_arn = app_arn;
  f.user_id = user_id;
  f.scopes = {"openid", "aws", "sso:account:access"};
  f.grant_type = "authorization_code";
  f.session_hash = session_hash;
  f.auth_time = kNow;
  f.created_at = kNow;
  f.expires_at = kNow + 90 * 86400;
  return f;
}

RefreshToken MakeRefresh(const std::string& hash, const std::string& family_id) {
  RefreshToken t;
  t.token_hash = hash;
  t.family_id = family_id;
  t.scopes = {"openid", "aws"};
  t.created_at = kNow;
  t.expires_at = kNow + 86400;
  return t;
}

AccessKey MakeAccessKey(const std::string& id, const std::string& principal, int64_t created_at) {
  AccessKey k;
  k.access_key_id = id;
  k.principal_arn = principal;
  k.secret_sealed = std::string("sealed\0secret\xff", 14);  // binary, with a NUL inside
  k.session_token_hash = "";
  k.created_at = created_at;
  return k;
}

SigningKey MakeSigningKey(const std::string& kid, int64_t created_at) {
  SigningKey k;
  k.kid = kid;
  k.alg = "ES256";
  k.private_key_sealed = std::string("\x00\x01pkcs8\x80", 8);
  k.public_jwk_json = R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"("})";
  k.created_at = created_at;
  return k;
}

std::vector<std::string> UserIds(const std::vector<User>& users) {
  std::vector<std::string> ids;
  for (const User& u : users) ids.push_back(u.user_id);
  return ids;
}

// --- instance and meta ---

TEST_P(StoreConformanceTest, GetInstanceBeforePutIsNotFound) {
  EXPECT_THAT(store_->GetInstance(), StatusIs(StatusCode::kNotFound, HasSubstr("instance")));
}

TEST_P(StoreConformanceTest, PutInstanceInsertsThenReplaces) {
  Instance instance{"arn:aws:sso:::instance/ssoins-111111111111",
                    "ssoins-111111111111",
                    "d-3333333333",
                    "111111111111",
                    "us-east-1",
                    "Tessera",
                    kNow};
  ASSERT_THAT(store_->PutInstance(instance), IsOk());
  EXPECT_THAT(store_->GetInstance(), IsOkAndHolds(Eq(instance)));
  instance.name = "Renamed";
  instance.region = "eu-west-1";
  ASSERT_THAT(store_->PutInstance(instance), IsOk());
  EXPECT_THAT(store_->GetInstance(), IsOkAndHolds(Eq(instance)));
}

TEST_P(StoreConformanceTest, MetaPutGetAndReplace) {
  EXPECT_THAT(store_->GetMeta("master_key_check"),
              StatusIs(StatusCode::kNotFound, HasSubstr("master_key_check")));
  ASSERT_THAT(store_->PutMeta("master_key_check", "v1"), IsOk());
  EXPECT_THAT(store_->GetMeta("master_key_check"), IsOkAndHolds(std::string("v1")));
  ASSERT_THAT(store_->PutMeta("master_key_check", "v2"), IsOk());
  EXPECT_THAT(store_->GetMeta("master_key_check"), IsOkAndHolds(std::string("v2")));
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

// --- admin plane: paging, attribute lookups, groups, per-item application changes, tags ---

Group MakeGroup(const std::string& id, const std::string& name) {
  Group g;
  g.group_id = id;
  g.identity_store_id = "d-3333333333";
  g.display_name = name;
  g.description = "The " + name + " group";
  g.attributes_json = R"({"DisplayName":")" + name +
                      R"(","ExternalIds":[{"Issuer":"scim","Id":"ext-)" + id + R"("}]})";
  g.created_at = kNow;
  g.updated_at = kNow;
  return g;
}

GroupMembership MakeMembership(const std::string& id, const std::string& group_id,
                               const std::string& user_id) {
  return GroupMembership{id, "d-3333333333", group_id, user_id, kNow};
}

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

// --- IAM principals and access keys ---

TEST_P(StoreConformanceTest, PrincipalPutGetAndReplace) {
  IamPrincipal p{"arn:aws:iam::123456789012:role/webapp", "123456789012", "", kNow};
  EXPECT_THAT(store_->GetPrincipal(p.arn), StatusIs(StatusCode::kNotFound, HasSubstr(p.arn)));
  ASSERT_THAT(store_->PutPrincipal(p), IsOk());
  EXPECT_THAT(store_->GetPrincipal(p.arn), IsOkAndHolds(Eq(p)));
  p.identity_policy_json = R"({"Version":"2012-10-17"})";
  ASSERT_THAT(store_->PutPrincipal(p), IsOk());
  EXPECT_THAT(store_->GetPrincipal(p.arn), IsOkAndHolds(Eq(p)));
}

TEST_P(StoreConformanceTest, AccessKeyLifecycle) {
  const std::string role = "arn:aws:iam::123456789012:role/webapp";
  const std::string other = "arn:aws:iam::123456789012:user/ops";
  ASSERT_THAT(store_->PutPrincipal({role, "123456789012", "", kNow}), IsOk());
  AccessKey newer = MakeAccessKey("AKIAEXAMPLE2", role, kNow + 2);
  AccessKey temporary = MakeAccessKey("ASIAEXAMPLE1", role, kNow + 1);
  temporary.session_token_hash = "abc123";
  temporary.expires_at = kNow + 3600;
  temporary.active = false;
  ASSERT_THAT(store_->CreateAccessKey(newer), IsOk());
  ASSERT_THAT(store_->CreateAccessKey(temporary), IsOk());
  ASSERT_THAT(store_->CreateAccessKey(MakeAccessKey("AKIAOTHER", other, kNow)), IsOk());

  EXPECT_THAT(store_->GetAccessKey("ASIAEXAMPLE1"), IsOkAndHolds(Eq(temporary)));
  // Oldest first, and only the principal's own.
  EXPECT_THAT(store_->ListAccessKeys(role), IsOkAndHolds(ElementsAre(Eq(temporary), Eq(newer))));
  EXPECT_THAT(store_->ListAccessKeys("arn:aws:iam::123456789012:role/none"),
              IsOkAndHolds(IsEmpty()));

  ASSERT_THAT(store_->DeleteAccessKey("AKIAEXAMPLE2"), IsOk());
  EXPECT_THAT(store_->GetAccessKey("AKIAEXAMPLE2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("AKIAEXAMPLE2")));
  EXPECT_THAT(store_->ListAccessKeys(role), IsOkAndHolds(ElementsAre(Eq(temporary))));
}

TEST_P(StoreConformanceTest, CreateAccessKeyDuplicateIsAlreadyExists) {
  ASSERT_THAT(store_->CreateAccessKey(MakeAccessKey("AKIA1", "arn:aws:iam::1:user/a", kNow)),
              IsOk());
  EXPECT_THAT(store_->CreateAccessKey(MakeAccessKey("AKIA1", "arn:aws:iam::1:user/b", kNow)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("AKIA1")));
}

TEST_P(StoreConformanceTest, AccessKeyAbsentIsNotFound) {
  EXPECT_THAT(store_->GetAccessKey("AKIANONE"),
              StatusIs(StatusCode::kNotFound, HasSubstr("AKIANONE")));
  EXPECT_THAT(store_->DeleteAccessKey("AKIANONE"),
              StatusIs(StatusCode::kNotFound, HasSubstr("AKIANONE")));
}

// --- signing keys ---

TEST_P(StoreConformanceTest, SigningKeysListOldestFirstAndReplaceByKid) {
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(IsEmpty()));
  SigningKey second = MakeSigningKey("kid-b", kNow + 10);
  SigningKey first = MakeSigningKey("kid-a", kNow);
  ASSERT_THAT(store_->PutSigningKey(second), IsOk());
  ASSERT_THAT(store_->PutSigningKey(first), IsOk());
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(ElementsAre(Eq(first), Eq(second))));
  first.activated_at = kNow + 1;
  first.retired_at = kNow + 20;
  first.delete_after = kNow + 100;
  ASSERT_THAT(store_->PutSigningKey(first), IsOk());
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(ElementsAre(Eq(first), Eq(second))));
}

// --- sign-in sessions ---

TEST_P(StoreConformanceTest, SessionCreateGetAndDuplicate) {
  const SignInSession session = MakeSession("session-1", "user-1");
  ASSERT_THAT(store_->CreateSession(session), IsOk());
  EXPECT_THAT(store_->GetSession("session-1"), IsOkAndHolds(Eq(session)));
  EXPECT_THAT(store_->CreateSession(session),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("session")));
  EXPECT_THAT(store_->GetSession("session-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("session")));
}

TEST_P(StoreConformanceTest, RevokeSessionRevokesFamiliesItStarted) {
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-1")), IsOk());
  ASSERT_THAT(store_->CreateSession(MakeSession("session-2", "user-1")), IsOk());
  ASSERT_THAT(
      store_->CreateFamily(MakeFamily("fam-1", "user-1", kAppArn, "session-1"), std::nullopt),
      IsOk());
  ASSERT_THAT(
      store_->CreateFamily(MakeFamily("fam-2", "user-1", kAppArn, "session-2"), std::nullopt),
      IsOk());
  // A family from a grant without a browser session.
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-3", "user-1", kAppArn, ""), std::nullopt),
              IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-1", "user-1", "session-1")), IsOk());

  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 3), IsOk());

  auto session = store_->GetSession("session-1");
  ASSERT_THAT(session, IsOk());
  EXPECT_EQ(session->revoked_at, kNow + 3);
  auto fam1 = store_->GetFamily("fam-1");
  ASSERT_THAT(fam1, IsOk());
  EXPECT_EQ(fam1->revoked_at, kNow + 3);
  for (const char* id : {"fam-2", "fam-3"}) {
    auto fam = store_->GetFamily(id);
    ASSERT_THAT(fam, IsOk());
    EXPECT_EQ(fam->revoked_at, 0) << id;
  }
  auto session2 = store_->GetSession("session-2");
  ASSERT_THAT(session2, IsOk());
  EXPECT_EQ(session2->revoked_at, 0);
  // Beyond store.h: the session's unused codes go too.
  EXPECT_THAT(store_->GetAuthorizationCode("code-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));

  // Revoking again succeeds and keeps the first revocation time.
  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 9), IsOk());
  session = store_->GetSession("session-1");
  ASSERT_THAT(session, IsOk());
  EXPECT_EQ(session->revoked_at, kNow + 3);
}

TEST_P(StoreConformanceTest, RevokeAbsentSessionIsNotFoundAndRevokesNothing) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1", "user-1", kAppArn, ""), std::nullopt),
              IsOk());
  EXPECT_THAT(store_->RevokeSession("", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("session")));
  auto fam = store_->GetFamily("fam-1");
  ASSERT_THAT(fam, IsOk());
  EXPECT_EQ(fam->revoked_at, 0);
}

// --- token exchange lineage and revoked access tokens ---

TEST_P(StoreConformanceTest, ExchangedFamilyKeepsParentAndActor) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  TokenFamily child = MakeFamily("fam-2", "user-1", kOtherAppArn);
  child.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
  child.parent_family_id = "fam-1";
  child.act_json = R"({"sub":"arn:aws:sso::1:application/a"})";
  ASSERT_THAT(store_->CreateFamily(child, MakeRefresh("rt-2", "fam-2")), IsOk());
  EXPECT_THAT(store_->GetFamily("fam-2"), IsOkAndHolds(Eq(child)));
  auto with_family = store_->GetRefreshToken("rt-2");
  ASSERT_THAT(with_family, IsOk());
  EXPECT_EQ(with_family->family, child);
}

TokenFamily ExchangedFamily(const std::string& id, const std::string& parent) {
  TokenFamily child = MakeFamily(id, "user-1", kOtherAppArn);
  child.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
  child.parent_family_id = parent;
  return child;
}

// Refused: no live family of that id is left (this backend may have written and revoked it).
void ExpectNoLiveFamily(Store& store, const std::string& id) {
  auto family = store.GetFamily(id);
  if (family.ok()) {
    EXPECT_NE(family->revoked_at, 0) << id;
  } else {
    EXPECT_EQ(family.status().code(), StatusCode::kNotFound) << id;
  }
}

TEST_P(StoreConformanceTest, RevokeFamilyRevokesEveryDescendantAndNothingElse) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  TokenFamily child = MakeFamily("fam-2", "user-1", kOtherAppArn);
  child.parent_family_id = "fam-1";
  TokenFamily grandchild = MakeFamily("fam-3", "user-1", kAppArn);
  grandchild.parent_family_id = "fam-2";
  ASSERT_THAT(store_->CreateFamily(child, std::nullopt), IsOk());
  ASSERT_THAT(store_->CreateFamily(grandchild, std::nullopt), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-4"), std::nullopt), IsOk());

  // Revoking the middle one reaches down, never up.
  ASSERT_THAT(store_->RevokeFamily("fam-2", kNow + 5), IsOk());
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, 0);
  EXPECT_EQ(store_->GetFamily("fam-2")->revoked_at, kNow + 5);
  EXPECT_EQ(store_->GetFamily("fam-3")->revoked_at, kNow + 5);

  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 9), IsOk());
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 9);
  EXPECT_EQ(store_->GetFamily("fam-2")->revoked_at, kNow + 5);  // the first revocation stays
  EXPECT_EQ(store_->GetFamily("fam-3")->revoked_at, kNow + 5);
  EXPECT_EQ(store_->GetFamily("fam-4")->revoked_at, 0);
  EXPECT_THAT(store_->RevokeFamily("fam-9", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("fam-9")));
}

TEST_P(StoreConformanceTest, RevokedAccessTokensAreRememberedUntilTheyExpire) {
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-1"), IsOkAndHolds(false));
  ASSERT_THAT(store_->RevokeAccessToken("jti-1", kNow + 100), IsOk());
  ASSERT_THAT(store_->RevokeAccessToken("jti-1", kNow + 100), IsOk());  // idempotent
  ASSERT_THAT(store_->RevokeAccessToken("jti-2", kNow + 200), IsOk());
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-1"), IsOkAndHolds(true));
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-3"), IsOkAndHolds(false));
  EXPECT_THAT(store_->RevokeAccessToken("", kNow + 100),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("token_id")));

  EXPECT_THAT(store_->PurgeExpired(kNow + 100, 100), Purged(1));
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-1"), IsOkAndHolds(false));
  EXPECT_THAT(store_->IsAccessTokenRevoked("jti-2"), IsOkAndHolds(true));
}

// --- trusted token issuers and used assertions ---

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

TEST_P(StoreConformanceTest, UsedAssertionsArePurgedAfterTheyExpire) {
  ASSERT_THAT(store_->CreateFamilyForAssertion(MakeFamily("fam-1"), std::nullopt, "assertion-1",
                                               kNow + 100),
              IsOk());
  // The family outlives the assertion: only the replay record goes.
  EXPECT_THAT(store_->PurgeExpired(kNow + 99, 100), Purged(0));
  EXPECT_THAT(store_->PurgeExpired(kNow + 100, 100), Purged(1));
  EXPECT_THAT(store_->CreateFamilyForAssertion(MakeFamily("fam-2"), std::nullopt, "assertion-1",
                                               kNow + 300),
              IsOk());
}

// --- authorization codes ---

TEST_P(StoreConformanceTest, AuthorizationCodeCreateGetAndDuplicate) {
  const AuthorizationCode code = MakeCode("code-1", "user-1");
  ASSERT_THAT(store_->CreateAuthorizationCode(code), IsOk());
  EXPECT_THAT(store_->GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(code)));
  EXPECT_THAT(store_->CreateAuthorizationCode(code),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("authorization code")));
  EXPECT_THAT(store_->GetAuthorizationCode("code-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
}

// --- token families and refresh tokens ---

TEST_P(StoreConformanceTest, CreateFamilyWithAndWithoutRefreshToken) {
  const TokenFamily with = MakeFamily("fam-1");
  const RefreshToken refresh = MakeRefresh("rt-1", "fam-1");
  TokenFamily without = MakeFamily("fam-2");
  without.grant_type = "urn:ietf:params:oauth:grant-type:jwt-bearer";
  without.session_hash = "";
  without.scopes = {};
  ASSERT_THAT(store_->CreateFamily(with, refresh), IsOk());
  ASSERT_THAT(store_->CreateFamily(without, std::nullopt), IsOk());
  EXPECT_THAT(store_->GetFamily("fam-1"), IsOkAndHolds(Eq(with)));
  EXPECT_THAT(store_->GetFamily("fam-2"), IsOkAndHolds(Eq(without)));
  auto stored = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->token, refresh);
  EXPECT_EQ(stored->family, with);
}

TEST_P(StoreConformanceTest, CreateFamilyDuplicateIsAlreadyExists) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  EXPECT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("fam-1")));
  EXPECT_THAT(store_->GetRefreshToken("rt-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

TEST_P(StoreConformanceTest, CreateFamilyWithDuplicateRefreshTokenCreatesNothing) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  EXPECT_THAT(store_->CreateFamily(MakeFamily("fam-2"), MakeRefresh("rt-1", "fam-2")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
}

TEST_P(StoreConformanceTest, FamilyAndRefreshTokenAbsentAreNotFound) {
  EXPECT_THAT(store_->GetFamily("fam-9"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-9")));
  EXPECT_THAT(store_->RevokeFamily("fam-9", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("fam-9")));
  EXPECT_THAT(store_->GetRefreshToken("rt-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

TEST_P(StoreConformanceTest, RevokeFamilyIsIdempotent) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 1), IsOk());
  ASSERT_THAT(store_->RevokeFamily("fam-1", kNow + 2), IsOk());
  auto fam = store_->GetFamily("fam-1");
  ASSERT_THAT(fam, IsOk());
  EXPECT_EQ(fam->revoked_at, kNow + 1);
}

TEST_P(StoreConformanceTest, RotateChainsThroughSuccessors) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  for (int i = 1; i <= 5; ++i) {
    EXPECT_THAT(store_->RotateRefreshToken("rt-" + std::to_string(i - 1), kNow + i,
                                           MakeRefresh("rt-" + std::to_string(i), "fam-1")),
                IsOkAndHolds(RotateOutcome::kRotated));
  }
  auto last = store_->GetRefreshToken("rt-5");
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ(last->token.rotated_at, 0);
}

// --- the token endpoint's writes, blocking and asynchronous ---
//
// Each of these writes has an asynchronous twin for the server's io threads. Every scenario below
// runs twice: `Name` through the blocking call and `NameAsync` through its twin, waited for, and
// both must answer and change the same.

// One asynchronous write that `start` begins with the completion it is given, waited for. A later
// asynchronous rotation's completion (here of an unknown token, which changes nothing) comes after
// every earlier one's, so once it is in, a second call of the first `done` would have happened:
// a `done` not called exactly once turns the result into Internal.
StatusOr<RotateOutcome> AwaitWithFence(Store& store, int64_t now,
                                       const std::function<void(Store::RotateDone)>& start) {
  auto c = std::make_shared<Completions>(2);
  start(RecordInto(c, 0));
  {
    std::unique_lock<std::mutex> lock(c->mu);
    if (!c->cv.wait_for(lock, kAsyncTimeout, [&] { return c->calls[0] > 0; })) {
      return InternalError("done was not called within the timeout");
    }
  }
  store.RotateRefreshTokenAsync("rt-fence", now, MakeRefresh("rt-fence-next", "fam-fence"),
                                RecordInto(c, 1));
  if (!AwaitAll(*c)) return InternalError("the fence's done was not called within the timeout");
  std::lock_guard<std::mutex> lock(c->mu);
  if (c->results[1].status().code() != StatusCode::kNotFound) {
    return InternalError("the fence rotation did not answer NotFound");
  }
  if (c->calls[0] != 1 || c->calls[1] != 1) {
    return InternalError("done was called " + std::to_string(c->calls[0]) + " times");
  }
  return std::move(c->results[0]);
}

// One RotateRefreshTokenAsync, waited for (AwaitWithFence).
StatusOr<RotateOutcome> RotateAsync(Store& store, const std::string& old_hash, int64_t now,
                                    const RefreshToken& successor) {
  return AwaitWithFence(store, now, [&](Store::RotateDone done) {
    store.RotateRefreshTokenAsync(old_hash, now, successor, std::move(done));
  });
}

// One CheckAndRotateRefreshTokenAsync whose check accepts `successor` for the token it was
// asked for (and fails with Internal if handed another row), waited for (AwaitWithFence).
StatusOr<RotateOutcome> RotateCheckedAsync(Store& store, const std::string& old_hash, int64_t now,
                                           const RefreshToken& successor) {
  return AwaitWithFence(store, now, [&](Store::RotateDone done) {
    store.CheckAndRotateRefreshTokenAsync(
        old_hash, now,
        [old_hash, successor](const RefreshTokenWithFamily& read) -> StatusOr<RefreshToken> {
          if (read.token.token_hash != old_hash || read.family.family_id != read.token.family_id) {
            return InternalError("the check was handed another row");
          }
          return successor;
        },
        std::move(done));
  });
}

// One CreateFamilyForAssertionAsync, waited for (AwaitWithFence).
Status CreateFamilyForAssertionAsync(Store& store, const TokenFamily& family,
                                     const std::optional<RefreshToken>& first_refresh,
                                     const std::string& assertion_id, int64_t expires_at) {
  StatusOr<RotateOutcome> outcome = AwaitWithFence(store, kNow, [&](Store::RotateDone done) {
    store.CreateFamilyForAssertionAsync(family, first_refresh, assertion_id, expires_at,
                                        [done = std::move(done)](Status created) {
                                          // The completions record outcomes; kRotated stands for OK
                                          // here.
                                          if (created.ok()) return done(RotateOutcome::kRotated);
                                          done(std::move(created));
                                        });
  });
  return outcome.status();
}

// One RedeemAuthorizationCodeAsync, waited for (AwaitWithFence).
StatusOr<RedeemOutcome> RedeemAsync(Store& store, const std::string& code_hash, int64_t now,
                                    const TokenFamily& family,
                                    const std::optional<RefreshToken>& first_refresh) {
  // Written before `done` runs and read after AwaitWithFence saw it run (under its mutex).
  auto outcome = std::make_shared<std::optional<RedeemOutcome>>();
  StatusOr<RotateOutcome> fenced = AwaitWithFence(store, kNow, [&](Store::RotateDone done) {
    store.RedeemAuthorizationCodeAsync(
        code_hash, now, family, first_refresh,
        [outcome, done = std::move(done)](StatusOr<RedeemOutcome> redeemed) {
          if (!redeemed.ok()) return done(redeemed.status());
          *outcome = *redeemed;
          done(RotateOutcome::kRotated);  // the completions record outcomes: stands for OK
        });
  });
  if (!fenced.ok()) return fenced.status();
  return **outcome;
}

// One CreateExchangedFamilyAsync, waited for (AwaitWithFence).
Status CreateExchangedFamilyAsync(Store& store, const TokenFamily& family,
                                  const std::optional<RefreshToken>& first_refresh) {
  StatusOr<RotateOutcome> outcome = AwaitWithFence(store, kNow, [&](Store::RotateDone done) {
    store.CreateExchangedFamilyAsync(family, first_refresh,
                                     [done = std::move(done)](Status created) {
                                       if (created.ok()) return done(RotateOutcome::kRotated);
                                       done(std::move(created));
                                     });
  });
  return outcome.status();
}

// The four writes, made one way or the other.
struct WriteCalls {
  std::function<StatusOr<RotateOutcome>(Store&, const std::string&, int64_t, const RefreshToken&)>
      rotate;
  std::function<StatusOr<RedeemOutcome>(Store&, const std::string&, int64_t, const TokenFamily&,
                                        const std::optional<RefreshToken>&)>
      redeem;
  std::function<Status(Store&, const TokenFamily&, const std::optional<RefreshToken>&,
                       const std::string&, int64_t)>
      create_for_assertion;
  std::function<Status(Store&, const TokenFamily&, const std::optional<RefreshToken>&)>
      create_exchanged;
};

WriteCalls BlockingCalls() {
  return {[](Store& s, const std::string& old_hash, int64_t now, const RefreshToken& successor) {
            return s.RotateRefreshToken(old_hash, now, successor);
          },
          [](Store& s, const std::string& code_hash, int64_t now, const TokenFamily& family,
             const std::optional<RefreshToken>& refresh) {
            return s.RedeemAuthorizationCode(code_hash, now, family, refresh);
          },
          [](Store& s, const TokenFamily& family, const std::optional<RefreshToken>& refresh,
             const std::string& assertion_id, int64_t expires_at) {
            return s.CreateFamilyForAssertion(family, refresh, assertion_id, expires_at);
          },
          [](Store& s, const TokenFamily& family, const std::optional<RefreshToken>& refresh) {
            return s.CreateExchangedFamily(family, refresh);
          }};
}

WriteCalls AsyncCalls() {
  return {RotateAsync, RedeemAsync, CreateFamilyForAssertionAsync, CreateExchangedFamilyAsync};
}

// The asynchronous calls, with rotations through CheckAndRotateRefreshTokenAsync.
WriteCalls CheckedCalls() {
  WriteCalls calls = AsyncCalls();
  calls.rotate = RotateCheckedAsync;
  return calls;
}

// Defines the tests `Name` and `NameAsync` from the scenario function `Name`.
#define TS_BLOCKING_AND_ASYNC(Name)                                      \
  TEST_P(StoreConformanceTest, Name) { Name(*store_, BlockingCalls()); } \
  TEST_P(StoreConformanceTest, Name##Async) { Name(*store_, AsyncCalls()); }
// And `NameCheckedAsync`, for the rotation scenarios.
#define TS_BLOCKING_ASYNC_AND_CHECKED(Name) \
  TS_BLOCKING_AND_ASYNC(Name)               \
  TEST_P(StoreConformanceTest, Name##CheckedAsync) { Name(*store_, CheckedCalls()); }

void RotateMarksOldAndStoresSuccessor(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  RefreshToken successor = MakeRefresh("rt-2", "fam-1");
  successor.scopes = {"openid"};  // downscoped
  successor.created_at = kNow + 60;
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, successor),
              IsOkAndHolds(RotateOutcome::kRotated));

  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 60);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  auto stored = store.GetRefreshToken("rt-2");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->token, successor);
  EXPECT_EQ(stored->family, MakeFamily("fam-1"));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateMarksOldAndStoresSuccessor)

void RotateAgainIsAlreadyRotatedAndChangesNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 70, MakeRefresh("rt-3", "fam-1")),
              IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  // The blocking call agrees.
  EXPECT_THAT(store.RotateRefreshToken("rt-1", kNow + 80, MakeRefresh("rt-4", "fam-1")),
              IsOkAndHolds(RotateOutcome::kAlreadyRotated));

  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 60);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  EXPECT_EQ(old->family.revoked_at, 0);  // the reuse policy is the caller's
  EXPECT_THAT(store.GetRefreshToken("rt-3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  auto successor = store.GetRefreshToken("rt-2");
  ASSERT_THAT(successor, IsOk());
  EXPECT_EQ(successor->token.rotated_at, 0);
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateAgainIsAlreadyRotatedAndChangesNothing)

void RotateInRevokedFamilyIsFamilyRevoked(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(store.RevokeFamily("fam-1", kNow + 1), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kFamilyRevoked));
  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->family.revoked_at, kNow + 1);
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateInRevokedFamilyIsFamilyRevoked)

void RotateUnknownTokenIsNotFound(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-9", kNow, MakeRefresh("rt-2", "fam-1")),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateUnknownTokenIsNotFound)

void RotateIntoAnotherFamilyIsInvalidArgument(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-2"), MakeRefresh("rt-other", "fam-2")), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-2", "fam-2")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("fam-2")));
  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->token.successor_hash, "");
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_ASYNC_AND_CHECKED(RotateIntoAnotherFamilyIsInvalidArgument)

void RotateIsAllOrNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-2"), MakeRefresh("rt-taken", "fam-2")), IsOk());
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 60, MakeRefresh("rt-taken", "fam-1")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  auto old = store.GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->token.successor_hash, "");
  auto taken = store.GetRefreshToken("rt-taken");
  ASSERT_THAT(taken, IsOk());
  EXPECT_EQ(taken->token.family_id, "fam-2");
  // Nothing was left half done: the token still rotates.
  EXPECT_THAT(call.rotate(store, "rt-1", kNow + 61, MakeRefresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kRotated));
}
TS_BLOCKING_AND_ASYNC(RotateIsAllOrNothing)

void RedeemFirstUseCreatesFamilyAndRefreshToken(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  const TokenFamily family = MakeFamily("fam-1");
  const RefreshToken refresh = MakeRefresh("rt-1", "fam-1");
  EXPECT_THAT(call.redeem(store, "code-1", kNow + 1, family, refresh),
              IsOkAndHolds(RedeemOutcome::kRedeemed));

  auto code = store.GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(code->consumed_at, kNow + 1);
  EXPECT_EQ(code->family_id, "fam-1");
  EXPECT_THAT(store.GetFamily("fam-1"), IsOkAndHolds(Eq(family)));
  auto stored = store.GetRefreshToken("rt-1");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->token, refresh);
  EXPECT_EQ(stored->family, family);
}
TS_BLOCKING_AND_ASYNC(RedeemFirstUseCreatesFamilyAndRefreshToken)

void RedeemWithoutRefreshTokenCreatesOnlyTheFamily(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  EXPECT_THAT(call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), std::nullopt),
              IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_THAT(store.GetFamily("fam-1"), IsOkAndHolds(Eq(MakeFamily("fam-1"))));
}
TS_BLOCKING_AND_ASYNC(RedeemWithoutRefreshTokenCreatesOnlyTheFamily)

void RedeemSecondUseRevokesTheFirstFamily(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  ASSERT_THAT(
      call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")),
      IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_THAT(
      call.redeem(store, "code-1", kNow + 2, MakeFamily("fam-2"), MakeRefresh("rt-2", "fam-2")),
      IsOkAndHolds(RedeemOutcome::kAlreadyRedeemed));

  auto fam1 = store.GetFamily("fam-1");
  ASSERT_THAT(fam1, IsOk());
  EXPECT_EQ(fam1->revoked_at, kNow + 2);
  EXPECT_THAT(store.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
  EXPECT_THAT(store.GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  auto code = store.GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(code->consumed_at, kNow + 1);
  EXPECT_EQ(code->family_id, "fam-1");
}
TS_BLOCKING_AND_ASYNC(RedeemSecondUseRevokesTheFirstFamily)

void RedeemExpiredCodeChangesNothing(Store& store, const WriteCalls& call) {
  const AuthorizationCode original = MakeCode("code-1", "user-1");
  ASSERT_THAT(store.CreateAuthorizationCode(original), IsOk());
  // Valid while now < expires_at: at expires_at it has expired.
  EXPECT_THAT(call.redeem(store, "code-1", original.expires_at, MakeFamily("fam-1"),
                          MakeRefresh("rt-1", "fam-1")),
              IsOkAndHolds(RedeemOutcome::kExpired));
  EXPECT_THAT(store.GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(original)));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  EXPECT_THAT(store.GetRefreshToken("rt-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}
TS_BLOCKING_AND_ASYNC(RedeemExpiredCodeChangesNothing)

void RedeemUnknownCodeIsNotFound(Store& store, const WriteCalls& call) {
  EXPECT_THAT(call.redeem(store, "code-9", kNow, MakeFamily("fam-1"), std::nullopt),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
}
TS_BLOCKING_AND_ASYNC(RedeemUnknownCodeIsNotFound)

void RedeemAtTimeZeroIsInvalidArgument(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  EXPECT_THAT(call.redeem(store, "code-1", 0, MakeFamily("fam-1"), std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("now")));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
}
TS_BLOCKING_AND_ASYNC(RedeemAtTimeZeroIsInvalidArgument)

void RedeemIsAllOrNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-0"), MakeRefresh("rt-taken", "fam-0")), IsOk());
  // The refresh token hash collides: the whole redemption is undone.
  EXPECT_THAT(
      call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), MakeRefresh("rt-taken", "fam-1")),
      StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  EXPECT_THAT(store.GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(MakeCode("code-1", "user-1"))));
  EXPECT_THAT(store.GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  // Afterwards the code still redeems.
  EXPECT_THAT(call.redeem(store, "code-1", kNow + 1, MakeFamily("fam-1"), std::nullopt),
              IsOkAndHolds(RedeemOutcome::kRedeemed));
}
TS_BLOCKING_AND_ASYNC(RedeemIsAllOrNothing)

void CreateFamilyForAssertionRefusesReplayAndWritesNothing(Store& store, const WriteCalls& call) {
  ASSERT_THAT(call.create_for_assertion(store, MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1"),
                                        "assertion-1", kNow + 100),
              IsOk());
  EXPECT_THAT(store.GetFamily("fam-1"), IsOkAndHolds(Eq(MakeFamily("fam-1"))));
  auto first = store.GetRefreshToken("rt-1");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->token, MakeRefresh("rt-1", "fam-1"));
  // Replayed, either way: refused, and nothing of the second family is written.
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-2"), MakeRefresh("rt-2", "fam-2"),
                                        "assertion-1", kNow + 100),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion has already been used")));
  EXPECT_THAT(store.CreateFamilyForAssertion(MakeFamily("fam-2"), MakeRefresh("rt-2", "fam-2"),
                                             "assertion-1", kNow + 100),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion has already been used")));
  EXPECT_THAT(store.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(store.GetRefreshToken("rt-2"), StatusIs(StatusCode::kNotFound, ::testing::_));
  // A family without a refresh token, and the argument checks.
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-3"), std::nullopt, "assertion-3",
                                        kNow + 100),
              IsOk());
  EXPECT_THAT(store.GetFamily("fam-3"), IsOk());
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-4"), std::nullopt, "", kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("assertion_id")));
  EXPECT_THAT(store.GetFamily("fam-4"), StatusIs(StatusCode::kNotFound, ::testing::_));
  // An existing family id: the whole transaction is refused, the replay record included.
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-1"), std::nullopt, "assertion-5",
                                        kNow + 100),
              StatusIs(StatusCode::kAlreadyExists, ::testing::_));
  EXPECT_THAT(call.create_for_assertion(store, MakeFamily("fam-5"), std::nullopt, "assertion-5",
                                        kNow + 100),
              IsOk());
}
TS_BLOCKING_AND_ASYNC(CreateFamilyForAssertionRefusesReplayAndWritesNothing)

void ExchangedFamilyIsWrittenOnlyUnderALiveParent(Store& store, const WriteCalls& call) {
  ASSERT_THAT(store.CreateFamily(MakeFamily("fam-1"), std::nullopt), IsOk());
  const TokenFamily child = ExchangedFamily("fam-2", "fam-1");
  ASSERT_THAT(call.create_exchanged(store, child, MakeRefresh("rt-2", "fam-2")), IsOk());
  EXPECT_THAT(store.GetFamily("fam-2"), IsOkAndHolds(Eq(child)));
  EXPECT_THAT(store.GetRefreshToken("rt-2"), IsOk());
  // An existing family id: refused as CreateFamily refuses it.
  EXPECT_THAT(call.create_exchanged(store, child, std::nullopt),
              StatusIs(StatusCode::kAlreadyExists, ::testing::_));

  ASSERT_THAT(store.RevokeFamily("fam-1", kNow + 5), IsOk());
  EXPECT_THAT(
      call.create_exchanged(store, ExchangedFamily("fam-3", "fam-1"), MakeRefresh("rt-3", "fam-3")),
      StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  ExpectNoLiveFamily(store, "fam-3");
  EXPECT_THAT(call.create_exchanged(store, ExchangedFamily("fam-4", "fam-unknown"), std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  ExpectNoLiveFamily(store, "fam-4");
  EXPECT_THAT(call.create_exchanged(store, MakeFamily("fam-5"), std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("parent_family_id")));
  EXPECT_THAT(store.GetFamily("fam-5"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-5")));
}
TS_BLOCKING_AND_ASYNC(ExchangedFamilyIsWrittenOnlyUnderALiveParent)

#undef TS_BLOCKING_AND_ASYNC

// --- housekeeping ---

TEST_P(StoreConformanceTest, PurgeExpiredRemovesOnlyExpiredRows) {
  const int64_t now = kNow + 1000;
  AuthorizationCode old_code = MakeCode("code-old", "user-1");
  old_code.expires_at = now - 1;
  AuthorizationCode live_code = MakeCode("code-live", "user-1");
  live_code.expires_at = now + 1;
  ASSERT_THAT(store_->CreateAuthorizationCode(old_code), IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(live_code), IsOk());
  SignInSession old_session = MakeSession("session-old", "user-1");
  old_session.expires_at = now;  // expired at `now` exactly
  SignInSession live_session = MakeSession("session-live", "user-1");
  live_session.expires_at = now + 1;
  ASSERT_THAT(store_->CreateSession(old_session), IsOk());
  ASSERT_THAT(store_->CreateSession(live_session), IsOk());
  TokenFamily old_family = MakeFamily("fam-old");
  old_family.expires_at = now - 10;
  RefreshToken old_family_token = MakeRefresh("rt-old-family", "fam-old");
  old_family_token.expires_at = now - 10;
  ASSERT_THAT(store_->CreateFamily(old_family, old_family_token), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-live"), MakeRefresh("rt-live", "fam-live")),
              IsOk());
  RefreshToken old_token = MakeRefresh("rt-old", "fam-live");
  old_token.expires_at = now - 1;
  ASSERT_THAT(store_->RotateRefreshToken("rt-live", kNow + 1, old_token),
              IsOkAndHolds(RotateOutcome::kRotated));

  // Gone: code-old, session-old, rt-old-family, rt-old, fam-old.
  EXPECT_THAT(store_->PurgeExpired(now, 100), Purged(5));

  EXPECT_THAT(store_->GetAuthorizationCode("code-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  EXPECT_THAT(store_->GetAuthorizationCode("code-live"), IsOk());
  EXPECT_THAT(store_->GetSession("session-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("session")));
  EXPECT_THAT(store_->GetSession("session-live"), IsOk());
  EXPECT_THAT(store_->GetFamily("fam-old"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-old")));
  EXPECT_THAT(store_->GetRefreshToken("rt-old-family"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetRefreshToken("rt-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetFamily("fam-live"), IsOk());
  EXPECT_THAT(store_->GetRefreshToken("rt-live"), IsOk());

  EXPECT_THAT(store_->PurgeExpired(now, 100), Purged(0));
}

TEST_P(StoreConformanceTest, PurgeExpiredRespectsBatchSize) {
  for (int i = 0; i < 5; ++i) {
    AuthorizationCode code = MakeCode("code-" + std::to_string(i), "user-1");
    code.expires_at = kNow;
    ASSERT_THAT(store_->CreateAuthorizationCode(code), IsOk());
  }
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(1));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 2), Purged(0));
}

TEST_P(StoreConformanceTest, PurgeExpiredBatchSpansKinds) {
  AuthorizationCode code = MakeCode("code-1", "user-1");
  code.expires_at = kNow;
  ASSERT_THAT(store_->CreateAuthorizationCode(code), IsOk());
  SignInSession session = MakeSession("session-1", "user-1");
  session.expires_at = kNow;
  ASSERT_THAT(store_->CreateSession(session), IsOk());
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 1), Purged(1, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 1), Purged(1, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(kNow + 1, 1), Purged(0));
}

// Purges in calls of `batch` until one says it has finished (at most 100 calls); the rows
// deleted, or -1 if a call failed or it never finished.
int64_t PurgeUntilFinished(Store& store, int64_t now, int batch) {
  int64_t deleted = 0;
  for (int call = 0; call < 100; ++call) {
    auto purged = store.PurgeExpired(now, batch);
    if (!purged.ok()) return -1;
    deleted += purged->deleted;
    if (purged->finished) return deleted;
  }
  return -1;
}

TEST_P(StoreConformanceTest, PurgeInSmallBatchesTakesEveryExpiredRefreshTokenAndNoLiveOne) {
  // One live family whose chain holds six rotated tokens that expired and three that did not,
  // interleaved, so a sweep in small stretches meets both kinds in every stretch.
  const int64_t now = kNow + 1000;
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  std::vector<std::string> live = {"rt-0"};
  std::vector<std::string> expired;
  for (int i = 1; i <= 9; ++i) {
    RefreshToken next = MakeRefresh("rt-" + std::to_string(i), "fam-1");
    const bool expires = i % 3 != 0;
    next.expires_at = expires ? now - i : now + 1;
    ASSERT_THAT(store_->RotateRefreshToken("rt-" + std::to_string(i - 1), kNow + i, next),
                IsOkAndHolds(RotateOutcome::kRotated));
    (expires ? expired : live).push_back(next.token_hash);
  }

  EXPECT_EQ(PurgeUntilFinished(*store_, now, 2), static_cast<int64_t>(expired.size()));
  for (const std::string& hash : expired) {
    EXPECT_THAT(store_->GetRefreshToken(hash),
                StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")))
        << hash;
  }
  for (const std::string& hash : live) EXPECT_THAT(store_->GetRefreshToken(hash), IsOk()) << hash;
  EXPECT_EQ(PurgeUntilFinished(*store_, now, 2), 0);
}

TEST_P(StoreConformanceTest, PurgingAFamilyTakesTheTokensThatWouldOutliveIt) {
  // The token service never mints a token that outlives its family, but the store does not rely
  // on it: once the family is purged, so is the token (PostgreSQL by cascade, SQLite by its
  // sweep: SqliteStoreTest checks the row, which GetRefreshToken's join with the family hides).
  const int64_t now = kNow + 1000;
  TokenFamily family = MakeFamily("fam-old");
  family.expires_at = now - 10;
  RefreshToken token = MakeRefresh("rt-outliving", "fam-old");
  token.expires_at = now + 1000;
  ASSERT_THAT(store_->CreateFamily(family, token), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-live"), MakeRefresh("rt-live", "fam-live")),
              IsOk());

  EXPECT_GE(PurgeUntilFinished(*store_, now, 100), 1);
  EXPECT_THAT(store_->GetFamily("fam-old"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-old")));
  EXPECT_THAT(store_->GetRefreshToken("rt-outliving"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(store_->GetRefreshToken("rt-live"), IsOk());
}

// --- concurrency: compare-and-set settled by the backend ---

constexpr int kThreads = 16;

TEST_P(StoreConformanceTest, ConcurrentRedeemHasExactlyOneWinner) {
  ASSERT_THAT(store_->CreateAuthorizationCode(MakeCode("code-1", "user-1")), IsOk());
  std::vector<StatusOr<RedeemOutcome>> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    const std::string family_id = "fam-" + std::to_string(i);
    results[i] = store_->RedeemAuthorizationCode("code-1", kNow + 1, MakeFamily(family_id),
                                                 MakeRefresh("rt-" + std::to_string(i), family_id));
  });

  int redeemed = 0;
  int already = 0;
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    if (*result == RedeemOutcome::kRedeemed) ++redeemed;
    if (*result == RedeemOutcome::kAlreadyRedeemed) ++already;
  }
  EXPECT_EQ(redeemed, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto code = store_->GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  // The losers' reuse revoked the winner's family.
  auto family = store_->GetFamily(code->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_NE(family->revoked_at, 0);
  int families = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (store_->GetFamily("fam-" + std::to_string(i)).ok()) ++families;
  }
  EXPECT_EQ(families, 1);
}

TEST_P(StoreConformanceTest, ConcurrentRotateHasExactlyOneWinner) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  std::vector<StatusOr<RotateOutcome>> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    results[i] = store_->RotateRefreshToken("rt-0", kNow + 1,
                                            MakeRefresh("rt-next-" + std::to_string(i), "fam-1"));
  });

  int rotated = 0;
  int already = 0;
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    if (*result == RotateOutcome::kRotated) ++rotated;
    if (*result == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto old = store_->GetRefreshToken("rt-0");
  ASSERT_THAT(old, IsOk());
  int successors = 0;
  for (int i = 0; i < kThreads; ++i) {
    const std::string hash = "rt-next-" + std::to_string(i);
    if (store_->GetRefreshToken(hash).ok()) {
      ++successors;
      EXPECT_EQ(old->token.successor_hash, hash);
    }
  }
  EXPECT_EQ(successors, 1);
}

// Many asynchronous rotations of distinct tokens, issued from several threads without waiting:
// every completion comes, once, with kRotated, and every rotation is stored.
TEST_P(StoreConformanceTest, ConcurrentAsyncRotationsOfDistinctTokensAllComplete) {
  constexpr int kIssuers = 8;
  constexpr int kPerIssuer = 16;
  constexpr size_t kTotal = kIssuers * kPerIssuer;
  for (size_t i = 0; i < kTotal; ++i) {
    const std::string family_id = "fam-" + std::to_string(i);
    ASSERT_THAT(store_->CreateFamily(MakeFamily(family_id),
                                     MakeRefresh("rt-" + std::to_string(i), family_id)),
                IsOk());
  }
  auto completions = std::make_shared<Completions>(kTotal);
  RunConcurrently(kIssuers, [&](int t) {
    for (int k = 0; k < kPerIssuer; ++k) {
      const size_t i = static_cast<size_t>(t * kPerIssuer + k);
      store_->RotateRefreshTokenAsync(
          "rt-" + std::to_string(i), kNow + 1,
          MakeRefresh("rt-next-" + std::to_string(i), "fam-" + std::to_string(i)),
          RecordInto(completions, i));
    }
  });
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";
  // A later rotation's completion: any second call of an earlier `done` has happened by now.
  EXPECT_THAT(RotateAsync(*store_, "rt-none", kNow + 2, MakeRefresh("rt-none-next", "fam-0")),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));

  std::lock_guard<std::mutex> lock(completions->mu);
  for (size_t i = 0; i < kTotal; ++i) {
    EXPECT_EQ(completions->calls[i], 1) << i;
    EXPECT_THAT(completions->results[i], IsOkAndHolds(RotateOutcome::kRotated)) << i;
    auto old = store_->GetRefreshToken("rt-" + std::to_string(i));
    ASSERT_THAT(old, IsOk()) << i;
    EXPECT_EQ(old->token.rotated_at, kNow + 1) << i;
    EXPECT_EQ(old->token.successor_hash, "rt-next-" + std::to_string(i)) << i;
    EXPECT_THAT(store_->GetRefreshToken("rt-next-" + std::to_string(i)), IsOk()) << i;
  }
}

// The compare-and-set holds for asynchronous rotations too: one winner, the rest kAlreadyRotated.
TEST_P(StoreConformanceTest, ConcurrentAsyncRotateOfOneTokenHasExactlyOneWinner) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  auto completions = std::make_shared<Completions>(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    store_->RotateRefreshTokenAsync("rt-0", kNow + 1,
                                    MakeRefresh("rt-next-" + std::to_string(i), "fam-1"),
                                    RecordInto(completions, static_cast<size_t>(i)));
  });
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";
  EXPECT_THAT(RotateAsync(*store_, "rt-none", kNow + 2, MakeRefresh("rt-none-next", "fam-1")),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));

  std::lock_guard<std::mutex> lock(completions->mu);
  int rotated = 0;
  int already = 0;
  std::string winner;
  for (int i = 0; i < kThreads; ++i) {
    const auto& result = completions->results[static_cast<size_t>(i)];
    EXPECT_EQ(completions->calls[static_cast<size_t>(i)], 1) << i;
    ASSERT_THAT(result, IsOk()) << i;
    if (*result == RotateOutcome::kRotated) {
      ++rotated;
      winner = "rt-next-" + std::to_string(i);
    }
    if (*result == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto old = store_->GetRefreshToken("rt-0");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.successor_hash, winner);
  for (int i = 0; i < kThreads; ++i) {
    const std::string hash = "rt-next-" + std::to_string(i);
    if (hash == winner) {
      EXPECT_THAT(store_->GetRefreshToken(hash), IsOk());
    } else {
      EXPECT_THAT(store_->GetRefreshToken(hash),
                  StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")))
          << hash;
    }
  }
}

// One CheckAndRotateRefreshTokenAsync, waited for: its outcome, and the rows its check was
// handed (the check answers with `verdict` for each).
struct CheckedCall {
  StatusOr<RotateOutcome> result = InternalError("done was not called");
  std::vector<RefreshTokenWithFamily> checked;
};
CheckedCall CheckAndRotate(Store& store, const std::string& old_hash, int64_t now,
                           const StatusOr<RefreshToken>& verdict) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    CheckedCall call;
  };
  auto shared = std::make_shared<Shared>();
  store.CheckAndRotateRefreshTokenAsync(
      old_hash, now,
      [shared, verdict](const RefreshTokenWithFamily& read) {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->call.checked.push_back(read);
        return verdict;
      },
      [shared](StatusOr<RotateOutcome> result) {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (shared->calls++ == 0) shared->call.result = std::move(result);
        shared->cv.notify_all();
      });
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->cv.wait_for(lock, kAsyncTimeout, [&] { return shared->calls > 0; })) {
    return CheckedCall{};
  }
  return shared->call;
}

TEST_P(StoreConformanceTest, CheckedRotationHandsTheCheckTheStoredRows) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  CheckedCall call = CheckAndRotate(*store_, "rt-1", kNow + 5, MakeRefresh("rt-2", "fam-1"));
  EXPECT_THAT(call.result, IsOkAndHolds(RotateOutcome::kRotated));
  ASSERT_EQ(call.checked.size(), 1u);
  EXPECT_EQ(call.checked[0].token, MakeRefresh("rt-1", "fam-1"));  // as it was, not rotated
  EXPECT_EQ(call.checked[0].family, MakeFamily("fam-1"));
  auto old = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 5);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  EXPECT_THAT(store_->GetRefreshToken("rt-2"), IsOk());

  // A token rotated before is checked too (the caller needs the row for its reuse policy) and
  // not rotated again.
  CheckedCall again = CheckAndRotate(*store_, "rt-1", kNow + 6, MakeRefresh("rt-3", "fam-1"));
  EXPECT_THAT(again.result, IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  ASSERT_EQ(again.checked.size(), 1u);
  EXPECT_EQ(again.checked[0].token.successor_hash, "rt-2");
  EXPECT_THAT(store_->GetRefreshToken("rt-3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

// A refresh token is read with whether its family's user may still use the family's
// application: assigned directly or through a group, to that application and no other.
TEST_P(StoreConformanceTest, RefreshTokenIsReadWithItsUsersAssignment) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  ASSERT_THAT(store_->CreateGroup(MakeGroup("group-1", "admins")), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kAppArn)), IsOk());
  ASSERT_THAT(store_->PutApplication(MakeApp(kOtherAppArn)), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  auto assigned = [&] {
    auto read = store_->GetRefreshToken("rt-1");
    EXPECT_THAT(read, IsOk());
    return read.ok() && read->user_assigned;
  };
  EXPECT_FALSE(assigned());
  ASSERT_THAT(store_->PutAssignment(kOtherAppArn, "user-1", "USER"), IsOk());
  EXPECT_FALSE(assigned()) << "an assignment to another application counts";
  ASSERT_THAT(store_->PutAssignment(kAppArn, "user-1", "USER"), IsOk());
  EXPECT_TRUE(assigned());
  ASSERT_THAT(store_->DeleteAssignment(kAppArn, "user-1"), IsOk());
  EXPECT_FALSE(assigned());
  ASSERT_THAT(store_->PutAssignment(kAppArn, "group-1", "GROUP"), IsOk());
  EXPECT_FALSE(assigned()) << "a group the user is not a member of counts";
  ASSERT_THAT(store_->CreateGroupMembership(MakeMembership("m-1", "group-1", "user-1")), IsOk());
  EXPECT_TRUE(assigned());

  // The checked rotation hands its check the same answer.
  CheckedCall call = CheckAndRotate(*store_, "rt-1", kNow + 5, MakeRefresh("rt-2", "fam-1"));
  ASSERT_EQ(call.checked.size(), 1u);
  EXPECT_TRUE(call.checked[0].user_assigned);
  ASSERT_THAT(store_->DeleteGroupMembership("m-1"), IsOk());
  CheckedCall refused = CheckAndRotate(*store_, "rt-2", kNow + 6, MakeRefresh("rt-3", "fam-1"));
  ASSERT_EQ(refused.checked.size(), 1u);
  EXPECT_FALSE(refused.checked[0].user_assigned);
}

TEST_P(StoreConformanceTest, CheckedRotationRefusedByItsCheckChangesNothing) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-1", "fam-1")), IsOk());
  CheckedCall call = CheckAndRotate(*store_, "rt-1", kNow + 5,
                                    PermissionDeniedError("refused by the grant's check"));
  EXPECT_THAT(call.result, StatusIs(StatusCode::kPermissionDenied, HasSubstr("grant's check")));
  EXPECT_EQ(call.checked.size(), 1u);
  auto old = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  EXPECT_EQ(old->token.successor_hash, "");

  // An unknown token is NotFound, and its check is never called.
  CheckedCall unknown = CheckAndRotate(*store_, "rt-9", kNow + 5, MakeRefresh("rt-2", "fam-1"));
  EXPECT_THAT(unknown.result, StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_TRUE(unknown.checked.empty());
  EXPECT_THAT(store_->GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

// The read and the compare-and-set are one step: of concurrent checked rotations of one token,
// one rotates and every other reads it rotated.
TEST_P(StoreConformanceTest, ConcurrentCheckedRotationsOfOneTokenHaveExactlyOneWinner) {
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-1"), MakeRefresh("rt-0", "fam-1")), IsOk());
  std::vector<CheckedCall> calls(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    calls[static_cast<size_t>(i)] = CheckAndRotate(
        *store_, "rt-0", kNow + 1, MakeRefresh("rt-next-" + std::to_string(i), "fam-1"));
  });
  int rotated = 0;
  int already = 0;
  std::string winner;
  for (int i = 0; i < kThreads; ++i) {
    const CheckedCall& call = calls[static_cast<size_t>(i)];
    ASSERT_THAT(call.result, IsOk()) << i;
    if (*call.result == RotateOutcome::kRotated) {
      ++rotated;
      winner = "rt-next-" + std::to_string(i);
    }
    if (*call.result == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto old = store_->GetRefreshToken("rt-0");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.successor_hash, winner);
}

// --- coordination between nodes ---

TEST_P(StoreConformanceTest, CreateMetaKeepsTheFirstValue) {
  ASSERT_THAT(store_->CreateMeta("check", "first"), IsOk());
  EXPECT_THAT(store_->CreateMeta("check", "second"),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("check")));
  EXPECT_THAT(store_->GetMeta("check"), IsOkAndHolds(std::string("first")));
}

TEST_P(StoreConformanceTest, ConcurrentCreateMetaHasOneWinner) {
  std::vector<Status> results(kThreads);
  RunConcurrently(kThreads, [&](int i) {
    results[i] = store_->CreateMeta("check", "value-" + std::to_string(i));
  });
  int created = 0;
  for (const Status& s : results) {
    if (s.ok()) {
      ++created;
    } else {
      EXPECT_THAT(s, StatusIs(StatusCode::kAlreadyExists, HasSubstr("check")));
    }
  }
  EXPECT_EQ(created, 1);
}

TEST_P(StoreConformanceTest, LoginFailuresCountWithinTheWindowAndRestartAfterIt) {
  EXPECT_THAT(store_->GetLoginFailures("k"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
  auto first = store_->RecordLoginFailure("k", kNow, 60);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->failures, 1);
  EXPECT_EQ(first->window_start, kNow);
  EXPECT_EQ(first->window_end, kNow + 60);
  auto second = store_->RecordLoginFailure("k", kNow + 59, 60);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->failures, 2);
  EXPECT_EQ(second->window_start, kNow);
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, 2);
  // At the window's end a failure opens a new window.
  auto third = store_->RecordLoginFailure("k", kNow + 60, 60);
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ(third->failures, 1);
  EXPECT_EQ(third->window_start, kNow + 60);
  ASSERT_THAT(store_->ClearLoginFailures("k"), IsOk());
  EXPECT_THAT(store_->GetLoginFailures("k"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
  EXPECT_THAT(store_->ClearLoginFailures("k"), IsOk());
  EXPECT_THAT(store_->RecordLoginFailure("k", kNow, 0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("window_seconds")));
}

TEST_P(StoreConformanceTest, ConcurrentLoginFailuresAreAllCounted) {
  RunConcurrently(kThreads,
                  [&](int) { EXPECT_THAT(store_->RecordLoginFailure("k", kNow, 60), IsOk()); });
  auto stored = store_->GetLoginFailures("k");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, kThreads);
}

TEST_P(StoreConformanceTest, PurgeExpiredRemovesEndedLoginFailureWindows) {
  ASSERT_THAT(store_->RecordLoginFailure("old", kNow, 60), IsOk());
  ASSERT_THAT(store_->RecordLoginFailure("new", kNow + 30, 60), IsOk());
  EXPECT_THAT(store_->PurgeExpired(kNow + 60, 100), Purged(1));
  EXPECT_THAT(store_->GetLoginFailures("old"), StatusIs(StatusCode::kNotFound, HasSubstr("login")));
  EXPECT_THAT(store_->GetLoginFailures("new"), IsOk());
}

TEST_P(StoreConformanceTest, UpdateSigningKeysWritesWhatTheUpdateReturns) {
  ASSERT_THAT(store_->PutSigningKey(MakeSigningKey("kid-a", kNow)), IsOk());
  ASSERT_THAT(store_->UpdateSigningKeys(
                  [](const std::vector<SigningKey>& current) -> StatusOr<std::vector<SigningKey>> {
                    EXPECT_EQ(current.size(), 1u);
                    std::vector<SigningKey> changed;
                    SigningKey retired = current.at(0);
                    retired.retired_at = kNow + 5;
                    changed.push_back(retired);
                    changed.push_back(MakeSigningKey("kid-b", kNow + 1));
                    return changed;
                  }),
              IsOk());
  auto keys = store_->ListSigningKeys();
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "kid-a");
  EXPECT_EQ((*keys)[0].retired_at, kNow + 5);
  EXPECT_EQ((*keys)[1].kid, "kid-b");
  // An error from the update writes nothing.
  EXPECT_THAT(store_->UpdateSigningKeys(
                  [](const std::vector<SigningKey>&) -> StatusOr<std::vector<SigningKey>> {
                    return FailedPreconditionError("not now");
                  }),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("not now")));
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(::testing::SizeIs(2)));
}

// One rotator at a time: concurrent updates that each add a key only when there is none leave
// exactly one key, which only holds if every update sees the previous one's result.
TEST_P(StoreConformanceTest, ConcurrentUpdateSigningKeysAreSerialised) {
  RunConcurrently(kThreads, [&](int i) {
    EXPECT_THAT(
        store_->UpdateSigningKeys(
            [&](const std::vector<SigningKey>& current) -> StatusOr<std::vector<SigningKey>> {
              if (!current.empty()) return std::vector<SigningKey>{};
              return std::vector<SigningKey>{MakeSigningKey("kid-" + std::to_string(i), kNow)};
            }),
        IsOk());
  });
  EXPECT_THAT(store_->ListSigningKeys(), IsOkAndHolds(::testing::SizeIs(1)));
}

}  // namespace
}  // namespace ts::storage
