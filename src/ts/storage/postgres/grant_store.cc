// File: grant_store.cc
// PostgresStore's GrantStore methods: authorization codes, token families, refresh tokens,
// used assertions and revoked access tokens. The token endpoint's writes are one statement each
// (see postgres_store.h on round trips).
#include <memory>
#include <optional>
#include <string>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/group_commit_writer.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"
#include "ts/storage/row_codec.h"

namespace ts::storage {

using internal::FamilyScopes;
using internal::JoinList;
using internal::ValidateFamily;
using postgres_internal::AddFamily;
using postgres_internal::AddRefresh;
using postgres_internal::Connection;
using postgres_internal::GroupCommitWriter;
using postgres_internal::InsertConflict;
using postgres_internal::kFamilyColumnCount;
using postgres_internal::kRefreshColumnCount;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::ReadCode;
using postgres_internal::ReadFamily;
using postgres_internal::ReadRefresh;
using postgres_internal::Result;

// An `audit` CTE that inserts the event whose five values (AddAudit's) are the parameters
// $t..$r only together with the statement's `family` CTE: no family, no event.
#define TS_AUDIT_CTE(t, n, a, i, r)                                                             \
  ", audit AS (INSERT INTO audit_events (event_time, event_name, principal_arn, principal_id, " \
  "record) SELECT $" t "::bigint, $" n "::text, $" a "::text, $" i "::text, $" r                \
  "::text "                                                                                     \
  "FROM family)"

namespace {

// An audit event's five values (InsertAudit's), appended to a statement whose `audit` CTE
// inserts them only together with its family: the token endpoint's event rides in the writer's
// pipelined statement instead of a transaction of its own (issue 21).
void AddAudit(Params& p, const AuditRecord& audit) {
  p.Add(audit.event_time)
      .Add(audit.event_name)
      .Add(audit.principal_arn)
      .Add(audit.principal_id)
      .Add(audit.json);
}

// A writer statement in its two forms: `sql` alone, or `audited_sql` with the event's values
// appended (AddAudit) when there is an event.
GroupCommitWriter::Write WithAudit(std::string_view sql, std::string_view audited_sql, Params p,
                                   const std::optional<AuditRecord>& audit) {
  if (!audit.has_value()) return GroupCommitWriter::Write{sql, std::move(p)};
  AddAudit(p, *audit);
  return GroupCommitWriter::Write{audited_sql, std::move(p)};
}

// A write's answer once its batch committed: its event, recorded with the family, goes to the
// stream only if the write succeeded (completions run after COMMIT returned, as
// Impl::Transaction does).
Status StreamIfWritten(Status written, const std::optional<AuditRecord>& audit) {
  if (written.ok() && audit.has_value()) StreamAudit(*audit);
  return written;
}

}  // namespace

// --- authorization codes ---

Status PostgresStore::CreateAuthorizationCode(const AuthorizationCode& code) {
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(code.scopes, "scope"));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO authorization_codes (" TS_CODE_COLUMNS
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        MakeParams(code.code_hash, code.application_arn, code.user_id, code.redirect_uri,
                   code.code_challenge, scopes, code.session_hash, code.auth_time, code.created_at,
                   code.expires_at, code.consumed_at, code.family_id, code.nonce));
    if (!r.ok() && c.UniqueViolated()) {
      return AlreadyExistsError("authorization code already exists");
    }
    return r.status();
  });
}

StatusOr<AuthorizationCode> PostgresStore::GetAuthorizationCode(const std::string& code_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<AuthorizationCode> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_CODE_COLUMNS " FROM authorization_codes WHERE code_hash = $1",
                         MakeParams(code_hash)));
    if (r.rows() == 0) return NotFoundError("no such authorization code");
    return ReadCode(r, 0);
  });
}

StatusOr<CodeToRedeem> PostgresStore::GetCodeToRedeem(const std::string& code_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<CodeToRedeem> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_CODE_COLUMNS
                                         ", EXISTS (SELECT 1 FROM users u WHERE u.user_id = "
                                         "authorization_codes.user_id)::int "
                                         "FROM authorization_codes WHERE code_hash = $1",
                                         MakeParams(code_hash)));
    if (r.rows() == 0) return NotFoundError("no such authorization code");
    return CodeToRedeem{ReadCode(r, 0), r.Int(0, 13) != 0};
  });
}

