// The conformance suite's shared helpers, declared in conformance_test.h.
#include <gmock/gmock.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage {

Completions::Completions(size_t n)
    : calls(n, 0), results(n, StatusOr<RotateOutcome>(InternalError("done was not called"))) {}

Store::RotateDone RecordInto(std::shared_ptr<Completions> c, size_t slot) {
  return [c = std::move(c), slot](StatusOr<RotateOutcome> result) {
    std::lock_guard<std::mutex> lock(c->mu);
    if (c->calls[slot]++ == 0) {
      c->results[slot] = std::move(result);
      ++c->answered;
    }
    c->cv.notify_all();
  };
}

bool AwaitAll(Completions& c) {
  std::unique_lock<std::mutex> lock(c.mu);
  return c.cv.wait_for(lock, kAsyncTimeout, [&] { return c.answered == c.calls.size(); });
}

bool operator==(const Instance& a, const Instance& b) {
  return std::tie(a.instance_arn, a.instance_id, a.identity_store_id, a.owner_account_id, a.region,
                  a.name, a.created_at) == std::tie(b.instance_arn, b.instance_id,
                                                    b.identity_store_id, b.owner_account_id,
                                                    b.region, b.name, b.created_at);
}
bool operator==(const User& a, const User& b) {
  return std::tie(a.user_id, a.identity_store_id, a.user_name, a.display_name, a.attributes_json,
                  a.password_hash, a.created_at, a.updated_at) ==
         std::tie(b.user_id, b.identity_store_id, b.user_name, b.display_name, b.attributes_json,
                  b.password_hash, b.created_at, b.updated_at);
}
bool operator==(const Application& a, const Application& b) {
  return std::tie(a.application_arn, a.instance_arn, a.application_provider_arn, a.name,
                  a.description, a.status, a.assignment_required, a.grants, a.actor_policy_json,
                  a.access_scopes, a.portal_options_json, a.created_at) ==
         std::tie(b.application_arn, b.instance_arn, b.application_provider_arn, b.name,
                  b.description, b.status, b.assignment_required, b.grants, b.actor_policy_json,
                  b.access_scopes, b.portal_options_json, b.created_at);
}
bool operator==(const Group& a, const Group& b) {
  return std::tie(a.group_id, a.identity_store_id, a.display_name, a.description, a.attributes_json,
                  a.created_at, a.updated_at) ==
         std::tie(b.group_id, b.identity_store_id, b.display_name, b.description, b.attributes_json,
                  b.created_at, b.updated_at);
}
bool operator==(const GroupMembership& a, const GroupMembership& b) {
  return std::tie(a.membership_id, a.identity_store_id, a.group_id, a.user_id, a.created_at) ==
         std::tie(b.membership_id, b.identity_store_id, b.group_id, b.user_id, b.created_at);
}
bool operator==(const Assignment& a, const Assignment& b) {
  return std::tie(a.application_arn, a.principal_id, a.principal_type) ==
         std::tie(b.application_arn, b.principal_id, b.principal_type);
}
bool operator==(const IamPrincipal& a, const IamPrincipal& b) {
  return std::tie(a.arn, a.account_id, a.identity_policy_json, a.created_at,
                  a.permissions_boundary_json) == std::tie(b.arn, b.account_id,
                                                           b.identity_policy_json, b.created_at,
                                                           b.permissions_boundary_json);
}
bool operator==(const AccessKey& a, const AccessKey& b) {
  return std::tie(a.access_key_id, a.principal_arn, a.secret_sealed, a.session_token_hash,
                  a.expires_at, a.active, a.created_at) ==
         std::tie(b.access_key_id, b.principal_arn, b.secret_sealed, b.session_token_hash,
                  b.expires_at, b.active, b.created_at);
}
bool operator==(const SigningKey& a, const SigningKey& b) {
  return std::tie(a.kid, a.alg, a.private_key_sealed, a.public_jwk_json, a.created_at,
                  a.activated_at, a.retired_at, a.delete_after) ==
         std::tie(b.kid, b.alg, b.private_key_sealed, b.public_jwk_json, b.created_at,
                  b.activated_at, b.retired_at, b.delete_after);
}
bool operator==(const SignInSession& a, const SignInSession& b) {
  return std::tie(a.session_hash, a.user_id, a.csrf_secret, a.auth_time, a.created_at, a.expires_at,
                  a.revoked_at) == std::tie(b.session_hash, b.user_id, b.csrf_secret, b.auth_time,
                                            b.created_at, b.expires_at, b.revoked_at);
}
bool operator==(const AuthorizationCode& a, const AuthorizationCode& b) {
  return std::tie(a.code_hash, a.application_arn, a.user_id, a.redirect_uri, a.code_challenge,
                  a.scopes, a.session_hash, a.auth_time, a.created_at, a.expires_at, a.consumed_at,
                  a.family_id, a.nonce) ==
         std::tie(b.code_hash, b.application_arn, b.user_id, b.redirect_uri, b.code_challenge,
                  b.scopes, b.session_hash, b.auth_time, b.created_at, b.expires_at, b.consumed_at,
                  b.family_id, b.nonce);
}
bool operator==(const TokenFamily& a, const TokenFamily& b) {
  return std::tie(a.family_id, a.application_arn, a.user_id, a.scopes, a.grant_type, a.session_hash,
                  a.auth_time, a.created_at, a.expires_at, a.revoked_at, a.parent_family_id,
                  a.act_json) == std::tie(b.family_id, b.application_arn, b.user_id, b.scopes,
                                          b.grant_type, b.session_hash, b.auth_time, b.created_at,
                                          b.expires_at, b.revoked_at, b.parent_family_id,
                                          b.act_json);
}
bool operator==(const RefreshToken& a, const RefreshToken& b) {
  return std::tie(a.token_hash, a.family_id, a.scopes, a.created_at, a.expires_at, a.rotated_at,
                  a.successor_hash) == std::tie(b.token_hash, b.family_id, b.scopes, b.created_at,
                                                b.expires_at, b.rotated_at, b.successor_hash);
}
bool operator==(const RegisteredClient& a, const RegisteredClient& b) {
  return std::tie(a.client_id, a.secret_hash, a.client_name, a.client_type, a.scopes,
                  a.redirect_uris, a.grant_types, a.issuer_url, a.entitled_application_arn,
                  a.created_at, a.secret_expires_at) ==
         std::tie(b.client_id, b.secret_hash, b.client_name, b.client_type, b.scopes,
                  b.redirect_uris, b.grant_types, b.issuer_url, b.entitled_application_arn,
                  b.created_at, b.secret_expires_at);
}
bool operator==(const DeviceAuthorization& a, const DeviceAuthorization& b) {
  return std::tie(a.device_code_hash, a.user_code_hash, a.client_id, a.scopes, a.created_at,
                  a.expires_at, a.interval, a.status, a.user_id, a.session_hash, a.auth_time,
                  a.decided_at, a.consumed_at, a.family_id) ==
         std::tie(b.device_code_hash, b.user_code_hash, b.client_id, b.scopes, b.created_at,
                  b.expires_at, b.interval, b.status, b.user_id, b.session_hash, b.auth_time,
                  b.decided_at, b.consumed_at, b.family_id);
}
bool operator==(const Account& a, const Account& b) {
  return std::tie(a.account_id, a.name, a.email, a.created_at) ==
         std::tie(b.account_id, b.name, b.email, b.created_at);
}
bool operator==(const PermissionSet& a, const PermissionSet& b) {
  return std::tie(a.arn, a.instance_arn, a.name, a.description, a.session_duration, a.relay_state,
                  a.inline_policy_json, a.managed_policy_arns, a.permissions_boundary_json,
                  a.created_at, a.updated_at) ==
         std::tie(b.arn, b.instance_arn, b.name, b.description, b.session_duration, b.relay_state,
                  b.inline_policy_json, b.managed_policy_arns, b.permissions_boundary_json,
                  b.created_at, b.updated_at);
}
bool operator==(const ProvisionedRole& a, const ProvisionedRole& b) {
  return std::tie(a.account_id, a.permission_set_arn, a.role_name, a.permission_set_version,
                  a.provisioned_at) == std::tie(b.account_id, b.permission_set_arn, b.role_name,
                                                b.permission_set_version, b.provisioned_at);
}
bool operator==(const AccountAssignment& a, const AccountAssignment& b) {
  return std::tie(a.account_id, a.permission_set_arn, a.principal_type, a.principal_id,
                  a.created_at) == std::tie(b.account_id, b.permission_set_arn, b.principal_type,
                                            b.principal_id, b.created_at);
}
bool operator==(const OperationStatus& a, const OperationStatus& b) {
  return std::tie(a.request_id, a.kind, a.status, a.failure_reason, a.body_json, a.created_at) ==
         std::tie(b.request_id, b.kind, b.status, b.failure_reason, b.body_json, b.created_at);
}
bool operator==(const RoleCredential& a, const RoleCredential& b) {
  return std::tie(a.access_key_id, a.user_id, a.account_id, a.permission_set_arn, a.family_id,
                  a.session_hash, a.expires_at) ==
         std::tie(b.access_key_id, b.user_id, b.account_id, b.permission_set_arn, b.family_id,
                  b.session_hash, b.expires_at);
}

