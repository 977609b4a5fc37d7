#include "ts/web/start_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/common/clock.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/sigv4/access_key.h"
#include "ts/tokens/token_minter.h"
#include "ts/web/authorize.h"
#include "ts/web/web_test_util.h"

namespace ts::web {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::ts::testing::IsOk;

using namespace test_util;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

constexpr char kInstanceArn[] = "arn:aws:sso:::instance/ssoins-111111111111";
constexpr char kProduction[] = "210987654321";
constexpr char kSandbox[] = "123456789012";
constexpr char kAdminSet[] = "arn:aws:sso:::permissionSet/ssoins-111111111111/ps-aaaaaaaaaaaaaaaa";
constexpr char kReadSet[] = "arn:aws:sso:::permissionSet/ssoins-111111111111/ps-bbbbbbbbbbbbbbbb";
constexpr char kGroup[] = "33333333-3333-4333-8333-333333333333";
constexpr char kWikiApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-wiki";
constexpr char kHiddenApp[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-hidden";

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The text between `<... id="id">` and the next `<` (a value the page shows in an element).
std::string ElementText(const std::string& html, const std::string& id) {
  const std::string open = "id=\"" + id + "\">";
  size_t at = html.find(open);
  if (at == std::string::npos) return "";
  at += open.size();
  return html.substr(at, html.find('<', at) - at);
}

class StartPageTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    seal_key_ = crypto::RandomBytes(32);
    for (const auto& [id, name, display] :
         {std::tuple{kAlice, "alice", "Alice <script>x</script>"}, std::tuple{kBob, "bob", ""}}) {
      storage::User u;
      u.user_id = id;
      u.identity_store_id = "d-3333333333";
      u.user_name = name;
      u.display_name = display;
      u.password_hash = PasswordHash();
      ASSERT_THAT(store_->CreateUser(u), IsOk());
    }
    storage::Group g;
    g.group_id = kGroup;
    g.identity_store_id = "d-3333333333";
    g.display_name = "engineers";
    ASSERT_THAT(store_->CreateGroup(g), IsOk());
    storage::GroupMembership m;
    m.membership_id = "44444444-4444-4444-8444-444444444444";
    m.identity_store_id = "d-3333333333";
    m.group_id = kGroup;
    m.user_id = kAlice;
    ASSERT_THAT(store_->CreateGroupMembership(m), IsOk());

    ASSERT_THAT(store_->PutAccount({kProduction, "Production <b>", "aws+prod@example.com", kNow}),
                IsOk());
    ASSERT_THAT(store_->PutAccount({kSandbox, "Sandbox", "aws+sandbox@example.com", kNow}), IsOk());
    for (const auto& [arn, name, description, duration] :
         {std::tuple{kAdminSet, "AdministratorAccess", "Everything <i>at all</i>", "PT2H"},
          std::tuple{kReadSet, "ReadOnly", "Look, do not touch", "PT1H"}}) {
      storage::PermissionSet ps;
      ps.arn = arn;
      ps.instance_arn = kInstanceArn;
      ps.name = name;
      ps.description = description;
      ps.session_duration = duration;
      ps.created_at = kNow;
      ps.updated_at = kNow;
      ASSERT_THAT(store_->CreatePermissionSet(ps), IsOk());
    }

    AuthorizeOptions aopts;
    aopts.public_url = kPublicUrl;
    aopts.issuer = kIssuer;
    authorize_ = std::make_unique<AuthorizeHandler>(
        AuthorizeStorage{store_, store_, store_, store_, store_}, clock_, aopts);
    StartPageOptions sopts;
    sopts.public_url = kPublicUrl;
    sopts.region = "us-east-1";
    sopts.identity_store_id = "d-3333333333";
    sopts.seal_key = seal_key_;
    handler_ = std::make_unique<StartPageHandler>(StartPageStorage{store_, store_, store_},
                                                  authorize_->sign_in(), clock_, sopts);
  }

  void TearDown() override {
    handler_.reset();
    authorize_.reset();
    StoreTest::TearDown();
  }

