#include "ts/server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "test/common/status_matchers.h"

namespace ts::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

constexpr const char* kEnv[] = {"TESSERA_MASTER_KEY", "TESSERA_MASTER_KEY_FILE",
                                "TESSERA_ROOT_ACCESS_KEY_ID", "TESSERA_ROOT_SECRET_ACCESS_KEY",
                                "TESSERA_DEMO_PASSWORD"};

// ParseServeFlags reads the environment: every test starts and ends without Tessera variables.
class ParseServeFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kEnv) ::unsetenv(name);
  }
  void TearDown() override {
    for (const char* name : kEnv) ::unsetenv(name);
  }
};

TEST_F(ParseServeFlagsTest, Defaults) {
  auto c = ParseServeFlags({});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->listen, "127.0.0.1:8080");
  EXPECT_EQ(c->Host(), "127.0.0.1");
  EXPECT_EQ(c->Port(), 8080);
  EXPECT_EQ(c->db_path, "./var/tessera.db");
  EXPECT_EQ(c->public_url, "");
  EXPECT_EQ(c->bootstrap_file, "");
  EXPECT_FALSE(c->demo);
  EXPECT_FALSE(c->access_log);
  EXPECT_FALSE(c->require_pkce);
  EXPECT_THAT(c->regions, ElementsAre("us-east-1"));
  EXPECT_EQ(c->threads, 32);
  EXPECT_EQ(c->io_threads, 0);
  EXPECT_EQ(c->access_token_ttl, 3600);
  EXPECT_EQ(c->refresh_token_ttl, 90 * 86400);
  EXPECT_EQ(c->refresh_grace_seconds, 0);
  EXPECT_EQ(c->code_ttl, 300);
  EXPECT_EQ(c->session_ttl, 8 * 3600);
  EXPECT_EQ(c->master_key_env, "");
  EXPECT_EQ(c->master_key_file, "");
  EXPECT_EQ(c->root_access_key_id, "");
  EXPECT_EQ(c->root_secret_key, "");
  EXPECT_EQ(c->demo_password, "");
}

TEST_F(ParseServeFlagsTest, ShedIoLagIsMicrosecondsAndZeroTurnsItOff) {
  auto defaults = ParseServeFlags({});
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->shed_io_lag_micros, 1'000'000);
  auto tiny = ParseServeFlags({"--shed-io-lag-us", "1"});
  ASSERT_THAT(tiny, IsOk());
  EXPECT_EQ(tiny->shed_io_lag_micros, 1);
  auto off = ParseServeFlags({"--shed-io-lag-us", "0"});
  ASSERT_THAT(off, IsOk());
  EXPECT_EQ(off->shed_io_lag_micros, 0);
  EXPECT_EQ(ParseServeFlags({"--shed-io-lag-us", "0.5"}).status().message(),
            "--shed-io-lag-us takes a whole number of microseconds from 0 to 60000000, got '0.5'");
  EXPECT_FALSE(ParseServeFlags({"--shed-io-lag-us", "60000001"}).ok());
}

TEST_F(ParseServeFlagsTest, LogFormatIsTextOrJson) {
  auto defaults = ParseServeFlags({});
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->log_format, log::Format::kText);
  auto json = ParseServeFlags({"--log-format", "json"});
  ASSERT_THAT(json, IsOk());
  EXPECT_EQ(json->log_format, log::Format::kJson);
  auto bad = ParseServeFlags({"--log-format", "yaml"});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "--log-format takes text or json, got 'yaml'");
  EXPECT_EQ(ParseServeFlags({"--log-format"}).status().message(), "--log-format needs a value");
}

