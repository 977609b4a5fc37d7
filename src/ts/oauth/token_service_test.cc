#include "ts/oauth/token_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/common/json_writer.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/jwk.h"
#include "ts/jose/signer.h"
#include "ts/jose/verifier.h"
#include "ts/oauth/application.h"
#include "ts/oauth/blocking_store_test_util.h"
#include "ts/oauth/errors.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"
#include "ts/tti/assertion.h"
#include "ts/tti/fake_fetcher.h"

namespace ts::oauth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using ::ts::testing::IsOk;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1";
constexpr char kOtherApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-2";
constexpr char kCodeOnlyApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-3";
constexpr char kNoPolicyApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-4";
constexpr char kJwtApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-5";
constexpr char kDisabledApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-6";
constexpr char kRedirect[] = "https://mywebapp.example/redirect";
constexpr char kUser[] = "730448f2-e0a1-70a7-c954-000000000000";
// RFC 7636 Appendix B.
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
constexpr char kAccessTokenType[] = "urn:ietf:params:oauth:token-type:access_token";
constexpr char kRefreshTokenType[] = "urn:ietf:params:oauth:token-type:refresh_token";

const Caller kWebapp{"arn:aws:iam::123456789012:role/webapp", "123456789012"};
const Caller kRoot{"arn:aws:iam::111111111111:root", "111111111111"};
const Caller kStranger{"arn:aws:iam::123456789012:role/other", "123456789012"};

constexpr char kActorPolicy[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
    R"("arn:aws:iam::123456789012:role/webapp"},"Action":"sso-oauth:CreateTokenWithIAM",)"
    R"("Resource":"*"}]})";

// The members of an answer that carries all three tokens and the identity context.
const std::set<std::string> kEveryMember{
    "accessToken", "tokenType",       "expiresIn", "refreshToken",
    "idToken",     "issuedTokenType", "scope",     "awsAdditionalDetails"};

std::set<std::string> Keys(const json::object& o) {
  std::set<std::string> keys;
  for (const auto& kv : o) keys.emplace(kv.key());
  return keys;
}

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-token-service");
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

    storage::User user;
    user.user_id = kUser;
    user.identity_store_id = instance_.identity_store_id;
    user.user_name = "alice";
    ASSERT_THAT(store_->CreateUser(user), IsOk());

    const std::string code_grant = std::string(R"({"RedirectUris":[")") + kRedirect + R"("]})";
    ASSERT_THAT(PutApp(kApp, {{"authorization_code", code_grant}, {"refresh_token", "{}"}}),
                IsOk());
    ASSERT_THAT(PutApp(kOtherApp, {{"authorization_code", code_grant}, {"refresh_token", "{}"}}),
                IsOk());
    ASSERT_THAT(PutApp(kCodeOnlyApp, {{"authorization_code", code_grant}}), IsOk());
    ASSERT_THAT(PutApp(kNoPolicyApp, {{"authorization_code", code_grant}}, ""), IsOk());
    ASSERT_THAT(PutApp(kJwtApp, {{"urn:ietf:params:oauth:grant-type:jwt-bearer",
                                  R"({"AuthorizedTokenIssuers":[]})"}}),
                IsOk());
    ASSERT_THAT(
        PutApp(kDisabledApp, {{"authorization_code", code_grant}}, kActorPolicy, "DISABLED"),
        IsOk());
    // Applications require assignment unless told otherwise (records.h), as in AWS.
    ASSERT_THAT(store_->PutAssignment(kApp, kUser, "USER"), IsOk());
    ASSERT_THAT(store_->PutAssignment(kOtherApp, kUser, "USER"), IsOk());

    auto ring = tokens::KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_shared<tokens::TokenMinter>(ring_, instance_, kIssuer, std::string(32, 'i'),
                                                    std::string(32, 'r'));
    MakeService(TokenServiceOptions{});
  }

  void TearDown() override {
    service_.reset();
    minter_.reset();
    ring_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  Status PutApp(const std::string& arn, std::map<std::string, std::string> grants,
                const std::string& policy = kActorPolicy, const std::string& status = "ENABLED") {
    storage::Application app;
    app.application_arn = arn;
    app.instance_arn = instance_.instance_arn;
    app.application_provider_arn = "arn:aws:sso::aws:applicationProvider/custom";
    app.name = "app";
    app.status = status;
    app.grants = std::move(grants);
    app.actor_policy_json = policy;
    app.access_scopes["s3:access_grants:read_write"] = {};
    app.created_at = kNow;
    return store_->PutApplication(app);
  }

  void MakeService(TokenServiceOptions options) {
    service_ = std::make_unique<TokenService>(TokenStorage{store_, store_, store_}, minter_, clock_,
                                              options);
  }

  // Stores an authorization code as /authorize would and returns its plaintext.
  std::string MakeCode(const std::string& app = kApp,
                       std::vector<std::string> scopes = {"openid", "aws", "sts:identity_context",
                                                          "s3:access_grants:read_write"},
                       const std::string& challenge = kChallenge, const std::string& nonce = "") {
    const std::string code = tokens::TokenMinter::NewAuthorizationCode();
    storage::AuthorizationCode record;
    record.code_hash = tokens::TokenMinter::Hash(code);
    record.application_arn = app;
    record.user_id = kUser;
    record.redirect_uri = kRedirect;
    record.code_challenge = challenge;
    record.nonce = nonce;
    record.scopes = std::move(scopes);
    record.auth_time = kNow - 5;
    record.created_at = clock_->NowUnixSeconds();
    record.expires_at = clock_->NowUnixSeconds() + 300;
    EXPECT_THAT(store_->CreateAuthorizationCode(record), IsOk());
    return code;
  }

  static std::string CodeBody(const std::string& code, const std::string& app = kApp,
                              const std::string& verifier = kVerifier,
                              const std::string& redirect = kRedirect,
                              std::optional<std::vector<std::string>> scope = std::nullopt) {
    json::object o{{"clientId", app},
                   {"grantType", "authorization_code"},
                   {"code", code},
                   {"redirectUri", redirect},
                   {"codeVerifier", verifier}};
    if (scope) {
      json::array a;
      for (const auto& s : *scope) a.emplace_back(s);
      o["scope"] = a;
    }
    return json::serialize(o);
  }

  static std::string RefreshBody(const std::string& token, const std::string& app = kApp,
                                 std::optional<std::vector<std::string>> scope = std::nullopt) {
    json::object o{{"clientId", app}, {"grantType", "refresh_token"}, {"refreshToken", token}};
    if (scope) {
      json::array a;
      for (const auto& s : *scope) a.emplace_back(s);
      o["scope"] = a;
    }
    return json::serialize(o);
  }

  // The successor the service derives from `parent`, with the stamp `successor` carries: equal
  // to `successor` only if its secret part was derived from `parent`.
  std::string DerivedSuccessor(const std::string& parent, const std::string& successor) const {
    return minter_->SuccessorRefreshToken(
        parent,
        tokens::TokenMinter::RefreshStampOfKey(tokens::TokenMinter::RefreshTokenKey(successor)));
  }

  storage::RefreshToken StoredRefresh(const std::string& token) {
    auto found = store_->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(token));
    EXPECT_THAT(found, IsOk());
    return found.ok() ? found->token : storage::RefreshToken{};
  }

  StatusOr<std::string> Call(const std::string& body, const Caller& caller = kWebapp) {
    return service_->CreateTokenWithIam(caller, body);
  }

  // Redeems a fresh code and returns the parsed response.
  json::object Redeem(const std::string& app = kApp) {
    auto r = Call(CodeBody(MakeCode(app), app));
    EXPECT_THAT(r, IsOk());
    return r.ok() ? json::parse(*r).as_object() : json::object();
  }

  static std::string Str(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }

  json::object VerifiedPayload(const std::string& token) {
    auto set = jose::JwkSet::Parse(ring_->JwksJson());
    EXPECT_THAT(set, IsOk());
    if (!set.ok()) return {};
    auto verified = jose::VerifyJws(token, *set, {"ES256"});
    EXPECT_THAT(verified, IsOk());
    if (!verified.ok()) return {};
    return json::parse(verified->payload_json).as_object();
  }

  fs::path dir_;
  storage::StorePtr store_;
  storage::Instance instance_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<tokens::KeyRing> ring_;
  std::shared_ptr<tokens::TokenMinter> minter_;
  std::unique_ptr<TokenService> service_;
};

// --- request parsing ---

TEST_F(TokenServiceTest, MalformedJsonIsInvalidRequest) {
  EXPECT_API_ERROR(Call("{\"clientId\":"), "InvalidRequestException", "not valid JSON");
}

TEST_F(TokenServiceTest, NonObjectBodyIsInvalidRequest) {
  EXPECT_API_ERROR(Call("[]"), "InvalidRequestException", "must be a JSON object");
  EXPECT_API_ERROR(Call("\"x\""), "InvalidRequestException", "must be a JSON object");
}

TEST_F(TokenServiceTest, WrongMemberTypesAreInvalidRequest) {
  EXPECT_API_ERROR(Call(R"({"clientId":5,"grantType":"authorization_code"})"),
                   "InvalidRequestException", "Member 'clientId' must be a string");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp + R"(","grantType":["x"]})"),
                   "InvalidRequestException", "Member 'grantType' must be a string");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp +
                        R"(","grantType":"authorization_code","code":{}})"),
                   "InvalidRequestException", "Member 'code' must be a string");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp +
                        R"(","grantType":"authorization_code","codeVerifier":true})"),
                   "InvalidRequestException", "Member 'codeVerifier' must be a string");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp +
                        R"(","grantType":"refresh_token","scope":"openid"})"),
                   "InvalidRequestException", "Member 'scope' must be a list of strings");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp +
                        R"(","grantType":"refresh_token","scope":["openid",7]})"),
                   "InvalidRequestException", "Member 'scope' must be a list of strings");
}

TEST_F(TokenServiceTest, MissingRequiredMembersAreInvalidRequest) {
  EXPECT_API_ERROR(Call(R"({"grantType":"authorization_code"})"), "InvalidRequestException",
                   "Member 'clientId' is required");
  EXPECT_API_ERROR(Call(R"({"clientId":"","grantType":"authorization_code"})"),
                   "InvalidRequestException", "Member 'clientId' is required");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp + R"("})"),
                   "InvalidRequestException", "Member 'grantType' is required");
  // null counts as absent.
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp + R"(","grantType":null})"),
                   "InvalidRequestException", "Member 'grantType' is required");
}

// --- application and caller ---

TEST_F(TokenServiceTest, UnknownApplicationIsInvalidClient) {
  const std::string unknown = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-9";
  EXPECT_API_ERROR(Call(CodeBody(MakeCode(), unknown)), "InvalidClientException", unknown);
}

TEST_F(TokenServiceTest, DisabledApplicationIsInvalidClient) {
  EXPECT_API_ERROR(Call(CodeBody(MakeCode(kDisabledApp), kDisabledApp)), "InvalidClientException",
                   "disabled");
}

