// RFC 7591 requests and answers around RegisterClient (dynamic_registration.h).
#include "ts/oauth/dynamic_registration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "test/common/status_matchers.h"

namespace ts::oauth {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;

namespace json = boost::json;

TEST(DynamicRegistrationTest, TellsRfc7591BodiesFromRegisterClients) {
  EXPECT_TRUE(IsRfc7591Request(R"({"redirect_uris":["http://127.0.0.1/cb"]})"));
  EXPECT_TRUE(IsRfc7591Request(R"({"client_name":"x","scope":"openid"})"));
  EXPECT_FALSE(IsRfc7591Request(R"({"clientName":"x","clientType":"public"})"));
  // Any camelCase member makes it AWS's, whose own checks then speak.
  EXPECT_FALSE(IsRfc7591Request(R"({"clientName":"x","redirect_uris":[]})"));
  EXPECT_FALSE(IsRfc7591Request("{}"));
  EXPECT_FALSE(IsRfc7591Request("[]"));
  EXPECT_FALSE(IsRfc7591Request("not json"));
}

TEST(DynamicRegistrationTest, TranslatesIntoRegisterClientWithRfc7591Defaults) {
  auto req = ParseRfc7591Request(
      R"({"redirect_uris":["http://127.0.0.1/cb"],"client_name":"rp","scope":"openid  email",
          "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
          "token_endpoint_auth_method":"client_secret_post","logo_uri":"https://x/logo.png"})");
  ASSERT_THAT(req, IsOk());
  EXPECT_EQ(json::parse(req->register_client_json),
            json::parse(R"({"clientName":"rp","clientType":"public",
                "grantTypes":["authorization_code","refresh_token"],
                "redirectUris":["http://127.0.0.1/cb"],"scopes":["openid","email"]})"));
  EXPECT_EQ(req->token_endpoint_auth_method, "client_secret_post");

  auto minimal = ParseRfc7591Request(R"({"redirect_uris":["http://127.0.0.1/cb"]})");
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ(json::parse(minimal->register_client_json),
            json::parse(R"({"clientName":"RFC 7591 client","clientType":"public",
                "grantTypes":["authorization_code"],"redirectUris":["http://127.0.0.1/cb"]})"));
  EXPECT_EQ(minimal->token_endpoint_auth_method, "client_secret_basic");
}

TEST(DynamicRegistrationTest, RefusesWhatTesseraCannotRegister) {
  for (const char* body :
       {R"({"redirect_uris":"http://127.0.0.1/cb"})", R"({"redirect_uris":[1]})",
        R"({"client_name":7})", R"({"scope":["openid"]})", R"({"response_types":["token"]})",
        R"({"token_endpoint_auth_method":"none"})",
        R"({"token_endpoint_auth_method":"private_key_jwt"})"}) {
    SCOPED_TRACE(body);
    auto req = ParseRfc7591Request(body);
    ASSERT_FALSE(req.ok());
    EXPECT_EQ(req.status().error_type(), "InvalidClientMetadataException");
  }
  auto not_object = ParseRfc7591Request("[1]");
  ASSERT_FALSE(not_object.ok());
  EXPECT_EQ(not_object.status().error_type(), "InvalidRequestException");
}

TEST(DynamicRegistrationTest, AnswersInRfc7591Shape) {
  auto req = ParseRfc7591Request(
      R"({"redirect_uris":["http://127.0.0.1/cb"],"client_name":"rp","scope":"openid"})");
  ASSERT_THAT(req, IsOk());
  auto body = Rfc7591Response(
      R"({"clientId":"id1","clientSecret":"tscs_s","clientIdIssuedAt":100,)"
      R"("clientSecretExpiresAt":200,"authorizationEndpoint":"a","tokenEndpoint":"t"})",
      *req);
  ASSERT_THAT(body, IsOk());
  EXPECT_EQ(json::parse(*body), json::parse(R"({"client_id":"id1","client_secret":"tscs_s",
      "client_id_issued_at":100,"client_secret_expires_at":200,"client_name":"rp",
      "redirect_uris":["http://127.0.0.1/cb"],"grant_types":["authorization_code"],
      "response_types":["code"],"token_endpoint_auth_method":"client_secret_basic",
      "scope":"openid"})"));
  EXPECT_FALSE(Rfc7591Response(R"({"clientId":"id1"})", *req).ok());
}

}  // namespace
}  // namespace ts::oauth
