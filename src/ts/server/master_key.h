// File: master_key.h
// The master key that seals what Tessera keeps secret at rest (private signing keys, IAM secret
// keys, identity contexts). From TESSERA_MASTER_KEY, or a key file: with SQLite one created with
// mode 0600 at first start; with PostgreSQL, where several nodes share the database, one given
// to every node (never created by a node for itself). Each use gets its own key derived with
// HKDF (crypto::DeriveKey).
#pragma once

#include <string>

#include "ts/common/status.h"
#include "ts/storage/instance_store.h"

namespace ts::server {

struct MasterKeys {
  std::string signing_keys;       // seals private signing keys
  std::string iam_secrets;        // seals IAM secret access keys
  std::string identity_context;   // seals identityContext values
  std::string refresh_rotation;   // derives refresh-token successors
  std::string admin_page_tokens;  // MACs the admin plane's NextToken values
};

// Loads the 32-byte master key: `env_value` (base64 or 64 hex characters) when set, else the key
// file at `file_path` (created with 32 random bytes and mode 0600 if it does not exist).
// InvalidArgument on a malformed value; Internal on file errors.
StatusOr<std::string> LoadMasterKey(const std::string& env_value, const std::string& file_path);

// The master key of a node on the database `db` (a SQLite path or a postgresql:// URL):
// `env_value` (TESSERA_MASTER_KEY) when set, else the key file `file_path`
// (TESSERA_MASTER_KEY_FILE). SQLite: an empty `file_path` means <db dir>/master.key, created if
// missing. PostgreSQL: the key is shared by every node, so FailedPrecondition when neither is
// set and InvalidArgument when the file does not exist (it is never created).
StatusOr<std::string> LoadNodeMasterKey(const std::string& db, const std::string& env_value,
                                        const std::string& file_path);

// Checks the master key against the check value stored in `store` (storing one on first use), so
// a node started with the wrong key refuses to start instead of failing on every request.
// Nodes starting together on an empty database race to store theirs: the first writer wins
// (InstanceStore::CreateMeta) and every other node is checked against it. FailedPrecondition on a
// mismatch.
Status VerifyMasterKey(storage::InstanceStore& store, const std::string& master_key);

MasterKeys DeriveMasterKeys(const std::string& master_key);

}  // namespace ts::server
