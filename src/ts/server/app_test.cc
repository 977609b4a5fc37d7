#include "ts/server/app.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/metrics.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/password.h"
#include "ts/jose/jwk.h"
#include "ts/jose/verifier.h"
#include "ts/oauth/public_clients.h"
#include "ts/server/bootstrap.h"
#include "ts/server/overload.h"
#include "ts/server/routes.h"
#include "ts/sigv4/signer.h"
#include "ts/storage/store.h"
#include "ts/tokens/token_minter.h"

namespace ts::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::ts::testing::IsOk;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kPublicUrl[] = "http://127.0.0.1:8080";
constexpr char kRootId[] = "AKIAROOTEXAMPLE00001";
constexpr char kRootSecret[] = "root/secret/EXAMPLEKEY";
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

class TesseraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-app");
    ASSERT_FALSE(dir_.empty());
    config_.db_path = (dir_ / "t.db").string();
    config_.demo = true;
    config_.demo_password = "demo-password";
    config_.master_key_env = crypto::HexEncode(std::string(32, 'm'));
    config_.root_access_key_id = kRootId;
    config_.root_secret_key = kRootSecret;
    auto app = Tessera::Create(config_, kPublicUrl, clock_, &notices_);
    ASSERT_THAT(app, IsOk());
    app_ = std::move(*app);
  }
  void TearDown() override {
    app_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  http::Response Get(const std::string& target) const {
    http::Request r;
    r.method = "GET";
    r.target = target;
    r.headers.push_back({"host", "127.0.0.1:8080"});
    return app_->Handle(r);
  }

  static http::Request TokenRequest(const std::string& body) {
    http::Request r;
    r.method = "POST";
    r.target = "/token?aws_iam=t";
    r.headers.push_back({"host", "127.0.0.1:8080"});
    r.headers.push_back({"content-type", "application/json"});
    r.body = body;
    return r;
  }

  static void ExpectError(const http::Response& r, int status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    auto header = r.FindHeader("x-amzn-ErrorType");
    ASSERT_TRUE(header.has_value());
    EXPECT_THAT(std::string(*header), StartsWith(type + ":"));
    EXPECT_TRUE(json::parse(r.body).is_object());
  }

  // A code for the demo user, made as /authorize would.
  std::string MakeCode() {
    auto user = app_->store()->GetUserByName("demo");
    EXPECT_THAT(user, IsOk());
    const std::string code = tokens::TokenMinter::NewAuthorizationCode();
    storage::AuthorizationCode record;
    record.code_hash = tokens::TokenMinter::Hash(code);
    record.application_arn = kDemoApplicationArn;
    record.user_id = user.ok() ? user->user_id : "";
    record.redirect_uri = kDemoRedirectUri;
    record.code_challenge = kChallenge;
    record.scopes = {"openid", "aws", "sts:identity_context"};
    record.auth_time = kNow;
    record.created_at = kNow;
    record.expires_at = kNow + 300;
    EXPECT_THAT(app_->store()->CreateAuthorizationCode(record), IsOk());
    return code;
  }

  static std::string CodeBody(const std::string& code) {
    return json::serialize(json::object{{"clientId", kDemoApplicationArn},
                                        {"grantType", "authorization_code"},
                                        {"code", code},
                                        {"redirectUri", kDemoRedirectUri},
                                        {"codeVerifier", kVerifier}});
  }

  sigv4::Credential Root() const {
    sigv4::Credential c;
    c.access_key_id = kRootId;
    c.secret_access_key = kRootSecret;
    return c;
  }

  fs::path dir_;
  ServerConfig config_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::vector<std::string> notices_;
  std::unique_ptr<Tessera> app_;
};

TEST_F(TesseraTest, CreateWiresTheDemo) {
  EXPECT_EQ(app_->issuer(), std::string(kPublicUrl) + "/ssoins-111111111111");
  using Origin = Tessera::DemoSecrets::Origin;
  EXPECT_EQ(app_->demo_secrets().access_key_id, kRootId);
  EXPECT_EQ(app_->demo_secrets().root_arn, "arn:aws:iam::111111111111:root");
  EXPECT_EQ(app_->demo_secrets().root_secret, Origin::kEnvironment);
  EXPECT_EQ(app_->demo_secrets().generated_secret_access_key, "");
  EXPECT_EQ(app_->demo_secrets().demo_password, Origin::kEnvironment);
  EXPECT_EQ(app_->demo_secrets().generated_demo_password, "");
  EXPECT_THAT(app_->store()->GetApplication(kDemoApplicationArn), IsOk());
  // The master key was checked in (and a given root credential is not stored).
  EXPECT_THAT(app_->store()->GetMeta("master_key_check"), IsOk());
  for (const std::string& n : notices_) EXPECT_THAT(n, ::testing::Not(HasSubstr(kRootSecret)));
}

TEST_F(TesseraTest, ReopeningWithAnotherMasterKeyFails) {
  app_.reset();
  ServerConfig other = config_;
  other.master_key_env = crypto::HexEncode(std::string(32, 'n'));
  std::vector<std::string> notices;
  EXPECT_THAT(Tessera::Create(other, kPublicUrl, clock_, &notices),
              ::ts::testing::StatusIs(StatusCode::kFailedPrecondition,
                                      HasSubstr("master key does not match")));
}

TEST_F(TesseraTest, WithoutDemoOrBootstrapAFreshInstanceIsCreated) {
  app_.reset();
  ServerConfig empty = config_;
  empty.db_path = (dir_ / "empty.db").string();
  empty.demo = false;
  std::vector<std::string> notices;
  auto app = Tessera::Create(empty, kPublicUrl, clock_, &notices);
  ASSERT_THAT(app, IsOk());
  auto instance = (*app)->store()->GetInstance();
  ASSERT_THAT(instance, IsOk());
  // The formats of the sso-admin and identitystore models.
  EXPECT_THAT(instance->instance_arn,
              ::testing::MatchesRegex("arn:aws:sso:::instance/ssoins-[0-9a-f]{16}"));
  EXPECT_THAT(instance->identity_store_id, ::testing::MatchesRegex("d-[0-9a-f]{10}"));
  EXPECT_THAT(instance->owner_account_id, ::testing::MatchesRegex("[1-9][0-9]{11}"));
  EXPECT_THAT(notices, ::testing::Contains(HasSubstr(instance->instance_arn)));
  // Reopening keeps it.
  app->reset();
  auto again = Tessera::Create(empty, kPublicUrl, clock_, &notices);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ((*again)->store()->GetInstance()->instance_arn, instance->instance_arn);
}

// --- the demo started again on its database (`make run` twice) ---

class DemoRestartTest : public ::testing::Test {
 protected:
  using Origin = Tessera::DemoSecrets::Origin;
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-app-demo");
    ASSERT_FALSE(dir_.empty());
    config_.db_path = (dir_ / "t.db").string();
    config_.demo = true;
    config_.master_key_env = crypto::HexEncode(std::string(32, 'm'));
  }
  void TearDown() override { ::ts::testing::RemoveTempDir(dir_); }

  std::unique_ptr<Tessera> Start() {
    notices_.clear();
    auto app = Tessera::Create(config_, kPublicUrl, clock_, &notices_);
    EXPECT_THAT(app, IsOk());
    return app.ok() ? std::move(*app) : nullptr;
  }
  static bool SignsIn(Tessera& app, const std::string& password) {
    auto user = app.store()->GetUserByName("demo");
    return user.ok() && crypto::VerifyPassword(password, user->password_hash);
  }

  fs::path dir_;
  ServerConfig config_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::vector<std::string> notices_;
};

TEST_F(DemoRestartTest, ThePasswordIsGeneratedWhenTheUserIsCreatedAndKeptAfter) {
  auto first = Start();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->demo_secrets().demo_password, Origin::kGenerated);
  const std::string password = first->demo_secrets().generated_demo_password;
  ASSERT_FALSE(password.empty());
  EXPECT_TRUE(SignsIn(*first, password));
  first.reset();

  auto second = Start();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->demo_secrets().demo_password, Origin::kEarlierStart);
  EXPECT_EQ(second->demo_secrets().generated_demo_password, "");
  EXPECT_TRUE(SignsIn(*second, password));
  EXPECT_THAT(notices_, ::testing::Not(::testing::Contains(HasSubstr("demo user's password"))));
}

TEST_F(DemoRestartTest, APasswordSetWithTheCliSurvivesARestart) {
  auto first = Start();
  ASSERT_NE(first, nullptr);
  // What `tessera set-password --user-name demo` does.
  auto user = first->store()->GetUserByName("demo");
  ASSERT_THAT(user, IsOk());
  auto hash = crypto::HashPassword("chosen with set-password");
  ASSERT_THAT(hash, IsOk());
  user->password_hash = *hash;
  ASSERT_THAT(first->store()->UpdateUser(*user), IsOk());
  first.reset();

  auto second = Start();
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(SignsIn(*second, "chosen with set-password"));
}

TEST_F(DemoRestartTest, TesseraDemoPasswordReplacesThePasswordOnRestart) {
  auto first = Start();
  ASSERT_NE(first, nullptr);
  const std::string generated = first->demo_secrets().generated_demo_password;
  first.reset();

  config_.demo_password = "from the environment";
  auto second = Start();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->demo_secrets().demo_password, Origin::kEnvironment);
  EXPECT_EQ(second->demo_secrets().generated_demo_password, "");
  EXPECT_TRUE(SignsIn(*second, "from the environment"));
  EXPECT_FALSE(SignsIn(*second, generated));
}

TEST_F(DemoRestartTest, ATooShortTesseraDemoPasswordIsNamed) {
  config_.demo_password = "short";
  std::vector<std::string> notices;
  EXPECT_THAT(Tessera::Create(config_, kPublicUrl, clock_, &notices),
              ::ts::testing::StatusIs(
                  StatusCode::kInvalidArgument,
                  "TESSERA_DEMO_PASSWORD: the password must have at least 8 characters"));
}