namespace {

// The family a code's first use created, and everything exchanged from it (RFC 6749 §4.1.2).
Status RevokeCodeFamilyTree(Connection& c, const std::string& code_hash, int64_t now) {
  TS_ASSIGN_OR_RETURN(Result r,
                      c.Exec("SELECT family_id FROM authorization_codes WHERE code_hash = $1",
                             MakeParams(code_hash)));
  if (r.rows() == 0 || r.Text(0, 0).empty()) return OkStatus();
  return postgres_internal::RevokeFamilyTree(c, r.Text(0, 0), now).status();
}

}  // namespace

namespace {

// RedeemAuthorizationCode's statement: $1 code hash, $2 now, $3..$14 the family, $15..$21 the
// first refresh token, $22 whether there is one. One statement, so one round trip and one
// implicit transaction (or one statement of a group commit). `code` is the statement's
// snapshot; `consumed` is the compare-and-set: under concurrent redemptions PostgreSQL makes
// every other UPDATE wait for the winner and then re-check consumed_at = 0, which fails. A code
// seen already consumed revokes the family its first use created (RFC 6749 §4.1.2).
#define TS_REDEEM_CTES \
  "WITH code AS (SELECT consumed_at, expires_at, family_id FROM authorization_codes "           \
  "WHERE code_hash = $1), "                                                                     \
  "consumed AS (UPDATE authorization_codes SET consumed_at = $2, family_id = $3 "               \
  "WHERE code_hash = $1 AND consumed_at = 0 AND expires_at > $2 RETURNING 1), "                 \
  "family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS("") ") SELECT " TS_FAMILY_VALUES( \
      "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14") " FROM consumed "        \
  "RETURNING family_id), "                                                                      \
  "refresh AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(                                \
      "") ") SELECT " TS_REFRESH_VALUES("15", "16", "17", "18", "19", "20",                     \
                                        "21") " FROM family WHERE $22::boolean), "              \
  "reuse AS (UPDATE token_families SET revoked_at = $2 WHERE family_id = (SELECT family_id "    \
  "FROM code WHERE consumed_at <> 0) AND revoked_at = 0)"
#define TS_REDEEM_SELECT \
  " SELECT code.consumed_at, code.expires_at, (SELECT count(*) FROM consumed) FROM code"
constexpr std::string_view kRedeemSql = TS_REDEEM_CTES TS_REDEEM_SELECT;
// The same with its audit event (audit.h), $23..$27 as InsertAudit's, inserted only with the
// family: a reused, expired or lost code records nothing, and the writer can pipeline an audited
// redemption (as kAuditedAssertionSql).
constexpr std::string_view kAuditedRedeemSql =
    TS_REDEEM_CTES TS_AUDIT_CTE("23", "24", "25", "26", "27") TS_REDEEM_SELECT;
#undef TS_REDEEM_SELECT
#undef TS_REDEEM_CTES

// What the redemption statement's row means. `follow_up` is set when the family the code's
// first use created must be revoked with what was exchanged from it, in a second statement.
struct RedeemRead {
  StatusOr<RedeemOutcome> outcome = RedeemOutcome::kRedeemed;
  bool follow_up = false;
};

RedeemRead ReadRedeem(const StatusOr<Result>& r, const std::string& sqlstate,
                      const std::string& table, const TokenFamily& family, int64_t now) {
  if (!r.ok()) return {postgres_internal::InsertConflict(sqlstate, table, r.status(), family)};
  if (r->rows() == 0) return {NotFoundError("no such authorization code")};
  if (r->Int(0, 2) == 1) return {RedeemOutcome::kRedeemed};
  // Used before: the statement revoked the first use's family; what was exchanged from it goes
  // too (rare, so a second statement).
  if (r->Int(0, 0) != 0) return {RedeemOutcome::kAlreadyRedeemed, true};
  if (now >= r->Int(0, 1)) return {RedeemOutcome::kExpired};
  // Unused in our snapshot but the compare-and-set failed: a concurrent redemption won and has
  // committed (our UPDATE waited for it). Its family was not in our snapshot, so it is revoked
  // in a second statement: only the losers of a race pay this round trip.
  return {RedeemOutcome::kAlreadyRedeemed, true};
}

StatusOr<Params> RedeemParams(const std::string& code_hash, int64_t now, const TokenFamily& family,
                              const std::optional<RefreshToken>& first_refresh) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means unused)");
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  Params p;
  p.Add(code_hash).Add(now);                     // $1, $2
  AddFamily(p, family, scopes.family);           // $3 .. $14
  AddRefresh(p, first_refresh, scopes.refresh);  // $15 .. $21
  p.Add(first_refresh.has_value());              // $22
  return p;
}

}  // namespace

