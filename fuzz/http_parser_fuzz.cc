// File: http_parser_fuzz.cc
// Raw bytes from a connection through Beast's request parser set up as the server sets it up
// (http/beast/request_parser.h: header limit, refusals once the header is in, read error -> status,
// conversion to http::Request), read the way the server reads: the header, then the body, then the
// next pipelined request from what is left in the buffer. The first byte picks how many bytes each
// read returns (a slow client's fragments) and whether the limits are the server's defaults or
// small ones the fuzzer can reach.
// Invariants: no crash; every failed read maps to 431, 413, 400 or "the client went away" (0),
// and an unfinished input to 0 only; a request that parses keeps within the limits (its header
// fields within max_header_bytes, its body within max_body_bytes) and converts to http::Request
// without throwing.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/http/beast/request_parser.h"

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;

// A connection's receiving side: hands out the input `chunk` bytes per read, then end of file.
class InputStream {
 public:
  InputStream(std::string_view input, size_t chunk) : input_(input), chunk_(chunk) {}

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers, boost::beast::error_code& ec) {
    if (input_.empty()) {
      ec = net::error::eof;
      return 0;
    }
    ec = {};
    const size_t n =
        net::buffer_copy(buffers, net::buffer(input_.data(), std::min(chunk_, input_.size())));
    input_.remove_prefix(n);
    return n;
  }
  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    boost::beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view input_;
  size_t chunk_;
};

bool IsTransportStatus(int status) {
  return status == 0 || status == 400 || status == 413 || status == 431;
}

void CheckWithinLimits(const ts::http::Request& request, const ts::http::ServerOptions& options) {
  size_t header_bytes = request.method.size() + request.target.size();
  for (const auto& header : request.headers)
    header_bytes += header.name.size() + header.value.size();
  FUZZ_CHECK(header_bytes <= options.max_header_bytes);
  FUZZ_CHECK(request.body.size() <= options.max_body_bytes);
  for (const auto& header : request.headers) {
    FUZZ_CHECK(!header.name.empty());
    FUZZ_CHECK(ts::AsciiLower(header.name) == header.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ts;
  std::string_view input = fuzz::AsView(data, size);
  if (input.empty()) return 0;
  const uint8_t control = static_cast<uint8_t>(input.front());
  input.remove_prefix(1);
  http::ServerOptions options;  // the server's defaults: 16 KiB of header, 256 KiB of body
  if (control & 0x80) {
    options.max_header_bytes = 64 + (control & 0x0f) * 16;
    options.max_body_bytes = (control & 0x70);
  }
  const size_t chunk = (control & 0x0f) == 0 ? 4096 : (control & 0x0f);

  InputStream stream(input, chunk);
  boost::beast::flat_buffer buffer;
  for (int requests = 0; requests < 8; ++requests) {
    http::RequestParser parser;
    http::LimitRequestHeader(parser, options);
    boost::beast::error_code ec;
    const size_t header_bytes = bhttp::read_header(stream, buffer, parser, ec);
    if (ec) {
      FUZZ_CHECK(IsTransportStatus(http::ReadErrorStatus(ec, /*in_header=*/true)));
      break;
    }
    FUZZ_CHECK(parser.is_header_done());
    const int refusal = http::RefuseAfterHeader(parser, header_bytes, options);
    if (refusal == 431) {
      FUZZ_CHECK(header_bytes > options.max_header_bytes);
      break;  // 431, and the connection closes
    } else if (refusal == 413) {
      FUZZ_CHECK(parser.content_length().has_value() &&
                 *parser.content_length() > options.max_body_bytes);
      break;  // 413, and the connection closes
    } else if (refusal != 0) {
      FUZZ_CHECK(refusal == 411 && parser.chunked());
      break;  // 411, and the connection closes
    }
    bhttp::read(stream, buffer, parser, ec);
    if (ec) {
      const int status = http::ReadErrorStatus(ec, /*in_header=*/false);
      FUZZ_CHECK(IsTransportStatus(status) && status != 431);
      break;
    }
    FUZZ_CHECK(parser.is_done());
    auto& msg = parser.get();
    http::Request request = http::RequestFromHeader(msg);
    request.body = std::move(msg.body());
    CheckWithinLimits(request, options);
    if (!msg.keep_alive()) break;  // the server reads the next request only then
  }
  return 0;
}
