// File: client_address.cc
#include "ts/http/client_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "ts/common/ascii.h"

namespace ts::http {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 9110 §5.6.2 token characters.
bool IsTokenChar(char ch) {
  auto c = static_cast<unsigned char>(ch);
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

// A node as proxies write it: an address, optionally with a port ("192.0.2.1:4711",
// "[2001:db8::1]", "[2001:db8::1]:4711"), or a bare IPv6 address. nullopt for anything else
// ("unknown", RFC 7239 §6.3 obfuscated identifiers, garbage).
std::optional<IpAddress> ParseNode(std::string_view node) {
  if (auto address = IpAddress::Parse(node)) return address;
  if (!node.empty() && node.front() == '[') {
    const size_t close = node.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = node.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && AllDigits(rest.substr(1)))) return std::nullopt;
    auto address = IpAddress::Parse(node.substr(1, close - 1));
    if (address && address->is_v4) return std::nullopt;  // brackets are for IPv6 only
    return address;
  }
  const size_t colon = node.find(':');
  if (colon == std::string_view::npos || !AllDigits(node.substr(colon + 1))) return std::nullopt;
  auto address = IpAddress::Parse(node.substr(0, colon));
  if (address && !address->is_v4) return std::nullopt;
  return address;
}

// Splits on `sep` outside quoted strings. nullopt on an unterminated quote.
std::optional<std::vector<std::string_view>> SplitOutsideQuotes(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (quoted) {
      if (s[i] == '\\') {
        ++i;  // quoted-pair: skip the escaped character
      } else if (s[i] == '"') {
        quoted = false;
      }
    } else if (s[i] == '"') {
      quoted = true;
    } else if (s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  if (quoted) return std::nullopt;
  parts.push_back(s.substr(start));
  return parts;
}

// RFC 7239 §4 value: token / quoted-string. nullopt when it is neither.
std::optional<std::string> ParseValue(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (v.front() != '"') {
    if (!std::all_of(v.begin(), v.end(), IsTokenChar)) return std::nullopt;
    return std::string(v);
  }
  if (v.size() < 2 || v.back() != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\') {
      if (i + 2 >= v.size()) return std::nullopt;  // escapes the closing quote
      ++i;
    } else if (v[i] == '"') {
      return std::nullopt;
    }
    out.push_back(v[i]);
  }
  return out;
}

// One RFC 7239 forwarded-element: its `for` node (nullopt hop when absent or not an address),
// or nullopt when the element's syntax is broken.
std::optional<std::optional<IpAddress>> ParseForwardedElement(std::string_view element) {
  auto pairs = SplitOutsideQuotes(element, ';');
  if (!pairs) return std::nullopt;
  std::optional<IpAddress> hop;
  bool seen_for = false;
  for (std::string_view pair : *pairs) {
    pair = TrimOws(pair);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string_view name = pair.substr(0, eq);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) return std::nullopt;
    auto value = ParseValue(pair.substr(eq + 1));
    if (!value) return std::nullopt;
    if (AsciiLower(name) == "for") {
      if (seen_for) return std::nullopt;  // §4: each parameter at most once per element
      seen_for = true;
      hop = ParseNode(*value);
    }
  }
  return hop;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;  // longest IPv6 text form
  const std::string s(text);
  IpAddress address;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), address.bytes.begin());
    std::memcpy(address.bytes.data() + 12, &v4, 4);
    address.is_v4 = true;
    return address;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  std::memcpy(address.bytes.data(), &v6, 16);
  address.is_v4 = std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), address.bytes.begin());
  return address;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4) {
    inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

StatusOr<IpNetwork> IpNetwork::Parse(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return InvalidArgumentError("'" + std::string(text) + "' is not a CIDR block (" +
                                std::string(why) + "), e.g. 10.0.0.0/8 or fd00::/8");
  };
  const size_t slash = text.find('/');
  auto address = IpAddress::Parse(text.substr(0, slash));
  if (!address) return fail("not an IPv4 or IPv6 address");
  // A v4-mapped IPv6 block (::ffff:10.0.0.0/104) counts its prefix in IPv6 bits.
  const bool v4_text = text.substr(0, slash).find(':') == std::string_view::npos;
  const int max_len = v4_text ? 32 : 128;
  int len = max_len;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || len < 0 ||
        len > max_len) {
      return fail("the prefix length must be 0 to " + std::to_string(max_len));
    }
  }
  IpNetwork network;
  network.prefix_len = v4_text ? len + 96 : len;
  network.base = *address;
  for (int bit = network.prefix_len; bit < 128; ++bit) {
    if (network.base.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return fail("host bits are set below the prefix length");
    }
  }
  return network;
}

bool IpNetwork::Contains(const IpAddress& address) const {
  const int full = prefix_len / 8;
  if (!std::equal(base.bytes.begin(), base.bytes.begin() + full, address.bytes.begin())) {
    return false;
  }
  const int rest = prefix_len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (base.bytes[full] & mask) == (address.bytes[full] & mask);
}

bool TrustedProxies::IsTrusted(const IpAddress& address) const {
  return std::any_of(networks_.begin(), networks_.end(),
                     [&](const IpNetwork& n) { return n.Contains(address); });
}

std::optional<std::vector<std::optional<IpAddress>>> ParseForwardedHops(std::string_view value,
                                                                        ForwardedHeader header) {
  std::vector<std::optional<IpAddress>> hops;
  if (header == ForwardedHeader::kXForwardedFor) {
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string_view::npos) comma = value.size();
      std::string_view element = TrimOws(value.substr(start, comma - start));
      if (!element.empty()) hops.push_back(ParseNode(element));  // RFC 9110 §5.6.1: skip empties
      start = comma + 1;
    }
    return hops;
  }
  auto elements = SplitOutsideQuotes(value, ',');
  if (!elements) return std::nullopt;
  for (std::string_view element : *elements) {
    if (TrimOws(element).empty()) continue;
    auto hop = ParseForwardedElement(element);
    if (!hop) return std::nullopt;
    hops.push_back(*hop);
  }
  return hops;
}

std::string TrustedProxies::ClientAddress(std::string_view peer,
                                          const std::vector<Header>& headers) const {
  if (networks_.empty()) return std::string(peer);
  auto peer_address = IpAddress::Parse(peer);
  if (!peer_address || !IsTrusted(*peer_address)) return std::string(peer);
  const std::string_view name =
      header_ == ForwardedHeader::kXForwardedFor ? "x-forwarded-for" : "forwarded";
  // RFC 9110 §5.3: several lines of a list header are one list, in order.
  std::string joined;
  for (const Header& h : headers) {
    if (h.name != name) continue;
    if (!joined.empty()) joined += ", ";
    joined += h.value;
  }
  if (joined.empty()) return std::string(peer);
  auto hops = ParseForwardedHops(joined, header_);
  if (!hops || hops->empty()) return std::string(peer);
  for (size_t i = hops->size(); i-- > 0;) {
    const auto& hop = (*hops)[i];
    if (!hop) return std::string(peer);
    if (!IsTrusted(*hop)) return hop->ToString();
  }
  return hops->front()->ToString();  // every hop is a trusted proxy: the first is the client
}

}  // namespace ts::http