TEST_F(TokenServiceTest, InstanceOwnerRootIsAlwaysAllowed) {
  EXPECT_THAT(Call(CodeBody(MakeCode()), kRoot), IsOk());
  EXPECT_THAT(Call(CodeBody(MakeCode(kNoPolicyApp), kNoPolicyApp), kRoot), IsOk());
}

TEST_F(TokenServiceTest, CallerOutsideTheActorPolicyIsAccessDenied) {
  const std::string code = MakeCode();
  EXPECT_API_ERROR(Call(CodeBody(code), kStranger), "AccessDeniedException",
                   "User: arn:aws:iam::123456789012:role/other is not authorized to perform: "
                   "sso-oauth:CreateTokenWithIAM on resource: " +
                       std::string(kApp));
  // Another account's root is not the instance owner.
  EXPECT_API_ERROR(Call(CodeBody(code), Caller{"arn:aws:iam::123456789012:root", "123456789012"}),
                   "AccessDeniedException", "is not authorized");
  // The denial changed nothing: the code is still good for an allowed caller.
  EXPECT_THAT(Call(CodeBody(code), kWebapp), IsOk());
}

TEST_F(TokenServiceTest, ApplicationWithoutActorPolicyDeniesEveryoneButRoot) {
  EXPECT_API_ERROR(Call(CodeBody(MakeCode(kNoPolicyApp), kNoPolicyApp), kWebapp),
                   "AccessDeniedException", "no IAM authentication method");
}

TEST_F(TokenServiceTest, MalformedActorPolicyDenies) {
  ASSERT_THAT(PutApp(kOtherApp, {{"refresh_token", "{}"}}, R"({"Statement":"nonsense"})"), IsOk());
  EXPECT_API_ERROR(Call(RefreshBody("tsrt_x", kOtherApp)), "AccessDeniedException",
                   "actor policy is not valid");
}

// --- grant types ---

TEST_F(TokenServiceTest, UnknownGrantTypeIsUnsupported) {
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp + R"(","grantType":"password"})"),
                   "UnsupportedGrantTypeException", "password");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp +
                        R"(","grantType":"urn:ietf:params:oauth:grant-type:device_code"})"),
                   "UnsupportedGrantTypeException", "device_code");
}

TEST_F(TokenServiceTest, GrantNotConfiguredForTheAppIsUnauthorizedClient) {
  EXPECT_API_ERROR(Call(RefreshBody("tsrt_x", kCodeOnlyApp)), "UnauthorizedClientException",
                   "refresh_token");
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kApp +
                        R"(","grantType":"urn:ietf:params:oauth:grant-type:token-exchange"})"),
                   "UnauthorizedClientException", "token-exchange");
}

TEST_F(TokenServiceTest, JwtBearerWithoutAssertionValidatorIsUnsupported) {
  EXPECT_API_ERROR(Call(std::string(R"({"clientId":")") + kJwtApp +
                        R"(","grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer",)"
                        R"("assertion":"a.b.c"})"),
                   "UnsupportedGrantTypeException", "not supported by this server");
}

// --- authorization_code errors ---

TEST_F(TokenServiceTest, CodeGrantRequiresCodeAndRedirectUri) {
  const std::string prefix =
      std::string(R"({"clientId":")") + kApp + R"(","grantType":"authorization_code")";
  EXPECT_API_ERROR(Call(prefix + R"(,"redirectUri":"x","codeVerifier":"y"})"),
                   "InvalidRequestException", "Member 'code' is required");
  EXPECT_API_ERROR(Call(prefix + R"(,"code":"x","codeVerifier":"y"})"), "InvalidRequestException",
                   "Member 'redirectUri' is required");
}

// --- PKCE where AWS has it: optional for IAM applications, binding when used ---

// The body AWS's own CreateTokenWithIAM example sends: no codeVerifier.
std::string CodeBodyWithoutVerifier(const std::string& code) {
  json::object o{{"clientId", kApp},
                 {"grantType", "authorization_code"},
                 {"code", code},
                 {"redirectUri", kRedirect}};
  return json::serialize(o);
}

TEST_F(TokenServiceTest, CodeIssuedWithAChallengeRequiresItsVerifierAndChangesNothingWithout) {
  const std::string code = MakeCode();
  EXPECT_API_ERROR(Call(CodeBodyWithoutVerifier(code)), "InvalidRequestException",
                   "Member 'codeVerifier' is required: the code was issued with a code_challenge");
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->consumed_at, 0);
  EXPECT_THAT(Call(CodeBody(code)), IsOk());
}

TEST_F(TokenServiceTest, CodeIssuedWithoutAChallengeIsRedeemedWithoutAVerifier) {
  const std::string code = MakeCode(kApp, {"openid", "aws", "sts:identity_context"}, "");
  auto answer = Call(CodeBodyWithoutVerifier(code));
  ASSERT_THAT(answer, IsOk());
  const json::object o = json::parse(*answer).as_object();
  EXPECT_EQ(Str(o, "tokenType"), "Bearer");
  EXPECT_FALSE(Str(o, "refreshToken").empty());
  EXPECT_EQ(Str(VerifiedPayload(Str(o, "idToken")), "sub"), kUser);
  // Single use all the same.
  EXPECT_API_ERROR(Call(CodeBodyWithoutVerifier(code)), "InvalidGrantException",
                   "already been used");
}

// RFC 9700 §4.8.2: a verifier for a code that had no challenge is refused (a PKCE downgrade:
// an attacker who injected a code obtained without PKCE).
TEST_F(TokenServiceTest, VerifierForACodeIssuedWithoutAChallengeIsInvalidGrant) {
  const std::string code = MakeCode(kApp, {"openid", "aws"}, "");
  EXPECT_API_ERROR(Call(CodeBody(code)), "InvalidGrantException",
                   "codeVerifier was sent, but the code was issued without a code_challenge");
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->consumed_at, 0);
  EXPECT_THAT(Call(CodeBodyWithoutVerifier(code)), IsOk());
}

TEST_F(TokenServiceTest, RequirePkceRefusesACodeIssuedWithoutAChallenge) {
  TokenServiceOptions options;
  options.require_pkce = true;
  MakeService(options);
  const std::string bare = MakeCode(kApp, {"openid", "aws"}, "");
  EXPECT_API_ERROR(Call(CodeBodyWithoutVerifier(bare)), "InvalidGrantException",
                   "PKCE is required, and the code was issued without a code_challenge");
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(bare));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->consumed_at, 0);
  // A code with a challenge is redeemed as ever.
  EXPECT_THAT(Call(CodeBody(MakeCode())), IsOk());
}

// OIDC Core §3.1.2.1: the nonce /authorize received is in the ID token of the code's redemption.
TEST_F(TokenServiceTest, TheCodesNonceIsEchoedInTheIdToken) {
  const std::string code =
      MakeCode(kApp, {"openid", "aws", "sts:identity_context"}, kChallenge, "n-0S6_WzA2Mj");
  auto answer = Call(CodeBody(code));
  ASSERT_THAT(answer, IsOk());
  const json::object o = json::parse(*answer).as_object();
  EXPECT_EQ(Str(VerifiedPayload(Str(o, "idToken")), "nonce"), "n-0S6_WzA2Mj");

  auto plain = Call(CodeBody(MakeCode()));
  ASSERT_THAT(plain, IsOk());
  EXPECT_FALSE(VerifiedPayload(Str(json::parse(*plain).as_object(), "idToken")).contains("nonce"));
}

TEST_F(TokenServiceTest, UnknownCodeIsInvalidGrant) {
  EXPECT_API_ERROR(Call(CodeBody("tsac_unknown")), "InvalidGrantException",
                   "Invalid authorization code");
}

TEST_F(TokenServiceTest, CodeOfAnotherApplicationIsInvalidGrant) {
  const std::string code = MakeCode(kOtherApp);
  EXPECT_API_ERROR(Call(CodeBody(code, kApp)), "InvalidGrantException",
                   "Invalid authorization code");
  // Still good for its own application.
  EXPECT_THAT(Call(CodeBody(code, kOtherApp)), IsOk());
}

TEST_F(TokenServiceTest, ExpiredCodeIsInvalidGrant) {
  const std::string code = MakeCode();
  clock_->Advance(std::chrono::seconds(300));
  EXPECT_API_ERROR(Call(CodeBody(code)), "InvalidGrantException", "expired");
}

TEST_F(TokenServiceTest, CodeStillGoodOneSecondBeforeExpiry) {
  const std::string code = MakeCode();
  clock_->Advance(std::chrono::seconds(299));
  EXPECT_THAT(Call(CodeBody(code)), IsOk());
}

TEST_F(TokenServiceTest, ReusedCodeIsInvalidGrantAndRevokesTheFirstFamily) {
  const std::string code = MakeCode();
  auto first = Call(CodeBody(code));
  ASSERT_THAT(first, IsOk());
  const std::string refresh = Str(json::parse(*first).as_object(), "refreshToken");
  ASSERT_FALSE(refresh.empty());

  clock_->Advance(std::chrono::seconds(5));
  EXPECT_API_ERROR(Call(CodeBody(code)), "InvalidGrantException", "already been used");

  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  auto family = store_->GetFamily(stored->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, kNow + 5);
  EXPECT_API_ERROR(Call(RefreshBody(refresh)), "InvalidGrantException", "revoked");
}

TEST_F(TokenServiceTest, LateReplayOfACodeWhoseFamilyWasPurgedIsInvalidGrant) {
  TokenServiceOptions options;
  options.refresh_token_ttl = 100;  // the family ends before the code does
  MakeService(options);
  const std::string code = MakeCode();
  ASSERT_THAT(Call(CodeBody(code)), IsOk());
  clock_->Advance(std::chrono::seconds(150));
  auto purged = store_->PurgeExpired(clock_->NowUnixSeconds(), 100);
  ASSERT_THAT(purged, IsOk());
  ASSERT_GT(purged->deleted, 0);
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  ASSERT_THAT(store_->GetFamily(stored->family_id),
              ::ts::testing::StatusIs(StatusCode::kNotFound, ::testing::_));
  EXPECT_API_ERROR(Call(CodeBody(code)), "InvalidGrantException", "already been used");
}

TEST_F(TokenServiceTest, RedirectUriMismatchIsInvalidGrant) {
  const std::string code = MakeCode();
  EXPECT_API_ERROR(Call(CodeBody(code, kApp, kVerifier, "https://mywebapp.example/redirect/")),
                   "InvalidGrantException", "redirectUri does not match");
  EXPECT_THAT(Call(CodeBody(code)), IsOk());
}

