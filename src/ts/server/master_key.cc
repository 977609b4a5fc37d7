#include "ts/server/master_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ts/common/status_macros.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::server {
namespace {

constexpr char kCheckMetaKey[] = "master_key_check";
constexpr char kCheckPlaintext[] = "tessera master key check v1";

Status ErrnoError(const std::string& what) {
  return InternalError(what + ": " + std::strerror(errno));
}

StatusOr<std::string> ReadOrCreateKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    int wfd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (wfd < 0) return ErrnoError("cannot create master key file " + path);
    const std::string key = crypto::RandomBytes(32);
    bool ok = ::write(wfd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) &&
              ::fsync(wfd) == 0;
    ::close(wfd);
    if (!ok) return ErrnoError("cannot write master key file " + path);
    return key;
  }
  if (fd < 0) return ErrnoError("cannot open master key file " + path);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
    ::close(fd);
    return InvalidArgumentError("master key file " + path +
                                " is readable by group or others; chmod 600 it");
  }
  std::string key(33, '\0');
  ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != 32) {
    const std::string got = n > 32 ? "more" : std::to_string(n);
    return InvalidArgumentError("master key file " + path +
                                " must hold the key's 32 raw bytes (not base64), got " + got);
  }
  key.resize(32);
  return key;
}

}  // namespace

StatusOr<std::string> LoadMasterKey(const std::string& env_value, const std::string& file_path) {
  if (!env_value.empty()) {
    if (env_value.size() == 64) {
      if (auto key = crypto::HexDecode(env_value)) return *key;
    }
    if (auto key = crypto::Base64Decode(env_value); key && key->size() == 32) return *key;
    return InvalidArgumentError(
        "TESSERA_MASTER_KEY must be 32 bytes in base64 (44 characters) or hex (64 characters)");
  }
  return ReadOrCreateKeyFile(file_path);
}

Status VerifyMasterKey(storage::InstanceStore& store, const std::string& master_key) {
  const std::string check_key = crypto::DeriveKey(master_key, "master-key-check");
  auto stored = store.GetMeta(kCheckMetaKey);
  if (!stored.ok() && stored.status().code() == StatusCode::kNotFound) {
    TS_ASSIGN_OR_RETURN(std::string sealed,
                        crypto::Seal(check_key, kCheckPlaintext, kCheckMetaKey));
    Status created = store.CreateMeta(kCheckMetaKey, crypto::Base64Encode(sealed));
    if (created.ok()) return OkStatus();
    if (created.code() != StatusCode::kAlreadyExists) return created;
    // Another node stored its check value first: ours must match it.
    stored = store.GetMeta(kCheckMetaKey);
  }
  if (!stored.ok()) return stored.status();
  auto raw = crypto::Base64Decode(*stored);
  if (!raw || !crypto::Open(check_key, *raw, kCheckMetaKey).ok()) {
    return FailedPreconditionError(
        "the master key does not match this database: start every node with the "
        "TESSERA_MASTER_KEY (or key file) the database was created with");
  }
  return OkStatus();
}

StatusOr<std::string> LoadNodeMasterKey(const std::string& db, const std::string& env_value,
                                        const std::string& file_path) {
  if (!storage::IsPostgresUrl(db)) {
    std::string file = file_path;
    if (file.empty()) file = (std::filesystem::path(db).parent_path() / "master.key").string();
    return LoadMasterKey(env_value, file);
  }
  if (!env_value.empty()) return LoadMasterKey(env_value, "");
  if (file_path.empty()) {
    return FailedPreconditionError(
        "with a PostgreSQL database every node must use the same master key: set "
        "TESSERA_MASTER_KEY or TESSERA_MASTER_KEY_FILE (a node never creates one for itself)");
  }
  if (!std::filesystem::exists(file_path)) {
    return InvalidArgumentError("master key file " + file_path +
                                " does not exist (with PostgreSQL it is not created: copy the "
                                "key every node uses)");
  }
  return LoadMasterKey("", file_path);
}

MasterKeys DeriveMasterKeys(const std::string& master_key) {
  return MasterKeys{crypto::DeriveKey(master_key, "signing-keys"),
                    crypto::DeriveKey(master_key, "iam-secrets"),
                    crypto::DeriveKey(master_key, "identity-context"),
                    crypto::DeriveKey(master_key, "refresh-rotation"),
                    crypto::DeriveKey(master_key, "admin-page-tokens")};
}

}  // namespace ts::server
