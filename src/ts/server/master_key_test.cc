#include "ts/server/master_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/crypto/encoding.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::server {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;

const std::string kKey = std::string(
    "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
    "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f",
    32);

class MasterKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-master-key");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { ::ts::testing::RemoveTempDir(dir_); }
  void WriteFile(const fs::path& path, const std::string& bytes, mode_t mode) {
    std::ofstream(path, std::ios::binary) << bytes;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  fs::path dir_;
};

TEST_F(MasterKeyTest, HexFromTheEnvironment) {
  const std::string hex = crypto::HexEncode(kKey);
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_THAT(LoadMasterKey(hex, (dir_ / "unused").string()), IsOkAndHolds(kKey));
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_THAT(LoadMasterKey(upper, ""), IsOkAndHolds(kKey));
  EXPECT_FALSE(fs::exists(dir_ / "unused"));  // the environment wins; no file is made
}

TEST_F(MasterKeyTest, Base64FromTheEnvironment) {
  const std::string b64 = crypto::Base64Encode(kKey);
  ASSERT_EQ(b64.size(), 44u);
  EXPECT_THAT(LoadMasterKey(b64, ""), IsOkAndHolds(kKey));
}

TEST_F(MasterKeyTest, WrongLengthOrEncodingIsRefused) {
  for (const std::string& bad :
       {crypto::HexEncode(kKey.substr(0, 31)), crypto::HexEncode(kKey) + "00",
        crypto::Base64Encode(kKey.substr(0, 31)), crypto::Base64Encode(kKey + "x"),
        std::string(64, 'g'), std::string("not a key")}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(LoadMasterKey(bad, ""),
                StatusIs(StatusCode::kInvalidArgument,
                         HasSubstr("TESSERA_MASTER_KEY must be 32 bytes in base64")));
  }
}

TEST_F(MasterKeyTest, KeyFileIsCreatedWithMode0600AndReused) {
  const fs::path path = dir_ / "sub" / "master.key";
  auto first = LoadMasterKey("", path.string());
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_THAT(LoadMasterKey("", path.string()), IsOkAndHolds(*first));
  // Another fresh file gets another key.
  auto other = LoadMasterKey("", (dir_ / "other.key").string());
  ASSERT_THAT(other, IsOk());
  EXPECT_NE(*other, *first);
}

TEST_F(MasterKeyTest, ExistingKeyFileIsRead) {
  const fs::path path = dir_ / "master.key";
  WriteFile(path, kKey, 0600);
  EXPECT_THAT(LoadMasterKey("", path.string()), IsOkAndHolds(kKey));
  WriteFile(path, kKey, 0400);
  EXPECT_THAT(LoadMasterKey("", path.string()), IsOkAndHolds(kKey));
}

TEST_F(MasterKeyTest, GroupOrWorldReadableKeyFileIsRefused) {
  const fs::path path = dir_ / "master.key";
  for (mode_t mode : {0640, 0604, 0660}) {
    SCOPED_TRACE(mode);
    WriteFile(path, kKey, mode);
    EXPECT_THAT(LoadMasterKey("", path.string()),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("readable by group or others")));
  }
}

TEST_F(MasterKeyTest, KeyFileOfTheWrongSizeIsRefused) {
  const fs::path path = dir_ / "master.key";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kKey.substr(0, 31), "got 31"},
      {kKey + "x", "got more"},
      {std::string(), "got 0"},
      // The base64 that TESSERA_MASTER_KEY takes is the likeliest mistake.
      {crypto::Base64Encode(kKey), "got more"}};
  for (const auto& [bytes, got] : cases) {
    SCOPED_TRACE(got);
    WriteFile(path, bytes, 0600);
    EXPECT_THAT(LoadMasterKey("", path.string()),
                StatusIs(StatusCode::kInvalidArgument,
                         "master key file " + path.string() +
                             " must hold the key's 32 raw bytes (not base64), " + got));
  }
}

TEST_F(MasterKeyTest, VerifyStoresTheCheckThenAcceptsOnlyTheSameKey) {
  auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->GetMeta("master_key_check"), StatusIs(StatusCode::kNotFound, ::testing::_));
  ASSERT_THAT(VerifyMasterKey(**store, kKey), IsOk());
  auto check = (*store)->GetMeta("master_key_check");
  ASSERT_THAT(check, IsOk());
  EXPECT_EQ(check->find(kKey), std::string::npos);
  EXPECT_THAT(VerifyMasterKey(**store, kKey), IsOk());
  EXPECT_THAT((*store)->GetMeta("master_key_check"), IsOkAndHolds(*check));  // not rewritten
  EXPECT_THAT(VerifyMasterKey(**store, std::string(32, 'z')),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("the master key does not match this database")));
}

// Nodes starting together on an empty database with different keys: exactly the first key to
// be stored is accepted, every other node refuses to start.
TEST_F(MasterKeyTest, ConcurrentFirstVerificationsAcceptOnlyOneKey) {
  auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
  ASSERT_THAT(store, IsOk());
  constexpr int kNodes = 8;
  std::vector<Status> results(kNodes);
  RunConcurrently(kNodes, [&](int i) {
    results[i] = VerifyMasterKey(**store, std::string(32, static_cast<char>('a' + i)));
  });
  int accepted = 0;
  for (const Status& s : results) {
    if (s.ok()) {
      ++accepted;
    } else {
      EXPECT_THAT(s, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("does not match")));
    }
  }
  EXPECT_EQ(accepted, 1);
}

TEST_F(MasterKeyTest, PostgresNodesNeedAGivenKeyAndNeverCreateOne) {
  const std::string url = "postgresql://tessera@db.example/tessera";
  EXPECT_THAT(LoadNodeMasterKey(url, "", ""),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("TESSERA_MASTER_KEY")));
  const fs::path missing = dir_ / "master.key";
  EXPECT_THAT(LoadNodeMasterKey(url, "", missing.string()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("does not exist")));
  EXPECT_FALSE(fs::exists(missing));
  WriteFile(missing, kKey, 0600);
  EXPECT_THAT(LoadNodeMasterKey(url, "", missing.string()), IsOkAndHolds(kKey));
  EXPECT_THAT(LoadNodeMasterKey(url, crypto::HexEncode(kKey), ""), IsOkAndHolds(kKey));
}

TEST_F(MasterKeyTest, SqliteNodeCreatesItsKeyBesideTheDatabase) {
  auto key = LoadNodeMasterKey((dir_ / "t.db").string(), "", "");
  ASSERT_THAT(key, IsOk());
  EXPECT_TRUE(fs::exists(dir_ / "master.key"));
  EXPECT_THAT(LoadNodeMasterKey((dir_ / "t.db").string(), "", ""), IsOkAndHolds(*key));
}

TEST(DeriveMasterKeysTest, PurposeKeysAreDistinct32ByteKeys) {
  MasterKeys k = DeriveMasterKeys(kKey);
  std::set<std::string> distinct = {k.signing_keys, k.iam_secrets, k.identity_context,
                                    k.refresh_rotation, kKey};
  EXPECT_EQ(distinct.size(), 5u);
  for (const std::string& key :
       {k.signing_keys, k.iam_secrets, k.identity_context, k.refresh_rotation}) {
    EXPECT_EQ(key.size(), 32u);
  }
  // Deterministic: the same master key gives the same purpose keys.
  EXPECT_EQ(DeriveMasterKeys(kKey).signing_keys, k.signing_keys);
}

}  // namespace
}  // namespace ts::server