  // Assigns a permission set on an account to a user or group, provisioning its role the first
  // time, as CreateAccountAssignment does.
  void Assign(const std::string& account, const std::string& permission_set,
              const std::string& type, const std::string& principal) {
    std::optional<storage::RoleProvisioning> provisioning;
    if (!store_->GetProvisionedRole(account, permission_set).ok()) {
      storage::RoleProvisioning p;
      const std::string name = permission_set == kAdminSet ? "AdministratorAccess" : "ReadOnly";
      p.role = {account, permission_set, "AWSReservedSSO_" + name + "_0123456789abcdef", kNow,
                kNow};
      p.principal.arn = "arn:aws:iam::" + account + ":role/" + p.role.role_name;
      p.principal.account_id = account;
      p.principal.created_at = kNow;
      provisioning = p;
    }
    storage::OperationStatus status;
    status.request_id = "req-" + std::to_string(++requests_);
    status.kind = "ACCOUNT_ASSIGNMENT_CREATION";
    status.created_at = kNow;
    ASSERT_THAT(store_->CreateAccountAssignment({account, permission_set, type, principal, kNow},
                                                provisioning, status),
                IsOk());
  }

  void AddApplication(const std::string& arn, const std::string& name,
                      const std::string& description, const std::string& portal_options,
                      const std::string& status = "ENABLED") {
    storage::Application app;
    app.application_arn = arn;
    app.instance_arn = kInstanceArn;
    app.name = name;
    app.description = description;
    app.status = status;
    app.portal_options_json = portal_options;
    ASSERT_THAT(store_->PutApplication(app), IsOk());
  }

  static http::Request GetRequest(const std::string& cookie = "") {
    http::Request r;
    r.method = "GET";
    r.target = "/start";
    r.headers.push_back({"host", "127.0.0.1:8080"});
    if (!cookie.empty()) r.headers.push_back({"cookie", cookie});
    r.remote_address = "192.0.2.10";
    return r;
  }

  std::string Cookies() const {
    std::string cookie;
    if (!csrf_.empty()) cookie = "tessera_csrf=" + csrf_;
    if (!session_.empty()) {
      cookie += std::string(cookie.empty() ? "" : "; ") + "tessera_session=" + session_;
    }
    return cookie;
  }

  // GETs /start as the browser does, keeping the CSRF cookie it sets.
  http::Response Open() {
    http::Response r = handler_->Get(GetRequest(Cookies()));
    if (std::string token = CookieFrom(r, "tessera_csrf"); !token.empty()) csrf_ = token;
    return r;
  }

  // POSTs the form fields with the page's CSRF token, cookie and Origin (and the session).
  http::Response Post(Params fields, const std::string& origin = kPublicUrl) {
    http::Request r;
    r.method = "POST";
    r.target = "/start";
    r.headers.push_back({"host", "127.0.0.1:8080"});
    r.headers.push_back({"origin", origin});
    r.headers.push_back({"cookie", Cookies()});
    fields.emplace_back("csrf_token", csrf_);
    r.body = Form(fields);
    r.remote_address = "192.0.2.10";
    return handler_->Post(r);
  }

  http::Response SignIn(const std::string& user, const std::string& password = kPassword) {
    Open();
    http::Response r = Post({{"step", "signin"}, {"username", user}, {"password", password}});
    if (std::string id = CookieFrom(r, "tessera_session"); !id.empty()) session_ = id;
    return r;
  }

  http::Response GetCredentials(const std::string& account, const std::string& role) {
    return Post({{"step", "credentials"}, {"account_id", account}, {"role_name", role}});
  }

  std::vector<storage::RoleCredential> Issued(const std::string& user = kAlice) {
    auto links = store_->ListRoleCredentials(user, clock_->NowUnixSeconds());
    EXPECT_THAT(links, IsOk());
    return links.ok() ? *links : std::vector<storage::RoleCredential>();
  }

