// File: config.h
// Everything `tessera serve` can be told, from flags and the environment.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ts/common/log.h"
#include "ts/common/status.h"
#include "ts/http/client_address.h"

namespace ts::tti {
class HttpFetcher;
}

namespace ts::server {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string db_path = "./var/tessera.db";  // or a postgresql:// URL
  std::string public_url;                    // default: http(s)://<listen>
  std::string bootstrap_file;
  bool demo = false;
  std::vector<std::string> regions = {"us-east-1"};
  // Threads for request work that blocks: sign-in, the admin plane, introspection, every grant
  // but refresh, and everything on PostgreSQL (see architecture.md). A request waiting there for
  // its commit holds one of them.
  int threads = 32;
  // Threads running the HTTP server's event loop and SQLite refreshes, which never block them.
  // 0: one per core.
  int io_threads = 0;
  bool access_log = false;
  // --log-format: "text" (sentences, as earlier versions wrote) or "json" (one object per line,
  // docs/design/operations.md).
  log::Format log_format = log::Format::kText;
  // The management listener (GET /metrics, /health/live, /health/ready); "" = none.
  std::string management_listen;
  // SIGTERM/SIGINT (docs/design/metrics.md): how long to keep serving with readiness failing,
  // then how long in-flight requests may take to finish.
  int64_t shutdown_delay_seconds = 0;
  int64_t shutdown_grace_seconds = 10;

  // TLS (docs/design/tls-and-proxies.md): both files or neither; reloaded on SIGHUP and when
  // they change (polled this often; 0: SIGHUP only).
  std::string tls_cert_file;
  std::string tls_key_file;
  int64_t tls_reload_seconds = 5;
  // --trusted-proxy blocks and --proxy-headers: whose forwarding header names the client.
  http::TrustedProxies trusted_proxies;
  // Overload and slow clients (docs/design/overload.md). Requests accepted and not yet answered,
  // beyond the `threads` the workers run, past which a new request gets its API's throttling
  // answer at once; requests waiting for a worker (0: 8 per worker thread), likewise; open
  // connections (0: http::DefaultMaxConnections(), from RLIMIT_NOFILE).
  int64_t max_queued_requests = 1024;
  int64_t max_worker_queue = 0;
  int64_t max_connections = 0;
  // CPU saturation: the io threads' lag (smoothed, in microseconds) past which a share of the
  // requests that would be admitted is shed, rising to all of them at twice it (0: never).
  int64_t shed_io_lag_micros = 1'000'000;
  // The HTTP server's deadlines (http::ServerOptions): a request's header or body, the wait for
  // a keep-alive connection's next request, the write of a response.
  int64_t read_timeout_seconds = 30;
  int64_t idle_timeout_seconds = 60;
  int64_t write_timeout_seconds = 30;
  // Memory (docs/design/memory.md): how often the allocator's free pages are given back to the
  // kernel (malloc_trim), so what a burst took is returned once it is over. 0: never.
  int64_t memory_trim_seconds = 10;

  // Lifetimes (seconds).
  int64_t access_token_ttl = 3600;
  int64_t refresh_token_ttl = 90 * 86400;
  int64_t refresh_grace_seconds = 0;
  int64_t code_ttl = 300;
  int64_t session_ttl = 8 * 3600;
  // PKCE for every client, IAM applications included (registered clients always need it).
  bool require_pkce = false;

  // Signing keys (docs/design/deployment.md): automatic rotation period (0: off), the JWKS
  // Cache-Control max-age, and how often each node re-reads the keys from the database.
  int64_t signing_key_rotation_seconds = 30 * 86400;
  int64_t jwks_max_age_seconds = 300;
  int64_t key_reload_seconds = 30;

  // Trusted token issuers (jwt-bearer): fetching their keys (docs/design/jwt-bearer.md).
  bool allow_insecure_loopback_issuers = false;  // http:// and 127.0.0.0/8 for local IdPs
  bool allow_private_network_issuers = false;    // 10/8, 172.16/12, 192.168/16, fc00::/7
  std::string issuer_ca_file;                    // extra PEM trust anchors for issuers
  int64_t issuer_fetch_timeout_ms = 5000;
  // Replaces the libcurl fetcher of issuers' documents when set: tests and the fuzz targets, which
  // must not reach the network (fuzz/handle_fuzz.cc).
  std::shared_ptr<tti::HttpFetcher> issuer_fetcher;
  int64_t jwks_max_cache_seconds = 86400;  // upper bound on honouring Cache-Control
  int64_t jwks_min_cache_seconds = 60;
  int64_t jwks_max_stale_seconds = 6 * 3600;   // keys served past expiry while the IdP is down
  int64_t jwks_refetch_interval_seconds = 10;  // unknown kid / failed fetch: at most this often
  // How long the token endpoint may use an application it read (oauth/application_cache.h):
  // changes through this node's admin plane apply at once, others (another node, the CLI)
  // within this. 0: read every time.
  int64_t config_cache_ttl_ms = 1000;
  int64_t assertion_max_age_seconds = 3600;  // now - iat of an accepted assertion

  // Registered clients (docs/design/public-clients.md): RegisterClient and
  // StartDeviceAuthorization calls a minute from one address (0: no limit), and the most
  // registrations alive at once.
  int64_t client_registrations_per_minute = 60;
  int64_t device_authorizations_per_minute = 60;
  int64_t max_live_clients = 100000;
  // The access portal (docs/design/access-portal.md): requests a minute per access token's
  // sign-in (token family), a token bucket per node (0: no limit).
  int64_t portal_requests_per_minute = 600;
  // The audit trail (docs/design/audit.md): days an event is kept (0: forever), and a file
  // each committed event is appended to as a JSON line, best effort ("" none).
  int64_t audit_retention_days = 90;
  std::string audit_log;

  // From the environment, never from flags (flags show up in `ps`).
  std::string master_key_env;      // TESSERA_MASTER_KEY
  std::string master_key_file;     // TESSERA_MASTER_KEY_FILE (SQLite default <db dir>/master.key)
  std::string root_access_key_id;  // TESSERA_ROOT_ACCESS_KEY_ID
  std::string root_secret_key;     // TESSERA_ROOT_SECRET_ACCESS_KEY
  std::string demo_password;       // TESSERA_DEMO_PASSWORD

  std::string Host() const;
  uint16_t Port() const;
};

// Parses `serve` flags (argv after the subcommand) and the environment. InvalidArgument with a
// message naming the flag on a bad value or an unknown flag.
StatusOr<ServerConfig> ParseServeFlags(const std::vector<std::string>& args);

// A flag's value as a whole number of seconds (of threads for --threads and --io-threads, of
// milliseconds for flags ending in -ms, of microseconds for -us) within [min, max]. InvalidArgument
// naming the flag otherwise, e.g. "--code-ttl takes a whole number of seconds, got '1e3'" ("...
// from 1 to 129600, got ..." when bounded): fractions, exponents, signs and overflow included.
StatusOr<int64_t> ParseSeconds(const std::string& flag, const std::string& text, int64_t min = 0,
                               int64_t max = std::numeric_limits<int64_t>::max());

// The usage text of `tessera serve`.
std::string ServeUsage();

}  // namespace ts::server
