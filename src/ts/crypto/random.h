// File: random.h
// Cryptographically secure randomness from OpenSSL's DRBG. Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace ts::crypto {

// `n` random bytes. Aborts if the system's entropy source fails: nothing secure can continue.
std::string RandomBytes(size_t n);

// `n_bytes` random bytes, base64url-encoded (no padding).
std::string RandomToken(size_t n_bytes);

// A random RFC 4122 version-4 UUID in lower-case text form. For identifiers, not secrets: its
// bytes come from a per-thread pool refilled from the DRBG (random.cc says why).
std::string RandomUuid();

}  // namespace ts::crypto
