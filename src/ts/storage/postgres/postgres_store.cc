#include "ts/storage/postgres/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/attribute_index.h"
#include "ts/storage/postgres/migrations.h"
#include "ts/storage/row_codec.h"

namespace ts::storage {

bool IsPostgresUrl(const std::string& db) {
  return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

namespace {

using internal::FamilyScopes;
using internal::JoinList;
using internal::SplitList;
using internal::ValidateFamily;

using postgres_internal::Migration;
using postgres_internal::PostgresMigrations;

// Advisory-lock key of schema migrations ("tessera" in ASCII, 0x74657373657261).
constexpr int64_t kMigrationLockKey = 0x74657373657261;

// SQLSTATE classes that mean "try again later" rather than "this request is wrong":
// 08 connection exception, 40001 serialization failure, 40P01 deadlock, 53 insufficient
// resources (too many connections, out of memory/disk), 57P01..57P03 admin/crash shutdown and
// "cannot connect now" (recovery), 25006 read-only transaction (a standby after failover),
// 55P03 lock_timeout reached, 57014 statement cancelled (statement_timeout).
bool IsTransientSqlState(std::string_view state) {
  return state.rfind("08", 0) == 0 || state == "40001" || state == "40P01" ||
         state.rfind("53", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "25006" || state == "55P03" || state == "57014";
}

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
  std::string Bytes(int row, int column) const {
    const std::string hex = Text(row, column);
    std::string out;
    if (hex.size() < 2) return out;
    out.reserve((hex.size() - 2) / 2);
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return 0;
    };
    for (size_t i = 2; i + 1 < hex.size(); i += 2) {
      out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
    }
    return out;
  }

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
                                                    std::atomic<int64_t>* round_trips) {
    // The URL is expanded in place of "dbname"; keywords before it are defaults it may override.
    const std::string timeout = std::to_string(options.connect_timeout_seconds);
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "tessera", url.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    auto connection = std::unique_ptr<Connection>(new Connection(conn, round_trips));
    if (conn == nullptr) return InternalError("libpq could not allocate a connection");
    if (PQstatus(conn) != CONNECTION_OK) {
      std::string message = PQerrorMessage(conn);
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
      }
      return UnavailableError("cannot connect to PostgreSQL: " + message);
    }
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    // UTC and hex bytea regardless of the server's defaults; a statement that waits on locks
    // for longer than 30 s is a bug or an outage, and the caller gets Unavailable instead.
    TS_RETURN_IF_ERROR(connection->ExecScript(
        "SET client_encoding = 'UTF8'; SET bytea_output = 'hex'; SET TimeZone = 'UTC'; "
        "SET lock_timeout = '30s'"));
    return connection;
  }

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
  bool LooksAlive() {
    if (broken()) return false;
    pollfd pfd{PQsocket(conn_), POLLIN, 0};
    if (pfd.fd < 0) return false;
    const int n = ::poll(&pfd, 1, 0);
    return n == 0;
  }

  // Runs `sql` as a prepared statement (prepared on first use on this connection).
  StatusOr<Result> Exec(std::string_view sql, const Params& params = Params()) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      const std::string name = "ts" + std::to_string(prepared_.size());
      round_trips_->fetch_add(1, std::memory_order_relaxed);
      PGresult* prepared = PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr);
      Result result(prepared);
      if (PQresultStatus(prepared) != PGRES_COMMAND_OK) return Fail(prepared, "prepare");
      it = prepared_.emplace(std::string(sql), name).first;
    }
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    params.Export(&values, &lengths, &formats);
    round_trips_->fetch_add(1, std::memory_order_relaxed);
    PGresult* raw = PQexecPrepared(conn_, it->second.c_str(), params.size(), values.data(),
                                   lengths.data(), formats.data(), /*resultFormat=*/0);
    Result result(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Fail(raw, "statement");
    last_state_.clear();
    last_table_.clear();
    return result;
  }

  // Runs uncached SQL without parameters (transaction control, settings, migrations).
  Status ExecScript(const std::string& sql) {
    round_trips_->fetch_add(1, std::memory_order_relaxed);
    PGresult* raw = PQexec(conn_, sql.c_str());
    Result result(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Fail(raw, "script");
    return OkStatus();
  }

  // The SQLSTATE and table of the last failure ("" when it had none).
  bool UniqueViolated() const { return last_state_ == "23505"; }
  bool ForeignKeyViolated() const { return last_state_ == "23503"; }
  const std::string& last_table() const { return last_table_; }

 private:
  Connection(PGconn* conn, std::atomic<int64_t>* round_trips)
      : conn_(conn), round_trips_(round_trips) {}

  Status Fail(PGresult* result, std::string_view what) {
    const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    const char* table =
        result != nullptr ? PQresultErrorField(result, PG_DIAG_TABLE_NAME) : nullptr;
    last_state_ = state != nullptr ? state : "";
    last_table_ = table != nullptr ? table : "";
    std::string message = result != nullptr ? PQresultErrorMessage(result) : "";
    if (message.empty()) message = PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    message = "PostgreSQL " + std::string(what) + ": " + message;
    // No SQLSTATE with a bad connection: the connection itself failed.
    if (PQstatus(conn_) != CONNECTION_OK || last_state_.empty() ||
        IsTransientSqlState(last_state_)) {
      // Drop the connection when it cannot serve again: it is gone, the server is shutting
      // down, or (25006) it reaches a standby after a failover; a fresh connection may reach
      // the new primary (with target_session_attrs=read-write in the URL).
      if (PQstatus(conn_) != CONNECTION_OK || last_state_.rfind("08", 0) == 0 ||
          last_state_.rfind("57P", 0) == 0 || last_state_ == "25006") {
        broken_ = true;
      }
      return UnavailableError(message);
    }
    return InternalError(message);
  }

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
  "auth_time, created_at, expires_at, consumed_at, family_id"
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

void AddFamily(Params& p, const TokenFamily& f, const std::string& scopes) {
  p.Add(f.family_id)
      .Add(f.application_arn)
      .Add(f.user_id)
      .Add(scopes)
      .Add(f.grant_type)
      .Add(f.session_hash)
      .Add(f.auth_time)
      .Add(f.created_at)
      .Add(f.expires_at)
      .Add(f.revoked_at)
      .Add(f.parent_family_id)
      .Add(f.act_json);
}

// A refresh token's seven values; an absent one still fills the slots (with placeholders) so one
// prepared statement serves both shapes.
void AddRefresh(Params& p, const std::optional<RefreshToken>& t, const std::string& scopes) {
  if (!t.has_value()) {
    p.Add("").Add("").Add("").Add(int64_t{0}).Add(int64_t{0}).Add(int64_t{0}).Add("");
    return;
  }
  p.Add(t->token_hash)
      .Add(t->family_id)
      .Add(scopes)
      .Add(t->created_at)
      .Add(t->expires_at)
      .Add(t->rotated_at)
      .Add(t->successor_hash);
}

User ReadUser(const Result& r, int row) {
  User u;
  u.user_id = r.Text(row, 0);
  u.identity_store_id = r.Text(row, 1);
  u.user_name = r.Text(row, 2);
  u.display_name = r.Text(row, 3);
  u.attributes_json = r.Text(row, 4);
  u.password_hash = r.Text(row, 5);
  u.created_at = r.Int(row, 6);
  u.updated_at = r.Int(row, 7);
  return u;
}

AccessKey ReadAccessKey(const Result& r, int row) {
  AccessKey k;
  k.access_key_id = r.Text(row, 0);
  k.principal_arn = r.Text(row, 1);
  k.secret_sealed = r.Bytes(row, 2);
  k.session_token_hash = r.Text(row, 3);
  k.expires_at = r.Int(row, 4);
  k.active = r.Bool(row, 5);
  k.created_at = r.Int(row, 6);
  return k;
}

SigningKey ReadSigningKey(const Result& r, int row) {
  SigningKey k;
  k.kid = r.Text(row, 0);
  k.alg = r.Text(row, 1);
  k.private_key_sealed = r.Bytes(row, 2);
  k.public_jwk_json = r.Text(row, 3);
  k.created_at = r.Int(row, 4);
  k.activated_at = r.Int(row, 5);
  k.retired_at = r.Int(row, 6);
  k.delete_after = r.Int(row, 7);
  return k;
}

SignInSession ReadSession(const Result& r, int row) {
  SignInSession x;
  x.session_hash = r.Text(row, 0);
  x.user_id = r.Text(row, 1);
  x.csrf_secret = r.Text(row, 2);
  x.auth_time = r.Int(row, 3);
  x.created_at = r.Int(row, 4);
  x.expires_at = r.Int(row, 5);
  x.revoked_at = r.Int(row, 6);
  return x;
}

AuthorizationCode ReadCode(const Result& r, int row) {
  AuthorizationCode c;
  c.code_hash = r.Text(row, 0);
  c.application_arn = r.Text(row, 1);
  c.user_id = r.Text(row, 2);
  c.redirect_uri = r.Text(row, 3);
  c.code_challenge = r.Text(row, 4);
  c.scopes = SplitList(r.Text(row, 5));
  c.session_hash = r.Text(row, 6);
  c.auth_time = r.Int(row, 7);
  c.created_at = r.Int(row, 8);
  c.expires_at = r.Int(row, 9);
  c.consumed_at = r.Int(row, 10);
  c.family_id = r.Text(row, 11);
  return c;
}

TokenFamily ReadFamily(const Result& r, int row, int first) {
  TokenFamily f;
  f.family_id = r.Text(row, first + 0);
  f.application_arn = r.Text(row, first + 1);
  f.user_id = r.Text(row, first + 2);
  f.scopes = SplitList(r.Text(row, first + 3));
  f.grant_type = r.Text(row, first + 4);
  f.session_hash = r.Text(row, first + 5);
  f.auth_time = r.Int(row, first + 6);
  f.created_at = r.Int(row, first + 7);
  f.expires_at = r.Int(row, first + 8);
  f.revoked_at = r.Int(row, first + 9);
  f.parent_family_id = r.Text(row, first + 10);
  f.act_json = r.Text(row, first + 11);
  return f;
}

RefreshToken ReadRefresh(const Result& r, int row, int first) {
  RefreshToken t;
  t.token_hash = r.Text(row, first + 0);
  t.family_id = r.Text(row, first + 1);
  t.scopes = SplitList(r.Text(row, first + 2));
  t.created_at = r.Int(row, first + 3);
  t.expires_at = r.Int(row, first + 4);
  t.rotated_at = r.Int(row, first + 5);
  t.successor_hash = r.Text(row, first + 6);
  return t;
}

TrustedTokenIssuer ReadTrustedTokenIssuer(const Result& r, int row) {
  TrustedTokenIssuer t;
  t.arn = r.Text(row, 0);
  t.instance_arn = r.Text(row, 1);
  t.name = r.Text(row, 2);
  t.type = r.Text(row, 3);
  t.issuer_url = r.Text(row, 4);
  t.claim_attribute_path = r.Text(row, 5);
  t.identity_store_attribute_path = r.Text(row, 6);
  t.jwks_retrieval_option = r.Text(row, 7);
  t.created_at = r.Int(row, 8);
  return t;
}

// A failed statement that inserted family and refresh-token rows: which duplicate it was.
Status InsertConflict(const Connection& c, const Status& status, const TokenFamily& family) {
  if (c.UniqueViolated()) {
    if (c.last_table() == "token_families") {
      return AlreadyExistsError("token family already exists: " + family.family_id);
    }
    if (c.last_table() == "refresh_tokens")
      return AlreadyExistsError("refresh token already exists");
  }
  return status;
}

// Callers validate scope lists before touching the database.
Status ApplyMigrations(Connection& c) {
  // One transaction under an advisory lock: nodes starting together migrate once, and DDL is
  // transactional in PostgreSQL, so a failed migration leaves the schema as it was.
  TS_RETURN_IF_ERROR(c.ExecScript("BEGIN"));
  auto rollback = [&](Status s) {
    c.ExecScript("ROLLBACK").IgnoreError();
    return s;
  };
  Status status =
      c.ExecScript("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
  if (!status.ok()) return rollback(status);
  status = c.ExecScript(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
  if (!status.ok()) return rollback(status);
  const std::span<const Migration> migrations = PostgresMigrations();
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  auto current = c.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current.ok()) return rollback(current.status());
  const int64_t applied = current->Int(0, 0);
  if (applied > latest) {
    return rollback(FailedPreconditionError("database schema version " + std::to_string(applied) +
                                            " is newer than this binary's " +
                                            std::to_string(latest)));
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= applied) continue;
    status = c.ExecScript(std::string(migration.sql));
    if (!status.ok()) {
      return rollback(Status(status.code(), "migration " + std::string(migration.name) + ": " +
                                                std::string(status.message())));
    }
    auto recorded =
        c.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
               MakeParams(migration.version, std::string(migration.name),
                          static_cast<int64_t>(std::time(nullptr))));
    if (!recorded.ok()) return rollback(recorded.status());
  }
  return c.ExecScript("COMMIT");
}

}  // namespace