StatusOr<RedeemOutcome> PostgresStore::RedeemAuthorizationCode(
    const std::string& code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(Params p, RedeemParams(code_hash, now, family, first_refresh));
  return impl_->Single([&](Connection& c) -> StatusOr<RedeemOutcome> {
    auto r = c.Exec(kRedeemSql, p);
    RedeemRead read = ReadRedeem(r, c.last_state(), c.last_table(), family, now);
    if (read.follow_up) TS_RETURN_IF_ERROR(RevokeCodeFamilyTree(c, code_hash, now));
    return read.outcome;
  });
}

void PostgresStore::RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                                 const TokenFamily& family,
                                                 const std::optional<RefreshToken>& first_refresh,
                                                 RedeemDone done) {
  // The event pending on this thread (the token endpoint's CreateTokenWithIAM, its request
  // context copied here) rides in the statement, so an audited redemption shares its batch's
  // transaction too.
  std::optional<AuditRecord> audit = TakePendingAudit();
  StatusOr<Params> p = RedeemParams(code_hash, now, family, first_refresh);
  if (!p.ok()) return done(p.status());
  GroupCommitWriter::Write write =
      WithAudit(kRedeemSql, kAuditedRedeemSql, std::move(*p), audit);  // the event: $23 .. $27
  impl_->writer().RunAsync(
      write.sql, std::move(write.params),
      [this, done = std::move(done), code_hash, now, family, audit = std::move(audit)](
          StatusOr<Result> r, const std::string& sqlstate, const std::string& table) {
        RedeemRead read = ReadRedeem(r, sqlstate, table, family, now);
        if (read.follow_up) {
          // A reused code or a lost race: rare, so its second statement runs here, on a pooled
          // connection, holding the writer for its round trips. No event is pending on this
          // thread, so the revocation records none (the statement recorded none either).
          Status revoked =
              impl_->Single([&](Connection& c) { return RevokeCodeFamilyTree(c, code_hash, now); });
          if (!revoked.ok()) return done(revoked);
        }
        // Committed with the family (completions run after COMMIT returned).
        if (read.outcome.ok() && *read.outcome == RedeemOutcome::kRedeemed && audit.has_value()) {
          StreamAudit(*audit);
        }
        done(std::move(read.outcome));
      });
}

// --- token families and refresh tokens ---

namespace postgres_internal {

Status InsertFamilyAndFirstRefresh(Connection& c, const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh,
                                   const FamilyScopes& scopes) {
  Params p;
  AddFamily(p, family, scopes.family);           // $1 .. $12
  AddRefresh(p, first_refresh, scopes.refresh);  // $13 .. $19
  p.Add(first_refresh.has_value());              // $20
  auto r = c.Exec(
        "WITH family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS(
            "") ") VALUES (" TS_FAMILY_VALUES("1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
                                              "11", "12") ") RETURNING family_id) "
                                                          "INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(
                                                              "") ") SELECT " TS_REFRESH_VALUES("13", "14", "15", "16", "17", "18", "19") " FROM family WHERE $20::boolean",
        p);
  if (!r.ok()) return InsertConflict(c, r.status(), family);
  return OkStatus();
}

StatusOr<bool> RevokeFamilyTree(Connection& c, const std::string& family_id, int64_t now) {
  // The family and everything exchanged from it, transitively (token exchange children). Again
  // until a pass revokes nothing: an exchange that read a family of the tree FOR SHARE before
  // the UPDATE reached it (kExchangeSql) makes the UPDATE wait for its commit, but the tree was
  // read in the statement's snapshot, without the new child; the next pass's snapshot has it.
  // Usually two passes (the second finds nothing); a revocation is rare.
  for (;;) {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("WITH RECURSIVE tree(id) AS (SELECT family_id FROM token_families "
                               "WHERE family_id = $1 UNION SELECT f.family_id FROM token_families "
                               "f JOIN tree ON f.parent_family_id = tree.id), "
                               "revoked AS (UPDATE token_families SET revoked_at = $2 "
                               "WHERE family_id IN (SELECT id FROM tree) AND revoked_at = 0 "
                               "RETURNING 1) "
                               "SELECT count(*), (SELECT count(*) FROM revoked) "
                               "FROM token_families WHERE family_id = $1",
                               MakeParams(family_id, now)));
    if (r.Int(0, 1) == 0) return r.Int(0, 0) != 0;
  }
}

}  // namespace postgres_internal

