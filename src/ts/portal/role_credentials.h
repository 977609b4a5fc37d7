// File: role_credentials.h
// The temporary credentials the access portal issues for a role (GetRoleCredentials, the start
// page's "command line access"): an ASIA access key whose principal is the assumed-role session
// arn:aws:sts::<account>:assumed-role/<role name>/<user name>, valid for the permission set's
// SessionDuration. The secret is sealed and the session token kept as a hash, as every access
// key is; the link (storage::RoleCredential) lets Logout, sign-out, user deletion and the loss
// of the assignment revoke it. Tessera's own SigV4 verifier accepts the key, and the admin plane
// evaluates the session with the provisioned role's policy (docs/design/access-portal.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ts/common/status.h"
#include "ts/storage/account_store.h"
#include "ts/storage/audit.h"

namespace ts::portal {

// What the caller hands to the user, once: the secret and the session token appear only here.
struct IssuedRoleCredentials {
  std::string access_key_id;  // ASIA + 16 base32 characters
  std::string secret_access_key;
  std::string session_token;
  int64_t expires_at = 0;     // Unix seconds
  std::string principal_arn;  // the assumed-role session's ARN
};

// arn:aws:sts::<account>:assumed-role/<role name>/<session name>.
std::string AssumedRoleArn(std::string_view account_id, std::string_view role_name,
                           std::string_view session_name);

// Seconds in an ISO 8601 duration of hours and minutes (PT1H, PT90M, PT1H30M); InvalidArgument
// for anything else or outside PT1H..PT12H, the range sso-admin allows a permission set.
StatusOr<int64_t> SessionDurationSeconds(std::string_view iso8601);

// The key and link for `role` issued to `user` at `now`, ready to write with
// AccountStore::IssueRoleCredential(Async). `family_id` / `session_hash` name what revokes it
// ("" when none). The returned credentials are what to hand out.
struct RoleCredentialToWrite {
  storage::AccessKey key;
  storage::RoleCredential link;
  IssuedRoleCredentials issued;
  // The role as GetRoleCredentials names it (the permission set's name), for the audit trail.
  std::string role_name;
};
StatusOr<RoleCredentialToWrite> PrepareRoleCredential(const std::string& seal_key,
                                                      const storage::UserRole& role,
                                                      const storage::User& user,
                                                      const std::string& family_id,
                                                      const std::string& session_hash, int64_t now);

// The start of an access-portal event a signed-in user caused (GetRoleCredentials, Logout).
storage::AuditEvent PortalUserEvent(std::string_view event_name, const std::string& user_id,
                                    int64_t now);

// The audit event (storage/audit.h) of issuing `c`: GetRoleCredentials of portal.sso, with the
// account, role and the new access key's id; never its secret or session token.
storage::AuditEvent RoleCredentialEvent(const RoleCredentialToWrite& c, int64_t now);

}  // namespace ts::portal
