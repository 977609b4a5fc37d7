// GrantStore (grant_store.h) on SQLite: authorization codes, token families, refresh tokens, used
// assertions and revoked access tokens.

#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using internal::FamilyScopes;
using internal::JoinList;
using internal::ValidateFamily;

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::ExecInsert;
using sqlite_internal::Exists;
using sqlite_internal::InsertFamilyAndFirstRefresh;
using sqlite_internal::kFamilyColumnCount;
using sqlite_internal::kRefreshColumnCount;
using sqlite_internal::ReadCode;
using sqlite_internal::ReadFamily;
using sqlite_internal::ReadRefresh;
using sqlite_internal::Statement;

namespace {

// Callers validate scope lists before taking the write lock.
Status InsertFamily(Connection& c, const TokenFamily& f, const std::string& scopes) {
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO token_families (" TS_FAMILY_COLUMNS(
                                          "") ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(f.family_id)
      .Bind(f.application_arn)
      .Bind(f.user_id)
      .Bind(scopes)
      .Bind(f.grant_type)
      .Bind(f.session_hash)
      .Bind(f.auth_time)
      .Bind(f.created_at)
      .Bind(f.expires_at)
      .Bind(f.revoked_at)
      .Bind(f.parent_family_id)
      .Bind(f.act_json);
  return ExecInsert(stmt, "token family already exists: " + f.family_id);
}

Status InsertRefresh(Connection& c, const RefreshToken& t, const std::string& scopes) {
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(
                                          "") ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
  stmt.Bind(t.token_hash)
      .Bind(t.family_id)
      .Bind(scopes)
      .Bind(t.created_at)
      .Bind(t.expires_at)
      .Bind(t.rotated_at)
      .Bind(t.successor_hash);
  // No foreign key to check (V006): every caller has just created or checked the family in the
  // same transaction.
  return ExecInsert(stmt, "refresh token already exists");
}

}  // namespace

namespace sqlite_internal {

Status InsertFamilyAndFirstRefresh(Connection& c, const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh,
                                   const FamilyScopes& scopes) {
  TS_RETURN_IF_ERROR(InsertFamily(c, family, scopes.family));
  if (first_refresh.has_value()) {
    TS_RETURN_IF_ERROR(InsertRefresh(c, *first_refresh, scopes.refresh));
  }
  return OkStatus();
}

}  // namespace sqlite_internal

// --- authorization codes ---

Status SqliteStore::CreateAuthorizationCode(const AuthorizationCode& code) {
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(code.scopes, "scope"));
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO authorization_codes (" TS_CODE_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(code.code_hash)
        .Bind(code.application_arn)
        .Bind(code.user_id)
        .Bind(code.redirect_uri)
        .Bind(code.code_challenge)
        .Bind(scopes)
        .Bind(code.session_hash)
        .Bind(code.auth_time)
        .Bind(code.created_at)
        .Bind(code.expires_at)
        .Bind(code.consumed_at)
        .Bind(code.family_id)
        .Bind(code.nonce);
    return ExecInsert(stmt, "authorization code already exists");
  });
}

StatusOr<AuthorizationCode> SqliteStore::GetAuthorizationCode(const std::string& code_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<AuthorizationCode> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_CODE_COLUMNS
                                                  " FROM authorization_codes WHERE code_hash = ?"));
    stmt.Bind(code_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such authorization code");
    return ReadCode(stmt);
  });
}

StatusOr<CodeToRedeem> SqliteStore::GetCodeToRedeem(const std::string& code_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<CodeToRedeem> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_CODE_COLUMNS ", EXISTS (SELECT 1 FROM users u "
                                  "WHERE u.user_id = authorization_codes.user_id) "
                                  "FROM authorization_codes WHERE code_hash = ?"));
    stmt.Bind(code_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such authorization code");
    CodeToRedeem out{ReadCode(stmt), stmt.Int(13) != 0};
    return out;
  });
}