TEST_F(TokenServiceTest, VerifierWithBadSyntaxIsInvalidGrant) {
  const std::string code = MakeCode();
  EXPECT_API_ERROR(Call(CodeBody(code, kApp, std::string(42, 'a'))), "InvalidGrantException",
                   "43 to 128 characters");
  EXPECT_API_ERROR(Call(CodeBody(code, kApp, std::string(129, 'a'))), "InvalidGrantException",
                   "43 to 128 characters");
  EXPECT_API_ERROR(Call(CodeBody(code, kApp, std::string(42, 'a') + "+")), "InvalidGrantException",
                   "43 to 128 characters");
}

TEST_F(TokenServiceTest, VerifierMismatchChangesNothing) {
  const std::string code = MakeCode();
  EXPECT_API_ERROR(Call(CodeBody(code, kApp, std::string(43, 'a'))), "InvalidGrantException",
                   "codeVerifier does not match the code challenge");
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->consumed_at, 0);
  // The code is still redeemable with the right verifier.
  EXPECT_THAT(Call(CodeBody(code)), IsOk());
}

TEST_F(TokenServiceTest, ScopeWideningAtRedemptionIsInvalidScope) {
  const std::string code = MakeCode(kApp, {"openid", "aws"});
  EXPECT_API_ERROR(Call(CodeBody(code, kApp, kVerifier, kRedirect,
                                 std::vector<std::string>{"openid", "sts:identity_context"})),
                   "InvalidScopeException", "'sts:identity_context'");
  // Narrowing is fine, and the failure above consumed nothing.
  auto ok = Call(CodeBody(code, kApp, kVerifier, kRedirect, std::vector<std::string>{"aws"}));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(json::parse(*ok).at("scope"), json::parse(R"(["aws"])"));
}

// --- refresh_token errors ---

TEST_F(TokenServiceTest, RefreshGrantRequiresRefreshToken) {
  EXPECT_API_ERROR(
      Call(std::string(R"({"clientId":")") + kApp + R"(","grantType":"refresh_token"})"),
      "InvalidRequestException", "Member 'refreshToken' is required");
}

TEST_F(TokenServiceTest, UnknownRefreshTokenIsInvalidGrant) {
  EXPECT_API_ERROR(Call(RefreshBody("tsrt_nope")), "InvalidGrantException",
                   "Invalid refresh token provided");
}

TEST_F(TokenServiceTest, RefreshTokenOfAnotherApplicationIsInvalidGrant) {
  const std::string refresh = Str(Redeem(kOtherApp), "refreshToken");
  ASSERT_FALSE(refresh.empty());
  EXPECT_API_ERROR(Call(RefreshBody(refresh, kApp)), "InvalidGrantException",
                   "Invalid refresh token provided");
  // Nothing changed: it still refreshes for its own application.
  EXPECT_THAT(Call(RefreshBody(refresh, kOtherApp)), IsOk());
}

TEST_F(TokenServiceTest, RevokedRefreshTokenIsInvalidGrant) {
  json::object first = Redeem();
  const std::string refresh = Str(first, "refreshToken");
  const std::string fid = Str(VerifiedPayload(Str(first, "accessToken")), "tsr:fid");
  ASSERT_THAT(store_->RevokeFamily(fid, kNow), IsOk());
  EXPECT_API_ERROR(Call(RefreshBody(refresh)), "InvalidGrantException", "revoked");
}

TEST_F(TokenServiceTest, ExpiredRefreshTokenIsInvalidGrant) {
  TokenServiceOptions options;
  options.refresh_token_ttl = 1000;
  MakeService(options);
  const std::string refresh = Str(Redeem(), "refreshToken");
  clock_->Advance(std::chrono::seconds(999));
  auto next = Call(RefreshBody(refresh));
  ASSERT_THAT(next, IsOk());
  clock_->Advance(std::chrono::seconds(1));
  // The family's absolute bound holds for successors too.
  EXPECT_API_ERROR(Call(RefreshBody(Str(json::parse(*next).as_object(), "refreshToken"))),
                   "InvalidGrantException", "expired");
}

TEST_F(TokenServiceTest, RefreshReuseRevokesTheFamily) {
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto second = Call(RefreshBody(rt1));
  ASSERT_THAT(second, IsOk());
  const std::string rt2 = Str(json::parse(*second).as_object(), "refreshToken");
  EXPECT_NE(rt2, rt1);
  EXPECT_API_ERROR(Call(RefreshBody(rt1)), "InvalidGrantException", "already been used");
  // The successor dies with its family.
  EXPECT_API_ERROR(Call(RefreshBody(rt2)), "InvalidGrantException", "revoked");
}

TEST_F(TokenServiceTest, GraceWindowReturnsTheSameSuccessor) {
  TokenServiceOptions options;
  options.refresh_grace_seconds = 60;
  MakeService(options);
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto a = Call(RefreshBody(rt1));
  ASSERT_THAT(a, IsOk());
  clock_->Advance(std::chrono::seconds(60));
  auto b = Call(RefreshBody(rt1));
  ASSERT_THAT(b, IsOk());
  const std::string rt2 = Str(json::parse(*a).as_object(), "refreshToken");
  EXPECT_EQ(Str(json::parse(*b).as_object(), "refreshToken"), rt2);

  // Past the window it is reuse: the family is revoked.
  clock_->Advance(std::chrono::seconds(1));
  EXPECT_API_ERROR(Call(RefreshBody(rt1)), "InvalidGrantException", "already been used");
  EXPECT_API_ERROR(Call(RefreshBody(rt2)), "InvalidGrantException", "revoked");
}

// Two requests with the same token both read it unrotated and each mints its own successor,
// stamped a moment apart; the one that loses the compare-and-set must hand out the winner's
// successor (rebuilt with the stored stamp), not its own and not a reuse error.
TEST_F(TokenServiceTest, GraceWindowGivesTheLoserOfARaceTheWinnersSuccessor) {
  TokenServiceOptions options;
  options.refresh_grace_seconds = 60;
  json::object first = Redeem();
  const std::string rt1 = Str(first, "refreshToken");
  const std::string fid = Str(VerifiedPayload(Str(first, "accessToken")), "tsr:fid");
  auto racing = std::make_shared<testutil::BlockingStore>(store_);
  service_ = std::make_unique<TokenService>(TokenStorage{racing, racing, racing}, minter_, clock_,
                                            options);
  // This request stamps its successor with the service's clock; the winner did so 1 ms before.
  const uint64_t winner_stamp = static_cast<uint64_t>(clock_->NowUnixMicros()) - 1000;
  const std::string winner = minter_->SuccessorRefreshToken(rt1, winner_stamp);
  bool raced = false;
  racing->before_rotation = [&] {
    if (std::exchange(raced, true)) return;
    storage::RefreshToken record = StoredRefresh(rt1);
    record.token_hash = tokens::TokenMinter::RefreshTokenKey(winner);
    record.created_at = kNow;
    ASSERT_THAT(store_->RotateRefreshToken(tokens::TokenMinter::RefreshTokenKey(rt1), kNow, record),
                IsOk());
  };
  auto r = Call(RefreshBody(rt1));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(Str(json::parse(*r).as_object(), "refreshToken"), winner);
  EXPECT_EQ(StoredRefresh(rt1).successor_hash, tokens::TokenMinter::RefreshTokenKey(winner));
  EXPECT_EQ(StoredRefresh(winner).rotated_at, 0);
  auto family = store_->GetFamily(fid);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, 0);
  // The winner's successor keeps working.
  EXPECT_THAT(Call(RefreshBody(winner)), IsOk());
}

// A token minted before refresh tokens carried a stamp (48 characters, stored under Hash) still
// refreshes, and a retry of it inside the grace window gets its unstamped successor back.
TEST_F(TokenServiceTest, TokensMintedBeforeStampsStillRefresh) {
  TokenServiceOptions options;
  options.refresh_grace_seconds = 60;
  MakeService(options);
  const std::string fid = Str(VerifiedPayload(Str(Redeem(), "accessToken")), "tsr:fid");
  auto family = store_->GetFamily(fid);
  ASSERT_THAT(family, IsOk());
  // As the server wrote them before: an unstamped token and, rotated, its unstamped successor.
  const std::string legacy = "tsrt_" + std::string(43, 'L');
  const std::string legacy_successor = minter_->SuccessorRefreshToken(legacy, std::nullopt);
  ASSERT_EQ(legacy_successor.size(), 5u + 43u);
  ASSERT_EQ(tokens::TokenMinter::RefreshTokenKey(legacy), tokens::TokenMinter::Hash(legacy));
  storage::TokenFamily legacy_family = *family;
  legacy_family.family_id = fid + "-legacy";
  storage::RefreshToken record;
  record.token_hash = tokens::TokenMinter::Hash(legacy);
  record.family_id = legacy_family.family_id;
  record.scopes = family->scopes;
  record.created_at = kNow;
  record.expires_at = family->expires_at;
  ASSERT_THAT(store_->CreateFamily(legacy_family, record), IsOk());
  record.token_hash = tokens::TokenMinter::Hash(legacy_successor);
  ASSERT_THAT(store_->RotateRefreshToken(tokens::TokenMinter::Hash(legacy), kNow, record), IsOk());

  auto retried = Call(RefreshBody(legacy));
  ASSERT_THAT(retried, IsOk());
  EXPECT_EQ(Str(json::parse(*retried).as_object(), "refreshToken"), legacy_successor);
  // Its successor refreshes too, and from then on the family's tokens are stamped.
  auto next = Call(RefreshBody(legacy_successor));
  ASSERT_THAT(next, IsOk());
  const std::string stamped = Str(json::parse(*next).as_object(), "refreshToken");
  EXPECT_EQ(stamped.size(), 5u + 54u);
  EXPECT_EQ(stamped, DerivedSuccessor(legacy_successor, stamped));
  EXPECT_THAT(Call(RefreshBody(stamped)), IsOk());
}

TEST_F(TokenServiceTest, GraceWindowDoesNotApplyOnceTheSuccessorWasUsed) {
  TokenServiceOptions options;
  options.refresh_grace_seconds = 60;
  MakeService(options);
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto a = Call(RefreshBody(rt1));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(Call(RefreshBody(Str(json::parse(*a).as_object(), "refreshToken"))), IsOk());
  EXPECT_API_ERROR(Call(RefreshBody(rt1)), "InvalidGrantException", "already been used");
}

TEST_F(TokenServiceTest, RefreshForADeletedUserIsInvalidGrant) {
  const std::string refresh = Str(Redeem(), "refreshToken");
  ASSERT_THAT(store_->DeleteUser(kUser, kNow), IsOk());
  // DeleteUser revokes the user's families (store.h), so the token reads as revoked.
  EXPECT_API_ERROR(Call(RefreshBody(refresh)), "InvalidGrantException", "revoked");
}

