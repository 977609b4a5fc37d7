#include "ts/jose/signer.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdint>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/internal/openssl_util.h"

namespace ts::jose {

struct Es256Signer::State {
  internal::PkeyPtr pkey;
  std::string pkcs8_der;
  std::string kid;
  std::string public_jwk_json;
  std::string jwt_header_b64;     // base64url of the protected header with typ "JWT"
  std::string at_jwt_header_b64;  // ... and with typ "at+jwt"
  uint64_t id = 0;                // unique per key, for the per-thread signing context cache
};

namespace {

constexpr size_t kP256ScalarSize = 32;

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

std::atomic<uint64_t> next_state_id{1};

// Creating and initializing an EVP_PKEY_CTX costs about as much as a quarter of the ECDSA
// signature itself (provider lookups, key reference counting), so each thread keeps the context
// of the last key it signed with. Keyed by the State's unique id, never by its address, so a
// freed key's context can never be reused for another key. The context holds its own reference
// to the key.
struct ThreadSignContext {
  uint64_t id = 0;
  CtxPtr ctx;
};

EVP_PKEY_CTX* SignContextFor(const Es256Signer::State& state) {
  thread_local ThreadSignContext cache;
  if (cache.id != state.id || cache.ctx == nullptr) {
    cache.ctx.reset();
    cache.id = 0;
    CtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, state.pkey.get(), nullptr));
    if (ctx == nullptr || EVP_PKEY_sign_init(ctx.get()) != 1) return nullptr;
    cache.ctx = std::move(ctx);
    cache.id = state.id;
  }
  return cache.ctx.get();
}

StatusOr<std::string> Coordinate(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return InternalError("EC point unavailable");
  std::string out(kP256ScalarSize, '\0');
  const int n =
      BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  if (n != static_cast<int>(kP256ScalarSize)) return InternalError("EC coordinate too large");
  return out;
}

std::string HeaderB64(std::string_view kid, std::string_view typ) {
  boost::json::object header;
  header["alg"] = "ES256";
  header["kid"] = kid;
  if (!typ.empty()) header["typ"] = typ;
  return crypto::Base64UrlEncode(boost::json::serialize(header));
}

// Everything derived from the key is computed here once, so SignJwt does only the signing.
StatusOr<std::shared_ptr<const Es256Signer::State>> MakeState(internal::PkeyPtr pkey) {
  auto state = std::make_shared<Es256Signer::State>();
  state->id = next_state_id.fetch_add(1, std::memory_order_relaxed);

  PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(pkey.get());
  unsigned char* der = nullptr;
  const int der_len = p8 != nullptr ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (der_len <= 0) return InternalError("encoding the EC key as PKCS#8 failed");
  state->pkcs8_der.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(der_len));
  OPENSSL_clear_free(der, static_cast<size_t>(der_len));

  auto x = Coordinate(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  if (!x.ok()) return x.status();
  auto y = Coordinate(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (!y.ok()) return y.status();
  const std::string x64 = crypto::Base64UrlEncode(*x);
  const std::string y64 = crypto::Base64UrlEncode(*y);
  state->kid = internal::EcThumbprint("P-256", x64, y64);  // RFC 7638 §3

  boost::json::object jwk;
  jwk["kty"] = "EC";
  jwk["crv"] = "P-256";
  jwk["x"] = x64;
  jwk["y"] = y64;
  jwk["kid"] = state->kid;
  jwk["alg"] = "ES256";
  jwk["use"] = "sig";
  state->public_jwk_json = boost::json::serialize(jwk);

  state->jwt_header_b64 = HeaderB64(state->kid, "JWT");
  state->at_jwt_header_b64 = HeaderB64(state->kid, "at+jwt");

  state->pkey = std::move(pkey);
  return std::shared_ptr<const Es256Signer::State>(std::move(state));
}

}  // namespace

StatusOr<Es256Signer> Es256Signer::Generate() {
  internal::PkeyPtr pkey = internal::AdoptPkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (pkey == nullptr) return InternalError("generating a P-256 key failed");
  auto state = MakeState(std::move(pkey));
  if (!state.ok()) return state.status();
  return Es256Signer(std::move(state).value());
}

StatusOr<Es256Signer> Es256Signer::FromPkcs8Der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS8_PRIV_KEY_INFO* p8 = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size()));
  const bool whole = p == reinterpret_cast<const unsigned char*>(der.data() + der.size());
  internal::PkeyPtr pkey =
      internal::AdoptPkey(p8 != nullptr && whole ? EVP_PKCS82PKEY(p8) : nullptr);
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (pkey == nullptr) {
    return InvalidArgumentError("signing key is not a valid unencrypted PKCS#8 DER structure");
  }
  char group[32] = {};
  size_t group_len = 0;
  if (!EVP_PKEY_is_a(pkey.get(), "EC") ||
      EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &group_len) != 1 ||
      std::string_view(group, group_len) != "prime256v1") {
    return InvalidArgumentError("signing key is not an EC P-256 key");
  }
  auto state = MakeState(std::move(pkey));
  if (!state.ok()) return state.status();
  return Es256Signer(std::move(state).value());
}

const std::string& Es256Signer::Pkcs8Der() const { return state_->pkcs8_der; }
const std::string& Es256Signer::kid() const { return state_->kid; }
const std::string& Es256Signer::PublicJwkJson() const { return state_->public_jwk_json; }

StatusOr<std::string> Es256Signer::SignJwt(std::string_view payload_json,
                                           std::string_view typ) const {
  std::string custom_header;
  const std::string* header_b64 = &state_->jwt_header_b64;
  if (typ == "at+jwt") {
    header_b64 = &state_->at_jwt_header_b64;
  } else if (typ != "JWT") {
    custom_header = HeaderB64(state_->kid, typ);
    header_b64 = &custom_header;
  }
  // RFC 7515 §5.1: sign ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
  std::string out;
  out.reserve(header_b64->size() + (payload_json.size() * 4 + 2) / 3 + 2 + 86);
  out.append(*header_b64).push_back('.');
  crypto::AppendBase64Url(payload_json, out);
  const crypto::Sha256Digest digest = crypto::Sha256(out);

  EVP_PKEY_CTX* ctx = SignContextFor(*state_);
  unsigned char der[80];  // a DER P-256 signature is at most 72 bytes
  size_t der_len = sizeof(der);
  if (ctx == nullptr || EVP_PKEY_sign(ctx, der, &der_len, digest.data(), digest.size()) != 1) {
    return InternalError("ECDSA P-256 signing failed");
  }
  // RFC 7518 §3.4: the JWS signature is R || S, each 32 bytes big-endian, not DER.
  std::optional<std::string> raw = internal::EcdsaDerToRaw(
      std::string_view(reinterpret_cast<const char*>(der), der_len), kP256ScalarSize);
  if (!raw) return InternalError("OpenSSL returned a malformed ECDSA signature");
  out.push_back('.');
  crypto::AppendBase64Url(*raw, out);
  return out;
}

}  // namespace ts::jose
