// File: client_store.h
// ClientStore: the clients sso-oidc's RegisterClient registers (the AWS CLI, IDE toolkits,
// standard OAuth clients) and their RFC 8628 device authorizations, from StartDeviceAuthorization
// through the verification page to CreateToken's device_code grant. Their codes and token
// families live in GrantStore like an application's, naming the client id where an
// application's name its ARN. The contract every storage interface shares is in store.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ts/common/status.h"
#include "ts/storage/records.h"

// TEMPORARY (with the defaults below): they name parameters they do not use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"

namespace ts::storage {

// What RedeemDeviceAuthorization did.
enum class DeviceRedeemOutcome {
  kRedeemed,         // it was approved, unexpired and unused; the family (and token) now exist
  kPending,          // the user has not decided yet; nothing changed
  kDenied,           // the user denied it; nothing changed
  kExpired,          // it expired; nothing changed
  kAlreadyRedeemed,  // it was redeemed before; the family that redemption created is now revoked
};

class ClientStore {
 public:
  // TEMPORARY while the backends are written (issue 22): every method answers Unimplemented.
  // The methods become pure virtual when SQLite and PostgreSQL implement them.
  static Status Unimplemented() {
    return Status(StatusCode::kInternal, "ClientStore is not implemented by this backend yet");
  }

  virtual ~ClientStore() = default;

  // --- registered clients ---
  // AlreadyExists when the client id is taken.
  virtual Status CreateClient(const RegisteredClient& client) { return Unimplemented(); }
  virtual StatusOr<RegisteredClient> GetClient(const std::string& client_id) {
    return Unimplemented();
  }
  // Registrations whose secret has not expired at `now` (what bounds the registrations an
  // unauthenticated caller can make).
  virtual StatusOr<int64_t> CountLiveClients(int64_t now) { return Unimplemented(); }

  // --- device authorizations ---
  // AlreadyExists when the device code, or the user code of an unexpired authorization, is
  // taken (the caller draws a new user code); nothing is written then.
  virtual Status CreateDeviceAuthorization(const DeviceAuthorization& authorization) {
    return Unimplemented();
  }
  virtual StatusOr<DeviceAuthorization> GetDeviceAuthorization(
      const std::string& device_code_hash) {
    return Unimplemented();
  }
  // The unexpired authorization with this user code (NotFound when none is live at `now`).
  virtual StatusOr<DeviceAuthorization> GetDeviceAuthorizationByUserCode(
      const std::string& user_code_hash, int64_t now) {
    return Unimplemented();
  }
  // Compare-and-set: if the authorization is PENDING and unexpired at `now`, records the user's
  // decision (APPROVED with user_id, session_hash and auth_time, or DENIED) at `now`.
  // FailedPrecondition when it was decided before or has expired; NotFound when there is none.
  virtual Status DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                           const std::string& user_id,
                                           const std::string& session_hash, int64_t auth_time,
                                           int64_t now) {
    return Unimplemented();
  }
  // One transaction: if the authorization is APPROVED, unexpired at `now` and unused, marks it
  // consumed, records `family.family_id` on it, inserts `family` and, when given,
  // `first_refresh` -> kRedeemed. If it was consumed before, revokes the family that redemption
  // created -> kAlreadyRedeemed. PENDING -> kPending, DENIED -> kDenied, expired -> kExpired,
  // with nothing changed. NotFound when there is none. (A poll reads it with
  // GetDeviceAuthorization first and calls this only once it is approved: a pending poll writes
  // nothing.)
  virtual StatusOr<DeviceRedeemOutcome> RedeemDeviceAuthorization(
      const std::string& device_code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) {
    return Unimplemented();
  }
};

}  // namespace ts::storage

#pragma GCC diagnostic pop
