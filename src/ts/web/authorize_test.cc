#include "ts/web/authorize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/common/clock.h"
#include "ts/tokens/token_minter.h"
#include "ts/web/web_test_util.h"

namespace ts::web {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using ::ts::testing::IsOk;

using namespace test_util;  // NOLINT(google-build-using-namespace): the fixture's vocabulary

constexpr char kOpenApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-2";
constexpr char kRedirect[] = "https://mywebapp.example/redirect";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";  // RFC 7636 App. B
constexpr char kLoopback[] = "http://127.0.0.1/oauth/callback";
constexpr char kLoopbackWithPort[] = "http://127.0.0.1:54321/oauth/callback";

Params ValidParams(const std::string& app = kApp) {
  return {{"response_type", "code"},      {"client_id", app},
          {"redirect_uri", kRedirect},    {"state", "xyz"},
          {"code_challenge", kChallenge}, {"code_challenge_method", "S256"}};
}

Params Without(Params params, const std::string& key) {
  std::erase_if(params, [&](const auto& kv) { return kv.first == key; });
  return params;
}

Params With(Params params, const std::string& key, const std::string& value) {
  params = Without(std::move(params), key);
  params.emplace_back(key, value);
  return params;
}

http::Request GetRequest(const Params& params, const std::string& cookie = "") {
  http::Request r;
  r.method = "GET";
  r.target = "/authorize?" + Form(params);
  r.headers.push_back({"host", "127.0.0.1:8080"});
  if (!cookie.empty()) r.headers.push_back({"cookie", cookie});
  r.remote_address = "127.0.0.1";
  return r;
}

// The redirect's target (before '?') and its query parameters.
std::pair<std::string, std::map<std::string, std::string>> ParseLocation(const http::Response& r) {
  auto location = r.FindHeader("Location");
  EXPECT_TRUE(location.has_value());
  if (!location) return {};
  std::string loc(*location);
  size_t q = loc.find('?');
  std::map<std::string, std::string> params;
  auto form = http::ParseForm(q == std::string::npos ? "" : loc.substr(q + 1));
  EXPECT_TRUE(form.has_value());
  if (form) {
    for (auto& [k, v] : *form) params.emplace(k, v);
  }
  return {loc.substr(0, q), params};
}

class AuthorizeTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;

    storage::User alice;
    alice.user_id = kAlice;
    alice.identity_store_id = "d-3333333333";
    alice.user_name = "alice";
    alice.password_hash = PasswordHash();
    ASSERT_THAT(store_->CreateUser(alice), IsOk());
    storage::User bob;
    bob.user_id = kBob;
    bob.identity_store_id = "d-3333333333";
    bob.user_name = "bob";
    ASSERT_THAT(store_->CreateUser(bob), IsOk());

    ASSERT_THAT(PutApp(kApp, true, "ENABLED"), IsOk());
    ASSERT_THAT(PutApp(kOpenApp, false, "ENABLED"), IsOk());
    ASSERT_THAT(PutApp(kDisabledApp, true, "DISABLED"), IsOk());
    ASSERT_THAT(store_->PutAssignment(kApp, kAlice, "USER"), IsOk());

    options_.public_url = kPublicUrl;
    options_.issuer = kIssuer;
    MakeHandler();
  }

  void MakeHandler() {
    handler_ = std::make_unique<AuthorizeHandler>(
        AuthorizeStorage{store_, store_, store_, store_, store_}, clock_, options_);
  }

  void TearDown() override {
    handler_.reset();
    StoreTest::TearDown();
  }

  Status PutApp(const std::string& arn, bool assignment_required, const std::string& status) {
    storage::Application app;
    app.application_arn = arn;
    app.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    app.name = "My <web> app";
    app.status = status;
    app.assignment_required = assignment_required;
    app.grants["authorization_code"] =
        std::string(R"({"RedirectUris":[")") + kRedirect + R"(","http://127.0.0.1:9000/cb"]})";
    app.access_scopes["s3:access_grants:read_write"] = {};
    return store_->PutApplication(app);
  }

  // A live sign-in session for `user_id`, made directly in the store; returns the cookie value.
  std::string MakeSession(const std::string& user_id, int64_t expires_at = kNow + 3600) {
    const std::string id = tokens::TokenMinter::NewSessionId();
    storage::SignInSession s;
    s.session_hash = tokens::TokenMinter::Hash(id);
    s.user_id = user_id;
    s.auth_time = kNow - 100;
    s.created_at = kNow - 100;
    s.expires_at = expires_at;
    EXPECT_THAT(store_->CreateSession(s), IsOk());
    return id;
  }

  // GETs the login form and returns the CSRF cookie value it set.
  std::string FetchCsrf(const Params& params = ValidParams()) {
    http::Response r = handler_->Get(GetRequest(params));
    EXPECT_EQ(r.status, 200);
    return CookieFrom(r, "tessera_csrf");
  }

  static http::Request PostRequest(Params form, const std::string& csrf_cookie,
                                   const std::string& origin = "") {
    http::Request r;
    r.method = "POST";
    r.target = "/authorize";
    r.headers.push_back({"host", "127.0.0.1:8080"});
    r.headers.push_back({"content-type", "application/x-www-form-urlencoded"});
    if (!csrf_cookie.empty()) r.headers.push_back({"cookie", "tessera_csrf=" + csrf_cookie});
    if (!origin.empty()) r.headers.push_back({"origin", origin});
    r.body = Form(form);
    r.remote_address = "192.0.2.10";
    return r;
  }

  http::Response Login(const std::string& user, const std::string& password,
                       const Params& params = ValidParams()) {
    const std::string csrf = FetchCsrf(params);
    Params form = params;
    form.emplace_back("csrf_token", csrf);
    form.emplace_back("username", user);
    form.emplace_back("password", password);
    return handler_->Post(PostRequest(form, csrf, kPublicUrl));
  }

  void ExpectPageError(const http::Response& r, const std::string& error,
                       const std::string& fragment) {
    EXPECT_EQ(r.status, 400);
    EXPECT_FALSE(r.FindHeader("Location").has_value());
    EXPECT_THAT(std::string(r.FindHeader("Content-Type").value_or("")), StartsWith("text/html"));
    EXPECT_THAT(r.body, HasSubstr("<strong>" + error + "</strong>"));
    EXPECT_THAT(r.body, HasSubstr(fragment));
    EXPECT_THAT(SetCookies(r), IsEmpty());
  }

  void ExpectRedirectError(const http::Response& r, int status, const std::string& error,
                           const std::string& fragment, const std::string& state = "xyz") {
    EXPECT_EQ(r.status, status);
    auto [target, q] = ParseLocation(r);
    EXPECT_EQ(target, kRedirect);
    EXPECT_EQ(q["error"], error);
    EXPECT_THAT(q["error_description"], HasSubstr(fragment));
    EXPECT_EQ(q["state"], state);
    EXPECT_EQ(q["iss"], kIssuer);
    EXPECT_EQ(q.count("code"), 0u);
  }

  // A client as RegisterClient would store it (the AWS CLI's registration by default).
  storage::RegisteredClient Client(const std::string& entitled_application = "") {
    storage::RegisteredClient c;
    c.client_id = kClient;
    c.secret_hash = tokens::TokenMinter::Hash("tscs_secret");
    c.client_name = "botocore-client-<cli>";
    c.scopes = {"sso:account:access", "openid"};
    c.redirect_uris = {kLoopback, "https://app.example/cb", "com.example.app:/callback"};
    c.grant_types = {"authorization_code", "refresh_token"};
    c.entitled_application_arn = entitled_application;
    c.created_at = kNow - 10;
    c.secret_expires_at = kNow + 90 * 86400;
    return c;
  }

  // The parameters exactly as the AWS CLI v2 sends them (PKCE, `scopes`, a port on the
  // loopback redirect URI the registration named without one).
  static Params CliParams(const std::string& redirect_uri = kLoopbackWithPort) {
    return {{"response_type", "code"},         {"client_id", kClient},
            {"redirect_uri", redirect_uri},    {"state", "xyz"},
            {"code_challenge_method", "S256"}, {"scopes", "sso:account:access"},
            {"code_challenge", kChallenge}};
  }

  // The redirect error of a registered client (ExpectRedirectError checks the application's URI).
  static void ExpectClientRedirectError(const http::Response& r, const std::string& error,
                                        const std::string& description) {
    EXPECT_EQ(r.status, 302);
    auto [target, q] = ParseLocation(r);
    EXPECT_EQ(target, kLoopbackWithPort);
    EXPECT_EQ(q["error"], error);
    EXPECT_THAT(q["error_description"], HasSubstr(description));
    EXPECT_EQ(q["state"], "xyz");
    EXPECT_EQ(q.count("code"), 0u);
  }

  // The stored code a successful redirect carries.
  storage::AuthorizationCode StoredCode(const http::Response& r) {
    auto [target, q] = ParseLocation(r);
    EXPECT_EQ(q.count("error"), 0u) << q["error_description"];
    auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(q["code"]));
    EXPECT_THAT(stored, IsOk());
    return stored.ok() ? *stored : storage::AuthorizationCode();
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  AuthorizeOptions options_;
  std::unique_ptr<AuthorizeHandler> handler_;
};

