// File: key_ring.h
// The server's JWS signing keys (ES256). Keys live in the store with their private halves sealed
// by a key derived from the master key; the ring loads them, creates the first one at first
// start, rotates on demand and renders the JWKS that resource servers verify against.
//
// Thread-safe. Readers take an immutable snapshot (a shared_ptr copy under a short lock), so the
// hot path never waits for a rotation.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/jose/jwk.h"
#include "ts/storage/store.h"

namespace ts::jose {
class Es256Signer;
}

namespace ts::tokens {

class KeyRing {
 public:
  // Loads every published key; creates and activates one if the store has none.
  // Internal if a sealed key cannot be opened (wrong master key) or parsed.
  static StatusOr<std::shared_ptr<KeyRing>> Open(storage::StorePtr store, std::string seal_key,
                                                 ClockPtr clock);

  // The key that signs now. Never null after a successful Open.
  std::shared_ptr<const jose::Es256Signer> Active() const;
  // {"keys":[...]}: every key still published (active, or retired but within delete_after).
  std::string JwksJson() const;
  // The same published keys, parsed, for verifying tokens this server signed.
  jose::JwkSet PublicKeys() const;

  // Creates a new key, publishes and activates it, retires the previous one (kept in the JWKS for
  // `keep_retired_seconds`, which must cover the longest token lifetime). Returns the new kid.
  StatusOr<std::string> Rotate(int64_t keep_retired_seconds);
  // Re-reads the store (keys rotated by another process).
  Status Reload();

 private:
  struct Snapshot;
  KeyRing(storage::StorePtr store, std::string seal_key, ClockPtr clock);
  StatusOr<std::shared_ptr<const Snapshot>> Load() const;

  storage::StorePtr store_;
  std::string seal_key_;
  ClockPtr clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by mu_
};

}  // namespace ts::tokens
