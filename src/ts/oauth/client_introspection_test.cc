// RFC 7662 introspection and RFC 7009 revocation for registered clients (client_introspection.h)
// against a real SQLite store: client authentication both ways, a client sees and revokes only
// its own tokens, and the RFC 6749 §5.2 errors.
#include "ts/oauth/client_introspection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/crypto/encoding.h"
#include "ts/oauth/client_auth.h"
#include "ts/oauth/introspection.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::ts::testing::IsOk;

namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kUser[] = "730448f2-e0a1-70a7-c954-000000000000";
constexpr char kApp[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-a";

class ClientIntrospectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-client-introspection");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    storage::Instance instance;
    instance.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    instance.instance_id = "ssoins-111111111111";
    instance.identity_store_id = "d-3333333333";
    instance.owner_account_id = "111111111111";
    instance.region = "us-east-1";
    ASSERT_THAT(store_->PutInstance(instance), IsOk());
    auto ring = tokens::KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_shared<tokens::TokenMinter>(ring_, instance, kIssuer, std::string(32, 'i'),
                                                    std::string(32, 'r'));
    a_ = Register();
    b_ = Register();
    auto authenticator = std::make_shared<ClientAuthenticator>(
        store_, clock_, std::vector<std::string>{"us-east-1"}, std::chrono::milliseconds(0));
    introspection_ =
        std::make_unique<TokenIntrospection>(TokenStorage{store_, store_, store_}, minter_, clock_);
    endpoints_ = std::make_unique<ClientIntrospection>(authenticator, introspection_.get());
  }

  void TearDown() override {
    endpoints_.reset();
    introspection_.reset();
    minter_.reset();
    ring_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  struct Client {
    std::string id;
    std::string secret;
  };
  Client Register() {
    Client c{NewClientId("us-east-1"), NewClientSecret()};
    storage::RegisteredClient record;
    record.client_id = c.id;
    record.secret_hash = tokens::TokenMinter::Hash(c.secret);
    record.client_name = "rp";
    record.scopes = {"openid"};
    record.grant_types = {"authorization_code", "refresh_token"};
    record.redirect_uris = {"http://127.0.0.1/cb"};
    record.created_at = kNow;
    record.secret_expires_at = kNow + 90 * 86400;
    EXPECT_THAT(store_->CreateClient(record), IsOk());
    return c;
  }

  struct Issued {
    std::string family_id;
    std::string access_token;
    std::string refresh_token;
  };
  // A family of `owner` (a client id or an application ARN) with an access and a refresh token.
  Issued Issue(const std::string& owner) {
    Issued out;
    storage::TokenFamily family;
    family.family_id = "fam-" + std::to_string(++counter_);
    family.application_arn = owner;
    family.user_id = kUser;
    family.scopes = {"openid"};
    family.grant_type = "authorization_code";
    family.auth_time = kNow;
    family.created_at = kNow;
    family.expires_at = kNow + 86400;
    out.refresh_token = tokens::TokenMinter::NewRefreshToken(clock_->NowUnixMicros() + counter_);
    storage::RefreshToken refresh;
    refresh.token_hash = tokens::TokenMinter::RefreshTokenKey(out.refresh_token);
    refresh.family_id = family.family_id;
    refresh.scopes = family.scopes;
    refresh.created_at = kNow;
    refresh.expires_at = family.expires_at;
    EXPECT_THAT(store_->CreateFamily(family, refresh), IsOk());
    tokens::TokenSubject subject{kUser, owner, family.scopes, family.family_id, kNow, "", ""};
    auto access = minter_->AccessToken(subject, "jti-" + family.family_id, kNow, kNow + 3600);
    EXPECT_THAT(access, IsOk());
    out.access_token = access.ok() ? *access : "";
    out.family_id = family.family_id;
    return out;
  }

  static std::string Basic(const Client& c) {
    return "Basic " + crypto::Base64Encode(c.id + ":" + c.secret);
  }
  static std::string Form(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [k, v] : fields) {
      if (!out.empty()) out += '&';
      out += http::PercentEncode(k) + "=" + http::PercentEncode(v);
    }
    return out;
  }
  http::Request Post(const std::string& path, const std::string& body,
                     const std::string& authorization = "") const {
    http::Request r;
    r.method = "POST";
    r.target = path;
    r.headers.push_back({"content-type", "application/x-www-form-urlencoded"});
    if (!authorization.empty()) r.headers.push_back({"authorization", authorization});
    r.body = body;
    return r;
  }
  json::object Introspect(const Client& c, const std::string& token) {
    Status internal;
    http::Response r =
        endpoints_->Introspect(Post("/introspect", Form({{"token", token}}), Basic(c)), &internal);
    EXPECT_THAT(internal, IsOk());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
    return json::parse(r.body).as_object();
  }
  http::Response Revoke(const Client& c, const std::string& token) {
    Status internal;
    http::Response r =
        endpoints_->Revoke(Post("/revoke", Form({{"token", token}}), Basic(c)), &internal);
    EXPECT_THAT(internal, IsOk());
    return r;
  }
  static void ExpectOAuthError(const http::Response& r, int status, const std::string& error) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(json::parse(r.body).at("error"), json::value(error)) << r.body;
  }

  std::filesystem::path dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<storage::SqliteStore> store_;
  std::shared_ptr<tokens::KeyRing> ring_;
  std::shared_ptr<tokens::TokenMinter> minter_;
  std::unique_ptr<TokenIntrospection> introspection_;
  std::unique_ptr<ClientIntrospection> endpoints_;
  Client a_, b_;
  int counter_ = 0;
};

