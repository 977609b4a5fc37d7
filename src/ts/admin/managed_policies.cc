// The shipped AWS managed policies (AWS Managed Policy Reference Guide). Only their meaning for
// Tessera's own actions matters (sso:, identitystore:, sso-oauth:), but the documents keep the
// shape AWS documents so that they read as the originals do.
#include "ts/admin/managed_policies.h"

#include <array>
#include <utility>

namespace ts::admin {
namespace {

// Everything.
constexpr std::string_view kAdministratorAccess = R"({"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":"*","Resource":"*"}]})";

// Everything but IAM, Organizations and account management, with the few of those AWS adds back.
constexpr std::string_view kPowerUserAccess = R"({"Version":"2012-10-17","Statement":[
{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},
{"Effect":"Allow","Action":["iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole",
"iam:ListRoles","organizations:DescribeOrganization","account:ListRegions",
"account:GetAccountInformation"],"Resource":"*"}]})";

// Read actions of every service: Describe*, Get*, List*, BatchGet*.
constexpr std::string_view kReadOnlyAccess = R"({"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":["*:Describe*","*:Get*","*:List*","*:BatchGet*"],"Resource":"*"}]})";

// Listing and describing resources, without reading their content (no Get*).
constexpr std::string_view kViewOnlyAccess = R"({"Version":"2012-10-17","Statement":[
{"Effect":"Allow","Action":["*:List*","*:Describe*"],"Resource":"*"}]})";

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kShipped = {{
    {"arn:aws:iam::aws:policy/AdministratorAccess", kAdministratorAccess},
    {"arn:aws:iam::aws:policy/PowerUserAccess", kPowerUserAccess},
    {"arn:aws:iam::aws:policy/ReadOnlyAccess", kReadOnlyAccess},
    {"arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", kViewOnlyAccess},
}};

}  // namespace

std::optional<std::string_view> ShippedManagedPolicy(std::string_view arn) {
  for (const auto& [shipped_arn, document] : kShipped) {
    if (arn == shipped_arn) return document;
  }
  return std::nullopt;
}

std::string_view ManagedPolicyName(std::string_view arn) {
  const size_t slash = arn.rfind('/');
  return slash == std::string_view::npos ? arn : arn.substr(slash + 1);
}

}  // namespace ts::admin
