#include "ts/web/device_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/common/clock.h"
#include "ts/tokens/token_minter.h"
#include "ts/web/authorize.h"
#include "ts/web/web_test_util.h"

namespace ts::web {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::ts::testing::IsOk;

using namespace test_util;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

constexpr char kCode[] = "BCDFGHJK";  // shown as BCDF-GHJK
constexpr char kDeviceCodeHash[] = "device-code-hash";

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(UserCodeTest, NormalisedToUpperCaseWithoutDashesOrSpaces) {
  EXPECT_EQ(NormalizeUserCode("bcdf-ghjk"), "BCDFGHJK");
  EXPECT_EQ(NormalizeUserCode("  BCDF ghjk\t"), "BCDFGHJK");
  EXPECT_EQ(NormalizeUserCode("b-c-d-f-g-h-j-k"), "BCDFGHJK");
  EXPECT_EQ(NormalizeUserCode("--"), "");
  EXPECT_EQ(FormatUserCode("BCDFGHJK"), "BCDF-GHJK");
  EXPECT_EQ(FormatUserCode("BCD"), "BCD");
}

class DevicePageTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    for (const auto& [id, name, display] :
         {std::tuple{kAlice, "alice", "Alice <Doe>"}, std::tuple{kBob, "bob", ""}}) {
      storage::User u;
      u.user_id = id;
      u.identity_store_id = "d-3333333333";
      u.user_name = name;
      u.display_name = display;
      u.password_hash = PasswordHash();
      ASSERT_THAT(store_->CreateUser(u), IsOk());
    }
    for (const auto& [arn, status] : {std::pair{kApp, "ENABLED"}, {kDisabledApp, "DISABLED"}}) {
      storage::Application app;
      app.application_arn = arn;
      app.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
      app.name = "Expense reports";
      app.status = status;
      app.assignment_required = true;
      ASSERT_THAT(store_->PutApplication(app), IsOk());
    }
    ASSERT_THAT(store_->PutAssignment(kApp, kAlice, "USER"), IsOk());

