#include "ts/sigv4/signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/common/status_matchers.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/sigv4/canonical_request.h"

namespace ts::sigv4 {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

constexpr int64_t kTime = 1795277954;  // 20261121T161914Z

Credential LongTerm() {
  Credential c;
  c.access_key_id = "AKIDEXAMPLE";
  c.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  return c;
}

http::Request TokenRequest() {
  http::Request r;
  r.method = "POST";
  r.target = "/token?aws_iam=t";
  r.headers = {{"host", "127.0.0.1:18099"},
               {"content-type", "application/json"},
               {"user-agent", "test-agent/1.0"}};
  r.body = R"({"grantType":"refresh_token"})";
  return r;
}

TEST(SignRequestTest, AddsDateAndAuthorizationSigningAllButUserAgent) {
  http::Request r = TokenRequest();
  ASSERT_THAT(SignRequest(r, LongTerm(), "us-east-1", "sso-oauth", kTime), IsOk());
  EXPECT_EQ(r.FindHeader("x-amz-date"), "20261121T161914Z");
  EXPECT_EQ(r.FindHeader("x-amz-security-token"), std::nullopt);
  EXPECT_EQ(r.FindHeader("x-amz-content-sha256"), std::nullopt);
  auto auth = ParseAuthorization(*r.FindHeader("authorization"));
  ASSERT_THAT(auth, IsOk());
  EXPECT_EQ(auth->scope, "20261121/us-east-1/sso-oauth/aws4_request");
  EXPECT_THAT(auth->signed_headers, ::testing::ElementsAre("content-type", "host", "x-amz-date"));
  EXPECT_THAT(std::string(*r.FindHeader("authorization")),
              StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/sso-oauth/"
                         "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="));
}

TEST(SignRequestTest, SessionTokenAndContentSha256AreAddedAndSigned) {
  Credential cred = LongTerm();
  cred.session_token = "session/token+value==";
  http::Request r = TokenRequest();
  ASSERT_THAT(SignRequest(r, cred, "us-east-1", "sso-oauth", kTime, /*add_content_sha256=*/true),
              IsOk());
  EXPECT_EQ(r.FindHeader("x-amz-security-token"), "session/token+value==");
  EXPECT_EQ(r.FindHeader("x-amz-content-sha256"), crypto::HexEncode(crypto::Sha256(r.body)));
  auto auth = ParseAuthorization(*r.FindHeader("authorization"));
  ASSERT_THAT(auth, IsOk());
  EXPECT_THAT(auth->signed_headers,
              ::testing::ElementsAre("content-type", "host", "x-amz-content-sha256", "x-amz-date",
                                     "x-amz-security-token"));
}

TEST(SignRequestTest, ResigningReplacesPreviousSignatureHeaders) {
  http::Request r = TokenRequest();
  ASSERT_THAT(SignRequest(r, LongTerm(), "us-east-1", "sso-oauth", kTime), IsOk());
  const std::string first(*r.FindHeader("authorization"));
  ASSERT_THAT(SignRequest(r, LongTerm(), "us-east-1", "sso-oauth", kTime), IsOk());
  EXPECT_EQ(r.FindHeaders("authorization").size(), 1u);
  EXPECT_EQ(r.FindHeaders("x-amz-date").size(), 1u);
  EXPECT_EQ(*r.FindHeader("authorization"), first);
  ASSERT_THAT(SignRequest(r, LongTerm(), "us-east-1", "sso-oauth", kTime + 1), IsOk());
  EXPECT_NE(*r.FindHeader("authorization"), first);
}

TEST(SignRequestTest, RejectsUnusableInput) {
  http::Request no_host = TokenRequest();
  no_host.headers.erase(no_host.headers.begin());
  EXPECT_THAT(SignRequest(no_host, LongTerm(), "us-east-1", "sso-oauth", kTime),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no host header")));
  http::Request r = TokenRequest();
  EXPECT_THAT(SignRequest(r, LongTerm(), "", "sso-oauth", kTime),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("region and service")));
  EXPECT_THAT(SignRequest(r, LongTerm(), "us-east-1", "a/b", kTime),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("region and service")));
  Credential no_secret = LongTerm();
  no_secret.secret_access_key.clear();
  EXPECT_THAT(SignRequest(r, no_secret, "us-east-1", "sso-oauth", kTime),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("secret")));
  EXPECT_THAT(SignRequest(r, LongTerm(), "us-east-1", "sso-oauth", -1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("negative time")));
}

}  // namespace
}  // namespace ts::sigv4
