// The identitystore operations (docs/protocol.md §6.1): users, groups and group memberships of the
// instance's identity store. Input has been validated against the model before a handler runs.
#include <cctype>
#include <set>

#include "ts/admin/handlers.h"
#include "ts/admin/service_model.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/random.h"
#include "ts/storage/attribute_index.h"

namespace ts::admin::internal {
namespace {

// identitystore's ResourceNotFoundException names the resource (ResourceType, ResourceId).
Status Missing(Call& call, std::string_view type, const std::string& id) {
  call.error_extras["ResourceType"] = type;
  call.error_extras["ResourceId"] = id;
  std::string what = type == "USER"               ? "User"
                     : type == "GROUP"            ? "Group"
                     : type == "GROUP_MEMBERSHIP" ? "Group membership"
                                                  : "Identity store";
  return NotFound(what + " " + id + " does not exist");
}

Status Unique(Call& call, std::string_view message) {
  call.error_extras["Reason"] = "UNIQUENESS_CONSTRAINT_VIOLATION";
  return Conflict(message);
}

Status CheckStore(const Env& env, Call& call) {
  const std::string id = Str(call.in, "IdentityStoreId");
  if (id != env.instance.identity_store_id) return Missing(call, "IDENTITY_STORE", id);
  return OkStatus();
}

// The stored attribute document as an object ({} if it is anything else).
json::object StoredObject(const std::string& text) {
  json::value v = ParseStored(text);
  return v.is_object() ? v.get_object() : json::object();
}

// --- users ---

json::object UserJson(const Env& env, const storage::User& u) {
  json::object o = StoredObject(u.attributes_json);
  o.erase("Password");
  o["UserId"] = u.user_id;
  o["IdentityStoreId"] = env.instance.identity_store_id;
  o["UserName"] = u.user_name;
  if (!u.display_name.empty()) o["DisplayName"] = u.display_name;
  o["UserStatus"] = "ENABLED";
  o["CreatedAt"] = Timestamp(u.created_at);
  o["UpdatedAt"] = Timestamp(u.updated_at);
  return o;
}

StatusOr<storage::User> LoadUser(const Env& env, Call& call, const std::string& id) {
  auto u = env.storage.directory->GetUser(id);
  if (!u.ok() && u.status().code() == StatusCode::kNotFound) return Missing(call, "USER", id);
  return u;
}

// UserName is unique in the store, compared case-insensitively as the identity store does.
Status CheckUserNameFree(const Env& env, Call& call, const std::string& name,
                         const std::string& except_id) {
  TS_ASSIGN_OR_RETURN(auto users, env.storage.directory->FindUsersByAttribute("username", name));
  for (const auto& u : users) {
    if (u.user_id != except_id) return Unique(call, "A user named '" + name + "' already exists");
  }
  return OkStatus();
}

StatusOr<json::object> CreateUser(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string name = Str(call.in, "UserName");
  if (name.empty())
    return Validation(
        "Value null at 'UserName' failed to satisfy constraint: "
        "Member must not be null");
  TS_RETURN_IF_ERROR(CheckUserNameFree(env, call, name, ""));
  storage::User u;
  u.user_id = crypto::RandomUuid();
  u.identity_store_id = env.instance.identity_store_id;
  u.user_name = name;
  u.display_name = Str(call.in, "DisplayName");
  json::object attributes = call.in;
  attributes.erase("IdentityStoreId");
  u.attributes_json = json::serialize(attributes);
  u.created_at = u.updated_at = env.clock->NowUnixSeconds();
  NoteResponse("userId", u.user_id);
  Status status = env.storage.directory->CreateUser(u);
  if (status.code() == StatusCode::kAlreadyExists) {
    return Unique(call, "A user named '" + name + "' already exists");
  }
  TS_RETURN_IF_ERROR(status);
  return json::object{{"UserId", u.user_id}, {"IdentityStoreId", u.identity_store_id}};
}

StatusOr<json::object> DescribeUser(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(storage::User u, LoadUser(env, call, Str(call.in, "UserId")));
  return UserJson(env, u);
}

// "name.givenName" -> {"Name", "GivenName"}: camelCase path segments name PascalCase members.
std::vector<std::string> PathSegments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('.', start);
    if (end == std::string::npos) end = path.size();
    std::string seg = path.substr(start, end - start);
    if (!seg.empty()) seg[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(seg[0])));
    out.push_back(seg);
    start = end + 1;
  }
  return out;
}