namespace {

// CreateExchangedFamily's statement: $1..$12 the family ($11 its parent), $13..$19 the first
// refresh token, $20 whether there is one. The family is inserted only under a live parent, read
// FOR SHARE: a revocation that updated the parent first makes this wait for its commit and then
// see the revoked row (READ COMMITTED re-reads a locked row); one that reaches the parent after
// waits for this statement's transaction. Either way nothing is written under a revoked or
// missing parent, so no live family is left behind and no event recorded.
#define TS_EXCHANGE_CTES \
  "WITH parent AS (SELECT revoked_at FROM token_families WHERE family_id = $11::text "          \
  "FOR SHARE), "                                                                                \
  "family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS("") ") SELECT " TS_FAMILY_VALUES( \
      "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",                                  \
      "12") " FROM parent WHERE parent.revoked_at = 0 RETURNING family_id), "                   \
  "refresh AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(                                \
      "") ") SELECT " TS_REFRESH_VALUES("13", "14", "15", "16", "17", "18",                     \
                                        "19") " FROM family WHERE $20::boolean)"
constexpr std::string_view kExchangeSql = TS_EXCHANGE_CTES " SELECT count(*) FROM family";
// The same with its audit event, $21..$25 (as kAuditedAssertionSql).
constexpr std::string_view kAuditedExchangeSql =
    TS_EXCHANGE_CTES TS_AUDIT_CTE("21", "22", "23", "24", "25") " SELECT count(*) FROM family";
#undef TS_EXCHANGE_CTES

StatusOr<Params> ExchangeParams(const TokenFamily& family,
                                const std::optional<RefreshToken>& first_refresh) {
  if (family.parent_family_id.empty()) {
    return InvalidArgumentError("an exchanged family needs a parent_family_id");
  }
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  Params p;
  AddFamily(p, family, scopes.family);           // $1 .. $12
  AddRefresh(p, first_refresh, scopes.refresh);  // $13 .. $19
  p.Add(first_refresh.has_value());              // $20
  return p;
}

// GetExchangeSubject's statement, one row whether or not the family exists (it joins a one-row
// table): $1 the token's jti, $2 its family, $3 its user, $4 the target application.
constexpr std::string_view kExchangeSubjectSql =
    "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1), "
    "EXISTS (SELECT 1 FROM users WHERE user_id = $3), " TS_USER_ASSIGNED("$4", "$3") ", "
    "f.family_id IS NOT NULL, " TS_FAMILY_COLUMNS("f.") " "
    "FROM (SELECT 1) AS one LEFT JOIN token_families f ON f.family_id = $2";

ExchangeSubject ReadExchangeSubject(const Result& r) {
  ExchangeSubject subject;
  subject.token_revoked = r.Bool(0, 0);
  subject.user_exists = r.Bool(0, 1);
  subject.user_assigned = r.Bool(0, 2);
  if (r.Bool(0, 3)) subject.family = ReadFamily(r, 0, 4);
  return subject;
}

Status ReadExchange(const StatusOr<Result>& r, const std::string& sqlstate,
                    const std::string& table, const TokenFamily& family) {
  if (!r.ok()) return postgres_internal::InsertConflict(sqlstate, table, r.status(), family);
  if (r->Int(0, 0) == 0) return FailedPreconditionError("parent token family is revoked");
  return OkStatus();
}

// The writer's statement for an exchanged family: with the event, when there is one, as
// $21..$25 (kAuditedExchangeSql).
StatusOr<GroupCommitWriter::Write> ExchangeStatement(
    const TokenFamily& family, const std::optional<RefreshToken>& first_refresh,
    const std::optional<AuditRecord>& audit) {
  TS_ASSIGN_OR_RETURN(Params p, ExchangeParams(family, first_refresh));
  return WithAudit(kExchangeSql, kAuditedExchangeSql, std::move(p), audit);  // event: $21 .. $25
}

// The completion's answer, with the event streamed if the family was written.
Status SettleExchangeWrite(const StatusOr<Result>& r, const std::string& sqlstate,
                           const std::string& table, const TokenFamily& family,
                           const std::optional<AuditRecord>& audit) {
  return StreamIfWritten(ReadExchange(r, sqlstate, table, family), audit);
}

}  // namespace

Status PostgresStore::CreateExchangedFamily(const TokenFamily& family,
                                            const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(Params p, ExchangeParams(family, first_refresh));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(kExchangeSql, p);
    return ReadExchange(r, c.last_state(), c.last_table(), family);
  });
}

