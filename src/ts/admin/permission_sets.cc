// The sso-admin permission set operations: the permission sets themselves, their inline
// policy, attached AWS managed policies and permissions boundary. What a permission set grants
// reaches an account's role only when it is (re)provisioned there (account_assignments.cc), as
// in AWS. Input has been validated against the model before a handler runs.
#include <algorithm>

#include "ts/admin/handlers.h"
#include "ts/admin/managed_policies.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/iam/policy.h"
#include "ts/portal/role_credentials.h"

namespace ts::admin::internal {
namespace {

// AWS's default quota of managed policies attached to one permission set.
constexpr size_t kMaxManagedPolicies = 10;

StatusOr<storage::PermissionSet> LoadPermissionSet(const Env& env, const Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string arn = Str(call.in, "PermissionSetArn");
  auto ps = env.storage.accounts->GetPermissionSet(arn);
  if (!ps.ok()) return ClientFacing(ps.status(), "Permission set " + arn + " does not exist");
  return ps;
}

// What the role is made of changed: accounts provisioned before now are no longer on the latest
// version. Strictly increasing, so that two changes within a second are told apart.
void Touch(const Env& env, storage::PermissionSet& ps) {
  ps.updated_at = std::max(env.clock->NowUnixSeconds(), ps.updated_at + 1);
}

Status Save(const Env& env, const storage::PermissionSet& ps) {
  return ClientFacing(env.storage.accounts->UpdatePermissionSet(ps),
                      "Permission set " + ps.arn + " does not exist");
}

Status CheckSessionDuration(const std::string& duration) {
  auto seconds = portal::SessionDurationSeconds(duration);
  if (!seconds.ok())
    return Validation("SessionDuration: " + std::string(seconds.status().message()));
  return OkStatus();
}

json::object PermissionSetJson(const storage::PermissionSet& ps) {
  json::object o{{"PermissionSetArn", ps.arn},
                 {"Name", ps.name},
                 {"SessionDuration", ps.session_duration},
                 {"CreatedDate", Timestamp(ps.created_at)}};
  if (!ps.description.empty()) o["Description"] = ps.description;
  if (!ps.relay_state.empty()) o["RelayState"] = ps.relay_state;
  return o;
}

// --- permission sets ---

StatusOr<json::object> CreatePermissionSet(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  TS_ASSIGN_OR_RETURN(auto tags, TagsOf(call.in));
  storage::PermissionSet ps;
  ps.arn = "arn:aws:sso:::permissionSet/" + env.instance.instance_id + "/ps-" +
           crypto::HexEncode(crypto::RandomBytes(8));
  ps.instance_arn = env.instance.instance_arn;
  ps.name = Str(call.in, "Name");
  ps.description = Str(call.in, "Description");
  ps.relay_state = Str(call.in, "RelayState");
  if (Has(call.in, "SessionDuration")) ps.session_duration = Str(call.in, "SessionDuration");
  TS_RETURN_IF_ERROR(CheckSessionDuration(ps.session_duration));
  ps.created_at = ps.updated_at = env.clock->NowUnixSeconds();
  NoteResponse("permissionSetArn", ps.arn);
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.accounts->CreatePermissionSet(ps), {},
                                  "A permission set named '" + ps.name + "' already exists"));
  if (!tags.empty()) TS_RETURN_IF_ERROR(env.storage.applications->TagResource(ps.arn, tags));
  return json::object{{"PermissionSet", PermissionSetJson(ps)}};
}

StatusOr<json::object> DescribePermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  return json::object{{"PermissionSet", PermissionSetJson(ps)}};
}

