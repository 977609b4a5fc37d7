#include "ts/server/overload.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ts::server
