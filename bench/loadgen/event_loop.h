// File: event_loop.h
// The measured run: one thread drives every connection with epoll (non-blocking sockets), as a
// load balancer or proxy in front of Tessera would. A thread per connection would make the
// server pay for waking a blocked reader on every response it sends, which is the generator's
// cost, not the server's.
//
// Closed loop: each connection sends its next request as soon as the previous one is answered.
// Open loop: request i is due at t0 + i / rate; it goes out on an idle connection, or waits for
// one, and its latency counts from when it was due, so queueing anywhere shows.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "scenarios.h"

namespace loadgen {

using Clock = std::chrono::steady_clock;

struct RunWindow {
  Clock::time_point t0;             // the open loop's schedule starts here
  Clock::time_point measure_start;  // requests due before this are warm-up, not counted
  Clock::time_point end;            // no request is due at or after this
};

struct RunResult {
  std::vector<double> latencies_ms;  // successful requests in the window
  std::map<std::string, int64_t> errors;
  Clock::time_point last_done{};
};

// Runs the scenario over `options.concurrency` connections until the window ends, the request
// budget (options.max_requests) or the scenario's material is used up, and every sent request is
// answered. `on_measure_start` is called once, when the first counted request goes out. False
// with `error` set if the connections cannot be opened.
bool RunEventLoop(const Options& options, Scenario& scenario, const RunWindow& window,
                  const std::function<void()>& on_measure_start, RunResult& result,
                  std::string& error);

}  // namespace loadgen
