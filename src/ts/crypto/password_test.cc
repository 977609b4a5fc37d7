#include "ts/crypto/password.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test/common/status_matchers.h"

namespace ts::crypto {
namespace {

using ::testing::StartsWith;
using ::ts::testing::IsOk;

TEST(PasswordTest, HashHasStandardEncodingAndOwaspParameters) {
  auto hash = HashPassword("correct horse battery staple");
  ASSERT_THAT(hash, IsOk());
  EXPECT_THAT(*hash, StartsWith("$argon2id$v=19$m=19456,t=2,p=1$"));
  // 16-byte salt and 32-byte hash, unpadded base64: 22 and 43 characters.
  const size_t salt_start = std::string("$argon2id$v=19$m=19456,t=2,p=1$").size();
  const size_t dollar = hash->find('$', salt_start);
  ASSERT_NE(dollar, std::string::npos);
  EXPECT_EQ(dollar - salt_start, 22u);
  EXPECT_EQ(hash->size() - dollar - 1, 43u);
}

TEST(PasswordTest, VerifyAcceptsRightAndRejectsWrongPassword) {
  auto hash = HashPassword("s3cret");
  ASSERT_THAT(hash, IsOk());
  EXPECT_TRUE(VerifyPassword("s3cret", *hash));
  EXPECT_FALSE(VerifyPassword("s3cret ", *hash));
  EXPECT_FALSE(VerifyPassword("S3cret", *hash));
  EXPECT_FALSE(VerifyPassword("", *hash));
}

TEST(PasswordTest, SaltIsRandom) {
  auto a = HashPassword("same");
  auto b = HashPassword("same");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyPassword("same", *b));
}

TEST(PasswordTest, MalformedEncodingsAreRejected) {
  auto hash = HashPassword("pw");
  ASSERT_THAT(hash, IsOk());
  std::string wrong_type = *hash;
  wrong_type.replace(0, 9, "$argon2i");  // "$argon2id" -> "$argon2i"
  std::string truncated = hash->substr(0, hash->size() - 5);
  std::string huge_memory =
      "$argon2id$v=19$m=4194304,t=2,p=1" + hash->substr(hash->rfind("$", hash->rfind('$') - 1));
  std::string old_version = *hash;
  old_version.replace(old_version.find("v=19"), 4, "v=16");
  for (const std::string& bad : {std::string(), std::string("plain"), std::string("$argon2id$"),
                                 wrong_type, truncated, huge_memory, old_version}) {
    EXPECT_FALSE(VerifyPassword("pw", bad)) << bad;
  }
  // Control: the untouched hash with the in-range memory parameter does verify.
  EXPECT_TRUE(VerifyPassword("pw", *hash));
}

TEST(PasswordTest, DummyVerifyRuns) {
  // DummyVerify has no result; this checks its embedded hash is a well-formed argon2id hash
  // with the default parameters, which is what makes it cost as much as a real verification.
  DummyVerify();
  EXPECT_THAT(std::string(DummyHashForTest()), StartsWith("$argon2id$v=19$m=19456,t=2,p=1$"));
  EXPECT_TRUE(VerifyPassword("tessera-dummy-password", DummyHashForTest()));
}

}  // namespace
}  // namespace ts::crypto
