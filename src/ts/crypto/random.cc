#include "ts/crypto/random.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>

#include "ts/common/log.h"
#include "ts/crypto/encoding.h"

namespace ts::crypto {
namespace {

void FillOrDie(unsigned char* out, size_t n) {
  if (n > 0 && RAND_bytes(out, static_cast<int>(n)) != 1) {
    log::Write(log::Level::kError, "fatal: RAND_bytes failed");
    std::abort();
  }
}

}  // namespace

// Identifiers (token ids, family ids, user ids) and nonces must be unpredictable and unique but
// are not secrets, and some are drawn on every request. RAND_bytes costs about 4 µs a call on a
// loaded server however few bytes it returns (a DRBG generate, a re-key, locks), so each thread
// draws these bytes 512 at a time and hands each out once. Secrets
// (RandomBytes, RandomToken) still come straight from RAND_bytes, so no secret waits in memory
// before use. Tessera never forks, so no two processes can share a pool.
void RandomPublicBytes(unsigned char* out, size_t n) {
  struct Pool {
    unsigned char bytes[512];
    size_t used = sizeof bytes;
  };
  thread_local Pool pool;
  if (n > sizeof pool.bytes) return FillOrDie(out, n);
  if (sizeof pool.bytes - pool.used < n) {
    FillOrDie(pool.bytes, sizeof pool.bytes);
    pool.used = 0;
  }
  std::memcpy(out, pool.bytes + pool.used, n);
  pool.used += n;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  FillOrDie(reinterpret_cast<unsigned char*>(out.data()), n);
  return out;
}

std::string RandomToken(size_t n_bytes) { return Base64UrlEncode(RandomBytes(n_bytes)); }

namespace {

// RFC 9562 §4: the 8-4-4-4-12 lower-case hex form of 16 bytes.
std::string FormatUuid(const unsigned char (&b)[16]) {
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

}  // namespace

std::string RandomUuid() {
  unsigned char b[16];
  RandomPublicBytes(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4 (RFC 9562 §5.4)
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  return FormatUuid(b);
}

std::string TimeOrderedUuid(int64_t unix_millis) {
  unsigned char b[16];
  RandomPublicBytes(b + 6, sizeof b - 6);
  const uint64_t millis = static_cast<uint64_t>(unix_millis < 0 ? 0 : unix_millis);
  for (int i = 0; i < 6; ++i) {  // 48-bit big-endian timestamp (RFC 9562 §5.7)
    b[i] = static_cast<unsigned char>(millis >> (8 * (5 - i)));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x70);  // version 7
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  return FormatUuid(b);
}

}  // namespace ts::crypto
