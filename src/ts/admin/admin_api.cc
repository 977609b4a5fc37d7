#include "ts/admin/admin_api.h"

#include <boost/json.hpp>

#include "ts/admin/handlers.h"
#include "ts/admin/service_model.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/iam/policy.h"
#include "ts/storage/audit.h"

namespace ts::admin {

namespace json = boost::json;
using internal::Call;
using internal::Env;
using internal::Handler;

namespace internal {

Status Validation(std::string_view message) {
  return ApiError(StatusCode::kInvalidArgument, "ValidationException", message);
}
Status NotFound(std::string_view message) {
  return ApiError(StatusCode::kNotFound, "ResourceNotFoundException", message);
}
Status Conflict(std::string_view message) {
  return ApiError(StatusCode::kAlreadyExists, "ConflictException", message);
}
Status AccessDenied(std::string_view message) {
  return ApiError(StatusCode::kPermissionDenied, "AccessDeniedException", message);
}
Status QuotaExceeded(std::string_view message) {
  return ApiError(StatusCode::kResourceExhausted, "ServiceQuotaExceededException", message);
}

Status BadElement(std::string_view list, size_t index, std::string_view type) {
  return Validation("1 validation error detected: Value at '" + std::string(list) + "." +
                    std::to_string(index + 1) +
                    "' failed to satisfy constraint: Member must be a " + std::string(type));
}

Status ClientFacing(const Status& status, std::string_view not_found, std::string_view conflict) {
  if (status.code() == StatusCode::kNotFound) {
    return NotFound(not_found.empty() ? status.message() : not_found);
  }
  if (status.code() == StatusCode::kAlreadyExists) {
    return Conflict(conflict.empty() ? status.message() : conflict);
  }
  return status;
}

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return "";
  return std::string(v->get_string().data(), v->get_string().size());
}

bool Has(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && !v->is_null();
}

bool Bool(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

const json::object& Object(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->get_object() : kEmpty;
}

const json::array& Array(const json::object& o, std::string_view key) {
  static const json::array kEmpty;
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->get_array() : kEmpty;
}

json::value Timestamp(int64_t unix_seconds) { return json::value(unix_seconds); }

json::value ParseStored(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::object();
  return v;
}

namespace {
// NextToken = base64url(key) "/" base64url(first 16 bytes of HMAC(scope NUL key)): opaque to
// clients, tamper-evident, bound to the listing it came from, and within both models' Token
// patterns ([-a-zA-Z0-9+=/_]*).
std::string TokenMac(const std::string& key, std::string_view scope, std::string_view after) {
  std::string data(scope);
  data += '\0';
  data += after;
  return crypto::AsBytes(crypto::HmacSha256(key, data)).substr(0, 16);
}
}  // namespace

StatusOr<storage::PageRequest> Env::PageFor(const Call& call, std::string_view scope,
                                            int default_limit) const {
  storage::PageRequest page;
  page.limit = default_limit;
  if (const json::value* m = call.in.if_contains("MaxResults"); m && m->is_int64()) {
    page.limit = static_cast<int>(m->get_int64());
  }
  if (page.limit <= 0) page.limit = default_limit;
  const std::string token = Str(call.in, "NextToken");
  if (token.empty()) return page;
  const size_t dot = token.find('/');
  std::optional<std::string> key, mac;
  if (dot != std::string::npos) {
    key = crypto::Base64UrlDecode(std::string_view(token).substr(0, dot));
    mac = crypto::Base64UrlDecode(std::string_view(token).substr(dot + 1));
  }
  if (!key || !mac || key->empty() ||
      !crypto::ConstantTimeEquals(*mac, TokenMac(page_token_key, scope, *key))) {
    return Validation("Invalid NextToken: it was not issued by this listing");
  }
  page.after = *key;
  return page;
}

std::string Env::TokenFor(std::string_view scope, const std::string& next) const {
  if (next.empty()) return "";
  return crypto::Base64UrlEncode(next) + "/" +
         crypto::Base64UrlEncode(TokenMac(page_token_key, scope, next));
}

std::string Env::IdentityStoreArn() const {
  return "arn:aws:identitystore::" + instance.owner_account_id + ":identitystore/" +
         instance.identity_store_id;
}

std::string Env::RootArn() const { return "arn:aws:iam::" + instance.owner_account_id + ":root"; }

}  // namespace internal

namespace {

struct Service {
  std::shared_ptr<const ServiceModel> model;
  std::map<std::string, Handler, std::less<>> handlers;
  std::string action_prefix;  // IAM action namespace: "sso" / "identitystore"
};

int HttpStatusFor(std::string_view type) {
  if (type == "MissingAuthenticationTokenException" || type == "IncompleteSignatureException" ||
      type == "UnrecognizedClientException" || type == "InvalidSignatureException" ||
      type == "ExpiredTokenException") {
    return 403;
  }
  return 400;  // awsJson services answer 400 for every modeled client error
}

http::Response ErrorResponse(const Status& status, const json::object& extras) {
  http::Response r;
  std::string type(status.error_type());
  std::string message(status.message());
  if (type.empty()) {
    type = "InternalServerException";
    message = "An internal error occurred";
    r.status = 500;
  } else {
    r.status = HttpStatusFor(type);
  }
  json::object body = extras;
  body["__type"] = type;
  body["Message"] = message;
  r.body = json::serialize(body);
  r.SetHeader("Content-Type", "application/x-amz-json-1.1");
  r.SetHeader("x-amzn-ErrorType", type);
  return r;
}

}  // namespace

http::Response AwsJsonError(const Status& status, std::string_view target,
                            std::string_view request_id) {
  json::object extras;
  if (AdminApi::SigningNameFor(target) == "identitystore" && !request_id.empty()) {
    extras["RequestId"] = request_id;
  }
  return ErrorResponse(status, extras);
}

struct AdminApi::Impl {
  Env env;
  Service sso;
  Service identity_store;

