#include "ts/storage/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/attribute_index.h"
#include "ts/storage/row_codec.h"
#include "ts/storage/sqlite/migrations.h"

namespace ts::storage {
namespace {

using internal::FamilyScopes;
using internal::JoinList;
using internal::SplitList;
using internal::ValidateFamily;

using sqlite_internal::Migration;
using sqlite_internal::SqliteMigrations;

// Maps an SQLite failure: a lock still held after the busy timeout is transient (Unavailable);
// anything else is Internal with SQLite's own message.
Status SqliteError(sqlite3* db, int rc, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return UnavailableError(message);
  return InternalError(message);
}

Status ErrnoError(std::string_view what, const std::string& path) {
  const int err = errno;
  std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == EACCES || err == EPERM || err == ENOENT || err == ENOTDIR || err == EROFS) {
    return UnavailableError(message);
  }
  return InternalError(message);
}

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
                                                    const SqliteStoreOptions& options) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    auto connection = std::unique_ptr<Connection>(new Connection(db));
    if (rc != SQLITE_OK) {
      const int primary = rc & 0xff;
      std::string message = "cannot open SQLite database " + path + ": " +
                            (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
      if (primary == SQLITE_CANTOPEN || primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
        return UnavailableError(message);
      }
      return InternalError(message);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
    // FULL: the WAL is synced at every commit, so an acknowledged change survives power loss.
    TS_RETURN_IF_ERROR(connection->ExecScript("PRAGMA synchronous = FULL"));
    TS_RETURN_IF_ERROR(connection->ExecScript("PRAGMA foreign_keys = ON"));
    // Savepoint (statement) journals in memory. With SQLite's default, the first journal that
    // outgrows 64 KiB turns into a file in /var/tmp and stays one, so from then on every savepoint
    // of the group-commit writer wrote each page it touched to that file: five writes for each
    // one to the WAL under the JWT-bearer load (BENCHMARKS.md). A journal holds the pages one
    // write body touches, so memory stays small.
    TS_RETURN_IF_ERROR(connection->ExecScript("PRAGMA temp_store = MEMORY"));
    return connection;
  }

  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
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
  Status ExecScript(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (rc == SQLITE_OK) return OkStatus();
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    const int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return UnavailableError(message);
    return InternalError(message);
  }

  Status Run(std::string_view sql) {
    TS_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
    return stmt.Exec();
  }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*, StringHash, std::equal_to<>> cache_;
};

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

Status CreateParentDirectories(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return OkStatus();
  std::filesystem::path partial;
  for (const auto& part : parent) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoError("cannot create directory", partial.string());
    }
  }
  return OkStatus();
}

// Creates the database file with mode 0600 before SQLite sees it (SQLite would use 0644 less the
// umask); SQLite gives the -wal and -shm files the database file's mode.
Status CreateDatabaseFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return OkStatus();
    return ErrnoError("cannot create database file", path);
  }
  ::close(fd);
  // Make the new directory entry durable too.
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  const int dir_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return OkStatus();
}

Status ApplyMigrations(Connection& connection) {
  TS_RETURN_IF_ERROR(connection.ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"));
  const std::span<const Migration> migrations = SqliteMigrations();
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        connection.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row && stmt.Int(0) > latest) {
      return FailedPreconditionError("database schema version " + std::to_string(stmt.Int(0)) +
                                     " is newer than this binary's " + std::to_string(latest));
    }
  }
  for (const Migration& migration : migrations) {
    Transaction txn(connection);
    TS_RETURN_IF_ERROR(txn.BeginImmediate());  // another process may be migrating too
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          connection.Prepare("SELECT 1 FROM schema_migrations WHERE version = ?"));
      stmt.Bind(migration.version);
      TS_ASSIGN_OR_RETURN(bool applied, stmt.Step());
      if (applied) continue;
    }
    Status status = connection.ExecScript(std::string(migration.sql));
    if (!status.ok()) {
      return Status(status.code(), "migration " + std::string(migration.name) + ": " +
                                       std::string(status.message()));
    }
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          connection.Prepare(
              "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"));
      stmt.Bind(migration.version)
          .Bind(migration.name)
          .Bind(static_cast<int64_t>(std::time(nullptr)));
      TS_RETURN_IF_ERROR(stmt.Exec());
    }
    TS_RETURN_IF_ERROR(txn.Commit());
  }
  return OkStatus();
}

// Forward declaration: defined with the user methods below.
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
  "auth_time, created_at, expires_at, consumed_at, family_id"
#define TS_FAMILY_COLUMNS(p)                                                              \
  p "family_id, " p "application_arn, " p "user_id, " p "scopes, " p "grant_type, " p     \
    "session_hash, " p "auth_time, " p "created_at, " p "expires_at, " p "revoked_at, " p \
    "parent_family_id, " p "act_json"
#define TS_REFRESH_COLUMNS(p)                                                       \
  p "token_hash, " p "family_id, " p "scopes, " p "created_at, " p "expires_at, " p \
    "rotated_at, " p "successor_hash"
constexpr int kRefreshColumnCount = 7;
constexpr int kFamilyColumnCount = 12;

