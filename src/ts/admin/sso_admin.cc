// The sso-admin operations (docs/protocol.md §6.2): instances, applications with their grants,
// authentication methods, access scopes, assignment configuration and assignments, trusted
// token issuers and tags. Permission sets and account assignments are in permission_sets.cc
// and account_assignments.cc. Input has been validated against the model before a handler runs.
#include <algorithm>

#include "ts/admin/handlers.h"
#include "ts/admin/rules.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"

namespace ts::admin::internal {

Status CheckInstance(const Env& env, const Call& call) {
  const std::string arn = Str(call.in, "InstanceArn");
  if (!arn.empty() && arn != env.instance.instance_arn) {
    return NotFound("Instance " + arn + " does not exist");
  }
  return OkStatus();
}

StatusOr<std::map<std::string, std::string>> TagsOf(const json::object& in) {
  std::map<std::string, std::string> tags;
  if (const json::value* list = in.if_contains("Tags"); list && list->is_array()) {
    for (const json::value& t : list->get_array()) {
      if (!t.is_object()) continue;
      const std::string key = Str(t.get_object(), "Key");
      if (!tags.emplace(key, Str(t.get_object(), "Value")).second) {
        return Validation("Tags: duplicate tag key '" + key + "'");
      }
    }
  }
  return tags;
}

Status CheckPrincipal(const Env& env, const std::string& type, const std::string& id) {
  Status status = type == "USER" ? env.storage.directory->GetUser(id).status()
                                 : env.storage.directory->GetGroup(id).status();
  return ClientFacing(status, (type == "USER" ? "User " : "Group ") + id + " does not exist");
}

namespace {

StatusOr<storage::Application> LoadApp(const Env& env, const Call& call) {
  const std::string arn = Str(call.in, "ApplicationArn");
  auto app = env.storage.applications->GetApplication(arn);
  if (!app.ok()) return ClientFacing(app.status(), "Application " + arn + " does not exist");
  return app;
}

// ClientToken idempotency (the model's idempotencyToken): the first call's request digest and
// response are kept under the token; a retry with the same parameters gets the same response,
// with different parameters a ConflictException (AWS: IdempotentParameterMismatch, not modeled
// for these operations).
struct Idempotency {
  std::string meta_key;
  std::string digest;
};

StatusOr<std::optional<json::object>> Replay(const Env& env, const Call& call, Idempotency& idem) {
  const std::string token = Str(call.in, "ClientToken");
  if (token.empty()) return std::optional<json::object>();
  json::object rest = call.in;
  rest.erase("ClientToken");
  idem.meta_key = "admin-client-token:" + std::string(call.operation) + ":" +
                  call.caller.principal_arn + ":" + token;
  idem.digest = crypto::HexEncode(crypto::AsBytes(crypto::Sha256(json::serialize(rest))));
  auto stored = env.storage.instance->GetMeta(idem.meta_key);
  if (!stored.ok()) {
    if (stored.status().code() == StatusCode::kNotFound) return std::optional<json::object>();
    return stored.status();
  }
  const size_t nl = stored->find('\n');
  if (nl == std::string::npos || stored->substr(0, nl) != idem.digest) {
    return Conflict("ClientToken " + token + " was already used with different parameters");
  }
  json::value v = ParseStored(stored->substr(nl + 1));
  if (!v.is_object()) return InternalError("stored idempotent response is not an object");
  return std::optional<json::object>(v.get_object());
}

Status Remember(const Env& env, const Idempotency& idem, const json::object& response) {
  if (idem.meta_key.empty()) return OkStatus();
  return env.storage.instance->PutMeta(idem.meta_key,
                                       idem.digest + "\n" + json::serialize(response));
}

std::string RandomHex(size_t bytes) { return crypto::HexEncode(crypto::RandomBytes(bytes)); }

// --- instances ---

json::object InstanceMetadata(const Env& env) {
  const storage::Instance& i = env.instance;
  return {{"InstanceArn", i.instance_arn},          {"IdentityStoreId", i.identity_store_id},
          {"OwnerAccountId", i.owner_account_id},   {"Name", i.name},
          {"CreatedDate", Timestamp(i.created_at)}, {"Status", "ACTIVE"}};
}

StatusOr<json::object> DescribeInstance(const Env& env, Call& call) {
  if (Str(call.in, "InstanceArn") != env.instance.instance_arn) {
    return NotFound("Instance " + Str(call.in, "InstanceArn") + " does not exist");
  }
  return InstanceMetadata(env);
}

StatusOr<json::object> ListInstances(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PageRequest page, env.PageFor(call, "ListInstances"));
  json::array list;
  if (page.after.empty()) list.push_back(InstanceMetadata(env));
  return json::object{{"Instances", std::move(list)}};
}

// --- applications ---

json::object ApplicationJson(const Env& env, const storage::Application& a) {
  json::object o{{"ApplicationArn", a.application_arn},
                 {"ApplicationProviderArn", a.application_provider_arn},
                 {"Name", a.name},
                 {"ApplicationAccount", env.instance.owner_account_id},
                 {"InstanceArn", a.instance_arn},
                 {"IdentityStoreArn", env.IdentityStoreArn()},
                 {"Status", a.status},
                 {"CreatedDate", Timestamp(a.created_at)},
                 {"CreatedFrom", env.instance.region}};
  if (!a.description.empty()) o["Description"] = a.description;
  if (!a.portal_options_json.empty()) o["PortalOptions"] = ParseStored(a.portal_options_json);
  return o;
}

StatusOr<json::object> CreateApplication(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  Idempotency idem;
  TS_ASSIGN_OR_RETURN(std::optional<json::object> replay, Replay(env, call, idem));
  if (replay) return *replay;
  TS_RETURN_IF_ERROR(
      CheckApplicationProvider(Str(call.in, "ApplicationProviderArn"), "ApplicationProviderArn"));
  TS_ASSIGN_OR_RETURN(auto tags, TagsOf(call.in));
  const std::string name = Str(call.in, "Name");
  TS_ASSIGN_OR_RETURN(std::vector<storage::Application> apps,
                      env.storage.applications->ListApplications());
  for (const auto& a : apps) {
    if (a.name == name) return Conflict("An application named '" + name + "' already exists");
  }
  storage::Application app;
  app.application_arn = "arn:aws:sso::" + env.instance.owner_account_id + ":application/" +
                        env.instance.instance_id + "/apl-" + RandomHex(8);
  app.instance_arn = env.instance.instance_arn;
  app.application_provider_arn = std::string(kCustomApplicationProvider);
  app.name = name;
  app.description = Str(call.in, "Description");
  app.status = Has(call.in, "Status") ? Str(call.in, "Status") : "ENABLED";
  app.assignment_required = true;
  if (Has(call.in, "PortalOptions")) {
    app.portal_options_json = json::serialize(call.in.at("PortalOptions"));
  }
  app.created_at = env.clock->NowUnixSeconds();
  NoteResponse("applicationArn", app.application_arn);
  TS_RETURN_IF_ERROR(env.storage.applications->PutApplication(app));
  if (!tags.empty()) {
    TS_RETURN_IF_ERROR(env.storage.applications->TagResource(app.application_arn, tags));
  }
  json::object out{{"ApplicationArn", app.application_arn}};
  TS_RETURN_IF_ERROR(Remember(env, idem, out));
  return out;
}

StatusOr<json::object> DescribeApplication(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  return ApplicationJson(env, app);
}

StatusOr<json::object> ListApplications(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  TS_ASSIGN_OR_RETURN(storage::PageRequest page, env.PageFor(call, "ListApplications"));
  TS_ASSIGN_OR_RETURN(storage::Page<storage::Application> apps,
                      env.storage.applications->ListApplicationsPage(page));
  std::string account, provider;
  if (const json::value* f = call.in.if_contains("Filter"); f && f->is_object()) {
    account = Str(f->get_object(), "ApplicationAccount");
    provider = Str(f->get_object(), "ApplicationProvider");
  }
  json::array list;
  for (const auto& a : apps.items) {
    if (!account.empty() && account != env.instance.owner_account_id) continue;
    if (!provider.empty() && provider != a.application_provider_arn) continue;
    list.push_back(ApplicationJson(env, a));
  }
  json::object out{{"Applications", std::move(list)}};
  if (!apps.next.empty()) out["NextToken"] = env.TokenFor("ListApplications", apps.next);
  return out;
}

StatusOr<json::object> UpdateApplication(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  if (Has(call.in, "Name")) {
    const std::string name = Str(call.in, "Name");
    TS_ASSIGN_OR_RETURN(std::vector<storage::Application> apps,
                        env.storage.applications->ListApplications());
    for (const auto& a : apps) {
      if (a.name == name && a.application_arn != app.application_arn) {
        return Conflict("An application named '" + name + "' already exists");
      }
    }
    app.name = name;
  }
  if (Has(call.in, "Description")) app.description = Str(call.in, "Description");
  if (Has(call.in, "Status")) app.status = Str(call.in, "Status");
  if (const json::value* po = call.in.if_contains("PortalOptions"); po && po->is_object()) {
    // UpdateApplicationPortalOptions carries SignInOptions only; Visibility is kept.
    json::value current =
        ParseStored(app.portal_options_json.empty() ? "{}" : app.portal_options_json);
    if (!current.is_object()) current = json::object();
    if (const json::value* sio = po->get_object().if_contains("SignInOptions")) {
      current.get_object()["SignInOptions"] = *sio;
    }
    app.portal_options_json = json::serialize(current);
  }
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.applications->UpdateApplication(app)));
  return json::object();
}

