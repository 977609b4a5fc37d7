// File: client_auth.h
// Registered clients' identifiers and secrets (docs/design/public-clients.md), and the one check
// of a clientId and clientSecret that StartDeviceAuthorization and CreateToken (both of its front
// ends) make.
//
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/storage/client_store.h"

namespace ts::oauth {

// A new client id: base64url(16 random bytes), then base64url(region), as AWS's client ids end in
// their region.
std::string NewClientId(std::string_view region);
// The region a client id names; nullopt when `client_id` is not of that shape (then it is
// nobody's).
std::optional<std::string> RegionOfClientId(std::string_view client_id);
// A new client secret: "tscs_" + base64url(256 random bits). Shown once; the store keeps its
// TokenMinter::Hash.
std::string NewClientSecret();

// A client's id and secret as a request presents them.
struct ClientCredentials {
  std::string client_id;
  std::string secret;
};

// RFC 6749 §2.3.1 HTTP Basic: "Basic " base64(urlencode(id) ":" urlencode(secret)).
// InvalidClientException for another scheme or malformed credentials.
StatusOr<ClientCredentials> ParseBasicCredentials(std::string_view authorization);

// The credentials of a form post (RFC 7662, RFC 7009): HTTP Basic (client_secret_basic) or the
// form's client_id and client_secret (client_secret_post), not both. What ParseBasicCredentials
// refuses; InvalidRequestException for both methods at once or a client_id that differs from
// Basic's; InvalidClientException when there are none.
StatusOr<ClientCredentials> ReadClientCredentials(std::optional<std::string_view> authorization,
                                                  std::string_view form_client_id,
                                                  std::string_view form_client_secret);

// The message of every failed client authentication, whatever failed (no oracle).
inline constexpr std::string_view kInvalidClientMessage =
    "Invalid client: the client id and secret do not identify a registered client (unknown, "
    "expired or wrong secret)";

class ClientAuthenticator {
 public:
  // `regions`: the regions this server serves. `ttl`: how long a client read from the store is
  // reused (a registration never changes; 0: read every time); never past its secret's expiry.
  ClientAuthenticator(std::shared_ptr<storage::ClientStore> clients, ClockPtr clock,
                      std::vector<std::string> regions, std::chrono::milliseconds ttl);

  // The client `client_id` names, if `client_secret` is its secret and has not expired.
  // InvalidRequestException for an empty id or secret; InvalidRequestRegionException for a client
  // id of a region this server does not serve; InvalidClientException (401, kInvalidClientMessage)
  // for an unknown client, an expired secret and a wrong secret alike, the secret's hash compared
  // in constant time. Internal (or Unavailable) on store failures.
  StatusOr<std::shared_ptr<const storage::RegisteredClient>> Authenticate(
      std::string_view client_id, std::string_view client_secret);

 private:
  StatusOr<std::shared_ptr<const storage::RegisteredClient>> Find(const std::string& client_id);

  struct Slot {
    std::shared_ptr<const storage::RegisteredClient> client;
    Clock::TimePoint read_at;
  };
  static constexpr size_t kMaxEntries = 10000;  // beyond: start over

  const std::shared_ptr<storage::ClientStore> clients_;
  const ClockPtr clock_;
  const std::vector<std::string> regions_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Slot> slots_;  // guarded by mu_
};

}  // namespace ts::oauth
