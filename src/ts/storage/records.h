// File: records.h
// The records Tessera keeps. Shapes mirror the AWS resources of docs/protocol.md §6 so the admin
// plane is a thin layer over them. Times are Unix seconds; 0 means "not set" for optional times.
// Secrets never appear here in plaintext: codes, refresh tokens, session ids and session tokens
// are SHA-256 hashes (hex); IAM secret keys and private signing keys are sealed with the master
// key (AES-256-GCM, see crypto/aead.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ts::storage {

// The single Identity Center instance a Tessera deployment serves.
struct Instance {
  std::string instance_arn;       // arn:aws:sso:::instance/ssoins-111111111111
  std::string instance_id;        // ssoins-111111111111
  std::string identity_store_id;  // d-3333333333
  std::string owner_account_id;   // 111111111111
  std::string region;             // us-east-1
  std::string name;
  int64_t created_at = 0;
};

// An identity-store user. `attributes_json` is the whole identitystore User document as the
// admin API takes it (Name, Emails, ExternalIds, ... in PascalCase), so no attribute is lost;
// the columns beside it are the ones looked up by.
struct User {
  std::string user_id;  // identitystore UserId (a UUID)
  std::string identity_store_id;
  std::string user_name;
  std::string display_name;
  std::string attributes_json = "{}";
  std::string password_hash;  // argon2id encoded string; empty: no password sign-in
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A customer-managed application with everything CreateTokenWithIAM consults.
struct Application {
  std::string application_arn;
  std::string instance_arn;
  std::string application_provider_arn;  // arn:aws:sso::aws:applicationProvider/custom
  std::string name;
  std::string description;
  std::string status = "ENABLED";  // ENABLED | DISABLED
  bool assignment_required = true;
  // Grant type (e.g. "authorization_code") -> the Grant union member's value as JSON, e.g.
  // {"RedirectUris":["https://mywebapp.example/redirect"]} for AuthorizationCode, {} for
  // RefreshToken.
  std::map<std::string, std::string> grants;
  // The IAM authentication method's ActorPolicy document (JSON); empty when none is set.
  std::string actor_policy_json;
  // Access scope -> AuthorizedTargets (application or instance ARNs; may be empty).
  std::map<std::string, std::vector<std::string>> access_scopes;
  // The sso-admin PortalOptions structure as JSON ("" when not set).
  std::string portal_options_json;
  int64_t created_at = 0;
};

// An identity-store group. `attributes_json` is the identitystore Group document (DisplayName,
// Description, ExternalIds in PascalCase). DisplayName is unique in the store.
struct Group {
  std::string group_id;  // identitystore GroupId (a UUID)
  std::string identity_store_id;
  std::string display_name;
  std::string description;
  std::string attributes_json = "{}";
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A user's membership in a group (identitystore CreateGroupMembership).
struct GroupMembership {
  std::string membership_id;  // identitystore MembershipId (a UUID)
  std::string identity_store_id;
  std::string group_id;
  std::string user_id;  // MemberId.UserId
  int64_t created_at = 0;
};

// A principal (user or group) assigned to an application.
struct Assignment {
  std::string application_arn;
  std::string principal_id;
  std::string principal_type;  // USER | GROUP
};

// One page of a listing ordered by the records' key. `after` is the key of the last record of
// the previous page ("" for the first page); `limit` > 0 bounds the page.
struct PageRequest {
  std::string after;
  int limit = 100;
};

// `next` is the key to pass as `after` for the following page; "" when this was the last one.
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next;
};

// An IAM user or role that may hold access keys.
struct IamPrincipal {
  std::string arn;                   // arn:aws:iam::123456789012:role/webapp
  std::string account_id;            // 123456789012
  std::string identity_policy_json;  // optional IAM identity policy (JSON); empty: none
  int64_t created_at = 0;
  // Optional permissions boundary (an IAM policy document, JSON): when set, an action is allowed
  // only if the identity policy AND the boundary allow it. Empty: none.
  std::string permissions_boundary_json;
};

struct AccessKey {
  std::string access_key_id;
  std::string principal_arn;
  std::string secret_sealed;       // the secret access key sealed with the master key
  std::string session_token_hash;  // hex SHA-256 of the session token; empty for long-term keys
  int64_t expires_at = 0;          // 0: never (long-term keys)
  bool active = true;
  int64_t created_at = 0;
};

// A JWS signing key. Published in the JWKS from `created_at`; used for signing once activated;
// kept published after retirement until what it signed has expired (`delete_after`).
struct SigningKey {
  std::string kid;
  std::string alg;                 // ES256
  std::string private_key_sealed;  // PKCS#8 DER sealed with the master key
  std::string public_jwk_json;
  int64_t created_at = 0;
  int64_t activated_at = 0;  // 0: published but not yet signing
  int64_t retired_at = 0;    // 0: not retired
  int64_t delete_after = 0;  // 0: keep
};

// A browser sign-in session at /authorize.
struct SignInSession {
  std::string session_hash;  // hex SHA-256 of the cookie value
  std::string user_id;
  std::string csrf_secret;  // binds the login form's CSRF token to this session
  int64_t auth_time = 0;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;
};

struct AuthorizationCode {
  std::string code_hash;
  std::string application_arn;
  std::string user_id;
  std::string redirect_uri;
  std::string code_challenge;  // S256 challenge (base64url)
  std::vector<std::string> scopes;
  std::string session_hash;  // the sign-in session that produced it
  int64_t auth_time = 0;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t consumed_at = 0;  // 0: unused
  std::string family_id;    // the token family its redemption created
  // The OpenID Connect `nonce` of the authorization request ("" when none was sent); the ID
  // token of the code's redemption carries it (OIDC Core §3.1.2.1).
  std::string nonce;
};

// Everything issued from one grant (a code redemption, a JWT bearer assertion, ...): refresh
// tokens rotate within it, access tokens carry its id, and revoking it ends them all.
struct TokenFamily {
  std::string family_id;
  std::string application_arn;
  std::string user_id;
  std::vector<std::string> scopes;  // the ceiling for downscoping
  std::string grant_type;           // the grant that started it
  std::string session_hash;         // sign-in session, when it began at /authorize
  int64_t auth_time = 0;
  int64_t created_at = 0;
  int64_t expires_at = 0;  // absolute bound on refreshing
  int64_t revoked_at = 0;  // 0: live
  // Token exchange (RFC 8693): the family whose access token was exchanged to start this one
  // ("" otherwise). Revoking a family revokes every family descended from it.
  std::string parent_family_id;
  // The RFC 8693 §4.1 "act" claim (a JSON object) that tokens of this family carry: the chain of
  // applications the user's identity passed through, most recent outermost. "" for none.
  std::string act_json;
};

// A trusted token issuer (docs/protocol.md §6.2 CreateTrustedTokenIssuer, type OIDC_JWT): an
// external OpenID provider whose JWTs the JWT bearer grant accepts. Keys come from its OpenID
// discovery document (JwksRetrievalOption OPEN_ID_DISCOVERY, the only option the model has).
struct TrustedTokenIssuer {
  std::string arn;  // arn:aws:sso::<acct>:trustedTokenIssuer/<instance id>/tti-<uuid>
  std::string instance_arn;
  std::string name;
  std::string type = "OIDC_JWT";
  std::string issuer_url;                     // must equal the JWT's iss exactly
  std::string claim_attribute_path;           // e.g. "email", "preferred_username"
  std::string identity_store_attribute_path;  // e.g. "emails.value", "userName"
  std::string jwks_retrieval_option = "OPEN_ID_DISCOVERY";
  int64_t created_at = 0;
};

// Failed sign-in attempts of one key in its current window (SessionStore::ReserveLoginAttempt):
// attempts reserved and not refunded, so an attempt still being checked counts too.
struct LoginFailures {
  int64_t window_start = 0;
  int64_t window_end = 0;  // window_start + the window's length; purged after it
  int failures = 0;
};

// What SessionStore::ReserveLoginAttempt decided.
struct LoginAttempt {
  bool reserved = false;  // false: the window was full and nothing was counted
  LoginFailures window;   // the key's window after the call (reserved: counting this attempt)
};

// A client registered with sso-oidc RegisterClient: the AWS CLI, an IDE toolkit, a standard
// OAuth client (docs/design/public-clients.md). For CreateToken its token families, codes and
// device authorizations carry `client_id` where an IAM application's carry its ARN.
struct RegisteredClient {
  // base64url(16 random bytes) (22 characters) followed by base64url(the region), as AWS's
  // client ids end in their region: a request to a server not serving that region answers
  // InvalidRequestRegionException.
  std::string client_id;
  std::string secret_hash;  // hex SHA-256 of the clientSecret (256 random bits, never stored)
  std::string client_name;
  std::string client_type = "public";
  std::vector<std::string> scopes;  // registered scopes: the ceiling of what it may ask for
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types;  // authorization_code, device_code URN, refresh_token
  std::string issuer_url;                // as registered ("" when not given)
  // The customer-managed application that bounds this client's scopes, grants, redirect URIs
  // and users (its assignments); "" for none.
  std::string entitled_application_arn;
  int64_t created_at = 0;         // clientIdIssuedAt
  int64_t secret_expires_at = 0;  // clientSecretExpiresAt; purged after it
};

// One RFC 8628 device authorization (StartDeviceAuthorization), from its start to its
// redemption by CreateToken's device_code grant.
struct DeviceAuthorization {
  std::string device_code_hash;  // hex SHA-256 of the deviceCode
  std::string user_code_hash;    // hex SHA-256 of the user code, normalised (upper case, no '-')
  std::string client_id;
  std::vector<std::string> scopes;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t interval = 1;  // seconds the client waits between polls
  // PENDING until the user decides on the verification page, then APPROVED or DENIED.
  std::string status = "PENDING";
  std::string user_id;       // who approved (APPROVED only)
  std::string session_hash;  // the sign-in session that approved: its sign-out revokes the family
  int64_t auth_time = 0;
  int64_t decided_at = 0;
  int64_t consumed_at = 0;  // 0: not redeemed
  std::string family_id;    // the token family its redemption created
};

// --- The account side of Identity Center (AccountStore, account_store.h) ---

// An AWS account the access portal can offer. Tessera has no Organizations API: accounts are
// declared (bootstrap file, `tessera account add`) and appear to a user once assigned.
struct Account {
  std::string account_id;  // 12 digits
  std::string name;
  std::string email;
  int64_t created_at = 0;
};

// An sso-admin permission set: what the role it becomes in each assigned account may do.
struct PermissionSet {
  std::string arn;  // arn:aws:sso:::permissionSet/<instance id>/ps-<16 hex>
  std::string instance_arn;
  std::string name;  // [\w+=,.@-]{1,32}, unique in the instance, never changes
  std::string description;
  std::string session_duration = "PT1H";  // ISO 8601, PT1H..PT12H: the credentials' lifetime
  std::string relay_state;
  std::string inline_policy_json;                // IAM policy document; "" none
  std::vector<std::string> managed_policy_arns;  // AWS managed policies attached, in ARN order
  // The PermissionsBoundary structure as the API takes it (JSON, {"ManagedPolicyArn": ...} or
  // {"CustomerManagedPolicyReference": {...}}); "" none.
  std::string permissions_boundary_json;
  int64_t created_at = 0;
  // When what the role is made of (policies, boundary) last changed: an account provisioned
  // before it is LATEST_PERMISSION_SET_NOT_PROVISIONED.
  int64_t updated_at = 0;
};

// A permission set provisioned to an account: the IAM role AWSReservedSSO_<name>_<16 hex> that
// exists there while the permission set is assigned on the account.
struct ProvisionedRole {
  std::string account_id;
  std::string permission_set_arn;
  std::string role_name;  // AWSReservedSSO_<PermissionSetName>_<16 hex>
  // The permission set's updated_at that this provisioning applied.
  int64_t permission_set_version = 0;
  int64_t provisioned_at = 0;
};

// A user or group assigned a permission set on an account (sso-admin CreateAccountAssignment).
struct AccountAssignment {
  std::string account_id;  // TargetId (TargetType AWS_ACCOUNT)
  std::string permission_set_arn;
  std::string principal_type;  // USER | GROUP
  std::string principal_id;
  int64_t created_at = 0;
};

// The status object of one asynchronous sso-admin request (CreateAccountAssignment,
// DeleteAccountAssignment, ProvisionPermissionSet), kept for its Describe...Status operation.
struct OperationStatus {
  std::string request_id;  // a UUID
  // ACCOUNT_ASSIGNMENT_CREATION | ACCOUNT_ASSIGNMENT_DELETION | PERMISSION_SET_PROVISIONING
  std::string kind;
  std::string status = "SUCCEEDED";  // IN_PROGRESS | FAILED | SUCCEEDED
  std::string failure_reason;
  // The rest of the status structure as the API returns it (JSON object: TargetId,
  // PermissionSetArn, PrincipalType, PrincipalId, AccountId, ...).
  std::string body_json = "{}";
  int64_t created_at = 0;
};

// One role a user may assume through the portal: an assignment (direct or through a group) of
// a permission set on an account, with the role it is provisioned as.
struct UserRole {
  Account account;
  PermissionSet permission_set;
  ProvisionedRole role;
};

// The link between a temporary access key issued by the access portal (GetRoleCredentials, the
// start page) and what it was issued for, so that Logout, sign-out, user deletion and the loss of
// the assignment revoke it. The key itself (sealed secret, session token hash, expiry) is an
// AccessKey row whose principal_arn is the assumed-role session's ARN.
struct RoleCredential {
  std::string access_key_id;
  std::string user_id;
  std::string account_id;
  std::string permission_set_arn;
  std::string family_id;     // the portal bearer token's family; "" when from the start page
  std::string session_hash;  // the browser sign-in session behind it; "" when none
  int64_t expires_at = 0;
};

struct RefreshToken {
  std::string token_hash;
  std::string family_id;
  std::vector<std::string> scopes;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  int64_t rotated_at = 0;      // 0: current
  std::string successor_hash;  // set when rotated
};

}  // namespace ts::storage
