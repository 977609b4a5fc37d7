// File: blocking_store_test_util.h
// Test-only: a Store that forwards every call to another store but answers
// GrantsWithoutBlocking() with false, so TokenService treats it as a backend whose refreshes
// block (as PostgreSQL's do) while the data stays in the wrapped (SQLite) store.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ts/storage/store.h"

namespace ts::oauth::testutil {

class BlockingStore final : public storage::Store {
 public:
  explicit BlockingStore(storage::StorePtr inner) : inner_(std::move(inner)) {}

  bool GrantsWithoutBlocking() const override { return false; }

  // How often RotateRefreshTokenAsync, RedeemAuthorizationCodeAsync, CreateExchangedFamilyAsync
  // or CreateFamilyForAssertionAsync was called (TokenService should call none on this store).
  int async_rotations() const { return async_rotations_.load(); }
  int async_redemptions() const { return async_redemptions_.load(); }
  int async_exchanges() const { return async_exchanges_.load(); }
  int async_assertion_families() const { return async_assertion_families_.load(); }
  // Reads a grant may make: IsAssigned, FindUsersByAttribute(WithAssignment).
  int is_assigned_reads() const { return is_assigned_reads_.load(); }
  int user_match_reads() const { return user_match_reads_.load(); }

  Status PutInstance(const storage::Instance& instance) override {
    return inner_->PutInstance(instance);
  }
  StatusOr<storage::Instance> GetInstance() override { return inner_->GetInstance(); }
  Status PutMeta(const std::string& key, const std::string& value) override {
    return inner_->PutMeta(key, value);
  }
  StatusOr<std::string> GetMeta(const std::string& key) override { return inner_->GetMeta(key); }
  Status CreateUser(const storage::User& user) override { return inner_->CreateUser(user); }
  Status UpdateUser(const storage::User& user) override { return inner_->UpdateUser(user); }
  StatusOr<storage::User> GetUser(const std::string& user_id) override {
    return inner_->GetUser(user_id);
  }
  StatusOr<storage::User> GetUserByName(const std::string& user_name) override {
    return inner_->GetUserByName(user_name);
  }
  StatusOr<std::vector<storage::User>> ListUsers() override { return inner_->ListUsers(); }
  StatusOr<storage::Page<storage::User>> ListUsersPage(const storage::PageRequest& page) override {
    return inner_->ListUsersPage(page);
  }
  StatusOr<std::vector<storage::User>> FindUsersByAttribute(const std::string& path,
                                                            const std::string& value) override {
    ++user_match_reads_;
    return inner_->FindUsersByAttribute(path, value);
  }
  StatusOr<std::vector<storage::UserWithAssignment>> FindUsersByAttributeWithAssignment(
      const std::string& path, const std::string& value,
      const std::string& application_arn) override {
    ++user_match_reads_;
    return inner_->FindUsersByAttributeWithAssignment(path, value, application_arn);
  }
  Status DeleteUser(const std::string& user_id, int64_t now) override {
    return inner_->DeleteUser(user_id, now);
  }
  Status CreateGroup(const storage::Group& group) override { return inner_->CreateGroup(group); }
  Status UpdateGroup(const storage::Group& group) override { return inner_->UpdateGroup(group); }
  StatusOr<storage::Group> GetGroup(const std::string& group_id) override {
    return inner_->GetGroup(group_id);
  }
  StatusOr<storage::Page<storage::Group>> ListGroups(const storage::PageRequest& page) override {
    return inner_->ListGroups(page);
  }
  StatusOr<std::vector<storage::Group>> FindGroupsByAttribute(const std::string& path,
                                                              const std::string& value) override {
    return inner_->FindGroupsByAttribute(path, value);
  }
  Status DeleteGroup(const std::string& group_id) override { return inner_->DeleteGroup(group_id); }
  Status CreateGroupMembership(const storage::GroupMembership& membership) override {
    return inner_->CreateGroupMembership(membership);
  }
  StatusOr<storage::GroupMembership> GetGroupMembership(const std::string& membership_id) override {
    return inner_->GetGroupMembership(membership_id);
  }
  Status DeleteGroupMembership(const std::string& membership_id) override {
    return inner_->DeleteGroupMembership(membership_id);
  }
  StatusOr<storage::Page<storage::GroupMembership>> ListGroupMemberships(
      const std::string& group_id, const storage::PageRequest& page) override {
    return inner_->ListGroupMemberships(group_id, page);
  }
  StatusOr<std::vector<storage::GroupMembership>> ListGroupMembershipsForUser(
      const std::string& user_id) override {
    return inner_->ListGroupMembershipsForUser(user_id);
  }
  Status PutApplication(const storage::Application& app) override {
    return inner_->PutApplication(app);
  }
  StatusOr<storage::Application> GetApplication(const std::string& application_arn) override {
    return inner_->GetApplication(application_arn);
  }
  StatusOr<std::vector<storage::Application>> ListApplications() override {
    return inner_->ListApplications();
  }
  StatusOr<storage::Page<storage::Application>> ListApplicationsPage(
      const storage::PageRequest& page) override {
    return inner_->ListApplicationsPage(page);
  }
  Status UpdateApplication(const storage::Application& app) override {
    return inner_->UpdateApplication(app);
  }
  Status PutApplicationGrant(const std::string& application_arn, const std::string& grant_type,
                             const std::string& grant_json) override {
    return inner_->PutApplicationGrant(application_arn, grant_type, grant_json);
  }
  Status DeleteApplicationGrant(const std::string& application_arn,
                                const std::string& grant_type) override {
    return inner_->DeleteApplicationGrant(application_arn, grant_type);
  }
  Status PutApplicationAccessScope(const std::string& application_arn, const std::string& scope,
                                   const std::vector<std::string>& authorized_targets) override {
    return inner_->PutApplicationAccessScope(application_arn, scope, authorized_targets);
  }
  Status DeleteApplicationAccessScope(const std::string& application_arn,
                                      const std::string& scope) override {
    return inner_->DeleteApplicationAccessScope(application_arn, scope);
  }
  Status SetActorPolicy(const std::string& application_arn,
                        const std::string& actor_policy_json) override {
    return inner_->SetActorPolicy(application_arn, actor_policy_json);
  }
  Status DeleteApplication(const std::string& application_arn, int64_t now) override {
    return inner_->DeleteApplication(application_arn, now);
  }
  Status PutAssignment(const std::string& application_arn, const std::string& principal_id,
                       const std::string& principal_type) override {
    return inner_->PutAssignment(application_arn, principal_id, principal_type);
  }
  Status DeleteAssignment(const std::string& application_arn,
                          const std::string& principal_id) override {
    return inner_->DeleteAssignment(application_arn, principal_id);
  }
  StatusOr<bool> IsAssigned(const std::string& application_arn,
                            const std::string& user_id) override {
    ++is_assigned_reads_;
    return inner_->IsAssigned(application_arn, user_id);
  }
  StatusOr<storage::Page<storage::Assignment>> ListAssignments(
      const std::string& application_arn, const storage::PageRequest& page) override {
    return inner_->ListAssignments(application_arn, page);
  }
  Status PutPrincipal(const storage::IamPrincipal& principal) override {
    return inner_->PutPrincipal(principal);
  }
  StatusOr<storage::IamPrincipal> GetPrincipal(const std::string& arn) override {
    return inner_->GetPrincipal(arn);
  }
  Status CreateAccessKey(const storage::AccessKey& key) override {
    return inner_->CreateAccessKey(key);
  }
  StatusOr<storage::AccessKey> GetAccessKey(const std::string& access_key_id) override {
    return inner_->GetAccessKey(access_key_id);
  }
  StatusOr<std::vector<storage::AccessKey>> ListAccessKeys(
      const std::string& principal_arn) override {
    return inner_->ListAccessKeys(principal_arn);
  }
  Status DeleteAccessKey(const std::string& access_key_id) override {
    return inner_->DeleteAccessKey(access_key_id);
  }
  Status PutSigningKey(const storage::SigningKey& key) override {
    return inner_->PutSigningKey(key);
  }
  StatusOr<std::vector<storage::SigningKey>> ListSigningKeys() override {
    return inner_->ListSigningKeys();
  }
  Status CreateSession(const storage::SignInSession& session) override {
    return inner_->CreateSession(session);
  }
  StatusOr<storage::SignInSession> GetSession(const std::string& session_hash) override {
    return inner_->GetSession(session_hash);
  }
  Status RevokeSession(const std::string& session_hash, int64_t now) override {
    return inner_->RevokeSession(session_hash, now);
  }
  Status CreateAuthorizationCode(const storage::AuthorizationCode& code) override {
    return inner_->CreateAuthorizationCode(code);
  }
  StatusOr<storage::AuthorizationCode> GetAuthorizationCode(const std::string& code_hash) override {
    return inner_->GetAuthorizationCode(code_hash);
  }
  StatusOr<storage::CodeToRedeem> GetCodeToRedeem(const std::string& code_hash) override {
    return inner_->GetCodeToRedeem(code_hash);
  }
  StatusOr<storage::RedeemOutcome> RedeemAuthorizationCode(
      const std::string& code_hash, int64_t now, const storage::TokenFamily& family,
      const std::optional<storage::RefreshToken>& first_refresh) override {
    return inner_->RedeemAuthorizationCode(code_hash, now, family, first_refresh);
  }
  Status CreateFamily(const storage::TokenFamily& family,
                      const std::optional<storage::RefreshToken>& first_refresh) override {
    return inner_->CreateFamily(family, first_refresh);
  }
  StatusOr<storage::TokenFamily> GetFamily(const std::string& family_id) override {
    return inner_->GetFamily(family_id);
  }
  StatusOr<storage::ExchangeSubject> GetExchangeSubject(
      const std::string& token_id, const std::string& family_id, const std::string& user_id,
      const std::string& application_arn) override {
    return inner_->GetExchangeSubject(token_id, family_id, user_id, application_arn);
  }
  Status RevokeFamily(const std::string& family_id, int64_t now) override {
    return inner_->RevokeFamily(family_id, now);
  }
  StatusOr<storage::RefreshTokenWithFamily> GetRefreshToken(
      const std::string& token_hash) override {
    return inner_->GetRefreshToken(token_hash);
  }
  StatusOr<storage::RotateOutcome> RotateRefreshToken(
      const std::string& old_hash, int64_t now, const storage::RefreshToken& successor) override {
    if (before_rotation) before_rotation();
    return inner_->RotateRefreshToken(old_hash, now, successor);
  }
  // Runs before RotateRefreshToken forwards: a test's stand-in for a concurrent request.
  std::function<void()> before_rotation;
  Status CreateExchangedFamily(const storage::TokenFamily& family,
                               const std::optional<storage::RefreshToken>& first_refresh) override {
    if (before_exchange) before_exchange();
    return inner_->CreateExchangedFamily(family, first_refresh);
  }
  void CreateExchangedFamilyAsync(const storage::TokenFamily& family,
                                  const std::optional<storage::RefreshToken>& first_refresh,
                                  std::function<void(Status)> done) override {
    ++async_exchanges_;
    inner_->CreateExchangedFamilyAsync(family, first_refresh, std::move(done));
  }
  // Runs before CreateExchangedFamily forwards: a test's stand-in for a concurrent request.
  std::function<void()> before_exchange;
  void RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                    const storage::TokenFamily& family,
                                    const std::optional<storage::RefreshToken>& first_refresh,
                                    RedeemDone done) override {
    ++async_redemptions_;
    inner_->RedeemAuthorizationCodeAsync(code_hash, now, family, first_refresh, std::move(done));
  }
  void RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                               const storage::RefreshToken& successor, RotateDone done) override {
    ++async_rotations_;
    inner_->RotateRefreshTokenAsync(old_hash, now, successor, std::move(done));
  }
  Status CreateFamilyForAssertion(const storage::TokenFamily& family,
                                  const std::optional<storage::RefreshToken>& first_refresh,
                                  const std::string& assertion_id,
                                  int64_t assertion_expires_at) override {
    return inner_->CreateFamilyForAssertion(family, first_refresh, assertion_id,
                                            assertion_expires_at);
  }
  void CreateFamilyForAssertionAsync(const storage::TokenFamily& family,
                                     const std::optional<storage::RefreshToken>& first_refresh,
                                     const std::string& assertion_id, int64_t assertion_expires_at,
                                     WriteDone done) override {
    ++async_assertion_families_;
    inner_->CreateFamilyForAssertionAsync(family, first_refresh, assertion_id, assertion_expires_at,
                                          std::move(done));
  }
  Status PutTrustedTokenIssuer(const storage::TrustedTokenIssuer& issuer) override {
    return inner_->PutTrustedTokenIssuer(issuer);
  }
  StatusOr<storage::TrustedTokenIssuer> GetTrustedTokenIssuer(const std::string& arn) override {
    return inner_->GetTrustedTokenIssuer(arn);
  }
  StatusOr<std::vector<storage::TrustedTokenIssuer>> ListTrustedTokenIssuers() override {
    return inner_->ListTrustedTokenIssuers();
  }
  Status DeleteTrustedTokenIssuer(const std::string& arn) override {
    return inner_->DeleteTrustedTokenIssuer(arn);
  }
  Status TagResource(const std::string& resource_arn,
                     const std::map<std::string, std::string>& tags) override {
    return inner_->TagResource(resource_arn, tags);
  }
  Status UntagResource(const std::string& resource_arn,
                       const std::vector<std::string>& keys) override {
    return inner_->UntagResource(resource_arn, keys);
  }
  StatusOr<std::map<std::string, std::string>> ListTags(const std::string& resource_arn) override {
    return inner_->ListTags(resource_arn);
  }
  Status RevokeAccessToken(const std::string& token_id, int64_t expires_at) override {
    return inner_->RevokeAccessToken(token_id, expires_at);
  }
  StatusOr<bool> IsAccessTokenRevoked(const std::string& token_id) override {
    return inner_->IsAccessTokenRevoked(token_id);
  }
  StatusOr<storage::PurgeResult> PurgeExpired(int64_t now, int batch) override {
    return inner_->PurgeExpired(now, batch);
  }
  Status CreateMeta(const std::string& key, const std::string& value) override {
    return inner_->CreateMeta(key, value);
  }
  StatusOr<storage::LoginAttempt> ReserveLoginAttempt(const std::string& key, int64_t now,
                                                      int64_t window_seconds, int limit) override {
    return inner_->ReserveLoginAttempt(key, now, window_seconds, limit);
  }
  Status RefundLoginAttempt(const std::string& key, int64_t window_start) override {
    return inner_->RefundLoginAttempt(key, window_start);
  }
  StatusOr<storage::LoginFailures> RecordLoginFailure(const std::string& key, int64_t now,
                                                      int64_t window_seconds) override {
    return inner_->RecordLoginFailure(key, now, window_seconds);
  }
  StatusOr<storage::LoginFailures> GetLoginFailures(const std::string& key) override {
    return inner_->GetLoginFailures(key);
  }
  Status ClearLoginFailures(const std::string& key) override {
    return inner_->ClearLoginFailures(key);
  }
  Status UpdateSigningKeys(const SigningKeyUpdate& update) override {
    return inner_->UpdateSigningKeys(update);
  }
  Status CreateClient(const storage::RegisteredClient& client) override {
    return inner_->CreateClient(client);
  }
  StatusOr<storage::RegisteredClient> GetClient(const std::string& client_id) override {
    return inner_->GetClient(client_id);
  }
  StatusOr<int64_t> CountLiveClients(int64_t now) override { return inner_->CountLiveClients(now); }
  Status CreateDeviceAuthorization(const storage::DeviceAuthorization& authorization) override {
    return inner_->CreateDeviceAuthorization(authorization);
  }
  StatusOr<storage::DeviceAuthorization> GetDeviceAuthorization(
      const std::string& device_code_hash) override {
    return inner_->GetDeviceAuthorization(device_code_hash);
  }
  StatusOr<storage::DeviceAuthorization> GetDeviceAuthorizationByUserCode(
      const std::string& user_code_hash, int64_t now) override {
    return inner_->GetDeviceAuthorizationByUserCode(user_code_hash, now);
  }
  Status DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                   const std::string& user_id, const std::string& session_hash,
                                   int64_t auth_time, int64_t now) override {
    return inner_->DecideDeviceAuthorization(user_code_hash, approve, user_id, session_hash,
                                             auth_time, now);
  }
  StatusOr<storage::DeviceRedeemOutcome> RedeemDeviceAuthorization(
      const std::string& device_code_hash, int64_t now, const storage::TokenFamily& family,
      const std::optional<storage::RefreshToken>& first_refresh) override {
    return inner_->RedeemDeviceAuthorization(device_code_hash, now, family, first_refresh);
  }

  // AccountStore.
  Status PutAccount(const storage::Account& account) override {
    return inner_->PutAccount(account);
  }
  StatusOr<storage::Account> GetAccount(const std::string& account_id) override {
    return inner_->GetAccount(account_id);
  }
  StatusOr<std::vector<storage::Account>> ListAccounts() override { return inner_->ListAccounts(); }
  Status DeleteAccount(const std::string& account_id) override {
    return inner_->DeleteAccount(account_id);
  }
  Status CreatePermissionSet(const storage::PermissionSet& permission_set) override {
    return inner_->CreatePermissionSet(permission_set);
  }
  StatusOr<storage::PermissionSet> GetPermissionSet(const std::string& arn) override {
    return inner_->GetPermissionSet(arn);
  }
  StatusOr<storage::Page<storage::PermissionSet>> ListPermissionSets(
      const storage::PageRequest& page) override {
    return inner_->ListPermissionSets(page);
  }
  Status UpdatePermissionSet(const storage::PermissionSet& permission_set) override {
    return inner_->UpdatePermissionSet(permission_set);
  }
  Status DeletePermissionSet(const std::string& arn) override {
    return inner_->DeletePermissionSet(arn);
  }
  Status ProvisionRole(const storage::RoleProvisioning& provisioning,
                       const storage::OperationStatus& status) override {
    return inner_->ProvisionRole(provisioning, status);
  }
  StatusOr<storage::ProvisionedRole> GetProvisionedRole(
      const std::string& account_id, const std::string& permission_set_arn) override {
    return inner_->GetProvisionedRole(account_id, permission_set_arn);
  }
  StatusOr<std::vector<storage::ProvisionedRole>> ListProvisionedRoles(
      const std::string& account_id, const std::string& permission_set_arn) override {
    return inner_->ListProvisionedRoles(account_id, permission_set_arn);
  }
  Status CreateAccountAssignment(const storage::AccountAssignment& assignment,
                                 const std::optional<storage::RoleProvisioning>& provisioning,
                                 const storage::OperationStatus& status) override {
    return inner_->CreateAccountAssignment(assignment, provisioning, status);
  }
  Status DeleteAccountAssignment(const storage::AccountAssignment& assignment,
                                 const storage::OperationStatus& status) override {
    return inner_->DeleteAccountAssignment(assignment, status);
  }
  StatusOr<storage::Page<storage::AccountAssignment>> ListAccountAssignments(
      const std::string& account_id, const std::string& permission_set_arn,
      const storage::PageRequest& page) override {
    return inner_->ListAccountAssignments(account_id, permission_set_arn, page);
  }
  StatusOr<storage::Page<storage::AccountAssignment>> ListAccountAssignmentsForPrincipal(
      const std::string& principal_type, const std::string& principal_id,
      const std::string& account_id, const storage::PageRequest& page) override {
    return inner_->ListAccountAssignmentsForPrincipal(principal_type, principal_id, account_id,
                                                      page);
  }
  Status PutOperationStatus(const storage::OperationStatus& status) override {
    return inner_->PutOperationStatus(status);
  }
  StatusOr<storage::OperationStatus> GetOperationStatus(const std::string& request_id,
                                                        const std::string& kind) override {
    return inner_->GetOperationStatus(request_id, kind);
  }
  StatusOr<std::vector<storage::OperationStatus>> ListOperationStatuses(
      const std::string& kind, const std::string& status) override {
    return inner_->ListOperationStatuses(kind, status);
  }
  StatusOr<std::vector<storage::UserRole>> ListUserRoles(const std::string& user_id,
                                                         const std::string& account_id) override {
    return inner_->ListUserRoles(user_id, account_id);
  }
  Status IssueRoleCredential(const storage::AccessKey& key,
                             const storage::RoleCredential& link) override {
    return inner_->IssueRoleCredential(key, link);
  }
  void IssueRoleCredentialAsync(const storage::AccessKey& key, const storage::RoleCredential& link,
                                WriteDone done) override {
    inner_->IssueRoleCredentialAsync(key, link, std::move(done));
  }
  Status LogoutPortalSession(const std::string& family_id, const std::string& session_hash,
                             int64_t now) override {
    return inner_->LogoutPortalSession(family_id, session_hash, now);
  }
  StatusOr<std::vector<storage::RoleCredential>> ListRoleCredentials(const std::string& user_id,
                                                                     int64_t now) override {
    return inner_->ListRoleCredentials(user_id, now);
  }

 private:
  storage::StorePtr inner_;
  std::atomic<int> async_rotations_{0};
  std::atomic<int> async_redemptions_{0};
  std::atomic<int> async_exchanges_{0};
  std::atomic<int> async_assertion_families_{0};
  std::atomic<int> is_assigned_reads_{0};
  std::atomic<int> user_match_reads_{0};
};

}  // namespace ts::oauth::testutil