// The connection pool: callers check a connection out for one method call.
class PostgresStore::Impl {
 public:
  Impl(std::string url, PostgresStoreOptions options) : url_(std::move(url)), options_(options) {}

  // A connection checked out of the pool; returns it (or drops it when broken) on destruction.
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
    std::unique_lock lock(mu_);
    while (true) {
      while (!idle_.empty()) {
        std::unique_ptr<Connection> connection = std::move(idle_.back());
        idle_.pop_back();
        if (connection->LooksAlive()) return Lease(this, std::move(connection));
        // Closed by the server while idle: nothing was sent on it, so dropping it is safe.
        --open_;
        DropIdleLocked();
      }
      if (open_ < options_.max_connections) break;
      if (!available_.wait_for(lock, options_.acquire_timeout, [&] {
            return !idle_.empty() || open_ < options_.max_connections;
          })) {
        return UnavailableError("no PostgreSQL connection became free within " +
                                std::to_string(options_.acquire_timeout.count()) + " ms");
      }
    }
    ++open_;
    lock.unlock();
    auto connection = Connection::Open(url_, options_, &round_trips_);
    if (!connection.ok()) {
      lock.lock();
      --open_;
      available_.notify_one();
      return connection.status();
    }
    return Lease(this, std::move(*connection));
  }

  void Release(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(mu_);
    if (connection->broken()) {
      --open_;
      // The server probably went away for every connection (restart, failover): drop the idle
      // ones too, so the next callers connect afresh instead of each finding a dead socket.
      DropIdleLocked();
    } else {
      idle_.push_back(std::move(connection));
    }
    available_.notify_all();
  }

  // Runs `fn(Connection&)` (returning Status or StatusOr<T>) in one transaction; commits if it
  // succeeded, rolls back otherwise. Not retried (see the header on ambiguous commits).
  int64_t round_trips() const { return round_trips_.load(std::memory_order_relaxed); }

  template <typename Fn>
  auto Write(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
    TS_ASSIGN_OR_RETURN(Lease lease, Acquire());
    Connection& c = *lease;
    TS_RETURN_IF_ERROR(c.ExecScript("BEGIN"));
    auto result = fn(c);
    if (!result.ok()) {
      if (!c.broken()) c.ExecScript("ROLLBACK").IgnoreError();
      return result;
    }
    TS_RETURN_IF_ERROR(c.ExecScript("COMMIT"));
    return result;
  }

  // Runs `fn(Connection&)` as is: for a single statement (its own transaction) that writes.
  template <typename Fn>
  auto Single(Fn&& fn) -> std::invoke_result_t<Fn, Connection&> {
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
};

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

int64_t PostgresStore::RoundTrips() const { return impl_->round_trips(); }
PostgresStore::~PostgresStore() = default;

StatusOr<std::shared_ptr<PostgresStore>> PostgresStore::Open(const std::string& url) {
  return Open(url, PostgresStoreOptions());
}

StatusOr<std::shared_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                             const PostgresStoreOptions& options) {
  if (!IsPostgresUrl(url)) {
    return InvalidArgumentError("PostgresStore needs a postgresql:// URL");
  }
  if (options.max_connections < 1) return InvalidArgumentError("max_connections must be >= 1");
  auto impl = std::make_unique<Impl>(url, options);
  {
    TS_ASSIGN_OR_RETURN(Impl::Lease lease, impl->Acquire());
    TS_RETURN_IF_ERROR(ApplyMigrations(*lease));
  }
  return std::shared_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

// --- instance ---

Status PostgresStore::PutInstance(const Instance& instance) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO instance (singleton, instance_arn, instance_id, identity_store_id, "
            "owner_account_id, region, name, created_at) VALUES (1, $1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (singleton) DO UPDATE SET instance_arn = excluded.instance_arn, "
            "instance_id = excluded.instance_id, identity_store_id = excluded.identity_store_id, "
            "owner_account_id = excluded.owner_account_id, region = excluded.region, "
            "name = excluded.name, created_at = excluded.created_at",
            MakeParams(instance.instance_arn, instance.instance_id, instance.identity_store_id,
                       instance.owner_account_id, instance.region, instance.name,
                       instance.created_at))
        .status();
  });
}

