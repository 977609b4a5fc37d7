// File: userinfo.cc
// The UserInfo endpoint (userinfo.h).
#include "ts/oauth/userinfo.h"

#include <boost/json.hpp>
#include <optional>
#include <string_view>
#include <variant>

#include "ts/common/ascii.h"
#include "ts/common/json_writer.h"
#include "ts/oauth/application.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

namespace json = boost::json;

// An RFC 6750 §3 failure.
struct BearerError {
  int status;
  std::string_view error;  // "" when the request carried no token at all (§3.1: no error code)
  std::string description;
  std::string_view scope;  // insufficient_scope: the scope needed
};

// The characters a quoted-string of an auth-param may hold as they are (RFC 6750 §3: %x20-21 /
// %x23-5B / %x5D-7E); anything else becomes a space, so a message can never break the header.
std::string QuotedSafe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '"' || c == '\\') c = ' ';
  }
  return out;
}

http::Response ErrorResponse(const BearerError& e, std::string_view realm) {
  http::Response r;
  r.status = e.status;
  std::string challenge = "Bearer realm=\"" + QuotedSafe(realm) + "\"";
  if (!e.error.empty()) {
    challenge += ", error=\"" + std::string(e.error) + "\", error_description=\"" +
                 QuotedSafe(e.description) + "\"";
  }
  if (!e.scope.empty()) challenge += ", scope=\"" + std::string(e.scope) + "\"";
  // A 400 is not an authentication failure; RFC 6750 §3 still lets it carry the challenge, and
  // clients that look only at WWW-Authenticate learn the error from it.
  r.SetHeader("WWW-Authenticate", challenge);
  r.SetHeader("Content-Type", "application/json");
  r.SetHeader("Cache-Control", "no-store");
  JsonWriter body;
  body.BeginObject();
  if (!e.error.empty()) body.Member("error", e.error);
  body.Member("error_description", e.description);
  body.EndObject();
  r.body = body.Take();
  return r;
}

BearerError InvalidRequestError(std::string description) {
  return {400, "invalid_request", std::move(description), ""};
}

bool IsFormBody(const http::Request& request) {
  const std::string type = AsciiLower(request.FindHeader("content-type").value_or(""));
  return type == "application/x-www-form-urlencoded" ||
         type.starts_with("application/x-www-form-urlencoded;");
}

// The access token of the request, by exactly one of the methods of RFC 6750 §2.1 and §2.2;
// the error when there is none, or more than one.
std::variant<std::string, BearerError> ExtractToken(const http::Request& request) {
  // §2.3 (the URI query) is not supported: a token in a URL ends up in logs and histories.
  auto query = http::ParseForm(request.Query());
  if (!query) return InvalidRequestError("The query string is malformed");
  for (const auto& [name, value] : *query) {
    if (name == "access_token") {
      return InvalidRequestError(
          "Send the access token in the Authorization header (Bearer), not in the URL");
    }
  }
  std::optional<std::string> from_header;
  const std::vector<std::string_view> authorizations = request.FindHeaders("authorization");
  if (authorizations.size() > 1) {
    return InvalidRequestError("The request has more than one Authorization header");
  }
  if (!authorizations.empty()) {
    const std::string_view value = authorizations.front();
    const size_t space = value.find(' ');
    // The scheme is case-insensitive (RFC 9110 §11.1).
    if (space == std::string_view::npos || AsciiLower(value.substr(0, space)) != "bearer") {
      return BearerError{401, "", "The Authorization header must use the Bearer scheme", ""};
    }
    std::string_view token = value.substr(space + 1);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return InvalidRequestError("The Bearer credentials are empty");
    from_header = std::string(token);
  }
  std::optional<std::string> from_body;
  if (request.method == "POST" && IsFormBody(request)) {
    auto form = http::ParseForm(request.body);
    if (!form) return InvalidRequestError("The form body is malformed");
    for (auto& [name, value] : *form) {
      if (name != "access_token") continue;
      if (from_body) return InvalidRequestError("The form body has more than one access_token");
      from_body = std::move(value);
    }
    if (from_body && from_body->empty()) {
      return InvalidRequestError("The form body's access_token is empty");
    }
  }
  if (from_header && from_body) {
    // §2: a client must not use more than one method.
    return InvalidRequestError("Send the access token either in the header or in the body");
  }
  if (from_header) return std::move(*from_header);
  if (from_body) return std::move(*from_body);
  return BearerError{401, "", "No access token: send it as 'Authorization: Bearer <access token>'",
                     ""};
}

const json::value* Member(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_string() && !v->as_string().empty() ? v : nullptr;
}

// The primary address of the identitystore Emails attribute, else the first.
std::optional<std::string> PrimaryEmail(const json::object& attributes) {
  const json::value* emails = attributes.if_contains("Emails");
  if (emails == nullptr || !emails->is_array()) return std::nullopt;
  std::optional<std::string> first;
  for (const json::value& e : emails->as_array()) {
    if (!e.is_object()) continue;
    const json::value* value = Member(e.as_object(), "Value");
    if (value == nullptr) continue;
    const json::value* primary = e.as_object().if_contains("Primary");
    if (primary != nullptr && primary->is_bool() && primary->as_bool()) {
      return std::string(value->as_string());
    }
    if (!first) first = std::string(value->as_string());
  }
  return first;
}

}  // namespace

