#include "ts/server/overload.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "ts/admin/admin_api.h"
#include "ts/common/log.h"
#include "ts/common/metrics.h"
#include "ts/oauth/errors.h"
#include "ts/portal/portal_api.h"
#include "ts/server/routes.h"
#include "ts/web/login_page.h"
#include "ts/web/sign_in.h"

namespace ts::server {
namespace {

// A place among the requests in progress, given back by the first answer or, if the Responder
// is dropped unanswered, by its destruction.
class InProgress {
 public:
  explicit InProgress(std::atomic<int64_t>& count) : count_(count) {}
  InProgress(const InProgress&) = delete;
  InProgress& operator=(const InProgress&) = delete;
  ~InProgress() { Release(); }
  void Release() {
    if (!released_.exchange(true)) count_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t>& count_;
  std::atomic<bool> released_{false};
};

const char* Why(Refusal reason) {
  switch (reason) {
    case Refusal::kQueueFull:
      return "--max-queued-requests requests in progress";
    case Refusal::kWorkerQueueFull:
      return "--max-worker-queue requests waiting for a worker";
    case Refusal::kConnections:
      return "--max-connections connections open";
    case Refusal::kCpuSaturation:
      return "CPU saturated: the io threads' lag is past --shed-io-lag-us";
    case Refusal::kRateLimit:
      return "rate limit";
  }
  return "overload";
}

// Uniform in [0, 1), from a generator of the calling thread's own (xorshift64*): a draw per
// request while shedding, with no lock and no shared cache line.
double Draw() {
  thread_local uint64_t state =
      (std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
       static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) |
      1;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<double>((state * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
}

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const metrics::Gauge& IoLagGauge() {
  static const metrics::Gauge gauge =
      metrics::DefaultRegistry()
          .AddGauge("tessera_io_lag_seconds",
                    "How late the io threads run work that is ready (a timer's lag, smoothed over "
                    "about half a second): their CPU saturation. Requests are shed past "
                    "--shed-io-lag-us.")
          .At(0);
  return gauge;
}

}  // namespace

void LagShedder::Observe(int64_t lag_micros, int64_t now_micros) {
  lag_micros = std::max<int64_t>(0, lag_micros);
  // The sample stands for the time since the last one (the first: its own lag), so that a lone
  // stall weighs by its length and a healthy run of samples by theirs.
  const int64_t covered =
      last_sample_micros_ < 0 ? lag_micros : std::max<int64_t>(0, now_micros - last_sample_micros_);
  last_sample_micros_ = now_micros;
  const double weight =
      1.0 - std::exp(-static_cast<double>(covered) / static_cast<double>(kSmoothingMicros));
  const double smoothed = smoothed_micros_.load(std::memory_order_relaxed);
  smoothed_micros_.store(smoothed + weight * (static_cast<double>(lag_micros) - smoothed),
                         std::memory_order_relaxed);
}

double LagShedder::ShedShare() const {
  if (threshold_micros_ <= 0) return 0;
  const double threshold = static_cast<double>(threshold_micros_);
  const double over = (smoothed_micros_.load(std::memory_order_relaxed) - threshold) / threshold;
  return std::clamp(over, 0.0, 1.0);
}

http::Response ThrottledAnswer(const Route& route, const http::Request& request) {
  constexpr char kMessage[] = "The server is busy; retry the request later";
  http::Response r;
  switch (route.endpoint) {
    case Endpoint::kToken:
    case Endpoint::kRegisterClient:
    case Endpoint::kDeviceAuthorization:
    case Endpoint::kIntrospect:
    case Endpoint::kRevoke:
    case Endpoint::kIdentityContext:
      // sso-oidc's throttling shape (400 slow_down); its body is also RFC 6749's, so a form
      // client reads it too.
      r = oauth::ToErrorResponse(oauth::SlowDown(kMessage));
      break;
    case Endpoint::kAdmin: {
      const std::string_view target = request.FindHeader("x-amz-target").value_or("");
      r = admin::AwsJsonError(
          ApiError(StatusCode::kResourceExhausted, "ThrottlingException", kMessage), target,
          request.request_id);
      // identitystore's ThrottlingException models RetryAfterSeconds, a body member under
      // awsJson 1.1 (sso-admin's does not); the same second as the Retry-After header.
      if (admin::AdminApi::SigningNameFor(target) == "identitystore" && r.body.ends_with('}')) {
        r.body.insert(r.body.size() - 1, R"(,"RetryAfterSeconds":1)");
      }
      break;
    }
    case Endpoint::kPortalCredentials:
    case Endpoint::kPortalAccounts:
    case Endpoint::kPortalRoles:
    case Endpoint::kLogout:
      if (route.endpoint != Endpoint::kLogout || portal::PortalApi::IsPortalRequest(request)) {
        Status ignored;
        r = portal::PortalAnswer(
            ApiError(StatusCode::kResourceExhausted, "TooManyRequestsException", kMessage),
            &ignored);
        break;
      }
      [[fallthrough]];
    default:
      if (route.endpoint == Endpoint::kUserInfo) {
        r.status = 503;
        r.body = std::string(R"({"error":"temporarily_unavailable","error_description":")") +
                 kMessage + "\"}";
        r.SetHeader("Content-Type", "application/json");
      } else {
        r = web::HtmlResponse(503, web::RenderErrorPage("temporarily_unavailable",
                                                        "The server is busy. Try again in a "
                                                        "moment."));
      }
      break;
  }
  r.SetHeader("Retry-After", "1");
  if (route.cors) AllowAnyOrigin(r);
  return r;
}

Admission::Admission(const Options& options)
    : max_in_progress_(options.max_in_progress),
      max_worker_queue_(options.max_worker_queue),
      shedder_(options.shed_io_lag_micros) {
  // Both families exposed from the start: a scrape sees the same series before and after the
  // first refusal or lag sample.
  (void)RefusalCount(Refusal::kQueueFull);
  (void)IoLagGauge();
}

std::optional<Refusal> Admission::Admit(http::Responder& respond) const {
  // A draw only while shedding: the common case is one relaxed load.
  if (const double share = shedder_.ShedShare(); share > 0 && Draw() < share) {
    return Refusal::kCpuSaturation;
  }
  if (in_progress_.fetch_add(1, std::memory_order_relaxed) >= max_in_progress_) {
    in_progress_.fetch_sub(1, std::memory_order_relaxed);
    return Refusal::kQueueFull;
  }
  auto place = std::make_shared<InProgress>(in_progress_);
  respond = [place, inner = std::move(respond)](http::Response response) {
    place->Release();  // before the write: the connection's next request may take it
    inner(std::move(response));
  };
  return std::nullopt;
}

void Admission::ObserveIoLag(std::chrono::microseconds lag) const {
  shedder_.Observe(lag.count(), SteadyMicros());
  IoLagGauge().Set(static_cast<double>(shedder_.SmoothedLagMicros()) / 1e6);
}

void Admission::Refuse(Refusal why, const Route& route, const http::Request& request,
                       const http::Responder& respond) const {
  CountRefusal(why);
  // One line a second at most: overload is no time to write a line per request.
  const int64_t refused = refused_since_log_.fetch_add(1, std::memory_order_relaxed) + 1;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_refusal_log_.load(std::memory_order_relaxed);
  if (now > last && last_refusal_log_.compare_exchange_strong(last, now)) {
    refused_since_log_.fetch_sub(refused, std::memory_order_relaxed);
    log::Write(log::Level::kWarning, "overload: refused " + std::to_string(refused) +
                                         " request(s) (" + std::string(Why(why)) + ")");
  }
  respond(ThrottledAnswer(route, request));
}

}  // namespace ts::server