// --- errors shown on a page: client or redirect URI not established ---

TEST_F(AuthorizeTest, MissingClientIdIsAPageError) {
  ExpectPageError(handler_->Get(GetRequest(Without(ValidParams(), "client_id"))), "invalid_request",
                  "no client_id");
}

TEST_F(AuthorizeTest, UnknownClientIdIsAPageError) {
  ExpectPageError(
      handler_->Get(GetRequest(With(ValidParams(), "client_id", "arn:aws:sso::1:application/x/y"))),
      "invalid_client", "No application has the client_id");
}

TEST_F(AuthorizeTest, PageErrorEscapesTheClientId) {
  http::Response r =
      handler_->Get(GetRequest(With(ValidParams(), "client_id", "<script>alert(1)</script>")));
  ExpectPageError(r, "invalid_client", "&lt;script&gt;alert(1)&lt;/script&gt;");
  EXPECT_THAT(r.body, Not(HasSubstr("<script>")));
}

TEST_F(AuthorizeTest, MissingRedirectUriIsAPageError) {
  ExpectPageError(handler_->Get(GetRequest(Without(ValidParams(), "redirect_uri"))),
                  "invalid_request", "no redirect_uri");
}

// Stored before redirect URIs were checked on the way in: still never redirected to.
TEST_F(AuthorizeTest, RegisteredButInvalidRedirectUriIsAPageError) {
  auto app = store_->GetApplication(kApp);
  ASSERT_THAT(app, IsOk());
  app->grants["authorization_code"] =
      R"({"RedirectUris":["https://x.example/cb#frag","javascript:alert(1)//"]})";
  ASSERT_THAT(store_->PutApplication(*app), IsOk());
  const std::pair<const char*, const char*> cases[] = {
      {"https://x.example/cb#frag",
       "The registered redirect_uri cannot be used: it has a fragment (RFC 6749 §3.1.2). "
       "Register a valid one with PutApplicationGrant."},
      {"javascript:alert(1)//",
       "The registered redirect_uri cannot be used: scheme &#39;javascript&#39; is not allowed, "
       "only https and http. Register a valid one with PutApplicationGrant."}};
  for (const auto& [uri, message] : cases) {
    SCOPED_TRACE(uri);
    ExpectPageError(handler_->Get(GetRequest(With(ValidParams(), "redirect_uri", uri))),
                    "invalid_request", message);
  }
}

TEST_F(AuthorizeTest, UnregisteredRedirectUriIsAPageError) {
  // Exact match only: neither a longer path nor another port is accepted.
  for (const char* uri : {"https://mywebapp.example/redirect/x", "https://evil.example/redirect",
                          "https://mywebapp.example/redirect?x=1", "http://127.0.0.1:9001/cb"}) {
    SCOPED_TRACE(uri);
    ExpectPageError(handler_->Get(GetRequest(With(ValidParams(), "redirect_uri", uri))),
                    "invalid_request", "not registered");
  }
}

TEST_F(AuthorizeTest, MalformedQueryIsAPageError) {
  http::Request r = GetRequest(ValidParams());
  r.target = "/authorize?client_id=%zz";
  ExpectPageError(handler_->Get(r), "invalid_request", "malformed");
}

// --- errors redirected back to the registered URI ---

TEST_F(AuthorizeTest, DuplicateParameterIsARedirectError) {
  Params p = ValidParams();
  p.emplace_back("state", "second");
  ExpectRedirectError(handler_->Get(GetRequest(p)), 302, "invalid_request",
                      "state is given more than once");
  Params q = ValidParams();
  q.emplace_back("code_challenge", kChallenge);
  ExpectRedirectError(handler_->Get(GetRequest(q)), 302, "invalid_request",
                      "code_challenge is given more than once");
}

