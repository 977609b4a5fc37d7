#include "ts/sigv4/signer.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/sigv4/canonical_request.h"

namespace ts::sigv4 {
namespace {

// botocore/auth.py SIGNED_HEADERS_BLACKLIST, plus authorization itself.
constexpr std::array<std::string_view, 12> kUnsignedHeaders = {"authorization",
                                                               "connection",
                                                               "expect",
                                                               "keep-alive",
                                                               "proxy-authenticate",
                                                               "proxy-authorization",
                                                               "te",
                                                               "trailer",
                                                               "transfer-encoding",
                                                               "upgrade",
                                                               "user-agent",
                                                               "x-amzn-trace-id"};

bool IsUnsigned(std::string_view name) {
  return std::find(kUnsignedHeaders.begin(), kUnsignedHeaders.end(), name) !=
         kUnsignedHeaders.end();
}

void RemoveHeader(http::Request& request, std::string_view name) {
  std::erase_if(request.headers, [&](const http::Header& h) { return h.name == name; });
}

}  // namespace

Status SignRequest(http::Request& request, const Credential& cred, std::string_view region,
                   std::string_view service, int64_t unix_time, bool add_content_sha256) {
  if (cred.access_key_id.empty() || cred.secret_access_key.empty()) {
    return InvalidArgumentError("SignRequest: credential needs an access key id and a secret");
  }
  if (region.empty() || service.empty() || region.find('/') != std::string_view::npos ||
      service.find('/') != std::string_view::npos) {
    return InvalidArgumentError("SignRequest: region and service must be non-empty, without '/'");
  }
  if (unix_time < 0) return InvalidArgumentError("SignRequest: negative time");
  if (!request.FindHeader("host")) {
    return InvalidArgumentError("SignRequest: the request has no host header");
  }

  RemoveHeader(request, "authorization");
  RemoveHeader(request, "x-amz-date");
  RemoveHeader(request, "x-amz-security-token");
  const std::string amz_date = FormatAmzDate(unix_time);
  request.headers.push_back({"x-amz-date", amz_date});
  if (!cred.session_token.empty()) {
    request.headers.push_back({"x-amz-security-token", cred.session_token});
  }
  std::string payload_hash;
  if (add_content_sha256) {
    RemoveHeader(request, "x-amz-content-sha256");
    payload_hash = crypto::HexEncode(crypto::Sha256(request.body));
    request.headers.push_back({"x-amz-content-sha256", payload_hash});
  } else if (auto h = request.FindHeader("x-amz-content-sha256")) {
    payload_hash = std::string(*h);
  } else {
    payload_hash = crypto::HexEncode(crypto::Sha256(request.body));
  }

  std::vector<std::string> signed_headers;
  for (const http::Header& header : request.headers) {
    if (!IsUnsigned(header.name)) signed_headers.push_back(header.name);
  }
  std::sort(signed_headers.begin(), signed_headers.end());
  signed_headers.erase(std::unique(signed_headers.begin(), signed_headers.end()),
                       signed_headers.end());

  const std::string date = amz_date.substr(0, 8);
  const std::string scope = CredentialScope(date, region, service);
  const std::string canonical = CanonicalRequest(request, signed_headers, payload_hash);
  const std::string string_to_sign = StringToSign(amz_date, scope, canonical);
  const std::string signature =
      SignatureHex(DeriveSigningKey(cred.secret_access_key, date, region, service), string_to_sign);

  std::string authorization(kAlgorithm);
  authorization.append(" Credential=").append(cred.access_key_id).append("/").append(scope);
  authorization.append(", SignedHeaders=");
  for (size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) authorization.push_back(';');
    authorization.append(signed_headers[i]);
  }
  authorization.append(", Signature=").append(signature);
  request.headers.push_back({"authorization", std::move(authorization)});
  return OkStatus();
}

}  // namespace ts::sigv4