StatusOr<json::object> DeleteApplication(const Env& env, Call& call) {
  const std::string arn = Str(call.in, "ApplicationArn");
  TS_RETURN_IF_ERROR(
      ClientFacing(env.storage.applications->DeleteApplication(arn, env.clock->NowUnixSeconds()),
                   "Application " + arn + " does not exist"));
  return json::object();
}

// --- grants ---

json::object GrantJson(std::string_view grant_type, const std::string& stored) {
  return json::object{{GrantMemberFor(grant_type), ParseStored(stored)}};
}

StatusOr<json::object> PutApplicationGrant(const Env& env, Call& call) {
  const std::string grant_type = Str(call.in, "GrantType");
  const std::string_view member = GrantMemberFor(grant_type);
  const json::object& grant = Object(call.in, "Grant");
  TS_RETURN_IF_ERROR(CheckGrant(grant_type, grant, "Grant"));
  const json::value* value = grant.if_contains(member);
  if (member == "JwtBearer" && value->is_object()) {
    if (const json::value* issuers = value->get_object().if_contains("AuthorizedTokenIssuers");
        issuers && issuers->is_array()) {
      for (const json::value& i : issuers->get_array()) {
        if (!i.is_object()) continue;
        const std::string arn = Str(i.get_object(), "TrustedTokenIssuerArn");
        auto tti = env.storage.applications->GetTrustedTokenIssuer(arn);
        if (!tti.ok()) {
          return ClientFacing(tti.status(), "Trusted token issuer " + arn + " does not exist");
        }
      }
    }
  }
  TS_RETURN_IF_ERROR(
      ClientFacing(env.storage.applications->PutApplicationGrant(
                       Str(call.in, "ApplicationArn"), grant_type, json::serialize(*value)),
                   "Application " + Str(call.in, "ApplicationArn") + " does not exist"));
  return json::object();
}

