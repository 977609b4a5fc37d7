// File: request_text.h
// The text form the request-level fuzz targets read an http::Request from, close to HTTP/1.1 so
// that seeds are easy to write by hand:
//   METHOD TARGET\n
//   name: value\n      (any number; names lower-cased as the transport does)
//   \n
//   body               (the rest, bytes as they are)
// Header lines are kept only as the transport (Boost.Beast's parser) would deliver them: the name
// a token (RFC 9110 §5.6.2), the value without control characters but HTAB and trimmed of spaces
// and tabs; other lines are skipped, since no request carrying them reaches a handler.
#pragma once

#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/common/ascii.h"
#include "ts/http/message.h"

namespace ts::fuzz {

// RFC 9110 §5.6.2 token: one or more tchar.
inline bool IsToken(std::string_view text) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  if (text.empty()) return false;
  for (char c : text) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && kSymbols.find(c) == std::string_view::npos) return false;
  }
  return true;
}

// RFC 9110 §5.5 field-value: visible ASCII, obs-text, spaces and tabs; no other controls.
inline bool IsFieldValue(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

inline http::Request ParseRequestText(std::string_view input) {
  http::Request request;
  std::string_view line = NextLine(input);
  const size_t space = line.find(' ');
  request.method = std::string(line.substr(0, space));
  request.target = space == std::string_view::npos ? "/" : std::string(line.substr(space + 1));
  while (!input.empty()) {
    line = NextLine(input);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!IsToken(name) || !IsFieldValue(value)) continue;
    request.headers.push_back({AsciiLower(name), std::string(value)});
  }
  request.body = std::string(input);
  request.remote_address = "127.0.0.1";
  request.request_id = "fuzz";
  return request;
}

// Removes every header named `lower_name`; returns the value of the first one, or "" if none.
inline std::string TakeHeader(http::Request& request, std::string_view lower_name) {
  std::string value;
  bool found = false;
  for (auto it = request.headers.begin(); it != request.headers.end();) {
    if (it->name == lower_name) {
      if (!found) value = it->value;
      found = true;
      it = request.headers.erase(it);
    } else {
      ++it;
    }
  }
  return value;
}

}  // namespace ts::fuzz
