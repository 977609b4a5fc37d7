// File: overload.h
// Overload's one decision point (docs/design/overload.md): whether a request Tessera has read is
// served or answered at once with its API's throttling answer, and why. The bounds on requests
// in progress and on the workers' queue, the shedding of requests while the io threads' CPU is
// saturated, the refusals' counter (tessera_refusals_total) and log line.
//
// Thread-safe: Admission's methods may be called from every thread at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "ts/common/refusals.h"
#include "ts/http/message.h"

namespace ts::server {

struct Route;

// The answer to a request refused for overload, in the throttling shape of the API `route`
// belongs to, with Retry-After: sso-oidc's 400 SlowDownException, the admin plane's 400
// ThrottlingException (awsJson), the access portal's 429 TooManyRequestsException, 503 for the
// browser pages and userinfo.
http::Response ThrottledAnswer(const Route& route, const http::Request& request);

// CPU saturation read from the io threads' lag: how late a periodic timer's handler runs after
// its expiry, i.e. how long work that is ready waits for an io thread (the http server measures
// it, http::ServerOptions::on_io_lag). The samples are smoothed (a moving average weighted by
// the time each covers, so that a lone stall counts for little); the share of requests to shed
// is 0 up to `threshold`, then rises linearly to 1 at twice it.
class LagShedder {
 public:
  // The smoothing's time constant: a lag must last about this long to count fully.
  static constexpr int64_t kSmoothingMicros = 500'000;

  // `threshold_micros` 0: never sheds.
  explicit LagShedder(int64_t threshold_micros) : threshold_micros_(threshold_micros) {}

  // A sample: the timer ran `lag_micros` late, at `now_micros` (steady clock). Called by one
  // thread at a time (the timer's handler re-arms it).
  void Observe(int64_t lag_micros, int64_t now_micros);
  // The share of new requests to shed now, from 0 to 1.
  double ShedShare() const;
  // Whether to shed a request, `draw` being uniform in [0, 1).
  bool Shed(double draw) const { return draw < ShedShare(); }
  int64_t SmoothedLagMicros() const {
    return static_cast<int64_t>(smoothed_micros_.load(std::memory_order_relaxed));
  }

 private:
  const int64_t threshold_micros_;
  std::atomic<double> smoothed_micros_{0};
  int64_t last_sample_micros_ = -1;  // only Observe
};

// Tessera's admission of the requests it does not answer at once (Tessera::HandleAsync).
class Admission {
 public:
  struct Options {
    int64_t max_in_progress = 0;     // --threads + --max-queued-requests
    size_t max_worker_queue = 0;     // --max-worker-queue (resolved)
    int64_t shed_io_lag_micros = 0;  // --shed-io-lag-us (0: no shedding)
  };
  // Must outlive every Responder that Admit wrapped.
  explicit Admission(const Options& options);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Takes a place among the requests in progress and wraps `respond` so that its first answer
  // (or its destruction, if it were dropped unanswered) gives it back. Or the reason to refuse,
  // `respond` then unchanged: kCpuSaturation (shed, with LagShedder's share, before anything
  // else: a refusal is far cheaper than a grant) or kQueueFull.
  std::optional<Refusal> Admit(http::Responder& respond) const;
  // Whether a request posted to the workers now would pass --max-worker-queue, `waiting` being
  // the workers' queue length. Checked, then posted: io threads racing may pass the bound by one
  // each, which does not matter for a bound of hundreds.
  bool WorkersFull(size_t waiting) const { return waiting >= max_worker_queue_; }
  // Answers `request` with ThrottledAnswer, counts the refusal and logs (at most once a second)
  // how many requests were refused and why.
  void Refuse(Refusal why, const Route& route, const http::Request& request,
              const http::Responder& respond) const;

  // A sample of the io threads' lag (http::ServerOptions::on_io_lag), also exposed as
  // tessera_io_lag_seconds (smoothed).
  void ObserveIoLag(std::chrono::microseconds lag) const;
  const LagShedder& shedder() const { return shedder_; }
  int64_t in_progress() const { return in_progress_.load(std::memory_order_relaxed); }

 private:
  const int64_t max_in_progress_;
  const size_t max_worker_queue_;
  mutable std::atomic<int64_t> in_progress_{0};
  mutable LagShedder shedder_;
  mutable std::atomic<int64_t> refused_since_log_{0};
  mutable std::atomic<int64_t> last_refusal_log_{0};  // steady clock, seconds
};

}  // namespace ts::server