StatusOr<Instance> PostgresStore::GetInstance() {
  return impl_->Read([&](Connection& c) -> StatusOr<Instance> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT instance_arn, instance_id, identity_store_id, owner_account_id, "
                         "region, name, created_at FROM instance WHERE singleton = 1"));
    if (r.rows() == 0) return NotFoundError("no instance has been stored");
    Instance i;
    i.instance_arn = r.Text(0, 0);
    i.instance_id = r.Text(0, 1);
    i.identity_store_id = r.Text(0, 2);
    i.owner_account_id = r.Text(0, 3);
    i.region = r.Text(0, 4);
    i.name = r.Text(0, 5);
    i.created_at = r.Int(0, 6);
    return i;
  });
}

// --- meta ---

Status PostgresStore::PutMeta(const std::string& key, const std::string& value) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            MakeParams(key, value))
        .status();
  });
}

StatusOr<std::string> PostgresStore::GetMeta(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::string> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT value FROM meta WHERE key = $1", MakeParams(key)));
    if (r.rows() == 0) return NotFoundError("no such meta key: " + key);
    return r.Text(0, 0);
  });
}

// --- users ---

namespace {
// Rewrites a user's or group's attribute-index rows (attribute_index.h) in the caller's
// transaction.
Status WriteIndex(Connection& c, const std::string& table, const std::string& id_column,
                  const std::string& id, const std::vector<IndexEntry>& entries) {
  TS_RETURN_IF_ERROR(
      c.Exec("DELETE FROM " + table + " WHERE " + id_column + " = $1", MakeParams(id)).status());
  for (const auto& [path, value] : entries) {
    TS_RETURN_IF_ERROR(
        c.Exec("INSERT INTO " + table + " (" + id_column + ", path, value) VALUES ($1, $2, $3)",
               MakeParams(id, path, value))
            .status());
  }
  return OkStatus();
}
Status WriteUserIndex(Connection& c, const User& user) {
  return WriteIndex(c, "user_index", "user_id", user.user_id, UserIndexEntries(user));
}
Status WriteGroupIndex(Connection& c, const Group& group) {
  return WriteIndex(c, "group_index", "group_id", group.group_id, GroupIndexEntries(group));
}

Status UserConflict(const Connection& c, const Status& status, const User& user) {
  if (!c.UniqueViolated()) return status;
  if (status.message().find("user_name") != std::string_view::npos) {
    return AlreadyExistsError("user name already exists: " + user.user_name);
  }
  return AlreadyExistsError("user already exists: " + user.user_id);
}
}  // namespace

Status PostgresStore::CreateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO users (" TS_USER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        MakeParams(user.user_id, user.identity_store_id, user.user_name, user.display_name,
                   user.attributes_json, user.password_hash, user.created_at, user.updated_at));
    if (!r.ok()) return UserConflict(c, r.status(), user);
    return WriteUserIndex(c, user);
  });
}

Status PostgresStore::UpdateUser(const User& user) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "UPDATE users SET identity_store_id = $1, user_name = $2, display_name = $3, "
        "attributes_json = $4, password_hash = $5, updated_at = $6 WHERE user_id = $7",
        MakeParams(user.identity_store_id, user.user_name, user.display_name, user.attributes_json,
                   user.password_hash, user.updated_at, user.user_id));
    if (!r.ok()) return UserConflict(c, r.status(), user);
    if (r->affected() == 0) return NotFoundError("no such user: " + user.user_id);
    return WriteUserIndex(c, user);
  });
}

StatusOr<User> PostgresStore::GetUser(const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id = $1",
                                         MakeParams(user_id)));
    if (r.rows() == 0) return NotFoundError("no such user: " + user_id);
    return ReadUser(r, 0);
  });
}

StatusOr<User> PostgresStore::GetUserByName(const std::string& user_name) {
  return impl_->Read([&](Connection& c) -> StatusOr<User> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT " TS_USER_COLUMNS " FROM users WHERE user_name = $1",
                               MakeParams(user_name)));
    if (r.rows() == 0) return NotFoundError("no such user name: " + user_name);
    return ReadUser(r, 0);
  });
}

StatusOr<std::vector<User>> PostgresStore::ListUsers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT " TS_USER_COLUMNS " FROM users ORDER BY user_name"));
    std::vector<User> users;
    for (int i = 0; i < r.rows(); ++i) users.push_back(ReadUser(r, i));
    return users;
  });
}

Status PostgresStore::DeleteUser(const std::string& user_id, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    // One statement: every part sees the same snapshot and commits together.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec(
            "WITH u AS (DELETE FROM users WHERE user_id = $1 RETURNING user_id), "
            "f AS (UPDATE token_families SET revoked_at = $2 WHERE user_id = $1 "
            "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM u)), "
            "s AS (UPDATE sign_in_sessions SET revoked_at = $2 WHERE user_id = $1 "
            "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM u)), "
            "c AS (DELETE FROM authorization_codes WHERE user_id = $1 AND consumed_at = 0 "
            "AND EXISTS (SELECT 1 FROM u)), "
            "a AS (DELETE FROM assignments WHERE principal_id = $1 AND EXISTS (SELECT 1 FROM u)) "
            "SELECT count(*) FROM u",
            MakeParams(user_id, now)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such user: " + user_id);
    return OkStatus();
  });
}

// --- applications ---

namespace {
// One statement returns the application rows (kind 0), their grants (1) and access scopes (2),
// so a read needs one round trip and sees one snapshot.
#define TS_APPLICATION_UNION(where_app, where_child)                                    \
  "SELECT 0 AS kind, application_arn, instance_arn, application_provider_arn, name, "   \
  "description, status, assignment_required::text, actor_policy_json, "                 \
  "created_at::text, portal_options_json FROM applications " where_app                  \
  " UNION ALL SELECT 1, application_arn, grant_type, grant_json, NULL, NULL, NULL, "    \
  "NULL, NULL, NULL, NULL FROM application_grants " where_child                         \
  " UNION ALL SELECT 2, application_arn, scope, authorized_targets, NULL, NULL, NULL, " \
  "NULL, NULL, NULL, NULL FROM application_access_scopes " where_child " ORDER BY 1, 2"

std::vector<Application> ReadApplications(const Result& r) {
  std::vector<Application> apps;
  std::unordered_map<std::string, size_t> index;
  for (int i = 0; i < r.rows(); ++i) {
    const int64_t kind = r.Int(i, 0);
    if (kind == 0) {
      Application a;
      a.application_arn = r.Text(i, 1);
      a.instance_arn = r.Text(i, 2);
      a.application_provider_arn = r.Text(i, 3);
      a.name = r.Text(i, 4);
      a.description = r.Text(i, 5);
      a.status = r.Text(i, 6);
      a.assignment_required = r.Bool(i, 7);
      a.actor_policy_json = r.Text(i, 8);
      a.created_at = r.Int(i, 9);
      a.portal_options_json = r.Text(i, 10);
      index[a.application_arn] = apps.size();
      apps.push_back(std::move(a));
      continue;
    }
    auto it = index.find(r.Text(i, 1));
    if (it == index.end()) continue;
    if (kind == 1) apps[it->second].grants[r.Text(i, 2)] = r.Text(i, 3);
    if (kind == 2) apps[it->second].access_scopes[r.Text(i, 2)] = SplitList(r.Text(i, 3));
  }
  return apps;
}
}  // namespace