  static void ExpectPage(const http::Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_THAT(std::string(r.FindHeader("Content-Type").value_or("")), StartsWith("text/html"));
    EXPECT_THAT(std::string(r.FindHeader("Content-Security-Policy").value_or("")),
                HasSubstr("default-src 'none'"));
    EXPECT_EQ(r.FindHeader("X-Frame-Options").value_or(""), "DENY");
    EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
    EXPECT_THAT(r.body, HasSubstr("<html lang=\"en\">"));
    EXPECT_EQ(Count(r.body, "<h1"), 1);
    EXPECT_EQ(Count(r.body, "<main>"), 1);
    EXPECT_THAT(r.body, Not(HasSubstr("<script")));
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::string seal_key_;
  std::unique_ptr<AuthorizeHandler> authorize_;
  std::unique_ptr<StartPageHandler> handler_;
  std::string csrf_;
  std::string session_;
  int requests_ = 0;
};

TEST_F(StartPageTest, SignedOutGetShowsTheSignInFormPostingToStart) {
  http::Response r = Open();
  ExpectPage(r, 200);
  EXPECT_THAT(r.body, HasSubstr("<form method=\"post\" action=\"/start\""));
  EXPECT_THAT(r.body, HasSubstr("<input type=\"hidden\" name=\"step\" value=\"signin\">"));
  EXPECT_THAT(r.body, HasSubstr("<label for=\"username\">User name</label>"));
  EXPECT_THAT(r.body, HasSubstr("<label for=\"password\">Password</label>"));
  EXPECT_THAT(r.body, HasSubstr("the AWS access portal"));
  // The CSRF cookie is scoped to /start and SameSite=Strict; the form carries the same token.
  EXPECT_THAT(SetCookieFor(r, "tessera_csrf"),
              AllOf(HasSubstr("Path=/start"), HasSubstr("SameSite=Strict"), HasSubstr("HttpOnly")));
  EXPECT_THAT(r.body, HasSubstr("name=\"csrf_token\" value=\"" + csrf_ + "\""));
  EXPECT_THAT(r.body, Not(HasSubstr("AWS accounts")));
}

TEST_F(StartPageTest, SignInRedirectsBackToStartWithASession) {
  http::Response r = SignIn("alice");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.FindHeader("Location").value_or(""), "/start");
  EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
  EXPECT_THAT(SetCookieFor(r, "tessera_session"),
              AllOf(HasSubstr("Path=/"), HasSubstr("HttpOnly")));
  ASSERT_FALSE(session_.empty());
  http::Response portal = Open();
  ExpectPage(portal, 200);
  EXPECT_THAT(portal.body, HasSubstr("<h1>AWS access portal</h1>"));
  EXPECT_THAT(portal.body, HasSubstr("<form method=\"post\" action=\"/logout\">"));
}

TEST_F(StartPageTest, AWrongPasswordShowsTheFormAgainWithTheError) {
  http::Response r = SignIn("alice", "not the password");
  ExpectPage(r, 401);
  EXPECT_THAT(r.body, HasSubstr("role=\"alert\" id=\"error\">Incorrect user name or password."));
  EXPECT_THAT(r.body, HasSubstr("value=\"alice\""));
  EXPECT_TRUE(session_.empty());
  EXPECT_TRUE(CookieFrom(r, "tessera_session").empty());
}

