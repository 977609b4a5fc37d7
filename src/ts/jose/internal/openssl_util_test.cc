#include "ts/jose/internal/openssl_util.h"

#include <gtest/gtest.h>

#include "ts/crypto/encoding.h"

namespace ts::jose::internal {
namespace {

std::string Hex(std::string_view h) { return *crypto::HexDecode(h); }

TEST(EcdsaConversionTest, RawToDerToRaw) {
  // r has its top bit set (DER adds a 0x00 byte); s has leading zero bytes (DER drops them).
  const std::string r = Hex("80" + std::string(62, '1'));
  const std::string s = Hex("0000" + std::string(60, '2'));
  auto der = EcdsaRawToDer(r + s);
  ASSERT_TRUE(der.has_value());
  EXPECT_EQ(crypto::HexEncode(der->substr(0, 6)), "304302210080");  // SEQ, INTEGER 33 bytes
  auto raw = EcdsaDerToRaw(*der, 32);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, r + s);
}

TEST(EcdsaConversionTest, RejectsBadInput) {
  EXPECT_FALSE(EcdsaRawToDer("").has_value());
  EXPECT_FALSE(EcdsaRawToDer("abc").has_value());
  auto der = EcdsaRawToDer(std::string(64, '\x7f'));
  ASSERT_TRUE(der.has_value());
  EXPECT_FALSE(EcdsaDerToRaw(*der + "x", 32).has_value());                       // trailing bytes
  EXPECT_FALSE(EcdsaDerToRaw(der->substr(0, der->size() - 1), 32).has_value());  // truncated
  EXPECT_FALSE(EcdsaDerToRaw(*der, 16).has_value());                             // r does not fit
  EXPECT_TRUE(EcdsaDerToRaw(*der, 66).has_value());  // left-padded for P-521
}

}  // namespace
}  // namespace ts::jose::internal
