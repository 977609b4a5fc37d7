#include "ts/storage/sqlite/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/storage/conformance/conformance_test.h"
#include "ts/storage/sqlite/migrations.h"
#include "ts/storage/sqlite/sqlite_store_test.h"

namespace ts::storage {
namespace {

using sqlite_test::CreateFamilyWithToken;
using sqlite_test::kNow;
using sqlite_test::RawDb;
using sqlite_test::SqliteStoreTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;

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

TEST_F(SqliteStoreTest, V006KeepsRefreshTokensAndDropsTheirFamilyKeyedIndexesAndForeignKey) {
  // A database as V005 left it, holding a family with a rotated token and its successor.
  fs::create_directories(fs::path(path_).parent_path());
  { std::ofstream empty(path_); }  // an empty file is an empty SQLite database
  {
    RawDb raw(path_);
    raw.Exec(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at INTEGER NOT NULL)");
    for (const auto& migration : sqlite_internal::SqliteMigrations()) {
      if (migration.version > 5) break;
      raw.Exec(std::string(migration.sql));
      raw.Exec("INSERT INTO schema_migrations VALUES (" + std::to_string(migration.version) +
               ", '" + std::string(migration.name) + "', 0)");
    }
    raw.Exec(
        "INSERT INTO token_families (family_id, application_arn, user_id, scopes, grant_type, "
        "session_hash, auth_time, created_at, expires_at, revoked_at) VALUES ('fam-1', 'app', "
        "'user-1', 'openid aws', 'authorization_code', 's', 1, 1, 4000000000, 0)");
    raw.Exec(
        "INSERT INTO refresh_tokens (rowid, token_hash, family_id, scopes, created_at, "
        "expires_at, rotated_at, successor_hash) VALUES (7, 'rt-1', 'fam-1', 'openid aws', 1, "
        "4000000000, 2, 'rt-2'), (9, 'rt-2', 'fam-1', 'openid aws', 2, 4000000000, 0, '')");
    EXPECT_THAT(raw.Column("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = 'refresh_tokens' ORDER BY name"),
                ElementsAre("refresh_tokens_by_expiry", "refresh_tokens_by_family",
                            "sqlite_autoindex_refresh_tokens_1"));
  }

  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  auto rotated = store->GetRefreshToken("rt-1");
  ASSERT_THAT(rotated, IsOk());
  EXPECT_EQ(rotated->token.successor_hash, "rt-2");
  EXPECT_EQ(rotated->family.family_id, "fam-1");
  RefreshToken successor;
  successor.token_hash = "rt-3";
  successor.family_id = "fam-1";
  successor.scopes = {"openid", "aws"};
  successor.created_at = kNow;
  successor.expires_at = 4000000000;
  EXPECT_THAT(store->RotateRefreshToken("rt-2", kNow, successor),
              IsOkAndHolds(RotateOutcome::kRotated));

  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                         "tbl_name = 'refresh_tokens'"),
              ElementsAre("sqlite_autoindex_refresh_tokens_1"));
  EXPECT_THAT(raw.Column("SELECT count(*) FROM pragma_foreign_key_list('refresh_tokens')"),
              ElementsAre("0"));
  // Rowids kept (the purge sweeps in their order); the new token comes after them.
  EXPECT_THAT(raw.Column("SELECT rowid FROM refresh_tokens ORDER BY rowid"),
              ElementsAre("7", "9", "10"));
}

TEST_F(SqliteStoreTest, PurgeSweepGoesOnWhereTheLastCallStoppedAndStartsOverAtTheEnd) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(CreateFamilyWithToken(*store, "fam-1", "rt-0", kNow + 1000, kNow + 1000), IsOk());
  for (int i = 1; i <= 4; ++i) {  // rt-1 .. rt-4: rt-2 and rt-4 expire at kNow + 10
    RefreshToken next;
    next.token_hash = "rt-" + std::to_string(i);
    next.family_id = "fam-1";
    next.scopes = {"openid"};
    next.expires_at = i % 2 == 0 ? kNow + 10 : kNow + 1000;
    ASSERT_THAT(store->RotateRefreshToken("rt-" + std::to_string(i - 1), kNow, next),
                IsOkAndHolds(RotateOutcome::kRotated));
  }
  auto result = [](int64_t deleted, bool finished) {
    return IsOkAndHolds(::testing::AllOf(::testing::Field(&PurgeResult::deleted, deleted),
                                         ::testing::Field(&PurgeResult::finished, finished)));
  };
  // Stretches of two rows: rt-0 rt-1, then rt-2 (expired) rt-3, then rt-4 (expired) and the end.
  EXPECT_THAT(store->PurgeExpired(kNow + 10, 2), result(0, false));
  EXPECT_THAT(store->PurgeExpired(kNow + 10, 2), result(1, false));
  EXPECT_THAT(store->GetRefreshToken("rt-2"), StatusIs(StatusCode::kNotFound, HasSubstr("token")));
  EXPECT_THAT(store->GetRefreshToken("rt-4"), IsOk());  // not reached yet
  EXPECT_THAT(store->PurgeExpired(kNow + 10, 2), result(1, true));
  EXPECT_THAT(store->GetRefreshToken("rt-4"), StatusIs(StatusCode::kNotFound, HasSubstr("token")));
  // The next call starts over from the first row: the family, then its three tokens.
  EXPECT_THAT(store->PurgeExpired(kNow + 1000, 5), result(4, true));
  EXPECT_THAT(store->GetRefreshToken("rt-0"), StatusIs(StatusCode::kNotFound, HasSubstr("token")));
}

TEST_F(SqliteStoreTest, PurgeSweepStartsAPassAtMostEveryTenMinutes) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(CreateFamilyWithToken(*store, "fam-1", "rt-1", kNow + 10000, kNow + 10000), IsOk());
  // A pass over the one live row ends at kNow.
  EXPECT_THAT(store->PurgeExpired(kNow, 100),
              IsOkAndHolds(::testing::Field(&PurgeResult::deleted, 0)));
  RefreshToken next;
  next.token_hash = "rt-2";
  next.family_id = "fam-1";
  next.scopes = {"openid"};
  next.expires_at = kNow + 1;
  ASSERT_THAT(store->RotateRefreshToken("rt-1", kNow, next), IsOkAndHolds(RotateOutcome::kRotated));
  // rt-2 has expired, but the next pass is not due before kNow + 600.
  EXPECT_THAT(store->PurgeExpired(kNow + 599, 100),
              IsOkAndHolds(::testing::Field(&PurgeResult::deleted, 0)));
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT token_hash FROM refresh_tokens ORDER BY rowid"),
              ElementsAre("rt-1", "rt-2"));
  EXPECT_THAT(store->PurgeExpired(kNow + 600, 100),
              IsOkAndHolds(::testing::Field(&PurgeResult::deleted, 1)));
  EXPECT_THAT(raw.Column("SELECT token_hash FROM refresh_tokens ORDER BY rowid"),
              ElementsAre("rt-1"));
}

TEST_F(SqliteStoreTest, PurgeSweepDeletesTheRowsOfTokensWhoseFamilyIsGone) {
  // GetRefreshToken joins the family, so only the table shows that the row itself went.
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(CreateFamilyWithToken(*store, "fam-old", "rt-outliving", kNow, kNow + 1000), IsOk());
  EXPECT_THAT(store->PurgeExpired(kNow + 1, 100),
              IsOkAndHolds(::testing::Field(&PurgeResult::deleted, 2)));
  RawDb raw(path_);
  EXPECT_THAT(raw.Column("SELECT count(*) FROM refresh_tokens"), ElementsAre("0"));
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
