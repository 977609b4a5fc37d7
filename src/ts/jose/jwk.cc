#include "ts/jose/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <optional>

#include "ts/common/status_macros.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/internal/openssl_util.h"

namespace ts::jose {

struct Jwk::Rep {
  KeyType kty;
  std::string kid;
  std::string crv;
  std::string alg;
  std::string use;
  // Base64url member values exactly as given (validated canonical), for the thumbprint and ToJson.
  std::string n, e, x, y;
  internal::PkeyPtr pkey;
  uint64_t id = 0;  // see Jwk::id
};

const std::string& Jwk::kid() const { return rep_->kid; }
KeyType Jwk::kty() const { return rep_->kty; }
const std::string& Jwk::crv() const { return rep_->crv; }
const std::string& Jwk::alg() const { return rep_->alg; }
evp_pkey_st* Jwk::evp_pkey() const { return rep_->pkey.get(); }
uint64_t Jwk::id() const { return rep_->id; }

std::string Jwk::Thumbprint() const {
  switch (rep_->kty) {
    case KeyType::kRsa:
      return internal::RsaThumbprint(rep_->n, rep_->e);
    case KeyType::kEc:
      return internal::EcThumbprint(rep_->crv, rep_->x, rep_->y);
    case KeyType::kOkp:
      return internal::OkpThumbprint(rep_->crv, rep_->x);
  }
  return {};
}

std::string Jwk::ToJson() const {
  boost::json::object o;
  switch (rep_->kty) {
    case KeyType::kRsa:
      o["kty"] = "RSA";
      o["n"] = rep_->n;
      o["e"] = rep_->e;
      break;
    case KeyType::kEc:
      o["kty"] = "EC";
      o["crv"] = rep_->crv;
      o["x"] = rep_->x;
      o["y"] = rep_->y;
      break;
    case KeyType::kOkp:
      o["kty"] = "OKP";
      o["crv"] = rep_->crv;
      o["x"] = rep_->x;
      break;
  }
  if (!rep_->kid.empty()) o["kid"] = rep_->kid;
  if (!rep_->alg.empty()) o["alg"] = rep_->alg;
  if (!rep_->use.empty()) o["use"] = rep_->use;
  return boost::json::serialize(o);
}

namespace {

namespace json = boost::json;

// JWK members that only private keys have (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
constexpr std::array<std::string_view, 8> kPrivateMembers = {"d",  "p",  "q",   "dp",
                                                             "dq", "qi", "oth", "k"};

struct CurveInfo {
  std::string_view jwk_name;
  const char* openssl_name;
  size_t coordinate_size;
};
constexpr std::array<CurveInfo, 3> kEcCurves = {{
    {"P-256", "prime256v1", 32},
    {"P-384", "secp384r1", 48},
    {"P-521", "secp521r1", 66},
}};

constexpr size_t kMinRsaBits = 2048;  // RFC 7518 §3.3
constexpr size_t kMaxRsaBits = 16384;

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
};
struct ParamsFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};

// Parses one key object. Returns nullptr for a key to skip, a Rep for a usable key.
class KeyParser {
 public:
  KeyParser(const json::object& o, size_t index) : o_(o) {
    const json::value* kid = o.if_contains("kid");
    if (kid != nullptr && kid->is_string()) {
      // Bounded: the kid comes from a remote document and ends up in logs.
      std::string_view k(kid->get_string().data(), kid->get_string().size());
      name_ = "JWK '" + std::string(k.substr(0, 64)) + (k.size() > 64 ? "...'" : "'");
    } else {
      name_ = "JWK #" + std::to_string(index);
    }
  }

