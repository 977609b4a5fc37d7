#include "ts/tti/claims.h"

#include <boost/json.hpp>
#include <cctype>
#include <vector>

namespace ts::tti {
namespace {

namespace json = boost::json;

bool IsLetter(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) || u >= 0x80;  // UTF-8 bytes of non-ASCII letters
}

// Segments of letters separated by any of `separators`, at most `max_separators` of them.
bool FitsPattern(std::string_view path, std::string_view separators, int max_separators) {
  if (path.empty() || path.size() > 255) return false;
  int separators_seen = 0;
  bool previous_letter = false;
  for (char c : path) {
    if (IsLetter(c)) {
      previous_letter = true;
    } else if (separators.find(c) != std::string_view::npos && previous_letter) {
      previous_letter = false;
      if (++separators_seen > max_separators) return false;
    } else {
      return false;
    }
  }
  return previous_letter;
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.emplace_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Looks up `key` (a camelCase path segment) in an identitystore document object: the
// PascalCase member first, then the segment as written.
const json::value* Member(const json::object& o, const std::string& key) {
  std::string pascal = key;
  pascal[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(pascal[0])));
  if (const json::value* v = o.if_contains(pascal)) return v;
  return o.if_contains(key);
}

bool Matches(const json::value& v, const std::vector<std::string>& segments, size_t i,
             std::string_view value, bool ignore_case) {
  if (v.is_array()) {
    for (const json::value& element : v.as_array()) {
      if (Matches(element, segments, i, value, ignore_case)) return true;
    }
    return false;
  }
  if (i == segments.size()) {
    if (!v.is_string()) return false;
    std::string_view s = v.as_string();
    return ignore_case ? EqualsIgnoreCase(s, value) : s == value;
  }
  if (!v.is_object()) return false;
  const json::value* next = Member(v.as_object(), segments[i]);
  return next != nullptr && Matches(*next, segments, i + 1, value, ignore_case);
}

}  // namespace

Status ValidateClaimPath(std::string_view path) {
  if (!FitsPattern(path, "._", 2)) {
    return InvalidArgumentError("ClaimAttributePath '" + std::string(path) +
                                "' does not match \\p{L}+(?:(\\.|\\_)\\p{L}+){0,2}");
  }
  return OkStatus();
}

Status ValidateAttributePath(std::string_view path) {
  if (!FitsPattern(path, ".", 2)) {
    return InvalidArgumentError("IdentityStoreAttributePath '" + std::string(path) +
                                "' does not match \\p{L}+(?:\\.\\p{L}+){0,2}");
  }
  return OkStatus();
}

StatusOr<std::string> ClaimAtPath(std::string_view payload_json, std::string_view path) {
  boost::system::error_code ec;
  json::value doc = json::parse(payload_json, ec);
  if (ec || !doc.is_object()) return InvalidArgumentError("claims are not a JSON object");
  const json::value* cur = &doc;
  for (const std::string& segment : Split(path)) {
    cur = cur->is_object() ? cur->as_object().if_contains(segment) : nullptr;
    if (cur == nullptr) return InvalidArgumentError("no claim '" + std::string(path) + "'");
  }
  if (cur->is_null()) return InvalidArgumentError("no claim '" + std::string(path) + "'");
  if (!cur->is_string()) {
    return InvalidArgumentError("claim '" + std::string(path) + "' is not a string");
  }
  return std::string(cur->as_string());
}

bool UserHasAttribute(const storage::User& user, std::string_view path, std::string_view value) {
  if (value.empty()) return false;
  if (path == "id") return user.user_id == value;
  if (path == "userName") return EqualsIgnoreCase(user.user_name, value);
  if (path == "displayName") return user.display_name == value;
  boost::system::error_code ec;
  json::value doc = json::parse(user.attributes_json, ec);
  if (ec) return false;
  return Matches(doc, Split(path), 0, value, path == "emails.value");
}

}  // namespace ts::tti