// Access is checked at every refresh, directly or through a group, without touching the family:
// assigning the user again lets the same token refresh.
TEST_F(TokenServiceTest, RefreshForAnUnassignedUserIsInvalidGrantAndChangesNothing) {
  const std::string refresh = Str(Redeem(), "refreshToken");
  ASSERT_THAT(store_->DeleteAssignment(kApp, kUser), IsOk());
  EXPECT_API_ERROR(Call(RefreshBody(refresh)), "InvalidGrantException",
                   std::string("The user is not assigned to application ") + kApp);
  EXPECT_EQ(StoredRefresh(refresh).rotated_at, 0);

  storage::Group group;
  group.group_id = "group-1";
  group.identity_store_id = instance_.identity_store_id;
  group.display_name = "readers";
  ASSERT_THAT(store_->CreateGroup(group), IsOk());
  storage::GroupMembership membership;
  membership.membership_id = "membership-1";
  membership.identity_store_id = instance_.identity_store_id;
  membership.group_id = group.group_id;
  membership.user_id = kUser;
  ASSERT_THAT(store_->CreateGroupMembership(membership), IsOk());
  ASSERT_THAT(store_->PutAssignment(kApp, group.group_id, "GROUP"), IsOk());
  auto through_group = Call(RefreshBody(refresh));
  ASSERT_THAT(through_group, IsOk());

  ASSERT_THAT(store_->DeleteGroupMembership(membership.membership_id), IsOk());
  const std::string next = Str(json::parse(*through_group).as_object(), "refreshToken");
  EXPECT_API_ERROR(Call(RefreshBody(next)), "InvalidGrantException", "not assigned");
  EXPECT_EQ(StoredRefresh(next).rotated_at, 0);
}

// An application that does not require assignment refreshes for anyone it issued tokens to.
TEST_F(TokenServiceTest, RefreshWithoutRequiredAssignmentNeedsNoAssignment) {
  const std::string refresh = Str(Redeem(), "refreshToken");
  auto app = store_->GetApplication(kApp);
  ASSERT_THAT(app, IsOk());
  app->assignment_required = false;
  ASSERT_THAT(store_->PutApplication(*app), IsOk());
  ASSERT_THAT(store_->DeleteAssignment(kApp, kUser), IsOk());
  MakeService(TokenServiceOptions{});  // a new application cache
  EXPECT_THAT(Call(RefreshBody(refresh)), IsOk());
}

TEST_F(TokenServiceTest, CodeForADeletedUserIsInvalidGrant) {
  const std::string code = MakeCode();
  ASSERT_THAT(store_->DeleteUser(kUser, kNow), IsOk());
  EXPECT_API_ERROR(Call(CodeBody(code)), "InvalidGrantException", "Invalid authorization code");
}

TEST_F(TokenServiceTest, RefreshDownscopesWithinTheFamily) {
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto narrow = Call(RefreshBody(rt1, kApp, std::vector<std::string>{"aws"}));
  ASSERT_THAT(narrow, IsOk());
  json::object n = json::parse(*narrow).as_object();
  EXPECT_EQ(n["scope"], json::parse(R"(["aws"])"));
  // Without a scope the narrowed token keeps its narrowed scopes.
  auto again = Call(RefreshBody(Str(n, "refreshToken")));
  ASSERT_THAT(again, IsOk());
  json::object a = json::parse(*again).as_object();
  EXPECT_EQ(a["scope"], json::parse(R"(["aws"])"));
  // A scope the family never had is refused.
  EXPECT_API_ERROR(Call(RefreshBody(Str(a, "refreshToken"), kApp,
                                    std::vector<std::string>{"qbusiness:conversations:access"})),
                   "InvalidScopeException", "'qbusiness:conversations:access'");
}

// --- success responses ---

TEST_F(TokenServiceTest, CodeRedemptionResponseHasTheProtocolMembers) {
  const std::string code = MakeCode();
  auto r = Call(CodeBody(code));
  ASSERT_THAT(r, IsOk());
  json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), kEveryMember);
  EXPECT_EQ(o["tokenType"], "Bearer");
  EXPECT_EQ(o["expiresIn"], 3600);
  EXPECT_EQ(o["issuedTokenType"], kRefreshTokenType);
  EXPECT_EQ(o["scope"], json::parse(R"(["openid","aws","sts:identity_context",)"
                                    R"("s3:access_grants:read_write"])"));
  EXPECT_THAT(Str(o, "refreshToken"), ::testing::StartsWith("tsrt_"));
  ASSERT_TRUE(o["awsAdditionalDetails"].is_object());
  json::object details = o["awsAdditionalDetails"].as_object();
  EXPECT_THAT(Keys(details), ElementsAre("identityContext"));

  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->consumed_at, kNow);

  json::object at = VerifiedPayload(Str(o, "accessToken"));
  EXPECT_EQ(at["sub"], kUser);
  EXPECT_EQ(at["aud"], kApp);
  EXPECT_EQ(at["iss"], kIssuer);
  EXPECT_EQ(at["exp"], kNow + 3600);
  EXPECT_EQ(at["tsr:fid"], json::value(stored->family_id));
  EXPECT_EQ(at["scope"], "openid aws sts:identity_context s3:access_grants:read_write");

  json::object id = VerifiedPayload(Str(o, "idToken"));
  EXPECT_EQ(id["sub"], kUser);
  EXPECT_EQ(id["aud"], kApp);
  EXPECT_EQ(id["auth_time"], json::value(tokens::Iso8601(kNow - 5)));
  EXPECT_EQ(id["sts:identity_context"], details["identityContext"]);

  auto context = minter_->ReadIdentityContext(Str(details, "identityContext"));
  ASSERT_THAT(context, IsOk());
  EXPECT_EQ(context->user_id, kUser);
  EXPECT_EQ(context->application_arn, kApp);
  EXPECT_EQ(context->instance_arn, instance_.instance_arn);

  // Family ids are time-ordered (UUIDv7, token_service.cc): the clock's milliseconds, then 7.
  char millis_hex[13];
  std::snprintf(millis_hex, sizeof millis_hex, "%012llx",
                static_cast<unsigned long long>(kNow) * 1000);
  const std::string hex(millis_hex);
  EXPECT_EQ(stored->family_id.substr(0, 15), hex.substr(0, 8) + "-" + hex.substr(8) + "-7");

  auto family = store_->GetFamily(stored->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->user_id, kUser);
  EXPECT_EQ(family->application_arn, kApp);
  EXPECT_EQ(family->grant_type, "authorization_code");
  EXPECT_EQ(family->expires_at, kNow + 90 * 86400);
  auto token =
      store_->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(Str(o, "refreshToken")));
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->token.family_id, stored->family_id);
}

TEST_F(TokenServiceTest, AppWithoutRefreshGrantGetsNoRefreshToken) {
  json::object o = Redeem(kCodeOnlyApp);
  EXPECT_THAT(Keys(o), UnorderedElementsAre("accessToken", "tokenType", "expiresIn", "idToken",
                                            "issuedTokenType", "scope", "awsAdditionalDetails"));
  EXPECT_EQ(o["issuedTokenType"], kAccessTokenType);
}

TEST_F(TokenServiceTest, NoIdTokenWithoutOpenidAndNoDetailsWithoutIdentityContext) {
  auto aws_only =
      Call(CodeBody(MakeCode(), kApp, kVerifier, kRedirect, std::vector<std::string>{"aws"}));
  ASSERT_THAT(aws_only, IsOk());
  json::object a = json::parse(*aws_only).as_object();
  EXPECT_THAT(Keys(a), UnorderedElementsAre("accessToken", "tokenType", "expiresIn", "refreshToken",
                                            "issuedTokenType", "scope"));

  auto openid =
      Call(CodeBody(MakeCode(), kApp, kVerifier, kRedirect, std::vector<std::string>{"openid"}));
  ASSERT_THAT(openid, IsOk());
  json::object o = json::parse(*openid).as_object();
  EXPECT_THAT(Keys(o), UnorderedElementsAre("accessToken", "tokenType", "expiresIn", "refreshToken",
                                            "idToken", "issuedTokenType", "scope"));
  json::object id = VerifiedPayload(Str(o, "idToken"));
  EXPECT_FALSE(id.contains("sts:identity_context"));

  auto context_only = Call(CodeBody(MakeCode(), kApp, kVerifier, kRedirect,
                                    std::vector<std::string>{"sts:identity_context"}));
  ASSERT_THAT(context_only, IsOk());
  EXPECT_THAT(Keys(json::parse(*context_only).as_object()),
              UnorderedElementsAre("accessToken", "tokenType", "expiresIn", "refreshToken",
                                   "issuedTokenType", "scope", "awsAdditionalDetails"));
}

TEST_F(TokenServiceTest, RefreshResponseRotatesAndKeepsTheFamily) {
  json::object first = Redeem();
  const std::string fid = Str(VerifiedPayload(Str(first, "accessToken")), "tsr:fid");
  clock_->Advance(std::chrono::seconds(100));
  auto r = Call(RefreshBody(Str(first, "refreshToken")));
  ASSERT_THAT(r, IsOk());
  json::object o = json::parse(*r).as_object();
  EXPECT_EQ(o["issuedTokenType"], kRefreshTokenType);
  EXPECT_EQ(o["tokenType"], "Bearer");
  EXPECT_NE(Str(o, "refreshToken"), Str(first, "refreshToken"));
  EXPECT_EQ(Str(o, "refreshToken"),
            DerivedSuccessor(Str(first, "refreshToken"), Str(o, "refreshToken")));
  // Stamped by the service's clock, which orders the keys.
  EXPECT_EQ(tokens::TokenMinter::RefreshStampOfKey(
                tokens::TokenMinter::RefreshTokenKey(Str(o, "refreshToken"))),
            static_cast<uint64_t>(clock_->NowUnixMicros()));
  json::object at = VerifiedPayload(Str(o, "accessToken"));
  EXPECT_EQ(at["tsr:fid"], json::value(fid));
  EXPECT_EQ(at["iat"], kNow + 100);
  EXPECT_EQ(at["exp"], kNow + 100 + 3600);
}

TEST_F(TokenServiceTest, ConfiguredLifetimesAreUsed) {
  TokenServiceOptions options;
  options.access_token_ttl = 900;
  options.id_token_ttl = 600;
  MakeService(options);
  json::object o = Redeem();
  EXPECT_EQ(o["expiresIn"], 900);
  EXPECT_EQ(VerifiedPayload(Str(o, "accessToken"))["exp"], kNow + 900);
  EXPECT_EQ(VerifiedPayload(Str(o, "idToken"))["exp"], kNow + 600);
}

// --- CreateTokenWithIamAsync ---

constexpr std::chrono::seconds kAsyncTimeout{30};

