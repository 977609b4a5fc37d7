// The UserInfo endpoint (userinfo.h) against a real SQLite store: the token's ways in (RFC 6750
// §2), its checks, the claims per scope, and the RFC 6750 §3 errors.
#include "ts/oauth/userinfo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::ts::testing::IsOk;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kApp[] = "arn:aws:sso::111111111111:application/ssoins-111111111111/apl-a";
// A registered client's id (public-clients.md): not an ARN.
constexpr char kClientId[] = "Zm9vYmFyYmF6cXV4MTIzNA.dXMtZWFzdC0x";
constexpr char kUser[] = "730448f2-e0a1-70a7-c954-000000000000";
constexpr char kAttributes[] =
    R"({"UserName":"alice","DisplayName":"Alice Liddell","Name":{"GivenName":"Alice",)"
    R"("FamilyName":"Liddell","Formatted":"Ms Alice Liddell"},"Emails":[)"
    R"({"Value":"alice@old.example","Type":"home"},)"
    R"({"Value":"alice@example.com","Type":"work","Primary":true}]})";

class UserInfoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-userinfo");
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
    user.display_name = "Alice Liddell";
    user.attributes_json = kAttributes;
    user.created_at = kNow - 100;
    user.updated_at = kNow - 50;
    ASSERT_THAT(store_->CreateUser(user), IsOk());
    auto ring = tokens::KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_shared<tokens::TokenMinter>(ring_, instance_, kIssuer, std::string(32, 'i'),
                                                    std::string(32, 'r'));
    userinfo_ = std::make_unique<UserInfo>(store_, store_, minter_, clock_);
  }

  void TearDown() override {
    userinfo_.reset();
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
  // A live family and an access token of it, as a grant would make them.
  Issued Issue(std::vector<std::string> scopes, const std::string& client = kApp,
               const std::string& user_id = kUser) {
    Issued out;
    storage::TokenFamily family;
    family.family_id = "fam-" + std::to_string(++counter_);
    family.application_arn = client;
    family.user_id = user_id;
    family.scopes = scopes;
    family.grant_type = "authorization_code";
    family.auth_time = kNow - 5;
    family.created_at = kNow;
    family.expires_at = kNow + 86400;
    EXPECT_THAT(store_->CreateFamily(family, std::nullopt), IsOk());
    tokens::TokenSubject subject{user_id, client, scopes, family.family_id, kNow - 5, "", ""};
    out.token_id = "jti-" + family.family_id;
    auto token = minter_->AccessToken(subject, out.token_id, kNow, kNow + 3600);
    EXPECT_THAT(token, IsOk());
    out.access_token = token.ok() ? *token : "";
    out.family_id = family.family_id;
    return out;
  }

  http::Response Send(const std::string& method, const std::string& authorization,
                      const std::string& form_body = "", const std::string& query = "") {
    http::Request r;
    r.method = method;
    r.target = "/userinfo" + (query.empty() ? "" : "?" + query);
    if (!authorization.empty()) r.headers.push_back({"authorization", authorization});
    if (!form_body.empty()) {
      r.headers.push_back({"content-type", "application/x-www-form-urlencoded"});
      r.body = form_body;
    }
    Status internal;
    http::Response response = userinfo_->Handle(r, &internal);
    EXPECT_THAT(internal, IsOk());
    return response;
  }
  http::Response Bearer(const std::string& token) { return Send("GET", "Bearer " + token); }

  // An RFC 6750 §3 answer: status, the challenge's error (none when `error` is ""), and the
  // same error in the JSON body.
  static void ExpectBearerError(const http::Response& r, int status, const std::string& error) {
    EXPECT_EQ(r.status, status) << r.body;
    const std::string challenge(r.FindHeader("WWW-Authenticate").value_or(""));
    EXPECT_THAT(challenge, ::testing::StartsWith("Bearer realm=\"" + std::string(kIssuer) + "\""));
    // Every auth-param is a well-formed quoted string: a message cannot break the header.
    EXPECT_TRUE(std::regex_match(
        challenge,
        std::regex(R"(Bearer realm="[^"\\]*"(, [a-z_]+="[\x20\x21\x23-\x5b\x5d-\x7e]*")*)")))
        << challenge;
    json::object body = json::parse(r.body).as_object();
    EXPECT_FALSE(body.at("error_description").as_string().empty());
    if (error.empty()) {
      EXPECT_THAT(challenge, Not(HasSubstr("error=")));
      EXPECT_FALSE(body.contains("error"));
    } else {
      EXPECT_THAT(challenge, HasSubstr("error=\"" + error + "\""));
      EXPECT_EQ(body.at("error"), json::value(error));
    }
    EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
  }

  fs::path dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<storage::SqliteStore> store_;
  storage::Instance instance_;
  std::shared_ptr<tokens::KeyRing> ring_;
  std::shared_ptr<tokens::TokenMinter> minter_;
  std::unique_ptr<UserInfo> userinfo_;
  int counter_ = 0;
};

TEST_F(UserInfoTest, AnsweringTheClaimsOfEveryGrantedScope) {
  http::Response r = Bearer(Issue({"openid", "profile", "email"}).access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.FindHeader("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"sub":"730448f2-e0a1-70a7-c954-000000000000",
      "preferred_username":"alice","name":"Alice Liddell","given_name":"Alice",
      "family_name":"Liddell","updated_at":1699999950,"email":"alice@example.com",
      "email_verified":true})"));
}

TEST_F(UserInfoTest, OpenidAloneIsTheSubjectOnly) {
  http::Response r = Bearer(Issue({"openid", "aws"}).access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"sub":"730448f2-e0a1-70a7-c954-000000000000"})"));
  r = Bearer(Issue({"openid", "email"}).access_token);
  EXPECT_EQ(json::parse(r.body).as_object().size(), 3u) << r.body;  // sub, email, email_verified
}

TEST_F(UserInfoTest, ARegisteredClientsTokenWorksAsAnApplicationsDoes) {
  http::Response r = Bearer(Issue({"openid", "profile"}, kClientId).access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("preferred_username"), json::value("alice"));
}

TEST_F(UserInfoTest, TheTokenMayComeInAPostedFormBody) {
  const Issued issued = Issue({"openid"});
  http::Response r = Send("POST", "", "access_token=" + issued.access_token);
  ASSERT_EQ(r.status, 200) << r.body;
  // POST with the header works too.
  EXPECT_EQ(Send("POST", "Bearer " + issued.access_token).status, 200);
  // The scheme is case-insensitive.
  EXPECT_EQ(Send("GET", "bearer " + issued.access_token).status, 200);
  EXPECT_EQ(Send("GET", "BEARER " + issued.access_token).status, 200);
}

TEST_F(UserInfoTest, MoreThanOneWayInIsInvalidRequest) {
  const Issued issued = Issue({"openid"});
  ExpectBearerError(
      Send("POST", "Bearer " + issued.access_token, "access_token=" + issued.access_token), 400,
      "invalid_request");
  ExpectBearerError(Send("POST", "", "access_token=" + issued.access_token + "&access_token=x"),
                    400, "invalid_request");
  http::Request twice;
  twice.method = "GET";
  twice.target = "/userinfo";
  twice.headers = {{"authorization", "Bearer " + issued.access_token},
                   {"authorization", "Bearer " + issued.access_token}};
  Status internal;
  ExpectBearerError(userinfo_->Handle(twice, &internal), 400, "invalid_request");
}

TEST_F(UserInfoTest, ATokenInTheUrlIsRefused) {
  const Issued issued = Issue({"openid"});
  http::Response r = Send("GET", "", "", "access_token=" + issued.access_token);
  ExpectBearerError(r, 400, "invalid_request");
  EXPECT_THAT(r.body, HasSubstr("Authorization header"));
  // Even beside a good header: the token has leaked into the URL either way.
  ExpectBearerError(
      Send("GET", "Bearer " + issued.access_token, "", "access_token=" + issued.access_token), 400,
      "invalid_request");
}

TEST_F(UserInfoTest, NoTokenIs401WithoutAnErrorCode) {
  // RFC 6750 §3.1: a request without credentials gets the challenge and no error code.
  ExpectBearerError(Send("GET", ""), 401, "");
  ExpectBearerError(Send("GET", "Basic YWxpY2U6c2VjcmV0"), 401, "");
  ExpectBearerError(Send("GET", "AWS4-HMAC-SHA256 Credential=x"), 401, "");
  // A form body that is not form-encoded carries no token.
  http::Request json_body;
  json_body.method = "POST";
  json_body.target = "/userinfo";
  json_body.headers = {{"content-type", "application/json"}};
  json_body.body = R"({"access_token":"x"})";
  Status internal;
  ExpectBearerError(userinfo_->Handle(json_body, &internal), 401, "");
  // Empty Bearer credentials are a malformed request.
  ExpectBearerError(Send("GET", "Bearer "), 400, "invalid_request");
  ExpectBearerError(Send("POST", "", "access_token="), 400, "invalid_request");
  ExpectBearerError(Send("POST", "", "access_token=%zz"), 400, "invalid_request");
}

TEST_F(UserInfoTest, ABadTokenIsInvalidToken) {
  const Issued issued = Issue({"openid", "profile"});
  std::string tampered = issued.access_token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  for (const std::string& token : {std::string("garbage"), std::string("a.b.c"), tampered}) {
    SCOPED_TRACE(token);
    http::Response r = Bearer(token);
    ExpectBearerError(r, 401, "invalid_token");
    // Nothing of the presented token is echoed.
    EXPECT_THAT(r.body, Not(HasSubstr(token)));
    EXPECT_THAT(std::string(r.FindHeader("WWW-Authenticate").value_or("")), Not(HasSubstr(token)));
  }
  // A quote in the presented token cannot reach the header unescaped.
  ExpectBearerError(Bearer("x\"y\\z"), 401, "invalid_token");
}

TEST_F(UserInfoTest, AnIdTokenOrARefreshTokenIsNotAnAccessToken) {
  tokens::TokenSubject subject{kUser, kApp, {"openid"}, "fam-x", kNow, "", ""};
  auto id_token = minter_->IdToken(subject, "fam-x", "", kNow, kNow + 3600);
  ASSERT_THAT(id_token, IsOk());
  http::Response r = Bearer(*id_token);
  ExpectBearerError(r, 401, "invalid_token");
  EXPECT_THAT(r.body, HasSubstr("not an access token"));
  ExpectBearerError(Bearer(tokens::TokenMinter::NewRefreshToken(1)), 401, "invalid_token");
}

TEST_F(UserInfoTest, AnExpiredTokenIsInvalidToken) {
  const Issued issued = Issue({"openid"});
  clock_->SetUnixSeconds(kNow + 3600);
  http::Response r = Bearer(issued.access_token);
  ExpectBearerError(r, 401, "invalid_token");
  EXPECT_THAT(r.body, HasSubstr("expired"));
}

TEST_F(UserInfoTest, ARevokedTokenOrGrantIsInvalidToken) {
  const Issued token = Issue({"openid"});
  ASSERT_EQ(Bearer(token.access_token).status, 200);
  ASSERT_THAT(store_->RevokeAccessToken(token.token_id, kNow + 3600), IsOk());
  ExpectBearerError(Bearer(token.access_token), 401, "invalid_token");

  const Issued family = Issue({"openid"});
  ASSERT_THAT(store_->RevokeFamily(family.family_id, kNow), IsOk());
  http::Response r = Bearer(family.access_token);
  ExpectBearerError(r, 401, "invalid_token");
  EXPECT_THAT(r.body, HasSubstr("grant has ended"));
}

TEST_F(UserInfoTest, WithoutOpenidItIsInsufficientScope) {
  http::Response r = Bearer(Issue({"aws", "profile", "email"}).access_token);
  ExpectBearerError(r, 403, "insufficient_scope");
  EXPECT_THAT(std::string(r.FindHeader("WWW-Authenticate").value_or("")),
              HasSubstr("scope=\"openid\""));
  EXPECT_THAT(r.body, Not(HasSubstr("alice")));
}

TEST_F(UserInfoTest, ADeletedUsersTokenIsInvalidToken) {
  const Issued issued = Issue({"openid"});
  ASSERT_THAT(store_->DeleteUser(kUser, kNow), IsOk());
  ExpectBearerError(Bearer(issued.access_token), 401, "invalid_token");
  // A family whose user is gone (whatever removed it) is answered the same.
  const Issued orphan = Issue({"openid"}, kApp, "00000000-0000-0000-0000-000000000000");
  http::Response r = Bearer(orphan.access_token);
  ExpectBearerError(r, 401, "invalid_token");
  EXPECT_THAT(r.body, HasSubstr("no longer exists"));
}

// --- the claims of a user ---

storage::User UserWith(const std::string& attributes, const std::string& display_name = "") {
  storage::User u;
  u.user_id = kUser;
  u.user_name = "bob";
  u.display_name = display_name;
  u.attributes_json = attributes;
  return u;
}

json::value Claims(const storage::User& user) {
  return json::parse(UserInfoClaims(user, {"openid", "profile", "email"}));
}

TEST(UserInfoClaimsTest, TheNameFallsBackFromDisplayNameToFormattedToGivenAndFamily) {
  EXPECT_EQ(Claims(UserWith(R"({"Name":{"Formatted":"Robert T."}})")).at("name"),
            json::value("Robert T."));
  EXPECT_EQ(
      Claims(UserWith(R"({"DisplayName":"Bobby","Name":{"Formatted":"Robert T."}})")).at("name"),
      json::value("Bobby"));
  EXPECT_EQ(Claims(UserWith(R"({"Name":{"GivenName":"Rob","FamilyName":"T"}})")).at("name"),
            json::value("Rob T"));
  EXPECT_EQ(Claims(UserWith(R"({"Name":{"GivenName":"Rob"}})")).at("name"), json::value("Rob"));
  // The DisplayName column wins over the document's.
  EXPECT_EQ(Claims(UserWith(R"({"DisplayName":"doc"})", "column")).at("name"),
            json::value("column"));
}

TEST(UserInfoClaimsTest, AbsentAttributesAreLeftOut) {
  EXPECT_EQ(Claims(UserWith("{}")), json::parse(R"({"sub":"730448f2-e0a1-70a7-c954-000000000000",
      "preferred_username":"bob"})"));
  // Damaged or odd documents are read as far as they make sense, never a failure.
  for (const char* doc :
       {"not json", "[]", R"({"Name":"x","Emails":{}})",
        R"({"Emails":[1,{"Value":""},{"Type":"work"}]})", R"({"Name":{"GivenName":7}})"}) {
    SCOPED_TRACE(doc);
    EXPECT_EQ(Claims(UserWith(doc)).as_object().size(), 2u);
  }
}

TEST(UserInfoClaimsTest, TheFirstEmailWithoutAPrimaryOne) {
  json::value c =
      Claims(UserWith(R"({"Emails":[{"Value":"a@x.example"},{"Value":"b@x.example"}]})"));
  EXPECT_EQ(c.at("email"), json::value("a@x.example"));
  EXPECT_EQ(c.at("email_verified"), json::value(true));
}

}  // namespace
}  // namespace ts::oauth