Status PostgresStore::PutApplication(const Application& app) {
  std::vector<std::pair<std::string, std::string>> scopes;
  for (const auto& [scope, targets] : app.access_scopes) {
    TS_ASSIGN_OR_RETURN(std::string joined, JoinList(targets, "AuthorizedTargets"));
    scopes.emplace_back(scope, std::move(joined));
  }
  return impl_->Write([&](Connection& c) -> Status {
    TS_RETURN_IF_ERROR(
        c.Exec("INSERT INTO applications (application_arn, instance_arn, "
               "application_provider_arn, name, description, status, assignment_required, "
               "actor_policy_json, created_at, portal_options_json) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
               "ON CONFLICT (application_arn) DO UPDATE SET "
               "instance_arn = excluded.instance_arn, "
               "application_provider_arn = excluded.application_provider_arn, "
               "name = excluded.name, description = excluded.description, "
               "status = excluded.status, assignment_required = excluded.assignment_required, "
               "actor_policy_json = excluded.actor_policy_json, created_at = excluded.created_at, "
               "portal_options_json = excluded.portal_options_json",
               MakeParams(app.application_arn, app.instance_arn, app.application_provider_arn,
                          app.name, app.description, app.status, app.assignment_required,
                          app.actor_policy_json, app.created_at, app.portal_options_json))
            .status());
    TS_RETURN_IF_ERROR(c.Exec("DELETE FROM application_grants WHERE application_arn = $1",
                              MakeParams(app.application_arn))
                           .status());
    for (const auto& [grant_type, grant_json] : app.grants) {
      TS_RETURN_IF_ERROR(c.Exec("INSERT INTO application_grants "
                                "(application_arn, grant_type, grant_json) VALUES ($1, $2, $3)",
                                MakeParams(app.application_arn, grant_type, grant_json))
                             .status());
    }
    TS_RETURN_IF_ERROR(c.Exec("DELETE FROM application_access_scopes WHERE application_arn = $1",
                              MakeParams(app.application_arn))
                           .status());
    for (const auto& [scope, targets] : scopes) {
      TS_RETURN_IF_ERROR(c.Exec("INSERT INTO application_access_scopes "
                                "(application_arn, scope, authorized_targets) VALUES ($1, $2, $3)",
                                MakeParams(app.application_arn, scope, targets))
                             .status());
    }
    return OkStatus();
  });
}

StatusOr<Application> PostgresStore::GetApplication(const std::string& application_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<Application> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec(TS_APPLICATION_UNION("WHERE application_arn = $1",
                                                              "WHERE application_arn = $1"),
                                         MakeParams(application_arn)));
    std::vector<Application> apps = ReadApplications(r);
    if (apps.empty()) return NotFoundError("no such application: " + application_arn);
    return std::move(apps.front());
  });
}

StatusOr<std::vector<Application>> PostgresStore::ListApplications() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Application>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec(TS_APPLICATION_UNION("", "")));
    return ReadApplications(r);
  });
}

Status PostgresStore::DeleteApplication(const std::string& application_arn, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    // Grants, access scopes and assignments go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH a AS (DELETE FROM applications WHERE application_arn = $1 "
               "RETURNING application_arn), "
               "f AS (UPDATE token_families SET revoked_at = $2 WHERE application_arn = $1 "
               "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM a)), "
               "c AS (DELETE FROM authorization_codes WHERE application_arn = $1 "
               "AND consumed_at = 0 AND EXISTS (SELECT 1 FROM a)), "
               "t AS (DELETE FROM tags WHERE resource_arn = $1 AND EXISTS (SELECT 1 FROM a)) "
               "SELECT count(*) FROM a",
               MakeParams(application_arn, now)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such application: " + application_arn);
    return OkStatus();
  });
}

Status PostgresStore::PutAssignment(const std::string& application_arn,
                                    const std::string& principal_id,
                                    const std::string& principal_type) {
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO assignments (application_arn, principal_id, principal_type) "
        "VALUES ($1, $2, $3) ON CONFLICT (application_arn, principal_id) "
        "DO UPDATE SET principal_type = excluded.principal_type",
        MakeParams(application_arn, principal_id, principal_type));
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return r.status();
  });
}

Status PostgresStore::DeleteAssignment(const std::string& application_arn,
                                       const std::string& principal_id) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("DELETE FROM assignments WHERE application_arn = $1 AND principal_id = $2",
                         MakeParams(application_arn, principal_id)));
    if (r.affected() == 0) {
      return NotFoundError("no such assignment: " + principal_id + " to " + application_arn);
    }
    return OkStatus();
  });
}

StatusOr<bool> PostgresStore::IsAssigned(const std::string& application_arn,
                                         const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<bool> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_USER_ASSIGNED("$1", "$2"),
                                         MakeParams(application_arn, user_id)));
    return r.rows() > 0 && r.Bool(0, 0);
  });
}

// --- IAM principals and access keys ---

Status PostgresStore::PutPrincipal(const IamPrincipal& principal) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO iam_principals (arn, account_id, identity_policy_json, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (arn) DO UPDATE SET "
            "account_id = excluded.account_id, "
            "identity_policy_json = excluded.identity_policy_json, "
            "created_at = excluded.created_at",
            MakeParams(principal.arn, principal.account_id, principal.identity_policy_json,
                       principal.created_at))
        .status();
  });
}

StatusOr<IamPrincipal> PostgresStore::GetPrincipal(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<IamPrincipal> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT arn, account_id, identity_policy_json, created_at "
                                         "FROM iam_principals WHERE arn = $1",
                                         MakeParams(arn)));
    if (r.rows() == 0) return NotFoundError("no such IAM principal: " + arn);
    IamPrincipal p;
    p.arn = r.Text(0, 0);
    p.account_id = r.Text(0, 1);
    p.identity_policy_json = r.Text(0, 2);
    p.created_at = r.Int(0, 3);
    return p;
  });
}

Status PostgresStore::CreateAccessKey(const AccessKey& key) {
  return impl_->Single([&](Connection& c) -> Status {
    Params p;
    p.Add(key.access_key_id)
        .Add(key.principal_arn)
        .AddBytes(key.secret_sealed)
        .Add(key.session_token_hash)
        .Add(key.expires_at)
        .Add(key.active)
        .Add(key.created_at);
    auto r = c.Exec("INSERT INTO access_keys (" TS_ACCESS_KEY_COLUMNS
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    p);
    if (!r.ok() && c.UniqueViolated()) {
      return AlreadyExistsError("access key already exists: " + key.access_key_id);
    }
    return r.status();
  });
}

StatusOr<AccessKey> PostgresStore::GetAccessKey(const std::string& access_key_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<AccessKey> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_ACCESS_KEY_COLUMNS
                                         " FROM access_keys WHERE access_key_id = $1",
                                         MakeParams(access_key_id)));
    if (r.rows() == 0) return NotFoundError("no such access key: " + access_key_id);
    return ReadAccessKey(r, 0);
  });
}

StatusOr<std::vector<AccessKey>> PostgresStore::ListAccessKeys(const std::string& principal_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<AccessKey>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_ACCESS_KEY_COLUMNS
                                         " FROM access_keys WHERE principal_arn = $1 "
                                         "ORDER BY created_at, access_key_id",
                                         MakeParams(principal_arn)));
    std::vector<AccessKey> keys;
    for (int i = 0; i < r.rows(); ++i) keys.push_back(ReadAccessKey(r, i));
    return keys;
  });
}

Status PostgresStore::DeleteAccessKey(const std::string& access_key_id) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("DELETE FROM access_keys WHERE access_key_id = $1",
                                         MakeParams(access_key_id)));
    if (r.affected() == 0) return NotFoundError("no such access key: " + access_key_id);
    return OkStatus();
  });
}

// --- signing keys ---

namespace {
Status UpsertSigningKey(Connection& c, const SigningKey& key) {
  Params p;
  p.Add(key.kid)
      .Add(key.alg)
      .AddBytes(key.private_key_sealed)
      .Add(key.public_jwk_json)
      .Add(key.created_at)
      .Add(key.activated_at)
      .Add(key.retired_at)
      .Add(key.delete_after);
  return c
      .Exec("INSERT INTO signing_keys (" TS_SIGNING_KEY_COLUMNS
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kid) DO UPDATE SET "
            "alg = excluded.alg, private_key_sealed = excluded.private_key_sealed, "
            "public_jwk_json = excluded.public_jwk_json, created_at = excluded.created_at, "
            "activated_at = excluded.activated_at, retired_at = excluded.retired_at, "
            "delete_after = excluded.delete_after",
            p)
      .status();
}
}  // namespace

Status PostgresStore::PutSigningKey(const SigningKey& key) {
  return impl_->Single([&](Connection& c) -> Status { return UpsertSigningKey(c, key); });
}