void PostgresStore::CreateExchangedFamilyAsync(const TokenFamily& family,
                                               const std::optional<RefreshToken>& first_refresh,
                                               WriteDone done) {
  // As CreateFamilyForAssertionAsync: the pending event rides in the statement (issue 21).
  std::optional<AuditRecord> audit = TakePendingAudit();
  StatusOr<GroupCommitWriter::Write> write = ExchangeStatement(family, first_refresh, audit);
  if (!write.ok()) return done(write.status());
  impl_->writer().RunAsync(
      write->sql, std::move(write->params),
      [done = std::move(done), family, audit = std::move(audit)](
          StatusOr<Result> r, const std::string& sqlstate, const std::string& table) {
        done(SettleExchangeWrite(r, sqlstate, table, family, audit));
      });
}

Status PostgresStore::CreateFamily(const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  return impl_->Single([&](Connection& c) {
    return postgres_internal::InsertFamilyAndFirstRefresh(c, family, first_refresh, scopes);
  });
}

StatusOr<TokenFamily> PostgresStore::GetFamily(const std::string& family_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<TokenFamily> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT " TS_FAMILY_COLUMNS("") " FROM token_families WHERE family_id = $1",
               MakeParams(family_id)));
    if (r.rows() == 0) return NotFoundError("no such token family: " + family_id);
    return ReadFamily(r, 0, 0);
  });
}

StatusOr<ExchangeSubject> PostgresStore::GetExchangeSubject(const std::string& token_id,
                                                            const std::string& family_id,
                                                            const std::string& user_id,
                                                            const std::string& application_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<ExchangeSubject> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec(kExchangeSubjectSql, MakeParams(token_id, family_id, user_id, application_arn)));
    return ReadExchangeSubject(r);
  });
}

Status PostgresStore::RevokeFamily(const std::string& family_id, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, postgres_internal::RevokeFamilyTree(c, family_id, now));
    if (!exists) return NotFoundError("no such token family: " + family_id);
    return OkStatus();
  });
}

namespace {

// A refresh token with its family and whether the family's user is assigned: $1 token hash.
constexpr std::string_view kGetRefreshSql =
    "SELECT " TS_REFRESH_COLUMNS("r.") ", " TS_FAMILY_COLUMNS("f.") ", " TS_USER_ASSIGNED(
        "f.application_arn", "f.user_id") " FROM refresh_tokens r JOIN token_families f ON "
                                          "f.family_id = r.family_id WHERE r.token_hash = $1";

StatusOr<RefreshTokenWithFamily> ReadRefreshWithFamily(const Result& r) {
  if (r.rows() == 0) return NotFoundError("no such refresh token");
  return RefreshTokenWithFamily{ReadRefresh(r, 0, 0), ReadFamily(r, 0, kRefreshColumnCount),
                                r.Bool(0, kRefreshColumnCount + kFamilyColumnCount)};
}

}  // namespace

StatusOr<RefreshTokenWithFamily> PostgresStore::GetRefreshToken(const std::string& token_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<RefreshTokenWithFamily> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec(kGetRefreshSql, MakeParams(token_hash)));
    return ReadRefreshWithFamily(r);
  });
}

namespace {

// RotateRefreshToken's statement: $1 old hash, $2 now, $3..$9 the successor ($4: its family).
// `old` is the snapshot, `rotated` the compare-and-set on rotated_at, which only the family's
// live tokens pass (see kRedeemSql on concurrent statements).
constexpr std::string_view kRotateSql =
    "WITH old AS (SELECT r.family_id, r.rotated_at, f.revoked_at FROM refresh_tokens r "
    "JOIN token_families f ON f.family_id = r.family_id WHERE r.token_hash = $1), "
    "rotated AS (UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3 "
    "WHERE token_hash = $1 AND rotated_at = 0 AND family_id = $4 AND EXISTS (SELECT 1 FROM "
    "old WHERE old.revoked_at = 0) RETURNING 1), "
    "successor AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS("") ") SELECT " TS_REFRESH_VALUES(
        "3", "4", "5", "6", "7", "8", "9") " FROM rotated) "
    "SELECT old.family_id, old.rotated_at, old.revoked_at, (SELECT count(*) FROM rotated) "
    "FROM old";

