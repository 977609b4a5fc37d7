// File: key_store.h
// KeyStore: the token-signing keys (private halves sealed with the master key), which the key
// ring loads, rotates and publishes. The contract every storage interface shares is in store.h.
#pragma once

#include <functional>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  virtual Status PutSigningKey(const SigningKey& key) = 0;          // insert or replace by kid
  virtual StatusOr<std::vector<SigningKey>> ListSigningKeys() = 0;  // oldest first

  // Read-modify-write of the signing keys, serialised across every node (one rotator at a time):
  // calls `update` with the stored keys (oldest first) and writes the keys it returns (insert or
  // replace by kid), all in one transaction. An error from `update` writes nothing and is
  // returned. `update` must not call the store.
  using SigningKeyUpdate =
      std::function<StatusOr<std::vector<SigningKey>>(const std::vector<SigningKey>& current)>;
  virtual Status UpdateSigningKeys(const SigningKeyUpdate& update) = 0;
};

}  // namespace ts::storage
