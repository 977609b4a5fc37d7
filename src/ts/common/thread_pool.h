// File: thread_pool.h
// A fixed set of threads running queued tasks in arrival order. Work that blocks (a synchronous
// commit, a PostgreSQL round trip, a JWKS fetch, a password hash) is posted here so that the
// server's io threads never wait; see docs/design/architecture.md.
//
// Thread-safe: Post may be called from any thread, including from a task.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ts/common/log.h"
#include "ts/common/status.h"

namespace ts {

class ThreadPool {
 public:
  using Task = std::function<void()>;

  // Starts `threads` (at least 1) threads. kInternal if the OS refuses a thread.
  static StatusOr<std::unique_ptr<ThreadPool>> Create(int threads);

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // Runs every task already queued (and any those post), then joins the threads.
  ~ThreadPool();

  // Queues `task`. It runs under the caller's request id (log.h), so its log lines name the
  // request. A task that throws is logged and the thread goes on.
  void Post(Task task);

  // Tasks waiting for a thread (not those running): what a bound on the queue compares with.
  size_t Waiting();

 private:
  ThreadPool() = default;
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  struct Queued {
    Task task;
    log::RequestId request_id;
  };
  std::deque<Queued> queue_;  // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace ts
