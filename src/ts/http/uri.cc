#include "ts/http/uri.h"

#include <cctype>
#include <charconv>

#include "ts/common/ascii.h"

namespace ts::http {
namespace {

bool IsAlpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// RFC 3986 §2.3 unreserved, §2.2 reserved.
bool IsUriChar(char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  constexpr std::string_view kOthers = "-._~:/?#[]@!$&'()*+,;=";
  return kOthers.find(c) != std::string_view::npos;
}

// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool IsScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

std::optional<std::string> HostProblem(std::string_view host) {
  if (host.empty()) return "it has no host (https://host/path)";
  if (host.find('*') != std::string_view::npos) {
    return "'*' in the host: redirect URIs are matched exactly, never as patterns (RFC 9700 §2.1)";
  }
  if (host.front() == '[') {
    // IP-literal (§3.2.2): an IPv6 address or IPvFuture, loosely: hex digits, ':', '.', 'v'.
    if (host.size() < 3 || host.back() != ']') return "its IP literal is not closed by ']'";
    for (char c : host.substr(1, host.size() - 2)) {
      if (!IsHex(c) && c != ':' && c != '.' && c != 'v' && c != 'V') {
        return "its IP literal is not an IPv6 address";
      }
    }
    return std::nullopt;
  }
  for (size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if (IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~') continue;
    if (c == '%' && i + 2 < host.size() && IsHex(host[i + 1]) && IsHex(host[i + 2])) {
      i += 2;
      continue;
    }
    return "its host is not a host name or IP address";
  }
  return std::nullopt;
}

// What every redirect URI requires: an absolute URI of URI characters without a fragment.
// Sets `scheme` (lower case) and `rest` (what follows the scheme's ':').
std::optional<std::string> AbsoluteUriProblem(std::string_view uri, std::string& scheme,
                                              std::string_view& rest) {
  if (uri.empty()) return "it is empty";
  const size_t colon = uri.find(':');
  if (colon == std::string_view::npos || !IsScheme(uri.substr(0, colon))) {
    return "it is not an absolute URI (https://host/path)";
  }
  for (size_t i = 0; i < uri.size(); ++i) {
    const char c = uri[i];
    if (c == '%') {
      if (i + 2 >= uri.size() || !IsHex(uri[i + 1]) || !IsHex(uri[i + 2])) {
        return "it has a '%' that does not start a %XX escape (RFC 3986 §2.1)";
      }
      i += 2;
      continue;
    }
    if (!IsUriChar(c)) {
      return "it has a character that URIs cannot contain at offset " + std::to_string(i) +
             " (RFC 3986 §2)";
    }
  }
  if (uri.find('#') != std::string_view::npos) return "it has a fragment (RFC 6749 §3.1.2)";
  scheme = AsciiLower(uri.substr(0, colon));
  rest = uri.substr(colon + 1);
  return std::nullopt;
}

// The authority of an http(s) URI (`rest` follows "https:"): a host and an optional port, no
// user information. Sets `host`.
std::optional<std::string> AuthorityProblem(std::string_view rest, std::string_view& host) {
  if (rest.substr(0, 2) != "//") return "it has no host (https://host/path)";
  rest.remove_prefix(2);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != std::string_view::npos) {
    return "it has user information before the host";
  }
  // host [":" port]; an IP literal's own colons are inside its brackets.
  size_t port_colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close != std::string_view::npos && close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "its IP literal is followed by more than a port";
      port_colon = close + 1;
    }
  } else {
    port_colon = authority.find(':');
  }
  host = authority;
  if (port_colon != std::string_view::npos) {
    host = authority.substr(0, port_colon);
    const std::string_view port = authority.substr(port_colon + 1);
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
        value > 65535) {
      return "its port is not a number from 1 to 65535";
    }
  }
  return HostProblem(host);
}

}  // namespace

std::optional<std::string> RedirectUriProblem(std::string_view uri) {
  std::string scheme;
  std::string_view rest;
  if (auto problem = AbsoluteUriProblem(uri, scheme, rest)) return problem;
  if (scheme != "https" && scheme != "http") {
    return "scheme '" + scheme + "' is not allowed, only https and http";
  }
  std::string_view host;
  return AuthorityProblem(rest, host);
}

std::optional<std::string> ClientRedirectUriProblem(std::string_view uri) {
  std::string scheme;
  std::string_view rest;
  if (auto problem = AbsoluteUriProblem(uri, scheme, rest)) return problem;
  if (scheme == "https" || scheme == "http") {
    std::string_view host;
    if (auto problem = AuthorityProblem(rest, host)) return problem;
    if (scheme == "http" && host != "127.0.0.1" && host != "[::1]") {
      return "http is allowed only on a loopback IP literal, 127.0.0.1 or [::1] (RFC 8252 §7.3, "
             "§8.3)";
    }
    return std::nullopt;
  }
  // RFC 8252 §7.1: a private-use scheme is a reverse domain name the app controls.
  if (scheme.find('.') == std::string::npos) {
    return "scheme '" + scheme +
           "' is not allowed: use https, http on 127.0.0.1 or [::1], or a private-use scheme "
           "in reverse-DNS form such as com.example.app (RFC 8252 §7.1)";
  }
  if (rest.empty()) return "it has nothing after the scheme";
  return std::nullopt;
}

}  // namespace ts::http
