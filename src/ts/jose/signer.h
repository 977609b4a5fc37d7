// File: signer.h
// Es256Signer: an ECDSA P-256 signing key that issues compact JWS/JWT (RFC 7515 §7.1) with
// alg ES256 (RFC 7518 §3.4), identified by its RFC 7638 thumbprint as kid.
// Copies share the key (cheap to copy and move). Every const method, SignJwt included, is safe to
// call from many threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "ts/common/status.h"

namespace ts::jose {

class Es256Signer {
 public:
  // A fresh random P-256 key. Errors: Internal when OpenSSL fails.
  static StatusOr<Es256Signer> Generate();

  // Loads an unencrypted PKCS#8 PrivateKeyInfo (DER) holding a P-256 key, as Pkcs8Der returns.
  // Errors: InvalidArgument when the bytes are not exactly one PKCS#8 structure, or the key is
  // not EC on P-256.
  static StatusOr<Es256Signer> FromPkcs8Der(std::string_view der);

  // The private key as PKCS#8 DER. Secret: store it only sealed (crypto::Seal).
  const std::string& Pkcs8Der() const;

  // RFC 7638 thumbprint of the public key, base64url (43 characters).
  const std::string& kid() const;

  // {"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"alg":"ES256","use":"sig"}
  const std::string& PublicJwkJson() const;

  // Signs `payload_json` (the caller's JWT claims; not validated here) as a compact JWS with the
  // protected header {"alg":"ES256","kid":<kid>,"typ":<typ>} ("typ" left out when empty).
  // Headers for "JWT" and "at+jwt" (RFC 9068 access tokens) are prebuilt; other values cost one
  // small JSON serialization per call. The signature is the fixed-size 64-byte R || S form of
  // RFC 7518 §3.4, not DER. Errors: Internal when OpenSSL fails.
  StatusOr<std::string> SignJwt(std::string_view payload_json, std::string_view typ = "JWT") const;

  struct State;  // defined in signer.cc

 private:
  explicit Es256Signer(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace ts::jose
