// File: app.h
// Tessera assembled: opens the store, checks the master key, applies the bootstrap or demo
// configuration, loads the signing keys and wires the handlers to routes (PROTOCOL.md §1.3):
//
//   POST /token?aws_iam=t                      CreateTokenWithIAM (SigV4, service sso-oauth)
//   GET|POST /authorize, POST /logout          browser sign-in (web/authorize.h)
//   GET /<instance-id>/.well-known/openid-configuration, .../jwks.json (and /.well-known/jwks.json)
//   GET /healthz
//
// Thread-safe: Handle may be called from every server thread at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/http/message.h"
#include "ts/server/config.h"

namespace ts::storage {
class Store;
}

namespace ts::server {

// Opens the database `db`: a postgresql:// (postgres://) URL selects PostgresStore, anything else
// is a SQLite file path. The backends' Open errors.
StatusOr<std::shared_ptr<storage::Store>> OpenDatabase(const std::string& db);
// `db` fit for printing: the password of a PostgreSQL URL replaced by ***.
std::string RedactDatabase(const std::string& db);

// The transport's own errors (http::ServerOptions::make_error; also "starting" 503s) in the shape
// of the API the request targets, told apart by X-Amz-Target: the admin plane's awsJson 1.1
// (`__type` in the body; 413 ValidationException, 5xx InternalServerException, other
// SerializationException; identitystore's with RequestId), else sso-oidc's restJson (413 and
// 4xx InvalidRequestException, 5xx InternalServerException). The status is kept.
http::Response TransportError(int status, std::string_view message, const http::Request& request);

class Tessera {
 public:
  // `public_url` is the resolved base URL (config.public_url or http://<bound address>).
  // The notices are lines meant for the operator (generated credentials, demo instructions).
  static StatusOr<std::unique_ptr<Tessera>> Create(const ServerConfig& config,
                                                   const std::string& public_url, ClockPtr clock,
                                                   std::vector<std::string>* notices);
  ~Tessera();

  http::Response Handle(const http::Request& request) const;
  // Handle for the server's io threads, which it never blocks: a refresh on SQLite is answered
  // from the store's writer thread once its rotation is durable; every other request runs
  // Handle on a pool of `config.threads` worker threads.
  void HandleAsync(http::Request request, http::Responder respond) const;

  std::shared_ptr<storage::Store> store() const;
  std::string issuer() const;

  // For the demo banner only: the root credential and the demo user's password, when this
  // process knows them (from the environment, or generated and sealed in the store).
  struct DemoSecrets {
    std::string access_key_id;
    std::string secret_access_key;
    std::string demo_password;
  };
  const DemoSecrets& demo_secrets() const;

 private:
  struct Parts;
  explicit Tessera(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace ts::server
