// File: sqlite_internal.h
// What the files of the SQLite backend (sqlite_store.cc, connection.cc and one file per aggregate
// of the Store) share: the error mapping, the prepared statement, the connection with its
// statement cache, the transaction, the column lists and row readers, small statement helpers,
// and SqliteStore::Impl (the connection pool and the group-commit writer). Internal to
// src/ts/storage/sqlite/. The hot path (binding, stepping, reading columns, the statement-cache
// lookup) stays defined in the class bodies here, so it inlines into every file.
#pragma once

#include <sqlite3.h>

#include <cstdint>
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
#include "ts/storage/records.h"
#include "ts/storage/row_codec.h"
#include "ts/storage/sqlite/group_commit_writer.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/storage/store.h"

namespace ts::storage::sqlite_internal {

using internal::SplitList;

// Maps an SQLite failure: a lock still held after the busy timeout is transient (Unavailable);
// anything else is Internal with SQLite's own message.
Status SqliteError(sqlite3* db, int rc, std::string_view context);

// A checked-out prepared statement: binds parameters in order and resets itself when it goes out
// of scope, so the cached statement is ready for the next caller.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        next_(other.next_),
        error_code_(other.error_code_) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  // SQLITE_TRANSIENT: SQLite copies, so temporaries may be bound.
  Statement& Bind(std::string_view text) {
    sqlite3_bind_text64(stmt_, ++next_, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
  }
  Statement& BindBlob(std::string_view bytes) {
    sqlite3_bind_blob64(stmt_, ++next_, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int64_t value) {
    sqlite3_bind_int64(stmt_, ++next_, value);
    return *this;
  }
  Statement& Bind(int value) { return Bind(static_cast<int64_t>(value)); }
  Statement& Bind(bool value) { return Bind(static_cast<int64_t>(value ? 1 : 0)); }

  // One step: true when a row is ready, false when the statement is done.
  StatusOr<bool> Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    error_code_ = sqlite3_extended_errcode(db_);
    return SqliteError(db_, rc, sqlite3_sql(stmt_));
  }
  // Runs a statement that returns no rows.
  Status Exec() {
    TS_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return OkStatus();
  }
  // Rows the last Exec changed (not counting foreign-key cascades).
  int64_t Changes() const { return sqlite3_changes64(db_); }

  bool UniqueViolated() const {
    return error_code_ == SQLITE_CONSTRAINT_PRIMARYKEY || error_code_ == SQLITE_CONSTRAINT_UNIQUE;
  }
  bool ForeignKeyViolated() const { return error_code_ == SQLITE_CONSTRAINT_FOREIGNKEY; }
  // The constraint message ("UNIQUE constraint failed: users.user_name").
  std::string ErrorMessage() const { return sqlite3_errmsg(db_); }

  std::string Text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    const int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr ? std::string() : std::string(data, static_cast<size_t>(size));
  }
  std::string Blob(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    const int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr ? std::string() : std::string(data, static_cast<size_t>(size));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int next_ = 0;
  int error_code_ = SQLITE_OK;
};

// One SQLite connection with its prepared-statement cache. Used by one thread at a time (the
// pool hands it out), so it is opened in multi-thread mode, without SQLite's per-call mutex.
class Connection {
 public:
  static StatusOr<std::unique_ptr<Connection>> Open(const std::string& path,
                                                    const SqliteStoreOptions& options);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* db() const { return db_; }

  // A cached prepared statement for `sql` (prepared on first use with this connection).
  StatusOr<Statement> Prepare(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* stmt = nullptr;
      const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, "prepare");
      it = cache_.emplace(std::string(sql), stmt).first;
    }
    return Statement(db_, it->second);
  }

  // Runs uncached SQL (pragmas, migrations): any number of statements, no parameters.
  Status ExecScript(const std::string& sql);

  Status Run(std::string_view sql) {
    TS_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    return stmt.Exec();
  }

  // The audit event riding on the write body running now (audit.h), inserted after the body
  // succeeded; a body that turns out to change nothing (UpdateSigningKeys with no update) sets
  // it to nullptr so that no event records it.
  const AuditRecord* audit = nullptr;

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> cache_;
};

