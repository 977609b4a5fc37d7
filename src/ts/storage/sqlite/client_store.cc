// File: client_store.cc
// ClientStore (client_store.h) on SQLite: registered clients and their device authorizations.
// Every write goes through the group-commit writer (impl_->Write), whose one transaction at a
// time settles the compare-and-sets; reads (a pending poll among them) use the pool.

#include <cstdint>
#include <optional>
#include <string>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using internal::FamilyScopes;
using internal::JoinList;
using internal::SplitList;
using internal::ValidateFamily;

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::ExecInsert;
using sqlite_internal::InsertFamilyAndFirstRefresh;
using sqlite_internal::RevokeFamilyTree;
using sqlite_internal::Statement;

#define TS_CLIENT_COLUMNS                                                                  \
  "client_id, secret_hash, client_name, client_type, scopes, redirect_uris, grant_types, " \
  "issuer_url, entitled_application_arn, created_at, secret_expires_at"
#define TS_DEVICE_COLUMNS                                                                 \
  "device_code_hash, user_code_hash, client_id, scopes, created_at, expires_at, "         \
  "interval_seconds, status, user_id, session_hash, auth_time, decided_at, consumed_at, " \
  "family_id"

namespace {

RegisteredClient ReadClient(const Statement& s) {
  RegisteredClient c;
  c.client_id = s.Text(0);
  c.secret_hash = s.Text(1);
  c.client_name = s.Text(2);
  c.client_type = s.Text(3);
  c.scopes = SplitList(s.Text(4));
  c.redirect_uris = SplitList(s.Text(5));
  c.grant_types = SplitList(s.Text(6));
  c.issuer_url = s.Text(7);
  c.entitled_application_arn = s.Text(8);
  c.created_at = s.Int(9);
  c.secret_expires_at = s.Int(10);
  return c;
}

DeviceAuthorization ReadDevice(const Statement& s) {
  DeviceAuthorization d;
  d.device_code_hash = s.Text(0);
  d.user_code_hash = s.Text(1);
  d.client_id = s.Text(2);
  d.scopes = SplitList(s.Text(3));
  d.created_at = s.Int(4);
  d.expires_at = s.Int(5);
  d.interval = s.Int(6);
  d.status = s.Text(7);
  d.user_id = s.Text(8);
  d.session_hash = s.Text(9);
  d.auth_time = s.Int(10);
  d.decided_at = s.Int(11);
  d.consumed_at = s.Int(12);
  d.family_id = s.Text(13);
  return d;
}

// The one device authorization a single-row SELECT of TS_DEVICE_COLUMNS found, or NotFound.
StatusOr<DeviceAuthorization> ReadOneDevice(Statement& stmt) {
  TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("no such device authorization");
  return ReadDevice(stmt);
}

}  // namespace

// --- registered clients ---

Status SqliteStore::CreateClient(const RegisteredClient& client) {
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(client.scopes, "scope"));
  TS_ASSIGN_OR_RETURN(std::string redirect_uris, JoinList(client.redirect_uris, "redirect URI"));
  TS_ASSIGN_OR_RETURN(std::string grant_types, JoinList(client.grant_types, "grant type"));
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO registered_clients (" TS_CLIENT_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(client.client_id)
        .Bind(client.secret_hash)
        .Bind(client.client_name)
        .Bind(client.client_type)
        .Bind(scopes)
        .Bind(redirect_uris)
        .Bind(grant_types)
        .Bind(client.issuer_url)
        .Bind(client.entitled_application_arn)
        .Bind(client.created_at)
        .Bind(client.secret_expires_at);
    return ExecInsert(stmt, "registered client already exists: " + client.client_id);
  });
}

StatusOr<RegisteredClient> SqliteStore::GetClient(const std::string& client_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<RegisteredClient> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_CLIENT_COLUMNS
                                                  " FROM registered_clients WHERE client_id = ?"));
    stmt.Bind(client_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such registered client: " + client_id);
    return ReadClient(stmt);
  });
}

StatusOr<int64_t> SqliteStore::CountLiveClients(int64_t now) {
  return impl_->Read([&](Connection& c) -> StatusOr<int64_t> {
    // Two ranges of the expiry index; 0 means "never expires", as everywhere.
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT count(*) FROM registered_clients "
                                  "WHERE secret_expires_at > ? OR secret_expires_at = 0"));
    stmt.Bind(now);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return InternalError("count of registered clients returned no row");
    return stmt.Int(0);
  });
}

// --- device authorizations ---

namespace {

bool IsDeviceStatus(const std::string& status) {
  return status == "PENDING" || status == "APPROVED" || status == "DENIED";
}

}  // namespace

Status SqliteStore::CreateDeviceAuthorization(const DeviceAuthorization& authorization) {
  if (!IsDeviceStatus(authorization.status)) {
    return InvalidArgumentError(
        "device authorization status must be PENDING, APPROVED or "
        "DENIED, not \"" +
        authorization.status + "\"");
  }
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(authorization.scopes, "scope"));
  const DeviceAuthorization& a = authorization;
  return impl_->Write([&](Connection& c) -> Status {
    // An authorization expired by the new one's start gives its user code up. If the insert
    // then fails, the writer rolls this body back to its savepoint: the row stays.
    TS_RETURN_IF_ERROR(Change(c,
                              "DELETE FROM device_authorizations "
                              "WHERE user_code_hash = ? AND expires_at <= ?",
                              a.user_code_hash, a.created_at)
                           .status());
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO device_authorizations (" TS_DEVICE_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(a.device_code_hash)
        .Bind(a.user_code_hash)
        .Bind(a.client_id)
        .Bind(scopes)
        .Bind(a.created_at)
        .Bind(a.expires_at)
        .Bind(a.interval)
        .Bind(a.status)
        .Bind(a.user_id)
        .Bind(a.session_hash)
        .Bind(a.auth_time)
        .Bind(a.decided_at)
        .Bind(a.consumed_at)
        .Bind(a.family_id);
    Status inserted = stmt.Exec();
    if (!inserted.ok() && stmt.UniqueViolated()) {
      if (stmt.ErrorMessage().find("user_code_hash") != std::string::npos) {
        return AlreadyExistsError("user code is in use by a live device authorization");
      }
      return AlreadyExistsError("device authorization already exists");
    }
    return inserted;
  });
}

