#include "ts/oauth/public_clients.h"

#include <algorithm>
#include <boost/json.hpp>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "ts/common/ascii.h"
#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/http/message.h"
#include "ts/oauth/application.h"
#include "ts/oauth/application_cache.h"
#include "ts/oauth/client_auth.h"
#include "ts/oauth/errors.h"
#include "ts/oauth/json_request.h"
#include "ts/oauth/rate_limiter.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {

struct PublicClientService::Admitted {
  std::shared_ptr<const storage::RegisteredClient> client;
  std::shared_ptr<const CachedApplication> entitled;  // null: none
  GrantClient grant_client;                           // the client as the shared grants see it
};

struct PublicClientService::DevicePoll {
  std::string device_code_hash;
  storage::DeviceAuthorization authorization;
};

// When each device code being polled was polled last (RFC 8628 §3.5 slow_down), per process:
// a pending poll is decided with one read and no write. Bounded: when full, codes not polled
// within the interval are dropped (at most once a second); a code that still finds no room is
// told to slow down.
class PublicClientService::PollTable {
 public:
  PollTable(size_t max_entries, int64_t interval_micros)
      : max_entries_(max_entries), interval_micros_(interval_micros) {}

  // True when `code_hash` was polled less than the interval before `now_micros`; that poll
  // counts too (a storm keeps being told to slow down).
  bool TooSoon(const std::string& code_hash, int64_t now_micros) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = last_poll_.find(code_hash);
    if (it == last_poll_.end()) return false;
    const bool too_soon = now_micros - it->second < interval_micros_;
    it->second = std::max(it->second, now_micros);
    return too_soon;
  }

  // Drops a device code whose authorization is no longer pending: its next poll reads the
  // answer (tokens, denied, expired, used) instead of being told to slow down.
  void Forget(const std::string& code_hash) {
    std::lock_guard<std::mutex> lock(mu_);
    last_poll_.erase(code_hash);
  }

  // Records a poll of a pending authorization; false when there is no room for it.
  bool Record(const std::string& code_hash, int64_t now_micros) {
    std::lock_guard<std::mutex> lock(mu_);
    if (last_poll_.size() >= max_entries_ && last_poll_.count(code_hash) == 0 &&
        now_micros - last_sweep_micros_ >= 1'000'000) {
      last_sweep_micros_ = now_micros;
      std::erase_if(last_poll_, [&](const auto& entry) {
        return now_micros - entry.second >= interval_micros_;
      });
    }
    if (last_poll_.size() >= max_entries_ && last_poll_.count(code_hash) == 0) return false;
    last_poll_[code_hash] = now_micros;
    return true;
  }

 private:
  const size_t max_entries_;
  const int64_t interval_micros_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> last_poll_;  // guarded by mu_
  int64_t last_sweep_micros_ = 0;                       // guarded by mu_
};