TEST_F(AuthorizeTest, DisabledApplicationIsARedirectError) {
  ExpectRedirectError(handler_->Get(GetRequest(ValidParams(kDisabledApp))), 302,
                      "unauthorized_client", "disabled");
}

TEST_F(AuthorizeTest, ResponseTypeOtherThanCodeIsARedirectError) {
  ExpectRedirectError(handler_->Get(GetRequest(With(ValidParams(), "response_type", "token"))), 302,
                      "unsupported_response_type", "response_type=code");
  ExpectRedirectError(handler_->Get(GetRequest(Without(ValidParams(), "response_type"))), 302,
                      "unsupported_response_type", "response_type=code");
}

TEST_F(AuthorizeTest, PkceMethodMissingOrPlainIsARedirectError) {
  // RFC 7636 §4.3: a challenge without a method is "plain", which is refused.
  http::Response missing =
      handler_->Get(GetRequest(Without(ValidParams(), "code_challenge_method")));
  ExpectRedirectError(missing, 302, "invalid_request", "");
  EXPECT_EQ(ParseLocation(missing).second["error_description"],
            "code_challenge_method=S256 is required (the default, plain, is refused).");
  ExpectRedirectError(
      handler_->Get(GetRequest(With(ValidParams(), "code_challenge_method", "plain"))), 302,
      "invalid_request", "code_challenge_method plain is refused");
}

TEST_F(AuthorizeTest, AMethodWithoutAChallengeIsARedirectError) {
  // Absent, or present without a value (RFC 6749 §3.1: the same as absent).
  for (const Params& params :
       {Without(ValidParams(), "code_challenge"), With(ValidParams(), "code_challenge", "")}) {
    http::Response r = handler_->Get(GetRequest(params));
    ExpectRedirectError(r, 302, "invalid_request", "");
    EXPECT_EQ(ParseLocation(r).second["error_description"],
              "code_challenge is required with code_challenge_method.");
  }
}

TEST_F(AuthorizeTest, BadChallengeIsARedirectError) {
  for (const std::string& challenge : {std::string("abc"), std::string(42, 'A'),
                                       std::string(44, 'A'), std::string(42, 'A') + "+"}) {
    SCOPED_TRACE(challenge);
    http::Response r = handler_->Get(GetRequest(With(ValidParams(), "code_challenge", challenge)));
    ExpectRedirectError(r, 302, "invalid_request", "");
    EXPECT_EQ(ParseLocation(r).second["error_description"],
              "code_challenge must be the 43-character base64url SHA-256 of the verifier.");
  }
}

TEST_F(AuthorizeTest, InvalidScopeIsARedirectError) {
  ExpectRedirectError(handler_->Get(GetRequest(With(ValidParams(), "scope", "openid admin"))), 302,
                      "invalid_scope", "'admin'");
  // The AWS CLI's comma-separated `scopes` parameter is read too.
  ExpectRedirectError(handler_->Get(GetRequest(With(ValidParams(), "scopes", "openid,sso:all"))),
                      302, "invalid_scope", "'sso:all'");
}

TEST_F(AuthorizeTest, RedirectErrorWithoutStateOmitsIt) {
  http::Response r =
      handler_->Get(GetRequest(Without(With(ValidParams(), "response_type", "token"), "state")));
  EXPECT_EQ(r.status, 302);
  auto [target, q] = ParseLocation(r);
  EXPECT_EQ(q.count("state"), 0u);
  EXPECT_EQ(q["iss"], kIssuer);
}

// --- the login form ---