namespace {

// RedeemAuthorizationCode's transaction body (grant_store.h), shared by the blocking and the
// asynchronous call.
StatusOr<RedeemOutcome> RedeemInTransaction(Connection& c, const std::string& code_hash,
                                            int64_t now, const TokenFamily& family,
                                            const std::optional<RefreshToken>& first_refresh,
                                            const FamilyScopes& scopes) {
  int64_t consumed_at = 0;
  int64_t expires_at = 0;
  std::string previous_family;
  {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT consumed_at, expires_at, family_id "
                                                  "FROM authorization_codes WHERE code_hash = ?"));
    stmt.Bind(code_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such authorization code");
    consumed_at = stmt.Int(0);
    expires_at = stmt.Int(1);
    previous_family = stmt.Text(2);
  }
  if (consumed_at != 0) {
    // RFC 6749 §4.1.2: a code used twice should revoke what the first use issued, including
    // what was exchanged from it.
    TS_RETURN_IF_ERROR(sqlite_internal::RevokeFamilyTree(c, previous_family, now).status());
    return RedeemOutcome::kAlreadyRedeemed;
  }
  if (now >= expires_at) return RedeemOutcome::kExpired;
  // Compare-and-set on consumed_at; the IMMEDIATE lock already excludes other writers, the
  // WHERE clause keeps the statement correct on its own.
  TS_ASSIGN_OR_RETURN(int64_t changed,
                      Change(c,
                             "UPDATE authorization_codes SET consumed_at = ?, family_id = ? "
                             "WHERE code_hash = ? AND consumed_at = 0",
                             now, family.family_id, code_hash));
  if (changed != 1) return InternalError("authorization code changed under the write lock");
  TS_RETURN_IF_ERROR(InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes));
  return RedeemOutcome::kRedeemed;
}

// The argument checks of both redemptions; the family's scopes as stored.
StatusOr<FamilyScopes> RedemptionScopes(int64_t now, const TokenFamily& family,
                                        const std::optional<RefreshToken>& first_refresh) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means unused)");
  return ValidateFamily(family, first_refresh);
}

}  // namespace

StatusOr<RedeemOutcome> SqliteStore::RedeemAuthorizationCode(
    const std::string& code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, RedemptionScopes(now, family, first_refresh));
  return impl_->Write([&](Connection& c) {
    return RedeemInTransaction(c, code_hash, now, family, first_refresh, scopes);
  });
}

void SqliteStore::RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                               const TokenFamily& family,
                                               const std::optional<RefreshToken>& first_refresh,
                                               RedeemDone done) {
  StatusOr<FamilyScopes> scopes = RedemptionScopes(now, family, first_refresh);
  if (!scopes.ok()) return done(scopes.status());
  impl_->WriteAsync<StatusOr<RedeemOutcome>>(
      [code_hash, now, family, first_refresh, scopes = std::move(*scopes)](Connection& c) {
        return RedeemInTransaction(c, code_hash, now, family, first_refresh, scopes);
      },
      std::move(done));
}

// --- token families and refresh tokens ---

Status SqliteStore::CreateFamily(const TokenFamily& family,
                                 const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  return impl_->Write(
      [&](Connection& c) { return InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes); });
}

namespace {

// CreateExchangedFamily's transaction body (grant_store.h), shared by the blocking and the
// asynchronous call. The one writer serializes it with every revocation, so the parent's state read
// here is the state the insert commits against.
Status CreateExchangedFamilyInTransaction(Connection& c, const TokenFamily& family,
                                          const std::optional<RefreshToken>& first_refresh,
                                          const FamilyScopes& scopes) {
  {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT revoked_at FROM token_families WHERE family_id = ?"));
    stmt.Bind(family.parent_family_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row || stmt.Int(0) != 0) {
      return FailedPreconditionError("parent token family is revoked");
    }
  }
  return InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes);
}

// The argument checks of both CreateExchangedFamily calls; the family's scopes as stored.
StatusOr<FamilyScopes> ExchangedFamilyScopes(const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh) {
  if (family.parent_family_id.empty()) {
    return InvalidArgumentError("an exchanged family needs a parent_family_id");
  }
  return ValidateFamily(family, first_refresh);
}

}  // namespace

