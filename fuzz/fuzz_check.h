// File: fuzz_check.h
// What every fuzz target shares: FUZZ_CHECK, an assertion that stays on in release builds (a
// broken invariant must stop the fuzzer and fail the corpus replay, whatever NDEBUG says), and
// the split of an input into newline-separated fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ts::fuzz {

[[noreturn]] inline void CheckFailed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
  std::abort();
}

// Takes the text before the next '\n' off the front of `input` (all of it when there is none).
inline std::string_view NextLine(std::string_view& input) {
  const size_t end = input.find('\n');
  std::string_view line = input.substr(0, end);
  input.remove_prefix(end == std::string_view::npos ? input.size() : end + 1);
  return line;
}

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ts::fuzz

#define FUZZ_CHECK(condition) \
  ((condition) ? (void)0 : ::ts::fuzz::CheckFailed(#condition, __FILE__, __LINE__))