StatusOr<std::vector<SigningKey>> PostgresStore::ListSigningKeys() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<SigningKey>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_SIGNING_KEY_COLUMNS
                                         " FROM signing_keys ORDER BY created_at, kid"));
    std::vector<SigningKey> keys;
    for (int i = 0; i < r.rows(); ++i) keys.push_back(ReadSigningKey(r, i));
    return keys;
  });
}

// --- sign-in sessions ---

Status PostgresStore::CreateSession(const SignInSession& session) {
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO sign_in_sessions (" TS_SESSION_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
        MakeParams(session.session_hash, session.user_id, session.csrf_secret, session.auth_time,
                   session.created_at, session.expires_at, session.revoked_at));
    if (!r.ok() && c.UniqueViolated()) return AlreadyExistsError("sign-in session already exists");
    return r.status();
  });
}

StatusOr<SignInSession> PostgresStore::GetSession(const std::string& session_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<SignInSession> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_SESSION_COLUMNS
                                         " FROM sign_in_sessions WHERE session_hash = $1",
                                         MakeParams(session_hash)));
    if (r.rows() == 0) return NotFoundError("no such sign-in session");
    return ReadSession(r, 0);
  });
}

Status PostgresStore::RevokeSession(const std::string& session_hash, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    // The session must exist: families from grants without a browser session carry an empty
    // session_hash and must not match.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH s AS (SELECT session_hash FROM sign_in_sessions WHERE session_hash = $1), "
               "r AS (UPDATE sign_in_sessions SET revoked_at = $2 WHERE session_hash = $1 "
               "AND revoked_at = 0), "
               "f AS (UPDATE token_families SET revoked_at = $2 WHERE session_hash = $1 "
               "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM s)), "
               "c AS (DELETE FROM authorization_codes WHERE session_hash = $1 "
               "AND consumed_at = 0 AND EXISTS (SELECT 1 FROM s)) "
               "SELECT count(*) FROM s",
               MakeParams(session_hash, now)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such sign-in session");
    return OkStatus();
  });
}

// --- authorization codes ---

Status PostgresStore::CreateAuthorizationCode(const AuthorizationCode& code) {
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(code.scopes, "scope"));
  return impl_->Single([&](Connection& c) -> Status {
    auto r =
        c.Exec("INSERT INTO authorization_codes (" TS_CODE_COLUMNS
               ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
               MakeParams(code.code_hash, code.application_arn, code.user_id, code.redirect_uri,
                          code.code_challenge, scopes, code.session_hash, code.auth_time,
                          code.created_at, code.expires_at, code.consumed_at, code.family_id));
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

StatusOr<RedeemOutcome> PostgresStore::RedeemAuthorizationCode(
    const std::string& code_hash, int64_t now, const TokenFamily& family,
    const std::optional<RefreshToken>& first_refresh) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means unused)");
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  Params p;
  p.Add(code_hash).Add(now);                     // $1, $2
  AddFamily(p, family, scopes.family);           // $3 .. $14
  AddRefresh(p, first_refresh, scopes.refresh);  // $15 .. $21
  p.Add(first_refresh.has_value());              // $22
  return impl_->Single([&](Connection& c) -> StatusOr<RedeemOutcome> {
    // One statement, so one round trip and one implicit transaction. `code` is the statement's
    // snapshot; `consumed` is the compare-and-set: under concurrent redemptions PostgreSQL makes
    // every other UPDATE wait for the winner and then re-check consumed_at = 0, which fails.
    // A code seen already consumed revokes the family its first use created (RFC 6749 §4.1.2).
    auto r = c.Exec(
        "WITH code AS (SELECT consumed_at, expires_at, family_id FROM authorization_codes "
        "WHERE code_hash = $1), "
        "consumed AS (UPDATE authorization_codes SET consumed_at = $2, family_id = $3 "
        "WHERE code_hash = $1 AND consumed_at = 0 AND expires_at > $2 RETURNING 1), "
        "family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS("") ") SELECT " TS_FAMILY_VALUES(
            "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
            "14") " FROM consumed RETURNING family_id), "
                  "refresh AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(
                      "") ") SELECT " TS_REFRESH_VALUES("15", "16", "17", "18", "19", "20",
                                                        "21") " FROM family WHERE $22::boolean), "
                                                              "reuse AS (UPDATE token_families "
                                                              "SET revoked_at = $2 "
                                                              "WHERE family_id = (SELECT "
                                                              "family_id FROM code WHERE "
                                                              "consumed_at <> 0) AND revoked_at "
                                                              "= 0) "
                                                              "SELECT code.consumed_at, "
                                                              "code.expires_at, (SELECT count(*) "
                                                              "FROM consumed) FROM code",
        p);
    if (!r.ok()) return InsertConflict(c, r.status(), family);
    if (r->rows() == 0) return NotFoundError("no such authorization code");
    if (r->Int(0, 2) == 1) return RedeemOutcome::kRedeemed;
    if (r->Int(0, 0) != 0) return RedeemOutcome::kAlreadyRedeemed;
    if (now >= r->Int(0, 1)) return RedeemOutcome::kExpired;
    // Unused in our snapshot but the compare-and-set failed: a concurrent redemption won and has
    // committed (our UPDATE waited for it). Its family was not in our snapshot, so revoke it now
    // in a second statement: only the losers of a race pay this round trip.
    TS_RETURN_IF_ERROR(c.Exec("UPDATE token_families SET revoked_at = $2 WHERE family_id = "
                              "(SELECT family_id FROM authorization_codes WHERE code_hash = $1) "
                              "AND revoked_at = 0",
                              MakeParams(code_hash, now))
                           .status());
    return RedeemOutcome::kAlreadyRedeemed;
  });
}

// --- token families and refresh tokens ---

Status PostgresStore::CreateFamily(const TokenFamily& family,
                                   const std::optional<RefreshToken>& first_refresh) {
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  Params p;
  AddFamily(p, family, scopes.family);           // $1 .. $12
  AddRefresh(p, first_refresh, scopes.refresh);  // $13 .. $19
  p.Add(first_refresh.has_value());              // $20
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "WITH family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS(
            "") ") VALUES (" TS_FAMILY_VALUES("1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
                                              "11", "12") ") RETURNING family_id) "
                                                          "INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(
                                                              "") ") SELECT " TS_REFRESH_VALUES("13", "14", "15", "16", "17", "18", "19") " FROM family WHERE $20::boolean",
        p);
    if (!r.ok()) return InsertConflict(c, r.status(), family);
    return OkStatus();
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

Status PostgresStore::RevokeFamily(const std::string& family_id, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    // The family and everything exchanged from it, transitively (token exchange children).
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("WITH RECURSIVE tree(id) AS (SELECT family_id FROM token_families "
                         "WHERE family_id = $1 UNION SELECT f.family_id FROM token_families f "
                         "JOIN tree ON f.parent_family_id = tree.id), "
                         "revoked AS (UPDATE token_families SET revoked_at = $2 "
                         "WHERE family_id IN (SELECT id FROM tree) AND revoked_at = 0) "
                         "SELECT count(*) FROM token_families WHERE family_id = $1",
                         MakeParams(family_id, now)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such token family: " + family_id);
    return OkStatus();
  });
}

StatusOr<RefreshTokenWithFamily> PostgresStore::GetRefreshToken(const std::string& token_hash) {
  return impl_->Read([&](Connection& c) -> StatusOr<RefreshTokenWithFamily> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec(
            "SELECT " TS_REFRESH_COLUMNS("r.") ", " TS_FAMILY_COLUMNS("f.") ", " TS_USER_ASSIGNED(
                "f.application_arn", "f.user_id") " FROM refresh_tokens r JOIN "
                                                  "token_families f ON f.family_id = "
                                                  "r.family_id WHERE r.token_hash = $1",
            MakeParams(token_hash)));
    if (r.rows() == 0) return NotFoundError("no such refresh token");
    return RefreshTokenWithFamily{ReadRefresh(r, 0, 0), ReadFamily(r, 0, kRefreshColumnCount),
                                  r.Bool(0, kRefreshColumnCount + kFamilyColumnCount)};
  });
}