  StatusOr<std::shared_ptr<Jwk::Rep>> Parse() {
    auto rep = std::make_shared<Jwk::Rep>();
    static std::atomic<uint64_t> next_id{1};
    rep->id = next_id.fetch_add(1, std::memory_order_relaxed);
    std::string kty;
    if (!OptionalString("kty", kty) || kty.empty()) return Error("kty is missing or not a string");
    if (kty == "RSA") {
      rep->kty = KeyType::kRsa;
    } else if (kty == "EC") {
      rep->kty = KeyType::kEc;
    } else if (kty == "OKP") {
      rep->kty = KeyType::kOkp;
    } else {
      return std::shared_ptr<Jwk::Rep>();  // unknown kty (e.g. "oct"): skip
    }
    if (!OptionalString("kid", rep->kid)) return Error("kid is not a string");
    if (!OptionalString("alg", rep->alg)) return Error("alg is not a string");
    if (!OptionalString("use", rep->use)) return Error("use is not a string");
    // RFC 7517 §4.2: only "sig" keys verify signatures; §4.3: key_ops must allow "verify".
    if (!rep->use.empty() && rep->use != "sig") return std::shared_ptr<Jwk::Rep>();
    if (const json::value* ops = o_.if_contains("key_ops")) {
      if (!ops->is_array()) return Error("key_ops is not an array");
      bool verify = false;
      for (const json::value& op : ops->get_array()) {
        if (!op.is_string()) return Error("key_ops has a non-string member");
        if (op.get_string() == "verify") verify = true;
      }
      if (!verify) return std::shared_ptr<Jwk::Rep>();
    }
    for (std::string_view member : kPrivateMembers) {
      if (o_.contains(member)) {
        return Error("contains private key member '" + std::string(member) +
                     "'; a key set must hold public keys only");
      }
    }
    Status s;
    switch (rep->kty) {
      case KeyType::kRsa:
        s = ParseRsa(*rep);
        break;
      case KeyType::kEc:
        s = ParseEc(*rep);
        break;
      case KeyType::kOkp:
        s = ParseOkp(*rep);
        break;
    }
    if (!s.ok()) return s;
    if (rep->pkey == nullptr) return std::shared_ptr<Jwk::Rep>();  // unsupported curve: skip
    return rep;
  }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgumentError(name_ + " is malformed: " + std::string(what));
  }

  // False when `name` is present but not a string; `out` stays empty when absent.
  bool OptionalString(std::string_view name, std::string& out) const {
    const json::value* v = o_.if_contains(name);
    if (v == nullptr) return true;
    if (!v->is_string()) return false;
    out = v->get_string();
    return true;
  }

  // A required base64url member: sets `text` to the member and `bytes` to its decoding.
  Status Base64Member(std::string_view name, std::string& text, std::string& bytes) const {
    const json::value* v = o_.if_contains(name);
    if (v == nullptr || !v->is_string() || v->get_string().empty()) {
      return Error(std::string(name) + " is missing or not a non-empty string");
    }
    text = v->get_string();
    std::optional<std::string> decoded = crypto::Base64UrlDecode(text);
    if (!decoded) return Error(std::string(name) + " is not canonical unpadded base64url");
    bytes = std::move(*decoded);
    return OkStatus();
  }

  Status ParseRsa(Jwk::Rep& rep) const {
    std::string n, e;
    TS_RETURN_IF_ERROR(Base64Member("n", rep.n, n));
    TS_RETURN_IF_ERROR(Base64Member("e", rep.e, e));
    std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                                                   static_cast<int>(n.size()), nullptr));
    std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                                                   static_cast<int>(e.size()), nullptr));
    if (bn_n == nullptr || bn_e == nullptr) return InternalError("BN_bin2bn failed");
    const size_t bits = static_cast<size_t>(BN_num_bits(bn_n.get()));
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return Error("RSA modulus has " + std::to_string(bits) + " bits; 2048 to 16384 required");
    }
    // A usable public exponent is odd and greater than 1 (and far smaller than n).
    if (BN_num_bits(bn_e.get()) > 64 || !BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) {
      return Error("RSA exponent e is not an odd integer above 1 of at most 64 bits");
    }
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    if (bld == nullptr ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
      return InternalError("building RSA key parameters failed");
    }
    std::unique_ptr<OSSL_PARAM, ParamsFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
    return FromData(rep, "RSA", params.get());
  }

  Status ParseEc(Jwk::Rep& rep) const {
    if (!OptionalString("crv", rep.crv) || rep.crv.empty()) {
      return Error("crv is missing or not a string");
    }
    const CurveInfo* curve = nullptr;
    for (const CurveInfo& c : kEcCurves) {
      if (c.jwk_name == rep.crv) curve = &c;
    }
    if (curve == nullptr) return OkStatus();  // e.g. secp256k1: skipped by the caller
    std::string x, y;
    TS_RETURN_IF_ERROR(Base64Member("x", rep.x, x));
    TS_RETURN_IF_ERROR(Base64Member("y", rep.y, y));
    // RFC 7518 §6.2.1.2/3: coordinates are exactly the field size, leading zeros included.
    if (x.size() != curve->coordinate_size || y.size() != curve->coordinate_size) {
      return Error("x and y must be " + std::to_string(curve->coordinate_size) + " bytes for " +
                   rep.crv);
    }
    std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
    std::string group(curve->openssl_name);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
        OSSL_PARAM_construct_end()};
    // Invalid-curve attacks: the point must lie on the named curve. OpenSSL's import already
    // refuses such points; the explicit check below keeps that guarantee independent of it.
    if (!FromData(rep, "EC", params).ok()) {
      return Error("the point (x, y) is not on curve " + rep.crv);
    }
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, rep.pkey.get(), nullptr));
    if (ctx == nullptr || EVP_PKEY_public_check(ctx.get()) != 1) {
      ERR_clear_error();
      rep.pkey.reset();
      return Error("the point (x, y) is not on curve " + rep.crv);
    }
    return OkStatus();
  }

  Status ParseOkp(Jwk::Rep& rep) const {
    if (!OptionalString("crv", rep.crv) || rep.crv.empty()) {
      return Error("crv is missing or not a string");
    }
    if (rep.crv != "Ed25519") return OkStatus();  // Ed448, X25519, X448: skipped by the caller
    std::string x;
    TS_RETURN_IF_ERROR(Base64Member("x", rep.x, x));
    if (x.size() != 32) return Error("x must be 32 bytes for Ed25519");
    rep.pkey = internal::AdoptPkey(EVP_PKEY_new_raw_public_key_ex(
        nullptr, "ED25519", nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
    if (rep.pkey == nullptr) {
      ERR_clear_error();
      return Error("x is not a valid Ed25519 public key");
    }
    return OkStatus();
  }

  Status FromData(Jwk::Rep& rep, const char* type, OSSL_PARAM* params) const {
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* pkey = nullptr;
    if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
      // A refused key is an answer (the message says why), not an error to leave queued on
      // the thread: a later OpenSSL caller would read it as its own, and each entry holds
      // allocations until the queue wraps.
      ERR_clear_error();
      return Error(std::string("OpenSSL rejected the ") + type + " public key");
    }
    rep.pkey = internal::AdoptPkey(pkey);
    return OkStatus();
  }

  const json::object& o_;
  std::string name_;
};