TEST_F(AuthorizeTest, GetRendersTheLoginFormWithEscapedHiddenFields) {
  const std::string evil = "\"><script>alert(1)</script>";
  http::Response r = handler_->Get(GetRequest(With(ValidParams(), "state", evil)));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(std::string(r.FindHeader("Content-Type").value_or("")), StartsWith("text/html"));
  EXPECT_TRUE(r.FindHeader("Content-Security-Policy").has_value());
  EXPECT_EQ(r.FindHeader("X-Frame-Options").value_or(""), "DENY");
  EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
  EXPECT_THAT(r.body, Not(HasSubstr("<script>")));
  EXPECT_THAT(
      r.body,
      HasSubstr("name=\"state\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""));
  EXPECT_THAT(r.body, HasSubstr("name=\"client_id\" value=\"" + std::string(kApp) + "\""));
  EXPECT_THAT(r.body, HasSubstr("name=\"code_challenge\" value=\"" + std::string(kChallenge)));
  EXPECT_THAT(r.body, HasSubstr("My &lt;web&gt; app"));

  const std::string set_cookie = SetCookieFor(r, "tessera_csrf");
  EXPECT_THAT(set_cookie, AllOf(HasSubstr("; HttpOnly"), HasSubstr("; SameSite=Strict"),
                                HasSubstr("; Path=/authorize"), Not(HasSubstr("Secure"))));
  const std::string csrf = CookieFrom(r, "tessera_csrf");
  EXPECT_GE(csrf.size(), 43u);
  EXPECT_THAT(r.body, HasSubstr("name=\"csrf_token\" value=\"" + csrf + "\""));
  // Each form gets a fresh token.
  EXPECT_NE(FetchCsrf(), csrf);
}

TEST_F(AuthorizeTest, CookiesAreSecureWhenThePublicUrlIsHttps) {
  options_.public_url = "https://login.example";
  MakeHandler();
  http::Response r = handler_->Get(GetRequest(ValidParams()));
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(SetCookieFor(r, "tessera_csrf"), HasSubstr("; Secure"));

  const std::string csrf = CookieFrom(r, "tessera_csrf");
  Params form = ValidParams();
  form.emplace_back("csrf_token", csrf);
  form.emplace_back("username", "alice");
  form.emplace_back("password", kPassword);
  http::Response post = handler_->Post(PostRequest(form, csrf, "https://login.example"));
  ASSERT_EQ(post.status, 303);
  EXPECT_THAT(SetCookieFor(post, "tessera_session"),
              AllOf(HasSubstr("; HttpOnly"), HasSubstr("; SameSite=Lax"), HasSubstr("; Secure")));
}

// --- POST: CSRF and credentials ---

TEST_F(AuthorizeTest, PostWithBadCsrfIsForbidden) {
  const std::string csrf = FetchCsrf();
  Params form = ValidParams();
  form.emplace_back("username", "alice");
  form.emplace_back("password", kPassword);

  Params mismatched = form;
  mismatched.emplace_back("csrf_token", csrf + "x");
  http::Response a = handler_->Post(PostRequest(mismatched, csrf));
  EXPECT_EQ(a.status, 403);
  EXPECT_FALSE(a.FindHeader("Location").has_value());
  EXPECT_THAT(a.body, HasSubstr("did not come from this server"));

  Params no_cookie = form;
  no_cookie.emplace_back("csrf_token", csrf);
  EXPECT_EQ(handler_->Post(PostRequest(no_cookie, "")).status, 403);

  EXPECT_EQ(handler_->Post(PostRequest(form, csrf)).status, 403);  // no form token

  Params empty = form;
  empty.emplace_back("csrf_token", "");
  http::Request both_empty = PostRequest(empty, "");
  both_empty.headers.push_back({"cookie", "tessera_csrf="});
  EXPECT_EQ(handler_->Post(both_empty).status, 403);
}

TEST_F(AuthorizeTest, PostFromAForeignOriginIsForbidden) {
  const std::string csrf = FetchCsrf();
  Params form = ValidParams();
  form.emplace_back("csrf_token", csrf);
  form.emplace_back("username", "alice");
  form.emplace_back("password", kPassword);
  http::Response r = handler_->Post(PostRequest(form, csrf, "https://evil.example"));
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(r.FindHeader("Location").has_value());
  EXPECT_EQ(handler_->Post(PostRequest(form, csrf, "http://127.0.0.1:8081")).status, 403);
}

TEST_F(AuthorizeTest, PostWithMissingCredentialsAsksForThem) {
  const std::string csrf = FetchCsrf();
  Params form = ValidParams();
  form.emplace_back("csrf_token", csrf);
  form.emplace_back("username", "alice");
  http::Response r = handler_->Post(PostRequest(form, csrf));
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("Enter your user name and password."));
}

TEST_F(AuthorizeTest, PostValidatesTheAuthorizationRequestAgain) {
  Params params = Without(ValidParams(), "code_challenge_method");
  const std::string csrf = CookieFrom(handler_->Get(GetRequest(ValidParams())), "tessera_csrf");
  Params form = params;
  form.emplace_back("csrf_token", csrf);
  form.emplace_back("username", "alice");
  form.emplace_back("password", kPassword);
  ExpectRedirectError(handler_->Post(PostRequest(form, csrf)), 303, "invalid_request",
                      "code_challenge_method=S256 is required");
}

TEST_F(AuthorizeTest, WrongPasswordIs401WithAMessage) {
  http::Response r = Login("alice", "wrong password");
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr("Incorrect user name or password."));
  EXPECT_THAT(r.body, HasSubstr("id=\"username\""));
  EXPECT_THAT(r.body, HasSubstr("value=\"alice\""));  // user name re-filled
  EXPECT_FALSE(r.FindHeader("Location").has_value());
  EXPECT_EQ(SetCookieFor(r, "tessera_session"), "");
}

TEST_F(AuthorizeTest, SuccessfulLoginIssuesACodeAndASession) {
  http::Response r = Login("alice", kPassword);
  ASSERT_EQ(r.status, 303);
  auto [target, q] = ParseLocation(r);
  EXPECT_EQ(target, kRedirect);
  EXPECT_EQ(q["state"], "xyz");
  EXPECT_EQ(q["iss"], kIssuer);
  EXPECT_EQ(q.count("error"), 0u);
  const std::string code = q["code"];
  EXPECT_THAT(code, StartsWith("tsac_"));

  const std::string session_cookie = SetCookieFor(r, "tessera_session");
  EXPECT_THAT(session_cookie, AllOf(HasSubstr("; HttpOnly"), HasSubstr("; SameSite=Lax"),
                                    HasSubstr("; Path=/;"), Not(HasSubstr("Secure"))));
  // The CSRF cookie is spent.
  EXPECT_THAT(SetCookieFor(r, "tessera_csrf"),
              AllOf(StartsWith("tessera_csrf=;"), HasSubstr("Max-Age=0")));

  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->application_arn, kApp);
  EXPECT_EQ(stored->user_id, kAlice);
  EXPECT_EQ(stored->redirect_uri, kRedirect);
  EXPECT_EQ(stored->code_challenge, kChallenge);
  EXPECT_THAT(stored->scopes,
              ElementsAre("openid", "aws", "sts:identity_context", "s3:access_grants:read_write"));
  EXPECT_EQ(stored->created_at, kNow);
  EXPECT_EQ(stored->expires_at, kNow + options_.code_ttl);
  EXPECT_EQ(stored->auth_time, kNow);
  EXPECT_EQ(stored->consumed_at, 0);

  const std::string session_id = CookieFrom(r, "tessera_session");
  auto session = store_->GetSession(tokens::TokenMinter::Hash(session_id));
  ASSERT_THAT(session, IsOk());
  EXPECT_EQ(session->user_id, kAlice);
  EXPECT_EQ(session->auth_time, kNow);
  EXPECT_EQ(session->expires_at, kNow + options_.session_ttl);
  EXPECT_EQ(stored->session_hash, session->session_hash);
}

TEST_F(AuthorizeTest, RequestedScopesAreBoundToTheCode) {
  http::Response r = Login("alice", kPassword, With(ValidParams(), "scope", "aws openid aws"));
  ASSERT_EQ(r.status, 303);
  auto [target, q] = ParseLocation(r);
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(q["code"]));
  ASSERT_THAT(stored, IsOk());
  EXPECT_THAT(stored->scopes, ElementsAre("aws", "openid"));
}

// --- sessions ---

TEST_F(AuthorizeTest, LiveSessionIssuesACodeOnGet) {
  const std::string session = MakeSession(kAlice);
  http::Response r =
      handler_->Get(GetRequest(ValidParams(), "other=1; tessera_session=" + session));
  ASSERT_EQ(r.status, 302);
  auto [target, q] = ParseLocation(r);
  EXPECT_EQ(target, kRedirect);
  EXPECT_EQ(q["state"], "xyz");
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(q["code"]));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->user_id, kAlice);
  EXPECT_EQ(stored->auth_time, kNow - 100);
  EXPECT_EQ(stored->session_hash, tokens::TokenMinter::Hash(session));
  EXPECT_EQ(stored->expires_at, kNow + options_.code_ttl);
}

