#include "ts/tti/assertion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/common/status_matchers.h"
#include "ts/common/json_writer.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/signer.h"
#include "ts/tti/fake_fetcher.h"

namespace ts::tti {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

constexpr char kIssuer[] = "https://idp.example";
constexpr int64_t kNow = 1'800'000'000;

struct Claims {
  std::string iss = kIssuer;
  std::string aud = "tessera-app";
  std::optional<int64_t> exp = kNow + 300;
  std::optional<int64_t> iat = kNow - 10;
  std::optional<int64_t> nbf;
  std::string jti = "jti-1";
  std::string email = "alice@example.com";

  std::string Json() const {
    JsonWriter w;
    w.BeginObject();
    w.Member("iss", iss);
    w.Member("sub", "00u1");
    if (!aud.empty()) w.Member("aud", aud);
    if (exp) w.Member("exp", *exp);
    if (iat) w.Member("iat", *iat);
    if (nbf) w.Member("nbf", *nbf);
    if (!jti.empty()) w.Member("jti", jti);
    if (!email.empty()) w.Member("email", email);
    w.EndObject();
    return w.Take();
  }
};

class AssertionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fetcher_->SetJson(std::string(kIssuer) + "/.well-known/openid-configuration",
                      R"({"issuer":"https://idp.example","jwks_uri":"https://idp.example/k"})");
    fetcher_->SetJson("https://idp.example/k", R"({"keys":[)" + key_.PublicJwkJson() + "]}");
    tti_.arn = "arn:aws:sso::111111111111:trustedTokenIssuer/ssoins-1/tti-1";
    tti_.issuer_url = kIssuer;
    tti_.claim_attribute_path = "email";
    tti_.identity_store_attribute_path = "emails.value";
    authorized_ = {{tti_, {"tessera-app"}}};
  }
  StatusOr<ValidatedAssertion> Validate(const std::string& jwt) {
    return validator_.Validate(jwt, authorized_, clock_->NowUnixSeconds());
  }
  std::string Sign(const Claims& c) { return *key_.SignJwt(c.Json()); }

  std::shared_ptr<FakeFetcher> fetcher_ = std::make_shared<FakeFetcher>();
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<JwksCache> cache_ =
      std::make_shared<JwksCache>(fetcher_, clock_, JwksCacheOptions{});
  AssertionValidator validator_{cache_, AssertionOptions{}};
  jose::Es256Signer key_ = *jose::Es256Signer::Generate();
  storage::TrustedTokenIssuer tti_;
  std::vector<AuthorizedIssuer> authorized_;
};

TEST_F(AssertionTest, AcceptsAValidAssertion) {
  auto v = Validate(Sign(Claims{}));
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->issuer.arn, tti_.arn);
  EXPECT_EQ(v->claim_value, "alice@example.com");
  EXPECT_EQ(v->replay_id, crypto::HexEncode(crypto::Sha256("https://idp.example\njti:jti-1")));
  EXPECT_EQ(v->replay_until, kNow + 300 + 60);
}

TEST_F(AssertionTest, ReplayIdWithoutJtiIsBoundToTheSignature) {
  Claims c;
  c.jti = "";
  const std::string jwt = Sign(c);
  auto v = Validate(jwt);
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->replay_id, crypto::HexEncode(crypto::Sha256("https://idp.example\nsig:" +
                                                           jwt.substr(jwt.rfind('.') + 1))));
}

TEST_F(AssertionTest, RefusesAlgNoneAndHmacWithThePublicKey) {
  const std::string payload = crypto::Base64UrlEncode(Claims{}.Json());
  const std::string none = crypto::Base64UrlEncode(R"({"alg":"none"})") + "." + payload + ".";
  EXPECT_THAT(Validate(none), StatusIs(StatusCode::kInvalidArgument, HasSubstr("'none'")));
  const std::string input =
      crypto::Base64UrlEncode(R"({"alg":"HS256","kid":")" + key_.kid() + R"("})") + "." + payload;
  const std::string hs =
      input + "." +
      crypto::Base64UrlEncode(crypto::AsBytes(crypto::HmacSha256(key_.PublicJwkJson(), input)));
  EXPECT_THAT(Validate(hs), StatusIs(StatusCode::kInvalidArgument, HasSubstr("'HS256'")));
}

