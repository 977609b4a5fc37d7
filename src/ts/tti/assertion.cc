#include "ts/tti/assertion.h"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>

#include "ts/common/status_macros.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/verifier.h"
#include "ts/tti/claims.h"

namespace ts::tti {
namespace {

namespace json = boost::json;

// A NumericDate (RFC 7519 §2): a JSON number, fractions allowed; nullopt when absent.
StatusOr<std::optional<int64_t>> NumericDate(const json::object& o, const char* name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::optional<int64_t>();
  if (v->is_int64()) return std::optional<int64_t>(v->as_int64());
  if (v->is_uint64() && v->as_uint64() < (uint64_t{1} << 62)) {
    return std::optional<int64_t>(static_cast<int64_t>(v->as_uint64()));
  }
  if (v->is_double() && v->as_double() > -1e15 && v->as_double() < 1e15) {
    return std::optional<int64_t>(static_cast<int64_t>(v->as_double()));
  }
  return InvalidArgumentError(std::string("assertion claim '") + name + "' is not a number");
}

std::vector<std::string> Audiences(const json::value* aud) {
  std::vector<std::string> out;
  if (aud == nullptr) return out;
  if (aud->is_string()) out.emplace_back(aud->as_string());
  if (aud->is_array()) {
    for (const json::value& a : aud->as_array()) {
      if (a.is_string()) out.emplace_back(a.as_string());
    }
  }
  return out;
}

}  // namespace

const std::vector<std::string>& AssertionAlgorithms() {
  static const std::vector<std::string> kAlgs = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                                 "PS512", "ES256", "ES384", "ES512", "EdDSA"};
  return kAlgs;
}

AssertionValidator::AssertionValidator(std::shared_ptr<JwksCache> keys, AssertionOptions options)
    : keys_(std::move(keys)), options_(options) {}

StatusOr<ValidatedAssertion> AssertionValidator::Validate(
    std::string_view assertion, const std::vector<AuthorizedIssuer>& authorized,
    int64_t now) const {
  bool needs_fetch = false;
  return Check(assertion, authorized, now, /*cached_keys_only=*/false, needs_fetch);
}

std::optional<StatusOr<ValidatedAssertion>> AssertionValidator::ValidateWithCachedKeys(
    std::string_view assertion, const std::vector<AuthorizedIssuer>& authorized,
    int64_t now) const {
  bool needs_fetch = false;
  StatusOr<ValidatedAssertion> result =
      Check(assertion, authorized, now, /*cached_keys_only=*/true, needs_fetch);
  if (needs_fetch) return std::nullopt;
  return result;
}