User ReadUser(const Statement& s) {
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

Application ReadApplication(const Statement& s) {
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

Group ReadGroup(const Statement& s) {
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

GroupMembership ReadMembership(const Statement& s) {
  GroupMembership m;
  m.membership_id = s.Text(0);
  m.identity_store_id = s.Text(1);
  m.group_id = s.Text(2);
  m.user_id = s.Text(3);
  m.created_at = s.Int(4);
  return m;
}

AccessKey ReadAccessKey(const Statement& s) {
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

SigningKey ReadSigningKey(const Statement& s) {
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

SignInSession ReadSession(const Statement& s) {
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

AuthorizationCode ReadCode(const Statement& s) {
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
  return c;
}

TokenFamily ReadFamily(const Statement& s, int first) {
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

RefreshToken ReadRefresh(const Statement& s, int first) {
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

// Runs an INSERT; a duplicate key becomes AlreadyExists(`exists_message`).
Status ExecInsert(Statement& stmt, std::string_view exists_message) {
  Status status = stmt.Exec();
  if (!status.ok() && stmt.UniqueViolated()) return AlreadyExistsError(exists_message);
  return status;
}

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

// A new family and, when given, its first refresh token (inside the caller's transaction).
Status InsertFamilyAndFirstRefresh(Connection& c, const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh,
                                   const FamilyScopes& scopes) {
  TS_RETURN_IF_ERROR(InsertFamily(c, family, scopes.family));
  if (first_refresh.has_value()) {
    TS_RETURN_IF_ERROR(InsertRefresh(c, *first_refresh, scopes.refresh));
  }
  return OkStatus();
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
StatusOr<bool> Exists(Connection& c, std::string_view sql, const std::string& key) {
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
  stmt.Bind(key);
  return stmt.Step();
}

// Callers validate scope lists before taking the write lock.
// Group commit. Every write of the store goes through one writer thread that owns one
// connection: callers queue their transaction bodies and block; the writer takes everything
// queued while the previous batch was committing, runs the bodies in one BEGIN IMMEDIATE
// transaction, each inside its own SAVEPOINT, and commits once, so one WAL sync acknowledges the
// whole batch. Nothing is acknowledged before its batch's COMMIT returned (synchronous=FULL), so
// the durability contract is unchanged; what changes is that N concurrent writers cost one sync
// instead of N syncs plus N-1 busy-waits for the write lock. Bodies run one after another in
// queue order, which is also the order SQLite's write lock would have imposed.
//
// A caller that must not block (RotateRefreshTokenAsync, for the server's io threads) queues its
// body with a completion instead: the writer calls it after the batch's commit.
class GroupCommitWriter {
 public:
  using Body = std::function<Status(Connection&)>;
  using Done = std::function<void(Status)>;

  GroupCommitWriter() = default;
  ~GroupCommitWriter() { Stop(); }
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  Status Start(std::unique_ptr<Connection> connection, const SqliteStoreOptions& options) {
    connection_ = std::move(connection);
    checkpoint_pages_ = options.checkpoint_pages;
    light_load_checkpoint_pages_ = options.light_load_checkpoint_pages;
    light_load_batches_ = options.light_load_batches;
    light_load_batch_size_ = options.light_load_batch_size;
    // Replaces SQLite's automatic checkpoint (itself a WAL hook): see OnWalCommit.
    sqlite3_wal_hook(connection_->db(), &GroupCommitWriter::OnWalCommit, this);
    try {
      thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "ts-sqlite-wr");  // for top -H and perf
        Loop();
      });
    } catch (const std::system_error& e) {
      return InternalError(std::string("cannot start the SQLite writer thread: ") + e.what());
    }
    return OkStatus();
  }

  // Runs `body` in the next batch; returns its status once the batch committed, or the commit's
  // error if the batch could not be committed.
  Status Run(const Body& body) {
    Pending pending{&body, OkStatus()};
    std::shared_ptr<BatchSignal> signal;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return UnavailableError("the store is closing");
      queue_.push_back(&pending);
      signal = open_signal_;
    }
    cv_.notify_one();
    std::unique_lock<std::mutex> lock(signal->mu);
    signal->cv.wait(lock, [&] { return signal->done; });
    return std::move(pending.status);
  }

  // Runs `body` in the next batch and then, on the writer thread, `done` with what Run would
  // have returned. `done` must be quick and must not write through this writer.
  void RunAsync(Body body, Done done) {
    auto pending = std::make_unique<Pending>();
    pending->owned_body = std::move(body);
    pending->body = &pending->owned_body;
    pending->done = std::move(done);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        queue_.push_back(pending.release());
        pending = nullptr;
      }
    }
    if (pending != nullptr) {
      pending->done(UnavailableError("the store is closing"));
      return;
    }
    cv_.notify_one();
  }

 private:
  struct Pending {
    const Body* body = nullptr;
    Status status;
    Body owned_body;  // RunAsync's; Run's body lives on its caller's stack
    Done done;        // RunAsync's completion; empty for Run
  };
  // The callers of one batch wait on one signal and are woken by one broadcast once it has
  // committed: a futex call per batch rather than per caller (those calls were 7% of the server's
  // CPU under load). A futex sleep, too: libstdc++'s std::binary_semaphore spins with
  // sched_yield first, which on a busy core cost a further 9%.
  struct BatchSignal {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  // After each commit, on the writer thread, in place of SQLite's automatic checkpoint: the
  // log is to be copied into the database file once it holds checkpoint_pages_ pages, or
  // light_load_checkpoint_pages_ under light load (RunBatch counts the small batches). Small
  // batches in a row mean the writer keeps up with the requests, so a short copy now delays few
  // of them; under heavy load copying rarely saves the most work: at 5,000 refreshes/s on one
  // core p99 fell from 36-41 ms to 12-15 ms, at saturation CPU per refresh stayed within noise.
  // The hook only notes the checkpoint: Loop runs it once the batch has been acknowledged, so
  // the batch that filled the log does not wait for the copy (SQLite's own hook would copy
  // inside the COMMIT).
  static int OnWalCommit(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
    auto* writer = static_cast<GroupCommitWriter*>(self);
    const bool light_load = writer->small_batches_in_a_row_ >= writer->light_load_batches_;
    if (pages >= writer->checkpoint_pages_ ||
        (light_load && pages >= writer->light_load_checkpoint_pages_)) {
      writer->checkpoint_due_ = true;
    }
    return SQLITE_OK;
  }

  // PASSIVE: copies what no reader still needs and never waits for readers. The log restarts
  // from its beginning at the next commit once everything in it has been copied.
  void Checkpoint() {
    sqlite3_wal_checkpoint_v2(connection_->db(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
  }

  void Loop() {
    std::vector<Pending*> batch;
    while (true) {
      std::shared_ptr<BatchSignal> signal;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left to write
        // The whole queue: at most one entry per blocked caller, plus the asynchronous ones,
        // which the callers' own limits bound (one request per connection in flight).
        batch.swap(queue_);
        queue_.clear();
        signal = std::exchange(open_signal_, std::make_shared<BatchSignal>());
      }
      RunBatch(batch);
      for (Pending* p : batch) {
        if (!p->done) continue;
        std::unique_ptr<Pending> owned(p);
        try {
          owned->done(std::move(owned->status));
        } catch (const std::exception& e) {
          // Keep the writer alive: the caller's completion is its own to get right.
          std::fputs((std::string("sqlite writer: a completion threw: ") + e.what() + "\n").c_str(),
                     stderr);
        }
      }
      {
        std::lock_guard<std::mutex> lock(signal->mu);
        signal->done = true;
      }
      signal->cv.notify_all();
      if (std::exchange(checkpoint_due_, false)) Checkpoint();
    }
  }

  void RunBatch(const std::vector<Pending*>& batch) {
    Connection& c = *connection_;
    Transaction txn(c);
    Status begin = txn.BeginImmediate();
    if (!begin.ok()) {
      for (Pending* p : batch) p->status = begin;
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Pending* p = batch[i];
      Status savepoint = c.Run("SAVEPOINT body");
      p->status = savepoint.ok() ? (*p->body)(c) : savepoint;
      if (sqlite3_get_autocommit(c.db()) != 0) {
        // SQLite rolled the whole transaction back on its own (I/O error, disk full, ...): the
        // bodies before this one are undone too and must not be acknowledged.
        Status lost = UnavailableError(
            "the write was rolled back: " +
            std::string(p->status.ok() ? "transaction ended" : p->status.message()));
        for (size_t j = 0; j < batch.size(); ++j) {
          if (j != i || p->status.ok()) batch[j]->status = lost;
        }
        return;
      }
      if (p->status.ok()) {
        p->status = c.Run("RELEASE body");
      } else {
        // Undo this body's changes alone; the batch goes on.
        Status undo = c.Run("ROLLBACK TO body");
        if (undo.ok()) undo = c.Run("RELEASE body");
        if (!undo.ok()) {
          for (Pending* q : batch) q->status = undo;
          return;
        }
      }
    }
    // For OnWalCommit.
    if (static_cast<int>(batch.size()) <= light_load_batch_size_) {
      ++small_batches_in_a_row_;
    } else {
      small_batches_in_a_row_ = 0;
    }
    Status commit = txn.Commit();
    if (!commit.ok()) {
      for (Pending* p : batch) {
        if (p->status.ok()) p->status = commit;
      }
    }
  }

  std::unique_ptr<Connection> connection_;
  int checkpoint_pages_ = 0;
  int light_load_checkpoint_pages_ = 0;
  int light_load_batches_ = 0;
  int light_load_batch_size_ = 0;
  int small_batches_in_a_row_ = 0;  // writer thread only
  bool checkpoint_due_ = false;     // writer thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  std::shared_ptr<BatchSignal> open_signal_ = std::make_shared<BatchSignal>();  // queue_'s batch
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

// The connection pool: callers check a connection out for one method call.
class SqliteStore::Impl {
 public:
  Impl(std::string path, SqliteStoreOptions options) : path_(std::move(path)), options_(options) {}

  // A connection checked out of the pool; returns it on destruction.
  class Lease {
   public:
    Lease(Impl* impl, std::unique_ptr<Connection> connection)
        : impl_(impl), connection_(std::move(connection)) {}
    Lease(Lease&& other) noexcept : impl_(other.impl_), connection_(std::move(other.connection_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (connection_ != nullptr) impl_->Release(std::move(connection_));
    }
    Connection& operator*() const { return *connection_; }

   private:
    Impl* impl_;
    std::unique_ptr<Connection> connection_;
  };

  StatusOr<Lease> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(connection));
      }
    }
    TS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, Connection::Open(path_, options_));
    // A reader's page cache is dropped whenever another connection has committed (WAL), which
    // under load is before nearly every read: a small cache loses nothing and keeps the pool's
    // memory bounded (SQLite's default would be 2 MiB per connection).
    TS_RETURN_IF_ERROR(connection->ExecScript("PRAGMA cache_size = -256"));
    return Lease(this, std::move(connection));
  }

  void Release(std::unique_ptr<Connection> connection) {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int>(idle_.size()) < options_.max_idle_connections) {
      idle_.push_back(std::move(connection));
    }
  }

  // Runs `fn(Connection&)` (returning Status or StatusOr<T>) inside the writer's next batch
  // transaction and returns its result once that transaction has committed (and synced). A
  // failure of `fn` rolls back `fn`'s changes alone; a failed commit fails every call in the
  // batch. See GroupCommitWriter.
  template <typename Fn>
  auto Write(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    using Result = std::invoke_result_t<Fn, Connection&>;
    std::optional<Result> result;
    Status status = writer_.Run([&](Connection& c) -> Status {
      result.emplace(fn(c));
      return StatusOf(*result);
    });
    if (!status.ok()) return status;
    return std::move(*result);
  }

  // Write's non-blocking twin: runs `fn` in the writer's next batch and calls `done` with its
  // result on the writer thread once the batch has committed (see GroupCommitWriter::RunAsync).
  template <typename Result, typename Fn>
  void WriteAsync(Fn fn, std::function<void(Result)> done) {
    auto result = std::make_shared<std::optional<Result>>();
    writer_.RunAsync(
        [fn = std::move(fn), result](Connection& c) -> Status {
          result->emplace(fn(c));
          return StatusOf(**result);
        },
        [result, done = std::move(done)](Status status) {
          if (!status.ok()) {
            done(Result(std::move(status)));
          } else {
            done(std::move(**result));
          }
        });
  }

  Status StartWriter(std::unique_ptr<Connection> connection) {
    // The writer checkpoints (SqliteStoreOptions): every 10,000 pages under heavy load rather
    // than SQLite's 1,000, so index pages rewritten by many batches are copied back once, not
    // ten times (8% less server CPU per refresh at saturation), and every 1,000 under light
    // load, so that a checkpoint then is short (docs/design/storage.md).
    // The WAL file is cut back to 64 MiB after each checkpoint so the disk it takes stays
    // bounded.
    TS_RETURN_IF_ERROR(connection->ExecScript("PRAGMA journal_size_limit = 67108864"));
    return writer_.Start(std::move(connection), options_);
  }

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

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

StatusOr<std::shared_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  return Open(path, SqliteStoreOptions());
}

StatusOr<std::shared_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                         const SqliteStoreOptions& options) {
  // Every pooled connection must see the same database, which rules out in-memory ones.
  if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0) {
    return InvalidArgumentError("SqliteStore needs a plain file path, not \"" + path + "\"");
  }
  if (sqlite3_threadsafe() == 0) {
    return FailedPreconditionError("SQLite was built without thread support");
  }
  if (options.checkpoint_pages < 1 || options.light_load_checkpoint_pages < 1 ||
      options.light_load_batches < 1 || options.light_load_batch_size < 0) {
    return InvalidArgumentError(
        "SqliteStoreOptions: checkpoint_pages, light_load_checkpoint_pages and "
        "light_load_batches must be at least 1, light_load_batch_size at least 0");
  }
  TS_RETURN_IF_ERROR(CreateParentDirectories(path));
  TS_RETURN_IF_ERROR(CreateDatabaseFile(path));
  TS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection, Connection::Open(path, options));
  {
    // WAL is a property of the file: readers keep a snapshot while one writer appends.
    TS_ASSIGN_OR_RETURN(Statement stmt, connection->Prepare("PRAGMA journal_mode = WAL"));
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row || stmt.Text(0) != "wal") {
      return InternalError("cannot switch " + path + " to WAL journal mode");
    }
  }
  TS_RETURN_IF_ERROR(ApplyMigrations(*connection));
  TS_RETURN_IF_ERROR(IndexUnindexedUsers(*connection));
  auto impl = std::make_unique<Impl>(path, options);
  TS_RETURN_IF_ERROR(impl->StartWriter(std::move(connection)));
  return std::shared_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

