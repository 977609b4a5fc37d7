// File: request_metrics.cc
#include "ts/server/request_metrics.h"

#include <algorithm>
#include <array>

#include "ts/portal/portal_api.h"
#include "ts/server/routes.h"

namespace ts::server {
namespace {

// Rows of {api, operation} that do not depend on the admin models, in Classify's order.
enum Row : uint16_t {
  kCreateTokenWithIam,
  kCreateToken,
  kRegisterClient,
  kStartDeviceAuthorization,
  kIntrospectTokenWithIam,
  kIntrospectToken,
  kRevokeTokenWithIam,
  kRevokeToken,
  kReadIdentityContext,
  kUserInfo,
  kGetRoleCredentials,
  kListAccounts,
  kListAccountRoles,
  kPortalLogout,
  kAuthorizeGet,
  kAuthorizePost,
  kLogoutPost,
  kDeviceGet,
  kDevicePost,
  kStartGet,
  kStartPost,
  kDiscovery,
  kJwks,
  kHealthz,
  kUnknown,
  kFixedRows,
};

enum Api : uint8_t { kOidc, kPortal, kSsoAdmin, kIdentityStore, kWeb, kDocuments, kHealth, kNone };
constexpr std::array<const char*, 8> kApis = {"sso-oidc",      "sso-portal", "sso-admin",
                                              "identitystore", "web",        "discovery",
                                              "health",        "unknown"};

struct FixedRow {
  Api api;
  const char* operation;
};
constexpr std::array<FixedRow, kFixedRows> kRows = {{
    {kOidc, "CreateTokenWithIAM"},
    {kOidc, "CreateToken"},
    {kOidc, "RegisterClient"},
    {kOidc, "StartDeviceAuthorization"},
    {kOidc, "IntrospectTokenWithIAM"},
    {kOidc, "IntrospectToken"},
    {kOidc, "RevokeTokenWithIAM"},
    {kOidc, "RevokeToken"},
    {kOidc, "ReadIdentityContext"},
    {kOidc, "UserInfo"},
    {kPortal, "GetRoleCredentials"},
    {kPortal, "ListAccounts"},
    {kPortal, "ListAccountRoles"},
    {kPortal, "Logout"},
    {kWeb, "GET /authorize"},
    {kWeb, "POST /authorize"},
    {kWeb, "POST /logout"},
    {kWeb, "GET /device"},
    {kWeb, "POST /device"},
    {kWeb, "GET /start"},
    {kWeb, "POST /start"},
    {kDocuments, "Discovery"},
    {kDocuments, "Jwks"},
    {kHealth, "Healthz"},
    {kNone, "unknown"},
}};

constexpr std::array<const char*, 4> kStatusClasses = {"2xx", "3xx", "4xx", "5xx"};

// The modeled error types (x-amzn-ErrorType) any API answers; anything else counts as "other".
constexpr std::array<const char*, 27> kErrorTypes = {
    "AccessDeniedException",
    "AuthorizationPendingException",
    "ConflictException",
    "ExpiredTokenException",
    "IncompleteSignatureException",
    "InternalServerException",
    "InvalidClientException",
    "InvalidClientMetadataException",
    "InvalidGrantException",
    "InvalidRedirectUriException",
    "InvalidRequestException",
    "InvalidRequestRegionException",
    "InvalidScopeException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "ResourceNotFoundException",
    "SerializationException",
    "ServiceQuotaExceededException",
    "SlowDownException",
    "ThrottlingException",
    "TooManyRequestsException",
    "UnauthorizedClientException",
    "UnauthorizedException",
    "UnknownOperationException",
    "UnrecognizedClientException",
    "UnsupportedGrantTypeException",
    "ValidationException",
};
constexpr size_t kErrorRows = kErrorTypes.size() + 1;  // + "other"

constexpr std::array<const char*, 6> kGrants = {
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
    "other",
};
// The form encoding of the URN grants (CreateToken's RFC 6749 form posts).
constexpr std::array<const char*, 3> kFormGrants = {
    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange",
    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code",
};

// A token request's outcome: success, or the error type the token endpoint answered.
constexpr std::array<const char*, 17> kTokenOutcomes = {
    "success",
    "AccessDeniedException",
    "AuthorizationPendingException",
    "ExpiredTokenException",
    "IncompleteSignatureException",
    "InternalServerException",
    "InvalidClientException",
    "InvalidGrantException",
    "InvalidRequestException",
    "InvalidRequestRegionException",
    "InvalidScopeException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "SlowDownException",
    "UnauthorizedClientException",
    "UnrecognizedClientException",
    "UnsupportedGrantTypeException",
};
constexpr size_t kTokenOutcomeRows = kTokenOutcomes.size() + 1;  // + "other"

template <size_t N>
std::vector<std::string> Strings(const std::array<const char*, N>& values) {
  return {values.begin(), values.end()};
}

// The index of `value` in `values`, or values.size().
template <size_t N>
size_t IndexOf(const std::array<const char*, N>& values, std::string_view value) {
  for (size_t i = 0; i < N; ++i) {
    if (value == values[i]) return i;
  }
  return N;
}

// x-amzn-ErrorType without its ":namespace" suffix.
std::string_view ErrorTypeOf(const http::Response& response) {
  std::string_view type = response.FindHeader("x-amzn-ErrorType").value_or("");
  return type.substr(0, type.find(':'));
}

}  // namespace

size_t RequestMetrics::GrantRow(std::string_view body) {
  constexpr size_t kOther = kGrants.size() - 1;
  // JSON (the SDKs): "grantType" : "<value>"; the value has no escapes in any grant we know.
  if (size_t at = body.find("\"grantType\""); at != std::string_view::npos) {
    size_t i = at + 11;
    auto skip_space = [&] {
      while (i < body.size() &&
             (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) {
        ++i;
      }
    };
    skip_space();
    if (i >= body.size() || body[i] != ':') return kOther;
    ++i;
    skip_space();
    if (i >= body.size() || body[i] != '"') return kOther;
    const size_t end = body.find('"', i + 1);
    if (end == std::string_view::npos) return kOther;
    const size_t row = IndexOf(kGrants, body.substr(i + 1, end - i - 1));
    return row < kGrants.size() ? row : kOther;
  }
  // RFC 6749 form: grant_type=<value>.
  for (size_t at = body.find("grant_type="); at != std::string_view::npos;
       at = body.find("grant_type=", at + 1)) {
    if (at != 0 && body[at - 1] != '&') continue;
    const size_t start = at + 11;
    const std::string_view value = body.substr(start, body.find('&', start) - start);
    if (size_t row = IndexOf(kGrants, value); row < kGrants.size()) return row;
    if (size_t row = IndexOf(kFormGrants, value); row < kFormGrants.size()) return row + 2;
    return kOther;
  }
  return kOther;
}

RequestMetrics::RequestMetrics(const std::vector<std::string>& sso_admin_operations,
                               const std::vector<std::string>& identity_store_operations)
    : sso_admin_(sso_admin_operations), identity_store_(identity_store_operations) {
  std::sort(sso_admin_.begin(), sso_admin_.end());
  std::sort(identity_store_.begin(), identity_store_.end());
  std::vector<std::vector<std::string>> operations;
  for (const FixedRow& row : kRows) operations.push_back({kApis[row.api], row.operation});
  sso_admin_base_ = operations.size();
  for (const auto& op : sso_admin_) operations.push_back({kApis[kSsoAdmin], op});
  identity_store_base_ = operations.size();
  for (const auto& op : identity_store_) operations.push_back({kApis[kIdentityStore], op});

  // The latency histogram has one row per admin plane (their operations together): 16 buckets
  // for each of ~70 admin operations would be most of a scrape.
  std::vector<std::vector<std::string>> latency_rows;
  for (const FixedRow& row : kRows) latency_rows.push_back({kApis[row.api], row.operation});
  latency_rows.push_back({kApis[kSsoAdmin], "all"});
  latency_rows.push_back({kApis[kIdentityStore], "all"});

  metrics::Registry& r = metrics::DefaultRegistry();
  const auto& requests =
      r.AddCounter("tessera_requests_total",
                   "Requests answered by the public listener, by API, operation and status class.",
                   {metrics::Label::Joint({"api", "operation"}, operations),
                    {"status_class", Strings(kStatusClasses)}});
  for (size_t i = 0; i < requests.size(); ++i) requests_.push_back(requests.At(i));

  const auto& latency = r.AddHistogram(
      "tessera_request_duration_seconds",
      "Time from a request's arrival (parsed) to its answer being ready, by API and operation.",
      {metrics::Label::Joint({"api", "operation"}, latency_rows)}, metrics::LatencyBuckets());
  for (size_t i = 0; i < latency.size(); ++i) latency_.push_back(latency.At(i));

  std::vector<std::string> error_types = Strings(kErrorTypes);
  error_types.push_back("other");
  const auto& errors =
      r.AddCounter("tessera_request_errors_total",
                   "Modeled error answers (x-amzn-ErrorType) by API and error type.",
                   {{"api", Strings(kApis)}, {"error_type", error_types}});
  for (size_t i = 0; i < errors.size(); ++i) errors_.push_back(errors.At(i));

  std::vector<std::string> outcomes = Strings(kTokenOutcomes);
  outcomes.push_back("other");
  const auto& token = r.AddCounter(
      "tessera_token_requests_total",
      "Token requests (CreateTokenWithIAM, CreateToken) by grant type and outcome: success or "
      "the error type answered.",
      {{"grant_type", Strings(kGrants)}, {"outcome", outcomes}});
  for (size_t i = 0; i < token.size(); ++i) token_.push_back(token.At(i));
}

const RequestMetrics& RequestMetrics::Get(
    const std::vector<std::string>& sso_admin_operations,
    const std::vector<std::string>& identity_store_operations) {
  static const RequestMetrics* metrics =
      new RequestMetrics(sso_admin_operations, identity_store_operations);
  return *metrics;
}

size_t RequestMetrics::AdminRow(std::string_view target) const {
  const size_t dot = target.find('.');
  if (dot == std::string_view::npos) return kUnknown;
  const std::string_view prefix = target.substr(0, dot);
  const std::string_view operation = target.substr(dot + 1);
  const std::vector<std::string>* names = prefix == "SWBExternalService" ? &sso_admin_
                                          : prefix == "AWSIdentityStore" ? &identity_store_
                                                                         : nullptr;
  if (names == nullptr) return kUnknown;
  auto it = std::lower_bound(names->begin(), names->end(), operation,
                             [](const std::string& a, std::string_view b) { return a < b; });
  if (it == names->end() || *it != operation) return kUnknown;
  return (names == &sso_admin_ ? sso_admin_base_ : identity_store_base_) + (it - names->begin());
}

RequestLabels RequestMetrics::Classify(const Route* route, const http::Request& request) const {
  size_t row = kUnknown;
  uint8_t grant = 0;
  if (route != nullptr) {
    // Dispatch's own test (routes.h), so the row is the operation that answers.
    const bool iam =
        (route->endpoint == Endpoint::kToken || route->endpoint == Endpoint::kIntrospect ||
         route->endpoint == Endpoint::kRevoke) &&
        IsIamTokenRequest(request);
    switch (route->endpoint) {
      case Endpoint::kToken:
        row = iam ? kCreateTokenWithIam : kCreateToken;
        grant = static_cast<uint8_t>(1 + GrantRow(request.body));
        break;
      case Endpoint::kRegisterClient:
        row = kRegisterClient;
        break;
      case Endpoint::kDeviceAuthorization:
        row = kStartDeviceAuthorization;
        break;
      case Endpoint::kIntrospect:
        row = iam ? kIntrospectTokenWithIam : kIntrospectToken;
        break;
      case Endpoint::kRevoke:
        row = iam ? kRevokeTokenWithIam : kRevokeToken;
        break;
      case Endpoint::kIdentityContext:
        row = kReadIdentityContext;
        break;
      case Endpoint::kAdmin:
        row = AdminRow(request.FindHeader("x-amz-target").value_or(""));
        break;
      case Endpoint::kAuthorizeGet:
        row = kAuthorizeGet;
        break;
      case Endpoint::kAuthorizePost:
        row = kAuthorizePost;
        break;
      case Endpoint::kLogout:
        // As dispatch decides: the portal's Logout carries its bearer header.
        row = portal::PortalApi::IsPortalRequest(request) ? kPortalLogout : kLogoutPost;
        break;
      case Endpoint::kDeviceGet:
        row = kDeviceGet;
        break;
      case Endpoint::kDevicePost:
        row = kDevicePost;
        break;
      case Endpoint::kStartGet:
        row = kStartGet;
        break;
      case Endpoint::kStartPost:
        row = kStartPost;
        break;
      case Endpoint::kDiscovery:
        row = kDiscovery;
        break;
      case Endpoint::kUserInfo:
        row = kUserInfo;
        break;
      case Endpoint::kPortalCredentials:
        row = kGetRoleCredentials;
        break;
      case Endpoint::kPortalAccounts:
        row = kListAccounts;
        break;
      case Endpoint::kPortalRoles:
        row = kListAccountRoles;
        break;
      case Endpoint::kJwks:
        row = kJwks;
        break;
      case Endpoint::kHealthz:
        row = kHealthz;
        break;
    }
  }
  RequestLabels labels;
  labels.operation = static_cast<uint16_t>(row);
  labels.grant = grant;
  if (row < kFixedRows) {
    labels.api = kRows[row].api;
    labels.latency = static_cast<uint16_t>(row);
  } else if (row < identity_store_base_) {
    labels.api = kSsoAdmin;
    labels.latency = kFixedRows;
  } else {
    labels.api = kIdentityStore;
    labels.latency = kFixedRows + 1;
  }
  return labels;
}

std::string_view RequestMetrics::OperationName(RequestLabels labels) const {
  if (labels.operation == kUnknown) return {};
  if (labels.operation < kFixedRows) return kRows[labels.operation].operation;
  if (labels.operation < identity_store_base_) {
    return sso_admin_[labels.operation - sso_admin_base_];
  }
  return identity_store_[labels.operation - identity_store_base_];
}

void RequestMetrics::Record(RequestLabels labels, const http::Response& response,
                            std::chrono::steady_clock::time_point start) const {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const size_t status_class = static_cast<size_t>(std::clamp(response.status / 100 - 2, 0, 3));
  requests_[labels.operation * kStatusClasses.size() + status_class].Inc();
  latency_[labels.latency].Observe(seconds);
  std::string_view error_type;
  if (response.status >= 400) {
    error_type = ErrorTypeOf(response);
    // Only modeled errors: a web page's 401 (wrong password) has no error type to count.
    if (!error_type.empty()) {
      errors_[labels.api * kErrorRows + IndexOf(kErrorTypes, error_type)].Inc();
    }
  }
  if (labels.grant != 0) {
    size_t outcome = 0;  // success
    if (response.status != 200) {
      outcome = error_type.empty() ? kTokenOutcomes.size() : IndexOf(kTokenOutcomes, error_type);
    }
    token_[(labels.grant - 1) * kTokenOutcomeRows + outcome].Inc();
  }
}

http::Responder RequestMetrics::Observe(RequestLabels labels, http::Responder respond) const {
  const auto start = std::chrono::steady_clock::now();
  return [this, labels, start, respond = std::move(respond)](http::Response response) {
    if (response.finish) {
      // The status is known once the io thread has run `finish` (a refresh's signing).
      response.finish = [this, labels, start,
                         finish = std::move(response.finish)](http::Response& out) {
        try {
          finish(out);
        } catch (...) {
          out.status = 500;  // what the transport answers for a throw
          Record(labels, out, start);
          throw;
        }
        Record(labels, out, start);
      };
    } else {
      Record(labels, response, start);
    }
    respond(std::move(response));
  };
}

}  // namespace ts::server
