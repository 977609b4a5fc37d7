// File: jwk.h
// JSON Web Keys (RFC 7517) for signature verification: RSA, EC (P-256, P-384, P-521) and OKP
// (Ed25519, RFC 8037) public keys, parsed strictly into ready-to-use OpenSSL keys, plus the
// JWK Thumbprint (RFC 7638) and the {"keys":[...]} rendering served at a jwks_uri.
// Jwk and JwkSet are immutable after construction and cheap to copy (keys are shared); all const
// methods are safe to call from many threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace ts::jose {

enum class KeyType { kRsa, kEc, kOkp };

// One public signature key from a JWK Set.
class Jwk {
 public:
  // "" when the JWK has no kid.
  const std::string& kid() const;
  KeyType kty() const;
  // "P-256", "P-384", "P-521" or "Ed25519"; "" for RSA.
  const std::string& crv() const;
  // The JWK's "alg" member, or "" when absent (RFC 7517 §4.4).
  const std::string& alg() const;
  // RFC 7638 JWK Thumbprint: base64url(SHA-256(canonical required members)).
  std::string Thumbprint() const;
  // The public JWK as a JSON object (kty, crv/x/y or n/e, then kid, alg, use when present).
  std::string ToJson() const;
  // The OpenSSL EVP_PKEY for verification; never null. Owned by this Jwk (and its copies).
  evp_pkey_st* evp_pkey() const;

  // Unique to this parsed key within the process (copies share it; keys parsed from the same
  // JSON twice do not): a safe key for per-thread caches of OpenSSL contexts, never reused.
  uint64_t id() const;

  struct Rep;  // defined in jwk.cc

 private:
  friend class JwkSet;
  explicit Jwk(std::shared_ptr<const Rep> rep) : rep_(std::move(rep)) {}
  std::shared_ptr<const Rep> rep_;
};

// A set of public signature keys, as published at an issuer's jwks_uri.
class JwkSet {
 public:
  JwkSet() = default;  // the empty set

  // Parses {"keys":[...]} (RFC 7517 §5). Keys that cannot be used to verify signatures are
  // skipped so the rest of the set stays usable: unknown kty (e.g. "oct"), unsupported curves
  // (e.g. secp256k1, Ed448, X25519), "use" other than "sig", "key_ops" without "verify".
  // Errors (InvalidArgument): invalid JSON, no "keys" array, a member that is not an object, and
  // a key of a supported kty that is malformed — missing or non-string members, non-canonical
  // base64url, wrong coordinate length, point not on the curve, RSA modulus outside
  // 2048..16384 bits, or private key members present. The message names the key's kid (or its
  // index in "keys" when it has none).
  static StatusOr<JwkSet> Parse(std::string_view jwks_json);

  // Builds a set from individual public JWK objects (e.g. Es256Signer::PublicJwkJson of the
  // current and previous signing keys). Same rules as Parse, except that a key Parse would skip
  // is an error here (InvalidArgument): our own keys must all be usable.
  static StatusOr<JwkSet> FromJwks(const std::vector<std::string>& public_jwk_jsons);

  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  // How many keys Parse skipped as unusable (for logging).
  size_t skipped() const { return skipped_; }
  const std::vector<Jwk>& keys() const { return keys_; }

  // The first key whose kid equals `kid`, or nullptr when none does.
  const Jwk* Find(std::string_view kid) const;

  // {"keys":[...]} with each key's public members only (Jwk::ToJson), in set order.
  std::string ToJson() const;

 private:
  std::vector<Jwk> keys_;
  size_t skipped_ = 0;
};

}  // namespace ts::jose
