#include "ts/server/bootstrap_plan.h"

#include <algorithm>
#include <boost/json.hpp>
#include <regex>

#include "ts/admin/rules.h"
#include "ts/admin/service_model.h"
#include "ts/common/ascii.h"
#include "ts/common/status_macros.h"
#include "ts/iam/policy.h"
#include "ts/portal/role_credentials.h"
#include "ts/server/credentials.h"

namespace ts::server::internal {

Status DocumentError(const std::string& where, const std::string& what) {
  return InvalidArgumentError("bootstrap: " + where + ": " + what);
}

std::string MemberPath(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}

std::string ElementPath(const std::string& where, size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

namespace {

namespace json = boost::json;

// A status whose message names the member already (the models' and the admin rules').
Status Named(const Status& status) {
  if (status.ok()) return status;
  return InvalidArgumentError("bootstrap: " + std::string(status.message()));
}

StatusOr<const json::object*> Obj(const json::value& v, const std::string& where) {
  if (!v.is_object()) return DocumentError(where, "must be an object");
  return &v.as_object();
}

// The string at `key` ("" when absent or null).
StatusOr<std::string> Str(const json::object& o, std::string_view key, const std::string& where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return DocumentError(MemberPath(where, key), "must be a string");
  return std::string(v->as_string());
}

// The list at `key` (empty when absent or null).
StatusOr<const json::array*> Arr(const json::object& o, std::string_view key,
                                 const std::string& where) {
  static const json::array kEmpty;
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return &kEmpty;
  if (!v->is_array()) return DocumentError(MemberPath(where, key), "must be a list");
  return &v->as_array();
}

bool Has(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && !v->is_null();
}

// A level of the file that no model describes: only these members (a typo is an error).
Status OnlyMembers(const json::object& o, const std::string& where,
                   std::initializer_list<std::string_view> known) {
  for (const auto& kv : o) {
    if (std::find(known.begin(), known.end(), kv.key()) != known.end()) continue;
    std::string names;
    for (std::string_view k : known) names += (names.empty() ? "" : ", ") + std::string(k);
    return DocumentError(MemberPath(where, kv.key()),
                         "unknown member (expected one of " + names + ")");
  }
  return OkStatus();
}

json::object Without(const json::object& o, std::initializer_list<std::string_view> keys) {
  json::object out = o;
  for (std::string_view k : keys) out.erase(k);
  return out;
}

// The demo keeps the AWS documentation's identifiers (ssoins-111111111111, apl-222222222222 in
// account 123456789012), shorter than the models' patterns allow: on that instance identifiers
// are checked by their structure only (docs/design/admin-plane.md).
bool IsDemoInstance(const std::string& instance_arn) { return instance_arn == kDemoInstanceArn; }

// Validation with the admin API's rules: the service models (and rules.h, by the callers).
struct Checker {
  std::shared_ptr<const admin::ServiceModel> sso;
  std::shared_ptr<const admin::ServiceModel> ids;
  bool demo = false;

  admin::ValidationOptions Options(const std::string& root,
                                   std::vector<std::string> omit = {}) const {
    admin::ValidationOptions o;
    o.root = root;
    o.reject_unknown = true;
    o.omit = std::move(omit);
    if (demo) {
      o.skip_patterns = {"InstanceArn", "ApplicationArn", "TrustedTokenIssuerArn", "ScopeTarget"};
    }
    return o;
  }
  // `entry` (a file entry) as the input of `operation`, `omit` being what the file implies.
  Status Input(const admin::ServiceModel& model, std::string_view operation,
               const json::object& entry, const std::string& root,
               std::vector<std::string> omit = {}) const {
    return Named(model.ValidateInput(operation, entry, Options(root, std::move(omit))));
  }
  Status Shape(const admin::ServiceModel& model, std::string_view shape, const json::value& v,
               const std::string& root) const {
    return Named(model.ValidateShape(shape, v, Options(root)));
  }
};

// Whether every character of `s` is one the models' identifier patterns allow after a prefix
// such as apl- or tti- ([a-zA-Z0-9-.]: letters, digits, '-' and '.'), and `s` is not empty.
bool IsIdentifierTail(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  });
}

// `arn` is one CreateApplication / CreateTrustedTokenIssuer would make in `instance`:
// arn:aws:sso::<owner account>:<kind>/<instance id>/<prefix><id> (any account on the demo
// instance, whose documentation examples use two). On the demo instance this is all that checks
// the ARN (the models' patterns want longer ids), so it also checks the characters.
Status CheckInInstance(const std::string& arn, std::string_view kind, std::string_view prefix,
                       const storage::Instance& instance, const std::string& where) {
  // arn : partition : sso : (no region) : account : resource
  std::vector<std::string> fields;
  size_t start = 0;
  while (fields.size() < 5) {
    const size_t colon = arn.find(':', start);
    if (colon == std::string::npos) break;
    fields.push_back(arn.substr(start, colon - start));
    start = colon + 1;
  }
  const std::string resource = fields.size() == 5 ? arn.substr(start) : "";
  const std::string expected =
      std::string(kind) + "/" + instance.instance_id + "/" + std::string(prefix);
  const bool account_ok = fields.size() == 5 && (IsDemoInstance(instance.instance_arn)
                                                     ? ValidateAccountId(fields[4]).ok()
                                                     : fields[4] == instance.owner_account_id);
  if (!account_ok || fields[0] != "arn" || !fields[1].starts_with("aws") || !fields[3].empty() ||
      fields[2] != "sso" || !resource.starts_with(expected) ||
      !IsIdentifierTail(std::string_view(resource).substr(expected.size()))) {
    return DocumentError(where, "'" + arn + "' is not in this instance: expected arn:aws:sso::" +
                                    instance.owner_account_id + ":" + expected + "...");
  }
  return OkStatus();
}

// An AccessScopes entry's AuthorizedTargets element on the demo instance, where the model's
// ScopeTarget pattern is skipped (its documentation ARNs are shorter than the pattern allows):
// the pattern's form, any id length. The store keeps targets as a space-separated list, so one
// it could not keep must be refused here, before the document's first write.
Status CheckDemoScopeTarget(const std::string& target, const std::string& where) {
  static const std::regex* form = new std::regex(
      R"(arn:aws(-[a-z]{1,5}){0,3}:sso::(\d{12}:application/(sso)?ins-[a-zA-Z0-9-.]+/)"
      R"(apl-[a-zA-Z0-9]+|:instance/(sso)?ins-[a-zA-Z0-9-.]+))");
  if (std::regex_match(target, *form)) return OkStatus();
  return DocumentError(where, "'" + target +
                                  "' is not an application or instance ARN (arn:aws:sso::<account>"
                                  ":application/<instance id>/apl-<id> or "
                                  "arn:aws:sso:::instance/<instance id>)");
}

Status ParseInstance(const json::value& v, const Checker& check, const BootstrapContext& ctx,
                     Plan& plan) {
  TS_ASSIGN_OR_RETURN(const json::object* o, Obj(v, "Instance"));
  TS_RETURN_IF_ERROR(
      OnlyMembers(*o, "Instance", {"InstanceArn", "IdentityStoreId", "OwnerAccountId", "Name"}));
  for (const char* key : {"InstanceArn", "IdentityStoreId", "OwnerAccountId"}) {
    if (!Has(*o, key)) return DocumentError(MemberPath("Instance", key), "is required");
  }
  Checker instance_check = check;
  instance_check.demo = o->at("InstanceArn") == kDemoInstanceArn;
  TS_RETURN_IF_ERROR(instance_check.Shape(*check.sso, "InstanceArn", o->at("InstanceArn"),
                                          "Instance.InstanceArn"));
  TS_RETURN_IF_ERROR(check.Shape(*check.ids, "IdentityStoreId", o->at("IdentityStoreId"),
                                 "Instance.IdentityStoreId"));
  TS_RETURN_IF_ERROR(
      check.Shape(*check.sso, "AccountId", o->at("OwnerAccountId"), "Instance.OwnerAccountId"));
  if (Has(*o, "Name")) {
    TS_RETURN_IF_ERROR(check.Shape(*check.sso, "NameType", o->at("Name"), "Instance.Name"));
  }
  storage::Instance inst;
  inst.instance_arn = std::string(o->at("InstanceArn").as_string());
  inst.identity_store_id = std::string(o->at("IdentityStoreId").as_string());
  inst.owner_account_id = std::string(o->at("OwnerAccountId").as_string());
  TS_ASSIGN_OR_RETURN(inst.name, Str(*o, "Name", "Instance"));
  inst.instance_id = inst.instance_arn.substr(inst.instance_arn.rfind('/') + 1);
  inst.region = ctx.region;
  inst.created_at = ctx.now;
  plan.instance = inst;
  return OkStatus();
}

Status ParseUsers(const json::array& users, const Checker& check, const BootstrapContext& ctx,
                  Plan& plan) {
  for (size_t i = 0; i < users.size(); ++i) {
    const std::string where = ElementPath("Users", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(users[i], where));
    // The CreateUser request this entry stands for; UserId and Password are the file's own.
    TS_RETURN_IF_ERROR(check.Input(*check.ids, "CreateUser", Without(*o, {"UserId", "Password"}),
                                   where, {"IdentityStoreId"}));
    if (!Has(*o, "UserName")) return DocumentError(MemberPath(where, "UserName"), "is required");
    storage::User u;
    u.user_name = std::string(o->at("UserName").as_string());
    if (Has(*o, "UserId")) {
      TS_RETURN_IF_ERROR(
          check.Shape(*check.ids, "ResourceId", o->at("UserId"), MemberPath(where, "UserId")));
      u.user_id = std::string(o->at("UserId").as_string());
    }
    TS_ASSIGN_OR_RETURN(u.display_name, Str(*o, "DisplayName", where));
    TS_ASSIGN_OR_RETURN(std::string password, Str(*o, "Password", where));
    if (Has(*o, "Password")) {
      if (Status st = ValidatePassword(password); !st.ok()) {
        return DocumentError(MemberPath(where, "Password"), std::string(st.message()));
      }
    }
    // UserName is unique case-insensitively, as CreateUser has it.
    for (size_t j = 0; j < plan.users.size(); ++j) {
      if (AsciiLower(plan.users[j].first.user_name) == AsciiLower(u.user_name)) {
        return DocumentError(
            MemberPath(where, "UserName"),
            "'" + u.user_name + "' is already " + ElementPath("Users", j) + "'s UserName");
      }
    }
    if (!ctx.store->GetUserByName(u.user_name).ok()) {
      TS_ASSIGN_OR_RETURN(auto same, ctx.store->FindUsersByAttribute("username", u.user_name));
      if (!same.empty()) {
        return DocumentError(MemberPath(where, "UserName"),
                             "a user named '" + same.front().user_name + "' already exists");
      }
    }
    u.attributes_json = json::serialize(Without(*o, {"Password", "UserId"}));
    u.created_at = u.updated_at = ctx.now;
    plan.users.emplace_back(std::move(u), std::move(password));
  }
  return OkStatus();
}

Status ParseGroups(const json::array& groups, const Checker& check, const BootstrapContext& ctx,
                   Plan& plan) {
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string where = ElementPath("Groups", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(groups[i], where));
    TS_RETURN_IF_ERROR(check.Input(*check.ids, "CreateGroup", Without(*o, {"GroupId", "Members"}),
                                   where, {"IdentityStoreId"}));
    if (!Has(*o, "DisplayName"))
      return DocumentError(MemberPath(where, "DisplayName"), "is required");
    storage::Group g;
    g.display_name = std::string(o->at("DisplayName").as_string());
    if (Has(*o, "GroupId")) {
      TS_RETURN_IF_ERROR(
          check.Shape(*check.ids, "ResourceId", o->at("GroupId"), MemberPath(where, "GroupId")));
      g.group_id = std::string(o->at("GroupId").as_string());
    }
    TS_ASSIGN_OR_RETURN(g.description, Str(*o, "Description", where));
    for (const auto& [other, other_members] : plan.groups) {
      if (other.display_name == g.display_name) {
        return DocumentError(MemberPath(where, "DisplayName"),
                             "duplicate DisplayName " + g.display_name);
      }
    }
    std::vector<std::string> members;
    TS_ASSIGN_OR_RETURN(const json::array* list, Arr(*o, "Members", where));
    for (size_t j = 0; j < list->size(); ++j) {
      const std::string mw = ElementPath(MemberPath(where, "Members"), j);
      TS_RETURN_IF_ERROR(check.Shape(*check.ids, "UserName", (*list)[j], mw));
      members.emplace_back((*list)[j].as_string());
    }
    g.attributes_json = json::serialize(Without(*o, {"GroupId", "Members"}));
    g.created_at = g.updated_at = ctx.now;
    plan.groups.emplace_back(std::move(g), std::move(members));
  }
  return OkStatus();
}