StatusOr<RotateOutcome> PostgresStore::RotateRefreshToken(const std::string& old_hash, int64_t now,
                                                          const RefreshToken& successor) {
  if (now <= 0) return InvalidArgumentError("now must be positive (0 means current)");
  TS_ASSIGN_OR_RETURN(std::string scopes, JoinList(successor.scopes, "scope"));
  Params p;
  p.Add(old_hash).Add(now);          // $1, $2
  AddRefresh(p, successor, scopes);  // $3 .. $9 ($4: family_id)
  return impl_->Single([&](Connection& c) -> StatusOr<RotateOutcome> {
    // One statement (see RedeemAuthorizationCode): `old` is the snapshot, `rotated` the
    // compare-and-set on rotated_at, which only the family's live tokens pass.
    auto r = c.Exec(
        "WITH old AS (SELECT r.family_id, r.rotated_at, f.revoked_at FROM refresh_tokens r "
        "JOIN token_families f ON f.family_id = r.family_id WHERE r.token_hash = $1), "
        "rotated AS (UPDATE refresh_tokens SET rotated_at = $2, successor_hash = $3 "
        "WHERE token_hash = $1 AND rotated_at = 0 AND family_id = $4 AND EXISTS (SELECT 1 FROM "
        "old WHERE old.revoked_at = 0) RETURNING 1), "
        "successor AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(
            "") ") SELECT " TS_REFRESH_VALUES("3", "4", "5", "6", "7", "8", "9") " FROM rotated) "
                                                                                "SELECT "
                                                                                "old.family_id, "
                                                                                "old.rotated_at, "
                                                                                "old.revoked_at, "
                                                                                "(SELECT count(*) "
                                                                                "FROM rotated) "
                                                                                "FROM old",
        p);
    if (!r.ok()) {
      if (c.UniqueViolated()) return AlreadyExistsError("refresh token already exists");
      if (c.ForeignKeyViolated()) {
        return NotFoundError("no such token family: " + successor.family_id);
      }
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
  });
}

Status PostgresStore::CreateFamilyForAssertion(const TokenFamily& family,
                                               const std::optional<RefreshToken>& first_refresh,
                                               const std::string& assertion_id,
                                               int64_t assertion_expires_at) {
  if (assertion_id.empty()) return InvalidArgumentError("assertion_id must not be empty");
  TS_ASSIGN_OR_RETURN(FamilyScopes scopes, ValidateFamily(family, first_refresh));
  Params p;
  p.Add(assertion_id).Add(assertion_expires_at);  // $1, $2
  AddFamily(p, family, scopes.family);            // $3 .. $14
  AddRefresh(p, first_refresh, scopes.refresh);   // $15 .. $21
  p.Add(first_refresh.has_value());               // $22
  return impl_->Single([&](Connection& c) -> Status {
    // One statement: the replay record, then the family and its token only if the record was
    // new. A concurrent insert of the same id makes ON CONFLICT wait for it, then do nothing.
    auto r = c.Exec(
        "WITH used AS (INSERT INTO used_assertions (assertion_id, expires_at) "
        "VALUES ($1, $2) ON CONFLICT (assertion_id) DO NOTHING RETURNING 1), "
        "family AS (INSERT INTO token_families (" TS_FAMILY_COLUMNS("") ") SELECT " TS_FAMILY_VALUES(
            "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13",
            "14") " FROM used RETURNING family_id), "
                  "refresh AS (INSERT INTO refresh_tokens (" TS_REFRESH_COLUMNS(
                      "") ") SELECT " TS_REFRESH_VALUES("15", "16", "17", "18", "19", "20",
                                                        "21") " FROM family WHERE $22::boolean) "
                                                              "SELECT count(*) FROM used",
        p);
    if (!r.ok()) return InsertConflict(c, r.status(), family);
    if (r->Int(0, 0) == 0) return AlreadyExistsError("assertion has already been used");
    return OkStatus();
  });
}

// --- trusted token issuers ---

Status PostgresStore::PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) {
  if (issuer.arn.empty()) return InvalidArgumentError("trusted token issuer arn is empty");
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO trusted_token_issuers (" TS_TTI_COLUMNS
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (arn) DO UPDATE SET "
            "instance_arn = excluded.instance_arn, name = excluded.name, "
            "issuer_type = excluded.issuer_type, issuer_url = excluded.issuer_url, "
            "claim_attribute_path = excluded.claim_attribute_path, "
            "identity_store_attribute_path = excluded.identity_store_attribute_path, "
            "jwks_retrieval_option = excluded.jwks_retrieval_option, "
            "created_at = excluded.created_at",
            MakeParams(issuer.arn, issuer.instance_arn, issuer.name, issuer.type, issuer.issuer_url,
                       issuer.claim_attribute_path, issuer.identity_store_attribute_path,
                       issuer.jwks_retrieval_option, issuer.created_at))
        .status();
  });
}

StatusOr<TrustedTokenIssuer> PostgresStore::GetTrustedTokenIssuer(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<TrustedTokenIssuer> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_TTI_COLUMNS " FROM trusted_token_issuers WHERE arn = $1",
                         MakeParams(arn)));
    if (r.rows() == 0) return NotFoundError("no such trusted token issuer: " + arn);
    return ReadTrustedTokenIssuer(r, 0);
  });
}

StatusOr<std::vector<TrustedTokenIssuer>> PostgresStore::ListTrustedTokenIssuers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<TrustedTokenIssuer>> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_TTI_COLUMNS " FROM trusted_token_issuers ORDER BY arn"));
    std::vector<TrustedTokenIssuer> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadTrustedTokenIssuer(r, i));
    return out;
  });
}

// --- admin plane: paging, lookups, groups, per-item application changes, tags ---

namespace {

#define TS_GROUP_COLUMNS                                                                  \
  "group_id, identity_store_id, display_name, description, attributes_json, created_at, " \
  "updated_at"
#define TS_MEMBERSHIP_COLUMNS "membership_id, identity_store_id, group_id, user_id, created_at"

Group ReadGroup(const Result& r, int row) {
  Group g;
  g.group_id = r.Text(row, 0);
  g.identity_store_id = r.Text(row, 1);
  g.display_name = r.Text(row, 2);
  g.description = r.Text(row, 3);
  g.attributes_json = r.Text(row, 4);
  g.created_at = r.Int(row, 5);
  g.updated_at = r.Int(row, 6);
  return g;
}

GroupMembership ReadMembership(const Result& r, int row) {
  GroupMembership m;
  m.membership_id = r.Text(row, 0);
  m.identity_store_id = r.Text(row, 1);
  m.group_id = r.Text(row, 2);
  m.user_id = r.Text(row, 3);
  m.created_at = r.Int(row, 4);
  return m;
}

// Runs a paged SELECT whose last two parameters are "key > $n ORDER BY key LIMIT $n+1"; `params`
// holds the ones before them. One extra row tells whether another page follows.
template <typename T, typename ReadFn, typename KeyFn>
StatusOr<Page<T>> RunPage(Connection& c, std::string_view sql, Params params,
                          const PageRequest& page, ReadFn read, KeyFn key_of) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  params.Add(page.after).Add(static_cast<int64_t>(page.limit) + 1);
  TS_ASSIGN_OR_RETURN(Result r, c.Exec(sql, params));
  Page<T> out;
  for (int i = 0; i < r.rows(); ++i) {
    if (static_cast<int>(out.items.size()) == page.limit) {
      out.next = key_of(out.items.back());
      break;
    }
    out.items.push_back(read(r, i));
  }
  return out;
}

Status GroupConflict(const Connection& c, const Status& status, const Group& group) {
  if (!c.UniqueViolated()) return status;
  if (status.message().find("display_name") != std::string_view::npos) {
    return AlreadyExistsError("group display name already exists: " + group.display_name);
  }
  return AlreadyExistsError("group already exists: " + group.group_id);
}

StatusOr<bool> ApplicationExists(Connection& c, const std::string& application_arn) {
  TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT 1 FROM applications WHERE application_arn = $1",
                                       MakeParams(application_arn)));
  return r.rows() > 0;
}

}  // namespace

StatusOr<Page<User>> PostgresStore::ListUsersPage(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<User>> {
    return RunPage<User>(
        c, "SELECT " TS_USER_COLUMNS " FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
        Params(), page, ReadUser, [](const User& u) { return u.user_id; });
  });
}

StatusOr<std::vector<User>> PostgresStore::FindUsersByAttribute(const std::string& path,
                                                                const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<User>> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_USER_COLUMNS " FROM users WHERE user_id IN (SELECT user_id "
                         "FROM user_index WHERE path = $1 AND value = $2) ORDER BY user_id",
                         MakeParams(key.first, key.second)));
    std::vector<User> users;
    for (int i = 0; i < r.rows(); ++i) users.push_back(ReadUser(r, i));
    return users;
  });
}

