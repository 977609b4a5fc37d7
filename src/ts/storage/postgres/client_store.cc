// File: client_store.cc
// PostgresStore's ClientStore methods: registered clients and their device authorizations.
// These are not the token endpoint's hot writes: a registration, a device authorization's start,
// decision and redemption happen once per sign-in, so the multi-statement ones run in a
// transaction (PostgresStore::Impl::Write) where a single statement would be contorted. A pending
// poll is one read.
#include <cstdint>
#include <optional>
#include <string>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"
#include "ts/storage/row_codec.h"

namespace ts::storage {

using internal::FamilyScopes;
using internal::JoinList;
using internal::SplitList;
using internal::ValidateFamily;
using postgres_internal::Connection;
using postgres_internal::InsertFamilyAndFirstRefresh;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::Result;
using postgres_internal::RevokeFamilyTree;

#define TS_CLIENT_COLUMNS                                                                  \
  "client_id, secret_hash, client_name, client_type, scopes, redirect_uris, grant_types, " \
  "issuer_url, entitled_application_arn, created_at, secret_expires_at"
#define TS_DEVICE_COLUMNS                                                                 \
  "device_code_hash, user_code_hash, client_id, scopes, created_at, expires_at, "         \
  "interval_seconds, status, user_id, session_hash, auth_time, decided_at, consumed_at, " \
  "family_id"

namespace {

RegisteredClient ReadClient(const Result& r, int row) {
  RegisteredClient c;
  c.client_id = r.Text(row, 0);
  c.secret_hash = r.Text(row, 1);
  c.client_name = r.Text(row, 2);
  c.client_type = r.Text(row, 3);
  c.scopes = SplitList(r.Text(row, 4));
  c.redirect_uris = SplitList(r.Text(row, 5));
  c.grant_types = SplitList(r.Text(row, 6));
  c.issuer_url = r.Text(row, 7);
  c.entitled_application_arn = r.Text(row, 8);
  c.created_at = r.Int(row, 9);
  c.secret_expires_at = r.Int(row, 10);
  return c;
}

DeviceAuthorization ReadDevice(const Result& r, int row) {
  DeviceAuthorization d;
  d.device_code_hash = r.Text(row, 0);
  d.user_code_hash = r.Text(row, 1);
  d.client_id = r.Text(row, 2);
  d.scopes = SplitList(r.Text(row, 3));
  d.created_at = r.Int(row, 4);
  d.expires_at = r.Int(row, 5);
  d.interval = r.Int(row, 6);
  d.status = r.Text(row, 7);
  d.user_id = r.Text(row, 8);
  d.session_hash = r.Text(row, 9);
  d.auth_time = r.Int(row, 10);
  d.decided_at = r.Int(row, 11);
  d.consumed_at = r.Int(row, 12);
  d.family_id = r.Text(row, 13);
  return d;
}

bool IsDeviceStatus(const std::string& status) {
  return status == "PENDING" || status == "APPROVED" || status == "DENIED";
}

}  // namespace

// --- registered clients ---

Status PostgresStore::CreateClient(const RegisteredClient& client) {
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(client.scopes, "scope"));
  TS_ASSIGN_OR_RETURN(std::string redirect_uris, JoinList(client.redirect_uris, "redirect URI"));
  TS_ASSIGN_OR_RETURN(std::string grant_types, JoinList(client.grant_types, "grant type"));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO registered_clients (" TS_CLIENT_COLUMNS
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        MakeParams(client.client_id, client.secret_hash, client.client_name, client.client_type,
                   scopes, redirect_uris, grant_types, client.issuer_url,
                   client.entitled_application_arn, client.created_at, client.secret_expires_at));
    if (!r.ok() && c.UniqueViolated()) {
      return AlreadyExistsError("registered client already exists: " + client.client_id);
    }
    return r.status();
  });
}

StatusOr<RegisteredClient> PostgresStore::GetClient(const std::string& client_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<RegisteredClient> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_CLIENT_COLUMNS
                                         " FROM registered_clients WHERE client_id = $1",
                                         MakeParams(client_id)));
    if (r.rows() == 0) return NotFoundError("no such registered client: " + client_id);
    return ReadClient(r, 0);
  });
}

StatusOr<int64_t> PostgresStore::CountLiveClients(int64_t now) {
  return impl_->Read([&](Connection& c) -> StatusOr<int64_t> {
    // 0 means "never expires", as everywhere.
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT count(*) FROM registered_clients "
                                         "WHERE secret_expires_at > $1 OR secret_expires_at = 0",
                                         MakeParams(now)));
    return r.Int(0, 0);
  });
}

// --- device authorizations ---

Status PostgresStore::CreateDeviceAuthorization(const DeviceAuthorization& authorization) {
  if (!IsDeviceStatus(authorization.status)) {
    return InvalidArgumentError(
        "device authorization status must be PENDING, APPROVED or "
        "DENIED, not \"" +
        authorization.status + "\"");
  }
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(authorization.scopes, "scope"));
  const DeviceAuthorization& a = authorization;
  return impl_->Write([&](Connection& c) -> Status {
    // An authorization expired by the new one's start gives its user code up. A failure below
    // rolls the transaction back, and the row with it. A concurrent creation with the same user
    // code waits on this row's lock, then finds it gone and meets the new row's key.
    TS_RETURN_IF_ERROR(c.Exec("DELETE FROM device_authorizations "
                              "WHERE user_code_hash = $1 AND expires_at <= $2",
                              MakeParams(a.user_code_hash, a.created_at))
                           .status());
    // ON CONFLICT DO NOTHING (any unique key) waits for a concurrent insert of the same key to
    // end, so the SELECT below sees the row that won.
    TS_ASSIGN_OR_RETURN(
        Result inserted,
        c.Exec("INSERT INTO device_authorizations (" TS_DEVICE_COLUMNS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
               "ON CONFLICT DO NOTHING RETURNING 1",
               MakeParams(a.device_code_hash, a.user_code_hash, a.client_id, scopes, a.created_at,
                          a.expires_at, a.interval, a.status, a.user_id, a.session_hash,
                          a.auth_time, a.decided_at, a.consumed_at, a.family_id)));
    if (inserted.rows() == 1) return OkStatus();
    TS_ASSIGN_OR_RETURN(Result device,
                        c.Exec("SELECT 1 FROM device_authorizations WHERE device_code_hash = $1",
                               MakeParams(a.device_code_hash)));
    if (device.rows() > 0) return AlreadyExistsError("device authorization already exists");
    return AlreadyExistsError("user code is in use by a live device authorization");
  });
}

