// File: form_fuzz.cc
// Percent-decoding, form and query parsing (http/message.h), cookies (web/sign_in.h) and the
// redirect URI rules (http/uri.h): the parsers every browser request and the admin plane's
// redirect URIs go through.
// Invariants: no crash or UB; PercentDecode inverts PercentEncode; a pair ParseForm returns has
// a key and value that PercentDecode accepts; a URI the client rules accept has no fragment.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/http/message.h"
#include "ts/http/uri.h"
#include "ts/web/sign_in.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ts;
  const std::string_view input = fuzz::AsView(data, size);

  for (bool plus_as_space : {false, true}) {
    std::optional<std::string> decoded = http::PercentDecode(input, plus_as_space);
    if (decoded.has_value()) FUZZ_CHECK(decoded->size() <= input.size());
  }
  const std::string encoded = http::PercentEncode(input);
  const std::optional<std::string> round_trip = http::PercentDecode(encoded, false);
  FUZZ_CHECK(round_trip.has_value() && *round_trip == input);
  std::string appended = "x";
  http::AppendPercentEncoded(input, appended);
  FUZZ_CHECK(appended == "x" + encoded);

  if (auto pairs = http::ParseForm(input)) {
    for (const auto& [key, value] : *pairs) {
      FUZZ_CHECK(key.size() <= input.size() && value.size() <= input.size());
    }
  }

  // The same text as a Cookie header, looked up under a name taken from its start.
  http::Request request;
  request.headers.push_back({"cookie", std::string(input)});
  const std::string_view name = input.substr(0, input.find('='));
  if (auto value = web::CookieValue(request, name)) {
    const char* begin = request.headers[0].value.data();
    const char* end = begin + request.headers[0].value.size();
    FUZZ_CHECK(value->empty() || (value->data() >= begin && value->data() + value->size() <= end));
  }
  (void)web::CookieValue(request, "tessera_session");

  const std::optional<std::string> redirect = http::RedirectUriProblem(input);
  const std::optional<std::string> client_redirect = http::ClientRedirectUriProblem(input);
  if (!redirect.has_value() || !client_redirect.has_value()) {
    FUZZ_CHECK(input.find('#') == std::string_view::npos);
    FUZZ_CHECK(!input.empty());
  }
  return 0;
}