// An Executor that only queues: the test decides when its tasks run. Thread-safe, since the store's
// writer thread queues too (a rotation that found its token already rotated).
class QueueingExecutor {
 public:
  TokenService::Executor AsExecutor() {
    return [this](std::function<void()> task) {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
      ++used_;
      cv_.notify_all();
    };
  }
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }
  int used() {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }
  // Waits until `n` tasks are queued; false if that took longer than kAsyncTimeout.
  bool AwaitQueued(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kAsyncTimeout, [&] { return tasks_.size() >= n; });
  }
  // Runs the queued tasks on this thread, in order; returns how many ran.
  int RunAll() {
    int ran = 0;
    while (true) {
      std::function<void()> task;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (tasks_.empty()) return ran;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      ++ran;
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  int used_ = 0;
};

// What CreateTokenWithIamAsync answered, shared with its `done` (which may run on the store's
// writer thread, possibly after a test that gave up waiting has returned).
struct Answer {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  StatusOr<std::string> result = InternalError("done was not called");
  std::thread::id thread;  // where `done` first ran
  int finishes = 0;        // calls of `finish_done`, when the test gave one
  TokenService::Finish finish;
};

class TokenServiceAsyncTest : public TokenServiceTest {
 protected:
  // Starts CreateTokenWithIamAsync with `executor_`; the answer is recorded as it comes. With
  // `with_finish`, the service may also answer with a Finish (the server's io-thread signing),
  // which is recorded and then run here as an answer.
  std::shared_ptr<Answer> Start(const std::string& body, const Caller& caller = kWebapp,
                                bool with_finish = false) {
    auto answer = std::make_shared<Answer>();
    auto record = [answer](StatusOr<std::string> result) {
      std::lock_guard<std::mutex> lock(answer->mu);
      if (answer->calls++ == 0) {
        answer->result = std::move(result);
        answer->thread = std::this_thread::get_id();
      }
      answer->cv.notify_all();
    };
    TokenService::FinishDone finish_done;
    if (with_finish) {
      finish_done = [answer, record](TokenService::Finish finish) {
        {
          std::lock_guard<std::mutex> lock(answer->mu);
          ++answer->finishes;
        }
        record(finish());
      };
    }
    service_->CreateTokenWithIamAsync(caller, body, executor_.AsExecutor(), record, finish_done);
    return answer;
  }

  static int Finishes(Answer& answer) {
    std::lock_guard<std::mutex> lock(answer.mu);
    return answer.finishes;
  }

  static int Calls(Answer& answer) {
    std::lock_guard<std::mutex> lock(answer.mu);
    return answer.calls;
  }

  // Waits for the answer (bounded), then checks `done` ran exactly once: a blocking write through
  // the store's writer comes after every completion of earlier batches, so a second call of
  // `done` from the writer thread would have happened by then.
  StatusOr<std::string> Await(Answer& answer) {
    {
      std::unique_lock<std::mutex> lock(answer.mu);
      if (!answer.cv.wait_for(lock, kAsyncTimeout, [&] { return answer.calls > 0; })) {
        return InternalError("done was not called within the timeout");
      }
    }
    EXPECT_THAT(store_->PutMeta("async-fence", "x"), IsOk());
    std::lock_guard<std::mutex> lock(answer.mu);
    if (answer.calls != 1) {
      return InternalError("done was called " + std::to_string(answer.calls) + " times");
    }
    return answer.result;
  }

  // A request that is answered before CreateTokenWithIamAsync returns, on the calling thread,
  // without the executor.
  StatusOr<std::string> AnsweredDirectly(const std::string& body, const Caller& caller = kWebapp) {
    const int used = executor_.used();
    auto answer = Start(body, caller);
    EXPECT_EQ(Calls(*answer), 1) << "not answered before CreateTokenWithIamAsync returned";
    EXPECT_EQ(executor_.used(), used) << "the executor was used";
    StatusOr<std::string> result = Await(*answer);
    EXPECT_EQ(answer->thread, std::this_thread::get_id());
    return result;
  }

  // A request that the store's writer answers (a refresh whose token, read there, is refused):
  // no executor, and not before CreateTokenWithIamAsync returned on this thread.
  StatusOr<std::string> AnsweredByTheWriter(const std::string& body) {
    const int used = executor_.used();
    auto answer = Start(body);
    StatusOr<std::string> result = Await(*answer);
    EXPECT_EQ(executor_.used(), used) << "the executor was used";
    EXPECT_NE(answer->thread, std::this_thread::get_id());
    return result;
  }

  // A request that waits for the executor: nothing is answered until its one task runs.
  StatusOr<std::string> AnsweredThroughExecutor(const std::string& body,
                                                const Caller& caller = kWebapp) {
    EXPECT_EQ(executor_.queued(), 0u);
    auto answer = Start(body, caller);
    if (!executor_.AwaitQueued(1)) return InternalError("nothing was queued on the executor");
    EXPECT_EQ(Calls(*answer), 0) << "answered before the executor ran";
    EXPECT_EQ(executor_.RunAll(), 1);
    EXPECT_EQ(Calls(*answer), 1) << "not answered by the executor's task";
    StatusOr<std::string> result = Await(*answer);
    EXPECT_EQ(answer->thread, std::this_thread::get_id());  // RunAll's
    EXPECT_EQ(executor_.queued(), 0u);
    return result;
  }

  QueueingExecutor executor_;
};

// On SQLite a refresh never waits for the executor: the token is read and rotated by the
// store's writer, and `done` runs on the writer thread with what the blocking call returns.
TEST_F(TokenServiceAsyncTest, RefreshOnSqliteIsAnsweredWithoutTheExecutor) {
  ASSERT_TRUE(store_->GrantsWithoutBlocking());
  json::object first = Redeem();
  const std::string rt1 = Str(first, "refreshToken");
  const std::string fid = Str(VerifiedPayload(Str(first, "accessToken")), "tsr:fid");
  // The blocking call's answer for the same kind of request, in another family.
  auto sync = Call(RefreshBody(Str(Redeem(), "refreshToken")));
  ASSERT_THAT(sync, IsOk());
  clock_->Advance(std::chrono::seconds(100));

  auto answer = Start(RefreshBody(rt1));
  auto r = Await(*answer);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(executor_.used(), 0);
  EXPECT_NE(answer->thread, std::this_thread::get_id());  // the writer's

  json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), Keys(json::parse(*sync).as_object()));
  EXPECT_EQ(Keys(o), kEveryMember);
  EXPECT_EQ(o["issuedTokenType"], kRefreshTokenType);
  EXPECT_EQ(o["tokenType"], "Bearer");
  EXPECT_EQ(o["expiresIn"], 3600);
  EXPECT_EQ(o["scope"], first["scope"]);
  const std::string rt2 = Str(o, "refreshToken");
  EXPECT_EQ(rt2, DerivedSuccessor(rt1, rt2));
  json::object at = VerifiedPayload(Str(o, "accessToken"));
  EXPECT_EQ(at["tsr:fid"], json::value(fid));
  EXPECT_EQ(at["sub"], kUser);
  EXPECT_EQ(at["iat"], kNow + 100);
  EXPECT_EQ(at["exp"], kNow + 100 + 3600);
  EXPECT_EQ(VerifiedPayload(Str(o, "idToken"))["sub"], kUser);

  // The old token is rotated, with the answered token as its successor.
  storage::RefreshToken old = StoredRefresh(rt1);
  EXPECT_EQ(old.rotated_at, kNow + 100);
  EXPECT_EQ(old.successor_hash, tokens::TokenMinter::RefreshTokenKey(rt2));
  EXPECT_EQ(StoredRefresh(rt2).rotated_at, 0);

  // The new token works next time, the same way.
  clock_->Advance(std::chrono::seconds(10));
  auto next_answer = Start(RefreshBody(rt2));
  auto next = Await(*next_answer);
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(executor_.used(), 0);
  const std::string rt3 = Str(json::parse(*next).as_object(), "refreshToken");
  EXPECT_EQ(rt3, DerivedSuccessor(rt2, rt3));
  EXPECT_EQ(StoredRefresh(rt2).rotated_at, kNow + 110);
}

// Reuse goes to the executor (it reads again and revokes) and answers what the blocking call
// does: InvalidGrantException, with the family revoked.
TEST_F(TokenServiceAsyncTest, ReusedRefreshTokenGoesThroughTheExecutorAndRevokesTheFamily) {
  json::object first = Redeem();
  const std::string rt1 = Str(first, "refreshToken");
  const std::string fid = Str(VerifiedPayload(Str(first, "accessToken")), "tsr:fid");
  auto second = Await(*Start(RefreshBody(rt1)));
  ASSERT_THAT(second, IsOk());
  const std::string rt2 = Str(json::parse(*second).as_object(), "refreshToken");
  ASSERT_EQ(executor_.used(), 0);

  clock_->Advance(std::chrono::seconds(5));
  EXPECT_API_ERROR(AnsweredThroughExecutor(RefreshBody(rt1)), "InvalidGrantException",
                   "Refresh token has already been used; every token of its family is now "
                   "revoked");
  auto family = store_->GetFamily(fid);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, kNow + 5);
  // The successor died with its family; a revoked family is refused on reading the token.
  EXPECT_API_ERROR(AnsweredByTheWriter(RefreshBody(rt2)), "InvalidGrantException",
                   "Refresh token has been revoked");
  EXPECT_API_ERROR(AnsweredByTheWriter(RefreshBody(rt1)), "InvalidGrantException",
                   "Refresh token has been revoked");
}

// Same as GraceWindowReturnsTheSameSuccessor, through the asynchronous path.
TEST_F(TokenServiceAsyncTest, GraceWindowAnswersTheSameSuccessor) {
  TokenServiceOptions options;
  options.refresh_grace_seconds = 60;
  MakeService(options);
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto a = Await(*Start(RefreshBody(rt1)));
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(executor_.used(), 0);
  const std::string rt2 = Str(json::parse(*a).as_object(), "refreshToken");

  clock_->Advance(std::chrono::seconds(60));
  auto b = AnsweredThroughExecutor(RefreshBody(rt1));
  ASSERT_THAT(b, IsOk());
  json::object bo = json::parse(*b).as_object();
  EXPECT_EQ(Str(bo, "refreshToken"), rt2);
  EXPECT_EQ(VerifiedPayload(Str(bo, "accessToken"))["iat"], kNow + 60);
  EXPECT_EQ(StoredRefresh(rt2).rotated_at, 0);  // handed out again, not rotated

  // Past the window it is reuse: the family is revoked.
  clock_->Advance(std::chrono::seconds(1));
  EXPECT_API_ERROR(AnsweredThroughExecutor(RefreshBody(rt1)), "InvalidGrantException",
                   "already been used");
  EXPECT_API_ERROR(AnsweredByTheWriter(RefreshBody(rt2)), "InvalidGrantException", "revoked");
}

