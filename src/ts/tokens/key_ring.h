// File: key_ring.h
// The server's JWS signing keys (ES256). Keys live in the store with their private halves sealed
// by a key derived from the master key; the ring loads them, creates the first one at first
// start, rotates (on demand or automatically) and renders the JWKS that resource servers verify
// against.
//
// Many nodes, one key set (docs/design/deployment.md): every change goes through
// Store::UpdateSigningKeys, so one rotator acts at a time; a key is published (in the JWKS) from
// its created_at and signs from its activated_at, which rotation sets in the future (publish
// before use); a key retires when its successor activates and stays published until
// delete_after, past the life of everything it signed. Which key signs is a function of the
// clock, so nodes switch together; each node re-reads the store with Reload (periodically).
//
// Thread-safe. Readers take an immutable snapshot (a shared_ptr copy under a short lock), so the
// hot path never waits for a rotation.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/jose/jwk.h"
#include "ts/storage/key_store.h"

namespace ts::jose {
class Es256Signer;
}

namespace ts::tokens {

// Automatic rotation (KeyRing::MaybeRotate).
struct RotationPolicy {
  int64_t rotation_seconds = 30 * 86400;  // a key signs for about this long
  int64_t publish_lead_seconds = 600;     // published this long before it signs
  int64_t keep_retired_seconds = 86400;   // published this long after it stops signing
};

class KeyRing {
 public:
  // Loads every published key; creates and activates one if the store has none that can sign
  // now (under the store's update lock, so nodes starting together create one between them).
  // Internal if a sealed key cannot be opened (wrong master key) or parsed.
  static StatusOr<std::shared_ptr<KeyRing>> Open(std::shared_ptr<storage::KeyStore> store,
                                                 std::string seal_key, ClockPtr clock);

  // The key that signs now. Never null after a successful Open.
  std::shared_ptr<const jose::Es256Signer> Active() const;
  // When the active key was created (Unix seconds): its age is what operators alert on.
  int64_t ActiveCreatedAt() const;
  // {"keys":[...]}: every key still published (active, or retired but within delete_after).
  std::string JwksJson() const;
  // The same published keys, parsed, for verifying tokens this server signed.
  jose::JwkSet PublicKeys() const;

  // Creates a new key and publishes it now; it signs from now + `activate_after_seconds` (0: at
  // once; more than a JWKS cache lifetime with several nodes, so resource servers know it before
  // they see it). Every other unretired key retires then and stays published for
  // `keep_retired_seconds` more, which must cover the longest token lifetime. Returns the kid.
  StatusOr<std::string> Rotate(int64_t keep_retired_seconds, int64_t activate_after_seconds = 0);
  // Automatic rotation, called by every node now and then: when the newest key is due (it has
  // signed for rotation_seconds - publish_lead_seconds and has no successor yet) publishes a
  // successor that activates publish_lead_seconds from now. Returns its kid, or "" when nothing
  // was due. Safe to call from every node at once: one of them rotates.
  StatusOr<std::string> MaybeRotate(const RotationPolicy& policy);
  // Re-reads the store (keys rotated by another process).
  Status Reload();
  // Reload unless the last one through here was less than `min_interval_seconds` ago: for a
  // token with an unknown kid (a key another node published and this one has not read yet),
  // without letting a flood of forged kids turn into a flood of database reads. OK when skipped.
  Status ReloadAtMostEvery(int64_t min_interval_seconds);

 private:
  struct Snapshot;
  KeyRing(std::shared_ptr<storage::KeyStore> store, std::string seal_key, ClockPtr clock);
  StatusOr<std::shared_ptr<const Snapshot>> Load() const;
  // A freshly generated key, sealed, published at `now`, signing from `activated_at`.
  StatusOr<storage::SigningKey> NewKey(int64_t now, int64_t activated_at) const;

  std::shared_ptr<storage::KeyStore> store_;
  std::string seal_key_;
  ClockPtr clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // guarded by mu_
  std::atomic<int64_t> last_forced_reload_{0};
};

}  // namespace ts::tokens
