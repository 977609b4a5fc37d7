#include "ts/server/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::server {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kRole[] = "arn:aws:iam::123456789012:role/webapp";

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-credentials");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    ASSERT_THAT(store_->PutPrincipal({kRole, "123456789012", "", kNow}), IsOk());
    provider_ = std::make_unique<StoreCredentialProvider>(store_, seal_key_);
  }
  void TearDown() override {
    provider_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  fs::path dir_;
  storage::StorePtr store_;
  const std::string seal_key_ = std::string(32, 'c');
  std::unique_ptr<StoreCredentialProvider> provider_;
};

TEST_F(CredentialsTest, LongTermKeyIsFoundWithItsSecretUnsealed) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0);
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(key->access_key_id, MatchesRegex("AKIA[A-Z2-7]{16}"));
  EXPECT_EQ(key->secret_access_key.size(), 40u);
  EXPECT_EQ(key->session_token, "");
  EXPECT_EQ(key->expires_at, 0);

  auto stored = store_->GetAccessKey(key->access_key_id);
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->secret_sealed.find(key->secret_access_key), std::string::npos);
  EXPECT_EQ(stored->created_at, kNow);

  auto found = provider_->Find(key->access_key_id);
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->access_key_id, key->access_key_id);
  EXPECT_EQ(found->secret_access_key, key->secret_access_key);
  EXPECT_EQ(found->principal_arn, kRole);
  EXPECT_EQ(found->account_id, "123456789012");
  EXPECT_EQ(found->expires_at, 0);
  EXPECT_FALSE(found->temporary());
}

TEST_F(CredentialsTest, TemporaryKeyHasSessionTokenHashAndExpiry) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 3600);
  ASSERT_THAT(key, IsOk());
  EXPECT_THAT(key->access_key_id, MatchesRegex("ASIA[A-Z2-7]{16}"));
  EXPECT_FALSE(key->session_token.empty());
  EXPECT_EQ(key->expires_at, kNow + 3600);

  auto stored = store_->GetAccessKey(key->access_key_id);
  ASSERT_THAT(stored, IsOk());
  // Only the token's hash is kept.
  EXPECT_EQ(stored->session_token_hash, crypto::HexEncode(crypto::Sha256(key->session_token)));

  auto found = provider_->Find(key->access_key_id);
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->secret_access_key, key->secret_access_key);
  EXPECT_EQ(found->session_token, "");
  EXPECT_EQ(found->session_token_hash, stored->session_token_hash);
  EXPECT_EQ(found->expires_at, kNow + 3600);
  EXPECT_TRUE(found->temporary());
}

TEST_F(CredentialsTest, GivenIdAndSecretAreUsedAsIs) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0, "AKIAIOSFODNN7EXAMPLE",
                             "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->access_key_id, "AKIAIOSFODNN7EXAMPLE");
  auto found = provider_->Find("AKIAIOSFODNN7EXAMPLE");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  EXPECT_THAT(CreateAccessKey(*store_, seal_key_, kRole, kNow, 0, "AKIAIOSFODNN7EXAMPLE", "x"),
              StatusIs(StatusCode::kAlreadyExists, _));
}

TEST_F(CredentialsTest, KeyForAnUnknownPrincipalIsNotCreated) {
  EXPECT_THAT(CreateAccessKey(*store_, seal_key_, "arn:aws:iam::123456789012:role/nobody", kNow, 0),
              StatusIs(StatusCode::kNotFound, _));
}

TEST_F(CredentialsTest, InactiveOrUnknownKeyIsNotFound) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0, "AKIAINACTIVE0000000A", "s");
  ASSERT_THAT(key, IsOk());
  // The store has no "deactivate" call yet: write an inactive key record directly.
  storage::AccessKey inactive;
  inactive.access_key_id = "AKIAINACTIVE0000000B";
  inactive.principal_arn = kRole;
  inactive.secret_sealed = store_->GetAccessKey("AKIAINACTIVE0000000A")->secret_sealed;
  inactive.active = false;
  inactive.created_at = kNow;
  ASSERT_THAT(store_->CreateAccessKey(inactive), IsOk());
  EXPECT_THAT(provider_->Find("AKIAINACTIVE0000000B"),
              StatusIs(StatusCode::kNotFound, HasSubstr("inactive")));
  EXPECT_THAT(provider_->Find("AKIAUNKNOWN000000000"), StatusIs(StatusCode::kNotFound, _));
}

