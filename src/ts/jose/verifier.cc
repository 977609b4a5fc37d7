#include "ts/jose/verifier.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>

#include "ts/common/status_macros.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/internal/openssl_util.h"

namespace ts::jose {
namespace {

namespace json = boost::json;

// Larger than any sane JWT (big ID tokens with group claims stay well under 64 KiB).
constexpr size_t kMaxTokenSize = 256 * 1024;

enum class Family { kRsaPkcs1, kRsaPss, kEcdsa, kEdDsa };

struct AlgInfo {
  std::string_view name;
  Family family;
  int sha_bits;             // 0 for EdDSA (Ed25519 hashes internally)
  std::string_view ec_crv;  // for ECDSA: the one curve the alg is defined on (RFC 7518 §3.4)
  size_t ec_scalar_size;    // for ECDSA: bytes of R and of S
};

// RFC 7518 §3.1 and RFC 8037 §3.1. Anything absent from this table is never accepted.
constexpr std::array<AlgInfo, 10> kAlgs = {{
    {"RS256", Family::kRsaPkcs1, 256, "", 0},
    {"RS384", Family::kRsaPkcs1, 384, "", 0},
    {"RS512", Family::kRsaPkcs1, 512, "", 0},
    {"PS256", Family::kRsaPss, 256, "", 0},
    {"PS384", Family::kRsaPss, 384, "", 0},
    {"PS512", Family::kRsaPss, 512, "", 0},
    {"ES256", Family::kEcdsa, 256, "P-256", 32},
    {"ES384", Family::kEcdsa, 384, "P-384", 48},
    {"ES512", Family::kEcdsa, 512, "P-521", 66},
    {"EdDSA", Family::kEdDsa, 0, "", 0},
}};

// Header members that would let the token pick its own verification key (RFC 7515 §4.1.3-6),
// and crit (§4.1.11), which demands understanding extensions we do not implement.
constexpr std::array<std::string_view, 5> kRefusedMembers = {"jwk", "jku", "x5u", "x5c", "crit"};

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

Status Malformed(std::string_view what) {
  return InvalidArgumentError("malformed JWS: " + std::string(what));
}

// Untrusted text quoted in an error message is bounded.
std::string Quote(std::string_view s) {
  return "'" + std::string(s.substr(0, 64)) + (s.size() > 64 ? "...'" : "'");
}

const char* KtyName(KeyType kty) {
  switch (kty) {
    case KeyType::kRsa:
      return "RSA";
    case KeyType::kEc:
      return "EC";
    case KeyType::kOkp:
      return "OKP";
  }
  return "?";
}

// Whether `key`'s type and curve are the ones `alg` is defined for. Key "alg" is checked apart.
bool KeyFitsAlg(const Jwk& key, const AlgInfo& alg) {
  switch (alg.family) {
    case Family::kRsaPkcs1:
    case Family::kRsaPss:
      return key.kty() == KeyType::kRsa;
    case Family::kEcdsa:
      return key.kty() == KeyType::kEc && key.crv() == alg.ec_crv;
    case Family::kEdDsa:
      return key.kty() == KeyType::kOkp && key.crv() == "Ed25519";
  }
  return false;
}

bool Suitable(const Jwk& key, const AlgInfo& alg) {
  return KeyFitsAlg(key, alg) && (key.alg().empty() || key.alg() == alg.name);
}

StatusOr<const Jwk*> SelectKey(const JwkSet& keys, const AlgInfo& alg,
                               const std::optional<std::string>& kid) {
  if (!kid) {
    const Jwk* only = nullptr;
    size_t count = 0;
    for (const Jwk& k : keys.keys()) {
      if (Suitable(k, alg)) {
        only = &k;
        ++count;
      }
    }
    if (count == 1) return only;
    return InvalidArgumentError("JWS kid is absent and the key set has " + std::to_string(count) +
                                " keys for alg " + std::string(alg.name) +
                                " (exactly one is needed to pick a key without kid)");
  }
  // Several keys may share a kid (e.g. the same id for an RSA and an EC key): take the one that
  // fits the alg; report a mismatch only when the kid exists but none fits.
  const Jwk* mismatch = nullptr;
  for (const Jwk& k : keys.keys()) {
    if (k.kid() != *kid) continue;
    if (Suitable(k, alg)) return &k;
    mismatch = &k;
  }
  if (mismatch == nullptr) {
    return InvalidArgumentError("JWS kid " + Quote(*kid) +
                                " is unknown (no key in the set has it)");
  }
  if (!KeyFitsAlg(*mismatch, alg)) {
    std::string key_desc = KtyName(mismatch->kty());
    if (!mismatch->crv().empty()) key_desc += " " + mismatch->crv();
    return InvalidArgumentError("JWS key " + Quote(*kid) + " does not match alg " +
                                std::string(alg.name) + ": the key is " + key_desc);
  }
  return InvalidArgumentError("JWS key " + Quote(*kid) + " does not match alg " +
                              std::string(alg.name) + ": the key is restricted to alg " +
                              mismatch->alg());
}

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// A verification context set up for `alg` with `key`: the padding and digest the alg names
// (RFC 7518 §3.3-3.5), ready for EVP_PKEY_verify over a digest computed apart.
PkeyCtxPtr NewVerifyContext(const Jwk& key, const AlgInfo& alg) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.evp_pkey(), nullptr));
  const EVP_MD* md = internal::Sha2Md(alg.sha_bits);
  if (ctx == nullptr || md == nullptr || EVP_PKEY_verify_init(ctx.get()) != 1) return nullptr;
  bool ok = true;
  if (alg.family == Family::kRsaPss) {
    // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) == 1;
  } else if (alg.family == Family::kRsaPkcs1) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1;
  }
  if (!ok || EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1) return nullptr;
  return ctx;
}

