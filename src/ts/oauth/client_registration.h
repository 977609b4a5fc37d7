// File: client_registration.h
// sso-oidc RegisterClient (`POST /client/register`, unsigned rest-json): a public client (the AWS
// CLI, an IDE toolkit, a standard OAuth client) registers its name, scopes, redirect URIs and
// grant types and receives a client id and secret (docs/design/public-clients.md). Anyone may
// call it, so its volume is bounded twice: per caller address (in memory) and by a cap on the
// registrations alive at once (in the store).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/oauth/rate_limiter.h"
#include "ts/storage/client_store.h"

namespace ts::oauth {

class ApplicationCache;

struct RegistrationOptions {
  std::string public_url;  // authorizationEndpoint and tokenEndpoint are under it
  std::string region;      // the region new client ids name: the server's first
  int64_t secret_ttl = 90 * 86400;
  // Registrations per minute from one address (a burst of that many, then one every
  // 60/N seconds); 0: no limit.
  int64_t registrations_per_minute = 60;
  int64_t max_live_clients = 100000;  // registrations whose secret has not expired
  size_t max_tracked_addresses = 100000;
};

class ClientRegistration {
 public:
  // `applications` finds entitled applications.
  ClientRegistration(std::shared_ptr<storage::ClientStore> clients,
                     std::shared_ptr<ApplicationCache> applications, ClockPtr clock,
                     RegistrationOptions options);

  // RegisterClient for the caller at `client_address`: the RegisterClientResponse JSON, or
  // - SlowDownException: that address registered too often lately, or the live registrations
  //   are at their cap (nothing is stored);
  // - InvalidRequestException: malformed JSON, a member of the wrong type, clientName or
  //   clientType missing;
  // - InvalidClientMetadataException: clientType not `public`, a string or list over its limit,
  //   a control character in clientName, a malformed issuerUrl, an entitledApplicationArn that
  //   names no enabled application or whose application lacks a grant the client asks for;
  // - UnsupportedGrantTypeException: a grant type other than authorization_code, the
  //   device_code URN and refresh_token;
  // - InvalidRedirectUriException: authorization_code without redirectUris, a redirect URI that
  //   is not https, http on a loopback IP literal or a private-use reverse-DNS scheme, or that
  //   has a fragment, or (with an entitled application) that the application does not list;
  // - InvalidScopeException: a scope outside the note's set, or outside what the entitled
  //   application may grant.
  // Internal on store failures. The secret is in the response only; the store keeps its hash.
  StatusOr<std::string> Register(std::string_view body, std::string_view client_address);

 private:
  const std::shared_ptr<storage::ClientStore> clients_;
  const std::shared_ptr<ApplicationCache> applications_;
  const ClockPtr clock_;
  const RegistrationOptions options_;
  RateLimiter per_address_;
};

}  // namespace ts::oauth
