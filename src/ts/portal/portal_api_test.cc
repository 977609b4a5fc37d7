// The access portal API (portal_api.h) in process: the token checks, each operation's query
// validation and paging, GetRoleCredentials' key, Logout, and every modeled error by type and
// status. Grants and the directory are a real SQLite store; the account side is a small
// in-memory AccountStore that records what the API writes (its own rules are the store's, held
// to the conformance suite).
#include "ts/portal/portal_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/sigv4/access_key.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"

namespace ts::portal {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kClientId[] = "Zm9vYmFyYmF6cXV4MTIzNA.dXMtZWFzdC0x";
constexpr char kApp[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-a";
constexpr char kUser[] = "730448f2-e0a1-70a7-c954-000000000001";
constexpr char kOtherUser[] = "730448f2-e0a1-70a7-c954-000000000002";
constexpr char kAccount[] = "210987654321";
constexpr char kOtherAccount[] = "310987654321";

// The account side in memory: roles per user, and what the API writes.
class MemoryAccounts : public storage::AccountStore {
 public:
  explicit MemoryAccounts(storage::StorePtr store) : store_(std::move(store)) {}

  std::map<std::string, std::vector<storage::UserRole>> roles;  // by user id
  std::vector<storage::AccessKey> keys;
  std::vector<storage::RoleCredential> links;
  std::vector<std::pair<std::string, std::string>> logouts;  // (family, session)
  int role_reads = 0;

  StatusOr<std::vector<storage::UserRole>> ListUserRoles(const std::string& user_id,
                                                         const std::string& account_id) override {
    std::lock_guard lock(mu_);
    ++role_reads;
    std::vector<storage::UserRole> out;
    for (const auto& r : roles[user_id]) {
      if (account_id.empty() || r.account.account_id == account_id) out.push_back(r);
    }
    return out;
  }
  Status IssueRoleCredential(const storage::AccessKey& key,
                             const storage::RoleCredential& link) override {
    std::lock_guard lock(mu_);
    keys.push_back(key);
    links.push_back(link);
    return OkStatus();
  }
  Status LogoutPortalSession(const std::string& family_id, const std::string& session_hash,
                             int64_t now) override {
    {
      std::lock_guard lock(mu_);
      logouts.emplace_back(family_id, session_hash);
    }
    if (!family_id.empty()) return store_->RevokeFamily(family_id, now);
    return OkStatus();
  }

  // Not what the portal calls.
  Status PutAccount(const storage::Account&) override { return Unused(); }
  StatusOr<storage::Account> GetAccount(const std::string&) override { return Unused(); }
  StatusOr<std::vector<storage::Account>> ListAccounts() override { return Unused(); }
  Status DeleteAccount(const std::string&) override { return Unused(); }
  Status CreatePermissionSet(const storage::PermissionSet&) override { return Unused(); }
  StatusOr<storage::PermissionSet> GetPermissionSet(const std::string&) override {
    return Unused();
  }
  StatusOr<storage::Page<storage::PermissionSet>> ListPermissionSets(
      const storage::PageRequest&) override {
    return Unused();
  }
  Status UpdatePermissionSet(const storage::PermissionSet&) override { return Unused(); }
  Status DeletePermissionSet(const std::string&) override { return Unused(); }
  Status ProvisionRole(const storage::RoleProvisioning&, const storage::OperationStatus&) override {
    return Unused();
  }
  StatusOr<storage::ProvisionedRole> GetProvisionedRole(const std::string&,
                                                        const std::string&) override {
    return Unused();
  }
  StatusOr<std::vector<storage::ProvisionedRole>> ListProvisionedRoles(
      const std::string&, const std::string&) override {
    return Unused();
  }
  Status CreateAccountAssignment(const storage::AccountAssignment&,
                                 const std::optional<storage::RoleProvisioning>&,
                                 const storage::OperationStatus&) override {
    return Unused();
  }
  Status DeleteAccountAssignment(const storage::AccountAssignment&,
                                 const storage::OperationStatus&) override {
    return Unused();
  }
  StatusOr<storage::Page<storage::AccountAssignment>> ListAccountAssignments(
      const std::string&, const std::string&, const storage::PageRequest&) override {
    return Unused();
  }
  StatusOr<storage::Page<storage::AccountAssignment>> ListAccountAssignmentsForPrincipal(
      const std::string&, const std::string&, const std::string&,
      const storage::PageRequest&) override {
    return Unused();
  }
  Status PutOperationStatus(const storage::OperationStatus&) override { return Unused(); }
  StatusOr<storage::OperationStatus> GetOperationStatus(const std::string&,
                                                        const std::string&) override {
    return Unused();
  }
  StatusOr<std::vector<storage::OperationStatus>> ListOperationStatuses(
      const std::string&, const std::string&) override {
    return Unused();
  }
  StatusOr<std::vector<storage::RoleCredential>> ListRoleCredentials(const std::string&,
                                                                     int64_t) override {
    return Unused();
  }

 private:
  static Status Unused() { return InternalError("not used by the portal API"); }
  storage::StorePtr store_;
  std::mutex mu_;
};

storage::UserRole Role(const std::string& account, const std::string& name,
                       const std::string& duration = "PT2H") {
  storage::UserRole r;
  r.account.account_id = account;
  r.account.name = "Account " + account;
  r.account.email = "aws+" + account + "@example.com";
  r.permission_set.arn = "arn:aws:sso:::permissionSet/ssoins-111111111111/ps-" + name;
  r.permission_set.name = name;
  r.permission_set.session_duration = duration;
  r.role.account_id = account;
  r.role.permission_set_arn = r.permission_set.arn;
  r.role.role_name = "AWSReservedSSO_" + name + "_0123456789abcdef";
  return r;
}

class PortalApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-portal");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    instance_.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    instance_.instance_id = "ssoins-111111111111";
    instance_.identity_store_id = "d-3333333333";
    instance_.owner_account_id = "111111111111";
    instance_.region = "us-east-1";
    ASSERT_THAT(store_->PutInstance(instance_), IsOk());
    for (const auto& [id, name] : {std::pair{kUser, "ana"}, std::pair{kOtherUser, "bo"}}) {
      storage::User user;
      user.user_id = id;
      user.identity_store_id = instance_.identity_store_id;
      user.user_name = name;
      user.attributes_json = "{}";
      user.created_at = kNow - 100;
      ASSERT_THAT(store_->CreateUser(user), IsOk());
    }
    auto ring = tokens::KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_shared<tokens::TokenMinter>(ring_, instance_, kIssuer, std::string(32, 'i'),
                                                    std::string(32, 'r'));
    accounts_ = std::make_shared<MemoryAccounts>(store_);
    accounts_->roles[kUser] = {Role(kAccount, "Admin", "PT2H"), Role(kAccount, "ReadOnly"),
                               Role(kOtherAccount, "Dev", "PT12H")};
    MakeApi(600);
  }

