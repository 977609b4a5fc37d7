#include "ts/sigv4/verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/sigv4/canonical_request.h"
#include "ts/sigv4/signer.h"

namespace ts::sigv4 {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

constexpr int64_t kNow = 1795277954;  // 20261121T161914Z
constexpr char kMismatch[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr char kInvalidToken[] = "The security token included in the request is invalid.";

Credential LongTerm() {
  Credential c;
  c.access_key_id = "AKIDLONGTERM";
  c.secret_access_key = "long/term+secret/EXAMPLEKEY";
  c.principal_arn = "arn:aws:iam::123456789012:user/alice";
  c.account_id = "123456789012";
  return c;
}

Credential Session() {
  Credential c;
  c.access_key_id = "ASIASESSION";
  c.secret_access_key = "session/secret+EXAMPLEKEY";
  c.principal_arn = "arn:aws:sts::123456789012:assumed-role/webapp/session-1";
  c.account_id = "123456789012";
  c.session_token = "IQoJb3JpZ2luX2VjEXAMPLE//token==";
  c.expires_at = kNow + 3600;
  return c;
}

Credential ExpiredSession() {
  Credential c = Session();
  c.access_key_id = "ASIAEXPIRED";
  c.expires_at = kNow - 1;
  return c;
}

http::Request TokenRequest() {
  http::Request r;
  r.method = "POST";
  r.target = "/token?aws_iam=t";
  r.headers = {{"host", "127.0.0.1:18099"}, {"content-type", "application/json"}};
  r.body = R"({"clientId":"arn:aws:sso::123456789012:application/ssoins-1/apl-2",)"
           R"("grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer","assertion":"x.y.z"})";
  return r;
}

// What boto3 sends: content-type;host;x-amz-date[;x-amz-security-token] signed, the rest added
// unsigned afterwards.
http::Request Boto3Request(const Credential& cred, int64_t at = kNow,
                           std::string_view region = "us-east-1",
                           std::string_view service = "sso-oauth") {
  http::Request r = TokenRequest();
  EXPECT_THAT(SignRequest(r, cred, region, service, at), IsOk());
  r.headers.push_back({"user-agent", "Boto3/1.43.11 md/Botocore#1.43.11"});
  r.headers.push_back({"amz-sdk-invocation-id", "3f1e6d2a-8b4c-4e0f-9a7d-5c2b1e0f4a6d"});
  r.headers.push_back({"amz-sdk-request", "attempt=1"});
  r.headers.push_back({"content-length", std::to_string(r.body.size())});
  return r;
}

// What @aws-sdk/client-sso-oidc v3 sends: nine signed headers incl. x-amz-content-sha256.
http::Request JsRequest(const Credential& cred) {
  http::Request r = TokenRequest();
  r.headers.push_back({"amz-sdk-invocation-id", "0b5d7f2e-1111-4222-8333-944455556666"});
  r.headers.push_back({"amz-sdk-request", "attempt=1; max=3"});
  r.headers.push_back({"content-length", std::to_string(r.body.size())});
  r.headers.push_back({"x-amz-user-agent", "aws-sdk-js/3.1162.0"});
  r.headers.push_back({"user-agent", "aws-sdk-js/3.1162.0 ua/2.1 os/linux"});
  EXPECT_THAT(SignRequest(r, cred, "us-east-1", "sso-oauth", kNow, /*add_content_sha256=*/true),
              IsOk());
  return r;
}

// Signs with an explicit SignedHeaders list (to build requests SignRequest would never make).
void SignWithHeaders(http::Request& r, const Credential& cred, std::vector<std::string> signed_h,
                     std::string_view amz_date) {
  const std::string date(amz_date.substr(0, 8));
  const std::string scope = CredentialScope(date, "us-east-1", "sso-oauth");
  const std::string creq = CanonicalRequest(r, signed_h, crypto::HexEncode(crypto::Sha256(r.body)));
  const std::string sig =
      SignatureHex(DeriveSigningKey(cred.secret_access_key, date, "us-east-1", "sso-oauth"),
                   StringToSign(amz_date, scope, creq));
  std::string list;
  for (const auto& h : signed_h) list += (list.empty() ? "" : ";") + h;
  r.headers.push_back({"authorization", "AWS4-HMAC-SHA256 Credential=" + cred.access_key_id + "/" +
                                            scope + ", SignedHeaders=" + list +
                                            ", Signature=" + sig});
}

void SetHeader(http::Request& r, std::string_view name, std::string value) {
  for (auto& h : r.headers) {
    if (h.name == name) {
      h.value = std::move(value);
      return;
    }
  }
  r.headers.push_back({std::string(name), std::move(value)});
}

void RemoveHeader(http::Request& r, std::string_view name) {
  std::erase_if(r.headers, [&](const http::Header& h) { return h.name == name; });
}

class VerifierTest : public ::testing::Test {
 protected:
  VerifierTest() : clock_(std::make_shared<FakeClock>(kNow)) {
    provider_.Put(LongTerm());
    provider_.Put(Session());
    provider_.Put(ExpiredSession());
  }

  StatusOr<Caller> Verify(const http::Request& r, VerifierOptions options = {}) {
    Verifier verifier(std::move(options), &provider_, clock_);
    return verifier.Verify(r);
  }

  void ExpectError(const http::Request& r, StatusCode code, std::string_view type,
                   const ::testing::Matcher<std::string>& message, VerifierOptions options = {}) {
    auto result = Verify(r, std::move(options));
    EXPECT_THAT(result, StatusIs(code, message));
    EXPECT_EQ(result.status().error_type(), type);
  }

  std::shared_ptr<FakeClock> clock_;
  InMemoryCredentialProvider provider_;
};

// ---------------------------------------------------------------------------------------------
// Success.

TEST_F(VerifierTest, AcceptsBoto3ShapedLongTermRequest) {
  auto caller = Verify(Boto3Request(LongTerm()));
  ASSERT_THAT(caller, IsOk());
  EXPECT_EQ(caller->principal_arn, "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(caller->account_id, "123456789012");
  EXPECT_EQ(caller->access_key_id, "AKIDLONGTERM");
  EXPECT_EQ(caller->region, "us-east-1");
  EXPECT_FALSE(caller->temporary);
}

TEST_F(VerifierTest, AcceptsBoto3ShapedSessionRequest) {
  auto caller = Verify(Boto3Request(Session()));
  ASSERT_THAT(caller, IsOk());
  EXPECT_EQ(caller->principal_arn, "arn:aws:sts::123456789012:assumed-role/webapp/session-1");
  EXPECT_TRUE(caller->temporary);
}

TEST_F(VerifierTest, AcceptsJsShapedRequestWithNineSignedHeaders) {
  http::Request r = JsRequest(Session());
  auto auth = ParseAuthorization(*r.FindHeader("authorization"));
  ASSERT_THAT(auth, IsOk());
  EXPECT_THAT(auth->signed_headers,
              ::testing::ElementsAre("amz-sdk-invocation-id", "amz-sdk-request", "content-length",
                                     "content-type", "host", "x-amz-content-sha256", "x-amz-date",
                                     "x-amz-security-token", "x-amz-user-agent"));
  EXPECT_THAT(Verify(r), IsOk());
}

TEST_F(VerifierTest, UnsignedHeadersMayChange) {
  http::Request r = Boto3Request(LongTerm());
  SetHeader(r, "user-agent", "something else");
  SetHeader(r, "amz-sdk-request", "attempt=2");
  EXPECT_THAT(Verify(r), IsOk());
}

TEST_F(VerifierTest, AcceptsAnyConfiguredRegion) {
  VerifierOptions options;
  options.regions = {"us-east-1", "eu-west-1"};
  auto caller = Verify(Boto3Request(LongTerm(), kNow, "eu-west-1"), options);
  ASSERT_THAT(caller, IsOk());
  EXPECT_EQ(caller->region, "eu-west-1");
}

TEST_F(VerifierTest, FallsBackToTheDateHeader) {
  http::Request r = TokenRequest();
  r.headers.push_back({"date", "Sat, 21 Nov 2026 16:19:14 GMT"});
  SignWithHeaders(r, LongTerm(), {"content-type", "date", "host"}, "20261121T161914Z");
  EXPECT_THAT(Verify(r), IsOk());
}

TEST_F(VerifierTest, ClockSkewWithinFiveMinutesIsAccepted) {
  EXPECT_THAT(Verify(Boto3Request(LongTerm(), kNow + 240)), IsOk());
  EXPECT_THAT(Verify(Boto3Request(LongTerm(), kNow - 240)), IsOk());
  EXPECT_THAT(Verify(Boto3Request(LongTerm(), kNow + 300)), IsOk());
  EXPECT_THAT(Verify(Boto3Request(LongTerm(), kNow - 300)), IsOk());
}

// ---------------------------------------------------------------------------------------------
// Failures, each by error type and message.

TEST_F(VerifierTest, MissingAuthorization) {
  ExpectError(TokenRequest(), StatusCode::kUnauthenticated, "MissingAuthenticationTokenException",
              "Missing Authentication Token");
}

TEST_F(VerifierTest, MalformedAuthorizationNamesTheMissingParameter) {
  const std::string good(*Boto3Request(LongTerm()).FindHeader("authorization"));
  struct Case {
    std::string drop;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"Credential=", "Authorization header requires 'Credential' parameter."},
           {"SignedHeaders=", "Authorization header requires 'SignedHeaders' parameter."},
           {"Signature=", "Authorization header requires 'Signature' parameter."}}) {
    http::Request r = Boto3Request(LongTerm());
    // Rename the parameter so it is no longer recognised.
    std::string value = good;
    value.replace(value.find(c.drop), c.drop.size(), "X" + c.drop);
    SetHeader(r, "authorization", value);
    ExpectError(r, StatusCode::kUnauthenticated, "IncompleteSignatureException", c.message);
  }
}

TEST_F(VerifierTest, MissingOrMalformedDate) {
  http::Request r = Boto3Request(LongTerm());
  RemoveHeader(r, "x-amz-date");
  ExpectError(r, StatusCode::kUnauthenticated, "IncompleteSignatureException",
              "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
              "header.");
  SetHeader(r, "x-amz-date", "2026-11-21T16:19:14Z");
  ExpectError(r, StatusCode::kUnauthenticated, "IncompleteSignatureException",
              HasSubstr("Date must be in ISO-8601 'basic format'. Got '2026-11-21T16:19:14Z'"));
}

TEST_F(VerifierTest, UnknownAccessKey) {
  Credential stranger = LongTerm();
  stranger.access_key_id = "AKIDUNKNOWN";
  ExpectError(Boto3Request(stranger), StatusCode::kUnauthenticated, "UnrecognizedClientException",
              kInvalidToken);
}

TEST_F(VerifierTest, WrongSecret) {
  Credential wrong = LongTerm();
  wrong.secret_access_key = "not-the-secret";
  ExpectError(Boto3Request(wrong), StatusCode::kPermissionDenied, "InvalidSignatureException",
              kMismatch);
}

TEST_F(VerifierTest, TamperedBody) {
  http::Request r = Boto3Request(LongTerm());
  r.body.back() = ' ';
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException", kMismatch);
}

TEST_F(VerifierTest, TamperedSignedHeader) {
  http::Request r = Boto3Request(LongTerm());
  SetHeader(r, "content-type", "text/plain");
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException", kMismatch);
}

TEST_F(VerifierTest, TamperedQuery) {
  http::Request r = Boto3Request(LongTerm());
  r.target = "/token";
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException", kMismatch);
}

TEST_F(VerifierTest, TamperedSignature) {
  http::Request r = Boto3Request(LongTerm());
  std::string auth(*r.FindHeader("authorization"));
  auth.back() = auth.back() == '0' ? '1' : '0';
  SetHeader(r, "authorization", auth);
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException", kMismatch);
}

TEST_F(VerifierTest, ContentSha256Mismatch) {
  http::Request r = JsRequest(Session());
  r.body += " ";
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException",
              "The provided 'x-amz-content-sha256' header does not match what was computed.");
}

