#include "ts/server/bootstrap.h"

#include <boost/json.hpp>
#include <cctype>

#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/password.h"
#include "ts/crypto/random.h"
#include "ts/http/uri.h"
#include "ts/server/credentials.h"
#include "ts/tti/claims.h"

namespace ts::server {
namespace {

namespace json = boost::json;

Status Bad(const std::string& where, const std::string& what) {
  return InvalidArgumentError("bootstrap: " + where + ": " + what);
}

StatusOr<std::string> Str(const json::object& o, const char* key, const std::string& where,
                          bool required) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    if (required) return Bad(where, std::string("member ") + key + " is required");
    return std::string();
  }
  if (!v->is_string()) return Bad(where, std::string("member ") + key + " must be a string");
  return std::string(v->as_string());
}

StatusOr<const json::array*> Arr(const json::object& o, const char* key, const std::string& where) {
  static const json::array kEmpty;
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return &kEmpty;
  if (!v->is_array()) return Bad(where, std::string("member ") + key + " must be a list");
  return &v->as_array();
}

StatusOr<const json::object*> Obj(const json::value& v, const std::string& where) {
  if (!v.is_object()) return Bad(where, "must be an object");
  return &v.as_object();
}

// The sso-admin Grant union: exactly one member, whose name matches the grant type.
StatusOr<std::string> GrantValue(const std::string& type, const json::object& grant,
                                 const std::string& where) {
  const char* member = nullptr;
  if (type == "authorization_code") member = "AuthorizationCode";
  if (type == "refresh_token") member = "RefreshToken";
  if (type == "urn:ietf:params:oauth:grant-type:jwt-bearer") member = "JwtBearer";
  if (type == "urn:ietf:params:oauth:grant-type:token-exchange") member = "TokenExchange";
  if (member == nullptr) return Bad(where, "unknown GrantType " + type);
  if (grant.size() != 1 || grant.if_contains(member) == nullptr) {
    return Bad(where, std::string("Grant must have exactly one member, ") + member);
  }
  const json::value& value = grant.at(member);
  if (!value.is_object()) return Bad(where, std::string(member) + " must be an object");
  if (type == "authorization_code") {
    const json::value* uris = value.as_object().if_contains("RedirectUris");
    if (uris == nullptr || !uris->is_array() || uris->as_array().empty() ||
        uris->as_array().size() > 10) {
      return Bad(where, "AuthorizationCode.RedirectUris must list 1 to 10 URIs");
    }
    const json::array& list = uris->as_array();
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) return Bad(where, "RedirectUris must be strings");
      // The same rules as sso-admin PutApplicationGrant (http/uri.h).
      if (auto problem = http::RedirectUriProblem(list[i].as_string())) {
        return Bad(where, "AuthorizationCode.RedirectUris[" + std::to_string(i) + "] '" +
                              std::string(list[i].as_string()) +
                              "' is not a valid redirect URI: " + *problem);
      }
    }
  }
  if (type == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    // PROTOCOL.md §6.2: 1-10 issuers, each with 1-10 audiences of 1-512 characters.
    const json::value* list = value.as_object().if_contains("AuthorizedTokenIssuers");
    if (list == nullptr || !list->is_array() || list->as_array().empty() ||
        list->as_array().size() > 10) {
      return Bad(where, "JwtBearer.AuthorizedTokenIssuers must list 1 to 10 issuers");
    }
    for (const auto& entry : list->as_array()) {
      const json::value* arn =
          entry.is_object() ? entry.as_object().if_contains("TrustedTokenIssuerArn") : nullptr;
      const json::value* auds =
          entry.is_object() ? entry.as_object().if_contains("AuthorizedAudiences") : nullptr;
      if (arn == nullptr || !arn->is_string() || arn->as_string().empty()) {
        return Bad(where, "AuthorizedTokenIssuers[] needs a TrustedTokenIssuerArn");
      }
      if (auds == nullptr || !auds->is_array() || auds->as_array().empty() ||
          auds->as_array().size() > 10) {
        return Bad(where,
                   "AuthorizedTokenIssuers[].AuthorizedAudiences must list 1 to 10 audiences");
      }
      for (const auto& a : auds->as_array()) {
        if (!a.is_string() || a.as_string().empty() || a.as_string().size() > 512) {
          return Bad(where, "AuthorizedAudiences must be strings of 1 to 512 characters");
        }
      }
    }
  }
  return json::serialize(value);
}