Status SqliteStore::CreateExchangedFamily(const TokenFamily& family,
                                          const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ExchangedFamilyScopes(family, first_refresh));
  return impl_->Write([&](Connection& c) {
    return CreateExchangedFamilyInTransaction(c, family, first_refresh, scopes);
  });
}

void SqliteStore::CreateExchangedFamilyAsync(const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh,
                                             std::function<void(Status)> done) {
  StatusOr<FamilyScopes> scopes = ExchangedFamilyScopes(family, first_refresh);
  if (!scopes.ok()) return done(scopes.status());
  impl_->WriteAsync<Status>(
      [family, first_refresh, scopes = std::move(*scopes)](Connection& c) {
        return CreateExchangedFamilyInTransaction(c, family, first_refresh, scopes);
      },
      std::move(done));
}

StatusOr<TokenFamily> SqliteStore::GetFamily(const std::string& family_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<TokenFamily> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_FAMILY_COLUMNS("") " FROM token_families WHERE family_id = ?"));
    stmt.Bind(family_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such token family: " + family_id);
    return ReadFamily(stmt, 0);
  });
}

namespace {

// GetExchangeSubject's statement, one row whether or not the family exists (it joins a one-row
// table): ?1 the token's jti, ?2 its family, ?3 its user, ?4 the target application.
constexpr std::string_view kExchangeSubjectSql =
    "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?1), "
    "EXISTS (SELECT 1 FROM users WHERE user_id = ?3), " TS_USER_ASSIGNED("?4", "?3") ", "
    "f.family_id IS NOT NULL, " TS_FAMILY_COLUMNS("f.") " "
    "FROM (SELECT 1) AS one LEFT JOIN token_families f ON f.family_id = ?2";

}  // namespace

StatusOr<ExchangeSubject> SqliteStore::GetExchangeSubject(const std::string& token_id,
                                                          const std::string& family_id,
                                                          const std::string& user_id,
                                                          const std::string& application_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<ExchangeSubject> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare(kExchangeSubjectSql));
    stmt.Bind(token_id).Bind(family_id).Bind(user_id).Bind(application_arn);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return InternalError("exchange subject: no row");
    ExchangeSubject subject;
    subject.token_revoked = stmt.Int(0) != 0;
    subject.user_exists = stmt.Int(1) != 0;
    subject.user_assigned = stmt.Int(2) != 0;
    if (stmt.Int(3) != 0) subject.family = ReadFamily(stmt, 4);
    return subject;
  });
}

namespace sqlite_internal {

StatusOr<bool> RevokeFamilyTree(Connection& c, const std::string& family_id, int64_t now) {
  TS_ASSIGN_OR_RETURN(bool exists,
                      Exists(c, "SELECT 1 FROM token_families WHERE family_id = ?", family_id));
  if (!exists) return false;
  // The family and everything exchanged from it, transitively (token exchange children).
  TS_RETURN_IF_ERROR(Change(c,
                            "WITH RECURSIVE tree(id) AS (SELECT ? UNION SELECT f.family_id "
                            "FROM token_families f JOIN tree ON f.parent_family_id = tree.id) "
                            "UPDATE token_families SET revoked_at = ? "
                            "WHERE family_id IN (SELECT id FROM tree) AND revoked_at = 0",
                            family_id, now)
                         .status());
  return true;
}

}  // namespace sqlite_internal

Status SqliteStore::RevokeFamily(const std::string& family_id, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, sqlite_internal::RevokeFamilyTree(c, family_id, now));
    if (!exists) return NotFoundError("no such token family: " + family_id);
    return OkStatus();
  });
}

