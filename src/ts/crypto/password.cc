#include "ts/crypto/password.h"

#include <argon2.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>

#include "ts/crypto/random.h"

namespace ts::crypto {
namespace {

constexpr uint32_t kMaxMemoryKib = 256 * 1024;
constexpr uint32_t kMaxIterations = 16;
constexpr uint32_t kMaxParallelism = 16;

// Reads "<name>=<digits>" at the front of `s`, advancing it. False on anything else.
bool ReadParam(std::string_view& s, std::string_view name, uint32_t max, uint32_t& value) {
  if (s.substr(0, name.size()) != name || s.size() <= name.size() || s[name.size()] != '=') {
    return false;
  }
  s.remove_prefix(name.size() + 1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data() || value == 0 || value > max) return false;
  s.remove_prefix(static_cast<size_t>(end - s.data()));
  return true;
}

// Checks the algorithm, version and cost parameters before libargon2 sees the string.
bool HasSaneParameters(std::string_view encoded) {
  constexpr std::string_view kPrefix = "$argon2id$v=19$";
  if (encoded.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view s = encoded.substr(kPrefix.size());
  uint32_t m = 0, t = 0, p = 0;
  if (!ReadParam(s, "m", kMaxMemoryKib, m) || s.empty() || s[0] != ',') return false;
  s.remove_prefix(1);
  if (!ReadParam(s, "t", kMaxIterations, t) || s.empty() || s[0] != ',') return false;
  s.remove_prefix(1);
  if (!ReadParam(s, "p", kMaxParallelism, p) || s.empty() || s[0] != '$') return false;
  return true;
}

// A hash of kDummyPassword made once with the default parameters (libargon2, random salt), so
// DummyVerify costs what a real verification costs without hashing anything at start-up. The
// password is public on purpose: this hash belongs to no account.
constexpr char kDummyPassword[] = "tessera-dummy-password";
constexpr char kDummyEncoded[] =
    "$argon2id$v=19$m=19456,t=2,p=1$EUIMpWDwiK8M7D9Jo06JCQ$X7PlbUNetWb2xhtazPmT8SHdboWVSQP2xWE+"
    "eG1npCM";

}  // namespace

StatusOr<std::string> HashPassword(std::string_view password) {
  const std::string salt = RandomBytes(kArgon2SaltSize);
  std::string encoded(argon2_encodedlen(kArgon2Iterations, kArgon2MemoryKib, kArgon2Parallelism,
                                        kArgon2SaltSize, kArgon2HashSize, Argon2_id),
                      '\0');
  const int rc = argon2id_hash_encoded(kArgon2Iterations, kArgon2MemoryKib, kArgon2Parallelism,
                                       password.data(), password.size(), salt.data(), salt.size(),
                                       kArgon2HashSize, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return InternalError(std::string("argon2id hashing failed: ") + argon2_error_message(rc));
  }
  encoded.resize(std::strlen(encoded.c_str()));  // argon2_encodedlen counts the terminator
  return encoded;
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  if (!HasSaneParameters(encoded)) return false;
  const std::string terminated(encoded);  // libargon2 wants a C string
  return argon2id_verify(terminated.c_str(), password.data(), password.size()) == ARGON2_OK;
}

void DummyVerify() {
  // Same parse, same allocation, same argon2 passes and the same final comparison as a real
  // VerifyPassword; the result is irrelevant.
  static_cast<void>(VerifyPassword(kDummyPassword, kDummyEncoded));
}

std::string_view DummyHashForTest() { return kDummyEncoded; }

}  // namespace ts::crypto