StatusOr<json::object> ListPermissionSets(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  TS_ASSIGN_OR_RETURN(storage::PageRequest request, env.PageFor(call, "ListPermissionSets"));
  TS_ASSIGN_OR_RETURN(auto page, env.storage.accounts->ListPermissionSets(request));
  json::array list;
  for (const auto& ps : page.items) list.push_back(json::value(ps.arn));
  json::object out{{"PermissionSets", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListPermissionSets", page.next);
  return out;
}

StatusOr<json::object> UpdatePermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  if (Has(call.in, "Description")) ps.description = Str(call.in, "Description");
  if (Has(call.in, "RelayState")) ps.relay_state = Str(call.in, "RelayState");
  if (Has(call.in, "SessionDuration")) {
    ps.session_duration = Str(call.in, "SessionDuration");
    TS_RETURN_IF_ERROR(CheckSessionDuration(ps.session_duration));
  }
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

StatusOr<json::object> DeletePermissionSet(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string arn = Str(call.in, "PermissionSetArn");
  Status status = env.storage.accounts->DeletePermissionSet(arn);
  if (status.code() == StatusCode::kFailedPrecondition) {
    return Conflict("Permission set " + arn +
                    " is assigned on accounts; delete its account assignments first");
  }
  TS_RETURN_IF_ERROR(ClientFacing(status, "Permission set " + arn + " does not exist"));
  return json::object();
}

// --- inline policy ---

StatusOr<json::object> PutInlinePolicyToPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const std::string policy = Str(call.in, "InlinePolicy");
  if (auto parsed = iam::ParsePolicy(policy); !parsed.ok()) {
    return Validation("InlinePolicy is not a policy Tessera can evaluate: " +
                      std::string(parsed.status().message()));
  }
  ps.inline_policy_json = policy;
  Touch(env, ps);
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

StatusOr<json::object> GetInlinePolicyForPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  json::object out;
  if (!ps.inline_policy_json.empty()) out["InlinePolicy"] = ps.inline_policy_json;
  return out;
}

StatusOr<json::object> DeleteInlinePolicyFromPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  if (ps.inline_policy_json.empty()) return json::object();  // nothing to delete
  ps.inline_policy_json.clear();
  Touch(env, ps);
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

// --- AWS managed policies ---

StatusOr<json::object> AttachManagedPolicyToPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const std::string arn = Str(call.in, "ManagedPolicyArn");
  auto& arns = ps.managed_policy_arns;
  if (std::find(arns.begin(), arns.end(), arn) != arns.end()) {
    return Conflict("Managed policy " + arn + " is already attached to permission set " + ps.arn);
  }
  if (arns.size() >= kMaxManagedPolicies) {
    return QuotaExceeded("Permission set " + ps.arn + " has " +
                         std::to_string(kMaxManagedPolicies) +
                         " managed policies attached, the most it may have");
  }
  arns.insert(std::upper_bound(arns.begin(), arns.end(), arn), arn);
  Touch(env, ps);
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

StatusOr<json::object> DetachManagedPolicyFromPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const std::string arn = Str(call.in, "ManagedPolicyArn");
  auto& arns = ps.managed_policy_arns;
  auto it = std::find(arns.begin(), arns.end(), arn);
  if (it == arns.end()) {
    return NotFound("Managed policy " + arn + " is not attached to permission set " + ps.arn);
  }
  arns.erase(it);
  Touch(env, ps);
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

StatusOr<json::object> ListManagedPoliciesInPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const std::string scope = "ListManagedPoliciesInPermissionSet:" + ps.arn;
  TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, scope, ps.managed_policy_arns,
                                            [](const std::string& arn) { return arn; }));
  json::array list;
  for (const std::string& arn : page.items) {
    list.push_back(json::object{{"Arn", arn}, {"Name", ManagedPolicyName(arn)}});
  }
  json::object out{{"AttachedManagedPolicies", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

// --- permissions boundary ---

StatusOr<json::object> PutPermissionsBoundaryToPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const json::object& boundary = Object(call.in, "PermissionsBoundary");
  const bool customer = Has(boundary, "CustomerManagedPolicyReference");
  const bool managed = Has(boundary, "ManagedPolicyArn");
  if (customer == managed) {
    return Validation(
        "PermissionsBoundary must name exactly one of CustomerManagedPolicyReference and "
        "ManagedPolicyArn");
  }
  json::object stored;
  if (managed) {
    stored["ManagedPolicyArn"] = Str(boundary, "ManagedPolicyArn");
  } else {
    const json::object& ref = Object(boundary, "CustomerManagedPolicyReference");
    json::object r{{"Name", Str(ref, "Name")}};
    if (Has(ref, "Path")) r["Path"] = Str(ref, "Path");
    stored["CustomerManagedPolicyReference"] = std::move(r);
  }
  ps.permissions_boundary_json = json::serialize(stored);
  Touch(env, ps);
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

StatusOr<json::object> GetPermissionsBoundaryForPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  if (ps.permissions_boundary_json.empty()) {
    return NotFound("Permission set " + ps.arn + " has no permissions boundary");
  }
  return json::object{{"PermissionsBoundary", ParseStored(ps.permissions_boundary_json)}};
}

StatusOr<json::object> DeletePermissionsBoundaryFromPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  if (ps.permissions_boundary_json.empty()) return json::object();  // nothing to delete
  ps.permissions_boundary_json.clear();
  Touch(env, ps);
  TS_RETURN_IF_ERROR(Save(env, ps));
  return json::object();
}

}  // namespace

std::map<std::string, Handler, std::less<>> PermissionSetHandlers() {
  return {
      {"CreatePermissionSet", &CreatePermissionSet},
      {"DescribePermissionSet", &DescribePermissionSet},
      {"ListPermissionSets", &ListPermissionSets},
      {"UpdatePermissionSet", &UpdatePermissionSet},
      {"DeletePermissionSet", &DeletePermissionSet},
      {"PutInlinePolicyToPermissionSet", &PutInlinePolicyToPermissionSet},
      {"GetInlinePolicyForPermissionSet", &GetInlinePolicyForPermissionSet},
      {"DeleteInlinePolicyFromPermissionSet", &DeleteInlinePolicyFromPermissionSet},
      {"AttachManagedPolicyToPermissionSet", &AttachManagedPolicyToPermissionSet},
      {"DetachManagedPolicyFromPermissionSet", &DetachManagedPolicyFromPermissionSet},
      {"ListManagedPoliciesInPermissionSet", &ListManagedPoliciesInPermissionSet},
      {"PutPermissionsBoundaryToPermissionSet", &PutPermissionsBoundaryToPermissionSet},
      {"GetPermissionsBoundaryForPermissionSet", &GetPermissionsBoundaryForPermissionSet},
      {"DeletePermissionsBoundaryFromPermissionSet", &DeletePermissionsBoundaryFromPermissionSet},
  };
}

}  // namespace ts::admin::internal