StatusOr<json::object> UpdateUser(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(storage::User u, LoadUser(env, call, Str(call.in, "UserId")));
  json::object doc = StoredObject(u.attributes_json);
  doc.erase("Password");
  doc["UserName"] = u.user_name;
  static const std::set<std::string> kTopLevel = {
      "UserName",   "Name",      "DisplayName",       "NickName",
      "ProfileUrl", "Emails",    "Addresses",         "PhoneNumbers",
      "UserType",   "Title",     "PreferredLanguage", "Locale",
      "Timezone",   "Photos",    "Website",           "Birthdate",
      "Roles",      "Extensions"};
  const json::array& operations = Array(call.in, "Operations");
  for (size_t i = 0; i < operations.size(); ++i) {
    if (!operations[i].is_object()) return BadElement("Operations", i, "structure");
    const json::object& o = operations[i].get_object();
    const std::string path = Str(o, "AttributePath");
    const std::vector<std::string> seg = PathSegments(path);
    if (seg.empty() || !kTopLevel.contains(seg[0]) || seg.size() > 2 ||
        (seg.size() == 2 && seg[0] != "Name")) {
      return Validation("Operations: AttributePath '" + path + "' is not an attribute of a user");
    }
    const json::value* value = o.if_contains("AttributeValue");
    const bool remove = value == nullptr || value->is_null();
    if (seg.size() == 1) {
      if (remove) {
        if (seg[0] == "UserName") return Validation("Operations: UserName cannot be removed");
        doc.erase(seg[0]);
      } else {
        doc[seg[0]] = *value;
      }
    } else {
      json::value& name = doc["Name"];
      if (!name.is_object()) name = json::object();
      if (remove) {
        name.get_object().erase(seg[1]);
      } else {
        name.get_object()[seg[1]] = *value;
      }
    }
  }
  // The result must still be a user the model accepts.
  json::object check = doc;
  check["IdentityStoreId"] = env.instance.identity_store_id;
  check.erase("ExternalIds");
  TS_ASSIGN_OR_RETURN(auto model, IdentityStoreModel());
  TS_RETURN_IF_ERROR(model->ValidateInput("CreateUser", check));
  const std::string name = Str(doc, "UserName");
  if (name.empty()) return Validation("Operations: UserName must be a non-empty string");
  if (name != u.user_name) TS_RETURN_IF_ERROR(CheckUserNameFree(env, call, name, u.user_id));
  u.user_name = name;
  u.display_name = Str(doc, "DisplayName");
  u.attributes_json = json::serialize(doc);
  u.updated_at = env.clock->NowUnixSeconds();
  Status status = env.storage.directory->UpdateUser(u);
  if (status.code() == StatusCode::kAlreadyExists) {
    return Unique(call, "A user named '" + name + "' already exists");
  }
  if (status.code() == StatusCode::kNotFound) return Missing(call, "USER", u.user_id);
  TS_RETURN_IF_ERROR(status);
  return json::object();
}

StatusOr<json::object> DeleteUser(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string id = Str(call.in, "UserId");
  Status status = env.storage.directory->DeleteUser(id, env.clock->NowUnixSeconds());
  if (status.code() == StatusCode::kNotFound) return Missing(call, "USER", id);
  TS_RETURN_IF_ERROR(status);
  return json::object();
}