// The store's sessions, except that reading one fails while `down` is set (the database
// unreachable).
class SessionsThatFail : public storage::SessionStore {
 public:
  explicit SessionsThatFail(std::shared_ptr<storage::SessionStore> store)
      : store_(std::move(store)) {}
  bool down = false;

  Status CreateSession(const storage::SignInSession& s) override {
    return store_->CreateSession(s);
  }
  StatusOr<storage::SignInSession> GetSession(const std::string& hash) override {
    if (down) return UnavailableError("the database is unreachable");
    return store_->GetSession(hash);
  }
  Status RevokeSession(const std::string& hash, int64_t now) override {
    return store_->RevokeSession(hash, now);
  }
  StatusOr<storage::LoginAttempt> ReserveLoginAttempt(const std::string& key, int64_t now,
                                                      int64_t window, int limit) override {
    return store_->ReserveLoginAttempt(key, now, window, limit);
  }
  Status RefundLoginAttempt(const std::string& key, int64_t start) override {
    return store_->RefundLoginAttempt(key, start);
  }
  StatusOr<storage::LoginFailures> RecordLoginFailure(const std::string& key, int64_t now,
                                                      int64_t window) override {
    return store_->RecordLoginFailure(key, now, window);
  }
  StatusOr<storage::LoginFailures> GetLoginFailures(const std::string& key) override {
    return store_->GetLoginFailures(key);
  }
  Status ClearLoginFailures(const std::string& key) override {
    return store_->ClearLoginFailures(key);
  }

 private:
  std::shared_ptr<storage::SessionStore> store_;
};

// Issue 23: a session that cannot be read is the server's failure, not "signed out": 503, and
// not the sign-in page (whose password check would fail the same way).
TEST_F(AuthorizeTest, ASessionTheStoreCannotReadAnswers503NotTheSignInPage) {
  auto sessions = std::make_shared<SessionsThatFail>(store_);
  handler_ = std::make_unique<AuthorizeHandler>(
      AuthorizeStorage{sessions, store_, store_, store_, store_}, clock_, options_);
  const std::string session = MakeSession(kAlice);
  const http::Request get = GetRequest(ValidParams(), "tessera_session=" + session);
  sessions->down = true;
  ::testing::internal::CaptureStderr();
  http::Response r = handler_->Get(get);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("could not read your sign-in session"));
  EXPECT_THAT(r.body, Not(HasSubstr("name=\"password\"")));  // no sign-in form
  EXPECT_FALSE(r.FindHeader("Location").has_value());
  EXPECT_THAT(log, HasSubstr("the database is unreachable"));
  EXPECT_THAT(log, Not(HasSubstr(session)));  // the cookie is a credential
  // Back up: the same request gets its code.
  sessions->down = false;
  EXPECT_EQ(handler_->Get(get).status, 302);
}

TEST_F(AuthorizeTest, ExpiredRevokedOrUnknownSessionShowsTheForm) {
  const std::string expiring = MakeSession(kAlice, kNow + 10);
  clock_->Advance(std::chrono::seconds(10));
  EXPECT_EQ(handler_->Get(GetRequest(ValidParams(), "tessera_session=" + expiring)).status, 200);

  const std::string revoked = MakeSession(kAlice);
  ASSERT_THAT(store_->RevokeSession(tokens::TokenMinter::Hash(revoked), kNow), IsOk());
  EXPECT_EQ(handler_->Get(GetRequest(ValidParams(), "tessera_session=" + revoked)).status, 200);

  EXPECT_EQ(handler_->Get(GetRequest(ValidParams(), "tessera_session=nonsense")).status, 200);
}

TEST_F(AuthorizeTest, UnassignedUserIsDeniedByRedirect) {
  const std::string session = MakeSession(kBob);
  ExpectRedirectError(handler_->Get(GetRequest(ValidParams(), "tessera_session=" + session)), 302,
                      "access_denied", "not assigned");
}

TEST_F(AuthorizeTest, AssignmentNotRequiredAllowsEveryUser) {
  const std::string session = MakeSession(kBob);
  http::Response r = handler_->Get(GetRequest(ValidParams(kOpenApp), "tessera_session=" + session));
  ASSERT_EQ(r.status, 302);
  auto [target, q] = ParseLocation(r);
  EXPECT_EQ(q.count("error"), 0u);
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(q["code"]));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->user_id, kBob);
  EXPECT_EQ(stored->application_arn, kOpenApp);
}

TEST_F(AuthorizeTest, LogoutRevokesTheSession) {
  const std::string session = MakeSession(kAlice);
  clock_->Advance(std::chrono::seconds(7));
  http::Request logout;
  logout.method = "POST";
  logout.target = "/logout";
  logout.headers.push_back({"cookie", "tessera_session=" + session});
  http::Response r = handler_->Logout(logout);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(SetCookieFor(r, "tessera_session"),
              AllOf(StartsWith("tessera_session=;"), HasSubstr("Max-Age=0")));
  auto stored = store_->GetSession(tokens::TokenMinter::Hash(session));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->revoked_at, kNow + 7);
  // The session no longer signs in.
  EXPECT_EQ(handler_->Get(GetRequest(ValidParams(), "tessera_session=" + session)).status, 200);
  // Logging out without a session is fine.
  logout.headers.clear();
  EXPECT_EQ(handler_->Logout(logout).status, 200);
}

// --- throttling ---

TEST_F(AuthorizeTest, FailuresThrottleTheUserUntilTheWindowEnds) {
  for (int i = 0; i < options_.max_failures_per_user; ++i) {
    ASSERT_EQ(Login("alice", "wrong").status, 401) << "attempt " << i;
  }
  // Locked: even the right password is not checked.
  http::Response locked = Login("alice", kPassword);
  EXPECT_EQ(locked.status, 429);
  EXPECT_THAT(locked.body, HasSubstr("Too many failed sign-in attempts. Try again in 15 minutes."));
  EXPECT_FALSE(locked.FindHeader("Location").has_value());

  clock_->Advance(std::chrono::seconds(14 * 60 + 30));
  http::Response almost = Login("alice", kPassword);
  EXPECT_EQ(almost.status, 429);
  EXPECT_THAT(almost.body, HasSubstr("Try again in 1 minute."));

  clock_->Advance(std::chrono::seconds(30));
  EXPECT_EQ(Login("alice", kPassword).status, 303);
}

