#include "ts/storage/sqlite/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/storage/sqlite/migrations.h"
#include "ts/storage/store_conformance_test.h"

namespace ts::storage {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'700'000'000;

// A store in its own temporary directory, removed when the last reference goes.
struct TempStore {
  fs::path dir;
  std::shared_ptr<SqliteStore> store;
  ~TempStore() {
    store.reset();
    ::ts::testing::RemoveTempDir(dir);
  }
};

StorePtr MakeFreshSqliteStore() {
  auto holder = std::make_shared<TempStore>();
  holder->dir = ::ts::testing::MakeTempDir("ts-sqlite-store");
  if (holder->dir.empty()) {
    ADD_FAILURE() << "mkdtemp failed";
    return nullptr;
  }
  auto opened = SqliteStore::Open((holder->dir / "tessera.db").string());
  if (!opened.ok()) {
    ADD_FAILURE() << opened.status();
    return nullptr;
  }
  holder->store = *opened;
  return StorePtr(holder, holder->store.get());  // aliasing: owns the holder
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
                         ::testing::Values(StoreFactory(MakeFreshSqliteStore)));

// Raw access to the database file, to look behind the Store interface.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
    sqlite3_free(error);
  }
  // The first column of every row, as text.
  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> values;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      values.emplace_back(text ? text : "");
    }
    sqlite3_finalize(stmt);
    return values;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-sqlite-store");
    ASSERT_FALSE(dir_.empty());
    path_ = (dir_ / "state" / "db" / "tessera.db").string();
  }
  void TearDown() override { ::ts::testing::RemoveTempDir(dir_); }

  std::shared_ptr<SqliteStore> OpenOrDie(const SqliteStoreOptions& options = {}) {
    auto opened = SqliteStore::Open(path_, options);
    EXPECT_THAT(opened, IsOk());
    return opened.ok() ? *opened : nullptr;
  }

  static mode_t Mode(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, OpenCreatesPrivateDirectoriesAndFiles) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->PutMeta("k", "v"), IsOk());
  EXPECT_EQ(Mode(dir_ / "state"), 0700u);
  EXPECT_EQ(Mode(dir_ / "state" / "db"), 0700u);
  EXPECT_EQ(Mode(path_), 0600u);
  // SQLite gives the WAL the database file's mode.
  EXPECT_EQ(Mode(path_ + "-wal"), 0600u);
}

TEST_F(SqliteStoreTest, OpenUsesWalJournal) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("PRAGMA journal_mode"), ElementsAre("wal"));
}

TEST_F(SqliteStoreTest, OpenRejectsInMemoryDatabases) {
  EXPECT_THAT(SqliteStore::Open(":memory:"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(":memory:")));
  EXPECT_THAT(SqliteStore::Open(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("path")));
}

TEST_F(SqliteStoreTest, OpenUnderAFileIsUnavailable) {
  fs::create_directories(dir_);
  const fs::path file = dir_ / "plain-file";
  { std::ofstream(file.string()) << "x"; }
  EXPECT_THAT(SqliteStore::Open((file / "tessera.db").string()),
              StatusIs(StatusCode::kUnavailable, HasSubstr("plain-file")));
}

TEST_F(SqliteStoreTest, MigrationsApplyOnceAndReopenIsIdempotent) {
  std::vector<std::string> versions;
  for (const auto& migration : sqlite_internal::SqliteMigrations()) {
    versions.push_back(std::to_string(migration.version));
  }
  ASSERT_FALSE(versions.empty());
  EXPECT_EQ(versions.front(), "1");

  ASSERT_NE(OpenOrDie(), nullptr);
  std::vector<std::string> first_applied;
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Column("SELECT version FROM schema_migrations ORDER BY version"), versions);
    first_applied = raw.Column("SELECT applied_at FROM schema_migrations ORDER BY version");
    EXPECT_THAT(raw.Column("SELECT name FROM sqlite_master WHERE name = 'refresh_tokens'"),
                ElementsAre("refresh_tokens"));
  }
  ASSERT_NE(OpenOrDie(), nullptr);
  ASSERT_NE(OpenOrDie(), nullptr);
  RawDb raw(path_);
  EXPECT_EQ(raw.Column("SELECT version FROM schema_migrations ORDER BY version"), versions);
  EXPECT_EQ(raw.Column("SELECT applied_at FROM schema_migrations ORDER BY version"), first_applied);
}

