#include "ts/common/refusals.h"

#include "ts/common/metrics.h"

namespace ts {
namespace {

const metrics::CounterFamily& Refusals() {
  // The values' order is the enum's.
  static const metrics::CounterFamily& family = metrics::DefaultRegistry().AddCounter(
      "tessera_refusals_total",
      "Requests and connections refused to protect the server, by reason: queue_full "
      "(--max-queued-requests), worker_queue_full (--max-worker-queue), connections "
      "(--max-connections), cpu_saturation (the io threads' lag, --shed-io-lag-us), rate_limit "
      "(a per-address or per-token limit).",
      {{"reason",
        {"queue_full", "worker_queue_full", "connections", "cpu_saturation", "rate_limit"}}});
  return family;
}

}  // namespace

void CountRefusal(Refusal reason) { Refusals().At({static_cast<size_t>(reason)}).Inc(); }

uint64_t RefusalCount(Refusal reason) {
  return Refusals().At({static_cast<size_t>(reason)}).Value();
}

}  // namespace ts
