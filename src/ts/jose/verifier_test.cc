#include "ts/jose/verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/signer.h"

namespace ts::jose {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

const std::vector<std::string> kAllAsymmetric = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                                 "PS512", "ES256", "ES384", "ES512", "EdDSA"};

std::string ReadTestData(const std::string& name) {
  std::ifstream in("test/testdata/jose/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test data " << name << " (run from the source root)";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string B64(std::string_view s) { return crypto::Base64UrlEncode(s); }

// A compact JWS from raw parts (no signing).
std::string Compact(std::string_view header_json, std::string_view payload,
                    std::string_view signature) {
  return B64(header_json) + "." + B64(payload) + "." + B64(signature);
}

auto Refused(const std::string& message_part) {
  return StatusIs(StatusCode::kInvalidArgument, HasSubstr(message_part));
}

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = Es256Signer::Generate();
    ASSERT_THAT(signer, IsOk());
    signer_ = std::make_unique<Es256Signer>(std::move(*signer));
    auto keys = JwkSet::FromJwks({signer_->PublicJwkJson()});
    ASSERT_THAT(keys, IsOk());
    keys_ = std::move(*keys);
    auto token = signer_->SignJwt(R"({"sub":"alice"})");
    ASSERT_THAT(token, IsOk());
    token_ = *token;
  }

  std::unique_ptr<Es256Signer> signer_;
  JwkSet keys_;
  std::string token_;
};

// RFC 7515 Appendix A.3: the published ES256 example verifies with its published key.
TEST(Rfc7515Test, AppendixA3Es256ExampleVerifies) {
  auto keys = JwkSet::Parse(ReadTestData("rfc7515_a3.jwks.json"));
  ASSERT_THAT(keys, IsOk());
  auto verified = VerifyJws(ReadTestData("rfc7515_a3.jws"), *keys, {"ES256"});
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->alg, "ES256");
  EXPECT_EQ(verified->kid, "");  // no kid: the set's only ES256 key is used
  EXPECT_EQ(verified->header_json, R"({"alg":"ES256"})");
  EXPECT_EQ(verified->payload_json,
            "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");
}

TEST(Rfc7515Test, AppendixA3WithOneBitChangedFails) {
  auto keys = JwkSet::Parse(ReadTestData("rfc7515_a3.jwks.json"));
  ASSERT_THAT(keys, IsOk());
  std::string token = ReadTestData("rfc7515_a3.jws");
  token[token.rfind('.') + 5] ^= 0x01;  // a character of the signature ('U' -> 'T')
  EXPECT_THAT(VerifyJws(token, *keys, {"ES256"}), Refused("JWS signature is invalid"));
}

// test/testdata/jose/joserfc_vectors.json, and its "jwks" parsed (empty on any failure, which
// is reported).
struct JoserfcVectors {
  boost::json::value doc;
  JwkSet keys;
};

JoserfcVectors LoadJoserfcVectors() {
  JoserfcVectors vectors;
  boost::system::error_code ec;
  vectors.doc = boost::json::parse(ReadTestData("joserfc_vectors.json"), ec);
  EXPECT_FALSE(ec) << ec.message();
  if (ec || !vectors.doc.is_object()) return vectors;
  auto keys = JwkSet::Parse(boost::json::serialize(vectors.doc.at("jwks")));
  EXPECT_THAT(keys, IsOk());
  if (keys.ok()) vectors.keys = std::move(*keys);
  return vectors;
}

// The token with its payload replaced (header and signature kept).
std::string WithForgedPayload(const std::string& token) {
  return token.substr(0, token.find('.') + 1) + B64(R"({"sub":"mallory"})") +
         token.substr(token.rfind('.'));
}