Status ParseIssuers(const json::array& issuers, const Checker& check, const BootstrapContext& ctx,
                    Plan& plan) {
  for (size_t i = 0; i < issuers.size(); ++i) {
    const std::string where = ElementPath("TrustedTokenIssuers", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(issuers[i], where));
    TS_RETURN_IF_ERROR(check.Input(*check.sso, "CreateTrustedTokenIssuer",
                                   Without(*o, {"TrustedTokenIssuerArn"}), where,
                                   {"InstanceArn", "ClientToken", "Tags"}));
    storage::TrustedTokenIssuer t;
    if (Has(*o, "TrustedTokenIssuerArn")) {
      const std::string aw = MemberPath(where, "TrustedTokenIssuerArn");
      TS_RETURN_IF_ERROR(
          check.Shape(*check.sso, "TrustedTokenIssuerArn", o->at("TrustedTokenIssuerArn"), aw));
      t.arn = std::string(o->at("TrustedTokenIssuerArn").as_string());
      TS_RETURN_IF_ERROR(CheckInInstance(t.arn, "trustedTokenIssuer", "tti-", plan.target, aw));
    }
    t.name = std::string(o->at("Name").as_string());
    t.type = std::string(o->at("TrustedTokenIssuerType").as_string());
    const json::object& c =
        o->at("TrustedTokenIssuerConfiguration").as_object().at("OidcJwtConfiguration").as_object();
    t.issuer_url = std::string(c.at("IssuerUrl").as_string());
    t.claim_attribute_path = std::string(c.at("ClaimAttributePath").as_string());
    t.identity_store_attribute_path = std::string(c.at("IdentityStoreAttributePath").as_string());
    t.jwks_retrieval_option = std::string(c.at("JwksRetrievalOption").as_string());
    t.created_at = ctx.now;
    // Name and IssuerUrl are unique, as CreateTrustedTokenIssuer has them.
    for (const auto& other : plan.issuers) {
      if (other.name == t.name)
        return DocumentError(MemberPath(where, "Name"), "duplicate Name " + t.name);
      if (!t.arn.empty() && other.arn == t.arn) {
        return DocumentError(MemberPath(where, "TrustedTokenIssuerArn"), "duplicate ARN " + t.arn);
      }
      if (other.issuer_url == t.issuer_url) {
        return DocumentError(
            MemberPath(where, "TrustedTokenIssuerConfiguration.OidcJwtConfiguration.IssuerUrl"),
            "duplicate IssuerUrl " + t.issuer_url);
      }
    }
    plan.issuers.push_back(std::move(t));
  }
  return OkStatus();
}