TEST_F(CredentialsTest, WrongSealKeyIsInternal) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0);
  ASSERT_THAT(key, IsOk());
  StoreCredentialProvider other(store_, std::string(32, 'd'));
  EXPECT_THAT(other.Find(key->access_key_id),
              StatusIs(StatusCode::kInternal, HasSubstr("cannot unseal")));
}

TEST_F(CredentialsTest, RootCredentialIsFoundWithoutTheStore) {
  EXPECT_THAT(provider_->Find("AKIAROOT"), StatusIs(StatusCode::kNotFound, _));
  sigv4::Credential root;
  root.access_key_id = "AKIAROOT";
  root.secret_access_key = "root-secret";
  root.principal_arn = "arn:aws:iam::111111111111:root";
  root.account_id = "111111111111";
  provider_->SetRootCredential(root);
  auto found = provider_->Find("AKIAROOT");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->secret_access_key, "root-secret");
  EXPECT_EQ(found->principal_arn, "arn:aws:iam::111111111111:root");
  // An empty id never matches an unset root.
  StoreCredentialProvider fresh(store_, seal_key_);
  EXPECT_THAT(fresh.Find(""), StatusIs(StatusCode::kNotFound, _));
}

TEST(AccountOfArnTest, ExtractsTheAccountField) {
  EXPECT_EQ(AccountOfArn("arn:aws:iam::123456789012:role/x"), "123456789012");
  EXPECT_EQ(AccountOfArn("arn:aws:iam::123456789012:root"), "123456789012");
  EXPECT_EQ(AccountOfArn("arn:aws:sts::123456789012:assumed-role/webapp/s1"), "123456789012");
  EXPECT_EQ(AccountOfArn("arn:aws:sso:::instance/ssoins-1"), "");
  EXPECT_EQ(AccountOfArn("arn:aws:iam::123456789012"), "");
  EXPECT_EQ(AccountOfArn("webapp"), "");
  EXPECT_EQ(AccountOfArn(""), "");
}

// The rules the CLI, bootstrap files and the environment share.
TEST(CredentialRulesTest, PasswordsHaveAtLeastEightCharacters) {
  EXPECT_THAT(ValidatePassword("12345678"), IsOk());
  EXPECT_THAT(
      ValidatePassword("1234567"),
      StatusIs(StatusCode::kInvalidArgument, "the password must have at least 8 characters"));
}

TEST(CredentialRulesTest, PrincipalArnsAreIamArnsWithAnAccount) {
  EXPECT_THAT(ValidatePrincipalArn("arn:aws:iam::123456789012:role/webapp"), IsOk());
  EXPECT_THAT(ValidatePrincipalArn("arn:aws:iam::123456789012:user/alice"), IsOk());
  for (const char* bad : {"webapp", "arn:aws:s3:::bucket", "arn:aws:iam::12345:role/x",
                          "arn:aws:iam::12345678901x:role/x", "arn:aws:iam::123456789012:"}) {
    EXPECT_THAT(ValidatePrincipalArn(bad), StatusIs(StatusCode::kInvalidArgument,
                                                    "must be an IAM user or role ARN, e.g. "
                                                    "arn:aws:iam::123456789012:role/webapp"))
        << bad;
  }
}