StatusOr<RotateOutcome> ReadRotate(const StatusOr<Result>& r, const std::string& sqlstate,
                                   const RefreshToken& successor) {
  if (!r.ok()) {
    if (sqlstate == "23505") return AlreadyExistsError("refresh token already exists");
    if (sqlstate == "23503") return NotFoundError("no such token family: " + successor.family_id);
    return r.status();
  }
  if (r->rows() == 0) return NotFoundError("no such refresh token");
  if (r->Text(0, 0) != successor.family_id) {
    return InvalidArgumentError("successor's family_id " + successor.family_id +
                                " is not the rotated token's " + r->Text(0, 0));
  }
  if (r->Int(0, 3) == 1) return RotateOutcome::kRotated;
  if (r->Int(0, 2) != 0) return RotateOutcome::kFamilyRevoked;
  // Rotated before, or by a concurrent caller that won the compare-and-set.
  return RotateOutcome::kAlreadyRotated;
}

StatusOr<Params> RotateParams(const std::string& old_hash, int64_t now,
                              const RefreshToken& successor) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means current)");
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(successor.scopes, "scope"));
  Params p;
  p.Add(old_hash).Add(now);          // $1, $2
  AddRefresh(p, successor, scopes);  // $3 .. $9 ($4: family_id)
  return p;
}

}  // namespace

StatusOr<RotateOutcome> PostgresStore::RotateRefreshToken(const std::string& old_hash, int64_t now,
                                                          const RefreshToken& successor) {
  TS_ASSIGN_OR_RETURN(Params p, RotateParams(old_hash, now, successor));
  return impl_->Single([&](Connection& c) -> StatusOr<RotateOutcome> {
    auto r = c.Exec(kRotateSql, p);
    return ReadRotate(r, c.last_state(), successor);
  });
}

void PostgresStore::RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                            const RefreshToken& successor, RotateDone done) {
  StatusOr<Params> p = RotateParams(old_hash, now, successor);
  if (!p.ok()) return done(p.status());
  impl_->writer().RunAsync(kRotateSql, std::move(*p),
                           [done = std::move(done), successor](
                               StatusOr<Result> r, const std::string& sqlstate,
                               const std::string&) { done(ReadRotate(r, sqlstate, successor)); });
}

void PostgresStore::CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                                    const RotationCheck& check, RotateDone done) {
  if (now <= 0) return done(InvalidArgumentError("now must be positive (0 means current)"));
  // Read by the writer, in its batch's read pipeline, and checked on its thread: a refresh makes
  // no round trip of its own (group_commit_writer.h). `decide` and the completion run one after
  // the other on the writer thread; the successor passes from one to the other here.
  struct Rotation {
    RotateDone done;
    RefreshToken successor;
  };
  auto rotation = std::make_shared<Rotation>(Rotation{std::move(done), {}});
  impl_->writer().RunCheckedAsync(
      kGetRefreshSql, MakeParams(old_hash),
      [rotation, old_hash, now,
       check](StatusOr<Result> r) -> std::optional<GroupCommitWriter::Write> {
        auto answer = [&](StatusOr<RotateOutcome> outcome) {
          rotation->done(std::move(outcome));
          return std::nullopt;
        };
        if (!r.ok()) return answer(r.status());
        StatusOr<RefreshTokenWithFamily> read = ReadRefreshWithFamily(*r);
        if (!read.ok()) return answer(read.status());
        StatusOr<std::optional<RefreshToken>> successor = CheckedSuccessor(*read, check);
        if (!successor.ok()) return answer(successor.status());
        if (!successor->has_value()) return answer(RotateOutcome::kAlreadyRotated);
        StatusOr<Params> p = RotateParams(old_hash, now, **successor);
        if (!p.ok()) return answer(p.status());
        rotation->successor = std::move(**successor);
        return GroupCommitWriter::Write{kRotateSql, std::move(*p)};
      },
      [rotation](StatusOr<Result> r, const std::string& sqlstate, const std::string&) {
        rotation->done(ReadRotate(r, sqlstate, rotation->successor));
      });
}

namespace {

// CreateFamilyForAssertion's statement: $1 assertion id, $2 its expiry, $3..$14 the family,
// $15..$21 the first refresh token, $22 whether there is one. The replay record, then the
// family and its token only if the record was new. A concurrent insert of the same id makes ON
// CONFLICT wait for it, then do nothing.
#define TS_ASSERTION_CTES \
  "WITH used AS (INSERT INTO used_assertions (assertion_id, expires_at) "                      \
  "VALUES ($1, $2) ON CONFLICT (assertion_id) DO NOTHING RETURNING 1), "                       \
  "family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS("") ") SELECT " TS_FAMILY_VALUES( \
      "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14") " FROM used "           \
  "RETURNING family_id), "                                                                     \
  "refresh AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(                               \
      "") ") SELECT " TS_REFRESH_VALUES("15", "16", "17", "18", "19", "20",                    \
                                        "21") " FROM family WHERE $22::boolean) "
