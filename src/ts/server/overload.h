// File: overload.h
// Overload's one decision point (docs/design/overload.md): whether a request Tessera has read is
// served or answered at once with its API's throttling answer, and why. The bounds on requests
// in progress and on the workers' queue, the refusals' counter (tessera_refusals_total) and log
// line.
//
// Thread-safe: Admission's methods may be called from every thread at once.
#pragma once

#include <atomic>
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

// Tessera's admission of the requests it does not answer at once (Tessera::HandleAsync).
class Admission {
 public:
  struct Options {
    int64_t max_in_progress = 0;  // --threads + --max-queued-requests
    size_t max_worker_queue = 0;  // --max-worker-queue (resolved)
  };
  // Must outlive every Responder that Admit wrapped.
  explicit Admission(const Options& options);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Takes a place among the requests in progress and wraps `respond` so that its first answer
  // (or its destruction, if it were dropped unanswered) gives it back. Or the reason to refuse
  // (kQueueFull); `respond` is then unchanged.
  std::optional<Refusal> Admit(http::Responder& respond) const;
  // Whether a request posted to the workers now would pass --max-worker-queue, `waiting` being
  // the workers' queue length. Checked, then posted: io threads racing may pass the bound by one
  // each, which does not matter for a bound of hundreds.
  bool WorkersFull(size_t waiting) const { return waiting >= max_worker_queue_; }
  // Answers `request` with ThrottledAnswer, counts the refusal and logs (at most once a second)
  // how many requests were refused and why.
  void Refuse(Refusal why, const Route& route, const http::Request& request,
              const http::Responder& respond) const;

  int64_t in_progress() const { return in_progress_.load(std::memory_order_relaxed); }

 private:
  const int64_t max_in_progress_;
  const size_t max_worker_queue_;
  mutable std::atomic<int64_t> in_progress_{0};
  mutable std::atomic<int64_t> refused_since_log_{0};
  mutable std::atomic<int64_t> last_refusal_log_{0};  // steady clock, seconds
};

}  // namespace ts::server
