#include "ts/iam/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "test/common/status_matchers.h"

namespace ts::iam {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

constexpr char kAction[] = "sso-oauth:CreateTokenWithIAM";
constexpr char kApp[] = "arn:aws:sso::123456789012:application/ssoins-1111/apl-2222";
constexpr char kRole[] = "arn:aws:iam::123456789012:role/webapp";
constexpr char kSession[] = "arn:aws:sts::123456789012:assumed-role/webapp/session-1";

RequestContext Ctx(std::string arn = kSession, std::string account = "123456789012") {
  RequestContext c;
  c.principal_arn = std::move(arn);
  c.principal_account = std::move(account);
  c.action = kAction;
  c.resource = kApp;
  return c;
}

Policy MustParse(std::string_view json) {
  auto p = ParsePolicy(json);
  EXPECT_THAT(p, IsOk()) << json;
  return p.ok() ? *p : Policy{};
}

Decision Eval(std::string_view json, const RequestContext& ctx) {
  return Evaluate(MustParse(json), ctx);
}

// A statement allowing kAction to the given principal JSON.
std::string AllowTo(std::string_view principal_json) {
  return R"({"Effect":"Allow","Principal":)" + std::string(principal_json) +
         R"(,"Action":"sso-oauth:CreateTokenWithIAM","Resource":"*"})";
}

// ---------------------------------------------------------------------------------------------
// Parsing.

TEST(ParsePolicyTest, AcceptsTheBareActorPolicyStatementFromTheAwsDocs) {
  auto p = ParsePolicy(
      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/webapp"},)"
      R"("Action":"sso-oauth:CreateTokenWithIAM","Resource":"*"})");
  ASSERT_THAT(p, IsOk());
  ASSERT_EQ(p->statements.size(), 1u);
  const Statement& s = p->statements[0];
  EXPECT_EQ(s.effect, Effect::kAllow);
  EXPECT_TRUE(s.has_principal);
  EXPECT_THAT(s.principals.aws, ::testing::ElementsAre(kRole));
  EXPECT_THAT(s.actions, ::testing::ElementsAre(kAction));
  EXPECT_THAT(s.resources, ::testing::ElementsAre("*"));
}

TEST(ParsePolicyTest, AcceptsDocumentsWithObjectOrArrayStatement) {
  auto one = ParsePolicy(
      R"({"Version":"2012-10-17","Id":"x","Statement":{"Effect":"Deny","Action":"*"}})");
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->version, "2012-10-17");
  EXPECT_EQ(one->statements.size(), 1u);
  auto two = ParsePolicy(R"({"Version":"2012-10-17","Statement":[
      {"Sid":"A","Effect":"Allow","Action":["sso-oauth:*"],"Resource":["*"]},
      {"Sid":"B","Effect":"Deny","NotAction":"sso-oauth:*","NotResource":"arn:aws:s3:::b/*",
       "Condition":{"StringEquals":{"aws:SourceAccount":["111122223333",123456789012]},
                    "Bool":{"aws:SecureTransport":false}}}]})");
  ASSERT_THAT(two, IsOk());
  ASSERT_EQ(two->statements.size(), 2u);
  const Statement& b = two->statements[1];
  EXPECT_EQ(b.sid, "B");
  EXPECT_TRUE(b.not_action);
  EXPECT_TRUE(b.not_resource);
  ASSERT_EQ(b.conditions.size(), 2u);
  // Keys are lower-cased; numbers and booleans keep their JSON text; document order is kept.
  EXPECT_EQ(b.conditions[0].key, "aws:sourceaccount");
  EXPECT_THAT(b.conditions[0].values, ::testing::ElementsAre("111122223333", "123456789012"));
  EXPECT_EQ(b.conditions[1].key, "aws:securetransport");
  EXPECT_EQ(b.conditions[1].op, ConditionOperator::kBool);
  EXPECT_THAT(b.conditions[1].values, ::testing::ElementsAre("false"));
}