TEST_F(DemoRestartTest, TheRootSecretIsShownOnlyByTheStartThatGeneratedIt) {
  auto first = Start();
  ASSERT_NE(first, nullptr);
  const Tessera::DemoSecrets generated = first->demo_secrets();
  EXPECT_EQ(generated.root_secret, Origin::kGenerated);
  ASSERT_FALSE(generated.generated_secret_access_key.empty());
  EXPECT_THAT(notices_, ::testing::Contains(HasSubstr(generated.generated_secret_access_key)));
  first.reset();

  auto second = Start();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->demo_secrets().root_secret, Origin::kEarlierStart);
  EXPECT_EQ(second->demo_secrets().access_key_id, generated.access_key_id);
  EXPECT_EQ(second->demo_secrets().generated_secret_access_key, "");
  for (const std::string& n : notices_) {
    EXPECT_THAT(n, ::testing::Not(HasSubstr(generated.generated_secret_access_key)));
  }
  EXPECT_THAT(notices_, ::testing::Contains("root access key id: " + generated.access_key_id +
                                            " (its secret was printed when it was generated)"));
}

// --- the admin plane (POST / with X-Amz-Target) ---

http::Request AdminRequest(const std::string& target, const std::string& body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers.push_back({"host", "127.0.0.1:8080"});
  r.headers.push_back({"content-type", "application/x-amz-json-1.1"});
  r.headers.push_back({"x-amz-target", target});
  r.body = body;
  return r;
}

TEST_F(TesseraTest, AdminPlaneIsSignedPerService) {
  http::Request r = AdminRequest("SWBExternalService.ListInstances", "{}");
  ASSERT_THAT(sigv4::SignRequest(r, Root(), "us-east-1", "sso", kNow), IsOk());
  http::Response ok = app_->Handle(r);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.FindHeader("content-type").value_or(""), "application/x-amz-json-1.1");
  EXPECT_EQ(json::parse(ok.body).at("Instances").as_array().size(), 1u);

  // Signed for the wrong service (sso-oauth, or identitystore for an sso-admin operation).
  for (const char* service : {"sso-oauth", "identitystore"}) {
    http::Request wrong = AdminRequest("SWBExternalService.ListInstances", "{}");
    ASSERT_THAT(sigv4::SignRequest(wrong, Root(), "us-east-1", service, kNow), IsOk());
    http::Response denied = app_->Handle(wrong);
    EXPECT_EQ(denied.status, 403);
    EXPECT_EQ(json::parse(denied.body).at("__type"), "InvalidSignatureException") << service;
  }
  http::Request unsigned_request = AdminRequest("AWSIdentityStore.ListUsers", "{}");
  unsigned_request.request_id = "req-9";
  http::Response unsigned_response = app_->Handle(unsigned_request);
  EXPECT_EQ(json::parse(unsigned_response.body).at("__type"),
            "MissingAuthenticationTokenException");
  // identitystore's error shapes model RequestId.
  EXPECT_EQ(json::parse(unsigned_response.body).at("RequestId"), "req-9");
}

// The transport's 413 (and other own errors) take the shape of the API the request targets.
TEST(TransportErrorTest, AdminPlaneGetsAwsJsonWithTypeInTheBody) {
  constexpr char kMessage[] = "request body too large: at most 262144 bytes";
  http::Request sso = AdminRequest("SWBExternalService.PutApplicationAuthenticationMethod", "");
  sso.request_id = "req-1";
  http::Response r = TransportError(413, kMessage, sso);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType"),
            std::optional<std::string_view>("ValidationException"));
  EXPECT_EQ(r.FindHeader("Content-Type"),
            std::optional<std::string_view>("application/x-amz-json-1.1"));
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"__type":"ValidationException",)"
                        R"("Message":"request body too large: at most 262144 bytes"})"));

  http::Request ids = AdminRequest("AWSIdentityStore.CreateUser", "");
  ids.request_id = "req-2";
  r = TransportError(413, kMessage, ids);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"__type":"ValidationException","RequestId":"req-2",)"
                        R"("Message":"request body too large: at most 262144 bytes"})"));

  r = TransportError(503, "server is shutting down", sso);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType"),
            std::optional<std::string_view>("InternalServerException"));
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"__type":"InternalServerException",)"
                                             R"("Message":"server is shutting down"})"));
}

// Overload's answers (docs/design/overload.md): each API's throttling shape, with Retry-After.
TEST(ThrottledAnswerTest, EachApiGetsItsThrottlingShapeWithRetryAfter) {
  auto answer = [](const http::Request& request) {
    const Route* route = FindRoute(request.method, request.Path(), "ssoins-111111111111");
    EXPECT_NE(route, nullptr) << request.target;
    return route ? ThrottledAnswer(*route, request) : http::Response{};
  };
  http::Request token;
  token.method = "POST";
  token.target = "/token?aws_iam=t";
  http::Response r = answer(token);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(std::string(r.FindHeader("x-amzn-ErrorType").value_or("")),
              ::testing::StartsWith("SlowDownException"));
  EXPECT_EQ(json::parse(r.body).at("error"), "slow_down");
  EXPECT_EQ(r.FindHeader("Retry-After"), std::optional<std::string_view>("1"));

  http::Request sso = AdminRequest("SWBExternalService.ListInstances", "{}");
  sso.request_id = "req-1";
  r = answer(sso);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType"),
            std::optional<std::string_view>("ThrottlingException"));
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"__type":"ThrottlingException",)"
                                             R"("Message":"The server is busy; retry the )"
                                             R"(request later"})"));
  EXPECT_EQ(r.FindHeader("Retry-After"), std::optional<std::string_view>("1"));

  // identitystore's shape also models RequestId and RetryAfterSeconds.
  http::Request ids = AdminRequest("AWSIdentityStore.CreateUser", "{}");
  ids.request_id = "req-2";
  r = answer(ids);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"__type":"ThrottlingException",)"
                                             R"("RequestId":"req-2","RetryAfterSeconds":1,)"
                                             R"("Message":"The server is busy; retry the )"
                                             R"(request later"})"));

  http::Request portal;
  portal.method = "GET";
  portal.target = "/federation/credentials?account_id=123456789012&role_name=R";
  portal.headers.push_back({"x-amz-sso_bearer_token", "t"});
  r = answer(portal);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType"),
            std::optional<std::string_view>("TooManyRequestsException"));
  EXPECT_EQ(r.FindHeader("Retry-After"), std::optional<std::string_view>("1"));

  http::Request page;
  page.method = "GET";
  page.target = "/authorize?response_type=code";
  r = answer(page);
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(std::string(r.FindHeader("Content-Type").value_or("")),
              ::testing::StartsWith("text/html"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("temporarily_unavailable"));
  EXPECT_EQ(r.FindHeader("Retry-After"), std::optional<std::string_view>("1"));
}

TEST(TransportErrorTest, EverythingElseGetsTheSsoOidcShape) {
  http::Request token;
  token.method = "POST";
  token.target = "/token?aws_iam=t";
  http::Response r = TransportError(413, "request body too large: at most 262144 bytes", token);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(
      r.FindHeader("x-amzn-ErrorType"),
      std::optional<std::string_view>(
          "InvalidRequestException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"));
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"error":"invalid_request",)"
                        R"("error_description":"request body too large: at most 262144 bytes",)"
                        R"("message":"request body too large: at most 262144 bytes"})"));
  // Nothing known of the request (a header too large to parse): the same.
  r = TransportError(431, "request header fields too large", http::Request{});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(json::parse(r.body).at("error"), "invalid_request");
}

// Issue 23: no handler ends without a modeled answer. Whatever a handler throws becomes a 500
// InternalServerException in the shape of the API the request targets; the cause goes to the
// log with the request id, never to the client. Tessera::Handle runs every request through it.
TEST(AnswerOrInternalErrorTest, AThrowingHandlerGetsItsApisInternalServerException) {
  auto throws = []() -> http::Response { throw std::runtime_error("not a string"); };

  http::Request ids = AdminRequest("AWSIdentityStore.ListUsers", "{}");
  ids.request_id = "req-7";
  ::testing::internal::CaptureStderr();
  http::Response r = AnswerOrInternalError(ids, throws);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.FindHeader("x-amzn-ErrorType"),
            std::optional<std::string_view>("InternalServerException"));
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"__type":"InternalServerException","RequestId":"req-7",)"
                        R"("Message":"An internal error occurred."})"));
  EXPECT_THAT(log, HasSubstr("id=req-7"));
  EXPECT_THAT(log, HasSubstr("a handler threw: not a string"));

  http::Request sso = AdminRequest("SWBExternalService.ListInstances", "{}");
  sso.request_id = "req-8";
  ::testing::internal::CaptureStderr();
  r = AnswerOrInternalError(sso, throws);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("id=req-8"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"__type":"InternalServerException",)"
                                             R"("Message":"An internal error occurred."})"));

  // sso-oidc's restJson shape, for a throw that is not even a std::exception.
  http::Request token;
  token.method = "POST";
  token.target = "/token?aws_iam=t";
  token.request_id = "req-9";
  ::testing::internal::CaptureStderr();
  r = AnswerOrInternalError(token, []() -> http::Response { throw 42; });
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              AllOf(HasSubstr("id=req-9"), HasSubstr("a non-exception")));
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(std::string(r.FindHeader("x-amzn-ErrorType").value_or("")),
              StartsWith("InternalServerException"));
  EXPECT_EQ(json::parse(r.body).at("error_description"), "An internal error occurred.");
  EXPECT_THAT(r.body, Not(HasSubstr("not a string")));
}

TEST(AnswerOrInternalErrorTest, AnAnswerPassesThroughUnchanged) {
  http::Request token;
  token.method = "POST";
  token.target = "/token?aws_iam=t";
  http::Response r = AnswerOrInternalError(token, [] {
    http::Response ok;
    ok.status = 201;
    ok.body = "created";
    return ok;
  });
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "created");
}