Status PostgresStore::CreateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO groups (" TS_GROUP_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
        MakeParams(group.group_id, group.identity_store_id, group.display_name, group.description,
                   group.attributes_json, group.created_at, group.updated_at));
    if (!r.ok()) return GroupConflict(c, r.status(), group);
    return WriteGroupIndex(c, group);
  });
}

Status PostgresStore::UpdateGroup(const Group& group) {
  return impl_->Write([&](Connection& c) -> Status {
    auto r = c.Exec(
        "UPDATE groups SET identity_store_id = $1, display_name = $2, description = $3, "
        "attributes_json = $4, updated_at = $5 WHERE group_id = $6",
        MakeParams(group.identity_store_id, group.display_name, group.description,
                   group.attributes_json, group.updated_at, group.group_id));
    if (!r.ok()) return GroupConflict(c, r.status(), group);
    if (r->affected() == 0) return NotFoundError("no such group: " + group.group_id);
    return WriteGroupIndex(c, group);
  });
}

StatusOr<Group> PostgresStore::GetGroup(const std::string& group_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<Group> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id = $1",
                               MakeParams(group_id)));
    if (r.rows() == 0) return NotFoundError("no such group: " + group_id);
    return ReadGroup(r, 0);
  });
}

StatusOr<Page<Group>> PostgresStore::ListGroups(const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Group>> {
    return RunPage<Group>(
        c, "SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id > $1 ORDER BY group_id LIMIT $2",
        Params(), page, ReadGroup, [](const Group& g) { return g.group_id; });
  });
}

StatusOr<std::vector<Group>> PostgresStore::FindGroupsByAttribute(const std::string& path,
                                                                  const std::string& value) {
  const IndexEntry key = CanonicalLookup(path, value);
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Group>> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT " TS_GROUP_COLUMNS " FROM groups WHERE group_id IN (SELECT group_id "
               "FROM group_index WHERE path = $1 AND value = $2) ORDER BY group_id",
               MakeParams(key.first, key.second)));
    std::vector<Group> groups;
    for (int i = 0; i < r.rows(); ++i) groups.push_back(ReadGroup(r, i));
    return groups;
  });
}

Status PostgresStore::DeleteGroup(const std::string& group_id) {
  return impl_->Single([&](Connection& c) -> Status {
    // Memberships and index rows go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("WITH g AS (DELETE FROM groups WHERE group_id = $1 RETURNING group_id), "
                         "a AS (DELETE FROM assignments WHERE principal_id = $1 "
                         "AND EXISTS (SELECT 1 FROM g)) SELECT count(*) FROM g",
                         MakeParams(group_id)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such group: " + group_id);
    return OkStatus();
  });
}

Status PostgresStore::CreateGroupMembership(const GroupMembership& m) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result group,
                        c.Exec("SELECT 1 FROM groups WHERE group_id = $1", MakeParams(m.group_id)));
    if (group.rows() == 0) return NotFoundError("no such group: " + m.group_id);
    TS_ASSIGN_OR_RETURN(Result user,
                        c.Exec("SELECT 1 FROM users WHERE user_id = $1", MakeParams(m.user_id)));
    if (user.rows() == 0) return NotFoundError("no such user: " + m.user_id);
    auto r = c.Exec(
        "INSERT INTO group_memberships (" TS_MEMBERSHIP_COLUMNS ") VALUES ($1, $2, $3, $4, $5)",
        MakeParams(m.membership_id, m.identity_store_id, m.group_id, m.user_id, m.created_at));
    if (!r.ok() && c.UniqueViolated()) {
      if (r.status().message().find("membership_id") != std::string_view::npos) {
        return AlreadyExistsError("membership already exists: " + m.membership_id);
      }
      return AlreadyExistsError("user " + m.user_id + " is already a member of group " +
                                m.group_id);
    }
    // A group or user deleted concurrently after the checks above.
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such group or user: " + m.group_id + ", " + m.user_id);
    }
    return r.status();
  });
}

StatusOr<GroupMembership> PostgresStore::GetGroupMembership(const std::string& membership_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<GroupMembership> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_MEMBERSHIP_COLUMNS
                                         " FROM group_memberships WHERE membership_id = $1",
                                         MakeParams(membership_id)));
    if (r.rows() == 0) return NotFoundError("no such membership: " + membership_id);
    return ReadMembership(r, 0);
  });
}

Status PostgresStore::DeleteGroupMembership(const std::string& membership_id) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("DELETE FROM group_memberships WHERE membership_id = $1",
                                         MakeParams(membership_id)));
    if (r.affected() == 0) return NotFoundError("no such membership: " + membership_id);
    return OkStatus();
  });
}

StatusOr<Page<GroupMembership>> PostgresStore::ListGroupMemberships(const std::string& group_id,
                                                                    const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<GroupMembership>> {
    return RunPage<GroupMembership>(
        c,
        "SELECT " TS_MEMBERSHIP_COLUMNS
        " FROM group_memberships WHERE group_id = $1 AND membership_id > $2 "
        "ORDER BY membership_id LIMIT $3",
        MakeParams(group_id), page, ReadMembership,
        [](const GroupMembership& m) { return m.membership_id; });
  });
}

StatusOr<std::vector<GroupMembership>> PostgresStore::ListGroupMembershipsForUser(
    const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<GroupMembership>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_MEMBERSHIP_COLUMNS
                                         " FROM group_memberships WHERE user_id = $1 "
                                         "ORDER BY group_id",
                                         MakeParams(user_id)));
    std::vector<GroupMembership> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadMembership(r, i));
    return out;
  });
}

StatusOr<Page<Application>> PostgresStore::ListApplicationsPage(const PageRequest& page) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Application>> {
    // The page's applications with their grants and scopes in one statement (one snapshot).
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH page AS (SELECT application_arn FROM applications WHERE application_arn > $1 "
               "ORDER BY application_arn LIMIT $2) " TS_APPLICATION_UNION(
                   "WHERE application_arn IN (SELECT application_arn FROM page)",
                   "WHERE application_arn IN (SELECT application_arn FROM page)"),
               MakeParams(page.after, static_cast<int64_t>(page.limit) + 1)));
    std::vector<Application> apps = ReadApplications(r);
    Page<Application> out;
    for (Application& app : apps) {
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next = out.items.back().application_arn;
        break;
      }
      out.items.push_back(std::move(app));
    }
    return out;
  });
}

Status PostgresStore::UpdateApplication(const Application& app) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("UPDATE applications SET name = $1, description = $2, status = $3, "
               "assignment_required = $4, portal_options_json = $5 WHERE application_arn = $6",
               MakeParams(app.name, app.description, app.status, app.assignment_required,
                          app.portal_options_json, app.application_arn)));
    if (r.affected() == 0) return NotFoundError("no such application: " + app.application_arn);
    return OkStatus();
  });
}

Status PostgresStore::PutApplicationGrant(const std::string& application_arn,
                                          const std::string& grant_type,
                                          const std::string& grant_json) {
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO application_grants (application_arn, grant_type, grant_json) "
        "VALUES ($1, $2, $3) ON CONFLICT (application_arn, grant_type) "
        "DO UPDATE SET grant_json = excluded.grant_json",
        MakeParams(application_arn, grant_type, grant_json));
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return r.status();
  });
}

Status PostgresStore::DeleteApplicationGrant(const std::string& application_arn,
                                             const std::string& grant_type) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("DELETE FROM application_grants WHERE application_arn = $1 AND grant_type = $2",
               MakeParams(application_arn, grant_type)));
    if (r.affected() == 0) return NotFoundError("no such grant: " + grant_type);
    return OkStatus();
  });
}

Status PostgresStore::PutApplicationAccessScope(
    const std::string& application_arn, const std::string& scope,
    const std::vector<std::string>& authorized_targets) {
  TS_ASSIGN_OR_RETURN(std::string joined, JoinList(authorized_targets, "AuthorizedTargets"));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO application_access_scopes (application_arn, scope, authorized_targets) "
        "VALUES ($1, $2, $3) ON CONFLICT (application_arn, scope) "
        "DO UPDATE SET authorized_targets = excluded.authorized_targets",
        MakeParams(application_arn, scope, joined));
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return r.status();
  });
}

