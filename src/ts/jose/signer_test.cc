#include "ts/jose/signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/jwk.h"
#include "ts/jose/verifier.h"

namespace ts::jose {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

const std::vector<std::string> kEs256 = {"ES256"};

TEST(Es256SignerTest, PublicJwkAndKid) {
  auto signer = Es256Signer::Generate();
  ASSERT_THAT(signer, IsOk());
  EXPECT_THAT(signer->kid(), MatchesRegex("[A-Za-z0-9_-]{43}"));
  EXPECT_THAT(signer->PublicJwkJson(),
              MatchesRegex(R"(\{"kty":"EC","crv":"P-256","x":"[A-Za-z0-9_-]{43}",)"
                           R"("y":"[A-Za-z0-9_-]{43}","kid":"[A-Za-z0-9_-]{43}",)"
                           R"("alg":"ES256","use":"sig"\})"));
  auto set = JwkSet::FromJwks({signer->PublicJwkJson()});
  ASSERT_THAT(set, IsOk());
  // kid is the RFC 7638 thumbprint of the published key.
  EXPECT_EQ(set->keys()[0].Thumbprint(), signer->kid());
  EXPECT_EQ(set->keys()[0].kid(), signer->kid());
}

TEST(Es256SignerTest, TokenShape) {
  auto signer = Es256Signer::Generate();
  ASSERT_THAT(signer, IsOk());
  auto token = signer->SignJwt(R"({"sub":"alice"})");
  ASSERT_THAT(token, IsOk());
  const size_t dot1 = token->find('.');
  const size_t dot2 = token->rfind('.');
  ASSERT_NE(dot1, dot2);
  EXPECT_EQ(*crypto::Base64UrlDecode(token->substr(0, dot1)),
            R"({"alg":"ES256","kid":")" + signer->kid() + R"(","typ":"JWT"})");
  EXPECT_EQ(*crypto::Base64UrlDecode(token->substr(dot1 + 1, dot2 - dot1 - 1)),
            R"({"sub":"alice"})");
  // RFC 7518 §3.4: 64 bytes R || S, i.e. 86 base64url characters (never DER's 70-72 bytes).
  EXPECT_EQ(crypto::Base64UrlDecode(token->substr(dot2 + 1))->size(), 64u);
}

TEST(Es256SignerTest, TypHeader) {
  auto signer = Es256Signer::Generate();
  ASSERT_THAT(signer, IsOk());
  auto keys = JwkSet::FromJwks({signer->PublicJwkJson()});
  ASSERT_THAT(keys, IsOk());
  const std::string prefix = R"({"alg":"ES256","kid":")" + signer->kid() + "\"";
  for (const auto& [typ, header] : std::vector<std::pair<std::string, std::string>>{
           {"at+jwt", prefix + R"(,"typ":"at+jwt"})"},
           {"logout+jwt", prefix + R"(,"typ":"logout+jwt"})"},
           {"", prefix + "}"}}) {
    auto token = signer->SignJwt("{}", typ);
    ASSERT_THAT(token, IsOk());
    auto verified = VerifyJws(*token, *keys, kEs256);
    ASSERT_THAT(verified, IsOk()) << typ;
    EXPECT_EQ(verified->header_json, header);
  }
}

TEST(Es256SignerTest, SignVerifyRoundTrip) {
  auto signer = Es256Signer::Generate();
  ASSERT_THAT(signer, IsOk());
  auto keys = JwkSet::FromJwks({signer->PublicJwkJson()});
  ASSERT_THAT(keys, IsOk());
  for (int i = 0; i < 50; ++i) {  // ECDSA is randomized: many signatures, all valid
    const std::string payload = R"({"n":)" + std::to_string(i) + "}";
    auto token = signer->SignJwt(payload);
    ASSERT_THAT(token, IsOk());
    auto verified = VerifyJws(*token, *keys, kEs256);
    ASSERT_THAT(verified, IsOk());
    EXPECT_EQ(verified->payload_json, payload);
    EXPECT_EQ(verified->kid, signer->kid());
    EXPECT_EQ(verified->alg, "ES256");
  }
}

