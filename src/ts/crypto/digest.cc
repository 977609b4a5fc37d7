#include "ts/crypto/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

#include "ts/common/log.h"

namespace ts::crypto {
namespace {

// OpenSSL 3's one-shot SHA256() and HMAC() fetch the algorithm from the provider on every call:
// a locked name lookup that, on a loaded server, cost more than the hashing itself (about 1 µs
// per SHA256 and 3 µs per HMAC against 0.2 µs of SHA-256 work; BENCHMARKS.md). So the digest is
// fetched once per process, each thread keeps one context, and HMAC is built on it (RFC 2104).
[[noreturn]] void Fatal(const char* what) {
  log::Write(log::Level::kError, std::string("fatal: ") + what);
  std::abort();
}

const EVP_MD* Sha256Md() {
  // Deliberately never freed: it lives as long as the process, like EVP_sha256() itself.
  static const EVP_MD* const md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) Fatal("the SHA-256 digest is unavailable");
    return fetched;
  }();
  return md;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// SHA-256 of the concatenation of `parts`, on this thread's context. Cannot fail short of memory
// exhaustion, which aborts.
Sha256Digest Sha256Of(std::initializer_list<std::string_view> parts) {
  thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), Sha256Md(), nullptr) != 1) {
    Fatal("SHA-256 initialization failed");
  }
  for (std::string_view part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) Fatal("SHA-256 failed");
  }
  Sha256Digest out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    Fatal("SHA-256 failed");
  }
  return out;
}

constexpr size_t kBlockSize = 64;  // SHA-256's block, the HMAC key block (RFC 2104 §2)

std::string_view View(const unsigned char* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace

Sha256Digest Sha256(std::string_view data) { return Sha256Of({data}); }

// RFC 2104 §2: H((K ^ opad) || H((K ^ ipad) || text)), K zero-padded to the block size, or
// replaced by H(K) first when longer than a block.
Sha256Digest HmacSha256(std::string_view key, std::string_view data) {
  unsigned char block[kBlockSize] = {};
  if (key.size() > kBlockSize) {
    Sha256Digest hashed_key = Sha256(key);
    std::memcpy(block, hashed_key.data(), hashed_key.size());
    OPENSSL_cleanse(hashed_key.data(), hashed_key.size());
  } else {
    std::memcpy(block, key.data(), key.size());
  }
  for (unsigned char& b : block) b ^= 0x36;  // ipad
  Sha256Digest inner = Sha256Of({View(block, kBlockSize), data});
  for (unsigned char& b : block) b ^= 0x36 ^ 0x5c;  // ipad off, opad on
  const Sha256Digest out = Sha256Of({View(block, kBlockSize), View(inner.data(), inner.size())});
  OPENSSL_cleanse(block, sizeof block);  // key material
  OPENSSL_cleanse(inner.data(), inner.size());
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ts::crypto
