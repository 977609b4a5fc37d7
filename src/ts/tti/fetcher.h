// File: fetcher.h
// The HTTP GET a trusted token issuer's keys are fetched with, behind an interface so the cache
// and the grant can be tested with a fake. The production implementation is curl_fetcher.h.
// Implementations must be thread-safe (the cache calls Get from many threads).
#pragma once

#include <cstdint>
#include <string>

#include "ts/common/status.h"

namespace ts::tti {

struct FetchResult {
  int status = 0;    // the HTTP status code
  std::string body;  // at most the fetcher's size limit
  // Cache-Control max-age in seconds; 0 for no-store/no-cache; -1 when the response says nothing.
  int64_t max_age = -1;
};

class HttpFetcher {
 public:
  virtual ~HttpFetcher() = default;
  // GETs `url`. Returns the response whatever its status. Errors: InvalidArgument when the URL is
  // refused by policy (scheme, address); Unavailable when the server cannot be reached, times out,
  // fails TLS verification or answers more than the size limit.
  virtual StatusOr<FetchResult> Get(const std::string& url) = 0;
};

}  // namespace ts::tti
