// File: test/common/sanitized_allocator.h
// Whether the test runs under AddressSanitizer, whose allocator replaces glibc's: tests of what
// glibc's malloc keeps or returns (arenas, trimming, mmap thresholds) skip themselves there.
#pragma once

namespace ts::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizedAllocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitizedAllocator = true;
#else
inline constexpr bool kSanitizedAllocator = false;
#endif
#else
inline constexpr bool kSanitizedAllocator = false;
#endif

}  // namespace ts::testing