// A principal an assignment names: a USER by UserName or PrincipalId, a GROUP by DisplayName or
// PrincipalId (`aw` is where the entry is; its members are checked by the caller).
StatusOr<Reference> ParsePrincipalReference(const json::object& ao, const std::string& aw,
                                            const Checker& check) {
  const std::vector<std::pair<const char*, std::pair<const admin::ServiceModel*, const char*>>>
      shapes = {{"PrincipalType", {check.sso.get(), "PrincipalType"}},
                {"PrincipalId", {check.sso.get(), "PrincipalId"}},
                {"UserName", {check.ids.get(), "UserName"}},
                {"DisplayName", {check.ids.get(), "GroupDisplayName"}}};
  for (const auto& [member, shape] : shapes) {
    if (!Has(ao, member)) continue;
    TS_RETURN_IF_ERROR(
        check.Shape(*shape.first, shape.second, ao.at(member), MemberPath(aw, member)));
  }
  TS_ASSIGN_OR_RETURN(std::string type, Str(ao, "PrincipalType", aw));
  TS_ASSIGN_OR_RETURN(std::string id, Str(ao, "PrincipalId", aw));
  const bool group = type == "GROUP";
  const char* by_name = group ? "DisplayName" : "UserName";
  const char* other = group ? "UserName" : "DisplayName";
  if (Has(ao, other)) {
    return DocumentError(MemberPath(aw, other),
                         group ? "names a user: a GROUP is named by DisplayName"
                               : "names a group: set PrincipalType GROUP");
  }
  TS_ASSIGN_OR_RETURN(std::string name, Str(ao, by_name, aw));
  if (id.empty() == name.empty()) {
    return DocumentError(aw, std::string("give exactly one of PrincipalId, ") + by_name);
  }
  const std::string kind =
      group ? (id.empty() ? "group-name" : "group-id") : (id.empty() ? "name" : "id");
  return Reference{id.empty() ? name : id, kind,
                   MemberPath(aw, id.empty() ? by_name : "PrincipalId")};
}