// Tokens minted by joserfc (independent implementation) for every supported algorithm.
TEST(JoserfcVectorsTest, EveryAlgorithmVerifies) {
  const JoserfcVectors vectors = LoadJoserfcVectors();
  ASSERT_FALSE(vectors.keys.empty());
  const boost::json::value& v = vectors.doc;
  const JwkSet& keys = vectors.keys;
  const std::string payload(v.at("payload").as_string());
  int count = 0;
  for (const boost::json::value& t : v.at("tokens").as_array()) {
    const std::string alg(t.at("alg").as_string());
    const std::string token(t.at("token").as_string());
    auto verified = VerifyJws(token, keys, kAllAsymmetric);
    ASSERT_THAT(verified, IsOk()) << alg;
    EXPECT_EQ(verified->alg, alg);
    EXPECT_EQ(verified->kid, std::string(t.at("kid").as_string()));
    EXPECT_EQ(verified->payload_json, payload);
    // Only the token's own algorithm may be allowed: with every other one it is refused.
    std::vector<std::string> others;
    for (const std::string& a : kAllAsymmetric) {
      if (a != alg) others.push_back(a);
    }
    EXPECT_THAT(VerifyJws(token, keys, others), Refused("is not allowed here")) << alg;
    // Tampered payload: same header and signature, different claims.
    EXPECT_THAT(VerifyJws(WithForgedPayload(token), keys, kAllAsymmetric),
                Refused("JWS signature is invalid"))
        << alg;
    ++count;
  }
  EXPECT_EQ(count, 10);
}

TEST(JoserfcVectorsTest, KeyRestrictedToAnotherAlgIsRefused) {
  const JoserfcVectors vectors = LoadJoserfcVectors();
  ASSERT_FALSE(vectors.keys.empty());
  const boost::json::value& v = vectors.doc;
  const JwkSet& keys = vectors.keys;
  EXPECT_THAT(
      VerifyJws(std::string(v.at("ps256_with_rs256_only_key").as_string()), keys, kAllAsymmetric),
      Refused("JWS key 'rsa-rs256-only' does not match alg PS256: the key is restricted "
              "to alg RS256"));
}

TEST_F(VerifierTest, RoundTrip) {
  auto verified = VerifyJws(token_, keys_, {"ES256"});
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->payload_json, R"({"sub":"alice"})");
  EXPECT_EQ(verified->kid, signer_->kid());
  EXPECT_THAT(verified->header_json, HasSubstr(R"("typ":"JWT")"));
}

TEST_F(VerifierTest, AlgNoneIsAlwaysRefused) {
  const std::string token = B64(R"({"alg":"none"})") + "." + B64(R"({"sub":"alice"})") + ".";
  EXPECT_THAT(VerifyJws(token, keys_, {"none", "ES256"}),
              Refused("JWS alg 'none' is refused: unsecured tokens are never accepted"));
}

// The classic confusion: HS256 "signed" with the RSA public key as the HMAC secret.
TEST_F(VerifierTest, Hs256SignedWithThePublicKeyIsRefused) {
  const std::string jwks = ReadTestData("rfc7638_rsa.jwks.json");
  auto keys = JwkSet::Parse(jwks);
  ASSERT_THAT(keys, IsOk());
  const std::string public_key = keys->keys()[0].ToJson();
  const std::string input =
      B64(R"({"alg":"HS256","kid":"2011-04-29"})") + "." + B64(R"({"sub":"admin"})");
  const std::string token =
      input + "." + B64(crypto::AsBytes(crypto::HmacSha256(public_key, input)));
  EXPECT_THAT(VerifyJws(token, *keys, {"RS256", "HS256"}),
              Refused("JWS alg 'HS256' is refused: HMAC (shared-secret) algorithms are never "
                      "accepted"));
  const std::string hs512 = Compact(R"({"alg":"HS512"})", "{}", "x");
  EXPECT_THAT(VerifyJws(hs512, *keys, {"HS512"}), Refused("JWS alg 'HS512' is refused"));
}

