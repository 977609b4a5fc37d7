// File: tls.h
// The server's TLS configuration (docs/design/tls-and-proxies.md): a certificate chain and key
// read from PEM files into an OpenSSL SSL_CTX with TLS 1.2 and 1.3 only, ECDHE + AEAD ciphers
// for 1.2 (Mozilla "intermediate"), no compression, no renegotiation, no session tickets.
// Reload() builds a new SSL_CTX from the files: connections accepted afterwards use it, those
// already open keep theirs; when the new files are unusable the current one stays and the error
// is returned (and logged by the watcher). OpenSSL stays out of this header.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "ts/common/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace ts::http {

class TlsContext {
 public:
  // Loads `cert_file` (PEM: the leaf certificate first, then the intermediates that chain it,
  // issuer after subject) and `key_file` (PEM, unencrypted). Returns
  //   kInvalidArgument naming the file and the problem: unreadable, no certificate, not PEM, an
  //     encrypted key, a key that does not match the leaf (or matches a later certificate: the
  //     leaf must come first), an intermediate that did not issue the certificate before it;
  //   kInternal if OpenSSL cannot build a context.
  // A key file readable by other users is accepted with a warning in `warnings` (Kubernetes
  // mounts secrets 0644 by default).
  static StatusOr<std::shared_ptr<TlsContext>> Load(std::string cert_file, std::string key_file,
                                                    std::vector<std::string>* warnings = nullptr);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The context new connections use (never null). The caller holds a reference: a reload
  // does not free it under an open connection.
  std::shared_ptr<ssl_ctx_st> Current() const;

  // "CN=... sha256=AB:CD:..., expires 2027-01-01" of the certificate being served.
  std::string Describe() const;
  // SHA-256 of the served leaf certificate (DER), upper-case hex without separators.
  std::string Fingerprint() const;

  // Re-reads both files. OK: the new certificate is served from now on. Any error of Load():
  // the current certificate stays.
  Status Reload();
  // Reloads when either file changed (device, inode, size or modification time: renames by
  // certbot or Kubernetes' symlink swap count) since the last attempt, successful or not. OK
  // when nothing changed; a failed attempt is not retried until the files change again.
  Status ReloadIfChanged();

  // Polls the files every `interval` on a thread of its own (ReloadIfChanged), logging each
  // reload and failure to stderr, until destruction. A zero interval starts nothing.
  void StartWatching(std::chrono::milliseconds interval);

  class Impl;

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using TlsContextPtr = std::shared_ptr<TlsContext>;

}  // namespace ts::http