// Applications[i].Assignments.
Status ParseAssignments(const json::array& list, const std::string& where, const Checker& check,
                        std::vector<Reference>& assignments) {
  for (size_t j = 0; j < list.size(); ++j) {
    const std::string aw = ElementPath(where, j);
    TS_ASSIGN_OR_RETURN(const json::object* ao, Obj(list[j], aw));
    TS_RETURN_IF_ERROR(
        OnlyMembers(*ao, aw, {"PrincipalType", "PrincipalId", "UserName", "DisplayName"}));
    TS_ASSIGN_OR_RETURN(Reference r, ParsePrincipalReference(*ao, aw, check));
    assignments.push_back(std::move(r));
  }
  return OkStatus();
}

Status ParseApplications(const json::array& apps, const Checker& check, const BootstrapContext& ctx,
                         Plan& plan) {
  // For the names' uniqueness against the database: read once, not once per entry.
  std::optional<std::vector<storage::Application>> stored;
  for (size_t i = 0; i < apps.size(); ++i) {
    const std::string where = ElementPath("Applications", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(apps[i], where));
    // The application's own members are UpdateApplication's (its ARN is the file's choice);
    // the lists stand for the Put* calls, checked entry by entry below.
    TS_RETURN_IF_ERROR(
        check.Input(*check.sso, "UpdateApplication",
                    Without(*o, {"ApplicationProviderArn", "AssignmentRequired", "Grants",
                                 "AuthenticationMethods", "AccessScopes", "Assignments"}),
                    where, {"PortalOptions"}));
    storage::Application app;
    app.application_arn = std::string(o->at("ApplicationArn").as_string());
    TS_RETURN_IF_ERROR(CheckInInstance(app.application_arn, "application", "apl-", plan.target,
                                       MemberPath(where, "ApplicationArn")));
    for (const storage::Application& other : plan.apps) {
      if (other.application_arn == app.application_arn) {
        return DocumentError(MemberPath(where, "ApplicationArn"), "duplicate ApplicationArn");
      }
    }
    TS_ASSIGN_OR_RETURN(app.name, Str(*o, "Name", where));
    TS_ASSIGN_OR_RETURN(app.description, Str(*o, "Description", where));
    TS_ASSIGN_OR_RETURN(app.application_provider_arn, Str(*o, "ApplicationProviderArn", where));
    if (Has(*o, "ApplicationProviderArn")) {
      const std::string pw = MemberPath(where, "ApplicationProviderArn");
      TS_RETURN_IF_ERROR(
          check.Shape(*check.sso, "ApplicationProviderArn", o->at("ApplicationProviderArn"), pw));
      TS_RETURN_IF_ERROR(Named(admin::CheckApplicationProvider(app.application_provider_arn, pw)));
    }
    app.application_provider_arn = std::string(admin::kCustomApplicationProvider);
    TS_ASSIGN_OR_RETURN(app.status, Str(*o, "Status", where));
    if (app.status.empty()) app.status = "ENABLED";
    if (Has(*o, "AssignmentRequired")) {
      TS_RETURN_IF_ERROR(check.Shape(*check.sso, "AssignmentRequired", o->at("AssignmentRequired"),
                                     MemberPath(where, "AssignmentRequired")));
      app.assignment_required = o->at("AssignmentRequired").as_bool();
    }
    // Application names are unique, as CreateApplication and UpdateApplication have them.
    if (!app.name.empty()) {
      for (const storage::Application& other : plan.apps) {
        if (other.name == app.name) {
          return DocumentError(
              MemberPath(where, "Name"),
              "an application named '" + app.name + "' is already " + other.application_arn);
        }
      }
      if (!stored) {
        TS_ASSIGN_OR_RETURN(stored, ctx.store->ListApplications());
      }
      for (const storage::Application& other : *stored) {
        if (other.name == app.name && other.application_arn != app.application_arn) {
          return DocumentError(
              MemberPath(where, "Name"),
              "an application named '" + app.name + "' already exists: " + other.application_arn);
        }
      }
    }

    TS_ASSIGN_OR_RETURN(const json::array* grants, Arr(*o, "Grants", where));
    for (size_t j = 0; j < grants->size(); ++j) {
      const std::string gw = ElementPath(MemberPath(where, "Grants"), j);
      TS_ASSIGN_OR_RETURN(const json::object* go, Obj((*grants)[j], gw));
      TS_RETURN_IF_ERROR(
          check.Input(*check.sso, "PutApplicationGrant", *go, gw, {"ApplicationArn"}));
      const std::string type(go->at("GrantType").as_string());
      TS_RETURN_IF_ERROR(
          Named(admin::CheckGrant(type, go->at("Grant").as_object(), MemberPath(gw, "Grant"))));
      if (app.grants.contains(type)) {
        return DocumentError(MemberPath(gw, "GrantType"), "duplicate GrantType " + type);
      }
      const json::value& value = go->at("Grant").as_object().at(admin::GrantMemberFor(type));
      app.grants[type] = json::serialize(value);
      if (type == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
        const std::string iw = MemberPath(gw, "Grant.JwtBearer.AuthorizedTokenIssuers");
        static const json::array kNone;
        const json::value* issuers = value.as_object().if_contains("AuthorizedTokenIssuers");
        const json::array& list =
            issuers != nullptr && issuers->is_array() ? issuers->as_array() : kNone;
        for (size_t k = 0; k < list.size(); ++k) {
          const json::value* arn = list[k].as_object().if_contains("TrustedTokenIssuerArn");
          if (arn == nullptr || arn->is_null()) {
            return DocumentError(MemberPath(ElementPath(iw, k), "TrustedTokenIssuerArn"),
                                 "is required");
          }
          plan.issuer_references.push_back(
              {std::string(arn->as_string()), "issuer",
               MemberPath(ElementPath(iw, k), "TrustedTokenIssuerArn")});
        }
      }
    }
    TS_ASSIGN_OR_RETURN(const json::array* methods, Arr(*o, "AuthenticationMethods", where));
    for (size_t j = 0; j < methods->size(); ++j) {
      const std::string mw = ElementPath(MemberPath(where, "AuthenticationMethods"), j);
      TS_ASSIGN_OR_RETURN(const json::object* mo, Obj((*methods)[j], mw));
      TS_RETURN_IF_ERROR(check.Input(*check.sso, "PutApplicationAuthenticationMethod", *mo, mw,
                                     {"ApplicationArn"}));
      const json::object& method = mo->at("AuthenticationMethod").as_object();
      TS_RETURN_IF_ERROR(
          Named(admin::CheckAuthenticationMethod(method, MemberPath(mw, "AuthenticationMethod"))));
      if (j > 0)
        return DocumentError(MemberPath(mw, "AuthenticationMethodType"), "duplicate IAM method");
      app.actor_policy_json = json::serialize(method.at("Iam").as_object().at("ActorPolicy"));
    }
    TS_ASSIGN_OR_RETURN(const json::array* scopes, Arr(*o, "AccessScopes", where));
    for (size_t j = 0; j < scopes->size(); ++j) {
      const std::string sw = ElementPath(MemberPath(where, "AccessScopes"), j);
      TS_ASSIGN_OR_RETURN(const json::object* so, Obj((*scopes)[j], sw));
      json::object entry = *so;
      // An empty list stores what leaving it out does (the model wants 1 to 10 targets).
      if (const json::value* t = entry.if_contains("AuthorizedTargets");
          t != nullptr && t->is_array() && t->as_array().empty()) {
        entry.erase("AuthorizedTargets");
      }
      TS_RETURN_IF_ERROR(
          check.Input(*check.sso, "PutApplicationAccessScope", entry, sw, {"ApplicationArn"}));
      const std::string scope(entry.at("Scope").as_string());
      if (app.access_scopes.contains(scope)) {
        return DocumentError(MemberPath(sw, "Scope"), "duplicate Scope " + scope);
      }
      std::vector<std::string> targets;
      TS_ASSIGN_OR_RETURN(const json::array* list, Arr(entry, "AuthorizedTargets", sw));
      for (size_t k = 0; k < list->size(); ++k) {
        targets.emplace_back((*list)[k].as_string());
        if (!check.demo) continue;
        TS_RETURN_IF_ERROR(CheckDemoScopeTarget(
            targets.back(), ElementPath(MemberPath(sw, "AuthorizedTargets"), k)));
      }
      app.access_scopes[scope] = std::move(targets);
    }
    std::vector<Reference> assignments;
    TS_ASSIGN_OR_RETURN(const json::array* assigned, Arr(*o, "Assignments", where));
    TS_RETURN_IF_ERROR(
        ParseAssignments(*assigned, MemberPath(where, "Assignments"), check, assignments));
    app.created_at = ctx.now;
    std::set<std::string> members;
    for (const char* key : {"Name", "Description", "Status", "AssignmentRequired"}) {
      if (Has(*o, key)) members.insert(key);
    }
    if (!methods->empty()) members.insert("AuthenticationMethods");
    plan.apps.push_back(std::move(app));
    plan.app_members.push_back(std::move(members));
    plan.assignments.push_back(std::move(assignments));
  }
  return OkStatus();
}

