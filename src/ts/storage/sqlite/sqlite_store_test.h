// File: sqlite_store_test.h
// What the SQLite store's test files (sqlite_store_test.cc, group_commit_writer_test.cc) share:
// the SqliteStoreTest fixture (a fresh database path per test), raw access to the database file
// and a helper that creates a token family. Tests only.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/storage/store.h"

namespace ts::storage::sqlite_test {

inline constexpr int64_t kNow = 1'700'000'000;

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

// Creates family `family_id` with its first refresh token `hash`, each expiring when given.
inline Status CreateFamilyWithToken(Store& store, const std::string& family_id,
                                    const std::string& hash, int64_t family_expires_at,
                                    int64_t token_expires_at) {
  TokenFamily family;
  family.family_id = family_id;
  family.scopes = {"openid", "aws"};
  family.expires_at = family_expires_at;
  RefreshToken token;
  token.token_hash = hash;
  token.family_id = family_id;
  token.scopes = {"openid", "aws"};
  token.expires_at = token_expires_at;
  return store.CreateFamily(family, token);
}

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
    EXPECT_THAT(opened, ::ts::testing::IsOk());
    return opened.ok() ? *opened : nullptr;
  }

  static mode_t Mode(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
  }

  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace ts::storage::sqlite_test
