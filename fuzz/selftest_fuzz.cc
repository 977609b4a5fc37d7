// File: selftest_fuzz.cc
// Proves the replay harness can fail: ctest runs this target on fuzz/selftest/broken, whose
// content breaks its one invariant, and expects the run to fail (fuzz.replay_detects_a_break).
// Without it, a replayer that swallowed aborts would pass every corpus.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FUZZ_CHECK(ts::fuzz::AsView(data, size).find("break the invariant") == std::string_view::npos);
  return 0;
}
