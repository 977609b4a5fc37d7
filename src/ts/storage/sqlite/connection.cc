#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <span>
#include <string>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/migrations.h"
#include "ts/storage/sqlite/sqlite_internal.h"

namespace ts::storage::sqlite_internal {
namespace {

Status ErrnoError(std::string_view what, const std::string& path) {
  const int err = errno;
  std::string message = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == EACCES || err == EPERM || err == ENOENT || err == ENOTDIR || err == EROFS) {
    return UnavailableError(message);
  }
  return InternalError(message);
}

}  // namespace

Status SqliteError(sqlite3* db, int rc, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return UnavailableError(message);
  return InternalError(message);
}

StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
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

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::ExecScript(const std::string& sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return OkStatus();
  std::string message = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return UnavailableError(message);
  return InternalError(message);
}

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

}  // namespace ts::storage::sqlite_internal