StatusOr<json::object> GetApplicationGrant(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  const std::string grant_type = Str(call.in, "GrantType");
  auto it = app.grants.find(grant_type);
  if (it == app.grants.end()) {
    return NotFound("Application " + app.application_arn + " has no " + grant_type + " grant");
  }
  return json::object{{"Grant", GrantJson(grant_type, it->second)}};
}

StatusOr<json::object> ListApplicationGrants(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  std::vector<std::pair<std::string, std::string>> all(app.grants.begin(), app.grants.end());
  TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, "ListApplicationGrants:" + app.application_arn,
                                            all, [](const auto& g) { return g.first; }));
  json::array list;
  for (const auto& [type, stored] : page.items) {
    list.push_back(json::object{{"GrantType", type}, {"Grant", GrantJson(type, stored)}});
  }
  json::object out{{"Grants", std::move(list)}};
  if (!page.next.empty()) {
    out["NextToken"] = env.TokenFor("ListApplicationGrants:" + app.application_arn, page.next);
  }
  return out;
}

StatusOr<json::object> DeleteApplicationGrant(const Env& env, Call& call) {
  const std::string arn = Str(call.in, "ApplicationArn");
  TS_RETURN_IF_ERROR(ClientFacing(
      env.storage.applications->DeleteApplicationGrant(arn, Str(call.in, "GrantType"))));
  return json::object();
}

