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

#include <optional>
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

// VerifyJws in two steps, for a caller that reads a token before it has the keys (an assertion
// names its issuer, whose keys may need fetching). ParseJws makes every check that needs no key
// (all the failures above but "JWS kid", "JWS key" and "JWS signature", with the same
// messages): an alg 'none' token is refused as such even when the keys cannot be had. Nothing in
// a ParsedJws is trusted until VerifyParsedJws answers OK.
struct ParsedJws {
  std::string header_json;
  std::string payload_json;
  std::string signature;      // decoded
  std::string signing_input;  // BASE64URL(header) '.' BASE64URL(payload)
  std::string alg;            // one of allowed_algs
  std::optional<std::string> kid;
};
StatusOr<ParsedJws> ParseJws(std::string_view compact,
                             const std::vector<std::string>& allowed_algs);
StatusOr<VerifiedJws> VerifyParsedJws(const ParsedJws& jws, const JwkSet& keys);

namespace internal {
// Drops this thread's cached verification contexts (verifier.cc keeps the last few (key, alg)
// pairs, each holding a reference to its key). For the fuzz target, whose every input brings
// keys of its own: an input must leave no allocation behind, or libFuzzer takes it for a leak.
void ClearThreadVerifyContexts();
}  // namespace internal

}  // namespace ts::jose