TEST_F(TesseraTest, StartPageServesTheSignInFormAndRefusesAForeignPost) {
  http::Response page = Get("/start");
  EXPECT_EQ(page.status, 200) << page.body;
  EXPECT_THAT(std::string(page.FindHeader("Content-Type").value_or("")), StartsWith("text/html"));
  EXPECT_THAT(std::string(page.FindHeader("Content-Security-Policy").value_or("")),
              HasSubstr("default-src 'none'"));
  EXPECT_THAT(page.body, HasSubstr("<form method=\"post\" action=\"/start\""));
  // A post without the page's CSRF cookie changes nothing and issues nothing.
  http::Request post;
  post.method = "POST";
  post.target = "/start";
  post.headers.push_back({"host", "127.0.0.1:8080"});
  post.body = "step=credentials&account_id=210987654321&role_name=Admin&csrf_token=x";
  http::Response refused = app_->Handle(post);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_THAT(std::string(refused.FindHeader("Content-Type").value_or("")),
              StartsWith("text/html"));
}

TEST_F(TesseraTest, AdminPlaneUnknownTargetIsUnknownOperation) {
  for (const char* target : {"", "AWSSSOOIDCService.CreateToken"}) {
    http::Response r = app_->Handle(AdminRequest(target, "{}"));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(json::parse(r.body).at("__type"), "UnknownOperationException") << target;
  }
}

TEST_F(TesseraTest, Healthz) {
  http::Response r = Get("/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"status":"ok"})"));
}

TEST_F(TesseraTest, Discovery) {
  http::Response r = Get("/ssoins-111111111111/.well-known/openid-configuration");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.FindHeader("content-type").value_or(""), "application/json");
  json::object d = json::parse(r.body).as_object();
  const std::string issuer = std::string(kPublicUrl) + "/ssoins-111111111111";
  EXPECT_EQ(d["issuer"], json::value(issuer));
  EXPECT_EQ(d["authorization_endpoint"], json::value(std::string(kPublicUrl) + "/authorize"));
  EXPECT_EQ(d["token_endpoint"], json::value(std::string(kPublicUrl) + "/token"));
  EXPECT_EQ(d["jwks_uri"], json::value(issuer + "/.well-known/jwks.json"));
  EXPECT_EQ(d["code_challenge_methods_supported"], json::parse(R"(["S256"])"));
  EXPECT_EQ(d["id_token_signing_alg_values_supported"], json::parse(R"(["ES256"])"));
  EXPECT_EQ(d["authorization_response_iss_parameter_supported"], true);
}

TEST_F(TesseraTest, Jwks) {
  http::Response scoped = Get("/ssoins-111111111111/.well-known/jwks.json");
  ASSERT_EQ(scoped.status, 200);
  auto set = jose::JwkSet::Parse(scoped.body);
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(set->size(), 1u);
  http::Response root = Get("/.well-known/jwks.json");
  ASSERT_EQ(root.status, 200);
  EXPECT_EQ(root.body, scoped.body);
  // The cache lifetime the publish-before-use lead of key rotation is computed from.
  EXPECT_EQ(root.FindHeader("Cache-Control"),
            std::optional<std::string_view>("public, max-age=300"));
}

TEST_F(TesseraTest, HeadOfEveryPublicDocumentAnswersAsGet) {
  for (const char* path :
       {"/ssoins-111111111111/.well-known/openid-configuration",
        "/ssoins-111111111111/.well-known/jwks.json", "/.well-known/jwks.json", "/healthz",
        "/.well-known/oauth-authorization-server/ssoins-111111111111"}) {
    SCOPED_TRACE(path);
    http::Request head;
    head.method = "HEAD";
    head.target = path;
    head.headers.push_back({"host", "127.0.0.1:8080"});
    http::Response h = app_->Handle(head);
    http::Response g = Get(path);
    ASSERT_EQ(g.status, 200);
    EXPECT_EQ(h.status, 200);
    // The same headers and body (the transport drops the body and sends its length).
    ASSERT_EQ(h.headers.size(), g.headers.size());
    for (size_t i = 0; i < g.headers.size(); ++i) {
      EXPECT_EQ(h.headers[i].name, g.headers[i].name);
      EXPECT_EQ(h.headers[i].value, g.headers[i].value);
    }
    EXPECT_EQ(h.body, g.body);
  }
  // HEAD of an unknown path is still 404.
  http::Request unknown;
  unknown.method = "HEAD";
  unknown.target = "/nope";
  ExpectError(app_->Handle(unknown), 404, "UnknownOperationException");
}

TEST(RedactDatabaseTest, HidesOnlyThePasswordOfAPostgresUrl) {
  EXPECT_EQ(RedactDatabase("postgresql://tessera:s3cret@db:5432/ts?sslmode=require"),
            "postgresql://tessera:***@db:5432/ts?sslmode=require");
  EXPECT_EQ(RedactDatabase("postgres://tessera@db/ts"), "postgres://tessera@db/ts");
  EXPECT_EQ(RedactDatabase("postgresql://db/ts"), "postgresql://db/ts");
  EXPECT_EQ(RedactDatabase("./var/a:b@c.db"), "./var/a:b@c.db");
  // libpq also takes passwords as URL parameters.
  EXPECT_EQ(RedactDatabase("postgresql://tessera@db/ts?password=S3cret&sslmode=disable"),
            "postgresql://tessera@db/ts?password=***&sslmode=disable");
  EXPECT_EQ(RedactDatabase("postgresql://u:p@db/ts?sslmode=verify-full&sslpassword=k&password=x"),
            "postgresql://u:***@db/ts?sslmode=verify-full&sslpassword=***&password=***");
  EXPECT_EQ(RedactDatabase("postgresql://db/ts?mypassword=kept"),
            "postgresql://db/ts?mypassword=kept");
}

TEST_F(TesseraTest, UnknownPathIsUnknownOperation) {
  ExpectError(Get("/nope"), 404, "UnknownOperationException");
  // Another instance id's discovery document does not exist either.
  ExpectError(Get("/ssoins-999999999999/.well-known/openid-configuration"), 404,
              "UnknownOperationException");
  http::Request del;
  del.method = "DELETE";
  del.target = "/healthz";
  ExpectError(app_->Handle(del), 404, "UnknownOperationException");
}

// Without aws_iam=t (and without a SigV4 header) POST /token is a registered client's
// CreateToken, which wants the client's secret.
TEST_F(TesseraTest, TokenWithoutAwsIamIsCreateToken) {
  http::Request r = TokenRequest(CodeBody("x"));
  r.target = "/token";
  ExpectError(app_->Handle(r), 400, "InvalidRequestException");
  EXPECT_THAT(app_->Handle(r).body, HasSubstr("Member 'clientSecret' is required"));
  r.target = "/token?aws_iam=f";
  ExpectError(app_->Handle(r), 400, "InvalidRequestException");
  ExpectError(Get("/token?aws_iam=t"), 400, "InvalidRequestException");
  ExpectError(Get("/token"), 400, "InvalidRequestException");
  // A SigV4 header without aws_iam=t stays CreateTokenWithIAM's business: its signature fails.
  http::Request signed_wrong = TokenRequest(CodeBody(MakeCode()));
  signed_wrong.target = "/token";
  sigv4::Credential wrong = Root();
  wrong.secret_access_key = "not-the-secret";
  ASSERT_THAT(sigv4::SignRequest(signed_wrong, wrong, "us-east-1", "sso-oauth", kNow), IsOk());
  ExpectError(app_->Handle(signed_wrong), 403, "InvalidSignatureException");
}

TEST_F(TesseraTest, UnsignedTokenRequestIsMissingAuthenticationToken) {
  ExpectError(app_->Handle(TokenRequest(CodeBody(MakeCode()))), 403,
              "MissingAuthenticationTokenException");
}

TEST_F(TesseraTest, TokenRequestSignedWithAWrongSecretIsInvalidSignature) {
  http::Request r = TokenRequest(CodeBody(MakeCode()));
  sigv4::Credential wrong = Root();
  wrong.secret_access_key = "not-the-secret";
  ASSERT_THAT(sigv4::SignRequest(r, wrong, "us-east-1", "sso-oauth", kNow), IsOk());
  ExpectError(app_->Handle(r), 403, "InvalidSignatureException");
}

TEST_F(TesseraTest, SignedCreateTokenWithIamSucceeds) {
  const std::string code = MakeCode();
  http::Request r = TokenRequest(CodeBody(code));
  ASSERT_THAT(sigv4::SignRequest(r, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
  http::Response response = app_->Handle(r);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.FindHeader("content-type").value_or(""), "application/json");
  // RFC 6749 §5.1: tokens are never cached on the way.
  EXPECT_EQ(response.FindHeader("cache-control").value_or(""), "no-store");
  EXPECT_EQ(response.FindHeader("pragma").value_or(""), "no-cache");
  json::object o = json::parse(response.body).as_object();
  EXPECT_EQ(o["tokenType"], "Bearer");
  EXPECT_EQ(o["expiresIn"], 3600);
  EXPECT_TRUE(o.contains("refreshToken"));
  EXPECT_TRUE(o.contains("idToken"));

  auto set = jose::JwkSet::Parse(Get("/.well-known/jwks.json").body);
  ASSERT_THAT(set, IsOk());
  auto verified = jose::VerifyJws(std::string(o["accessToken"].as_string()), *set, {"ES256"});
  ASSERT_THAT(verified, IsOk());
  json::object claims = json::parse(verified->payload_json).as_object();
  EXPECT_EQ(claims["iss"], json::value(app_->issuer()));
  EXPECT_EQ(claims["aud"], kDemoApplicationArn);

  // The same signed request again reuses the code: a modeled error through the same path.
  ExpectError(app_->Handle(r), 400, "InvalidGrantException");
}

// HandleAsync answers through its Responder, possibly on another thread; this waits for it.
class AsyncAnswer {
 public:
  // Records the answer as the HTTP server would write it: a response's `finish` (which the
  // server runs on an io thread) is run here, on the test's thread, and noted.
  http::Responder Responder() {
    return [this](http::Response r) {
      const bool finished = static_cast<bool>(r.finish);
      if (finished) {
        auto finish = std::move(r.finish);
        r.finish = nullptr;
        finish(r);
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      finished_ = finished;
      response_ = std::move(r);
      cv_.notify_all();
    };
  }
  // Whether the answer came with work for the io thread (a `finish`).
  bool finished() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  // The answer, or nullopt if none came within 10 s.
  std::optional<http::Response> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return calls_ > 0; })) {
      return std::nullopt;
    }
    return response_;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
  bool finished_ = false;
  http::Response response_;
};