// --- authentication methods (IAM only: the model's enum) ---

json::object AuthMethodJson(const std::string& policy) {
  return json::object{{"Iam", json::object{{"ActorPolicy", ParseStored(policy)}}}};
}

StatusOr<json::object> PutApplicationAuthenticationMethod(const Env& env, Call& call) {
  const json::object& method = Object(call.in, "AuthenticationMethod");
  TS_RETURN_IF_ERROR(CheckAuthenticationMethod(method, "AuthenticationMethod"));
  // CheckAuthenticationMethod found Iam.ActorPolicy.
  const std::string policy_json = json::serialize(Object(method, "Iam").at("ActorPolicy"));
  const std::string arn = Str(call.in, "ApplicationArn");
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.applications->SetActorPolicy(arn, policy_json),
                                  "Application " + arn + " does not exist"));
  return json::object();
}

StatusOr<json::object> GetApplicationAuthenticationMethod(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  if (app.actor_policy_json.empty()) {
    return NotFound("Application " + app.application_arn + " has no IAM authentication method");
  }
  return json::object{{"AuthenticationMethod", AuthMethodJson(app.actor_policy_json)}};
}

StatusOr<json::object> ListApplicationAuthenticationMethods(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  TS_RETURN_IF_ERROR(
      env.PageFor(call, "ListApplicationAuthenticationMethods:" + app.application_arn).status());
  json::array list;
  if (!app.actor_policy_json.empty() && !Has(call.in, "NextToken")) {
    list.push_back(json::object{{"AuthenticationMethodType", "IAM"},
                                {"AuthenticationMethod", AuthMethodJson(app.actor_policy_json)}});
  }
  return json::object{{"AuthenticationMethods", std::move(list)}};
}

StatusOr<json::object> DeleteApplicationAuthenticationMethod(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  if (app.actor_policy_json.empty()) {
    return NotFound("Application " + app.application_arn + " has no IAM authentication method");
  }
  TS_RETURN_IF_ERROR(
      ClientFacing(env.storage.applications->SetActorPolicy(app.application_arn, "")));
  return json::object();
}

// --- access scopes ---

json::object ScopeJson(const std::string& scope, const std::vector<std::string>& targets) {
  json::array t;
  for (const auto& target : targets) t.push_back(json::value(target));
  return json::object{{"Scope", scope}, {"AuthorizedTargets", std::move(t)}};
}

