// File: store_conformance_test.h
// The storage conformance suite: the behaviour store.h promises, checked the same way against
// every backend. A backend's test binary links ts::storage_conformance and instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//                            ::testing::Values(StoreFactory([] { return MakeFreshStore(); })));
//
// The factory must return a fresh, empty store on each call (one per test case); it may attach
// cleanup to the returned shared_ptr's deleter. The suite only uses the Store interface, so it
// stays backend-neutral. Tests run single-threaded apart from the concurrency cases, which use
// one store from many threads.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "ts/storage/store.h"

namespace ts::storage {

using StoreFactory = std::function<StorePtr()>;

class StoreConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    ASSERT_NE(store_, nullptr) << "the store factory returned no store";
  }
  void TearDown() override { store_.reset(); }

  StorePtr store_;
};

// --- for tests of RotateRefreshTokenAsync (here and in the backends' own tests) ---

inline constexpr std::chrono::seconds kAsyncTimeout{30};

// The completions of n RotateRefreshTokenAsync calls, one slot each. Shared with the completions,
// which may run on another thread, and after a test that gave up waiting has returned.
struct Completions {
  explicit Completions(size_t n);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> calls;                        // how often each slot's `done` ran
  std::vector<StatusOr<RotateOutcome>> results;  // what each slot's first call got
  size_t answered = 0;                           // slots called at least once
};

// A completion that records into `slot` of `c`.
Store::RotateDone RecordInto(std::shared_ptr<Completions> c, size_t slot);

// Waits until every slot was answered; false if that took longer than kAsyncTimeout.
bool AwaitAll(Completions& c);

}  // namespace ts::storage