StatusOr<ValidatedAssertion> AssertionValidator::Check(
    std::string_view assertion, const std::vector<AuthorizedIssuer>& authorized, int64_t now,
    bool cached_keys_only, bool& needs_fetch) const {
  // 1. Which issuer: read `iss` before verifying, only to choose the keys.
  const size_t dot1 = assertion.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : assertion.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || assertion.find('.', dot2 + 1) != std::string_view::npos) {
    return InvalidArgumentError("assertion is not a compact JWS (three dot-separated parts)");
  }
  // What needs no key is refused before the keys are fetched: an alg 'none' token says so even
  // when the issuer is unreachable. The token is decoded once, here; step 3 verifies it.
  TS_ASSIGN_OR_RETURN(jose::ParsedJws jws, jose::ParseJws(assertion, AssertionAlgorithms()));
  boost::system::error_code ec;
  json::value peek = json::parse(jws.payload_json, ec);
  if (ec || !peek.is_object())
    return InvalidArgumentError("assertion payload is not a JSON object");
  const json::value* iss_value = peek.as_object().if_contains("iss");
  if (iss_value == nullptr || !iss_value->is_string()) {
    return InvalidArgumentError("assertion has no iss claim");
  }
  const std::string iss(iss_value->as_string());
  std::vector<const AuthorizedIssuer*> candidates;
  for (const AuthorizedIssuer& a : authorized) {
    if (a.issuer.issuer_url == iss) candidates.push_back(&a);
  }
  if (candidates.empty()) {
    return InvalidArgumentError("assertion issuer '" + iss +
                                "' is not a trusted token issuer authorized for this application");
  }

  // 2. Times (RFC 7519 §4.1.4-6, RFC 7523 §3 items 4-6), before the keys: the payload read here
  // is the one the signature covers, so refusing early changes no answer, only saves a fetch.
  const int64_t leeway = options_.leeway_seconds;
  TS_ASSIGN_OR_RETURN(std::optional<int64_t> exp, NumericDate(peek.as_object(), "exp"));
  TS_ASSIGN_OR_RETURN(std::optional<int64_t> nbf, NumericDate(peek.as_object(), "nbf"));
  TS_ASSIGN_OR_RETURN(std::optional<int64_t> iat, NumericDate(peek.as_object(), "iat"));
  if (!exp) return InvalidArgumentError("assertion has no exp claim");
  if (*exp + leeway <= now) return InvalidArgumentError("assertion has expired");
  if (nbf && *nbf > now + leeway) return InvalidArgumentError("assertion is not valid yet (nbf)");
  if (!iat) return InvalidArgumentError("assertion has no iat claim");
  if (*iat > now + leeway) return InvalidArgumentError("assertion is not valid yet (iat)");
  if (now - *iat > options_.max_age_seconds) {
    return InvalidArgumentError("assertion is too old: issued " + std::to_string(now - *iat) +
                                " s ago, at most " + std::to_string(options_.max_age_seconds) +
                                " s accepted");
  }

  // 3. The signature, with the issuer's published keys.
  jose::JwkSet keys;
  if (cached_keys_only) {
    std::optional<jose::JwkSet> cached = keys_->GetCached(iss);
    if (!cached) {
      needs_fetch = true;
      return UnavailableError("the signing keys of " + iss + " are not cached");
    }
    keys = std::move(*cached);
  } else {
    TS_ASSIGN_OR_RETURN(keys, keys_->Get(iss));
  }
  auto verified = jose::VerifyParsedJws(jws, keys);
  if (!verified.ok() && verified.status().message().starts_with("JWS kid ")) {
    // Perhaps the IdP rotated its keys since we fetched them.
    if (cached_keys_only) {
      needs_fetch = true;
      return verified.status();
    }
    TS_ASSIGN_OR_RETURN(keys, keys_->RefreshForUnknownKid(iss));
    verified = jose::VerifyParsedJws(jws, keys);
  }
  if (!verified.ok()) return verified.status();
  // The verified payload is the one read at 1.
  const json::object& claims = peek.as_object();

  // 4. Audience: one of the AuthorizedAudiences of an issuer with this IssuerUrl.
  const std::vector<std::string> audiences = Audiences(claims.if_contains("aud"));
  if (audiences.empty()) return InvalidArgumentError("assertion has no aud claim");
  const AuthorizedIssuer* match = nullptr;
  for (const AuthorizedIssuer* c : candidates) {
    for (const std::string& aud : audiences) {
      if (std::find(c->audiences.begin(), c->audiences.end(), aud) != c->audiences.end()) {
        match = c;
      }
    }
    if (match != nullptr) break;
  }
  if (match == nullptr) {
    return InvalidArgumentError(
        "assertion audience is not one of the AuthorizedAudiences of "
        "issuer '" +
        iss + "' for this application");
  }

  // 5. The claim that names the user.
  ValidatedAssertion out;
  out.issuer = match->issuer;
  TS_ASSIGN_OR_RETURN(out.claim_value,
                      ClaimAtPath(verified->payload_json, match->issuer.claim_attribute_path));
  if (out.claim_value.empty()) {
    return InvalidArgumentError("claim '" + match->issuer.claim_attribute_path + "' is empty");
  }
  auto auth_time = NumericDate(claims, "auth_time");
  out.auth_time = auth_time.ok() && auth_time->has_value() ? **auth_time : *iat;
  std::string replay_key = iss + '\n';
  if (const json::value* jti = claims.if_contains("jti"); jti != nullptr && jti->is_string()) {
    replay_key += "jti:" + std::string(jti->as_string());
  } else {
    replay_key += "sig:" + std::string(assertion.substr(assertion.rfind('.') + 1));
  }
  out.replay_id = crypto::HexEncode(crypto::Sha256(replay_key));
  out.replay_until = std::min(*exp, *iat + options_.max_age_seconds) + leeway;
  return out;
}

}  // namespace ts::tti
