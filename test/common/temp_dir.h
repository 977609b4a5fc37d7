// File: temp_dir.h
// Temporary directories for tests that need real files (SQLite databases, key files).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace ts::testing {

// A new, empty directory under the system temp dir named `<prefix>-XXXXXX`; empty on failure.
inline std::filesystem::path MakeTempDir(std::string_view prefix) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return {};
  return pattern;
}

// Removes `dir` and everything in it; best effort (a test's cleanup must not fail the test).
inline void RemoveTempDir(const std::filesystem::path& dir) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace ts::testing
