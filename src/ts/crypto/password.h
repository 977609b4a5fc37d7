// File: password.h
// Password hashing with argon2id (RFC 9106) through libargon2, with OWASP's minimum parameters
// (m = 19456 KiB, t = 2, p = 1). Hashes are stored in the standard PHC-style encoding
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", so parameters can be raised later without
// invalidating stored hashes. All functions are thread-safe; each call maps ~19 MiB of memory
// of its own for argon2's work area and unmaps it before returning (docs/design/memory.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ts/common/status.h"

namespace ts::crypto {

inline constexpr uint32_t kArgon2MemoryKib = 19456;
inline constexpr uint32_t kArgon2Iterations = 2;
inline constexpr uint32_t kArgon2Parallelism = 1;
inline constexpr size_t kArgon2SaltSize = 16;
inline constexpr size_t kArgon2HashSize = 32;

// Hashes `password` with a fresh 16-byte random salt. Returns the encoded string.
// Errors: Internal when libargon2 fails (out of memory).
StatusOr<std::string> HashPassword(std::string_view password);

// HashPassword with the given salt instead of a random one, so a test can pin the exact string.
StatusOr<std::string> HashPasswordWithSaltForTest(std::string_view password, std::string_view salt);

// True when `password` matches `encoded`. False on a mismatch and on an encoding that is not
// argon2id v=19 with sane parameters (m <= 256 MiB, t <= 16, p <= 16: a stored value must not be
// able to make a login allocate or spin without bound). argon2id_verify_ctx compares in constant
// time.
bool VerifyPassword(std::string_view password, std::string_view encoded);

// Spends the time of one VerifyPassword with the default parameters and returns nothing. Call it
// when the user does not exist, so the response time does not reveal which user names exist.
void DummyVerify();

// The argon2id hash DummyVerify checks (of the public password "tessera-dummy-password").
std::string_view DummyHashForTest();

}  // namespace ts::crypto