// --- instance ---

Status SqliteStore::PutInstance(const Instance& instance) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("INSERT INTO instance (singleton, instance_arn, instance_id, identity_store_id, "
                  "owner_account_id, region, name, created_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (singleton) DO UPDATE SET instance_arn = excluded.instance_arn, "
                  "instance_id = excluded.instance_id, "
                  "identity_store_id = excluded.identity_store_id, "
                  "owner_account_id = excluded.owner_account_id, region = excluded.region, "
                  "name = excluded.name, created_at = excluded.created_at"));
    stmt.Bind(instance.instance_arn)
        .Bind(instance.instance_id)
        .Bind(instance.identity_store_id)
        .Bind(instance.owner_account_id)
        .Bind(instance.region)
        .Bind(instance.name)
        .Bind(instance.created_at);
    return stmt.Exec();
  });
}

StatusOr<Instance> SqliteStore::GetInstance() {
  return impl_->Read([&](Connection& c) -> StatusOr<Instance> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT instance_arn, instance_id, identity_store_id, owner_account_id, region, "
                  "name, created_at FROM instance WHERE singleton = 1"));
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no instance has been stored");
    Instance i;
    i.instance_arn = stmt.Text(0);
    i.instance_id = stmt.Text(1);
    i.identity_store_id = stmt.Text(2);
    i.owner_account_id = stmt.Text(3);
    i.region = stmt.Text(4);
    i.name = stmt.Text(5);
    i.created_at = stmt.Int(6);
    return i;
  });
}

// --- meta ---

Status SqliteStore::PutMeta(const std::string& key, const std::string& value) {
  return impl_->Write([&](Connection& c) -> Status {
    return Change(c,
                  "INSERT INTO meta (key, value) VALUES (?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                  key, value)
        .status();
  });
}

StatusOr<std::string> SqliteStore::GetMeta(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::string> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT value FROM meta WHERE key = ?"));
    stmt.Bind(key);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such meta key: " + key);
    return stmt.Text(0);
  });
}

// --- users ---

namespace {
// Rewrites the user's attribute-index rows (attribute_index.h) inside the caller's transaction.
Status WriteUserIndex(Connection& c, const User& user) {
  TS_RETURN_IF_ERROR(Change(c, "DELETE FROM user_index WHERE user_id = ?", user.user_id).status());
  for (const auto& [path, value] : UserIndexEntries(user)) {
    TS_RETURN_IF_ERROR(Change(c, "INSERT INTO user_index (user_id, path, value) VALUES (?, ?, ?)",
                              user.user_id, path, value)
                           .status());
  }
  return OkStatus();
}

Status WriteGroupIndex(Connection& c, const Group& group) {
  TS_RETURN_IF_ERROR(
      Change(c, "DELETE FROM group_index WHERE group_id = ?", group.group_id).status());
  for (const auto& [path, value] : GroupIndexEntries(group)) {
    TS_RETURN_IF_ERROR(Change(c, "INSERT INTO group_index (group_id, path, value) VALUES (?, ?, ?)",
                              group.group_id, path, value)
                           .status());
  }
  return OkStatus();
}

Status IndexUnindexedUsers(Connection& c) {
  std::vector<User> users;
  {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id NOT IN "
                                  "(SELECT user_id FROM user_index)"));
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(ReadUser(stmt));
    }
  }
  if (users.empty()) return OkStatus();
  Transaction txn(c);
  TS_RETURN_IF_ERROR(txn.BeginImmediate());
  for (const User& user : users) TS_RETURN_IF_ERROR(WriteUserIndex(c, user));
  return txn.Commit();
}