  void MakeApi(int64_t per_minute) {
    PortalOptions options;
    options.seal_key = seal_key_;
    options.page_token_key = std::string(32, 'p');
    options.requests_per_minute = per_minute;
    api_ = std::make_unique<PortalApi>(PortalStorage{store_, store_, accounts_}, minter_, clock_,
                                       options);
  }

  void TearDown() override {
    api_.reset();
    accounts_.reset();
    minter_.reset();
    ring_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  struct Issued {
    std::string family_id;
    std::string token_id;
    std::string access_token;
  };
  Issued Issue(std::vector<std::string> scopes = {"sso:account:access"},
               const std::string& client = kClientId, const std::string& user_id = kUser,
               int64_t expires_in = 3600) {
    Issued out;
    storage::TokenFamily family;
    family.family_id = "fam-" + std::to_string(++counter_);
    family.application_arn = client;
    family.user_id = user_id;
    family.scopes = scopes;
    family.grant_type = "authorization_code";
    family.session_hash = "sess-" + family.family_id;
    family.auth_time = kNow - 5;
    family.created_at = kNow;
    family.expires_at = kNow + 86400;
    EXPECT_THAT(store_->CreateFamily(family, std::nullopt), IsOk());
    tokens::TokenSubject subject{user_id, client, scopes, family.family_id, kNow - 5, "", ""};
    out.token_id = "jti-" + family.family_id;
    auto token = minter_->AccessToken(subject, out.token_id, kNow, kNow + expires_in);
    EXPECT_THAT(token, IsOk());
    out.access_token = token.ok() ? *token : "";
    out.family_id = family.family_id;
    return out;
  }

  http::Response Call(Operation op, const std::string& target, const std::string& token,
                      Status* internal = nullptr) {
    http::Request r;
    r.method = op == Operation::kLogout ? "POST" : "GET";
    r.target = target;
    if (!token.empty()) r.headers.push_back({kBearerHeader, token});
    Status ignored;
    return api_->Handle(op, r, internal != nullptr ? internal : &ignored);
  }
  http::Response Credentials(const std::string& query, const std::string& token) {
    return Call(Operation::kGetRoleCredentials, "/federation/credentials?" + query, token);
  }

  static void ExpectError(const http::Response& r, int status, std::string_view type,
                          std::string_view message_part = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.FindHeader("x-amzn-ErrorType").value_or(""), type) << r.body;
    json::value body = json::parse(r.body);
    ASSERT_TRUE(body.is_object());
    ASSERT_TRUE(body.as_object().contains("message")) << r.body;
    EXPECT_THAT(std::string(body.at("message").as_string()), HasSubstr(message_part));
    // The model's error members only: no OAuth `error` a client could mistake for another shape.
    EXPECT_EQ(body.as_object().size(), 1u) << r.body;
  }