TEST(ParsePolicyTest, ParsesOperatorQualifiersAndIfExists) {
  auto p = ParsePolicy(R"({"Effect":"Allow","Action":"*","Condition":{
      "ForAnyValue:StringLikeIfExists":{"aws:SourceArn":"arn:*"},
      "Null":{"aws:SourceAccount":"true"}}})");
  ASSERT_THAT(p, IsOk());
  const auto& conditions = p->statements[0].conditions;
  ASSERT_EQ(conditions.size(), 2u);
  const Condition& like =
      conditions[0].op == ConditionOperator::kStringLike ? conditions[0] : conditions[1];
  EXPECT_EQ(like.qualifier, SetQualifier::kForAnyValue);
  EXPECT_TRUE(like.if_exists);
}

TEST(ParsePolicyTest, RejectsInvalidPolicies) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"not json", "not valid JSON"},
           {"[1]", "must be a JSON object"},
           {R"({"Action":"*"})", "\"Statement\" or a statement with \"Effect\""},
           {R"({"Effect":"Permit","Action":"*"})", "Effect must be \"Allow\" or \"Deny\""},
           {R"({"Effect":"Allow"})", "exactly one of Action or NotAction"},
           {R"({"Effect":"Allow","Action":"*","NotAction":"*"})",
            "exactly one of Action or NotAction"},
           {R"({"Effect":"Allow","Action":[]})", "non-empty array"},
           {R"({"Effect":"Allow","Action":[1]})", "entries must be strings"},
           {R"({"Effect":"Allow","Action":"CreateTokenWithIAM"})",
            "must be \"*\" or \"<service>:<action>\""},
           {R"({"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"})",
            "Resource and NotResource are mutually exclusive"},
           {R"({"Effect":"Allow","Action":"*","Principal":"*","NotPrincipal":"*"})",
            "Principal and NotPrincipal are mutually exclusive"},
           {R"({"Effect":"Allow","Action":"*","Principal":"someone"})", "Principal must be"},
           {R"({"Effect":"Allow","Action":"*","Principal":{"Human":"x"}})",
            "unknown principal type 'Human'"},
           {R"({"Effect":"Allow","Action":"*","Actions":"*"})", "unknown element 'Actions'"},
           {R"({"Version":"2012-10-17","Statement":[],"Extra":1})", "unknown element 'Extra'"},
           {R"({"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*"}})",
            "Version must be"},
           {R"({"Statement":[]})", "Statement must not be empty"},
           {R"({"Effect":"Allow","Action":"*","Condition":{"NumericLessThan":{"k":"1"}}})",
            "unsupported condition operator 'NumericLessThan'"},
           {R"({"Effect":"Allow","Action":"*","Condition":{"NullIfExists":{"k":"true"}}})",
            "unsupported condition operator 'NullIfExists'"},
           {R"({"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"k":{}}}})",
            "must be scalars"},
           {R"({"Effect":"Allow","Action":"*","Condition":{"StringEquals":"k"}})",
            "non-empty object of keys"},
       }) {
    EXPECT_THAT(ParsePolicy(c.json), StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.json;
  }
}

TEST(ParsePolicyTest, ErrorsNameTheStatement) {
  EXPECT_THAT(ParsePolicy(R"({"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"x"}]})"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("invalid policy: Statement[1]: Effect must be")));
}

// ---------------------------------------------------------------------------------------------
// Principals.

TEST(PrincipalTest, RoleArnMatchesTheRoleAndItsSessions) {
  const std::string p = AllowTo(R"({"AWS":"arn:aws:iam::123456789012:role/webapp"})");
  EXPECT_EQ(Eval(p, Ctx(kSession)), Decision::kAllow);
  EXPECT_EQ(Eval(p, Ctx(kRole)), Decision::kAllow);
  EXPECT_EQ(Eval(p, Ctx("arn:aws:sts::123456789012:assumed-role/other/session-1")),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Ctx("arn:aws:sts::999999999999:assumed-role/webapp/s", "999999999999")),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Ctx("arn:aws:iam::123456789012:user/webapp")), Decision::kImplicitDeny);
  // A role with a path still matches its sessions (the session ARN has no path).
  EXPECT_EQ(Eval(AllowTo(R"({"AWS":"arn:aws:iam::123456789012:role/apps/webapp"})"), Ctx()),
            Decision::kAllow);
}