TEST_F(VerifierTest, AlgNotAllowed) {
  EXPECT_THAT(VerifyJws(token_, keys_, {"RS256", "EdDSA"}),
              Refused("JWS alg 'ES256' is not allowed here (allowed: RS256, EdDSA)"));
  EXPECT_THAT(VerifyJws(Compact(R"({"alg":"ES256K"})", "{}", "x"), keys_, {"ES256K"}),
              Refused("JWS alg 'ES256K' is not allowed here"));
}

// The keyless half of VerifyJws: the same refusals, and OK where only a key could decide.
TEST_F(VerifierTest, ParseRefusesWhatNeedsNoKey) {
  const std::string none = B64(R"({"alg":"none"})") + "." + B64(R"({"sub":"alice"})") + ".";
  EXPECT_THAT(ParseJws(none, {"ES256"}).status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "JWS alg 'none' is refused: unsecured tokens are never accepted"));
  EXPECT_THAT(ParseJws(Compact(R"({"alg":"HS256"})", "{}", "x"), {"ES256"}).status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "JWS alg 'HS256' is refused: HMAC (shared-secret) algorithms are never "
                       "accepted"));
  EXPECT_THAT(ParseJws(token_, {"RS256"}).status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "JWS alg 'ES256' is not allowed here (allowed: RS256)"));
  EXPECT_THAT(ParseJws(Compact(R"({"alg":"ES256","crit":["b64"]})", "{}", "x"), {"ES256"}).status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "JWS header member 'crit' is refused: no critical extensions are "
                       "supported"));
  EXPECT_THAT(ParseJws("a.b", {"ES256"}).status(),
              StatusIs(StatusCode::kInvalidArgument,
                       "malformed JWS: expected 3 '.'-separated segments, found 2"));
  // Unknown kid and bad signature need the keys: not decided here.
  EXPECT_THAT(ParseJws(token_, {"ES256"}).status(), IsOk());
  EXPECT_THAT(
      ParseJws(Compact(R"({"alg":"ES256","kid":"nope"})", "{}", std::string(64, 'x')), {"ES256"})
          .status(),
      IsOk());
}

// The keyed half: a parsed token verifies to what VerifyJws answers in one step.
TEST_F(VerifierTest, ParsedThenVerifiedIsVerifyJws) {
  auto parsed = ParseJws(token_, {"ES256"});
  ASSERT_THAT(parsed, IsOk());
  auto verified = VerifyParsedJws(*parsed, keys_);
  ASSERT_THAT(verified, IsOk());
  auto direct = VerifyJws(token_, keys_, {"ES256"});
  ASSERT_THAT(direct, IsOk());
  EXPECT_EQ(verified->header_json, direct->header_json);
  EXPECT_EQ(verified->payload_json, direct->payload_json);
  EXPECT_EQ(verified->alg, direct->alg);
  EXPECT_EQ(verified->kid, direct->kid);
  ParsedJws tampered = *parsed;
  tampered.payload_json = R"({"sub":"mallory"})";
  tampered.signing_input.back() ^= 1;
  EXPECT_THAT(VerifyParsedJws(tampered, keys_), Refused("JWS signature is invalid for alg ES256"));
  ParsedJws unknown = *parsed;
  unknown.alg = "XS999";
  EXPECT_THAT(VerifyParsedJws(unknown, keys_), Refused("JWS alg 'XS999' is unknown"));
}

TEST_F(VerifierTest, UnknownKid) {
  const std::string token = Compact(R"({"alg":"ES256","kid":"nope"})", "{}", std::string(64, 'x'));
  EXPECT_THAT(VerifyJws(token, keys_, {"ES256"}),
              Refused("JWS kid 'nope' is unknown (no key in the set has it)"));
}

