// File: discovery.cc
// The authorization-server metadata (discovery.h).
#include "ts/server/discovery.h"

#include <vector>

#include "ts/common/json_writer.h"

namespace ts::server {

std::string AuthorizationServerMetadata(const DiscoveryOptions& options) {
  using List = std::vector<std::string>;
  const std::string& url = options.public_url;
  JsonWriter d;
  d.BeginObject();
  d.Member("issuer", options.issuer);
  d.Member("authorization_endpoint", url + "/authorize");
  // CreateToken's JSON and RFC 6749 §3.2 form posts for registered clients; CreateTokenWithIAM
  // is /token?aws_iam=t, signed (docs/design/public-clients.md).
  d.Member("token_endpoint", url + "/token");
  d.Member("userinfo_endpoint", url + "/userinfo");
  d.Member("jwks_uri", options.issuer + "/.well-known/jwks.json");
  // RFC 7591 bodies beside AWS's RegisterClient (oauth/dynamic_registration.h).
  d.Member("registration_endpoint", url + "/client/register");
  // RFC 7662 / RFC 7009 form posts for registered clients (oauth/client_introspection.h); IAM
  // applications' SigV4 JSON forms take ?aws_iam=t (docs/resource-servers.md).
  d.Member("introspection_endpoint", url + "/introspect");
  d.Member("revocation_endpoint", url + "/revoke");
  d.Member("introspection_endpoint_auth_methods_supported",
           List{"client_secret_basic", "client_secret_post"});
  d.Member("revocation_endpoint_auth_methods_supported",
           List{"client_secret_basic", "client_secret_post"});
  d.Member("response_types_supported", List{"code"});
  d.Member("response_modes_supported", List{"query"});
  d.Member("grant_types_supported", List{"authorization_code", "refresh_token",
                                         "urn:ietf:params:oauth:grant-type:device_code",
                                         "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                         "urn:ietf:params:oauth:grant-type:token-exchange"});
  d.Member("subject_types_supported", List{"public"});
  d.Member("id_token_signing_alg_values_supported", List{"ES256"});
  d.Member("code_challenge_methods_supported", List{"S256"});
  d.Member("scopes_supported",
           List{"openid", "profile", "email", "offline_access", "aws", "sts:identity_context"});
  // Registered clients authenticate with their secret; IAM applications sign with SigV4
  // (aws_sigv4, not an IANA-registered method: standard clients skip what they do not know).
  d.Member("token_endpoint_auth_methods_supported",
           List{"client_secret_basic", "client_secret_post", "aws_sigv4"});
  // The ID tokens' claims (tokens.md) and what /userinfo answers (oauth/userinfo.h).
  d.Member("claims_supported", List{"iss",
                                    "sub",
                                    "aud",
                                    "exp",
                                    "iat",
                                    "auth_time",
                                    "nonce",
                                    "preferred_username",
                                    "name",
                                    "given_name",
                                    "family_name",
                                    "updated_at",
                                    "email",
                                    "email_verified",
                                    "aws:identity_store_id",
                                    "aws:identity_store_arn",
                                    "aws:instance_account",
                                    "aws:instance_arn",
                                    "aws:credential_id",
                                    "sts:identity_context"});
  // Their defaults would promise what /authorize does not do (request_uri's default is true).
  d.MemberBool("claims_parameter_supported", false);
  d.MemberBool("request_parameter_supported", false);
  d.MemberBool("request_uri_parameter_supported", false);
  d.MemberBool("authorization_response_iss_parameter_supported", true);  // RFC 9207
  d.EndObject();
  return d.Take();
}

}  // namespace ts::server
