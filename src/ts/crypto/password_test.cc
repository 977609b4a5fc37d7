#include "ts/crypto/password.h"

#include <argon2.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/resource.h>

#include <fstream>
#include <string>
#include <thread>

#include "test/common/sanitized_allocator.h"
#include "test/common/status_matchers.h"

namespace ts::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

using ::ts::testing::kSanitizedAllocator;

constexpr char kFixedSalt[] = "0123456789abcdef";  // 16 bytes

// Made with libargon2's high-level argon2id_hash_encoded (malloc'd work area, its own encoder),
// as the code before the mapped work area hashed: the same password and salt must give the same
// string, byte for byte.
constexpr char kKnownAnswer[] =
    "$argon2id$v=19$m=19456,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"
    "gy5SuVm5Z7Vw7keB9se9p87QGcomaseB/S2U1OhTsM0";

// Anonymous resident memory of this process, in bytes (the heap's and the mappings').
int64_t AnonymousResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8)) * 1024;
  }
  return -1;
}

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

TEST(PasswordTest, HashIsTheStringLibargon2sEncoderMakes) {
  auto hash = HashPasswordWithSaltForTest("correct horse battery staple", kFixedSalt);
  ASSERT_THAT(hash, IsOk());
  EXPECT_EQ(*hash, kKnownAnswer);
  // And against libargon2's high-level API live, for a few passwords (an empty one included).
  for (const std::string password : {"", "s3cret", "p\xc3\xa4ssw\xc3\xb6rd with spaces"}) {
    std::string expected(128, '\0');
    ASSERT_EQ(argon2id_hash_encoded(kArgon2Iterations, kArgon2MemoryKib, kArgon2Parallelism,
                                    password.data(), password.size(), kFixedSalt, kArgon2SaltSize,
                                    kArgon2HashSize, expected.data(), expected.size()),
              ARGON2_OK);
    expected.resize(expected.find('\0'));
    auto ours = HashPasswordWithSaltForTest(password, kFixedSalt);
    ASSERT_THAT(ours, IsOk());
    EXPECT_EQ(*ours, expected) << password;
  }
}

TEST(PasswordTest, VerifiesHashesMadeByLibargon2WithOtherParameters) {
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", kKnownAnswer));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapler", kKnownAnswer));
  // t=3, p=2 (two lanes, two threads) and a 24-byte hash, made by argon2id_hash_encoded.
  constexpr char kOtherParameters[] =
      "$argon2id$v=19$m=4096,t=3,p=2$MDEyMzQ1Njc4OWFiY2RlZg$ohqe+W56tvf/+utMIQRoA2ZnWos31Vb1";
  EXPECT_TRUE(VerifyPassword("s3cret", kOtherParameters));
  EXPECT_FALSE(VerifyPassword("s3creT", kOtherParameters));
}

TEST(PasswordTest, MalformedSaltOrHashIsRejected) {
  const std::string prefix = "$argon2id$v=19$m=19456,t=2,p=1$";
  const std::string salt = "MDEyMzQ1Njc4OWFiY2RlZg";
  const std::string hash = "gy5SuVm5Z7Vw7keB9se9p87QGcomaseB/S2U1OhTsM0";
  ASSERT_EQ(prefix + salt + "$" + hash, kKnownAnswer);
  const std::string pw = "correct horse battery staple";
  for (const std::string& bad : {
           prefix + salt + "$" + hash + "$",                                     // a field too many
           prefix + salt + "$" + hash + "=",                                     // padding
           prefix + salt + "$" + "gy5SuVm5Z7Vw7keB9se9p87QGcomaseB_S2U1OhTsM0",  // url-safe
           prefix + salt + "$" + "gy5SuVm5Z7Vw7keB9se9p87QGcomaseB/S2U1OhTsM1",  // trailing bits
           prefix + salt + hash,                                                 // no separator
           prefix + "MDEyMzQ1Ng" + "$" + hash,        // a 7-byte salt (argon2 wants 8)
           prefix + salt + "$" + "Z3k",               // a 2-byte hash (argon2 wants 4)
           prefix + "$" + hash,                       // no salt
           prefix + salt + "$",                       // no hash
           prefix + salt + "$" + hash.substr(0, 41),  // a length of 1 mod 4
       }) {
    EXPECT_FALSE(VerifyPassword(pw, bad)) << bad;
  }
}

// The work area is unmapped after each hash and verification. From malloc, the first freed one
// raised glibc's mmap threshold and the next ones stayed at the top of the thread's arena, which
// malloc_trim does not shrink: 19 MiB stayed resident (docs/design/memory.md).
TEST(PasswordTest, WorkAreaGoesBackToTheKernelOnAWorkerThread) {
  if (kSanitizedAllocator) GTEST_SKIP() << "ASan's allocator replaces glibc's arenas";
  const int64_t before = AnonymousResidentBytes();
  ASSERT_GT(before, 0);
  std::thread worker([] {
    for (int i = 0; i < 3; ++i) {
      auto hash = HashPassword("pw");
      ASSERT_THAT(hash, IsOk());
      EXPECT_TRUE(VerifyPassword("pw", *hash));
    }
  });
  worker.join();
  malloc_trim(0);  // what the server's memory thread does; returns small leftovers too
  const int64_t after = AnonymousResidentBytes();
  EXPECT_LT(after - before, 4 << 20) << before << " -> " << after << " bytes";
}

// The work area's allocation failing is a modeled error, not a crash: with the address space
// limited to what the process has plus 8 MiB, a 19 MiB mapping cannot be made.
TEST(PasswordTest, WorkAreaAllocationFailureIsAnErrorNotACrash) {
  if (kSanitizedAllocator) GTEST_SKIP() << "ASan reserves terabytes of address space";
  auto hash = HashPassword("pw");  // made before the limit
  ASSERT_THAT(hash, IsOk());
  int64_t mapped_kib = 0;
  {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmSize:", 0) == 0) mapped_kib = std::stoll(line.substr(7));
    }
  }
  ASSERT_GT(mapped_kib, 0);
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &original), 0);
  rlimit limited = original;
  limited.rlim_cur = static_cast<rlim_t>(mapped_kib * 1024 + (8 << 20));
  ASSERT_EQ(setrlimit(RLIMIT_AS, &limited), 0);
  auto failed = HashPassword("pw");
  const bool verified = VerifyPassword("pw", *hash);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &original), 0);
  EXPECT_THAT(failed, StatusIs(StatusCode::kInternal, HasSubstr("argon2id hashing failed")));
  EXPECT_FALSE(verified);
  // Control: with the limit lifted, the same calls succeed.
  EXPECT_THAT(HashPassword("pw"), IsOk());
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
