// File: json_request.h
// Reading the members of a rest-json request body (sso-oidc): JSON object, member types
// checked, every error an InvalidRequestException naming the member. Included by .cc files
// only (it brings in Boost.JSON).
#pragma once

#include <boost/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"

namespace ts::oauth {

// The body as a JSON object; InvalidRequestException when it is not valid JSON or not an object.
StatusOr<boost::json::object> ParseJsonObject(std::string_view body);

// InvalidRequestException "Member '<member>' must be <expected>".
Status WrongType(std::string_view member, std::string_view expected);

// A string member of the request and where it goes.
template <typename T>
struct StringMember {
  const char* name;
  std::string T::*field;
};

// Copies each string member present into `out`; absent and null members leave their field as it
// is. InvalidRequestException for a member that is not a string.
template <typename T>
Status ReadStringMembers(const boost::json::object& o, std::span<const StringMember<T>> members,
                         T& out) {
  for (const StringMember<T>& m : members) {
    const boost::json::value* v = o.if_contains(m.name);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_string()) return WrongType(m.name, "a string");
    out.*(m.field) = std::string(v->as_string());
  }
  return OkStatus();
}

// Appends the list of strings `name` (absent or null: nothing) to `out`.
// InvalidRequestException for anything but a list of strings.
Status ReadStringList(const boost::json::object& o, std::string_view name,
                      std::vector<std::string>& out);

}  // namespace ts::oauth
