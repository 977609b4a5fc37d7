#include "ts/storage/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <memory>
#include <string>
#include <utility>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"

namespace ts::storage {

using sqlite_internal::ApplyMigrations;
using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::CreateDatabaseFile;
using sqlite_internal::CreateParentDirectories;
using sqlite_internal::ExecInsert;
using sqlite_internal::IndexUnindexedUsers;
using sqlite_internal::Statement;

StatusOr<SqliteStore::Impl::Lease> SqliteStore::Impl::Acquire() {
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

void SqliteStore::Impl::Release(std::unique_ptr<Connection> connection) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int>(idle_.size()) < options_.max_idle_connections) {
    idle_.push_back(std::move(connection));
  }
}

Status SqliteStore::Impl::StartWriter(std::unique_ptr<Connection> connection) {
  // Checkpoints (SqliteStoreOptions): every 10,000 pages rather than SQLite's 1,000, so index
  // pages rewritten by many batches are copied back once, not ten times (8% less server CPU per
  // refresh at saturation); light-load ones are off by default. They run on a connection and
  // thread of their own (group_commit_writer.h).
  // The WAL file is cut back to 64 MiB when the writer restarts it, so the disk it takes stays
  // bounded.
  TS_RETURN_IF_ERROR(connection->ExecScript("PRAGMA journal_size_limit = 67108864"));
  TS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> checkpointer, Connection::Open(path_, options_));
  // A checkpoint copies pages from the log to the file; it needs no page cache of its own.
  TS_RETURN_IF_ERROR(checkpointer->ExecScript("PRAGMA cache_size = -64"));
  return writer_.Start(std::move(connection), std::move(checkpointer), options_);
}

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

Status SqliteStore::CreateMeta(const std::string& key, const std::string& value) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("INSERT INTO meta (key, value) VALUES (?, ?)"));
    stmt.Bind(key).Bind(value);
    return ExecInsert(stmt, "meta key already exists: " + key);
  });
}

}  // namespace ts::storage