// The series of tessera_requests_total whose count a request raised, as its {api, operation}
// labels: the difference between two scrapes.
std::vector<std::string> RaisedRequestSeries(const std::string& before, const std::string& after) {
  // {api, operation} and status class -> count.
  auto counts = [](const std::string& text) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    static const std::regex kLine(
        R"(^tessera_requests_total\{(api="[^"]*",operation="[^"]*"),(status_class="[^"]*")\} (\S+)$)");
    std::istringstream in(text);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (std::regex_match(line, m, kLine)) out[{m[1].str(), m[2].str()}] = m[3].str();
    }
    return out;
  };
  const auto old_counts = counts(before);
  std::vector<std::string> raised;
  for (const auto& [series, count] : counts(after)) {
    auto it = old_counts.find(series);
    if (it == old_counts.end() || it->second != count) raised.push_back(series.first);
  }
  return raised;
}

TEST_F(TesseraTest, TheAccessLogNamesTheOperationTheMetricsCount) {
  app_.reset();
  config_.access_log = true;
  auto app = Tessera::Create(config_, kPublicUrl, clock_, &notices_);
  ASSERT_THAT(app, IsOk());
  app_ = std::move(*app);
  struct Case {
    std::string method;
    std::string target;
    std::vector<http::Header> headers;
    std::string api;        // the metrics' labels the request must count under
    std::string operation;  // and the access log's operation ("" = none: "unknown")
  };
  std::vector<Case> cases;
  // Every route of the table, with the first method it answers.
  const std::string instance = "ssoins-111111111111";
  for (const Route& route : Routes()) {
    std::string path(route.path);
    if (route.path_kind == PathKind::kUnderInstance) path = "/" + instance + path;
    if (route.path_kind == PathKind::kBeforeInstance) path += "/" + instance;
    std::string method = "POST";
    if ((route.methods & kPost) == 0) method = (route.methods & kGet) != 0 ? "GET" : "OPTIONS";
    cases.push_back({method, path, {}, "", ""});
  }
  // What each route's case counts as: {method, path, api, operation}.
  const std::vector<std::array<std::string, 4>> route_operations = {
      {"POST", "/token", "sso-oidc", "CreateToken"},
      {"POST", "/client/register", "sso-oidc", "RegisterClient"},
      {"POST", "/device_authorization", "sso-oidc", "StartDeviceAuthorization"},
      {"POST", "/introspect", "sso-oidc", "IntrospectToken"},
      {"POST", "/revoke", "sso-oidc", "RevokeToken"},
      {"POST", "/identity-context", "sso-oidc", "ReadIdentityContext"},
      {"POST", "/", "unknown", ""},  // no X-Amz-Target: no operation
      {"GET", "/authorize", "web", "GET /authorize"},
      {"POST", "/authorize", "web", "POST /authorize"},
      {"POST", "/logout", "web", "POST /logout"},
      {"GET", "/device", "web", "GET /device"},
      {"POST", "/device", "web", "POST /device"},
      {"GET", "/start", "web", "GET /start"},
      {"POST", "/start", "web", "POST /start"},
      {"POST", "/userinfo", "sso-oidc", "UserInfo"},
      {"GET", "/federation/credentials", "sso-portal", "GetRoleCredentials"},
      {"GET", "/assignment/accounts", "sso-portal", "ListAccounts"},
      {"GET", "/assignment/roles", "sso-portal", "ListAccountRoles"},
      {"GET", "/" + instance + "/.well-known/openid-configuration", "discovery", "Discovery"},
      {"GET", "/.well-known/oauth-authorization-server/" + instance, "discovery", "Discovery"},
      {"GET", "/" + instance + "/.well-known/jwks.json", "discovery", "Jwks"},
      {"GET", "/.well-known/jwks.json", "discovery", "Jwks"},
      {"GET", "/healthz", "health", "Healthz"},
  };
  for (const std::array<std::string, 4>& row : route_operations) {
    auto found = std::find_if(cases.begin(), cases.end(), [&row](const Case& c) {
      return c.method == row[0] && c.target == row[1];
    });
    ASSERT_NE(found, cases.end()) << "no route answers " << row[0] << " " << row[1];
    found->api = row[2];
    found->operation = row[3];
  }
  // What the same route answers as another operation, decided as dispatch decides.
  cases.insert(
      cases.end(),
      {
          {"POST", "/token?aws_iam=t", {}, "sso-oidc", "CreateTokenWithIAM"},
          {"POST",
           "/token",
           {{"authorization", "AWS4-HMAC-SHA256 x"}},
           "sso-oidc",
           "CreateTokenWithIAM"},
          // Percent-encoded, as a form decodes it.
          {"POST", "/token?aws%5Fiam=%74", {}, "sso-oidc", "CreateTokenWithIAM"},
          {"POST", "/introspect?aws_iam=t", {}, "sso-oidc", "IntrospectTokenWithIAM"},
          {"POST", "/revoke?aws_iam=t", {}, "sso-oidc", "RevokeTokenWithIAM"},
          {"POST", "/logout", {{"x-amz-sso_bearer_token", "x"}}, "sso-portal", "Logout"},
          {"POST",
           "/",
           {{"x-amz-target", "SWBExternalService.ListInstances"}},
           "sso-admin",
           "ListInstances"},
          {"POST",
           "/",
           {{"x-amz-target", "AWSIdentityStore.CreateUser"}},
           "identitystore",
           "CreateUser"},
          // An operation the model does not have is no operation, in the log as in the metrics.
          {"POST", "/", {{"x-amz-target", "SWBExternalService.NoSuchOperation"}}, "unknown", ""},
          {"GET", "/no/such/path", {}, "unknown", ""},
      });
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " " + c.target);
    http::Request r;
    r.method = c.method;
    r.target = c.target;
    r.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "application/json"}};
    r.headers.insert(r.headers.end(), c.headers.begin(), c.headers.end());
    r.body = "{}";
    const std::string before = metrics::DefaultRegistry().Render();
    AsyncAnswer answer;
    app_->HandleAsync(r, answer.Responder());
    const std::optional<http::Response> response = answer.Wait();
    ASSERT_TRUE(response.has_value());
    const std::vector<std::string> raised =
        RaisedRequestSeries(before, metrics::DefaultRegistry().Render());
    EXPECT_EQ(response->operation, c.operation);
    const std::string labels = "api=\"" + c.api + "\",operation=\"" +
                               (c.operation.empty() ? "unknown" : c.operation) + "\"";
    EXPECT_THAT(raised, ::testing::ElementsAre(labels));
  }
}

