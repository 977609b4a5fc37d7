// File: policy.h
// A subset of the IAM policy language, enough for the CreateTokenWithIAM actor policy
// (docs/protocol.md §5.8) and identity policies: parsing (ParsePolicy) and evaluation (Evaluate).
//
// Policies are plain value types; parsing and evaluation are pure functions, thread-safe.
//
// Supported (IAM User Guide, "IAM JSON policy elements reference" and "Policy evaluation logic"):
//  - documents {"Version", "Id", "Statement": object | array} and bare statements;
//  - Effect, Sid, Principal / NotPrincipal ("*", {"AWS"|"Service"|"Federated"|"CanonicalUser":
//    string | [string]}), Action / NotAction, Resource / NotResource (`*` and `?` wildcards,
//    actions case-insensitive, resources case-sensitive);
//  - Condition with StringEquals, StringNotEquals, StringEqualsIgnoreCase,
//    StringNotEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnNotEquals, ArnLike,
//    ArnNotLike, Bool, Null; the IfExists suffix and the ForAnyValue:/ForAllValues: prefixes.
// Not supported: Numeric*/Date*/IpAddress/Binary operators (ParsePolicy rejects them, see
// below), policy variables (${aws:username} is matched literally), multi-valued context keys.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"

namespace ts::iam {

enum class Effect { kAllow, kDeny };

enum class ConditionOperator {
  kStringEquals,
  kStringNotEquals,
  kStringEqualsIgnoreCase,
  kStringNotEqualsIgnoreCase,
  kStringLike,
  kStringNotLike,
  kArnEquals,
  kArnNotEquals,
  kArnLike,
  kArnNotLike,
  kBool,
  kNull,
};

enum class SetQualifier { kNone, kForAnyValue, kForAllValues };

// One key of one condition operator block: "StringEquals": {"aws:SourceAccount": ["1", "2"]}.
struct Condition {
  ConditionOperator op = ConditionOperator::kStringEquals;
  SetQualifier qualifier = SetQualifier::kNone;
  bool if_exists = false;
  std::string key;                  // lower-cased ("aws:sourcearn")
  std::vector<std::string> values;  // OR-ed; booleans and numbers as their JSON text
  bool operator==(const Condition&) const = default;
};

struct Principals {
  bool any = false;  // "Principal": "*"
  std::vector<std::string> aws;
  std::vector<std::string> service;
  std::vector<std::string> federated;
  std::vector<std::string> canonical_user;
  bool operator==(const Principals&) const = default;
};

struct Statement {
  std::string sid;
  Effect effect = Effect::kAllow;
  // Neither set: an identity-policy statement, which applies to any caller.
  bool has_principal = false;
  bool not_principal = false;  // the principals listed are those the statement does NOT cover
  Principals principals;
  bool not_action = false;
  std::vector<std::string> actions;  // patterns, e.g. "sso-oauth:*"
  // No Resource/NotResource element: the statement covers every resource (as trust policies do).
  bool has_resource = false;
  bool not_resource = false;
  std::vector<std::string> resources;
  std::vector<Condition> conditions;  // AND-ed
  bool operator==(const Statement&) const = default;
};

struct Policy {
  std::string version;  // "2012-10-17", "2008-10-17" or "" (bare statement / none given)
  std::vector<Statement> statements;
  // Field by field: the fuzz target checks that parsing is deterministic.
  bool operator==(const Policy&) const = default;
};

// Parses a policy document or a bare statement object (AWS documents the actor policy as a bare
// statement). Returns the Policy, or InvalidArgument naming the problem: not JSON / not an
// object; unknown element; Version not "2012-10-17"/"2008-10-17"; Effect not Allow/Deny; neither
// or both of Action/NotAction; both Resource and NotResource, or both Principal and NotPrincipal;
// an empty list or a non-string entry; an action that is neither "*" nor "prefix:name"; a
// malformed Principal; a malformed Condition; an unsupported condition operator.
//
// Unsupported operators are rejected here rather than evaluated as "does not match" (what IAM
// does for operators it does not know): a Deny statement that silently never applied would fail
// open, so a policy we cannot evaluate faithfully is refused when it is stored.
StatusOr<Policy> ParsePolicy(std::string_view json);

// What the policy engine is asked: who calls, which action, on which resource.
struct RequestContext {
  std::string principal_arn;      // e.g. arn:aws:sts::123456789012:assumed-role/webapp/s1
  std::string principal_account;  // 12 digits
  std::string action;             // e.g. "sso-oauth:CreateTokenWithIAM"
  std::string resource;           // e.g. arn:aws:sso::123456789012:application/ssoins-1/apl-1
  // Condition keys, lower-cased ("aws:sourcearn"). Evaluate adds aws:principalarn and
  // aws:principalaccount from the fields above unless already present.
  std::map<std::string, std::string> context_keys;
};

enum class Decision { kAllow, kExplicitDeny, kImplicitDeny };
std::string_view DecisionName(Decision decision);

// Evaluates one policy: kExplicitDeny if any applicable Deny statement; else kAllow if any
// applicable Allow statement; else kImplicitDeny. A statement applies when its principal, action,
// resource and every condition match.
//
// Principal matching (AWS entries): "*" matches anyone; a 12-digit account id or
// "arn:<partition>:iam::<account>:root" matches every principal of that account; any other ARN
// matches that principal exactly, and a role ARN "arn:<p>:iam::<acct>:role[/path]/<name>" also
// matches the role's sessions "arn:<p>:sts::<acct>:assumed-role/<name>/<session>". "Service"
// entries match the context key aws:principalservicename; Federated/CanonicalUser never match an
// IAM caller.
//
// Conditions on a key absent from the context: false, except with IfExists (true), Null:true
// (true), ForAllValues: (true) and the negated operators (StringNot*, ArnNot*: true), as IAM does.
Decision Evaluate(const Policy& policy, const RequestContext& context);

// Evaluates several policies together (e.g. identity policies plus the resource's actor
// policy): an explicit Deny in any wins; else an Allow in any; else kImplicitDeny.
Decision Evaluate(std::span<const Policy* const> policies, const RequestContext& context);
Decision Evaluate(const std::vector<Policy>& policies, const RequestContext& context);

// IAM wildcard match: '*' matches any run of characters (including none), '?' exactly one.
bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case);

}  // namespace ts::iam
