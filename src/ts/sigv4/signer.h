// File: signer.h
// Client-side SigV4 signing of an http::Request, behaving like botocore's SigV4Auth: every header
// present is signed except the hop-by-hop and volatile ones botocore skips. Used by tests (and a
// load generator) to call CreateTokenWithIAM in-process. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "ts/common/status.h"
#include "ts/http/message.h"
#include "ts/sigv4/credential.h"

namespace ts::sigv4 {

// Signs `request` in place at `unix_time`:
//  - removes any Authorization, X-Amz-Date and (for a long-term key) X-Amz-Security-Token header;
//  - adds x-amz-date, x-amz-security-token (when cred.session_token is set) and, when
//    `add_content_sha256` (as the JS SDK does), x-amz-content-sha256 = hex sha256(body);
//  - signs every header then present except authorization, connection, expect, keep-alive,
//    proxy-authenticate, proxy-authorization, te, trailer, transfer-encoding, upgrade, user-agent
//    and x-amzn-trace-id (botocore's SIGNED_HEADERS_BLACKLIST), and appends the Authorization
//    header. The payload hash is an existing x-amz-content-sha256 header if present, else
//    sha256(body).
// Header names in `request` must be lower case (the http::Request convention).
// Returns OK; InvalidArgument when the request has no host header, the credential lacks a key id
// or secret, region/service are empty or contain '/', or unix_time is negative.
Status SignRequest(http::Request& request, const Credential& cred, std::string_view region,
                   std::string_view service, int64_t unix_time, bool add_content_sha256 = false);

}  // namespace ts::sigv4