StatusOr<json::value> ParseJson(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return InvalidArgumentError(std::string(what) + " is not valid JSON: " + ec.message());
  return v;
}

}  // namespace

StatusOr<JwkSet> JwkSet::Parse(std::string_view jwks_json) {
  TS_ASSIGN_OR_RETURN(json::value doc, ParseJson(jwks_json, "JWK Set"));
  const json::object* top = doc.if_object();
  const json::value* keys = top != nullptr ? top->if_contains("keys") : nullptr;
  if (keys == nullptr || !keys->is_array()) {
    return InvalidArgumentError("JWK Set must be a JSON object with a \"keys\" array");
  }
  JwkSet set;
  size_t index = 0;
  for (const json::value& k : keys->get_array()) {
    if (!k.is_object()) {
      return InvalidArgumentError("JWK #" + std::to_string(index) + " is not a JSON object");
    }
    TS_ASSIGN_OR_RETURN(std::shared_ptr<Jwk::Rep> rep, KeyParser(k.get_object(), index).Parse());
    if (rep == nullptr) {
      ++set.skipped_;
    } else {
      set.keys_.push_back(Jwk(std::move(rep)));
    }
    ++index;
  }
  return set;
}

StatusOr<JwkSet> JwkSet::FromJwks(const std::vector<std::string>& public_jwk_jsons) {
  JwkSet set;
  for (size_t i = 0; i < public_jwk_jsons.size(); ++i) {
    TS_ASSIGN_OR_RETURN(json::value v, ParseJson(public_jwk_jsons[i], "JWK"));
    if (!v.is_object())
      return InvalidArgumentError("JWK #" + std::to_string(i) + " is not a JSON object");
    TS_ASSIGN_OR_RETURN(std::shared_ptr<Jwk::Rep> rep, KeyParser(v.get_object(), i).Parse());
    if (rep == nullptr) {
      return InvalidArgumentError("JWK #" + std::to_string(i) +
                                  " is not a supported signature verification key");
    }
    set.keys_.push_back(Jwk(std::move(rep)));
  }
  return set;
}

const Jwk* JwkSet::Find(std::string_view kid) const {
  for (const Jwk& k : keys_) {
    if (k.kid() == kid) return &k;
  }
  return nullptr;
}

std::string JwkSet::ToJson() const {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += keys_[i].ToJson();
  }
  out += "]}";
  return out;
}

}  // namespace ts::jose