  // The resource an operation acts on, for the identity policy's Resource element: the most
  // specific ARN the request names.
  std::string ResourceOf(const Service& service, const json::object& in) const {
    for (const char* key : {"ApplicationArn", "TrustedTokenIssuerArn", "ResourceArn",
                            "PermissionSetArn", "InstanceArn"}) {
      std::string v = internal::Str(in, key);
      if (!v.empty()) return v;
    }
    if (&service == &identity_store) return env.IdentityStoreArn();
    return env.instance.instance_arn;
  }

  // Root of the owner account: everything. Anyone else: their identity policy within their
  // permissions boundary, explicit Deny winning (docs/design/admin-plane.md).
  Status Authorize(const Service& service, std::string_view operation, const AdminCaller& caller,
                   const json::object& in) const {
    if (caller.principal_arn == env.RootArn()) return OkStatus();
    const std::string action = service.action_prefix + ":" + std::string(operation);
    const std::string resource = ResourceOf(service, in);
    const std::string denied = "User: " + caller.principal_arn +
                               " is not authorized to perform: " + action +
                               " on resource: " + resource;
    std::string principal_arn = caller.principal_arn;
    // An assumed-role session is governed by its role's policy.
    constexpr std::string_view kAssumed = ":assumed-role/";
    if (size_t at = principal_arn.find(kAssumed);
        principal_arn.rfind("arn:aws:sts::", 0) == 0 && at != std::string::npos) {
      const std::string rest = principal_arn.substr(at + kAssumed.size());
      const std::string role = rest.substr(0, rest.find('/'));
      principal_arn = "arn:aws:iam::" + caller.account_id + ":role/" + role;
    }
    auto principal = env.storage.credentials->GetPrincipal(principal_arn);
    if (!principal.ok()) {
      if (principal.status().code() == StatusCode::kNotFound) {
        return internal::AccessDenied(denied + " because no identity-based policy allows it");
      }
      return principal.status();
    }
    if (principal->identity_policy_json.empty()) {
      return internal::AccessDenied(denied + " because no identity-based policy allows it");
    }
    auto policy = iam::ParsePolicy(principal->identity_policy_json);
    if (!policy.ok()) {
      return internal::AccessDenied(denied + " because its identity-based policy cannot be read");
    }
    iam::RequestContext ctx;
    ctx.principal_arn = caller.principal_arn;
    ctx.principal_account = caller.account_id;
    ctx.action = action;
    ctx.resource = resource;
    const iam::Decision identity = iam::Evaluate(*policy, ctx);
    // A permissions boundary caps the identity policy: allowed only if both allow, an explicit
    // deny in either wins. A boundary that cannot be read allows nothing.
    iam::Decision boundary = iam::Decision::kAllow;
    if (!principal->permissions_boundary_json.empty()) {
      auto parsed = iam::ParsePolicy(principal->permissions_boundary_json);
      if (!parsed.ok()) {
        return internal::AccessDenied(denied + " because its permissions boundary cannot be read");
      }
      boundary = iam::Evaluate(*parsed, ctx);
    }
    if (identity == iam::Decision::kExplicitDeny) {
      return internal::AccessDenied(denied + " with an explicit deny in an identity-based policy");
    }
    if (boundary == iam::Decision::kExplicitDeny) {
      return internal::AccessDenied(denied + " with an explicit deny in a permissions boundary");
    }
    if (identity != iam::Decision::kAllow) {
      return internal::AccessDenied(denied + " because no identity-based policy allows it");
    }
    if (boundary != iam::Decision::kAllow) {
      return internal::AccessDenied(denied + " because no permissions boundary allows it");
    }
    return OkStatus();
  }
};

AdminApi::AdminApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminApi::~AdminApi() = default;

StatusOr<std::unique_ptr<AdminApi>> AdminApi::Create(AdminStorage storage, ClockPtr clock,
                                                     AdminOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->env.storage = std::move(storage);
  impl->env.clock = std::move(clock);
  impl->env.instance = std::move(options.instance);
  impl->env.page_token_key = std::move(options.page_token_key);
  auto sso = SsoAdminModel();
  if (!sso.ok()) return InternalError("sso-admin model: " + std::string(sso.status().message()));
  auto ids = IdentityStoreModel();
  if (!ids.ok()) {
    return InternalError("identitystore model: " + std::string(ids.status().message()));
  }
  impl->sso = {*sso, internal::SsoAdminHandlers(), "sso"};
  impl->identity_store = {*ids, internal::IdentityStoreHandlers(), "identitystore"};
  return std::unique_ptr<AdminApi>(new AdminApi(std::move(impl)));
}

std::string_view AdminApi::SigningNameFor(std::string_view target) {
  if (target.rfind("SWBExternalService.", 0) == 0) return "sso";
  if (target.rfind("AWSIdentityStore.", 0) == 0) return "identitystore";
  return "";
}

namespace {

// Operations that change nothing: the audit trail records changes only.
bool ReadOnly(std::string_view operation) {
  for (std::string_view prefix : {"Describe", "List", "Get", "Is"}) {
    if (operation.starts_with(prefix)) return true;
  }
  return false;
}

// The members an audit event may copy from a request (docs/design/audit.md): identifiers and
// choices, never a document, attribute, policy, name or secret. An allow-list: a member not
// named here is left out, whatever it is.
constexpr std::string_view kAuditedMembers[] = {
    // identitystore
    "IdentityStoreId", "UserId", "GroupId", "MembershipId",
    // sso-admin
    "InstanceArn", "ApplicationArn", "ApplicationProviderArn", "PermissionSetArn",
    "TrustedTokenIssuerArn", "ResourceArn", "TargetId", "TargetType", "PrincipalType",
    "PrincipalId", "GrantType", "Scope", "Status", "AccountId", "ManagedPolicyArn",
    "TrustedTokenIssuerType", "ProvisionPermissionSetRequestId"};

// "UserId" -> "userId": CloudTrail's requestParameters are camelCase.
std::string CamelCase(std::string_view name) {
  std::string out(name);
  if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

storage::AuditEvent AdminEvent(std::string_view signing_name, std::string_view operation,
                               const json::object& in) {
  storage::AuditEvent e;
  e.event_source = std::string(signing_name) + ".amazonaws.com";
  e.event_name = std::string(operation);
  for (std::string_view member : kAuditedMembers) {
    const json::value* v = in.if_contains(member);
    if (v != nullptr && v->is_string()) {
      e.request_parameters.emplace_back(CamelCase(member), std::string(v->get_string()));
    }
  }
  // MemberId is a union whose one member is UserId.
  if (const json::value* m = in.if_contains("MemberId"); m != nullptr && m->is_object()) {
    if (const json::value* u = m->get_object().if_contains("UserId"); u && u->is_string()) {
      e.request_parameters.emplace_back("memberId.userId", std::string(u->get_string()));
    }
  }
  return e;
}

}  // namespace

namespace internal {
void NoteResponse(std::string_view name, std::string_view value) {
  if (storage::AuditEvent* e = storage::AuditScope::Current(); e != nullptr) {
    e->response_elements.emplace_back(std::string(name), std::string(value));
  }
}
}  // namespace internal

std::vector<std::string> AdminApi::OperationNames(std::string_view signing_name) const {
  const Service& service = signing_name == "sso" ? impl_->sso : impl_->identity_store;
  std::vector<std::string> names;
  for (const auto& [name, handler] : service.handlers) names.push_back(name);
  return names;
}

http::Response AdminApi::Handle(std::string_view target, const AdminCaller& caller,
                                std::string_view body, Status* internal_error) const {
  const Impl& p = *impl_;
  const size_t dot = target.find('.');
  const std::string_view prefix = target.substr(0, dot);
  const std::string_view operation = dot == std::string_view::npos ? "" : target.substr(dot + 1);
  const Service* service = prefix == "SWBExternalService" ? &p.sso
                           : prefix == "AWSIdentityStore" ? &p.identity_store
                                                          : nullptr;
  Handler handler = nullptr;
  if (service != nullptr && service->model->HasOperation(operation)) {
    if (auto it = service->handlers.find(operation); it != service->handlers.end()) {
      handler = it->second;
    }
  }
  if (handler == nullptr) {
    return AwsJsonError(ApiError(StatusCode::kNotFound, "UnknownOperationException",
                                 "Unknown operation " + std::string(target)));
  }
  boost::system::error_code ec;
  json::value input = body.empty() ? json::value(json::object()) : json::parse(body, ec);
  if (ec || !input.is_object()) {
    return AwsJsonError(ApiError(StatusCode::kInvalidArgument, "SerializationException",
                                 "The request body is not a JSON object"));
  }
  Call call{operation, input.get_object(), caller, {}};
  ValidationOptions options;
  options.own_instance_id = p.env.instance.instance_id;
  Status status = service->model->ValidateInput(operation, input, options);
  if (status.ok()) status = p.Authorize(*service, operation, caller, call.in);
  // A change that validated and was authorized carries its event to the store's write; a
  // handler that refuses it before writing leaves no event.
  std::optional<storage::AuditScope> audit;
  if (status.ok() && !ReadOnly(operation)) {
    audit.emplace(AdminEvent(service->action_prefix, operation, call.in));
  }
  StatusOr<json::object> out =
      status.ok() ? handler(p.env, call) : StatusOr<json::object>(std::move(status));
  if (!out.ok()) {
    if (out.status().error_type().empty() && internal_error != nullptr) {
      *internal_error = out.status();
    }
    // identitystore's error shapes model RequestId.
    if (service == &p.identity_store && !caller.request_id.empty()) {
      call.error_extras["RequestId"] = caller.request_id;
    }
    return ErrorResponse(out.status(), call.error_extras);
  }
  http::Response r;
  r.status = 200;
  r.body = json::serialize(*out);
  r.SetHeader("Content-Type", "application/x-amz-json-1.1");
  return r;
}

}  // namespace ts::admin