Status ParsePrincipals(const json::array& principals, const BootstrapContext& ctx, Plan& plan) {
  std::set<std::string> key_ids;
  for (size_t i = 0; i < principals.size(); ++i) {
    const std::string where = ElementPath("IamPrincipals", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(principals[i], where));
    TS_RETURN_IF_ERROR(OnlyMembers(*o, where, {"Arn", "IdentityPolicy", "AccessKeys"}));
    storage::IamPrincipal p;
    TS_ASSIGN_OR_RETURN(p.arn, Str(*o, "Arn", where));
    if (!Has(*o, "Arn")) return DocumentError(MemberPath(where, "Arn"), "is required");
    // The rules of `tessera create-principal` and `put-identity-policy`.
    if (Status st = ValidatePrincipalArn(p.arn); !st.ok()) {
      return DocumentError(MemberPath(where, "Arn"), std::string(st.message()));
    }
    for (const storage::IamPrincipal& other : plan.principals) {
      if (other.arn == p.arn)
        return DocumentError(MemberPath(where, "Arn"), "duplicate Arn " + p.arn);
    }
    p.account_id = AccountOfArn(p.arn);
    if (const json::value* pol = o->if_contains("IdentityPolicy"); pol && !pol->is_null()) {
      if (!pol->is_object())
        return DocumentError(MemberPath(where, "IdentityPolicy"), "must be a policy object");
      p.identity_policy_json = json::serialize(*pol);
      if (auto parsed = iam::ParsePolicy(p.identity_policy_json); !parsed.ok()) {
        return DocumentError(MemberPath(where, "IdentityPolicy"),
                             std::string(parsed.status().message()));
      }
    }
    p.created_at = ctx.now;
    std::vector<std::pair<std::string, std::string>> keys;
    TS_ASSIGN_OR_RETURN(const json::array* list, Arr(*o, "AccessKeys", where));
    for (size_t j = 0; j < list->size(); ++j) {
      const std::string kw = ElementPath(MemberPath(where, "AccessKeys"), j);
      TS_ASSIGN_OR_RETURN(const json::object* ko, Obj((*list)[j], kw));
      TS_RETURN_IF_ERROR(OnlyMembers(*ko, kw, {"AccessKeyId", "SecretAccessKey"}));
      TS_ASSIGN_OR_RETURN(std::string id, Str(*ko, "AccessKeyId", kw));
      TS_ASSIGN_OR_RETURN(std::string secret, Str(*ko, "SecretAccessKey", kw));
      if (!Has(*ko, "AccessKeyId"))
        return DocumentError(MemberPath(kw, "AccessKeyId"), "is required");
      if (!Has(*ko, "SecretAccessKey"))
        return DocumentError(MemberPath(kw, "SecretAccessKey"), "is required");
      if (Status st = ValidateAccessKeyId(id); !st.ok()) {
        return DocumentError(MemberPath(kw, "AccessKeyId"), std::string(st.message()));
      }
      if (Status st = ValidateSecretAccessKey(secret); !st.ok()) {
        return DocumentError(MemberPath(kw, "SecretAccessKey"), std::string(st.message()));
      }
      if (!key_ids.insert(id).second) {
        return DocumentError(MemberPath(kw, "AccessKeyId"), "duplicate AccessKeyId " + id);
      }
      // An existing key is kept as it is; one of another principal is a mistake.
      if (auto existing = ctx.store->GetAccessKey(id);
          existing.ok() && existing->principal_arn != p.arn) {
        return DocumentError(MemberPath(kw, "AccessKeyId"),
                             id + " belongs to " + existing->principal_arn);
      }
      keys.emplace_back(id, secret);
    }
    plan.principals.push_back(std::move(p));
    plan.keys.push_back(std::move(keys));
  }
  return OkStatus();
}