TEST_F(VerifierTest, KeyTypeMismatch) {
  const std::string header = R"({"alg":"RS256","kid":")" + signer_->kid() + "\"}";
  EXPECT_THAT(
      VerifyJws(Compact(header, "{}", std::string(256, 'x')), keys_, {"RS256"}),
      Refused("JWS key '" + signer_->kid() + "' does not match alg RS256: the key is EC P-256"));
  // Same kty, other curve: ES384 is defined on P-384 only.
  const std::string es384 = R"({"alg":"ES384","kid":")" + signer_->kid() + "\"}";
  EXPECT_THAT(VerifyJws(Compact(es384, "{}", std::string(96, 'x')), keys_, {"ES384"}),
              Refused("does not match alg ES384: the key is EC P-256"));
  // An Ed25519 token for the P-256 key.
  const std::string eddsa = R"({"alg":"EdDSA","kid":")" + signer_->kid() + "\"}";
  EXPECT_THAT(VerifyJws(Compact(eddsa, "{}", std::string(64, 'x')), keys_, {"EdDSA"}),
              Refused("does not match alg EdDSA: the key is EC P-256"));
}

TEST_F(VerifierTest, KeysFromTheTokenAreRefused) {
  const std::string tail = "." + token_.substr(token_.find('.') + 1);
  for (const char* member : {"jwk", "jku", "x5u", "x5c"}) {
    const std::string header =
        R"({"alg":"ES256","kid":")" + signer_->kid() + R"(",")" + member + R"(":{}})";
    EXPECT_THAT(VerifyJws(B64(header) + tail, keys_, {"ES256"}),
                Refused(std::string("JWS header member '") + member +
                        "' is refused: verification keys are never taken from the token"));
  }
  const std::string crit = R"({"alg":"ES256","crit":["exp"],"exp":1})";
  EXPECT_THAT(VerifyJws(B64(crit) + tail, keys_, {"ES256"}),
              Refused("JWS header member 'crit' is refused: no critical extensions"));
}

TEST_F(VerifierTest, TamperedPayloadOrHeader) {
  const size_t dot1 = token_.find('.');
  const size_t dot2 = token_.rfind('.');
  const std::string other_payload =
      token_.substr(0, dot1 + 1) + B64(R"({"sub":"admin"})") + token_.substr(dot2);
  EXPECT_THAT(VerifyJws(other_payload, keys_, {"ES256"}),
              Refused("JWS signature is invalid for alg ES256 and key '" + signer_->kid() + "'"));
  const std::string other_header =
      B64(R"({"alg":"ES256","kid":")" + signer_->kid() + R"(","typ":"at+jwt"})") +
      token_.substr(dot1);
  EXPECT_THAT(VerifyJws(other_header, keys_, {"ES256"}), Refused("JWS signature is invalid"));
}

TEST_F(VerifierTest, WrongSignatureSizeOrFormat) {
  const size_t dot2 = token_.rfind('.');
  const std::string raw = *crypto::Base64UrlDecode(token_.substr(dot2 + 1));
  // Dropping a byte, or sending a DER-style 70-byte blob, is refused as an invalid signature.
  EXPECT_THAT(VerifyJws(token_.substr(0, dot2 + 1) + B64(raw.substr(0, 63)), keys_, {"ES256"}),
              Refused("JWS signature is invalid"));
  EXPECT_THAT(
      VerifyJws(token_.substr(0, dot2 + 1) + B64(raw + std::string(6, '\0')), keys_, {"ES256"}),
      Refused("JWS signature is invalid"));
  EXPECT_THAT(VerifyJws(token_.substr(0, dot2 + 1), keys_, {"ES256"}),
              Refused("malformed JWS: the signature segment is empty"));
}

