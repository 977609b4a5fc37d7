#include "ts/crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstdlib>
#include <memory>

#include "ts/common/log.h"
#include "ts/crypto/random.h"

namespace ts::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Fetched once: implicit fetches by name cost a lock and a lookup on every call.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

Status CheckKey(std::string_view key) {
  if (key.size() != kAeadKeySize) {
    return InvalidArgumentError("AEAD key must be 32 bytes, got " + std::to_string(key.size()));
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::string> Seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  if (Status s = CheckKey(key); !s.ok()) return s;
  if (Aes256Gcm() == nullptr) return InternalError("AES-256-GCM is unavailable in OpenSSL");
  std::string out(kAeadOverhead + plaintext.size(), '\0');
  out[0] = kAeadVersion;
  // A nonce must never repeat under one key but need not be secret (RFC 5116 §3.2).
  RandomPublicBytes(U(out) + 1, kAeadNonceSize);
  const std::string nonce = out.substr(1, kAeadNonceSize);
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  unsigned char* ct = U(out) + 1 + kAeadNonceSize;
  // GCM's default IV length is 12 bytes, so the nonce can go straight into the init call.
  if (ctx == nullptr ||
      EVP_EncryptInit_ex2(ctx.get(), Aes256Gcm(), U(key), U(std::string_view(nonce)), nullptr) !=
          1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), ct, &len, U(plaintext),
                                               static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), ct + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagSize, ct + plaintext.size()) !=
          1) {
    return InternalError("AES-256-GCM encryption failed");
  }
  return out;
}

StatusOr<std::string> Open(std::string_view key, std::string_view sealed, std::string_view aad) {
  if (Status s = CheckKey(key); !s.ok()) return s;
  if (sealed.size() < kAeadOverhead) {
    return InvalidArgumentError("sealed data is too short (" + std::to_string(sealed.size()) +
                                " bytes, minimum " + std::to_string(kAeadOverhead) + ")");
  }
  if (sealed[0] != kAeadVersion) {
    return InvalidArgumentError("sealed data has unknown version byte " +
                                std::to_string(static_cast<unsigned char>(sealed[0])));
  }
  if (Aes256Gcm() == nullptr) return InternalError("AES-256-GCM is unavailable in OpenSSL");
  const std::string_view nonce = sealed.substr(1, kAeadNonceSize);
  const std::string_view ct = sealed.substr(1 + kAeadNonceSize, sealed.size() - kAeadOverhead);
  std::string tag(sealed.substr(sealed.size() - kAeadTagSize));
  std::string plain(ct.size(), '\0');
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex2(ctx.get(), Aes256Gcm(), U(key), U(nonce), nullptr) != 1 ||
      (!aad.empty() &&
       EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad), static_cast<int>(aad.size())) != 1) ||
      (!ct.empty() &&
       EVP_DecryptUpdate(ctx.get(), U(plain), &len, U(ct), static_cast<int>(ct.size())) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagSize, tag.data()) != 1) {
    return InternalError("AES-256-GCM decryption failed");
  }
  // The tag is checked here; on failure the decrypted bytes are wiped, never returned.
  if (EVP_DecryptFinal_ex(ctx.get(), U(plain) + plain.size(), &len) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return InvalidArgumentError(
        "sealed data failed authentication (wrong key, wrong associated data or tampered)");
  }
  return plain;
}

std::string HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       size_t length) {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  std::string out(length, '\0');
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(kdf ? EVP_KDF_CTX_new(kdf) : nullptr);
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                                  ikm.size());
  // RFC 5869 §2.2: an absent salt is HashLen zeros, which is what OpenSSL uses when none is set.
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<char*>(salt.data()), salt.size());
  }
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  const_cast<char*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  if (ctx == nullptr || EVP_KDF_derive(ctx.get(), U(out), out.size(), params) != 1) {
    // Only an out-of-range length or a broken OpenSSL gets here; nothing sane can continue.
    log::Write(log::Level::kError, "fatal: HKDF-SHA256 failed");
    std::abort();
  }
  return out;
}

std::string DeriveKey(std::string_view master_key, std::string_view purpose) {
  return HkdfSha256(master_key, {}, purpose, kAeadKeySize);
}

}  // namespace ts::crypto