struct Plan {
  std::optional<storage::Instance> instance;
  std::vector<std::pair<storage::User, std::string>> users;  // with plaintext password
  std::vector<std::pair<storage::Group, std::vector<std::string>>> groups;  // with member names
  std::vector<storage::Application> apps;
  // (reference, kind): kind "id" (a user's or group's id), "name" (UserName), "group-name"
  // (DisplayName); a GROUP with an id carries kind "group-id".
  std::vector<std::vector<std::pair<std::string, std::string>>> assignments;
  std::vector<storage::IamPrincipal> principals;
  std::vector<std::vector<std::pair<std::string, std::string>>> keys;  // (id, secret)
  std::vector<storage::TrustedTokenIssuer> issuers;  // arn "" when it is to be generated
};

// sso-admin CreateTrustedTokenIssuer's Name pattern [\w+=,.@-]+ (1-255).
bool ValidIssuerName(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '+' ||
                    c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

StatusOr<storage::TrustedTokenIssuer> ParseIssuer(const json::object& o, const std::string& where,
                                                  int64_t now) {
  storage::TrustedTokenIssuer t;
  TS_ASSIGN_OR_RETURN(t.arn, Str(o, "TrustedTokenIssuerArn", where, false));
  TS_ASSIGN_OR_RETURN(t.name, Str(o, "Name", where, true));
  TS_ASSIGN_OR_RETURN(t.type, Str(o, "TrustedTokenIssuerType", where, true));
  if (!ValidIssuerName(t.name)) return Bad(where, "Name must match [\\w+=,.@-]+ (1-255)");
  if (t.type != "OIDC_JWT") return Bad(where, "TrustedTokenIssuerType must be OIDC_JWT");
  if (!t.arn.empty() && (t.arn.rfind("arn:aws:sso::", 0) != 0 ||
                         t.arn.find(":trustedTokenIssuer/") == std::string::npos)) {
    return Bad(where,
               "TrustedTokenIssuerArn must look like "
               "arn:aws:sso::<account>:trustedTokenIssuer/<instance id>/tti-...");
  }
  const json::value* conf = o.if_contains("TrustedTokenIssuerConfiguration");
  const json::value* oidc = conf != nullptr && conf->is_object() && conf->as_object().size() == 1
                                ? conf->as_object().if_contains("OidcJwtConfiguration")
                                : nullptr;
  if (oidc == nullptr || !oidc->is_object()) {
    return Bad(where,
               "TrustedTokenIssuerConfiguration must have exactly one member, "
               "OidcJwtConfiguration (an object)");
  }
  const std::string cw = where + ".OidcJwtConfiguration";
  const json::object& c = oidc->as_object();
  TS_ASSIGN_OR_RETURN(t.issuer_url, Str(c, "IssuerUrl", cw, true));
  TS_ASSIGN_OR_RETURN(t.claim_attribute_path, Str(c, "ClaimAttributePath", cw, true));
  TS_ASSIGN_OR_RETURN(t.identity_store_attribute_path,
                      Str(c, "IdentityStoreAttributePath", cw, true));
  TS_ASSIGN_OR_RETURN(t.jwks_retrieval_option, Str(c, "JwksRetrievalOption", cw, true));
  if (t.issuer_url.size() > 512 ||
      (t.issuer_url.rfind("https://", 0) != 0 && t.issuer_url.rfind("http://", 0) != 0)) {
    return Bad(cw, "IssuerUrl must be an https:// URL of at most 512 characters");
  }
  if (Status st = tti::ValidateClaimPath(t.claim_attribute_path); !st.ok()) {
    return Bad(cw, std::string(st.message()));
  }
  if (Status st = tti::ValidateAttributePath(t.identity_store_attribute_path); !st.ok()) {
    return Bad(cw, std::string(st.message()));
  }
  if (t.jwks_retrieval_option != "OPEN_ID_DISCOVERY") {
    return Bad(cw, "JwksRetrievalOption must be OPEN_ID_DISCOVERY");
  }
  t.created_at = now;
  return t;
}

StatusOr<Plan> Parse(const std::string& text, const BootstrapContext& ctx) {
  json::value doc;
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    return Bad("document", std::string("not valid JSON: ") + e.what());
  }
  TS_ASSIGN_OR_RETURN(const json::object* root, Obj(doc, "document"));
  Plan plan;
  if (const json::value* v = root->if_contains("Instance")) {
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj(*v, "Instance"));
    storage::Instance inst;
    TS_ASSIGN_OR_RETURN(inst.instance_arn, Str(*o, "InstanceArn", "Instance", true));
    TS_ASSIGN_OR_RETURN(inst.identity_store_id, Str(*o, "IdentityStoreId", "Instance", true));
    TS_ASSIGN_OR_RETURN(inst.owner_account_id, Str(*o, "OwnerAccountId", "Instance", true));
    TS_ASSIGN_OR_RETURN(inst.name, Str(*o, "Name", "Instance", false));
    size_t slash = inst.instance_arn.rfind('/');
    if (inst.instance_arn.rfind("arn:aws:sso:::instance/", 0) != 0 || slash == std::string::npos) {
      return Bad("Instance", "InstanceArn must look like arn:aws:sso:::instance/ssoins-...");
    }
    inst.instance_id = inst.instance_arn.substr(slash + 1);
    inst.region = ctx.region;
    inst.created_at = ctx.now;
    plan.instance = inst;
  }
  TS_ASSIGN_OR_RETURN(const json::array* users, Arr(*root, "Users", "document"));
  for (size_t i = 0; i < users->size(); ++i) {
    const std::string where = "Users[" + std::to_string(i) + "]";
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj((*users)[i], where));
    storage::User u;
    TS_ASSIGN_OR_RETURN(u.user_name, Str(*o, "UserName", where, true));
    TS_ASSIGN_OR_RETURN(u.user_id, Str(*o, "UserId", where, false));
    TS_ASSIGN_OR_RETURN(u.display_name, Str(*o, "DisplayName", where, false));
    TS_ASSIGN_OR_RETURN(std::string password, Str(*o, "Password", where, false));
    json::object attributes = *o;
    attributes.erase("Password");
    attributes.erase("UserId");
    u.attributes_json = json::serialize(attributes);
    u.created_at = u.updated_at = ctx.now;
    plan.users.emplace_back(std::move(u), std::move(password));
  }
  TS_ASSIGN_OR_RETURN(const json::array* groups, Arr(*root, "Groups", "document"));
  for (size_t i = 0; i < groups->size(); ++i) {
    const std::string where = "Groups[" + std::to_string(i) + "]";
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj((*groups)[i], where));
    storage::Group g;
    TS_ASSIGN_OR_RETURN(g.display_name, Str(*o, "DisplayName", where, true));
    TS_ASSIGN_OR_RETURN(g.group_id, Str(*o, "GroupId", where, false));
    TS_ASSIGN_OR_RETURN(g.description, Str(*o, "Description", where, false));
    for (const auto& [other, other_members] : plan.groups) {
      if (other.display_name == g.display_name) return Bad(where, "duplicate DisplayName");
    }
    std::vector<std::string> members;
    TS_ASSIGN_OR_RETURN(const json::array* list, Arr(*o, "Members", where));
    for (const auto& m : *list) {
      if (!m.is_string()) return Bad(where, "Members must list UserNames");
      members.emplace_back(m.as_string());
    }
    json::object attributes = *o;
    attributes.erase("GroupId");
    attributes.erase("Members");
    g.attributes_json = json::serialize(attributes);
    g.created_at = g.updated_at = ctx.now;
    plan.groups.emplace_back(std::move(g), std::move(members));
  }
  TS_ASSIGN_OR_RETURN(const json::array* issuers, Arr(*root, "TrustedTokenIssuers", "document"));
  for (size_t i = 0; i < issuers->size(); ++i) {
    const std::string where = "TrustedTokenIssuers[" + std::to_string(i) + "]";
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj((*issuers)[i], where));
    TS_ASSIGN_OR_RETURN(storage::TrustedTokenIssuer t, ParseIssuer(*o, where, ctx.now));
    for (const auto& other : plan.issuers) {
      if (other.name == t.name) return Bad(where, "duplicate Name " + t.name);
      if (!t.arn.empty() && other.arn == t.arn) return Bad(where, "duplicate ARN " + t.arn);
    }
    plan.issuers.push_back(std::move(t));
  }
  TS_ASSIGN_OR_RETURN(const json::array* apps, Arr(*root, "Applications", "document"));
  for (size_t i = 0; i < apps->size(); ++i) {
    const std::string where = "Applications[" + std::to_string(i) + "]";
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj((*apps)[i], where));
    storage::Application app;
    TS_ASSIGN_OR_RETURN(app.application_arn, Str(*o, "ApplicationArn", where, true));
    TS_ASSIGN_OR_RETURN(app.name, Str(*o, "Name", where, false));
    TS_ASSIGN_OR_RETURN(app.description, Str(*o, "Description", where, false));
    TS_ASSIGN_OR_RETURN(app.application_provider_arn,
                        Str(*o, "ApplicationProviderArn", where, false));
    if (app.application_provider_arn.empty()) {
      app.application_provider_arn = "arn:aws:sso::aws:applicationProvider/custom";
    }
    TS_ASSIGN_OR_RETURN(app.status, Str(*o, "Status", where, false));
    if (app.status.empty()) app.status = "ENABLED";
    if (app.status != "ENABLED" && app.status != "DISABLED") {
      return Bad(where, "Status must be ENABLED or DISABLED");
    }
    if (const json::value* v = o->if_contains("AssignmentRequired")) {
      if (!v->is_bool()) return Bad(where, "AssignmentRequired must be true or false");
      app.assignment_required = v->as_bool();
    }
    TS_ASSIGN_OR_RETURN(const json::array* grants, Arr(*o, "Grants", where));
    for (const auto& g : *grants) {
      TS_ASSIGN_OR_RETURN(const json::object* go, Obj(g, where + ".Grants[]"));
      TS_ASSIGN_OR_RETURN(std::string type, Str(*go, "GrantType", where + ".Grants[]", true));
      const json::value* grant = go->if_contains("Grant");
      if (grant == nullptr || !grant->is_object()) {
        return Bad(where + ".Grants[]", "member Grant must be an object");
      }
      TS_ASSIGN_OR_RETURN(std::string value,
                          GrantValue(type, grant->as_object(), where + ".Grants[]"));
      app.grants[type] = value;
    }
    TS_ASSIGN_OR_RETURN(const json::array* methods, Arr(*o, "AuthenticationMethods", where));
    for (const auto& m : *methods) {
      const std::string mw = where + ".AuthenticationMethods[]";
      TS_ASSIGN_OR_RETURN(const json::object* mo, Obj(m, mw));
      TS_ASSIGN_OR_RETURN(std::string type, Str(*mo, "AuthenticationMethodType", mw, true));
      if (type != "IAM") return Bad(mw, "AuthenticationMethodType must be IAM");
      const json::value* method = mo->if_contains("AuthenticationMethod");
      const json::value* iam =
          method && method->is_object() ? method->as_object().if_contains("Iam") : nullptr;
      const json::value* policy =
          iam && iam->is_object() ? iam->as_object().if_contains("ActorPolicy") : nullptr;
      if (policy == nullptr || !policy->is_object()) {
        return Bad(mw, "AuthenticationMethod.Iam.ActorPolicy must be a policy object");
      }
      app.actor_policy_json = json::serialize(*policy);
    }
    TS_ASSIGN_OR_RETURN(const json::array* scopes, Arr(*o, "AccessScopes", where));
    for (const auto& s : *scopes) {
      const std::string sw = where + ".AccessScopes[]";
      TS_ASSIGN_OR_RETURN(const json::object* so, Obj(s, sw));
      TS_ASSIGN_OR_RETURN(std::string scope, Str(*so, "Scope", sw, true));
      TS_ASSIGN_OR_RETURN(const json::array* targets, Arr(*so, "AuthorizedTargets", sw));
      std::vector<std::string> list;
      for (const auto& t : *targets) {
        if (!t.is_string()) return Bad(sw, "AuthorizedTargets must be strings");
        list.emplace_back(t.as_string());
      }
      app.access_scopes[scope] = list;
    }
    std::vector<std::pair<std::string, std::string>> assignments;
    TS_ASSIGN_OR_RETURN(const json::array* assigned, Arr(*o, "Assignments", where));
    for (const auto& a : *assigned) {
      const std::string aw = where + ".Assignments[]";
      TS_ASSIGN_OR_RETURN(const json::object* ao, Obj(a, aw));
      TS_ASSIGN_OR_RETURN(std::string type, Str(*ao, "PrincipalType", aw, false));
      TS_ASSIGN_OR_RETURN(std::string id, Str(*ao, "PrincipalId", aw, false));
      if (type == "GROUP") {
        TS_ASSIGN_OR_RETURN(std::string name, Str(*ao, "DisplayName", aw, false));
        if (id.empty() == name.empty()) {
          return Bad(aw, "give exactly one of PrincipalId, DisplayName for a GROUP");
        }
        assignments.emplace_back(id.empty() ? name : id, id.empty() ? "group-name" : "group-id");
        continue;
      }
      if (!type.empty() && type != "USER") return Bad(aw, "PrincipalType must be USER or GROUP");
      TS_ASSIGN_OR_RETURN(std::string name, Str(*ao, "UserName", aw, false));
      if (id.empty() == name.empty()) return Bad(aw, "give exactly one of PrincipalId, UserName");
      assignments.emplace_back(id.empty() ? name : id, id.empty() ? "name" : "id");
    }
    app.created_at = ctx.now;
    plan.apps.push_back(std::move(app));
    plan.assignments.push_back(std::move(assignments));
  }
  TS_ASSIGN_OR_RETURN(const json::array* principals, Arr(*root, "IamPrincipals", "document"));
  for (size_t i = 0; i < principals->size(); ++i) {
    const std::string where = "IamPrincipals[" + std::to_string(i) + "]";
    TS_ASSIGN_OR_RETURN(const json::object* o, Obj((*principals)[i], where));
    storage::IamPrincipal p;
    TS_ASSIGN_OR_RETURN(p.arn, Str(*o, "Arn", where, true));
    p.account_id = AccountOfArn(p.arn);
    if (p.account_id.size() != 12) return Bad(where, "Arn must name a 12-digit account");
    if (const json::value* pol = o->if_contains("IdentityPolicy")) {
      if (!pol->is_object()) return Bad(where, "IdentityPolicy must be a policy object");
      p.identity_policy_json = json::serialize(*pol);
    }
    p.created_at = ctx.now;
    std::vector<std::pair<std::string, std::string>> keys;
    TS_ASSIGN_OR_RETURN(const json::array* list, Arr(*o, "AccessKeys", where));
    for (const auto& k : *list) {
      TS_ASSIGN_OR_RETURN(const json::object* ko, Obj(k, where + ".AccessKeys[]"));
      TS_ASSIGN_OR_RETURN(std::string id, Str(*ko, "AccessKeyId", where + ".AccessKeys[]", true));
      TS_ASSIGN_OR_RETURN(std::string secret,
                          Str(*ko, "SecretAccessKey", where + ".AccessKeys[]", true));
      keys.emplace_back(id, secret);
    }
    plan.principals.push_back(std::move(p));
    plan.keys.push_back(std::move(keys));
  }
  return plan;
}

}  // namespace