// Setting up a verification context (provider fetches, RSA parameter checks) cost about a
// quarter of an RS256 verification (5 of 23 µs), once per assertion. Each thread keeps the
// contexts of the last few (key, alg) pairs it verified with, keyed by the key's process-unique
// id (Jwk::id), so a key set parsed again after a rotation gets contexts of its own. A context
// holds its own reference to its key.
struct VerifyContextEntry {
  uint64_t key_id = 0;
  const AlgInfo* alg = nullptr;
  PkeyCtxPtr ctx;
};
thread_local std::array<VerifyContextEntry, 4> verify_contexts;

EVP_PKEY_CTX* VerifyContextFor(const Jwk& key, const AlgInfo& alg) {
  using Entry = VerifyContextEntry;
  std::array<Entry, 4>& cache = verify_contexts;
  thread_local size_t next_victim = 0;
  for (Entry& e : cache) {
    if (e.ctx != nullptr && e.key_id == key.id() && e.alg == &alg) return e.ctx.get();
  }
  PkeyCtxPtr ctx = NewVerifyContext(key, alg);
  if (ctx == nullptr) return nullptr;
  Entry& slot = cache[next_victim++ % cache.size()];
  slot = Entry{key.id(), &alg, std::move(ctx)};
  return slot.ctx.get();
}

bool VerifyEdDsa(const Jwk& key, std::string_view signing_input, std::string_view signature) {
  // Ed25519 hashes internally (RFC 8032 §5.1.7): one-shot DigestVerify, no digest of our own.
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.evp_pkey()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

bool VerifySignature(const Jwk& key, const AlgInfo& alg, std::string_view signing_input,
                     std::string_view signature) {
  if (alg.family == Family::kEdDsa) return VerifyEdDsa(key, signing_input, signature);
  std::string der;
  if (alg.family == Family::kEcdsa) {
    // RFC 7518 §3.4: exactly R || S at the curve's size; DER or short forms are refused.
    if (signature.size() != 2 * alg.ec_scalar_size) return false;
    std::optional<std::string> converted = internal::EcdsaRawToDer(signature);
    if (!converted) return false;
    der = std::move(*converted);
    signature = der;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_PKEY_CTX* ctx = VerifyContextFor(key, alg);
  if (ctx == nullptr || EVP_Digest(signing_input.data(), signing_input.size(), digest, &digest_len,
                                   internal::Sha2Md(alg.sha_bits), nullptr) != 1) {
    return false;
  }
  const bool valid = EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                                     signature.size(), digest, digest_len) == 1;
  if (!valid) ERR_clear_error();  // a bad signature is an answer, not an error to keep queued
  return valid;
}

const AlgInfo* FindAlg(std::string_view alg) {
  for (const AlgInfo& a : kAlgs) {
    if (a.name == alg) return &a;
  }
  return nullptr;
}

}  // namespace

