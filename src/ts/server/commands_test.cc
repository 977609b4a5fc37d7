#include "ts/server/commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace ts::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Origin = Tessera::DemoSecrets::Origin;

constexpr char kUrl[] = "http://127.0.0.1:8080";
constexpr char kProgram[] = "./build/release/tessera";
constexpr char kDb[] = "var/tessera.db";

Tessera::DemoSecrets Secrets(Origin origin) {
  Tessera::DemoSecrets s;
  s.access_key_id = "AKIAEXAMPLEROOT00001";
  s.root_arn = "arn:aws:iam::111111111111:root";
  s.root_secret = origin;
  s.demo_password = origin;
  if (origin == Origin::kGenerated) {
    s.generated_secret_access_key = "generated/root/secret";
    s.generated_demo_password = "generated-password";
  }
  return s;
}

TEST(DemoBannerTest, AGeneratingStartShowsTheSecretsItGenerated) {
  const std::string banner = DemoBanner(kUrl, Secrets(Origin::kGenerated), kProgram, kDb);
  EXPECT_THAT(banner, HasSubstr("Sign-in user: demo   password: generated-password\n"));
  EXPECT_THAT(banner, HasSubstr("  export AWS_ACCESS_KEY_ID=AKIAEXAMPLEROOT00001\n"));
  EXPECT_THAT(banner, HasSubstr("  export AWS_SECRET_ACCESS_KEY='generated/root/secret'"));
}

TEST(DemoBannerTest, ARestartPrintsNoSecretAndSaysHowToReplaceThem) {
  const std::string banner = DemoBanner(kUrl, Secrets(Origin::kEarlierStart), kProgram, kDb);
  EXPECT_THAT(banner, Not(HasSubstr("export AWS_SECRET_ACCESS_KEY")));
  EXPECT_THAT(banner, HasSubstr("password: printed when the demo user was created (first start)"));
  EXPECT_THAT(banner, HasSubstr("echo 'a new password' | ./build/release/tessera set-password "
                                "--user-name demo --db var/tessera.db\n"));
  EXPECT_THAT(banner, HasSubstr("(or start with TESSERA_DEMO_PASSWORD set)"));
  EXPECT_THAT(banner, HasSubstr("  export AWS_ACCESS_KEY_ID=AKIAEXAMPLEROOT00001\n"));
  EXPECT_THAT(banner, HasSubstr("AWS_SECRET_ACCESS_KEY was printed when this key was generated"));
  EXPECT_THAT(banner, HasSubstr("./build/release/tessera create-access-key --principal-arn "
                                "arn:aws:iam::111111111111:root --db var/tessera.db\n"));
}

TEST(DemoBannerTest, SecretsFromTheEnvironmentAreReferencedNotEchoed) {
  const std::string banner = DemoBanner(kUrl, Secrets(Origin::kEnvironment), kProgram, kDb);
  EXPECT_THAT(banner, HasSubstr("password: the value of TESSERA_DEMO_PASSWORD\n"));
  EXPECT_THAT(banner,
              HasSubstr("  export AWS_SECRET_ACCESS_KEY=\"$TESSERA_ROOT_SECRET_ACCESS_KEY\"\n"));
}

TEST(DemoBannerTest, TheSignInUrlComesWithPkceAndWithoutAsInAwssExample) {
  const std::string banner = DemoBanner(kUrl, Secrets(Origin::kEarlierStart), kProgram, kDb);
  const std::string authorize =
      "  http://127.0.0.1:8080/authorize?response_type=code&client_id=arn%3Aaws%3Asso%3A%3A"
      "123456789012%3Aapplication%2Fssoins-111111111111%2Fapl-222222222222&redirect_uri=https%3A"
      "%2F%2Fmywebapp.example%2Fredirect&state=demo";
  // The recommended one first (the e2e test pastes the first URL with the printed command).
  const size_t pkce = banner.find(authorize + "&code_challenge_method=S256&code_challenge=" +
                                  "bxYgJC2DzeVMvczmLIUimmaHn4DxVH1j2aRebxLVjLQ\n");
  const size_t bare = banner.find(authorize + "\n");
  ASSERT_NE(pkce, std::string::npos) << banner;
  ASSERT_NE(bare, std::string::npos) << banner;
  EXPECT_LT(pkce, bare);
  EXPECT_THAT(banner, HasSubstr("--code-verifier tessera-demo-pkce-verifier-"
                                "0123456789abcdefghijklmnop --code CODE\n"));
  EXPECT_THAT(banner, HasSubstr("leave out --code-verifier, as AWS's example does"));

  // A server that requires PKCE offers only the PKCE URL.
  const std::string strict =
      DemoBanner(kUrl, Secrets(Origin::kEarlierStart), kProgram, kDb, /*require_pkce=*/true);
  EXPECT_THAT(strict, HasSubstr(authorize + "&code_challenge_method=S256"));
  EXPECT_THAT(strict, Not(HasSubstr(authorize + "\n")));
  EXPECT_THAT(strict, Not(HasSubstr("without PKCE")));
}

TEST(DemoBannerTest, PointsAtTheStartPage) {
  const std::string banner = DemoBanner(kUrl, Secrets(Origin::kEarlierStart), kProgram, kDb);
  EXPECT_THAT(banner, HasSubstr("open " + std::string(kUrl) + "/start, sign in as demo"));
}

TEST(DemoBannerTest, APostgresPasswordIsNotPrinted) {
  const std::string banner = DemoBanner(kUrl, Secrets(Origin::kEarlierStart), kProgram,
                                        "postgresql://tessera:hunter2@db/tessera");
  EXPECT_THAT(banner, Not(HasSubstr("hunter2")));
  EXPECT_THAT(banner, HasSubstr("--db postgresql://tessera:***@db/tessera"));
}

}  // namespace
}  // namespace ts::server