Status ApplyBootstrap(const BootstrapContext& ctx, const std::string& text) {
  TS_ASSIGN_OR_RETURN(Plan plan, Parse(text, ctx));
  storage::Store& store = *ctx.store;
  // Everything that can be checked is checked before the first write.
  if (!plan.instance) TS_RETURN_IF_ERROR(store.GetInstance().status());
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
  for (const auto& assignments : plan.assignments) {
    for (const auto& [ref, kind] : assignments) {
      if (kind == "name" && !user_known(ref)) return Bad("Assignments", "no user named " + ref);
      if (kind == "group-name" && !group_known(ref)) {
        return Bad("Assignments", "no group named " + ref);
      }
    }
  }
  for (const auto& [group, members] : plan.groups) {
    for (const std::string& name : members) {
      if (!user_known(name)) {
        return Bad("Groups " + group.display_name + " Members", "no user named " + name);
      }
    }
  }
  TS_ASSIGN_OR_RETURN(std::vector<storage::TrustedTokenIssuer> known,
                      store.ListTrustedTokenIssuers());
  for (const storage::Application& app : plan.apps) {
    auto grant = app.grants.find("urn:ietf:params:oauth:grant-type:jwt-bearer");
    if (grant == app.grants.end()) continue;
    const json::value parsed = json::parse(grant->second);  // validated by GrantValue
    for (const auto& entry : parsed.at("AuthorizedTokenIssuers").as_array()) {
      const std::string arn(entry.at("TrustedTokenIssuerArn").as_string());
      bool found = false;
      for (const auto& t : plan.issuers) found |= t.arn == arn;
      for (const auto& t : known) found |= t.arn == arn;
      if (!found) {
        return Bad(app.application_arn + " JwtBearer", "no trusted token issuer " + arn);
      }
    }
  }
  if (plan.instance) TS_RETURN_IF_ERROR(store.PutInstance(*plan.instance));
  TS_ASSIGN_OR_RETURN(storage::Instance instance, store.GetInstance());
  for (storage::TrustedTokenIssuer& t : plan.issuers) {
    t.instance_arn = instance.instance_arn;
    for (const auto& k : known) {
      // Matched by ARN, or by Name when the document leaves the ARN to us (idempotent restarts).
      if ((!t.arn.empty() && k.arn == t.arn) || (t.arn.empty() && k.name == t.name)) {
        t.arn = k.arn;
        t.created_at = k.created_at;
      }
    }
    if (t.arn.empty()) {
      t.arn = "arn:aws:sso::" + instance.owner_account_id + ":trustedTokenIssuer/" +
              instance.instance_id + "/tti-" + crypto::RandomUuid();
    }
    TS_RETURN_IF_ERROR(store.PutTrustedTokenIssuer(t));
  }
  for (auto& [user, password] : plan.users) {
    user.identity_store_id = instance.identity_store_id;
    auto existing = store.GetUserByName(user.user_name);
    if (!password.empty()) {
      TS_ASSIGN_OR_RETURN(user.password_hash, crypto::HashPassword(password));
    }
    if (existing.ok()) {
      user.user_id = existing->user_id;
      user.created_at = existing->created_at;
      if (password.empty()) user.password_hash = existing->password_hash;
      TS_RETURN_IF_ERROR(store.UpdateUser(user));
    } else if (existing.status().code() == StatusCode::kNotFound) {
      if (user.user_id.empty()) user.user_id = crypto::RandomUuid();
      TS_RETURN_IF_ERROR(store.CreateUser(user));
    } else {
      return existing.status();
    }
  }
  // Groups are matched by DisplayName; memberships are added, never removed.
  for (auto& [group, members] : plan.groups) {
    group.identity_store_id = instance.identity_store_id;
    TS_ASSIGN_OR_RETURN(std::vector<storage::Group> existing,
                        store.FindGroupsByAttribute("displayname", group.display_name));
    if (!existing.empty()) {
      group.group_id = existing.front().group_id;
      group.created_at = existing.front().created_at;
      TS_RETURN_IF_ERROR(store.UpdateGroup(group));
    } else {
      if (group.group_id.empty()) group.group_id = crypto::RandomUuid();
      TS_RETURN_IF_ERROR(store.CreateGroup(group));
    }
    for (const std::string& name : members) {
      TS_ASSIGN_OR_RETURN(storage::User user, store.GetUserByName(name));
      TS_ASSIGN_OR_RETURN(std::vector<storage::GroupMembership> memberships,
                          store.ListGroupMembershipsForUser(user.user_id));
      bool member = false;
      for (const auto& m : memberships) member |= m.group_id == group.group_id;
      if (member) continue;
      TS_RETURN_IF_ERROR(
          store.CreateGroupMembership({crypto::RandomUuid(), instance.identity_store_id,
                                       group.group_id, user.user_id, ctx.now}));
    }
  }
  for (size_t i = 0; i < plan.apps.size(); ++i) {
    storage::Application& app = plan.apps[i];
    app.instance_arn = instance.instance_arn;
    TS_RETURN_IF_ERROR(store.PutApplication(app));
    for (const auto& [ref, kind] : plan.assignments[i]) {
      std::string principal_id = ref;
      const bool group = kind == "group-name" || kind == "group-id";
      if (kind == "name") {
        auto user = store.GetUserByName(ref);
        if (!user.ok()) return Bad("Assignments", "no user named " + ref);
        principal_id = user->user_id;
      }
      if (kind == "group-name") {
        TS_ASSIGN_OR_RETURN(std::vector<storage::Group> found,
                            store.FindGroupsByAttribute("displayname", ref));
        if (found.empty()) return Bad("Assignments", "no group named " + ref);
        principal_id = found.front().group_id;
      }
      TS_RETURN_IF_ERROR(
          store.PutAssignment(app.application_arn, principal_id, group ? "GROUP" : "USER"));
    }
  }
  for (size_t i = 0; i < plan.principals.size(); ++i) {
    TS_RETURN_IF_ERROR(store.PutPrincipal(plan.principals[i]));
    for (const auto& [id, secret] : plan.keys[i]) {
      if (store.GetAccessKey(id).ok()) continue;
      TS_RETURN_IF_ERROR(
          CreateAccessKey(store, ctx.iam_seal_key, plan.principals[i].arn, ctx.now, 0, id, secret)
              .status());
    }
  }
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
  w.Member("Name", "Tessera demo");
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
  w.EndObject();
  return w.Take();
}

}  // namespace ts::server