// Inserts `record` into audit_events (sqlite/audit_store.cc).
Status InsertAudit(Connection& c, const AuditRecord& record);

// Runs a write body with its audit event (may be null): the event is inserted in the same
// savepoint once the body succeeded, unless the body dropped it; `*inserted` says whether it was.
template <typename Fn>
auto WriteAudited(Connection& c, const AuditRecord* audit, Fn& fn, bool* inserted) {
  c.audit = audit;
  auto result = fn(c);
  const AuditRecord* keep = c.audit;
  c.audit = nullptr;
  *inserted = false;
  if (keep != nullptr && result.ok() && MadeTheChange(result)) {
    if (Status s = InsertAudit(c, *keep); !s.ok()) return decltype(result)(s);
    *inserted = true;
  }
  return result;
}

// A transaction on one connection; rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& connection) : connection_(connection) {}
  ~Transaction() {
    // Some errors (busy, I/O, full) have already rolled back; ROLLBACK would then fail.
    if (open_ && sqlite3_get_autocommit(connection_.db()) == 0) {
      connection_.Run("ROLLBACK").IgnoreError();
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so a
  // read-then-write transaction can never fail half-way on a lock upgrade.
  Status BeginImmediate() { return Begin("BEGIN IMMEDIATE"); }
  // DEFERRED: a read snapshot for multi-statement reads.
  Status BeginDeferred() { return Begin("BEGIN DEFERRED"); }

  Status Commit() {
    Status status = connection_.Run("COMMIT");
    if (status.ok()) open_ = false;
    return status;
  }

 private:
  Status Begin(std::string_view sql) {
    TS_RETURN_IF_ERROR(connection_.Run(sql));
    open_ = true;
    return OkStatus();
  }

  Connection& connection_;
  bool open_ = false;
};

// Creates the missing parent directories of `path`, each with mode 0700.
Status CreateParentDirectories(const std::string& path);

// Creates the database file with mode 0600 before SQLite sees it (SQLite would use 0644 less the
// umask); SQLite gives the -wal and -shm files the database file's mode.
Status CreateDatabaseFile(const std::string& path);

// Applies the pending migrations (migrations.h), each in its own transaction; FailedPrecondition
// if the database carries a schema version newer than this binary knows.
Status ApplyMigrations(Connection& connection);

// Indexes the users that have no attribute-index rows yet (at Open); in directory_store.cc.
Status IndexUnindexedUsers(Connection& connection);

// Column lists shared by the SELECTs and the row readers below; keep them in step.
#define TS_USER_COLUMNS                                                                   \
  "user_id, identity_store_id, user_name, display_name, attributes_json, password_hash, " \
  "created_at, updated_at"
#define TS_APPLICATION_COLUMNS                                                           \
  "application_arn, instance_arn, application_provider_arn, name, description, status, " \
  "assignment_required, actor_policy_json, created_at, portal_options_json"
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
inline constexpr int kRefreshColumnCount = 7;
inline constexpr int kFamilyColumnCount = 12;

inline User ReadUser(const Statement& s) {
  User u;
  u.user_id = s.Text(0);
  u.identity_store_id = s.Text(1);
  u.user_name = s.Text(2);
  u.display_name = s.Text(3);
  u.attributes_json = s.Text(4);
  u.password_hash = s.Text(5);
  u.created_at = s.Int(6);
  u.updated_at = s.Int(7);
  return u;
}

inline Application ReadApplication(const Statement& s) {
  Application a;
  a.application_arn = s.Text(0);
  a.instance_arn = s.Text(1);
  a.application_provider_arn = s.Text(2);
  a.name = s.Text(3);
  a.description = s.Text(4);
  a.status = s.Text(5);
  a.assignment_required = s.Int(6) != 0;
  a.actor_policy_json = s.Text(7);
  a.created_at = s.Int(8);
  a.portal_options_json = s.Text(9);
  return a;
}

#define TS_GROUP_COLUMNS                                                                  \
  "group_id, identity_store_id, display_name, description, attributes_json, created_at, " \
  "updated_at"
#define TS_MEMBERSHIP_COLUMNS "membership_id, identity_store_id, group_id, user_id, created_at"

inline Group ReadGroup(const Statement& s) {
  Group g;
  g.group_id = s.Text(0);
  g.identity_store_id = s.Text(1);
  g.display_name = s.Text(2);
  g.description = s.Text(3);
  g.attributes_json = s.Text(4);
  g.created_at = s.Int(5);
  g.updated_at = s.Int(6);
  return g;
}

inline GroupMembership ReadMembership(const Statement& s) {
  GroupMembership m;
  m.membership_id = s.Text(0);
  m.identity_store_id = s.Text(1);
  m.group_id = s.Text(2);
  m.user_id = s.Text(3);
  m.created_at = s.Int(4);
  return m;
}

inline AccessKey ReadAccessKey(const Statement& s) {
  AccessKey k;
  k.access_key_id = s.Text(0);
  k.principal_arn = s.Text(1);
  k.secret_sealed = s.Blob(2);
  k.session_token_hash = s.Text(3);
  k.expires_at = s.Int(4);
  k.active = s.Int(5) != 0;
  k.created_at = s.Int(6);
  return k;
}

inline SigningKey ReadSigningKey(const Statement& s) {
  SigningKey k;
  k.kid = s.Text(0);
  k.alg = s.Text(1);
  k.private_key_sealed = s.Blob(2);
  k.public_jwk_json = s.Text(3);
  k.created_at = s.Int(4);
  k.activated_at = s.Int(5);
  k.retired_at = s.Int(6);
  k.delete_after = s.Int(7);
  return k;
}

inline SignInSession ReadSession(const Statement& s) {
  SignInSession x;
  x.session_hash = s.Text(0);
  x.user_id = s.Text(1);
  x.csrf_secret = s.Text(2);
  x.auth_time = s.Int(3);
  x.created_at = s.Int(4);
  x.expires_at = s.Int(5);
  x.revoked_at = s.Int(6);
  return x;
}

inline AuthorizationCode ReadCode(const Statement& s) {
  AuthorizationCode c;
  c.code_hash = s.Text(0);
  c.application_arn = s.Text(1);
  c.user_id = s.Text(2);
  c.redirect_uri = s.Text(3);
  c.code_challenge = s.Text(4);
  c.scopes = SplitList(s.Text(5));
  c.session_hash = s.Text(6);
  c.auth_time = s.Int(7);
  c.created_at = s.Int(8);
  c.expires_at = s.Int(9);
  c.consumed_at = s.Int(10);
  c.family_id = s.Text(11);
  c.nonce = s.Text(12);
  return c;
}

inline TokenFamily ReadFamily(const Statement& s, int first) {
  TokenFamily f;
  f.family_id = s.Text(first + 0);
  f.application_arn = s.Text(first + 1);
  f.user_id = s.Text(first + 2);
  f.scopes = SplitList(s.Text(first + 3));
  f.grant_type = s.Text(first + 4);
  f.session_hash = s.Text(first + 5);
  f.auth_time = s.Int(first + 6);
  f.created_at = s.Int(first + 7);
  f.expires_at = s.Int(first + 8);
  f.revoked_at = s.Int(first + 9);
  f.parent_family_id = s.Text(first + 10);
  f.act_json = s.Text(first + 11);
  return f;
}

inline RefreshToken ReadRefresh(const Statement& s, int first) {
  RefreshToken t;
  t.token_hash = s.Text(first + 0);
  t.family_id = s.Text(first + 1);
  t.scopes = SplitList(s.Text(first + 2));
  t.created_at = s.Int(first + 3);
  t.expires_at = s.Int(first + 4);
  t.rotated_at = s.Int(first + 5);
  t.successor_hash = s.Text(first + 6);
  return t;
}

// Inserts a new token family and, when given, its first refresh token, inside the caller's write
// transaction; `scopes` as ValidateFamily joined them. In grant_store.cc.
Status InsertFamilyAndFirstRefresh(Connection& c, const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh,
                                   const internal::FamilyScopes& scopes);

// Revokes token family `family_id` at `now` and every family exchanged from it, transitively
// (parent_family_id), keeping earlier revocation times, inside the caller's write transaction:
// RevokeFamily's path, also taken by a reused device authorization (client_store.cc). Returns
// whether the family exists. In grant_store.cc.
StatusOr<bool> RevokeFamilyTree(Connection& c, const std::string& family_id, int64_t now);

// Inserts or replaces an IAM principal inside the caller's write transaction: PutPrincipal's
// body, also run by provisioning a role. In credential_store.cc.
Status UpsertPrincipal(Connection& c, const IamPrincipal& principal);

// Revokes sign-in session `session_hash` at `now` as RevokeSession does (its families, unused
// codes, unredeemed device approvals and role credentials) inside the caller's write
// transaction; false when there is no such session. In session_store.cc.
StatusOr<bool> RevokeSessionInTransaction(Connection& c, const std::string& session_hash,
                                          int64_t now);

// The account side's steps that other aggregates' deletions take, inside the caller's write
// transaction (account_store.cc). Deletes every account assignment made to the principal and
// de-provisions the roles (provisioned_roles row and IAM principal) left without one.
Status DeleteAccountAssignmentsOf(Connection& c, const std::string& principal_type,
                                  const std::string& principal_id);
// Deletes the access keys (their links go by cascade) of the user's role credentials for roles
// the user no longer holds, directly or through a group.
Status RevokeUnheldRoleCredentials(Connection& c, const std::string& user_id);

// Runs an INSERT; a duplicate key becomes AlreadyExists(`exists_message`).
inline Status ExecInsert(Statement& stmt, std::string_view exists_message) {
  Status status = stmt.Exec();
  if (!status.ok() && stmt.UniqueViolated()) return AlreadyExistsError(exists_message);
  return status;
}

// Runs one parameterised write statement and returns how many rows it changed.
template <typename... Args>
StatusOr<int64_t> Change(Connection& c, std::string_view sql, const Args&... args) {
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
  (stmt.Bind(args), ...);
  TS_RETURN_IF_ERROR(stmt.Exec());
  return stmt.Changes();
}

// Whether a one-parameter `SELECT 1 ... WHERE key = ?` finds a row.
inline StatusOr<bool> Exists(Connection& c, std::string_view sql, const std::string& key) {
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
  stmt.Bind(key);
  return stmt.Step();
}

// Steps a paged SELECT whose every parameter but the last (the LIMIT) is bound: binds `limit`
// + 1, since one extra row tells whether another page follows, reads rows with `read` and takes
// the next key with `key_of`.
template <typename T, typename ReadFn, typename KeyFn>
StatusOr<Page<T>> StepPage(Statement& stmt, int limit, ReadFn read, KeyFn key_of) {
  stmt.Bind(static_cast<int64_t>(limit) + 1);
  Page<T> out;
  while (true) {
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == limit) {
      out.next = key_of(out.items.back());
      break;
    }
    out.items.push_back(read(stmt));
  }
  return out;
}

