#include "ts/crypto/digest.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <set>
#include <thread>
#include <vector>

#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"

namespace ts::crypto {
namespace {

TEST(DigestTest, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, Sha256OfNothingAndOfSeveralBlocks) {
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // FIPS 180-2 appendix B.2: 448 bits, two blocks once padded.
  EXPECT_EQ(HexEncode(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// HMAC is built by hand on the digest (digest.cc says why), so it is held to every RFC 4231
// HMAC-SHA-256 vector that is not truncated: keys shorter than, equal to and longer than a block.
TEST(DigestTest, HmacSha256Rfc4231) {
  struct Case {
    std::string key, data;
    const char* mac;
  };
  const std::vector<Case> cases = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},  // case 1
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},  // case 2
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},  // case 3
      {Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},  // case 4
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},  // case 6
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},  // case 7
  };
  for (const Case& c : cases) EXPECT_EQ(HexEncode(HmacSha256(c.key, c.data)), c.mac) << c.mac;
}

// Against OpenSSL's own one-shot functions at every key length around the block size and data
// lengths around the block boundaries.
TEST(DigestTest, MatchesOpenSslOneShotFunctions) {
  std::mt19937 rng(7);
  auto random_string = [&rng](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  for (size_t key_len = 0; key_len <= 130; ++key_len) {
    for (size_t data_len : std::vector<size_t>{0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000}) {
      const std::string key = random_string(key_len), data = random_string(data_len);
      unsigned char expected[32];
      unsigned int len = 0;
      ASSERT_NE(
          HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(data.data()), data.size(), expected, &len),
          nullptr);
      ASSERT_EQ(AsBytes(HmacSha256(key, data)), std::string(reinterpret_cast<char*>(expected), len))
          << "key " << key_len << " data " << data_len;
      unsigned int digest_len = 0;
      ASSERT_EQ(EVP_Digest(data.data(), data.size(), expected, &digest_len, EVP_sha256(), nullptr),
                1);
      ASSERT_EQ(AsBytes(Sha256(data)), std::string(reinterpret_cast<char*>(expected), digest_len));
    }
  }
}

// Each thread hashes on its own context: threads at once get the same answers as one alone.
TEST(DigestTest, ThreadsHashIndependently) {
  const std::string expected_mac = AsBytes(HmacSha256("key", "message"));
  const std::string expected_digest = AsBytes(Sha256("message"));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (AsBytes(HmacSha256("key", "message")) != expected_mac) ++mismatches[t];
        if (AsBytes(Sha256("message")) != expected_digest) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
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

// Many pool refills (32 UUIDs per pool) on four threads at once: every UUID is well formed
// (8-4-4-4-12 lower-case hex, version 4, variant 10), none repeats, and every random nibble
// position takes many values (a pool handing out the same or zeroed bytes would fail).
TEST(RandomTest, UuidsFromPooledBytesAreWellFormedDistinctAndVaried) {
  constexpr int kThreads = 4, kEach = 2500;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kEach; ++i) made[t].push_back(RandomUuid());
    });
  }
  for (std::thread& th : threads) th.join();
  std::set<std::string> seen;
  std::vector<std::set<char>> values_at(36);
  for (const auto& list : made) {
    for (const std::string& u : list) {
      ASSERT_EQ(u.size(), 36u) << u;
      for (size_t i = 0; i < u.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
          ASSERT_EQ(u[i], '-') << u;
        } else {
          ASSERT_TRUE((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f')) << u;
          values_at[i].insert(u[i]);
        }
      }
      ASSERT_EQ(u[14], '4') << u;
      ASSERT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
      seen.insert(u);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < values_at.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23 || i == 14) continue;
    EXPECT_EQ(values_at[i].size(), i == 19 ? 4u : 16u) << "position " << i;
  }
}

// RFC 9562 appendix A.6: 2022-02-22 19:22:22 UTC is 0x017F22E279B0 milliseconds.
TEST(RandomTest, TimeOrderedUuidCarriesItsMillisecondsAndSortsByThem) {
  const std::string u = TimeOrderedUuid(1645557742000);
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u.substr(0, 15), "017f22e2-79b0-7");
  EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;  // variant 10
  EXPECT_NE(u, TimeOrderedUuid(1645557742000));  // same millisecond, different random bits
  std::string previous = TimeOrderedUuid(0);
  EXPECT_EQ(previous.substr(0, 15), "00000000-0000-7");
  EXPECT_EQ(TimeOrderedUuid(-5).substr(0, 15), "00000000-0000-7");  // before 1970: clamped
  for (int64_t millis :
       std::vector<int64_t>{1, 255, 256, 65536, 1645557742000, 1645557742001, 281474976710655}) {
    const std::string next = TimeOrderedUuid(millis);
    EXPECT_LT(previous, next) << millis;
    previous = next;
  }
}

}  // namespace
}  // namespace ts::crypto