TEST_F(AssertionTest, RefusesABadSignature) {
  std::string jwt = Sign(Claims{});
  jwt[jwt.size() - 5] = jwt[jwt.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_THAT(Validate(jwt), StatusIs(StatusCode::kInvalidArgument, HasSubstr("signature")));
}

TEST_F(AssertionTest, UnknownKidRefetchesOnceThenFails) {
  jose::Es256Signer other = *jose::Es256Signer::Generate();
  ASSERT_THAT(Validate(Sign(Claims{})), IsOk());
  clock_->Advance(std::chrono::seconds(30));
  EXPECT_THAT(validator_.Validate(*other.SignJwt(Claims{}.Json()), authorized_, kNow + 30),
              StatusIs(StatusCode::kInvalidArgument, StartsWith("JWS kid")));
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), 2);
}

TEST_F(AssertionTest, FollowsKeyRotation) {
  ASSERT_THAT(Validate(Sign(Claims{})), IsOk());
  jose::Es256Signer rotated = *jose::Es256Signer::Generate();
  fetcher_->SetJson("https://idp.example/k", R"({"keys":[)" + rotated.PublicJwkJson() + "]}");
  clock_->Advance(std::chrono::seconds(30));
  Claims c;
  c.iat = kNow + 20;
  EXPECT_THAT(validator_.Validate(*rotated.SignJwt(c.Json()), authorized_, kNow + 30), IsOk());
}

// For the io threads: fresh cached keys only; nullopt whenever a fetch would be needed.
TEST_F(AssertionTest, ValidateWithCachedKeysNeverFetches) {
  const std::string jwt = Sign(Claims{});
  EXPECT_EQ(validator_.ValidateWithCachedKeys(jwt, authorized_, kNow), std::nullopt);
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), 0);
  // What needs no keys is answered anyway.
  auto malformed = validator_.ValidateWithCachedKeys("a.b", authorized_, kNow);
  ASSERT_TRUE(malformed.has_value());
  EXPECT_THAT(*malformed, StatusIs(StatusCode::kInvalidArgument, HasSubstr("compact JWS")));
  Claims stranger;
  stranger.iss = "https://stranger.example";
  auto untrusted = validator_.ValidateWithCachedKeys(Sign(stranger), authorized_, kNow);
  ASSERT_TRUE(untrusted.has_value());
  EXPECT_THAT(*untrusted, StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a trusted")));

  ASSERT_THAT(Validate(jwt), IsOk());  // fetches and caches the keys
  auto cached = validator_.ValidateWithCachedKeys(jwt, authorized_, kNow);
  ASSERT_TRUE(cached.has_value());
  ASSERT_THAT(*cached, IsOk());
  EXPECT_EQ((*cached)->claim_value, "alice@example.com");
  // A bad signature with cached keys is a refusal, not a fetch.
  std::string tampered = jwt;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  auto refused = validator_.ValidateWithCachedKeys(tampered, authorized_, kNow);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, StatusIs(StatusCode::kInvalidArgument, HasSubstr("signature")));
  // An unknown kid (perhaps a rotation at the IdP) needs a fetch.
  jose::Es256Signer other = *jose::Es256Signer::Generate();
  EXPECT_EQ(validator_.ValidateWithCachedKeys(*other.SignJwt(Claims{}.Json()), authorized_, kNow),
            std::nullopt);
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), 1);
  // Keys past their lifetime (600 s by default) are not used from the cache.
  clock_->Advance(std::chrono::seconds(600));
  Claims later;
  later.iat = kNow + 590;
  later.exp = kNow + 900;
  EXPECT_EQ(validator_.ValidateWithCachedKeys(Sign(later), authorized_, kNow + 600), std::nullopt);
  EXPECT_EQ(fetcher_->calls("https://idp.example/k"), 1);
}

