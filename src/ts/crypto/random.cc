#include "ts/crypto/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ts/crypto/encoding.h"

namespace ts::crypto {
namespace {

void FillOrDie(unsigned char* out, size_t n) {
  if (n > 0 && RAND_bytes(out, static_cast<int>(n)) != 1) {
    std::fputs("fatal: RAND_bytes failed\n", stderr);
    std::abort();
  }
}

// Identifiers (token ids, family ids, user ids) must be unpredictable and unique but are not
// secrets, and one is drawn on every request. RAND_bytes costs about 4 µs a call on a loaded
// server however few bytes it returns (a DRBG generate, a re-key, locks), so each thread draws
// identifier bytes 512 at a time and wipes each slice as it hands it out. Secrets (RandomBytes,
// RandomToken) still come straight from RAND_bytes, so no secret waits in memory before use.
// Tessera never forks, so no two processes can share a pool.
void IdentifierBytes(unsigned char* out, size_t n) {
  struct Pool {
    unsigned char bytes[512];
    size_t used = sizeof bytes;
    ~Pool() { OPENSSL_cleanse(bytes, sizeof bytes); }
  };
  thread_local Pool pool;
  if (n > sizeof pool.bytes) return FillOrDie(out, n);
  if (sizeof pool.bytes - pool.used < n) {
    FillOrDie(pool.bytes, sizeof pool.bytes);
    pool.used = 0;
  }
  std::memcpy(out, pool.bytes + pool.used, n);
  OPENSSL_cleanse(pool.bytes + pool.used, n);
  pool.used += n;
}

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  FillOrDie(reinterpret_cast<unsigned char*>(out.data()), n);
  return out;
}

std::string RandomToken(size_t n_bytes) { return Base64UrlEncode(RandomBytes(n_bytes)); }

std::string RandomUuid() {
  unsigned char b[16];
  IdentifierBytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4 (RFC 4122 §4.4)
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t pos = 0;
  for (size_t i = 0; i < sizeof b; ++i) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;  // the dashes stay
    out[pos++] = kHex[b[i] >> 4];
    out[pos++] = kHex[b[i] & 0x0f];
  }
  return out;
}

}  // namespace ts::crypto
