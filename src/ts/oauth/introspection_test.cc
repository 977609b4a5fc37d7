// Token exchange (TokenService, RFC 8693) and the resource-server operations (TokenIntrospection:
// RFC 7662 introspection, RFC 7009 revocation, identity contexts), against a real SQLite store.
#include "ts/oauth/introspection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/crypto/encoding.h"
#include "ts/oauth/blocking_store_test_util.h"
#include "ts/oauth/token_service.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kInstanceArn[] = "arn:aws:sso:::instance/ssoins-111111111111";
constexpr char kAppA[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-a";
constexpr char kAppB[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-b";
constexpr char kAppC[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-c";
constexpr char kAppD[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-d";
constexpr char kAppE[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-e";
constexpr char kUser[] = "730448f2-e0a1-70a7-c954-000000000000";
constexpr char kExchange[] = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr char kAccessType[] = "urn:ietf:params:oauth:token-type:access_token";
constexpr char kRefreshType[] = "urn:ietf:params:oauth:token-type:refresh_token";

const Caller kRoot{"arn:aws:iam::111111111111:root", "111111111111"};
const Caller kWebapp{"arn:aws:iam::111111111111:role/webapp", "111111111111"};

// The webapp role may create tokens but not introspect or revoke.
constexpr char kActorPolicy[] =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
    R"("arn:aws:iam::111111111111:role/webapp"},"Action":"sso-oauth:CreateTokenWithIAM",)"
    R"("Resource":"*"}]})";

class ExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-exchange");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    instance_.instance_arn = kInstanceArn;
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

    const std::string te(kExchange);
    // A names B and E for tx:read, the instance for tx:all; tx:own names nobody.
    ASSERT_THAT(PutApp(kAppA, {{"refresh_token", "{}"}},
                       {{"tx:read", {kAppB, kAppE}}, {"tx:all", {kInstanceArn}}, {"tx:own", {}}}),
                IsOk());
    ASSERT_THAT(PutApp(kAppB, {{te, "{}"}, {"refresh_token", "{}"}}, {{"tx:read", {kAppC}}}),
                IsOk());
    ASSERT_THAT(PutApp(kAppC, {{te, "{}"}}, {{"tx:read", {}}, {"tx:all", {}}}), IsOk());
    ASSERT_THAT(PutApp(kAppD, {{te, "{}"}}, {{"tx:read", {}}}), IsOk());
    ASSERT_THAT(PutApp(kAppE, {{"refresh_token", "{}"}}, {{"tx:read", {}}}), IsOk());

    auto ring = tokens::KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_shared<tokens::TokenMinter>(ring_, instance_, kIssuer, std::string(32, 'i'),
                                                    std::string(32, 'r'));
    service_ = std::make_unique<TokenService>(TokenStorage{store_, store_, store_}, minter_, clock_,
                                              TokenServiceOptions{});
    introspection_ =
        std::make_unique<TokenIntrospection>(TokenStorage{store_, store_, store_}, minter_, clock_);
  }

  void TearDown() override {
    introspection_.reset();
    service_.reset();
    minter_.reset();
    ring_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  Status PutApp(const std::string& arn, std::map<std::string, std::string> grants,
                std::map<std::string, std::vector<std::string>> scopes) {
    storage::Application app;
    app.application_arn = arn;
    app.instance_arn = kInstanceArn;
    app.application_provider_arn = "arn:aws:sso::aws:applicationProvider/custom";
    app.name = "app";
    app.assignment_required = false;
    app.grants = std::move(grants);
    app.actor_policy_json = kActorPolicy;
    app.access_scopes = std::move(scopes);
    app.created_at = kNow;
    return store_->PutApplication(app);
  }

  // A family for app A as a sign-in would create, with a refresh token and an access token.
  struct Issued {
    std::string family_id;
    std::string access_token;
    std::string refresh_token;
  };
  Issued IssueToA(std::vector<std::string> scopes = {"openid", "aws", "sts:identity_context",
                                                     "tx:read", "tx:all", "tx:own"}) {
    Issued out;
    storage::TokenFamily family;
    family.family_id = "fam-a-" + std::to_string(++counter_);
    family.application_arn = kAppA;
    family.user_id = kUser;
    family.scopes = scopes;
    family.grant_type = "authorization_code";
    family.session_hash = "session-1";
    family.auth_time = kNow - 5;
    family.created_at = kNow;
    family.expires_at = kNow + 86400;
    out.refresh_token = tokens::TokenMinter::NewRefreshToken(clock_->NowUnixMicros());
    storage::RefreshToken refresh;
    refresh.token_hash = tokens::TokenMinter::RefreshTokenKey(out.refresh_token);
    refresh.family_id = family.family_id;
    refresh.scopes = scopes;
    refresh.created_at = kNow;
    refresh.expires_at = family.expires_at;
    EXPECT_THAT(store_->CreateFamily(family, refresh), IsOk());
    tokens::TokenSubject subject{kUser, kAppA, scopes, family.family_id, kNow - 5, "", ""};
    auto token = minter_->AccessToken(subject, "jti-" + family.family_id, clock_->NowUnixSeconds(),
                                      clock_->NowUnixSeconds() + 3600);
    EXPECT_THAT(token, IsOk());
    out.access_token = token.ok() ? *token : "";
    out.family_id = family.family_id;
    return out;
  }

  static std::string ExchangeBody(const std::string& target, const std::string& subject_token,
                                  const std::string& requested = "",
                                  const std::string& subject_type = kAccessType,
                                  std::vector<std::string> scope = {}) {
    json::object o{{"clientId", target},
                   {"grantType", kExchange},
                   {"subjectToken", subject_token},
                   {"subjectTokenType", subject_type}};
    if (!requested.empty()) o["requestedTokenType"] = requested;
    if (!scope.empty()) {
      json::array a;
      for (const auto& s : scope) a.emplace_back(s);
      o["scope"] = a;
    }
    return json::serialize(o);
  }

  StatusOr<json::object> Exchange(const std::string& body) {
    auto r = service_->CreateTokenWithIam(kWebapp, body);
    if (!r.ok()) return r.status();
    return json::parse(*r).as_object();
  }

  static json::object Payload(const std::string& jwt) {
    const size_t a = jwt.find('.');
    const size_t b = jwt.find('.', a + 1);
    auto raw = crypto::Base64UrlDecode(std::string_view(jwt).substr(a + 1, b - a - 1));
    return json::parse(raw.value_or("{}")).as_object();
  }

  static std::string Body(const std::string& client, const std::string& token) {
    return json::serialize(json::object{{"clientId", client}, {"token", token}});
  }
  json::object Introspect(const std::string& client, const std::string& token) {
    auto r = introspection_->Introspect(kRoot, Body(client, token));
    EXPECT_THAT(r, IsOk());
    return r.ok() ? json::parse(*r).as_object() : json::object{{"error", true}};
  }

  fs::path dir_;
  storage::StorePtr store_;
  storage::Instance instance_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<tokens::KeyRing> ring_;
  std::shared_ptr<tokens::TokenMinter> minter_;
  std::unique_ptr<TokenService> service_;
  std::unique_ptr<TokenIntrospection> introspection_;
  int counter_ = 0;
};

const json::object kInactive{{"active", false}};

// --- token exchange: success ---

TEST_F(ExchangeTest, AToBIssuesAnAccessTokenForBWithTheActorRecorded) {
  const Issued a = IssueToA();
  auto r = Exchange(ExchangeBody(kAppB, a.access_token));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->at("issuedTokenType"), json::value(kAccessType));
  EXPECT_EQ(r->if_contains("refreshToken"), nullptr);
  EXPECT_EQ(r->at("tokenType"), json::value("Bearer"));
  // B's scopes, limited to the defaults A's token had and the scope A authorized for B.
  EXPECT_EQ(r->at("scope"), json::parse(R"(["openid","aws","sts:identity_context","tx:read"])"));
  const json::object access = Payload(std::string(r->at("accessToken").as_string()));
  EXPECT_EQ(access.at("client_id"), json::value(kAppB));
  EXPECT_EQ(access.at("sub"), json::value(kUser));
  EXPECT_EQ(access.at("act"), json::parse(std::string(R"({"sub":")") + kAppA + R"("})"));
  EXPECT_NE(access.at("tsr:fid"), json::value(a.family_id));
  const json::object id = Payload(std::string(r->at("idToken").as_string()));
  EXPECT_EQ(id.at("aud"), json::value(kAppB));
  EXPECT_EQ(id.at("act"), access.at("act"));
  auto context =
      minter_->ReadIdentityContext(r->at("awsAdditionalDetails").at("identityContext").as_string());
  ASSERT_THAT(context, IsOk());
  EXPECT_EQ(context->application_arn, kAppB);
  EXPECT_EQ(context->user_id, kUser);

  auto family = store_->GetFamily(std::string(access.at("tsr:fid").as_string()));
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->parent_family_id, a.family_id);
  EXPECT_EQ(family->session_hash, "session-1");
  EXPECT_EQ(family->grant_type, kExchange);
}

TEST_F(ExchangeTest, BToCChainsTheActorsMostRecentOutermost) {
  auto b = Exchange(ExchangeBody(kAppB, IssueToA().access_token));
  ASSERT_THAT(b, IsOk());
  auto c = Exchange(ExchangeBody(kAppC, std::string(b->at("accessToken").as_string())));
  ASSERT_THAT(c, IsOk());
  const json::object access = Payload(std::string(c->at("accessToken").as_string()));
  EXPECT_EQ(access.at("client_id"), json::value(kAppC));
  EXPECT_EQ(access.at("act"), json::parse(std::string(R"({"sub":")") + kAppB +
                                          R"(","act":{"sub":")" + kAppA + R"("}})"));
  EXPECT_EQ(c->at("scope"), json::parse(R"(["openid","aws","sts:identity_context","tx:read"])"));
}

TEST_F(ExchangeTest, InstanceAsAuthorizedTargetCoversEveryApplication) {
  // tx:all names the instance; C has tx:all, so an exchange A -> C is authorized by it alone.
  auto r = Exchange(ExchangeBody(kAppC, IssueToA({"openid", "tx:all"}).access_token));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->at("scope"), json::parse(R"(["openid","tx:all"])"));
}

TEST_F(ExchangeTest, RequestedScopesNarrowAndMayNotWiden) {
  const Issued a = IssueToA();
  auto r = Exchange(ExchangeBody(kAppB, a.access_token, "", kAccessType, {"tx:read"}));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->at("scope"), json::parse(R"(["tx:read"])"));
  EXPECT_EQ(r->if_contains("idToken"), nullptr);  // no openid, no ID token
  // tx:own is A's but names no target; B could never grant it.
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token, "", kAccessType, {"tx:own"})),
                   "InvalidScopeException", "tx:own");
}