StatusOr<json::object> PutApplicationAccessScope(const Env& env, Call& call) {
  std::vector<std::string> targets;
  if (const json::value* t = call.in.if_contains("AuthorizedTargets"); t && t->is_array()) {
    for (const json::value& v : t->get_array()) {
      if (v.is_string()) targets.emplace_back(v.get_string().data(), v.get_string().size());
    }
  }
  const std::string arn = Str(call.in, "ApplicationArn");
  TS_RETURN_IF_ERROR(ClientFacing(
      env.storage.applications->PutApplicationAccessScope(arn, Str(call.in, "Scope"), targets),
      "Application " + arn + " does not exist"));
  return json::object();
}

StatusOr<json::object> GetApplicationAccessScope(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  const std::string scope = Str(call.in, "Scope");
  auto it = app.access_scopes.find(scope);
  if (it == app.access_scopes.end()) {
    return NotFound("Application " + app.application_arn + " has no access scope " + scope);
  }
  return ScopeJson(it->first, it->second);
}

StatusOr<json::object> ListApplicationAccessScopes(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  std::vector<std::pair<std::string, std::vector<std::string>>> all(app.access_scopes.begin(),
                                                                    app.access_scopes.end());
  const std::string scope = "ListApplicationAccessScopes:" + app.application_arn;
  TS_ASSIGN_OR_RETURN(auto page,
                      env.PageOf(call, scope, all, [](const auto& s) { return s.first; }));
  json::array list;
  for (const auto& [name, targets] : page.items) list.push_back(ScopeJson(name, targets));
  json::object out{{"Scopes", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

StatusOr<json::object> DeleteApplicationAccessScope(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.applications->DeleteApplicationAccessScope(
      Str(call.in, "ApplicationArn"), Str(call.in, "Scope"))));
  return json::object();
}

// --- assignment configuration and assignments ---

StatusOr<json::object> PutApplicationAssignmentConfiguration(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  app.assignment_required = Bool(call.in, "AssignmentRequired");
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.applications->UpdateApplication(app)));
  return json::object();
}

StatusOr<json::object> GetApplicationAssignmentConfiguration(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  return json::object{{"AssignmentRequired", app.assignment_required}};
}

StatusOr<std::optional<storage::Assignment>> FindAssignment(const Env& env,
                                                            const std::string& app_arn,
                                                            const std::string& principal_id) {
  storage::PageRequest page{"", 1000};
  while (true) {
    TS_ASSIGN_OR_RETURN(auto got, env.storage.applications->ListAssignments(app_arn, page));
    for (const auto& a : got.items) {
      if (a.principal_id == principal_id) return std::optional<storage::Assignment>(a);
    }
    if (got.next.empty()) return std::optional<storage::Assignment>();
    page.after = got.next;
  }
}

StatusOr<json::object> CreateApplicationAssignment(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  const std::string type = Str(call.in, "PrincipalType");
  const std::string id = Str(call.in, "PrincipalId");
  TS_RETURN_IF_ERROR(CheckPrincipal(env, type, id));
  TS_RETURN_IF_ERROR(
      ClientFacing(env.storage.applications->PutAssignment(app.application_arn, id, type)));
  return json::object();
}

StatusOr<json::object> DescribeApplicationAssignment(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  const std::string id = Str(call.in, "PrincipalId");
  TS_ASSIGN_OR_RETURN(auto found, FindAssignment(env, app.application_arn, id));
  if (!found || found->principal_type != Str(call.in, "PrincipalType")) {
    return NotFound("Principal " + id + " is not assigned to " + app.application_arn);
  }
  return json::object{{"ApplicationArn", app.application_arn},
                      {"PrincipalId", id},
                      {"PrincipalType", found->principal_type}};
}

StatusOr<json::object> DeleteApplicationAssignment(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  const std::string id = Str(call.in, "PrincipalId");
  TS_ASSIGN_OR_RETURN(auto found, FindAssignment(env, app.application_arn, id));
  if (!found || found->principal_type != Str(call.in, "PrincipalType")) {
    return NotFound("Principal " + id + " is not assigned to " + app.application_arn);
  }
  TS_RETURN_IF_ERROR(
      ClientFacing(env.storage.applications->DeleteAssignment(app.application_arn, id)));
  return json::object();
}