std::string UserInfoClaims(const storage::User& user, const std::vector<std::string>& scopes) {
  boost::system::error_code ec;
  json::value parsed = json::parse(user.attributes_json, ec);
  const json::object attributes =
      !ec && parsed.is_object() ? std::move(parsed.as_object()) : json::object();
  const json::object* name = nullptr;
  if (const json::value* n = attributes.if_contains("Name"); n != nullptr && n->is_object()) {
    name = &n->as_object();
  }
  auto name_part = [&](std::string_view part) -> std::string {
    const json::value* v = name != nullptr ? Member(*name, part) : nullptr;
    return v != nullptr ? std::string(v->as_string()) : std::string();
  };
  JsonWriter w;
  w.BeginObject();
  w.Member("sub", user.user_id);
  if (Contains(scopes, "profile")) {
    w.Member("preferred_username", user.user_name);
    const std::string given = name_part("GivenName");
    const std::string family = name_part("FamilyName");
    std::string full = user.display_name;
    if (full.empty()) {
      if (const json::value* d = Member(attributes, "DisplayName")) full = d->as_string();
    }
    if (full.empty()) full = name_part("Formatted");
    if (full.empty())
      full = given.empty() || family.empty() ? given + family : given + " " + family;
    if (!full.empty()) w.Member("name", full);
    if (!given.empty()) w.Member("given_name", given);
    if (!family.empty()) w.Member("family_name", family);
    if (user.updated_at > 0) w.Member("updated_at", user.updated_at);
  }
  if (Contains(scopes, "email")) {
    if (std::optional<std::string> email = PrimaryEmail(attributes)) {
      w.Member("email", *email);
      // The directory's administrator sets the address; users never do (docs/design/
      // public-clients.md).
      w.MemberBool("email_verified", true);
    }
  }
  w.EndObject();
  return w.Take();
}

UserInfo::UserInfo(std::shared_ptr<storage::GrantStore> grants,
                   std::shared_ptr<storage::DirectoryStore> directory,
                   std::shared_ptr<const tokens::TokenMinter> minter, ClockPtr clock)
    : grants_(std::move(grants)),
      directory_(std::move(directory)),
      minter_(std::move(minter)),
      clock_(std::move(clock)) {}

http::Response UserInfo::Handle(const http::Request& request, Status* internal) const {
  const std::string& realm = minter_->issuer();
  auto extracted = ExtractToken(request);
  if (auto* e = std::get_if<BearerError>(&extracted)) return ErrorResponse(*e, realm);
  const std::string& token = std::get<std::string>(extracted);
  auto invalid_token = [&](std::string description) {
    return ErrorResponse({401, "invalid_token", std::move(description), ""}, realm);
  };
  auto store_failure = [&](Status status) {
    *internal = std::move(status);
    http::Response r;
    r.status = 500;
    r.SetHeader("Content-Type", "application/json");
    r.SetHeader("Cache-Control", "no-store");
    r.body = R"({"error":"server_error","error_description":"An internal error occurred."})";
    return r;
  };
  const int64_t now = clock_->NowUnixSeconds();
  // The checks of introspection (introspection.cc): signed by us, unexpired, not revoked, and
  // its grant (the family) still live. Their messages name the check, never the token.
  auto claims = minter_->VerifyAccessToken(token, now);
  if (!claims.ok())
    return invalid_token("The access token is not valid: " +
                         std::string(claims.status().message()));
  auto revoked = grants_->IsAccessTokenRevoked(claims->token_id);
  if (!revoked.ok()) return store_failure(revoked.status());
  if (*revoked) return invalid_token("The access token has been revoked");
  auto family = grants_->GetFamily(claims->family_id);
  if (!family.ok() && family.status().code() != StatusCode::kNotFound) {
    return store_failure(family.status());
  }
  if (!family.ok() || family->revoked_at != 0 || family->expires_at <= now) {
    return invalid_token("The access token's grant has ended (revoked or expired)");
  }
  if (!Contains(claims->scopes, "openid")) {
    return ErrorResponse(
        {403, "insufficient_scope", "The access token was not granted the openid scope", "openid"},
        realm);
  }
  auto user = directory_->GetUser(claims->user_id);
  if (!user.ok()) {
    if (user.status().code() != StatusCode::kNotFound) return store_failure(user.status());
    return invalid_token("The access token's user no longer exists");
  }
  http::Response r;
  r.status = 200;
  r.SetHeader("Content-Type", "application/json");
  // Claims about a person: no shared cache may keep them (RFC 9111 §5.2.2.5).
  r.SetHeader("Cache-Control", "no-store");
  r.body = UserInfoClaims(*user, claims->scopes);
  return r;
}

}  // namespace ts::oauth