TEST_F(ClientIntrospectionTest, AClientIntrospectsItsOwnTokens) {
  const Issued issued = Issue(a_.id);
  json::object access = Introspect(a_, issued.access_token);
  EXPECT_EQ(access.at("active"), json::value(true));
  EXPECT_EQ(access.at("client_id"), json::value(a_.id));
  EXPECT_EQ(access.at("sub"), json::value(kUser));
  EXPECT_EQ(access.at("token_type"), json::value("Bearer"));
  EXPECT_EQ(access.at("scope"), json::value("openid"));
  EXPECT_EQ(access.at("exp"), json::value(kNow + 3600));
  json::object refresh = Introspect(a_, issued.refresh_token);
  EXPECT_EQ(refresh.at("active"), json::value(true));
  EXPECT_EQ(refresh.at("token_type"), json::value("refresh_token"));
}

TEST_F(ClientIntrospectionTest, ClientSecretPostWorksAsBasicDoes) {
  const Issued issued = Issue(a_.id);
  Status internal;
  http::Response r =
      endpoints_->Introspect(Post("/introspect", Form({{"token", issued.access_token},
                                                       {"token_type_hint", "access_token"},
                                                       {"client_id", a_.id},
                                                       {"client_secret", a_.secret}})),
                             &internal);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("active"), json::value(true));
}

TEST_F(ClientIntrospectionTest, AnotherClientsOrAnApplicationsTokenIsInactiveAndStaysLive) {
  const Issued mine = Issue(a_.id);
  const Issued app = Issue(kApp);
  for (const std::string& token : {mine.access_token, mine.refresh_token}) {
    EXPECT_EQ(Introspect(b_, token), json::parse(R"({"active":false})").as_object());
    // B's revocation is answered as any other and changes nothing.
    http::Response r = Revoke(b_, token);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.body.empty());
    EXPECT_EQ(Introspect(a_, token).at("active"), json::value(true));
  }
  EXPECT_EQ(Introspect(a_, app.access_token), json::parse(R"({"active":false})").as_object());
  EXPECT_EQ(Revoke(a_, app.refresh_token).status, 200);
  auto family = store_->GetFamily(app.family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, 0);
}

TEST_F(ClientIntrospectionTest, RevokingTheRefreshTokenEndsTheGrantAndTheAccessTokenItsOwnJti) {
  const Issued first = Issue(a_.id);
  http::Response r = Revoke(a_, first.access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Introspect(a_, first.access_token).at("active"), json::value(false));
  EXPECT_EQ(Introspect(a_, first.refresh_token).at("active"), json::value(true));
  ASSERT_EQ(Revoke(a_, first.refresh_token).status, 200);
  EXPECT_EQ(Introspect(a_, first.refresh_token).at("active"), json::value(false));
  // Unknown, malformed or expired: nothing to revoke, answered the same (RFC 7009 §2.2).
  for (const std::string& token : {std::string("garbage"), std::string("tsrt_unknown")}) {
    EXPECT_EQ(Revoke(a_, token).status, 200);
  }
}

TEST_F(ClientIntrospectionTest, ClientAuthenticationFailuresAreInvalidClient) {
  const Issued issued = Issue(a_.id);
  const std::string body = Form({{"token", issued.access_token}});
  Status internal;
  for (const std::string& authorization :
       {Basic({a_.id, b_.secret}), Basic({"nobody", a_.secret}), std::string("Basic !!!"),
        std::string("Bearer ") + issued.access_token, std::string("")}) {
    SCOPED_TRACE(authorization);
    http::Response r = endpoints_->Introspect(Post("/introspect", body, authorization), &internal);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_THAT(r.body, HasSubstr("invalid_client"));
    // Nothing about the token leaks to an unauthenticated caller.
    EXPECT_THAT(r.body, Not(HasSubstr("active")));
    EXPECT_THAT(r.body, Not(HasSubstr(a_.secret)));
    EXPECT_THAT(r.body, Not(HasSubstr(b_.secret)));
  }
  EXPECT_THAT(internal, IsOk());
  // A wrong secret revokes nothing.
  http::Response r = endpoints_->Revoke(
      Post("/revoke", Form({{"token", issued.refresh_token}}), Basic({a_.id, b_.secret})),
      &internal);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Introspect(a_, issued.refresh_token).at("active"), json::value(true));
}

TEST_F(ClientIntrospectionTest, MalformedRequestsAreInvalidRequest) {
  Status internal;
  // No token.
  ExpectOAuthError(endpoints_->Introspect(Post("/introspect", "", Basic(a_)), &internal), 400,
                   "invalid_request");
  // A repeated parameter.
  ExpectOAuthError(endpoints_->Revoke(Post("/revoke", "token=a&token=b", Basic(a_)), &internal),
                   400, "invalid_request");
  // A malformed escape.
  ExpectOAuthError(endpoints_->Introspect(Post("/introspect", "token=%zz", Basic(a_)), &internal),
                   400, "invalid_request");
  // Both ways of authenticating at once.
  ExpectOAuthError(
      endpoints_->Introspect(
          Post("/introspect", Form({{"token", "t"}, {"client_secret", a_.secret}}), Basic(a_)),
          &internal),
      400, "invalid_request");
  // Not a form.
  http::Request json_body = Post("/introspect", R"({"token":"t"})", Basic(a_));
  json_body.headers[0].value = "application/json";
  http::Response r = endpoints_->Introspect(json_body, &internal);
  ExpectOAuthError(r, 400, "invalid_request");
  EXPECT_THAT(r.body, HasSubstr("aws_iam=t"));
  EXPECT_THAT(internal, IsOk());
}

}  // namespace
}  // namespace ts::oauth