  std::filesystem::path dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  storage::StorePtr store_;
  storage::Instance instance_;
  std::shared_ptr<tokens::KeyRing> ring_;
  std::shared_ptr<tokens::TokenMinter> minter_;
  std::shared_ptr<MemoryAccounts> accounts_;
  std::unique_ptr<PortalApi> api_;
  std::string seal_key_ = std::string(32, 'k');
  int counter_ = 0;
};

TEST_F(PortalApiTest, GetRoleCredentialsIssuesASealedKeyLinkedToTheSignIn) {
  const Issued t = Issue();
  http::Response r = Credentials("role_name=Admin&account_id=210987654321", t.access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
  json::object c = json::parse(r.body).at("roleCredentials").as_object();
  const std::string key_id(c.at("accessKeyId").as_string());
  EXPECT_TRUE(key_id.starts_with("ASIA"));
  // Epoch milliseconds, the permission set's PT2H.
  EXPECT_EQ(c.at("expiration").as_int64(), (kNow + 7200) * 1000);
  ASSERT_EQ(accounts_->keys.size(), 1u);
  const storage::AccessKey& key = accounts_->keys[0];
  EXPECT_EQ(key.access_key_id, key_id);
  EXPECT_EQ(key.principal_arn,
            "arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/ana");
  // Security: the store gets the secret sealed and only the session token's hash.
  const std::string secret(c.at("secretAccessKey").as_string());
  const std::string session_token(c.at("sessionToken").as_string());
  EXPECT_EQ(key.secret_sealed.find(secret), std::string::npos);
  EXPECT_EQ(key.session_token_hash, crypto::HexEncode(crypto::Sha256(session_token)));
  auto opened =
      crypto::Open(seal_key_, key.secret_sealed, sigv4::AccessKeySecretAad(key.access_key_id));
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, secret);
  // Linked to what revokes it: the token's family and its sign-in session.
  const storage::RoleCredential& link = accounts_->links[0];
  EXPECT_EQ(link.family_id, t.family_id);
  EXPECT_EQ(link.session_hash, "sess-" + t.family_id);
  EXPECT_EQ(link.user_id, kUser);
  EXPECT_EQ(link.account_id, kAccount);
}

TEST_F(PortalApiTest, GetRoleCredentialsAsyncAnswersOnceWritten) {
  const Issued t = Issue();
  http::Request req;
  req.method = "GET";
  req.target = "/federation/credentials?role_name=Dev&account_id=310987654321";
  req.headers.push_back({kBearerHeader, t.access_token});
  http::Response got;
  int calls = 0;
  api_->HandleAsync(Operation::kGetRoleCredentials, req, [&](http::Response r, Status internal) {
    EXPECT_THAT(internal, IsOk());
    got = std::move(r);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body).at("roleCredentials").at("expiration").as_int64(),
            (kNow + 12 * 3600) * 1000);
  EXPECT_EQ(accounts_->keys.size(), 1u);
  // An error is answered the same way, with nothing written.
  req.target = "/federation/credentials?role_name=Dev&account_id=210987654321";
  api_->HandleAsync(Operation::kGetRoleCredentials, req, [&](http::Response r, Status) {
    got = std::move(r);
    ++calls;
  });
  EXPECT_EQ(calls, 2);
  ExpectError(got, 404, "ResourceNotFoundException");
  EXPECT_EQ(accounts_->keys.size(), 1u);
}

