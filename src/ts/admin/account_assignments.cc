// The sso-admin account side: provisioning permission sets to accounts as roles, account
// assignments, the status objects of those asynchronous requests (done synchronously here:
// every status is SUCCEEDED when returned), and the listings by account, permission set and
// principal. Accounts are declared, not discovered (tessera account add, the bootstrap file).
// Input has been validated against the model before a handler runs.
#include <algorithm>
#include <cstdio>

#include "ts/admin/handlers.h"
#include "ts/admin/role_provisioning.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/random.h"

namespace ts::admin::internal {
namespace {

constexpr char kProvisioning[] = "PERMISSION_SET_PROVISIONING";
constexpr char kCreation[] = "ACCOUNT_ASSIGNMENT_CREATION";
constexpr char kDeletion[] = "ACCOUNT_ASSIGNMENT_DELETION";
// ALL_PROVISIONED_ACCOUNTS provisions account by account, each write carrying a status; all but
// the last carry one of this kind, which no operation lists, so the request has one status.
constexpr char kProvisioningStep[] = "PERMISSION_SET_PROVISIONING_STEP";

StatusOr<storage::PermissionSet> LoadPermissionSet(const Env& env, const Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string arn = Str(call.in, "PermissionSetArn");
  auto ps = env.storage.accounts->GetPermissionSet(arn);
  if (!ps.ok()) return ClientFacing(ps.status(), "Permission set " + arn + " does not exist");
  return ps;
}

// Tessera has no Organizations API: an account exists once declared.
Status CheckAccount(const Env& env, const std::string& account_id) {
  return ClientFacing(env.storage.accounts->GetAccount(account_id).status(),
                      "Account " + account_id +
                          " is not declared in Tessera; declare it with `tessera account add "
                          "--account-id " +
                          account_id +
                          " --name NAME --email EMAIL` or in the bootstrap file's Accounts");
}

StatusOr<std::optional<storage::ProvisionedRole>> FindRole(const Env& env,
                                                           const std::string& account_id,
                                                           const std::string& permission_set_arn) {
  auto role = env.storage.accounts->GetProvisionedRole(account_id, permission_set_arn);
  if (role.ok()) return std::optional<storage::ProvisionedRole>(*role);
  if (role.status().code() == StatusCode::kNotFound) {
    return std::optional<storage::ProvisionedRole>();
  }
  return role.status();
}

storage::OperationStatus NewStatus(const Env& env, std::string kind, json::object body) {
  storage::OperationStatus s;
  s.request_id = crypto::RandomUuid();
  s.kind = std::move(kind);
  s.status = "SUCCEEDED";
  s.body_json = json::serialize(body);
  s.created_at = env.clock->NowUnixSeconds();
  return s;
}

json::object StatusJson(const storage::OperationStatus& s) {
  json::value body = ParseStored(s.body_json);
  json::object o = body.is_object() ? body.get_object() : json::object();
  o["RequestId"] = s.request_id;
  o["Status"] = s.status;
  o["CreatedDate"] = Timestamp(s.created_at);
  if (!s.failure_reason.empty()) o["FailureReason"] = s.failure_reason;
  return o;
}

StatusOr<json::object> DescribeStatus(const Env& env, Call& call, std::string_view id_member,
                                      const char* kind, std::string_view out_member,
                                      std::string_view what) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string id = Str(call.in, id_member);
  auto s = env.storage.accounts->GetOperationStatus(id, kind);
  if (!s.ok()) return ClientFacing(s.status(), "No " + std::string(what) + " request " + id);
  return json::object{{out_member, StatusJson(*s)}};
}

// Statuses newest first; the page key orders them so (descending time, then request id).
StatusOr<json::object> ListStatuses(const Env& env, Call& call, const char* kind,
                                    std::string_view out_member) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string filter = Str(Object(call.in, "Filter"), "Status");
  TS_ASSIGN_OR_RETURN(auto all, env.storage.accounts->ListOperationStatuses(kind, filter));
  auto key_of = [](const storage::OperationStatus& s) {
    char age[24];
    std::snprintf(age, sizeof age, "%020lld",
                  static_cast<long long>(9'999'999'999LL - s.created_at));
    return std::string(age) + "/" + s.request_id;
  };
  std::sort(all.begin(), all.end(),
            [&](const auto& a, const auto& b) { return key_of(a) < key_of(b); });
  const std::string scope = "ListStatuses:" + std::string(kind) + ":" + filter;
  TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, scope, all, key_of));
  json::array list;
  for (const auto& s : page.items) {
    list.push_back(json::object{{"RequestId", s.request_id},
                                {"Status", s.status},
                                {"CreatedDate", Timestamp(s.created_at)}});
  }
  json::object out{{out_member, std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

// --- provisioning ---

StatusOr<json::object> ProvisionPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const std::string target_type = Str(call.in, "TargetType");
  const std::string target_id = Str(call.in, "TargetId");
  const int64_t now = env.clock->NowUnixSeconds();
  json::object body{{"PermissionSetArn", ps.arn}};
  if (target_type == "AWS_ACCOUNT") {
    if (target_id.empty()) return Validation("TargetId is required when TargetType is AWS_ACCOUNT");
    TS_RETURN_IF_ERROR(CheckAccount(env, target_id));
    body["AccountId"] = target_id;
    const storage::OperationStatus status = NewStatus(env, kProvisioning, body);
    NoteResponse("requestId", status.request_id);
    TS_ASSIGN_OR_RETURN(auto existing, FindRole(env, target_id, ps.arn));
    TS_RETURN_IF_ERROR(ClientFacing(env.storage.accounts->ProvisionRole(
        ProvisioningFor(ps, target_id, existing, now), status)));
    return json::object{{"PermissionSetProvisioningStatus", StatusJson(status)}};
  }
  // ALL_PROVISIONED_ACCOUNTS: every account the permission set is provisioned to.
  if (!target_id.empty()) {
    return Validation("TargetId must not be given when TargetType is ALL_PROVISIONED_ACCOUNTS");
  }
  const storage::OperationStatus status = NewStatus(env, kProvisioning, body);
  TS_ASSIGN_OR_RETURN(auto roles, env.storage.accounts->ListProvisionedRoles("", ps.arn));
  if (roles.empty()) TS_RETURN_IF_ERROR(env.storage.accounts->PutOperationStatus(status));
  for (size_t i = 0; i < roles.size(); ++i) {
    const bool last = i + 1 == roles.size();
    const storage::OperationStatus step = last ? status : NewStatus(env, kProvisioningStep, body);
    TS_RETURN_IF_ERROR(ClientFacing(env.storage.accounts->ProvisionRole(
        ProvisioningFor(ps, roles[i].account_id, roles[i], now), step)));
  }
  return json::object{{"PermissionSetProvisioningStatus", StatusJson(status)}};
}

StatusOr<json::object> DescribePermissionSetProvisioningStatus(const Env& env, Call& call) {
  return DescribeStatus(env, call, "ProvisionPermissionSetRequestId", kProvisioning,
                        "PermissionSetProvisioningStatus", "permission set provisioning");
}

StatusOr<json::object> ListPermissionSetProvisioningStatus(const Env& env, Call& call) {
  return ListStatuses(env, call, kProvisioning, "PermissionSetsProvisioningStatus");
}

// --- account assignments ---

struct AssignmentRequest {
  storage::AccountAssignment assignment;
  json::object body;  // the status object's request members
};

AssignmentRequest AssignmentFrom(const Env& env, const Call& call, const std::string& ps_arn) {
  AssignmentRequest r;
  r.assignment.account_id = Str(call.in, "TargetId");
  r.assignment.permission_set_arn = ps_arn;
  r.assignment.principal_type = Str(call.in, "PrincipalType");
  r.assignment.principal_id = Str(call.in, "PrincipalId");
  r.assignment.created_at = env.clock->NowUnixSeconds();
  r.body = {{"TargetId", r.assignment.account_id},
            {"TargetType", "AWS_ACCOUNT"},
            {"PermissionSetArn", ps_arn},
            {"PrincipalType", r.assignment.principal_type},
            {"PrincipalId", r.assignment.principal_id}};
  return r;
}

StatusOr<json::object> CreateAccountAssignment(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  AssignmentRequest r = AssignmentFrom(env, call, ps.arn);
  const storage::AccountAssignment& a = r.assignment;
  TS_RETURN_IF_ERROR(CheckAccount(env, a.account_id));
  TS_RETURN_IF_ERROR(CheckPrincipal(env, a.principal_type, a.principal_id));
  // The role is created with the first assignment; later ones use it as it is (a changed
  // permission set reaches it with ProvisionPermissionSet, as in AWS).
  TS_ASSIGN_OR_RETURN(auto existing, FindRole(env, a.account_id, ps.arn));
  std::optional<storage::RoleProvisioning> provisioning;
  if (!existing) provisioning = ProvisioningFor(ps, a.account_id, std::nullopt, a.created_at);
  const storage::OperationStatus status = NewStatus(env, kCreation, r.body);
  NoteResponse("requestId", status.request_id);
  Status created = env.storage.accounts->CreateAccountAssignment(a, provisioning, status);
  if (created.code() == StatusCode::kAlreadyExists) {
    // Already assigned: the request succeeds and changes nothing.
    TS_RETURN_IF_ERROR(env.storage.accounts->PutOperationStatus(status));
  } else {
    TS_RETURN_IF_ERROR(ClientFacing(created));
  }
  return json::object{{"AccountAssignmentCreationStatus", StatusJson(status)}};
}

StatusOr<json::object> DeleteAccountAssignment(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  AssignmentRequest r = AssignmentFrom(env, call, Str(call.in, "PermissionSetArn"));
  const storage::AccountAssignment& a = r.assignment;
  const storage::OperationStatus status = NewStatus(env, kDeletion, r.body);
  NoteResponse("requestId", status.request_id);
  TS_RETURN_IF_ERROR(ClientFacing(env.storage.accounts->DeleteAccountAssignment(a, status),
                                  (a.principal_type == "USER" ? "User " : "Group ") +
                                      a.principal_id + " is not assigned permission set " +
                                      a.permission_set_arn + " on account " + a.account_id));
  return json::object{{"AccountAssignmentDeletionStatus", StatusJson(status)}};
}

StatusOr<json::object> DescribeAccountAssignmentCreationStatus(const Env& env, Call& call) {
  return DescribeStatus(env, call, "AccountAssignmentCreationRequestId", kCreation,
                        "AccountAssignmentCreationStatus", "account assignment creation");
}

StatusOr<json::object> DescribeAccountAssignmentDeletionStatus(const Env& env, Call& call) {
  return DescribeStatus(env, call, "AccountAssignmentDeletionRequestId", kDeletion,
                        "AccountAssignmentDeletionStatus", "account assignment deletion");
}

StatusOr<json::object> ListAccountAssignmentCreationStatus(const Env& env, Call& call) {
  return ListStatuses(env, call, kCreation, "AccountAssignmentsCreationStatus");
}

StatusOr<json::object> ListAccountAssignmentDeletionStatus(const Env& env, Call& call) {
  return ListStatuses(env, call, kDeletion, "AccountAssignmentsDeletionStatus");
}

json::object AssignmentJson(const storage::AccountAssignment& a) {
  return json::object{{"AccountId", a.account_id},
                      {"PermissionSetArn", a.permission_set_arn},
                      {"PrincipalType", a.principal_type},
                      {"PrincipalId", a.principal_id}};
}

StatusOr<json::object> ListAccountAssignments(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  const std::string account_id = Str(call.in, "AccountId");
  TS_RETURN_IF_ERROR(CheckAccount(env, account_id));
  const std::string scope = "ListAccountAssignments:" + account_id + ":" + ps.arn;
  TS_ASSIGN_OR_RETURN(storage::PageRequest request, env.PageFor(call, scope));
  TS_ASSIGN_OR_RETURN(auto page,
                      env.storage.accounts->ListAccountAssignments(account_id, ps.arn, request));
  json::array list;
  for (const auto& a : page.items) list.push_back(AssignmentJson(a));
  json::object out{{"AccountAssignments", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

StatusOr<json::object> ListAccountAssignmentsForPrincipal(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string type = Str(call.in, "PrincipalType");
  const std::string id = Str(call.in, "PrincipalId");
  TS_RETURN_IF_ERROR(CheckPrincipal(env, type, id));
  const std::string account_id = Str(Object(call.in, "Filter"), "AccountId");
  const std::string scope =
      "ListAccountAssignmentsForPrincipal:" + type + ":" + id + ":" + account_id;
  TS_ASSIGN_OR_RETURN(storage::PageRequest request, env.PageFor(call, scope));
  TS_ASSIGN_OR_RETURN(auto page, env.storage.accounts->ListAccountAssignmentsForPrincipal(
                                     type, id, account_id, request));
  json::array list;
  for (const auto& a : page.items) list.push_back(AssignmentJson(a));
  json::object out{{"AccountAssignments", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

// The ProvisioningStatus filter: whether the role applies the permission set's latest version.
bool MatchesProvisioningStatus(const Call& call, const storage::ProvisionedRole& role,
                               const storage::PermissionSet& ps) {
  const std::string wanted = Str(call.in, "ProvisioningStatus");
  if (wanted.empty()) return true;
  const bool latest = role.permission_set_version == ps.updated_at;
  return latest == (wanted == "LATEST_PERMISSION_SET_PROVISIONED");
}

StatusOr<json::object> ListAccountsForProvisionedPermissionSet(const Env& env, Call& call) {
  TS_ASSIGN_OR_RETURN(storage::PermissionSet ps, LoadPermissionSet(env, call));
  TS_ASSIGN_OR_RETURN(auto roles, env.storage.accounts->ListProvisionedRoles("", ps.arn));
  std::vector<std::string> accounts;
  for (const auto& role : roles) {
    if (MatchesProvisioningStatus(call, role, ps)) accounts.push_back(role.account_id);
  }
  const std::string scope = "ListAccountsForProvisionedPermissionSet:" + ps.arn + ":" +
                            Str(call.in, "ProvisioningStatus");
  TS_ASSIGN_OR_RETURN(auto page,
                      env.PageOf(call, scope, accounts, [](const std::string& id) { return id; }));
  json::array list;
  for (const std::string& id : page.items) list.push_back(json::value(id));
  json::object out{{"AccountIds", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

StatusOr<json::object> ListPermissionSetsProvisionedToAccount(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckInstance(env, call));
  const std::string account_id = Str(call.in, "AccountId");
  TS_RETURN_IF_ERROR(CheckAccount(env, account_id));
  TS_ASSIGN_OR_RETURN(auto roles, env.storage.accounts->ListProvisionedRoles(account_id, ""));
  std::vector<std::string> arns;
  for (const auto& role : roles) {
    auto ps = env.storage.accounts->GetPermissionSet(role.permission_set_arn);
    if (!ps.ok()) {
      if (ps.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
      return ps.status();
    }
    if (MatchesProvisioningStatus(call, role, *ps)) arns.push_back(ps->arn);
  }
  std::sort(arns.begin(), arns.end());
  const std::string scope = "ListPermissionSetsProvisionedToAccount:" + account_id + ":" +
                            Str(call.in, "ProvisioningStatus");
  TS_ASSIGN_OR_RETURN(auto page,
                      env.PageOf(call, scope, arns, [](const std::string& arn) { return arn; }));
  json::array list;
  for (const std::string& arn : page.items) list.push_back(json::value(arn));
  json::object out{{"PermissionSets", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

}  // namespace

std::map<std::string, Handler, std::less<>> AccountAssignmentHandlers() {
  return {
      {"ProvisionPermissionSet", &ProvisionPermissionSet},
      {"DescribePermissionSetProvisioningStatus", &DescribePermissionSetProvisioningStatus},
      {"ListPermissionSetProvisioningStatus", &ListPermissionSetProvisioningStatus},
      {"CreateAccountAssignment", &CreateAccountAssignment},
      {"DeleteAccountAssignment", &DeleteAccountAssignment},
      {"DescribeAccountAssignmentCreationStatus", &DescribeAccountAssignmentCreationStatus},
      {"DescribeAccountAssignmentDeletionStatus", &DescribeAccountAssignmentDeletionStatus},
      {"ListAccountAssignmentCreationStatus", &ListAccountAssignmentCreationStatus},
      {"ListAccountAssignmentDeletionStatus", &ListAccountAssignmentDeletionStatus},
      {"ListAccountAssignments", &ListAccountAssignments},
      {"ListAccountAssignmentsForPrincipal", &ListAccountAssignmentsForPrincipal},
      {"ListAccountsForProvisionedPermissionSet", &ListAccountsForProvisionedPermissionSet},
      {"ListPermissionSetsProvisionedToAccount", &ListPermissionSetsProvisionedToAccount},
  };
}

}  // namespace ts::admin::internal