    AuthorizeOptions aopts;
    aopts.public_url = kPublicUrl;
    aopts.issuer = kIssuer;
    authorize_ = std::make_unique<AuthorizeHandler>(
        AuthorizeStorage{store_, store_, store_, store_, store_}, clock_, aopts);
    handler_ = std::make_unique<DevicePageHandler>(
        DevicePageStorage{store_, store_, store_, store_}, authorize_->sign_in(), clock_);
  }

  void TearDown() override {
    handler_.reset();
    authorize_.reset();
    StoreTest::TearDown();
  }

  // A client as RegisterClient stores it, and a pending authorization for it with kCode.
  void Start(const std::string& entitled_application = "",
             const std::string& client_name = "AWS CLI <v2>") {
    storage::RegisteredClient c;
    c.client_id = kClient;
    c.secret_hash = tokens::TokenMinter::Hash("tscs_secret");
    c.client_name = client_name;
    c.scopes = {"sso:account:access"};
    c.grant_types = {"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"};
    c.entitled_application_arn = entitled_application;
    c.created_at = kNow - 10;
    c.secret_expires_at = kNow + 90 * 86400;
    ASSERT_THAT(store_->CreateClient(c), IsOk());
    storage::DeviceAuthorization a;
    a.device_code_hash = kDeviceCodeHash;
    a.user_code_hash = tokens::TokenMinter::Hash(kCode);
    a.client_id = kClient;
    a.scopes = {"sso:account:access", "openid"};
    a.created_at = kNow;
    a.expires_at = kNow + 600;
    ASSERT_THAT(store_->CreateDeviceAuthorization(a), IsOk());
  }

  storage::DeviceAuthorization Stored() {
    auto a = store_->GetDeviceAuthorization(kDeviceCodeHash);
    EXPECT_THAT(a, IsOk());
    return a.ok() ? *a : storage::DeviceAuthorization();
  }

  static http::Request GetRequest(const std::string& query = "") {
    http::Request r;
    r.method = "GET";
    r.target = query.empty() ? "/device" : "/device?" + query;
    r.headers.push_back({"host", "127.0.0.1:8080"});
    r.remote_address = "192.0.2.10";
    return r;
  }

  // GETs the code form and keeps its CSRF token, as the browser keeps the cookie.
  void OpenPage() {
    http::Response r = handler_->Get(GetRequest());
    ASSERT_EQ(r.status, 200);
    csrf_ = CookieFrom(r, "tessera_csrf");
    ASSERT_FALSE(csrf_.empty());
  }

  // POSTs the form fields with the page's CSRF token, cookie and Origin (and the session).
  http::Response Post(Params fields, const std::string& address = "192.0.2.10") {
    http::Request r;
    r.method = "POST";
    r.target = "/device";
    r.headers.push_back({"host", "127.0.0.1:8080"});
    r.headers.push_back({"origin", kPublicUrl});
    std::string cookie = "tessera_csrf=" + csrf_;
    if (!session_.empty()) cookie += "; tessera_session=" + session_;
    r.headers.push_back({"cookie", cookie});
    fields.emplace_back("csrf_token", csrf_);
    r.body = Form(fields);
    r.remote_address = address;
    return handler_->Post(r);
  }

  http::Response EnterCode(const std::string& code = "bcdf-ghjk",
                           const std::string& address = "192.0.2.10") {
    return Post({{"step", "code"}, {"user_code", code}}, address);
  }

  http::Response SignIn(const std::string& user, const std::string& password) {
    http::Response r = Post({{"step", "signin"},
                             {"user_code", "BCDF-GHJK"},
                             {"username", user},
                             {"password", password}});
    if (std::string id = CookieFrom(r, "tessera_session"); !id.empty()) session_ = id;
    return r;
  }

  http::Response Decide(const std::string& decision) {
    return Post({{"step", "decide"}, {"user_code", "BCDF-GHJK"}, {"decision", decision}});
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
    EXPECT_THAT(r.body, Not(HasSubstr("<script")));
    EXPECT_FALSE(r.FindHeader("Location").has_value());
  }

  static void ExpectCodeForm(const http::Response& r, int status, const std::string& error) {
    ExpectPage(r, status);
    EXPECT_THAT(r.body, HasSubstr("<label for=\"user_code\">Code</label>"));
    EXPECT_THAT(r.body, HasSubstr("role=\"alert\" id=\"error\">" + error));
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::unique_ptr<AuthorizeHandler> authorize_;
  std::unique_ptr<DevicePageHandler> handler_;
  std::string csrf_;
  std::string session_;
};

TEST_F(DevicePageTest, GetShowsTheCodeFormPrefilledFromTheCompleteUri) {
  http::Response plain = handler_->Get(GetRequest());
  ExpectPage(plain, 200);
  EXPECT_THAT(plain.body, HasSubstr("<form method=\"post\" action=\"/device\""));
  EXPECT_THAT(plain.body, HasSubstr("<label for=\"user_code\">Code</label>"));
  EXPECT_THAT(plain.body, HasSubstr("id=\"user_code\" name=\"user_code\""));
  EXPECT_THAT(plain.body, HasSubstr("value=\"\" aria-describedby=\"hint\""));
  EXPECT_THAT(plain.body, Not(HasSubstr("role=\"alert\"")));
  EXPECT_THAT(
      SetCookieFor(plain, "tessera_csrf"),
      AllOf(HasSubstr("; HttpOnly"), HasSubstr("; SameSite=Strict"), HasSubstr("; Path=/device;")));
  const std::string csrf = CookieFrom(plain, "tessera_csrf");
  EXPECT_GE(csrf.size(), 43u);
  EXPECT_THAT(plain.body, HasSubstr("name=\"csrf_token\" value=\"" + csrf + "\""));

  // verificationUriComplete: the code is filled in, nothing is decided by a GET.
  http::Response complete = handler_->Get(GetRequest("user_code=bcdf-ghjk"));
  ExpectPage(complete, 200);
  EXPECT_THAT(complete.body, HasSubstr("value=\"BCDF-GHJK\""));
  // Escaped; an absurd value is not echoed.
  http::Response evil = handler_->Get(GetRequest("user_code=%22%3E%3Cscript%3Ex"));
  EXPECT_THAT(evil.body, HasSubstr("value=\"&quot;&gt;&lt;script&gt;x\""));
  http::Response huge = handler_->Get(GetRequest("user_code=" + std::string(100, 'B')));
  EXPECT_THAT(huge.body, Not(HasSubstr(std::string(100, 'B'))));
}

