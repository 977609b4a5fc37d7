#include "ts/jose/jwk.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>

#include <fstream>
#include <sstream>

#include "test/common/status_matchers.h"
#include "ts/jose/signer.h"

namespace ts::jose {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

std::string ReadTestData(const std::string& name) {
  std::ifstream in("test/testdata/jose/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test data " << name << " (run from the source root)";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr char kP256X[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr char kP256Y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

std::string EcJwk(std::string_view extra, std::string_view x = kP256X,
                  std::string_view y = kP256Y) {
  std::string j =
      R"({"kty":"EC","crv":"P-256","x":")" + std::string(x) + R"(","y":")" + std::string(y) + "\"";
  if (!extra.empty()) j += "," + std::string(extra);
  return j + "}";
}

std::string Set(const std::string& keys) { return R"({"keys":[)" + keys + "]}"; }

// RFC 7638 §3.1: the documented thumbprint of the example RSA key.
TEST(JwkTest, Rfc7638ThumbprintOfExampleRsaKey) {
  auto set = JwkSet::Parse(ReadTestData("rfc7638_rsa.jwks.json"));
  ASSERT_THAT(set, IsOk());
  ASSERT_EQ(set->size(), 1u);
  const Jwk& k = set->keys()[0];
  EXPECT_EQ(k.kty(), KeyType::kRsa);
  EXPECT_EQ(k.kid(), "2011-04-29");
  EXPECT_EQ(k.alg(), "RS256");
  EXPECT_EQ(k.Thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_NE(k.evp_pkey(), nullptr);
}

// Thumbprints of EC, OKP and RSA keys agree with joserfc's (an independent implementation).
TEST(JwkTest, ThumbprintsMatchJoserfc) {
  const std::string vectors = ReadTestData("joserfc_vectors.json");
  const size_t begin = vectors.find("\"jwks\": ");
  const size_t end = vectors.find("\"thumbprints\"");
  ASSERT_NE(begin, std::string::npos);
  std::string jwks = vectors.substr(begin + 8, end - begin - 8);
  jwks = jwks.substr(0, jwks.rfind(','));
  auto set = JwkSet::Parse(jwks);
  ASSERT_THAT(set, IsOk());
  ASSERT_EQ(set->size(), 6u);
  int checked = 0;
  for (const Jwk& k : set->keys()) {
    if (k.kid() == "rsa-rs256-only") continue;
    EXPECT_EQ(k.Thumbprint(), k.kid()) << "crv " << k.crv();  // kid = joserfc's thumbprint
    ++checked;
  }
  EXPECT_EQ(checked, 5);
}

TEST(JwkTest, ParsesEveryKeyType) {
  // The Ed25519 public key is the one of RFC 8037 Appendix A.2.
  auto set = JwkSet::Parse(Set(EcJwk(R"("kid":"ec")") + "," +
                               R"({"kty":"OKP","crv":"Ed25519","kid":"ed",)"
                               R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})"));
  ASSERT_THAT(set, IsOk());
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ(set->Find("ec")->kty(), KeyType::kEc);
  EXPECT_EQ(set->Find("ec")->crv(), "P-256");
  EXPECT_EQ(set->Find("ed")->kty(), KeyType::kOkp);
  EXPECT_EQ(set->Find("ed")->crv(), "Ed25519");
  EXPECT_EQ(set->Find("nope"), nullptr);
}

TEST(JwkTest, SkipsKeysThatCannotVerifySignatures) {
  auto set = JwkSet::Parse(Set(R"({"kty":"oct","kid":"hmac","k":"c2VjcmV0"},)"
                               R"({"kty":"EC","crv":"secp256k1","kid":"k1","x":"AA","y":"AA"},)"
                               R"({"kty":"OKP","crv":"X25519","kid":"x","x":"AA"},)"
                               R"({"kty":"FOO","kid":"future"},)" +
                               EcJwk(R"("kid":"enc","use":"enc")") + "," +
                               EcJwk(R"("kid":"wrap","key_ops":["wrapKey"])") + "," +
                               EcJwk(R"("kid":"good","use":"sig","key_ops":["verify"])")));
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(set->size(), 1u);
  EXPECT_EQ(set->skipped(), 6u);
  EXPECT_NE(set->Find("good"), nullptr);
}

TEST(JwkTest, RejectsMalformedKeysNamingTheKid) {
  struct Case {
    std::string jwk;
    std::string message;
  };
  const std::string x48(64, 'A');  // 48 bytes: wrong size for P-256
  const std::vector<Case> cases = {
      {R"({"kty":"EC","crv":"P-256","kid":"k1","x":")" + std::string(kP256X) + R"("})",
       "JWK 'k1' is malformed: y is missing"},
      {EcJwk(R"("kid":"k2")", x48, x48), "JWK 'k2' is malformed: x and y must be 32 bytes"},
      {EcJwk(R"("kid":"k3")", kP256X, kP256X), "JWK 'k3' is malformed: the point (x, y) is not on"},
      {EcJwk(R"("kid":"k4")", std::string(kP256X).substr(0, 42) + "F"),
       "JWK 'k4' is malformed: x is not canonical unpadded base64url"},
      {EcJwk(R"("kid":"k5","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")"),
       "JWK 'k5' is malformed: contains private key member 'd'"},
      {R"({"kty":"RSA","kid":"k6","n":"AQAB","e":"AQAB"})",
       "JWK 'k6' is malformed: RSA modulus has 17 bits"},
      {R"({"kty":"OKP","crv":"Ed25519","kid":"k7","x":"AAAA"})",
       "JWK 'k7' is malformed: x must be 32 bytes"},
      {EcJwk(R"("kid":"k8","use":1)"), "JWK 'k8' is malformed: use is not a string"},
      {R"({"crv":"P-256"})", "JWK #0 is malformed: kty is missing"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(JwkSet::Parse(Set(c.jwk)),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.jwk;
  }
}

// A key OpenSSL refuses is an answer, not an error left on the thread's OpenSSL error queue,
// where the next OpenSSL caller on that thread (a TLS handshake, a signature) would read it as its
// own.
TEST(JwkTest, ARefusedKeyLeavesNoOpenSslErrorQueued) {
  ERR_clear_error();
  EXPECT_THAT(JwkSet::Parse(Set(EcJwk(R"("kid":"off-curve")", kP256X, kP256X))),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("is not on curve")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(JwkTest, RejectsMalformedSets) {
  EXPECT_THAT(JwkSet::Parse("{"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("JWK Set is not valid JSON")));
  EXPECT_THAT(JwkSet::Parse(R"({"key":[]})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("with a \"keys\" array")));
  EXPECT_THAT(JwkSet::Parse(R"([])"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("with a \"keys\" array")));
  EXPECT_THAT(JwkSet::Parse(R"({"keys":["x"]})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("JWK #0 is not a JSON object")));
  auto empty = JwkSet::Parse(R"({"keys":[]})");
  ASSERT_THAT(empty, IsOk());
  EXPECT_TRUE(empty->empty());
}

TEST(JwkTest, ToJsonRendersPublicMembersOnlyAndRoundTrips) {
  auto set =
      JwkSet::Parse(Set(EcJwk(R"("kid":"a","alg":"ES256","use":"sig","x5c":["MIIB"],"ext":true)")));
  ASSERT_THAT(set, IsOk());
  const std::string json = set->ToJson();
  EXPECT_EQ(json, R"({"keys":[{"kty":"EC","crv":"P-256","x":")" + std::string(kP256X) +
                      R"(","y":")" + kP256Y + R"(","kid":"a","alg":"ES256","use":"sig"}]})");
  auto again = JwkSet::Parse(json);
  ASSERT_THAT(again, IsOk());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->keys()[0].Thumbprint(), set->keys()[0].Thumbprint());
}

TEST(JwkTest, FromJwksBuildsASetOfOurOwnKeys) {
  auto a = Es256Signer::Generate();
  auto b = Es256Signer::Generate();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  auto set = JwkSet::FromJwks({a->PublicJwkJson(), b->PublicJwkJson()});
  ASSERT_THAT(set, IsOk());
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ(set->Find(a->kid())->Thumbprint(), a->kid());
  EXPECT_EQ(set->Find(b->kid())->alg(), "ES256");
  EXPECT_THAT(set->ToJson(), HasSubstr(a->PublicJwkJson()));
  EXPECT_THAT(set->ToJson(), Not(HasSubstr("\"d\"")));

  EXPECT_THAT(JwkSet::FromJwks({EcJwk(R"("use":"enc")")}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("JWK #0 is not a supported signature verification key")));
  EXPECT_THAT(JwkSet::FromJwks({"[]"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("JWK #0 is not a JSON object")));
}

}  // namespace
}  // namespace ts::jose
