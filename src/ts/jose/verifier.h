// File: verifier.h
// Strict verification of compact JWS (RFC 7515 §7.1) against a JWK Set, with an algorithm
// allow-list. Stateless and thread-safe.
//
// What it refuses, and why:
// - "none" and every HS* algorithm, always, even if listed as allowed: an unsecured token proves
//   nothing, and HMAC with a public key as the secret is the classic algorithm-confusion attack.
// - Header members jwk, jku, x5u, x5c: a token must never choose the key that verifies it.
// - crit (RFC 7515 §4.1.11): no extension is understood, so any critical one must fail.
// - A key whose kty/crv does not fit the alg, or whose own "alg" differs from the header's.
// - Anything but exactly three segments of canonical unpadded base64url.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"
#include "ts/jose/jwk.h"

namespace ts::jose {

struct VerifiedJws {
  std::string header_json;   // the decoded protected header
  std::string payload_json;  // the decoded payload (JSON for a JWT; parse it yourself)
  std::string alg;
  std::string kid;  // "" when the header had none
};

// Verifies `compact` with a key from `keys`. `allowed_algs` names the algorithms accepted here,
// from RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA (other names are ignored).
// The key is the one whose kid equals the header's kid; a header without kid uses the set's only
// key suitable for the alg.
// Returns the decoded header and payload on success. Every failure is InvalidArgument, with a
// message starting with one of:
//   "malformed JWS: "                 wrong segment count, bad base64url, header not a JSON
//                                     object, alg or kid not a string, token too large
//   "JWS alg '<alg>' is refused: "    none or HS*
//   "JWS alg '<alg>' is not allowed"  not in allowed_algs (or unknown)
//   "JWS header member '<m>' is refused: "   jwk, jku, x5u, x5c, crit
//   "JWS kid "                        unknown kid, or no kid and not exactly one suitable key
//   "JWS key "                        the kid's key does not fit the alg (kty, crv or key alg)
//   "JWS signature is invalid"        the signature does not verify (or has the wrong size)
StatusOr<VerifiedJws> VerifyJws(std::string_view compact, const JwkSet& keys,
                                const std::vector<std::string>& allowed_algs);

// The checks of VerifyJws that need no key (everything above but "JWS kid", "JWS key" and
// "JWS signature"), with the same messages. Lets a caller refuse a token before fetching the
// keys to verify it with: an alg 'none' token is refused as such even when the keys cannot be
// had. OK does not mean the token is valid.
Status CheckJwsWithoutKey(std::string_view compact, const std::vector<std::string>& allowed_algs);

}  // namespace ts::jose
