#include "ts/iam/policy.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <exception>
#include <optional>
#include <utility>

#include "ts/common/ascii.h"
#include "ts/common/status_macros.h"

namespace ts::iam {
namespace {

namespace json = boost::json;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The "invalid policy: " prefix is added once, by ParsePolicy.
Status Invalid(std::string_view message) { return InvalidArgumentError(message); }

// ---------------------------------------------------------------------------------------------
// Parsing.

// A string or a non-empty array of strings.
StatusOr<std::vector<std::string>> StringList(const json::value& v, std::string_view element) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.emplace_back(v.get_string());
    return out;
  }
  if (!v.is_array() || v.get_array().empty()) {
    return Invalid(std::string(element) + " must be a string or a non-empty array of strings");
  }
  for (const json::value& item : v.get_array()) {
    if (!item.is_string()) return Invalid(std::string(element) + " entries must be strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

// Condition values: strings, booleans and numbers (IAM accepts all three), single or a list.
StatusOr<std::vector<std::string>> ConditionValues(const json::value& v, std::string_view key) {
  auto scalar = [](const json::value& x) -> std::optional<std::string> {
    if (x.is_string()) return std::string(x.get_string());
    if (x.is_bool()) return std::string(x.get_bool() ? "true" : "false");
    if (x.is_number()) return json::serialize(x);
    return std::nullopt;
  };
  std::vector<std::string> out;
  if (v.is_array()) {
    if (v.get_array().empty())
      return Invalid("condition values for '" + std::string(key) + "' must not be empty");
    for (const json::value& item : v.get_array()) {
      auto s = scalar(item);
      if (!s) return Invalid("condition values for '" + std::string(key) + "' must be scalars");
      out.push_back(std::move(*s));
    }
    return out;
  }
  auto s = scalar(v);
  if (!s) return Invalid("condition values for '" + std::string(key) + "' must be scalars");
  out.push_back(std::move(*s));
  return out;
}

struct OperatorName {
  std::string_view name;
  ConditionOperator op;
};
constexpr std::array<OperatorName, 12> kOperators = {{
    {"StringEquals", ConditionOperator::kStringEquals},
    {"StringNotEquals", ConditionOperator::kStringNotEquals},
    {"StringEqualsIgnoreCase", ConditionOperator::kStringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", ConditionOperator::kStringNotEqualsIgnoreCase},
    {"StringLike", ConditionOperator::kStringLike},
    {"StringNotLike", ConditionOperator::kStringNotLike},
    {"ArnEquals", ConditionOperator::kArnEquals},
    {"ArnNotEquals", ConditionOperator::kArnNotEquals},
    {"ArnLike", ConditionOperator::kArnLike},
    {"ArnNotLike", ConditionOperator::kArnNotLike},
    {"Bool", ConditionOperator::kBool},
    {"Null", ConditionOperator::kNull},
}};

Status ParseConditionBlock(const json::value& v, std::vector<Condition>& out) {
  if (!v.is_object()) return Invalid("Condition must be an object");
  for (const auto& [raw_name, keys] : v.get_object()) {
    std::string_view name(raw_name.data(), raw_name.size());
    Condition proto;
    // Operator names are case-sensitive in IAM; so are the qualifiers.
    if (name.starts_with("ForAnyValue:")) {
      proto.qualifier = SetQualifier::kForAnyValue;
      name.remove_prefix(12);
    } else if (name.starts_with("ForAllValues:")) {
      proto.qualifier = SetQualifier::kForAllValues;
      name.remove_prefix(13);
    }
    if (name.ends_with("IfExists") && name != "IfExists") {
      proto.if_exists = true;
      name.remove_suffix(8);
    }
    auto it = std::find_if(kOperators.begin(), kOperators.end(),
                           [&](const OperatorName& o) { return o.name == name; });
    if (it == kOperators.end() || (it->op == ConditionOperator::kNull && proto.if_exists)) {
      return Invalid("unsupported condition operator '" +
                     std::string(raw_name.data(), raw_name.size()) +
                     "' (supported: String*, Arn*, Bool, Null, with IfExists and "
                     "ForAnyValue:/ForAllValues:)");
    }
    proto.op = it->op;
    if (!keys.is_object() || keys.get_object().empty()) {
      return Invalid("condition operator '" + std::string(name) +
                     "' must map to a non-empty object of keys");
    }
    for (const auto& [key, values] : keys.get_object()) {
      Condition c = proto;
      c.key = AsciiLower(std::string_view(key.data(), key.size()));
      TS_ASSIGN_OR_RETURN(c.values, ConditionValues(values, c.key));
      out.push_back(std::move(c));
    }
  }
  return OkStatus();
}

Status ParsePrincipal(const json::value& v, Principals& out) {
  if (v.is_string()) {
    if (v.get_string() != "*") {
      return Invalid("Principal must be \"*\" or an object such as {\"AWS\": \"<arn>\"}");
    }
    out.any = true;
    return OkStatus();
  }
  if (!v.is_object() || v.get_object().empty()) {
    return Invalid("Principal must be \"*\" or a non-empty object");
  }
  for (const auto& [type, entries] : v.get_object()) {
    std::vector<std::string>* target = nullptr;
    if (type == "AWS") target = &out.aws;
    if (type == "Service") target = &out.service;
    if (type == "Federated") target = &out.federated;
    if (type == "CanonicalUser") target = &out.canonical_user;
    if (target == nullptr) {
      return Invalid("unknown principal type '" + std::string(type.data(), type.size()) +
                     "' (expected AWS, Service, Federated or CanonicalUser)");
    }
    TS_ASSIGN_OR_RETURN(*target, StringList(entries, "Principal"));
    for (const std::string& e : *target) {
      if (e.empty()) return Invalid("Principal entries must not be empty");
    }
  }
  return OkStatus();
}

StatusOr<Statement> ParseStatement(const json::value& v, size_t index) {
  const std::string where = "Statement[" + std::to_string(index) + "]: ";
  if (!v.is_object()) return Invalid(where + "a statement must be an object");
  const json::object& o = v.get_object();
  for (const auto& [key, value] : o) {
    static constexpr std::array<std::string_view, 9> kKnown = {
        "Sid",       "Effect",   "Principal",   "NotPrincipal", "Action",
        "NotAction", "Resource", "NotResource", "Condition"};
    if (std::find(kKnown.begin(), kKnown.end(), std::string_view(key.data(), key.size())) ==
        kKnown.end()) {
      return Invalid(where + "unknown element '" + std::string(key.data(), key.size()) + "'");
    }
  }
  Statement s;
  if (const json::value* sid = o.if_contains("Sid")) {
    if (!sid->is_string()) return Invalid(where + "Sid must be a string");
    s.sid = std::string(sid->get_string());
  }
  const json::value* effect = o.if_contains("Effect");
  if (effect == nullptr || !effect->is_string() ||
      (effect->get_string() != "Allow" && effect->get_string() != "Deny")) {
    return Invalid(where + "Effect must be \"Allow\" or \"Deny\"");
  }
  s.effect = effect->get_string() == "Allow" ? Effect::kAllow : Effect::kDeny;

  const json::value* principal = o.if_contains("Principal");
  const json::value* not_principal = o.if_contains("NotPrincipal");
  if (principal && not_principal) {
    return Invalid(where + "Principal and NotPrincipal are mutually exclusive");
  }
  if (principal || not_principal) {
    s.has_principal = true;
    s.not_principal = not_principal != nullptr;
    Status st = ParsePrincipal(principal ? *principal : *not_principal, s.principals);
    if (!st.ok()) return Invalid(where + std::string(st.message()));
  }

  const json::value* action = o.if_contains("Action");
  const json::value* not_action = o.if_contains("NotAction");
  if ((action == nullptr) == (not_action == nullptr)) {
    return Invalid(where + "exactly one of Action or NotAction is required");
  }
  s.not_action = not_action != nullptr;
  auto actions = StringList(action ? *action : *not_action, "Action");
  if (!actions.ok()) return Invalid(where + std::string(actions.status().message()));
  s.actions = std::move(*actions);
  for (const std::string& a : s.actions) {
    size_t colon = a.find(':');
    if (a != "*" && (colon == std::string::npos || colon == 0 || colon + 1 == a.size())) {
      return Invalid(where + "action '" + a + "' must be \"*\" or \"<service>:<action>\"");
    }
  }

  const json::value* resource = o.if_contains("Resource");
  const json::value* not_resource = o.if_contains("NotResource");
  if (resource && not_resource) {
    return Invalid(where + "Resource and NotResource are mutually exclusive");
  }
  if (resource || not_resource) {
    s.has_resource = true;
    s.not_resource = not_resource != nullptr;
    auto resources = StringList(resource ? *resource : *not_resource, "Resource");
    if (!resources.ok()) {
      return Invalid(where + std::string(resources.status().message()));
    }
    s.resources = std::move(*resources);
  }

  if (const json::value* condition = o.if_contains("Condition")) {
    Status st = ParseConditionBlock(*condition, s.conditions);
    if (!st.ok()) return Invalid(where + std::string(st.message()));
  }
  return s;
}

StatusOr<Policy> ParseValue(const json::value& root) {
  if (!root.is_object()) return Invalid("a policy must be a JSON object");
  const json::object& o = root.get_object();
  Policy policy;
  if (!o.contains("Statement")) {
    if (!o.contains("Effect")) {
      return Invalid(
          "expected a policy document with \"Statement\" or a statement with "
          "\"Effect\"");
    }
    TS_ASSIGN_OR_RETURN(Statement s, ParseStatement(root, 0));
    policy.statements.push_back(std::move(s));
    return policy;
  }
  for (const auto& [key, value] : o) {
    if (key != "Version" && key != "Id" && key != "Statement") {
      return Invalid("unknown element '" + std::string(key.data(), key.size()) + "'");
    }
  }
  if (const json::value* version = o.if_contains("Version")) {
    if (!version->is_string() ||
        (version->get_string() != "2012-10-17" && version->get_string() != "2008-10-17")) {
      return Invalid("Version must be \"2012-10-17\" or \"2008-10-17\"");
    }
    policy.version = std::string(version->get_string());
  }
  if (const json::value* id = o.if_contains("Id"); id && !id->is_string()) {
    return Invalid("Id must be a string");
  }
  const json::value& statement = o.at("Statement");
  if (statement.is_array()) {
    if (statement.get_array().empty()) return Invalid("Statement must not be empty");
    size_t i = 0;
    for (const json::value& item : statement.get_array()) {
      TS_ASSIGN_OR_RETURN(Statement s, ParseStatement(item, i++));
      policy.statements.push_back(std::move(s));
    }
  } else {
    TS_ASSIGN_OR_RETURN(Statement s, ParseStatement(statement, 0));
    policy.statements.push_back(std::move(s));
  }
  return policy;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

bool IsAccountId(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits "arn:partition:service:region:account:resource" (the resource may contain ':').
std::optional<std::array<std::string_view, 6>> SplitArn(std::string_view arn) {
  std::array<std::string_view, 6> parts;
  for (size_t i = 0; i < 5; ++i) {
    size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    parts[i] = arn.substr(0, colon);
    arn.remove_prefix(colon + 1);
  }
  parts[5] = arn;
  if (parts[0] != "arn") return std::nullopt;
  return parts;
}

bool AwsPrincipalMatches(std::string_view entry, const RequestContext& ctx) {
  if (entry == "*") return true;
  if (ctx.principal_arn.empty() && ctx.principal_account.empty()) return false;
  auto caller = SplitArn(ctx.principal_arn);
  std::string_view caller_account = !ctx.principal_account.empty()
                                        ? std::string_view(ctx.principal_account)
                                        : (caller ? (*caller)[4] : std::string_view());
  if (IsAccountId(entry)) return entry == caller_account;
  auto e = SplitArn(entry);
  if (!e) return false;
  if ((*e)[2] == "iam" && (*e)[5] == "root") return (*e)[4] == caller_account;
  if (entry == ctx.principal_arn) return true;
  // arn:<p>:iam::<acct>:role[/path]/<name> covers arn:<p>:sts::<acct>:assumed-role/<name>/<s>.
  if (caller && (*caller)[2] == "sts" && (*caller)[5].starts_with("assumed-role/") &&
      (*e)[2] == "iam" && (*e)[5].starts_with("role/") && (*e)[0] == (*caller)[0] &&
      (*e)[1] == (*caller)[1] && (*e)[4] == (*caller)[4]) {
    std::string_view rest = (*caller)[5].substr(13);
    std::string_view role_name = rest.substr(0, rest.find('/'));
    std::string_view entry_role = (*e)[5];
    entry_role = entry_role.substr(entry_role.rfind('/') + 1);
    return !role_name.empty() && role_name == entry_role;
  }
  return false;
}

bool PrincipalListed(const Principals& p, const RequestContext& ctx,
                     const std::map<std::string, std::string>& keys) {
  if (p.any) return true;
  for (const std::string& entry : p.aws) {
    if (AwsPrincipalMatches(entry, ctx)) return true;
  }
  auto service = keys.find("aws:principalservicename");
  if (service != keys.end()) {
    for (const std::string& entry : p.service) {
      if (entry == "*" || EqualsIgnoreCase(entry, service->second)) return true;
    }
  }
  return false;
}

bool ArnMatches(std::string_view pattern, std::string_view value) {
  auto p = SplitArn(pattern);
  auto v = SplitArn(value);
  if (!p || !v) return false;
  for (size_t i = 0; i < 6; ++i) {
    if (!WildcardMatch((*p)[i], (*v)[i], false)) return false;
  }
  return true;
}

bool IsNegated(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kStringNotEquals:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
    case ConditionOperator::kStringNotLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
      return true;
    default:
      return false;
  }
}

// The positive test of one policy value against the context value.
bool ValueMatches(ConditionOperator op, std::string_view policy_value, std::string_view value) {
  switch (op) {
    case ConditionOperator::kStringEquals:
    case ConditionOperator::kStringNotEquals:
      return policy_value == value;
    case ConditionOperator::kStringEqualsIgnoreCase:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
      return EqualsIgnoreCase(policy_value, value);
    case ConditionOperator::kStringLike:
    case ConditionOperator::kStringNotLike:
      return WildcardMatch(policy_value, value, false);
    case ConditionOperator::kArnEquals:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnLike:
    case ConditionOperator::kArnNotLike:
      // IAM gives ArnEquals and ArnLike the same wildcard semantics, per ARN component.
      return ArnMatches(policy_value, value);
    case ConditionOperator::kBool:
      return EqualsIgnoreCase(policy_value, value);
    case ConditionOperator::kNull:
      return false;  // handled by the caller
  }
  return false;
}

bool ConditionMatches(const Condition& c, const std::map<std::string, std::string>& keys) {
  auto it = keys.find(c.key);
  const bool present = it != keys.end();
  if (c.op == ConditionOperator::kNull) {
    // "Null": "true" asks that the key be absent, "false" that it be present.
    return std::any_of(c.values.begin(), c.values.end(), [&](const std::string& v) {
      return EqualsIgnoreCase(v, "true") ? !present : (EqualsIgnoreCase(v, "false") && present);
    });
  }
  if (!present) {
    if (c.if_exists) return true;
    if (c.qualifier == SetQualifier::kForAllValues) return true;  // vacuously, over no values
    if (c.qualifier == SetQualifier::kForAnyValue) return false;
    return IsNegated(c.op);
  }
  // Context keys are single-valued here, so ForAnyValue/ForAllValues reduce to the operator on
  // that one value.
  const bool any = std::any_of(c.values.begin(), c.values.end(), [&](const std::string& v) {
    return ValueMatches(c.op, v, it->second);
  });
  return IsNegated(c.op) ? !any : any;
}

bool StatementApplies(const Statement& s, const RequestContext& ctx,
                      const std::map<std::string, std::string>& keys) {
  if (s.has_principal) {
    bool listed = PrincipalListed(s.principals, ctx, keys);
    if (listed == s.not_principal) return false;
  }
  bool action = std::any_of(s.actions.begin(), s.actions.end(), [&](const std::string& a) {
    return WildcardMatch(a, ctx.action, /*ignore_case=*/true);
  });
  if (action == s.not_action) return false;
  if (s.has_resource) {
    bool resource = std::any_of(s.resources.begin(), s.resources.end(), [&](const std::string& r) {
      return WildcardMatch(r, ctx.resource, /*ignore_case=*/false);
    });
    if (resource == s.not_resource) return false;
  }
  return std::all_of(s.conditions.begin(), s.conditions.end(),
                     [&](const Condition& c) { return ConditionMatches(c, keys); });
}

std::map<std::string, std::string> EffectiveKeys(const RequestContext& ctx) {
  std::map<std::string, std::string> keys;
  for (const auto& [k, v] : ctx.context_keys) keys.emplace(AsciiLower(k), v);
  if (!ctx.principal_arn.empty()) keys.emplace("aws:principalarn", ctx.principal_arn);
  if (!ctx.principal_account.empty()) keys.emplace("aws:principalaccount", ctx.principal_account);
  return keys;
}

// Returns {any deny applied, any allow applied}.
void Scan(const Policy& policy, const RequestContext& ctx,
          const std::map<std::string, std::string>& keys, bool& deny, bool& allow) {
  for (const Statement& s : policy.statements) {
    if (!StatementApplies(s, ctx, keys)) continue;
    if (s.effect == Effect::kDeny) {
      deny = true;
    } else {
      allow = true;
    }
  }
}

}  // namespace

StatusOr<Policy> ParsePolicy(std::string_view text) {
  try {
    boost::system::error_code ec;
    json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
    if (ec) return InvalidArgumentError("invalid policy: not valid JSON (" + ec.message() + ")");
    auto policy = ParseValue(root);
    if (!policy.ok()) {
      return InvalidArgumentError("invalid policy: " + std::string(policy.status().message()));
    }
    return policy;
  } catch (const std::exception& e) {
    // Only allocation failure can get here; no exception leaves the module.
    return InternalError(std::string("policy parsing failed: ") + e.what());
  }
}

std::string_view DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "Allow";
    case Decision::kExplicitDeny:
      return "ExplicitDeny";
    case Decision::kImplicitDeny:
      return "ImplicitDeny";
  }
  return "?";
}

Decision Evaluate(std::span<const Policy* const> policies, const RequestContext& context) {
  const auto keys = EffectiveKeys(context);
  bool deny = false, allow = false;
  for (const Policy* policy : policies) {
    if (policy != nullptr) Scan(*policy, context, keys, deny, allow);
  }
  if (deny) return Decision::kExplicitDeny;
  return allow ? Decision::kAllow : Decision::kImplicitDeny;
}

Decision Evaluate(const Policy& policy, const RequestContext& context) {
  const Policy* one[] = {&policy};
  return Evaluate(std::span<const Policy* const>(one), context);
}

Decision Evaluate(const std::vector<Policy>& policies, const RequestContext& context) {
  std::vector<const Policy*> ptrs;
  ptrs.reserve(policies.size());
  for (const Policy& p : policies) ptrs.push_back(&p);
  return Evaluate(std::span<const Policy* const>(ptrs), context);
}

bool WildcardMatch(std::string_view pattern, std::string_view text, bool ignore_case) {
  auto eq = [ignore_case](char a, char b) {
    if (!ignore_case) return a == b;
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  };
  // Iterative glob with single backtrack point: linear-ish, no recursion blow-up on "*a*a*a*".
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() &&
        (pattern[p] == '?' || (pattern[p] != '*' && eq(pattern[p], text[t])))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace ts::iam
