// File: postgres_internal.h
// What the PostgresStore's source files share (postgres_store.h is the public face): statement
// parameters, results, one server connection, the column lists and row readers, and the
// connection pool PostgresStore::Impl that every aggregate's methods run their statements on.
// Not for use outside src/ts/storage/postgres/. Thread safety as each class says.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/common/status.h"
#include "ts/common/status_macros.h"
#include "ts/storage/audit_outcome.h"
#include "ts/storage/connection_lease.h"
#include "ts/storage/postgres/postgres_store.h"
#include "ts/storage/records.h"
#include "ts/storage/row_codec.h"

namespace ts::storage::postgres_internal {

// SQLSTATE classes that mean "try again later" rather than "this request is wrong":
// 08 connection exception, 40001 serialization failure, 40P01 deadlock, 53 insufficient
// resources (too many connections, out of memory/disk), 57P01..57P03 admin/crash shutdown and
// "cannot connect now" (recovery), 25006 read-only transaction (a standby after failover),
// 55P03 lock_timeout reached, 57014 statement cancelled (statement_timeout).
bool IsTransientSqlState(std::string_view state);

// Parameters of one statement, all sent as text except bytea values (binary).
class Params {
 public:
  Params& Add(const std::string& text) { return Push(text, 0); }
  Params& Add(const char* text) { return Push(text, 0); }
  Params& Add(int64_t value) { return Push(std::to_string(value), 0); }
  Params& Add(int value) { return Push(std::to_string(value), 0); }
  Params& Add(bool value) { return Push(value ? "t" : "f", 0); }
  Params& AddBytes(const std::string& bytes) { return Push(bytes, 1); }

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into values_ (stable once building is done).
  void Export(std::vector<const char*>* values, std::vector<int>* lengths,
              std::vector<int>* formats) const {
    for (size_t i = 0; i < values_.size(); ++i) {
      values->push_back(values_[i].data());
      lengths->push_back(static_cast<int>(values_[i].size()));
      formats->push_back(formats_[i]);
    }
  }