Status UserConflict(const Statement& stmt, const User& user) {
  if (stmt.ErrorMessage().find("users.user_name") != std::string::npos) {
    return AlreadyExistsError("user name already exists: " + user.user_name);
  }
  return AlreadyExistsError("user already exists: " + user.user_id);
}
}  // namespace

Status SqliteStore::CreateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO users (" TS_USER_COLUMNS
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(user.user_id)
        .Bind(user.identity_store_id)
        .Bind(user.user_name)
        .Bind(user.display_name)
        .Bind(user.attributes_json)
        .Bind(user.password_hash)
        .Bind(user.created_at)
        .Bind(user.updated_at);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return UserConflict(stmt, user);
    TS_RETURN_IF_ERROR(status);
    return WriteUserIndex(c, user);
  });
}

Status SqliteStore::UpdateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("UPDATE users SET identity_store_id = ?, user_name = ?, display_name = ?, "
                  "attributes_json = ?, password_hash = ?, updated_at = ? WHERE user_id = ?"));
    stmt.Bind(user.identity_store_id)
        .Bind(user.user_name)
        .Bind(user.display_name)
        .Bind(user.attributes_json)
        .Bind(user.password_hash)
        .Bind(user.updated_at)
        .Bind(user.user_id);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return UserConflict(stmt, user);
    TS_RETURN_IF_ERROR(status);
    if (stmt.Changes() == 0) return NotFoundError("no such user: " + user.user_id);
    return WriteUserIndex(c, user);
  });
}

StatusOr<User> SqliteStore::GetUser(const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id = ?"));
    stmt.Bind(user_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such user: " + user_id);
    return ReadUser(stmt);
  });
}

StatusOr<User> SqliteStore::GetUserByName(const std::string& user_name) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_name = ?"));
    stmt.Bind(user_name);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such user name: " + user_name);
    return ReadUser(stmt);
  });
}

StatusOr<std::vector<User>> SqliteStore::ListUsers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users ORDER BY user_name"));
    std::vector<User> users;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(ReadUser(stmt));
    }
    return users;
  });
}

Status SqliteStore::DeleteUser(const std::string& user_id, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c, "DELETE FROM users WHERE user_id = ?", user_id));
    if (deleted == 0) return NotFoundError("no such user: " + user_id);
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE user_id = ? AND revoked_at = 0",
                              now, user_id)
                           .status());
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE sign_in_sessions SET revoked_at = ? "
                              "WHERE user_id = ? AND revoked_at = 0",
                              now, user_id)
                           .status());
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM authorization_codes WHERE user_id = ? AND consumed_at = 0", user_id)
            .status());
    return Change(c, "DELETE FROM assignments WHERE principal_id = ?", user_id).status();
  });
}

// --- applications ---

Status SqliteStore::PutApplication(const Application& app) {
  std::vector<std::pair<std::string, std::string>> scopes;
  for (const auto& [scope, targets] : app.access_scopes) {
    TS_ASSIGN_OR_RETURN(std::string joined, JoinList(targets, "AuthorizedTargets"));
    scopes.emplace_back(scope, std::move(joined));
  }
  return impl_->Write([&](Connection& c) -> Status {
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare(
              "INSERT INTO applications (" TS_APPLICATION_COLUMNS
              ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (application_arn) DO UPDATE "
              "SET instance_arn = excluded.instance_arn, "
              "application_provider_arn = excluded.application_provider_arn, "
              "name = excluded.name, description = excluded.description, "
              "status = excluded.status, assignment_required = excluded.assignment_required, "
              "actor_policy_json = excluded.actor_policy_json, "
              "created_at = excluded.created_at, "
              "portal_options_json = excluded.portal_options_json"));
      stmt.Bind(app.application_arn)
          .Bind(app.instance_arn)
          .Bind(app.application_provider_arn)
          .Bind(app.name)
          .Bind(app.description)
          .Bind(app.status)
          .Bind(app.assignment_required)
          .Bind(app.actor_policy_json)
          .Bind(app.created_at)
          .Bind(app.portal_options_json);
      TS_RETURN_IF_ERROR(stmt.Exec());
    }
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM application_grants WHERE application_arn = ?", app.application_arn)
            .status());
    for (const auto& [grant_type, grant_json] : app.grants) {
      TS_RETURN_IF_ERROR(Change(c,
                                "INSERT INTO application_grants "
                                "(application_arn, grant_type, grant_json) VALUES (?, ?, ?)",
                                app.application_arn, grant_type, grant_json)
                             .status());
    }
    TS_RETURN_IF_ERROR(Change(c, "DELETE FROM application_access_scopes WHERE application_arn = ?",
                              app.application_arn)
                           .status());
    for (const auto& [scope, targets] : scopes) {
      TS_RETURN_IF_ERROR(Change(c,
                                "INSERT INTO application_access_scopes "
                                "(application_arn, scope, authorized_targets) VALUES (?, ?, ?)",
                                app.application_arn, scope, targets)
                             .status());
    }
    return OkStatus();
  });
}

StatusOr<Application> SqliteStore::GetApplication(const std::string& application_arn) {
  return impl_->Snapshot([&](Connection& c) -> StatusOr<Application> {
    Application app;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT " TS_APPLICATION_COLUMNS
                                    " FROM applications WHERE application_arn = ?"));
      stmt.Bind(application_arn);
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFoundError("no such application: " + application_arn);
      app = ReadApplication(stmt);
    }
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT grant_type, grant_json FROM application_grants "
                                    "WHERE application_arn = ?"));
      stmt.Bind(application_arn);
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        app.grants[stmt.Text(0)] = stmt.Text(1);
      }
    }
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare("SELECT scope, authorized_targets FROM application_access_scopes "
                    "WHERE application_arn = ?"));
      stmt.Bind(application_arn);
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        app.access_scopes[stmt.Text(0)] = SplitList(stmt.Text(1));
      }
    }
    return app;
  });
}

StatusOr<std::vector<Application>> SqliteStore::ListApplications() {
  return impl_->Snapshot([&](Connection& c) -> StatusOr<std::vector<Application>> {
    std::vector<Application> apps;
    std::unordered_map<std::string, size_t> index;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_APPLICATION_COLUMNS
                                                    " FROM applications ORDER BY application_arn"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        apps.push_back(ReadApplication(stmt));
        index[apps.back().application_arn] = apps.size() - 1;
      }
    }
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare("SELECT application_arn, grant_type, grant_json FROM application_grants"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        auto it = index.find(stmt.Text(0));
        if (it != index.end()) apps[it->second].grants[stmt.Text(1)] = stmt.Text(2);
      }
    }
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT application_arn, scope, authorized_targets "
                                    "FROM application_access_scopes"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        auto it = index.find(stmt.Text(0));
        if (it != index.end()) {
          apps[it->second].access_scopes[stmt.Text(1)] = SplitList(stmt.Text(2));
        }
      }
    }
    return apps;
  });
}

Status SqliteStore::DeleteApplication(const std::string& application_arn, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    // Grants, access scopes and assignments go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(
        int64_t deleted,
        Change(c, "DELETE FROM applications WHERE application_arn = ?", application_arn));
    if (deleted == 0) return NotFoundError("no such application: " + application_arn);
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM tags WHERE resource_arn = ?", application_arn).status());
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE application_arn = ? AND revoked_at = 0",
                              now, application_arn)
                           .status());
    return Change(c,
                  "DELETE FROM authorization_codes WHERE application_arn = ? AND consumed_at = 0",
                  application_arn)
        .status();
  });
}

Status SqliteStore::PutAssignment(const std::string& application_arn,
                                  const std::string& principal_id,
                                  const std::string& principal_type) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("INSERT INTO assignments (application_arn, principal_id, principal_type) "
                  "VALUES (?, ?, ?) ON CONFLICT (application_arn, principal_id) "
                  "DO UPDATE SET principal_type = excluded.principal_type"));
    stmt.Bind(application_arn).Bind(principal_id).Bind(principal_type);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return status;
  });
}