namespace {

// RFC 8628 §6.1: consonants only (no vowels, so no words), no easily confused letters.
constexpr std::string_view kUserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ";
constexpr size_t kUserCodeLength = 8;
constexpr int kUserCodeAttempts = 5;
constexpr std::string_view kDeviceCodePrefix = "tsdc_";

// 8 letters of the alphabet, uniformly (rejection sampling: 240 is the largest multiple of 20
// that fits a byte).
std::string NewUserCode() {
  std::string code;
  while (code.size() < kUserCodeLength) {
    for (char byte : crypto::RandomBytes(16)) {
      const auto value = static_cast<unsigned char>(byte);
      if (value >= 240) continue;
      code.push_back(kUserCodeAlphabet[value % kUserCodeAlphabet.size()]);
      if (code.size() == kUserCodeLength) break;
    }
  }
  return code;
}

// XXXX-XXXX, as the user reads it.
std::string Displayed(std::string_view user_code) {
  return std::string(user_code.substr(0, 4)) + "-" + std::string(user_code.substr(4));
}

bool IsKnownGrant(std::string_view grant) {
  return grant == kGrantAuthorizationCode || grant == kGrantDeviceCode ||
         grant == kGrantRefreshToken;
}

struct StartRequest {
  std::string client_id;
  std::string client_secret;
  std::string start_url;
};

StatusOr<StartRequest> ParseStartRequest(std::string_view body) {
  static constexpr StringMember<StartRequest> kStrings[] = {
      {"clientId", &StartRequest::client_id},
      {"clientSecret", &StartRequest::client_secret},
      {"startUrl", &StartRequest::start_url},
  };
  TS_ASSIGN_OR_RETURN(boost::json::object o, ParseJsonObject(body));
  StartRequest req;
  TS_RETURN_IF_ERROR(ReadStringMembers<StartRequest>(o, kStrings, req));
  if (req.client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  if (req.client_secret.empty()) return InvalidRequest("Member 'clientSecret' is required");
  if (req.start_url.empty()) return InvalidRequest("Member 'startUrl' is required");
  return req;
}

// The form parameters of RFC 6749 §4.1.3, §6 and RFC 8628 §3.4, and the client's credentials
// (§2.3.1).
struct FormParameter {
  std::string_view name;
  std::string ClientTokenRequest::*field;
};
constexpr FormParameter kFormParameters[] = {
    {"grant_type", &ClientTokenRequest::grant_type},
    {"code", &ClientTokenRequest::code},
    {"redirect_uri", &ClientTokenRequest::redirect_uri},
    {"code_verifier", &ClientTokenRequest::code_verifier},
    {"refresh_token", &ClientTokenRequest::refresh_token},
    {"device_code", &ClientTokenRequest::device_code},
    {"client_id", &ClientTokenRequest::client_id},
    {"client_secret", &ClientTokenRequest::client_secret},
};

// HTTP Basic credentials (client_auth.h) into `req`, unless the body authenticated too.
Status ReadBasicCredentials(std::string_view authorization, ClientTokenRequest& req) {
  TS_ASSIGN_OR_RETURN(ClientCredentials basic, ParseBasicCredentials(authorization));
  if (!req.client_secret.empty()) {
    return InvalidRequest(
        "The client authenticated twice (HTTP Basic and client_secret); use one method");
  }
  if (!req.client_id.empty() && req.client_id != basic.client_id) {
    return InvalidRequest("client_id differs from the HTTP Basic user name");
  }
  req.client_id = std::move(basic.client_id);
  req.client_secret = std::move(basic.secret);
  return OkStatus();
}

// The identitystore User document's Name.Formatted and primary (else first) email.
struct DirectoryFields {
  std::string formatted_name;
  std::string email;
};

DirectoryFields ReadDirectoryFields(const std::string& attributes_json) {
  DirectoryFields fields;
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(attributes_json, ec);
  if (ec || !doc.is_object()) return fields;
  const boost::json::object& o = doc.as_object();
  if (const auto* name = o.if_contains("Name"); name != nullptr && name->is_object()) {
    if (const auto* f = name->as_object().if_contains("Formatted"); f && f->is_string()) {
      fields.formatted_name = std::string(f->as_string());
    }
  }
  if (const auto* emails = o.if_contains("Emails"); emails != nullptr && emails->is_array()) {
    for (const boost::json::value& e : emails->as_array()) {
      const boost::json::object* entry = e.if_object();
      const boost::json::value* value = entry ? entry->if_contains("Value") : nullptr;
      if (value == nullptr || !value->is_string()) continue;
      const boost::json::value* primary = entry->if_contains("Primary");
      const bool is_primary = primary != nullptr && primary->is_bool() && primary->as_bool();
      if (fields.email.empty() || is_primary) fields.email = std::string(value->as_string());
      if (is_primary) break;
    }
  }
  return fields;
}

}  // namespace

StatusOr<ClientTokenRequest> ParseCreateTokenJson(std::string_view body) {
  static constexpr StringMember<ClientTokenRequest> kStrings[] = {
      {"clientId", &ClientTokenRequest::client_id},
      {"clientSecret", &ClientTokenRequest::client_secret},
      {"grantType", &ClientTokenRequest::grant_type},
      {"deviceCode", &ClientTokenRequest::device_code},
      {"code", &ClientTokenRequest::code},
      {"refreshToken", &ClientTokenRequest::refresh_token},
      {"redirectUri", &ClientTokenRequest::redirect_uri},
      {"codeVerifier", &ClientTokenRequest::code_verifier},
  };
  TS_ASSIGN_OR_RETURN(boost::json::object o, ParseJsonObject(body));
  ClientTokenRequest req;
  TS_RETURN_IF_ERROR(ReadStringMembers<ClientTokenRequest>(o, kStrings, req));
  TS_RETURN_IF_ERROR(ReadStringList(o, "scope", req.scope));
  if (req.client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  if (req.client_secret.empty()) return InvalidRequest("Member 'clientSecret' is required");
  if (req.grant_type.empty()) return InvalidRequest("Member 'grantType' is required");
  return req;
}

StatusOr<ClientTokenRequest> ParseCreateTokenForm(std::string_view body,
                                                  std::optional<std::string_view> authorization) {
  auto form = http::ParseForm(body);
  if (!form.has_value()) return InvalidRequest("The form body has a malformed %-escape");
  ClientTokenRequest req;
  std::vector<std::string_view> seen;
  for (const auto& entry : *form) {
    // Named references, not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const std::string& name = entry.first;
    const std::string& value = entry.second;
    const bool is_scope = name == "scope";
    const auto* known = std::find_if(std::begin(kFormParameters), std::end(kFormParameters),
                                     [&](const FormParameter& p) { return p.name == name; });
    if (!is_scope && known == std::end(kFormParameters)) continue;  // RFC 6749 §3.2: ignored
    // RFC 6749 §3.2: parameters must not be included more than once.
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return InvalidRequest("Parameter '" + name + "' is repeated");
    }
    seen.push_back(is_scope ? std::string_view("scope") : known->name);
    if (is_scope) {
      // RFC 6749 §3.3: space-delimited.
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t space = rest.find(' ');
        if (space != 0) req.scope.emplace_back(rest.substr(0, space));
        if (space == std::string_view::npos) break;
        rest.remove_prefix(space + 1);
      }
    } else {
      req.*(known->field) = value;
    }
  }
  if (authorization.has_value()) TS_RETURN_IF_ERROR(ReadBasicCredentials(*authorization, req));
  if (req.grant_type.empty()) return InvalidRequest("Parameter 'grant_type' is required");
  if (req.client_id.empty() || req.client_secret.empty()) {
    return InvalidClient(
        "Client authentication is required: HTTP Basic (client_secret_basic) or client_id and "
        "client_secret in the body (client_secret_post)");
  }
  return req;
}