TEST_F(DevicePageTest, PostWithoutTheFormsCsrfTokenOrFromAnotherOriginIsForbidden) {
  Start();
  OpenPage();
  auto post = [&](const std::string& cookie, const std::string& token, const std::string& origin) {
    http::Request r;
    r.method = "POST";
    r.target = "/device";
    if (!origin.empty()) r.headers.push_back({"origin", origin});
    if (!cookie.empty()) r.headers.push_back({"cookie", "tessera_csrf=" + cookie});
    r.body = Form({{"csrf_token", token}, {"step", "code"}, {"user_code", kCode}});
    r.remote_address = "192.0.2.10";
    return handler_->Post(r);
  };
  http::Response mismatched = post(csrf_, csrf_ + "x", kPublicUrl);
  ExpectPage(mismatched, 403);
  EXPECT_THAT(mismatched.body, HasSubstr("did not come from this server"));
  EXPECT_EQ(post("", csrf_, kPublicUrl).status, 403);                 // no cookie
  EXPECT_EQ(post(csrf_, "", kPublicUrl).status, 403);                 // no form token
  EXPECT_EQ(post(csrf_, csrf_, "https://evil.example").status, 403);  // foreign origin
  EXPECT_EQ(Stored().status, "PENDING");
  // The same post from this server's page (and a browser that sends no Origin) passes.
  EXPECT_EQ(post(csrf_, csrf_, "").status, 200);
}

TEST_F(DevicePageTest, EnterCodeSignInApproveRecordsTheApprovalWithTheSession) {
  Start();
  OpenPage();
  // Without a session: the sign-in form, naming the client, posting back here.
  http::Response signin = EnterCode("  bcdf ghjk ");
  ExpectPage(signin, 200);
  EXPECT_THAT(signin.body, HasSubstr("<form method=\"post\" action=\"/device\""));
  EXPECT_THAT(signin.body, HasSubstr("AWS CLI &lt;v2&gt;"));
  EXPECT_THAT(signin.body, HasSubstr("name=\"step\" value=\"signin\""));
  EXPECT_THAT(signin.body, HasSubstr("name=\"user_code\" value=\"BCDF-GHJK\""));
  EXPECT_THAT(signin.body, HasSubstr("<label for=\"password\">Password</label>"));

  clock_->Advance(std::chrono::seconds(20));
  http::Response consent = SignIn("alice", kPassword);
  ExpectPage(consent, 200);
  EXPECT_THAT(SetCookieFor(consent, "tessera_session"),
              AllOf(HasSubstr("; Path=/;"), HasSubstr("; SameSite=Lax"), HasSubstr("; HttpOnly")));
  EXPECT_THAT(consent.body, HasSubstr("<strong>AWS CLI &lt;v2&gt;</strong> on your device"));
  EXPECT_THAT(consent.body, HasSubstr("id=\"code\">BCDF-GHJK</strong>"));
  EXPECT_THAT(consent.body, HasSubstr("id=\"user\">Alice &lt;Doe&gt;</strong>"));
  EXPECT_THAT(consent.body, HasSubstr("<li>sso:account:access</li>\n<li>openid</li>"));
  EXPECT_THAT(consent.body, HasSubstr("name=\"decision\" value=\"approve\">Approve</button>"));
  EXPECT_THAT(consent.body, HasSubstr("name=\"decision\" value=\"deny\" class=\"secondary\">Deny"));
  EXPECT_EQ(Stored().status, "PENDING");  // nothing decided yet

  clock_->Advance(std::chrono::seconds(5));
  http::Response done = Decide("approve");
  ExpectPage(done, 200);
  EXPECT_THAT(done.body, HasSubstr("You may return to your device."));
  EXPECT_THAT(SetCookieFor(done, "tessera_csrf"),
              AllOf(StartsWith("tessera_csrf=;"), HasSubstr("Max-Age=0")));
  const storage::DeviceAuthorization a = Stored();
  EXPECT_EQ(a.status, "APPROVED");
  EXPECT_EQ(a.user_id, kAlice);
  EXPECT_EQ(a.session_hash, tokens::TokenMinter::Hash(session_));
  EXPECT_EQ(a.auth_time, kNow + 20);  // when alice signed in
  EXPECT_EQ(a.decided_at, kNow + 25);

  // Decided once: the code is spent.
  OpenPage();
  ExpectCodeForm(Decide("deny"), 400, "This code has already been used.");
  EXPECT_EQ(Stored().status, "APPROVED");
}