StatusOr<DeviceAuthorization> PostgresStore::GetDeviceAuthorization(
    const std::string& device_code_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<DeviceAuthorization> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_DEVICE_COLUMNS
                                         " FROM device_authorizations WHERE device_code_hash = $1",
                                         MakeParams(device_code_hash)));
    if (r.rows() == 0) return NotFoundError("no such device authorization");
    return ReadDevice(r, 0);
  });
}

StatusOr<DeviceAuthorization> PostgresStore::GetDeviceAuthorizationByUserCode(
    const std::string& user_code_hash, int64_t now) {
  return impl_->Read([&](Connection& c) -> StatusOr<DeviceAuthorization> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT " TS_DEVICE_COLUMNS
               " FROM device_authorizations WHERE user_code_hash = $1 AND expires_at > $2",
               MakeParams(user_code_hash, now)));
    if (r.rows() == 0) return NotFoundError("no such device authorization");
    return ReadDevice(r, 0);
  });
}

Status PostgresStore::DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                                const std::string& user_id,
                                                const std::string& session_hash, int64_t auth_time,
                                                int64_t now) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means undecided)");
  if (approve && user_id.empty()) {
    return InvalidArgumentError("an approval needs the approving user_id");
  }
  // A denial records no user: user_id, session_hash and auth_time are the approver's.
  Params p = MakeParams(std::string(approve ? "APPROVED" : "DENIED"),
                        approve ? user_id : std::string(), approve ? session_hash : std::string(),
                        approve ? auth_time : int64_t{0}, now, user_code_hash);
  return impl_->Single([&](Connection& c) -> Status {
    // One statement: `cur` is the snapshot, `decided` the compare-and-set on status, which a
    // concurrent decision's row lock makes wait and then re-check (and fail).
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH cur AS (SELECT status, expires_at FROM device_authorizations "
               "WHERE user_code_hash = $6), "
               "decided AS (UPDATE device_authorizations SET status = $1, user_id = $2, "
               "session_hash = $3, auth_time = $4, decided_at = $5 "
               "WHERE user_code_hash = $6 AND status = 'PENDING' AND expires_at > $5 "
               "RETURNING 1) "
               "SELECT cur.status, cur.expires_at, (SELECT count(*) FROM decided) FROM cur",
               p));
    if (r.rows() == 0) return NotFoundError("no such device authorization");
    if (r.Int(0, 2) == 1) return OkStatus();
    // Expired, or decided before (or just now, by a concurrent caller that won).
    if (r.Text(0, 0) == "PENDING" && now >= r.Int(0, 1)) {
      return FailedPreconditionError("device authorization has expired");
    }
    return FailedPreconditionError("device authorization was already decided");
  });
}

StatusOr<DeviceRedeemOutcome> PostgresStore::RedeemDeviceAuthorization(
    const std::string& device_code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means unused)");
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  return impl_->Write([&](Connection& c) -> StatusOr<DeviceRedeemOutcome> {
    // FOR UPDATE: concurrent redemptions queue on the row; at READ COMMITTED each then reads
    // the row as the one before it left it, so exactly one finds it unused.
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT status, user_id, expires_at, consumed_at, family_id "
                               "FROM device_authorizations WHERE device_code_hash = $1 FOR UPDATE",
                               MakeParams(device_code_hash)));
    if (r.rows() == 0) return NotFoundError("no such device authorization");
    const std::string status = r.Text(0, 0);
    if (r.Int(0, 3) != 0) {
      // A device code redeemed twice was stolen or replayed (as a code used twice, RFC 6749
      // §4.1.2): end what the first redemption issued, and what was exchanged from it.
      TS_RETURN_IF_ERROR(RevokeFamilyTree(c, r.Text(0, 4), now).status());
      return DeviceRedeemOutcome::kAlreadyRedeemed;
    }
    if (now >= r.Int(0, 2)) return DeviceRedeemOutcome::kExpired;
    if (status == "PENDING") return DeviceRedeemOutcome::kPending;
    if (status == "DENIED") return DeviceRedeemOutcome::kDenied;
    if (status != "APPROVED") {
      return InternalError("device authorization has an unknown status: " + status);
    }
    if (family.user_id != r.Text(0, 1)) {
      return InvalidArgumentError("the family's user_id is not the user who approved");
    }
    TS_ASSIGN_OR_RETURN(Result consumed,
                        c.Exec("UPDATE device_authorizations SET consumed_at = $2, family_id = $3 "
                               "WHERE device_code_hash = $1 AND consumed_at = 0",
                               MakeParams(device_code_hash, now, family.family_id)));
    if (consumed.affected() != 1) {
      return InternalError("device authorization changed under its row lock");
    }
    TS_RETURN_IF_ERROR(InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes));
    return DeviceRedeemOutcome::kRedeemed;
  });
}

}  // namespace ts::storage