std::string UserCodeHash(std::string_view user_code) {
  std::string letters;
  for (char c : user_code) {
    if (c == '-' || c == ' ') continue;
    letters.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
  }
  return tokens::TokenMinter::Hash(letters);
}

tokens::OidcProfile ProfileClaims(const storage::User& user,
                                  const std::vector<std::string>& scopes) {
  tokens::OidcProfile profile;
  const bool want_profile = Contains(scopes, "profile");
  const bool want_email = Contains(scopes, "email");
  if (!want_profile && !want_email) return profile;
  const DirectoryFields fields = ReadDirectoryFields(user.attributes_json);
  if (want_profile) {
    profile.preferred_username = user.user_name;
    profile.name = user.display_name.empty() ? fields.formatted_name : user.display_name;
  }
  if (want_email) profile.email = fields.email;
  return profile;
}

PublicClientService::PublicClientService(ClientStorage storage,
                                         std::shared_ptr<ClientAuthenticator> authenticator,
                                         std::shared_ptr<ApplicationCache> applications,
                                         std::shared_ptr<const tokens::TokenMinter> minter,
                                         ClockPtr clock, TokenServiceOptions token_options,
                                         PublicClientOptions options)
    : storage_(std::move(storage)),
      authenticator_(std::move(authenticator)),
      applications_(std::move(applications)),
      minter_(std::move(minter)),
      clock_(std::move(clock)),
      options_(std::move(options)),
      grants_(storage_.grants, minter_, clock_, token_options),
      polls_(std::make_unique<PollTable>(options_.max_tracked, options_.poll_interval * 1'000'000)),
      device_starts_(std::make_unique<RateLimiter>(options_.device_authorizations_per_minute,
                                                   options_.max_tracked)) {}

