// File: connection.cc
// The PostgreSQL backend's shared infrastructure (postgres_internal.h): results, connections,
// schema migrations, the row writers and readers every aggregate's methods use.
#include <libpq-fe.h>
#include <poll.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/migrations.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/row_codec.h"

namespace ts::storage::postgres_internal {

namespace {

using internal::SplitList;

// Advisory-lock key of schema migrations ("tessera" in ASCII, 0x74657373657261).
constexpr int64_t kMigrationLockKey = 0x74657373657261;

}  // namespace

bool IsTransientSqlState(std::string_view state) {
  return state.rfind("08", 0) == 0 || state == "40001" || state == "40P01" ||
         state.rfind("53", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" ||
         state == "25006" || state == "55P03" || state == "57014";
}

std::string Result::Bytes(int row, int column) const {
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

StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& url,
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

bool Connection::LooksAlive() {
  if (broken()) return false;
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  if (pfd.fd < 0) return false;
  const int n = ::poll(&pfd, 1, 0);
  return n == 0;
}

StatusOr<Result> Connection::Exec(std::string_view sql, const Params& params) {
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

Status Connection::ExecScript(const std::string& sql) {
  round_trips_->fetch_add(1, std::memory_order_relaxed);
  PGresult* raw = PQexec(conn_, sql.c_str());
  Result result(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Fail(raw, "script");
  return OkStatus();
}

const std::string& Connection::PipelinePrepare(std::string_view sql, bool* sent) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  const std::string name = "ts" + std::to_string(prepared_.size());
  *sent = PQsendPrepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr) == 1;
  return prepared_.emplace(std::string(sql), name).first->second;
}

Connection::PipelineOutcome Connection::RunPipelinedTransaction(
    const std::vector<Pipelined>& statements, std::vector<Result>* results, Status* error) {
  results->clear();
  last_state_.clear();
  last_table_.clear();
  if (PQenterPipelineMode(conn_) != 1) {
    broken_ = true;
    *error = UnavailableError("PostgreSQL pipeline: " + std::string(PQerrorMessage(conn_)));
    return PipelineOutcome::kRolledBack;
  }
  // What the server will answer, in order: BEGIN, per statement an optional PREPARE and the
  // statement, COMMIT. A PREPARE that does not succeed is forgotten again (it never existed).
  enum class Reply { kBegin, kPrepare, kStatement, kCommit };
  std::vector<std::pair<Reply, std::string>> replies;
  replies.reserve(statements.size() + 2);
  bool sent = PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  replies.emplace_back(Reply::kBegin, "");
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const Pipelined& statement : statements) {
    if (!sent) break;
    bool prepare_sent = false;
    const std::string& name = PipelinePrepare(statement.sql, &prepare_sent);
    if (prepare_sent) replies.emplace_back(Reply::kPrepare, std::string(statement.sql));
    values.clear();
    lengths.clear();
    formats.clear();
    statement.params->Export(&values, &lengths, &formats);
    sent = PQsendQueryPrepared(conn_, name.c_str(), statement.params->size(), values.data(),
                               lengths.data(), formats.data(), /*resultFormat=*/0) == 1;
    replies.emplace_back(Reply::kStatement, "");
  }
  // The server runs each command as it arrives (the sync point only ends error recovery), so
  // once COMMIT may have left, a failure from here on leaves the outcome unknown.
  const bool commit_queued = sent;
  if (sent) {
    sent = PQsendQueryParams(conn_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
    replies.emplace_back(Reply::kCommit, "");
  }
  if (sent) sent = PQpipelineSync(conn_) == 1;
  round_trips_->fetch_add(1, std::memory_order_relaxed);
  if (!sent) {
    *error = Fail(nullptr, "pipeline");
    broken_ = true;
    for (const auto& [reply, sql] : replies) {
      if (reply == Reply::kPrepare) prepared_.erase(sql);
    }
    // Without COMMIT the server rolls back when the connection closes.
    return commit_queued ? PipelineOutcome::kUnknown : PipelineOutcome::kRolledBack;
  }
  bool failed = false;
  bool committed = false;
  for (const auto& [reply, sql] : replies) {
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) break;  // the connection failed
    Result result(raw);
    // Each command's results end with a NULL.
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    const ExecStatusType status = PQresultStatus(raw);
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (reply == Reply::kPrepare) {
      if (!ok) prepared_.erase(sql);
      if (!ok && !failed && status != PGRES_PIPELINE_ABORTED) {
        *error = Fail(raw, "prepare");
        failed = true;
      }
      continue;
    }
    if (!ok) {
      if (!failed && status != PGRES_PIPELINE_ABORTED) {
        *error = Fail(raw, reply == Reply::kCommit ? "commit" : "statement");
        failed = true;
      }
      continue;
    }
    if (reply == Reply::kStatement) results->push_back(std::move(result));
    if (reply == Reply::kCommit) committed = !failed;
  }
  // Then the sync point.
  bool synced = false;
  while (PGresult* raw = PQgetResult(conn_)) {
    synced = synced || PQresultStatus(raw) == PGRES_PIPELINE_SYNC;
    PQclear(raw);
    if (synced) break;
  }
  if (!synced || PQexitPipelineMode(conn_) != 1) broken_ = true;
  if (committed) return PipelineOutcome::kCommitted;
  // An error the server reported (it has a SQLSTATE) aborted the transaction for certain; a
  // failure of the connection itself says nothing about the COMMIT.
  const bool server_refused = failed && !last_state_.empty();
  if (!failed) *error = Fail(nullptr, "pipeline");
  // A failed statement leaves the transaction block open and aborted (the server skipped the
  // COMMIT): end it.
  if (!broken() && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    const std::string state = last_state_;
    const std::string table = last_table_;
    ExecScript("ROLLBACK").IgnoreError();
    last_state_ = state;
    last_table_ = table;
  }
  return server_refused ? PipelineOutcome::kRolledBack : PipelineOutcome::kUnknown;
}

void Connection::RunPipelinedReads(const std::vector<Pipelined>& statements,
                                   std::vector<StatusOr<Result>>* results) {
  results->clear();
  results->reserve(statements.size());
  for (size_t i = 0; i < statements.size(); ++i) {
    results->push_back(UnavailableError("PostgreSQL pipeline: not read"));
  }
  last_state_.clear();
  last_table_.clear();
  if (statements.empty()) return;
  if (PQenterPipelineMode(conn_) != 1) {
    broken_ = true;
    const Status error = Fail(nullptr, "pipeline");
    for (StatusOr<Result>& r : *results) r = error;
    return;
  }
  // What the server will answer, in order: per statement an optional PREPARE (its SQL) and the
  // statement (its index).
  struct Reply {
    bool prepare;
    size_t index;
  };
  std::vector<Reply> replies;
  replies.reserve(statements.size() + 1);
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  bool sent = true;
  for (size_t i = 0; i < statements.size() && sent; ++i) {
    bool prepare_sent = false;
    const std::string& name = PipelinePrepare(statements[i].sql, &prepare_sent);
    if (prepare_sent) replies.push_back({true, i});
    values.clear();
    lengths.clear();
    formats.clear();
    statements[i].params->Export(&values, &lengths, &formats);
    sent = PQsendQueryPrepared(conn_, name.c_str(), statements[i].params->size(), values.data(),
                               lengths.data(), formats.data(), /*resultFormat=*/0) == 1;
    replies.push_back({false, i});
  }
  if (sent) sent = PQpipelineSync(conn_) == 1;
  round_trips_->fetch_add(1, std::memory_order_relaxed);
  if (!sent) {
    broken_ = true;
    const Status error = Fail(nullptr, "pipeline");
    for (const Reply& reply : replies) {
      if (reply.prepare) prepared_.erase(std::string(statements[reply.index].sql));
    }
    for (StatusOr<Result>& r : *results) r = error;
    return;
  }
  std::vector<size_t> aborted;
  for (const Reply& reply : replies) {
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) {  // the connection failed
      broken_ = true;
      break;
    }
    Result result(raw);
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    const ExecStatusType status = PQresultStatus(raw);
    const bool ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
    if (reply.prepare) {
      if (!ok) prepared_.erase(std::string(statements[reply.index].sql));
      continue;
    }
    if (ok) {
      (*results)[reply.index] = std::move(result);
    } else if (status == PGRES_PIPELINE_ABORTED) {
      aborted.push_back(reply.index);
    } else {
      (*results)[reply.index] = Fail(raw, "statement");
    }
  }
  bool synced = false;
  while (!broken_) {
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) break;
    synced = synced || PQresultStatus(raw) == PGRES_PIPELINE_SYNC;
    PQclear(raw);
    if (synced) break;
  }
  if (!synced || PQexitPipelineMode(conn_) != 1) broken_ = true;
  // Behind a failure (its own PREPARE's included) the pipeline skipped the rest: read those
  // again, each on its own.
  for (size_t index : aborted) {
    if (broken()) break;
    (*results)[index] = Exec(statements[index].sql, *statements[index].params);
  }
}

Status Connection::Fail(PGresult* result, std::string_view what) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* table = result != nullptr ? PQresultErrorField(result, PG_DIAG_TABLE_NAME) : nullptr;
  last_state_ = state != nullptr ? state : "";
  last_table_ = table != nullptr ? table : "";
  std::string message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn_);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  message = "PostgreSQL " + std::string(what) + ": " + message;
  // No SQLSTATE with a bad connection: the connection itself failed.
  if (PQstatus(conn_) != CONNECTION_OK || last_state_.empty() || IsTransientSqlState(last_state_)) {
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
  c.nonce = r.Text(row, 12);
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

Status InsertConflict(const Connection& c, const Status& status, const TokenFamily& family) {
  return InsertConflict(c.last_state(), c.last_table(), status, family);
}

Status InsertConflict(const std::string& sqlstate, const std::string& table, const Status& status,
                      const TokenFamily& family) {
  if (sqlstate == "23505") {
    if (table == "token_families") {
      return AlreadyExistsError("token family already exists: " + family.family_id);
    }
    if (table == "refresh_tokens") return AlreadyExistsError("refresh token already exists");
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

}  // namespace ts::storage::postgres_internal
