#include "ts/server/bootstrap.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>

#include "ts/admin/role_provisioning.h"
#include "ts/admin/rules.h"
#include "ts/admin/service_model.h"
#include "ts/common/ascii.h"
#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/password.h"
#include "ts/crypto/random.h"
#include "ts/iam/policy.h"
#include "ts/portal/role_credentials.h"
#include "ts/server/commands.h"
#include "ts/server/credentials.h"
#include "ts/storage/audit.h"

namespace ts::server {
namespace {

namespace json = boost::json;

Status Bad(const std::string& where, const std::string& what) {
  return InvalidArgumentError("bootstrap: " + where + ": " + what);
}

// A status whose message names the member already (the models' and the admin rules').
Status Named(const Status& status) {
  if (status.ok()) return status;
  return InvalidArgumentError("bootstrap: " + std::string(status.message()));
}

std::string Member(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : where + "." + std::string(key);
}
std::string Element(const std::string& where, size_t i) {
  return where + "[" + std::to_string(i) + "]";
}

StatusOr<const json::object*> Obj(const json::value& v, const std::string& where) {
  if (!v.is_object()) return Bad(where, "must be an object");
  return &v.as_object();
}

// The string at `key` ("" when absent or null).
StatusOr<std::string> Str(const json::object& o, std::string_view key, const std::string& where) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return Bad(Member(where, key), "must be a string");
  return std::string(v->as_string());
}

// The list at `key` (empty when absent or null).
StatusOr<const json::array*> Arr(const json::object& o, std::string_view key,
                                 const std::string& where) {
  static const json::array kEmpty;
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return &kEmpty;
  if (!v->is_array()) return Bad(Member(where, key), "must be a list");
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
    return Bad(Member(where, kv.key()), "unknown member (expected one of " + names + ")");
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

// `arn` is one CreateApplication / CreateTrustedTokenIssuer would make in `instance`:
// arn:<partition>:sso::<owner account>:<kind>/<instance id>/<prefix>... (any account on the
// demo instance, whose documentation examples use two).
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
                                                     ? fields[4].size() == 12
                                                     : fields[4] == instance.owner_account_id);
  if (!account_ok || fields[0] != "arn" || fields[2] != "sso" || resource.rfind(expected, 0) != 0 ||
      resource.size() == expected.size()) {
    return Bad(where, "'" + arn + "' is not in this instance: expected arn:aws:sso::" +
                          instance.owner_account_id + ":" + expected + "...");
  }
  return OkStatus();
}

// A name the document uses for something that must exist (in the document or the database).
struct Reference {
  std::string ref;
  // "id" (a user's id), "name" (UserName), "group-id", "group-name" (DisplayName), "issuer".
  std::string kind;
  std::string where;  // the member that names it
};

struct Plan {
  std::optional<storage::Instance> instance;
  storage::Instance target;  // the instance the document lands in (its own, or the store's)
  std::vector<std::pair<storage::User, std::string>> users;  // with plaintext password
  std::vector<std::pair<storage::Group, std::vector<std::string>>> groups;  // with member names
  // Applications as the document gives them, and which of their own members it sets: an entry
  // changes only what it names (README, "Bootstrap file").
  std::vector<storage::Application> apps;
  std::vector<std::set<std::string>> app_members;
  std::vector<std::vector<Reference>> assignments;
  std::vector<Reference> issuer_references;  // JwtBearer grants' TrustedTokenIssuerArns
  std::vector<storage::IamPrincipal> principals;
  std::vector<std::vector<std::pair<std::string, std::string>>> keys;  // (id, secret)
  std::vector<storage::TrustedTokenIssuer> issuers;  // arn "" when it is to be generated
  std::vector<storage::Account> accounts;
  std::vector<storage::PermissionSet> permission_sets;  // matched by Name; arn "" when new
  // AccountAssignments: the account, the permission set's Name, and the principal.
  struct AccountAssignmentEntry {
    std::string account_id;
    std::string permission_set_name;
    std::string principal_type;
    Reference principal;
    std::string where;
  };
  std::vector<AccountAssignmentEntry> account_assignments;
};