TEST(Es256SignerTest, Pkcs8RoundTrip) {
  auto original = Es256Signer::Generate();
  ASSERT_THAT(original, IsOk());
  auto reloaded = Es256Signer::FromPkcs8Der(original->Pkcs8Der());
  ASSERT_THAT(reloaded, IsOk());
  EXPECT_EQ(reloaded->kid(), original->kid());
  EXPECT_EQ(reloaded->PublicJwkJson(), original->PublicJwkJson());
  EXPECT_EQ(reloaded->Pkcs8Der(), original->Pkcs8Der());
  auto keys = JwkSet::FromJwks({original->PublicJwkJson()});
  ASSERT_THAT(keys, IsOk());
  auto token = reloaded->SignJwt("{}");
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(VerifyJws(*token, *keys, kEs256), IsOk());
}

TEST(Es256SignerTest, FromPkcs8DerRejectsOtherInput) {
  auto signer = Es256Signer::Generate();
  ASSERT_THAT(signer, IsOk());
  EXPECT_THAT(Es256Signer::FromPkcs8Der(""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a valid unencrypted PKCS#8")));
  EXPECT_THAT(Es256Signer::FromPkcs8Der(signer->Pkcs8Der() + "x"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a valid unencrypted PKCS#8")));
  EXPECT_THAT(Es256Signer::FromPkcs8Der(signer->Pkcs8Der().substr(1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a valid unencrypted PKCS#8")));
  // An Ed25519 PKCS#8 key (RFC 8410 §10.3) and a P-384 one are keys, but not P-256 keys.
  const std::string ed25519 = *crypto::HexDecode(
      "302e020100300506032b657004220420d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44"
      "755842");
  EXPECT_THAT(Es256Signer::FromPkcs8Der(ed25519),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an EC P-256 key")));
  // A throwaway P-384 key made with Python cryptography for this test.
  const std::string p384 = *crypto::Base64Decode(
      "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDnnmf5AVsitBBuHYF/2FNuPbh9Z5SHVEfoHKSv2K"
      "4XmuLtM4LRlyFX0FaEeRC+gOChZANiAAQfBgQpp0oiN/e7uBriIKaHx7+PGAnRJzWNj03nbbB7503PzkXw/4QA"
      "wT3gj7G7VzHl2p0Ld/0R2RQ5XgpQ4v7MFHDJ8lV7WCibggIRthw0W9UuNX/Upd/o+u9I58Yfv4Q=");
  EXPECT_THAT(Es256Signer::FromPkcs8Der(p384),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an EC P-256 key")));
}

// Concurrent SignJwt on shared signers: each thread alternates between two keys, which also
// exercises the per-thread signing context switching keys.
TEST(Es256SignerTest, ConcurrentSigningWithTwoKeys) {
  auto a = Es256Signer::Generate();
  auto b = Es256Signer::Generate();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  auto keys = JwkSet::FromJwks({a->PublicJwkJson(), b->PublicJwkJson()});
  ASSERT_THAT(keys, IsOk());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  std::vector<std::vector<std::string>> tokens(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const Es256Signer& s = (i % 3 == 0) ? *a : *b;
        auto token = s.SignJwt(R"({"i":)" + std::to_string(i) + "}");
        tokens[t].push_back(token.ok() ? *token : std::string(token.status().message()));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(tokens[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      auto verified = VerifyJws(tokens[t][i], *keys, kEs256);
      ASSERT_THAT(verified, IsOk()) << tokens[t][i];
      EXPECT_EQ(verified->kid, (i % 3 == 0) ? a->kid() : b->kid());
    }
  }
}

}  // namespace
}  // namespace ts::jose
