#include "ts/admin/service_model.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <regex>
#include <set>

namespace ts::admin {
namespace internal {
extern const std::string_view kSsoAdminModelJson;
extern const std::string_view kIdentityStoreModelJson;
}  // namespace internal

namespace {

namespace json = boost::json;

struct Member {
  std::string name;
  std::string shape;
  bool idempotency_token = false;
};

struct Shape {
  std::string name;
  std::string type;
  std::optional<int64_t> min;
  std::optional<int64_t> max;
  std::string pattern;
  std::optional<std::regex> regex;
  std::set<std::string> enum_values;
  std::vector<Member> members;
  std::set<std::string> required;
  bool is_union = false;
  bool is_document = false;
  bool sensitive = false;    // never echoed in messages
  std::string member_shape;  // list
  std::string key_shape;     // map
  std::string value_shape;   // map
};

std::string_view Sv(const json::string& s) { return {s.data(), s.size()}; }

const json::string* StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

std::optional<int64_t> IntAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return std::nullopt;
}

std::string Describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return "string";
    case json::kind::bool_:
      return "boolean";
    case json::kind::array:
      return "list";
    case json::kind::object:
      return "object";
    case json::kind::null:
      return "null";
    default:
      return "number";
  }
}

// Longest value a pattern is evaluated on (the longest patterned, bounded shape is 2048).
constexpr size_t kMaxPatternInput = 4096;

std::string Quote(std::string_view s) {
  // Long or sensitive values are not echoed back in full.
  if (s.size() > 64) return "'" + std::string(s.substr(0, 61)) + "...'";
  return "'" + std::string(s) + "'";
}

}  // namespace

std::string MarkNonAscii(std::string_view text, size_t* code_points) {
  std::string out;
  out.reserve(text.size());
  size_t count = 0;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    ++count;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    out += '\x01';
    i += len;
  }
  if (code_points != nullptr) *code_points = count;
  return out;
}

// `marked` matches `regex`, or would with every occurrence of the server's own instance id
// replaced by a stand-in of the length the models' patterns want
// ((sso)?ins-[a-zA-Z0-9-.]{16}).
bool MatchesAllowingOwnInstance(const std::string& marked, const std::regex& regex,
                                const ValidationOptions& options) {
  if (std::regex_match(marked, regex)) return true;
  const std::string& id = options.own_instance_id;
  if (id.empty() || marked.find(id) == std::string::npos) return false;
  const std::string stand_in = "ssoins-0000000000000000";
  std::string replaced;
  size_t start = 0;
  for (size_t at = marked.find(id); at != std::string::npos; at = marked.find(id, start)) {
    replaced.append(marked, start, at - start);
    replaced += stand_in;
    start = at + id.size();
  }
  replaced.append(marked, start, std::string::npos);
  return std::regex_match(replaced, regex);
}

struct ServiceModel::Impl {
  std::string target_prefix;
  std::string signing_name;
  std::map<std::string, std::string, std::less<>> operation_inputs;
  std::map<std::string, Shape, std::less<>> shapes;

  const Shape* Find(std::string_view name) const {
    auto it = shapes.find(name);
    return it == shapes.end() ? nullptr : &it->second;
  }

  // One problem found in a value: where, what it was, and the constraint it broke.
  struct Problem {
    enum class Kind { kConstraint, kRequired, kUnknown };
    Kind kind = Kind::kConstraint;
    std::string path;
    std::string value;  // "Value 'x'", "Value" (sensitive or not a scalar)
    std::string constraint;
  };
  using Problems = std::vector<Problem>;

  // Where a child value is: AWS names list elements 1-based (".1"); a file reader counts from 0
  // in brackets ("[0]").
  static std::string ChildPath(const std::string& path, size_t index,
                               const ValidationOptions& options) {
    if (!options.root.empty()) return path + "[" + std::to_string(index) + "]";
    return path + "." + std::to_string(index + 1);
  }
  static std::string MemberPath(const std::string& path, std::string_view member) {
    return path.empty() ? std::string(member) : path + "." + std::string(member);
  }

  static void Add(Problems& problems, const std::string& path, std::string value,
                  std::string constraint) {
    problems.push_back({Problem::Kind::kConstraint, path, std::move(value), std::move(constraint)});
  }

