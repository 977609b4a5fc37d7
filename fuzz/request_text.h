// File: request_text.h
// The text form the request-level fuzz targets read an http::Request from, close to HTTP/1.1 so
// that seeds are easy to write by hand:
//   METHOD TARGET\n
//   name: value\n      (any number; names lower-cased as the transport does)
//   \n
//   body               (the rest, bytes as they are)
// A malformed header line becomes a header with an empty value rather than a rejected input, so
// that every input reaches the code under test.
#pragma once

#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/common/ascii.h"
#include "ts/http/message.h"

namespace ts::fuzz {

inline http::Request ParseRequestText(std::string_view input) {
  http::Request request;
  std::string_view line = NextLine(input);
  const size_t space = line.find(' ');
  request.method = std::string(line.substr(0, space));
  request.target = space == std::string_view::npos ? "/" : std::string(line.substr(space + 1));
  while (!input.empty()) {
    line = NextLine(input);
    if (line.empty() || line == "\r") break;
    const size_t colon = line.find(':');
    std::string_view name = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (!value.empty() && value.back() == '\r') value.remove_suffix(1);
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
