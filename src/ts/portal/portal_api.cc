// File: portal_api.cc
// The access portal API (portal_api.h).
#include "ts/portal/portal_api.h"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/oauth/rate_limiter.h"
#include "ts/portal/role_credentials.h"
#include "ts/tokens/token_minter.h"

namespace ts::portal {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 100;  // the model's max_result range is 1..100
// The scope a token needs (AWS CLI's `sso-session` registrations ask for it); a token without
// scopes (the CLI's legacy registration) is taken too (docs/design/access-portal.md).
constexpr std::string_view kAccountAccessScope = "sso:account:access";

Status Unauthorized(std::string_view message) {
  return ApiError(StatusCode::kUnauthenticated, "UnauthorizedException", message);
}
Status InvalidRequest(std::string_view message) {
  return ApiError(StatusCode::kInvalidArgument, "InvalidRequestException", message);
}
Status ResourceNotFound(std::string_view message) {
  return ApiError(StatusCode::kNotFound, "ResourceNotFoundException", message);
}
Status TooManyRequests(std::string_view message) {
  return ApiError(StatusCode::kResourceExhausted, "TooManyRequestsException", message);
}

int StatusOfType(std::string_view type) {
  if (type == "UnauthorizedException") return 401;
  if (type == "ResourceNotFoundException") return 404;
  if (type == "TooManyRequestsException") return 429;
  if (type == "InvalidRequestException") return 400;
  return 0;
}

// The query's members, each at most once.
struct Query {
  std::vector<std::pair<std::string, std::string>> pairs;
  const std::string* Find(std::string_view name) const {
    for (const auto& [k, v] : pairs) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

StatusOr<Query> ParseQuery(const http::Request& request) {
  auto form = http::ParseForm(request.Query());
  if (!form) return InvalidRequest("The query string is malformed");
  Query q{std::move(*form)};
  for (size_t i = 0; i < q.pairs.size(); ++i) {
    for (size_t j = i + 1; j < q.pairs.size(); ++j) {
      if (q.pairs[i].first == q.pairs[j].first) {
        return InvalidRequest("The query parameter '" + q.pairs[i].first +
                              "' appears more than once");
      }
    }
  }
  return q;
}

// A required query member: present and not empty.
StatusOr<std::string> Required(const Query& q, std::string_view name) {
  const std::string* v = q.Find(name);
  if (v == nullptr || v->empty()) {
    return InvalidRequest("The query parameter '" + std::string(name) + "' is required");
  }
  return *v;
}

StatusOr<int> PageSize(const Query& q) {
  const std::string* v = q.Find("max_result");
  if (v == nullptr) return kDefaultPageSize;
  int n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size() || n < 1 ||
      n > kMaxPageSize) {
    return InvalidRequest("max_result must be an integer from 1 to 100");
  }
  return n;
}

// next_token: base64url(last key) "." base64url(MAC of listing scope and key), so a token only
// ever continues the listing (operation, user, account) that issued it.
std::string PageMac(const std::string& key, std::string_view scope, std::string_view after) {
  std::string data(scope);
  data += '\0';
  data.append(after);
  return crypto::AsBytes(crypto::HmacSha256(key, data)).substr(0, 16);
}

std::string NextToken(const std::string& key, std::string_view scope, std::string_view after) {
  return crypto::Base64UrlEncode(after) + "." + crypto::Base64UrlEncode(PageMac(key, scope, after));
}

// The key a next_token continues after ("" for the first page).
StatusOr<std::string> PageAfter(const Query& q, const std::string& key, std::string_view scope) {
  const std::string* token = q.Find("next_token");
  if (token == nullptr) return std::string();
  const size_t dot = token->find('.');
  std::optional<std::string> after, mac;
  if (dot != std::string::npos) {
    after = crypto::Base64UrlDecode(std::string_view(*token).substr(0, dot));
    mac = crypto::Base64UrlDecode(std::string_view(*token).substr(dot + 1));
  }
  if (!after || !mac || after->empty() ||
      !crypto::ConstantTimeEquals(*mac, PageMac(key, scope, *after))) {
    return InvalidRequest("Invalid next_token: it was not issued by this listing");
  }
  return *after;
}

// The roles ordered by (account, role name) byte-wise, whatever the backend's collation: page
// keys compare the same way.
void SortRoles(std::vector<storage::UserRole>& roles) {
  std::sort(roles.begin(), roles.end(), [](const auto& a, const auto& b) {
    if (a.account.account_id != b.account.account_id) {
      return a.account.account_id < b.account.account_id;
    }
    return a.permission_set.name < b.permission_set.name;
  });
}

std::string CredentialsJson(const IssuedRoleCredentials& issued) {
  JsonWriter w;
  w.BeginObject();
  w.Key("roleCredentials");
  w.BeginObject();
  w.Member("accessKeyId", issued.access_key_id);
  w.Member("secretAccessKey", issued.secret_access_key);
  w.Member("sessionToken", issued.session_token);
  // Epoch milliseconds: botocore's SSOProvider divides by 1000.
  w.Member("expiration", issued.expires_at * 1000);
  w.EndObject();
  w.EndObject();
  return w.Take();
}

}  // namespace

// The claims of access tokens whose signature this node verified, by the token's SHA-256: the
// SDKs send the same token with every portal call, and the ES256 verification is most of a
// call's CPU. Only the signature's outcome is kept: expiry, revocation and the family are
// checked on every call. Bounded: when full, expired entries go, and if none had, all of them.
class PortalApi::VerifiedTokens {
 public:
  explicit VerifiedTokens(size_t capacity) : capacity_(capacity) {}