TEST_F(VerifierTest, NonCanonicalBase64UrlIsMalformed) {
  const size_t dot1 = token_.find('.');
  const size_t dot2 = token_.rfind('.');
  // The signature's last character carries 4 unused bits, which must be zero.
  std::string last_bits = token_;
  char& c = last_bits.back();
  c = (c == 'A') ? 'B' : static_cast<char>(c == 'Q' ? 'R' : (c == 'g' ? 'h' : 'x'));
  EXPECT_THAT(VerifyJws(last_bits, keys_, {"ES256"}),
              Refused("malformed JWS: the signature is not canonical unpadded base64url"));
  EXPECT_THAT(VerifyJws(token_ + "==", keys_, {"ES256"}),
              Refused("malformed JWS: the signature is not canonical unpadded base64url"));
  // Standard-alphabet characters and padding in the payload.
  const std::string plus = token_.substr(0, dot1 + 1) + "e30+" + token_.substr(dot2);
  EXPECT_THAT(VerifyJws(plus, keys_, {"ES256"}),
              Refused("malformed JWS: the payload is not canonical unpadded base64url"));
  const std::string padded_header = B64(R"({"alg":"ES256"})") + "=" + token_.substr(dot1);
  EXPECT_THAT(VerifyJws(padded_header, keys_, {"ES256"}),
              Refused("malformed JWS: the header is not canonical unpadded base64url"));
}

TEST_F(VerifierTest, SegmentCount) {
  const size_t dot2 = token_.rfind('.');
  EXPECT_THAT(VerifyJws(token_.substr(0, dot2), keys_, {"ES256"}),
              Refused("malformed JWS: expected 3 '.'-separated segments, found 2"));
  EXPECT_THAT(VerifyJws(token_ + ".e30", keys_, {"ES256"}),
              Refused("malformed JWS: expected 3 '.'-separated segments, found 4"));
  EXPECT_THAT(VerifyJws("", keys_, {"ES256"}),
              Refused("malformed JWS: expected 3 '.'-separated segments, found 1"));
  // A 5-segment JWE is not a JWS.
  EXPECT_THAT(VerifyJws("a.b.c.d.e", keys_, {"ES256"}),
              Refused("malformed JWS: expected 3 '.'-separated segments, found 5"));
}

TEST_F(VerifierTest, MalformedHeader) {
  EXPECT_THAT(VerifyJws(B64("not json") + ".e30.eA", keys_, {"ES256"}),
              Refused("malformed JWS: the header is not valid JSON"));
  EXPECT_THAT(VerifyJws(B64("[1]") + ".e30.eA", keys_, {"ES256"}),
              Refused("malformed JWS: the header is not a JSON object"));
  EXPECT_THAT(VerifyJws(B64(R"({"alg":1})") + ".e30.eA", keys_, {"ES256"}),
              Refused("malformed JWS: the header has no string member \"alg\""));
  EXPECT_THAT(VerifyJws(B64(R"({"typ":"JWT"})") + ".e30.eA", keys_, {"ES256"}),
              Refused("malformed JWS: the header has no string member \"alg\""));
  EXPECT_THAT(VerifyJws(B64(R"({"alg":"ES256","kid":7})") + ".e30.eA", keys_, {"ES256"}),
              Refused("malformed JWS: the header member \"kid\" is not a string"));
  EXPECT_THAT(VerifyJws(".e30.eA", keys_, {"ES256"}),
              Refused("malformed JWS: the header segment is empty"));
  EXPECT_THAT(VerifyJws(std::string(300 * 1024, 'a'), keys_, {"ES256"}),
              Refused("malformed JWS: token is larger than"));
}

TEST_F(VerifierTest, KeySelectionWithoutKid) {
  auto other = Es256Signer::Generate();
  ASSERT_THAT(other, IsOk());
  // A token without kid, signed by signer_: forge by re-signing is impossible, so build one from
  // the RFC vector instead, and check selection rules against sets of different sizes.
  auto a3 = JwkSet::Parse(ReadTestData("rfc7515_a3.jwks.json"));
  ASSERT_THAT(a3, IsOk());
  auto two = JwkSet::FromJwks({a3->keys()[0].ToJson(), other->PublicJwkJson()});
  ASSERT_THAT(two, IsOk());
  EXPECT_THAT(VerifyJws(ReadTestData("rfc7515_a3.jws"), *two, {"ES256"}),
              Refused("JWS kid is absent and the key set has 2 keys for alg ES256"));
  EXPECT_THAT(VerifyJws(ReadTestData("rfc7515_a3.jws"), JwkSet(), {"ES256"}),
              Refused("JWS kid is absent and the key set has 0 keys for alg ES256"));
  // An RSA key next to the one P-256 key does not count as suitable for ES256.
  auto rsa = JwkSet::Parse(ReadTestData("rfc7638_rsa.jwks.json"));
  ASSERT_THAT(rsa, IsOk());
  auto mixed = JwkSet::FromJwks({a3->keys()[0].ToJson(), rsa->keys()[0].ToJson()});
  ASSERT_THAT(mixed, IsOk());
  EXPECT_THAT(VerifyJws(ReadTestData("rfc7515_a3.jws"), *mixed, {"ES256"}), IsOk());
}