// The (deprecated) Filters of ListUsers/ListGroups: at most one, an exact attribute match.
StatusOr<std::optional<std::pair<std::string, std::string>>> FilterOf(const Call& call) {
  const json::array& filters = Array(call.in, "Filters");
  if (filters.empty()) return std::optional<std::pair<std::string, std::string>>();
  if (filters.size() > 1) return Validation("Filters: at most one filter is supported");
  if (!filters[0].is_object()) return BadElement("Filters", 0, "structure");
  const json::object& f = filters[0].get_object();
  return std::optional<std::pair<std::string, std::string>>(
      std::pair{Str(f, "AttributePath"), Str(f, "AttributeValue")});
}

StatusOr<json::object> ListUsers(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(auto filter, FilterOf(call));
  json::array list;
  json::object out;
  if (filter) {
    TS_ASSIGN_OR_RETURN(auto users,
                        env.storage.directory->FindUsersByAttribute(filter->first, filter->second));
    TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, "ListUsers:filter", users,
                                              [](const auto& u) { return u.user_id; }));
    for (const auto& u : page.items) list.push_back(UserJson(env, u));
    if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListUsers:filter", page.next);
  } else {
    TS_ASSIGN_OR_RETURN(storage::PageRequest request, env.PageFor(call, "ListUsers"));
    TS_ASSIGN_OR_RETURN(auto page, env.storage.directory->ListUsersPage(request));
    for (const auto& u : page.items) list.push_back(UserJson(env, u));
    if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListUsers", page.next);
  }
  out["Users"] = std::move(list);
  return out;
}

// The AlternateIdentifier union: (path, value) for the attribute index.
StatusOr<std::pair<std::string, std::string>> AlternateKey(const Call& call) {
  const json::object& alt = Object(call.in, "AlternateIdentifier");
  if (const json::value* ext = alt.if_contains("ExternalId"); ext && ext->is_object()) {
    return std::pair<std::string, std::string>{
        "externalid",
        storage::ExternalIdValue(Str(ext->get_object(), "Issuer"), Str(ext->get_object(), "Id"))};
  }
  const json::object& unique = Object(alt, "UniqueAttribute");
  const json::value* value = unique.if_contains("AttributeValue");
  if (value == nullptr || !value->is_string()) {
    return Validation("AlternateIdentifier.UniqueAttribute.AttributeValue must be a string");
  }
  return std::pair<std::string, std::string>{
      Str(unique, "AttributePath"),
      std::string(value->get_string().data(), value->get_string().size())};
}

StatusOr<json::object> GetUserId(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(auto key, AlternateKey(call));
  TS_ASSIGN_OR_RETURN(auto users,
                      env.storage.directory->FindUsersByAttribute(key.first, key.second));
  if (users.empty()) return Missing(call, "USER", key.second);
  if (users.size() > 1) {
    return Validation("AlternateIdentifier: " + std::to_string(users.size()) +
                      " users match; the attribute must identify exactly one");
  }
  return json::object{{"UserId", users[0].user_id},
                      {"IdentityStoreId", env.instance.identity_store_id}};
}

// --- groups ---

json::object GroupJson(const Env& env, const storage::Group& g) {
  json::object o = StoredObject(g.attributes_json);
  o["GroupId"] = g.group_id;
  o["IdentityStoreId"] = env.instance.identity_store_id;
  o["DisplayName"] = g.display_name;
  if (!g.description.empty()) o["Description"] = g.description;
  o["CreatedAt"] = Timestamp(g.created_at);
  o["UpdatedAt"] = Timestamp(g.updated_at);
  return o;
}

StatusOr<storage::Group> LoadGroup(const Env& env, Call& call, const std::string& id) {
  auto g = env.storage.directory->GetGroup(id);
  if (!g.ok() && g.status().code() == StatusCode::kNotFound) return Missing(call, "GROUP", id);
  return g;
}

