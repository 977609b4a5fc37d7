// File: digest.h
// SHA-256 and HMAC-SHA256 on OpenSSL 3, plus a constant-time comparison. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ts::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
Sha256Digest HmacSha256(std::string_view key, std::string_view data);

// The digest as raw bytes in a std::string (handy as the key of the next HMAC in a chain).
inline std::string AsBytes(const Sha256Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// True when a and b are equal; takes time that depends only on the lengths (CRYPTO_memcmp).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace ts::crypto
