// File: management_test.cc
#include "ts/server/management.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ts/server/config.h"
#include "ts/server/request_metrics.h"

namespace ts::server {
namespace {

using ::testing::HasSubstr;

http::Request Get(std::string target, std::string method = "GET") {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

TEST(ManagementTest, NotReadyWhileStartingOrDraining) {
  Readiness readiness;
  http::Response r = HandleManagement(Get("/health/ready"), readiness);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body,
            R"({"status":"DOWN","reason":"starting: migrations and signing keys not loaded yet"})");
  EXPECT_EQ(r.FindHeader("Content-Type").value_or(""), "application/json");
  // Live while the process runs, whatever readiness says.
  EXPECT_EQ(HandleManagement(Get("/health/live"), readiness).status, 200);
  readiness.draining = true;
  r = HandleManagement(Get("/health/ready"), readiness);
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("draining"));
  EXPECT_EQ(HandleManagement(Get("/health/live"), readiness).status, 200);
}

TEST(ManagementTest, UnknownPathsAndMethods) {
  Readiness readiness;
  http::Response r = HandleManagement(Get("/token"), readiness);
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("No management endpoint at /token"));
  r = HandleManagement(Get("/metrics", "DELETE"), readiness);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.FindHeader("Allow").value_or(""), "GET, HEAD");
}

TEST(ManagementTest, MetricsInTheTextFormat) {
  RegisterProcessMetrics();
  RegisterProcessMetrics();  // once only: a second registration would abort
  Readiness readiness;
  http::Response r = HandleManagement(Get("/metrics?x=1"), readiness);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.FindHeader("Content-Type").value_or(""), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("# TYPE tessera_build_info gauge\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE process_resident_memory_bytes gauge\n"));
}

TEST(RequestMetricsTest, GrantRowReadsJsonAndForms) {
  EXPECT_EQ(RequestMetrics::GrantRow(R"({"grantType":"refresh_token"})"), 1u);
  EXPECT_EQ(RequestMetrics::GrantRow(R"({"clientId":"x", "grantType" : "authorization_code"})"),
            0u);
  EXPECT_EQ(
      RequestMetrics::GrantRow(R"({"grantType":"urn:ietf:params:oauth:grant-type:jwt-bearer"})"),
      2u);
  EXPECT_EQ(RequestMetrics::GrantRow(
                R"({"grantType":"urn:ietf:params:oauth:grant-type:token-exchange"})"),
            3u);
  EXPECT_EQ(RequestMetrics::GrantRow(
                "client_id=a&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"),
            4u);
  EXPECT_EQ(RequestMetrics::GrantRow("grant_type=refresh_token&refresh_token=x"), 1u);
  // Anything else is "other": never a new label value.
  EXPECT_EQ(RequestMetrics::GrantRow(R"({"grantType":"password"})"), 5u);
  EXPECT_EQ(RequestMetrics::GrantRow(R"({"grantType":5})"), 5u);
  EXPECT_EQ(RequestMetrics::GrantRow(R"({"grantType":"refresh_token)"), 5u);
  EXPECT_EQ(RequestMetrics::GrantRow("not_grant_type=refresh_token"), 5u);
  EXPECT_EQ(RequestMetrics::GrantRow(""), 5u);
}

TEST(ServeFlagsTest, ManagementAndShutdownFlags) {
  auto c = ParseServeFlags({"--management-listen", "127.0.0.1:9000", "--shutdown-grace-seconds",
                            "30", "--shutdown-delay-seconds", "5"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->management_listen, "127.0.0.1:9000");
  EXPECT_EQ(c->shutdown_grace_seconds, 30);
  EXPECT_EQ(c->shutdown_delay_seconds, 5);
  auto d = ParseServeFlags({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->management_listen, "");
  EXPECT_EQ(d->shutdown_grace_seconds, 10);
  EXPECT_EQ(d->shutdown_delay_seconds, 0);
  for (const char* bad : {"9000", ":9000", "host:", "host:65536", "host:x"}) {
    auto e = ParseServeFlags({"--management-listen", bad});
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_THAT(std::string(e.status().message()),
                HasSubstr("--management-listen takes HOST:PORT"));
  }
  auto e = ParseServeFlags({"--shutdown-grace-seconds", "3601"});
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("from 0 to 3600"));
}

}  // namespace
}  // namespace ts::server