  void Check(const Shape& shape, const json::value& v, const std::string& path,
             const ValidationOptions& options, bool top, Problems& problems) const {
    if (shape.is_document) return;
    const std::string& t = shape.type;
    if (t == "string" || t == "blob") {
      if (!v.is_string()) {
        Add(problems, path, "Value", "Member must be a string, not a " + Describe(v));
        return;
      }
      std::string_view s = Sv(v.get_string());
      size_t length = 0;
      const std::string marked = MarkNonAscii(s, &length);
      const std::string value = shape.sensitive ? "Value" : "Value " + Quote(s);
      if (!shape.enum_values.empty() && !shape.enum_values.contains(std::string(s))) {
        std::string list;
        for (const std::string& e : shape.enum_values) list += (list.empty() ? "" : ", ") + e;
        Add(problems, path, value, "Member must satisfy enum value set: [" + list + "]");
      }
      if (shape.min && static_cast<int64_t>(length) < *shape.min) {
        Add(problems, path, "Value",
            "Member must have length greater than or equal to " + std::to_string(*shape.min));
      }
      if (shape.max && static_cast<int64_t>(length) > *shape.max) {
        Add(problems, path, "Value",
            "Member must have length less than or equal to " + std::to_string(*shape.max));
      }
      // libstdc++'s regex executor recurses per character: a value over the length limit (or,
      // for the one unbounded pattern, over kMaxPatternInput) is not matched at all.
      const bool too_long =
          (shape.max && static_cast<int64_t>(length) > *shape.max) || length > kMaxPatternInput;
      const bool skipped = std::find(options.skip_patterns.begin(), options.skip_patterns.end(),
                                     shape.name) != options.skip_patterns.end();
      if (shape.regex && !skipped &&
          (too_long || !MatchesAllowingOwnInstance(marked, *shape.regex, options))) {
        Add(problems, path, value,
            "Member must satisfy regular expression pattern: " + shape.pattern);
      }
      return;
    }
    if (t == "integer" || t == "long") {
      if (!v.is_int64() && !v.is_uint64()) {
        Add(problems, path, "Value", "Member must be an integer, not a " + Describe(v));
        return;
      }
      const int64_t n = v.is_int64() ? v.get_int64() : static_cast<int64_t>(v.get_uint64());
      const std::string value = "Value '" + std::to_string(n) + "'";
      if (shape.min && n < *shape.min) {
        Add(problems, path, value,
            "Member must have value greater than or equal to " + std::to_string(*shape.min));
      }
      if (shape.max && n > *shape.max) {
        Add(problems, path, value,
            "Member must have value less than or equal to " + std::to_string(*shape.max));
      }
      return;
    }
    if (t == "boolean") {
      if (!v.is_bool())
        Add(problems, path, "Value", "Member must be a boolean, not a " + Describe(v));
      return;
    }
    if (t == "timestamp" || t == "double" || t == "float") {
      if (!v.is_number())
        Add(problems, path, "Value", "Member must be a number, not a " + Describe(v));
      return;
    }
    if (t == "list") {
      if (!v.is_array()) {
        Add(problems, path, "Value", "Member must be a list, not a " + Describe(v));
        return;
      }
      const json::array& a = v.get_array();
      CheckCount(shape, static_cast<int64_t>(a.size()), path, problems);
      const Shape* member = Find(shape.member_shape);
      if (member == nullptr) return;
      for (size_t i = 0; i < a.size(); ++i) {
        // An element cannot be absent: null in a list is refused, not skipped (issue 23: the
        // handlers read every element as its shape, and a null one made them throw).
        if (a[i].is_null()) {
          if (!member->is_document) {
            Add(problems, ChildPath(path, i, options), "Value null", "Member must not be null");
          }
          continue;
        }
        Check(*member, a[i], ChildPath(path, i, options), options, false, problems);
      }
      return;
    }
    if (t == "map") {
      if (!v.is_object()) {
        Add(problems, path, "Value", "Member must be a map, not a " + Describe(v));
        return;
      }
      const json::object& o = v.get_object();
      CheckCount(shape, static_cast<int64_t>(o.size()), path, problems);
      const Shape* key = Find(shape.key_shape);
      const Shape* value = Find(shape.value_shape);
      for (const auto& kv : o) {
        const std::string child = MemberPath(path, kv.key());
        if (key != nullptr) Check(*key, json::value(kv.key()), child, options, false, problems);
        if (value == nullptr) continue;
        if (kv.value().is_null()) {
          if (!value->is_document) Add(problems, child, "Value null", "Member must not be null");
          continue;
        }
        Check(*value, kv.value(), child, options, false, problems);
      }
      return;
    }
    if (t == "structure") {
      if (!v.is_object()) {
        Add(problems, path, "Value", "Member must be a structure, not a " + Describe(v));
        return;
      }
      const json::object& o = v.get_object();
      auto omitted = [&](std::string_view name) {
        return top &&
               std::find(options.omit.begin(), options.omit.end(), name) != options.omit.end();
      };
      int set = 0;
      std::string names;
      for (const Member& m : shape.members) {
        if (omitted(m.name)) continue;
        names += (names.empty() ? "" : ", ") + m.name;
        const std::string child = MemberPath(path, m.name);
        const json::value* mv = o.if_contains(m.name);
        if (mv == nullptr || mv->is_null()) {
          if (shape.required.contains(m.name)) {
            problems.push_back(
                {Problem::Kind::kRequired, child, "Value null", "Member must not be null"});
          }
          continue;
        }
        ++set;
        if (const Shape* ms = Find(m.shape)) Check(*ms, *mv, child, options, false, problems);
      }
      if (options.reject_unknown) {
        for (const auto& kv : o) {
          const bool known =
              std::any_of(shape.members.begin(), shape.members.end(),
                          [&](const Member& m) { return m.name == kv.key() && !omitted(m.name); });
          if (!known) {
            problems.push_back({Problem::Kind::kUnknown, MemberPath(path, kv.key()), "",
                                "unknown member (expected one of " + names + ")"});
          }
        }
      }
      if (shape.is_union && set != 1) {
        Add(problems, path, "Value",
            "exactly one of [" + names + "] must be set, got " + std::to_string(set));
      }
      return;
    }
  }

