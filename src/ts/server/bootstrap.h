// File: bootstrap.h
// The declarative configuration file (`--bootstrap FILE`) and the built-in demo (`--demo`).
// Member names are those of the AWS APIs (docs/protocol.md §6), so a file reads like the sso-admin
// and identitystore calls it replaces. Applying is idempotent: users are matched by UserName,
// applications by ApplicationArn, principals by Arn, access keys by AccessKeyId, trusted token
// issuers by TrustedTokenIssuerArn, or by Name when the ARN is left out (it is then generated
// once, arn:aws:sso::<owner account>:trustedTokenIssuer/<instance id>/tti-<uuid>). An
// application entry changes only what it names, as the Put* calls do (a new one needs Name);
// user, group and issuer entries are whole records.
//
// Every entry is validated with the admin API's rules for the request it stands for (the service
// models, admin/rules.h) and unknown members are errors; see docs/design/admin-plane.md.
//
//   {
//     "Instance": {"InstanceArn": "arn:aws:sso:::instance/ssoins-1111111111111111",
//                  "IdentityStoreId": "d-1234567890", "OwnerAccountId": "111122223333"},
//     "Users": [{"UserName": "alice", "DisplayName": "Alice", "Password": "...",
//                "Emails": [{"Value": "alice@example.com", "Primary": true}]}],
//     "TrustedTokenIssuers": [{"TrustedTokenIssuerArn": "arn:aws:sso::111122223333:trustedToken"
//        "Issuer/ssoins-1111111111111111/tti-<uuid>", "Name": "okta",
//        "TrustedTokenIssuerType": "OIDC_JWT",
//        "TrustedTokenIssuerConfiguration": {"OidcJwtConfiguration": {
//          "IssuerUrl": "https://example.okta.com", "ClaimAttributePath": "email",
//          "IdentityStoreAttributePath": "emails.value",
//          "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}}}],
//     "Applications": [{
//        "ApplicationArn": "arn:aws:sso::111122223333:application/ssoins-1111111111111111/apl-...",
//        "Name": "web", "AssignmentRequired": true,
//        "Grants": [{"GrantType": "authorization_code",
//                    "Grant": {"AuthorizationCode": {"RedirectUris": ["https://app/cb"]}}},
//                   {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}},
//                   {"GrantType": "urn:ietf:params:oauth:grant-type:jwt-bearer",
//                    "Grant": {"JwtBearer": {"AuthorizedTokenIssuers": [{
//                      "TrustedTokenIssuerArn": "...", "AuthorizedAudiences": ["web"]}]}}}],
//        "AuthenticationMethods": [{"AuthenticationMethodType": "IAM",
//            "AuthenticationMethod": {"Iam": {"ActorPolicy": {...}}}}],
//        "AccessScopes": [{"Scope": "s3:access_grants:read_write"}],
//        "Assignments": [{"PrincipalType": "USER", "UserName": "alice"}]}],
//     "IamPrincipals": [{"Arn": "arn:aws:iam::111122223333:role/webapp",
//        "AccessKeys": [{"AccessKeyId": "AKIA...", "SecretAccessKey": "..."}]}],
//     "Accounts": [{"AccountId": "123456789012", "Name": "dev", "Email": "aws-dev@example.com"}],
//     "PermissionSets": [{"Name": "ReadOnly", "SessionDuration": "PT4H",
//        "InlinePolicy": {"Version": "2012-10-17", "Statement": [...]},
//        "ManagedPolicies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
//        "PermissionsBoundary": {"ManagedPolicyArn": "..."}}],
//     "AccountAssignments": [{"AccountId": "123456789012", "PermissionSetName": "ReadOnly",
//        "PrincipalType": "GROUP", "DisplayName": "developers"}]
//   }
// Accounts are matched by AccountId, permission sets by Name (a changed policy provisions the
// permission set again where it is), account assignments are added and never removed.
#pragma once

#include <string>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/store.h"

namespace ts::server {

struct BootstrapContext {
  // The whole database: a bootstrap file declares the instance, users and groups,
  // applications, issuers and IAM principals, every aggregate but the grants.
  storage::Store* store;
  std::string iam_seal_key;
  std::string region;
  int64_t now = 0;
  // Where the document came from, as the audit trail names it ("--demo", "--bootstrap FILE").
  std::string origin = "--bootstrap";
};

// Applies a bootstrap document. InvalidArgument "bootstrap: <member path>: <problem>" on a
// malformed document, before anything is written (references to users, groups and issuers
// included). Store errors while writing are returned as they are.
//
// Every write is recorded in the audit trail with it (docs/design/audit.md): eventSource
// tessera.bootstrap, eventName the API call the entry stands for (CreateUser, UpdateApplication,
// CreateAccessKey, ...), userIdentity the LocalOperator who started the server, and
// additionalEventData.bootstrap = ctx.origin.
Status ApplyBootstrap(const BootstrapContext& ctx, const std::string& json);

// The demo document: the identifiers of the AWS documentation examples and a user `demo`, whose
// password is left as it is when `demo_password` is empty.
std::string DemoBootstrap(const std::string& demo_password);

inline constexpr char kDemoInstanceArn[] = "arn:aws:sso:::instance/ssoins-111111111111";
inline constexpr char kDemoApplicationArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222";
inline constexpr char kDemoRedirectUri[] = "https://mywebapp.example/redirect";
// The demo's account and the permission set assigned to the demo user there.
inline constexpr char kDemoAccountId[] = "123456789012";
inline constexpr char kDemoPermissionSetName[] = "ReadOnly";

}  // namespace ts::server
