// File: scenarios.h
// What the load generator sends. A Scenario prepares its state before the measured run (sign-in,
// codes, first refresh tokens, assertions: all through Tessera's real endpoints) and then builds
// one request per step for each virtual user, digesting each response (a refresh chain keeps the
// refresh token it received last).
//
// Thread-safety: Setup() runs alone; NextRequest/OnResponse for one virtual user run on that
// user's thread only, different users concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http_client.h"

namespace loadgen {

struct Options {
  // refresh | code | jwt | exchange | oauth-refresh | client-refresh | device-poll |
  // get-role-credentials | list-account-roles
  std::string scenario;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int concurrency = 32;      // virtual users = connections
  double rate = 0;           // > 0: open loop at this many requests/s
  double duration = 10;      // measured seconds (after warmup)
  double warmup = 2;         // seconds excluded from the figures
  double settle = 0;         // seconds idle between the setup and the run (--settle)
  int64_t max_requests = 0;  // > 0: stop after this many (jwt/code have finite material)
  int server_pid = 0;        // for CPU seconds and resident memory
  double start_at = 0;       // > 0: wall-clock Unix time at which the run starts, after setup
  std::string json_out;      // append one JSON line with the figures
  std::string label;         // name in the report

  // Tessera (CreateTokenWithIAM, SigV4).
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;
  std::string application_arn;
  std::string redirect_uri;
  std::string username = "demo";
  std::string password;
  std::string scope;                // refresh: narrow to these scopes ("" = the family's)
  std::string exchange_target_arn;  // exchange: the target application
  // jwt: the trusted token issuer the generator serves on loopback, and the assertion's subject.
  uint16_t issuer_port = 0;
  std::string jwt_audience;
  std::string jwt_email;

  // device-poll: the instance's start URL and how many device authorizations to poll.
  std::string start_url;
  int64_t device_codes = 0;

  // The OAuth peer (oidc-provider): the seed file its launcher wrote.
  std::string seed_file;
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  // Prepares everything the measured run needs for `users` virtual users and at most
  // `planned_requests` requests. False with `error` set on failure.
  virtual bool Setup(int users, int64_t planned_requests, std::string& error) = 0;
  // The complete raw HTTP request for the next step of virtual user `user`; "" when the
  // scenario's prepared material is used up.
  virtual std::string NextRequest(int user) = 0;
  // Digests the response to that request. Returns "" for success, else the error's type
  // (x-amzn-ErrorType, OAuth `error`, or "HTTP <status>").
  virtual std::string OnResponse(int user, const HttpResponse& response) = 0;
};

std::unique_ptr<Scenario> MakeScenario(const Options& options, std::string& error);

}  // namespace loadgen