TEST_F(AssertionTest, RefusesBadTimes) {
  Claims expired;
  expired.exp = kNow - 61;
  EXPECT_THAT(Validate(Sign(expired)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("assertion has expired")));
  Claims within_leeway;
  within_leeway.exp = kNow - 59;
  EXPECT_THAT(Validate(Sign(within_leeway)), IsOk());
  Claims no_exp;
  no_exp.exp.reset();
  EXPECT_THAT(Validate(Sign(no_exp)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no exp claim")));
  Claims early;
  early.nbf = kNow + 61;
  EXPECT_THAT(Validate(Sign(early)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid yet (nbf)")));
  Claims future;
  future.iat = kNow + 61;
  EXPECT_THAT(Validate(Sign(future)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid yet (iat)")));
  Claims old;
  old.iat = kNow - 3601;
  EXPECT_THAT(Validate(Sign(old)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("assertion is too old")));
  Claims no_iat;
  no_iat.iat.reset();
  EXPECT_THAT(Validate(Sign(no_iat)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no iat claim")));
}

TEST_F(AssertionTest, RefusesWrongIssuerAudienceAndMissingClaim) {
  Claims wrong_iss;
  wrong_iss.iss = "https://evil.example";
  EXPECT_THAT(Validate(Sign(wrong_iss)),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("'https://evil.example' is not a trusted token issuer")));
  Claims wrong_aud;
  wrong_aud.aud = "someone-else";
  EXPECT_THAT(Validate(Sign(wrong_aud)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("AuthorizedAudiences")));
  Claims no_email;
  no_email.email = "";
  EXPECT_THAT(Validate(Sign(no_email)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no claim 'email'")));
  EXPECT_THAT(Validate("abc.def"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a compact JWS")));
}

// Checks that need no key come before the fetch: an unreachable issuer does not hide them.
TEST_F(AssertionTest, KeyIndependentChecksComeBeforeTheKeysAreFetched) {
  fetcher_->Set(std::string(kIssuer) + "/.well-known/openid-configuration",
                UnavailableError("timed out after 5000 ms"));
  const std::string payload = crypto::Base64UrlEncode(Claims{}.Json());
  const std::string none = crypto::Base64UrlEncode(R"({"alg":"none"})") + "." + payload + ".";
  EXPECT_THAT(Validate(none),
              StatusIs(StatusCode::kInvalidArgument,
                       "JWS alg 'none' is refused: unsecured tokens are never accepted"));
  const std::string hs = crypto::Base64UrlEncode(R"({"alg":"HS256"})") + "." + payload + "." +
                         crypto::Base64UrlEncode(std::string(32, 'x'));
  EXPECT_THAT(Validate(hs), StatusIs(StatusCode::kInvalidArgument,
                                     "JWS alg 'HS256' is refused: HMAC (shared-secret) "
                                     "algorithms are never accepted"));
  const std::string jku = crypto::Base64UrlEncode(R"({"alg":"ES256","jku":"https://evil/k"})") +
                          "." + payload + "." + crypto::Base64UrlEncode(std::string(64, 'x'));
  EXPECT_THAT(Validate(jku), StatusIs(StatusCode::kInvalidArgument,
                                      "JWS header member 'jku' is refused: verification keys "
                                      "are never taken from the token"));
  Claims expired;
  expired.exp = kNow - 61;
  EXPECT_THAT(Validate(Sign(expired)),
              StatusIs(StatusCode::kInvalidArgument, "assertion has expired"));
  EXPECT_EQ(fetcher_->calls(std::string(kIssuer) + "/.well-known/openid-configuration"), 0);
  // The io threads answer these too, with no keys cached.
  auto cached = validator_.ValidateWithCachedKeys(none, authorized_, kNow);
  ASSERT_TRUE(cached.has_value());
  EXPECT_THAT(*cached, StatusIs(StatusCode::kInvalidArgument, HasSubstr("alg 'none'")));
  // A well-formed assertion still needs the keys, and says why it cannot have them.
  EXPECT_THAT(Validate(Sign(Claims{})),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot get the signing keys")));
}

TEST_F(AssertionTest, UnreachableIdpIsUnavailable) {
  fetcher_->Set(std::string(kIssuer) + "/.well-known/openid-configuration",
                UnavailableError("timed out after 5000 ms"));
  EXPECT_THAT(Validate(Sign(Claims{})),
              StatusIs(StatusCode::kUnavailable, HasSubstr("timed out after 5000 ms")));
}

}  // namespace
}  // namespace ts::tti