 private:
  Params& Push(std::string value, int format) {
    values_.push_back(std::move(value));
    formats_.push_back(format);
    return *this;
  }
  std::deque<std::string> values_;
  std::vector<int> formats_;
};

template <typename... Args>
Params MakeParams(const Args&... args) {
  Params p;
  (p.Add(args), ...);
  return p;
}

// A query result (text format). Owns the PGresult.
class Result {
 public:
  explicit Result(PGresult* result) : result_(result, &PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  int64_t affected() const {
    const char* n = PQcmdTuples(result_.get());
    return n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0;
  }
  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string Text(int row, int column) const {
    return std::string(PQgetvalue(result_.get(), row, column),
                       static_cast<size_t>(PQgetlength(result_.get(), row, column)));
  }
  int64_t Int(int row, int column) const {
    return std::strtoll(PQgetvalue(result_.get(), row, column), nullptr, 10);
  }
  // Booleans print as "t"/"f" (or "true"/"false" when cast to text).
  bool Bool(int row, int column) const { return PQgetvalue(result_.get(), row, column)[0] == 't'; }
  // bytea in text format is "\x" followed by hex digits (bytea_output = hex, set per connection).
  std::string Bytes(int row, int column) const;

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

// One server connection with its prepared statements. Used by one thread at a time.
class Connection {
 public:
  // `round_trips` counts every request sent to the server on this connection (the store's
  // total; it outlives the connection).
  static StatusOr<std::unique_ptr<Connection>> Open(const std::string& url,
                                                    const PostgresStoreOptions& options,
                                                    std::atomic<int64_t>* round_trips);

  ~Connection() {
    if (conn_ != nullptr) PQfinish(conn_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // True once a failure showed the connection is unusable; the pool then drops it.
  bool broken() const { return broken_ || PQstatus(conn_) != CONNECTION_OK; }

  // Whether an idle connection still looks alive without a round trip: an idle connection has
  // nothing to read, so a readable or hung-up socket means the server closed it (restart,
  // admin shutdown, idle timeout) and nothing we send now could have been received.
  bool LooksAlive();

  // Runs `sql` as a prepared statement (prepared on first use on this connection).
  StatusOr<Result> Exec(std::string_view sql, const Params& params = Params());

  // Runs uncached SQL without parameters (transaction control, settings, migrations).
  Status ExecScript(const std::string& sql);

  // The audit event riding on the write running now (audit.h), inserted after it succeeded; a
  // write that turns out to change nothing (UpdateSigningKeys with no update) sets it to nullptr.
  const AuditRecord* audit = nullptr;

  // One statement of a pipelined transaction (RunPipelinedTransaction).
  struct Pipelined {
    std::string_view sql;
    const Params* params;
  };
  // What became of a pipelined transaction.
  enum class PipelineOutcome {
    kCommitted,   // COMMIT returned: every statement's result is in `results`
    kRolledBack,  // a statement or the COMMIT failed: nothing of it was committed
    kUnknown,     // the connection broke after COMMIT was sent: it may or may not have committed
  };
  // Sends BEGIN, `statements` (prepared on first use, as Exec does) and COMMIT as one pipeline
  // (libpq pipeline mode: one round trip, one WAL flush) and reads every result. On kCommitted
  // `results` holds one result per statement; otherwise `error` says what failed (the failing
  // statement's SQLSTATE is last_state()). The connection is left idle outside any transaction,
  // or broken.
  PipelineOutcome RunPipelinedTransaction(const std::vector<Pipelined>& statements,
                                          std::vector<Result>* results, Status* error);

  // Sends read-only `statements` (prepared on first use) as one pipeline outside any explicit
  // transaction and reads every result: one round trip. `results` gets one entry per statement.
  // A failing statement aborts the ones after it in the pipeline; those are run again one by
  // one (reads are idempotent), so each entry is its own statement's outcome. Leaves the
  // connection idle, or broken.
  void RunPipelinedReads(const std::vector<Pipelined>& statements,
                         std::vector<StatusOr<Result>>* results);

  // The SQLSTATE and table of the last failure ("" when it had none).
  const std::string& last_state() const { return last_state_; }
  bool UniqueViolated() const { return last_state_ == "23505"; }
  bool ForeignKeyViolated() const { return last_state_ == "23503"; }
  const std::string& last_table() const { return last_table_; }

 private:
  Connection(PGconn* conn, std::atomic<int64_t>* round_trips)
      : conn_(conn), round_trips_(round_trips) {}

  Status Fail(PGresult* result, std::string_view what);
  // The statement name of `sql` on this connection, sending its PREPARE into the current
  // pipeline on first use (`*sent` is then set).
  const std::string& PipelinePrepare(std::string_view sql, bool* sent);

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  PGconn* conn_;
  std::atomic<int64_t>* round_trips_;
  bool broken_ = false;
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> prepared_;
  std::string last_state_;
  std::string last_table_;
};

// Column lists shared by the SELECTs and the row readers below; keep them in step.
#define TS_USER_COLUMNS                                                                   \
  "user_id, identity_store_id, user_name, display_name, attributes_json, password_hash, " \
  "created_at, updated_at"
#define TS_ACCESS_KEY_COLUMNS                                                             \
  "access_key_id, principal_arn, secret_sealed, session_token_hash, expires_at, active, " \
  "created_at"
#define TS_SIGNING_KEY_COLUMNS                                                            \
  "kid, alg, private_key_sealed, public_jwk_json, created_at, activated_at, retired_at, " \
  "delete_after"
#define TS_SESSION_COLUMNS \
  "session_hash, user_id, csrf_secret, auth_time, created_at, expires_at, revoked_at"
#define TS_CODE_COLUMNS                                                                       \
  "code_hash, application_arn, user_id, redirect_uri, code_challenge, scopes, session_hash, " \
  "auth_time, created_at, expires_at, consumed_at, family_id, nonce"
#define TS_FAMILY_COLUMNS(p)                                                              \
  p "family_id, " p "application_arn, " p "user_id, " p "scopes, " p "grant_type, " p     \
    "session_hash, " p "auth_time, " p "created_at, " p "expires_at, " p "revoked_at, " p \
    "parent_family_id, " p "act_json"
#define TS_REFRESH_COLUMNS(p)                                                       \
  p "token_hash, " p "family_id, " p "scopes, " p "created_at, " p "expires_at, " p \
    "rotated_at, " p "successor_hash"
#define TS_TTI_COLUMNS                                                       \
  "arn, instance_arn, name, issuer_type, issuer_url, claim_attribute_path, " \
  "identity_store_attribute_path, jwks_retrieval_option, created_at"
constexpr int kRefreshColumnCount = 7;
constexpr int kFamilyColumnCount = 12;

// The VALUES of a family row ($first .. $first+11, typed so that INSERT ... SELECT works) and
// of a refresh token row ($first .. $first+6).
#define TS_FAMILY_VALUES(a, b, c, d, e, f, g, h, i, j, k, l)                                \
  "$" a "::text, $" b "::text, $" c "::text, $" d "::text, $" e "::text, $" f "::text, $" g \
  "::bigint, $" h "::bigint, $" i "::bigint, $" j "::bigint, $" k "::text, $" l "::text"
#define TS_REFRESH_VALUES(a, b, c, d, e, f, g)                                    \
  "$" a "::text, $" b "::text, $" c "::text, $" d "::bigint, $" e "::bigint, $" f \
  "::bigint, "                                                                    \
  "$" g "::text"

void AddFamily(Params& p, const TokenFamily& f, const std::string& scopes);

// A refresh token's seven values; an absent one still fills the slots (with placeholders) so one
// prepared statement serves both shapes.
void AddRefresh(Params& p, const std::optional<RefreshToken>& t, const std::string& scopes);

User ReadUser(const Result& r, int row);

// FindUsersByAttributeWithAssignment's read ($1, $2 the canonical lookup, $3 the application),
// shared with the jwt-bearer grant's read in the group-commit writer, and its rows.
extern const std::string_view kUsersByAttributeWithAssignmentSql;
Params UsersByAttributeWithAssignmentParams(const std::string& path, const std::string& value,
                                            const std::string& application_arn);
std::vector<UserWithAssignment> ReadUsersWithAssignment(const Result& r);
AccessKey ReadAccessKey(const Result& r, int row);
SigningKey ReadSigningKey(const Result& r, int row);
SignInSession ReadSession(const Result& r, int row);
AuthorizationCode ReadCode(const Result& r, int row);
TokenFamily ReadFamily(const Result& r, int row, int first);
RefreshToken ReadRefresh(const Result& r, int row, int first);
TrustedTokenIssuer ReadTrustedTokenIssuer(const Result& r, int row);

// A failed statement that inserted family and refresh-token rows: which duplicate it was.
Status InsertConflict(const Connection& c, const Status& status, const TokenFamily& family);
// The same from a failure's SQLSTATE and table (the group-commit writer's completions).
Status InsertConflict(const std::string& sqlstate, const std::string& table, const Status& status,
                      const TokenFamily& family);

// Inserts a new token family and, when given, its first refresh token, in one statement (on its
// own, or inside the caller's transaction); `scopes` as ValidateFamily joined them. A duplicate
// is AlreadyExists (InsertConflict). In grant_store.cc.
Status InsertFamilyAndFirstRefresh(Connection& c, const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh,
                                   const internal::FamilyScopes& scopes);

// Revokes token family `family_id` at `now` and every family exchanged from it, transitively
// (parent_family_id), keeping earlier revocation times, in one statement: RevokeFamily's path,
// also taken by a reused device authorization (client_store.cc). Returns whether the family
// exists. In grant_store.cc.
StatusOr<bool> RevokeFamilyTree(Connection& c, const std::string& family_id, int64_t now);

// Inserts or replaces an IAM principal (PutPrincipal's statement), on its own or inside the
// caller's transaction. In credential_store.cc.
Status UpsertPrincipal(Connection& c, const IamPrincipal& principal);

// Revokes sign-in session `session_hash` at `now` as RevokeSession does (its families, unused
// codes, unredeemed device approvals and role credentials), in one statement; false when there
// is no such session. In session_store.cc.
StatusOr<bool> RevokeSessionInTransaction(Connection& c, const std::string& session_hash,
                                          int64_t now);

// The account side's steps that other aggregates' deletions take, inside the caller's
// transaction (account_store.cc). Deletes every account assignment made to the principal and
// de-provisions the roles (provisioned_roles row and IAM principal) left without one.
Status DeleteAccountAssignmentsOf(Connection& c, const std::string& principal_type,
                                  const std::string& principal_id);
// Deletes the access keys (their links go by cascade) of the user's role credentials for roles
// the user no longer holds, directly or through a group.
Status RevokeUnheldRoleCredentials(Connection& c, const std::string& user_id);
// Deletes the access keys of every role credential of the user, or issued under the session.
Status DeleteRoleCredentialsOfUser(Connection& c, const std::string& user_id);
Status DeleteRoleCredentialsOfSession(Connection& c, const std::string& session_hash);

// Applies the pending schema migrations (PostgresStore::Open, in postgres_store.h).
Status ApplyMigrations(Connection& c);

// Runs a paged SELECT whose last parameter is the LIMIT; `params` holds every one before it (the
// page key's included). Adds `limit` + 1, since one extra row tells whether another page follows.
template <typename T, typename ReadFn, typename KeyFn>
StatusOr<Page<T>> ExecPage(Connection& c, std::string_view sql, Params params, int limit,
                           ReadFn read, KeyFn key_of) {
  params.Add(static_cast<int64_t>(limit) + 1);
  TS_ASSIGN_OR_RETURN(Result r, c.Exec(sql, params));
  Page<T> out;
  for (int i = 0; i < r.rows(); ++i) {
    if (static_cast<int>(out.items.size()) == limit) {
      out.next = key_of(out.items.back());
      break;
    }
    out.items.push_back(read(r, i));
  }
  return out;
}

// Runs a paged SELECT whose last two parameters are "key > $n ORDER BY key LIMIT $n+1"; `params`
// holds the ones before them.
template <typename T, typename ReadFn, typename KeyFn>
StatusOr<Page<T>> RunPage(Connection& c, std::string_view sql, Params params,
                          const PageRequest& page, ReadFn read, KeyFn key_of) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  params.Add(page.after);
  return ExecPage<T>(c, sql, std::move(params), page.limit, read, key_of);
}

// Inserts `record` into audit_events (postgres/audit_store.cc).
Status InsertAudit(Connection& c, const AuditRecord& record);

}  // namespace ts::storage::postgres_internal

namespace ts::storage::postgres_internal {
class GroupCommitWriter;  // group_commit_writer.h
}  // namespace ts::storage::postgres_internal

namespace ts::storage {

// The connection pool: callers check a connection out for one method call.
class PostgresStore::Impl {
 public:
  using Connection = postgres_internal::Connection;

  // Starts the group-commit writer too (postgres_store.cc).
  Impl(std::string url, PostgresStoreOptions options);
  ~Impl();

  // The token endpoint's asynchronous writes go through it (grant_store.cc).
  postgres_internal::GroupCommitWriter& writer() { return *writer_; }

  // A connection checked out of the pool; Release takes it back, or drops it when broken.
  using Lease = ConnectionLease<Impl, Connection>;

  StatusOr<Lease> Acquire();  // AcquireUnmeasured, counted in the pool's metrics

  void Release(std::unique_ptr<Connection> connection);

 private:
  StatusOr<Lease> AcquireUnmeasured();

 public:
  // Requests sent to the server so far (PostgresStore::RoundTrips).
  int64_t round_trips() const { return round_trips_.load(std::memory_order_relaxed); }

  // Runs `fn(Connection&)` (returning Status or StatusOr<T>) in one transaction; commits if it
  // succeeded, rolls back otherwise. Not retried (see the header on ambiguous commits).
  // This thread's pending audit event (audit.h) is inserted in the same transaction.
  template <typename Fn>
  auto Write(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    std::optional<AuditRecord> audit = TakePendingAudit();
    return Transaction(audit ? &*audit : nullptr, fn);
  }

  // Runs `fn(Connection&)` as is: for a single statement (its own transaction) that writes. With
  // an audit event pending on this thread it becomes a transaction, so the event commits with it.
  template <typename Fn>
  auto Single(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    if (std::optional<AuditRecord> audit = TakePendingAudit()) return Transaction(&*audit, fn);
    TS_ASSIGN_OR_RETURN(Lease lease, Acquire());
    return fn(*lease);
  }

  // Runs a read-only `fn(Connection&)`; retried once on a fresh connection when the first one
  // turned out broken (reads are idempotent, so the retry cannot change anything).
  template <typename Fn>
  auto Read(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    for (int attempt = 0;; ++attempt) {
      TS_ASSIGN_OR_RETURN(Lease lease, Acquire());
      auto result = fn(*lease);
      if (result.ok() || attempt > 0 || !(*lease).broken()) return result;
    }
  }

 private:
  template <typename Fn>
  auto Transaction(const AuditRecord* audit, Fn& fn) -> std::invoke_result_t<Fn, Connection&> {
    TS_ASSIGN_OR_RETURN(Lease lease, Acquire());
    Connection& c = *lease;
    TS_RETURN_IF_ERROR(c.ExecScript("BEGIN"));
    c.audit = audit;
    auto result = fn(c);
    audit = c.audit;
    c.audit = nullptr;
    if (audit != nullptr && result.ok() && !MadeTheChange(result)) {
      audit = nullptr;
    }
    if (result.ok() && audit != nullptr) {
      if (Status s = postgres_internal::InsertAudit(c, *audit); !s.ok()) result = s;
    }
    if (!result.ok()) {
      if (!c.broken()) c.ExecScript("ROLLBACK").IgnoreError();
      return result;
    }
    TS_RETURN_IF_ERROR(c.ExecScript("COMMIT"));
    if (audit != nullptr) StreamAudit(*audit);
    return result;
  }

  void DropIdleLocked() {
    open_ -= static_cast<int>(idle_.size());
    idle_.clear();
  }

  const std::string url_;
  const PostgresStoreOptions options_;
  std::atomic<int64_t> round_trips_{0};
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int open_ = 0;                                   // guarded by mu_; idle + checked out
  // Last: destroyed first, so it flushes while everything it uses still exists.
  std::unique_ptr<postgres_internal::GroupCommitWriter> writer_;
};

}  // namespace ts::storage