TEST_F(VerifierTest, UnsignedPayloadIsRefused) {
  http::Request r = TokenRequest();
  r.headers.push_back({"x-amz-content-sha256", "UNSIGNED-PAYLOAD"});
  ASSERT_THAT(SignRequest(r, LongTerm(), "us-east-1", "sso-oauth", kNow), IsOk());
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException",
              HasSubstr("requires a signed payload; 'UNSIGNED-PAYLOAD' is not accepted"));
}

TEST_F(VerifierTest, WrongService) {
  ExpectError(Boto3Request(LongTerm(), kNow, "us-east-1", "awsssooidc"),
              StatusCode::kPermissionDenied, "InvalidSignatureException",
              "Credential should be scoped to correct service: 'sso-oauth'. ");
}

TEST_F(VerifierTest, WrongRegion) {
  ExpectError(Boto3Request(LongTerm(), kNow, "eu-west-1"), StatusCode::kPermissionDenied,
              "InvalidSignatureException",
              "Credential should be scoped to a valid region: 'us-east-1'. ");
  VerifierOptions two;
  two.regions = {"us-east-1", "us-west-2"};
  ExpectError(Boto3Request(LongTerm(), kNow, "eu-west-1"), StatusCode::kPermissionDenied,
              "InvalidSignatureException",
              "Credential should be scoped to a valid region, one of: 'us-east-1', 'us-west-2'. ",
              two);
}