// --- registered clients (RegisterClient): the AWS CLI's browser sign-in ---

TEST(RedirectUriMatchesTest, ExactExceptLoopbackIpLiteralsOnAnyPort) {
  // RFC 8252 §7.3: the port of a loopback IP literal URI is the client's choice at run time.
  EXPECT_TRUE(RedirectUriMatches(kLoopback, kLoopbackWithPort));
  EXPECT_TRUE(RedirectUriMatches(kLoopback, kLoopback));
  EXPECT_TRUE(RedirectUriMatches("http://127.0.0.1:8000/cb", "http://127.0.0.1:9/cb"));
  EXPECT_TRUE(
      RedirectUriMatches("http://[::1]/oauth/callback", "http://[::1]:65535/oauth/callback"));
  EXPECT_TRUE(RedirectUriMatches("http://127.0.0.1/cb?x=1", "http://127.0.0.1:5/cb?x=1"));
  EXPECT_TRUE(RedirectUriMatches("http://127.0.0.1", "http://127.0.0.1:8000"));
  EXPECT_TRUE(RedirectUriMatches("https://app.example/cb", "https://app.example/cb"));
  // Everything else is compared exactly.
  for (const char* requested :
       {"http://127.0.0.1:54321/oauth/callback/", "http://127.0.0.1:54321/oauth/Callback",
        "http://127.0.0.1:54321/oauth/callback?x=1", "http://127.0.0.10:5/oauth/callback",
        "http://127.0.0.1:0/oauth/callback", "http://127.0.0.1:65536/oauth/callback",
        "http://127.0.0.1:/oauth/callback", "http://127.0.0.1:80x/oauth/callback",
        "http://127.0.0.1:80@evil.example/oauth/callback",
        "http://127.0.0.1@evil.example/oauth/callback", "https://127.0.0.1:5/oauth/callback",
        "http://[::1]:5/oauth/callback", "http://localhost:5/oauth/callback",
        "HTTP://127.0.0.1:5/oauth/callback"}) {
    SCOPED_TRACE(requested);
    EXPECT_FALSE(RedirectUriMatches(kLoopback, requested));
  }
  // localhost is a name, not a loopback IP literal (RFC 8252 §8.3): no port freedom.
  EXPECT_FALSE(RedirectUriMatches("http://localhost/cb", "http://localhost:5/cb"));
  EXPECT_FALSE(RedirectUriMatches("https://app.example/cb", "https://app.example:444/cb"));
}

TEST_F(AuthorizeTest, RegisteredClientSignsInExactlyAsTheAwsCliCallsIt) {
  ASSERT_THAT(store_->CreateClient(Client()), IsOk());
  http::Response page = handler_->Get(GetRequest(CliParams()));
  ASSERT_EQ(page.status, 200) << page.body;
  // The login page names the client, escaped.
  EXPECT_THAT(page.body, HasSubstr("botocore-client-&lt;cli&gt;"));
  EXPECT_THAT(page.body, HasSubstr("name=\"scopes\" value=\"sso:account:access\""));

  http::Response r = Login("bob", kPassword, CliParams());  // bob has no password
  EXPECT_EQ(r.status, 401);
  r = Login("alice", kPassword, CliParams());
  ASSERT_EQ(r.status, 303);
  auto [target, q] = ParseLocation(r);
  EXPECT_EQ(target, kLoopbackWithPort);
  EXPECT_EQ(q["state"], "xyz");
  EXPECT_EQ(q["iss"], kIssuer);
  const storage::AuthorizationCode code = StoredCode(r);
  EXPECT_EQ(code.application_arn, kClient);  // CreateToken checks it against the client id
  EXPECT_EQ(code.user_id, kAlice);
  EXPECT_EQ(code.redirect_uri, kLoopbackWithPort);  // what CreateToken's redirectUri must equal
  EXPECT_EQ(code.code_challenge, kChallenge);
  EXPECT_THAT(code.scopes, ElementsAre("sso:account:access"));
}

TEST_F(AuthorizeTest, RegisteredClientWithALiveSessionGetsACodeAtOnce) {
  ASSERT_THAT(store_->CreateClient(Client()), IsOk());
  const std::string session = MakeSession(kBob);
  http::Response r = handler_->Get(
      GetRequest(CliParams("http://127.0.0.1:8123/oauth/callback"), "tessera_session=" + session));
  ASSERT_EQ(r.status, 302) << r.body;
  const storage::AuthorizationCode code = StoredCode(r);
  EXPECT_EQ(code.user_id, kBob);  // no entitled application: every user may sign in
  EXPECT_EQ(code.redirect_uri, "http://127.0.0.1:8123/oauth/callback");
  EXPECT_EQ(code.session_hash, tokens::TokenMinter::Hash(session));
}

TEST_F(AuthorizeTest, RegisteredClientScopesAreSpaceOrCommaSeparatedAndBoundedByTheRegistration) {
  ASSERT_THAT(store_->CreateClient(Client()), IsOk());
  const std::string session = MakeSession(kAlice);
  const std::string cookie = "tessera_session=" + session;
  for (const char* scopes :
       {"sso:account:access openid", "sso:account:access,openid", "sso:account:access, openid"}) {
    SCOPED_TRACE(scopes);
    http::Response r = handler_->Get(GetRequest(With(CliParams(), "scopes", scopes), cookie));
    ASSERT_EQ(r.status, 302);
    EXPECT_THAT(StoredCode(r).scopes, ElementsAre("sso:account:access", "openid"));
  }
  // `scope` (RFC 6749) works too; none requested grants the registered ones.
  http::Response scope =
      handler_->Get(GetRequest(With(Without(CliParams(), "scopes"), "scope", "openid"), cookie));
  ASSERT_EQ(scope.status, 302);
  EXPECT_THAT(StoredCode(scope).scopes, ElementsAre("openid"));
  http::Response none = handler_->Get(GetRequest(Without(CliParams(), "scopes"), cookie));
  ASSERT_EQ(none.status, 302);
  EXPECT_THAT(StoredCode(none).scopes, ElementsAre("sso:account:access", "openid"));

  // Outside the registration: an application's scope is not the client's.
  ExpectClientRedirectError(
      handler_->Get(GetRequest(With(CliParams(), "scopes", "sso:account:access aws"), cookie)),
      "invalid_scope", "Scope 'aws' is not allowed");
}

