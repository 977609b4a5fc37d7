#include "ts/server/overload.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ts/common/metrics.h"
#include "ts/common/refusals.h"
#include "ts/server/routes.h"

namespace ts::server {
namespace {

Admission::Options Bounds(int64_t in_progress, size_t worker_queue) {
  Admission::Options options;
  options.max_in_progress = in_progress;
  options.max_worker_queue = worker_queue;
  return options;
}

// A Responder that keeps what it was answered.
http::Responder Keep(std::vector<http::Response>* answers) {
  return [answers](http::Response r) { answers->push_back(std::move(r)); };
}

TEST(AdmissionTest, AdmitsUpToTheBoundAndAnAnswerGivesThePlaceBack) {
  Admission admission(Bounds(2, 8));
  std::vector<http::Response> answers;
  http::Responder first = Keep(&answers);
  http::Responder second = Keep(&answers);
  http::Responder third = Keep(&answers);
  EXPECT_EQ(admission.Admit(first), std::nullopt);
  EXPECT_EQ(admission.Admit(second), std::nullopt);
  EXPECT_EQ(admission.in_progress(), 2);
  EXPECT_EQ(admission.Admit(third), Refusal::kQueueFull);
  EXPECT_EQ(admission.in_progress(), 2);

  first(http::Response{});
  EXPECT_EQ(answers.size(), 1u);  // the wrapped Responder still answers
  EXPECT_EQ(admission.in_progress(), 1);
  first(http::Response{});  // a second answer does not give back a second place
  EXPECT_EQ(admission.in_progress(), 1);
  EXPECT_EQ(admission.Admit(third), std::nullopt);
  EXPECT_EQ(admission.in_progress(), 2);
}

TEST(AdmissionTest, AResponderDroppedUnansweredGivesItsPlaceBack) {
  Admission admission(Bounds(1, 8));
  std::vector<http::Response> answers;
  {
    http::Responder dropped = Keep(&answers);
    ASSERT_EQ(admission.Admit(dropped), std::nullopt);
    EXPECT_EQ(admission.in_progress(), 1);
  }
  EXPECT_EQ(admission.in_progress(), 0);
  EXPECT_TRUE(answers.empty());
}

TEST(AdmissionTest, TheWorkersQueueIsFullAtItsBound) {
  Admission admission(Bounds(10, 3));
  EXPECT_FALSE(admission.WorkersFull(2));
  EXPECT_TRUE(admission.WorkersFull(3));
}

TEST(AdmissionTest, ARefusalIsAnsweredInTheApisShapeAndCountedByReason) {
  Admission admission(Bounds(1, 1));
  const Route* token = FindRoute("POST", "/token", "ssoins-111111111111");
  ASSERT_NE(token, nullptr);
  http::Request request;
  request.method = "POST";
  request.target = "/token";
  const uint64_t queue_full = RefusalCount(Refusal::kQueueFull);
  const uint64_t workers_full = RefusalCount(Refusal::kWorkerQueueFull);
  std::vector<http::Response> answers;
  admission.Refuse(Refusal::kWorkerQueueFull, *token, request, Keep(&answers));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 400);
  EXPECT_EQ(answers[0].FindHeader("Retry-After"), std::optional<std::string_view>("1"));
  EXPECT_EQ(RefusalCount(Refusal::kWorkerQueueFull) - workers_full, 1u);
  EXPECT_EQ(RefusalCount(Refusal::kQueueFull) - queue_full, 0u);
  // Exposed with every reason, so a dashboard sees a zero rather than no series.
  const std::string exposed = metrics::DefaultRegistry().Render();
  for (const char* reason :
       {"queue_full", "worker_queue_full", "connections", "cpu_saturation", "rate_limit"}) {
    EXPECT_NE(exposed.find(std::string("tessera_refusals_total{reason=\"") + reason + "\"}"),
              std::string::npos)
        << reason;
  }
}

// --- CPU saturation: the io threads' lag ---

constexpr int64_t kMs = 1000;  // microseconds

// Feeds `shedder` samples of `lag` from `*now` for `duration`, as the probe would (one each
// 10 ms interval plus the lag itself); advances `*now`.
void Lag(LagShedder& shedder, int64_t lag, int64_t duration, int64_t* now) {
  for (const int64_t end = *now + duration; *now < end;) {
    *now += 10 * kMs + lag;
    shedder.Observe(lag, *now);
  }
}

TEST(LagShedderTest, AHealthyOrModeratelyLaggingServerShedsNothing) {
  LagShedder shedder(100 * kMs);
  int64_t now = 0;
  Lag(shedder, 100, 10'000 * kMs, &now);  // idle: the timer's own wake-up
  EXPECT_EQ(shedder.ShedShare(), 0);
  Lag(shedder, 90 * kMs, 10'000 * kMs, &now);  // just below the threshold, for long
  EXPECT_EQ(shedder.ShedShare(), 0);
  EXPECT_NEAR(static_cast<double>(shedder.SmoothedLagMicros()), 90 * kMs, 1 * kMs);
}

TEST(LagShedderTest, ALoneStallCountsForLittle) {
  LagShedder shedder(100 * kMs);
  int64_t now = 0;
  Lag(shedder, 100, 1'000 * kMs, &now);
  // One sample 200 ms late (a neighbour's burst, a page fault): weighs by its 210 ms against
  // the half-second average, about 70 ms: under the threshold.
  now += 210 * kMs;
  shedder.Observe(200 * kMs, now);
  EXPECT_EQ(shedder.ShedShare(), 0);
  EXPECT_LT(shedder.SmoothedLagMicros(), 100 * kMs);
}

TEST(LagShedderTest, TheShareRisesWithSustainedLagAndFallsWhenItEnds) {
  LagShedder shedder(100 * kMs);
  int64_t now = 0;
  Lag(shedder, 100, 1'000 * kMs, &now);
  // Half again the threshold, sustained: about half the requests.
  Lag(shedder, 150 * kMs, 5'000 * kMs, &now);
  EXPECT_NEAR(shedder.ShedShare(), 0.5, 0.02);
  EXPECT_TRUE(shedder.Shed(0.45));
  EXPECT_FALSE(shedder.Shed(0.55));
  // Twice the threshold and more: all of them.
  Lag(shedder, 300 * kMs, 5'000 * kMs, &now);
  EXPECT_EQ(shedder.ShedShare(), 1);
  EXPECT_TRUE(shedder.Shed(0.999));
  // The lag ends (shedding worked): within a few time constants, nothing is shed.
  Lag(shedder, 100, 3'000 * kMs, &now);
  EXPECT_EQ(shedder.ShedShare(), 0);
}

TEST(LagShedderTest, ItRisesWithinASecondOfSaturation) {
  LagShedder shedder(100 * kMs);
  int64_t now = 0;
  Lag(shedder, 100, 1'000 * kMs, &now);
  Lag(shedder, 400 * kMs, 1'000 * kMs, &now);
  EXPECT_EQ(shedder.ShedShare(), 1);
}

TEST(LagShedderTest, AZeroThresholdNeverSheds) {
  LagShedder shedder(0);
  int64_t now = 0;
  Lag(shedder, 10'000 * kMs, 60'000 * kMs, &now);
  EXPECT_EQ(shedder.ShedShare(), 0);
  EXPECT_FALSE(shedder.Shed(0));
}

TEST(AdmissionTest, WhileTheCpuIsSaturatedARequestIsShedBeforeTakingAPlace) {
  Admission::Options options = Bounds(10, 8);
  options.shed_io_lag_micros = 1 * kMs;
  Admission admission(options);
  std::vector<http::Response> answers;
  http::Responder respond = Keep(&answers);
  EXPECT_EQ(admission.Admit(respond), std::nullopt);  // no lag seen yet
  admission.ObserveIoLag(std::chrono::seconds(1));    // far past twice the threshold
  EXPECT_EQ(admission.shedder().ShedShare(), 1);
  http::Responder shed = Keep(&answers);
  EXPECT_EQ(admission.Admit(shed), Refusal::kCpuSaturation);
  EXPECT_EQ(admission.in_progress(), 1);  // the first one's only
  // Exposed for the operator, in seconds.
  EXPECT_NE(metrics::DefaultRegistry().Render().find("tessera_io_lag_seconds "), std::string::npos);

  Admission off(Bounds(10, 8));  // --shed-io-lag-us 0
  off.ObserveIoLag(std::chrono::seconds(10));
  http::Responder admitted = Keep(&answers);
  EXPECT_EQ(off.Admit(admitted), std::nullopt);
}

}  // namespace
}  // namespace ts::server
