#include "ts/admin/rules.h"

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "ts/admin/handlers.h"
#include "ts/http/uri.h"
#include "ts/iam/policy.h"

namespace ts::admin {

using internal::Validation;

std::string_view GrantMemberFor(std::string_view grant_type) {
  if (grant_type == "authorization_code") return "AuthorizationCode";
  if (grant_type == "refresh_token") return "RefreshToken";
  if (grant_type == "urn:ietf:params:oauth:grant-type:jwt-bearer") return "JwtBearer";
  if (grant_type == "urn:ietf:params:oauth:grant-type:token-exchange") return "TokenExchange";
  return "";
}

Status CheckGrant(std::string_view grant_type, const boost::json::object& grant,
                  const std::string& path) {
  const std::string_view member = GrantMemberFor(grant_type);
  const boost::json::value* value = grant.if_contains(member);
  if (member.empty() || value == nullptr || value->is_null()) {
    return Validation(path + ": GrantType " + std::string(grant_type) + " needs the Grant member " +
                      std::string(member));
  }
  if (member == "AuthorizationCode" && value->is_object()) {
    const boost::json::value* uris = value->get_object().if_contains("RedirectUris");
    if (uris == nullptr || !uris->is_array() || uris->get_array().empty()) {
      return Validation(path +
                        ".AuthorizationCode.RedirectUris: at least one redirect URI is "
                        "needed for the authorization_code grant");
    }
    // The model's URI shape is any string, and /authorize appends the code to these. Every bad
    // entry is named, in the model validator's words (members counted from 1, as AWS does).
    std::vector<std::string> errors;
    const boost::json::array& list = uris->get_array();
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) continue;  // the model refused it already
      const std::string_view uri = list[i].get_string();
      if (auto problem = http::RedirectUriProblem(uri)) {
        errors.push_back("Value '" + std::string(uri) + "' at '" + path +
                         ".AuthorizationCode.RedirectUris." + std::to_string(i + 1) +
                         "' failed to satisfy constraint: Member must be an absolute https or "
                         "http URI with a host and no fragment: " +
                         *problem);
      }
    }
    if (!errors.empty()) {
      std::string message = std::to_string(errors.size()) +
                            (errors.size() == 1 ? " validation error" : " validation errors") +
                            " detected: ";
      for (size_t i = 0; i < errors.size(); ++i) message += (i > 0 ? "; " : "") + errors[i];
      return Validation(message);
    }
  }
  return OkStatus();
}

Status CheckAuthenticationMethod(const boost::json::object& method, const std::string& path) {
  const boost::json::value* iam = method.if_contains("Iam");
  if (iam == nullptr || !iam->is_object()) {
    return Validation(path + ": AuthenticationMethodType IAM needs the Iam member");
  }
  const boost::json::value* policy = iam->get_object().if_contains("ActorPolicy");
  if (policy == nullptr) return Validation(path + ".Iam.ActorPolicy: is required");
  if (auto parsed = iam::ParsePolicy(boost::json::serialize(*policy)); !parsed.ok()) {
    return Validation(path + ".Iam.ActorPolicy: " + std::string(parsed.status().message()));
  }
  return OkStatus();
}

Status CheckApplicationProvider(std::string_view provider_arn, const std::string& path) {
  if (provider_arn != kCustomApplicationProvider) {
    return Validation(path + ": only " + std::string(kCustomApplicationProvider) +
                      " (customer managed OAuth 2.0 applications) is supported");
  }
  return OkStatus();
}

}  // namespace ts::admin