TEST_F(StartPageTest, ListsAccountsAndRolesFromDirectAndGroupAssignments) {
  Assign(kProduction, kAdminSet, "USER", kAlice);
  Assign(kProduction, kReadSet, "GROUP", kGroup);
  Assign(kSandbox, kReadSet, "GROUP", kGroup);
  Assign(kSandbox, kReadSet, "USER", kAlice);  // twice: directly and through the group
  Assign(kSandbox, kAdminSet, "USER", kBob);   // someone else's
  SignIn("alice");
  http::Response r = Open();
  ExpectPage(r, 200);
  // Both accounts (ordered by id), with name, id and e-mail; each role once.
  const size_t sandbox = r.body.find("<dd>123456789012</dd>");
  const size_t production = r.body.find("<dd>210987654321</dd>");
  ASSERT_NE(sandbox, std::string::npos);
  ASSERT_NE(production, std::string::npos);
  EXPECT_LT(sandbox, production);
  EXPECT_THAT(r.body, HasSubstr("<h3 id=\"account-0\">Sandbox</h3>"));
  EXPECT_THAT(r.body, HasSubstr("<h3 id=\"account-1\">Production &lt;b&gt;</h3>"));
  EXPECT_THAT(r.body, HasSubstr("<dt>E-mail</dt><dd>aws+prod@example.com</dd>"));
  EXPECT_THAT(r.body, HasSubstr("<caption>Roles in Sandbox</caption>"));
  EXPECT_THAT(r.body, HasSubstr("<th scope=\"col\">Role</th>"));
  EXPECT_EQ(Count(r.body, ">AdministratorAccess</th>"), 1);  // production only: bob's is not hers
  EXPECT_EQ(Count(r.body, ">ReadOnly</th>"), 2);             // one per account, not per path
  EXPECT_THAT(r.body, HasSubstr("<td>Everything &lt;i&gt;at all&lt;/i&gt;</td>"));
  EXPECT_THAT(r.body, HasSubstr("<td>Look, do not touch</td>"));
  // One credentials form per role, each naming its account and role, with the page's token.
  EXPECT_EQ(Count(r.body, ">Command line or programmatic access</button>"), 3);
  EXPECT_EQ(Count(r.body, "name=\"csrf_token\" value=\"" + csrf_ + "\""), 3);
  EXPECT_THAT(r.body, HasSubstr("<input type=\"hidden\" name=\"account_id\" value=\"" +
                                std::string(kProduction) +
                                "\">\n<input type=\"hidden\" "
                                "name=\"role_name\" value=\"AdministratorAccess\">"));
  EXPECT_THAT(r.body, HasSubstr("aria-describedby=\"role-1-0 account-1\""));
  EXPECT_THAT(r.body, Not(HasSubstr("id=\"no-accounts\"")));
}

