#include "ts/oauth/json_request.h"

#include "ts/oauth/errors.h"

namespace ts::oauth {

StatusOr<boost::json::object> ParseJsonObject(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(body, ec);
  if (ec) return InvalidRequest("Request body is not valid JSON: " + ec.message());
  if (!doc.is_object()) return InvalidRequest("Request body must be a JSON object");
  return std::move(doc.as_object());
}

Status WrongType(std::string_view member, std::string_view expected) {
  return InvalidRequest("Member '" + std::string(member) + "' must be " + std::string(expected));
}

Status ReadStringList(const boost::json::object& o, std::string_view name,
                      std::vector<std::string>& out) {
  const boost::json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return OkStatus();
  if (!v->is_array()) return WrongType(name, "a list of strings");
  for (const boost::json::value& s : v->as_array()) {
    if (!s.is_string()) return WrongType(name, "a list of strings");
    out.emplace_back(s.as_string());
  }
  return OkStatus();
}

}  // namespace ts::oauth