TEST(PrincipalTest, AccountIdAndRootMatchEveryPrincipalOfTheAccount) {
  for (const char* principal :
       {R"({"AWS":"123456789012"})", R"({"AWS":"arn:aws:iam::123456789012:root"})"}) {
    const std::string p = AllowTo(principal);
    EXPECT_EQ(Eval(p, Ctx(kSession)), Decision::kAllow) << principal;
    EXPECT_EQ(Eval(p, Ctx("arn:aws:iam::123456789012:user/alice")), Decision::kAllow);
    EXPECT_EQ(Eval(p, Ctx("arn:aws:iam::111122223333:user/alice", "111122223333")),
              Decision::kImplicitDeny);
  }
}

TEST(PrincipalTest, WildcardsAndLists) {
  EXPECT_EQ(Eval(AllowTo(R"("*")"), Ctx("arn:aws:iam::111122223333:user/x", "111122223333")),
            Decision::kAllow);
  EXPECT_EQ(Eval(AllowTo(R"({"AWS":"*"})"), Ctx()), Decision::kAllow);
  const std::string list =
      AllowTo(R"({"AWS":["arn:aws:iam::111122223333:user/bob","123456789012"]})");
  EXPECT_EQ(Eval(list, Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(list, Ctx("arn:aws:iam::111122223333:user/bob", "111122223333")),
            Decision::kAllow);
  EXPECT_EQ(Eval(list, Ctx("arn:aws:iam::111122223333:user/eve", "111122223333")),
            Decision::kImplicitDeny);
  // Principal ARNs take no partial wildcards.
  EXPECT_EQ(Eval(AllowTo(R"({"AWS":"arn:aws:iam::123456789012:role/*"})"), Ctx(kRole)),
            Decision::kImplicitDeny);
}

TEST(PrincipalTest, ServicePrincipalMatchesOnlyThatService) {
  const std::string p = AllowTo(R"({"Service":"qbusiness.amazonaws.com"})");
  EXPECT_EQ(Eval(p, Ctx()), Decision::kImplicitDeny);
  RequestContext ctx = Ctx();
  ctx.context_keys["aws:PrincipalServiceName"] = "qbusiness.amazonaws.com";
  EXPECT_EQ(Eval(p, ctx), Decision::kAllow);
}

TEST(PrincipalTest, AbsentPrincipalIsAnIdentityPolicy) {
  EXPECT_EQ(Eval(R"({"Effect":"Allow","Action":"sso-oauth:*","Resource":"*"})",
                 Ctx("arn:aws:iam::111122223333:user/x", "111122223333")),
            Decision::kAllow);
}

TEST(PrincipalTest, NotPrincipalCoversEveryoneElse) {
  const std::string p =
      R"({"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/webapp"},
                            "Action":"*","Resource":"*"})";
  EXPECT_EQ(Eval(p, Ctx(kSession)), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(p, Ctx("arn:aws:iam::123456789012:user/alice")), Decision::kExplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// Actions and resources.

TEST(ActionTest, WildcardsAndCaseInsensitivity) {
  auto allow = [](std::string_view action) {
    return R"({"Effect":"Allow","Action":")" + std::string(action) + R"(","Resource":"*"})";
  };
  EXPECT_EQ(Eval(allow("*"), Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(allow("sso-oauth:*"), Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(allow("SSO-OAUTH:createtokenwithiam"), Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(allow("sso-oauth:Create*WithIAM"), Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(allow("sso-oauth:CreateTokenWithIA?"), Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(allow("sso-oauth:CreateTokenWithIAM?"), Ctx()), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(allow("sso-oauth:CreateToken"), Ctx()), Decision::kImplicitDeny);
  EXPECT_EQ(Eval(allow("sso:*"), Ctx()), Decision::kImplicitDeny);
}

TEST(ActionTest, NotActionMatchesEverythingElse) {
  const std::string p = R"({"Effect":"Allow","NotAction":"iam:*","Resource":"*"})";
  EXPECT_EQ(Eval(p, Ctx()), Decision::kAllow);
  RequestContext iam = Ctx();
  iam.action = "iam:CreateUser";
  EXPECT_EQ(Eval(p, iam), Decision::kImplicitDeny);
}

TEST(ResourceTest, WildcardsAreCaseSensitiveAndNotResourceInverts) {
  auto allow = [](std::string_view element, std::string_view resource) {
    return R"({"Effect":"Allow","Action":"*",")" + std::string(element) + R"(":")" +
           std::string(resource) + R"("})";
  };
  EXPECT_EQ(Eval(allow("Resource", "arn:aws:sso::123456789012:application/*"), Ctx()),
            Decision::kAllow);
  EXPECT_EQ(
      Eval(allow("Resource", "arn:aws:sso::123456789012:application/ssoins-1111/apl-????"), Ctx()),
      Decision::kAllow);
  EXPECT_EQ(Eval(allow("Resource", "arn:aws:sso::123456789012:APPLICATION/*"), Ctx()),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(allow("Resource", "arn:aws:sso::111122223333:application/*"), Ctx()),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(allow("NotResource", "arn:aws:sso::111122223333:application/*"), Ctx()),
            Decision::kAllow);
  EXPECT_EQ(Eval(allow("NotResource", "*"), Ctx()), Decision::kImplicitDeny);
}

TEST(WildcardMatchTest, EdgeCases) {
  EXPECT_TRUE(WildcardMatch("*", "", false));
  EXPECT_TRUE(WildcardMatch("", "", false));
  EXPECT_FALSE(WildcardMatch("", "a", false));
  EXPECT_FALSE(WildcardMatch("?", "", false));
  EXPECT_TRUE(WildcardMatch("a*b*c", "abc", false));
  EXPECT_TRUE(WildcardMatch("a*b*c", "aXXbYYc", false));
  EXPECT_FALSE(WildcardMatch("a*b*c", "aXXbYY", false));
  EXPECT_TRUE(WildcardMatch("**", "anything", false));
  EXPECT_TRUE(WildcardMatch("*a", "aaa", false));
  EXPECT_FALSE(WildcardMatch("A", "a", false));
  EXPECT_TRUE(WildcardMatch("A", "a", true));
  // Pathological backtracking input stays fast (iterative matcher).
  EXPECT_FALSE(WildcardMatch("*a*a*a*a*a*a*a*a*b", std::string(200, 'a'), false));
}

// ---------------------------------------------------------------------------------------------
// Conditions.

std::string WithCondition(std::string_view condition) {
  return R"({"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":)" +
         std::string(condition) + "}";
}

RequestContext CtxWith(std::string key, std::string value) {
  RequestContext c = Ctx();
  c.context_keys[std::move(key)] = std::move(value);
  return c;
}

TEST(ConditionTest, StringOperators) {
  const RequestContext ctx = CtxWith("aws:sourceaccount", "123456789012");
  EXPECT_EQ(Eval(WithCondition(R"({"StringEquals":{"aws:SourceAccount":"123456789012"}})"), ctx),
            Decision::kAllow);
  EXPECT_EQ(
      Eval(WithCondition(R"({"StringEquals":{"aws:SourceAccount":["1","123456789012"]}})"), ctx),
      Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"StringEquals":{"aws:SourceAccount":"1"}})"), ctx),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"StringNotEquals":{"aws:SourceAccount":"1"}})"), ctx),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"StringNotEquals":{"aws:SourceAccount":"123456789012"}})"), ctx),
            Decision::kImplicitDeny);
  const RequestContext tag = CtxWith("aws:principaltag/team", "Blue");
  EXPECT_EQ(Eval(WithCondition(R"({"StringEquals":{"aws:PrincipalTag/team":"blue"}})"), tag),
            Decision::kImplicitDeny);
  EXPECT_EQ(
      Eval(WithCondition(R"({"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"blue"}})"), tag),
      Decision::kAllow);
  EXPECT_EQ(
      Eval(WithCondition(R"({"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"BLUE"}})"), tag),
      Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"StringLike":{"aws:PrincipalTag/team":"B*"}})"), tag),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"StringLike":{"aws:PrincipalTag/team":"b*"}})"), tag),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"StringNotLike":{"aws:PrincipalTag/team":"R*"}})"), tag),
            Decision::kAllow);
}

TEST(ConditionTest, KeysAreCaseInsensitiveOnBothSides) {
  RequestContext ctx = Ctx();
  ctx.context_keys["AWS:SourceAccount"] = "123456789012";  // caller used mixed case
  EXPECT_EQ(Eval(WithCondition(R"({"StringEquals":{"aws:sourceACCOUNT":"123456789012"}})"), ctx),
            Decision::kAllow);
}

TEST(ConditionTest, ArnOperatorsMatchPerComponent) {
  const RequestContext ctx =
      CtxWith("aws:sourcearn", "arn:aws:qbusiness:us-east-1:123456789012:application/app-1");
  EXPECT_EQ(
      Eval(
          WithCondition(
              R"({"ArnEquals":{"aws:SourceArn":"arn:aws:qbusiness:us-east-1:123456789012:application/app-1"}})"),
          ctx),
      Decision::kAllow);
  EXPECT_EQ(
      Eval(WithCondition(R"({"ArnLike":{"aws:SourceArn":"arn:aws:qbusiness:*:123456789012:*"}})"),
           ctx),
      Decision::kAllow);
  EXPECT_EQ(
      Eval(WithCondition(R"({"ArnLike":{"aws:SourceArn":"arn:aws:qbusiness:*:111122223333:*"}})"),
           ctx),
      Decision::kImplicitDeny);
  // A '*' in one component does not swallow the ':' separators of another.
  EXPECT_EQ(Eval(WithCondition(R"({"ArnLike":{"aws:SourceArn":"arn:aws:*"}})"), ctx),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}})"), ctx),
            Decision::kAllow);
  EXPECT_EQ(
      Eval(
          WithCondition(
              R"({"ArnNotEquals":{"aws:SourceArn":"arn:aws:qbusiness:us-east-1:123456789012:application/app-1"}})"),
          ctx),
      Decision::kImplicitDeny);
  // A context value that is not an ARN matches no ARN pattern.
  EXPECT_EQ(Eval(WithCondition(R"({"ArnLike":{"aws:SourceArn":"*"}})"),
                 CtxWith("aws:sourcearn", "not-an-arn")),
            Decision::kImplicitDeny);
}

TEST(ConditionTest, PrincipalKeysComeFromTheContext) {
  EXPECT_EQ(
      Eval(
          WithCondition(
              R"({"ArnLike":{"aws:PrincipalArn":"arn:aws:sts::123456789012:assumed-role/webapp/*"}})"),
          Ctx()),
      Decision::kAllow);
  EXPECT_EQ(
      Eval(WithCondition(R"({"StringEquals":{"aws:PrincipalAccount":"123456789012"}})"), Ctx()),
      Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"StringEquals":{"aws:PrincipalAccount":"123456789012"}})"),
                 Ctx("arn:aws:iam::111122223333:user/x", "111122223333")),
            Decision::kImplicitDeny);
}

TEST(ConditionTest, BoolAndNull) {
  const RequestContext secure = CtxWith("aws:securetransport", "true");
  EXPECT_EQ(Eval(WithCondition(R"({"Bool":{"aws:SecureTransport":"true"}})"), secure),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"Bool":{"aws:SecureTransport":true}})"), secure),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"Bool":{"aws:SecureTransport":"false"}})"), secure),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"Bool":{"aws:SecureTransport":"true"}})"), Ctx()),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"Null":{"aws:SourceArn":"true"}})"), Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"Null":{"aws:SourceArn":"false"}})"), Ctx()),
            Decision::kImplicitDeny);
  const RequestContext with_arn = CtxWith("aws:sourcearn", "arn:aws:s3:::b");
  EXPECT_EQ(Eval(WithCondition(R"({"Null":{"aws:SourceArn":"false"}})"), with_arn),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"Null":{"aws:SourceArn":"true"}})"), with_arn),
            Decision::kImplicitDeny);
}

TEST(ConditionTest, AbsentKeys) {
  // Positive operators do not match an absent key; negated ones do; IfExists always does.
  EXPECT_EQ(Eval(WithCondition(R"({"StringEquals":{"aws:SourceAccount":"1"}})"), Ctx()),
            Decision::kImplicitDeny);
  EXPECT_EQ(Eval(WithCondition(R"({"StringNotEquals":{"aws:SourceAccount":"1"}})"), Ctx()),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::*"}})"), Ctx()),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"StringEqualsIfExists":{"aws:SourceAccount":"1"}})"), Ctx()),
            Decision::kAllow);
  // IfExists still checks a key that is present.
  EXPECT_EQ(Eval(WithCondition(R"({"StringEqualsIfExists":{"aws:SourceAccount":"1"}})"),
                 CtxWith("aws:sourceaccount", "2")),
            Decision::kImplicitDeny);
}

TEST(ConditionTest, SetQualifiersOnSingleValues) {
  const RequestContext ctx = CtxWith("aws:sourceaccount", "123456789012");
  EXPECT_EQ(Eval(WithCondition(
                     R"({"ForAnyValue:StringEquals":{"aws:SourceAccount":["1","123456789012"]}})"),
                 ctx),
            Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"ForAnyValue:StringEquals":{"aws:SourceAccount":"1"}})"), ctx),
            Decision::kImplicitDeny);
  EXPECT_EQ(
      Eval(WithCondition(R"({"ForAllValues:StringLike":{"aws:SourceAccount":"1234*"}})"), ctx),
      Decision::kAllow);
  // Over an absent key, ForAllValues is vacuously true and ForAnyValue false.
  EXPECT_EQ(
      Eval(WithCondition(R"({"ForAllValues:StringEquals":{"aws:SourceAccount":"1"}})"), Ctx()),
      Decision::kAllow);
  EXPECT_EQ(Eval(WithCondition(R"({"ForAnyValue:StringEquals":{"aws:SourceAccount":"1"}})"), Ctx()),
            Decision::kImplicitDeny);
}

TEST(ConditionTest, AllConditionsMustHold) {
  RequestContext ctx = CtxWith("aws:sourceaccount", "123456789012");
  ctx.context_keys["aws:sourcearn"] = "arn:aws:qbusiness:us-east-1:123456789012:application/a";
  const std::string p = WithCondition(
      R"({"StringEquals":{"aws:SourceAccount":"123456789012"},
          "ArnLike":{"aws:SourceArn":"arn:aws:qbusiness:*:123456789012:application/*"}})");
  EXPECT_EQ(Eval(p, ctx), Decision::kAllow);
  ctx.context_keys["aws:sourcearn"] = "arn:aws:qbusiness:us-east-1:111122223333:application/a";
  EXPECT_EQ(Eval(p, ctx), Decision::kImplicitDeny);
}

// ---------------------------------------------------------------------------------------------
// Combining statements and policies.

TEST(EvaluateTest, ExplicitDenyOverridesAllow) {
  const std::string p = R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sso-oauth:*","Resource":"*"},
      {"Effect":"Deny","Principal":"*","Action":"sso-oauth:CreateTokenWithIAM","Resource":"*",
       "Condition":{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:sts::123456789012:assumed-role/webapp/session-1"}}}]})";
  EXPECT_EQ(Eval(p, Ctx()), Decision::kAllow);
  EXPECT_EQ(Eval(p, Ctx("arn:aws:iam::123456789012:user/alice")), Decision::kExplicitDeny);
}

TEST(EvaluateTest, ImplicitDenyWhenNothingApplies) {
  EXPECT_EQ(Eval(AllowTo(R"({"AWS":"111122223333"})"), Ctx()), Decision::kImplicitDeny);
}

TEST(EvaluateTest, SeveralPolicies) {
  const Policy identity = MustParse(R"({"Effect":"Allow","Action":"sso-oauth:*","Resource":"*"})");
  const Policy actor = MustParse(AllowTo(R"({"AWS":"arn:aws:iam::123456789012:role/webapp"})"));
  const Policy deny = MustParse(R"({"Effect":"Deny","Action":"*","Resource":"*"})");
  const Policy unrelated = MustParse(R"({"Effect":"Allow","Action":"s3:*","Resource":"*"})");
  EXPECT_EQ(Evaluate(std::vector<Policy>{identity, actor}, Ctx()), Decision::kAllow);
  EXPECT_EQ(Evaluate(std::vector<Policy>{identity, actor, deny}, Ctx()), Decision::kExplicitDeny);
  EXPECT_EQ(Evaluate(std::vector<Policy>{unrelated}, Ctx()), Decision::kImplicitDeny);
  EXPECT_EQ(Evaluate(std::vector<Policy>{}, Ctx()), Decision::kImplicitDeny);
  const Policy* ptrs[] = {&unrelated, &actor};
  EXPECT_EQ(Evaluate(std::span<const Policy* const>(ptrs), Ctx()), Decision::kAllow);
  EXPECT_EQ(DecisionName(Decision::kExplicitDeny), "ExplicitDeny");
}

}  // namespace
}  // namespace ts::iam