TEST_F(TesseraTest, HandleAsyncServesTheCodeAndRefreshGrantsAndEverythingElse) {
  http::Request code = TokenRequest(CodeBody(MakeCode()));
  ASSERT_THAT(sigv4::SignRequest(code, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
  AsyncAnswer first;
  app_->HandleAsync(code, first.Responder());  // the code grant: answered once redeemed
  auto redeemed = first.Wait();
  ASSERT_TRUE(redeemed.has_value());
  ASSERT_EQ(redeemed->status, 200) << redeemed->body;
  const std::string refresh_token(
      json::parse(redeemed->body).as_object()["refreshToken"].as_string());

  // A refresh on SQLite: read and rotated by the store's writer, signed by the transport's io
  // thread once the rotation is durable (the answer's `finish`).
  const std::string body = json::serialize(json::object{{"clientId", kDemoApplicationArn},
                                                        {"grantType", "refresh_token"},
                                                        {"refreshToken", refresh_token},
                                                        {"scope", json::array{"aws"}}});
  http::Request refresh = TokenRequest(body);
  ASSERT_THAT(sigv4::SignRequest(refresh, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
  AsyncAnswer second;
  app_->HandleAsync(refresh, second.Responder());
  auto refreshed = second.Wait();
  ASSERT_TRUE(refreshed.has_value());
  ASSERT_EQ(refreshed->status, 200) << refreshed->body;
  EXPECT_TRUE(second.finished());
  EXPECT_EQ(refreshed->FindHeader("content-type").value_or(""), "application/json");
  json::object o = json::parse(refreshed->body).as_object();
  EXPECT_NE(o["refreshToken"].as_string(), refresh_token);
  EXPECT_EQ(o["scope"], (json::array{"aws"}));
  auto stored = app_->store()->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(refresh_token));
  ASSERT_THAT(stored, IsOk());
  EXPECT_NE(stored->token.rotated_at, 0);

  // The same token again is reuse: the family is revoked, answered through the worker pool.
  AsyncAnswer third;
  app_->HandleAsync(refresh, third.Responder());
  auto reused = third.Wait();
  ASSERT_TRUE(reused.has_value());
  ExpectError(*reused, 400, "InvalidGrantException");
  EXPECT_THAT(reused->body, HasSubstr("already been used"));

  // A badly signed token request is answered at once with the modeled error.
  http::Request unsigned_request = TokenRequest(body);
  AsyncAnswer fourth;
  app_->HandleAsync(unsigned_request, fourth.Responder());
  EXPECT_EQ(fourth.calls(), 1);
  ExpectError(*fourth.Wait(), 403, "MissingAuthenticationTokenException");

  // Anything else runs Handle on the workers.
  http::Request health;
  health.method = "GET";
  health.target = "/healthz";
  AsyncAnswer fifth;
  app_->HandleAsync(health, fifth.Responder());
  auto healthy = fifth.Wait();
  ASSERT_TRUE(healthy.has_value());
  EXPECT_EQ(healthy->status, 200);
  EXPECT_EQ(healthy->body, R"({"status":"ok"})");
  EXPECT_EQ(first.calls() + second.calls() + third.calls() + fifth.calls(), 4);
}

// --- registered clients (docs/design/public-clients.md) ---

http::Request ClientRequest(const std::string& path, const std::string& body,
                            const std::string& content_type = "application/json") {
  http::Request r;
  r.method = "POST";
  r.target = path;
  r.headers.push_back({"host", "127.0.0.1:8080"});
  r.headers.push_back({"content-type", content_type});
  r.body = body;
  r.remote_address = "127.0.0.1";
  return r;
}

TEST_F(TesseraTest, RegisteredClientsDeviceFlowThroughTheRoutes) {
  http::Response registered = app_->Handle(ClientRequest(
      "/client/register",
      R"({"clientName":"cli","clientType":"public","scopes":["sso:account:access"]})"));
  ASSERT_EQ(registered.status, 200) << registered.body;
  EXPECT_EQ(registered.FindHeader("cache-control").value_or(""), "no-store");
  json::object client = json::parse(registered.body).as_object();
  EXPECT_EQ(client["tokenEndpoint"], json::value(std::string(kPublicUrl) + "/token"));
  const std::string id(client["clientId"].as_string());
  const std::string secret(client["clientSecret"].as_string());

  http::Response started = app_->Handle(ClientRequest(
      "/device_authorization",
      json::serialize(json::object{{"clientId", id},
                                   {"clientSecret", secret},
                                   {"startUrl", "https://d-3333333333.awsapps.com/start"}})));
  ASSERT_EQ(started.status, 200) << started.body;
  json::object device = json::parse(started.body).as_object();
  EXPECT_EQ(device["verificationUri"], json::value(std::string(kPublicUrl) + "/device"));

  const std::string poll =
      json::serialize(json::object{{"clientId", id},
                                   {"clientSecret", secret},
                                   {"grantType", "urn:ietf:params:oauth:grant-type:device_code"},
                                   {"deviceCode", device["deviceCode"]}});
  http::Response pending = app_->Handle(ClientRequest("/token", poll));
  ExpectError(pending, 400, "AuthorizationPendingException");
  EXPECT_EQ(json::parse(pending.body).at("error_description"), "Authorization is still pending");

  auto user = app_->store()->GetUserByName("demo");
  ASSERT_THAT(user, IsOk());
  ASSERT_THAT(app_->store()->DecideDeviceAuthorization(
                  oauth::UserCodeHash(std::string(device["userCode"].as_string())), true,
                  user->user_id, "session", kNow, kNow),
              IsOk());
  clock_->Advance(std::chrono::seconds(2));
  AsyncAnswer answer;
  app_->HandleAsync(ClientRequest("/token", poll), answer.Responder());
  auto tokens = answer.Wait();
  ASSERT_TRUE(tokens.has_value());
  ASSERT_EQ(tokens->status, 200) << tokens->body;
  EXPECT_EQ(tokens->FindHeader("cache-control").value_or(""), "no-store");
  json::object o = json::parse(tokens->body).as_object();
  EXPECT_EQ(o["tokenType"], "Bearer");
  const std::string refresh_token(o["refreshToken"].as_string());

  // The refresh on SQLite: rotated by the store's writer, signed on the io thread (`finish`).
  AsyncAnswer refreshed;
  app_->HandleAsync(
      ClientRequest("/token", json::serialize(json::object{{"clientId", id},
                                                           {"clientSecret", secret},
                                                           {"grantType", "refresh_token"},
                                                           {"refreshToken", refresh_token}})),
      refreshed.Responder());
  auto rotated = refreshed.Wait();
  ASSERT_TRUE(rotated.has_value());
  ASSERT_EQ(rotated->status, 200) << rotated->body;
  EXPECT_TRUE(refreshed.finished());

  // The same refresh as a standard OAuth client sends it: form post, HTTP Basic.
  const std::string next(json::parse(rotated->body).as_object()["refreshToken"].as_string());
  http::Request form =
      ClientRequest("/token", "grant_type=refresh_token&refresh_token=" + http::PercentEncode(next),
                    "application/x-www-form-urlencoded");
  form.headers.push_back(
      {"authorization", "Basic " + crypto::Base64Encode(http::PercentEncode(id) + ":" +
                                                        http::PercentEncode(secret))});
  http::Response standard = app_->Handle(form);
  ASSERT_EQ(standard.status, 200) << standard.body;
  EXPECT_TRUE(json::parse(standard.body).as_object().contains("access_token"));
  // A wrong secret: RFC 6749 §5.2, 401 with WWW-Authenticate.
  form.headers.back().value = "Basic " + crypto::Base64Encode(id + ":tscs_wrong");
  http::Response refused = app_->Handle(form);
  EXPECT_EQ(refused.status, 401);
  EXPECT_TRUE(refused.FindHeader("www-authenticate").has_value());
  json::object error = json::parse(refused.body).as_object();
  EXPECT_EQ(error.size(), 2u);
  EXPECT_EQ(error["error"], "invalid_client");
}

TEST_F(TesseraTest, RegisteredClientErrorsReachTheWire) {
  ExpectError(app_->Handle(ClientRequest("/client/register", "{")), 400, "InvalidRequestException");
  ExpectError(app_->Handle(ClientRequest("/client/register",
                                         R"({"clientName":"x","clientType":"confidential"})")),
              400, "InvalidClientMetadataException");
  ExpectError(app_->Handle(ClientRequest("/device_authorization",
                                         R"({"clientId":"AAAAAAAAAAAAAAAAAAAAAAdXMtZWFzdC0x",)"
                                         R"("clientSecret":"x","startUrl":"y"})")),
              401, "InvalidClientException");
  // A client of a region this server does not serve.
  http::Response region = app_->Handle(ClientRequest(
      "/token", R"({"clientId":"AAAAAAAAAAAAAAAAAAAAAAZXUtd2VzdC0z","clientSecret":"x",)"
                R"("grantType":"refresh_token","refreshToken":"y"})"));
  ExpectError(region, 400, "InvalidRequestRegionException");
  json::object body = json::parse(region.body).as_object();
  EXPECT_EQ(body["region"], "eu-west-3");
  EXPECT_EQ(body["endpoint"], "https://oidc.eu-west-3.amazonaws.com");
}

TEST_F(TesseraTest, ModeledServiceErrorsReachTheWire) {
  http::Request r = TokenRequest(R"({"clientId":"x"})");
  ASSERT_THAT(sigv4::SignRequest(r, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
  ExpectError(app_->Handle(r), 400, "InvalidRequestException");
}

// --- resource-server operations ---

TEST_F(TesseraTest, ResourceServerRoutesNeedPostAwsIamAndASignature) {
  for (const std::string path : {"/introspect", "/revoke", "/identity-context"}) {
    http::Request r = TokenRequest(R"({"clientId":"x","token":"t"})");
    r.target = path;
    ExpectError(app_->Handle(r), 400, "InvalidRequestException");
    ExpectError(Get(path + "?aws_iam=t"), 400, "InvalidRequestException");
    r.target = path + "?aws_iam=t";
    ExpectError(app_->Handle(r), 403, "MissingAuthenticationTokenException");
  }
}

TEST_F(TesseraTest, SignedIntrospectionAndRevocationOfAnIssuedToken) {
  http::Request token_request = TokenRequest(CodeBody(MakeCode()));
  ASSERT_THAT(sigv4::SignRequest(token_request, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
  http::Response issued = app_->Handle(token_request);
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string access(json::parse(issued.body).at("accessToken").as_string());
  auto call = [&](const std::string& path) {
    http::Request r = TokenRequest(
        json::serialize(json::object{{"clientId", kDemoApplicationArn}, {"token", access}}));
    r.target = path + "?aws_iam=t";
    EXPECT_THAT(sigv4::SignRequest(r, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
    return app_->Handle(r);
  };
  http::Response active = call("/introspect");
  ASSERT_EQ(active.status, 200) << active.body;
  EXPECT_EQ(active.FindHeader("cache-control").value_or(""), "no-store");
  EXPECT_EQ(json::parse(active.body).at("active"), json::value(true));
  http::Response revoked = call("/revoke");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(json::parse(revoked.body), json::parse("{}"));
  EXPECT_EQ(json::parse(call("/introspect").body), json::parse(R"({"active":false})"));
}

TEST_F(TesseraTest, DiscoveryNamesOnlyEndpointsThatSpeakTheirStandard) {
  json::object d =
      json::parse(Get("/ssoins-111111111111/.well-known/openid-configuration").body).as_object();
  // RFC 7662 / RFC 7009 form posts and RFC 7591 bodies, not the SigV4 JSON (?aws_iam=t) forms
  // (docs/design/public-clients.md).
  EXPECT_EQ(d["introspection_endpoint"], json::value(std::string(kPublicUrl) + "/introspect"));
  EXPECT_EQ(d["revocation_endpoint"], json::value(std::string(kPublicUrl) + "/revoke"));
  EXPECT_EQ(d["registration_endpoint"], json::value(std::string(kPublicUrl) + "/client/register"));
  EXPECT_EQ(d["introspection_endpoint_auth_methods_supported"],
            json::parse(R"(["client_secret_basic","client_secret_post"])"));
  // StartDeviceAuthorization speaks AWS's JSON only, not RFC 8628's form.
  EXPECT_FALSE(d.contains("device_authorization_endpoint"));
  EXPECT_EQ(d["userinfo_endpoint"], json::value(std::string(kPublicUrl) + "/userinfo"));
  EXPECT_EQ(d["token_endpoint_auth_methods_supported"],
            json::parse(R"(["client_secret_basic","client_secret_post","aws_sigv4"])"));
  EXPECT_EQ(d["grant_types_supported"], json::parse(R"(["authorization_code","refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange"])"));
  const auto claims = json::value_to<std::vector<std::string>>(d["claims_supported"]);
  for (const char* claim : {"sub", "auth_time", "nonce", "preferred_username", "name", "email",
                            "email_verified", "aws:identity_store_id"}) {
    EXPECT_NE(std::find(claims.begin(), claims.end(), claim), claims.end()) << claim;
  }
  EXPECT_EQ(d["request_uri_parameter_supported"], false);
  for (const char* scope : {"openid", "profile", "email"}) {
    const auto scopes = json::value_to<std::vector<std::string>>(d["scopes_supported"]);
    EXPECT_NE(std::find(scopes.begin(), scopes.end(), scope), scopes.end()) << scope;
  }
}

TEST_F(TesseraTest, Rfc8414MetadataIsTheDiscoveryDocumentAtTheInsertedPath) {
  http::Response metadata = Get("/.well-known/oauth-authorization-server/ssoins-111111111111");
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  EXPECT_EQ(metadata.FindHeader("content-type").value_or(""), "application/json");
  http::Response discovery = Get("/ssoins-111111111111/.well-known/openid-configuration");
  EXPECT_EQ(metadata.body, discovery.body);
  // RFC 8414 §3.3: the issuer is the URL the path was derived from.
  EXPECT_EQ(json::parse(metadata.body).at("issuer"),
            json::value(std::string(kPublicUrl) + "/ssoins-111111111111"));
  for (const char* path :
       {"/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/",
        "/.well-known/oauth-authorization-server/ssoins-999999999999",
        "/ssoins-111111111111/.well-known/oauth-authorization-server"}) {
    ExpectError(Get(path), 404, "UnknownOperationException");
  }
}

// --- RFC 7591, RFC 7662 and RFC 7009 for registered clients ---

http::Request FormPost(const std::string& path, const std::string& body,
                       const std::string& authorization = "") {
  http::Request r;
  r.method = "POST";
  r.target = path;
  r.remote_address = "127.0.0.1";
  r.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "application/x-www-form-urlencoded"}};
  if (!authorization.empty()) r.headers.push_back({"authorization", authorization});
  r.body = body;
  return r;
}

TEST_F(TesseraTest, Rfc7591RegistrationThenRfc7662And7009FormPosts) {
  http::Request registration;
  registration.method = "POST";
  registration.target = "/client/register";
  registration.remote_address = "127.0.0.1";
  registration.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "application/json"}};
  registration.body =
      R"({"client_name":"rp","redirect_uris":["http://127.0.0.1/cb"],"scope":"openid email",)"
      R"("grant_types":["authorization_code","refresh_token"]})";
  http::Response registered = app_->Handle(registration);
  ASSERT_EQ(registered.status, 201) << registered.body;
  EXPECT_EQ(registered.FindHeader("Cache-Control").value_or(""), "no-store");
  json::object client = json::parse(registered.body).as_object();
  EXPECT_EQ(client.at("scope"), json::value("openid email"));
  EXPECT_EQ(client.at("token_endpoint_auth_method"), json::value("client_secret_basic"));
  const std::string id(client.at("client_id").as_string());
  const std::string secret(client.at("client_secret").as_string());
  const std::string basic = "Basic " + crypto::Base64Encode(id + ":" + secret);

  // Its own introspection: a token it does not hold is inactive; revocation answers empty.
  http::Response inactive = app_->Handle(FormPost("/introspect", "token=garbage", basic));
  ASSERT_EQ(inactive.status, 200) << inactive.body;
  EXPECT_EQ(json::parse(inactive.body), json::parse(R"({"active":false})"));
  http::Response revoked = app_->Handle(
      FormPost("/revoke", "token=garbage&client_id=" + id + "&client_secret=" + secret));
  EXPECT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_TRUE(revoked.body.empty());
  // A wrong secret: RFC 6749 §5.2's invalid_client, with the Basic challenge.
  http::Response refused = app_->Handle(
      FormPost("/introspect", "token=x", "Basic " + crypto::Base64Encode(id + ":tscs_wrong")));
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(json::parse(refused.body).at("error"), json::value("invalid_client"));
  EXPECT_THAT(std::string(refused.FindHeader("WWW-Authenticate").value_or("")),
              StartsWith("Basic"));
  // An RFC 7591 body Tessera cannot register: RFC 7591 §3.2.2's error, nothing stored.
  registration.body = R"({"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":)"
                      R"("none"})";
  http::Response metadata = app_->Handle(registration);
  EXPECT_EQ(metadata.status, 400) << metadata.body;
  EXPECT_EQ(json::parse(metadata.body).at("error"), json::value("invalid_client_metadata"));
}

TEST_F(TesseraTest, IamCallersKeepTheSignedJsonIntrospection) {
  // JSON without aws_iam=t is still pointed at the signed form, in AWS's error shape.
  http::Request json_post = FormPost("/introspect", R"({"clientId":"x","token":"t"})");
  json_post.headers[1].value = "application/json";
  ExpectError(app_->Handle(json_post), 400, "InvalidRequestException");
  // A form with ?aws_iam=t is the signed operation, which wants its signature.
  ExpectError(app_->Handle(FormPost("/revoke?aws_iam=t", "token=t")), 403,
              "MissingAuthenticationTokenException");
}

// --- CORS and UserInfo ---

TEST_F(TesseraTest, PublicDocumentsAndUserInfoAreReadableFromAnyOrigin) {
  for (const Route& route : Routes()) {
    http::Request r;
    r.method = (route.methods & kGet) != 0 ? "GET" : "POST";
    r.target = route.path_kind == PathKind::kUnderInstance
                   ? "/ssoins-111111111111" + std::string(route.path)
               : route.path_kind == PathKind::kBeforeInstance
                   ? std::string(route.path) + "/ssoins-111111111111"
                   : std::string(route.path);
    r.headers = {{"host", "127.0.0.1:8080"}, {"origin", "https://app.example"}};
    SCOPED_TRACE(r.method + " " + r.target);
    http::Response answer = app_->Handle(r);
    http::Request preflight = r;
    preflight.method = "OPTIONS";
    preflight.headers.push_back({"access-control-request-method", "GET"});
    preflight.headers.push_back({"access-control-request-headers", "authorization"});
    http::Response pre = app_->Handle(preflight);
    if (!route.cors) {
      // Cookie-authenticated and SigV4 endpoints are not for other origins' scripts.
      EXPECT_FALSE(answer.FindHeader("Access-Control-Allow-Origin").has_value());
      EXPECT_FALSE(pre.FindHeader("Access-Control-Allow-Origin").has_value());
      if (route.methods != kAnyMethod) ExpectError(pre, 404, "UnknownOperationException");
      continue;
    }
    EXPECT_EQ(route.methods & kOptions, kOptions);
    EXPECT_EQ(answer.FindHeader("Access-Control-Allow-Origin").value_or(""), "*");
    EXPECT_EQ(pre.status, 204);
    EXPECT_EQ(pre.FindHeader("Access-Control-Allow-Origin").value_or(""), "*");
    EXPECT_THAT(std::string(pre.FindHeader("Access-Control-Allow-Methods").value_or("")),
                HasSubstr("GET"));
    EXPECT_THAT(std::string(pre.FindHeader("Access-Control-Allow-Headers").value_or("")),
                HasSubstr("Authorization"));
    EXPECT_TRUE(pre.body.empty());
  }
}

TEST_F(TesseraTest, UserInfoAnswersAnIssuedAccessTokenAndExposesItsChallenge) {
  http::Request token_request = TokenRequest(CodeBody(MakeCode()));
  ASSERT_THAT(sigv4::SignRequest(token_request, Root(), "us-east-1", "sso-oauth", kNow), IsOk());
  http::Response issued = app_->Handle(token_request);
  ASSERT_EQ(issued.status, 200) << issued.body;
  const std::string access(json::parse(issued.body).at("accessToken").as_string());
  const std::string id_token(json::parse(issued.body).at("idToken").as_string());
  http::Request r;
  r.method = "GET";
  r.target = "/userinfo";
  r.headers = {{"host", "127.0.0.1:8080"}, {"authorization", "Bearer " + access}};
  http::Response info = app_->Handle(r);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.FindHeader("Access-Control-Allow-Origin").value_or(""), "*");
  // The subject is the ID token's.
  const std::string payload =
      id_token.substr(id_token.find('.') + 1, id_token.rfind('.') - id_token.find('.') - 1);
  EXPECT_EQ(json::parse(info.body).at("sub"),
            json::parse(crypto::Base64UrlDecode(payload).value_or("{}")).at("sub"));
  // Without a token: the RFC 6750 challenge, which a page's script may read.
  r.headers = {{"host", "127.0.0.1:8080"}};
  http::Response denied = app_->Handle(r);
  EXPECT_EQ(denied.status, 401);
  EXPECT_THAT(std::string(denied.FindHeader("WWW-Authenticate").value_or("")),
              StartsWith("Bearer realm="));
  EXPECT_EQ(denied.FindHeader("Access-Control-Expose-Headers").value_or(""), "WWW-Authenticate");
  // The method column: PUT is no operation.
  r.method = "PUT";
  ExpectError(app_->Handle(r), 404, "UnknownOperationException");
}

// --- the table of routes (routes.h) ---

constexpr char kInstanceId[] = "ssoins-111111111111";

// The path a route answers on the demo instance.
std::string RoutePath(const Route& route) {
  const std::string path(route.path);
  switch (route.path_kind) {
    case PathKind::kExact:
      return path;
    case PathKind::kUnderInstance:
      return "/" + std::string(kInstanceId) + path;
    case PathKind::kBeforeInstance:
      return path + "/" + kInstanceId;
  }
  return path;
}

// The methods a route answers, as the tests send them (kAnyMethod: a sample).
std::vector<std::string> RouteMethods(const Route& route) {
  if (route.methods == kAnyMethod) return {"POST", "GET", "HEAD", "PUT", "DELETE"};
  std::vector<std::string> methods;
  for (const char* method : {"GET", "HEAD", "POST", "OPTIONS"}) {
    if ((route.methods & MethodBit(method)) != 0) methods.push_back(method);
  }
  return methods;
}

TEST(RoutesTest, EveryRouteIsFoundForEachOfItsMethodsAndNoneIsShadowed) {
  ASSERT_FALSE(Routes().empty());
  for (const Route& route : Routes()) {
    SCOPED_TRACE(RoutePath(route));
    EXPECT_TRUE(route.path.starts_with("/"));
    const std::vector<std::string> methods = RouteMethods(route);
    EXPECT_FALSE(methods.empty());
    for (const std::string& method : methods) {
      EXPECT_EQ(FindRoute(method, RoutePath(route), kInstanceId), &route) << method;
    }
  }
}

TEST(RoutesTest, AwsIamQueryIsReadAsAFormDecodesIt) {
  // What dispatch asked before the test stopped copying: the query parsed as a form.
  auto as_form = [](std::string_view query) {
    auto form = http::ParseForm(query);
    if (!form) return false;
    for (const auto& [k, v] : *form) {
      if (k == "aws_iam" && v == "t") return true;
    }
    return false;
  };
  for (std::string_view query :
       {"aws_iam=t", "x=1&aws_iam=t", "&&aws_iam=t&", "aws%5Fiam=%74", "aws%5fiam=t",
        "aws_iam=t&bad=%zz", "bad=%2&aws_iam=t", "aws_iam=t%", "aws_iam=tt", "aws_iam=", "aws_iam",
        "aws+iam=t", "aws_iam=t+", "aws_ia=t", "aws_iamm=t", "", "x=%41"}) {
    SCOPED_TRACE(query);
    EXPECT_EQ(HasAwsIamQuery(query), as_form(query));
  }
  EXPECT_TRUE(HasAwsIamQuery("aws%5Fiam=%74"));
  EXPECT_FALSE(HasAwsIamQuery("aws_iam=t&bad=%zz"));

  http::Request signed_request;
  signed_request.target = "/token";
  signed_request.headers = {{"authorization", "AWS4-HMAC-SHA256 Credential=x"}};
  EXPECT_TRUE(IsIamTokenRequest(signed_request));
  http::Request form_request;
  form_request.target = "/token?aws_iam=f";
  form_request.headers = {{"authorization", "Basic eDp5"}};
  EXPECT_FALSE(IsIamTokenRequest(form_request));
}

TEST(RoutesTest, InstancePathsNeedTheWholeInstanceId) {
  const Route* found = FindRoute("GET", "/ssoins-111111111111/.well-known/jwks.json", kInstanceId);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->endpoint, Endpoint::kJwks);
  EXPECT_EQ(found->path_kind, PathKind::kUnderInstance);
  for (const char* path :
       {"/ssoins-11111111111/.well-known/jwks.json", "/ssoins-1111111111112/.well-known/jwks.json",
        "ssoins-111111111111/.well-known/jwks.json", "//.well-known/jwks.json",
        "/ssoins-111111111111/.well-known/jwks.json/", "/ssoins-111111111111",
        "/ssoins-111111111111/", "/ssoins-111111111111/.well-known/openid-configuration/"}) {
    EXPECT_EQ(FindRoute("GET", path, kInstanceId), nullptr) << path;
  }
  // The root key set has its own route.
  found = FindRoute("GET", "/.well-known/jwks.json", kInstanceId);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->path_kind, PathKind::kExact);
  // RFC 8414 §3.1 inserts the well-known segment before the issuer's path.
  found =
      FindRoute("GET", "/.well-known/oauth-authorization-server/ssoins-111111111111", kInstanceId);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->path_kind, PathKind::kBeforeInstance);
  for (const char* path : {"/.well-known/oauth-authorization-server/ssoins-11111111111",
                           "/.well-known/oauth-authorization-server/ssoins-1111111111112",
                           "/.well-known/oauth-authorization-serverXssoins-111111111111",
                           "/.well-known/oauth-authorization-server//ssoins-111111111111",
                           "/.well-known/oauth-authorization-server/ssoins-111111111111/"}) {
    EXPECT_EQ(FindRoute("GET", path, kInstanceId), nullptr) << path;
  }
}

TEST(RoutesTest, MethodsAreCaseSensitive) {
  EXPECT_EQ(FindRoute("get", "/healthz", kInstanceId), nullptr);
  EXPECT_EQ(FindRoute("post", "/", kInstanceId), nullptr);
  EXPECT_EQ(MethodBit("Get"), 0);
  EXPECT_EQ(MethodBit("PUT"), 0);
}

TEST(RoutesTest, AuthKinds) {
  for (const Route& route : Routes()) {
    SCOPED_TRACE(RoutePath(route));
    switch (route.endpoint) {
      case Endpoint::kToken:
      case Endpoint::kIntrospect:
      case Endpoint::kRevoke:
        EXPECT_EQ(route.auth, Auth::kSigV4OrClientSecret);
        break;
      case Endpoint::kRegisterClient:
        EXPECT_EQ(route.auth, Auth::kNone);
        break;
      case Endpoint::kDeviceAuthorization:
        EXPECT_EQ(route.auth, Auth::kClientSecret);
        break;
      case Endpoint::kIdentityContext:
        EXPECT_EQ(route.auth, Auth::kSigV4SsoOauth);
        break;
      case Endpoint::kAdmin:
        EXPECT_EQ(route.auth, Auth::kSigV4Admin);
        break;
      case Endpoint::kLogout:
        EXPECT_EQ(route.auth, Auth::kBrowserOrSsoBearer);
        break;
      case Endpoint::kPortalCredentials:
      case Endpoint::kPortalAccounts:
      case Endpoint::kPortalRoles:
        EXPECT_EQ(route.auth, Auth::kSsoBearer);
        break;
      case Endpoint::kAuthorizeGet:
      case Endpoint::kAuthorizePost:
      case Endpoint::kDeviceGet:
      case Endpoint::kDevicePost:
      case Endpoint::kStartGet:
      case Endpoint::kStartPost:
        EXPECT_EQ(route.auth, Auth::kBrowser);
        break;
      case Endpoint::kDiscovery:
      case Endpoint::kJwks:
      case Endpoint::kHealthz:
        EXPECT_EQ(route.auth, Auth::kNone);
        break;
      case Endpoint::kUserInfo:
        EXPECT_EQ(route.auth, Auth::kBearer);
        break;
    }
    // Only what needs no cookie may be read from other origins.
    if (route.cors) {
      EXPECT_TRUE(route.auth == Auth::kNone || route.auth == Auth::kBearer);
    }
    EXPECT_EQ((route.methods & kOptions) != 0 && route.methods != kAnyMethod, route.cors);
  }
}

TEST_F(TesseraTest, EveryRouteAnswersItsMethodsWithSomethingOtherThanTheUnknownOperation) {
  for (const Route& route : Routes()) {
    for (const std::string& method : RouteMethods(route)) {
      SCOPED_TRACE(method + " " + RoutePath(route));
      http::Request r;
      r.method = method;
      r.target = RoutePath(route);
      r.headers.push_back({"host", "127.0.0.1:8080"});
      http::Response response = app_->Handle(r);
      EXPECT_NE(response.status, 404) << response.body;
    }
  }
}

// What a request no route matches gets.
void ExpectNoOperation(const http::Response& r, const std::string& method,
                       const std::string& path) {
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_THAT(std::string(r.FindHeader("x-amzn-ErrorType").value_or("")),
              StartsWith("UnknownOperationException:"));
  EXPECT_EQ(json::parse(r.body).at("message"),
            json::value("No operation at " + method + " " + path));
}

TEST_F(TesseraTest, AnUnknownMethodOnAKnownPathIsTheUnknownOperation) {
  const std::pair<std::string, std::string> requests[] = {
      {"PUT", "/authorize"},
      {"HEAD", "/authorize"},
      {"GET", "/logout"},
      {"PUT", "/device"},
      {"GET", "/device/"},
      {"PUT", "/start"},
      {"GET", "/start/"},
      {"GET", "/"},
      {"PUT", "/"},
      {"POST", "/healthz"},
      {"DELETE", "/.well-known/jwks.json"},
      {"POST", "/ssoins-111111111111/.well-known/openid-configuration"},
      {"get", "/healthz"},
      {"GET", "/client/register"},
      {"PUT", "/device_authorization"},
  };
  for (const auto& [method, path] : requests) {
    http::Request r;
    r.method = method;
    r.target = path + "?a=b";
    ExpectNoOperation(app_->Handle(r), method, path);
  }
  // The signed JSON endpoints answer every method, a wrong one with their own modeled error.
  http::Request put;
  put.method = "PUT";
  put.target = "/token?aws_iam=t";
  http::Response token = app_->Handle(put);
  ExpectError(token, 400, "InvalidRequestException");
  EXPECT_EQ(json::parse(token.body).at("message"), json::value("Use POST /token"));
  http::Response introspect = Get("/introspect");
  ExpectError(introspect, 400, "InvalidRequestException");
  EXPECT_EQ(json::parse(introspect.body).at("message"),
            json::value("Use POST /introspect?aws_iam=t"));
}

// --- the access portal (portal/portal_api.h) with its credentials on the admin plane ---

constexpr char kPortalAccount[] = "210987654321";
constexpr char kPortalRole[] = "AWSReservedSSO_Reader_0123456789abcdef";

class PortalTest : public TesseraTest {
 protected:
  void SetUp() override {
    TesseraTest::SetUp();
    if (HasFatalFailure()) return;
    storage::Store& store = *app_->store();
    auto demo = store.GetUserByName("demo");
    ASSERT_THAT(demo, IsOk());
    user_id_ = demo->user_id;
    ASSERT_THAT(store.PutAccount({kPortalAccount, "Production", "aws@example.com", kNow}), IsOk());
    storage::PermissionSet ps;
    ps.arn = "arn:aws:sso:::permissionSet/ssoins-111111111111/ps-0123456789abcdef";
    ps.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    ps.name = "Reader";
    ps.session_duration = "PT1H";
    ps.inline_policy_json = kReaderPolicy;
    ps.created_at = ps.updated_at = kNow;
    ASSERT_THAT(store.CreatePermissionSet(ps), IsOk());
    assignment_ = {kPortalAccount, ps.arn, "USER", user_id_, kNow};
    storage::RoleProvisioning provisioning;
    provisioning.role = {kPortalAccount, ps.arn, kPortalRole, ps.updated_at, kNow};
    // As provisioning writes it: the permission set's inline policy is the role's.
    provisioning.principal = {
        std::string("arn:aws:iam::") + kPortalAccount + ":role/" + kPortalRole, kPortalAccount,
        kReaderPolicy, kNow, ""};
    storage::OperationStatus status;
    status.request_id = "6b0c5a1e-0000-4000-8000-000000000001";
    status.kind = "ACCOUNT_ASSIGNMENT_CREATION";
    status.created_at = kNow;
    ASSERT_THAT(store.CreateAccountAssignment(assignment_, provisioning, status), IsOk());
    access_token_ = SignIn();
  }

  // CreateToken's access token for the demo user, through a registered client's device flow.
  std::string SignIn() {
    http::Response registered = app_->Handle(ClientRequest(
        "/client/register",
        R"({"clientName":"cli","clientType":"public","scopes":["sso:account:access"]})"));
    EXPECT_EQ(registered.status, 200) << registered.body;
    json::object client = json::parse(registered.body).as_object();
    http::Response started = app_->Handle(ClientRequest(
        "/device_authorization",
        json::serialize(json::object{{"clientId", client["clientId"]},
                                     {"clientSecret", client["clientSecret"]},
                                     {"startUrl", "https://d-3333333333.awsapps.com/start"}})));
    json::object device = json::parse(started.body).as_object();
    EXPECT_THAT(app_->store()->DecideDeviceAuthorization(
                    oauth::UserCodeHash(std::string(device["userCode"].as_string())), true,
                    user_id_, "", kNow, kNow),
                IsOk());
    http::Response tokens = app_->Handle(ClientRequest(
        "/token",
        json::serialize(json::object{{"clientId", client["clientId"]},
                                     {"clientSecret", client["clientSecret"]},
                                     {"grantType", "urn:ietf:params:oauth:grant-type:device_code"},
                                     {"deviceCode", device["deviceCode"]}})));
    EXPECT_EQ(tokens.status, 200) << tokens.body;
    return std::string(json::parse(tokens.body).at("accessToken").as_string());
  }

  http::Request PortalRequest(const std::string& method, const std::string& target) const {
    http::Request r;
    r.method = method;
    r.target = target;
    r.headers = {{"host", "127.0.0.1:8080"}, {"x-amz-sso_bearer_token", access_token_}};
    return r;
  }

  // GetRoleCredentials as the io threads answer it on SQLite.
  sigv4::Credential RoleCredentials() {
    AsyncAnswer answer;
    app_->HandleAsync(
        PortalRequest("GET", std::string("/federation/credentials?role_name=Reader&account_id=") +
                                 kPortalAccount),
        answer.Responder());
    auto r = answer.Wait();
    EXPECT_TRUE(r.has_value());
    sigv4::Credential c;
    if (!r) return c;
    EXPECT_EQ(r->status, 200) << r->body;
    json::value creds = json::parse(r->body).at("roleCredentials");
    c.access_key_id = creds.at("accessKeyId").as_string();
    c.secret_access_key = creds.at("secretAccessKey").as_string();
    c.session_token = creds.at("sessionToken").as_string();
    EXPECT_EQ(creds.at("expiration").as_int64(), (clock_->NowUnixSeconds() + 3600) * 1000);
    return c;
  }

  // sso-admin ListInstances signed with `c` at the clock's time.
  http::Response ListInstancesAs(const sigv4::Credential& c) {
    http::Request r = AdminRequest("SWBExternalService.ListInstances", "{}");
    EXPECT_THAT(sigv4::SignRequest(r, c, "us-east-1", "sso", clock_->NowUnixSeconds()), IsOk());
    return app_->Handle(r);
  }
  static std::string TypeOf(const http::Response& r) {
    return std::string(json::parse(r.body).at("__type").as_string());
  }

  static constexpr char kReaderPolicy[] =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
      R"("Action":"sso:ListInstances","Resource":"*"}]})";
  std::string user_id_;
  std::string access_token_;
  storage::AccountAssignment assignment_;
};

TEST_F(PortalTest, RoleCredentialsPassSigV4AndTheRolePolicyUntilTheyExpire) {
  const sigv4::Credential c = RoleCredentials();
  ASSERT_THAT(c.access_key_id, StartsWith("ASIA"));
  http::Response allowed = ListInstancesAs(c);
  EXPECT_EQ(allowed.status, 200) << allowed.body;
  // The role's policy allows ListInstances only.
  http::Request create = AdminRequest("SWBExternalService.CreatePermissionSet",
                                      R"({"InstanceArn":"arn:aws:sso:::instance/)"
                                      R"(ssoins-111111111111","Name":"Nope"})");
  ASSERT_THAT(sigv4::SignRequest(create, c, "us-east-1", "sso", kNow), IsOk());
  http::Response denied = app_->Handle(create);
  EXPECT_EQ(TypeOf(denied), "AccessDeniedException") << denied.body;
  EXPECT_THAT(std::string(json::parse(denied.body).at("Message").as_string()),
              HasSubstr(std::string("arn:aws:sts::") + kPortalAccount + ":assumed-role/" +
                        kPortalRole + "/demo"));
  // Without the session token, or with another, the key is not recognized.
  sigv4::Credential no_token = c;
  no_token.session_token.clear();
  EXPECT_EQ(TypeOf(ListInstancesAs(no_token)), "UnrecognizedClientException");
  // The permission set's PT1H later: expired.
  clock_->Advance(std::chrono::seconds(3600));
  http::Response expired = ListInstancesAs(c);
  EXPECT_EQ(expired.status, 403);
  EXPECT_EQ(TypeOf(expired), "ExpiredTokenException");
}