Status ParseAccounts(const json::array& accounts, Plan& plan) {
  for (size_t i = 0; i < accounts.size(); ++i) {
    const std::string where = ElementPath("Accounts", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(accounts[i], where));
    TS_RETURN_IF_ERROR(OnlyMembers(*o, where, {"AccountId", "Name", "Email"}));
    storage::Account a;
    TS_ASSIGN_OR_RETURN(a.account_id, Str(*o, "AccountId", where));
    TS_ASSIGN_OR_RETURN(a.name, Str(*o, "Name", where));
    TS_ASSIGN_OR_RETURN(a.email, Str(*o, "Email", where));
    // The rules of `tessera account add`.
    const std::pair<const char*, Status> rules[] = {{"AccountId", ValidateAccountId(a.account_id)},
                                                    {"Name", ValidateAccountName(a.name)},
                                                    {"Email", ValidateAccountEmail(a.email)}};
    for (const auto& [member, status] : rules) {
      if (!status.ok())
        return DocumentError(MemberPath(where, member), std::string(status.message()));
    }
    for (const storage::Account& other : plan.accounts) {
      if (other.account_id == a.account_id) {
        return DocumentError(MemberPath(where, "AccountId"), "duplicate AccountId " + a.account_id);
      }
    }
    plan.accounts.push_back(std::move(a));
  }
  return OkStatus();
}

