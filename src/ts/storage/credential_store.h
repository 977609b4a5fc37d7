// File: credential_store.h
// CredentialStore: the IAM side that SigV4 verification reads: principals (with their identity
// policies) and their access keys, whose secrets are stored sealed with a key derived from the
// master key. The contract every storage interface shares is in store.h.
#pragma once

#include <string>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;

  virtual Status PutPrincipal(const IamPrincipal& principal) = 0;  // insert or replace
  virtual StatusOr<IamPrincipal> GetPrincipal(const std::string& arn) = 0;
  virtual Status CreateAccessKey(const AccessKey& key) = 0;  // AlreadyExists on the id
  virtual StatusOr<AccessKey> GetAccessKey(const std::string& access_key_id) = 0;
  virtual StatusOr<std::vector<AccessKey>> ListAccessKeys(const std::string& principal_arn) = 0;
  virtual Status DeleteAccessKey(const std::string& access_key_id) = 0;  // NotFound if absent
};

}  // namespace ts::storage