PublicClientService::~PublicClientService() = default;

bool PublicClientService::IsOwnStartUrl(std::string_view start_url) const {
  // The AWS CLI (>= 2.35.13) accepts only AWS-owned start URLs, so the instance's own
  // identity store id on awsapps.com is accepted beside the server's own /start.
  const std::string bases[] = {
      "https://" + minter_->instance().identity_store_id + ".awsapps.com/start",
      options_.public_url + "/start"};
  for (const std::string& base : bases) {
    if (!start_url.starts_with(base)) continue;
    const std::string_view rest = start_url.substr(base.size());
    if (rest.empty() || rest == "/" || rest == "#/" || rest == "/#/") return true;
  }
  return false;
}

StatusOr<std::string> PublicClientService::StartDeviceAuthorization(
    std::string_view body, std::string_view client_address) const {
  if (!device_starts_->Allow(client_address, clock_->NowUnixMicros())) {
    return SlowDown("Too many device authorizations from this address; retry later");
  }
  TS_ASSIGN_OR_RETURN(StartRequest req, ParseStartRequest(body));
  TS_ASSIGN_OR_RETURN(std::shared_ptr<const storage::RegisteredClient> client,
                      authenticator_->Authenticate(req.client_id, req.client_secret));
  if (!Contains(client->grant_types, kGrantDeviceCode)) {
    return UnauthorizedClient("The client is not registered for grant type " +
                              std::string(kGrantDeviceCode));
  }
  TS_RETURN_IF_ERROR(Entitled(*client).status());
  if (!IsOwnStartUrl(req.start_url)) {
    return InvalidRequest("startUrl is not this instance's: use https://" +
                          minter_->instance().identity_store_id + ".awsapps.com/start or " +
                          options_.public_url + "/start");
  }

  const std::string device_code = std::string(kDeviceCodePrefix) + crypto::RandomToken(32);
  const int64_t now = clock_->NowUnixSeconds();
  storage::DeviceAuthorization authorization;
  authorization.device_code_hash = tokens::TokenMinter::Hash(device_code);
  authorization.client_id = client->client_id;
  authorization.scopes = client->scopes;
  authorization.created_at = now;
  authorization.expires_at = now + options_.device_code_ttl;
  authorization.interval = options_.poll_interval;
  std::string user_code;
  Status created;
  // A user code is unique among live authorizations: draw again on a collision.
  for (int attempt = 0; attempt < kUserCodeAttempts; ++attempt) {
    user_code = NewUserCode();
    authorization.user_code_hash = UserCodeHash(user_code);
    created = storage_.clients->CreateDeviceAuthorization(authorization);
    if (created.code() != StatusCode::kAlreadyExists) break;
  }
  TS_RETURN_IF_ERROR(created);

  const std::string shown = Displayed(user_code);
  JsonWriter w;
  w.BeginObject();
  w.Member("deviceCode", device_code);
  w.Member("userCode", shown);
  w.Member("verificationUri", options_.public_url + "/device");
  w.Member("verificationUriComplete", options_.public_url + "/device?user_code=" + shown);
  w.Member("expiresIn", options_.device_code_ttl);
  w.Member("interval", options_.poll_interval);
  w.EndObject();
  return w.Take();
}

