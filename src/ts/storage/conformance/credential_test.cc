// The conformance suite's CredentialStore cases: IAM principals and access keys (see
// conformance_test.h).
#include <gmock/gmock.h>

#include <string>

#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

AccessKey MakeAccessKey(const std::string& id, const std::string& principal, int64_t created_at) {
  AccessKey k;
  k.access_key_id = id;
  k.principal_arn = principal;
  k.secret_sealed = std::string("sealed\0secret\xff", 14);  // binary, with a NUL inside
  k.session_token_hash = "";
  k.created_at = created_at;
  return k;
}

// --- IAM principals and access keys ---

TEST_P(StoreConformanceTest, PrincipalPutGetAndReplace) {
  IamPrincipal p{"arn:aws:iam::123456789012:role/webapp", "123456789012", "", kNow};
  EXPECT_THAT(store_->GetPrincipal(p.arn), StatusIs(StatusCode::kNotFound, HasSubstr(p.arn)));
  ASSERT_THAT(store_->PutPrincipal(p), IsOk());
  EXPECT_THAT(store_->GetPrincipal(p.arn), IsOkAndHolds(Eq(p)));
  p.identity_policy_json = R"({"Version":"2012-10-17"})";
  ASSERT_THAT(store_->PutPrincipal(p), IsOk());
  EXPECT_THAT(store_->GetPrincipal(p.arn), IsOkAndHolds(Eq(p)));
}

TEST_P(StoreConformanceTest, AccessKeyLifecycle) {
  const std::string role = "arn:aws:iam::123456789012:role/webapp";
  const std::string other = "arn:aws:iam::123456789012:user/ops";
  ASSERT_THAT(store_->PutPrincipal({role, "123456789012", "", kNow}), IsOk());
  AccessKey newer = MakeAccessKey("AKIAEXAMPLE2", role, kNow + 2);
  AccessKey temporary = MakeAccessKey("ASIAEXAMPLE1", role, kNow + 1);
  temporary.session_token_hash = "abc123";
  temporary.expires_at = kNow + 3600;
  temporary.active = false;
  ASSERT_THAT(store_->CreateAccessKey(newer), IsOk());
  ASSERT_THAT(store_->CreateAccessKey(temporary), IsOk());
  ASSERT_THAT(store_->CreateAccessKey(MakeAccessKey("AKIAOTHER", other, kNow)), IsOk());

  EXPECT_THAT(store_->GetAccessKey("ASIAEXAMPLE1"), IsOkAndHolds(Eq(temporary)));
  // Oldest first, and only the principal's own.
  EXPECT_THAT(store_->ListAccessKeys(role), IsOkAndHolds(ElementsAre(Eq(temporary), Eq(newer))));
  EXPECT_THAT(store_->ListAccessKeys("arn:aws:iam::123456789012:role/none"),
              IsOkAndHolds(IsEmpty()));

  ASSERT_THAT(store_->DeleteAccessKey("AKIAEXAMPLE2"), IsOk());
  EXPECT_THAT(store_->GetAccessKey("AKIAEXAMPLE2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("AKIAEXAMPLE2")));
  EXPECT_THAT(store_->ListAccessKeys(role), IsOkAndHolds(ElementsAre(Eq(temporary))));
}

TEST_P(StoreConformanceTest, CreateAccessKeyDuplicateIsAlreadyExists) {
  ASSERT_THAT(store_->CreateAccessKey(MakeAccessKey("AKIA1", "arn:aws:iam::1:user/a", kNow)),
              IsOk());
  EXPECT_THAT(store_->CreateAccessKey(MakeAccessKey("AKIA1", "arn:aws:iam::1:user/b", kNow)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("AKIA1")));
}

TEST_P(StoreConformanceTest, AccessKeyAbsentIsNotFound) {
  EXPECT_THAT(store_->GetAccessKey("AKIANONE"),
              StatusIs(StatusCode::kNotFound, HasSubstr("AKIANONE")));
  EXPECT_THAT(store_->DeleteAccessKey("AKIANONE"),
              StatusIs(StatusCode::kNotFound, HasSubstr("AKIANONE")));
}

}  // namespace
}  // namespace ts::storage::conformance