TEST_F(ParseServeFlagsTest, EveryFlag) {
  auto c = ParseServeFlags({"--listen",
                            "0.0.0.0:0",
                            "--db",
                            "/tmp/x.db",
                            "--public-url",
                            "https://login.example//",
                            "--bootstrap",
                            "boot.json",
                            "--demo",
                            "--region",
                            "eu-west-1",
                            "--threads",
                            "4",
                            "--io-threads",
                            "3",
                            "--access-log",
                            "--access-token-ttl",
                            "900",
                            "--refresh-token-ttl",
                            "86400",
                            "--refresh-grace",
                            "30",
                            "--code-ttl",
                            "60",
                            "--session-ttl",
                            "7200",
                            "--require-pkce"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->listen, "0.0.0.0:0");
  EXPECT_EQ(c->Host(), "0.0.0.0");
  EXPECT_EQ(c->Port(), 0);
  EXPECT_EQ(c->db_path, "/tmp/x.db");
  EXPECT_EQ(c->public_url, "https://login.example");  // trailing slashes dropped
  EXPECT_EQ(c->bootstrap_file, "boot.json");
  EXPECT_TRUE(c->demo);
  EXPECT_TRUE(c->access_log);
  EXPECT_THAT(c->regions, ElementsAre("eu-west-1"));
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->io_threads, 3);
  EXPECT_EQ(c->access_token_ttl, 900);
  EXPECT_EQ(c->refresh_token_ttl, 86400);
  EXPECT_EQ(c->refresh_grace_seconds, 30);
  EXPECT_EQ(c->code_ttl, 60);
  EXPECT_EQ(c->session_ttl, 7200);
  EXPECT_TRUE(c->require_pkce);
}

