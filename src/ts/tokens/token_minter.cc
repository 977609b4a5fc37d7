#include "ts/tokens/token_minter.h"

#include <boost/json.hpp>
#include <ctime>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/jose/signer.h"
#include "ts/jose/verifier.h"
#include "ts/tokens/key_ring.h"

namespace ts::tokens {
namespace {

constexpr std::string_view kRefreshPrefix = "tsrt_";
constexpr std::string_view kCodePrefix = "tsac_";
constexpr std::string_view kIdentityContextAad = "tessera-identity-context-v1";

std::string JoinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const std::string& s : scopes) {
    if (!out.empty()) out.push_back(' ');
    out += s;
  }
  return out;
}

}  // namespace

std::string Iso8601(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TokenMinter::TokenMinter(std::shared_ptr<KeyRing> keys, storage::Instance instance,
                         std::string issuer, std::string identity_context_key,
                         std::string refresh_key)
    : keys_(std::move(keys)),
      instance_(std::move(instance)),
      issuer_(std::move(issuer)),
      identity_context_key_(std::move(identity_context_key)),
      refresh_key_(std::move(refresh_key)) {}

StatusOr<std::string> TokenMinter::AccessToken(const TokenSubject& subject,
                                               std::string_view token_id, int64_t now,
                                               int64_t expires_at) const {
  JsonWriter w;
  w.BeginObject();
  w.Member("iss", issuer_);
  w.Member("sub", subject.user_id);
  w.Member("aud", subject.application_arn);
  w.Member("client_id", subject.application_arn);
  w.Member("scope", JoinScopes(subject.scopes));
  w.Member("iat", now);
  w.Member("exp", expires_at);
  w.Member("jti", token_id);
  w.Member("tsr:fid", subject.family_id);
  if (!subject.act_json.empty()) {
    w.Key("act");
    w.Raw(subject.act_json);
  }
  w.EndObject();
  return keys_->Active()->SignJwt(w.Take(), "at+jwt");
}

StatusOr<AccessTokenClaims> TokenMinter::VerifyAccessToken(std::string_view token,
                                                           int64_t now) const {
  auto verified = jose::VerifyJws(token, keys_->PublicKeys(), {"ES256"});
  if (!verified.ok() && verified.status().message().find("is unknown (no key in the set has it)") !=
                            std::string_view::npos) {
    // Perhaps a key another node published since this node last read the keys (they normally
    // arrive well before use, docs/design/deployment.md): read them again, at most once a second.
    if (keys_->ReloadAtMostEvery(1).ok()) {
      verified = jose::VerifyJws(token, keys_->PublicKeys(), {"ES256"});
    }
  }
  if (!verified.ok()) {
    const std::string_view m = verified.status().message();
    if (m.starts_with("malformed JWS")) {
      return InvalidArgumentError("malformed access token: " + std::string(m));
    }
    return InvalidArgumentError("access token signature: " + std::string(m));
  }
  boost::system::error_code ec;
  boost::json::value header = boost::json::parse(verified->header_json, ec);
  const boost::json::value* typ =
      !ec && header.is_object() ? header.as_object().if_contains("typ") : nullptr;
  // RFC 9068 §2.1: access tokens are typed, which is what tells them apart from ID tokens.
  if (typ == nullptr || !typ->is_string() || typ->as_string() != "at+jwt") {
    return InvalidArgumentError("not an access token: the JWS typ is not at+jwt");
  }
  boost::json::value payload = boost::json::parse(verified->payload_json, ec);
  if (ec || !payload.is_object()) {
    return InvalidArgumentError("malformed access token: the payload is not a JSON object");
  }
  const boost::json::object& o = payload.as_object();
  AccessTokenClaims c;
  struct Text {
    const char* name;
    std::string* out;
  };
  const Text texts[] = {{"iss", &c.issuer},   {"sub", &c.user_id},
                        {"aud", &c.audience}, {"client_id", &c.client_id},
                        {"jti", &c.token_id}, {"tsr:fid", &c.family_id}};
  for (const Text& t : texts) {
    const boost::json::value* v = o.if_contains(t.name);
    if (v == nullptr || !v->is_string() || v->as_string().empty()) {
      return InvalidArgumentError(std::string("malformed access token: claim ") + t.name +
                                  " is missing or not a string");
    }
    *t.out = std::string(v->as_string());
  }
  const boost::json::value* iat = o.if_contains("iat");
  const boost::json::value* exp = o.if_contains("exp");
  if (iat == nullptr || !iat->is_int64() || exp == nullptr || !exp->is_int64()) {
    return InvalidArgumentError("malformed access token: iat and exp must be integers");
  }
  c.issued_at = iat->as_int64();
  c.expires_at = exp->as_int64();
  const boost::json::value* scope = o.if_contains("scope");
  if (scope == nullptr || !scope->is_string()) {
    return InvalidArgumentError("malformed access token: claim scope is missing or not a string");
  }
  std::string_view rest = scope->as_string();
  while (!rest.empty()) {
    const size_t space = rest.find(' ');
    if (space != 0) c.scopes.emplace_back(rest.substr(0, space));
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  if (const boost::json::value* act = o.if_contains("act"); act != nullptr) {
    if (!act->is_object())
      return InvalidArgumentError("malformed access token: act is not an object");
    c.act_json = boost::json::serialize(*act);
  }
  if (c.issuer != issuer_) {
    return InvalidArgumentError("access token issuer " + c.issuer + " is not this server");
  }
  if (now >= c.expires_at) return InvalidArgumentError("access token has expired");
  return c;
}

StatusOr<std::string> TokenMinter::IdToken(const TokenSubject& subject,
                                           std::string_view credential_id,
                                           std::string_view identity_context, int64_t now,
                                           int64_t expires_at) const {
  JsonWriter w;
  w.BeginObject();
  w.Member("iss", issuer_);
  w.Member("sub", subject.user_id);
  w.Member("aud", subject.application_arn);
  w.Member("aws:identity_store_id", instance_.identity_store_id);
  w.Member("aws:identity_store_arn", "arn:aws:identitystore::" + instance_.owner_account_id +
                                         ":identitystore/" + instance_.identity_store_id);
  w.Member("aws:instance_account", instance_.owner_account_id);
  w.Member("aws:instance_arn", instance_.instance_arn);
  w.Member("aws:credential_id", credential_id);
  if (!identity_context.empty()) w.Member("sts:identity_context", identity_context);
  if (!subject.act_json.empty()) {
    w.Key("act");
    w.Raw(subject.act_json);
  } else if (!subject.actor.empty()) {
    w.Key("act");
    w.BeginObject();
    w.Member("sub", subject.actor);
    w.EndObject();
  }
  w.Member("auth_time", Iso8601(subject.auth_time));
  if (!subject.nonce.empty()) w.Member("nonce", subject.nonce);
  w.Member("iat", now);
  w.Member("exp", expires_at);
  w.EndObject();
  return keys_->Active()->SignJwt(w.Take(), "JWT");
}

StatusOr<std::string> TokenMinter::OidcIdToken(const TokenSubject& subject,
                                               const OidcProfile& profile, int64_t now,
                                               int64_t expires_at) const {
  JsonWriter w;
  w.BeginObject();
  w.Member("iss", issuer_);
  w.Member("sub", subject.user_id);
  w.Member("aud", subject.application_arn);
  // OIDC Core §2: the party the token was issued to, the audience's one member here.
  w.Member("azp", subject.application_arn);
  w.Member("iat", now);
  w.Member("exp", expires_at);
  w.Member("auth_time", subject.auth_time);
  if (!subject.nonce.empty()) w.Member("nonce", subject.nonce);
  if (!profile.preferred_username.empty()) {
    w.Member("preferred_username", profile.preferred_username);
  }
  if (!profile.name.empty()) w.Member("name", profile.name);
  if (!profile.email.empty()) w.Member("email", profile.email);
  w.EndObject();
  return keys_->Active()->SignJwt(w.Take(), "JWT");
}

std::string TokenMinter::IdentityContext(const IdentityContextClaims& c) const {
  JsonWriter w;
  w.BeginObject();
  w.Member("u", c.user_id);
  w.Member("i", c.instance_arn);
  w.Member("a", c.application_arn);
  w.Member("iat", c.issued_at);
  w.Member("exp", c.expires_at);
  w.EndObject();
  auto sealed = crypto::Seal(identity_context_key_, w.Take(), kIdentityContextAad);
  // Sealing with a valid 32-byte key cannot fail short of memory exhaustion.
  return crypto::Base64UrlEncode(*sealed);
}

StatusOr<IdentityContextClaims> TokenMinter::ReadIdentityContext(std::string_view context) const {
  auto raw = crypto::Base64UrlDecode(context);
  if (!raw) return InvalidArgumentError("identity context is not base64url");
  auto json = crypto::Open(identity_context_key_, *raw, kIdentityContextAad);
  if (!json.ok()) return InvalidArgumentError("identity context failed authentication");
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*json, ec);
  if (ec || !v.is_object()) return InvalidArgumentError("identity context is malformed");
  const auto& o = v.as_object();
  IdentityContextClaims c;
  auto str = [&](const char* k) {
    const auto* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  auto num = [&](const char* k) {
    const auto* p = o.if_contains(k);
    return p && p->is_int64() ? p->as_int64() : int64_t{0};
  };
  c.user_id = str("u");
  c.instance_arn = str("i");
  c.application_arn = str("a");
  c.issued_at = num("iat");
  c.expires_at = num("exp");
  return c;
}

namespace {

constexpr size_t kStampSize = 8;
constexpr size_t kStampHexSize = 2 * kStampSize;

std::string StampedRefreshToken(uint64_t stamp, std::string_view secret) {
  std::string body(kStampSize, '\0');
  for (size_t i = 0; i < kStampSize; ++i) {
    body[i] = static_cast<char>(stamp >> (8 * (kStampSize - 1 - i)));
  }
  body.append(secret);
  return std::string(kRefreshPrefix) + crypto::Base64UrlEncode(body);
}

}  // namespace

std::string TokenMinter::NewRefreshToken(uint64_t stamp) {
  return StampedRefreshToken(stamp, crypto::RandomBytes(32));
}

std::string TokenMinter::SuccessorRefreshToken(std::string_view parent,
                                               std::optional<uint64_t> stamp) const {
  const auto mac = crypto::HmacSha256(refresh_key_, parent);
  if (!stamp.has_value()) return std::string(kRefreshPrefix) + crypto::Base64UrlEncode(mac);
  return StampedRefreshToken(
      *stamp, std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::string TokenMinter::RefreshTokenKey(std::string_view token) {
  if (token.starts_with(kRefreshPrefix)) {
    std::optional<std::string> body = crypto::Base64UrlDecode(token.substr(kRefreshPrefix.size()));
    if (body.has_value() && body->size() == kStampSize + 32) {
      return crypto::HexEncode(std::string_view(*body).substr(0, kStampSize)) +
             crypto::Base64UrlEncode(crypto::Sha256(token));
    }
  }
  return Hash(token);
}

std::optional<uint64_t> TokenMinter::RefreshStampOfKey(std::string_view key) {
  // A stamped key is 16 hex digits and 43 base64url characters; Hash is 64 hex digits.
  if (key.size() != kStampHexSize + 43) return std::nullopt;
  std::optional<std::string> bytes = crypto::HexDecode(key.substr(0, kStampHexSize));
  if (!bytes.has_value()) return std::nullopt;
  uint64_t stamp = 0;
  for (char byte : *bytes) stamp = (stamp << 8) | static_cast<uint8_t>(byte);
  return stamp;
}

std::string TokenMinter::NewAuthorizationCode() {
  return std::string(kCodePrefix) + crypto::RandomToken(32);
}

std::string TokenMinter::NewSessionId() { return crypto::RandomToken(32); }

std::string TokenMinter::Hash(std::string_view secret) {
  return crypto::HexEncode(crypto::Sha256(secret));
}

}  // namespace ts::tokens
