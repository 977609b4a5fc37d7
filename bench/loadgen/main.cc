// tessera-loadgen: drives Tessera (CreateTokenWithIAM, SigV4-signed as the SDKs sign) or an OAuth
// peer over keep-alive HTTP/1.1 connections, closed-loop (fixed concurrency) or open-loop (fixed
// arrival rate; latency is measured from each request's scheduled start, so queueing inside the
// server or the generator is not hidden), and reports throughput, latency percentiles, errors by
// type, the server's CPU seconds per request and its resident memory.
//
//   tessera-loadgen --scenario refresh --port 8080 --key-id AKIA... --secret ...
//       --application-arn arn:... --redirect-uri https://... --password ...
//       [--concurrency 32 | --rate 5000 --concurrency 64] [--duration 10] [--warmup 2] [--settle 0]
//       [--server-pid PID] [--json-out results.jsonl] [--label name] [--start-at UNIX_TIME]
//
// See bench/README.md for every scenario's options.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "event_loop.h"
#include "scenarios.h"

namespace loadgen {
namespace {

struct ProcessSample {
  double cpu_seconds = 0;
  double rss_mb = 0;
  double peak_rss_mb = 0;
  // Bytes the process sent to the storage layer (/proc/<pid>/io write_bytes): what shows that a
  // request wrote nothing (a pending device-code poll).
  int64_t write_bytes = 0;
};

// utime + stime from /proc/<pid>/stat, VmRSS and VmHWM from /proc/<pid>/status.
bool SampleProcess(int pid, ProcessSample& s) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state, just after the name
    if (i == 14) utime = std::stod(f);
    if (i == 15) {
      stime = std::stod(f);
      break;
    }
  }
  s.cpu_seconds = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mb = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) s.peak_rss_mb = std::stod(line.substr(6)) / 1024.0;
  }
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  for (std::string line; std::getline(io, line);) {
    if (line.rfind("write_bytes:", 0) == 0) s.write_bytes = std::stoll(line.substr(12));
  }
  return true;
}

// This process's own CPU seconds (all threads), to show whether the generator kept up.
double OwnCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, i == 0 ? 0 : i - 1)];
}

int Usage(const char* message) {
  std::fprintf(stderr, "tessera-loadgen: %s (see bench/README.md)\n", message);
  return 2;
}

bool ParseArgs(int argc, char** argv, Options& o, std::string& error) {
  std::map<std::string, std::string*> strings = {{"--scenario", &o.scenario},
                                                 {"--host", &o.host},
                                                 {"--json-out", &o.json_out},
                                                 {"--label", &o.label},
                                                 {"--region", &o.region},
                                                 {"--key-id", &o.access_key_id},
                                                 {"--secret", &o.secret_access_key},
                                                 {"--application-arn", &o.application_arn},
                                                 {"--redirect-uri", &o.redirect_uri},
                                                 {"--username", &o.username},
                                                 {"--password", &o.password},
                                                 {"--scope", &o.scope},
                                                 {"--exchange-target-arn", &o.exchange_target_arn},
                                                 {"--jwt-audience", &o.jwt_audience},
                                                 {"--jwt-email", &o.jwt_email},
                                                 {"--seed-file", &o.seed_file},
                                                 {"--start-url", &o.start_url}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      error = flag + " needs a value";
      return false;
    }
    const std::string value = argv[++i];
    try {
      if (auto it = strings.find(flag); it != strings.end()) {
        *it->second = value;
      } else if (flag == "--port") {
        o.port = static_cast<uint16_t>(std::stoi(value));
      } else if (flag == "--issuer-port") {
        o.issuer_port = static_cast<uint16_t>(std::stoi(value));
      } else if (flag == "--concurrency") {
        o.concurrency = std::stoi(value);
      } else if (flag == "--rate") {
        o.rate = std::stod(value);
      } else if (flag == "--duration") {
        o.duration = std::stod(value);
      } else if (flag == "--warmup") {
        o.warmup = std::stod(value);
      } else if (flag == "--settle") {
        o.settle = std::stod(value);
      } else if (flag == "--requests") {
        o.max_requests = std::stoll(value);
      } else if (flag == "--device-codes") {
        o.device_codes = std::stoll(value);
      } else if (flag == "--server-pid") {
        o.server_pid = std::stoi(value);
      } else if (flag == "--start-at") {
        o.start_at = std::stod(value);
      } else {
        error = "unknown flag " + flag;
        return false;
      }
    } catch (const std::exception&) {
      error = flag + " takes a number, got '" + value + "'";
      return false;
    }
  }
  if (o.scenario.empty()) error = "--scenario is required";
  if (o.concurrency < 1) error = "--concurrency must be at least 1";
  return error.empty();
}