// The same token presented twice at once: the second request either reads the token rotated or
// loses the compare-and-set on the writer thread; either way it settles on the executor, and
// inside the grace window gets the first one's successor.
TEST_F(TokenServiceAsyncTest, BackToBackRefreshesInsideTheGraceWindowGetOneSuccessor) {
  TokenServiceOptions options;
  options.refresh_grace_seconds = 60;
  MakeService(options);
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto first = Start(RefreshBody(rt1));
  auto second = Start(RefreshBody(rt1));
  auto a = Await(*first);
  ASSERT_THAT(a, IsOk());
  ASSERT_TRUE(executor_.AwaitQueued(1)) << "the second refresh never reached the executor";
  EXPECT_EQ(Calls(*second), 0);
  EXPECT_EQ(executor_.RunAll(), 1);
  auto b = Await(*second);
  ASSERT_THAT(b, IsOk());
  const std::string rt2 = Str(json::parse(*a).as_object(), "refreshToken");
  EXPECT_EQ(rt2, DerivedSuccessor(rt1, rt2));
  EXPECT_EQ(Str(json::parse(*b).as_object(), "refreshToken"), rt2);
  EXPECT_EQ(StoredRefresh(rt1).successor_hash, tokens::TokenMinter::RefreshTokenKey(rt2));
  EXPECT_EQ(StoredRefresh(rt2).rotated_at, 0);
  EXPECT_EQ(executor_.used(), 1);
}

TEST_F(TokenServiceAsyncTest, BackToBackRefreshesWithoutGraceAreReuse) {
  json::object first_body = Redeem();
  const std::string rt1 = Str(first_body, "refreshToken");
  const std::string fid = Str(VerifiedPayload(Str(first_body, "accessToken")), "tsr:fid");
  auto first = Start(RefreshBody(rt1));
  auto second = Start(RefreshBody(rt1));
  ASSERT_THAT(Await(*first), IsOk());
  ASSERT_TRUE(executor_.AwaitQueued(1)) << "the second refresh never reached the executor";
  EXPECT_EQ(Calls(*second), 0);
  EXPECT_EQ(executor_.RunAll(), 1);
  EXPECT_API_ERROR(Await(*second), "InvalidGrantException", "already been used");
  auto family = store_->GetFamily(fid);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, kNow);
}

// Errors found before the grant are answered at once, with the blocking call's modeled error.
TEST_F(TokenServiceAsyncTest, ErrorsBeforeTheGrantAreAnsweredDirectly) {
  TokenServiceOptions options;
  options.refresh_token_ttl = 1000;
  MakeService(options);
  const std::string expired = Str(Redeem(), "refreshToken");
  const std::string unknown_app = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-9";
  struct Case {
    std::string body;
    Caller caller;
    std::string type;
    std::string fragment;
  };
  clock_->Advance(std::chrono::seconds(1000));
  const std::vector<Case> cases = {
      {"{\"clientId\":", kWebapp, "InvalidRequestException", "not valid JSON"},
      {RefreshBody("tsrt_x", unknown_app), kWebapp, "InvalidClientException", unknown_app},
      {CodeBody("tsac_x", unknown_app), kWebapp, "InvalidClientException", unknown_app},
      {std::string(R"({"clientId":")") + kApp + R"(","grantType":"refresh_token"})", kWebapp,
       "InvalidRequestException", "Member 'refreshToken' is required for refresh_token"},
      {RefreshBody("tsrt_x", kCodeOnlyApp), kWebapp, "UnauthorizedClientException",
       "refresh_token"},
      {RefreshBody(expired), kStranger, "AccessDeniedException", "is not authorized"},
      {std::string(R"({"clientId":")") + kApp + R"(","grantType":"password"})", kWebapp,
       "UnsupportedGrantTypeException", "password"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto async = AnsweredDirectly(c.body, c.caller);
    EXPECT_API_ERROR(async, c.type, c.fragment);
    auto sync = Call(c.body, c.caller);
    ASSERT_FALSE(sync.ok());
    EXPECT_EQ(async.status().error_type(), sync.status().error_type());
    EXPECT_EQ(async.status().message(), sync.status().message());
  }
  EXPECT_EQ(StoredRefresh(expired).rotated_at, 0);
}

// A presented refresh token is read, and refused, inside the writer's transaction: the writer
// answers, with the blocking call's modeled error, and nothing changes.
TEST_F(TokenServiceAsyncTest, RefreshTokensRefusedOnReadingAreAnsweredByTheWriter) {
  TokenServiceOptions options;
  options.refresh_token_ttl = 1000;
  MakeService(options);
  const std::string expired = Str(Redeem(), "refreshToken");
  clock_->Advance(std::chrono::seconds(999));
  const std::string live_again = Str(Redeem(), "refreshToken");
  clock_->Advance(std::chrono::seconds(1));
  struct Case {
    std::string body;
    std::string type;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {RefreshBody(expired), "InvalidGrantException", "Refresh token has expired"},
      {RefreshBody("tsrt_nope"), "InvalidGrantException", "Invalid refresh token provided"},
      {RefreshBody(live_again, kApp, std::vector<std::string>{"aws", "not-granted"}),
       "InvalidScopeException", "not-granted"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto async = AnsweredByTheWriter(c.body);
    EXPECT_API_ERROR(async, c.type, c.fragment);
    auto sync = Call(c.body);
    ASSERT_FALSE(sync.ok());
    EXPECT_EQ(async.status().error_type(), sync.status().error_type());
    EXPECT_EQ(async.status().message(), sync.status().message());
  }
  EXPECT_EQ(StoredRefresh(expired).rotated_at, 0);
  EXPECT_EQ(StoredRefresh(live_again).rotated_at, 0);
}

// The writer reads the assignment with the token, and refuses as the blocking call does.
TEST_F(TokenServiceAsyncTest, RefreshForAnUnassignedUserIsRefusedByTheWriter) {
  const std::string refresh = Str(Redeem(), "refreshToken");
  ASSERT_THAT(store_->DeleteAssignment(kApp, kUser), IsOk());
  auto async = AnsweredByTheWriter(RefreshBody(refresh));
  EXPECT_API_ERROR(async, "InvalidGrantException",
                   std::string("The user is not assigned to application ") + kApp);
  EXPECT_EQ(StoredRefresh(refresh).rotated_at, 0);
  ASSERT_THAT(store_->PutAssignment(kApp, kUser, "USER"), IsOk());
  EXPECT_THAT(AnsweredByTheWriter(RefreshBody(refresh)), IsOk());
}

// With a `finish_done`, a rotated refresh is answered through it: the signing is left to the
// caller's thread (the HTTP server's io thread), and `done` is not called; errors still go to
// `done`.
TEST_F(TokenServiceAsyncTest, RotatedRefreshLeavesItsSigningToFinishDone) {
  const std::string rt1 = Str(Redeem(), "refreshToken");
  auto answer = Start(RefreshBody(rt1), kWebapp, /*with_finish=*/true);
  auto r = Await(*answer);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(Finishes(*answer), 1);
  json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), kEveryMember);
  const std::string rt2 = Str(o, "refreshToken");
  EXPECT_EQ(StoredRefresh(rt1).successor_hash, tokens::TokenMinter::RefreshTokenKey(rt2));
  EXPECT_EQ(VerifiedPayload(Str(o, "accessToken"))["sub"], kUser);

  auto refused = Start(RefreshBody("tsrt_nope"), kWebapp, /*with_finish=*/true);
  EXPECT_API_ERROR(Await(*refused), "InvalidGrantException", "Invalid refresh token provided");
  EXPECT_EQ(Finishes(*refused), 0);
}

// On SQLite the authorization-code grant never waits for the executor either: checked and signed
// on the calling thread, answered on the writer's once the redemption is durable, with what the
// blocking call returns.
TEST_F(TokenServiceAsyncTest, AuthorizationCodeOnSqliteIsAnsweredWithoutTheExecutor) {
  ASSERT_TRUE(store_->GrantsWithoutBlocking());
  auto sync = Call(CodeBody(MakeCode()));
  ASSERT_THAT(sync, IsOk());
  const std::string code = MakeCode();
  auto answer = Start(CodeBody(code));
  auto r = Await(*answer);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(executor_.used(), 0);
  EXPECT_NE(answer->thread, std::this_thread::get_id());  // the writer's

  json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), Keys(json::parse(*sync).as_object()));
  EXPECT_EQ(o["issuedTokenType"], kRefreshTokenType);
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->consumed_at, kNow);
  json::object at = VerifiedPayload(Str(o, "accessToken"));
  EXPECT_EQ(at["sub"], kUser);
  EXPECT_EQ(at["tsr:fid"], json::value(stored->family_id));
  EXPECT_EQ(StoredRefresh(Str(o, "refreshToken")).family_id, stored->family_id);
  auto family = store_->GetFamily(stored->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->grant_type, "authorization_code");
  EXPECT_EQ(family->revoked_at, 0);

  // The refresh token it issued refreshes, also without the executor.
  auto refreshed = Await(*Start(RefreshBody(Str(o, "refreshToken"))));
  ASSERT_THAT(refreshed, IsOk());
  EXPECT_EQ(executor_.used(), 0);
}

// A reused code goes to the executor (the revocation of what it produced is a write) and answers
// what the blocking call does; refusals found before the redemption are answered directly, with
// the blocking call's words, and change nothing.
TEST_F(TokenServiceAsyncTest, ReusedCodeGoesThroughTheExecutorAndOtherRefusalsAreDirect) {
  const std::string code = MakeCode();
  ASSERT_THAT(Await(*Start(CodeBody(code))), IsOk());
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  clock_->Advance(std::chrono::seconds(5));
  EXPECT_API_ERROR(AnsweredThroughExecutor(CodeBody(code)), "InvalidGrantException",
                   "already been used");
  auto family = store_->GetFamily(stored->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, kNow + 5);

  const std::string unused = MakeCode();
  struct Case {
    std::string body;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {CodeBody("tsac_unknown"), "Invalid authorization code"},
      {CodeBody(unused, kApp, std::string(43, 'a')),
       "codeVerifier does not match the code challenge"},
      {CodeBody(unused, kApp, "short"), "codeVerifier must be 43 to 128 characters"},
      {CodeBody(MakeCode(kApp, {"openid"}, "")),
       "codeVerifier was sent, but the code was issued without a code_challenge"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    auto async = AnsweredDirectly(c.body);
    EXPECT_API_ERROR(async, "InvalidGrantException", c.fragment);
    auto sync = Call(c.body);
    ASSERT_FALSE(sync.ok());
    EXPECT_EQ(async.status().message(), sync.status().message());
  }
  auto untouched = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(unused));
  ASSERT_THAT(untouched, IsOk());
  EXPECT_EQ(untouched->consumed_at, 0);
  // Expired: refused directly as well.
  clock_->Advance(std::chrono::seconds(3600));
  EXPECT_API_ERROR(AnsweredDirectly(CodeBody(unused)), "InvalidGrantException",
                   "Authorization code has expired");
}

