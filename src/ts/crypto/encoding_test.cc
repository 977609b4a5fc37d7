#include "ts/crypto/encoding.h"

#include <gtest/gtest.h>

namespace ts::crypto {
namespace {

TEST(HexTest, RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(HexEncode(std::string_view("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(*HexDecode("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

// RFC 4648 §10 test vectors, in the url-safe unpadded form.
TEST(Base64UrlTest, Rfc4648Vectors) {
  EXPECT_EQ(Base64UrlEncode(std::string_view("")), "");
  EXPECT_EQ(Base64UrlEncode(std::string_view("f")), "Zg");
  EXPECT_EQ(Base64UrlEncode(std::string_view("fo")), "Zm8");
  EXPECT_EQ(Base64UrlEncode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(Base64UrlEncode(std::string_view("foob")), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode(std::string_view("fooba")), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode(std::string_view("foobar")), "Zm9vYmFy");
  EXPECT_EQ(*Base64UrlDecode("Zm9vYmE"), "fooba");
  EXPECT_EQ(Base64UrlEncode(std::string_view("\xfb\xff", 2)), "-_8");
}

TEST(Base64UrlTest, RejectsPaddingForeignCharactersAndNonCanonicalBits) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v+").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());  // "Zg" with a stray low bit set
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());
}

TEST(Base64UrlTest, AppendKeepsWhatIsThere) {
  std::string out = "header.";
  AppendBase64Url(std::string_view("foob"), out);
  EXPECT_EQ(out, "header.Zm9vYg");
  AppendBase64Url(std::string_view(""), out);
  EXPECT_EQ(out, "header.Zm9vYg");
}

TEST(Base64Test, StandardAlphabetWithPadding) {
  EXPECT_EQ(Base64Encode(std::string_view("")), "");
  EXPECT_EQ(Base64Encode(std::string_view("f")), "Zg==");
  EXPECT_EQ(Base64Encode(std::string_view("fo")), "Zm8=");
  EXPECT_EQ(Base64Encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(Base64Encode(std::string_view("foob")), "Zm9vYg==");
  EXPECT_EQ(Base64Encode(std::string_view("\xfb\xff", 2)), "+/8=");
  EXPECT_EQ(*Base64Decode("Zm8="), "fo");
  EXPECT_FALSE(Base64Decode("Zm8").has_value());
}

}  // namespace
}  // namespace ts::crypto
