// File: instance_store.h
// InstanceStore: the deployment's own records: the one Identity Center instance and a small
// key/value table of metadata (the master-key check value, the root access key's id), with the
// first-writer-wins insert that nodes starting together settle on (docs/design/deployment.md).
// The contract every storage interface shares is in store.h.
#pragma once

#include <string>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

class InstanceStore {
 public:
  virtual ~InstanceStore() = default;

  // --- instance (exactly one per deployment) ---
  virtual Status PutInstance(const Instance& instance) = 0;  // insert or replace
  virtual StatusOr<Instance> GetInstance() = 0;              // NotFound before the first Put

  // --- key/value metadata (e.g. the master-key check value) ---
  virtual Status PutMeta(const std::string& key, const std::string& value) = 0;
  virtual StatusOr<std::string> GetMeta(const std::string& key) = 0;
  // Inserts key = value unless the key is there already: then AlreadyExists and nothing changes
  // (first writer wins, e.g. the master-key check value of nodes starting together).
  virtual Status CreateMeta(const std::string& key, const std::string& value) = 0;
};

}  // namespace ts::storage