StatusOr<json::object> ListApplicationAssignments(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::Application app, LoadApp(env, call));
  const std::string scope = "ListApplicationAssignments:" + app.application_arn;
  TS_ASSIGN_OR_RETURN(storage::PageRequest page, env.PageFor(call, scope));
  TS_ASSIGN_OR_RETURN(auto got,
                      env.storage.applications->ListAssignments(app.application_arn, page));
  json::array list;
  for (const auto& a : got.items) {
    list.push_back(json::object{{"ApplicationArn", a.application_arn},
                                {"PrincipalId", a.principal_id},
                                {"PrincipalType", a.principal_type}});
  }
  json::object out{{"ApplicationAssignments", std::move(list)}};
  if (!got.next.empty()) out["NextToken"] = env.TokenFor(scope, got.next);
  return out;
}

// --- trusted token issuers ---

json::object IssuerConfigJson(const storage::TrustedTokenIssuer& t) {
  return json::object{{"OidcJwtConfiguration",
                       json::object{{"IssuerUrl", t.issuer_url},
                                    {"ClaimAttributePath", t.claim_attribute_path},
                                    {"IdentityStoreAttributePath", t.identity_store_attribute_path},
                                    {"JwksRetrievalOption", t.jwks_retrieval_option}}}};
}

StatusOr<storage::TrustedTokenIssuer> LoadIssuer(const Env& env, const Call& call) {
  const std::string arn = Str(call.in, "TrustedTokenIssuerArn");
  auto t = env.storage.applications->GetTrustedTokenIssuer(arn);
  if (!t.ok()) return ClientFacing(t.status(), "Trusted token issuer " + arn + " does not exist");
  return t;
}

Status CheckIssuerUnique(const Env& env, const storage::TrustedTokenIssuer& t) {
  TS_ASSIGN_OR_RETURN(auto all, env.storage.applications->ListTrustedTokenIssuers());
  for (const auto& other : all) {
    if (other.arn == t.arn) continue;
    if (other.name == t.name) {
      return Conflict("A trusted token issuer named '" + t.name + "' already exists");
    }
    if (other.issuer_url == t.issuer_url) {
      return Conflict("A trusted token issuer with IssuerUrl " + t.issuer_url + " already exists");
    }
  }
  return OkStatus();
}

StatusOr<json::object> CreateTrustedTokenIssuer(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  Idempotency idem;
  TS_ASSIGN_OR_RETURN(std::optional<json::object> replay, Replay(env, call, idem));
  if (replay) return *replay;
  TS_ASSIGN_OR_RETURN(auto tags, TagsOf(call.in));
  const json::object& config = Object(call.in, "TrustedTokenIssuerConfiguration");
  const json::value* oidc = config.if_contains("OidcJwtConfiguration");
  if (oidc == nullptr || !oidc->is_object()) {
    return Validation("TrustedTokenIssuerConfiguration: type OIDC_JWT needs OidcJwtConfiguration");
  }
  storage::TrustedTokenIssuer t;
  t.arn = "arn:aws:sso::" + env.instance.owner_account_id + ":trustedTokenIssuer/" +
          env.instance.instance_id + "/tti-" + crypto::RandomUuid();
  t.instance_arn = env.instance.instance_arn;
  t.name = Str(call.in, "Name");
  t.type = Str(call.in, "TrustedTokenIssuerType");
  t.issuer_url = Str(oidc->get_object(), "IssuerUrl");
  t.claim_attribute_path = Str(oidc->get_object(), "ClaimAttributePath");
  t.identity_store_attribute_path = Str(oidc->get_object(), "IdentityStoreAttributePath");
  t.jwks_retrieval_option = Str(oidc->get_object(), "JwksRetrievalOption");
  t.created_at = env.clock->NowUnixSeconds();
  NoteResponse("trustedTokenIssuerArn", t.arn);
  TS_RETURN_IF_ERROR(CheckIssuerUnique(env, t));
  TS_RETURN_IF_ERROR(env.storage.applications->PutTrustedTokenIssuer(t));
  if (!tags.empty()) TS_RETURN_IF_ERROR(env.storage.applications->TagResource(t.arn, tags));
  json::object out{{"TrustedTokenIssuerArn", t.arn}};
  TS_RETURN_IF_ERROR(Remember(env, idem, out));
  return out;
}

