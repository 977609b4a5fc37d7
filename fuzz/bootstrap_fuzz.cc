// File: bootstrap_fuzz.cc
// The bootstrap file (`--bootstrap FILE`, server/bootstrap.h) applied to a SQLite store in a
// temporary directory, one per process, that already holds the demo instance (so a document can
// refer to what a database holds: users, groups, issuers, permission sets). A document that is
// accepted changes the store; the store is then put back to the demo state (a copy of the file
// made at start), so every input starts from the same database.
// Invariants: no crash or UB; a refused document is InvalidArgument "bootstrap: <member path>:
// <problem>" (the store cannot fail here, so any other error means validation let something
// through that a write then refused) and writes nothing: SQLite's data_version, read on a
// connection of our own, does not move.
// TS_FUZZ_VERBOSE=1 in the environment prints every outcome (to see where a seed gets).
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "fuzz/fuzz_check.h"
#include "test/common/temp_dir.h"
#include "ts/server/bootstrap.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace {

using namespace ts;
namespace fs = std::filesystem;

constexpr int64_t kNow = 1'700'000'000;

// A connection of our own to the store's file: its data_version moves when any other connection
// commits a change (https://sqlite.org/pragma.html#pragma_data_version).
class ChangeWatch {
 public:
  explicit ChangeWatch(const std::string& path) {
    FUZZ_CHECK(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    FUZZ_CHECK(sqlite3_prepare_v2(db_, "PRAGMA data_version", -1, &version_, nullptr) == SQLITE_OK);
  }
  ~ChangeWatch() {
    sqlite3_finalize(version_);
    sqlite3_close(db_);
  }
  ChangeWatch(const ChangeWatch&) = delete;
  ChangeWatch& operator=(const ChangeWatch&) = delete;

  int64_t Version() {
    FUZZ_CHECK(sqlite3_step(version_) == SQLITE_ROW);
    const int64_t version = sqlite3_column_int64(version_, 0);
    sqlite3_reset(version_);
    return version;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* version_ = nullptr;
};

class World {
 public:
  World() {
    dir_ = testing::MakeTempDir("ts-fuzz-bootstrap");
    FUZZ_CHECK(!dir_.empty());
    static const fs::path* dir = new fs::path(dir_);
    std::atexit([] { testing::RemoveTempDir(*dir); });  // libFuzzer ends a timed run with exit()
    {
      // The demo instance, written once; closing the store checkpoints its WAL into the file.
      auto pristine = storage::SqliteStore::Open((dir_ / "demo.db").string());
      FUZZ_CHECK(pristine.ok());
      const Status applied =
          server::ApplyBootstrap(Context(pristine->get()), server::DemoBootstrap(""));
      if (!applied.ok()) {
        std::fprintf(stderr, "bootstrap_fuzz: demo: %s\n", applied.ToString().c_str());
        std::abort();
      }
    }
    Reset();
  }

  server::BootstrapContext Context(storage::Store* store) const {
    return server::BootstrapContext{store, std::string(32, 's'), "us-east-1", kNow};
  }
  storage::Store* store() { return store_.get(); }
  ChangeWatch& watch() { return *watch_; }

  // Back to the demo state: a fresh copy of the demo database, opened again.
  void Reset() {
    watch_.reset();
    store_.reset();
    const fs::path db = dir_ / "t.db";
    // libFuzzer's -timeout watchdog is a SIGALRM every timeout/2 seconds, its handler installed
    // without SA_RESTART. One landing in copy_file's sendfile fails the copy with EINTR, leaving
    // an empty t.db (libstdc++ does not retry): seen once in 10 million runs, and every few
    // dozen copies under a 50 µs timer. So an interrupted copy is made again.
    std::error_code ec;
    for (int attempt = 0; attempt < 10; ++attempt) {
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db.string() + suffix, ec);
      fs::copy_file(dir_ / "demo.db", db, ec);
      if (ec != std::errc::interrupted) break;
    }
    if (ec)
      std::fprintf(stderr, "bootstrap_fuzz: copying the demo database: %s\n", ec.message().c_str());
    FUZZ_CHECK(!ec);
    auto store = storage::SqliteStore::Open(db.string());
    FUZZ_CHECK(store.ok());
    store_ = *store;
    watch_ = std::make_unique<ChangeWatch>(db.string());
  }

 private:
  fs::path dir_;
  std::shared_ptr<storage::SqliteStore> store_;
  std::unique_ptr<ChangeWatch> watch_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  const std::string document(fuzz::AsView(data, size));
  const int64_t before = world->watch().Version();
  const Status status = server::ApplyBootstrap(world->Context(world->store()), document);
  static const bool verbose = std::getenv("TS_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "bootstrap_fuzz: %s\n", status.ToString().c_str());
  if (!status.ok()) {
    if (status.code() != StatusCode::kInvalidArgument ||
        !status.message().starts_with("bootstrap: ")) {
      std::fprintf(stderr, "bootstrap_fuzz: refused with %s\n", status.ToString().c_str());
    }
    FUZZ_CHECK(status.code() == StatusCode::kInvalidArgument);
    FUZZ_CHECK(status.message().starts_with("bootstrap: "));
    FUZZ_CHECK(world->watch().Version() == before);
    return 0;
  }
  if (world->watch().Version() != before) world->Reset();
  return 0;
}