TEST_F(ExchangeTest, RequestedRefreshTokenStartsARefreshableFamilyThatKeepsTheChain) {
  auto r = Exchange(ExchangeBody(kAppB, IssueToA().access_token, kRefreshType));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->at("issuedTokenType"), json::value(kRefreshType));
  const std::string refresh(r->at("refreshToken").as_string());
  ASSERT_TRUE(refresh.starts_with("tsrt_"));
  auto refreshed = service_->CreateTokenWithIam(
      kWebapp,
      json::serialize(json::object{
          {"clientId", kAppB}, {"grantType", "refresh_token"}, {"refreshToken", refresh}}));
  ASSERT_THAT(refreshed, IsOk());
  const json::object access =
      Payload(std::string(json::parse(*refreshed).at("accessToken").as_string()));
  EXPECT_EQ(access.at("act"), json::parse(std::string(R"({"sub":")") + kAppA + R"("})"));
}

// --- token exchange: refusals ---

TEST_F(ExchangeTest, RefusalsForTheWrongKindOfSubjectAreInvalidRequest) {
  const Issued a = IssueToA();
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.refresh_token)), "InvalidRequestException",
                   "subjectToken is a refresh token");
  auto id = minter_->IdToken({kUser, kAppA, {"openid"}, a.family_id, kNow, "", ""}, a.family_id, "",
                             kNow, kNow + 3600);
  ASSERT_THAT(id, IsOk());
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, *id)), "InvalidRequestException",
                   "not an access token");
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token, "", kRefreshType)),
                   "InvalidRequestException", "subjectTokenType must be");
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token, "urn:x")),
                   "InvalidRequestException", "requestedTokenType must be");
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, "")), "InvalidRequestException",
                   "'subjectToken' is required");
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token, "", "")), "InvalidRequestException",
                   "'subjectTokenType' is required");
}