TEST_F(DevicePageTest, DenyRecordsTheDenial) {
  Start();
  OpenPage();
  ASSERT_EQ(SignIn("bob", kPassword).status, 200);
  http::Response done = Decide("deny");
  ExpectPage(done, 200);
  EXPECT_THAT(done.body, HasSubstr("Request denied"));
  EXPECT_THAT(done.body, HasSubstr("was not given access. You may close this window."));
  EXPECT_EQ(Stored().status, "DENIED");
}

TEST_F(DevicePageTest, ALiveSessionGoesStraightToConsentAndIsSharedWithAuthorize) {
  Start();
  OpenPage();
  // A session /authorize started (the same SignIn) is used here.
  const std::string id = tokens::TokenMinter::NewSessionId();
  storage::SignInSession s;
  s.session_hash = tokens::TokenMinter::Hash(id);
  s.user_id = kBob;
  s.auth_time = kNow - 50;
  s.created_at = kNow - 50;
  s.expires_at = kNow + 3600;
  ASSERT_THAT(store_->CreateSession(s), IsOk());
  session_ = id;
  http::Response consent = EnterCode();
  ExpectPage(consent, 200);
  EXPECT_THAT(consent.body, HasSubstr("id=\"user\">bob</strong>"));
  ASSERT_EQ(Decide("approve").status, 200);
  EXPECT_EQ(Stored().auth_time, kNow - 50);
  EXPECT_EQ(Stored().session_hash, s.session_hash);
}

TEST_F(DevicePageTest, ARevokedSessionAsksForThePasswordAgain) {
  Start();
  OpenPage();
  ASSERT_EQ(SignIn("alice", kPassword).status, 200);
  ASSERT_THAT(store_->RevokeSession(tokens::TokenMinter::Hash(session_), kNow), IsOk());
  http::Response r = Decide("approve");
  ExpectPage(r, 200);
  EXPECT_THAT(r.body, HasSubstr("name=\"step\" value=\"signin\""));
  EXPECT_EQ(Stored().status, "PENDING");
}

TEST_F(DevicePageTest, ADecisionWithoutASessionShowsTheSignInFormAndRecordsNothing) {
  Start();
  OpenPage();
  http::Response r = Decide("approve");
  ExpectPage(r, 200);
  EXPECT_THAT(r.body, HasSubstr("name=\"step\" value=\"signin\""));
  EXPECT_EQ(Stored().status, "PENDING");
}

TEST_F(DevicePageTest, ADecisionOtherThanApproveOrDenyIsRefused) {
  Start();
  OpenPage();
  ASSERT_EQ(SignIn("alice", kPassword).status, 200);
  http::Response r = Decide("maybe");
  ExpectPage(r, 400);
  EXPECT_THAT(r.body, HasSubstr("role=\"alert\" id=\"error\">Choose Approve or Deny."));
  EXPECT_EQ(Stored().status, "PENDING");
}

TEST_F(DevicePageTest, AWrongPasswordIsCountedAsOnAuthorize) {
  Start();
  OpenPage();
  http::Response wrong = SignIn("alice", "wrong password");
  ExpectPage(wrong, 401);
  EXPECT_THAT(wrong.body, HasSubstr("Incorrect user name or password."));
  EXPECT_THAT(wrong.body, HasSubstr("value=\"alice\""));
  EXPECT_EQ(SetCookieFor(wrong, "tessera_session"), "");
  for (int i = 1; i < 5; ++i) ASSERT_EQ(SignIn("alice", "wrong").status, 401);
  // The per-user limit is /authorize's: five failures lock the user on both pages.
  http::Response locked = SignIn("alice", kPassword);
  ExpectPage(locked, 429);
  EXPECT_THAT(locked.body, HasSubstr("Too many failed sign-in attempts."));
  EXPECT_EQ(Stored().status, "PENDING");
}