// Runs a paged SELECT whose SQL ends in "key > ? ORDER BY key LIMIT ?" (after binding `prefix`
// arguments), reading rows with `read` and taking the next key with `key_of`.
template <typename T, typename ReadFn, typename KeyFn, typename... Prefix>
StatusOr<Page<T>> RunPage(Connection& c, std::string_view sql, const PageRequest& page, ReadFn read,
                          KeyFn key_of, const Prefix&... prefix) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
  (stmt.Bind(prefix), ...);
  stmt.Bind(page.after);
  return StepPage<T>(stmt, page.limit, read, key_of);
}

}  // namespace ts::storage::sqlite_internal

namespace ts::storage {

// The connection pool: callers check a connection out for one method call.
class SqliteStore::Impl {
  using Connection = sqlite_internal::Connection;
  using GroupCommitWriter = sqlite_internal::GroupCommitWriter;
  using Transaction = sqlite_internal::Transaction;

 public:
  Impl(std::string path, SqliteStoreOptions options) : path_(std::move(path)), options_(options) {}

  // A connection checked out of the pool; Release takes it back.
  using Lease = ConnectionLease<Impl, Connection>;

  StatusOr<Lease> Acquire();

  void Release(std::unique_ptr<Connection> connection);

  // Runs `fn(Connection&)` (returning Status or StatusOr<T>) inside the writer's next batch
  // transaction and returns its result once that transaction has committed (and synced). A
  // failure of `fn` rolls back `fn`'s changes alone; a failed commit fails every call in the
  // batch. See GroupCommitWriter.
  template <typename Fn>
  auto Write(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    using Result = std::invoke_result_t<Fn, Connection&>;
    std::optional<Result> result;
    std::optional<AuditRecord> audit = TakePendingAudit();
    const AuditRecord* event = audit ? &*audit : nullptr;
    bool audited = false;
    Status status = writer_.Run([&](Connection& c) -> Status {
      result.emplace(sqlite_internal::WriteAudited(c, event, fn, &audited));
      return StatusOf(*result);
    });
    if (!status.ok()) return status;
    if (audited) StreamAudit(*event);
    return std::move(*result);
  }

