// File: aead.h
// Authenticated encryption of small secrets at rest (AES-256-GCM, NIST SP 800-38D) and per-purpose
// key derivation from one master key (HKDF-SHA256, RFC 5869). OpenSSL stays in aead.cc.
// All functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ts/common/status.h"

namespace ts::crypto {

inline constexpr size_t kAeadKeySize = 32;    // AES-256
inline constexpr size_t kAeadNonceSize = 12;  // 96-bit GCM nonce, random per Seal
inline constexpr size_t kAeadTagSize = 16;    // full 128-bit tag
inline constexpr char kAeadVersion = '\x01';  // first byte of every sealed blob
// Bytes Seal adds to the plaintext: version || nonce || ... || tag.
inline constexpr size_t kAeadOverhead = 1 + kAeadNonceSize + kAeadTagSize;

// Encrypts and authenticates `plaintext`, binding `aad` (authenticated, not stored). Returns the
// self-describing blob 0x01 || 12-byte random nonce || ciphertext || 16-byte tag.
// Random nonces are safe for up to 2^32 seals per key (SP 800-38D §8.3); derive one key per
// purpose with DeriveKey to stay far below that.
// Errors: InvalidArgument when `key` is not 32 bytes; Internal if OpenSSL fails.
StatusOr<std::string> Seal(std::string_view key, std::string_view plaintext, std::string_view aad);

// Authenticates and decrypts a blob made by Seal with the same key and aad. Returns the plaintext.
// Errors: InvalidArgument when `key` is not 32 bytes, when `sealed` is shorter than the overhead
// or has an unknown version byte, and (message "sealed data failed authentication ...") when the
// key, the aad or any byte of the blob is wrong. No plaintext is ever returned unauthenticated.
StatusOr<std::string> Open(std::string_view key, std::string_view sealed, std::string_view aad);

// HKDF-SHA256 (RFC 5869 §2): extract with `salt` (empty means HashLen zero bytes, §2.2), then
// expand with `info` to `length` bytes. Aborts if length > 255 * 32 (a programming error).
std::string HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       size_t length);

// A 32-byte key for one purpose ("signing-keys", "iam-secrets", "identity-context",
// "refresh-rotation", ...): HKDF-SHA256 with an empty salt and info = purpose, so keys for
// different purposes are independent and none reveals the master key.
std::string DeriveKey(std::string_view master_key, std::string_view purpose);

}  // namespace ts::crypto
