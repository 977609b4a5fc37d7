// File: application_store.h
// ApplicationStore: what the sso-admin plane configures about applications and what the token
// endpoint reads back on every request: applications with their grants, access scopes and actor
// policy, assignments (IsAssigned follows group memberships), trusted token issuers, and tags on
// any resource ARN. The contract every storage interface shares is in store.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/records.h"

namespace ts::storage {

class ApplicationStore {
 public:
  virtual ~ApplicationStore() = default;

  // --- applications ---
  // Inserts or replaces the application's own fields. Grants, actor policy and access scopes in
  // `app` are written too, replacing what was stored.
  virtual Status PutApplication(const Application& app) = 0;
  virtual StatusOr<Application> GetApplication(const std::string& application_arn) = 0;
  virtual StatusOr<std::vector<Application>> ListApplications() = 0;
  // Applications ordered by ARN, one page at a time (grants and scopes filled in).
  virtual StatusOr<Page<Application>> ListApplicationsPage(const PageRequest& page) = 0;
  // Rewrites the application's own fields (name, description, status, assignment_required,
  // portal_options_json), leaving grants, actor policy, access scopes, assignments, instance_arn
  // and created_at alone. NotFound if absent.
  virtual Status UpdateApplication(const Application& app) = 0;
  // Per-item changes to one application (NotFound if the application does not exist; the Delete
  // methods also NotFound if the item does not exist). PutApplicationAccessScope takes the same
  // AuthorizedTargets rules as PutApplication.
  virtual Status PutApplicationGrant(const std::string& application_arn,
                                     const std::string& grant_type,
                                     const std::string& grant_json) = 0;
  virtual Status DeleteApplicationGrant(const std::string& application_arn,
                                        const std::string& grant_type) = 0;
  virtual Status PutApplicationAccessScope(const std::string& application_arn,
                                           const std::string& scope,
                                           const std::vector<std::string>& authorized_targets) = 0;
  virtual Status DeleteApplicationAccessScope(const std::string& application_arn,
                                              const std::string& scope) = 0;
  // Sets the IAM authentication method's actor policy; "" removes it.
  virtual Status SetActorPolicy(const std::string& application_arn,
                                const std::string& actor_policy_json) = 0;
  // Deletes the application, its tags, and revokes every token family issued to it (one
  // transaction, across the grant tables).
  virtual Status DeleteApplication(const std::string& application_arn, int64_t now) = 0;

  // --- assignments ---
  virtual Status PutAssignment(const std::string& application_arn, const std::string& principal_id,
                               const std::string& principal_type) = 0;  // idempotent
  virtual Status DeleteAssignment(const std::string& application_arn,
                                  const std::string& principal_id) = 0;
  // True if the user is assigned directly or through a group they are a member of.
  virtual StatusOr<bool> IsAssigned(const std::string& application_arn,
                                    const std::string& user_id) = 0;
  // An application's assignments ordered by principal_id, one page at a time (empty for an
  // unknown application).
  virtual StatusOr<Page<Assignment>> ListAssignments(const std::string& application_arn,
                                                     const PageRequest& page) = 0;

  // --- trusted token issuers ---
  virtual Status PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) = 0;  // insert/replace
  virtual StatusOr<TrustedTokenIssuer> GetTrustedTokenIssuer(const std::string& arn) = 0;
  virtual StatusOr<std::vector<TrustedTokenIssuer>> ListTrustedTokenIssuers() = 0;  // by ARN
  // Deletes the issuer and its tags. NotFound if absent.
  virtual Status DeleteTrustedTokenIssuer(const std::string& arn) = 0;

  // --- tags (sso-admin TagResource) on any resource ARN ---
  // Adds or overwrites the given keys.
  virtual Status TagResource(const std::string& resource_arn,
                             const std::map<std::string, std::string>& tags) = 0;
  // Removes the given keys; keys that are not there are ignored.
  virtual Status UntagResource(const std::string& resource_arn,
                               const std::vector<std::string>& keys) = 0;
  // The resource's tags (empty when none).
  virtual StatusOr<std::map<std::string, std::string>> ListTags(
      const std::string& resource_arn) = 0;
};

}  // namespace ts::storage
