#include "ts/jose/internal/openssl_util.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"

namespace ts::jose::internal {
namespace {

struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

std::string Thumbprint(const std::string& canonical) {
  return crypto::Base64UrlEncode(crypto::Sha256(canonical));
}

}  // namespace

PkeyPtr AdoptPkey(evp_pkey_st* pkey) {
  return PkeyPtr(pkey, [](EVP_PKEY* p) { EVP_PKEY_free(p); });
}

const evp_md_st* Sha2Md(int bits) {
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  static EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA2-384", nullptr);
  static EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA2-512", nullptr);
  switch (bits) {
    case 256:
      return sha256;
    case 384:
      return sha384;
    case 512:
      return sha512;
    default:
      return nullptr;
  }
}

std::optional<std::string> EcdsaDerToRaw(std::string_view der, size_t scalar_size) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr || p != reinterpret_cast<const unsigned char*>(der.data() + der.size())) {
    return std::nullopt;
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * scalar_size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  const int size = static_cast<int>(scalar_size);
  if (BN_bn2binpad(r, out, size) != size || BN_bn2binpad(s, out + scalar_size, size) != size) {
    return std::nullopt;
  }
  return raw;
}

std::optional<std::string> EcdsaRawToDer(std::string_view raw) {
  if (raw.empty() || raw.size() % 2 != 0) return std::nullopt;
  const size_t half = raw.size() / 2;
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(in, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(in + half, static_cast<int>(half), nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string EcThumbprint(std::string_view crv, std::string_view x, std::string_view y) {
  std::string c = "{\"crv\":\"";
  c.append(crv).append("\",\"kty\":\"EC\",\"x\":\"").append(x).append("\",\"y\":\"");
  c.append(y).append("\"}");
  return Thumbprint(c);
}

std::string OkpThumbprint(std::string_view crv, std::string_view x) {
  std::string c = "{\"crv\":\"";
  c.append(crv).append("\",\"kty\":\"OKP\",\"x\":\"").append(x).append("\"}");
  return Thumbprint(c);
}

std::string RsaThumbprint(std::string_view n, std::string_view e) {
  std::string c = "{\"e\":\"";
  c.append(e).append("\",\"kty\":\"RSA\",\"n\":\"").append(n).append("\"}");
  return Thumbprint(c);
}

}  // namespace ts::jose::internal