// PermissionSets[i]: CreatePermissionSet's members, plus InlinePolicy (a policy object),
// ManagedPolicies (AWS managed policy ARNs) and PermissionsBoundary, as their Put/Attach calls
// take them.
Status ParsePermissionSets(const json::array& sets, const Checker& check,
                           const BootstrapContext& ctx, Plan& plan) {
  for (size_t i = 0; i < sets.size(); ++i) {
    const std::string where = ElementPath("PermissionSets", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(sets[i], where));
    TS_RETURN_IF_ERROR(
        check.Input(*check.sso, "CreatePermissionSet",
                    Without(*o, {"InlinePolicy", "ManagedPolicies", "PermissionsBoundary"}), where,
                    {"InstanceArn", "Tags"}));
    storage::PermissionSet ps;
    ps.name = std::string(o->at("Name").as_string());
    TS_ASSIGN_OR_RETURN(ps.description, Str(*o, "Description", where));
    TS_ASSIGN_OR_RETURN(ps.relay_state, Str(*o, "RelayState", where));
    if (Has(*o, "SessionDuration"))
      ps.session_duration = std::string(o->at("SessionDuration").as_string());
    if (auto d = portal::SessionDurationSeconds(ps.session_duration); !d.ok()) {
      return DocumentError(MemberPath(where, "SessionDuration"), std::string(d.status().message()));
    }
    if (const json::value* pol = o->if_contains("InlinePolicy"); pol && !pol->is_null()) {
      if (!pol->is_object())
        return DocumentError(MemberPath(where, "InlinePolicy"), "must be a policy object");
      ps.inline_policy_json = json::serialize(*pol);
      if (auto parsed = iam::ParsePolicy(ps.inline_policy_json); !parsed.ok()) {
        return DocumentError(MemberPath(where, "InlinePolicy"),
                             std::string(parsed.status().message()));
      }
    }
    TS_ASSIGN_OR_RETURN(const json::array* managed, Arr(*o, "ManagedPolicies", where));
    for (size_t j = 0; j < managed->size(); ++j) {
      const std::string mw = ElementPath(MemberPath(where, "ManagedPolicies"), j);
      TS_RETURN_IF_ERROR(check.Shape(*check.sso, "ManagedPolicyArn", (*managed)[j], mw));
      std::string arn((*managed)[j].as_string());
      if (std::find(ps.managed_policy_arns.begin(), ps.managed_policy_arns.end(), arn) !=
          ps.managed_policy_arns.end()) {
        return DocumentError(mw, "duplicate managed policy " + arn);
      }
      ps.managed_policy_arns.push_back(std::move(arn));
    }
    std::sort(ps.managed_policy_arns.begin(), ps.managed_policy_arns.end());
    if (const json::value* b = o->if_contains("PermissionsBoundary"); b && !b->is_null()) {
      const std::string bw = MemberPath(where, "PermissionsBoundary");
      TS_RETURN_IF_ERROR(check.Shape(*check.sso, "PermissionsBoundary", *b, bw));
      const json::object& bo = b->as_object();
      if (Has(bo, "ManagedPolicyArn") == Has(bo, "CustomerManagedPolicyReference")) {
        return DocumentError(
            bw, "give exactly one of ManagedPolicyArn, CustomerManagedPolicyReference");
      }
      ps.permissions_boundary_json = json::serialize(bo);
    }
    for (const storage::PermissionSet& other : plan.permission_sets) {
      if (other.name == ps.name)
        return DocumentError(MemberPath(where, "Name"), "duplicate Name " + ps.name);
    }
    ps.created_at = ps.updated_at = ctx.now;
    plan.permission_sets.push_back(std::move(ps));
  }
  return OkStatus();
}