StatusOr<json::object> CreateGroup(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string name = Str(call.in, "DisplayName");
  if (name.empty())
    return Validation(
        "Value null at 'DisplayName' failed to satisfy constraint: "
        "Member must not be null");
  storage::Group g;
  g.group_id = crypto::RandomUuid();
  g.identity_store_id = env.instance.identity_store_id;
  g.display_name = name;
  g.description = Str(call.in, "Description");
  json::object attributes = call.in;
  attributes.erase("IdentityStoreId");
  g.attributes_json = json::serialize(attributes);
  g.created_at = g.updated_at = env.clock->NowUnixSeconds();
  NoteResponse("groupId", g.group_id);
  Status status = env.storage.directory->CreateGroup(g);
  if (status.code() == StatusCode::kAlreadyExists) {
    return Unique(call, "A group named '" + name + "' already exists");
  }
  TS_RETURN_IF_ERROR(status);
  return json::object{{"GroupId", g.group_id}, {"IdentityStoreId", g.identity_store_id}};
}

StatusOr<json::object> DescribeGroup(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(storage::Group g, LoadGroup(env, call, Str(call.in, "GroupId")));
  return GroupJson(env, g);
}

StatusOr<json::object> ListGroups(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(auto filter, FilterOf(call));
  json::array list;
  json::object out;
  if (filter) {
    TS_ASSIGN_OR_RETURN(
        auto groups, env.storage.directory->FindGroupsByAttribute(filter->first, filter->second));
    TS_ASSIGN_OR_RETURN(auto page, env.PageOf(call, "ListGroups:filter", groups,
                                              [](const auto& g) { return g.group_id; }));
    for (const auto& g : page.items) list.push_back(GroupJson(env, g));
    if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListGroups:filter", page.next);
  } else {
    TS_ASSIGN_OR_RETURN(storage::PageRequest request, env.PageFor(call, "ListGroups"));
    TS_ASSIGN_OR_RETURN(auto page, env.storage.directory->ListGroups(request));
    for (const auto& g : page.items) list.push_back(GroupJson(env, g));
    if (!page.next.empty()) out["NextToken"] = env.TokenFor("ListGroups", page.next);
  }
  out["Groups"] = std::move(list);
  return out;
}

StatusOr<json::object> DeleteGroup(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string id = Str(call.in, "GroupId");
  Status status = env.storage.directory->DeleteGroup(id);
  if (status.code() == StatusCode::kNotFound) return Missing(call, "GROUP", id);
  TS_RETURN_IF_ERROR(status);
  return json::object();
}

// Operations on a group: displayName and description (the group attributes the identity store
// lets a caller change), an absent or null AttributeValue removing the description.
StatusOr<json::object> UpdateGroup(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(storage::Group g, LoadGroup(env, call, Str(call.in, "GroupId")));
  json::object doc = StoredObject(g.attributes_json);
  const json::array& operations = Array(call.in, "Operations");
  for (size_t i = 0; i < operations.size(); ++i) {
    if (!operations[i].is_object()) return BadElement("Operations", i, "structure");
    const json::object& o = operations[i].get_object();
    const std::string path = Str(o, "AttributePath");
    const std::vector<std::string> seg = PathSegments(path);
    if (seg.size() != 1 || (seg[0] != "DisplayName" && seg[0] != "Description")) {
      return Validation("Operations: AttributePath '" + path +
                        "' is not an attribute of a group that can be updated (displayName, "
                        "description)");
    }
    const json::value* value = o.if_contains("AttributeValue");
    const bool remove = value == nullptr || value->is_null();
    if (!remove && !value->is_string()) {
      return Validation("Operations: the AttributeValue of " + path + " must be a string");
    }
    if (seg[0] == "DisplayName") {
      if (remove || value->get_string().empty()) {
        return Validation("Operations: displayName cannot be removed");
      }
      doc["DisplayName"] = *value;
    } else if (remove) {
      doc.erase("Description");
    } else {
      doc["Description"] = *value;
    }
  }
  // The result must still be a group the model accepts.
  json::object check = doc;
  check["IdentityStoreId"] = env.instance.identity_store_id;
  TS_ASSIGN_OR_RETURN(auto model, IdentityStoreModel());
  TS_RETURN_IF_ERROR(model->ValidateInput("CreateGroup", check));
  g.display_name = Str(doc, "DisplayName");
  g.description = Str(doc, "Description");
  g.attributes_json = json::serialize(doc);
  g.updated_at = env.clock->NowUnixSeconds();
  Status status = env.storage.directory->UpdateGroup(g);
  if (status.code() == StatusCode::kAlreadyExists) {
    return Unique(call, "A group named '" + g.display_name + "' already exists");
  }
  if (status.code() == StatusCode::kNotFound) return Missing(call, "GROUP", g.group_id);
  TS_RETURN_IF_ERROR(status);
  return json::object();
}