TEST_F(ExchangeTest, RefusalsOfTheSubjectTokenItselfAreInvalidGrant) {
  const Issued a = IssueToA();
  // Without tx:all (which names the whole instance) nothing the token carries names D.
  EXPECT_API_ERROR(
      Exchange(ExchangeBody(kAppD, IssueToA({"openid", "tx:read", "tx:own"}).access_token)),
      "InvalidGrantException", "has not authorized this application as a target");
  // With it, D may receive the identity, though D has no scope of A's to carry on.
  auto d = Exchange(ExchangeBody(kAppD, a.access_token));
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->at("scope"), json::parse(R"(["openid","aws","sts:identity_context"])"));
  const std::string tampered = a.access_token.substr(0, a.access_token.size() - 4) + "AAAA";
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, tampered)), "InvalidGrantException",
                   "Invalid subject token");
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, "not.a.jwt")), "InvalidGrantException",
                   "Invalid subject token");
  // B's own token cannot be exchanged by B.
  auto b = Exchange(ExchangeBody(kAppB, a.access_token));
  ASSERT_THAT(b, IsOk());
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, std::string(b->at("accessToken").as_string()))),
                   "InvalidGrantException", "issued to this same application");
  clock_->Advance(std::chrono::seconds(3600));
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token)), "InvalidGrantException",
                   "Subject token has expired");
}

