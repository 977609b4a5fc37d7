#include "ts/tokens/token_minter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/jwk.h"
#include "ts/jose/signer.h"
#include "ts/jose/verifier.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"

namespace ts::tokens {
namespace {

using ::testing::HasSubstr;
using ::testing::NotNull;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kAppArn[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1";

storage::Instance TestInstance() {
  storage::Instance i;
  i.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
  i.instance_id = "ssoins-111111111111";
  i.identity_store_id = "d-3333333333";
  i.owner_account_id = "111111111111";
  i.region = "us-east-1";
  return i;
}

class TokenMinterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-token-minter");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    auto ring = KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_unique<TokenMinter>(ring_, TestInstance(), kIssuer, std::string(32, 'i'),
                                            std::string(32, 'r'));
  }
  void TearDown() override {
    minter_.reset();
    ring_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  TokenSubject Subject() const {
    TokenSubject s;
    s.user_id = "730448f2-e0a1-70a7-c954-000000000000";
    s.application_arn = kAppArn;
    s.scopes = {"openid", "aws", "sts:identity_context"};
    s.family_id = "fam-1";
    s.auth_time = 1579697129;  // 2020-01-22T12:45:29Z
    return s;
  }

  // Verifies `token` against the ring's published JWKS; returns {header, payload}.
  std::pair<json::object, json::object> Verify(const std::string& token) {
    auto set = jose::JwkSet::Parse(ring_->JwksJson());
    EXPECT_THAT(set, IsOk());
    if (!set.ok()) return {};
    auto verified = jose::VerifyJws(token, *set, {"ES256"});
    EXPECT_THAT(verified, IsOk());
    if (!verified.ok()) return {};
    EXPECT_EQ(verified->alg, "ES256");
    EXPECT_EQ(verified->kid, ring_->Active()->kid());
    return {json::parse(verified->header_json).as_object(),
            json::parse(verified->payload_json).as_object()};
  }

  static std::set<std::string> Keys(const json::object& o) {
    std::set<std::string> keys;
    for (const auto& kv : o) keys.emplace(kv.key());
    return keys;
  }

  fs::path dir_;
  storage::StorePtr store_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<KeyRing> ring_;
  std::unique_ptr<TokenMinter> minter_;
};

TEST_F(TokenMinterTest, AccessTokenVerifiesWithTheJwksAndCarriesRfc9068Claims) {
  auto token = minter_->AccessToken(Subject(), "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  EXPECT_LT(token->size(), 1024u);
  auto [header, payload] = Verify(*token);
  EXPECT_EQ(header["typ"], "at+jwt");
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_THAT(Keys(payload), UnorderedElementsAre("iss", "sub", "aud", "client_id", "scope", "iat",
                                                  "exp", "jti", "tsr:fid"));
  EXPECT_EQ(payload["iss"], kIssuer);
  EXPECT_EQ(payload["sub"], "730448f2-e0a1-70a7-c954-000000000000");
  EXPECT_EQ(payload["aud"], kAppArn);
  EXPECT_EQ(payload["client_id"], kAppArn);
  EXPECT_EQ(payload["scope"], "openid aws sts:identity_context");
  EXPECT_EQ(payload["iat"], kNow);
  EXPECT_EQ(payload["exp"], kNow + 3600);
  EXPECT_EQ(payload["jti"], "jti-1");
  EXPECT_EQ(payload["tsr:fid"], "fam-1");
}

TEST_F(TokenMinterTest, AccessTokenIsSignedByTheRotatedKey) {
  auto kid = ring_->Rotate(3600);
  ASSERT_THAT(kid, IsOk());
  auto token = minter_->AccessToken(Subject(), "jti-2", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  auto set = jose::JwkSet::Parse(ring_->JwksJson());
  ASSERT_THAT(set, IsOk());
  auto verified = jose::VerifyJws(*token, *set, {"ES256"});
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->kid, *kid);
}

TEST_F(TokenMinterTest, IdTokenHasTheProtocolClaims) {
  const std::string context = minter_->IdentityContext(
      {Subject().user_id, TestInstance().instance_arn, kAppArn, kNow, kNow + 3600});
  auto token = minter_->IdToken(Subject(), "cred-1", context, kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  auto [header, payload] = Verify(*token);
  EXPECT_EQ(header["typ"], "JWT");
  EXPECT_THAT(
      Keys(payload),
      UnorderedElementsAre("iss", "sub", "aud", "aws:identity_store_id", "aws:identity_store_arn",
                           "aws:instance_account", "aws:instance_arn", "aws:credential_id",
                           "sts:identity_context", "auth_time", "iat", "exp"));
  EXPECT_EQ(payload["iss"], kIssuer);
  EXPECT_EQ(payload["sub"], "730448f2-e0a1-70a7-c954-000000000000");
  EXPECT_EQ(payload["aud"], kAppArn);
  EXPECT_EQ(payload["aws:identity_store_id"], "d-3333333333");
  EXPECT_EQ(payload["aws:identity_store_arn"],
            "arn:aws:identitystore::111111111111:identitystore/d-3333333333");
  EXPECT_EQ(payload["aws:instance_account"], "111111111111");
  EXPECT_EQ(payload["aws:instance_arn"], "arn:aws:sso:::instance/ssoins-111111111111");
  EXPECT_EQ(payload["aws:credential_id"], "cred-1");
  EXPECT_EQ(payload["sts:identity_context"], json::value(context));
  // docs/protocol.md §5.6: auth_time is an ISO-8601 string, not a number.
  EXPECT_EQ(payload["auth_time"], "2020-01-22T12:45:29Z");
  EXPECT_EQ(payload["iat"], kNow);
  EXPECT_EQ(payload["exp"], kNow + 3600);
}

TEST_F(TokenMinterTest, IdTokenOmitsIdentityContextWhenEmptyAndAddsActForAnActor) {
  TokenSubject subject = Subject();
  auto plain = minter_->IdToken(subject, "cred-1", "", kNow, kNow + 3600);
  ASSERT_THAT(plain, IsOk());
  auto [plain_header, plain_payload] = Verify(*plain);
  EXPECT_FALSE(plain_payload.contains("sts:identity_context"));
  EXPECT_FALSE(plain_payload.contains("act"));

  subject.actor = "arn:aws:sso::123456789012:trustedTokenIssuer/ssoins-111111111111/tti-1";
  auto acted = minter_->IdToken(subject, "cred-1", "", kNow, kNow + 3600);
  ASSERT_THAT(acted, IsOk());
  auto [header, payload] = Verify(*acted);
  ASSERT_TRUE(payload.contains("act"));
  ASSERT_TRUE(payload["act"].is_object());
  EXPECT_EQ(payload["act"].as_object()["sub"], json::value(subject.actor));
}

TEST_F(TokenMinterTest, IdTokenEchoesTheNonceOnlyWhenThereIsOne) {
  TokenSubject subject = Subject();
  auto plain = minter_->IdToken(subject, "cred-1", "", kNow, kNow + 3600);
  ASSERT_THAT(plain, IsOk());
  EXPECT_FALSE(Verify(*plain).second.contains("nonce"));

  // OIDC Core §3.1.2.1: the value of the authorization request, unmodified (escaped as JSON).
  subject.nonce = "n-0S6_WzA2Mj \"quoted\" \\ ü";
  auto with = minter_->IdToken(subject, "cred-1", "", kNow, kNow + 3600);
  ASSERT_THAT(with, IsOk());
  auto [header, payload] = Verify(*with);
  EXPECT_EQ(payload["nonce"], json::value(subject.nonce));
  // The access token never carries it.
  auto access = minter_->AccessToken(subject, "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(access, IsOk());
  EXPECT_FALSE(Verify(*access).second.contains("nonce"));
}

TEST_F(TokenMinterTest, IdentityContextRoundTrips) {
  IdentityContextClaims in{"user-1", TestInstance().instance_arn, kAppArn, kNow, kNow + 3600};
  const std::string context = minter_->IdentityContext(in);
  EXPECT_TRUE(crypto::Base64UrlDecode(context).has_value());
  // Encrypted: the user id does not show through.
  EXPECT_EQ(context.find("user-1"), std::string::npos);
  EXPECT_LE(context.size(), 2048u);  // STS ContextAssertion limit (docs/protocol.md §5.7)
  auto out = minter_->ReadIdentityContext(context);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->user_id, "user-1");
  EXPECT_EQ(out->instance_arn, TestInstance().instance_arn);
  EXPECT_EQ(out->application_arn, kAppArn);
  EXPECT_EQ(out->issued_at, kNow);
  EXPECT_EQ(out->expires_at, kNow + 3600);
}

TEST_F(TokenMinterTest, TamperedIdentityContextIsRefused) {
  std::string context =
      minter_->IdentityContext({"user-1", TestInstance().instance_arn, kAppArn, kNow, kNow + 1});
  std::string tampered = context;
  char& c = tampered[tampered.size() / 2];
  c = (c == 'A') ? 'B' : 'A';
  EXPECT_THAT(minter_->ReadIdentityContext(tampered),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
  EXPECT_THAT(minter_->ReadIdentityContext("not base64url!"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not base64url")));

  // Made by a server with another identity-context key.
  TokenMinter other(ring_, TestInstance(), kIssuer, std::string(32, 'I'), std::string(32, 'r'));
  EXPECT_THAT(other.ReadIdentityContext(context),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
}

TEST_F(TokenMinterTest, SuccessorRefreshTokenIsDeterministicPerParentStampAndKey) {
  const uint64_t stamp = 0x0001'8c2d'4f00'1234;
  const std::string parent = TokenMinter::NewRefreshToken(stamp - 1);
  const std::string successor = minter_->SuccessorRefreshToken(parent, stamp);
  EXPECT_EQ(minter_->SuccessorRefreshToken(parent, stamp), successor);
  EXPECT_THAT(successor, StartsWith("tsrt_"));
  EXPECT_EQ(successor.size(), 5u + 54u);  // stamp and 256 bits in base64url
  EXPECT_NE(successor, parent);
  EXPECT_NE(minter_->SuccessorRefreshToken(TokenMinter::NewRefreshToken(stamp - 1), stamp),
            successor);
  EXPECT_NE(minter_->SuccessorRefreshToken(parent, stamp + 1), successor);
  TokenMinter other_key(ring_, TestInstance(), kIssuer, std::string(32, 'i'), std::string(32, 'R'));
  EXPECT_NE(other_key.SuccessorRefreshToken(parent, stamp), successor);
  // The stamp is recovered from the successor's key, which is how a retry rebuilds it.
  EXPECT_EQ(TokenMinter::RefreshStampOfKey(TokenMinter::RefreshTokenKey(successor)), stamp);
  // Without a stamp: the format before stamps (HMAC only), still deterministic.
  const std::string unstamped = minter_->SuccessorRefreshToken(parent, std::nullopt);
  EXPECT_EQ(unstamped.size(), 5u + 43u);
  EXPECT_EQ(minter_->SuccessorRefreshToken(parent, std::nullopt), unstamped);
  EXPECT_EQ(TokenMinter::RefreshTokenKey(unstamped), TokenMinter::Hash(unstamped));
  EXPECT_EQ(TokenMinter::RefreshStampOfKey(TokenMinter::Hash(unstamped)), std::nullopt);
}

// The store's key of a stamped refresh token starts with the stamp in hex, so keys of tokens
// minted later sort after those minted earlier (new index entries go to the end of the index),
// and it ends with the hash of the whole token, so a changed stamp or secret is another key.
TEST_F(TokenMinterTest, RefreshTokenKeysSortByStampAndCoverTheWholeToken) {
  const std::string parent = TokenMinter::NewRefreshToken(1);
  const std::string early = minter_->SuccessorRefreshToken(parent, 0x0000'00ff'ffff'ffff);
  const std::string late = minter_->SuccessorRefreshToken(parent, 0x0000'0100'0000'0000);
  const std::string early_key = TokenMinter::RefreshTokenKey(early);
  const std::string late_key = TokenMinter::RefreshTokenKey(late);
  EXPECT_EQ(early_key.substr(0, 16), "000000ffffffffff");
  EXPECT_EQ(late_key.substr(0, 16), "0000010000000000");
  EXPECT_EQ(early_key.size(), 16u + 43u);
  EXPECT_LT(early_key, late_key);
  EXPECT_EQ(early_key.substr(16), crypto::Base64UrlEncode(crypto::Sha256(early)));

  // New tokens too: one minted a microsecond later has the greater key, whatever its secret.
  const std::string first = TokenMinter::RefreshTokenKey(TokenMinter::NewRefreshToken(0x00ff));
  const std::string second = TokenMinter::RefreshTokenKey(TokenMinter::NewRefreshToken(0x0100));
  EXPECT_EQ(TokenMinter::RefreshStampOfKey(first), 0x00ffu);
  EXPECT_LT(first, second);

  // Anything that is not a stamped token (unknown, damaged, another length) keys by Hash, and
  // such keys carry no stamp.
  for (const std::string& token :
       {std::string("tsrt_x"), std::string("tsrt_") + std::string(54, '!'),
        std::string("tsrt_") + std::string(58, 'A'), "tsac_" + early.substr(5), std::string()}) {
    EXPECT_EQ(TokenMinter::RefreshTokenKey(token), TokenMinter::Hash(token)) << token;
    EXPECT_EQ(TokenMinter::RefreshStampOfKey(TokenMinter::RefreshTokenKey(token)), std::nullopt);
  }
  // A key of the stamped length whose stamp is not hex.
  EXPECT_EQ(TokenMinter::RefreshStampOfKey("zz" + early_key.substr(2)), std::nullopt);
}

TEST_F(TokenMinterTest, NewSecretsHavePrefixesAndAreRandom) {
  const uint64_t stamp = 1645557742000000;
  const std::string refresh = TokenMinter::NewRefreshToken(stamp);
  EXPECT_THAT(refresh, StartsWith("tsrt_"));
  EXPECT_EQ(refresh.size(), 5u + 54u);  // a 64-bit stamp and 256 random bits in base64url
  EXPECT_NE(TokenMinter::NewRefreshToken(stamp), refresh);  // same stamp, another secret

  const std::string code = TokenMinter::NewAuthorizationCode();
  EXPECT_THAT(code, StartsWith("tsac_"));
  EXPECT_EQ(code.size(), 5u + 43u);
  EXPECT_NE(TokenMinter::NewAuthorizationCode(), code);

  const std::string session = TokenMinter::NewSessionId();
  EXPECT_EQ(session.size(), 43u);
  EXPECT_NE(TokenMinter::NewSessionId(), session);
}

TEST(TokenMinterStaticTest, HashIsHexSha256) {
  // FIPS 180-2 test vector for "abc".
  EXPECT_EQ(TokenMinter::Hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Iso8601Test, FormatsUtc) {
  EXPECT_EQ(Iso8601(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Iso8601(1579697129), "2020-01-22T12:45:29Z");
  EXPECT_EQ(Iso8601(951782400), "2000-02-29T00:00:00Z");  // leap day
}

// --- VerifyAccessToken ---

// Another node rotated (and its key already signs here, as with a misconfigured lead): the
// unknown kid makes this node re-read the keys once, and the token verifies.
TEST_F(TokenMinterTest, VerifyAccessTokenReloadsKeysForAnUnknownKid) {
  auto other_ring = KeyRing::Open(store_, std::string(32, 's'), clock_);
  ASSERT_THAT(other_ring, IsOk());
  TokenMinter other(*other_ring, TestInstance(), kIssuer, std::string(32, 'i'),
                    std::string(32, 'r'));
  clock_->Advance(std::chrono::seconds(5));
  auto kid = (*other_ring)->Rotate(3600);
  ASSERT_THAT(kid, IsOk());
  auto token = other.AccessToken(Subject(), "jti-9", kNow + 5, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  auto claims = minter_->VerifyAccessToken(*token, kNow + 10);
  ASSERT_THAT(claims, IsOk());
  EXPECT_EQ(claims->token_id, "jti-9");
  // A kid nobody published still fails, naming the signature.
  auto forged = (*other_ring)->Rotate(3600);
  ASSERT_THAT(forged, IsOk());
  ASSERT_THAT(store_->UpdateSigningKeys([&](const std::vector<storage::SigningKey>& keys)
                                            -> StatusOr<std::vector<storage::SigningKey>> {
    std::vector<storage::SigningKey> changed;
    for (storage::SigningKey k : keys) {
      if (k.kid != *forged) continue;
      k.delete_after = kNow;  // unpublished
      changed.push_back(k);
    }
    return changed;
  }),
              IsOk());
  auto unpublished = other.AccessToken(Subject(), "jti-10", kNow + 5, kNow + 3600);
  ASSERT_THAT(unpublished, IsOk());
  clock_->Advance(std::chrono::seconds(2));
  EXPECT_THAT(minter_->VerifyAccessToken(*unpublished, kNow + 10),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("access token signature")));
}

TEST_F(TokenMinterTest, VerifyAccessTokenReturnsItsClaimsIncludingAct) {
  TokenSubject subject = Subject();
  subject.act_json =
      R"({"sub":"arn:aws:sso::1:application/b","act":{"sub":"arn:aws:sso::1:application/a"}})";
  auto token = minter_->AccessToken(subject, "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  auto claims = minter_->VerifyAccessToken(*token, kNow + 10);
  ASSERT_THAT(claims, IsOk());
  EXPECT_EQ(claims->issuer, kIssuer);
  EXPECT_EQ(claims->user_id, subject.user_id);
  EXPECT_EQ(claims->audience, kAppArn);
  EXPECT_EQ(claims->client_id, kAppArn);
  EXPECT_EQ(claims->scopes, subject.scopes);
  EXPECT_EQ(claims->issued_at, kNow);
  EXPECT_EQ(claims->expires_at, kNow + 3600);
  EXPECT_EQ(claims->token_id, "jti-1");
  EXPECT_EQ(claims->family_id, "fam-1");
  EXPECT_EQ(json::parse(claims->act_json), json::parse(subject.act_json));
}

TEST_F(TokenMinterTest, VerifyAccessTokenWithoutActHasEmptyAct) {
  auto token = minter_->AccessToken(Subject(), "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  auto claims = minter_->VerifyAccessToken(*token, kNow);
  ASSERT_THAT(claims, IsOk());
  EXPECT_EQ(claims->act_json, "");
}

TEST_F(TokenMinterTest, VerifyAccessTokenRefusesExpiry) {
  auto token = minter_->AccessToken(Subject(), "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(minter_->VerifyAccessToken(*token, kNow + 3600),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("access token has expired")));
}

TEST_F(TokenMinterTest, VerifyAccessTokenRefusesAnIdToken) {
  auto token = minter_->IdToken(Subject(), "fam-1", "", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(minter_->VerifyAccessToken(*token, kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an access token")));
}

TEST_F(TokenMinterTest, VerifyAccessTokenRefusesATamperedPayload) {
  auto token = minter_->AccessToken(Subject(), "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  const size_t dot1 = token->find('.');
  const size_t dot2 = token->find('.', dot1 + 1);
  std::string payload =
      *crypto::Base64UrlDecode(std::string_view(*token).substr(dot1 + 1, dot2 - dot1 - 1));
  const size_t at = payload.find("730448f2");
  payload.replace(at, 8, "deadbeef");
  const std::string forged =
      token->substr(0, dot1 + 1) + crypto::Base64UrlEncode(payload) + token->substr(dot2);
  EXPECT_THAT(minter_->VerifyAccessToken(forged, kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("access token signature")));
}

TEST_F(TokenMinterTest, VerifyAccessTokenRefusesAnotherIssuerAndGarbage) {
  TokenMinter other(ring_, TestInstance(), "https://elsewhere.example/ssoins-1",
                    std::string(32, 'i'), std::string(32, 'r'));
  auto token = other.AccessToken(Subject(), "jti-1", kNow, kNow + 3600);
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(minter_->VerifyAccessToken(*token, kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("access token issuer")));
  EXPECT_THAT(minter_->VerifyAccessToken("tsrt_abc", kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed access token")));
}

TEST_F(TokenMinterTest, VerifyAccessTokenRefusesAKeyNotInTheRing) {
  auto signer = jose::Es256Signer::Generate();
  ASSERT_THAT(signer, IsOk());
  auto token = signer->SignJwt(R"({"iss":"x"})", "at+jwt");
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(minter_->VerifyAccessToken(*token, kNow),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("access token signature")));
}

}  // namespace
}  // namespace ts::tokens
