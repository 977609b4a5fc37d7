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
  virtual ~ClientStore() = default;

  // --- registered clients ---
  // AlreadyExists when the client id is taken. InvalidArgument for a list entry (scope,
  // redirect URI, grant type) that is empty or holds whitespace (lists are space-joined).
  virtual Status CreateClient(const RegisteredClient& client) = 0;
  // The registration whatever its expiry (the caller checks secret_expires_at with its clock;
  // the purge deletes it later). NotFound when there is none.
  virtual StatusOr<RegisteredClient> GetClient(const std::string& client_id) = 0;
  // Registrations whose secret has not expired at `now` (secret_expires_at > now, or 0: never),
  // what bounds the registrations an unauthenticated caller can make.
  virtual StatusOr<int64_t> CountLiveClients(int64_t now) = 0;

  // --- device authorizations ---
  // AlreadyExists when the device code, or the user code of an unexpired authorization, is
  // taken (the caller draws a new user code); nothing is written then. "Unexpired" is judged at
  // the new authorization's created_at: an authorization expired by then gives its user code up
  // (its row is deleted in the same transaction). InvalidArgument for a status other than
  // PENDING, APPROVED or DENIED, or a scope that is empty or holds whitespace.
  virtual Status CreateDeviceAuthorization(const DeviceAuthorization& authorization) = 0;
  virtual StatusOr<DeviceAuthorization> GetDeviceAuthorization(
      const std::string& device_code_hash) = 0;
  // The unexpired authorization with this user code (NotFound when none is live at `now`).
  virtual StatusOr<DeviceAuthorization> GetDeviceAuthorizationByUserCode(
      const std::string& user_code_hash, int64_t now) = 0;
  // Compare-and-set: if the authorization is PENDING and unexpired at `now`, records the user's
  // decision (APPROVED with user_id, session_hash and auth_time, or DENIED) at `now`.
  // FailedPrecondition when it was decided before or has expired; NotFound when there is none.
  // InvalidArgument (nothing changed) for `now` <= 0 or an approval without a user_id.
  virtual Status DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                           const std::string& user_id,
                                           const std::string& session_hash, int64_t auth_time,
                                           int64_t now) = 0;
  // One transaction: if the authorization is APPROVED, unexpired at `now` and unused, marks it
  // consumed, records `family.family_id` on it, inserts `family` and, when given,
  // `first_refresh` -> kRedeemed. If it was consumed before, revokes the family that redemption
  // created and every family exchanged from it (as RevokeFamily) -> kAlreadyRedeemed.
  // Otherwise, checked in this order and with nothing changed: expired -> kExpired, PENDING ->
  // kPending, DENIED -> kDenied. NotFound when there is none. InvalidArgument, nothing changed,
  // for `now` <= 0, a family the token families refuse (row_codec.h ValidateFamily), or one whose
  // user_id is not the approver's. (A poll reads it with GetDeviceAuthorization first and calls
  // this only once it is approved: a pending poll writes nothing.)
  virtual StatusOr<DeviceRedeemOutcome> RedeemDeviceAuthorization(
      const std::string& device_code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) = 0;
};

}  // namespace ts::storage