TEST_F(ExchangeTest, RevokedSubjectsAreRefused) {
  const Issued by_family = IssueToA();
  ASSERT_THAT(store_->RevokeFamily(by_family.family_id, kNow), IsOk());
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, by_family.access_token)), "InvalidGrantException",
                   "Subject token has been revoked");
  const Issued by_jti = IssueToA();
  ASSERT_THAT(introspection_->Revoke(kRoot, Body(kAppA, by_jti.access_token)), IsOk());
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, by_jti.access_token)), "InvalidGrantException",
                   "Subject token has been revoked");
}

TEST_F(ExchangeTest, GrantMissingOnTheTargetIsUnauthorizedClient) {
  const Issued a = IssueToA();
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppE, a.access_token)), "UnauthorizedClientException",
                   "token-exchange");
  // C has TokenExchange but no RefreshToken grant.
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppC, a.access_token, kRefreshType)),
                   "UnauthorizedClientException", "refresh_token");
}

TEST_F(ExchangeTest, UnassignedUserIsRefusedWhenAssignmentIsRequired) {
  auto app = store_->GetApplication(kAppB);
  ASSERT_THAT(app, IsOk());
  app->assignment_required = true;
  ASSERT_THAT(store_->PutApplication(*app), IsOk());
  const Issued a = IssueToA();
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token)), "InvalidGrantException",
                   "not assigned");
  ASSERT_THAT(store_->PutAssignment(kAppB, kUser, "USER"), IsOk());
  EXPECT_THAT(Exchange(ExchangeBody(kAppB, a.access_token)), IsOk());
}

TEST_F(ExchangeTest, RefusedExchangesWriteNothing) {
  const Issued a = IssueToA({"openid", "tx:read"});
  EXPECT_FALSE(Exchange(ExchangeBody(kAppD, a.access_token)).ok());
  EXPECT_FALSE(Exchange(ExchangeBody(kAppB, a.access_token, "", kAccessType, {"x"})).ok());
  EXPECT_FALSE(Exchange(ExchangeBody(kAppC, a.access_token, kRefreshType)).ok());
  // Only A's family and refresh token exist to be purged: no exchange created anything.
  EXPECT_THAT(store_->PurgeExpired(kNow + 10 * 86400, 1000),
              ::ts::testing::IsOkAndHolds(::testing::Field(&storage::PurgeResult::deleted, 2)));
}

// On SQLite the exchange never waits for the executor: checked and signed on the calling thread,
// answered on the writer's once the family is durable, with what the blocking call returns.
TEST_F(ExchangeTest, OnSqliteTheExchangeIsAnsweredByTheWriterWithoutTheExecutor) {
  const Issued a = IssueToA();
  auto sync = Exchange(ExchangeBody(kAppB, IssueToA().access_token));
  ASSERT_THAT(sync, IsOk());
  std::promise<std::pair<StatusOr<std::string>, std::thread::id>> answered;
  int executor_used = 0;
  service_->CreateTokenWithIamAsync(
      kWebapp, ExchangeBody(kAppB, a.access_token, kRefreshType),
      [&executor_used](std::function<void()> task) {
        ++executor_used;
        task();
      },
      [&answered](StatusOr<std::string> r) {
        answered.set_value({std::move(r), std::this_thread::get_id()});
      });
  auto future = answered.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto [result, thread] = future.get();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(executor_used, 0);
  EXPECT_NE(thread, std::this_thread::get_id());  // the writer's
  const json::object o = json::parse(*result).as_object();
  EXPECT_EQ(o.at("issuedTokenType"), json::value(kRefreshType));
  const json::object access = Payload(std::string(o.at("accessToken").as_string()));
  EXPECT_EQ(access.at("act"), json::parse(std::string(R"({"sub":")") + kAppA + R"("})"));
  EXPECT_EQ(access.at("scope"),
            Payload(std::string(sync->at("accessToken").as_string())).at("scope"));
  auto family = store_->GetFamily(std::string(access.at("tsr:fid").as_string()));
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->parent_family_id, a.family_id);
  EXPECT_EQ(family->revoked_at, 0);
}