StatusOr<json::object> DescribeTrustedTokenIssuer(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::TrustedTokenIssuer t, LoadIssuer(env, call));
  return json::object{{"TrustedTokenIssuerArn", t.arn},
                      {"Name", t.name},
                      {"TrustedTokenIssuerType", t.type},
                      {"TrustedTokenIssuerConfiguration", IssuerConfigJson(t)}};
}

StatusOr<json::object> UpdateTrustedTokenIssuer(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::TrustedTokenIssuer t, LoadIssuer(env, call));
  if (Has(call.in, "Name")) t.name = Str(call.in, "Name");
  if (const json::value* c = call.in.if_contains("TrustedTokenIssuerConfiguration");
      c && c->is_object()) {
    const json::value* oidc = c->get_object().if_contains("OidcJwtConfiguration");
    if (oidc != nullptr && oidc->is_object()) {
      const json::object& o = oidc->get_object();
      if (Has(o, "ClaimAttributePath")) t.claim_attribute_path = Str(o, "ClaimAttributePath");
      if (Has(o, "IdentityStoreAttributePath")) {
        t.identity_store_attribute_path = Str(o, "IdentityStoreAttributePath");
      }
      if (Has(o, "JwksRetrievalOption")) t.jwks_retrieval_option = Str(o, "JwksRetrievalOption");
    }
  }
  TS_RETURN_IF_ERROR(CheckIssuerUnique(env, t));
  TS_RETURN_IF_ERROR(env.storage.applications->PutTrustedTokenIssuer(t));
  return json::object();
}

StatusOr<json::object> ListTrustedTokenIssuers(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  TS_ASSIGN_OR_RETURN(auto all, env.storage.applications->ListTrustedTokenIssuers());
  TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, "ListTrustedTokenIssuers", all,
                                            [](const auto& t) { return t.arn; }));
  json::array list;
  for (const auto& t : page.items) {
    list.push_back(json::object{
        {"TrustedTokenIssuerArn", t.arn}, {"Name", t.name}, {"TrustedTokenIssuerType", t.type}});
  }
  json::object out{{"TrustedTokenIssuers", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListTrustedTokenIssuers", page.next);
  return out;
}

StatusOr<json::object> DeleteTrustedTokenIssuer(const Env& env, Call& call) {
  const std::string arn = Str(call.in, "TrustedTokenIssuerArn");
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.applications->DeleteTrustedTokenIssuer(arn),
                                  "Trusted token issuer " + arn + " does not exist"));
  return json::object();
}

// --- tags ---

Status CheckTaggable(const Env& env, const Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string arn = Str(call.in, "ResourceArn");
  if (arn == env.instance.instance_arn) return OkStatus();
  Status status = arn.find(":application/") != std::string::npos
                      ? env.storage.applications->GetApplication(arn).status()
                  : arn.find(":trustedTokenIssuer/") != std::string::npos
                      ? env.storage.applications->GetTrustedTokenIssuer(arn).status()
                  : arn.find(":permissionSet/") != std::string::npos
                      ? env.storage.accounts->GetPermissionSet(arn).status()
                      : NotFoundError("no such resource");
  return ClientFacing(status, "Resource " + arn + " does not exist");
}

StatusOr<json::object> TagResource(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckTaggable(env, call));
  TS_ASSIGN_OR_RETURN(auto tags, TagsOf(call.in));
  TS_RETURN_IF_ERROR(env.storage.applications->TagResource(Str(call.in, "ResourceArn"), tags));
  return json::object();
}