TEST_F(SqliteStoreTest, NewerSchemaIsFailedPrecondition) {
  ASSERT_NE(OpenOrDie(), nullptr);
  {
    RawDb raw(path_);
    raw.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'x', 0)");
  }
  EXPECT_THAT(SqliteStore::Open(path_),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("999")));
}

TEST_F(SqliteStoreTest, DataSurvivesReopen) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    User user;
    user.user_id = "user-1";
    user.user_name = "alice";
    ASSERT_THAT(store->CreateUser(user), IsOk());
    TokenFamily family;
    family.family_id = "fam-1";
    family.scopes = {"openid", "aws"};
    family.expires_at = kNow + 100;
    RefreshToken token;
    token.token_hash = "rt-1";
    token.family_id = "fam-1";
    token.expires_at = kNow + 100;
    ASSERT_THAT(store->CreateFamily(family, token), IsOk());
    RefreshToken next = token;
    next.token_hash = "rt-2";
    ASSERT_THAT(store->RotateRefreshToken("rt-1", kNow, next),
                IsOkAndHolds(RotateOutcome::kRotated));
  }
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  auto user = store->GetUserByName("alice");
  ASSERT_THAT(user, IsOk());
  EXPECT_EQ(user->user_id, "user-1");
  auto old = store->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  EXPECT_THAT(old->family.scopes, ElementsAre("openid", "aws"));
  EXPECT_THAT(store->GetRefreshToken("rt-2"), IsOk());
}

// Group commit: many writers share one transaction, each body in its own savepoint. A body that
// fails (here: a duplicate) must roll back alone, and every body that succeeded must be durable.
TEST_F(SqliteStoreTest, ConcurrentWritesThatFailRollBackAloneAndTheRestCommit) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  User taken;
  taken.user_id = "taken-id";
  taken.user_name = "taken";
  ASSERT_THAT(store->CreateUser(taken), IsOk());
  constexpr int kThreads = 48;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      User user;
      user.user_id = "id-" + std::to_string(i);
      // Every third writer reuses a taken user name.
      user.user_name = i % 3 == 0 ? "taken" : "user-" + std::to_string(i);
      results[static_cast<size_t>(i)] = store->CreateUser(user);
    });
  }
  for (auto& t : threads) t.join();
  store.reset();
  store = OpenOrDie();  // what was acknowledged is on disk
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < kThreads; ++i) {
    const std::string id = "id-" + std::to_string(i);
    if (i % 3 == 0) {
      EXPECT_THAT(results[static_cast<size_t>(i)],
                  StatusIs(StatusCode::kAlreadyExists, HasSubstr("user name already exists")))
          << i;
      EXPECT_THAT(store->GetUser(id), StatusIs(StatusCode::kNotFound, HasSubstr(id))) << i;
    } else {
      EXPECT_THAT(results[static_cast<size_t>(i)], IsOk()) << i;
      EXPECT_THAT(store->GetUser(id), IsOk()) << i;
    }
  }
  auto users = store->ListUsers();
  ASSERT_THAT(users, IsOk());
  EXPECT_EQ(users->size(), 1u + kThreads - (kThreads + 2) / 3);
}

