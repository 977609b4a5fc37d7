// File: rules.h
// What the admin API checks beyond the service models (service_model.h) before it stores a
// value, shared with the bootstrap file (server/bootstrap.cc) so that a file can never hold what
// the API would refuse. Each check returns OK or a ValidationException whose message starts with
// `path`: the member's name on the wire ("Grant") or its place in a file
// ("Applications[0].Grants[1].Grant"). The values have passed the model already.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "ts/common/status.h"

namespace boost::json {
class object;
}

namespace ts::admin {

// The one application provider served: customer managed OAuth 2.0 applications.
inline constexpr std::string_view kCustomApplicationProvider =
    "arn:aws:sso::aws:applicationProvider/custom";

// The Grant union member carrying GrantType's configuration ("authorization_code" ->
// "AuthorizationCode", ...); "" for a type the model does not know.
std::string_view GrantMemberFor(std::string_view grant_type);

// PutApplicationGrant: `grant` (the Grant union) sets the member GrantType needs, and an
// AuthorizationCode grant lists at least one redirect URI. (JwtBearer's issuers must exist:
// that needs the store, so the callers check it.)
Status CheckGrant(std::string_view grant_type, const boost::json::object& grant,
                  const std::string& path);

// PutApplicationAuthenticationMethod: the Iam member, holding an ActorPolicy that ts/iam can
// evaluate (an unevaluable Deny would fail open).
Status CheckAuthenticationMethod(const boost::json::object& method, const std::string& path);

// CreateApplication: only kCustomApplicationProvider.
Status CheckApplicationProvider(std::string_view provider_arn, const std::string& path);

}  // namespace ts::admin
