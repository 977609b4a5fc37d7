#include "ts/server/credentials.h"

#include <algorithm>
#include <cctype>

#include "ts/common/status_macros.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/sigv4/access_key.h"

namespace ts::server {

std::string AccountOfArn(std::string_view arn) {
  // arn:partition:service:region:account:resource
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    pos = arn.find(':', pos);
    if (pos == std::string_view::npos) return "";
    ++pos;
  }
  size_t end = arn.find(':', pos);
  if (end == std::string_view::npos) return "";
  return std::string(arn.substr(pos, end - pos));
}

Status ValidatePassword(std::string_view password) {
  if (password.size() < 8) {
    return InvalidArgumentError("the password must have at least 8 characters");
  }
  return OkStatus();
}

Status ValidatePrincipalArn(std::string_view arn) {
  const std::string account = AccountOfArn(arn);
  const bool digits =
      std::all_of(account.begin(), account.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (arn.rfind("arn:aws:iam::", 0) != 0 || account.size() != 12 || !digits ||
      arn.size() == std::string_view("arn:aws:iam::123456789012:").size()) {
    return InvalidArgumentError(
        "must be an IAM user or role ARN, e.g. arn:aws:iam::123456789012:role/webapp");
  }
  return OkStatus();
}

Status ValidateAccessKeyId(std::string_view id) {
  const bool word = std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  if (id.size() < 16 || id.size() > 128 || !word) {
    return InvalidArgumentError(
        "must be 16 to 128 letters, digits or underscores, e.g. AKIAIOSFODNN7EXAMPLE");
  }
  return OkStatus();
}

Status ValidateSecretAccessKey(std::string_view secret) {
  if (secret.size() < 16 || secret.size() > 128) {
    return InvalidArgumentError("must have 16 to 128 characters");
  }
  return OkStatus();
}

StoreCredentialProvider::StoreCredentialProvider(std::shared_ptr<storage::CredentialStore> store,
                                                 std::string seal_key, ClockPtr clock,
                                                 std::chrono::milliseconds cache_ttl)
    : store_(std::move(store)),
      seal_key_(std::move(seal_key)),
      clock_(std::move(clock)),
      cache_ttl_(clock_ ? cache_ttl : std::chrono::milliseconds(0)) {}

StatusOr<sigv4::Credential> StoreCredentialProvider::Find(std::string_view access_key_id) {
  if (!root_.access_key_id.empty() && access_key_id == root_.access_key_id) return root_;
  const std::string id(access_key_id);
  if (cache_ttl_.count() <= 0) return Read(id);
  const Clock::TimePoint now = clock_->Now();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(id);
    if (it != cache_.end() && now - it->second.read_at < cache_ttl_ && now >= it->second.read_at) {
      return it->second.credential;
    }
    generation = generation_;
  }
  // Read outside the lock: a slow store must not hold up other keys' lookups.
  auto credential = Read(id);
  // Only found long-term keys are kept (see the header): a refusal is never cached.
  if (credential.ok() && !credential->temporary()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation == generation_) {
      if (cache_.size() >= kMaxCachedKeys) cache_.clear();
      cache_[id] = Slot{*credential, now};
    }
  }
  return credential;
}

void StoreCredentialProvider::ClearCache() {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.clear();
  ++generation_;
}

StatusOr<sigv4::Credential> StoreCredentialProvider::Read(const std::string& access_key_id) {
  auto key = store_->GetAccessKey(access_key_id);
  if (!key.ok()) return key.status();
  if (!key->active) return NotFoundError("access key is inactive");
  auto secret =
      crypto::Open(seal_key_, key->secret_sealed, sigv4::AccessKeySecretAad(key->access_key_id));
  if (!secret.ok()) {
    return InternalError("cannot unseal the secret of access key " + key->access_key_id);
  }
  sigv4::Credential c;
  c.access_key_id = key->access_key_id;
  c.secret_access_key = *secret;
  c.principal_arn = key->principal_arn;
  c.account_id = AccountOfArn(key->principal_arn);
  c.expires_at = key->expires_at;
  // The store keeps only the session token's hash; the verifier compares hashes for these.
  c.session_token_hash = key->session_token_hash;
  return c;
}

StatusOr<NewAccessKey> CreateAccessKey(storage::CredentialStore& store, const std::string& seal_key,
                                       const std::string& principal_arn, int64_t now,
                                       int64_t duration_seconds, const std::string& access_key_id,
                                       const std::string& secret_access_key) {
  TS_RETURN_IF_ERROR(store.GetPrincipal(principal_arn).status());
  NewAccessKey out;
  const bool temporary = duration_seconds > 0;
  out.access_key_id = access_key_id.empty() ? sigv4::NewAccessKeyId(temporary) : access_key_id;
  out.secret_access_key =
      secret_access_key.empty() ? crypto::Base64Encode(crypto::RandomBytes(30)) : secret_access_key;
  storage::AccessKey key;
  key.access_key_id = out.access_key_id;
  key.principal_arn = principal_arn;
  TS_ASSIGN_OR_RETURN(
      key.secret_sealed,
      crypto::Seal(seal_key, out.secret_access_key, sigv4::AccessKeySecretAad(out.access_key_id)));
  if (temporary) {
    out.session_token = crypto::RandomToken(96);
    out.expires_at = now + duration_seconds;
    key.session_token_hash = crypto::HexEncode(crypto::Sha256(out.session_token));
    key.expires_at = out.expires_at;
  }
  key.created_at = now;
  TS_RETURN_IF_ERROR(store.CreateAccessKey(key));
  return out;
}

Status ValidateAccountId(std::string_view account_id) {
  const bool digits = std::all_of(account_id.begin(), account_id.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (account_id.size() != 12 || !digits) {
    return InvalidArgumentError("must be an AWS account ID of 12 digits, e.g. 123456789012");
  }
  return OkStatus();
}

Status ValidateAccountName(std::string_view name) {
  const bool printable =
      std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  if (name.empty() || name.size() > 50 || !printable) {
    return InvalidArgumentError("must be 1 to 50 printable ASCII characters");
  }
  return OkStatus();
}

Status ValidateAccountEmail(std::string_view email) {
  const size_t at = email.find('@');
  const bool spaced = std::any_of(email.begin(), email.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x7f;
  });
  const size_t dot = at == std::string_view::npos ? at : email.find('.', at + 2);
  if (email.size() < 6 || email.size() > 64 || spaced || at == 0 || at == std::string_view::npos ||
      email.find('@', at + 1) != std::string_view::npos || dot == std::string_view::npos ||
      dot + 1 == email.size()) {
    return InvalidArgumentError(
        "must be an e-mail address of 6 to 64 characters, e.g. "
        "aws-dev@example.com");
  }
  return OkStatus();
}

}  // namespace ts::server