Status SqliteStore::DeleteAssignment(const std::string& application_arn,
                                     const std::string& principal_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c,
                                                "DELETE FROM assignments "
                                                "WHERE application_arn = ? AND principal_id = ?",
                                                application_arn, principal_id));
    if (deleted == 0) {
      return NotFoundError("no such assignment: " + principal_id + " to " + application_arn);
    }
    return OkStatus();
  });
}

StatusOr<bool> SqliteStore::IsAssigned(const std::string& application_arn,
                                       const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<bool> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_USER_ASSIGNED("?1", "?2")));
    stmt.Bind(application_arn).Bind(user_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row && stmt.Int(0) != 0;
  });
}

// --- IAM principals and access keys ---

Status SqliteStore::PutPrincipal(const IamPrincipal& principal) {
  return impl_->Write([&](Connection& c) -> Status {
    return Change(c,
                  "INSERT INTO iam_principals (arn, account_id, identity_policy_json, created_at) "
                  "VALUES (?, ?, ?, ?) ON CONFLICT (arn) DO UPDATE SET "
                  "account_id = excluded.account_id, "
                  "identity_policy_json = excluded.identity_policy_json, "
                  "created_at = excluded.created_at",
                  principal.arn, principal.account_id, principal.identity_policy_json,
                  principal.created_at)
        .status();
  });
}

StatusOr<IamPrincipal> SqliteStore::GetPrincipal(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<IamPrincipal> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT arn, account_id, identity_policy_json, created_at "
                                  "FROM iam_principals WHERE arn = ?"));
    stmt.Bind(arn);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such IAM principal: " + arn);
    IamPrincipal p;
    p.arn = stmt.Text(0);
    p.account_id = stmt.Text(1);
    p.identity_policy_json = stmt.Text(2);
    p.created_at = stmt.Int(3);
    return p;
  });
}

Status SqliteStore::CreateAccessKey(const AccessKey& key) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO access_keys (" TS_ACCESS_KEY_COLUMNS
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(key.access_key_id)
        .Bind(key.principal_arn)
        .BindBlob(key.secret_sealed)
        .Bind(key.session_token_hash)
        .Bind(key.expires_at)
        .Bind(key.active)
        .Bind(key.created_at);
    return ExecInsert(stmt, "access key already exists: " + key.access_key_id);
  });
}

StatusOr<AccessKey> SqliteStore::GetAccessKey(const std::string& access_key_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<AccessKey> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_ACCESS_KEY_COLUMNS
                                                  " FROM access_keys WHERE access_key_id = ?"));
    stmt.Bind(access_key_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such access key: " + access_key_id);
    return ReadAccessKey(stmt);
  });
}

StatusOr<std::vector<AccessKey>> SqliteStore::ListAccessKeys(const std::string& principal_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<AccessKey>> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_ACCESS_KEY_COLUMNS
                                                  " FROM access_keys WHERE principal_arn = ? "
                                                  "ORDER BY created_at, access_key_id"));
    stmt.Bind(principal_arn);
    std::vector<AccessKey> keys;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      keys.push_back(ReadAccessKey(stmt));
    }
    return keys;
  });
}

Status SqliteStore::DeleteAccessKey(const std::string& access_key_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        int64_t deleted,
        Change(c, "DELETE FROM access_keys WHERE access_key_id = ?", access_key_id));
    if (deleted == 0) return NotFoundError("no such access key: " + access_key_id);
    return OkStatus();
  });
}

// --- signing keys ---

namespace {
Status UpsertSigningKey(Connection& c, const SigningKey& key) {
  TS_ASSIGN_OR_RETURN(
      Statement stmt,
      c.Prepare("INSERT INTO signing_keys (" TS_SIGNING_KEY_COLUMNS
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO UPDATE SET "
                "alg = excluded.alg, private_key_sealed = excluded.private_key_sealed, "
                "public_jwk_json = excluded.public_jwk_json, created_at = excluded.created_at, "
                "activated_at = excluded.activated_at, retired_at = excluded.retired_at, "
                "delete_after = excluded.delete_after"));
  stmt.Bind(key.kid)
      .Bind(key.alg)
      .BindBlob(key.private_key_sealed)
      .Bind(key.public_jwk_json)
      .Bind(key.created_at)
      .Bind(key.activated_at)
      .Bind(key.retired_at)
      .Bind(key.delete_after);
  return stmt.Exec();
}
}  // namespace

Status SqliteStore::PutSigningKey(const SigningKey& key) {
  return impl_->Write([&](Connection& c) -> Status { return UpsertSigningKey(c, key); });
}

StatusOr<std::vector<SigningKey>> SqliteStore::ListSigningKeys() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<SigningKey>> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_SIGNING_KEY_COLUMNS
                                                  " FROM signing_keys ORDER BY created_at, kid"));
    std::vector<SigningKey> keys;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      keys.push_back(ReadSigningKey(stmt));
    }
    return keys;
  });
}

// --- sign-in sessions ---

Status SqliteStore::CreateSession(const SignInSession& session) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO sign_in_sessions (" TS_SESSION_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(session.session_hash)
        .Bind(session.user_id)
        .Bind(session.csrf_secret)
        .Bind(session.auth_time)
        .Bind(session.created_at)
        .Bind(session.expires_at)
        .Bind(session.revoked_at);
    return ExecInsert(stmt, "sign-in session already exists");
  });
}

StatusOr<SignInSession> SqliteStore::GetSession(const std::string& session_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<SignInSession> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_SESSION_COLUMNS
                                                  " FROM sign_in_sessions WHERE session_hash = ?"));
    stmt.Bind(session_hash);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such sign-in session");
    return ReadSession(stmt);
  });
}

Status SqliteStore::RevokeSession(const std::string& session_hash, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    // The session must exist before anything else happens: families from grants without a
    // browser session carry an empty session_hash and must not match.
    TS_ASSIGN_OR_RETURN(int64_t changed, Change(c,
                                                "UPDATE sign_in_sessions SET revoked_at = ? "
                                                "WHERE session_hash = ? AND revoked_at = 0",
                                                now, session_hash));
    if (changed == 0) {
      TS_ASSIGN_OR_RETURN(
          bool exists,
          Exists(c, "SELECT 1 FROM sign_in_sessions WHERE session_hash = ?", session_hash));
      if (!exists) return NotFoundError("no such sign-in session");
    }
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE session_hash = ? AND revoked_at = 0",
                              now, session_hash)
                           .status());
    return Change(c, "DELETE FROM authorization_codes WHERE session_hash = ? AND consumed_at = 0",
                  session_hash)
        .status();
  });
}

// --- authorization codes ---

Status SqliteStore::CreateAuthorizationCode(const AuthorizationCode& code) {
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(code.scopes, "scope"));
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO authorization_codes (" TS_CODE_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
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
        .Bind(code.family_id);
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

namespace {

// RedeemAuthorizationCode's transaction body (store.h), shared by the blocking and the
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
    // RFC 6749 §4.1.2: a code used twice should revoke what the first use issued.
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE family_id = ? AND revoked_at = 0",
                              now, previous_family)
                           .status());
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

// CreateExchangedFamily's transaction body (store.h), shared by the blocking and the asynchronous
// call. The one writer serializes it with every revocation, so the parent's state read here is
// the state the insert commits against.
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

