// File: beast/request_parser.h
// How the server reads a request with Beast's parser: its limits, the body check once the header
// is in, which transport error a read error is, and the conversion to http::Request. Shared by
// beast/server.cc and the http_parser fuzz target (fuzz/http_parser_fuzz.cc), so the fuzzer runs
// the parser exactly as the server configures it.
//
// Includes Beast: include it only where Beast is already paid for (beast/server.cc, the fuzz
// target), never from a header of the http module.
#pragma once

#include <algorithm>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <limits>
#include <string>

#include "ts/common/ascii.h"
#include "ts/http/message.h"
#include "ts/http/server.h"

namespace ts::http {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// A fresh parser's limits: the request line and headers at most max_header_bytes as far as
// Beast enforces it (see RefuseAfterHeader); no body limit yet. The body limit is set once the
// header is in (RefuseAfterHeader): Beast would otherwise refuse a large Content-Length while the
// header is still incomplete to it, and make_error would not learn which API the request was for.
inline void LimitRequestHeader(RequestParser& parser, const ServerOptions& options) {
  parser.header_limit(static_cast<uint32_t>(
      std::min<size_t>(options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser.body_limit(std::numeric_limits<uint64_t>::max());
}

// Once the header is in (`header_bytes` of it, as the read that parsed it reports): 0 when the
// body may be read (its limit is then max_body_bytes), or the status to refuse the request with
// before reading any of the body:
// - 431 when the header is over max_header_bytes (RFC 6585 §5). Beast's header_limit bounds the
//   request line and the header fields each on their own (Boost 1.81's basic_parser never lowers
//   the limit by the request line's length), so a header of up to twice the limit gets through
//   the parser; the fuzzer found it (docs/design/fuzzing.md).
// - 413 when its Content-Length exceeds max_body_bytes (RFC 9110 §15.5.14).
// - 411 when it is chunked (RFC 9110 §15.5.12). Chunked request bodies are refused because no
//   client of these APIs sends one (the AWS SDKs and browsers send Content-Length) and Beast's
//   chunk parser (Boost 1.81) fails its own assertion on a malformed trailer
//   (docs/design/fuzzing.md; the input is in fuzz/corpus/http_parser): refusing the encoding
//   takes that code out of reach of any peer.
inline int RefuseAfterHeader(RequestParser& parser, size_t header_bytes,
                             const ServerOptions& options) {
  if (header_bytes > options.max_header_bytes) return 431;
  if (parser.chunked()) return 411;
  if (auto length = parser.content_length(); length && *length > options.max_body_bytes) {
    return 413;
  }
  parser.body_limit(static_cast<uint64_t>(options.max_body_bytes));
  return 0;
}

// The transport's answer to a failed read: 431 (header too large, RFC 6585 §5), 413 (body too
// large, RFC 9110 §15.5.14), 400 (malformed), or 0 when there is nothing to answer (the client
// went away; a socket error, timeout or shutdown).
inline int ReadErrorStatus(boost::beast::error_code ec, bool in_header) {
  namespace bhttp = boost::beast::http;
  if (ec == bhttp::error::header_limit || (in_header && ec == bhttp::error::buffer_overflow)) {
    return 431;
  }
  if (ec == bhttp::error::body_limit || ec == bhttp::error::buffer_overflow) return 413;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == bhttp::error::short_read) {
    return 0;
  }
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
  return 0;
}

// The parsed header as a Request (header names lower-cased), without the body or the client's
// address.
inline Request RequestFromHeader(
    const boost::beast::http::request_header<boost::beast::http::fields>& msg) {
  Request request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  for (const auto& field : msg) {
    request.headers.push_back({AsciiLower(field.name_string()), std::string(field.value())});
  }
  return request;
}

}  // namespace ts::http