Status PostgresStore::DeleteApplicationAccessScope(const std::string& application_arn,
                                                   const std::string& scope) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("DELETE FROM application_access_scopes WHERE application_arn = $1 AND scope = $2",
               MakeParams(application_arn, scope)));
    if (r.affected() == 0) return NotFoundError("no such access scope: " + scope);
    return OkStatus();
  });
}

Status PostgresStore::SetActorPolicy(const std::string& application_arn,
                                     const std::string& actor_policy_json) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("UPDATE applications SET actor_policy_json = $1 WHERE application_arn = $2",
               MakeParams(actor_policy_json, application_arn)));
    if (r.affected() == 0) return NotFoundError("no such application: " + application_arn);
    return OkStatus();
  });
}

StatusOr<Page<Assignment>> PostgresStore::ListAssignments(const std::string& application_arn,
                                                          const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Assignment>> {
    return RunPage<Assignment>(
        c,
        "SELECT application_arn, principal_id, principal_type FROM assignments WHERE "
        "application_arn = $1 AND principal_id > $2 ORDER BY principal_id LIMIT $3",
        MakeParams(application_arn), page,
        [](const Result& r, int row) {
          return Assignment{r.Text(row, 0), r.Text(row, 1), r.Text(row, 2)};
        },
        [](const Assignment& a) { return a.principal_id; });
  });
}

Status PostgresStore::DeleteTrustedTokenIssuer(const std::string& arn) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH i AS (DELETE FROM trusted_token_issuers WHERE arn = $1 RETURNING arn), "
               "t AS (DELETE FROM tags WHERE resource_arn = $1 AND EXISTS (SELECT 1 "
               "FROM i)) SELECT count(*) FROM i",
               MakeParams(arn)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such trusted token issuer: " + arn);
    return OkStatus();
  });
}

Status PostgresStore::TagResource(const std::string& resource_arn,
                                  const std::map<std::string, std::string>& tags) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const auto& [key, value] : tags) {
      TS_RETURN_IF_ERROR(c.Exec("INSERT INTO tags (resource_arn, tag_key, tag_value) "
                                "VALUES ($1, $2, $3) ON CONFLICT (resource_arn, tag_key) "
                                "DO UPDATE SET tag_value = excluded.tag_value",
                                MakeParams(resource_arn, key, value))
                             .status());
    }
    return OkStatus();
  });
}

Status PostgresStore::UntagResource(const std::string& resource_arn,
                                    const std::vector<std::string>& keys) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const std::string& key : keys) {
      TS_RETURN_IF_ERROR(c.Exec("DELETE FROM tags WHERE resource_arn = $1 AND tag_key = $2",
                                MakeParams(resource_arn, key))
                             .status());
    }
    return OkStatus();
  });
}

StatusOr<std::map<std::string, std::string>> PostgresStore::ListTags(
    const std::string& resource_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::map<std::string, std::string>> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT tag_key, tag_value FROM tags WHERE resource_arn = $1",
                               MakeParams(resource_arn)));
    std::map<std::string, std::string> tags;
    for (int i = 0; i < r.rows(); ++i) tags[r.Text(i, 0)] = r.Text(i, 1);
    return tags;
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

// --- housekeeping ---

StatusOr<PurgeResult> PostgresStore::PurgeExpired(int64_t now, int batch) {
  if (batch <= 0) return InvalidArgumentError("batch must be positive");
  // Refresh tokens before families so that their deletions are counted; a family's remaining
  // tokens go with it by cascade. expires_at = 0 means "never".
  // Each DELETE is its own short transaction (autocommit) and touches at most `batch` rows, so
  // no purge holds row locks for long; FOR UPDATE SKIP LOCKED lets two nodes purge at once
  // without waiting for each other.
  static constexpr std::string_view kDeletes[] = {
      "DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash FROM "
      "authorization_codes WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 "
      "FOR UPDATE SKIP LOCKED)",
      "DELETE FROM sign_in_sessions WHERE session_hash IN (SELECT session_hash FROM "
      "sign_in_sessions WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 "
      "FOR UPDATE SKIP LOCKED)",
      "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
      "WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
      "DELETE FROM token_families WHERE family_id IN (SELECT family_id FROM token_families "
      "WHERE expires_at > 0 AND expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
      "DELETE FROM revoked_access_tokens WHERE jti IN (SELECT jti FROM revoked_access_tokens "
      "WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
      "DELETE FROM used_assertions WHERE assertion_id IN (SELECT assertion_id FROM "
      "used_assertions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
      "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures "
      "WHERE window_end <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
  };
  return impl_->Single([&](Connection& c) -> StatusOr<PurgeResult> {
    PurgeResult result;
    for (std::string_view sql : kDeletes) {
      const int64_t remaining = batch - result.deleted;
      TS_ASSIGN_OR_RETURN(Result r, c.Exec(sql, MakeParams(now, remaining)));
      result.deleted += r.affected();
      if (r.affected() == remaining) {
        result.finished = false;  // this table may hold more; the next call goes on
        break;
      }
    }
    return result;
  });
}

// --- coordination between nodes ---

// Advisory-lock key of signing-key updates ("tsrotate" in ASCII).
constexpr int64_t kSigningKeyLockKey = 0x7473726f74617465;

Status PostgresStore::CreateMeta(const std::string& key, const std::string& value) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("INSERT INTO meta (key, value) VALUES ($1, $2) "
                                         "ON CONFLICT (key) DO NOTHING",
                                         MakeParams(key, value)));
    if (r.affected() == 0) return AlreadyExistsError("meta key already exists: " + key);
    return OkStatus();
  });
}

StatusOr<LoginFailures> PostgresStore::RecordLoginFailure(const std::string& key, int64_t now,
                                                          int64_t window_seconds) {
  if (window_seconds <= 0) return InvalidArgumentError("window_seconds must be positive");
  return impl_->Single([&](Connection& c) -> StatusOr<LoginFailures> {
    // One upsert: concurrent failures from several nodes each count (the row lock serialises
    // them); an ended window (window_end <= now) starts afresh with this failure.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("INSERT INTO login_failures AS l (key, window_start, window_end, failures) "
               "VALUES ($1, $2::bigint, $2::bigint + $3::bigint, 1) ON CONFLICT (key) DO UPDATE "
               "SET window_start = CASE WHEN l.window_end <= $2::bigint THEN $2::bigint "
               "ELSE l.window_start END, "
               "failures = CASE WHEN l.window_end <= $2::bigint THEN 1 ELSE l.failures + 1 END, "
               "window_end = CASE WHEN l.window_end <= $2::bigint THEN $2::bigint + $3::bigint "
               "ELSE l.window_end END RETURNING window_start, window_end, failures",
               MakeParams(key, now, window_seconds)));
    return LoginFailures{r.Int(0, 0), r.Int(0, 1), static_cast<int>(r.Int(0, 2))};
  });
}

StatusOr<LoginFailures> PostgresStore::GetLoginFailures(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<LoginFailures> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT window_start, window_end, failures FROM "
                                         "login_failures WHERE key = $1",
                                         MakeParams(key)));
    if (r.rows() == 0) return NotFoundError("no login failures recorded");
    return LoginFailures{r.Int(0, 0), r.Int(0, 1), static_cast<int>(r.Int(0, 2))};
  });
}

Status PostgresStore::ClearLoginFailures(const std::string& key) {
  return impl_->Single([&](Connection& c) -> Status {
    return c.Exec("DELETE FROM login_failures WHERE key = $1", MakeParams(key)).status();
  });
}

Status PostgresStore::UpdateSigningKeys(const SigningKeyUpdate& update) {
  return impl_->Write([&](Connection& c) -> Status {
    // One rotator at a time across every node: the transaction-scoped advisory lock is released
    // by COMMIT or ROLLBACK, also when the node dies mid-way (its connection closes).
    TS_RETURN_IF_ERROR(
        c.Exec("SELECT pg_advisory_xact_lock($1)", MakeParams(kSigningKeyLockKey)).status());
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_SIGNING_KEY_COLUMNS
                                         " FROM signing_keys ORDER BY created_at, kid"));
    std::vector<SigningKey> current;
    for (int i = 0; i < r.rows(); ++i) current.push_back(ReadSigningKey(r, i));
    TS_ASSIGN_OR_RETURN(std::vector<SigningKey> changed, update(current));
    for (const SigningKey& key : changed) TS_RETURN_IF_ERROR(UpsertSigningKey(c, key));
    return OkStatus();
  });
}

}  // namespace ts::storage
