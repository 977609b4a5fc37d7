// File: credentials.h
// IAM principals and their access keys, for SigV4: looks keys up in the store (unsealing the
// secret) and knows the root credential of the instance owner. Also the operations the CLI and
// bootstrap use to create keys. Thread-safe.
//
// Long-term keys (AKIA..., no session token) are kept for a short time once found, as the
// application cache keeps applications (oauth/application_cache.h): every SigV4 request would
// otherwise read its key, a round trip on PostgreSQL. Freshness: ClearCache() drops them all at
// once (the admin plane calls it after every operation it serves); a key deleted elsewhere (the
// CLI, another node) is refused within the TTL. Temporary keys (the access portal's role
// credentials) are never kept: sign-out, unassignment and user deletion revoke them through
// paths that do not clear this cache, and they must stop at once.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ts/common/clock.h"
#include "ts/sigv4/verifier.h"
#include "ts/storage/credential_store.h"

namespace ts::server {

// The store meta entry that names the root access key id a server took from the environment
// (TESSERA_ROOT_ACCESS_KEY_ID): that key is never stored, and `tessera list-access-keys` shows it
// from here. "" when the last start did not take it from the environment.
inline constexpr char kEnvironmentRootKeyMeta[] = "environment_root_access_key_id";

class StoreCredentialProvider final : public sigv4::CredentialProvider {
 public:
  // `cache_ttl` zero (or no clock): every Find of a stored key reads the store.
  StoreCredentialProvider(std::shared_ptr<storage::CredentialStore> store, std::string seal_key,
                          ClockPtr clock = nullptr,
                          std::chrono::milliseconds cache_ttl = std::chrono::milliseconds(0));

  // The store's keys, plus the root credential when set. NotFound for unknown or inactive keys.
  StatusOr<sigv4::Credential> Find(std::string_view access_key_id) override;

  void SetRootCredential(sigv4::Credential root) { root_ = std::move(root); }

  // Forgets every kept key: the next Find of each reads the store.
  void ClearCache();

 private:
  struct Slot {
    sigv4::Credential credential;
    Clock::TimePoint read_at;
  };
  static constexpr size_t kMaxCachedKeys = 10000;  // beyond: start over

  StatusOr<sigv4::Credential> Read(const std::string& access_key_id);

  std::shared_ptr<storage::CredentialStore> store_;
  std::string seal_key_;
  sigv4::Credential root_;
  const ClockPtr clock_;
  const std::chrono::milliseconds cache_ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Slot> cache_;
  uint64_t generation_ = 0;  // bumped by ClearCache(): a read that raced with it is not kept
};

// An access key pair as handed to a user (the secret appears only here, once).
struct NewAccessKey {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials only
  int64_t expires_at = 0;
};

// Creates an access key for `principal_arn` (which must exist). `duration_seconds` > 0 makes a
// temporary credential with a session token. Given id/secret are used as is (bootstrap files).
StatusOr<NewAccessKey> CreateAccessKey(storage::CredentialStore& store, const std::string& seal_key,
                                       const std::string& principal_arn, int64_t now,
                                       int64_t duration_seconds,
                                       const std::string& access_key_id = "",
                                       const std::string& secret_access_key = "");

// "123456789012" from "arn:aws:iam::123456789012:role/x"; "" when the ARN has no account.
std::string AccountOfArn(std::string_view arn);

// The rules for what a person chooses: the CLI, bootstrap files and the environment all apply
// them. Each returns OK or InvalidArgument saying what is wrong, without naming the member (the
// caller does: "--arn", "IamPrincipals[0].Arn").

// A password of at least 8 characters (set-password, Users[].Password).
Status ValidatePassword(std::string_view password);
// arn:aws:iam::<12-digit account>:<resource>, e.g. arn:aws:iam::123456789012:role/webapp.
Status ValidatePrincipalArn(std::string_view arn);
// IAM's AccessKeyId: 16 to 128 word characters ([A-Za-z0-9_]), e.g. AKIAIOSFODNN7EXAMPLE.
Status ValidateAccessKeyId(std::string_view access_key_id);
// A secret access key of 16 to 128 characters: it is the credential's only secret part.
Status ValidateSecretAccessKey(std::string_view secret_access_key);
// The declared AWS accounts (`tessera account add`, Accounts[] of a bootstrap file), with the
// rules AWS Organizations has for them: an ID of 12 digits; a name of 1 to 50 printable ASCII
// characters; an e-mail address of 6 to 64 characters, local@domain.tld without spaces.
Status ValidateAccountId(std::string_view account_id);
Status ValidateAccountName(std::string_view name);
Status ValidateAccountEmail(std::string_view email);

}  // namespace ts::server
