#include "ts/web/authorize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/crypto/password.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/token_minter.h"

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

namespace fs = std::filesystem;

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kPublicUrl[] = "http://127.0.0.1:8080";
constexpr char kIssuer[] = "http://127.0.0.1:8080/ssoins-111111111111";
constexpr char kApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1";
constexpr char kOpenApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-2";
constexpr char kDisabledApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-3";
constexpr char kRedirect[] = "https://mywebapp.example/redirect";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";  // RFC 7636 App. B
constexpr char kAlice[] = "11111111-1111-4111-8111-111111111111";
constexpr char kBob[] = "22222222-2222-4222-8222-222222222222";
constexpr char kPassword[] = "correct horse battery staple";

std::string Query(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  return out;
}

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
  r.target = "/authorize?" + Query(params);
  r.headers.push_back({"host", "127.0.0.1:8080"});
  if (!cookie.empty()) r.headers.push_back({"cookie", cookie});
  r.remote_address = "127.0.0.1";
  return r;
}

std::vector<std::string> SetCookies(const http::Response& r) {
  std::vector<std::string> out;
  for (const http::Header& h : r.headers) {
    if (h.name == "Set-Cookie" || h.name == "set-cookie") out.push_back(h.value);
  }
  return out;
}

// The value of cookie `name` in the response's Set-Cookie headers ("" if none).
std::string CookieFrom(const http::Response& r, const std::string& name) {
  for (const std::string& c : SetCookies(r)) {
    if (c.rfind(name + "=", 0) == 0)
      return c.substr(name.size() + 1, c.find(';') - name.size() - 1);
  }
  return "";
}

std::string SetCookieFor(const http::Response& r, const std::string& name) {
  for (const std::string& c : SetCookies(r)) {
    if (c.rfind(name + "=", 0) == 0) return c;
  }
  return "";
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

class AuthorizeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One argon2 hash for the whole suite (each costs ~50 ms).
    auto hash = crypto::HashPassword(kPassword);
    ASSERT_THAT(hash, IsOk());
    password_hash_ = new std::string(*hash);
  }
  static void TearDownTestSuite() {
    delete password_hash_;
    password_hash_ = nullptr;
  }

  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-authorize");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;

    storage::User alice;
    alice.user_id = kAlice;
    alice.identity_store_id = "d-3333333333";
    alice.user_name = "alice";
    alice.password_hash = *password_hash_;
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
    handler_ = std::make_unique<AuthorizeHandler>(AuthorizeStorage{store_, store_, store_, store_},
                                                  clock_, options_);
  }

  void TearDown() override {
    handler_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
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
    r.body = Query(form);
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

  static std::string* password_hash_;
  fs::path dir_;
  storage::StorePtr store_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  AuthorizeOptions options_;
  std::unique_ptr<AuthorizeHandler> handler_;
};

std::string* AuthorizeTest::password_hash_ = nullptr;

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
  ExpectRedirectError(handler_->Get(GetRequest(Without(ValidParams(), "code_challenge_method"))),
                      302, "invalid_request", "PKCE is required");
  ExpectRedirectError(
      handler_->Get(GetRequest(With(ValidParams(), "code_challenge_method", "plain"))), 302,
      "invalid_request", "code_challenge_method plain is refused");
}

TEST_F(AuthorizeTest, MissingChallengeIsARedirectErrorSayingItIsRequired) {
  // Absent, or present without a value (RFC 6749 §3.1: the same as absent).
  for (const Params& params :
       {Without(ValidParams(), "code_challenge"), With(ValidParams(), "code_challenge", "")}) {
    http::Response r = handler_->Get(GetRequest(params));
    ExpectRedirectError(r, 302, "invalid_request", "");
    EXPECT_EQ(ParseLocation(r).second["error_description"],
              "code_challenge is required (PKCE, S256).");
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
  handler_ = std::make_unique<AuthorizeHandler>(AuthorizeStorage{store_, store_, store_, store_},
                                                clock_, options_);
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
                      "PKCE is required");
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
  handler_ = std::make_unique<AuthorizeHandler>(AuthorizeStorage{store_, store_, store_, store_},
                                                clock_, options_);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Login("alice", kPassword).status, 303) << i;
  EXPECT_EQ(Login("nobody", "wrong").status, 401);
  EXPECT_EQ(Login("nobody-else", "wrong").status, 401);
  EXPECT_EQ(Login("alice", kPassword).status, 429);
}

}  // namespace
}  // namespace ts::web