constexpr std::string_view kAssertionSql = TS_ASSERTION_CTES "SELECT count(*) FROM used";
// The same with its audit event (audit.h), $23..$27 as InsertAudit's, inserted only with the
// family: one statement, so the group-commit writer can pipeline an audited grant too (a
// pipelined statement cannot be made conditional on the one before it).
constexpr std::string_view kAuditedAssertionSql =
    TS_ASSERTION_CTES TS_AUDIT_CTE("23", "24", "25", "26", "27") " SELECT count(*) FROM used";
#undef TS_ASSERTION_CTES

Status ReadAssertion(const StatusOr<Result>& r, const std::string& sqlstate,
                     const std::string& table, const TokenFamily& family) {
  if (!r.ok()) return postgres_internal::InsertConflict(sqlstate, table, r.status(), family);
  if (r->Int(0, 0) == 0) return AlreadyExistsError("assertion has already been used");
  return OkStatus();
}

StatusOr<Params> AssertionParams(const TokenFamily& family,
                                 const std::optional<RefreshToken>& first_refresh,
                                 const std::string& assertion_id, int64_t assertion_expires_at) {
  if (assertion_id.empty()) return InvalidArgumentError("assertion_id must not be empty");
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  Params p;
  p.Add(assertion_id).Add(assertion_expires_at);  // $1, $2
  AddFamily(p, family, scopes.family);            // $3 .. $14
  AddRefresh(p, first_refresh, scopes.refresh);   // $15 .. $21
  p.Add(first_refresh.has_value());               // $22
  return p;
}

}  // namespace

Status PostgresStore::CreateFamilyForAssertion(const TokenFamily& family,
                                               const std::optional<RefreshToken>& first_refresh,
                                               const std::string& assertion_id,
                                               int64_t assertion_expires_at) {
  TS_ASSIGN_OR_RETURN(Params p,
                      AssertionParams(family, first_refresh, assertion_id, assertion_expires_at));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(kAssertionSql, p);
    return ReadAssertion(r, c.last_state(), c.last_table(), family);
  });
}

namespace {

// The writer's statement for an assertion's family: with the event, when there is one, as
// $23..$27 (kAuditedAssertionSql).
StatusOr<GroupCommitWriter::Write> AssertionStatement(
    const TokenFamily& family, const std::optional<RefreshToken>& first_refresh,
    const std::string& assertion_id, int64_t assertion_expires_at,
    const std::optional<AuditRecord>& audit) {
  TS_ASSIGN_OR_RETURN(Params p,
                      AssertionParams(family, first_refresh, assertion_id, assertion_expires_at));
  return WithAudit(kAssertionSql, kAuditedAssertionSql, std::move(p), audit);  // event: $23 .. $27
}

// The completion's answer, with the event streamed if the family was written.
Status SettleAssertionWrite(const StatusOr<Result>& r, const std::string& sqlstate,
                            const std::string& table, const TokenFamily& family,
                            const std::optional<AuditRecord>& audit) {
  return StreamIfWritten(ReadAssertion(r, sqlstate, table, family), audit);
}

}  // namespace

void PostgresStore::CreateFamilyForAssertionAsync(const TokenFamily& family,
                                                  const std::optional<RefreshToken>& first_refresh,
                                                  const std::string& assertion_id,
                                                  int64_t assertion_expires_at, WriteDone done) {
  // The event pending on this thread (the token endpoint's CreateTokenWithIAM) rides in the
  // statement itself, so an audited grant still shares its batch's transaction (issue 21).
  std::optional<AuditRecord> audit = TakePendingAudit();
  StatusOr<GroupCommitWriter::Write> write =
      AssertionStatement(family, first_refresh, assertion_id, assertion_expires_at, audit);
  if (!write.ok()) return done(write.status());
  impl_->writer().RunAsync(
      write->sql, std::move(write->params),
      [done = std::move(done), family, audit = std::move(audit)](
          StatusOr<Result> r, const std::string& sqlstate, const std::string& table) {
        done(SettleAssertionWrite(r, sqlstate, table, family, audit));
      });
}

namespace {

// What a grant checked in the writer (CheckAndCreate...Async) carries from its call to its
// completion. Its event is made on the writer thread, under the calling request's audit context
// (address, user agent, id), kept here for it.
struct CheckedGrant {
  explicit CheckedGrant(GrantStore::WriteDone d) : done(std::move(d)) {
    if (const AuditRequestContext* current = AuditRequest::Current()) context = *current;
  }