// Two redemptions of one code racing. Usually both are checked before the first has committed,
// so both are signed and the writer settles it: it redeems the first and, for the second, revokes
// what the first produced and answers reuse. If the first committed before the second was
// checked, the second is reuse found early and goes through the executor. Either way one wins
// and the family it created is revoked.
TEST_F(TokenServiceAsyncTest, RacingRedemptionsOfOneCodeIssueOnceAndRevoke) {
  const std::string code = MakeCode();
  auto first = Start(CodeBody(code));
  auto second = Start(CodeBody(code));
  auto a = Await(*first);  // its fence also orders the second's redemption, if it was submitted
  if (executor_.queued() > 0) {
    EXPECT_EQ(executor_.RunAll(), 1);
  }
  auto b = Await(*second);
  ASSERT_EQ(a.ok() + b.ok(), 1) << "exactly one redemption wins";
  EXPECT_API_ERROR(a.ok() ? b : a, "InvalidGrantException", "already been used");
  auto stored = store_->GetAuthorizationCode(tokens::TokenMinter::Hash(code));
  ASSERT_THAT(stored, IsOk());
  auto family = store_->GetFamily(stored->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, kNow);
  const std::string issued = Str(json::parse(a.ok() ? *a : *b).as_object(), "refreshToken");
  EXPECT_API_ERROR(Await(*Start(RefreshBody(issued))), "InvalidGrantException", "revoked");
}

TEST_F(TokenServiceAsyncTest, JwtBearerWithoutAssertionValidatorIsRefusedDirectly) {
  // No assertion validator in this fixture: the grant refuses, as the blocking call does.
  const std::string body = std::string(R"({"clientId":")") + kJwtApp +
                           R"(","grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer",)"
                           R"("assertion":"a.b.c"})";
  auto async = AnsweredDirectly(body);
  EXPECT_API_ERROR(async, "UnsupportedGrantTypeException", "not supported by this server");
  auto sync = Call(body);
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(async.status().message(), sync.status().message());
}

// A store whose refreshes block (PostgreSQL's): every request, refreshes and errors included, goes
// to the executor, and the store's asynchronous rotation is not used.
TEST_F(TokenServiceAsyncTest, WithABlockingStoreEveryRequestGoesThroughTheExecutor) {
  json::object first = Redeem();
  const std::string rt1 = Str(first, "refreshToken");
  auto blocking = std::make_shared<testutil::BlockingStore>(store_);
  ASSERT_FALSE(blocking->GrantsWithoutBlocking());
  service_ = std::make_unique<TokenService>(TokenStorage{blocking, blocking, blocking}, minter_,
                                            clock_, TokenServiceOptions{});
  clock_->Advance(std::chrono::seconds(100));

  auto refreshed = AnsweredThroughExecutor(RefreshBody(rt1));
  ASSERT_THAT(refreshed, IsOk());
  json::object o = json::parse(*refreshed).as_object();
  const std::string rt2 = Str(o, "refreshToken");
  EXPECT_EQ(rt2, DerivedSuccessor(rt1, rt2));
  EXPECT_EQ(Keys(o), Keys(first));
  EXPECT_EQ(VerifiedPayload(Str(o, "accessToken"))["iat"], kNow + 100);
  EXPECT_EQ(StoredRefresh(rt1).rotated_at, kNow + 100);
  EXPECT_EQ(StoredRefresh(rt1).successor_hash, tokens::TokenMinter::RefreshTokenKey(rt2));

  EXPECT_API_ERROR(AnsweredThroughExecutor(RefreshBody(rt1)), "InvalidGrantException",
                   "already been used");
  EXPECT_API_ERROR(AnsweredThroughExecutor(RefreshBody(rt2)), "InvalidGrantException", "revoked");
  EXPECT_API_ERROR(AnsweredThroughExecutor("{\"clientId\":"), "InvalidRequestException",
                   "not valid JSON");
  EXPECT_API_ERROR(AnsweredThroughExecutor(std::string(R"({"clientId":")") + kApp +
                                           R"(","grantType":"refresh_token"})"),
                   "InvalidRequestException", "Member 'refreshToken' is required");
  EXPECT_API_ERROR(AnsweredThroughExecutor(RefreshBody("tsrt_x"), kStranger),
                   "AccessDeniedException", "is not authorized");
  EXPECT_THAT(AnsweredThroughExecutor(CodeBody(MakeCode())), IsOk());
  EXPECT_EQ(executor_.used(), 7);
  EXPECT_EQ(blocking->async_rotations(), 0);
  EXPECT_EQ(blocking->async_redemptions(), 0);
}

// --- jwt-bearer (docs/design/jwt-bearer.md) ---

constexpr char kBearerApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-7";
constexpr char kTti[] = "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/tti-1";
constexpr char kOtherTti[] =
    "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-111111111111/tti-2";
constexpr char kIdp[] = "https://idp.example";
constexpr char kJwtBearer[] = "urn:ietf:params:oauth:grant-type:jwt-bearer";

// TokenServiceAsyncTest's helpers serve the asynchronous JWT-bearer tests below.
class JwtBearerTest : public TokenServiceAsyncTest {
 protected:
  void SetUp() override {
    TokenServiceAsyncTest::SetUp();
    fetcher_->SetJson(std::string(kIdp) + "/.well-known/openid-configuration",
                      R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/k"})");
    fetcher_->SetJson("https://idp.example/k", R"({"keys":[)" + idp_key_.PublicJwkJson() + "]}");
    fetcher_->SetJson("https://other.example/.well-known/openid-configuration",
                      R"({"issuer":"https://other.example","jwks_uri":"https://idp.example/k"})");
    ASSERT_THAT(store_->PutTrustedTokenIssuer(Issuer(kTti, kIdp)), IsOk());
    ASSERT_THAT(store_->PutTrustedTokenIssuer(Issuer(kOtherTti, "https://other.example")), IsOk());

    storage::User alice = *store_->GetUser(kUser);
    alice.attributes_json = R"({"Emails":[{"Value":"alice@example.com"}]})";
    ASSERT_THAT(store_->UpdateUser(alice), IsOk());
    ASSERT_THAT(store_->CreateUser(MakeUser("u-bob", "bob", "dup@example.com")), IsOk());
    ASSERT_THAT(store_->CreateUser(MakeUser("u-carol", "carol", "dup@example.com")), IsOk());
    ASSERT_THAT(store_->CreateUser(MakeUser("u-dave", "dave", "dave@example.com")), IsOk());

    const std::string grant =
        std::string(R"({"AuthorizedTokenIssuers":[{"TrustedTokenIssuerArn":")") + kTti +
        R"(","AuthorizedAudiences":["tessera-app"]}]})";
    ASSERT_THAT(PutApp(kBearerApp, {{kJwtBearer, grant}, {"refresh_token", "{}"}}), IsOk());
    for (const char* id : {kUser, "u-bob", "u-carol"}) {
      ASSERT_THAT(store_->PutAssignment(kBearerApp, id, "USER"), IsOk());
    }
    auto cache = std::make_shared<tti::JwksCache>(fetcher_, clock_, tti::JwksCacheOptions{});
    service_ = std::make_unique<TokenService>(
        TokenStorage{store_, store_, store_}, minter_, clock_, TokenServiceOptions{},
        std::make_shared<tti::AssertionValidator>(cache, tti::AssertionOptions{}));
  }

  static storage::TrustedTokenIssuer Issuer(const std::string& arn, const std::string& url) {
    storage::TrustedTokenIssuer t;
    t.arn = arn;
    t.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    t.name = "idp";
    t.issuer_url = url;
    t.claim_attribute_path = "email";
    t.identity_store_attribute_path = "emails.value";
    return t;
  }
  static storage::User MakeUser(const std::string& id, const std::string& name,
                                const std::string& email) {
    storage::User u;
    u.user_id = id;
    u.identity_store_id = "d-3333333333";
    u.user_name = name;
    u.attributes_json = R"({"Emails":[{"Value":")" + email + R"("}]})";
    return u;
  }
  // An assertion issued 5 s before `at`, valid for 600 s after it.
  std::string Assertion(const std::string& email, const std::string& jti = "jti-1",
                        const std::string& iss = kIdp, int64_t at = kNow) {
    JsonWriter w;
    w.BeginObject();
    w.Member("iss", iss);
    w.Member("sub", "idp-user");
    w.Member("aud", "tessera-app");
    w.Member("iat", at - 5);
    w.Member("exp", at + 600);
    w.Member("jti", jti);
    w.Member("email", email);
    w.EndObject();
    return *idp_key_.SignJwt(w.Take());
  }
  static std::string ExchangeBody(const std::string& assertion,
                                  const std::string& app = kBearerApp) {
    json::object o{{"clientId", app}, {"grantType", kJwtBearer}, {"assertion", assertion}};
    return json::serialize(o);
  }
  StatusOr<std::string> Exchange(const std::string& assertion,
                                 const std::string& app = kBearerApp) {
    return Call(ExchangeBody(assertion, app));
  }

  std::shared_ptr<tti::FakeFetcher> fetcher_ = std::make_shared<tti::FakeFetcher>();
  jose::Es256Signer idp_key_ = *jose::Es256Signer::Generate();
};

TEST_F(JwtBearerTest, IssuesTokensWithTheIssuerAsActor) {
  auto r = Exchange(Assertion("alice@example.com"));
  ASSERT_THAT(r, IsOk());
  const json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), kEveryMember);
  const json::object id = VerifiedPayload(Str(o, "idToken"));
  EXPECT_EQ(Str(id, "sub"), kUser);
  ASSERT_TRUE(id.contains("act"));
  EXPECT_EQ(json::serialize(id.at("act")), std::string(R"({"sub":")") + kTti + R"("})");
  const json::object access = VerifiedPayload(Str(o, "accessToken"));
  EXPECT_EQ(json::serialize(access.at("act")), json::serialize(id.at("act")));

  // A refresh keeps the actor.
  auto refreshed = Call(RefreshBody(Str(o, "refreshToken"), kBearerApp));
  ASSERT_THAT(refreshed, IsOk());
  const json::object again = json::parse(*refreshed).as_object();
  EXPECT_EQ(json::serialize(VerifiedPayload(Str(again, "accessToken")).at("act")),
            json::serialize(id.at("act")));
}

TEST_F(JwtBearerTest, ReplayedAssertionIsRefused) {
  const std::string assertion = Assertion("alice@example.com");
  ASSERT_THAT(Exchange(assertion), IsOk());
  EXPECT_API_ERROR(Exchange(assertion), "InvalidGrantException", "assertion has already been used");
}

TEST_F(JwtBearerTest, UserMatchingFailuresAreInvalidGrant) {
  EXPECT_API_ERROR(Exchange(Assertion("nobody@example.com", "j1")), "InvalidGrantException",
                   "No user matches the assertion's 'email' claim");
  EXPECT_API_ERROR(Exchange(Assertion("dup@example.com", "j2")), "InvalidGrantException",
                   "2 users match");
  EXPECT_API_ERROR(Exchange(Assertion("dave@example.com", "j3")), "InvalidGrantException",
                   "not assigned");
}