  static void CheckCount(const Shape& shape, int64_t n, const std::string& path,
                         Problems& problems) {
    if (shape.min && n < *shape.min) {
      Add(problems, path, "Value",
          "Member must have length greater than or equal to " + std::to_string(*shape.min));
    }
    if (shape.max && n > *shape.max) {
      Add(problems, path, "Value",
          "Member must have length less than or equal to " + std::to_string(*shape.max));
    }
  }

  // AWS's message ("1 validation error detected: Value 'x' at 'Name' failed to satisfy
  // constraint: ..."), or with a root the file's ("Users[0].UserName: is required").
  static Status ToStatus(const Problems& problems, const ValidationOptions& options) {
    if (problems.empty()) return OkStatus();
    std::string message;
    if (options.root.empty()) {
      message = std::to_string(problems.size()) +
                (problems.size() == 1 ? " validation error" : " validation errors") + " detected: ";
    }
    for (size_t i = 0; i < problems.size(); ++i) {
      const Problem& p = problems[i];
      if (i > 0) message += "; ";
      if (!options.root.empty()) {
        message += p.path + ": ";
        if (p.kind == Problem::Kind::kRequired) {
          message += "is required";
        } else if (p.kind == Problem::Kind::kUnknown) {
          message += p.constraint;
        } else {
          message += p.value + " failed to satisfy constraint: " + p.constraint;
        }
        continue;
      }
      message += p.value + " at " + (p.path.empty() ? "the request" : "'" + p.path + "'") +
                 " failed to satisfy constraint: " + p.constraint;
    }
    return ApiError(StatusCode::kInvalidArgument, "ValidationException", message);
  }
};

ServiceModel::ServiceModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServiceModel::~ServiceModel() = default;

