#include "ts/common/thread_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"

namespace ts {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;

// Generous bound on every wait: it only matters when the pool misbehaves, and turns a would-be
// hang into a failure.
constexpr std::chrono::seconds kWaitBound{10};

// A count-down latch whose wait gives up after a timeout (std::latch has no timed wait).
class Countdown {
 public:
  explicit Countdown(int count) : count_(count) {}
  void CountDown() {
    std::lock_guard lock(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  // True once the count reached zero; false if `timeout` passed first.
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

std::unique_ptr<ThreadPool> CreateOrDie(int threads) {
  auto pool = ThreadPool::Create(threads);
  EXPECT_THAT(pool, IsOk());
  return pool.ok() ? std::move(pool).value() : nullptr;
}

TEST(ThreadPoolTest, RunsEveryPostedTaskExactlyOnce) {
  auto pool = CreateOrDie(3);
  ASSERT_NE(pool, nullptr);
  constexpr int kTasks = 1000;
  std::vector<std::atomic<int>> runs(kTasks);
  Countdown done(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    pool->Post([&runs, &done, i] {
      runs[i].fetch_add(1);
      done.CountDown();
    });
  }
  ASSERT_TRUE(done.WaitFor(kWaitBound));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(runs[i].load(), 1) << "task " << i;
}

TEST(ThreadPoolTest, RunsTasksConcurrentlyOnNThreads) {
  constexpr int kThreads = 4;
  auto pool = CreateOrDie(kThreads);
  ASSERT_NE(pool, nullptr);
  // Every task waits until all kThreads have arrived: this completes only if kThreads tasks run
  // at the same time. With fewer threads the waits time out and the test fails (no hang).
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  std::vector<bool> all_arrived;
  std::set<std::thread::id> ids;
  Countdown done(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    pool->Post([&] {
      {
        std::unique_lock lock(mu);
        ++arrived;
        ids.insert(std::this_thread::get_id());
        cv.notify_all();
        all_arrived.push_back(cv.wait_for(lock, kWaitBound, [&] { return arrived == kThreads; }));
      }
      done.CountDown();
    });
  }
  ASSERT_TRUE(done.WaitFor(kWaitBound + kWaitBound));
  std::lock_guard lock(mu);
  EXPECT_EQ(arrived, kThreads);
  EXPECT_THAT(all_arrived, ElementsAre(true, true, true, true));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);  // never on the posting thread
}

TEST(ThreadPoolTest, SingleThreadRunsTasksInArrivalOrder) {
  auto pool = CreateOrDie(1);
  ASSERT_NE(pool, nullptr);
  std::vector<int> order;  // only the pool's one thread writes it until `done`
  Countdown done(1);
  for (int i = 0; i < 50; ++i) pool->Post([&order, i] { order.push_back(i); });
  pool->Post([&done] { done.CountDown(); });
  ASSERT_TRUE(done.WaitFor(kWaitBound));
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(ThreadPoolTest, DestructorRunsQueuedTasksIncludingThosePostedByTasks) {
  auto pool = CreateOrDie(1);
  ASSERT_NE(pool, nullptr);
  ThreadPool* raw = pool.get();
  std::promise<void> gate;
  std::shared_future<void> gate_open = gate.get_future().share();
  std::promise<void> blocker_started;
  // The only thread is held by this task, so everything posted below stays queued.
  pool->Post([gate_open, &blocker_started] {
    blocker_started.set_value();
    gate_open.wait_for(kWaitBound);
  });
  ASSERT_EQ(blocker_started.get_future().wait_for(kWaitBound), std::future_status::ready);

  std::vector<std::string> ran;  // only the pool's one thread writes it until the join
  for (int i = 0; i < 20; ++i) {
    pool->Post([&ran, i] { ran.push_back("queued " + std::to_string(i)); });
  }
  // A task that posts a task that posts a task, all while the pool is being destroyed.
  pool->Post([&ran, raw] {
    ran.push_back("parent");
    raw->Post([&ran, raw] {
      ran.push_back("child");
      raw->Post([&ran] { ran.push_back("grandchild"); });
    });
  });
  EXPECT_TRUE(ran.empty());

  std::atomic<bool> destroying{false};
  std::thread destroyer([&] {
    destroying = true;
    pool.reset();  // must run all 23 tasks, then join
  });
  while (!destroying) std::this_thread::yield();
  // Not synchronisation: the assertions below hold however the destructor and the gate
  // interleave. The pause only makes it very likely that the destructor is already waiting
  // while the tasks are still queued, which is the case under test.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  gate.set_value();
  destroyer.join();

  ASSERT_EQ(ran.size(), 23u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ran[i], "queued " + std::to_string(i));
  EXPECT_EQ(ran[20], "parent");
  EXPECT_EQ(ran[21], "child");
  EXPECT_EQ(ran[22], "grandchild");
}

TEST(ThreadPoolTest, WaitingCountsQueuedTasksButNotRunningOnes) {
  auto pool = ThreadPool::Create(1);
  ASSERT_TRUE(pool.ok());
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  (*pool)->Post([&started, released] {
    started.set_value();
    released.wait();
  });
  started.get_future().wait();
  EXPECT_EQ((*pool)->Waiting(), 0u);  // the one task runs
  (*pool)->Post([] {});
  (*pool)->Post([] {});
  EXPECT_EQ((*pool)->Waiting(), 2u);
  release.set_value();
}

TEST(ThreadPoolTest, DestructorOfAnIdlePoolReturns) {
  auto pool = CreateOrDie(2);
  ASSERT_NE(pool, nullptr);
  auto destroyed = std::async(std::launch::async, [&] { pool.reset(); });
  EXPECT_EQ(destroyed.wait_for(kWaitBound), std::future_status::ready);
}

TEST(ThreadPoolTest, ThrowingTaskIsReportedAndTheThreadGoesOn) {
  auto pool = CreateOrDie(1);
  ASSERT_NE(pool, nullptr);
  std::thread::id thrower_id;
  std::thread::id later_id;
  std::atomic<int> later_runs{0};
  Countdown done(1);
  ::testing::internal::CaptureStderr();
  pool->Post([&] {
    thrower_id = std::this_thread::get_id();
    throw std::runtime_error("kaboom");
  });
  pool->Post([] { throw 42; });
  pool->Post([&] {
    later_id = std::this_thread::get_id();
    later_runs.fetch_add(1);
    done.CountDown();
  });
  bool finished = done.WaitFor(kWaitBound);
  pool.reset();  // joins: every report has been written
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(finished);
  EXPECT_EQ(later_runs.load(), 1);
  EXPECT_EQ(later_id, thrower_id);  // the pool's only thread survived both throws
  EXPECT_THAT(log, HasSubstr("thread pool: a task threw: kaboom\n"));
  EXPECT_THAT(log, HasSubstr("thread pool: a task threw a non-exception\n"));
}

TEST(ThreadPoolTest, CreateWithZeroOrNegativeThreadsStillRunsTasks) {
  for (int threads : {0, -3}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    auto pool = CreateOrDie(threads);
    ASSERT_NE(pool, nullptr);
    std::promise<std::thread::id> ran_on;
    pool->Post([&ran_on] { ran_on.set_value(std::this_thread::get_id()); });
    auto future = ran_on.get_future();
    ASSERT_EQ(future.wait_for(kWaitBound), std::future_status::ready);
    EXPECT_NE(future.get(), std::this_thread::get_id());
    // A second task also runs, after the first has finished.
    std::promise<void> second;
    pool->Post([&second] { second.set_value(); });
    EXPECT_EQ(second.get_future().wait_for(kWaitBound), std::future_status::ready);
  }
}

}  // namespace
}  // namespace ts