// AccountAssignments[i]: {AccountId, PermissionSetName, PrincipalType, and UserName, DisplayName
// or PrincipalId as in Applications[].Assignments}.
Status ParseAccountAssignments(const json::array& list, const Checker& check, Plan& plan) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = ElementPath("AccountAssignments", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(list[i], where));
    TS_RETURN_IF_ERROR(OnlyMembers(*o, where,
                                   {"AccountId", "PermissionSetName", "PrincipalType",
                                    "PrincipalId", "UserName", "DisplayName"}));
    Plan::AccountAssignmentEntry e;
    TS_ASSIGN_OR_RETURN(e.account_id, Str(*o, "AccountId", where));
    if (Status st = ValidateAccountId(e.account_id); !st.ok()) {
      return DocumentError(MemberPath(where, "AccountId"), std::string(st.message()));
    }
    TS_ASSIGN_OR_RETURN(e.permission_set_name, Str(*o, "PermissionSetName", where));
    if (!Has(*o, "PermissionSetName"))
      return DocumentError(MemberPath(where, "PermissionSetName"), "is required");
    TS_RETURN_IF_ERROR(check.Shape(*check.sso, "PermissionSetName", o->at("PermissionSetName"),
                                   MemberPath(where, "PermissionSetName")));
    if (!Has(*o, "PrincipalType"))
      return DocumentError(MemberPath(where, "PrincipalType"), "is required");
    TS_ASSIGN_OR_RETURN(e.principal, ParsePrincipalReference(*o, where, check));
    e.principal_type = std::string(o->at("PrincipalType").as_string());
    e.where = where;
    plan.account_assignments.push_back(std::move(e));
  }
  return OkStatus();
}

}  // namespace

StatusOr<Plan> ParseDocument(const std::string& text, const BootstrapContext& ctx) {
  json::value doc;
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    return DocumentError("document", std::string("not valid JSON: ") + e.what());
  }
  TS_ASSIGN_OR_RETURN(const json::object* root, Obj(doc, "document"));
  TS_RETURN_IF_ERROR(
      OnlyMembers(*root, "",
                  {"Instance", "Users", "Groups", "TrustedTokenIssuers", "Applications",
                   "IamPrincipals", "Accounts", "PermissionSets", "AccountAssignments"}));
  Checker check;
  TS_ASSIGN_OR_RETURN(check.sso, admin::SsoAdminModel());
  TS_ASSIGN_OR_RETURN(check.ids, admin::IdentityStoreModel());
  Plan plan;
  if (const json::value* v = root->if_contains("Instance"); v != nullptr && !v->is_null()) {
    TS_RETURN_IF_ERROR(ParseInstance(*v, check, ctx, plan));
    plan.target = *plan.instance;
  } else {
    auto stored = ctx.store->GetInstance();
    if (!stored.ok() && stored.status().code() == StatusCode::kNotFound) {
      return DocumentError("Instance", "is required: the database has no instance yet");
    }
    TS_RETURN_IF_ERROR(stored.status());
    plan.target = *stored;
  }
  check.demo = IsDemoInstance(plan.target.instance_arn);
  TS_ASSIGN_OR_RETURN(const json::array* users, Arr(*root, "Users", ""));
  TS_RETURN_IF_ERROR(ParseUsers(*users, check, ctx, plan));
  TS_ASSIGN_OR_RETURN(const json::array* groups, Arr(*root, "Groups", ""));
  TS_RETURN_IF_ERROR(ParseGroups(*groups, check, ctx, plan));
  TS_ASSIGN_OR_RETURN(const json::array* issuers, Arr(*root, "TrustedTokenIssuers", ""));
  TS_RETURN_IF_ERROR(ParseIssuers(*issuers, check, ctx, plan));
  TS_ASSIGN_OR_RETURN(const json::array* apps, Arr(*root, "Applications", ""));
  TS_RETURN_IF_ERROR(ParseApplications(*apps, check, ctx, plan));
  TS_ASSIGN_OR_RETURN(const json::array* principals, Arr(*root, "IamPrincipals", ""));
  TS_RETURN_IF_ERROR(ParsePrincipals(*principals, ctx, plan));
  TS_ASSIGN_OR_RETURN(const json::array* accounts, Arr(*root, "Accounts", ""));
  TS_RETURN_IF_ERROR(ParseAccounts(*accounts, plan));
  TS_ASSIGN_OR_RETURN(const json::array* sets, Arr(*root, "PermissionSets", ""));
  TS_RETURN_IF_ERROR(ParsePermissionSets(*sets, check, ctx, plan));
  TS_ASSIGN_OR_RETURN(const json::array* assigned, Arr(*root, "AccountAssignments", ""));
  TS_RETURN_IF_ERROR(ParseAccountAssignments(*assigned, check, plan));
  return plan;
}

}  // namespace ts::server::internal