Status SqliteStore::RevokeFamily(const std::string& family_id, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists,
                        Exists(c, "SELECT 1 FROM token_families WHERE family_id = ?", family_id));
    if (!exists) return NotFoundError("no such token family: " + family_id);
    // The family and everything exchanged from it, transitively (token exchange children).
    TS_RETURN_IF_ERROR(Change(c,
                              "WITH RECURSIVE tree(id) AS (SELECT ? UNION SELECT f.family_id "
                              "FROM token_families f JOIN tree ON f.parent_family_id = tree.id) "
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE family_id IN (SELECT id FROM tree) AND revoked_at = 0",
                              family_id, now)
                           .status());
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

// RotateRefreshToken's transaction body (store.h), shared by the blocking and the asynchronous
// call.
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

// --- trusted token issuers ---

#define TS_TTI_COLUMNS                                                       \
  "arn, instance_arn, name, issuer_type, issuer_url, claim_attribute_path, " \
  "identity_store_attribute_path, jwks_retrieval_option, created_at"

namespace {
TrustedTokenIssuer ReadTrustedTokenIssuer(Statement& s) {
  TrustedTokenIssuer t;
  t.arn = s.Text(0);
  t.instance_arn = s.Text(1);
  t.name = s.Text(2);
  t.type = s.Text(3);
  t.issuer_url = s.Text(4);
  t.claim_attribute_path = s.Text(5);
  t.identity_store_attribute_path = s.Text(6);
  t.jwks_retrieval_option = s.Text(7);
  t.created_at = s.Int(8);
  return t;
}
}  // namespace

Status SqliteStore::PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) {
  if (issuer.arn.empty()) return InvalidArgumentError("trusted token issuer arn is empty");
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT OR REPLACE INTO trusted_token_issuers (" TS_TTI_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(issuer.arn)
        .Bind(issuer.instance_arn)
        .Bind(issuer.name)
        .Bind(issuer.type)
        .Bind(issuer.issuer_url)
        .Bind(issuer.claim_attribute_path)
        .Bind(issuer.identity_store_attribute_path)
        .Bind(issuer.jwks_retrieval_option)
        .Bind(issuer.created_at);
    return stmt.Exec();
  });
}

StatusOr<TrustedTokenIssuer> SqliteStore::GetTrustedTokenIssuer(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<TrustedTokenIssuer> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_TTI_COLUMNS
                                                  " FROM trusted_token_issuers WHERE arn = ?"));
    stmt.Bind(arn);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such trusted token issuer: " + arn);
    return ReadTrustedTokenIssuer(stmt);
  });
}

StatusOr<std::vector<TrustedTokenIssuer>> SqliteStore::ListTrustedTokenIssuers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<TrustedTokenIssuer>> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_TTI_COLUMNS
                                                  " FROM trusted_token_issuers ORDER BY arn"));
    std::vector<TrustedTokenIssuer> out;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(ReadTrustedTokenIssuer(stmt));
    }
    return out;
  });
}

// --- admin plane: paging, lookups, groups, per-item application changes, tags ---

namespace {

// Runs a paged SELECT whose SQL ends in "key > ? ORDER BY key LIMIT ?" (after binding `prefix`
// arguments), reading rows with `read` and taking the next key with `key_of`.
template <typename T, typename ReadFn, typename KeyFn, typename... Prefix>
StatusOr<Page<T>> RunPage(Connection& c, std::string_view sql, const PageRequest& page, ReadFn read,
                          KeyFn key_of, const Prefix&... prefix) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
  (stmt.Bind(prefix), ...);
  // One extra row tells whether another page follows.
  stmt.Bind(page.after).Bind(static_cast<int64_t>(page.limit) + 1);
  Page<T> out;
  while (true) {
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(out.items.size()) == page.limit) {
      out.next = key_of(out.items.back());
      break;
    }
    out.items.push_back(read(stmt));
  }
  return out;
}

Status LoadApplicationChildren(Connection& c, Application& app) {
  {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT grant_type, grant_json FROM application_grants "
                                  "WHERE application_arn = ?"));
    stmt.Bind(app.application_arn);
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      app.grants[stmt.Text(0)] = stmt.Text(1);
    }
  }
  TS_ASSIGN_OR_RETURN(Statement stmt,
                      c.Prepare("SELECT scope, authorized_targets FROM application_access_scopes "
                                "WHERE application_arn = ?"));
  stmt.Bind(app.application_arn);
  while (true) {
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    app.access_scopes[stmt.Text(0)] = SplitList(stmt.Text(1));
  }
  return OkStatus();
}

StatusOr<bool> ApplicationExists(Connection& c, const std::string& application_arn) {
  return Exists(c, "SELECT 1 FROM applications WHERE application_arn = ?", application_arn);
}

Status GroupConflict(const Statement& stmt, const Group& group) {
  if (stmt.ErrorMessage().find("groups.display_name") != std::string::npos) {
    return AlreadyExistsError("group display name already exists: " + group.display_name);
  }
  return AlreadyExistsError("group already exists: " + group.group_id);
}

}  // namespace

StatusOr<Page<User>> SqliteStore::ListUsersPage(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<User>> {
    return RunPage<User>(
        c, "SELECT " TS_USER_COLUMNS " FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?", page,
        ReadUser, [](const User& u) { return u.user_id; });
  });
}

StatusOr<std::vector<User>> SqliteStore::FindUsersByAttribute(const std::string& path,
                                                              const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id IN (SELECT user_id FROM "
                  "user_index WHERE path = ? AND value = ?) ORDER BY user_id"));
    stmt.Bind(key.first).Bind(key.second);
    std::vector<User> users;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      users.push_back(ReadUser(stmt));
    }
    return users;
  });
}

Status SqliteStore::CreateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO groups (" TS_GROUP_COLUMNS
                                                  ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(group.group_id)
        .Bind(group.identity_store_id)
        .Bind(group.display_name)
        .Bind(group.description)
        .Bind(group.attributes_json)
        .Bind(group.created_at)
        .Bind(group.updated_at);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return GroupConflict(stmt, group);
    TS_RETURN_IF_ERROR(status);
    return WriteGroupIndex(c, group);
  });
}

Status SqliteStore::UpdateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("UPDATE groups SET identity_store_id = ?, display_name = ?, description = ?, "
                  "attributes_json = ?, updated_at = ? WHERE group_id = ?"));
    stmt.Bind(group.identity_store_id)
        .Bind(group.display_name)
        .Bind(group.description)
        .Bind(group.attributes_json)
        .Bind(group.updated_at)
        .Bind(group.group_id);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) return GroupConflict(stmt, group);
    TS_RETURN_IF_ERROR(status);
    if (stmt.Changes() == 0) return NotFoundError("no such group: " + group.group_id);
    return WriteGroupIndex(c, group);
  });
}

StatusOr<Group> SqliteStore::GetGroup(const std::string& group_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<Group> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id = ?"));
    stmt.Bind(group_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such group: " + group_id);
    return ReadGroup(stmt);
  });
}

StatusOr<Page<Group>> SqliteStore::ListGroups(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Group>> {
    return RunPage<Group>(
        c, "SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id > ? ORDER BY group_id LIMIT ?",
        page, ReadGroup, [](const Group& g) { return g.group_id; });
  });
}

StatusOr<std::vector<Group>> SqliteStore::FindGroupsByAttribute(const std::string& path,
                                                                const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Group>> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id IN (SELECT group_id "
                  "FROM group_index WHERE path = ? AND value = ?) ORDER BY group_id"));
    stmt.Bind(key.first).Bind(key.second);
    std::vector<Group> groups;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      groups.push_back(ReadGroup(stmt));
    }
    return groups;
  });
}

Status SqliteStore::DeleteGroup(const std::string& group_id) {
  return impl_->Write([&](Connection& c) -> Status {
    // Memberships and index rows go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(int64_t deleted,
                        Change(c, "DELETE FROM groups WHERE group_id = ?", group_id));
    if (deleted == 0) return NotFoundError("no such group: " + group_id);
    return Change(c, "DELETE FROM assignments WHERE principal_id = ?", group_id).status();
  });
}

