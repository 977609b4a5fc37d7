// File: throttle.h
// Limits failed sign-in attempts per key (a user name, a client address) in a fixed window.
//
// An attempt is reserved BEFORE its secret is checked and counts as a failure unless it is
// refunded: check-then-record would let every guess already in flight pass the check (issue 23:
// 32 concurrent wrong passwords were all evaluated against a limit of 5). The reservation is one
// atomic step in the store (SessionStore::ReserveLoginAttempt), so every node sharing the
// database enforces one limit and N nodes do not multiply an attacker's attempts by N. Keys are
// stored as SHA-256 hashes (a mistyped password in the user-name field stays out of the table).
// If the store fails, the throttle fails open and says so in the log: sign-in itself needs the
// same database, so it cannot proceed either. Without a store the windows are in memory, per
// process (tests, tools).
//
// Use (a sign-in, a device user code, a client secret):
//
//   ThrottledAttempt attempt = ThrottledAttempt::Reserve({{&per_user, user_key},
//                                                         {&per_address, address_key}}, now);
//   if (attempt.retry_after() > 0) return TooManyAttempts(attempt.retry_after());
//   if (!CheckSecret(...)) return Wrong();  // the reservations stay: counted as failures
//   attempt.Refund();                        // success: nothing counted
//
// Thread-safe (Throttle); a ThrottledAttempt belongs to one request.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/storage/session_store.h"

namespace ts::web {

class Throttle {
 public:
  // At most `max_failures` attempts not refunded per `window_seconds`; then refused until the
  // window ends.
  Throttle(int max_failures, int64_t window_seconds,
           std::shared_ptr<storage::SessionStore> store = nullptr)
      : max_failures_(max_failures), window_seconds_(window_seconds), store_(std::move(store)) {}

  // One attempt as Reserve decided it.
  struct Reservation {
    int64_t retry_after = 0;   // > 0: refused, nothing reserved; seconds until the key may try
    bool held = false;         // something to refund (false when refused or the store failed)
    int64_t window_start = 0;  // of the window the reservation counts in
  };

  // Reserves one attempt for `key` at `now`, or refuses when its window already holds
  // max_failures attempts (failures, and attempts still being checked).
  Reservation Reserve(const std::string& key, int64_t now);
  // Gives a held reservation back (the attempt succeeded, or failed for a reason that is not
  // the client's). Nothing for one not held.
  void Refund(const std::string& key, const Reservation& reservation);
  // Forgets every attempt of `key`.
  void Reset(const std::string& key);

 private:
  struct Window {
    int64_t start = 0;
    int failures = 0;
  };
  const int max_failures_;
  const int64_t window_seconds_;
  const std::shared_ptr<storage::SessionStore> store_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;  // guarded by mu_; without a store only
};

// One attempt reserved under several throttles at once (a sign-in counts against its user and
// its address): under all of them, or under none. Not refunded, it stays counted as a failure
// under each: dropping it is the failure path.
class ThrottledAttempt {
 public:
  // Reserves under each (throttle, key) in order. At the first refusal, gives back what it had
  // taken and reports that refusal's wait.
  static ThrottledAttempt Reserve(
      std::initializer_list<std::pair<Throttle*, std::string>> throttles, int64_t now);

  // Seconds until the attempt may be made; 0 when it is reserved.
  int64_t retry_after() const { return retry_after_; }
  // Gives every reservation back. Idempotent.
  void Refund();

 private:
  struct Held {
    Throttle* throttle;
    std::string key;
    Throttle::Reservation reservation;
  };
  int64_t retry_after_ = 0;
  std::vector<Held> held_;
};

}  // namespace ts::web