TEST_F(AuthorizeTest, RegisteredClientMustUsePkceS256) {
  ASSERT_THAT(store_->CreateClient(Client()), IsOk());
  ExpectClientRedirectError(handler_->Get(GetRequest(Without(Without(CliParams(), "code_challenge"),
                                                             "code_challenge_method"))),
                            "invalid_request",
                            "PKCE is required for registered clients: send code_challenge and "
                            "code_challenge_method=S256.");
  ExpectClientRedirectError(
      handler_->Get(GetRequest(With(CliParams(), "code_challenge_method", "plain"))),
      "invalid_request", "code_challenge_method plain is refused: only S256 is allowed.");
}

TEST_F(AuthorizeTest, RegisteredClientRedirectUriMustBeRegistered) {
  ASSERT_THAT(store_->CreateClient(Client()), IsOk());
  for (const char* uri :
       {"http://127.0.0.1:54321/oauth/callback2", "http://localhost:54321/oauth/callback",
        "https://127.0.0.1:54321/oauth/callback", "http://[::1]:54321/oauth/callback",
        "https://app.example:8443/cb", "https://app.example/cb/", "com.example.app:/callback2",
        "https://evil.example/cb"}) {
    SCOPED_TRACE(uri);
    ExpectPageError(handler_->Get(GetRequest(CliParams(uri))), "invalid_request",
                    "The redirect_uri is not registered for this client");
  }
  // A registered https URI and a native app's private-use scheme (RFC 8252 §7.1) are used as is.
  const std::string cookie = "tessera_session=" + MakeSession(kAlice);
  for (const char* uri : {"https://app.example/cb", "com.example.app:/callback"}) {
    SCOPED_TRACE(uri);
    http::Response r = handler_->Get(GetRequest(CliParams(uri), cookie));
    ASSERT_EQ(r.status, 302);
    EXPECT_THAT(std::string(r.FindHeader("Location").value_or("")),
                StartsWith(std::string(uri) + "?code=tsac_"));
  }
}

TEST_F(AuthorizeTest, UnknownOrExpiredRegisteredClientIsAPageError) {
  ExpectPageError(handler_->Get(GetRequest(CliParams())), "invalid_client",
                  std::string("No application or registered client has the client_id ") + kClient);
  storage::RegisteredClient expired = Client();
  expired.secret_expires_at = kNow;
  ASSERT_THAT(store_->CreateClient(expired), IsOk());
  ExpectPageError(handler_->Get(GetRequest(CliParams())), "invalid_client",
                  "has expired. Register the client again.");
}

TEST_F(AuthorizeTest, RegisteredClientWithoutTheAuthorizationCodeGrantIsUnauthorized) {
  storage::RegisteredClient device_only = Client();
  device_only.grant_types = {"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"};
  ASSERT_THAT(store_->CreateClient(device_only), IsOk());
  ExpectClientRedirectError(handler_->Get(GetRequest(CliParams())), "unauthorized_client",
                            "The client is not registered for the authorization_code grant.");
}

TEST_F(AuthorizeTest, EntitledApplicationDecidesWhoMaySignIn) {
  ASSERT_THAT(store_->CreateClient(Client(kApp)), IsOk());  // kApp: only alice is assigned
  ExpectClientRedirectError(
      handler_->Get(GetRequest(CliParams(), "tessera_session=" + MakeSession(kBob))),
      "access_denied", "The user is not assigned to this application.");
  http::Response alice =
      handler_->Get(GetRequest(CliParams(), "tessera_session=" + MakeSession(kAlice)));
  ASSERT_EQ(alice.status, 302);
  EXPECT_EQ(StoredCode(alice).application_arn, kClient);
}

TEST_F(AuthorizeTest, DisabledEntitledApplicationIsUnauthorized) {
  storage::RegisteredClient client = Client(kDisabledApp);
  ASSERT_THAT(store_->CreateClient(client), IsOk());
  ExpectClientRedirectError(
      handler_->Get(GetRequest(CliParams(), "tessera_session=" + MakeSession(kAlice))),
      "unauthorized_client", "The application this client is entitled to is disabled.");
}

// --- PKCE where AWS has it: optional for IAM applications unless the server requires it ---

TEST_F(AuthorizeTest, ApplicationMaySignInWithoutPkceAndTheCodeHasNoChallenge) {
  const Params bare = Without(Without(ValidParams(), "code_challenge"), "code_challenge_method");
  http::Response page = handler_->Get(GetRequest(bare));
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_THAT(page.body, Not(HasSubstr("name=\"code_challenge")));
  http::Response r = Login("alice", kPassword, bare);
  ASSERT_EQ(r.status, 303);
  EXPECT_EQ(StoredCode(r).code_challenge, "");
}

TEST_F(AuthorizeTest, RequirePkceRefusesAnApplicationWithoutIt) {
  options_.require_pkce = true;
  MakeHandler();
  const Params bare = Without(Without(ValidParams(), "code_challenge"), "code_challenge_method");
  http::Response r = handler_->Get(GetRequest(bare));
  ExpectRedirectError(r, 302, "invalid_request", "");
  EXPECT_EQ(ParseLocation(r).second["error_description"],
            "PKCE is required: send code_challenge and code_challenge_method=S256.");
  EXPECT_EQ(handler_->Get(GetRequest(ValidParams())).status, 200);
}

// --- OpenID Connect: nonce and prompt ---

TEST_F(AuthorizeTest, NonceIsKeptOnTheCodeAndCarriedByTheLoginForm) {
  const Params params = With(ValidParams(), "nonce", "n-0S6_WzA2Mj\"<x>");
  http::Response page = handler_->Get(GetRequest(params));
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.body, HasSubstr("name=\"nonce\" value=\"n-0S6_WzA2Mj&quot;&lt;x&gt;\""));
  http::Response r = Login("alice", kPassword, params);
  ASSERT_EQ(r.status, 303);
  EXPECT_EQ(StoredCode(r).nonce, "n-0S6_WzA2Mj\"<x>");

  http::Response session =
      handler_->Get(GetRequest(With(ValidParams(), "nonce", std::string(512, 'n')),
                               "tessera_session=" + MakeSession(kAlice)));
  ASSERT_EQ(session.status, 302);
  EXPECT_EQ(StoredCode(session).nonce, std::string(512, 'n'));
}