StatusOr<json::object> GetGroupId(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  TS_ASSIGN_OR_RETURN(auto key, AlternateKey(call));
  TS_ASSIGN_OR_RETURN(auto groups,
                      env.storage.directory->FindGroupsByAttribute(key.first, key.second));
  if (groups.empty()) return Missing(call, "GROUP", key.second);
  if (groups.size() > 1) {
    return Validation("AlternateIdentifier: " + std::to_string(groups.size()) +
                      " groups match; the attribute must identify exactly one");
  }
  return json::object{{"GroupId", groups[0].group_id},
                      {"IdentityStoreId", env.instance.identity_store_id}};
}

// --- memberships ---

json::object MembershipJson(const Env& env, const storage::GroupMembership& m) {
  return json::object{{"MembershipId", m.membership_id},
                      {"IdentityStoreId", env.instance.identity_store_id},
                      {"GroupId", m.group_id},
                      {"MemberId", json::object{{"UserId", m.user_id}}},
                      {"CreatedAt", Timestamp(m.created_at)}};
}

std::string MemberUserId(const Call& call) { return Str(Object(call.in, "MemberId"), "UserId"); }

StatusOr<json::object> CreateGroupMembership(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string group_id = Str(call.in, "GroupId");
  const std::string user_id = MemberUserId(call);
  TS_RETURN_IF_ERROR(LoadGroup(env, call, group_id).status());
  TS_RETURN_IF_ERROR(LoadUser(env, call, user_id).status());
  storage::GroupMembership m{crypto::RandomUuid(), env.instance.identity_store_id, group_id,
                             user_id, env.clock->NowUnixSeconds()};
  NoteResponse("membershipId", m.membership_id);
  Status status = env.storage.directory->CreateGroupMembership(m);
  if (status.code() == StatusCode::kAlreadyExists) {
    return Unique(call, "User " + user_id + " is already a member of group " + group_id);
  }
  if (status.code() == StatusCode::kNotFound) return NotFound(status.message());
  TS_RETURN_IF_ERROR(status);
  return json::object{{"MembershipId", m.membership_id},
                      {"IdentityStoreId", env.instance.identity_store_id}};
}

StatusOr<json::object> DeleteGroupMembership(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string id = Str(call.in, "MembershipId");
  Status status = env.storage.directory->DeleteGroupMembership(id);
  if (status.code() == StatusCode::kNotFound) return Missing(call, "GROUP_MEMBERSHIP", id);
  TS_RETURN_IF_ERROR(status);
  return json::object();
}