TEST_F(DevicePageTest, UnknownCodesAreCountedPerAddressAndThrottled) {
  Start();
  OpenPage();
  ExpectCodeForm(EnterCode(""), 400, "Enter the code shown on your device.");
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    http::Response r = EnterCode(i % 2 == 0 ? "BCDF-GHJL" : std::string(70, 'Q'));
    ExpectCodeForm(r, 400, "That code is not valid or has expired.");
    EXPECT_THAT(r.body, HasSubstr("name=\"user_code\" class=\"code\""));
  }
  // Locked: even the right code is not looked up from this address.
  http::Response locked = EnterCode();
  ExpectCodeForm(locked, 429, "Too many incorrect codes. Try again in 15 minutes.");
  // Another address is not.
  EXPECT_THAT(EnterCode("BCDF-GHJK", "192.0.2.99").body,
              HasSubstr("name=\"step\" value=\"signin\""));
  // Once the window has passed, codes are looked up again (this one has expired meanwhile).
  clock_->Advance(std::chrono::seconds(15 * 60));
  ExpectCodeForm(EnterCode(), 400, "That code is not valid or has expired.");
}

// Guesses sent at once cannot outrun the limit: each is reserved before its lookup.
TEST_F(DevicePageTest, ConcurrentWrongCodesAreThrottledAtTheLimit) {
  Start();
  OpenPage();
  constexpr int kGuesses = 24;
  std::vector<http::Response> answers(kGuesses);
  ::ts::testing::RunConcurrently(kGuesses, [&](int i) {
    answers[i] = EnterCode("BCDF-GH" + std::string(1, "LMNPQRSTVWXZ"[i % 12]) +
                           std::string(1, "BC"[i / 12]));
  });
  int wrong = 0;
  int throttled = 0;
  for (const http::Response& r : answers) {
    if (r.status == 400) {
      EXPECT_THAT(r.body, HasSubstr("That code is not valid or has expired."));
      ++wrong;
    } else {
      EXPECT_EQ(r.status, 429) << r.body;
      EXPECT_THAT(r.body, HasSubstr("Too many incorrect codes."));
      ++throttled;
    }
  }
  EXPECT_EQ(wrong, 10);
  EXPECT_EQ(throttled, kGuesses - 10);
  EXPECT_EQ(EnterCode().status, 429);
}

// A right code is not a guess: it leaves the address's window as it was.
TEST_F(DevicePageTest, RightCodesAreNotCountedAsGuesses) {
  Start();
  OpenPage();
  for (int i = 0; i < 12; ++i) ASSERT_EQ(EnterCode().status, 200) << i;
  for (int i = 0; i < 10; ++i) ASSERT_EQ(EnterCode("BCDF-GHJL").status, 400) << i;
  EXPECT_EQ(EnterCode().status, 429);
}

TEST_F(DevicePageTest, AnExpiredCodeIsNotValid) {
  Start();
  OpenPage();
  clock_->Advance(std::chrono::seconds(600));
  ExpectCodeForm(EnterCode(), 400, "That code is not valid or has expired.");
}

TEST_F(DevicePageTest, AnUnassignedUserCannotApproveForAnEntitledApplicationButMayDeny) {
  Start(kApp);  // only alice is assigned
  OpenPage();
  http::Response consent = SignIn("bob", kPassword);
  ExpectPage(consent, 403);
  EXPECT_THAT(consent.body, HasSubstr("your user is not assigned to the application Expense "
                                      "reports"));
  EXPECT_THAT(consent.body, Not(HasSubstr("value=\"approve\"")));
  EXPECT_THAT(consent.body, HasSubstr("value=\"deny\""));
  ExpectPage(Decide("approve"), 403);
  EXPECT_EQ(Stored().status, "PENDING");
  ASSERT_EQ(Decide("deny").status, 200);
  EXPECT_EQ(Stored().status, "DENIED");
}

TEST_F(DevicePageTest, AnAssignedUserApprovesForAnEntitledApplication) {
  Start(kApp);
  OpenPage();
  ExpectPage(SignIn("alice", kPassword), 200);
  ASSERT_EQ(Decide("approve").status, 200);
  EXPECT_EQ(Stored().status, "APPROVED");
}

TEST_F(DevicePageTest, ADisabledEntitledApplicationRefusesTheCode) {
  Start(kDisabledApp);
  OpenPage();
  ExpectCodeForm(EnterCode(), 403, "The application this client signs in to is disabled");
}

}  // namespace
}  // namespace ts::web
