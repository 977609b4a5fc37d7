// File: management.h
// The management listener (`--management-listen`, docs/design/metrics.md): GET /metrics
// (Prometheus text format 0.0.4), GET /health/live and GET /health/ready, on an address of its
// own so that the public listener never serves them and a firewall can keep them internal.
//
// Thread-safe: the handler may run on several threads; Readiness fields are atomics.
#pragma once

#include <atomic>
#include <string>

#include "ts/common/status.h"
#include "ts/http/message.h"

namespace ts::server {

class Tessera;

// What readiness depends on, set by `tessera serve` as it starts and stops.
struct Readiness {
  // Non-null once Tessera::Create returned: migrations applied, signing keys loaded. Reset to
  // null before the application is destroyed (after the public listener drained).
  std::atomic<const Tessera*> app{nullptr};
  // Set when SIGTERM/SIGINT arrives: not ready from then on, so load balancers stop sending.
  std::atomic<bool> draining{false};
};

// Answers a request on the management listener. /health/ready: 200 {"status":"UP"} when the
// application is up, not draining and Tessera::CheckReady passes; else 503
// {"status":"DOWN","reason":"..."}. /health/live: 200 {"status":"UP"} while the process serves.
// Other paths 404, other methods 405, as JSON {"message":...}.
http::Response HandleManagement(const http::Request& request, const Readiness& readiness);

// Registers the metrics of the process itself in metrics::DefaultRegistry(), once:
// tessera_build_info{version,commit}, process_resident_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds, process_cpu_seconds_total,
// process_uptime_seconds.
void RegisterProcessMetrics();

}  // namespace ts::server
