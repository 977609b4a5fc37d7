// File: bootstrap_plan.h
// Internal to server/bootstrap.cc: a bootstrap document read and checked against the admin API's
// rules (bootstrap_plan.cc), before ApplyBootstrap checks what it names against the database and
// writes it. Kept apart so that reading the document and writing it are each a file one can hold.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ts/common/status.h"
#include "ts/server/bootstrap.h"
#include "ts/storage/records.h"

namespace ts::server::internal {

// InvalidArgument "bootstrap: <where>: <what>": the form of every refusal of a document.
Status DocumentError(const std::string& where, const std::string& what);
// "<where>.<key>" and "<where>[i]": member paths as the refusals name them.
std::string MemberPath(const std::string& where, std::string_view key);
std::string ElementPath(const std::string& where, size_t i);

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

// The document parsed, every entry validated with the admin API's rules for the request it
// stands for. Reads the store only for the instance when the document names none.
StatusOr<Plan> ParseDocument(const std::string& text, const BootstrapContext& ctx);

}  // namespace ts::server::internal
