#include "ts/crypto/aead.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/crypto/encoding.h"

namespace ts::crypto {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

const std::string kKey(32, 'k');

TEST(AeadTest, SealOpenRoundTrip) {
  auto sealed = Seal(kKey, "client secret", "iam:client/123");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), kAeadOverhead + 13);
  EXPECT_EQ((*sealed)[0], kAeadVersion);
  EXPECT_THAT(Open(kKey, *sealed, "iam:client/123"), IsOkAndHolds(std::string("client secret")));
}

TEST(AeadTest, EmptyPlaintextAndAad) {
  auto sealed = Seal(kKey, "", "");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), kAeadOverhead);
  EXPECT_THAT(Open(kKey, *sealed, ""), IsOkAndHolds(std::string()));
}

TEST(AeadTest, NonceIsFreshPerSeal) {
  auto a = Seal(kKey, "same", "aad");
  auto b = Seal(kKey, "same", "aad");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(a->substr(1, kAeadNonceSize), b->substr(1, kAeadNonceSize));
  EXPECT_NE(*a, *b);
}

// Nonces come from a per-thread pool (random.cc): across many refills on two threads at once,
// none repeats, and every sealed value still opens.
TEST(AeadTest, NoncesNeverRepeatAcrossPoolRefillsAndThreads) {
  std::vector<std::string> nonces[2];
  std::vector<std::thread> threads;
  for (auto& mine : nonces) {
    threads.emplace_back([&mine] {
      for (int i = 0; i < 1000; ++i) {
        auto sealed = Seal(kKey, "same", "aad");
        if (!sealed.ok() || !Open(kKey, *sealed, "aad").ok()) return;
        mine.push_back(sealed->substr(1, kAeadNonceSize));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> distinct;
  for (const auto& mine : nonces) {
    EXPECT_EQ(mine.size(), 1000u);
    distinct.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(distinct.size(), 2000u);
}

// Flipping one bit anywhere after the version byte (nonce, ciphertext or tag) must fail
// authentication; the version byte itself fails the version check.
TEST(AeadTest, EveryTamperedByteIsDetected) {
  auto sealed = Seal(kKey, "refresh-token-family-42", "aad");
  ASSERT_THAT(sealed, IsOk());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string t = *sealed;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    if (i == 0) {
      EXPECT_THAT(Open(kKey, t, "aad"),
                  StatusIs(StatusCode::kInvalidArgument, HasSubstr("unknown version byte")));
    } else {
      EXPECT_THAT(Open(kKey, t, "aad"),
                  StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")))
          << "byte " << i;
    }
  }
}

TEST(AeadTest, WrongAadIsDetected) {
  auto sealed = Seal(kKey, "secret", "aad-1");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(Open(kKey, *sealed, "aad-2"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
  EXPECT_THAT(Open(kKey, *sealed, ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
}

TEST(AeadTest, WrongKeyIsDetected) {
  auto sealed = Seal(kKey, "secret", "aad");
  ASSERT_THAT(sealed, IsOk());
  std::string other = kKey;
  other[31] = 'x';
  EXPECT_THAT(Open(other, *sealed, "aad"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
}

TEST(AeadTest, RejectsBadSizes) {
  EXPECT_THAT(Seal(std::string(16, 'k'), "x", ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be 32 bytes")));
  EXPECT_THAT(Open(std::string(33, 'k'), std::string(40, '\x01'), ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be 32 bytes")));
  EXPECT_THAT(Open(kKey, std::string(kAeadOverhead - 1, '\x01'), ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too short")));
  auto sealed = Seal(kKey, "secret", "");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(Open(kKey, sealed->substr(0, sealed->size() - 1), ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
}

// RFC 5869 Appendix A.1 (test case 1).
TEST(HkdfTest, Rfc5869TestCase1) {
  const std::string ikm(22, '\x0b');
  const std::string salt = *HexDecode("000102030405060708090a0b0c");
  const std::string info = *HexDecode("f0f1f2f3f4f5f6f7f8f9");
  EXPECT_EQ(HexEncode(HkdfSha256(ikm, salt, info, 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

// RFC 5869 Appendix A.3 (test case 3): zero-length salt and info.
TEST(HkdfTest, Rfc5869TestCase3EmptySaltAndInfo) {
  EXPECT_EQ(HexEncode(HkdfSha256(std::string(22, '\x0b'), "", "", 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfTest, DeriveKeyIsPerPurpose) {
  const std::string master(32, 'm');
  const std::string signing = DeriveKey(master, "signing-keys");
  EXPECT_EQ(signing.size(), kAeadKeySize);
  EXPECT_EQ(signing, DeriveKey(master, "signing-keys"));
  EXPECT_NE(signing, DeriveKey(master, "iam-secrets"));
  EXPECT_NE(DeriveKey(master, "identity-context"), DeriveKey(master, "refresh-rotation"));
  EXPECT_NE(signing, DeriveKey(std::string(32, 'n'), "signing-keys"));
  // Value from Python cryptography's HKDF(SHA256, length=32, salt=None, info=b"signing-keys").
  EXPECT_EQ(HexEncode(signing), "0fcedceb0660e42a26d4943a897f108934e162befa1c3259e85e781c7bbb31ad");
  // A key derived for one purpose does not open what another purpose's key sealed.
  auto sealed = Seal(signing, "pkcs8", "");
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(Open(DeriveKey(master, "iam-secrets"), *sealed, ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("failed authentication")));
}

}  // namespace
}  // namespace ts::crypto
