// File: bootstrap.h
// The declarative configuration file (`--bootstrap FILE`) and the built-in demo (`--demo`).
// Member names are those of the AWS APIs (PROTOCOL.md §6), so a file reads like the sso-admin
// and identitystore calls it replaces. Applying is idempotent: users are matched by UserName,
// applications by ApplicationArn, principals by Arn, access keys by AccessKeyId, trusted token
// issuers by TrustedTokenIssuerArn, or by Name when the ARN is left out (it is then generated
// once, arn:aws:sso::<owner account>:trustedTokenIssuer/<instance id>/tti-<uuid>).
//
//   {
//     "Instance": {"InstanceArn": "arn:aws:sso:::instance/ssoins-111111111111",
//                  "IdentityStoreId": "d-3333333333", "OwnerAccountId": "111111111111"},
//     "Users": [{"UserName": "alice", "DisplayName": "Alice", "Password": "...",
//                "Emails": [{"Value": "alice@example.com", "Primary": true}]}],
//     "TrustedTokenIssuers": [{"TrustedTokenIssuerArn": "arn:aws:sso::111111111111:trustedToken"
//        "Issuer/ssoins-111111111111/tti-1", "Name": "okta", "TrustedTokenIssuerType": "OIDC_JWT",
//        "TrustedTokenIssuerConfiguration": {"OidcJwtConfiguration": {
//          "IssuerUrl": "https://example.okta.com", "ClaimAttributePath": "email",
//          "IdentityStoreAttributePath": "emails.value",
//          "JwksRetrievalOption": "OPEN_ID_DISCOVERY"}}}],
//     "Applications": [{
//        "ApplicationArn": "arn:aws:sso::123456789012:application/ssoins-.../apl-...",
//        "Name": "web", "AssignmentRequired": true,
//        "Grants": [{"GrantType": "authorization_code",
//                    "Grant": {"AuthorizationCode": {"RedirectUris": ["https://app/cb"]}}},
//                   {"GrantType": "refresh_token", "Grant": {"RefreshToken": {}}},
//                   {"GrantType": "urn:ietf:params:oauth:grant-type:jwt-bearer",
//                    "Grant": {"JwtBearer": {"AuthorizedTokenIssuers": [{
//                      "TrustedTokenIssuerArn": "...", "AuthorizedAudiences": ["web"]}]}}}],
//        "AuthenticationMethods": [{"AuthenticationMethodType": "IAM",
//            "AuthenticationMethod": {"Iam": {"ActorPolicy": {...}}}}],
//        "AccessScopes": [{"Scope": "s3:access_grants:read_write", "AuthorizedTargets": []}],
//        "Assignments": [{"PrincipalType": "USER", "UserName": "alice"}]}],
//     "IamPrincipals": [{"Arn": "arn:aws:iam::123456789012:role/webapp",
//        "AccessKeys": [{"AccessKeyId": "AKIA...", "SecretAccessKey": "..."}]}]
//   }
#pragma once

#include <string>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/store.h"

namespace ts::server {

struct BootstrapContext {
  storage::Store* store;
  std::string iam_seal_key;
  std::string region;
  int64_t now = 0;
};

// Applies a bootstrap document. InvalidArgument naming the member on a malformed document; no
// partial application of a malformed document (everything is validated before writing).
Status ApplyBootstrap(const BootstrapContext& ctx, const std::string& json);

// The demo document: the identifiers of the AWS documentation examples and a user `demo`, whose
// password is left as it is when `demo_password` is empty.
std::string DemoBootstrap(const std::string& demo_password);

inline constexpr char kDemoInstanceArn[] = "arn:aws:sso:::instance/ssoins-111111111111";
inline constexpr char kDemoApplicationArn[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222";
inline constexpr char kDemoRedirectUri[] = "https://mywebapp.example/redirect";

}  // namespace ts::server