Status SqliteStore::CreateGroupMembership(const GroupMembership& m) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool group,
                        Exists(c, "SELECT 1 FROM groups WHERE group_id = ?", m.group_id));
    if (!group) return NotFoundError("no such group: " + m.group_id);
    TS_ASSIGN_OR_RETURN(bool user, Exists(c, "SELECT 1 FROM users WHERE user_id = ?", m.user_id));
    if (!user) return NotFoundError("no such user: " + m.user_id);
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT INTO group_memberships (" TS_MEMBERSHIP_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?)"));
    stmt.Bind(m.membership_id)
        .Bind(m.identity_store_id)
        .Bind(m.group_id)
        .Bind(m.user_id)
        .Bind(m.created_at);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.UniqueViolated()) {
      if (stmt.ErrorMessage().find("membership_id") != std::string::npos) {
        return AlreadyExistsError("membership already exists: " + m.membership_id);
      }
      return AlreadyExistsError("user " + m.user_id + " is already a member of group " +
                                m.group_id);
    }
    return status;
  });
}

StatusOr<GroupMembership> SqliteStore::GetGroupMembership(const std::string& membership_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<GroupMembership> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_MEMBERSHIP_COLUMNS
                                  " FROM group_memberships WHERE membership_id = ?"));
    stmt.Bind(membership_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such membership: " + membership_id);
    return ReadMembership(stmt);
  });
}

Status SqliteStore::DeleteGroupMembership(const std::string& membership_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        int64_t deleted,
        Change(c, "DELETE FROM group_memberships WHERE membership_id = ?", membership_id));
    if (deleted == 0) return NotFoundError("no such membership: " + membership_id);
    return OkStatus();
  });
}

StatusOr<Page<GroupMembership>> SqliteStore::ListGroupMemberships(const std::string& group_id,
                                                                  const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<GroupMembership>> {
    return RunPage<GroupMembership>(
        c,
        "SELECT " TS_MEMBERSHIP_COLUMNS
        " FROM group_memberships WHERE group_id = ? AND "
        "membership_id > ? ORDER BY membership_id LIMIT ?",
        page, ReadMembership, [](const GroupMembership& m) { return m.membership_id; }, group_id);
  });
}

StatusOr<std::vector<GroupMembership>> SqliteStore::ListGroupMembershipsForUser(
    const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<GroupMembership>> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT " TS_MEMBERSHIP_COLUMNS
                                  " FROM group_memberships WHERE user_id = ? ORDER BY group_id"));
    stmt.Bind(user_id);
    std::vector<GroupMembership> out;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(ReadMembership(stmt));
    }
    return out;
  });
}

StatusOr<Page<Application>> SqliteStore::ListApplicationsPage(const PageRequest& page) {
  return impl_->Snapshot([&](Connection& c) -> StatusOr<Page<Application>> {
    TS_ASSIGN_OR_RETURN(
        Page<Application> out,
        RunPage<Application>(c,
                             "SELECT " TS_APPLICATION_COLUMNS " FROM applications WHERE "
                             "application_arn > ? ORDER BY application_arn LIMIT ?",
                             page, ReadApplication,
                             [](const Application& a) { return a.application_arn; }));
    for (Application& app : out.items) TS_RETURN_IF_ERROR(LoadApplicationChildren(c, app));
    return out;
  });
}

Status SqliteStore::UpdateApplication(const Application& app) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t changed,
                        Change(c,
                               "UPDATE applications SET name = ?, description = ?, status = ?, "
                               "assignment_required = ?, portal_options_json = ? "
                               "WHERE application_arn = ?",
                               app.name, app.description, app.status, app.assignment_required,
                               app.portal_options_json, app.application_arn));
    if (changed == 0) return NotFoundError("no such application: " + app.application_arn);
    return OkStatus();
  });
}

Status SqliteStore::PutApplicationGrant(const std::string& application_arn,
                                        const std::string& grant_type,
                                        const std::string& grant_json) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    return Change(c,
                  "INSERT INTO application_grants (application_arn, grant_type, grant_json) "
                  "VALUES (?, ?, ?) ON CONFLICT (application_arn, grant_type) "
                  "DO UPDATE SET grant_json = excluded.grant_json",
                  application_arn, grant_type, grant_json)
        .status();
  });
}

Status SqliteStore::DeleteApplicationGrant(const std::string& application_arn,
                                           const std::string& grant_type) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c,
                                                "DELETE FROM application_grants WHERE "
                                                "application_arn = ? AND grant_type = ?",
                                                application_arn, grant_type));
    if (deleted == 0) return NotFoundError("no such grant: " + grant_type);
    return OkStatus();
  });
}

Status SqliteStore::PutApplicationAccessScope(const std::string& application_arn,
                                              const std::string& scope,
                                              const std::vector<std::string>& authorized_targets) {
  TS_ASSIGN_OR_RETURN(std::string joined, JoinList(authorized_targets, "AuthorizedTargets"));
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    return Change(c,
                  "INSERT INTO application_access_scopes "
                  "(application_arn, scope, authorized_targets) VALUES (?, ?, ?) "
                  "ON CONFLICT (application_arn, scope) "
                  "DO UPDATE SET authorized_targets = excluded.authorized_targets",
                  application_arn, scope, joined)
        .status();
  });
}

Status SqliteStore::DeleteApplicationAccessScope(const std::string& application_arn,
                                                 const std::string& scope) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c,
                                                "DELETE FROM application_access_scopes WHERE "
                                                "application_arn = ? AND scope = ?",
                                                application_arn, scope));
    if (deleted == 0) return NotFoundError("no such access scope: " + scope);
    return OkStatus();
  });
}

Status SqliteStore::SetActorPolicy(const std::string& application_arn,
                                   const std::string& actor_policy_json) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t changed, Change(c,
                                                "UPDATE applications SET actor_policy_json = ? "
                                                "WHERE application_arn = ?",
                                                actor_policy_json, application_arn));
    if (changed == 0) return NotFoundError("no such application: " + application_arn);
    return OkStatus();
  });
}

StatusOr<Page<Assignment>> SqliteStore::ListAssignments(const std::string& application_arn,
                                                        const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Assignment>> {
    return RunPage<Assignment>(
        c,
        "SELECT application_arn, principal_id, principal_type FROM assignments WHERE "
        "application_arn = ? AND principal_id > ? ORDER BY principal_id LIMIT ?",
        page,
        [](const Statement& s) {
          return Assignment{s.Text(0), s.Text(1), s.Text(2)};
        },
        [](const Assignment& a) { return a.principal_id; }, application_arn);
  });
}

Status SqliteStore::DeleteTrustedTokenIssuer(const std::string& arn) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t deleted,
                        Change(c, "DELETE FROM trusted_token_issuers WHERE arn = ?", arn));
    if (deleted == 0) return NotFoundError("no such trusted token issuer: " + arn);
    return Change(c, "DELETE FROM tags WHERE resource_arn = ?", arn).status();
  });
}

Status SqliteStore::TagResource(const std::string& resource_arn,
                                const std::map<std::string, std::string>& tags) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const auto& [key, value] : tags) {
      TS_RETURN_IF_ERROR(Change(c,
                                "INSERT INTO tags (resource_arn, tag_key, tag_value) "
                                "VALUES (?, ?, ?) ON CONFLICT (resource_arn, tag_key) "
                                "DO UPDATE SET tag_value = excluded.tag_value",
                                resource_arn, key, value)
                             .status());
    }
    return OkStatus();
  });
}

Status SqliteStore::UntagResource(const std::string& resource_arn,
                                  const std::vector<std::string>& keys) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const std::string& key : keys) {
      TS_RETURN_IF_ERROR(
          Change(c, "DELETE FROM tags WHERE resource_arn = ? AND tag_key = ?", resource_arn, key)
              .status());
    }
    return OkStatus();
  });
}