StatusOr<json::object> ListGroupMemberships(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string group_id = Str(call.in, "GroupId");
  TS_RETURN_IF_ERROR(LoadGroup(env, call, group_id).status());
  const std::string scope = "ListGroupMemberships:" + group_id;
  TS_ASSIGN_OR_RETURN(storage::PageRequest request, env.PageFor(call, scope));
  TS_ASSIGN_OR_RETURN(auto page, env.storage.directory->ListGroupMemberships(group_id, request));
  json::array list;
  for (const auto& m : page.items) list.push_back(MembershipJson(env, m));
  json::object out{{"GroupMemberships", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

StatusOr<json::object> GetGroupMembershipId(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string group_id = Str(call.in, "GroupId");
  const std::string user_id = MemberUserId(call);
  TS_ASSIGN_OR_RETURN(auto memberships,
                      env.storage.directory->ListGroupMembershipsForUser(user_id));
  for (const auto& m : memberships) {
    if (m.group_id == group_id) {
      return json::object{{"MembershipId", m.membership_id},
                          {"IdentityStoreId", env.instance.identity_store_id}};
    }
  }
  return Missing(call, "GROUP_MEMBERSHIP", group_id + "/" + user_id);
}

StatusOr<json::object> DescribeGroupMembership(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string id = Str(call.in, "MembershipId");
  auto m = env.storage.directory->GetGroupMembership(id);
  if (!m.ok() && m.status().code() == StatusCode::kNotFound) {
    return Missing(call, "GROUP_MEMBERSHIP", id);
  }
  TS_RETURN_IF_ERROR(m.status());
  return MembershipJson(env, *m);
}

StatusOr<json::object> ListGroupMembershipsForMember(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string user_id = MemberUserId(call);
  TS_RETURN_IF_ERROR(LoadUser(env, call, user_id).status());
  TS_ASSIGN_OR_RETURN(auto memberships,
                      env.storage.directory->ListGroupMembershipsForUser(user_id));
  const std::string scope = "ListGroupMembershipsForMember:" + user_id;
  TS_ASSIGN_OR_RETURN(
      auto page, env.PageOf(call, scope, memberships, [](const auto& m) { return m.group_id; }));
  json::array list;
  for (const auto& m : page.items) list.push_back(MembershipJson(env, m));
  json::object out{{"GroupMemberships", std::move(list)}};
  if (!page.next.empty()) out["NextToken"] = env.TokenFor(scope, page.next);
  return out;
}

StatusOr<json::object> IsMemberInGroups(const Env& env, Call& call) {
  TS_RETURN_IF_ERROR(CheckStore(env, call));
  const std::string user_id = MemberUserId(call);
  TS_ASSIGN_OR_RETURN(auto memberships,
                      env.storage.directory->ListGroupMembershipsForUser(user_id));
  std::set<std::string> groups;
  for (const auto& m : memberships) groups.insert(m.group_id);
  json::array results;
  const json::array& group_ids = Array(call.in, "GroupIds");
  for (size_t i = 0; i < group_ids.size(); ++i) {
    if (!group_ids[i].is_string()) return BadElement("GroupIds", i, "string");
    const std::string id(group_ids[i].get_string().data(), group_ids[i].get_string().size());
    results.push_back(json::object{{"GroupId", id},
                                   {"MemberId", json::object{{"UserId", user_id}}},
                                   {"MembershipExists", groups.contains(id)}});
  }
  return json::object{{"Results", std::move(results)}};
}

}  // namespace

std::map<std::string, Handler, std::less<>> IdentityStoreHandlers() {
  return {
      {"CreateUser", &CreateUser},
      {"DescribeUser", &DescribeUser},
      {"UpdateUser", &UpdateUser},
      {"DeleteUser", &DeleteUser},
      {"ListUsers", &ListUsers},
      {"GetUserId", &GetUserId},
      {"CreateGroup", &CreateGroup},
      {"DescribeGroup", &DescribeGroup},
      {"ListGroups", &ListGroups},
      {"DeleteGroup", &DeleteGroup},
      {"GetGroupId", &GetGroupId},
      {"CreateGroupMembership", &CreateGroupMembership},
      {"DeleteGroupMembership", &DeleteGroupMembership},
      {"ListGroupMemberships", &ListGroupMemberships},
      {"IsMemberInGroups", &IsMemberInGroups},
      {"UpdateGroup", &UpdateGroup},
      {"GetGroupMembershipId", &GetGroupMembershipId},
      {"DescribeGroupMembership", &DescribeGroupMembership},
      {"ListGroupMembershipsForMember", &ListGroupMembershipsForMember},
  };
}

}  // namespace ts::admin::internal
