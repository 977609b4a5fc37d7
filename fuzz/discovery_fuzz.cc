// File: discovery_fuzz.cc
// What a trusted token issuer's server sends us: its OpenID discovery document and JWK Set
// (tti/jwks_cache.h, through a fetcher that answers with the input instead of the network), then
// a JWT bearer assertion validated against them (tti/assertion.h) and the claim path rules
// (tti/claims.h).
// The input is lines:
//   1. "<discovery status> <JWKS status> <JWKS max-age>": HTTP statuses, except 0 = unreachable
//      (Unavailable from the fetcher) and 1 = URL refused by the fetcher's policy
//      (InvalidArgument);
//   2. the discovery document (the issuer asked about is https://idp.example.com);
//   3. the JWKS, answered for whatever jwks_uri names; "$KEY" in it becomes the public JWK of
//      the target's own ES256 key;
//   4. the assertion; "sign:<claims JSON>" has the target sign the claims with that key, so
//      inputs get past the signature to the claim checks;
//   5. the issuer's ClaimAttributePath; 6. a claims JSON for ClaimAtPath.
// Invariants: no crash or UB; the cache answers keys (never an empty set) or Unavailable with a
// reason, and keeps what it answered; the validator answers OK, InvalidArgument (the assertion's
// fault) or Unavailable (the issuer's), with cached keys as it would with fetched ones; an
// accepted assertion names the issuer asked about, a claim value and a SHA-256 replay id; the
// claim path functions answer OK or InvalidArgument.
// TS_FUZZ_VERBOSE=1 in the environment prints what the keys and the assertion came to.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/common/clock.h"
#include "ts/jose/signer.h"
#include "ts/tti/assertion.h"
#include "ts/tti/claims.h"
#include "ts/tti/fetcher.h"
#include "ts/tti/jwks_cache.h"

namespace {

using namespace ts;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kIssuerUrl[] = "https://idp.example.com";
constexpr char kDiscoveryUrl[] = "https://idp.example.com/.well-known/openid-configuration";

StatusOr<tti::FetchResult> Answer(int status, std::string body, int64_t max_age) {
  if (status == 0) return UnavailableError("connection refused");
  if (status == 1) return InvalidArgumentError("URL refused: not https");
  return tti::FetchResult{status, std::move(body), max_age};
}

class InputFetcher final : public tti::HttpFetcher {
 public:
  InputFetcher(StatusOr<tti::FetchResult> discovery, StatusOr<tti::FetchResult> jwks)
      : discovery_(std::move(discovery)), jwks_(std::move(jwks)) {}
  StatusOr<tti::FetchResult> Get(const std::string& url) override {
    return url == kDiscoveryUrl ? discovery_ : jwks_;
  }

 private:
  StatusOr<tti::FetchResult> discovery_;
  StatusOr<tti::FetchResult> jwks_;
};

const jose::Es256Signer& Signer() {
  static const jose::Es256Signer* signer = [] {
    auto generated = jose::Es256Signer::Generate();
    FUZZ_CHECK(generated.ok());
    return new jose::Es256Signer(std::move(*generated));
  }();
  return *signer;
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsModeled(const Status& status) {
  return status.ok() || status.code() == StatusCode::kInvalidArgument ||
         status.code() == StatusCode::kUnavailable;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = fuzz::AsView(data, size);
  int discovery_status = 200, jwks_status = 200;
  long long max_age = -1;
  {
    std::istringstream statuses{std::string(fuzz::NextLine(input))};
    statuses >> discovery_status >> jwks_status >> max_age;
  }
  const std::string discovery(fuzz::NextLine(input));
  const std::string jwks =
      ReplaceAll(std::string(fuzz::NextLine(input)), "$KEY", Signer().PublicJwkJson());
  std::string assertion(fuzz::NextLine(input));
  const std::string claim_path(fuzz::NextLine(input));
  const std::string_view claims = input;
  if (assertion.starts_with("sign:")) {
    auto signed_jwt = Signer().SignJwt(std::string_view(assertion).substr(5));
    FUZZ_CHECK(signed_jwt.ok());
    assertion = std::move(*signed_jwt);
  }

  auto fetcher = std::make_shared<InputFetcher>(Answer(discovery_status, discovery, -1),
                                                Answer(jwks_status, jwks, max_age));
  auto clock = std::make_shared<FakeClock>(kNow);
  auto cache = std::make_shared<tti::JwksCache>(fetcher, clock, tti::JwksCacheOptions{});

  const StatusOr<jose::JwkSet> keys = cache->Get(kIssuerUrl);
  if (keys.ok()) {
    FUZZ_CHECK(!keys->empty());
    const std::optional<jose::JwkSet> cached = cache->GetCached(kIssuerUrl);
    FUZZ_CHECK(cached.has_value() && cached->size() == keys->size());
  } else {
    FUZZ_CHECK(keys.status().code() == StatusCode::kUnavailable);
    FUZZ_CHECK(!keys.status().message().empty());
    FUZZ_CHECK(!cache->GetCached(kIssuerUrl).has_value());
  }
  // Within refetch_interval: what the first fetch left, without fetching again.
  const StatusOr<jose::JwkSet> again = cache->RefreshForUnknownKid(kIssuerUrl);
  FUZZ_CHECK(again.ok() == keys.ok());
  FUZZ_CHECK(cache->fetch_count() == 1);

  tti::AuthorizedIssuer authorized;
  authorized.issuer.arn =
      "arn:aws:sso::111122223333:trustedTokenIssuer/ssoins-1111111111111111/"
      "tti-43b4a5d1-0e2c-4a8f-9a47-8bd1f3f3b7a1";
  authorized.issuer.name = "idp";
  authorized.issuer.issuer_url = kIssuerUrl;
  authorized.issuer.claim_attribute_path = claim_path.empty() ? "email" : claim_path;
  authorized.issuer.identity_store_attribute_path = "emails.value";
  authorized.audiences = {"web", "mobile"};
  const tti::AssertionValidator validator(cache, tti::AssertionOptions{});
  const std::vector<tti::AuthorizedIssuer> issuers = {authorized};

  const auto with_cached_keys = validator.ValidateWithCachedKeys(assertion, issuers, kNow);
  const StatusOr<tti::ValidatedAssertion> validated = validator.Validate(assertion, issuers, kNow);
  FUZZ_CHECK(IsModeled(validated.status()));
  static const bool verbose = std::getenv("TS_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "discovery_fuzz: keys %s; assertion %s\n",
                 keys.status().ToString().c_str(), validated.status().ToString().c_str());
  }
  if (with_cached_keys.has_value()) {
    FUZZ_CHECK(with_cached_keys->status().code() == validated.status().code());
  }
  if (validated.ok()) {
    FUZZ_CHECK(keys.ok());
    FUZZ_CHECK(validated->issuer.issuer_url == kIssuerUrl);
    FUZZ_CHECK(IsHex64(validated->replay_id));
    FUZZ_CHECK(validated->replay_until >= kNow);
  }

  const Status claim_rule = tti::ValidateClaimPath(claim_path);
  const Status attribute_rule = tti::ValidateAttributePath(claim_path);
  FUZZ_CHECK(claim_rule.ok() || claim_rule.code() == StatusCode::kInvalidArgument);
  FUZZ_CHECK(attribute_rule.ok() || attribute_rule.code() == StatusCode::kInvalidArgument);
  const StatusOr<std::string> claim = tti::ClaimAtPath(claims, claim_path);
  FUZZ_CHECK(claim.ok() || claim.status().code() == StatusCode::kInvalidArgument);
  return 0;
}