TEST(CredentialRulesTest, AccessKeyPairs) {
  EXPECT_THAT(ValidateAccessKeyId("AKIAIOSFODNN7EXAMPLE"), IsOk());
  EXPECT_THAT(ValidateAccessKeyId(std::string(128, 'A')), IsOk());
  for (const std::string& bad : {std::string("x"), std::string(15, 'A'), std::string(129, 'A'),
                                 std::string("AKIA/IOSFODNN7EXAMPLE")}) {
    EXPECT_THAT(ValidateAccessKeyId(bad),
                StatusIs(StatusCode::kInvalidArgument,
                         "must be 16 to 128 letters, digits or underscores, e.g. "
                         "AKIAIOSFODNN7EXAMPLE"))
        << bad;
  }
  EXPECT_THAT(ValidateSecretAccessKey("a secret of your choice"), IsOk());
  for (const std::string& bad : {std::string(), std::string(15, 's'), std::string(129, 's')}) {
    EXPECT_THAT(ValidateSecretAccessKey(bad),
                StatusIs(StatusCode::kInvalidArgument, "must have 16 to 128 characters"))
        << bad.size();
  }
}

// The cache (credentials.h): a long-term key found once is reused for the TTL, so a deletion
// made behind this provider's back (the CLI, another node) applies within the TTL, and at once
// after ClearCache (this node's admin plane).
class CachedCredentialsTest : public CredentialsTest {
 protected:
  void SetUp() override {
    CredentialsTest::SetUp();
    cached_ = std::make_unique<StoreCredentialProvider>(store_, seal_key_, clock_,
                                                        std::chrono::milliseconds(1000));
  }
  void TearDown() override {
    cached_.reset();
    CredentialsTest::TearDown();
  }
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::unique_ptr<StoreCredentialProvider> cached_;
};

TEST_F(CachedCredentialsTest, DeletedLongTermKeyIsRefusedOnceTheTtlHasPassed) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0);
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(cached_->Find(key->access_key_id), IsOk());
  ASSERT_THAT(store_->DeleteAccessKey(key->access_key_id), IsOk());
  clock_->Advance(std::chrono::milliseconds(999));
  auto kept = cached_->Find(key->access_key_id);
  ASSERT_THAT(kept, IsOk());
  EXPECT_EQ(kept->secret_access_key, key->secret_access_key);
  clock_->Advance(std::chrono::milliseconds(1));
  EXPECT_THAT(cached_->Find(key->access_key_id), StatusIs(StatusCode::kNotFound, _));
}

TEST_F(CachedCredentialsTest, ClearCacheAppliesADeletionAtOnce) {
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0);
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(cached_->Find(key->access_key_id), IsOk());
  ASSERT_THAT(store_->DeleteAccessKey(key->access_key_id), IsOk());
  cached_->ClearCache();
  EXPECT_THAT(cached_->Find(key->access_key_id), StatusIs(StatusCode::kNotFound, _));
}

TEST_F(CachedCredentialsTest, TemporaryKeysAreNeverKept) {
  // The portal's role credentials are revoked by sign-out and unassignment, which do not clear
  // the cache: their deletion must apply to the very next request.
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 3600);
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(cached_->Find(key->access_key_id), IsOk());
  ASSERT_THAT(store_->DeleteAccessKey(key->access_key_id), IsOk());
  EXPECT_THAT(cached_->Find(key->access_key_id), StatusIs(StatusCode::kNotFound, _));
}

TEST_F(CachedCredentialsTest, RefusalsAreNotKept) {
  EXPECT_THAT(cached_->Find("AKIALATER00000000000"), StatusIs(StatusCode::kNotFound, _));
  ASSERT_THAT(CreateAccessKey(*store_, seal_key_, kRole, kNow, 0, "AKIALATER00000000000",
                              "later-secret-0123456789"),
              IsOk());
  auto found = cached_->Find("AKIALATER00000000000");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->secret_access_key, "later-secret-0123456789");
}

TEST_F(CachedCredentialsTest, ZeroTtlReadsTheStoreEveryTime) {
  StoreCredentialProvider uncached(store_, seal_key_, clock_, std::chrono::milliseconds(0));
  auto key = CreateAccessKey(*store_, seal_key_, kRole, kNow, 0);
  ASSERT_THAT(key, IsOk());
  ASSERT_THAT(uncached.Find(key->access_key_id), IsOk());
  ASSERT_THAT(store_->DeleteAccessKey(key->access_key_id), IsOk());
  EXPECT_THAT(uncached.Find(key->access_key_id), StatusIs(StatusCode::kNotFound, _));
}

}  // namespace
}  // namespace ts::server
