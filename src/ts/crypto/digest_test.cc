#include "ts/crypto/digest.h"

#include <gtest/gtest.h>

#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"

namespace ts::crypto {
namespace {

TEST(DigestTest, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 4231 test case 2.
TEST(DigestTest, HmacSha256Rfc4231) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(DigestTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(RandomTest, UuidShapeAndUniqueness) {
  std::string a = RandomUuid();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(a, RandomUuid());
  EXPECT_EQ(RandomToken(32).size(), 43u);
}

}  // namespace
}  // namespace ts::crypto