  // Answers the caller itself: the writer then writes nothing for this grant.
  std::optional<GroupCommitWriter::Write> Refuse(Status status) {
    done(std::move(status));
    return std::nullopt;
  }
  void Record(std::optional<AuditEvent>& event) {
    if (!event.has_value()) return;
    std::optional<AuditRequest> scope;
    if (context.has_value()) scope.emplace(*context);
    audit = ToRecord(*event);
  }

  GrantStore::WriteDone done;
  std::optional<AuditRequestContext> context;
  TokenFamily family;  // what the check decided, for the completion
  std::optional<AuditRecord> audit;
};

}  // namespace

void PostgresStore::CheckAndCreateFamilyForAssertionAsync(const AssertionUserLookup& lookup,
                                                          AssertionCheck check, WriteDone done) {
  // Read by the writer, in its batch's read pipeline, and checked on its thread, as a refresh is
  // (CheckAndRotateRefreshTokenAsync): the grant makes no round trip of its own.
  auto grant = std::make_shared<CheckedGrant>(std::move(done));
  impl_->writer().RunCheckedAsync(
      postgres_internal::kUsersByAttributeWithAssignmentSql,
      postgres_internal::UsersByAttributeWithAssignmentParams(lookup.attribute_path, lookup.value,
                                                              lookup.application_arn),
      [grant,
       check = std::move(check)](StatusOr<Result> r) -> std::optional<GroupCommitWriter::Write> {
        if (!r.ok()) return grant->Refuse(r.status());
        StatusOr<AssertionWrite> decided = check(postgres_internal::ReadUsersWithAssignment(*r));
        if (!decided.ok()) return grant->Refuse(decided.status());
        grant->Record(decided->event);
        StatusOr<GroupCommitWriter::Write> write =
            AssertionStatement(decided->family, decided->first_refresh, decided->assertion_id,
                               decided->assertion_expires_at, grant->audit);
        if (!write.ok()) return grant->Refuse(write.status());
        grant->family = std::move(decided->family);
        return std::move(*write);
      },
      [grant](StatusOr<Result> r, const std::string& sqlstate, const std::string& table) {
        grant->done(SettleAssertionWrite(r, sqlstate, table, grant->family, grant->audit));
      });
}

void PostgresStore::CheckAndCreateExchangedFamilyAsync(const ExchangeSubjectLookup& lookup,
                                                       ExchangeCheck check, WriteDone done) {
  // As CheckAndCreateFamilyForAssertionAsync: the subject's read (GetExchangeSubject's) goes in
  // the writer's read pipeline, and the family's statement still reads its parent FOR SHARE, so
  // a revocation committed between the two is seen by the write.
  auto grant = std::make_shared<CheckedGrant>(std::move(done));
  impl_->writer().RunCheckedAsync(
      kExchangeSubjectSql,
      MakeParams(lookup.token_id, lookup.family_id, lookup.user_id, lookup.application_arn),
      [grant,
       check = std::move(check)](StatusOr<Result> r) -> std::optional<GroupCommitWriter::Write> {
        if (!r.ok()) return grant->Refuse(r.status());
        StatusOr<ExchangeWrite> decided = check(ReadExchangeSubject(*r));
        if (!decided.ok()) return grant->Refuse(decided.status());
        grant->Record(decided->event);
        StatusOr<GroupCommitWriter::Write> write =
            ExchangeStatement(decided->family, decided->first_refresh, grant->audit);
        if (!write.ok()) return grant->Refuse(write.status());
        grant->family = std::move(decided->family);
        return std::move(*write);
      },
      [grant](StatusOr<Result> r, const std::string& sqlstate, const std::string& table) {
        grant->done(SettleExchangeWrite(r, sqlstate, table, grant->family, grant->audit));
      });
}

// --- revoked access tokens ---

Status PostgresStore::RevokeAccessToken(const std::string& token_id, int64_t expires_at) {
  if (token_id.empty()) return InvalidArgumentError("token_id must not be empty");
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) "
            "ON CONFLICT (jti) DO NOTHING",
            MakeParams(token_id, expires_at))
        .status();
  });
}

StatusOr<bool> PostgresStore::IsAccessTokenRevoked(const std::string& token_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<bool> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT 1 FROM revoked_access_tokens WHERE jti = $1",
                                         MakeParams(token_id)));
    return r.rows() > 0;
  });
}

}  // namespace ts::storage