StatusOr<PublicClientService::Admitted> PublicClientService::Admit(
    const ClientTokenRequest& req) const {
  if (req.grant_type.empty()) return InvalidRequest("Member 'grantType' is required");
  TS_ASSIGN_OR_RETURN(std::shared_ptr<const storage::RegisteredClient> client,
                      authenticator_->Authenticate(req.client_id, req.client_secret));
  if (!IsKnownGrant(req.grant_type)) {
    return UnsupportedGrantType("Unsupported grant type: " + req.grant_type);
  }
  if (!Contains(client->grant_types, req.grant_type)) {
    return UnauthorizedClient("The client is not registered for grant type " + req.grant_type);
  }
  Admitted admitted;
  TS_ASSIGN_OR_RETURN(admitted.entitled, Entitled(*client));
  // Registered clients are public: PKCE is theirs whatever the server's setting.
  admitted.grant_client = {client->client_id, Contains(client->grant_types, kGrantRefreshToken),
                           /*assignment_required=*/false, /*require_pkce=*/true, "CreateToken"};
  admitted.client = std::move(client);
  return admitted;
}

StatusOr<std::shared_ptr<const CachedApplication>> PublicClientService::Entitled(
    const storage::RegisteredClient& client) const {
  if (client.entitled_application_arn.empty()) return std::shared_ptr<const CachedApplication>();
  auto app = applications_->Get(client.entitled_application_arn);
  if (!app.ok() && app.status().code() != StatusCode::kNotFound) return app.status();
  if (!app.ok() || (*app)->app.status != "ENABLED") {
    return InvalidClient("The client's entitled application is gone or disabled");
  }
  return app;
}

Status PublicClientService::RequireEntitlement(const Admitted& admitted,
                                               const std::string& user_id) const {
  if (admitted.entitled == nullptr || !admitted.entitled->app.assignment_required) {
    return OkStatus();
  }
  const std::string& arn = admitted.entitled->app.application_arn;
  TS_ASSIGN_OR_RETURN(bool assigned, storage_.applications->IsAssigned(arn, user_id));
  return assigned ? OkStatus() : UserNotAssigned(arn);
}

StatusOr<std::string> PublicClientService::CreateToken(const ClientTokenRequest& req,
                                                       TokenFormat format) const {
  TS_ASSIGN_OR_RETURN(Admitted admitted, Admit(req));
  TS_ASSIGN_OR_RETURN(Grant grant, Serve(req, admitted));
  return Respond(grant, format);
}

StatusOr<Grant> PublicClientService::Serve(const ClientTokenRequest& req,
                                           const Admitted& admitted) const {
  auto entitled = [this, &admitted](const storage::TokenFamily& family) {
    return RequireEntitlement(admitted, family.user_id);
  };
  if (req.grant_type == kGrantAuthorizationCode) {
    return grants_.RedeemCode(req, admitted.grant_client, entitled);
  }
  if (req.grant_type == kGrantRefreshToken) {
    return grants_.Refresh(req, admitted.grant_client, entitled);
  }
  TS_ASSIGN_OR_RETURN(DevicePoll poll, PollDevice(req, admitted));
  return RedeemDevice(poll, req, admitted);
}

