// File: tls.cc
#include "ts/http/tls.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

namespace ts::http {
namespace {

// Mozilla's "intermediate" TLS 1.2 suites (ssl-config.mozilla.org, v5.7) without the DHE ones:
// ECDHE key exchange and AEAD ciphers only. TLS 1.3's suites are all AEAD; OpenSSL's default
// list is kept.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kGroups[] = "X25519:P-256:P-384";
// Mozilla's session lifetime for the server-side cache (tickets are off, see Build()).
constexpr long kSessionTimeoutSeconds = 86400;

void LogLine(std::string line) {
  line.push_back('\n');
  std::fputs(line.c_str(), stderr);
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// PEM password callback that refuses: an encrypted key must never make OpenSSL prompt on the
// terminal of a server.
int NoPassword(char*, int, int, void*) { return -1; }

// The identity of a file on disk: a changed one is a new certificate to load.
struct FileStamp {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {};
  return {true, st.st_dev, st.st_ino, st.st_size,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

StatusOr<std::string> ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgumentError("cannot read " + what + " '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return InvalidArgumentError("cannot read " + what + " '" + path + "'");
  return out.str();
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

std::string SubjectText(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  return BioText(bio.get());
}

std::string TimeText(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), time);
  return BioText(bio.get());
}

std::string Sha256Hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

struct Loaded {
  std::shared_ptr<SSL_CTX> ctx;
  std::string fingerprint;
  std::string description;
};

StatusOr<Loaded> Build(const std::string& cert_file, const std::string& key_file,
                       std::vector<std::string>* warnings) {
  struct ErrClear {  // the thread's OpenSSL error queue is left empty whatever happens
    ~ErrClear() { ERR_clear_error(); }
  } err_clear;
  auto cert_pem = ReadFile("the certificate file (--tls-cert)", cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = ReadFile("the key file (--tls-key)", key_file);
  if (!key_pem.ok()) return key_pem.status();

  std::vector<X509Ptr> certs;
  {
    BioPtr bio(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr)) {
      certs.emplace_back(cert);
    }
    const unsigned long err = ERR_peek_last_error();
    if (certs.empty() || (err != 0 && ERR_GET_REASON(err) != PEM_R_NO_START_LINE)) {
      return InvalidArgumentError(
          "the certificate file (--tls-cert) '" + cert_file +
          "' holds no readable PEM certificate (-----BEGIN CERTIFICATE-----)");
    }
    ERR_clear_error();
  }
  PkeyPtr key;
  {
    BioPtr bio(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
    const bool encrypted = key_pem->find("ENCRYPTED") != std::string::npos;
    OPENSSL_cleanse(key_pem->data(), key_pem->size());  // no copy of the key left in freed memory
    if (!key) {
      if (encrypted) {
        return InvalidArgumentError("the key file (--tls-key) '" + key_file +
                                    "' holds an encrypted key; give it unencrypted (openssl pkey "
                                    "-in KEY -out PLAIN) and protect the file instead");
      }
      return InvalidArgumentError("the key file (--tls-key) '" + key_file +
                                  "' holds no readable PEM private key");
    }
  }
  if (X509_check_private_key(certs[0].get(), key.get()) != 1) {
    ERR_clear_error();
    for (size_t i = 1; i < certs.size(); ++i) {
      if (X509_check_private_key(certs[i].get(), key.get()) == 1) {
        return InvalidArgumentError(
            "the key matches certificate " + std::to_string(i + 1) + " of '" + cert_file +
            "', not the first: list the server's own (leaf) certificate first, then its chain");
      }
    }
    ERR_clear_error();
    return InvalidArgumentError("the key in '" + key_file +
                                "' does not match the certificate in '" + cert_file + "'");
  }
  for (size_t i = 1; i < certs.size(); ++i) {
    if (X509_check_issued(certs[i].get(), certs[i - 1].get()) != X509_V_OK) {
      return InvalidArgumentError(
          "certificate " + std::to_string(i + 1) + " of '" + cert_file + "' (" +
          SubjectText(certs[i].get()) + ") did not issue certificate " + std::to_string(i) +
          ": list the leaf first, then each issuer right after the certificate it signed");
    }
  }

  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return InternalError("tls: cannot create an SSL_CTX");
  SSL_CTX* c = ctx.get();
  bool ok = SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) == 1 &&
            SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) == 1 &&
            SSL_CTX_set_cipher_list(c, kTls12Ciphers) == 1 &&
            SSL_CTX_set1_groups_list(c, kGroups) == 1;
  // No compression (CRIME), no renegotiation (a client-triggered CPU cost and a history of
  // bugs), no session tickets: OpenSSL's ticket key lives as long as the context and never
  // rotates, which would undo forward secrecy; resumption uses the server-side cache instead
  // (Mozilla's nginx guidance: ssl_session_tickets off).
  // The client's cipher order is kept (Mozilla: every suite offered is strong, and the client
  // knows whether it has AES hardware).
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  ok = ok && SSL_CTX_set_num_tickets(c, 0) == 1;
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(c, kSessionTimeoutSeconds);
  ok = ok && SSL_CTX_use_certificate(c, certs[0].get()) == 1;
  for (size_t i = 1; ok && i < certs.size(); ++i) {
    ok = SSL_CTX_add1_chain_cert(c, certs[i].get()) == 1;
  }
  ok = ok && SSL_CTX_use_PrivateKey(c, key.get()) == 1 && SSL_CTX_check_private_key(c) == 1;
  if (!ok) {
    char buf[256];
    ERR_error_string_n(ERR_peek_last_error(), buf, sizeof(buf));
    return InvalidArgumentError("tls: OpenSSL refused the certificate or key from '" + cert_file +
                                "': " + buf);
  }

  Loaded loaded;
  loaded.ctx = std::move(ctx);
  loaded.fingerprint = Sha256Hex(certs[0].get());
  const ASN1_TIME* not_after = X509_get0_notAfter(certs[0].get());
  loaded.description = SubjectText(certs[0].get()) + " sha256=" + loaded.fingerprint + " expires " +
                       TimeText(not_after);
  if (warnings != nullptr) {
    if (X509_cmp_current_time(not_after) < 0) {
      warnings->push_back("tls: the certificate in '" + cert_file + "' expired on " +
                          TimeText(not_after));
    }
    struct stat st {};
    if (stat(key_file.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
      warnings->push_back("tls: the key file '" + key_file +
                          "' is readable by every user on this machine; chmod o-r it");
    }
  }
  return loaded;
}

}  // namespace

class TlsContext::Impl {
 public:
  Impl(std::string cert_file, std::string key_file, Loaded loaded)
      : cert_file_(std::move(cert_file)),
        key_file_(std::move(key_file)),
        current_(std::move(loaded)),
        stamps_(Stamps()) {}

  ~Impl() {
    {
      std::lock_guard lock(watch_mu_);
      stop_watching_ = true;
    }
    watch_cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
  }

  std::pair<FileStamp, FileStamp> Stamps() const { return {Stamp(cert_file_), Stamp(key_file_)}; }

  Loaded Current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  std::shared_ptr<SSL_CTX> CurrentCtx() const {
    std::lock_guard lock(mu_);
    return current_.ctx;
  }

  // Reloads if `only_if_changed` is false or the files' stamps moved; logs what happened.
  Status Reload(bool only_if_changed) {
    std::lock_guard reload_lock(reload_mu_);
    auto stamps = Stamps();
    if (only_if_changed && stamps == stamps_) return OkStatus();
    stamps_ = stamps;
    std::vector<std::string> warnings;
    auto loaded = Build(cert_file_, key_file_, &warnings);
    for (const auto& w : warnings) LogLine(w);
    if (!loaded.ok()) {
      LogLine("tls: keeping the current certificate (" + Current().description +
              "): " + std::string(loaded.status().message()));
      return loaded.status();
    }
    LogLine("tls: now serving " + loaded->description);
    std::lock_guard lock(mu_);
    current_ = std::move(*loaded);
    return OkStatus();
  }

  void StartWatching(std::chrono::milliseconds interval) {
    std::lock_guard lock(watch_mu_);
    if (interval.count() <= 0 || watcher_.joinable()) return;
    watcher_ = std::thread([this, interval] {
      std::unique_lock lock(watch_mu_);
      while (!watch_cv_.wait_for(lock, interval, [this] { return stop_watching_; })) {
        lock.unlock();
        (void)Reload(/*only_if_changed=*/true);  // logs its outcome
        lock.lock();
      }
    });
  }

 private:
  const std::string cert_file_;
  const std::string key_file_;
  mutable std::mutex mu_;
  Loaded current_;  // guarded by mu_
  std::mutex reload_mu_;
  std::pair<FileStamp, FileStamp> stamps_;  // of the last attempt; guarded by reload_mu_

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_watching_ = false;  // guarded by watch_mu_
  std::thread watcher_;
};

StatusOr<std::shared_ptr<TlsContext>> TlsContext::Load(std::string cert_file, std::string key_file,
                                                       std::vector<std::string>* warnings) {
  auto loaded = Build(cert_file, key_file, warnings);
  if (!loaded.ok()) return loaded.status();
  return std::shared_ptr<TlsContext>(new TlsContext(
      std::make_unique<Impl>(std::move(cert_file), std::move(key_file), std::move(*loaded))));
}

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

std::shared_ptr<ssl_ctx_st> TlsContext::Current() const { return impl_->CurrentCtx(); }
std::string TlsContext::Describe() const { return impl_->Current().description; }
std::string TlsContext::Fingerprint() const { return impl_->Current().fingerprint; }
Status TlsContext::Reload() { return impl_->Reload(/*only_if_changed=*/false); }
Status TlsContext::ReloadIfChanged() { return impl_->Reload(/*only_if_changed=*/true); }
void TlsContext::StartWatching(std::chrono::milliseconds interval) {
  impl_->StartWatching(interval);
}

}  // namespace ts::http
