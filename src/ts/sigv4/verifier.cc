#include "ts/sigv4/verifier.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/sigv4/canonical_request.h"

namespace ts::sigv4 {
namespace {

constexpr std::string_view kMismatchMessage =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kInvalidTokenMessage =
    "The security token included in the request is invalid.";
constexpr std::string_view kExpiredTokenMessage =
    "The security token included in the request is expired";

Status Incomplete(std::string_view message) {
  return ApiError(StatusCode::kUnauthenticated, "IncompleteSignatureException", message);
}
Status InvalidSignature(std::string_view message) {
  return ApiError(StatusCode::kPermissionDenied, "InvalidSignatureException", message);
}
Status Unrecognized() {
  return ApiError(StatusCode::kUnauthenticated, "UnrecognizedClientException",
                  kInvalidTokenMessage);
}

// "5 min" for whole minutes (the AWS wording), else "<n> sec".
std::string SkewText(int64_t seconds) {
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + " min";
  return std::to_string(seconds) + " sec";
}

std::string RegionMessage(const std::vector<std::string>& regions) {
  if (regions.size() == 1) {
    return "Credential should be scoped to a valid region: '" + regions[0] + "'. ";
  }
  std::string out = "Credential should be scoped to a valid region, one of:";
  for (size_t i = 0; i < regions.size(); ++i) {
    out += (i == 0 ? " '" : ", '") + regions[i] + "'";
  }
  return out + ". ";
}

bool Contains(const std::vector<std::string>& names, std::string_view lower_name) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return n.size() == lower_name.size() &&
           std::equal(n.begin(), n.end(), lower_name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == b;
           });
  });
}

}  // namespace

// Derived signing keys keyed by (access key id, SHA-256 of the secret, date, region, service):
// the secret's fingerprint makes a rotated secret miss the cache instead of reusing a stale key,
// without keeping the secret itself here. Bounded: when full it is cleared (a key derivation is
// four HMACs, so an occasional cold start costs little and needs no LRU bookkeeping on hits).
class Verifier::KeyCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  std::optional<std::string> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(key);
    if (it == keys_.end()) return std::nullopt;
    return it->second;
  }
  void Put(std::string key, std::string value) {
    std::lock_guard<std::mutex> lock(mu_);
    if (keys_.size() >= kMaxEntries) keys_.clear();
    keys_.insert_or_assign(std::move(key), std::move(value));
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string> keys_;
};

Verifier::Verifier(VerifierOptions options, CredentialProvider* provider, ClockPtr clock)
    : options_(std::move(options)),
      provider_(provider),
      clock_(std::move(clock)),
      cache_(std::make_unique<KeyCache>()) {}

Verifier::~Verifier() = default;

std::string Verifier::SigningKey(const Credential& cred, std::string_view date,
                                 std::string_view region) const {
  std::string cache_key;
  cache_key.reserve(cred.access_key_id.size() + 32 + date.size() + region.size() +
                    options_.service.size() + 4);
  cache_key.append(cred.access_key_id).push_back('\n');
  cache_key.append(crypto::AsBytes(crypto::Sha256(cred.secret_access_key))).push_back('\n');
  cache_key.append(date).push_back('\n');
  cache_key.append(region).push_back('\n');
  cache_key.append(options_.service);
  if (auto hit = cache_->Get(cache_key)) return *std::move(hit);
  std::string key = DeriveSigningKey(cred.secret_access_key, date, region, options_.service);
  cache_->Put(std::move(cache_key), key);
  return key;
}