  std::optional<tokens::AccessTokenClaims> Find(const std::string& key, int64_t now) {
    if (capacity_ == 0) return std::nullopt;
    std::lock_guard lock(mu_);
    auto it = claims_.find(key);
    if (it == claims_.end() || now >= it->second.expires_at) return std::nullopt;
    return it->second;
  }

  void Put(std::string key, const tokens::AccessTokenClaims& claims, int64_t now) {
    if (capacity_ == 0) return;
    std::lock_guard lock(mu_);
    if (claims_.size() >= capacity_) {
      std::erase_if(claims_, [now](const auto& e) { return now >= e.second.expires_at; });
      if (claims_.size() >= capacity_) claims_.clear();
    }
    claims_.emplace(std::move(key), claims);
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, tokens::AccessTokenClaims> claims_;  // guarded by mu_
};

// Who calls: the verified token's family and user.
struct PortalApi::Caller {
  tokens::AccessTokenClaims claims;
  storage::TokenFamily family;
  storage::User user;
};

struct PortalApi::Prepared {
  RoleCredentialToWrite credential;
};

namespace {

// The store re-checks the role, the family and the session inside the credential's write
// (AccountStore::IssueRoleCredential): FailedPrecondition means one was revoked after this
// request's own checks passed. Nothing was issued; the client signs in again, and a role that is
// gone is then a ResourceNotFoundException.
Status IssueOutcome(Status written) {
  if (written.code() == StatusCode::kFailedPrecondition) {
    return Unauthorized(
        "The session ended or the role was removed while the credentials were being issued; "
        "nothing was issued");
  }
  return written;
}

}  // namespace

http::Response PortalAnswer(StatusOr<std::string> body, Status* internal) {
  http::Response r;
  r.SetHeader("Content-Type", "application/json");
  // Credentials and a person's roles: no cache may keep them.
  r.SetHeader("Cache-Control", "no-store");
  if (body.ok()) {
    r.status = 200;
    r.body = std::move(*body);
    return r;
  }
  std::string_view type = body.status().error_type();
  std::string_view message = body.status().message();
  r.status = StatusOfType(type);
  if (r.status == 0) {
    *internal = body.status();
    r.status = 500;
    type = "InternalServerException";
    message = "An internal error occurred. Retry the request.";
  }
  r.SetHeader("x-amzn-ErrorType", type);
  JsonWriter w;
  w.BeginObject();
  w.Member("message", message);
  w.EndObject();
  r.body = w.Take();
  return r;
}

PortalApi::PortalApi(PortalStorage storage, std::shared_ptr<const tokens::TokenMinter> minter,
                     ClockPtr clock, PortalOptions options)
    : storage_(std::move(storage)),
      minter_(std::move(minter)),
      clock_(std::move(clock)),
      options_(std::move(options)),
      // Its own key, so a MAC of the admin plane's page tokens never passes here.
      page_mac_key_(crypto::AsBytes(
          crypto::HmacSha256(options_.page_token_key, "tessera access portal next_token"))),
      limiter_(std::make_unique<oauth::RateLimiter>(options_.requests_per_minute,
                                                    options_.max_rate_keys)),
      verified_(std::make_unique<VerifiedTokens>(options_.verified_tokens)) {}

PortalApi::~PortalApi() = default;

bool PortalApi::IsPortalRequest(const http::Request& request) {
  return request.FindHeader(kBearerHeader).has_value();
}

StatusOr<PortalApi::Caller> PortalApi::Authenticate(const http::Request& request,
                                                    int64_t now) const {
  const std::vector<std::string_view> tokens = request.FindHeaders(kBearerHeader);
  if (tokens.empty()) {
    return Unauthorized("No access token: send it in the x-amz-sso_bearer_token header");
  }
  if (tokens.size() > 1) {
    return InvalidRequest("The request has more than one x-amz-sso_bearer_token header");
  }
  // The messages name the failed check, never the token.
  std::string key = crypto::AsBytes(crypto::Sha256(tokens.front()));
  std::optional<tokens::AccessTokenClaims> claims = verified_->Find(key, now);
  if (!claims) {
    auto verified = minter_->VerifyAccessToken(tokens.front(), now);
    if (!verified.ok()) {
      return Unauthorized("The access token is not valid: " +
                          std::string(verified.status().message()));
    }
    verified_->Put(std::move(key), *verified, now);
    claims = std::move(*verified);
  }
  TS_ASSIGN_OR_RETURN(const bool revoked, storage_.grants->IsAccessTokenRevoked(claims->token_id));
  if (revoked) return Unauthorized("The access token has been revoked");
  auto family = storage_.grants->GetFamily(claims->family_id);
  if (!family.ok() && family.status().code() != StatusCode::kNotFound) return family.status();
  if (!family.ok() || family->revoked_at != 0 || family->expires_at <= now) {
    return Unauthorized("The access token's sign-in has ended (logged out, revoked or expired)");
  }
  // An IAM application's token (CreateTokenWithIAM) is for that application, not the portal.
  if (family->application_arn.starts_with("arn:")) {
    return Unauthorized(
        "The access token was issued to an application, not to a registered client");
  }
  const std::vector<std::string>& scopes = claims->scopes;
  if (!scopes.empty() &&
      std::find(scopes.begin(), scopes.end(), kAccountAccessScope) == scopes.end()) {
    return Unauthorized("The access token was not granted the sso:account:access scope");
  }
  auto user = storage_.directory->GetUser(claims->user_id);
  if (!user.ok()) {
    if (user.status().code() != StatusCode::kNotFound) return user.status();
    return Unauthorized("The access token's user no longer exists");
  }
  // Per sign-in (token family), after the checks: a forged token cannot spend someone's budget.
  if (!limiter_->Allow(family->family_id, clock_->NowUnixMicros())) {
    return TooManyRequests("Too many requests with this access token; retry later");
  }
  return Caller{std::move(*claims), std::move(*family), std::move(*user)};
}

StatusOr<std::string> PortalApi::ListAccounts(const Caller& caller,
                                              const http::Request& request) const {
  TS_ASSIGN_OR_RETURN(const Query q, ParseQuery(request));
  TS_ASSIGN_OR_RETURN(const int limit, PageSize(q));
  const std::string scope = "ListAccounts\n" + caller.user.user_id;
  TS_ASSIGN_OR_RETURN(const std::string after, PageAfter(q, page_mac_key_, scope));
  TS_ASSIGN_OR_RETURN(std::vector<storage::UserRole> roles,
                      storage_.accounts->ListUserRoles(caller.user.user_id, ""));
  SortRoles(roles);
  JsonWriter w;
  w.BeginObject();
  w.Key("accountList");
  w.BeginArray();
  int count = 0;
  std::string last;
  bool more = false;
  for (const storage::UserRole& role : roles) {
    const storage::Account& account = role.account;
    if (account.account_id <= after || account.account_id == last) continue;
    if (count == limit) {
      more = true;
      break;
    }
    w.BeginObject();
    w.Member("accountId", account.account_id);
    w.Member("accountName", account.name);
    w.Member("emailAddress", account.email);
    w.EndObject();
    last = account.account_id;
    ++count;
  }
  w.EndArray();
  if (more) w.Member("nextToken", NextToken(page_mac_key_, scope, last));
  w.EndObject();
  return w.Take();
}

StatusOr<std::string> PortalApi::ListAccountRoles(const Caller& caller,
                                                  const http::Request& request) const {
  TS_ASSIGN_OR_RETURN(const Query q, ParseQuery(request));
  TS_ASSIGN_OR_RETURN(const std::string account_id, Required(q, "account_id"));
  TS_ASSIGN_OR_RETURN(const int limit, PageSize(q));
  const std::string scope = "ListAccountRoles\n" + caller.user.user_id + "\n" + account_id;
  TS_ASSIGN_OR_RETURN(const std::string after, PageAfter(q, page_mac_key_, scope));
  TS_ASSIGN_OR_RETURN(std::vector<storage::UserRole> roles,
                      storage_.accounts->ListUserRoles(caller.user.user_id, account_id));
  SortRoles(roles);
  JsonWriter w;
  w.BeginObject();
  w.Key("roleList");
  w.BeginArray();
  int count = 0;
  std::string last;
  bool more = false;
  for (const storage::UserRole& role : roles) {
    if (role.account.account_id != account_id || role.permission_set.name <= after) continue;
    if (count == limit) {
      more = true;
      break;
    }
    w.BeginObject();
    w.Member("roleName", role.permission_set.name);
    w.Member("accountId", role.account.account_id);
    w.EndObject();
    last = role.permission_set.name;
    ++count;
  }
  w.EndArray();
  if (more) w.Member("nextToken", NextToken(page_mac_key_, scope, last));
  w.EndObject();
  return w.Take();
}

StatusOr<PortalApi::Prepared> PortalApi::PrepareCredentials(const Caller& caller,
                                                            const http::Request& request,
                                                            int64_t now) const {
  TS_ASSIGN_OR_RETURN(const Query q, ParseQuery(request));
  TS_ASSIGN_OR_RETURN(const std::string role_name, Required(q, "role_name"));
  TS_ASSIGN_OR_RETURN(const std::string account_id, Required(q, "account_id"));
  TS_ASSIGN_OR_RETURN(const std::vector<storage::UserRole> roles,
                      storage_.accounts->ListUserRoles(caller.user.user_id, account_id));
  for (const storage::UserRole& role : roles) {
    if (role.account.account_id != account_id || role.permission_set.name != role_name) continue;
    TS_ASSIGN_OR_RETURN(
        RoleCredentialToWrite credential,
        PrepareRoleCredential(options_.seal_key, role, caller.user, caller.family.family_id,
                              caller.family.session_hash, now));
    return Prepared{std::move(credential)};
  }
  // One answer whether the account, the role or the assignment is missing: no oracle for what
  // exists beyond what the user holds.
  return ResourceNotFound("No access: the user has no role '" + role_name + "' on account '" +
                          account_id + "'");
}

StatusOr<std::string> PortalApi::Logout(const Caller& caller, int64_t now) const {
  storage::AuditEvent e = PortalUserEvent("Logout", caller.family.user_id, now);
  e.additional_event_data = {{"tokenFamilyId", caller.family.family_id}};
  storage::AuditScope audit(std::move(e));
  TS_RETURN_IF_ERROR(storage_.accounts->LogoutPortalSession(caller.family.family_id,
                                                            caller.family.session_hash, now));
  return std::string();
}

http::Response PortalApi::Handle(Operation operation, const http::Request& request,
                                 Status* internal) const {
  const int64_t now = clock_->NowUnixSeconds();
  auto answer = [&]() -> StatusOr<std::string> {
    TS_ASSIGN_OR_RETURN(const Caller caller, Authenticate(request, now));
    switch (operation) {
      case Operation::kListAccounts:
        return ListAccounts(caller, request);
      case Operation::kListAccountRoles:
        return ListAccountRoles(caller, request);
      case Operation::kLogout:
        return Logout(caller, now);
      case Operation::kGetRoleCredentials:
        break;
    }
    TS_ASSIGN_OR_RETURN(Prepared prepared, PrepareCredentials(caller, request, now));
    const RoleCredentialToWrite& c = prepared.credential;
    storage::AuditScope audit(RoleCredentialEvent(c, now));
    TS_RETURN_IF_ERROR(IssueOutcome(storage_.accounts->IssueRoleCredential(c.key, c.link)));
    return CredentialsJson(c.issued);
  };
  http::Response r = PortalAnswer(answer(), internal);
  // Logout's answer is empty (the model's output has no members).
  if (operation == Operation::kLogout && r.status == 200) r.body.clear();
  return r;
}

void PortalApi::HandleAsync(Operation operation, const http::Request& request, Done done) const {
  if (operation != Operation::kGetRoleCredentials) {
    Status internal;
    http::Response r = Handle(operation, request, &internal);
    return done(std::move(r), std::move(internal));
  }
  const int64_t now = clock_->NowUnixSeconds();
  auto prepared = [&]() -> StatusOr<Prepared> {
    TS_ASSIGN_OR_RETURN(const Caller caller, Authenticate(request, now));
    return PrepareCredentials(caller, request, now);
  }();
  if (!prepared.ok()) {
    Status internal;
    http::Response r = PortalAnswer(prepared.status(), &internal);
    return done(std::move(r), std::move(internal));
  }
  const RoleCredentialToWrite& c = prepared->credential;
  // The secret goes only into the answer, built once the key is durable.
  storage::AuditScope audit(RoleCredentialEvent(c, now));
  storage_.accounts->IssueRoleCredentialAsync(
      c.key, c.link, [done = std::move(done), issued = c.issued](Status written) {
        Status internal;
        http::Response r =
            PortalAnswer(written.ok() ? StatusOr<std::string>(CredentialsJson(issued))
                                      : IssueOutcome(std::move(written)),
                         &internal);
        done(std::move(r), std::move(internal));
      });
}

}  // namespace ts::portal