TEST_F(PortalApiTest, GetRoleCredentialsValidatesItsQuery) {
  const Issued t = Issue();
  ExpectError(Credentials("account_id=210987654321", t.access_token), 400,
              "InvalidRequestException", "role_name");
  ExpectError(Credentials("role_name=Admin", t.access_token), 400, "InvalidRequestException",
              "account_id");
  ExpectError(Credentials("role_name=&account_id=210987654321", t.access_token), 400,
              "InvalidRequestException", "role_name");
  ExpectError(Credentials("role_name=Admin&role_name=Dev&account_id=210987654321", t.access_token),
              400, "InvalidRequestException", "more than once");
  ExpectError(Credentials("role_name=%zz&account_id=210987654321", t.access_token), 400,
              "InvalidRequestException", "malformed");
  EXPECT_TRUE(accounts_->keys.empty());
}

TEST_F(PortalApiTest, UnknownRoleAccountOrAnotherUsersRoleIsNotFound) {
  const Issued t = Issue();
  ExpectError(Credentials("role_name=Nope&account_id=210987654321", t.access_token), 404,
              "ResourceNotFoundException", "No access");
  ExpectError(Credentials("role_name=Admin&account_id=999999999999", t.access_token), 404,
              "ResourceNotFoundException");
  // Role names compare exactly.
  ExpectError(Credentials("role_name=admin&account_id=210987654321", t.access_token), 404,
              "ResourceNotFoundException");
  // Another user holds nothing.
  const Issued other = Issue({"sso:account:access"}, kClientId, kOtherUser);
  ExpectError(Credentials("role_name=Admin&account_id=210987654321", other.access_token), 404,
              "ResourceNotFoundException");
  EXPECT_TRUE(accounts_->keys.empty());
}

TEST_F(PortalApiTest, TokenChecksAreUnauthorized) {
  const std::string query = "role_name=Admin&account_id=210987654321";
  ExpectError(Credentials(query, ""), 401, "UnauthorizedException", "No access token");
  ExpectError(Credentials(query, "not-a-jwt"), 401, "UnauthorizedException", "not valid");
  // Tampered: the signature no longer matches.
  std::string tampered = Issue().access_token;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  ExpectError(Credentials(query, tampered), 401, "UnauthorizedException", "not valid");
  // Expired.
  const Issued short_lived = Issue({"sso:account:access"}, kClientId, kUser, 60);
  clock_->Advance(std::chrono::seconds(61));
  ExpectError(Credentials(query, short_lived.access_token), 401, "UnauthorizedException",
              "not valid");
  clock_->SetUnixSeconds(kNow);
  // Revoked family (another Logout, refresh-token reuse, sign-out).
  const Issued revoked = Issue();
  ASSERT_THAT(store_->RevokeFamily(revoked.family_id, kNow), IsOk());
  ExpectError(Credentials(query, revoked.access_token), 401, "UnauthorizedException",
              "sign-in has ended");
  // An IAM application's token.
  const Issued app = Issue({"sso:account:access"}, kApp);
  ExpectError(Credentials(query, app.access_token), 401, "UnauthorizedException", "application");
  // Scopes without sso:account:access.
  const Issued openid = Issue({"openid", "profile"});
  ExpectError(Credentials(query, openid.access_token), 401, "UnauthorizedException",
              "sso:account:access");
  // The user deleted (which revokes the family too: the first check that fails answers).
  const Issued deleted = Issue({}, kClientId, kOtherUser);
  ASSERT_THAT(store_->DeleteUser(kOtherUser, kNow), IsOk());
  ExpectError(Credentials(query, deleted.access_token), 401, "UnauthorizedException");
  // Two headers.
  http::Request r;
  r.method = "GET";
  r.target = "/federation/credentials?" + query;
  const Issued good = Issue();
  r.headers.push_back({kBearerHeader, good.access_token});
  r.headers.push_back({kBearerHeader, good.access_token});
  Status internal;
  ExpectError(api_->Handle(Operation::kGetRoleCredentials, r, &internal), 400,
              "InvalidRequestException", "more than one");
  EXPECT_TRUE(accounts_->keys.empty());
}

