#include "ts/tokens/key_ring.h"

#include <vector>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/aead.h"
#include "ts/jose/signer.h"
#include "ts/storage/audit.h"

namespace ts::tokens {
namespace {
// Binds each sealed private key to its kid, so a sealed blob cannot be moved to another row.
std::string SealAad(const std::string& kid) { return "tessera-signing-key:" + kid; }
}  // namespace

struct KeyRing::Snapshot {
  std::shared_ptr<const jose::Es256Signer> active;
  int64_t active_created_at = 0;
  std::string jwks_json;
  jose::JwkSet public_keys;
};

KeyRing::KeyRing(std::shared_ptr<storage::KeyStore> store, std::string seal_key, ClockPtr clock)
    : store_(std::move(store)), seal_key_(std::move(seal_key)), clock_(std::move(clock)) {}

namespace {
// Whether `key` signs at `now`: activated, and not yet retired.
bool SignsAt(const storage::SigningKey& key, int64_t now) {
  return key.activated_at != 0 && key.activated_at <= now &&
         (key.retired_at == 0 || key.retired_at > now);
}
// The audit event of a signing-key change (storage/audit.h): the key id, which is public.
storage::AuditEvent KeyEvent(std::string_view name, const storage::SigningKey& key, int64_t now) {
  storage::AuditEvent e;
  e.event_time = now;
  e.event_source = "sso-oauth.amazonaws.com";
  e.event_name = std::string(name);
  e.event_type = "AwsServiceEvent";
  e.additional_event_data = {{"kid", key.kid}, {"activatesAt", storage::IsoTime(key.activated_at)}};
  return e;
}
}  // namespace

StatusOr<std::shared_ptr<KeyRing>> KeyRing::Open(std::shared_ptr<storage::KeyStore> store,
                                                 std::string seal_key, ClockPtr clock) {
  std::shared_ptr<KeyRing> ring(
      new KeyRing(std::move(store), std::move(seal_key), std::move(clock)));
  const int64_t now = ring->clock_->NowUnixSeconds();
  TS_ASSIGN_OR_RETURN(storage::SigningKey fresh, ring->NewKey(now, now));
  // Under the update lock: of several nodes starting on an empty database, one creates the key.
  // (The store drops the event when the update changes nothing.)
  storage::AuditScope audit(KeyEvent("CreateSigningKey", fresh, now));
  TS_RETURN_IF_ERROR(
      ring->store_->UpdateSigningKeys([&](const std::vector<storage::SigningKey>& current)
                                          -> StatusOr<std::vector<storage::SigningKey>> {
        for (const auto& k : current) {
          if (SignsAt(k, now)) return std::vector<storage::SigningKey>{};
        }
        return std::vector<storage::SigningKey>{fresh};
      }));
  TS_RETURN_IF_ERROR(ring->Reload());
  return ring;
}

std::shared_ptr<const jose::Es256Signer> KeyRing::Active() const {
  std::lock_guard lock(mu_);
  return snapshot_->active;
}

int64_t KeyRing::ActiveCreatedAt() const {
  std::lock_guard lock(mu_);
  return snapshot_->active_created_at;
}

std::string KeyRing::JwksJson() const {
  std::lock_guard lock(mu_);
  return snapshot_->jwks_json;
}

jose::JwkSet KeyRing::PublicKeys() const {
  std::lock_guard lock(mu_);
  return snapshot_->public_keys;
}

StatusOr<std::shared_ptr<const KeyRing::Snapshot>> KeyRing::Load() const {
  TS_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> keys, store_->ListSigningKeys());
  const int64_t now = clock_->NowUnixSeconds();
  auto snapshot = std::make_shared<Snapshot>();
  JsonWriter jwks;
  jwks.BeginObject();
  jwks.Key("keys");
  jwks.BeginArray();
  const storage::SigningKey* newest_active = nullptr;
  std::vector<std::string> published;
  for (const storage::SigningKey& key : keys) {
    if (key.delete_after != 0 && key.delete_after < now) continue;
    jwks.Raw(key.public_jwk_json);
    published.push_back(key.public_jwk_json);
    if (SignsAt(key, now) &&
        (newest_active == nullptr || key.activated_at >= newest_active->activated_at)) {
      newest_active = &key;
    }
  }
  jwks.EndArray();
  jwks.EndObject();
  if (newest_active == nullptr) return InternalError("no active signing key in the store");
  auto der =
      crypto::Open(seal_key_, newest_active->private_key_sealed, SealAad(newest_active->kid));
  if (!der.ok()) {
    return InternalError("cannot unseal signing key " + newest_active->kid +
                         ": is TESSERA_MASTER_KEY the key this database was created with?");
  }
  TS_ASSIGN_OR_RETURN(jose::Es256Signer signer, jose::Es256Signer::FromPkcs8Der(*der));
  snapshot->active = std::make_shared<const jose::Es256Signer>(std::move(signer));
  snapshot->active_created_at = newest_active->created_at;
  snapshot->jwks_json = jwks.Take();
  TS_ASSIGN_OR_RETURN(snapshot->public_keys, jose::JwkSet::FromJwks(published));
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

Status KeyRing::Reload() {
  TS_ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> snapshot, Load());
  std::lock_guard lock(mu_);
  snapshot_ = std::move(snapshot);
  return OkStatus();
}

