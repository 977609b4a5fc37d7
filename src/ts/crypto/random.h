// File: random.h
// Cryptographically secure randomness from OpenSSL's DRBG. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ts::crypto {

// `n` random bytes. Aborts if the system's entropy source fails: nothing secure can continue.
std::string RandomBytes(size_t n);

// `n_bytes` random bytes, base64url-encoded (no padding).
std::string RandomToken(size_t n_bytes);

// `n` random bytes for values that must be unpredictable and unique but are not secret:
// identifiers and nonces. They come from a per-thread pool refilled from the DRBG 512 bytes at a
// time (random.cc says why); never use them for keys, tokens or anything else secret.
void RandomPublicBytes(unsigned char* out, size_t n);

// A random RFC 9562 version-4 UUID in lower-case text form, from RandomPublicBytes.
std::string RandomUuid();

// An RFC 9562 version-7 UUID: the 48-bit Unix time in milliseconds, then 74 random bits from
// RandomPublicBytes. Ids made later sort later, so a B-tree keyed by them grows at its right
// edge: a batch of new rows writes one leaf page instead of one random leaf per row.
std::string TimeOrderedUuid(int64_t unix_millis);

}  // namespace ts::crypto