  // Write's non-blocking twin: runs `fn` in the writer's next batch and calls `done` with its
  // result on the writer thread once the batch has committed (see GroupCommitWriter::RunAsync).
  template <typename Result, typename Fn>
  void WriteAsync(Fn fn, std::function<void(Result)> done) {
    auto result = std::make_shared<std::optional<Result>>();
    std::shared_ptr<const AuditRecord> audit;  // null on the hot path: no event
    if (std::optional<AuditRecord> taken = TakePendingAudit()) {
      audit = std::make_shared<const AuditRecord>(std::move(*taken));
    }
    auto audited = audit ? std::make_shared<bool>(false) : nullptr;
    writer_.RunAsync(
        [fn = std::move(fn), result, audit, audited](Connection& c) mutable -> Status {
          bool inserted = false;
          result->emplace(sqlite_internal::WriteAudited(c, audit.get(), fn, &inserted));
          if (audited) *audited = inserted;
          return StatusOf(**result);
        },
        [result, audit, audited, done = std::move(done)](Status status) {
          if (!status.ok()) {
            done(Result(std::move(status)));
          } else {
            if (audited && *audited) StreamAudit(*audit);
            done(std::move(**result));
          }
        });
  }

  Status StartWriter(std::unique_ptr<Connection> connection);

