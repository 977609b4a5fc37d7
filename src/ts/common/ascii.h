// File: ascii.h
// ASCII case folding for protocol text (header names, URI schemes, user names, policy keys):
// bytes outside A-Z are kept, whatever the locale. Header-only; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ts {

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace ts
