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

#include <functional>

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

}  // namespace ts::storage