  // Runs `fn(Connection&)` in a read snapshot (for reads of more than one statement).
  template <typename Fn>
  auto Snapshot(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    TS_ASSIGN_OR_RETURN(Lease lease, Acquire());
    Transaction txn(*lease);
    TS_RETURN_IF_ERROR(txn.BeginDeferred());
    auto result = fn(*lease);
    if (!result.ok()) return result;
    TS_RETURN_IF_ERROR(txn.Commit());
    return result;
  }

  // Runs `fn(Connection&)` as is: a single statement is its own consistent read.
  template <typename Fn>
  auto Read(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    TS_ASSIGN_OR_RETURN(Lease lease, Acquire());
    return fn(*lease);
  }

  // Where PurgeExpired's sweep of refresh_tokens goes on: the last rowid it visited, 0 to start
  // a pass; and when the last pass reached the table's end. Only write bodies touch them, and the
  // writer runs those one at a time. Not stored: after a restart the sweep starts afresh.
  int64_t refresh_sweep_rowid = 0;
  int64_t refresh_sweep_ended_at = 0;

 private:
  static const Status& StatusOf(const Status& s) { return s; }
  template <typename T>
  static const Status& StatusOf(const StatusOr<T>& s) {
    return s.status();
  }

  const std::string path_;
  const SqliteStoreOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  GroupCommitWriter writer_;  // last: its thread stops before the pool goes
};

}  // namespace ts::storage
