// File: curl_fetcher.h
// HttpFetcher on libcurl for OpenID discovery documents and JWK Sets of trusted token issuers.
// The URLs come from configuration and from the issuers' own discovery documents, so the fetcher
// guards against being turned against the network it runs in (server-side request forgery):
// - https only; plain http only for loopback hosts and only with `allow_insecure_loopback`
//   (development against a local IdP);
// - the host is resolved first and every address checked: link-local (169.254/16, fe80::/10),
//   cloud metadata addresses, unspecified, multicast and reserved ranges are always refused;
//   loopback only with `allow_insecure_loopback`; private ranges (10/8, 172.16/12, 192.168/16,
//   100.64/10, fc00::/7) only with `allow_private_networks`. The checked address is pinned for
//   the connection (CURLOPT_RESOLVE), so a second DNS answer cannot switch it (DNS rebinding);
// - no redirects, a total timeout, a response size limit, TLS peer and host verification, and
//   optionally an extra CA file trusted besides the system's (private IdPs).
// Thread-safe: each Get uses its own curl handle.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ts/common/status.h"
#include "ts/tti/fetcher.h"

namespace ts::tti {

struct CurlFetcherOptions {
  int64_t timeout_ms = 5000;       // whole request, connect included
  int64_t max_bytes = 512 * 1024;  // response body limit
  bool allow_insecure_loopback = false;
  bool allow_private_networks = false;
  std::string extra_ca_file;  // PEM; "" for the system trust store only
};

// What an address is, for the policy above.
enum class AddressClass { kPublic, kLoopback, kPrivate, kForbidden };

// Classifies a numeric IPv4 or IPv6 address (IPv4-mapped IPv6 as its IPv4). Anything that does
// not parse is kForbidden.
AddressClass ClassifyAddress(std::string_view ip);

// OK if `url` may be fetched under `options` before resolution: an absolute http(s) URL without
// user info, https unless the host is a loopback name or address and allow_insecure_loopback.
// InvalidArgument naming the reason otherwise.
Status CheckUrl(std::string_view url, const CurlFetcherOptions& options);

// libcurl must be initialised once per process before threads start (curl_global_init).
void GlobalInitCurl();

std::unique_ptr<HttpFetcher> MakeCurlFetcher(CurlFetcherOptions options);

}  // namespace ts::tti
