#include "ts/tti/curl_fetcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <array>
#include <boost/url/parse.hpp>
#include <cctype>
#include <cstring>
#include <mutex>
#include <vector>

#include "ts/common/ascii.h"
#include "ts/common/status_macros.h"

namespace ts::tti {
namespace {

bool InV4(uint32_t addr, uint32_t net, int bits) {
  const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (addr & mask) == (net & mask);
}

constexpr uint32_t V4(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

AddressClass ClassifyV4(uint32_t a) {
  // Link-local holds the metadata service of most clouds (169.254.169.254); the others are the
  // Alibaba (100.100.100.200) and Oracle (192.0.0.192) metadata addresses.
  if (InV4(a, V4(169, 254, 0, 0), 16) || a == V4(100, 100, 100, 200) || a == V4(192, 0, 0, 192) ||
      InV4(a, V4(0, 0, 0, 0), 8) || InV4(a, V4(224, 0, 0, 0), 4) || InV4(a, V4(240, 0, 0, 0), 4)) {
    return AddressClass::kForbidden;
  }
  if (InV4(a, V4(127, 0, 0, 0), 8)) return AddressClass::kLoopback;
  if (InV4(a, V4(10, 0, 0, 0), 8) || InV4(a, V4(172, 16, 0, 0), 12) ||
      InV4(a, V4(192, 168, 0, 0), 16) || InV4(a, V4(100, 64, 0, 0), 10) ||
      InV4(a, V4(192, 0, 0, 0), 24) || InV4(a, V4(198, 18, 0, 0), 15)) {
    return AddressClass::kPrivate;
  }
  return AddressClass::kPublic;
}

AddressClass ClassifyV6(const std::array<uint8_t, 16>& b) {
  static constexpr std::array<uint8_t, 16> kLoopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr std::array<uint8_t, 16> kUnspecified = {};
  // AWS's IPv6 metadata endpoint fd00:ec2::254.
  static constexpr std::array<uint8_t, 16> kAwsMetadata = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                                           0,    0,    0,    0,    0, 0, 2, 0x54};
  if (b == kLoopback) return AddressClass::kLoopback;
  if (b == kUnspecified || b == kAwsMetadata) return AddressClass::kForbidden;
  // IPv4-mapped (::ffff:a.b.c.d): judged as the IPv4 address it reaches.
  bool mapped = b[10] == 0xff && b[11] == 0xff;
  for (int i = 0; i < 10; ++i) mapped = mapped && b[i] == 0;
  if (mapped) return ClassifyV4(V4(b[12], b[13], b[14], b[15]));
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::kForbidden;  // fe80::/10
  if (b[0] == 0xff) return AddressClass::kForbidden;                           // multicast
  if ((b[0] & 0xfe) == 0xfc) return AddressClass::kPrivate;                    // fc00::/7
  return AddressClass::kPublic;
}

bool Allowed(AddressClass c, const CurlFetcherOptions& options) {
  switch (c) {
    case AddressClass::kPublic:
      return true;
    case AddressClass::kLoopback:
      return options.allow_insecure_loopback;
    case AddressClass::kPrivate:
      return options.allow_private_networks;
    case AddressClass::kForbidden:
      return false;
  }
  return false;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return ClassifyAddress(h) == AddressClass::kLoopback;
}

struct Transfer {
  std::string body;
  int64_t max_bytes = 0;
  bool too_large = false;
  int64_t max_age = -1;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (static_cast<int64_t>(t->body.size() + n) > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

// RFC 9111 §5.2.2: no-store / no-cache mean "do not reuse" (0); max-age=N gives the lifetime.
size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const std::string line = AsciiLower(std::string_view(data, n));
  if (line.rfind("cache-control:", 0) == 0) {
    if (line.find("no-store") != std::string::npos || line.find("no-cache") != std::string::npos) {
      t->max_age = 0;
    } else if (size_t p = line.find("max-age="); p != std::string::npos) {
      int64_t v = 0;
      bool digits = false;
      for (size_t i = p + 8; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]));
           ++i) {
        digits = true;
        v = v * 10 + (line[i] - '0');
        if (v > 100'000'000) break;
      }
      if (digits) t->max_age = v;
    }
  }
  return n;
}

// Adds the extra CA file to the system trust store of this connection (CURLOPT_CAINFO would
// replace the system store instead).
CURLcode AddExtraCa(CURL*, void* ssl_ctx, void* user) {
  auto* file = static_cast<const std::string*>(user);
  X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
  if (store == nullptr || X509_STORE_load_file(store, file->c_str()) != 1) {
    return CURLE_SSL_CACERT_BADFILE;
  }
  return CURLE_OK;
}

