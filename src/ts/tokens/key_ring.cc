#include "ts/tokens/key_ring.h"

#include <vector>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/aead.h"
#include "ts/jose/signer.h"

namespace ts::tokens {
namespace {
// Binds each sealed private key to its kid, so a sealed blob cannot be moved to another row.
std::string SealAad(const std::string& kid) { return "tessera-signing-key:" + kid; }
}  // namespace

struct KeyRing::Snapshot {
  std::shared_ptr<const jose::Es256Signer> active;
  std::string jwks_json;
  jose::JwkSet public_keys;
};

KeyRing::KeyRing(storage::StorePtr store, std::string seal_key, ClockPtr clock)
    : store_(std::move(store)), seal_key_(std::move(seal_key)), clock_(std::move(clock)) {}

StatusOr<std::shared_ptr<KeyRing>> KeyRing::Open(storage::StorePtr store, std::string seal_key,
                                                 ClockPtr clock) {
  std::shared_ptr<KeyRing> ring(
      new KeyRing(std::move(store), std::move(seal_key), std::move(clock)));
  TS_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> keys, ring->store_->ListSigningKeys());
  bool any_active = false;
  for (const auto& k : keys) any_active |= (k.activated_at != 0 && k.retired_at == 0);
  if (!any_active) {
    TS_RETURN_IF_ERROR(ring->Rotate(0).status());
    return ring;
  }
  TS_RETURN_IF_ERROR(ring->Reload());
  return ring;
}

std::shared_ptr<const jose::Es256Signer> KeyRing::Active() const {
  std::lock_guard lock(mu_);
  return snapshot_->active;
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
    if (key.activated_at != 0 && key.retired_at == 0 &&
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

StatusOr<std::string> KeyRing::Rotate(int64_t keep_retired_seconds) {
  TS_ASSIGN_OR_RETURN(jose::Es256Signer signer, jose::Es256Signer::Generate());
  const int64_t now = clock_->NowUnixSeconds();
  storage::SigningKey key;
  key.kid = signer.kid();
  key.alg = "ES256";
  TS_ASSIGN_OR_RETURN(key.private_key_sealed,
                      crypto::Seal(seal_key_, signer.Pkcs8Der(), SealAad(key.kid)));
  key.public_jwk_json = signer.PublicJwkJson();
  key.created_at = now;
  key.activated_at = now;
  // Single node: publish and activate at once. Multi-node publish-before-use is issue 6.
  TS_ASSIGN_OR_RETURN(std::vector<storage::SigningKey> existing, store_->ListSigningKeys());
  TS_RETURN_IF_ERROR(store_->PutSigningKey(key));
  for (storage::SigningKey old : existing) {
    if (old.retired_at != 0 || old.kid == key.kid) continue;
    old.retired_at = now;
    old.delete_after = now + keep_retired_seconds;
    TS_RETURN_IF_ERROR(store_->PutSigningKey(old));
  }
  TS_RETURN_IF_ERROR(Reload());
  return key.kid;
}

}  // namespace ts::tokens