TEST_F(VerifierTest, ScopeDateMustMatchRequestDate) {
  http::Request r = Boto3Request(LongTerm());
  SetHeader(r, "x-amz-date", "20261122T000000Z");
  VerifierOptions lenient;
  lenient.max_skew_seconds = 86400;
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException",
              "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
              "from HTTP: '20261121' != '20261122', from '20261122T000000Z'.",
              lenient);
}

TEST_F(VerifierTest, SkewSixMinutesAhead) {
  ExpectError(Boto3Request(LongTerm(), kNow + 360), StatusCode::kPermissionDenied,
              "InvalidSignatureException",
              "Signature not yet current: 20261121T162514Z is still later than 20261121T162414Z "
              "(20261121T161914Z + 5 min.)");
}

TEST_F(VerifierTest, SkewSixMinutesBehind) {
  ExpectError(Boto3Request(LongTerm(), kNow - 360), StatusCode::kPermissionDenied,
              "InvalidSignatureException",
              "Signature expired: 20261121T161314Z is now earlier than 20261121T161414Z "
              "(20261121T161914Z - 5 min.)");
}

TEST_F(VerifierTest, ExpiredSessionCredential) {
  ExpectError(Boto3Request(ExpiredSession()), StatusCode::kUnauthenticated, "ExpiredTokenException",
              "The security token included in the request is expired");
}