// A body that fails after its first statement (the rotation's UPDATE succeeded, the successor's
// INSERT hit a duplicate) leaves nothing behind, while rotations batched with it go through.
TEST_F(SqliteStoreTest, HalfDoneBodyIsUndoneInsideABatch) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kChains = 24;
  for (int i = 0; i < kChains; ++i) {
    TokenFamily family;
    family.family_id = "fam-" + std::to_string(i);
    family.expires_at = kNow + 100;
    RefreshToken token;
    token.token_hash = "rt-" + std::to_string(i);
    token.family_id = family.family_id;
    token.expires_at = kNow + 100;
    ASSERT_THAT(store->CreateFamily(family, token), IsOk());
  }
  std::vector<StatusOr<RotateOutcome>> results(kChains,
                                               StatusOr<RotateOutcome>(InternalError("unset")));
  std::vector<std::thread> threads;
  for (int i = 0; i < kChains; ++i) {
    threads.emplace_back([&, i] {
      RefreshToken next;
      next.family_id = "fam-" + std::to_string(i);
      next.expires_at = kNow + 100;
      // Odd chains name an existing token as their successor: the INSERT fails.
      next.token_hash = i % 2 == 1 ? "rt-0" : "next-" + std::to_string(i);
      results[static_cast<size_t>(i)] =
          store->RotateRefreshToken("rt-" + std::to_string(i), kNow, next);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kChains; ++i) {
    auto token = store->GetRefreshToken("rt-" + std::to_string(i));
    ASSERT_THAT(token, IsOk());
    if (i % 2 == 1) {
      EXPECT_THAT(results[static_cast<size_t>(i)],
                  StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token already exists")))
          << i;
      EXPECT_EQ(token->token.rotated_at, 0) << i;  // the UPDATE was undone with it
      EXPECT_EQ(token->token.successor_hash, "") << i;
    } else {
      EXPECT_THAT(results[static_cast<size_t>(i)], IsOkAndHolds(RotateOutcome::kRotated)) << i;
      EXPECT_EQ(token->token.successor_hash, "next-" + std::to_string(i)) << i;
    }
  }
}

TEST_F(SqliteStoreTest, TwoStoresOnOneFileShareState) {
  auto a = OpenOrDie();
  auto b = OpenOrDie();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_THAT(a->PutMeta("k", "from-a"), IsOk());
  EXPECT_THAT(b->GetMeta("k"), IsOkAndHolds(std::string("from-a")));
}

TEST_F(SqliteStoreTest, LockedDatabaseIsUnavailableForWritesButReadable) {
  SqliteStoreOptions options;
  options.busy_timeout = std::chrono::milliseconds(50);
  auto store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(store->PutMeta("k", "v1"), IsOk());
  RawDb raw(path_);
  raw.Exec("BEGIN IMMEDIATE");
  EXPECT_THAT(store->PutMeta("k", "v2"), StatusIs(StatusCode::kUnavailable, HasSubstr("locked")));
  EXPECT_THAT(store->GetMeta("k"), IsOkAndHolds(std::string("v1")));  // WAL: readers go on
  raw.Exec("ROLLBACK");
  EXPECT_THAT(store->PutMeta("k", "v2"), IsOk());
  EXPECT_THAT(store->GetMeta("k"), IsOkAndHolds(std::string("v2")));
}

TEST_F(SqliteStoreTest, ScopesWithWhitespaceAreInvalidArgument) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  TokenFamily family;
  family.family_id = "fam-1";
  family.scopes = {"openid", "two words"};
  EXPECT_THAT(store->CreateFamily(family, std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("two words")));
  AuthorizationCode code;
  code.code_hash = "code-1";
  code.scopes = {""};
  EXPECT_THAT(store->CreateAuthorizationCode(code),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("non-empty")));
  Application app;
  app.application_arn = "arn:app";
  app.access_scopes["aws"] = {"arn:a arn:b"};
  EXPECT_THAT(store->PutApplication(app),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("AuthorizedTargets")));
  EXPECT_THAT(store->GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
}

TEST_F(SqliteStoreTest, RotateIntoAnotherFamilyIsInvalidArgument) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  TokenFamily family;
  family.family_id = "fam-1";
  RefreshToken token;
  token.token_hash = "rt-1";
  token.family_id = "fam-1";
  ASSERT_THAT(store->CreateFamily(family, token), IsOk());
  RefreshToken successor = token;
  successor.token_hash = "rt-2";
  successor.family_id = "fam-2";
  EXPECT_THAT(store->RotateRefreshToken("rt-1", kNow, successor),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("fam-2")));
  auto old = store->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  // A first refresh token must belong to the family it comes with.
  TokenFamily other;
  other.family_id = "fam-3";
  EXPECT_THAT(store->CreateFamily(other, successor),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("fam-3")));
}

TEST_F(SqliteStoreTest, ZeroTimeIsInvalidArgumentForCompareAndSet) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  TokenFamily family;
  family.family_id = "fam-1";
  RefreshToken token;
  token.token_hash = "rt-1";
  token.family_id = "fam-1";
  ASSERT_THAT(store->CreateFamily(family, token), IsOk());
  RefreshToken successor = token;
  successor.token_hash = "rt-2";
  EXPECT_THAT(store->RotateRefreshToken("rt-1", 0, successor),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("now")));
  EXPECT_THAT(store->RedeemAuthorizationCode("code-1", 0, family, std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("now")));
}

TEST_F(SqliteStoreTest, PurgeRejectsNonPositiveBatch) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->PurgeExpired(kNow, 0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("batch")));
}

}  // namespace
}  // namespace ts::storage