int Run(const Options& o) {
  std::string error;
  std::unique_ptr<Scenario> scenario = MakeScenario(o, error);
  if (!scenario) return Usage(error.c_str());
  const bool open_loop = o.rate > 0;
  int64_t planned = o.max_requests;
  if (planned == 0) {
    planned = open_loop ? static_cast<int64_t>(o.rate * (o.warmup + o.duration) * 1.02) + 1 : 0;
  }
  if (planned == 0 && (o.scenario == "code" || o.scenario == "jwt")) {
    return Usage("the code and jwt scenarios use single-use material: give --requests N");
  }
  std::fprintf(stderr, "loadgen: %s: setting up %d users%s...\n", o.scenario.c_str(), o.concurrency,
               planned > 0 ? (" and " + std::to_string(planned) + " requests").c_str() : "");
  const Clock::time_point setup_began = Clock::now();
  if (!scenario->Setup(o.concurrency, planned, error)) {
    std::fprintf(stderr, "loadgen: setup failed: %s\n", error.c_str());
    return 1;
  }
  const double setup_seconds = std::chrono::duration<double>(Clock::now() - setup_began).count();
  // Several generators started together begin their runs together (soak.py): one generator's
  // setup (thousands of sign-ins, or of RSA signatures on a shared core) must not load the
  // server or the core while another measures. A setup that ends after --start-at starts at
  // once, and the report says how late.
  double late_seconds = 0;
  if (o.start_at > 0) {
    const double wall =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (wall < o.start_at) {
      std::this_thread::sleep_for(std::chrono::duration<double>(o.start_at - wall));
    } else {
      late_seconds = wall - o.start_at;
    }
  }

  // Idle before the run, so a script sampling PostgreSQL's statistics, which a busy backend
  // publishes at most once a second and an idle one after 10 s, does not count the setup's
  // transactions in a run whose every request is measured (--warmup 0; pg_bench.py).
  if (o.settle > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
  }
  // Tells a script sampling other processes (run_bench.py's PostgreSQL server) when the
  // warm-up starts; the measured window follows it by --warmup seconds.
  std::fprintf(stderr, "loadgen: running\n");
  std::fflush(stderr);
  RunWindow window;
  window.t0 = Clock::now();
  window.measure_start = window.t0 + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.warmup));
  window.end = window.measure_start + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o.duration));
  // Sampled when the first counted request goes out, and again when the run is over.
  ProcessSample before, after;
  double own_cpu_before = 0;
  const std::function<void()> sample_start = [&] {
    own_cpu_before = OwnCpuSeconds();
    if (o.server_pid != 0) SampleProcess(o.server_pid, before);
  };
  RunResult run;
  run.last_done = window.measure_start;
  run.latencies_ms.reserve(1 << 20);
  if (!RunEventLoop(o, *scenario, window, sample_start, run, error)) {
    std::fprintf(stderr, "loadgen: %s\n", error.c_str());
    return 1;
  }
  if (o.server_pid != 0) SampleProcess(o.server_pid, after);
  const double own_cpu = OwnCpuSeconds() - own_cpu_before;
  const Clock::time_point measure_start = window.measure_start;

  std::vector<double>& all = run.latencies_ms;
  const std::map<std::string, int64_t>& errors = run.errors;
  const Clock::time_point last_done = std::max(run.last_done, measure_start);
  int64_t error_count = 0;
  for (const auto& [type, n] : errors) error_count += n;
  std::sort(all.begin(), all.end());
  const double seconds = std::chrono::duration<double>(last_done - measure_start).count();
  const int64_t completed = static_cast<int64_t>(all.size()) + error_count;
  const double throughput = seconds > 0 ? static_cast<double>(all.size()) / seconds : 0;
  const double cpu = after.cpu_seconds - before.cpu_seconds;
  const double cpu_us = completed > 0 ? cpu * 1e6 / static_cast<double>(completed) : 0;

  std::string error_text;
  std::string error_json = "{";
  for (const auto& [type, n] : errors) {
    error_text += " " + type + "=" + std::to_string(n);
    error_json += (error_json.size() > 1 ? "," : "") + ("\"" + type + "\":" + std::to_string(n));
  }
  error_json += "}";
  const std::string name = o.label.empty() ? o.scenario : o.label;
  const std::string mode = open_loop ? "open loop " + std::to_string(static_cast<int>(o.rate)) +
                                           "/s, " + std::to_string(o.concurrency) + " connections"
                                     : "closed loop, " + std::to_string(o.concurrency) + " users";
  std::printf("%s (%s): %lld ok, %lld errors%s in %.2f s = %.0f req/s\n", name.c_str(),
              mode.c_str(), static_cast<long long>(all.size()), static_cast<long long>(error_count),
              error_text.c_str(), seconds, throughput);
  std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
              Percentile(all, 50), Percentile(all, 90), Percentile(all, 99), Percentile(all, 99.9),
              all.empty() ? 0 : all.back());
  std::printf("  generator: %.2f CPU s (%.0f%% of one core)\n", own_cpu,
              seconds > 0 ? 100 * own_cpu / seconds : 0);
  if (o.server_pid != 0) {
    std::printf(
        "  server: %.2f CPU s = %.1f us/request (%.0f req/s per core); RSS %.1f MB, "
        "peak %.1f MB; %lld bytes written to storage\n",
        cpu, cpu_us, cpu_us > 0 ? 1e6 / cpu_us : 0, after.rss_mb, after.peak_rss_mb,
        static_cast<long long>(after.write_bytes - before.write_bytes));
  }
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out, std::ios::app);
    char line[1024];
    std::snprintf(line, sizeof line,
                  "{\"label\":\"%s\",\"scenario\":\"%s\",\"open_loop\":%s,\"rate\":%.0f,"
                  "\"concurrency\":%d,\"ok\":%lld,\"errors\":%s,\"seconds\":%.3f,"
                  "\"throughput\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
                  "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"server_cpu_s\":%.3f,"
                  "\"cpu_us_per_request\":%.1f,\"rss_mb\":%.1f,\"peak_rss_mb\":%.1f,"
                  "\"generator_cpu_s\":%.3f,\"server_write_bytes\":%lld,\"setup_s\":%.3f,"
                  "\"late_start_s\":%.3f}\n",
                  name.c_str(), o.scenario.c_str(), open_loop ? "true" : "false", o.rate,
                  o.concurrency, static_cast<long long>(all.size()), error_json.c_str(), seconds,
                  throughput, Percentile(all, 50), Percentile(all, 90), Percentile(all, 99),
                  Percentile(all, 99.9), all.empty() ? 0 : all.back(), cpu, cpu_us, after.rss_mb,
                  after.peak_rss_mb, own_cpu,
                  static_cast<long long>(after.write_bytes - before.write_bytes), setup_seconds,
                  late_seconds);
    out << line;
  }
  return error_count == 0 ? 0 : 3;
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
  loadgen::Options options;
  std::string error;
  if (!loadgen::ParseArgs(argc, argv, options, error)) return loadgen::Usage(error.c_str());
  return loadgen::Run(options);
}
