// File: credential.h
// SigV4 credentials and the lookup interface the verifier uses to find the secret for an access
// key id. InMemoryCredentialProvider is a thread-safe map for tests, tools and small deployments.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "ts/common/status.h"

namespace ts::sigv4 {

// An IAM access key. Temporary (STS session) credentials carry a session token, which the client
// must send as X-Amz-Security-Token and sign.
struct Credential {
  std::string access_key_id;
  std::string secret_access_key;
  std::string principal_arn;  // e.g. arn:aws:iam::123456789012:role/webapp
  std::string account_id;     // 12 digits
  std::string session_token;  // empty for long-term keys
  // Alternatively the hex SHA-256 of the session token, for stores that keep only hashes.
  std::string session_token_hash;
  int64_t expires_at = 0;  // Unix seconds; 0 = never expires

  bool temporary() const { return !session_token.empty() || !session_token_hash.empty(); }
};

// Finds the credential for an access key id. Implementations must be thread-safe.
class CredentialProvider {
 public:
  virtual ~CredentialProvider() = default;
  // Returns the credential on success; NotFound for an unknown key id; any other error for a
  // backend failure (the verifier passes those through unchanged).
  virtual StatusOr<Credential> Find(std::string_view access_key_id) = 0;
};

// A CredentialProvider over an in-memory map. Thread-safe.
class InMemoryCredentialProvider final : public CredentialProvider {
 public:
  // Adds or replaces the credential stored under credential.access_key_id.
  void Put(Credential credential);
  // Removes the key; true when it existed.
  bool Remove(std::string_view access_key_id);
  StatusOr<Credential> Find(std::string_view access_key_id) override;

 private:
  std::mutex mu_;
  std::map<std::string, Credential, std::less<>> credentials_;
};

}  // namespace ts::sigv4