TEST_F(JwtBearerTest, IssuerNotAuthorizedForThisApplication) {
  EXPECT_API_ERROR(Exchange(Assertion("alice@example.com", "j1", "https://other.example")),
                   "InvalidGrantException",
                   "Invalid assertion: assertion issuer 'https://other.example' is not a trusted "
                   "token issuer authorized for this application");
}

TEST_F(JwtBearerTest, ValidationFailuresNameTheCheck) {
  const std::string none =
      crypto::Base64UrlEncode(R"({"alg":"none"})") + "." +
      crypto::Base64UrlEncode(R"({"iss":"https://idp.example","aud":"tessera-app"})") + ".";
  EXPECT_API_ERROR(Exchange(none), "InvalidGrantException", "Invalid assertion: JWS alg 'none'");
}

TEST_F(JwtBearerTest, UnreachableIdpIsInvalidGrantNamingTheIssuer) {
  fetcher_->Set("https://idp.example/.well-known/openid-configuration",
                UnavailableError("timed out after 5000 ms"));
  EXPECT_API_ERROR(Exchange(Assertion("alice@example.com")), "InvalidGrantException",
                   "cannot get the signing keys of https://idp.example: timed out");
}

// The algorithm is checked before the keys are fetched, so the message names the real problem.
TEST_F(JwtBearerTest, UnreachableIdpStillRefusesAlgNoneAndHmacByName) {
  fetcher_->Set("https://idp.example/.well-known/openid-configuration",
                UnavailableError("timed out after 5000 ms"));
  const std::string payload = crypto::Base64UrlEncode(
      R"({"iss":"https://idp.example","aud":"tessera-app","email":"alice@example.com"})");
  const std::string none = crypto::Base64UrlEncode(R"({"alg":"none"})") + "." + payload + ".";
  const std::string hs256 = crypto::Base64UrlEncode(R"({"alg":"HS256"})") + "." + payload + "." +
                            crypto::Base64UrlEncode(std::string(32, 'x'));
  for (const auto& [assertion, message] :
       {std::pair{none,
                  "Invalid assertion: JWS alg 'none' is refused: unsecured tokens are never "
                  "accepted"},
        std::pair{hs256,
                  "Invalid assertion: JWS alg 'HS256' is refused: HMAC (shared-secret) "
                  "algorithms are never accepted"}}) {
    auto r = Exchange(assertion);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error_type(), "InvalidGrantException");
    EXPECT_EQ(r.status().message(), message);
    EXPECT_EQ(ToErrorResponse(r.status()).status, 400);
  }
  EXPECT_EQ(fetcher_->calls("https://idp.example/.well-known/openid-configuration"), 0);
}

TEST_F(JwtBearerTest, MissingAssertionIsInvalidRequest) {
  json::object o{{"clientId", kBearerApp}, {"grantType", kJwtBearer}};
  EXPECT_API_ERROR(Call(json::serialize(o)), "InvalidRequestException", "'assertion'");
}

// --- the JWT-bearer grant through CreateTokenWithIamAsync ---

// With the issuer's keys cached, the grant is validated and signed on the calling thread and
// answered by the store's writer once the family is durable: no executor.
TEST_F(JwtBearerTest, AsyncWithCachedKeysIsAnsweredByTheWriter) {
  ASSERT_THAT(Exchange(Assertion("alice@example.com", "warm-up")), IsOk());  // caches the keys
  const int64_t fetches = fetcher_->calls("https://idp.example/k");

  auto answer = Start(ExchangeBody(Assertion("alice@example.com", "jti-async")));
  auto r = Await(*answer);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(executor_.used(), 0);
  EXPECT_NE(answer->thread, std::this_thread::get_id());  // the writer's
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), fetches);

  const json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), kEveryMember);
  const json::object access = VerifiedPayload(Str(o, "accessToken"));
  EXPECT_EQ(Str(access, "sub"), kUser);
  EXPECT_EQ(json::serialize(access.at("act")), std::string(R"({"sub":")") + kTti + R"("})");
  // The family and its refresh token are stored: the token refreshes.
  auto family = store_->GetFamily(Str(access, "tsr:fid"));
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->grant_type, kJwtBearer);
  EXPECT_EQ(family->user_id, kUser);
  EXPECT_THAT(Call(RefreshBody(Str(o, "refreshToken"), kBearerApp)), IsOk());
}

// Reuse is caught by the store's replay record, whichever path redeemed the assertion first.
TEST_F(JwtBearerTest, AsyncReplayIsRefusedByTheWriter) {
  ASSERT_THAT(Exchange(Assertion("alice@example.com", "warm-up")), IsOk());
  const std::string assertion = Assertion("alice@example.com", "jti-twice");
  auto first = Start(ExchangeBody(assertion));
  ASSERT_THAT(Await(*first), IsOk());
  auto again = Start(ExchangeBody(assertion));
  EXPECT_API_ERROR(Await(*again), "InvalidGrantException", "assertion has already been used");
  EXPECT_NE(again->thread, std::this_thread::get_id());
  // And an assertion redeemed through the blocking call first.
  const std::string blocking_first = Assertion("alice@example.com", "jti-blocking-first");
  ASSERT_THAT(Exchange(blocking_first), IsOk());
  EXPECT_API_ERROR(Await(*Start(ExchangeBody(blocking_first))), "InvalidGrantException",
                   "assertion has already been used");
  EXPECT_EQ(executor_.used(), 0);
}

// Without cached keys the request goes to the executor, which fetches them; the next one does not.
TEST_F(JwtBearerTest, AsyncWithoutCachedKeysFetchesThroughTheExecutor) {
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), 0);
  auto fetched = AnsweredThroughExecutor(ExchangeBody(Assertion("alice@example.com", "j1")));
  ASSERT_THAT(fetched, IsOk());
  EXPECT_GT(fetcher_->calls("https://idp.example/k"), 0);
  const int64_t fetches = fetcher_->calls("https://idp.example/k");

  auto cached = Start(ExchangeBody(Assertion("alice@example.com", "j2")));
  ASSERT_THAT(Await(*cached), IsOk());
  EXPECT_EQ(executor_.used(), 1);
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), fetches);

  // Keys that expired in the cache are fetched again, on the executor.
  clock_->Advance(std::chrono::seconds(tti::JwksCacheOptions{}.default_ttl + 1));
  EXPECT_THAT(
      AnsweredThroughExecutor(ExchangeBody(Assertion("alice@example.com", "j3", kIdp, kNow + 601))),
      IsOk());
  EXPECT_GT(fetcher_->calls("https://idp.example/k"), fetches);
}

// A kid the cached set does not know may be a rotation at the IdP: fetched again, on the executor.
TEST_F(JwtBearerTest, AsyncUnknownKidGoesThroughTheExecutor) {
  ASSERT_THAT(Exchange(Assertion("alice@example.com", "warm-up")), IsOk());
  const int64_t fetches = fetcher_->calls("https://idp.example/k");
  jose::Es256Signer rotated = *jose::Es256Signer::Generate();
  fetcher_->SetJson("https://idp.example/k", R"({"keys":[)" + rotated.PublicJwkJson() + "]}");
  clock_->Advance(std::chrono::seconds(tti::JwksCacheOptions{}.refetch_interval + 1));
  std::swap(idp_key_, rotated);
  auto r = AnsweredThroughExecutor(
      ExchangeBody(Assertion("alice@example.com", "j-rotated", kIdp, kNow + 11)));
  ASSERT_THAT(r, IsOk());
  EXPECT_GT(fetcher_->calls("https://idp.example/k"), fetches);
}

// Refusals that need no write are answered at once, on the calling thread, as the blocking call
// words them.
TEST_F(JwtBearerTest, AsyncRefusalsAreAnsweredDirectly) {
  ASSERT_THAT(Exchange(Assertion("alice@example.com", "warm-up")), IsOk());
  const std::string cases[] = {
      Assertion("nobody@example.com", "r1"),
      Assertion("dup@example.com", "r2"),
      Assertion("dave@example.com", "r3"),
      Assertion("alice@example.com", "r4", "https://other.example"),
      "not-a-jws",
  };
  for (const std::string& assertion : cases) {
    auto async = AnsweredDirectly(ExchangeBody(assertion));
    auto sync = Exchange(assertion);
    ASSERT_FALSE(async.ok()) << assertion;
    ASSERT_FALSE(sync.ok()) << assertion;
    EXPECT_EQ(async.status().code(), sync.status().code()) << assertion;
    EXPECT_EQ(async.status().message(), sync.status().message()) << assertion;
  }
  EXPECT_API_ERROR(AnsweredDirectly(ExchangeBody("")), "InvalidRequestException", "'assertion'");
}

// On a store that blocks (PostgreSQL's) the grant runs on the executor and the store's
// asynchronous write is not used.
TEST_F(JwtBearerTest, AsyncOnABlockingStoreGoesThroughTheExecutor) {
  ASSERT_THAT(Exchange(Assertion("alice@example.com", "warm-up")), IsOk());
  auto blocking = std::make_shared<testutil::BlockingStore>(store_);
  auto cache = std::make_shared<tti::JwksCache>(fetcher_, clock_, tti::JwksCacheOptions{});
  service_ = std::make_unique<TokenService>(
      TokenStorage{blocking, blocking, blocking}, minter_, clock_, TokenServiceOptions{},
      std::make_shared<tti::AssertionValidator>(cache, tti::AssertionOptions{}));
  EXPECT_THAT(AnsweredThroughExecutor(ExchangeBody(Assertion("alice@example.com", "b1"))), IsOk());
  EXPECT_THAT(AnsweredThroughExecutor(ExchangeBody(Assertion("alice@example.com", "b2"))), IsOk());
  EXPECT_API_ERROR(AnsweredThroughExecutor(ExchangeBody(Assertion("alice@example.com", "b2"))),
                   "InvalidGrantException", "assertion has already been used");
  EXPECT_EQ(blocking->async_assertion_families(), 0);
}

// The user match and the assignment check are one read (on PostgreSQL one round trip, not two),
// for an assigned user and for one who is not.
TEST_F(JwtBearerTest, TheUserMatchReadsTheAssignmentToo) {
  auto blocking = std::make_shared<testutil::BlockingStore>(store_);
  auto cache = std::make_shared<tti::JwksCache>(fetcher_, clock_, tti::JwksCacheOptions{});
  service_ = std::make_unique<TokenService>(
      TokenStorage{blocking, blocking, blocking}, minter_, clock_, TokenServiceOptions{},
      std::make_shared<tti::AssertionValidator>(cache, tti::AssertionOptions{}));
  EXPECT_THAT(Exchange(Assertion("alice@example.com", "one-read")), IsOk());
  EXPECT_API_ERROR(Exchange(Assertion("dave@example.com", "one-read-2")), "InvalidGrantException",
                   "not assigned");
  EXPECT_EQ(blocking->user_match_reads(), 2);
  EXPECT_EQ(blocking->is_assigned_reads(), 0);
}

}  // namespace
}  // namespace ts::oauth
