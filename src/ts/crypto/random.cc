#include "ts/crypto/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

#include "ts/crypto/encoding.h"

namespace ts::crypto {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::fputs("fatal: RAND_bytes failed\n", stderr);
    std::abort();
  }
  return out;
}

std::string RandomToken(size_t n_bytes) { return Base64UrlEncode(RandomBytes(n_bytes)); }

std::string RandomUuid() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string hex = HexEncode(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

}  // namespace ts::crypto
