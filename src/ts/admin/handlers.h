// File: handlers.h (internal to ts/admin)
// What the sso-admin and identitystore handlers share: the request being served, the
// environment (store, clock, instance), pagination tokens and error constructors.
// Thread-safe: Env is immutable after construction; a Call belongs to one request.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <string>
#include <string_view>

#include "ts/admin/admin_api.h"
#include "ts/common/status.h"

namespace ts::admin::internal {

namespace json = boost::json;

struct Call {
  std::string_view operation;
  const json::object& in;
  AdminCaller caller;
  // Members added to an error body besides __type and Message (identitystore's Reason,
  // ResourceType, ResourceId).
  json::object error_extras;
};

struct Env {
  AdminStorage storage;
  ClockPtr clock;
  storage::Instance instance;
  std::string page_token_key;

  // The page a List operation asks for: its NextToken (verified to be one this server issued
  // for `scope`) and MaxResults (`default_limit` when absent). ValidationException for a token
  // that is malformed, tampered with or from another listing.
  StatusOr<storage::PageRequest> PageFor(const Call& call, std::string_view scope,
                                         int default_limit = 100) const;
  // The NextToken to return for `next` ("" -> no token).
  std::string TokenFor(std::string_view scope, const std::string& next) const;
  // Lists an in-memory, key-ordered sequence by the same token scheme (for the small per
  // application collections).
  template <typename T, typename KeyFn>
  StatusOr<storage::Page<T>> PageOf(const Call& call, std::string_view scope,
                                    const std::vector<T>& all, KeyFn key_of) const {
    auto request = PageFor(call, scope);
    if (!request.ok()) return request.status();
    storage::Page<T> page;
    for (const T& item : all) {
      if (!request->after.empty() && !(key_of(item) > request->after)) continue;
      if (static_cast<int>(page.items.size()) == request->limit) {
        page.next = key_of(page.items.back());
        break;
      }
      page.items.push_back(item);
    }
    return page;
  }

  std::string IdentityStoreArn() const;
  std::string RootArn() const;
};

using Handler = StatusOr<json::object> (*)(const Env& env, Call& call);
std::map<std::string, Handler, std::less<>> SsoAdminHandlers();           // includes the two below
std::map<std::string, Handler, std::less<>> PermissionSetHandlers();      // permission_sets.cc
std::map<std::string, Handler, std::less<>> AccountAssignmentHandlers();  // account_assignments.cc
std::map<std::string, Handler, std::less<>> IdentityStoreHandlers();

// sso-admin checks shared by its handler files (sso_admin.cc).
// ResourceNotFoundException unless InstanceArn is absent or the server's instance.
Status CheckInstance(const Env& env, const Call& call);
// The Tags member as a map; ValidationException on a duplicate key.
StatusOr<std::map<std::string, std::string>> TagsOf(const json::object& in);
// ResourceNotFoundException unless the USER or GROUP `id` exists.
Status CheckPrincipal(const Env& env, const std::string& type, const std::string& id);

// Adds `name`: `value` to the responseElements of the audit event this request's change will
// carry (admin_api.cc), when there is one: for ids a handler makes before its write.
void NoteResponse(std::string_view name, std::string_view value);

// Modeled errors.
Status Validation(std::string_view message);
Status NotFound(std::string_view message);
Status Conflict(std::string_view message);
Status AccessDenied(std::string_view message);
Status QuotaExceeded(std::string_view message);  // ServiceQuotaExceededException
// Element `index` (0-based) of the list member `list` is not a `type` ("structure", "string"),
// in the model validator's words: ValidationException naming the element.
Status BadElement(std::string_view list, size_t index, std::string_view type);

// A store status whose NotFound / AlreadyExists is the client's: mapped to
// ResourceNotFoundException / ConflictException with `message` (store message when empty).
Status ClientFacing(const Status& status, std::string_view not_found = {},
                    std::string_view conflict = {});

// Member accessors for validated input. The model has checked the types already; these still
// never throw (a wrong type reads as absent), so a gap in validation cannot make a handler
// throw past its modeled answer (issue 23).
std::string Str(const json::object& o, std::string_view key);
bool Has(const json::object& o, std::string_view key);
bool Bool(const json::object& o, std::string_view key);                   // false when absent
const json::object& Object(const json::object& o, std::string_view key);  // {} when absent
const json::array& Array(const json::object& o, std::string_view key);    // [] when absent

// Unix seconds -> awsJson timestamp (epoch seconds as a number).
json::value Timestamp(int64_t unix_seconds);

// A JSON document the handlers stored themselves; {} if it does not parse (never expected).
json::value ParseStored(const std::string& text);

}  // namespace ts::admin::internal