TEST_F(VerifierTest, DuplicateHeaderMembersResolveToTheLast) {
  const std::string tail = token_.substr(token_.find('.'));
  EXPECT_THAT(VerifyJws(B64(R"({"alg":"ES256","alg":"none"})") + tail, keys_, {"ES256"}),
              Refused("JWS alg 'none' is refused"));
  const std::string kid_twice =
      R"({"alg":"ES256","kid":")" + signer_->kid() + R"(","kid":"other"})";
  EXPECT_THAT(VerifyJws(B64(kid_twice) + tail, keys_, {"ES256"}),
              Refused("JWS kid 'other' is unknown"));
}

TEST_F(VerifierTest, ErrorsAreInvalidArgument) {
  auto s = VerifyJws("x", keys_, {"ES256"});
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), StartsWith("malformed JWS"));
}

}  // namespace
}  // namespace ts::jose

namespace ts::jose {
namespace {

// Verification contexts are cached per thread (verifier.cc). A key set replaced by one in which
// the same kid names a different key must never verify with the old key's context, however
// often sets are freed and parsed again.
TEST_F(VerifierTest, ContextOfAReplacedKeyIsNeverReused) {
  auto other = Es256Signer::Generate();
  ASSERT_THAT(other, IsOk());
  // The other key published under this key's kid, as after a rotation that kept the kid.
  boost::json::value impostor = boost::json::parse(other->PublicJwkJson());
  impostor.as_object()["kid"] = signer_->kid();
  for (int round = 0; round < 50; ++round) {
    {
      auto genuine = JwkSet::FromJwks({signer_->PublicJwkJson()});
      ASSERT_THAT(genuine, IsOk());
      ASSERT_THAT(VerifyJws(token_, *genuine, {"ES256"}), IsOk()) << round;
    }
    auto replaced = JwkSet::FromJwks({boost::json::serialize(impostor)});
    ASSERT_THAT(replaced, IsOk());
    ASSERT_THAT(VerifyJws(token_, *replaced, {"ES256"}), Refused("JWS signature is invalid"))
        << round;
  }
}

// More (key, alg) pairs than a thread caches, interleaved on several threads, each valid token
// checked again after its tampered twin: every answer is the one a fresh context gives.
TEST(JoserfcVectorsTest, CachedContextsGiveTheSameAnswersOnManyThreads) {
  const JoserfcVectors vectors = LoadJoserfcVectors();
  ASSERT_FALSE(vectors.keys.empty());
  const boost::json::value& v = vectors.doc;
  const JwkSet& keys = vectors.keys;
  std::vector<std::string> valid, tampered;
  for (const boost::json::value& t : v.at("tokens").as_array()) {
    const std::string token(t.at("token").as_string());
    valid.push_back(token);
    tampered.push_back(WithForgedPayload(token));
  }
  ASSERT_EQ(valid.size(), 10u);
  std::vector<int> wrong(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < valid.size(); ++i) {
          const size_t k = (i * 7 + t + static_cast<size_t>(round)) % valid.size();
          if (!VerifyJws(valid[k], keys, kAllAsymmetric).ok()) ++wrong[t];
          if (VerifyJws(tampered[k], keys, kAllAsymmetric).ok()) ++wrong[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace ts::jose
