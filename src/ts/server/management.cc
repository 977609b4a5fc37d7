// File: management.cc
#include "ts/server/management.h"

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <mutex>

#include "ts/common/json_writer.h"
#include "ts/common/memory.h"
#include "ts/common/metrics.h"
#include "ts/server/app.h"
#include "ts/server/commands.h"

namespace ts::server {
namespace {

http::Response JsonAnswer(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.SetHeader("Content-Type", "application/json");
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

http::Response Message(int status, std::string_view message) {
  JsonWriter w;
  w.BeginObject();
  w.Key("message");
  w.String(message);
  w.EndObject();
  return JsonAnswer(status, w.Take());
}

http::Response Down(std::string_view reason) {
  JsonWriter w;
  w.BeginObject();
  w.Key("status");
  w.String("DOWN");
  w.Key("reason");
  w.String(reason);
  w.EndObject();
  return JsonAnswer(503, w.Take());
}

double SecondsSinceEpoch() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double OpenFds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return n > 0 ? n - 1 : 0;  // less the iterator's own descriptor
}

double MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<double>(limit.rlim_cur);
}

double CpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

void RegisterProcessMetrics() {
  static std::once_flag once;
  std::call_once(once, [] {
    metrics::Registry& r = metrics::DefaultRegistry();
    r.AddGauge("tessera_build_info", "The version and the commit this binary was built from.",
               {{"version", {kVersion}}, {"commit", {kBuildCommit}}})
        .At(0)
        .Set(1);
    // The standard process collector's names (as Prometheus client libraries export them), so
    // existing dashboards and alerts apply.
    r.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        .SetCallback([] { return static_cast<double>(ResidentBytes()); });
    r.AddCallbackGauge("process_open_fds", "Number of open file descriptors.").SetCallback(OpenFds);
    r.AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.")
        .SetCallback(MaxFds);
    const double start = SecondsSinceEpoch();
    r.AddCallbackGauge("process_start_time_seconds",
                       "Start time of the process since the Unix epoch in seconds.")
        .SetCallback([start] { return start; });
    r.AddCallbackGauge("process_uptime_seconds", "Seconds since the process started.")
        .SetCallback([start] { return SecondsSinceEpoch() - start; });
    r.AddCallbackCounter("process_cpu_seconds_total", "Total user and system CPU time in seconds.")
        .SetCallback(CpuSeconds);
  });
}

http::Response HandleManagement(const http::Request& request, const Readiness& readiness) {
  const std::string_view path = request.Path();
  if (path != "/metrics" && path != "/health/live" && path != "/health/ready" &&
      path != "/health") {
    return Message(404, "No management endpoint at " + std::string(path) +
                            " (GET /metrics, /health/live, /health/ready)");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    http::Response r = Message(405, "Use GET " + std::string(path));
    r.SetHeader("Allow", "GET, HEAD");
    return r;
  }
  if (path == "/metrics") {
    http::Response r;
    r.body = metrics::DefaultRegistry().Render();
    r.SetHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.SetHeader("Cache-Control", "no-store");
    return r;
  }
  if (path == "/health/live") return JsonAnswer(200, R"({"status":"UP"})");
  // /health/ready, and /health as Keycloak and Hydra's aggregate.
  if (readiness.draining.load(std::memory_order_acquire)) {
    return Down("shutting down: draining in-flight requests");
  }
  const Tessera* app = readiness.app.load(std::memory_order_acquire);
  if (app == nullptr) return Down("starting: migrations and signing keys not loaded yet");
  if (Status s = app->CheckReady(); !s.ok()) return Down(s.message());
  return JsonAnswer(200, R"({"status":"UP"})");
}

}  // namespace ts::server