void PublicClientService::CreateTokenAsync(ClientTokenRequest req, TokenFormat format,
                                           Executor blocking, Done done,
                                           FinishDone finish_done) const {
  if (!storage_.grants->GrantWritesWithoutBlocking()) {
    blocking([this, req = std::move(req), format, done = std::move(done)] {
      done(CreateToken(req, format));
    });
    return;
  }
  StatusOr<Admitted> admission = Admit(req);
  if (!admission.ok()) return done(admission.status());
  Admitted& admitted = *admission;
  const bool entitlement_to_check =
      admitted.entitled != nullptr && admitted.entitled->app.assignment_required;
  if (req.grant_type == kGrantRefreshToken && !entitlement_to_check) {
    GrantClient client = admitted.grant_client;
    return grants_.RefreshAsync(
        std::make_shared<const ClientTokenRequest>(std::move(req)), std::move(client),
        std::move(blocking), [this, format](const Grant& grant) { return Respond(grant, format); },
        std::move(done), std::move(finish_done));
  }
  if (req.grant_type == kGrantDeviceCode) {
    // Pending, too soon, denied, expired: answered here, with one read and no write.
    StatusOr<DevicePoll> polled = PollDevice(req, admitted);
    if (!polled.ok()) return done(polled.status());
    blocking([this, poll = std::move(*polled), req = std::move(req), admitted = std::move(admitted),
              format, done = std::move(done)] {
      StatusOr<Grant> grant = RedeemDevice(poll, req, admitted);
      if (!grant.ok()) return done(grant.status());
      done(Respond(*grant, format));
    });
    return;
  }
  blocking(
      [this, req = std::move(req), admitted = std::move(admitted), format, done = std::move(done)] {
        StatusOr<Grant> grant = Serve(req, admitted);
        if (!grant.ok()) return done(grant.status());
        done(Respond(*grant, format));
      });
}

StatusOr<PublicClientService::DevicePoll> PublicClientService::PollDevice(
    const ClientTokenRequest& req, const Admitted& admitted) const {
  if (req.device_code.empty()) {
    return InvalidRequest("Member 'deviceCode' is required for " + std::string(kGrantDeviceCode));
  }
  DevicePoll poll;
  poll.device_code_hash = tokens::TokenMinter::Hash(req.device_code);
  const int64_t now_micros = clock_->NowUnixMicros();
  // Decided before the read: a polling storm costs a table lookup each.
  if (polls_->TooSoon(poll.device_code_hash, now_micros)) {
    return SlowDown("Polled faster than the interval; wait longer between polls");
  }
  auto read = NotFoundAs(storage_.clients->GetDeviceAuthorization(poll.device_code_hash),
                         InvalidGrant, "Invalid device code provided");
  if (!read.ok()) return read.status();
  storage::DeviceAuthorization& authorization = *read;
  // Another client's device code is as good as unknown to this one.
  if (authorization.client_id != admitted.client->client_id) {
    return InvalidGrant("Invalid device code provided");
  }
  const int64_t now = now_micros / 1'000'000;
  const bool pending = authorization.consumed_at == 0 && authorization.expires_at > now &&
                       authorization.status == "PENDING";
  if (pending) {
    if (!polls_->Record(poll.device_code_hash, now_micros)) {
      return SlowDown("Too many device codes are being polled; wait longer between polls");
    }
    return AuthorizationPending("Authorization is still pending");
  }
  polls_->Forget(poll.device_code_hash);
  if (authorization.consumed_at == 0) {
    if (authorization.expires_at <= now) return ExpiredToken("Device code has expired");
    if (authorization.status == "DENIED") {
      return AccessDenied("The user denied the authorization request");
    }
  }
  poll.authorization = std::move(authorization);
  return poll;
}