StatusOr<Caller> Verifier::Verify(const http::Request& request) const {
  // 1. The Authorization header (docs/protocol.md §3.2 step 1).
  auto authorization_header = request.FindHeader("authorization");
  if (!authorization_header || authorization_header->empty()) {
    return ApiError(StatusCode::kUnauthenticated, "MissingAuthenticationTokenException",
                    "Missing Authentication Token");
  }
  auto parsed = ParseAuthorization(*authorization_header);
  if (!parsed.ok()) return parsed.status();
  const AuthorizationHeader& auth = *parsed;

  // 2. The request time: X-Amz-Date, else the Date header (SigV4 allows either).
  std::string amz_date;
  int64_t request_time = 0;
  if (auto x_amz_date = request.FindHeader("x-amz-date")) {
    auto t = ParseAmzDate(*x_amz_date);
    if (!t) {
      return Incomplete("Date must be in ISO-8601 'basic format'. Got '" +
                        std::string(*x_amz_date) + "'. See http://en.wikipedia.org/wiki/ISO_8601");
    }
    amz_date = *x_amz_date;
    request_time = *t;
  } else if (auto date = request.FindHeader("date")) {
    auto t = ParseHttpDate(*date);
    if (!t) {
      return Incomplete("Date must be in RFC 7231 IMF-fixdate format. Got '" + std::string(*date) +
                        "'.");
    }
    amz_date = FormatAmzDate(*t);
    request_time = *t;
  } else {
    return Incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }

  // 3. The credential scope: service, region, date.
  if (auth.service != options_.service) {
    return InvalidSignature("Credential should be scoped to correct service: '" + options_.service +
                            "'. ");
  }
  if (std::find(options_.regions.begin(), options_.regions.end(), auth.region) ==
      options_.regions.end()) {
    return InvalidSignature(RegionMessage(options_.regions));
  }
  if (auth.date != std::string_view(amz_date).substr(0, 8)) {
    return InvalidSignature(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '" +
        auth.date + "' != '" + amz_date.substr(0, 8) + "', from '" + amz_date + "'.");
  }

  // 4. Clock skew (docs/protocol.md §3.2 step 9), with the AWS Coral wording.
  const int64_t now = clock_->NowUnixSeconds();
  const int64_t skew = options_.max_skew_seconds;
  if (request_time < now - skew) {
    return InvalidSignature("Signature expired: " + amz_date + " is now earlier than " +
                            FormatAmzDate(now - skew) + " (" + FormatAmzDate(now) + " - " +
                            SkewText(skew) + ".)");
  }
  if (request_time > now + skew) {
    return InvalidSignature("Signature not yet current: " + amz_date + " is still later than " +
                            FormatAmzDate(now + skew) + " (" + FormatAmzDate(now) + " + " +
                            SkewText(skew) + ".)");
  }

  // 5. Headers that must be covered by the signature.
  if (!Contains(auth.signed_headers, "host")) {
    return InvalidSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const std::vector<std::string_view> tokens = request.FindHeaders("x-amz-security-token");
  if (!tokens.empty() && !Contains(auth.signed_headers, "x-amz-security-token")) {
    return InvalidSignature(
        "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
  }

  // 6. The credential and its session token (step 8).
  auto found = provider_->Find(auth.access_key_id);
  if (!found.ok()) {
    if (found.status().code() == StatusCode::kNotFound) return Unrecognized();
    return found.status();
  }
  const Credential& cred = *found;
  if (cred.temporary()) {
    if (tokens.size() != 1) return Unrecognized();
    const std::string sent = CanonicalHeaderValue(tokens[0]);
    const bool match = cred.session_token_hash.empty()
                           ? crypto::ConstantTimeEquals(sent, cred.session_token)
                           : crypto::ConstantTimeEquals(crypto::HexEncode(crypto::Sha256(sent)),
                                                        cred.session_token_hash);
    if (!match) return Unrecognized();
  } else if (!tokens.empty()) {
    return Unrecognized();
  }
  if (cred.expires_at != 0 && now >= cred.expires_at) {
    return ApiError(StatusCode::kUnauthenticated, "ExpiredTokenException", kExpiredTokenMessage);
  }

  // 7. The payload hash (step 6). UNSIGNED-PAYLOAD (and the STREAMING-* chunked modes) are
  // refused: CreateTokenWithIAM bodies are small JSON carrying the grant, no SDK sends them
  // unsigned for this operation (docs/protocol.md §3.1), and accepting them would let anyone who
  // sees a signed request replay its headers with another body inside the skew window.
  const std::string body_hash = crypto::HexEncode(crypto::Sha256(request.body));
  if (auto content_sha = request.FindHeader("x-amz-content-sha256")) {
    std::string value = CanonicalHeaderValue(*content_sha);
    if (value == kUnsignedPayload || value.starts_with("STREAMING-")) {
      return InvalidSignature("This service requires a signed payload; '" + value +
                              "' is not accepted for x-amz-content-sha256.");
    }
    if (value != body_hash) {
      return InvalidSignature(
          "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
  }

  // 8. Recompute and compare in constant time (step 7).
  const std::string canonical = CanonicalRequest(request, auth.signed_headers, body_hash);
  const std::string string_to_sign = StringToSign(amz_date, auth.scope, canonical);
  const std::string expected =
      SignatureHex(SigningKey(cred, auth.date, auth.region), string_to_sign);
  if (!crypto::ConstantTimeEquals(expected, auth.signature)) {
    return InvalidSignature(kMismatchMessage);
  }

  Caller caller;
  caller.principal_arn = cred.principal_arn;
  caller.account_id = cred.account_id;
  caller.access_key_id = cred.access_key_id;
  caller.region = auth.region;
  caller.temporary = cred.temporary();
  return caller;
}

}  // namespace ts::sigv4
