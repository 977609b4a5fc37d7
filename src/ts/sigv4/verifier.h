// File: verifier.h
// Server-side verification of SigV4-signed requests (docs/protocol.md §3.2): the authentication
// step of CreateTokenWithIAM. It answers "which IAM principal sent this request?"; authorization
// (the actor policy, ts::iam) is the caller's next step.
//
// Thread-safe: Verify may run concurrently. Derived signing keys are cached (bounded) under a
// mutex, so the hot path costs two SHA-256 of small inputs, one body hash and one HMAC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/http/message.h"
#include "ts/sigv4/credential.h"

namespace ts::sigv4 {

struct VerifierOptions {
  // The SigV4 signing name of the service (docs/protocol.md §0: "sso-oauth").
  std::string service = "sso-oauth";
  // Regions a credential scope may name; the client's configured region lands in the scope.
  std::vector<std::string> regions = {"us-east-1"};
  // Allowed |now - request time| (AWS: 5 minutes).
  int64_t max_skew_seconds = 300;
};

// The authenticated principal.
struct Caller {
  std::string principal_arn;
  std::string account_id;
  std::string access_key_id;
  std::string region;  // the region of the credential scope
  bool temporary = false;
};

class Verifier {
 public:
  // `provider` is not owned and must outlive the verifier.
  Verifier(VerifierOptions options, CredentialProvider* provider, ClockPtr clock);
  ~Verifier();
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Returns the Caller when `request` carries a valid SigV4 Authorization header. Every failure
  // is an ApiError whose error_type names the wire shape (all HTTP 403 at the front end):
  //  - kUnauthenticated MissingAuthenticationTokenException: no Authorization header.
  //  - kUnauthenticated IncompleteSignatureException: another algorithm; Credential,
  //    SignedHeaders or Signature missing; a malformed Credential; neither X-Amz-Date nor Date,
  //    or a malformed one.
  //  - kPermissionDenied InvalidSignatureException: wrong service or region in the scope; scope
  //    date differs from the request date; clock skew beyond max_skew_seconds ("Signature
  //    expired" / "Signature not yet current"); host or a sent x-amz-security-token not signed;
  //    x-amz-content-sha256 that is UNSIGNED-PAYLOAD/STREAMING-* or differs from sha256(body);
  //    signature mismatch.
  //  - kUnauthenticated UnrecognizedClientException: unknown access key; a session token sent
  //    with a long-term key, missing for a temporary key, or not the key's token.
  //  - kUnauthenticated ExpiredTokenException: the credential has expired.
  //  - a CredentialProvider error other than NotFound is returned unchanged.
  StatusOr<Caller> Verify(const http::Request& request) const;

 private:
  class KeyCache;
  std::string SigningKey(const Credential& cred, std::string_view date,
                         std::string_view region) const;

  VerifierOptions options_;
  CredentialProvider* provider_;
  ClockPtr clock_;
  std::unique_ptr<KeyCache> cache_;
};

}  // namespace ts::sigv4