StatusOr<ParsedJws> ParseJws(std::string_view compact,
                             const std::vector<std::string>& allowed_algs) {
  if (compact.size() > kMaxTokenSize) {
    return Malformed("token is larger than " + std::to_string(kMaxTokenSize) + " bytes");
  }
  // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
  const size_t segments = static_cast<size_t>(std::count(compact.begin(), compact.end(), '.')) + 1;
  if (segments != 3) {
    return Malformed("expected 3 '.'-separated segments, found " + std::to_string(segments));
  }
  const size_t dot1 = compact.find('.');
  const size_t dot2 = compact.find('.', dot1 + 1);
  const std::string_view header_b64 = compact.substr(0, dot1);
  const std::string_view payload_b64 = compact.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = compact.substr(dot2 + 1);
  if (header_b64.empty()) return Malformed("the header segment is empty");
  std::optional<std::string> header = crypto::Base64UrlDecode(header_b64);
  if (!header) return Malformed("the header is not canonical unpadded base64url");

  // RFC 7515 §4: duplicate member names must be rejected or resolved to the lexically last one;
  // Boost.JSON keeps the last (VerifierTest.DuplicateHeaderMembersResolveToTheLast).
  boost::system::error_code ec;
  const json::value header_value = json::parse(json::string_view(*header), ec);
  if (ec) return Malformed("the header is not valid JSON: " + ec.message());
  const json::object* h = header_value.if_object();
  if (h == nullptr) return Malformed("the header is not a JSON object");

  const json::value* alg_value = h->if_contains("alg");
  if (alg_value == nullptr || !alg_value->is_string()) {
    return Malformed("the header has no string member \"alg\"");
  }
  const std::string alg(alg_value->get_string());
  if (alg == "none") {
    return InvalidArgumentError("JWS alg 'none' is refused: unsecured tokens are never accepted");
  }
  if (alg.size() >= 2 && alg.compare(0, 2, "HS") == 0) {
    return InvalidArgumentError("JWS alg " + Quote(alg) +
                                " is refused: HMAC (shared-secret) algorithms are never accepted");
  }
  const AlgInfo* info = FindAlg(alg);
  if (info == nullptr ||
      std::find(allowed_algs.begin(), allowed_algs.end(), alg) == allowed_algs.end()) {
    std::string allowed;
    for (const std::string& a : allowed_algs) allowed += (allowed.empty() ? "" : ", ") + a;
    return InvalidArgumentError("JWS alg " + Quote(alg) +
                                " is not allowed here (allowed: " + allowed + ")");
  }
  for (std::string_view m : kRefusedMembers) {
    if (!h->contains(m)) continue;
    return InvalidArgumentError("JWS header member '" + std::string(m) + "' is refused: " +
                                (m == "crit" ? "no critical extensions are supported"
                                             : "verification keys are never taken from the token"));
  }
  std::optional<std::string> kid;
  if (const json::value* k = h->if_contains("kid")) {
    if (!k->is_string()) return Malformed("the header member \"kid\" is not a string");
    kid = std::string(k->get_string());
  }
  // Decoded after the header checks, so an unsigned "alg":"none" token (empty third segment)
  // gets the message that explains why it is refused.
  std::optional<std::string> payload = crypto::Base64UrlDecode(payload_b64);
  if (!payload) return Malformed("the payload is not canonical unpadded base64url");
  if (signature_b64.empty()) return Malformed("the signature segment is empty");
  std::optional<std::string> signature = crypto::Base64UrlDecode(signature_b64);
  if (!signature) return Malformed("the signature is not canonical unpadded base64url");

  return ParsedJws{std::move(*header),
                   std::move(*payload),
                   std::move(*signature),
                   std::string(compact.substr(0, dot2)),
                   alg,
                   std::move(kid)};
}

StatusOr<VerifiedJws> VerifyParsedJws(const ParsedJws& jws, const JwkSet& keys) {
  // Known whenever ParseJws made `jws`; a hand-made one may name anything.
  const AlgInfo* info = FindAlg(jws.alg);
  if (info == nullptr) return InvalidArgumentError("JWS alg " + Quote(jws.alg) + " is unknown");
  TS_ASSIGN_OR_RETURN(const Jwk* key, SelectKey(keys, *info, jws.kid));
  if (!VerifySignature(*key, *info, jws.signing_input, jws.signature)) {
    return InvalidArgumentError("JWS signature is invalid for alg " + jws.alg + " and key " +
                                Quote(key->kid()));
  }
  return VerifiedJws{jws.header_json, jws.payload_json, jws.alg, jws.kid.value_or("")};
}

StatusOr<VerifiedJws> VerifyJws(std::string_view compact, const JwkSet& keys,
                                const std::vector<std::string>& allowed_algs) {
  TS_ASSIGN_OR_RETURN(ParsedJws jws, ParseJws(compact, allowed_algs));
  return VerifyParsedJws(jws, keys);
}

namespace internal {
void ClearThreadVerifyContexts() {
  for (VerifyContextEntry& e : verify_contexts) e = VerifyContextEntry{};
}
}  // namespace internal

}  // namespace ts::jose
