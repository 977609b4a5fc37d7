#include "ts/storage/attribute_index.h"

#include <algorithm>
#include <boost/json.hpp>

#include "ts/common/ascii.h"

namespace ts::storage {
namespace {

bool CaseInsensitivePath(std::string_view lower_path) {
  return lower_path == "username" || lower_path == "emails.value";
}

void Walk(const boost::json::value& v, const std::string& path, std::vector<IndexEntry>& out) {
  if (v.is_string()) {
    if (!path.empty()) out.push_back(CanonicalLookup(path, std::string_view(v.get_string())));
  } else if (v.is_object()) {
    for (const auto& member : v.get_object()) {
      std::string child(path);
      if (!child.empty()) child += '.';
      child.append(member.key().data(), member.key().size());
      Walk(member.value(), child, out);
    }
  } else if (v.is_array()) {
    for (const auto& element : v.get_array()) Walk(element, path, out);
  }
}

// ExternalIds: [{"Issuer": ..., "Id": ...}] -> "externalid" entries.
void AddExternalIds(const boost::json::object& doc, std::vector<IndexEntry>& out) {
  for (const auto& member : doc) {
    if (AsciiLower(std::string_view(member.key().data(), member.key().size())) != "externalids" ||
        !member.value().is_array())
      continue;
    for (const auto& element : member.value().get_array()) {
      if (!element.is_object()) continue;
      const auto* issuer = element.get_object().if_contains("Issuer");
      const auto* id = element.get_object().if_contains("Id");
      if (issuer == nullptr || id == nullptr || !issuer->is_string() || !id->is_string()) continue;
      out.emplace_back("externalid", ExternalIdValue(std::string_view(issuer->get_string()),
                                                     std::string_view(id->get_string())));
    }
  }
}

std::vector<IndexEntry> Finish(std::vector<IndexEntry> entries) {
  std::sort(entries.begin(), entries.end());
  entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
  return entries;
}

// Parses without throwing (no exception leaves the module).
bool ParseObject(const std::string& json, boost::json::object& out) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return false;
  out = std::move(v.get_object());
  return true;
}

}  // namespace

IndexEntry CanonicalLookup(std::string_view path, std::string_view value) {
  std::string lower_path = AsciiLower(path);
  std::string canonical_value =
      CaseInsensitivePath(lower_path) ? AsciiLower(value) : std::string(value);
  return {std::move(lower_path), std::move(canonical_value)};
}

std::string ExternalIdValue(std::string_view issuer, std::string_view id) {
  // The unit separator cannot appear in either member (their model patterns exclude controls).
  std::string out(issuer);
  out += '\x1f';
  out += id;
  return out;
}

std::vector<IndexEntry> UserIndexEntries(const User& user) {
  std::vector<IndexEntry> entries;
  entries.push_back(CanonicalLookup("id", user.user_id));
  entries.push_back(CanonicalLookup("username", user.user_name));
  if (!user.display_name.empty())
    entries.push_back(CanonicalLookup("displayname", user.display_name));
  boost::json::object doc;
  if (ParseObject(user.attributes_json, doc)) {
    for (const auto& member : doc) {
      Walk(member.value(), AsciiLower(std::string_view(member.key().data(), member.key().size())),
           entries);
    }
    AddExternalIds(doc, entries);
  }
  return Finish(std::move(entries));
}

std::vector<IndexEntry> GroupIndexEntries(const Group& group) {
  std::vector<IndexEntry> entries;
  entries.push_back(CanonicalLookup("id", group.group_id));
  entries.push_back(CanonicalLookup("displayname", group.display_name));
  boost::json::object doc;
  if (ParseObject(group.attributes_json, doc)) AddExternalIds(doc, entries);
  return Finish(std::move(entries));
}

}  // namespace ts::storage