namespace {

// A refresh token with its family, on any connection (the pool's or the writer's).
StatusOr<RefreshTokenWithFamily> ReadRefreshToken(Connection& c, const std::string& token_hash) {
  TS_ASSIGN_OR_RETURN(
      Statement stmt,
      c.Prepare(
          "SELECT " TS_REFRESH_COLUMNS("r.") ", " TS_FAMILY_COLUMNS("f.") ", " TS_USER_ASSIGNED(
              "f.application_arn", "f.user_id") " FROM refresh_tokens r JOIN token_families f "
                                                "ON f.family_id = r.family_id "
                                                "WHERE r.token_hash = ?"));
  stmt.Bind(token_hash);
  TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("no such refresh token");
  RefreshTokenWithFamily found{ReadRefresh(stmt, 0), ReadFamily(stmt, kRefreshColumnCount),
                               stmt.Int(kRefreshColumnCount + kFamilyColumnCount) != 0};
  TS_ASSIGN_OR_RETURN(row, stmt.Step());  // finish the statement (inside the writer's batch)
  return found;
}

}  // namespace

StatusOr<RefreshTokenWithFamily> SqliteStore::GetRefreshToken(const std::string& token_hash) {
  return impl_->Read([&](Connection& c) { return ReadRefreshToken(c, token_hash); });
}

namespace {

// RotateRefreshToken's transaction body (grant_store.h), shared by the blocking and the
// asynchronous call.
StatusOr<RotateOutcome> RotateInTransaction(Connection& c, const std::string& old_hash, int64_t now,
                                            const RefreshToken& successor,
                                            const std::string& scopes) {
  // The common case in one statement: a compare-and-set on rotated_at that also requires the
  // stated family and a live family (see RedeemAuthorizationCode).
  TS_ASSIGN_OR_RETURN(
      int64_t changed,
      Change(c,
             "UPDATE refresh_tokens SET rotated_at = ?, successor_hash = ? "
             "WHERE token_hash = ? AND rotated_at = 0 AND family_id = ? AND EXISTS (SELECT 1 "
             "FROM token_families f WHERE f.family_id = ? AND f.revoked_at = 0)",
             now, successor.token_hash, old_hash, successor.family_id, successor.family_id));
  if (changed == 1) {
    TS_RETURN_IF_ERROR(InsertRefresh(c, successor, scopes));
    return RotateOutcome::kRotated;
  }
  // Nothing changed: say why.
  TS_ASSIGN_OR_RETURN(
      Statement stmt,
      c.Prepare("SELECT r.family_id, r.rotated_at, f.revoked_at FROM refresh_tokens r "
                "JOIN token_families f ON f.family_id = r.family_id WHERE r.token_hash = ?"));
  stmt.Bind(old_hash);
  TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return NotFoundError("no such refresh token");
  if (stmt.Text(0) != successor.family_id) {
    return InvalidArgumentError("successor's family_id " + successor.family_id +
                                " is not the rotated token's " + stmt.Text(0));
  }
  if (stmt.Int(2) != 0) return RotateOutcome::kFamilyRevoked;
  return RotateOutcome::kAlreadyRotated;
}

// The argument check of every rotation.
Status ValidRotationTime(int64_t now) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means current)");
  return OkStatus();
}

// The argument checks of both rotations; the successor's scopes as stored.
StatusOr<std::string> RotationScopes(int64_t now, const RefreshToken& successor) {
  TS_RETURN_IF_ERROR(ValidRotationTime(now));
  return JoinList(successor.scopes, "scope");
}

}  // namespace

StatusOr<RotateOutcome> SqliteStore::RotateRefreshToken(const std::string& old_hash, int64_t now,
                                                        const RefreshToken& successor) {
  TS_ASSIGN_OR_RETURN(std::string scopes, RotationScopes(now, successor));
  return impl_->Write(
      [&](Connection& c) { return RotateInTransaction(c, old_hash, now, successor, scopes); });
}

