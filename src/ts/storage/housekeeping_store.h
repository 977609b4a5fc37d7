// File: housekeeping_store.h
// HousekeepingStore: the purge of what has expired, across every aggregate's tables; the
// server's housekeeper thread is its one caller. The contract every storage interface shares is
// in store.h.
#pragma once

#include <cstdint>

#include "ts/common/status.h"

namespace ts::storage {

// What one PurgeExpired call did.
struct PurgeResult {
  int64_t deleted = 0;   // rows deleted by this call
  bool finished = true;  // false: a further call may find more to delete
};

class HousekeepingStore {
 public:
  virtual ~HousekeepingStore() = default;

  // Deletes up to `batch` expired codes, sessions, device authorizations, registered clients
  // (whose secret expired), refresh tokens, families, revoked access token ids, used assertion
  // ids, ended login-failure windows, temporary access keys with their role-credential links
  // (expired at or before `now`), operation statuses older than 90 days, and refresh tokens
  // whose family is gone. Called repeatedly in small batches, until `finished`,
  // so no purge holds a long lock. A backend may find refresh tokens by sweeping their table a
  // bounded stretch per call (SQLite: docs/design/storage.md), so a call can delete fewer than
  // `batch` rows and still not be finished.
  virtual StatusOr<PurgeResult> PurgeExpired(int64_t now, int batch) = 0;
};

}  // namespace ts::storage
