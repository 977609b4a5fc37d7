// File: canonical_request.h
// The building blocks of AWS Signature Version 4 shared by the server-side Verifier and the
// client-side SignRequest: canonical request, string to sign, signing-key derivation, the
// Authorization header grammar and the two date formats. All functions are pure and thread-safe.
//
// Spec: "Create a canonical request for Signature Version 4" and "Signature Version 4 signing
// process" in the IAM User Guide (docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing),
// and docs/protocol.md §3.2 for the exact rules clients (botocore, smithy-typescript) follow.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"
#include "ts/http/message.h"

namespace ts::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kScopeTerminator = "aws4_request";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

// The canonical URI of a raw (still percent-encoded, as received) request path: dot segments and
// empty segments removed (the non-S3 rule both botocore and smithy apply), then every segment
// URI-encoded with the RFC 3986 unreserved set. The raw path is NOT decoded first: SDKs encode the
// already-encoded path a second time for non-S3 services, so "/a%20b" becomes "/a%2520b".
std::string CanonicalUri(std::string_view raw_path);

// The canonical query string of a raw query (the part after '?'): pairs split on '&' and the
// first '=', percent-decoded, re-encoded with the RFC 3986 unreserved set (upper-case hex), sorted
// by encoded key then encoded value, joined with '&'. A pair with a malformed escape is encoded
// from its raw text (so it cannot match a correct client signature, but never fails).
std::string CanonicalQuery(std::string_view raw_query);

// A header value as SigV4 canonicalises it: leading/trailing whitespace trimmed and internal runs
// of whitespace collapsed to one space.
std::string CanonicalHeaderValue(std::string_view value);

// The canonical request (six lines) for `request` signing exactly `signed_headers` (lower-case
// names, in the order given: the client's SignedHeaders list is honoured verbatim). Several
// headers of one name are joined with ','; a signed header absent from the request contributes an
// empty value. `payload_hash` is the hex SHA-256 of the body or the x-amz-content-sha256 value.
std::string CanonicalRequest(const http::Request& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view payload_hash);

// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>", where scope is
// "<yyyymmdd>/<region>/<service>/aws4_request".
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);

// The credential scope "<date>/<region>/<service>/aws4_request".
std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service);

// The SigV4 signing key: HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
// Returns the 32 raw key bytes.
std::string DeriveSigningKey(std::string_view secret_access_key, std::string_view date,
                             std::string_view region, std::string_view service);

// Lower-case hex HMAC-SHA256(signing_key, string_to_sign).
std::string SignatureHex(std::string_view signing_key, std::string_view string_to_sign);

// The parts of an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." header.
struct AuthorizationHeader {
  std::string access_key_id;
  std::string date;  // yyyymmdd from the scope
  std::string region;
  std::string service;
  std::string scope;                        // "<date>/<region>/<service>/aws4_request"
  std::vector<std::string> signed_headers;  // as listed by the client
  std::string signature;                    // as sent (hex)
};

// Parses an Authorization header value. Accepts ", " or "," between the parameters, in any order.
// Errors (all kUnauthenticated, IncompleteSignatureException): another algorithm; a missing
// Credential, SignedHeaders or Signature parameter (the message names each missing one); a
// Credential that is not "<key>/<yyyymmdd>/<region>/<service>/aws4_request".
StatusOr<AuthorizationHeader> ParseAuthorization(std::string_view value);

// Formats Unix seconds as the ISO 8601 basic format SigV4 uses: "20150830T123600Z".
std::string FormatAmzDate(int64_t unix_seconds);
// Parses "YYYYMMDDTHHMMSSZ" strictly; nullopt otherwise.
std::optional<int64_t> ParseAmzDate(std::string_view text);
// Parses an RFC 7231 IMF-fixdate ("Mon, 09 Sep 2011 23:36:00 GMT"), the Date header form SigV4
// accepts when X-Amz-Date is absent; nullopt otherwise.
std::optional<int64_t> ParseHttpDate(std::string_view text);

}  // namespace ts::sigv4