void SqliteStore::CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                                  const RotationCheck& check, RotateDone done) {
  if (Status valid = ValidRotationTime(now); !valid.ok()) return done(valid);
  // The read is the writer's: its cache holds the pages its own commits wrote, where a pooled
  // reader would re-read them after every commit (docs/design/storage.md).
  impl_->WriteAsync<StatusOr<RotateOutcome>>(
      [old_hash, now, check](Connection& c) -> StatusOr<RotateOutcome> {
        TS_ASSIGN_OR_RETURN(RefreshTokenWithFamily read, ReadRefreshToken(c, old_hash));
        TS_ASSIGN_OR_RETURN(std::optional<RefreshToken> successor, CheckedSuccessor(read, check));
        if (!successor.has_value()) return RotateOutcome::kAlreadyRotated;
        TS_ASSIGN_OR_RETURN(std::string scopes, RotationScopes(now, *successor));
        return RotateInTransaction(c, old_hash, now, *successor, scopes);
      },
      std::move(done));
}

void SqliteStore::RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                          const RefreshToken& successor, RotateDone done) {
  StatusOr<std::string> scopes = RotationScopes(now, successor);
  if (!scopes.ok()) return done(scopes.status());
  impl_->WriteAsync<StatusOr<RotateOutcome>>(
      [old_hash, now, successor, scopes = std::move(*scopes)](Connection& c) {
        return RotateInTransaction(c, old_hash, now, successor, scopes);
      },
      std::move(done));
}

namespace {

// CreateFamilyForAssertion's transaction body, shared by the blocking and the asynchronous call.
Status CreateFamilyForAssertionInTransaction(Connection& c, const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh,
                                             const FamilyScopes& scopes,
                                             const std::string& assertion_id,
                                             int64_t assertion_expires_at) {
  // The replay record first: a duplicate ends the transaction before anything else is written.
  TS_ASSIGN_OR_RETURN(
      Statement stmt,
      c.Prepare("INSERT INTO used_assertions (assertion_id, expires_at) VALUES (?, ?)"));
  stmt.Bind(assertion_id).Bind(assertion_expires_at);
  TS_RETURN_IF_ERROR(ExecInsert(stmt, "assertion has already been used"));
  return InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes);
}

// The argument checks of both CreateFamilyForAssertion calls; the family's scopes as stored.
StatusOr<FamilyScopes> AssertionFamilyScopes(const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh,
                                             const std::string& assertion_id) {
  if (assertion_id.empty()) return InvalidArgumentError("assertion_id must not be empty");
  return ValidateFamily(family, first_refresh);
}

}  // namespace

Status SqliteStore::CreateFamilyForAssertion(const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh,
                                             const std::string& assertion_id,
                                             int64_t assertion_expires_at) {
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes,
                      AssertionFamilyScopes(family, first_refresh, assertion_id));
  return impl_->Write([&](Connection& c) {
    return CreateFamilyForAssertionInTransaction(c, family, first_refresh, scopes, assertion_id,
                                                 assertion_expires_at);
  });
}

void SqliteStore::CreateFamilyForAssertionAsync(const TokenFamily& family,
                                                const std::optional<RefreshToken>& first_refresh,
                                                const std::string& assertion_id,
                                                int64_t assertion_expires_at, WriteDone done) {
  StatusOr<FamilyScopes> scopes = AssertionFamilyScopes(family, first_refresh, assertion_id);
  if (!scopes.ok()) return done(scopes.status());
  impl_->WriteAsync<Status>(
      [family, first_refresh, scopes = std::move(*scopes), assertion_id,
       assertion_expires_at](Connection& c) {
        return CreateFamilyForAssertionInTransaction(c, family, first_refresh, scopes, assertion_id,
                                                     assertion_expires_at);
      },
      std::move(done));
}

// --- revoked access tokens ---

Status SqliteStore::RevokeAccessToken(const std::string& token_id, int64_t expires_at) {
  if (token_id.empty()) return InvalidArgumentError("token_id must not be empty");
  return impl_->Write([&](Connection& c) -> Status {
    return Change(c,
                  "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?) "
                  "ON CONFLICT (jti) DO NOTHING",
                  token_id, expires_at)
        .status();
  });
}

StatusOr<bool> SqliteStore::IsAccessTokenRevoked(const std::string& token_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<bool> {
    return Exists(c, "SELECT 1 FROM revoked_access_tokens WHERE jti = ?", token_id);
  });
}

}  // namespace ts::storage
