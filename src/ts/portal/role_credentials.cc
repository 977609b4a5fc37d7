#include "ts/portal/role_credentials.h"

#include <charconv>

#include "ts/common/status_macros.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/sigv4/access_key.h"

namespace ts::portal {
namespace {

constexpr int64_t kMinSessionSeconds = 3600;       // PT1H
constexpr int64_t kMaxSessionSeconds = 12 * 3600;  // PT12H

// Reads the digits before `unit` at the front of `*rest`; false when there are none.
bool TakeNumber(std::string_view* rest, char unit, int64_t* out) {
  const size_t at = rest->find(unit);
  if (at == std::string_view::npos || at == 0 || at > 6) return false;
  const std::string_view digits = rest->substr(0, at);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *out);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  rest->remove_prefix(at + 1);
  return true;
}

}  // namespace

std::string AssumedRoleArn(std::string_view account_id, std::string_view role_name,
                           std::string_view session_name) {
  std::string arn = "arn:aws:sts::";
  arn.append(account_id).append(":assumed-role/").append(role_name).append("/");
  arn.append(session_name);
  return arn;
}

StatusOr<int64_t> SessionDurationSeconds(std::string_view iso8601) {
  const Status bad = InvalidArgumentError(
      "must be an ISO 8601 duration of hours and minutes from PT1H to PT12H, e.g. PT8H");
  if (!iso8601.starts_with("PT") || iso8601.size() == 2) return bad;
  std::string_view rest = iso8601.substr(2);
  int64_t hours = 0;
  int64_t minutes = 0;
  if (rest.find('H') != std::string_view::npos && !TakeNumber(&rest, 'H', &hours)) return bad;
  if (!rest.empty() && !TakeNumber(&rest, 'M', &minutes)) return bad;
  if (!rest.empty()) return bad;
  const int64_t seconds = hours * 3600 + minutes * 60;
  if (seconds < kMinSessionSeconds || seconds > kMaxSessionSeconds) return bad;
  return seconds;
}

StatusOr<RoleCredentialToWrite> PrepareRoleCredential(
    const std::string& seal_key, const storage::UserRole& role, const storage::User& user,
    const std::string& family_id, const std::string& session_hash, int64_t now) {
  TS_ASSIGN_OR_RETURN(const int64_t lifetime,
                      SessionDurationSeconds(role.permission_set.session_duration));
  RoleCredentialToWrite out;
  IssuedRoleCredentials& issued = out.issued;
  issued.access_key_id = sigv4::NewAccessKeyId(/*temporary=*/true);
  issued.secret_access_key = crypto::Base64Encode(crypto::RandomBytes(30));
  issued.session_token = crypto::RandomToken(96);
  issued.expires_at = now + lifetime;
  issued.principal_arn =
      AssumedRoleArn(role.account.account_id, role.role.role_name, user.user_name);

  storage::AccessKey& key = out.key;
  key.access_key_id = issued.access_key_id;
  key.principal_arn = issued.principal_arn;
  TS_ASSIGN_OR_RETURN(key.secret_sealed,
                      crypto::Seal(seal_key, issued.secret_access_key,
                                   sigv4::AccessKeySecretAad(issued.access_key_id)));
  key.session_token_hash = crypto::HexEncode(crypto::Sha256(issued.session_token));
  key.expires_at = issued.expires_at;
  key.created_at = now;

  storage::RoleCredential& link = out.link;
  link.access_key_id = issued.access_key_id;
  link.user_id = user.user_id;
  link.account_id = role.account.account_id;
  link.permission_set_arn = role.permission_set.arn;
  link.family_id = family_id;
  link.session_hash = session_hash;
  link.expires_at = issued.expires_at;
  out.role_name = role.permission_set.name;
  return out;
}

storage::AuditEvent PortalUserEvent(std::string_view event_name, const std::string& user_id,
                                    int64_t now) {
  storage::AuditEvent e;
  e.event_time = now;
  e.event_source = "portal.sso.amazonaws.com";
  e.event_name = std::string(event_name);
  e.identity_type = "IdentityCenterUser";
  e.principal_id = user_id;
  return e;
}

storage::AuditEvent RoleCredentialEvent(const RoleCredentialToWrite& c, int64_t now) {
  storage::AuditEvent e = PortalUserEvent("GetRoleCredentials", c.link.user_id, now);
  // The request's own parameters (the access token left out), and the permission set they
  // resolved to.
  e.request_parameters = {{"accountId", c.link.account_id},
                          {"roleName", c.role_name},
                          {"permissionSetArn", c.link.permission_set_arn}};
  e.response_elements = {{"accessKeyId", c.key.access_key_id},
                         {"roleArn", c.key.principal_arn},
                         {"expiration", storage::IsoTime(c.key.expires_at)}};
  return e;
}

}  // namespace ts::portal