StatusOr<Grant> PublicClientService::RedeemDevice(const DevicePoll& poll,
                                                  const ClientTokenRequest& req,
                                                  const Admitted& admitted) const {
  const storage::DeviceAuthorization& authorization = poll.authorization;
  const int64_t now = clock_->NowUnixSeconds();
  if (authorization.consumed_at != 0) {
    // Redeemed before: reuse revokes what the redemption produced (RFC 6749 §4.1.2's rule for
    // codes; a device code is one).
    TS_RETURN_IF_ERROR(
        RevokeIfPresent(*storage_.grants, authorization.family_id, now, "device code reuse"));
    return InvalidGrant("Device code has already been used; the tokens it produced are revoked");
  }
  auto user = NotFoundAs(storage_.directory->GetUser(authorization.user_id), InvalidGrant,
                         "The user who approved this device code no longer exists");
  if (!user.ok()) return user.status();
  TS_RETURN_IF_ERROR(RequireEntitlement(admitted, authorization.user_id));
  TS_ASSIGN_OR_RETURN(std::vector<std::string> scopes,
                      NarrowScopes(req.scope, authorization.scopes));

  storage::TokenFamily family;
  family.family_id = NewFamilyId(*clock_);
  family.application_arn = admitted.client->client_id;
  family.user_id = authorization.user_id;
  family.scopes = scopes;
  family.grant_type = std::string(kGrantDeviceCode);
  family.session_hash = authorization.session_hash;
  family.auth_time = authorization.auth_time;
  family.created_at = now;
  family.expires_at = now + grants_.options().refresh_token_ttl;
  Grant grant;
  std::optional<storage::RefreshToken> refresh = FirstRefreshToken(
      admitted.grant_client.may_refresh, family, now, *clock_, grant.refresh_token);
  storage::AuditScope audit(TokenFamilyEvent("CreateToken", family));
  audit.Current()->credential_id = admitted.client->client_id;
  auto outcome = NotFoundAs(
      storage_.clients->RedeemDeviceAuthorization(poll.device_code_hash, now, family, refresh),
      InvalidGrant, "Invalid device code provided");
  if (!outcome.ok()) return outcome.status();
  switch (*outcome) {
    case storage::DeviceRedeemOutcome::kRedeemed:
      break;
    case storage::DeviceRedeemOutcome::kAlreadyRedeemed:  // a concurrent poll won; revoked
      return InvalidGrant("Device code has already been used; the tokens it produced are revoked");
    case storage::DeviceRedeemOutcome::kPending:
      return AuthorizationPending("Authorization is still pending");
    case storage::DeviceRedeemOutcome::kDenied:
      return AccessDenied("The user denied the authorization request");
    case storage::DeviceRedeemOutcome::kExpired:
      return ExpiredToken("Device code has expired");
  }
  tokens::TokenSubject& subject = grant.subject;
  subject.user_id = family.user_id;
  subject.application_arn = family.application_arn;
  subject.scopes = std::move(scopes);
  subject.family_id = family.family_id;
  subject.auth_time = family.auth_time;
  return grant;
}

StatusOr<std::string> PublicClientService::Respond(const Grant& grant, TokenFormat format) const {
  const int64_t now = clock_->NowUnixSeconds();
  const tokens::TokenSubject& s = grant.subject;
  const TokenServiceOptions& ttl = grants_.options();
  TS_ASSIGN_OR_RETURN(std::string access_token, minter_->AccessToken(s, crypto::RandomUuid(), now,
                                                                     now + ttl.access_token_ttl));
  std::string id_token;
  if (Contains(s.scopes, "openid")) {
    tokens::OidcProfile profile;
    if (Contains(s.scopes, "profile") || Contains(s.scopes, "email")) {
      auto user = NotFoundAs(storage_.directory->GetUser(s.user_id), InvalidGrant,
                             "The user these tokens are for no longer exists");
      if (!user.ok()) return user.status();
      profile = ProfileClaims(*user, s.scopes);
    }
    TS_ASSIGN_OR_RETURN(id_token, minter_->OidcIdToken(s, profile, now, now + ttl.id_token_ttl));
  }
  const bool aws = format == TokenFormat::kAwsJson;
  JsonWriter w;
  w.BeginObject();
  w.Member(aws ? "accessToken" : "access_token", access_token);
  w.Member(aws ? "tokenType" : "token_type", "Bearer");
  w.Member(aws ? "expiresIn" : "expires_in", ttl.access_token_ttl);
  if (!grant.refresh_token.empty()) {
    w.Member(aws ? "refreshToken" : "refresh_token", grant.refresh_token);
  }
  if (!id_token.empty()) w.Member(aws ? "idToken" : "id_token", id_token);
  if (!aws) {
    std::string scope;
    for (const std::string& item : s.scopes) {
      if (!scope.empty()) scope.push_back(' ');
      scope += item;
    }
    w.Member("scope", scope);
  }
  w.EndObject();
  return w.Take();
}

}  // namespace ts::oauth