Status KeyRing::ReloadAtMostEvery(int64_t min_interval_seconds) {
  const int64_t now = clock_->NowUnixSeconds();
  int64_t last = last_forced_reload_.load();
  if (now - last < min_interval_seconds) return OkStatus();
  if (!last_forced_reload_.compare_exchange_strong(last, now)) return OkStatus();  // raced
  return Reload();
}

StatusOr<storage::SigningKey> KeyRing::NewKey(int64_t now, int64_t activated_at) const {
  TS_ASSIGN_OR_RETURN(jose::Es256Signer signer, jose::Es256Signer::Generate());
  storage::SigningKey key;
  key.kid = signer.kid();
  key.alg = "ES256";
  TS_ASSIGN_OR_RETURN(key.private_key_sealed,
                      crypto::Seal(seal_key_, signer.Pkcs8Der(), SealAad(key.kid)));
  key.public_jwk_json = signer.PublicJwkJson();
  key.created_at = now;
  key.activated_at = activated_at;
  return key;
}

namespace {
// The keys to write when `fresh` succeeds every unretired key of `current`: they retire when it
// activates and stay published `keep` seconds longer.
std::vector<storage::SigningKey> Succeed(const std::vector<storage::SigningKey>& current,
                                         const storage::SigningKey& fresh, int64_t keep) {
  std::vector<storage::SigningKey> changed = {fresh};
  for (storage::SigningKey old : current) {
    if (old.kid == fresh.kid) continue;
    if (old.retired_at != 0 && old.retired_at <= fresh.activated_at) continue;
    old.retired_at = fresh.activated_at;
    old.delete_after = fresh.activated_at + keep;
    changed.push_back(std::move(old));
  }
  return changed;
}
}  // namespace

StatusOr<std::string> KeyRing::Rotate(int64_t keep_retired_seconds,
                                      int64_t activate_after_seconds) {
  const int64_t now = clock_->NowUnixSeconds();
  TS_ASSIGN_OR_RETURN(storage::SigningKey key, NewKey(now, now + activate_after_seconds));
  storage::AuditScope audit(KeyEvent("RotateSigningKey", key, now));
  TS_RETURN_IF_ERROR(store_->UpdateSigningKeys([&](const std::vector<storage::SigningKey>& current)
                                                   -> StatusOr<std::vector<storage::SigningKey>> {
    return Succeed(current, key, keep_retired_seconds);
  }));
  TS_RETURN_IF_ERROR(Reload());
  return key.kid;
}

StatusOr<std::string> KeyRing::MaybeRotate(const RotationPolicy& policy) {
  if (policy.rotation_seconds <= 0) return std::string();
  const int64_t now = clock_->NowUnixSeconds();
  // Due when the newest unretired key has signed (or will have, counting a pending successor)
  // for rotation_seconds by the time a successor published now could activate.
  auto due = [&](const std::vector<storage::SigningKey>& keys) {
    const storage::SigningKey* newest = nullptr;
    for (const auto& k : keys) {
      if (k.activated_at == 0 || (k.retired_at != 0 && k.retired_at <= now)) continue;
      if (newest == nullptr || k.activated_at > newest->activated_at) newest = &k;
    }
    return newest == nullptr ||
           newest->activated_at + policy.rotation_seconds <= now + policy.publish_lead_seconds;
  };
  // A lock-free look first, so that nodes do not generate keys they will not use.
  TS_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> keys, store_->ListSigningKeys());
  if (!due(keys)) return std::string();
  TS_ASSIGN_OR_RETURN(storage::SigningKey key, NewKey(now, now + policy.publish_lead_seconds));
  bool rotated = false;
  storage::AuditScope audit(KeyEvent("RotateSigningKey", key, now));
  TS_RETURN_IF_ERROR(store_->UpdateSigningKeys([&](const std::vector<storage::SigningKey>& current)
                                                   -> StatusOr<std::vector<storage::SigningKey>> {
    if (!due(current)) return std::vector<storage::SigningKey>{};  // another node did it
    rotated = true;
    return Succeed(current, key, policy.keep_retired_seconds);
  }));
  if (!rotated) return std::string();
  TS_RETURN_IF_ERROR(Reload());
  return key.kid;
}

}  // namespace ts::tokens
