#include "ts/common/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <string>
#include <system_error>

namespace ts {

StatusOr<std::unique_ptr<ThreadPool>> ThreadPool::Create(int threads) {
  std::unique_ptr<ThreadPool> pool(new ThreadPool());
  try {
    for (int i = 0; i < std::max(threads, 1); ++i) {
      pool->threads_.emplace_back([p = pool.get()] {
        pthread_setname_np(pthread_self(), "ts-worker");  // for top -H and perf
        p->Loop();
      });
    }
  } catch (const std::system_error& e) {
    return InternalError(std::string("cannot start a worker thread: ") + e.what());
  }
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({std::move(task), log::CurrentRequestId()});
  }
  cv_.notify_one();
}

size_t ThreadPool::Waiting() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ThreadPool::Loop() {
  while (true) {
    Queued queued;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      queued = std::move(queue_.front());
      queue_.pop_front();
    }
    log::ScopedRequestId request(queued.request_id);
    try {
      queued.task();
    } catch (const std::exception& e) {
      log::Write(log::Level::kError, std::string("thread pool: a task threw: ") + e.what());
    } catch (...) {
      log::Write(log::Level::kError, "thread pool: a task threw a non-exception");
    }
  }
}

}  // namespace ts