// Security: the verified-token cache keeps only the signature's outcome.
TEST_F(PortalApiTest, AVerifiedTokenStillExpiresAndIsRevoked) {
  const std::string query = "role_name=Admin&account_id=210987654321";
  const Issued t = Issue({"sso:account:access"}, kClientId, kUser, 120);
  ASSERT_EQ(Credentials(query, t.access_token).status, 200);
  // A token differing in its signature is not the cached one.
  std::string tampered = t.access_token;
  char& c = tampered[tampered.size() - 3];  // a byte of the signature, not padding bits
  c = c == 'A' ? 'B' : 'A';
  ExpectError(Credentials(query, tampered), 401, "UnauthorizedException", "not valid");
  ASSERT_EQ(Credentials(query, t.access_token).status, 200);
  clock_->Advance(std::chrono::seconds(120));
  ExpectError(Credentials(query, t.access_token), 401, "UnauthorizedException", "expired");
  clock_->SetUnixSeconds(kNow);
  const Issued r = Issue();
  ASSERT_EQ(Credentials(query, r.access_token).status, 200);
  ASSERT_THAT(store_->RevokeFamily(r.family_id, kNow), IsOk());
  ExpectError(Credentials(query, r.access_token), 401, "UnauthorizedException", "ended");
}

TEST_F(PortalApiTest, TokenWithoutScopesIsTaken) {
  // The AWS CLI's legacy (no sso-session) registration asks for no scopes.
  const Issued t = Issue({});
  EXPECT_EQ(Credentials("role_name=ReadOnly&account_id=210987654321", t.access_token).status, 200);
}

TEST_F(PortalApiTest, ListAccountsPagesWithTokensOnlyItsListingAccepts) {
  const Issued t = Issue();
  http::Response r = Call(Operation::kListAccounts, "/assignment/accounts", t.access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  json::value all = json::parse(r.body);
  ASSERT_EQ(all.at("accountList").as_array().size(), 2u);  // two accounts, three roles
  EXPECT_EQ(all.at("accountList").at(0).at("accountId").as_string(), kAccount);
  EXPECT_EQ(all.at("accountList").at(0).at("accountName").as_string(), "Account 210987654321");
  EXPECT_EQ(all.at("accountList").at(0).at("emailAddress").as_string(),
            "aws+210987654321@example.com");
  EXPECT_FALSE(all.as_object().contains("nextToken"));

  r = Call(Operation::kListAccounts, "/assignment/accounts?max_result=1", t.access_token);
  json::value first = json::parse(r.body);
  ASSERT_EQ(first.at("accountList").as_array().size(), 1u);
  const std::string next(first.at("nextToken").as_string());
  r = Call(Operation::kListAccounts,
           "/assignment/accounts?max_result=1&next_token=" + http::PercentEncode(next),
           t.access_token);
  json::value second = json::parse(r.body);
  ASSERT_EQ(second.at("accountList").as_array().size(), 1u);
  EXPECT_EQ(second.at("accountList").at(0).at("accountId").as_string(), kOtherAccount);
  EXPECT_FALSE(second.as_object().contains("nextToken"));

  // Another user's listing does not continue from this one's token.
  accounts_->roles[kOtherUser] = accounts_->roles[kUser];
  const Issued other = Issue({"sso:account:access"}, kClientId, kOtherUser);
  ExpectError(
      Call(Operation::kListAccounts, "/assignment/accounts?next_token=" + next, other.access_token),
      400, "InvalidRequestException", "next_token");
  // Tampered: another key under the same MAC.
  const std::string forged = crypto::Base64UrlEncode("1") + next.substr(next.find('.'));
  ExpectError(
      Call(Operation::kListAccounts, "/assignment/accounts?next_token=" + forged, t.access_token),
      400, "InvalidRequestException", "next_token");
  ExpectError(Call(Operation::kListAccounts, "/assignment/accounts?next_token=abc", t.access_token),
              400, "InvalidRequestException", "next_token");
}

TEST_F(PortalApiTest, MaxResultIsOneToOneHundred) {
  const Issued t = Issue();
  for (const char* bad : {"0", "101", "-1", "x", "", "1.5", "99999999999"}) {
    ExpectError(Call(Operation::kListAccounts,
                     std::string("/assignment/accounts?max_result=") + bad, t.access_token),
                400, "InvalidRequestException", "max_result");
  }
  EXPECT_EQ(
      Call(Operation::kListAccounts, "/assignment/accounts?max_result=100", t.access_token).status,
      200);
}

TEST_F(PortalApiTest, ListAccountRolesOfOneAccountInPages) {
  const Issued t = Issue();
  ExpectError(Call(Operation::kListAccountRoles, "/assignment/roles", t.access_token), 400,
              "InvalidRequestException", "account_id");
  http::Response r = Call(Operation::kListAccountRoles,
                          "/assignment/roles?account_id=210987654321&max_result=1", t.access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  json::value page = json::parse(r.body);
  ASSERT_EQ(page.at("roleList").as_array().size(), 1u);
  EXPECT_EQ(page.at("roleList").at(0).at("roleName").as_string(), "Admin");
  EXPECT_EQ(page.at("roleList").at(0).at("accountId").as_string(), kAccount);
  const std::string next(page.at("nextToken").as_string());
  r = Call(Operation::kListAccountRoles,
           "/assignment/roles?account_id=210987654321&next_token=" + http::PercentEncode(next),
           t.access_token);
  page = json::parse(r.body);
  ASSERT_EQ(page.at("roleList").as_array().size(), 1u);
  EXPECT_EQ(page.at("roleList").at(0).at("roleName").as_string(), "ReadOnly");
  // The token belongs to the account's listing.
  ExpectError(
      Call(Operation::kListAccountRoles,
           "/assignment/roles?account_id=310987654321&next_token=" + http::PercentEncode(next),
           t.access_token),
      400, "InvalidRequestException", "next_token");
  // An account without roles for this user lists none.
  r = Call(Operation::kListAccountRoles, "/assignment/roles?account_id=999999999999",
           t.access_token);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body).at("roleList").as_array().empty());
}