Status ParseInstance(const json::value& v, const Checker& check, const BootstrapContext& ctx,
                     Plan& plan) {
  TS_ASSIGN_OR_RETURN(const json::object* o, Obj(v, "Instance"));
  TS_RETURN_IF_ERROR(
      OnlyMembers(*o, "Instance", {"InstanceArn", "IdentityStoreId", "OwnerAccountId", "Name"}));
  for (const char* key : {"InstanceArn", "IdentityStoreId", "OwnerAccountId"}) {
    if (!Has(*o, key)) return Bad(Member("Instance", key), "is required");
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
    const std::string where = Element("Users", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(users[i], where));
    // The CreateUser request this entry stands for; UserId and Password are the file's own.
    TS_RETURN_IF_ERROR(check.Input(*check.ids, "CreateUser", Without(*o, {"UserId", "Password"}),
                                   where, {"IdentityStoreId"}));
    if (!Has(*o, "UserName")) return Bad(Member(where, "UserName"), "is required");
    storage::User u;
    u.user_name = std::string(o->at("UserName").as_string());
    if (Has(*o, "UserId")) {
      TS_RETURN_IF_ERROR(
          check.Shape(*check.ids, "ResourceId", o->at("UserId"), Member(where, "UserId")));
      u.user_id = std::string(o->at("UserId").as_string());
    }
    TS_ASSIGN_OR_RETURN(u.display_name, Str(*o, "DisplayName", where));
    TS_ASSIGN_OR_RETURN(std::string password, Str(*o, "Password", where));
    if (Has(*o, "Password")) {
      if (Status st = ValidatePassword(password); !st.ok()) {
        return Bad(Member(where, "Password"), std::string(st.message()));
      }
    }
    // UserName is unique case-insensitively, as CreateUser has it.
    for (size_t j = 0; j < plan.users.size(); ++j) {
      if (AsciiLower(plan.users[j].first.user_name) == AsciiLower(u.user_name)) {
        return Bad(Member(where, "UserName"),
                   "'" + u.user_name + "' is already " + Element("Users", j) + "'s UserName");
      }
    }
    if (!ctx.store->GetUserByName(u.user_name).ok()) {
      TS_ASSIGN_OR_RETURN(auto same, ctx.store->FindUsersByAttribute("username", u.user_name));
      if (!same.empty()) {
        return Bad(Member(where, "UserName"),
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
    const std::string where = Element("Groups", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(groups[i], where));
    TS_RETURN_IF_ERROR(check.Input(*check.ids, "CreateGroup", Without(*o, {"GroupId", "Members"}),
                                   where, {"IdentityStoreId"}));
    if (!Has(*o, "DisplayName")) return Bad(Member(where, "DisplayName"), "is required");
    storage::Group g;
    g.display_name = std::string(o->at("DisplayName").as_string());
    if (Has(*o, "GroupId")) {
      TS_RETURN_IF_ERROR(
          check.Shape(*check.ids, "ResourceId", o->at("GroupId"), Member(where, "GroupId")));
      g.group_id = std::string(o->at("GroupId").as_string());
    }
    TS_ASSIGN_OR_RETURN(g.description, Str(*o, "Description", where));
    for (const auto& [other, other_members] : plan.groups) {
      if (other.display_name == g.display_name) {
        return Bad(Member(where, "DisplayName"), "duplicate DisplayName " + g.display_name);
      }
    }
    std::vector<std::string> members;
    TS_ASSIGN_OR_RETURN(const json::array* list, Arr(*o, "Members", where));
    for (size_t j = 0; j < list->size(); ++j) {
      const std::string mw = Element(Member(where, "Members"), j);
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
    const std::string where = Element("TrustedTokenIssuers", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(issuers[i], where));
    TS_RETURN_IF_ERROR(check.Input(*check.sso, "CreateTrustedTokenIssuer",
                                   Without(*o, {"TrustedTokenIssuerArn"}), where,
                                   {"InstanceArn", "ClientToken", "Tags"}));
    storage::TrustedTokenIssuer t;
    if (Has(*o, "TrustedTokenIssuerArn")) {
      const std::string aw = Member(where, "TrustedTokenIssuerArn");
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
      if (other.name == t.name) return Bad(Member(where, "Name"), "duplicate Name " + t.name);
      if (!t.arn.empty() && other.arn == t.arn) {
        return Bad(Member(where, "TrustedTokenIssuerArn"), "duplicate ARN " + t.arn);
      }
      if (other.issuer_url == t.issuer_url) {
        return Bad(Member(where, "TrustedTokenIssuerConfiguration.OidcJwtConfiguration.IssuerUrl"),
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
    TS_RETURN_IF_ERROR(check.Shape(*shape.first, shape.second, ao.at(member), Member(aw, member)));
  }
  TS_ASSIGN_OR_RETURN(std::string type, Str(ao, "PrincipalType", aw));
  TS_ASSIGN_OR_RETURN(std::string id, Str(ao, "PrincipalId", aw));
  const bool group = type == "GROUP";
  const char* by_name = group ? "DisplayName" : "UserName";
  const char* other = group ? "UserName" : "DisplayName";
  if (Has(ao, other)) {
    return Bad(Member(aw, other), group ? "names a user: a GROUP is named by DisplayName"
                                        : "names a group: set PrincipalType GROUP");
  }
  TS_ASSIGN_OR_RETURN(std::string name, Str(ao, by_name, aw));
  if (id.empty() == name.empty()) {
    return Bad(aw, std::string("give exactly one of PrincipalId, ") + by_name);
  }
  const std::string kind =
      group ? (id.empty() ? "group-name" : "group-id") : (id.empty() ? "name" : "id");
  return Reference{id.empty() ? name : id, kind, Member(aw, id.empty() ? by_name : "PrincipalId")};
}

// Applications[i].Assignments.
Status ParseAssignments(const json::array& list, const std::string& where, const Checker& check,
                        std::vector<Reference>& assignments) {
  for (size_t j = 0; j < list.size(); ++j) {
    const std::string aw = Element(where, j);
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
    const std::string where = Element("Applications", i);
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
                                       Member(where, "ApplicationArn")));
    for (const storage::Application& other : plan.apps) {
      if (other.application_arn == app.application_arn) {
        return Bad(Member(where, "ApplicationArn"), "duplicate ApplicationArn");
      }
    }
    TS_ASSIGN_OR_RETURN(app.name, Str(*o, "Name", where));
    TS_ASSIGN_OR_RETURN(app.description, Str(*o, "Description", where));
    TS_ASSIGN_OR_RETURN(app.application_provider_arn, Str(*o, "ApplicationProviderArn", where));
    if (Has(*o, "ApplicationProviderArn")) {
      const std::string pw = Member(where, "ApplicationProviderArn");
      TS_RETURN_IF_ERROR(
          check.Shape(*check.sso, "ApplicationProviderArn", o->at("ApplicationProviderArn"), pw));
      TS_RETURN_IF_ERROR(Named(admin::CheckApplicationProvider(app.application_provider_arn, pw)));
    }
    app.application_provider_arn = std::string(admin::kCustomApplicationProvider);
    TS_ASSIGN_OR_RETURN(app.status, Str(*o, "Status", where));
    if (app.status.empty()) app.status = "ENABLED";
    if (Has(*o, "AssignmentRequired")) {
      TS_RETURN_IF_ERROR(check.Shape(*check.sso, "AssignmentRequired", o->at("AssignmentRequired"),
                                     Member(where, "AssignmentRequired")));
      app.assignment_required = o->at("AssignmentRequired").as_bool();
    }
    // Application names are unique, as CreateApplication and UpdateApplication have them.
    if (!app.name.empty()) {
      for (const storage::Application& other : plan.apps) {
        if (other.name == app.name) {
          return Bad(Member(where, "Name"),
                     "an application named '" + app.name + "' is already " + other.application_arn);
        }
      }
      if (!stored) {
        TS_ASSIGN_OR_RETURN(stored, ctx.store->ListApplications());
      }
      for (const storage::Application& other : *stored) {
        if (other.name == app.name && other.application_arn != app.application_arn) {
          return Bad(Member(where, "Name"), "an application named '" + app.name +
                                                "' already exists: " + other.application_arn);
        }
      }
    }

    TS_ASSIGN_OR_RETURN(const json::array* grants, Arr(*o, "Grants", where));
    for (size_t j = 0; j < grants->size(); ++j) {
      const std::string gw = Element(Member(where, "Grants"), j);
      TS_ASSIGN_OR_RETURN(const json::object* go, Obj((*grants)[j], gw));
      TS_RETURN_IF_ERROR(
          check.Input(*check.sso, "PutApplicationGrant", *go, gw, {"ApplicationArn"}));
      const std::string type(go->at("GrantType").as_string());
      TS_RETURN_IF_ERROR(
          Named(admin::CheckGrant(type, go->at("Grant").as_object(), Member(gw, "Grant"))));
      if (app.grants.contains(type)) {
        return Bad(Member(gw, "GrantType"), "duplicate GrantType " + type);
      }
      const json::value& value = go->at("Grant").as_object().at(admin::GrantMemberFor(type));
      app.grants[type] = json::serialize(value);
      if (type == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
        const std::string iw = Member(gw, "Grant.JwtBearer.AuthorizedTokenIssuers");
        static const json::array kNone;
        const json::value* issuers = value.as_object().if_contains("AuthorizedTokenIssuers");
        const json::array& list =
            issuers != nullptr && issuers->is_array() ? issuers->as_array() : kNone;
        for (size_t k = 0; k < list.size(); ++k) {
          const json::value* arn = list[k].as_object().if_contains("TrustedTokenIssuerArn");
          if (arn == nullptr || arn->is_null()) {
            return Bad(Member(Element(iw, k), "TrustedTokenIssuerArn"), "is required");
          }
          plan.issuer_references.push_back({std::string(arn->as_string()), "issuer",
                                            Member(Element(iw, k), "TrustedTokenIssuerArn")});
        }
      }
    }
    TS_ASSIGN_OR_RETURN(const json::array* methods, Arr(*o, "AuthenticationMethods", where));
    for (size_t j = 0; j < methods->size(); ++j) {
      const std::string mw = Element(Member(where, "AuthenticationMethods"), j);
      TS_ASSIGN_OR_RETURN(const json::object* mo, Obj((*methods)[j], mw));
      TS_RETURN_IF_ERROR(check.Input(*check.sso, "PutApplicationAuthenticationMethod", *mo, mw,
                                     {"ApplicationArn"}));
      const json::object& method = mo->at("AuthenticationMethod").as_object();
      TS_RETURN_IF_ERROR(
          Named(admin::CheckAuthenticationMethod(method, Member(mw, "AuthenticationMethod"))));
      if (j > 0) return Bad(Member(mw, "AuthenticationMethodType"), "duplicate IAM method");
      app.actor_policy_json = json::serialize(method.at("Iam").as_object().at("ActorPolicy"));
    }
    TS_ASSIGN_OR_RETURN(const json::array* scopes, Arr(*o, "AccessScopes", where));
    for (size_t j = 0; j < scopes->size(); ++j) {
      const std::string sw = Element(Member(where, "AccessScopes"), j);
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
        return Bad(Member(sw, "Scope"), "duplicate Scope " + scope);
      }
      std::vector<std::string> targets;
      TS_ASSIGN_OR_RETURN(const json::array* list, Arr(entry, "AuthorizedTargets", sw));
      for (const auto& t : *list) targets.emplace_back(t.as_string());
      app.access_scopes[scope] = std::move(targets);
    }
    std::vector<Reference> assignments;
    TS_ASSIGN_OR_RETURN(const json::array* assigned, Arr(*o, "Assignments", where));
    TS_RETURN_IF_ERROR(
        ParseAssignments(*assigned, Member(where, "Assignments"), check, assignments));
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
    const std::string where = Element("IamPrincipals", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(principals[i], where));
    TS_RETURN_IF_ERROR(OnlyMembers(*o, where, {"Arn", "IdentityPolicy", "AccessKeys"}));
    storage::IamPrincipal p;
    TS_ASSIGN_OR_RETURN(p.arn, Str(*o, "Arn", where));
    if (!Has(*o, "Arn")) return Bad(Member(where, "Arn"), "is required");
    // The rules of `tessera create-principal` and `put-identity-policy`.
    if (Status st = ValidatePrincipalArn(p.arn); !st.ok()) {
      return Bad(Member(where, "Arn"), std::string(st.message()));
    }
    for (const storage::IamPrincipal& other : plan.principals) {
      if (other.arn == p.arn) return Bad(Member(where, "Arn"), "duplicate Arn " + p.arn);
    }
    p.account_id = AccountOfArn(p.arn);
    if (const json::value* pol = o->if_contains("IdentityPolicy"); pol && !pol->is_null()) {
      if (!pol->is_object()) return Bad(Member(where, "IdentityPolicy"), "must be a policy object");
      p.identity_policy_json = json::serialize(*pol);
      if (auto parsed = iam::ParsePolicy(p.identity_policy_json); !parsed.ok()) {
        return Bad(Member(where, "IdentityPolicy"), std::string(parsed.status().message()));
      }
    }
    p.created_at = ctx.now;
    std::vector<std::pair<std::string, std::string>> keys;
    TS_ASSIGN_OR_RETURN(const json::array* list, Arr(*o, "AccessKeys", where));
    for (size_t j = 0; j < list->size(); ++j) {
      const std::string kw = Element(Member(where, "AccessKeys"), j);
      TS_ASSIGN_OR_RETURN(const json::object* ko, Obj((*list)[j], kw));
      TS_RETURN_IF_ERROR(OnlyMembers(*ko, kw, {"AccessKeyId", "SecretAccessKey"}));
      TS_ASSIGN_OR_RETURN(std::string id, Str(*ko, "AccessKeyId", kw));
      TS_ASSIGN_OR_RETURN(std::string secret, Str(*ko, "SecretAccessKey", kw));
      if (!Has(*ko, "AccessKeyId")) return Bad(Member(kw, "AccessKeyId"), "is required");
      if (!Has(*ko, "SecretAccessKey")) return Bad(Member(kw, "SecretAccessKey"), "is required");
      if (Status st = ValidateAccessKeyId(id); !st.ok()) {
        return Bad(Member(kw, "AccessKeyId"), std::string(st.message()));
      }
      if (Status st = ValidateSecretAccessKey(secret); !st.ok()) {
        return Bad(Member(kw, "SecretAccessKey"), std::string(st.message()));
      }
      if (!key_ids.insert(id).second) {
        return Bad(Member(kw, "AccessKeyId"), "duplicate AccessKeyId " + id);
      }
      // An existing key is kept as it is; one of another principal is a mistake.
      if (auto existing = ctx.store->GetAccessKey(id);
          existing.ok() && existing->principal_arn != p.arn) {
        return Bad(Member(kw, "AccessKeyId"), id + " belongs to " + existing->principal_arn);
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
    const std::string where = Element("Accounts", i);
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
      if (!status.ok()) return Bad(Member(where, member), std::string(status.message()));
    }
    for (const storage::Account& other : plan.accounts) {
      if (other.account_id == a.account_id) {
        return Bad(Member(where, "AccountId"), "duplicate AccountId " + a.account_id);
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
    const std::string where = Element("PermissionSets", i);
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
      return Bad(Member(where, "SessionDuration"), std::string(d.status().message()));
    }
    if (const json::value* pol = o->if_contains("InlinePolicy"); pol && !pol->is_null()) {
      if (!pol->is_object()) return Bad(Member(where, "InlinePolicy"), "must be a policy object");
      ps.inline_policy_json = json::serialize(*pol);
      if (auto parsed = iam::ParsePolicy(ps.inline_policy_json); !parsed.ok()) {
        return Bad(Member(where, "InlinePolicy"), std::string(parsed.status().message()));
      }
    }
    TS_ASSIGN_OR_RETURN(const json::array* managed, Arr(*o, "ManagedPolicies", where));
    for (size_t j = 0; j < managed->size(); ++j) {
      const std::string mw = Element(Member(where, "ManagedPolicies"), j);
      TS_RETURN_IF_ERROR(check.Shape(*check.sso, "ManagedPolicyArn", (*managed)[j], mw));
      std::string arn((*managed)[j].as_string());
      if (std::find(ps.managed_policy_arns.begin(), ps.managed_policy_arns.end(), arn) !=
          ps.managed_policy_arns.end()) {
        return Bad(mw, "duplicate managed policy " + arn);
      }
      ps.managed_policy_arns.push_back(std::move(arn));
    }
    std::sort(ps.managed_policy_arns.begin(), ps.managed_policy_arns.end());
    if (const json::value* b = o->if_contains("PermissionsBoundary"); b && !b->is_null()) {
      const std::string bw = Member(where, "PermissionsBoundary");
      TS_RETURN_IF_ERROR(check.Shape(*check.sso, "PermissionsBoundary", *b, bw));
      const json::object& bo = b->as_object();
      if (Has(bo, "ManagedPolicyArn") == Has(bo, "CustomerManagedPolicyReference")) {
        return Bad(bw, "give exactly one of ManagedPolicyArn, CustomerManagedPolicyReference");
      }
      ps.permissions_boundary_json = json::serialize(bo);
    }
    for (const storage::PermissionSet& other : plan.permission_sets) {
      if (other.name == ps.name) return Bad(Member(where, "Name"), "duplicate Name " + ps.name);
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
    const std::string where = Element("AccountAssignments", i);
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(list[i], where));
    TS_RETURN_IF_ERROR(OnlyMembers(*o, where,
                                   {"AccountId", "PermissionSetName", "PrincipalType",
                                    "PrincipalId", "UserName", "DisplayName"}));
    Plan::AccountAssignmentEntry e;
    TS_ASSIGN_OR_RETURN(e.account_id, Str(*o, "AccountId", where));
    if (Status st = ValidateAccountId(e.account_id); !st.ok()) {
      return Bad(Member(where, "AccountId"), std::string(st.message()));
    }
    TS_ASSIGN_OR_RETURN(e.permission_set_name, Str(*o, "PermissionSetName", where));
    if (!Has(*o, "PermissionSetName"))
      return Bad(Member(where, "PermissionSetName"), "is required");
    TS_RETURN_IF_ERROR(check.Shape(*check.sso, "PermissionSetName", o->at("PermissionSetName"),
                                   Member(where, "PermissionSetName")));
    if (!Has(*o, "PrincipalType")) return Bad(Member(where, "PrincipalType"), "is required");
    TS_ASSIGN_OR_RETURN(e.principal, ParsePrincipalReference(*o, where, check));
    e.principal_type = std::string(o->at("PrincipalType").as_string());
    e.where = where;
    plan.account_assignments.push_back(std::move(e));
  }
  return OkStatus();
}

StatusOr<Plan> Parse(const std::string& text, const BootstrapContext& ctx) {
  json::value doc;
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    return Bad("document", std::string("not valid JSON: ") + e.what());
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
      return Bad("Instance", "is required: the database has no instance yet");
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

StatusOr<std::vector<storage::PermissionSet>> AllPermissionSets(storage::AccountStore& store) {
  std::vector<storage::PermissionSet> all;
  storage::PageRequest page{"", 1000};
  while (true) {
    TS_ASSIGN_OR_RETURN(auto got, store.ListPermissionSets(page));
    all.insert(all.end(), got.items.begin(), got.items.end());
    if (got.next.empty()) return all;
    page.after = got.next;
  }
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The audit event of one write of the document (bootstrap.h): the API call its entry stands
// for, made by the operator who started the server with it. Ids and ARNs only, as the admin
// plane's allow-list has them: never a password, a secret or an attribute.
storage::AuditEvent BootstrapEvent(const BootstrapContext& ctx, std::string_view name,
                                   Pairs parameters, Pairs response = {}) {
  storage::AuditEvent e;
  e.event_time = ctx.now;
  e.event_source = "tessera.bootstrap";
  e.event_name = std::string(name);
  e.request_parameters = std::move(parameters);
  e.response_elements = std::move(response);
  e.additional_event_data = {{"bootstrap", ctx.origin}};
  return e;
}

// Makes `write` (one store write) with `event`: they commit together, or neither does.
template <typename Write>
Status Audited(storage::AuditEvent event, Write&& write) {
  storage::AuditScope audit(std::move(event));
  return write();
}

storage::OperationStatus BootstrapStatus(std::string kind, const json::object& body, int64_t now) {
  storage::OperationStatus s;
  s.request_id = crypto::RandomUuid();
  s.kind = std::move(kind);
  s.body_json = json::serialize(body);
  s.created_at = now;
  return s;
}

// Accounts, permission sets (matched by Name) and account assignments (added, never removed). A
// permission set whose policies the document changes is provisioned again wherever it is.
template <typename PrincipalIdOf>
Status ApplyAccounts(const BootstrapContext& ctx, Plan& plan, const storage::Instance& instance,
                     const std::vector<storage::PermissionSet>& stored_sets,
                     PrincipalIdOf& principal_id_of) {
  storage::Store& store = *ctx.store;
  for (const storage::Account& a : plan.accounts) {
    storage::Account account = a;
    account.created_at = ctx.now;
    TS_RETURN_IF_ERROR(
        Audited(BootstrapEvent(ctx, "AddAccount", {{"accountId", account.account_id}}),
                [&] { return store.PutAccount(account); }));
  }
  std::map<std::string, storage::PermissionSet> by_name;
  for (const auto& ps : stored_sets) by_name[ps.name] = ps;
  for (storage::PermissionSet& ps : plan.permission_sets) {
    ps.instance_arn = instance.instance_arn;
    auto found = by_name.find(ps.name);
    if (found == by_name.end()) {
      ps.arn = "arn:aws:sso:::permissionSet/" + instance.instance_id + "/ps-" +
               crypto::HexEncode(crypto::RandomBytes(8));
      TS_RETURN_IF_ERROR(
          Audited(BootstrapEvent(ctx, "CreatePermissionSet", {{"instanceArn", ps.instance_arn}},
                                 {{"permissionSetArn", ps.arn}}),
                  [&] { return store.CreatePermissionSet(ps); }));
      by_name[ps.name] = ps;
      continue;
    }
    const storage::PermissionSet& old = found->second;
    ps.arn = old.arn;
    ps.created_at = old.created_at;
    const bool changed = old.inline_policy_json != ps.inline_policy_json ||
                         old.managed_policy_arns != ps.managed_policy_arns ||
                         old.permissions_boundary_json != ps.permissions_boundary_json;
    ps.updated_at = changed ? std::max(ctx.now, old.updated_at + 1) : old.updated_at;
    TS_RETURN_IF_ERROR(
        Audited(BootstrapEvent(ctx, "UpdatePermissionSet",
                               {{"instanceArn", ps.instance_arn}, {"permissionSetArn", ps.arn}}),
                [&] { return store.UpdatePermissionSet(ps); }));
    by_name[ps.name] = ps;
    if (!changed) continue;
    TS_ASSIGN_OR_RETURN(auto roles, store.ListProvisionedRoles("", ps.arn));
    for (const auto& role : roles) {
      TS_RETURN_IF_ERROR(Audited(
          BootstrapEvent(ctx, "ProvisionPermissionSet",
                         {{"instanceArn", ps.instance_arn},
                          {"permissionSetArn", ps.arn},
                          {"targetId", role.account_id}}),
          [&] {
            return store.ProvisionRole(
                admin::ProvisioningFor(ps, role.account_id, role, ctx.now),
                BootstrapStatus("PERMISSION_SET_PROVISIONING",
                                {{"PermissionSetArn", ps.arn}, {"AccountId", role.account_id}},
                                ctx.now));
          }));
    }
  }
  for (const auto& e : plan.account_assignments) {
    const storage::PermissionSet& ps = by_name.at(e.permission_set_name);
    TS_ASSIGN_OR_RETURN(std::string principal_id, principal_id_of(e.principal));
    storage::AccountAssignment a{e.account_id, ps.arn, e.principal_type, principal_id, ctx.now};
    std::optional<storage::RoleProvisioning> provisioning;
    auto role = store.GetProvisionedRole(e.account_id, ps.arn);
    if (!role.ok()) {
      if (role.status().code() != StatusCode::kNotFound) return role.status();
      provisioning = admin::ProvisioningFor(ps, e.account_id, std::nullopt, ctx.now);
    }
    // An assignment made by an earlier run fails (AlreadyExists) and takes its event with it.
    storage::AuditScope audit(BootstrapEvent(ctx, "CreateAccountAssignment",
                                             {{"instanceArn", instance.instance_arn},
                                              {"targetId", a.account_id},
                                              {"targetType", "AWS_ACCOUNT"},
                                              {"permissionSetArn", a.permission_set_arn},
                                              {"principalType", a.principal_type},
                                              {"principalId", a.principal_id}}));
    Status s =
        store.CreateAccountAssignment(a, provisioning,
                                      BootstrapStatus("ACCOUNT_ASSIGNMENT_CREATION",
                                                      {{"TargetId", a.account_id},
                                                       {"TargetType", "AWS_ACCOUNT"},
                                                       {"PermissionSetArn", a.permission_set_arn},
                                                       {"PrincipalType", a.principal_type},
                                                       {"PrincipalId", a.principal_id}},
                                                      ctx.now));
    if (s.code() == StatusCode::kAlreadyExists) continue;  // assigned by an earlier run
    TS_RETURN_IF_ERROR(s);
  }
  return OkStatus();
}

}  // namespace

Status ApplyBootstrap(const BootstrapContext& ctx, const std::string& text) {
  TS_ASSIGN_OR_RETURN(Plan plan, Parse(text, ctx));
  storage::Store& store = *ctx.store;
  // Everything that can be checked is checked before the first write: what the document names
  // exists in it or in the database.
  auto user_known = [&](const std::string& name) {
    for (const auto& [user, password] : plan.users) {
      if (user.user_name == name) return true;
    }
    return store.GetUserByName(name).ok();
  };
  auto group_known = [&](const std::string& name) {
    for (const auto& [group, members] : plan.groups) {
      if (group.display_name == name) return true;
    }
    auto found = store.FindGroupsByAttribute("displayname", name);
    return found.ok() && !found->empty();
  };
  TS_ASSIGN_OR_RETURN(std::vector<storage::TrustedTokenIssuer> known,
                      store.ListTrustedTokenIssuers());
  auto known_where = [](const Reference& r) {
    if (r.kind == "name") return "no user named " + r.ref;
    if (r.kind == "group-name") return "no group named " + r.ref;
    if (r.kind == "id") return "no user with UserId " + r.ref;
    if (r.kind == "group-id") return "no group with GroupId " + r.ref;
    return "no trusted token issuer " + r.ref;
  };
  auto exists = [&](const Reference& r) {
    if (r.kind == "name") return user_known(r.ref);
    if (r.kind == "group-name") return group_known(r.ref);
    if (r.kind == "id") {
      for (const auto& [user, password] : plan.users) {
        if (user.user_id == r.ref) return true;
      }
      return store.GetUser(r.ref).ok();
    }
    if (r.kind == "group-id") {
      for (const auto& [group, members] : plan.groups) {
        if (group.group_id == r.ref) return true;
      }
      return store.GetGroup(r.ref).ok();
    }
    bool found = false;
    for (const auto& t : plan.issuers) found |= t.arn == r.ref;
    for (const auto& t : known) found |= t.arn == r.ref;
    return found;
  };
  std::vector<Reference> references = plan.issuer_references;
  for (const auto& list : plan.assignments) {
    references.insert(references.end(), list.begin(), list.end());
  }
  for (size_t i = 0; i < plan.groups.size(); ++i) {
    const std::vector<std::string>& members = plan.groups[i].second;
    for (size_t j = 0; j < members.size(); ++j) {
      references.push_back(
          {members[j], "name", Element(Member(Element("Groups", i), "Members"), j)});
    }
  }
  for (const auto& e : plan.account_assignments) references.push_back(e.principal);
  for (const Reference& r : references) {
    if (!exists(r)) {
      return Bad(r.where, known_where(r) + " (neither in this document nor in the database)");
    }
  }
  // Account assignments name declared accounts and permission sets, in the document or the
  // database.
  TS_ASSIGN_OR_RETURN(std::vector<storage::PermissionSet> stored_sets, AllPermissionSets(store));
  for (const auto& e : plan.account_assignments) {
    bool account = store.GetAccount(e.account_id).ok();
    for (const auto& a : plan.accounts) account |= a.account_id == e.account_id;
    if (!account) {
      return Bad(
          Member(e.where, "AccountId"),
          "account " + e.account_id + " is not declared (neither in Accounts nor in the database)");
    }
    bool known_set = false;
    for (const auto& ps : plan.permission_sets) known_set |= ps.name == e.permission_set_name;
    for (const auto& ps : stored_sets) known_set |= ps.name == e.permission_set_name;
    if (!known_set) {
      return Bad(Member(e.where, "PermissionSetName"),
                 "no permission set named " + e.permission_set_name +
                     " (neither in this document nor in the database)");
    }
  }
  // Trusted token issuers keep Name and IssuerUrl unique against the database too.
  for (size_t i = 0; i < plan.issuers.size(); ++i) {
    const storage::TrustedTokenIssuer& t = plan.issuers[i];
    const std::string where = Element("TrustedTokenIssuers", i);
    for (const auto& k : known) {
      const bool same = t.arn.empty() ? k.name == t.name : k.arn == t.arn;
      if (same) continue;
      if (k.name == t.name) {
        return Bad(Member(where, "Name"),
                   "a trusted token issuer named '" + t.name + "' already exists: " + k.arn);
      }
      if (k.issuer_url == t.issuer_url) {
        return Bad(
            Member(where, "TrustedTokenIssuerConfiguration.OidcJwtConfiguration.IssuerUrl"),
            "a trusted token issuer with IssuerUrl " + t.issuer_url + " already exists: " + k.arn);
      }
    }
  }
  // An application entry changes the members it names: the ones it leaves out, and the grants,
  // access scopes and assignments it does not list, are kept (what the Put* calls do). Creating
  // an application needs its Name, as CreateApplication does.
  std::vector<bool> app_exists(plan.apps.size(), false);  // for the audit trail's event name
  for (size_t i = 0; i < plan.apps.size(); ++i) {
    storage::Application& given = plan.apps[i];
    const std::set<std::string>& members = plan.app_members[i];
    auto stored = store.GetApplication(given.application_arn);
    if (!stored.ok() && stored.status().code() == StatusCode::kNotFound) {
      if (!members.contains("Name")) {
        return Bad(
            Member(Element("Applications", i), "Name"),
            "is required to create " + given.application_arn + " (it is not in the database yet)");
      }
      continue;
    }
    TS_RETURN_IF_ERROR(stored.status());
    app_exists[i] = true;
    storage::Application merged = *stored;
    if (members.contains("Name")) merged.name = given.name;
    if (members.contains("Description")) merged.description = given.description;
    if (members.contains("Status")) merged.status = given.status;
    if (members.contains("AssignmentRequired")) {
      merged.assignment_required = given.assignment_required;
    }
    if (members.contains("AuthenticationMethods")) {
      merged.actor_policy_json = given.actor_policy_json;
    }
    for (const auto& [type, value] : given.grants) merged.grants[type] = value;
    for (const auto& [scope, targets] : given.access_scopes) merged.access_scopes[scope] = targets;
    given = std::move(merged);
  }
  // From here on every write is recorded, as the operator's (bootstrap.h), and names the
  // instance the document lands in.
  const storage::AuditRequest operator_request(
      storage::LocalOperatorContext(std::string("tessera-serve/") + kVersion));
  storage::SetAuditInstance(ctx.region, plan.target.owner_account_id,
                            plan.target.identity_store_id);
  if (plan.instance) {
    const bool exists = store.GetInstance().ok();
    TS_RETURN_IF_ERROR(Audited(BootstrapEvent(ctx, exists ? "UpdateInstance" : "CreateInstance",
                                              {{"instanceArn", plan.instance->instance_arn}}),
                               [&] { return store.PutInstance(*plan.instance); }));
  }
  TS_ASSIGN_OR_RETURN(storage::Instance instance, store.GetInstance());
  for (storage::TrustedTokenIssuer& t : plan.issuers) {
    t.instance_arn = instance.instance_arn;
    bool exists = false;
    for (const auto& k : known) {
      // Matched by ARN, or by Name when the document leaves the ARN to us (idempotent restarts).
      if ((!t.arn.empty() && k.arn == t.arn) || (t.arn.empty() && k.name == t.name)) {
        t.arn = k.arn;
        t.created_at = k.created_at;
        exists = true;
      }
    }
    if (t.arn.empty()) {
      t.arn = "arn:aws:sso::" + instance.owner_account_id + ":trustedTokenIssuer/" +
              instance.instance_id + "/tti-" + crypto::RandomUuid();
    }
    TS_RETURN_IF_ERROR(Audited(
        BootstrapEvent(ctx, exists ? "UpdateTrustedTokenIssuer" : "CreateTrustedTokenIssuer",
                       {{"instanceArn", instance.instance_arn}, {"trustedTokenIssuerArn", t.arn}}),
        [&] { return store.PutTrustedTokenIssuer(t); }));
  }
  // Named references, not structured bindings: the lambdas below capture them, which clang 14
  // (the fuzz build's compiler) refuses for a structured binding.
  for (auto& user_and_password : plan.users) {
    storage::User& user = user_and_password.first;
    const std::string& password = user_and_password.second;
    user.identity_store_id = instance.identity_store_id;
    auto existing = store.GetUserByName(user.user_name);
    if (!password.empty()) {
      TS_ASSIGN_OR_RETURN(user.password_hash, crypto::HashPassword(password));
    }
    if (existing.ok()) {
      user.user_id = existing->user_id;
      user.created_at = existing->created_at;
      if (password.empty()) user.password_hash = existing->password_hash;
      TS_RETURN_IF_ERROR(Audited(
          BootstrapEvent(ctx, "UpdateUser",
                         {{"identityStoreId", user.identity_store_id}, {"userId", user.user_id}}),
          [&] { return store.UpdateUser(user); }));
    } else if (existing.status().code() == StatusCode::kNotFound) {
      if (user.user_id.empty()) user.user_id = crypto::RandomUuid();
      TS_RETURN_IF_ERROR(
          Audited(BootstrapEvent(ctx, "CreateUser", {{"identityStoreId", user.identity_store_id}},
                                 {{"userId", user.user_id}}),
                  [&] { return store.CreateUser(user); }));
    } else {
      return existing.status();
    }
  }
  // Groups are matched by DisplayName; memberships are added, never removed.
  for (auto& group_and_members : plan.groups) {
    storage::Group& group = group_and_members.first;
    const auto& members = group_and_members.second;
    group.identity_store_id = instance.identity_store_id;
    TS_ASSIGN_OR_RETURN(std::vector<storage::Group> existing,
                        store.FindGroupsByAttribute("displayname", group.display_name));
    if (!existing.empty()) {
      group.group_id = existing.front().group_id;
      group.created_at = existing.front().created_at;
      TS_RETURN_IF_ERROR(Audited(BootstrapEvent(ctx, "UpdateGroup",
                                                {{"identityStoreId", group.identity_store_id},
                                                 {"groupId", group.group_id}}),
                                 [&] { return store.UpdateGroup(group); }));
    } else {
      if (group.group_id.empty()) group.group_id = crypto::RandomUuid();
      TS_RETURN_IF_ERROR(
          Audited(BootstrapEvent(ctx, "CreateGroup", {{"identityStoreId", group.identity_store_id}},
                                 {{"groupId", group.group_id}}),
                  [&] { return store.CreateGroup(group); }));
    }
    for (const std::string& name : members) {
      TS_ASSIGN_OR_RETURN(storage::User user, store.GetUserByName(name));
      TS_ASSIGN_OR_RETURN(std::vector<storage::GroupMembership> memberships,
                          store.ListGroupMembershipsForUser(user.user_id));
      bool member = false;
      for (const auto& m : memberships) member |= m.group_id == group.group_id;
      if (member) continue;
      const storage::GroupMembership membership{crypto::RandomUuid(), instance.identity_store_id,
                                                group.group_id, user.user_id, ctx.now};
      TS_RETURN_IF_ERROR(Audited(BootstrapEvent(ctx, "CreateGroupMembership",
                                                {{"identityStoreId", membership.identity_store_id},
                                                 {"groupId", membership.group_id},
                                                 {"memberId.userId", membership.user_id}},
                                                {{"membershipId", membership.membership_id}}),
                                 [&] { return store.CreateGroupMembership(membership); }));
    }
  }
  // The id of the principal a reference names (it exists: checked above).
  auto principal_id_of = [&](const Reference& r) -> StatusOr<std::string> {
    if (r.kind == "name") {
      TS_ASSIGN_OR_RETURN(storage::User user, store.GetUserByName(r.ref));
      return user.user_id;
    }
    if (r.kind == "group-name") {
      TS_ASSIGN_OR_RETURN(std::vector<storage::Group> found,
                          store.FindGroupsByAttribute("displayname", r.ref));
      if (found.empty()) return NotFoundError("group " + r.ref + " vanished");
      return found.front().group_id;
    }
    return r.ref;
  };
  for (size_t i = 0; i < plan.apps.size(); ++i) {
    storage::Application& app = plan.apps[i];
    app.instance_arn = instance.instance_arn;
    TS_RETURN_IF_ERROR(
        Audited(BootstrapEvent(
                    ctx, app_exists[i] ? "UpdateApplication" : "CreateApplication",
                    {{"instanceArn", app.instance_arn}, {"applicationArn", app.application_arn}}),
                [&] { return store.PutApplication(app); }));
    for (const Reference& r : plan.assignments[i]) {
      const std::string type = r.kind == "group-name" || r.kind == "group-id" ? "GROUP" : "USER";
      TS_ASSIGN_OR_RETURN(std::string principal_id, principal_id_of(r));
      TS_RETURN_IF_ERROR(
          Audited(BootstrapEvent(ctx, "CreateApplicationAssignment",
                                 {{"applicationArn", app.application_arn},
                                  {"principalId", principal_id},
                                  {"principalType", type}}),
                  [&] { return store.PutAssignment(app.application_arn, principal_id, type); }));
    }
  }
  for (size_t i = 0; i < plan.principals.size(); ++i) {
    const std::string& arn = plan.principals[i].arn;
    TS_RETURN_IF_ERROR(Audited(BootstrapEvent(ctx, "CreatePrincipal", {{"principalArn", arn}}),
                               [&] { return store.PutPrincipal(plan.principals[i]); }));
    for (const auto& [id, secret] : plan.keys[i]) {
      if (store.GetAccessKey(id).ok()) continue;
      TS_RETURN_IF_ERROR(Audited(
          BootstrapEvent(ctx, "CreateAccessKey", {{"principalArn", arn}}, {{"accessKeyId", id}}),
          [&, &key_id = id, &key_secret = secret] {
            return CreateAccessKey(store, ctx.iam_seal_key, arn, ctx.now, 0, key_id, key_secret)
                .status();
          }));
    }
  }
  TS_RETURN_IF_ERROR(ApplyAccounts(ctx, plan, instance, stored_sets, principal_id_of));
  return OkStatus();
}

std::string DemoBootstrap(const std::string& demo_password) {
  JsonWriter w;
  w.BeginObject();
  w.Key("Instance");
  w.BeginObject();
  w.Member("InstanceArn", kDemoInstanceArn);
  w.Member("IdentityStoreId", "d-3333333333");
  w.Member("OwnerAccountId", "111111111111");
  w.Member("Name", "Tessera-demo");
  w.EndObject();
  w.Key("Users");
  w.BeginArray();
  w.BeginObject();
  w.Member("UserName", "demo");
  w.Member("DisplayName", "Demo User");
  w.Key("Name");
  w.BeginObject();
  w.Member("GivenName", "Demo");
  w.Member("FamilyName", "User");
  w.EndObject();
  w.Key("Emails");
  w.BeginArray();
  w.BeginObject();
  w.Member("Value", "demo@example.com");
  w.Member("Type", "work");
  w.MemberBool("Primary", true);
  w.EndObject();
  w.EndArray();
  // Without a password the user keeps the one it has (a restart of the demo).
  if (!demo_password.empty()) w.Member("Password", demo_password);
  w.EndObject();
  w.EndArray();
  w.Key("Applications");
  w.BeginArray();
  w.BeginObject();
  w.Member("ApplicationArn", kDemoApplicationArn);
  w.Member("Name", "My web app");
  w.MemberBool("AssignmentRequired", true);
  w.Key("Grants");
  w.Raw(R"([{"GrantType":"authorization_code","Grant":{"AuthorizationCode":{"RedirectUris":[")" +
        std::string(kDemoRedirectUri) +
        R"("]}}},{"GrantType":"refresh_token","Grant":{"RefreshToken":{}}}])");
  // The actor policy of the AWS S3 documentation example: the role `webapp` may call
  // CreateTokenWithIAM for this application. The root credential may always.
  w.Key("AuthenticationMethods");
  w.Raw(R"([{"AuthenticationMethodType":"IAM","AuthenticationMethod":{"Iam":{"ActorPolicy":)"
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":)"
        R"("arn:aws:iam::123456789012:role/webapp"},"Action":"sso-oauth:CreateTokenWithIAM",)"
        R"("Resource":"*"}]}}}}])");
  w.Key("Assignments");
  w.Raw(R"([{"PrincipalType":"USER","UserName":"demo"}])");
  w.EndObject();
  w.EndArray();
  // One account with one role for the access portal: the demo user may read Tessera's
  // configuration with the role's credentials (ReadOnlyAccess, as Tessera ships it).
  w.Key("Accounts");
  w.Raw(std::string(R"([{"AccountId":")") + kDemoAccountId +
        R"(","Name":"Demo account","Email":"aws-demo@example.com"}])");
  w.Key("PermissionSets");
  w.Raw(std::string(R"([{"Name":")") + kDemoPermissionSetName +
        R"(","Description":"Read-only access to Tessera's configuration","SessionDuration":"PT1H",)"
        R"("ManagedPolicies":["arn:aws:iam::aws:policy/ReadOnlyAccess"]}])");
  w.Key("AccountAssignments");
  w.Raw(std::string(R"([{"AccountId":")") + kDemoAccountId + R"(","PermissionSetName":")" +
        kDemoPermissionSetName + R"(","PrincipalType":"USER","UserName":"demo"}])");
  w.EndObject();
  return w.Take();
}

}  // namespace ts::server