TEST_F(AuthorizeTest, OverlongNonceIsARedirectError) {
  http::Response r = handler_->Get(GetRequest(With(ValidParams(), "nonce", std::string(513, 'n'))));
  ExpectRedirectError(r, 302, "invalid_request", "");
  EXPECT_EQ(ParseLocation(r).second["error_description"], "nonce is longer than 512 characters.");
  Params twice = ValidParams();
  twice.emplace_back("nonce", "a");
  twice.emplace_back("nonce", "b");
  ExpectRedirectError(handler_->Get(GetRequest(twice)), 302, "invalid_request",
                      "nonce is given more than once");
}

TEST_F(AuthorizeTest, PromptNoneWithoutASessionIsLoginRequiredAndShowsNoPage) {
  for (const std::string& cookie : {std::string(), std::string("tessera_session=nonsense")}) {
    http::Response r = handler_->Get(GetRequest(With(ValidParams(), "prompt", "none"), cookie));
    ExpectRedirectError(r, 302, "login_required", "prompt=none");
    EXPECT_THAT(SetCookies(r), IsEmpty());
    EXPECT_EQ(r.body, "");
  }
}

TEST_F(AuthorizeTest, PromptNoneWithASessionIssuesACodeOrDeniesAnUnassignedUser) {
  http::Response r = handler_->Get(
      GetRequest(With(ValidParams(), "prompt", "none"), "tessera_session=" + MakeSession(kAlice)));
  ASSERT_EQ(r.status, 302);
  EXPECT_EQ(StoredCode(r).user_id, kAlice);
  ExpectRedirectError(handler_->Get(GetRequest(With(ValidParams(), "prompt", "none"),
                                               "tessera_session=" + MakeSession(kBob))),
                      302, "access_denied", "not assigned");
}

TEST_F(AuthorizeTest, PromptLoginShowsTheLoginPageDespiteALiveSession) {
  const std::string cookie = "tessera_session=" + MakeSession(kAlice);
  for (const char* prompt : {"login", "select_account", "login consent"}) {
    SCOPED_TRACE(prompt);
    http::Response r = handler_->Get(GetRequest(With(ValidParams(), "prompt", prompt), cookie));
    EXPECT_EQ(r.status, 200);
    EXPECT_THAT(r.body, HasSubstr("name=\"prompt\" value=\"" + std::string(prompt) + "\""));
  }
  // Signing in again starts a new session, with a new auth_time.
  clock_->Advance(std::chrono::seconds(30));
  http::Response r = Login("alice", kPassword, With(ValidParams(), "prompt", "login"));
  ASSERT_EQ(r.status, 303);
  EXPECT_EQ(StoredCode(r).auth_time, kNow + 30);
  // consent alone asks nothing more: assignments are the administrator's consent.
  EXPECT_EQ(handler_->Get(GetRequest(With(ValidParams(), "prompt", "consent"), cookie)).status,
            302);
}

TEST_F(AuthorizeTest, UnknownOrContradictoryPromptIsARedirectError) {
  http::Response unknown = handler_->Get(GetRequest(With(ValidParams(), "prompt", "login bogus")));
  ExpectRedirectError(unknown, 302, "invalid_request", "");
  EXPECT_EQ(ParseLocation(unknown).second["error_description"],
            "prompt value 'bogus' is not supported (none, login, consent, select_account).");
  ExpectRedirectError(handler_->Get(GetRequest(With(ValidParams(), "prompt", "none login"))), 302,
                      "invalid_request", "prompt=none cannot be combined with other values.");
}

// Issue 23's probe: 32 wrong passwords for one user posted at the same moment (32 login forms
// fetched first, then fired together). Each attempt is reserved before its password is
// checked, so exactly max_failures_per_user are evaluated and the rest are refused unchecked.
TEST_F(AuthorizeTest, ConcurrentWrongPasswordsAreThrottledAtTheLimit) {
  constexpr int kGuesses = 32;
  std::vector<http::Request> posts;
  for (int i = 0; i < kGuesses; ++i) {
    const std::string csrf = FetchCsrf();
    Params form = ValidParams();
    form.emplace_back("csrf_token", csrf);
    form.emplace_back("username", "alice");
    form.emplace_back("password", "wrong " + std::to_string(i));
    posts.push_back(PostRequest(form, csrf, kPublicUrl));
  }
  std::vector<http::Response> answers(kGuesses);
  ::ts::testing::RunConcurrently(kGuesses, [&](int i) { answers[i] = handler_->Post(posts[i]); });
  int incorrect = 0;
  int throttled = 0;
  for (const http::Response& r : answers) {
    if (r.status == 401) {
      EXPECT_THAT(r.body, HasSubstr("Incorrect user name or password."));
      ++incorrect;
    } else {
      EXPECT_EQ(r.status, 429) << r.body;
      EXPECT_THAT(r.body, HasSubstr("Too many failed sign-in attempts. Try again in 15 minutes."));
      ++throttled;
    }
  }
  EXPECT_EQ(incorrect, options_.max_failures_per_user);
  EXPECT_EQ(throttled, kGuesses - options_.max_failures_per_user);
  // The right password is refused too until the window ends.
  EXPECT_EQ(Login("alice", kPassword).status, 429);
}

// A sign-in with the right password gives its reservation back: it is not a failure.
TEST_F(AuthorizeTest, SuccessfulSignInIsNotCountedAsAFailure) {
  ASSERT_EQ(Login("alice", "wrong").status, 401);
  ASSERT_EQ(Login("alice", "wrong").status, 401);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Login("alice", kPassword).status, 303) << i;
  // Two failures so far: three more are allowed, then the user is locked.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Login("alice", "wrong").status, 401) << i;
  EXPECT_EQ(Login("alice", kPassword).status, 429);
}

// The address's reservation is given back too: many users signing in from one address (a NAT)
// are not taken for a guesser.
TEST_F(AuthorizeTest, SuccessfulSignInsDoNotFillTheAddressWindow) {
  options_.max_failures_per_address = 2;
  MakeHandler();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Login("alice", kPassword).status, 303) << i;
  EXPECT_EQ(Login("nobody", "wrong").status, 401);
  EXPECT_EQ(Login("nobody-else", "wrong").status, 401);
  EXPECT_EQ(Login("alice", kPassword).status, 429);
}

}  // namespace
}  // namespace ts::web