TEST_F(VerifierTest, SessionCredentialExpiresWithTheClock) {
  http::Request r = Boto3Request(Session(), kNow + 3600);
  clock_->SetUnixSeconds(kNow + 3600);
  ExpectError(r, StatusCode::kUnauthenticated, "ExpiredTokenException",
              "The security token included in the request is expired");
}

TEST_F(VerifierTest, SessionTokenMismatch) {
  Credential other = Session();
  other.session_token = "IQoJb3JpZ2luX2VjEXAMPLE//other==";
  ExpectError(Boto3Request(other), StatusCode::kUnauthenticated, "UnrecognizedClientException",
              kInvalidToken);
}

TEST_F(VerifierTest, TemporaryKeyWithoutToken) {
  Credential no_token = Session();
  no_token.session_token.clear();
  ExpectError(Boto3Request(no_token), StatusCode::kUnauthenticated, "UnrecognizedClientException",
              kInvalidToken);
}

TEST_F(VerifierTest, LongTermKeyWithToken) {
  Credential with_token = LongTerm();
  with_token.session_token = "made-up-token";
  ExpectError(Boto3Request(with_token), StatusCode::kUnauthenticated, "UnrecognizedClientException",
              kInvalidToken);
}

TEST_F(VerifierTest, SecurityTokenMustBeSigned) {
  http::Request r = TokenRequest();
  r.headers.push_back({"x-amz-date", "20261121T161914Z"});
  SignWithHeaders(r, Session(), {"content-type", "host", "x-amz-date"}, "20261121T161914Z");
  r.headers.push_back({"x-amz-security-token", Session().session_token});
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException",
              "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST_F(VerifierTest, HostMustBeSigned) {
  http::Request r = TokenRequest();
  r.headers.push_back({"x-amz-date", "20261121T161914Z"});
  // A correct signature over everything but host is still refused.
  SignWithHeaders(r, LongTerm(), {"content-type", "x-amz-date"}, "20261121T161914Z");
  ExpectError(r, StatusCode::kPermissionDenied, "InvalidSignatureException",
              "'Host' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST_F(VerifierTest, ProviderFailureIsPassedThrough) {
  class FailingProvider final : public CredentialProvider {
   public:
    StatusOr<Credential> Find(std::string_view) override {
      return UnavailableError("credential store down");
    }
  } failing;
  Verifier verifier({}, &failing, clock_);
  EXPECT_THAT(verifier.Verify(Boto3Request(LongTerm())),
              StatusIs(StatusCode::kUnavailable, "credential store down"));
}

TEST_F(VerifierTest, RotatedSecretIsNotServedFromTheKeyCache) {
  Verifier verifier({}, &provider_, clock_);
  const http::Request old_request = Boto3Request(LongTerm());
  ASSERT_THAT(verifier.Verify(old_request), IsOk());  // derives and caches the key
  Credential rotated = LongTerm();
  rotated.secret_access_key = "rotated/secret+EXAMPLEKEY";
  provider_.Put(rotated);
  auto stale = verifier.Verify(old_request);
  EXPECT_THAT(stale, StatusIs(StatusCode::kPermissionDenied, kMismatch));
  EXPECT_THAT(verifier.Verify(Boto3Request(rotated)), IsOk());
}

TEST_F(VerifierTest, ConcurrentVerificationsAgree) {
  Verifier verifier({}, &provider_, clock_);
  const http::Request good = Boto3Request(Session());
  http::Request bad = good;
  bad.body += "x";
  std::atomic<int> ok{0}, rejected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (verifier.Verify(good).ok()) ok++;
        if (!verifier.Verify(bad).ok()) rejected++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 800);
  EXPECT_EQ(rejected.load(), 800);
}

}  // namespace
}  // namespace ts::sigv4

namespace ts::sigv4 {
namespace {

// Stores may keep only the hash of a session token (Tessera's SQLite store does).
TEST_F(VerifierTest, SessionTokenComparedByHashWhenOnlyTheHashIsStored) {
  Credential stored = Session();
  stored.access_key_id = "ASIAHASHED";
  stored.session_token_hash = crypto::HexEncode(crypto::Sha256(stored.session_token));
  const std::string token = stored.session_token;
  stored.session_token.clear();
  provider_.Put(stored);

  Credential client = stored;
  client.session_token = token;
  client.session_token_hash.clear();
  EXPECT_THAT(Verify(Boto3Request(client)), IsOk());

  client.session_token = token + "x";
  ExpectError(Boto3Request(client), StatusCode::kUnauthenticated, "UnrecognizedClientException",
              kInvalidToken);
}

}  // namespace
}  // namespace ts::sigv4