StatusOr<std::map<std::string, std::string>> SqliteStore::ListTags(
    const std::string& resource_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::map<std::string, std::string>> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT tag_key, tag_value FROM tags WHERE resource_arn = ?"));
    stmt.Bind(resource_arn);
    std::map<std::string, std::string> tags;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      tags[stmt.Text(0)] = stmt.Text(1);
    }
    return tags;
  });
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

// --- housekeeping ---

namespace {

// One stretch of PurgeExpired's sweep of refresh_tokens (docs/design/storage.md): visits up to
// `rows` rows after rowid `*cursor` in rowid order and deletes those expired or whose family is
// gone. refresh_tokens keeps no index by expiry or by family (each would take a random page per
// rotation), so the purge walks the table instead. Moves `*cursor` on, back to 0 at the end of
// the table; returns how many rows went and whether the end was reached.
StatusOr<std::pair<int64_t, bool>> SweepRefreshTokens(Connection& c, int64_t now, int64_t rows,
                                                      int64_t* cursor) {
  TS_ASSIGN_OR_RETURN(Statement stretch,
                      c.Prepare("SELECT count(*), max(rowid) FROM (SELECT rowid FROM "
                                "refresh_tokens WHERE rowid > ? ORDER BY rowid LIMIT ?)"));
  stretch.Bind(*cursor).Bind(rows);
  TS_ASSIGN_OR_RETURN(bool row, stretch.Step());
  if (!row) return InternalError("the refresh-token sweep's count returned no row");
  const int64_t visited = stretch.Int(0);
  const int64_t last = stretch.Int(1);
  TS_ASSIGN_OR_RETURN(row, stretch.Step());  // finish the statement
  int64_t deleted = 0;
  if (visited > 0) {
    TS_ASSIGN_OR_RETURN(deleted,
                        Change(c,
                               "DELETE FROM refresh_tokens WHERE rowid > ? AND rowid <= ? AND "
                               "((expires_at > 0 AND expires_at <= ?) OR NOT EXISTS (SELECT 1 FROM "
                               "token_families f WHERE f.family_id = refresh_tokens.family_id))",
                               *cursor, last, now));
  }
  const bool reached_end = visited < rows;
  *cursor = reached_end ? 0 : last;
  return std::make_pair(deleted, reached_end);
}

}  // namespace

// How often PurgeExpired's sweep of refresh_tokens starts a pass: expired tokens may stay this
// long past their expiry (unusable: every read checks it), live ones are visited this often.
constexpr int64_t kRefreshSweepSeconds = 600;

StatusOr<PurgeResult> SqliteStore::PurgeExpired(int64_t now, int batch) {
  if (batch <= 0) return InvalidArgumentError("batch must be positive");
  // Families before the sweep, so that it can take the tokens of a family purged in this call.
  // expires_at = 0 means "never".
  static constexpr std::string_view kDeletes[] = {
      "DELETE FROM authorization_codes WHERE rowid IN (SELECT rowid FROM authorization_codes "
      "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)",
      "DELETE FROM sign_in_sessions WHERE rowid IN (SELECT rowid FROM sign_in_sessions "
      "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)",
      "DELETE FROM token_families WHERE rowid IN (SELECT rowid FROM token_families "
      "WHERE expires_at > 0 AND expires_at <= ? LIMIT ?)",
      "DELETE FROM revoked_access_tokens WHERE rowid IN (SELECT rowid FROM "
      "revoked_access_tokens WHERE expires_at <= ? LIMIT ?)",
      "DELETE FROM used_assertions WHERE rowid IN (SELECT rowid FROM used_assertions "
      "WHERE expires_at <= ? LIMIT ?)",
      "DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures "
      "WHERE window_end <= ? LIMIT ?)",
  };
  return impl_->Write([&](Connection& c) -> StatusOr<PurgeResult> {
    PurgeResult result;
    for (std::string_view sql : kDeletes) {
      const int64_t remaining = batch - result.deleted;
      TS_ASSIGN_OR_RETURN(int64_t n, Change(c, sql, now, remaining));
      result.deleted += n;
      if (n == remaining) {
        result.finished = false;  // this table may hold more; the next call goes on
        return result;
      }
    }
    // The sweep visits as many rows as the batch has left, so one call's work stays bounded, and
    // starts a pass over the table at most every kRefreshSweepSeconds: live rows are visited
    // that often, not at every call of the housekeeper.
    const bool pass_due = impl_->refresh_sweep_rowid != 0 ||
                          now - impl_->refresh_sweep_ended_at >= kRefreshSweepSeconds;
    if (!pass_due) return result;
    TS_ASSIGN_OR_RETURN(auto swept, SweepRefreshTokens(c, now, batch - result.deleted,
                                                       &impl_->refresh_sweep_rowid));
    result.deleted += swept.first;
    result.finished = swept.second;
    if (result.finished) impl_->refresh_sweep_ended_at = now;
    return result;
  });
}

}  // namespace ts::storage

namespace ts::storage {

// --- coordination between nodes ---

Status SqliteStore::CreateMeta(const std::string& key, const std::string& value) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO meta (key, value) VALUES (?, ?)"));
    stmt.Bind(key).Bind(value);
    return ExecInsert(stmt, "meta key already exists: " + key);
  });
}

StatusOr<LoginFailures> SqliteStore::RecordLoginFailure(const std::string& key, int64_t now,
                                                        int64_t window_seconds) {
  if (window_seconds <= 0) return InvalidArgumentError("window_seconds must be positive");
  return impl_->Write([&](Connection& c) -> StatusOr<LoginFailures> {
    // An ended window (window_end <= now) starts afresh with this failure.
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("INSERT INTO login_failures (key, window_start, window_end, failures) "
                  "VALUES (?1, ?2, ?2 + ?3, 1) ON CONFLICT (key) DO UPDATE SET "
                  "window_start = CASE WHEN window_end <= ?2 THEN ?2 ELSE window_start END, "
                  "failures = CASE WHEN window_end <= ?2 THEN 1 ELSE failures + 1 END, "
                  "window_end = CASE WHEN window_end <= ?2 THEN ?2 + ?3 ELSE window_end END "
                  "RETURNING window_start, window_end, failures"));
    stmt.Bind(key).Bind(now).Bind(window_seconds);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return InternalError("login failure upsert returned no row");
    LoginFailures out{stmt.Int(0), stmt.Int(1), static_cast<int>(stmt.Int(2))};
    TS_ASSIGN_OR_RETURN(row, stmt.Step());  // finish the statement before COMMIT
    return out;
  });
}

StatusOr<LoginFailures> SqliteStore::GetLoginFailures(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<LoginFailures> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT window_start, window_end, failures FROM login_failures "
                                  "WHERE key = ?"));
    stmt.Bind(key);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no login failures recorded");
    return LoginFailures{stmt.Int(0), stmt.Int(1), static_cast<int>(stmt.Int(2))};
  });
}

Status SqliteStore::ClearLoginFailures(const std::string& key) {
  return impl_->Write([&](Connection& c) -> Status {
    return Change(c, "DELETE FROM login_failures WHERE key = ?", key).status();
  });
}

Status SqliteStore::UpdateSigningKeys(const SigningKeyUpdate& update) {
  // BEGIN IMMEDIATE serialises this with every other writer, in this process and others.
  return impl_->Write([&](Connection& c) -> Status {
    std::vector<SigningKey> current;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_SIGNING_KEY_COLUMNS
                                                    " FROM signing_keys ORDER BY created_at, kid"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        current.push_back(ReadSigningKey(stmt));
      }
    }
    TS_ASSIGN_OR_RETURN(std::vector<SigningKey> changed, update(current));
    for (const SigningKey& key : changed) TS_RETURN_IF_ERROR(UpsertSigningKey(c, key));
    return OkStatus();
  });
}

}  // namespace ts::storage