namespace conformance {

::testing::Matcher<const StatusOr<PurgeResult>&> Purged(int64_t deleted, bool finished) {
  return ::ts::testing::IsOkAndHolds(
      ::testing::AllOf(::testing::Field("deleted", &PurgeResult::deleted, deleted),
                       ::testing::Field("finished", &PurgeResult::finished, finished)));
}

User MakeUser(const std::string& id, const std::string& name) {
  User u;
  u.user_id = id;
  u.identity_store_id = "d-3333333333";
  u.user_name = name;
  u.display_name = "Display " + name;
  u.attributes_json = R"({"UserName":")" + name + R"(","Emails":[{"Value":"x@example.com"}]})";
  u.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA";
  u.created_at = kNow;
  u.updated_at = kNow;
  return u;
}

Application MakeApp(const std::string& arn) {
  Application a;
  a.application_arn = arn;
  a.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
  a.application_provider_arn = "arn:aws:sso::aws:applicationProvider/custom";
  a.name = "webapp";
  a.description = "My web app";
  a.status = "ENABLED";
  a.assignment_required = true;
  a.grants["authorization_code"] = R"({"RedirectUris":["https://mywebapp.example/redirect"]})";
  a.grants["refresh_token"] = "{}";
  a.actor_policy_json = R"({"Version":"2012-10-17","Statement":[]})";
  a.access_scopes["openid"] = {};
  a.access_scopes["sso:account:access"] = {arn, "arn:aws:sso:::instance/ssoins-111111111111"};
  a.portal_options_json = R"({"Visibility":"ENABLED"})";
  a.created_at = kNow;
  return a;
}

SignInSession MakeSession(const std::string& hash, const std::string& user_id) {
  SignInSession s;
  s.session_hash = hash;
  s.user_id = user_id;
  s.csrf_secret = "csrf-" + hash;
  s.auth_time = kNow;
  s.created_at = kNow;
  s.expires_at = kNow + 3600;
  return s;
}

AuthorizationCode MakeCode(const std::string& hash, const std::string& user_id,
                           const std::string& session_hash, const std::string& app_arn) {
  AuthorizationCode c;
  c.code_hash = hash;
  c.application_arn = app_arn;
  c.user_id = user_id;
  c.redirect_uri = "https://mywebapp.example/redirect";
  c.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  c.scopes = {"openid", "aws"};
  c.session_hash = session_hash;
  c.auth_time = kNow;
  c.created_at = kNow;
  c.expires_at = kNow + 300;
  return c;
}

TokenFamily MakeFamily(const std::string& id, const std::string& user_id,
                       const std::string& app_arn, const std::string& session_hash) {
  TokenFamily f;
  f.family_id = id;
  f.application_arn = app_arn;
  f.user_id = user_id;
  f.scopes = {"openid", "aws", "sso:account:access"};
  f.grant_type = "authorization_code";
  f.session_hash = session_hash;
  f.auth_time = kNow;
  f.created_at = kNow;
  f.expires_at = kNow + 90 * 86400;
  return f;
}

RefreshToken MakeRefresh(const std::string& hash, const std::string& family_id) {
  RefreshToken t;
  t.token_hash = hash;
  t.family_id = family_id;
  t.scopes = {"openid", "aws"};
  t.created_at = kNow;
  t.expires_at = kNow + 86400;
  return t;
}

Group MakeGroup(const std::string& id, const std::string& name) {
  Group g;
  g.group_id = id;
  g.identity_store_id = "d-3333333333";
  g.display_name = name;
  g.description = "The " + name + " group";
  g.attributes_json = R"({"DisplayName":")" + name +
                      R"(","ExternalIds":[{"Issuer":"scim","Id":"ext-)" + id + R"("}]})";
  g.created_at = kNow;
  g.updated_at = kNow;
  return g;
}

GroupMembership MakeMembership(const std::string& id, const std::string& group_id,
                               const std::string& user_id) {
  return GroupMembership{id, "d-3333333333", group_id, user_id, kNow};
}

TokenFamily ExchangedFamily(const std::string& id, const std::string& parent) {
  TokenFamily child = MakeFamily(id, "user-1", kOtherAppArn);
  child.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
  child.parent_family_id = parent;
  return child;
}

void ExpectNoLiveFamily(Store& store, const std::string& id) {
  auto family = store.GetFamily(id);
  if (family.ok()) {
    EXPECT_NE(family->revoked_at, 0) << id;
  } else {
    EXPECT_EQ(family.status().code(), StatusCode::kNotFound) << id;
  }
}

}  // namespace conformance
}  // namespace ts::storage