StatusOr<std::shared_ptr<const ServiceModel>> ServiceModel::Parse(std::string_view model_json) {
  boost::system::error_code ec;
  json::value doc = json::parse(model_json, ec);
  if (ec || !doc.is_object()) return InvalidArgumentError("service model is not a JSON object");
  const json::object& root = doc.get_object();
  auto impl = std::make_unique<Impl>();
  const json::value* metadata = root.if_contains("metadata");
  const json::value* operations = root.if_contains("operations");
  const json::value* shapes = root.if_contains("shapes");
  if (metadata == nullptr || !metadata->is_object() || operations == nullptr ||
      !operations->is_object() || shapes == nullptr || !shapes->is_object()) {
    return InvalidArgumentError("service model lacks metadata, operations or shapes");
  }
  if (const json::string* p = StringAt(metadata->get_object(), "targetPrefix")) {
    impl->target_prefix = std::string(Sv(*p));
  }
  if (const json::string* p = StringAt(metadata->get_object(), "signingName")) {
    impl->signing_name = std::string(Sv(*p));
  }
  for (const auto& [name, op] : operations->get_object()) {
    std::string input;
    if (op.is_object()) {
      if (const json::value* in = op.get_object().if_contains("input"); in && in->is_object()) {
        if (const json::string* s = StringAt(in->get_object(), "shape"))
          input = std::string(Sv(*s));
      }
    }
    impl->operation_inputs.emplace(std::string(name), input);
  }
  for (const auto& [name, sv] : shapes->get_object()) {
    if (!sv.is_object())
      return InvalidArgumentError("shape " + std::string(name) + " is not an object");
    const json::object& so = sv.get_object();
    Shape shape;
    shape.name = std::string(name);
    if (const json::string* t = StringAt(so, "type")) shape.type = std::string(Sv(*t));
    shape.min = IntAt(so, "min");
    shape.max = IntAt(so, "max");
    if (const json::value* u = so.if_contains("union"); u && u->is_bool())
      shape.is_union = u->get_bool();
    if (const json::value* d = so.if_contains("document"); d && d->is_bool()) {
      shape.is_document = d->get_bool();
    }
    if (const json::string* p = StringAt(so, "pattern")) shape.pattern = std::string(Sv(*p));
    if (const json::value* sv2 = so.if_contains("sensitive"); sv2 && sv2->is_bool()) {
      shape.sensitive = sv2->get_bool();
    }
    if (const json::string* r = StringAt(so, "x-tessera-regex")) {
      try {
        shape.regex.emplace(std::string(Sv(*r)), std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return InvalidArgumentError("shape " + shape.name +
                                    ": pattern does not compile: " + e.what());
      }
    }
    if (const json::value* e = so.if_contains("enum"); e && e->is_array()) {
      for (const json::value& item : e->get_array()) {
        if (item.is_string()) shape.enum_values.insert(std::string(Sv(item.get_string())));
      }
    }
    if (const json::value* r = so.if_contains("required"); r && r->is_array()) {
      for (const json::value& item : r->get_array()) {
        if (item.is_string()) shape.required.insert(std::string(Sv(item.get_string())));
      }
    }
    if (const json::value* m = so.if_contains("members"); m && m->is_object()) {
      for (const auto& [mname, mv] : m->get_object()) {
        if (!mv.is_object()) continue;
        Member member;
        member.name = std::string(mname);
        if (const json::string* s = StringAt(mv.get_object(), "shape")) {
          member.shape = std::string(Sv(*s));
        }
        if (const json::value* it = mv.get_object().if_contains("idempotencyToken");
            it && it->is_bool()) {
          member.idempotency_token = it->get_bool();
        }
        shape.members.push_back(std::move(member));
      }
    }
    for (auto [key, field] :
         {std::pair{"member", &shape.member_shape}, std::pair{"key", &shape.key_shape},
          std::pair{"value", &shape.value_shape}}) {
      if (const json::value* ref = so.if_contains(key); ref && ref->is_object()) {
        if (const json::string* s = StringAt(ref->get_object(), "shape"))
          *field = std::string(Sv(*s));
      }
    }
    impl->shapes.emplace(shape.name, std::move(shape));
  }
  for (const auto& [op, input] : impl->operation_inputs) {
    if (!input.empty() && impl->Find(input) == nullptr) {
      return InvalidArgumentError("operation " + op + " names a missing input shape " + input);
    }
  }
  return std::shared_ptr<const ServiceModel>(new ServiceModel(std::move(impl)));
}

const std::string& ServiceModel::target_prefix() const { return impl_->target_prefix; }
const std::string& ServiceModel::signing_name() const { return impl_->signing_name; }

bool ServiceModel::HasOperation(std::string_view operation) const {
  return impl_->operation_inputs.contains(operation);
}

Status ServiceModel::ValidateInput(std::string_view operation, const json::value& input,
                                   const ValidationOptions& options) const {
  auto it = impl_->operation_inputs.find(operation);
  if (it == impl_->operation_inputs.end()) {
    return NotFoundError("no operation " + std::string(operation));
  }
  const Shape* shape = impl_->Find(it->second);
  if (shape == nullptr) return OkStatus();
  Impl::Problems problems;
  impl_->Check(*shape, input, options.root, options, true, problems);
  return Impl::ToStatus(problems, options);
}

Status ServiceModel::ValidateShape(std::string_view shape_name, const json::value& value,
                                   const ValidationOptions& options) const {
  const Shape* shape = impl_->Find(shape_name);
  if (shape == nullptr) return NotFoundError("no shape " + std::string(shape_name));
  Impl::Problems problems;
  impl_->Check(*shape, value, options.root, options, true, problems);
  return Impl::ToStatus(problems, options);
}

std::vector<std::string> ServiceModel::IdempotencyTokenMembers(std::string_view operation) const {
  std::vector<std::string> out;
  auto it = impl_->operation_inputs.find(operation);
  if (it == impl_->operation_inputs.end()) return out;
  if (const Shape* shape = impl_->Find(it->second)) {
    for (const Member& m : shape->members) {
      if (m.idempotency_token) out.push_back(m.name);
    }
  }
  return out;
}

namespace {
StatusOr<std::shared_ptr<const ServiceModel>> Embedded(std::string_view json_text) {
  return ServiceModel::Parse(json_text);
}
}  // namespace

StatusOr<std::shared_ptr<const ServiceModel>> SsoAdminModel() {
  static const StatusOr<std::shared_ptr<const ServiceModel>> model =
      Embedded(internal::kSsoAdminModelJson);
  return model;
}

StatusOr<std::shared_ptr<const ServiceModel>> IdentityStoreModel() {
  static const StatusOr<std::shared_ptr<const ServiceModel>> model =
      Embedded(internal::kIdentityStoreModelJson);
  return model;
}

}  // namespace ts::admin