TEST_F(PortalTest, LogoutRevokesTheTokenAndItsCredentials) {
  const sigv4::Credential c = RoleCredentials();
  ASSERT_EQ(ListInstancesAs(c).status, 200);
  http::Response out = app_->Handle(PortalRequest("POST", "/logout"));
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_TRUE(out.body.empty());
  EXPECT_EQ(TypeOf(ListInstancesAs(c)), "UnrecognizedClientException");
  http::Response again = app_->Handle(PortalRequest("GET", "/assignment/accounts"));
  EXPECT_EQ(again.status, 401);
  EXPECT_EQ(again.FindHeader("x-amzn-ErrorType").value_or(""), "UnauthorizedException");
  // The browser's sign-out form still answers POST /logout without the bearer header.
  http::Request form;
  form.method = "POST";
  form.target = "/logout";
  form.headers = {{"host", "127.0.0.1:8080"}};
  EXPECT_NE(app_->Handle(form).FindHeader("x-amzn-ErrorType").value_or(""),
            "UnauthorizedException");
}

TEST_F(PortalTest, DeletingTheAssignmentRevokesItsCredentials) {
  const sigv4::Credential c = RoleCredentials();
  ASSERT_EQ(ListInstancesAs(c).status, 200);
  storage::OperationStatus status;
  status.request_id = "6b0c5a1e-0000-4000-8000-000000000002";
  status.kind = "ACCOUNT_ASSIGNMENT_DELETION";
  status.created_at = kNow;
  ASSERT_THAT(app_->store()->DeleteAccountAssignment(assignment_, status), IsOk());
  EXPECT_EQ(TypeOf(ListInstancesAs(c)), "UnrecognizedClientException");
  http::Response gone = app_->Handle(PortalRequest(
      "GET", std::string("/federation/credentials?role_name=Reader&account_id=") + kPortalAccount));
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.FindHeader("x-amzn-ErrorType").value_or(""), "ResourceNotFoundException");
}

TEST_F(PortalTest, ListingsThroughTheRoutes) {
  AsyncAnswer accounts;
  app_->HandleAsync(PortalRequest("GET", "/assignment/accounts"), accounts.Responder());
  auto a = accounts.Wait();
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->status, 200) << a->body;
  // The demo's own account (its ReadOnly role) and the one assigned here, by id.
  const json::array list = json::parse(a->body).at("accountList").as_array();
  ASSERT_EQ(list.size(), 2u) << a->body;
  EXPECT_EQ(list.at(0).at("accountName"), "Demo account");
  EXPECT_EQ(list.at(1).at("accountName"), "Production");
  http::Response roles = app_->Handle(
      PortalRequest("GET", std::string("/assignment/roles?account_id=") + kPortalAccount));
  ASSERT_EQ(roles.status, 200) << roles.body;
  EXPECT_EQ(json::parse(roles.body).at("roleList").at(0).at("roleName"), "Reader");
  // The method column: the portal's reads are GETs.
  ExpectError(app_->Handle(PortalRequest("POST", "/assignment/accounts")), 404,
              "UnknownOperationException");
}

}  // namespace
}  // namespace ts::server