TEST_F(ParseServeFlagsTest, TlsAndTrustedProxies) {
  auto c = ParseServeFlags({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-reload-interval",
                            "0", "--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1/128"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->tls_cert_file, "c.pem");
  EXPECT_EQ(c->tls_key_file, "k.pem");
  EXPECT_EQ(c->tls_reload_seconds, 0);
  EXPECT_TRUE(c->trusted_proxies.IsTrusted(*http::IpAddress::Parse("10.2.3.4")));
  EXPECT_TRUE(c->trusted_proxies.IsTrusted(*http::IpAddress::Parse("::1")));
  EXPECT_FALSE(c->trusted_proxies.IsTrusted(*http::IpAddress::Parse("192.0.2.1")));
  EXPECT_EQ(c->trusted_proxies.ClientAddress("10.0.0.1", {{"x-forwarded-for", "192.0.2.1"}}),
            "192.0.2.1");
  auto fwd = ParseServeFlags({"--trusted-proxy", "10.0.0.0/8", "--proxy-headers", "forwarded"});
  ASSERT_THAT(fwd, IsOk());
  EXPECT_EQ(fwd->trusted_proxies.ClientAddress("10.0.0.1", {{"forwarded", "for=192.0.2.1"}}),
            "192.0.2.1");
  // Defaults: nothing trusted, the watcher on.
  auto d = ParseServeFlags({});
  ASSERT_THAT(d, IsOk());
  EXPECT_TRUE(d->trusted_proxies.empty());
  EXPECT_EQ(d->tls_reload_seconds, 5);

  EXPECT_THAT(ParseServeFlags({"--tls-cert", "c.pem"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("both --tls-cert and --tls-key")));
  EXPECT_THAT(ParseServeFlags({"--tls-key", "k.pem"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("both --tls-cert and --tls-key")));
  EXPECT_THAT(ParseServeFlags({"--trusted-proxy", "10.0.0.1/8"}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("--trusted-proxy: '10.0.0.1/8' is not a CIDR block")));
  EXPECT_THAT(ParseServeFlags({"--proxy-headers", "x-real-ip"}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("--proxy-headers takes xforwarded or forwarded")));
  EXPECT_THAT(ParseServeFlags({"--tls-reload-interval", "-1"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--tls-reload-interval")));
}

TEST_F(ParseServeFlagsTest, IPv6ListenSplitsAtTheLastColon) {
  auto c = ParseServeFlags({"--listen", "[::1]:9000"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->Host(), "[::1]");
  EXPECT_EQ(c->Port(), 9000);
}

TEST_F(ParseServeFlagsTest, RegionIsRepeatableAndReplacesTheDefault) {
  auto c = ParseServeFlags({"--region", "eu-west-1", "--region", "us-west-2"});
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(c->regions, ElementsAre("eu-west-1", "us-west-2"));
}

TEST_F(ParseServeFlagsTest, UnknownFlagIsAnErrorWithUsage) {
  EXPECT_THAT(ParseServeFlags({"--nope"}),
              StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("unknown flag '--nope'"),
                                                           HasSubstr("usage: tessera serve"))));
  EXPECT_THAT(ParseServeFlags({"--demo", "extra"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unknown flag 'extra'")));
}

TEST_F(ParseServeFlagsTest, BadNumbersAreErrorsNamingTheFlag) {
  for (const char* bad : {"abc", "10s", "-5", "", "1.5"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(ParseServeFlags({"--code-ttl", bad}),
                StatusIs(StatusCode::kInvalidArgument,
                         HasSubstr("--code-ttl takes a whole number of seconds from 0 to "
                                   "316224000, got '" +
                                   std::string(bad) + "'")));
  }
  EXPECT_THAT(ParseServeFlags({"--threads", "many"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--threads")));
  EXPECT_THAT(ParseServeFlags({"--io-threads", "-1"}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("--io-threads takes a whole number from 0 to 1024, got '-1'")));
}

// A lifetime near INT64_MAX would overflow `now + ttl`; no flag takes more than ten years (a day
// for the millisecond ones, 1024 threads).
TEST_F(ParseServeFlagsTest, NumbersAreBounded) {
  EXPECT_THAT(ParseServeFlags({"--refresh-token-ttl", "316224000"}), IsOk());
  EXPECT_THAT(ParseServeFlags({"--code-ttl", "9223372036854775807"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "--code-ttl takes a whole number of seconds from 0 to 316224000, got "
                       "'9223372036854775807'"));
  EXPECT_THAT(ParseServeFlags({"--config-cache-ttl-ms", "86400001"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "--config-cache-ttl-ms takes a whole number of milliseconds from 0 to "
                       "86400000, got '86400001'"));
  EXPECT_THAT(ParseServeFlags({"--threads", "1025"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "--threads takes a whole number from 0 to 1024, got '1025'"));
}

// Registered clients' limits (docs/design/public-clients.md) are counts, not durations.
TEST_F(ParseServeFlagsTest, RegisteredClientLimits) {
  auto defaults = ParseServeFlags({});
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->client_registrations_per_minute, 60);
  EXPECT_EQ(defaults->device_authorizations_per_minute, 60);
  EXPECT_EQ(defaults->max_live_clients, 100000);
  auto c = ParseServeFlags({"--client-registrations-per-minute", "0",
                            "--device-authorizations-per-minute", "5", "--max-live-clients", "7"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->client_registrations_per_minute, 0);
  EXPECT_EQ(c->device_authorizations_per_minute, 5);
  EXPECT_EQ(c->max_live_clients, 7);
  EXPECT_THAT(ParseServeFlags({"--max-live-clients", "lots"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "--max-live-clients takes a whole number from 0 to 1000000000, got 'lots'"));
}

// The access portal's per-sign-in rate (docs/design/access-portal.md).
TEST_F(ParseServeFlagsTest, PortalRequestsPerMinute) {
  auto defaults = ParseServeFlags({});
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->portal_requests_per_minute, 600);
  auto c = ParseServeFlags({"--portal-requests-per-minute", "0"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->portal_requests_per_minute, 0);
  EXPECT_THAT(
      ParseServeFlags({"--portal-requests-per-minute", "-5"}),
      StatusIs(StatusCode::kInvalidArgument,
               "--portal-requests-per-minute takes a whole number from 0 to 1000000000, got '-5'"));
}

// The audit trail's settings (docs/design/audit.md).
TEST_F(ParseServeFlagsTest, AuditRetentionAndLog) {
  auto defaults = ParseServeFlags({});
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->audit_retention_days, 90);
  EXPECT_EQ(defaults->audit_log, "");
  auto c = ParseServeFlags({"--audit-retention-days", "0", "--audit-log", "/tmp/audit.jsonl"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->audit_retention_days, 0);
  EXPECT_EQ(c->audit_log, "/tmp/audit.jsonl");
  EXPECT_THAT(ParseServeFlags({"--audit-retention-days", "-1"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "--audit-retention-days takes a whole number of days from 0 to 36600, "
                       "got '-1'"));
  EXPECT_THAT(ParseServeFlags({"--audit-log", ""}),
              StatusIs(StatusCode::kInvalidArgument, "--audit-log needs a file name"));
}

TEST_F(ParseServeFlagsTest, MemoryTrimInterval) {
  auto defaults = ParseServeFlags({});
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->memory_trim_seconds, 10);
  auto off = ParseServeFlags({"--memory-trim-interval", "0"});
  ASSERT_THAT(off, IsOk());
  EXPECT_EQ(off->memory_trim_seconds, 0);
  auto c = ParseServeFlags({"--memory-trim-interval", "1"});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->memory_trim_seconds, 1);
  EXPECT_THAT(ParseServeFlags({"--memory-trim-interval", "-1"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "--memory-trim-interval takes a whole number of seconds from 0 to "
                       "316224000, got '-1'"));
}

TEST(ParseSecondsTest, BoundedRangeNamesTheFlagAndTheRange) {
  EXPECT_THAT(ParseSeconds("--duration-seconds", "900", 1, 129600), IsOkAndHolds(900));
  EXPECT_THAT(ParseSeconds("--duration-seconds", "129600", 1, 129600), IsOkAndHolds(129600));
  for (const char* bad : {"abc", "-5", "0", "1.5", "129601", "99999999999999999999", "", "+5"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(ParseSeconds("--duration-seconds", bad, 1, 129600),
                StatusIs(StatusCode::kInvalidArgument,
                         "--duration-seconds takes a whole number of seconds from 1 to 129600, "
                         "got '" +
                             std::string(bad) + "'"));
  }
}

TEST_F(ParseServeFlagsTest, FlagWithoutValueIsAnError) {
  EXPECT_THAT(ParseServeFlags({"--db"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--db needs a value")));
}

TEST_F(ParseServeFlagsTest, ListenWithoutPortIsAnError) {
  EXPECT_THAT(ParseServeFlags({"--listen", "localhost"}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--listen takes HOST:PORT")));
}

TEST_F(ParseServeFlagsTest, ListenPortMustBeANumberUpTo65535) {
  for (const char* bad :
       {"localhost:http", "localhost:70000", "localhost:", ":8080", "h:-1", "h:80x"}) {
    EXPECT_THAT(ParseServeFlags({"--listen", bad}),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("--listen takes HOST:PORT")))
        << bad;
  }
  auto ok = ParseServeFlags({"--listen", "[::1]:65535"});
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->Port(), 65535);
}

TEST_F(ParseServeFlagsTest, EnvironmentIsRead) {
  ::setenv("TESSERA_MASTER_KEY", "mk", 1);
  ::setenv("TESSERA_MASTER_KEY_FILE", "/k/file", 1);
  ::setenv("TESSERA_ROOT_ACCESS_KEY_ID", "AKIAROOT", 1);
  ::setenv("TESSERA_ROOT_SECRET_ACCESS_KEY", "secret", 1);
  ::setenv("TESSERA_DEMO_PASSWORD", "pw", 1);
  auto c = ParseServeFlags({});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->master_key_env, "mk");
  EXPECT_EQ(c->master_key_file, "/k/file");
  EXPECT_EQ(c->root_access_key_id, "AKIAROOT");
  EXPECT_EQ(c->root_secret_key, "secret");
  EXPECT_EQ(c->demo_password, "pw");
}

TEST_F(ParseServeFlagsTest, RootCredentialNeedsBothOrNeither) {
  ::setenv("TESSERA_ROOT_ACCESS_KEY_ID", "AKIAROOT", 1);
  EXPECT_THAT(ParseServeFlags({}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("set both TESSERA_ROOT_ACCESS_KEY_ID and "
                                 "TESSERA_ROOT_SECRET_ACCESS_KEY, or neither")));
  ::unsetenv("TESSERA_ROOT_ACCESS_KEY_ID");
  ::setenv("TESSERA_ROOT_SECRET_ACCESS_KEY", "secret", 1);
  EXPECT_THAT(ParseServeFlags({}), StatusIs(StatusCode::kInvalidArgument, HasSubstr("or neither")));
}

}  // namespace
}  // namespace ts::server