TEST_F(StartPageTest, ListsTheApplicationsAssignedDirectlyOrThroughAGroup) {
  AddApplication(
      kApp, "Expense reports", "Claims <and> receipts",
      R"({"SignInOptions":{"Origin":"APPLICATION",)"
      R"("ApplicationUrl":"https://expenses.example/login?a=1&b=2"},"Visibility":"ENABLED"})");
  AddApplication(kWikiApp, "Wiki", "", "");
  AddApplication(kHiddenApp, "Hidden", "", R"({"Visibility":"DISABLED"})");
  AddApplication(kDisabledApp, "Switched off", "", "", "DISABLED");
  AddApplication("arn:aws:sso::123456789012:application/ssoins-111111111111/apl-other", "Bob's", "",
                 "");
  ASSERT_THAT(store_->PutAssignment(kApp, kAlice, "USER"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kWikiApp, kGroup, "GROUP"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kHiddenApp, kAlice, "USER"), IsOk());
  ASSERT_THAT(store_->PutAssignment(kDisabledApp, kAlice, "USER"), IsOk());
  ASSERT_THAT(
      store_->PutAssignment("arn:aws:sso::123456789012:application/ssoins-111111111111/apl-other",
                            kBob, "USER"),
      IsOk());
  SignIn("alice");
  http::Response r = Open();
  ExpectPage(r, 200);
  EXPECT_THAT(r.body, HasSubstr("<a href=\"https://expenses.example/login?a=1&amp;b=2\" "
                                "rel=\"noopener\">Expense reports</a>"));
  EXPECT_THAT(r.body, HasSubstr("<p>Claims &lt;and&gt; receipts</p>"));
  EXPECT_THAT(r.body, HasSubstr("<h3>Wiki</h3>"));  // through the group; no URL, no link
  EXPECT_THAT(r.body, Not(HasSubstr("Hidden")));
  EXPECT_THAT(r.body, Not(HasSubstr("Switched off")));
  EXPECT_THAT(r.body, Not(HasSubstr("Bob&#39;s")));
  // No roles yet: the accounts part says so.
  EXPECT_THAT(r.body, HasSubstr("id=\"no-accounts\""));
}

TEST_F(StartPageTest, AUserWithNoAssignmentSeesEmptyStates) {
  Assign(kProduction, kAdminSet, "USER", kAlice);
  AddApplication(kApp, "Expense reports", "", "");
  ASSERT_THAT(store_->PutAssignment(kApp, kAlice, "USER"), IsOk());
  SignIn("bob");
  http::Response r = Open();
  ExpectPage(r, 200);
  EXPECT_THAT(r.body, HasSubstr("<strong id=\"user\">bob</strong>"));
  EXPECT_THAT(r.body, HasSubstr("<p class=\"empty\" id=\"no-accounts\">You have no roles"));
  EXPECT_THAT(r.body,
              HasSubstr("<p class=\"empty\" id=\"no-applications\">No applications are assigned"));
  EXPECT_THAT(r.body, Not(HasSubstr("<button type=\"submit\" aria-describedby")));
  EXPECT_THAT(r.body, Not(HasSubstr("Expense reports")));
  EXPECT_THAT(r.body, Not(HasSubstr("Production")));
}

TEST_F(StartPageTest, EveryValueIsEscapedAndUnsafeUrlsAreNotLinked) {
  AddApplication(kApp, "<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>",
                 R"json({"SignInOptions":{"ApplicationUrl":"javascript:alert(3)"}})json");
  ASSERT_THAT(store_->PutAssignment(kApp, kAlice, "USER"), IsOk());
  ASSERT_THAT(store_->PutAccount(
                  {kSandbox, "</h3><script>alert(4)</script>", "\"onmouseover=\"alert(5)", kNow}),
              IsOk());
  Assign(kSandbox, kReadSet, "USER", kAlice);
  SignIn("alice");
  http::Response r = Open();
  ExpectPage(r, 200);  // no <script anywhere
  EXPECT_THAT(r.body, HasSubstr("Signed in as <strong id=\"user\">Alice &lt;script&gt;x&lt;/"
                                "script&gt; (alice)</strong>"));
  EXPECT_THAT(r.body, HasSubstr("<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>"));
  EXPECT_THAT(r.body, HasSubstr("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
  EXPECT_THAT(r.body, Not(HasSubstr("javascript:")));
  EXPECT_THAT(r.body, Not(HasSubstr("<img")));
  EXPECT_THAT(r.body, HasSubstr("&lt;/h3&gt;&lt;script&gt;alert(4)"));
  EXPECT_THAT(r.body, HasSubstr("<dd>&quot;onmouseover=&quot;alert(5)</dd>"));
}

TEST_F(StartPageTest, IssuesCredentialsLinkedToTheSignInSession) {
  Assign(kProduction, kAdminSet, "GROUP", kGroup);
  SignIn("alice");
  Open();
  // Whatever the page issues goes nowhere but the answer: nothing logged.
  std::ostringstream logged;
  std::streambuf* err = std::cerr.rdbuf(logged.rdbuf());
  std::streambuf* out = std::cout.rdbuf(logged.rdbuf());
  http::Response r = GetCredentials(kProduction, "AdministratorAccess");
  std::cerr.rdbuf(err);
  std::cout.rdbuf(out);
  ExpectPage(r, 200);
  EXPECT_THAT(logged.str(), IsEmpty());
  EXPECT_FALSE(r.FindHeader("Location").has_value());
  EXPECT_EQ(r.FindHeader("Pragma").value_or(""), "no-cache");

  const std::string key_id = ElementText(r.body, "access-key-id");
  const std::string secret = ElementText(r.body, "secret-access-key");
  const std::string token = ElementText(r.body, "session-token");
  ASSERT_THAT(key_id, StartsWith("ASIA"));
  ASSERT_EQ(key_id.size(), 20u);
  ASSERT_EQ(secret.size(), 40u);
  ASSERT_FALSE(token.empty());
  // As AWS shows them: the three shells and a credentials-file profile, and the expiry (PT2H).
  EXPECT_THAT(r.body, HasSubstr("export AWS_ACCESS_KEY_ID=&quot;" + key_id +
                                "&quot;\nexport AWS_SECRET_ACCESS_KEY=&quot;" + secret +
                                "&quot;\nexport AWS_SESSION_TOKEN=&quot;" + token + "&quot;"));
  EXPECT_THAT(r.body, HasSubstr("set AWS_ACCESS_KEY_ID=" + key_id + "\nset AWS_SECRET_ACCESS_KEY=" +
                                secret + "\nset AWS_SESSION_TOKEN=" + token));
  EXPECT_THAT(r.body, HasSubstr("$Env:AWS_ACCESS_KEY_ID=&quot;" + key_id +
                                "&quot;\n"
                                "$Env:AWS_SECRET_ACCESS_KEY=&quot;" +
                                secret +
                                "&quot;\n"
                                "$Env:AWS_SESSION_TOKEN=&quot;" +
                                token + "&quot;"));
  EXPECT_THAT(r.body,
              HasSubstr("[210987654321_AdministratorAccess]\naws_access_key_id=" + key_id +
                        "\naws_secret_access_key=" + secret + "\naws_session_token=" + token));
  EXPECT_THAT(r.body, HasSubstr("<time id=\"expiry\" datetime=\"2023-11-15T00:13:20Z\">"
                                "2023-11-15 00:13:20 UTC</time> (in 2 hours)"));
  EXPECT_THAT(r.body, HasSubstr("<h1>Get credentials for AdministratorAccess</h1>"));
  EXPECT_THAT(r.body, HasSubstr("https://d-3333333333.awsapps.com/start"));

  // The link names the session (so sign-out revokes it) and no token family.
  std::vector<storage::RoleCredential> links = Issued();
  ASSERT_THAT(links, SizeIs(1));
  EXPECT_EQ(links[0].access_key_id, key_id);
  EXPECT_EQ(links[0].session_hash, tokens::TokenMinter::Hash(session_));
  EXPECT_EQ(links[0].family_id, "");
  EXPECT_EQ(links[0].account_id, kProduction);
  EXPECT_EQ(links[0].permission_set_arn, kAdminSet);
  EXPECT_EQ(links[0].expires_at, kNow + 7200);
  // The key: the assumed-role session, the secret sealed, the session token only as its hash.
  auto key = store_->GetAccessKey(key_id);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->principal_arn,
            "arn:aws:sts::210987654321:assumed-role/"
            "AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice");
  EXPECT_EQ(key->expires_at, kNow + 7200);
  EXPECT_EQ(key->secret_sealed.find(secret), std::string::npos);
  EXPECT_EQ(key->session_token_hash, crypto::HexEncode(crypto::Sha256(token)));
  auto opened =
      crypto::Open(seal_key_, key->secret_sealed, sigv4::AccessKeySecretAad(key->access_key_id));
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, secret);

  // Each press issues a new credential.
  http::Response again = GetCredentials(kProduction, "AdministratorAccess");
  ExpectPage(again, 200);
  EXPECT_NE(ElementText(again.body, "access-key-id"), key_id);
  EXPECT_THAT(Issued(), SizeIs(2));
}

TEST_F(StartPageTest, SignOutRevokesTheCredentialsTheSessionIssued) {
  Assign(kProduction, kAdminSet, "USER", kAlice);
  SignIn("alice");
  Open();
  http::Response r = GetCredentials(kProduction, "AdministratorAccess");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string key_id = ElementText(r.body, "access-key-id");
  ASSERT_THAT(store_->GetAccessKey(key_id), IsOk());

  http::Request logout;
  logout.method = "POST";
  logout.target = "/logout";
  logout.headers.push_back({"cookie", Cookies()});
  http::Response out = authorize_->Logout(logout);
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(store_->GetAccessKey(key_id).status().code(), StatusCode::kNotFound);
  EXPECT_THAT(Issued(), IsEmpty());
  // Back to the sign-in form, and the old session cannot issue more.
  EXPECT_THAT(Open().body, HasSubstr("<label for=\"password\">"));
  http::Response refused = GetCredentials(kProduction, "AdministratorAccess");
  ExpectPage(refused, 401);
  EXPECT_THAT(refused.body, HasSubstr("Your session has ended. Sign in again."));
  EXPECT_THAT(Issued(), IsEmpty());
}

TEST_F(StartPageTest, CredentialsPostsWithoutTheCsrfTokenAreRefused) {
  Assign(kProduction, kAdminSet, "USER", kAlice);
  SignIn("alice");
  Open();
  const std::string good = csrf_;
  // Token and cookie disagree (a form posted from elsewhere cannot read the cookie).
  csrf_ = crypto::RandomToken(32);
  http::Request forged;
  forged.method = "POST";
  forged.target = "/start";
  forged.headers.push_back({"cookie", "tessera_csrf=" + good + "; tessera_session=" + session_});
  forged.body = Form({{"step", "credentials"},
                      {"account_id", kProduction},
                      {"role_name", "AdministratorAccess"},
                      {"csrf_token", csrf_}});
  http::Response r = handler_->Post(forged);
  ExpectPage(r, 403);
  EXPECT_THAT(r.body, HasSubstr("did not come from this server"));
  // No token at all.
  forged.body = Form(
      {{"step", "credentials"}, {"account_id", kProduction}, {"role_name", "AdministratorAccess"}});
  ExpectPage(handler_->Post(forged), 403);
  // The right token from another origin.
  csrf_ = good;
  http::Response cross = Post(
      {{"step", "credentials"}, {"account_id", kProduction}, {"role_name", "AdministratorAccess"}},
      "https://evil.example");
  ExpectPage(cross, 403);
  EXPECT_THAT(cross.body, Not(HasSubstr("ASIA")));
  EXPECT_THAT(Issued(), IsEmpty());
  // The sign-in step is guarded the same way.
  forged.body = Form({{"step", "signin"}, {"username", "alice"}, {"password", kPassword}});
  EXPECT_EQ(handler_->Post(forged).status, 403);
}

TEST_F(StartPageTest, ARoleTheUserDoesNotHoldIsRefusedAndIssuesNothing) {
  Assign(kProduction, kAdminSet, "USER", kAlice);
  Assign(kSandbox, kAdminSet, "USER", kBob);
  SignIn("alice");
  Open();
  // Someone else's role, a role on an account she has none on, a role that does not exist.
  for (const auto& [account, role] :
       {std::pair{kSandbox, "AdministratorAccess"}, std::pair{kProduction, "ReadOnly"},
        std::pair{kProduction, "NoSuchRole"}}) {
    http::Response r = GetCredentials(account, role);
    ExpectPage(r, 404);
    EXPECT_THAT(r.body, HasSubstr("role=\"alert\" id=\"error\">You have no role " +
                                  std::string(role) + " in account " + account));
    EXPECT_THAT(r.body, HasSubstr("<h1>AWS access portal</h1>"));  // the portal, to choose again
  }
  // Malformed values.
  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"21098765432", "AdministratorAccess"},
      {"21098765432x", "AdministratorAccess"},
      {kProduction, ""},
      {kProduction, "Admin<script>"},
      {kProduction, std::string(33, 'A')}};
  for (const auto& [account, role] : malformed) {
    http::Response r = GetCredentials(account, role);
    ExpectPage(r, 400);
    EXPECT_THAT(r.body, HasSubstr("role=\"alert\" id=\"error\">Choose a role from the list."));
  }
  ExpectPage(Post({{"step", "whatever"}}), 400);
  EXPECT_THAT(Issued(), IsEmpty());
  EXPECT_THAT(Issued(kBob), IsEmpty());
}

TEST_F(StartPageTest, AMalformedFormIsABadRequest) {
  SignIn("alice");
  http::Request r;
  r.method = "POST";
  r.target = "/start";
  r.headers.push_back({"cookie", Cookies()});
  r.body = "step=%zz";
  ExpectPage(handler_->Post(r), 400);
}

TEST_F(StartPageTest, TheCsrfTokenIsKeptAcrossPagesSoSeveralTabsWork) {
  Assign(kProduction, kAdminSet, "USER", kAlice);
  SignIn("alice");
  Open();
  const std::string first = csrf_;
  Open();  // a second tab
  EXPECT_EQ(csrf_, first);
  EXPECT_EQ(GetCredentials(kProduction, "AdministratorAccess").status, 200);
}

}  // namespace
}  // namespace ts::web