StatusOr<json::object> UntagResource(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckTaggable(env, call));
  std::vector<std::string> keys;
  for (const json::value& k : Array(call.in, "TagKeys")) {
    if (k.is_string()) keys.emplace_back(k.get_string().data(), k.get_string().size());
  }
  TS_RETURN_IF_ERROR(env.storage.applications->UntagResource(Str(call.in, "ResourceArn"), keys));
  return json::object();
}

StatusOr<json::object> ListTagsForResource(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckTaggable(env, call));
  const std::string arn = Str(call.in, "ResourceArn");
  TS_ASSIGN_OR_RETURN(auto tags, env.storage.applications->ListTags(arn));
  std::vector<std::pair<std::string, std::string>> all(tags.begin(), tags.end());
  TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, "ListTagsForResource:" + arn, all,
                                            [](const auto& t) { return t.first; }));
  json::array list;
  for (const auto& [k, v] : page.items) list.push_back(json::object{{"Key", k}, {"Value", v}});
  json::object out{{"Tags", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListTagsForResource:" + arn, page.next);
  return out;
}

}  // namespace

std::map<std::string, Handler, std::less<>> SsoAdminHandlers() {
  std::map<std::string, Handler, std::less<>> handlers = {
      {"DescribeInstance", &DescribeInstance},
      {"ListInstances", &ListInstances},
      {"CreateApplication", &CreateApplication},
      {"DescribeApplication", &DescribeApplication},
      {"ListApplications", &ListApplications},
      {"UpdateApplication", &UpdateApplication},
      {"DeleteApplication", &DeleteApplication},
      {"PutApplicationGrant", &PutApplicationGrant},
      {"GetApplicationGrant", &GetApplicationGrant},
      {"ListApplicationGrants", &ListApplicationGrants},
      {"DeleteApplicationGrant", &DeleteApplicationGrant},
      {"PutApplicationAuthenticationMethod", &PutApplicationAuthenticationMethod},
      {"GetApplicationAuthenticationMethod", &GetApplicationAuthenticationMethod},
      {"ListApplicationAuthenticationMethods", &ListApplicationAuthenticationMethods},
      {"DeleteApplicationAuthenticationMethod", &DeleteApplicationAuthenticationMethod},
      {"PutApplicationAccessScope", &PutApplicationAccessScope},
      {"GetApplicationAccessScope", &GetApplicationAccessScope},
      {"ListApplicationAccessScopes", &ListApplicationAccessScopes},
      {"DeleteApplicationAccessScope", &DeleteApplicationAccessScope},
      {"PutApplicationAssignmentConfiguration", &PutApplicationAssignmentConfiguration},
      {"GetApplicationAssignmentConfiguration", &GetApplicationAssignmentConfiguration},
      {"CreateApplicationAssignment", &CreateApplicationAssignment},
      {"DescribeApplicationAssignment", &DescribeApplicationAssignment},
      {"DeleteApplicationAssignment", &DeleteApplicationAssignment},
      {"ListApplicationAssignments", &ListApplicationAssignments},
      {"CreateTrustedTokenIssuer", &CreateTrustedTokenIssuer},
      {"DescribeTrustedTokenIssuer", &DescribeTrustedTokenIssuer},
      {"UpdateTrustedTokenIssuer", &UpdateTrustedTokenIssuer},
      {"ListTrustedTokenIssuers", &ListTrustedTokenIssuers},
      {"DeleteTrustedTokenIssuer", &DeleteTrustedTokenIssuer},
      {"TagResource", &TagResource},
      {"UntagResource", &UntagResource},
      {"ListTagsForResource", &ListTagsForResource},
  };
  handlers.merge(PermissionSetHandlers());
  handlers.merge(AccountAssignmentHandlers());
  return handlers;
}

}  // namespace ts::admin::internal