class CurlFetcher final : public HttpFetcher {
 public:
  explicit CurlFetcher(CurlFetcherOptions options) : options_(std::move(options)) {}

  StatusOr<FetchResult> Get(const std::string& url) override {
    TS_RETURN_IF_ERROR(CheckUrl(url, options_));
    auto parsed = boost::urls::parse_absolute_uri(url);
    std::string host(parsed->encoded_host_address());
    std::string lookup = host;
    if (lookup.size() > 2 && lookup.front() == '[') lookup = lookup.substr(1, lookup.size() - 2);
    const bool https = parsed->scheme() == "https";
    const std::string port =
        parsed->has_port() ? std::string(parsed->port()) : std::string(https ? "443" : "80");
    // Resolve once, check every address, and pin the first for the connection.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(lookup.c_str(), port.c_str(), &hints, &res); rc != 0) {
      return UnavailableError("cannot resolve " + lookup + ": " + gai_strerror(rc));
    }
    std::vector<std::string> addresses;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src =
          ai->ai_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
      if (inet_ntop(ai->ai_family, src, buf, sizeof buf) != nullptr) addresses.emplace_back(buf);
    }
    freeaddrinfo(res);
    if (addresses.empty()) return UnavailableError("no address for " + lookup);
    for (const std::string& a : addresses) {
      if (!Allowed(ClassifyAddress(a), options_)) {
        return InvalidArgumentError("refusing to fetch " + url + ": " + lookup +
                                    " resolves to the non-public address " + a);
      }
    }
    const std::string& pinned = addresses.front();
    const bool v6 = pinned.find(':') != std::string::npos;

    CURL* curl = curl_easy_init();
    if (curl == nullptr) return InternalError("curl_easy_init failed");
    struct Cleanup {
      CURL* c;
      curl_slist* r = nullptr;
      ~Cleanup() {
        curl_slist_free_all(r);
        curl_easy_cleanup(c);
      }
    } cleanup{curl};
    cleanup.r = curl_slist_append(
        nullptr, (lookup + ":" + port + ":" + (v6 ? "[" + pinned + "]" : pinned)).c_str());
    Transfer t;
    t.max_bytes = options_.max_bytes;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_RESOLVE, cleanup.r);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.timeout_ms));
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");  // no proxy from the environment
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tessera");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options_.max_bytes));
    if (!options_.extra_ca_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, AddExtraCa);
      curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &options_.extra_ca_file);
    }
    const CURLcode rc = curl_easy_perform(curl);
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return UnavailableError("response from " + url + " is larger than " +
                              std::to_string(options_.max_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return UnavailableError("timed out after " + std::to_string(options_.timeout_ms) +
                              " ms fetching " + url);
    }
    if (rc != CURLE_OK) {
      return UnavailableError("cannot fetch " + url + ": " + curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    FetchResult result;
    result.status = static_cast<int>(status);
    result.body = std::move(t.body);
    result.max_age = t.max_age;
    return result;
  }

 private:
  CurlFetcherOptions options_;
};

}  // namespace

AddressClass ClassifyAddress(std::string_view ip) {
  std::string s(ip);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return ClassifyV4(ntohl(v4.s_addr));
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), &v6, 16);
    return ClassifyV6(b);
  }
  return AddressClass::kForbidden;
}

Status CheckUrl(std::string_view url, const CurlFetcherOptions& options) {
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return InvalidArgumentError("not an absolute URL: " + std::string(url));
  const std::string scheme(parsed->scheme());
  if (parsed->has_userinfo()) {
    return InvalidArgumentError("URL must not carry user info: " + std::string(url));
  }
  const std::string host(parsed->encoded_host_address());
  if (host.empty()) return InvalidArgumentError("URL has no host: " + std::string(url));
  if (scheme == "https") return OkStatus();
  if (scheme == "http") {
    if (!IsLoopbackHost(host)) {
      return InvalidArgumentError("URL must use https: " + std::string(url));
    }
    if (!options.allow_insecure_loopback) {
      return InvalidArgumentError(
          "URL must use https (plain http to a loopback issuer needs "
          "--allow-insecure-loopback-issuers): " +
          std::string(url));
    }
    return OkStatus();
  }
  return InvalidArgumentError("URL must use https: " + std::string(url));
}

void GlobalInitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::unique_ptr<HttpFetcher> MakeCurlFetcher(CurlFetcherOptions options) {
  GlobalInitCurl();
  return std::make_unique<CurlFetcher>(std::move(options));
}

}  // namespace ts::tti
