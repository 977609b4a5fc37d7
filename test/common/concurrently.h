// File: concurrently.h
// Races for tests: n threads that start a body at the same instant.
#pragma once

#include <functional>
#include <latch>
#include <thread>
#include <vector>

namespace ts::testing {

// Runs body(0) ... body(n - 1) on n threads released together by a latch (so the calls overlap
// as much as the machine allows), and returns once every one has finished.
inline void RunConcurrently(int n, const std::function<void(int)>& body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&start, &body, i] {
      start.arrive_and_wait();
      body(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace ts::testing
