// File: client_address.h
// Which address a request is attributed to (sign-in throttling, the per-address limits of
// RegisterClient and StartDeviceAuthorization, logs, the audit trail): the TCP peer, unless the
// peer is a trusted proxy (`--trusted-proxy CIDR`), in which case the proxies' forwarding header
// is walked from the right, skipping trusted hops, and the first untrusted address is the client
// (docs/design/tls-and-proxies.md). Handlers read the result as http::Request::ClientAddress().
//
// Thread-safety: a TrustedProxies is immutable once built; its const methods may be called
// concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"
#include "ts/http/message.h"

namespace ts::http {

// An IPv4 or IPv6 address in network byte order; IPv4 is kept as its IPv4-mapped IPv6 form
// (::ffff:a.b.c.d), so one comparison covers both families.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool is_v4 = false;

  // "192.0.2.1", "2001:db8::1" or "::ffff:192.0.2.1" (which is the IPv4 address). nullopt on
  // anything else: brackets, ports, zones and surrounding spaces included.
  static std::optional<IpAddress> Parse(std::string_view text);
  // Canonical text: dotted quad for IPv4 (mapped or not), RFC 5952 for IPv6.
  std::string ToString() const;
};

// A CIDR block, e.g. 10.0.0.0/8 or ::1/128. A bare address is its own /32 or /128.
struct IpNetwork {
  IpAddress base;      // host bits cleared
  int prefix_len = 0;  // of the 128-bit form: an IPv4 /8 is stored as /104

  // InvalidArgument naming `text` on a malformed block, a prefix out of range (IPv4 0-32, IPv6
  // 0-128) or host bits set below the prefix (10.0.0.1/8: probably a typo for a /32).
  static StatusOr<IpNetwork> Parse(std::string_view text);
  bool Contains(const IpAddress& address) const;
};

// Which header trusted proxies use to name the client.
enum class ForwardedHeader {
  kXForwardedFor,  // X-Forwarded-For: client, proxy1, proxy2 (the de-facto standard)
  kForwarded,      // RFC 7239 Forwarded: for=client, for=proxy1
};

class TrustedProxies {
 public:
  TrustedProxies() = default;
  TrustedProxies(std::vector<IpNetwork> networks, ForwardedHeader header)
      : networks_(std::move(networks)), header_(header) {}

  bool empty() const { return networks_.empty(); }
  bool IsTrusted(const IpAddress& address) const;

  // The client address of a request that arrived from `peer` with `headers` (lower-case names):
  // `peer` itself when it is not trusted or the header is absent or malformed; otherwise the
  // rightmost address in the header that is not trusted, or the leftmost when all are. An
  // element that is not an IP address ("unknown", an obfuscated identifier, garbage) ends the
  // walk with `peer`: what lies to its left was not vouched for by a trusted hop. Never throws;
  // the result is canonical text (IpAddress::ToString) when it comes from a header.
  std::string ClientAddress(std::string_view peer, const std::vector<Header>& headers) const;

 private:
  std::vector<IpNetwork> networks_;
  ForwardedHeader header_ = ForwardedHeader::kXForwardedFor;
};

// The hops a forwarding header lists, leftmost (the original client) first; nullopt when the
// header's syntax is broken. X-Forwarded-For elements are separated by commas and may carry a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711"); RFC 7239 elements' `for=` values may be quoted.
// An element without a usable address yields nullopt in its place. Exposed for the fuzz test.
std::optional<std::vector<std::optional<IpAddress>>> ParseForwardedHops(std::string_view value,
                                                                        ForwardedHeader header);

}  // namespace ts::http
