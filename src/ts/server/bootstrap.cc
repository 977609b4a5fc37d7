#include "ts/server/bootstrap.h"

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>

#include "ts/admin/role_provisioning.h"
#include "ts/common/json_writer.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/password.h"
#include "ts/crypto/random.h"
#include "ts/server/bootstrap_plan.h"
#include "ts/server/commands.h"
#include "ts/server/credentials.h"
#include "ts/storage/audit.h"

namespace ts::server {
namespace {

namespace json = boost::json;

using internal::DocumentError;
using internal::ElementPath;
using internal::MemberPath;
using internal::Plan;
using internal::Reference;

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
  TS_ASSIGN_OR_RETURN(Plan plan, internal::ParseDocument(text, ctx));
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
          {members[j], "name", ElementPath(MemberPath(ElementPath("Groups", i), "Members"), j)});
    }
  }
  for (const auto& e : plan.account_assignments) references.push_back(e.principal);
  for (const Reference& r : references) {
    if (!exists(r)) {
      return DocumentError(r.where,
                           known_where(r) + " (neither in this document nor in the database)");
    }
  }
  // Account assignments name declared accounts and permission sets, in the document or the
  // database.
  TS_ASSIGN_OR_RETURN(std::vector<storage::PermissionSet> stored_sets, AllPermissionSets(store));
  for (const auto& e : plan.account_assignments) {
    bool account = store.GetAccount(e.account_id).ok();
    for (const auto& a : plan.accounts) account |= a.account_id == e.account_id;
    if (!account) {
      return DocumentError(
          MemberPath(e.where, "AccountId"),
          "account " + e.account_id + " is not declared (neither in Accounts nor in the database)");
    }
    bool known_set = false;
    for (const auto& ps : plan.permission_sets) known_set |= ps.name == e.permission_set_name;
    for (const auto& ps : stored_sets) known_set |= ps.name == e.permission_set_name;
    if (!known_set) {
      return DocumentError(MemberPath(e.where, "PermissionSetName"),
                           "no permission set named " + e.permission_set_name +
                               " (neither in this document nor in the database)");
    }
  }
  // Trusted token issuers keep Name and IssuerUrl unique against the database too.
  for (size_t i = 0; i < plan.issuers.size(); ++i) {
    const storage::TrustedTokenIssuer& t = plan.issuers[i];
    const std::string where = ElementPath("TrustedTokenIssuers", i);
    for (const auto& k : known) {
      const bool same = t.arn.empty() ? k.name == t.name : k.arn == t.arn;
      if (same) continue;
      if (k.name == t.name) {
        return DocumentError(MemberPath(where, "Name"), "a trusted token issuer named '" + t.name +
                                                            "' already exists: " + k.arn);
      }
      if (k.issuer_url == t.issuer_url) {
        return DocumentError(
            MemberPath(where, "TrustedTokenIssuerConfiguration.OidcJwtConfiguration.IssuerUrl"),
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
        return DocumentError(
            MemberPath(ElementPath("Applications", i), "Name"),
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