TEST_F(PortalApiTest, LogoutEndsTheTokenAndItsSession) {
  const Issued t = Issue();
  http::Response r = Call(Operation::kLogout, "/logout", t.access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.body.empty());
  ASSERT_EQ(accounts_->logouts.size(), 1u);
  EXPECT_EQ(accounts_->logouts[0].first, t.family_id);
  EXPECT_EQ(accounts_->logouts[0].second, "sess-" + t.family_id);
  ExpectError(Credentials("role_name=Admin&account_id=210987654321", t.access_token), 401,
              "UnauthorizedException", "sign-in has ended");
  ExpectError(Call(Operation::kLogout, "/logout", t.access_token), 401, "UnauthorizedException");
}

TEST_F(PortalApiTest, RateLimitIsPerTokenFamily) {
  MakeApi(2);
  const Issued t = Issue();
  const Issued other = Issue();
  const std::string query = "role_name=Admin&account_id=210987654321";
  EXPECT_EQ(Credentials(query, t.access_token).status, 200);
  EXPECT_EQ(Call(Operation::kListAccounts, "/assignment/accounts", t.access_token).status, 200);
  ExpectError(Credentials(query, t.access_token), 429, "TooManyRequestsException", "retry");
  // Another sign-in has its own budget; a refill lets the first go on.
  EXPECT_EQ(Credentials(query, other.access_token).status, 200);
  clock_->Advance(std::chrono::seconds(30));
  EXPECT_EQ(Credentials(query, t.access_token).status, 200);
  // Refused tokens spend no budget.
  MakeApi(1);
  for (int i = 0; i < 3; ++i) ExpectError(Credentials(query, "bad"), 401, "UnauthorizedException");
  EXPECT_EQ(Credentials(query, t.access_token).status, 200);
}

TEST_F(PortalApiTest, StoreFailureIsAnOpaque500) {
  accounts_->roles.clear();
  class Failing : public MemoryAccounts {
   public:
    using MemoryAccounts::MemoryAccounts;
    StatusOr<std::vector<storage::UserRole>> ListUserRoles(const std::string&,
                                                           const std::string&) override {
      return UnavailableError("database is locked at /var/lib/secret.db");
    }
  };
  accounts_ = std::make_shared<Failing>(store_);
  MakeApi(600);
  Status internal;
  http::Response r =
      Call(Operation::kListAccounts, "/assignment/accounts", Issue().access_token, &internal);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType").value_or(""), "InternalServerException");
  EXPECT_EQ(r.body.find("secret.db"), std::string::npos);
  EXPECT_THAT(std::string(internal.message()), HasSubstr("secret.db"));
}

TEST_F(PortalApiTest, IsPortalRequestByItsHeader) {
  http::Request r;
  r.method = "POST";
  r.target = "/logout";
  EXPECT_FALSE(PortalApi::IsPortalRequest(r));
  r.headers.push_back({kBearerHeader, "x"});
  EXPECT_TRUE(PortalApi::IsPortalRequest(r));
}

}  // namespace
}  // namespace ts::portal