StatusOr<DeviceAuthorization> SqliteStore::GetDeviceAuthorization(
    const std::string& device_code_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<DeviceAuthorization> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_DEVICE_COLUMNS
                                  " FROM device_authorizations WHERE device_code_hash = ?"));
    stmt.Bind(device_code_hash);
    return ReadOneDevice(stmt);
  });
}

StatusOr<DeviceAuthorization> SqliteStore::GetDeviceAuthorizationByUserCode(
    const std::string& user_code_hash, int64_t now) {
  return impl_->Read([&](Connection& c) -> StatusOr<DeviceAuthorization> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_DEVICE_COLUMNS
                  " FROM device_authorizations WHERE user_code_hash = ? AND expires_at > ?"));
    stmt.Bind(user_code_hash).Bind(now);
    return ReadOneDevice(stmt);
  });
}

Status SqliteStore::DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                              const std::string& user_id,
                                              const std::string& session_hash, int64_t auth_time,
                                              int64_t now) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means undecided)");
  if (approve && user_id.empty()) {
    return InvalidArgumentError("an approval needs the approving user_id");
  }
  // A denial records no user: user_id, session_hash and auth_time are the approver's.
  const std::string stored_user = approve ? user_id : std::string();
  const std::string stored_session = approve ? session_hash : std::string();
  const int64_t stored_auth_time = approve ? auth_time : 0;
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        int64_t changed,
        Change(c,
               "UPDATE device_authorizations SET status = ?, user_id = ?, session_hash = ?, "
               "auth_time = ?, decided_at = ? "
               "WHERE user_code_hash = ? AND status = 'PENDING' AND expires_at > ?",
               std::string(approve ? "APPROVED" : "DENIED"), stored_user, stored_session,
               stored_auth_time, now, user_code_hash, now));
    if (changed == 1) return OkStatus();
    // Nothing changed: say why.
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT status, expires_at FROM device_authorizations "
                                  "WHERE user_code_hash = ?"));
    stmt.Bind(user_code_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such device authorization");
    if (stmt.Text(0) != "PENDING") {
      return FailedPreconditionError("device authorization was already decided");
    }
    return FailedPreconditionError("device authorization has expired");
  });
}

namespace {

// RedeemDeviceAuthorization's transaction body (client_store.h); RedeemAuthorizationCode's twin.
StatusOr<DeviceRedeemOutcome> RedeemDeviceInTransaction(
    Connection& c, const std::string& device_code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh, const FamilyScopes& scopes) {
  std::string status;
  std::string approver;
  int64_t expires_at = 0;
  int64_t consumed_at = 0;
  std::string previous_family;
  {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT status, user_id, expires_at, consumed_at, family_id "
                                  "FROM device_authorizations WHERE device_code_hash = ?"));
    stmt.Bind(device_code_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such device authorization");
    status = stmt.Text(0);
    approver = stmt.Text(1);
    expires_at = stmt.Int(2);
    consumed_at = stmt.Int(3);
    previous_family = stmt.Text(4);
  }
  if (consumed_at != 0) {
    // A device code redeemed twice was stolen or replayed (as a code used twice, RFC 6749 §4.1.2):
    // end what the first redemption issued, and what was exchanged from it.
    TS_RETURN_IF_ERROR(RevokeFamilyTree(c, previous_family, now).status());
    return DeviceRedeemOutcome::kAlreadyRedeemed;
  }
  if (now >= expires_at) return DeviceRedeemOutcome::kExpired;
  if (status == "PENDING") return DeviceRedeemOutcome::kPending;
  if (status == "DENIED") return DeviceRedeemOutcome::kDenied;
  if (status != "APPROVED") {
    return InternalError("device authorization has an unknown status: " + status);
  }
  if (family.user_id != approver) {
    return InvalidArgumentError("the family's user_id is not the user who approved");
  }
  // Compare-and-set on consumed_at (the writer's one transaction already excludes the others).
  TS_ASSIGN_OR_RETURN(int64_t changed,
                      Change(c,
                             "UPDATE device_authorizations SET consumed_at = ?, family_id = ? "
                             "WHERE device_code_hash = ? AND consumed_at = 0",
                             now, family.family_id, device_code_hash));
  if (changed != 1) return InternalError("device authorization changed under the write lock");
  TS_RETURN_IF_ERROR(InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes));
  return DeviceRedeemOutcome::kRedeemed;
}

}  // namespace

StatusOr<DeviceRedeemOutcome> SqliteStore::RedeemDeviceAuthorization(
    const std::string& device_code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means unused)");
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  return impl_->Write([&](Connection& c) {
    return RedeemDeviceInTransaction(c, device_code_hash, now, family, first_refresh, scopes);
  });
}

}  // namespace ts::storage
