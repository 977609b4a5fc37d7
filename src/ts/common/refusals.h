// File: refusals.h
// Requests and connections the server refused to protect itself, counted by reason in
// tessera_refusals_total{reason} (docs/design/overload.md). The HTTP server (the connection
// cap), the rate limiters and Tessera's admission all count here, so that an operator can tell
// an overload from a rate limit, whose answers share an error type (SlowDownException).
//
// Thread-safe: a count is a relaxed atomic add (metrics.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ts {

enum class Refusal : size_t {
  kQueueFull,        // --threads + --max-queued-requests requests in progress
  kWorkerQueueFull,  // --max-worker-queue requests waiting for a worker thread
  kConnections,      // --max-connections connections open
  kCpuSaturation,    // the io threads' lag past --shed-io-lag-us
  kRateLimit,        // a per-address or per-token rate limit (oauth::RateLimiter)
};

// Counts one refusal for `reason`; registers the family in metrics::DefaultRegistry() first.
void CountRefusal(Refusal reason);
// The refusals counted for `reason` so far in this process (tests).
uint64_t RefusalCount(Refusal reason);

}  // namespace ts
