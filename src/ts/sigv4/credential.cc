#include "ts/sigv4/credential.h"

#include <utility>

namespace ts::sigv4 {

void InMemoryCredentialProvider::Put(Credential credential) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = credential.access_key_id;
  credentials_.insert_or_assign(std::move(key), std::move(credential));
}

bool InMemoryCredentialProvider::Remove(std::string_view access_key_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = credentials_.find(access_key_id);
  if (it == credentials_.end()) return false;
  credentials_.erase(it);
  return true;
}

StatusOr<Credential> InMemoryCredentialProvider::Find(std::string_view access_key_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = credentials_.find(access_key_id);
  if (it == credentials_.end()) return NotFoundError("unknown access key id");
  return it->second;
}

}  // namespace ts::sigv4
