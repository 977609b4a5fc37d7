// File: fake_fetcher.h
// A scripted HttpFetcher for tests: answers from a URL -> response map, counts calls, and can
// hold every call until released (to test single flight). Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "ts/tti/fetcher.h"

namespace ts::tti {

class FakeFetcher final : public HttpFetcher {
 public:
  void Set(const std::string& url, StatusOr<FetchResult> result) {
    std::lock_guard lock(mu_);
    results_.insert_or_assign(url, std::move(result));
  }
  void SetJson(const std::string& url, const std::string& body, int64_t max_age = -1) {
    Set(url, FetchResult{200, body, max_age});
  }
  int calls(const std::string& url) {
    std::lock_guard lock(mu_);
    return calls_[url];
  }
  void Hold() {
    std::lock_guard lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }
  int waiting() {
    std::lock_guard lock(mu_);
    return waiting_;
  }

  StatusOr<FetchResult> Get(const std::string& url) override {
    std::unique_lock lock(mu_);
    ++calls_[url];
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    --waiting_;
    auto it = results_.find(url);
    if (it == results_.end()) return UnavailableError("fake: nothing at " + url);
    return it->second;
  }

  std::condition_variable cv_;

 private:
  std::mutex mu_;
  std::map<std::string, StatusOr<FetchResult>> results_;
  std::map<std::string, int> calls_;
  bool held_ = false;
  int waiting_ = 0;
};

}  // namespace ts::tti
