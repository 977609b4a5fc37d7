#include "ts/portal/role_credentials.h"

#include <gtest/gtest.h>

#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/sigv4/access_key.h"

namespace ts::portal {
namespace {

TEST(SessionDurationSeconds, AcceptsHoursAndMinutesInRange) {
  EXPECT_EQ(*SessionDurationSeconds("PT1H"), 3600);
  EXPECT_EQ(*SessionDurationSeconds("PT12H"), 43200);
  EXPECT_EQ(*SessionDurationSeconds("PT1H30M"), 5400);
  EXPECT_EQ(*SessionDurationSeconds("PT90M"), 5400);
}

TEST(SessionDurationSeconds, RefusesOutOfRangeAndMalformed) {
  for (const char* bad : {"", "PT", "PT59M", "PT13H", "PT12H1M", "P1D", "PT1S", "PT1H30", "PTH",
                          "PT-1H", "PT+1H", "pt1h", "PT1H1H", "PT9999999H", "1H"}) {
    auto seconds = SessionDurationSeconds(bad);
    EXPECT_EQ(seconds.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(AssumedRoleArn, NamesTheSessionOfTheReservedRole) {
  EXPECT_EQ(AssumedRoleArn("210987654321", "AWSReservedSSO_Admin_0123456789abcdef", "ana"),
            "arn:aws:sts::210987654321:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/ana");
}

TEST(PrepareRoleCredential, SealsTheSecretAndKeepsOnlyTheTokenHash) {
  const std::string seal_key = crypto::RandomBytes(32);
  storage::UserRole role;
  role.account.account_id = "210987654321";
  role.permission_set.arn =
      "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef";
  role.permission_set.session_duration = "PT2H";
  role.role.role_name = "AWSReservedSSO_Admin_0123456789abcdef";
  storage::User user;
  user.user_id = "u-1";
  user.user_name = "ana";
  auto out = PrepareRoleCredential(seal_key, role, user, "fam-1", "sess-1", 1000);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->issued.access_key_id.starts_with("ASIA"));
  EXPECT_EQ(out->issued.access_key_id.size(), 20u);
  EXPECT_EQ(out->issued.expires_at, 1000 + 7200);
  EXPECT_EQ(out->key.expires_at, out->issued.expires_at);
  EXPECT_EQ(out->key.principal_arn, out->issued.principal_arn);
  // Neither the secret nor the session token is stored as is.
  EXPECT_EQ(out->key.secret_sealed.find(out->issued.secret_access_key), std::string::npos);
  EXPECT_EQ(out->key.session_token_hash,
            crypto::HexEncode(crypto::Sha256(out->issued.session_token)));
  auto opened = crypto::Open(seal_key, out->key.secret_sealed,
                             sigv4::AccessKeySecretAad(out->key.access_key_id));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, out->issued.secret_access_key);
  // Bound to its key id: the sealed secret does not open under another id.
  EXPECT_FALSE(crypto::Open(seal_key, out->key.secret_sealed,
                            sigv4::AccessKeySecretAad("ASIAOTHERKEY0000000"))
                   .ok());
  EXPECT_EQ(out->link.access_key_id, out->issued.access_key_id);
  EXPECT_EQ(out->link.user_id, "u-1");
  EXPECT_EQ(out->link.family_id, "fam-1");
  EXPECT_EQ(out->link.session_hash, "sess-1");
  EXPECT_EQ(out->link.permission_set_arn, role.permission_set.arn);
}

TEST(PrepareRoleCredential, RefusesAnUnreadableSessionDuration) {
  storage::UserRole role;
  role.permission_set.session_duration = "P1D";
  auto out = PrepareRoleCredential(std::string(32, 'k'), role, storage::User{}, "", "", 1);
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ts::portal
