// File: iam_policy_fuzz.cc
// The IAM policy language (iam/policy.h): actor policies, identity policies and permission sets
// arrive as JSON from the admin plane and the bootstrap file. The input is parsed, and what
// parses is evaluated against fixed requests and one built from the policy's own first action
// and resource (so the matching code is reached, not only the parser).
// Invariants: parsing is deterministic; a failure is InvalidArgument "invalid policy: ..." (what
// the admin plane answers as MalformedPolicyDocument / ValidationException), never Internal, which
// would mean an exception inside the parser; evaluation is deterministic and independent of the
// order of statements and policies; an explicit Deny always wins, and an Allow needs an Allow
// statement.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "ts/iam/policy.h"

namespace {

using namespace ts;
using iam::Decision;

// The pattern with its wildcards replaced: a text the pattern is likely to match.
std::string Instance(std::string_view pattern) {
  std::string out(pattern);
  std::replace(out.begin(), out.end(), '*', 'x');
  std::replace(out.begin(), out.end(), '?', 'y');
  return out;
}

std::vector<iam::RequestContext> Requests(const iam::Policy& policy) {
  std::vector<iam::RequestContext> requests;
  iam::RequestContext role;
  role.principal_arn = "arn:aws:sts::123456789012:assumed-role/webapp/session-1";
  role.principal_account = "123456789012";
  role.action = "sso-oauth:CreateTokenWithIAM";
  role.resource = "arn:aws:sso::123456789012:application/ssoins-1111111111111111/apl-1";
  role.context_keys = {{"aws:sourceaccount", "123456789012"}, {"aws:securetransport", "true"}};
  requests.push_back(role);

  iam::RequestContext other;
  other.principal_arn = "arn:aws:iam::210987654321:user/mallory";
  other.principal_account = "210987654321";
  other.action = "sso:ListInstances";
  other.resource = "*";
  other.context_keys = {{"aws:principalservicename", "lambda.amazonaws.com"}};
  requests.push_back(other);

  // One request shaped by the policy itself: its first action, resource, principal and condition.
  iam::RequestContext own = role;
  if (!policy.statements.empty()) {
    const iam::Statement& s = policy.statements.front();
    if (!s.actions.empty()) own.action = Instance(s.actions.front());
    if (!s.resources.empty()) own.resource = Instance(s.resources.front());
    if (!s.principals.aws.empty()) own.principal_arn = Instance(s.principals.aws.front());
    for (const iam::Condition& c : s.conditions) {
      own.context_keys[c.key] = c.values.empty() ? "" : Instance(c.values.front());
    }
  }
  requests.push_back(std::move(own));
  return requests;
}

bool HasEffect(const iam::Policy& policy, iam::Effect effect) {
  return std::any_of(policy.statements.begin(), policy.statements.end(),
                     [&](const iam::Statement& s) { return s.effect == effect; });
}

iam::Policy Everything(iam::Effect effect) {
  iam::Statement s;
  s.effect = effect;
  s.actions = {"*"};
  iam::Policy policy;
  policy.statements.push_back(std::move(s));
  return policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::AsView(data, size);
  const StatusOr<iam::Policy> parsed = iam::ParsePolicy(input);
  const StatusOr<iam::Policy> again = iam::ParsePolicy(input);
  FUZZ_CHECK(parsed.ok() == again.ok());
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
    FUZZ_CHECK(parsed.status().message().starts_with("invalid policy: "));
    FUZZ_CHECK(parsed.status().message() == again.status().message());
    return 0;
  }
  const iam::Policy& policy = *parsed;
  FUZZ_CHECK(policy == *again);
  FUZZ_CHECK(!policy.statements.empty());

  iam::Policy reversed = policy;
  std::reverse(reversed.statements.begin(), reversed.statements.end());
  iam::Policy denying = policy;  // the policy's own statements turned into Deny
  for (iam::Statement& s : denying.statements) s.effect = iam::Effect::kDeny;
  static const iam::Policy* allow_all = new iam::Policy(Everything(iam::Effect::kAllow));
  static const iam::Policy* deny_all = new iam::Policy(Everything(iam::Effect::kDeny));
  // Several policies are evaluated through pointers, as the token service does, without copies.
  const iam::Policy* with_allow[] = {&policy, allow_all};
  const iam::Policy* allow_first[] = {allow_all, &policy};
  const iam::Policy* with_deny[] = {&policy, deny_all};

  for (const iam::RequestContext& request : Requests(policy)) {
    const Decision decision = iam::Evaluate(policy, request);
    FUZZ_CHECK(decision == iam::Evaluate(policy, request));
    FUZZ_CHECK(decision == iam::Evaluate(reversed, request));
    if (decision == Decision::kAllow) FUZZ_CHECK(HasEffect(policy, iam::Effect::kAllow));
    if (decision == Decision::kExplicitDeny) FUZZ_CHECK(HasEffect(policy, iam::Effect::kDeny));

    // With a policy allowing everything, in either order: only an explicit Deny stops it.
    const Decision expected =
        decision == Decision::kExplicitDeny ? Decision::kExplicitDeny : Decision::kAllow;
    FUZZ_CHECK(iam::Evaluate(with_allow, request) == expected);
    FUZZ_CHECK(iam::Evaluate(allow_first, request) == expected);
    // A policy denying everything wins over whatever this one allows.
    FUZZ_CHECK(iam::Evaluate(with_deny, request) == Decision::kExplicitDeny);
    // What the policy allowed, its statements turned into Deny deny.
    if (decision == Decision::kAllow) {
      FUZZ_CHECK(iam::Evaluate(denying, request) == Decision::kExplicitDeny);
    }
  }
  return 0;
}