// A revocation of the subject's family that lands after the checks and before the write: the
// store refuses the family under a revoked parent, the exchange answers as for a revoked
// subject, and no live family is left.
TEST_F(ExchangeTest, ParentRevokedBeforeTheWriteIsRefusedAndLeavesNoLiveFamily) {
  const Issued a = IssueToA();
  auto racing = std::make_shared<testutil::BlockingStore>(store_);
  racing->before_exchange = [this, &a] {
    EXPECT_THAT(store_->RevokeFamily(a.family_id, kNow), IsOk());
  };
  service_ = std::make_unique<TokenService>(TokenStorage{racing, racing, racing}, minter_, clock_,
                                            TokenServiceOptions{});
  EXPECT_API_ERROR(Exchange(ExchangeBody(kAppB, a.access_token, kRefreshType)),
                   "InvalidGrantException", "Subject token has been revoked");
  // Only A's family and refresh token exist to be purged: the exchange left nothing.
  EXPECT_THAT(store_->PurgeExpired(kNow + 10 * 86400, 1000),
              ::ts::testing::IsOkAndHolds(::testing::Field(&storage::PurgeResult::deleted, 2)));
}

// --- introspection ---

TEST_F(ExchangeTest, IntrospectionOfAnActiveAccessToken) {
  const Issued a = IssueToA({"openid", "tx:read"});
  const json::object r = Introspect(kAppA, a.access_token);
  EXPECT_EQ(r.at("active"), json::value(true));
  EXPECT_EQ(r.at("scope"), json::value("openid tx:read"));
  EXPECT_EQ(r.at("client_id"), json::value(kAppA));
  EXPECT_EQ(r.at("aud"), json::value(kAppA));
  EXPECT_EQ(r.at("sub"), json::value(kUser));
  EXPECT_EQ(r.at("iss"), json::value(kIssuer));
  EXPECT_EQ(r.at("token_type"), json::value("Bearer"));
  EXPECT_EQ(r.at("exp"), json::value(kNow + 3600));
  EXPECT_EQ(r.at("iat"), json::value(kNow));
  EXPECT_EQ(r.at("aws:identity_store_id"), json::value("d-3333333333"));
  EXPECT_EQ(r.at("aws:instance_arn"), json::value(kInstanceArn));
  EXPECT_EQ(r.at("aws:credential_id"), json::value(a.family_id));
}

TEST_F(ExchangeTest, InactiveTokensRevealNothingElse) {
  const Issued a = IssueToA();
  EXPECT_EQ(Introspect(kAppB, a.access_token), kInactive);  // another application's token
  EXPECT_EQ(Introspect(kAppA, "garbage"), kInactive);
  EXPECT_EQ(Introspect(kAppA, "tsrt_unknown"), kInactive);
  clock_->Advance(std::chrono::seconds(3600));
  EXPECT_EQ(Introspect(kAppA, a.access_token), kInactive);  // expired
}

TEST_F(ExchangeTest, RevokingAnAccessTokenMakesOnlyItInactive) {
  const Issued a = IssueToA();
  ASSERT_THAT(introspection_->Revoke(kRoot, Body(kAppA, a.access_token)), IsOk());
  EXPECT_EQ(Introspect(kAppA, a.access_token), kInactive);
  EXPECT_EQ(Introspect(kAppA, a.refresh_token).at("active"), json::value(true));
}

