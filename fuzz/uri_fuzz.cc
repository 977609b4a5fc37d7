// File: uri_fuzz.cc
// The redirect URI rules (http/uri.h) every redirect URI passes through: the admin plane's
// applications, the bootstrap file, RegisterClient and /authorize. `form` reaches them too, among
// other parsers; this target checks what an accepted URI is, against a second reading of RFC 3986
// written here independently of uri.cc.
// Invariants: a refusal has a reason; an accepted URI is made of URI characters and valid %XX
// escapes only, has no fragment, an http or https scheme (any case), an authority "//host[:port]"
// with a host and no user information or '*'; the client rules accept an https URI exactly when
// the application rules do, and an http one only on 127.0.0.1 or [::1]; the case of the scheme
// changes nothing; a fragment or a space added to an accepted URI makes it refused.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/http/uri.h"

namespace {

bool IsHexDigit(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// RFC 3986 §2: unreserved, reserved, and '%' only as the start of %XX.
bool AllUriCharacters(std::string_view uri) {
  for (size_t i = 0; i < uri.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(uri[i]);
    if (c == '%') {
      if (i + 2 >= uri.size() || !IsHexDigit(uri[i + 1]) || !IsHexDigit(uri[i + 2])) return false;
      i += 2;
    } else if (!std::isalnum(c) &&
               std::string_view("-._~:/?#[]@!$&'()*+,;=").find(static_cast<char>(c)) ==
                   std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

struct Parts {
  std::string scheme;  // lower case
  std::string_view authority;
  std::string_view host;
};

// An http(s) URI's parts, read the simple way (an IP literal's colons are inside brackets).
Parts Split(std::string_view uri) {
  Parts parts;
  const size_t colon = uri.find(':');
  parts.scheme = Lower(uri.substr(0, colon));
  std::string_view rest = uri.substr(colon + 1);
  if (rest.starts_with("//")) rest.remove_prefix(2);
  parts.authority = rest.substr(0, rest.find_first_of("/?"));
  const size_t bracket = parts.authority.rfind(']');
  const size_t port = parts.authority.find(':', bracket == std::string_view::npos ? 0 : bracket);
  parts.host = parts.authority.substr(0, port);
  return parts;
}

void CheckAcceptedHttpUri(std::string_view uri) {
  FUZZ_CHECK(AllUriCharacters(uri));
  FUZZ_CHECK(uri.find('#') == std::string_view::npos);
  const Parts parts = Split(uri);
  FUZZ_CHECK(parts.scheme == "https" || parts.scheme == "http");
  FUZZ_CHECK(uri.substr(parts.scheme.size()).starts_with("://"));
  FUZZ_CHECK(!parts.host.empty());
  FUZZ_CHECK(parts.authority.find('@') == std::string_view::npos);
  FUZZ_CHECK(parts.authority.find('*') == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ts;
  const std::string_view uri = fuzz::AsView(data, size);
  const std::optional<std::string> app = http::RedirectUriProblem(uri);
  const std::optional<std::string> client = http::ClientRedirectUriProblem(uri);
  if (app.has_value()) FUZZ_CHECK(!app->empty());
  if (client.has_value()) FUZZ_CHECK(!client->empty());

  const size_t colon = uri.find(':');
  const std::string scheme = colon == std::string_view::npos ? "" : Lower(uri.substr(0, colon));
  if (!app.has_value()) CheckAcceptedHttpUri(uri);
  if (!client.has_value()) {
    FUZZ_CHECK(AllUriCharacters(uri) && uri.find('#') == std::string_view::npos);
    if (scheme == "http" || scheme == "https") {
      CheckAcceptedHttpUri(uri);
      FUZZ_CHECK(!app.has_value());  // the client rules are the stricter
      if (scheme == "http") {
        const std::string_view host = Split(uri).host;
        FUZZ_CHECK(host == "127.0.0.1" || host == "[::1]");
      }
    } else {
      FUZZ_CHECK(scheme.find('.') != std::string::npos);  // reverse-DNS private-use scheme
    }
  }
  if (scheme == "https") FUZZ_CHECK(app.has_value() == client.has_value());

  // The scheme's case changes nothing.
  if (colon != std::string_view::npos) {
    const std::string upper = Upper(uri.substr(0, colon)) + std::string(uri.substr(colon));
    FUZZ_CHECK(http::RedirectUriProblem(upper).has_value() == app.has_value());
    FUZZ_CHECK(http::ClientRedirectUriProblem(upper).has_value() == client.has_value());
  }
  // An accepted URI with a fragment, or with a space inside, is refused.
  if (!app.has_value() || !client.has_value()) {
    const std::string with_fragment = std::string(uri) + "#f";
    FUZZ_CHECK(http::RedirectUriProblem(with_fragment).has_value());
    FUZZ_CHECK(http::ClientRedirectUriProblem(with_fragment).has_value());
    const std::string with_space =
        std::string(uri.substr(0, uri.size() / 2)) + " " + std::string(uri.substr(uri.size() / 2));
    FUZZ_CHECK(http::RedirectUriProblem(with_space).has_value());
    FUZZ_CHECK(http::ClientRedirectUriProblem(with_space).has_value());
  }
  return 0;
}