TEST_F(ExchangeTest, RevokingARefreshTokenEndsItsFamilyAccessTokensAndExchanges) {
  const Issued a = IssueToA();
  auto b = Exchange(ExchangeBody(kAppB, a.access_token, kRefreshType));
  ASSERT_THAT(b, IsOk());
  const std::string b_access(b->at("accessToken").as_string());
  const std::string b_refresh(b->at("refreshToken").as_string());
  EXPECT_EQ(Introspect(kAppB, b_access).at("act"),
            json::parse(std::string(R"({"sub":")") + kAppA + R"("})"));
  EXPECT_EQ(Introspect(kAppB, b_refresh).at("token_type"), json::value("refresh_token"));

  auto revoked = introspection_->Revoke(kRoot, Body(kAppA, a.refresh_token));
  ASSERT_THAT(revoked, IsOk());
  EXPECT_EQ(*revoked, "{}");
  EXPECT_EQ(Introspect(kAppA, a.refresh_token), kInactive);
  EXPECT_EQ(Introspect(kAppA, a.access_token), kInactive);
  EXPECT_EQ(Introspect(kAppB, b_access), kInactive);
  EXPECT_EQ(Introspect(kAppB, b_refresh), kInactive);
}

TEST_F(ExchangeTest, RevocationOfUnknownTokensSucceedsAndOfOthersIsRefused) {
  EXPECT_THAT(introspection_->Revoke(kRoot, Body(kAppA, "tsrt_unknown")), IsOk());
  EXPECT_THAT(introspection_->Revoke(kRoot, Body(kAppA, "garbage")), IsOk());
  const Issued a = IssueToA();
  EXPECT_API_ERROR(introspection_->Revoke(kRoot, Body(kAppB, a.access_token)),
                   "UnauthorizedClientException", "not issued to application");
  EXPECT_API_ERROR(introspection_->Revoke(kRoot, Body(kAppB, a.refresh_token)),
                   "UnauthorizedClientException", "not issued to application");
  // The refusals changed nothing.
  EXPECT_EQ(Introspect(kAppA, a.access_token).at("active"), json::value(true));
  EXPECT_EQ(Introspect(kAppA, a.refresh_token).at("active"), json::value(true));
}

TEST_F(ExchangeTest, ResourceServerCallsAreAuthorizedByTheActorPolicy) {
  const Issued a = IssueToA();
  EXPECT_API_ERROR(introspection_->Introspect(kWebapp, Body(kAppA, a.access_token)),
                   "AccessDeniedException", "sso-oauth:IntrospectTokenWithIAM");
  EXPECT_API_ERROR(introspection_->Revoke(kWebapp, Body(kAppA, a.access_token)),
                   "AccessDeniedException", "sso-oauth:RevokeTokenWithIAM");
  EXPECT_API_ERROR(introspection_->Introspect(kRoot, Body(kAppA + std::string("x"), "t")),
                   "InvalidClientException", "no application");
  EXPECT_API_ERROR(introspection_->Introspect(kRoot, R"({"clientId":"x"})"),
                   "InvalidRequestException", "'token' is required");
  EXPECT_API_ERROR(introspection_->Introspect(kRoot, "[]"), "InvalidRequestException",
                   "JSON object");
  EXPECT_EQ(Introspect(kAppA, a.access_token).at("active"), json::value(true));
}

TEST_F(ExchangeTest, IdentityContextNamesTheUser) {
  auto r = Exchange(ExchangeBody(kAppB, IssueToA().access_token));
  ASSERT_THAT(r, IsOk());
  const std::string context(r->at("awsAdditionalDetails").at("identityContext").as_string());
  const std::string body =
      json::serialize(json::object{{"clientId", kAppB}, {"identityContext", context}});
  auto read = introspection_->ReadIdentityContext(kRoot, body);
  ASSERT_THAT(read, IsOk());
  const json::object o = json::parse(*read).as_object();
  EXPECT_EQ(o.at("active"), json::value(true));
  EXPECT_EQ(o.at("sub"), json::value(kUser));
  EXPECT_EQ(o.at("username"), json::value("alice"));
  EXPECT_EQ(o.at("client_id"), json::value(kAppB));
  const std::string forged =
      json::serialize(json::object{{"clientId", kAppB}, {"identityContext", context + "A"}});
  EXPECT_THAT(introspection_->ReadIdentityContext(kRoot, forged),
              ::ts::testing::IsOkAndHolds(std::string(R"({"active":false})")));
  clock_->Advance(std::chrono::seconds(3600));
  EXPECT_THAT(introspection_->ReadIdentityContext(kRoot, body),
              ::ts::testing::IsOkAndHolds(std::string(R"({"active":false})")));
}

}  // namespace
}  // namespace ts::oauth
