#include "ts/server/config.h"

#include <charconv>
#include <cstdlib>
#include <limits>

namespace ts::server {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

constexpr int64_t kMaxSecondsFlag = 10 * 366 * 86400;   // ten years
constexpr int64_t kMaxMillisecondsFlag = 86400 * 1000;  // a day
constexpr int64_t kMaxMicrosecondsFlag = 60'000'000;    // a minute
constexpr int64_t kMaxThreadsFlag = 1024;
constexpr int64_t kMaxCountFlag = 1'000'000'000;

// Flags that count something rather than time.
bool IsCountFlag(const std::string& flag) {
  return flag == "--threads" || flag == "--io-threads" ||
         flag == "--client-registrations-per-minute" ||
         flag == "--device-authorizations-per-minute" || flag == "--max-live-clients" ||
         flag == "--portal-requests-per-minute" || flag == "--max-queued-requests" ||
         flag == "--max-worker-queue" || flag == "--max-connections";
}
constexpr int64_t kMaxRetentionDays = 100 * 366;

}  // namespace

StatusOr<int64_t> ParseSeconds(const std::string& flag, const std::string& text, int64_t min,
                               int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size() && v >= 0 && v >= min && v <= max) {
    return v;
  }
  std::string what = " takes a whole number of seconds";
  if (IsCountFlag(flag)) what = " takes a whole number";
  if (flag.ends_with("-ms")) what = " takes a whole number of milliseconds";
  if (flag.ends_with("-us")) what = " takes a whole number of microseconds";
  if (flag.ends_with("-days")) what = " takes a whole number of days";
  if (min > 0 || max < std::numeric_limits<int64_t>::max()) {
    what += " from " + std::to_string(min) + " to " + std::to_string(max);
  }
  return InvalidArgumentError(flag + what + ", got '" + text + "'");
}

namespace {
// HOST:PORT with a port from 0 to 65535 (--listen, --management-listen).
Status CheckHostPort(const std::string& flag, const std::string& v) {
  const size_t colon = v.rfind(':');
  const std::string port = colon == std::string::npos ? "" : v.substr(colon + 1);
  int value = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (colon == 0 || colon == std::string::npos || ec != std::errc() ||
      end != port.data() + port.size() || value < 0 || value > 65535) {
    return InvalidArgumentError(flag + " takes HOST:PORT with a port from 0 to 65535, got '" + v +
                                "'");
  }
  return OkStatus();
}

// An hour: longer than any orchestrator waits before its SIGKILL (both shutdown flags).
constexpr int64_t kMaxShutdownGraceSeconds = 3600;
}  // namespace

std::string ServerConfig::Host() const { return listen.substr(0, listen.rfind(':')); }

uint16_t ServerConfig::Port() const {
  std::string p = listen.substr(listen.rfind(':') + 1);
  return static_cast<uint16_t>(std::atoi(p.c_str()));
}

std::string ServeUsage() {
  return R"(usage: tessera serve [flags]

  --listen HOST:PORT         address to listen on (default 127.0.0.1:8080; port 0 picks one)
  --db PATH|URL              SQLite database file (default ./var/tessera.db), or a
                             postgresql:// (postgres://) URL shared by several nodes
  --public-url URL           base URL clients see (default http://<listen>, or https://
                             with --tls-cert)
  --bootstrap FILE           declarative configuration applied idempotently at start
  --demo                     apply the built-in demo configuration (AWS documentation identifiers)
  --region NAME              a region clients may sign for (repeatable; default us-east-1)
  --threads N                worker threads for requests that block: sign-in, admin, grants other
                             than refresh, PostgreSQL (default: 32)
  --io-threads N             event-loop threads; they serve SQLite refreshes without blocking
                             (default: 0 = one per core)
  --access-log               log one line per request to stderr
  --log-format text|json     stderr lines as text (default) or one JSON object per line with
                             time, level, msg, request_id and the request's fields

TLS and proxies (docs/design/tls-and-proxies.md):
  --tls-cert FILE            serve HTTPS with this PEM certificate chain (the server's
                             certificate first, then its intermediates); needs --tls-key
  --tls-key FILE             the certificate's PEM private key (unencrypted; keep it 0600)
  --tls-reload-interval SECS reload both files this soon after they change (default 5; 0: only
                             on SIGHUP); a bad new pair keeps the current certificate
  --trusted-proxy CIDR       a load balancer or proxy whose forwarding header is believed
                             (repeatable, e.g. 10.0.0.0/8, ::1/128); the client address is then
                             the rightmost untrusted one it lists
  --proxy-headers xforwarded|forwarded
                             which header trusted proxies set: X-Forwarded-For (default) or
                             RFC 7239 Forwarded; the other is ignored
overload and slow clients (docs/design/overload.md):
  --max-queued-requests N    requests accepted and not yet answered beyond --threads; past it a
                             request gets its API's throttling answer at once (SlowDownException,
                             ThrottlingException, TooManyRequestsException, 503) (default 1024)
  --max-worker-queue N       requests waiting for a worker thread, likewise (default 0 = 8 per
                             worker thread)
  --max-connections N        open connections; one more is accepted and closed (default 0 =
                             10000, or the open-file limit less 128 when lower)
  --shed-io-lag-us N         CPU saturation: past this lag of the io threads (how late work
                             that is ready runs, smoothed; microseconds), a share of requests
                             gets the throttling answer at once, rising to all of them at twice
                             it (default 1000000 = 1 s; 0: never)
  --read-timeout SECS        a request's header, or its body, must arrive within this (default 30)
  --idle-timeout SECS        a keep-alive connection waits this long for its next request
                             (default 60)
  --write-timeout SECS       a client must take its response within this (default 30)
  --memory-trim-interval SECS  give the memory freed since to the kernel this often, so what
                             a burst took is returned after it (default 10; 0: never)
  --access-token-ttl SECS    access and ID token lifetime (default 3600)
  --refresh-token-ttl SECS   refresh token family lifetime (default 7776000 = 90 days)
  --refresh-grace SECS       reuse window returning the same successor (default 0)
  --code-ttl SECS            authorization code lifetime (default 300)
  --session-ttl SECS         sign-in session lifetime (default 28800 = 8 h)
  --require-pkce             PKCE (S256) for every client; without it IAM applications may
                             leave it out, as CreateTokenWithIAM's model allows

signing keys (docs/design/deployment.md):
  --signing-key-rotation SECS  rotate the signing key this often (default 2592000 = 30 days;
                             0: only `tessera rotate-signing-key`)
  --jwks-max-age SECS        Cache-Control max-age of the JWKS (default 300); a new key is
                             published this long (plus two reload intervals) before use
  --key-reload-interval SECS how often a node re-reads the keys from the database (default 30)

management and lifecycle (docs/design/metrics.md):
  --management-listen HOST:PORT  serve GET /metrics, /health/live and /health/ready here (off
                             by default; keep it off the public network)
  --shutdown-delay-seconds N on SIGTERM/SIGINT, keep serving N seconds with readiness failing,
                             so load balancers stop sending first (default 0)
  --shutdown-grace-seconds N then stop accepting and let in-flight requests finish for up
                             to N seconds (default 10)

trusted token issuers (jwt-bearer):
  --issuer-ca-file FILE      extra PEM CA certificates trusted for issuers (private IdPs)
  --allow-insecure-loopback-issuers
                             development: allow http:// issuers on loopback addresses
  --allow-private-network-issuers
                             allow issuers on private addresses (10/8, 172.16/12, 192.168/16)
  --issuer-fetch-timeout-ms MS   discovery and JWKS request timeout (default 5000)
  --jwks-min-cache SECS      keys are kept at least this long (default 60)
  --jwks-max-cache SECS      Cache-Control max-age is honoured up to this (default 86400)
  --jwks-max-stale SECS      expired keys still serve this long while the IdP is down
                             (default 21600)
  --jwks-refetch-interval SECS   refetch on an unknown kid at most this often (default 10)
  --config-cache-ttl-ms MS   reuse applications, access keys this long (default 1000; 0: never)
  --assertion-max-age SECS   oldest accepted assertion, by its iat (default 3600)

registered clients (RegisterClient, device authorization, CreateToken):
  --client-registrations-per-minute N   RegisterClient calls a minute from one address
                             (default 60; 0: no limit)
  --device-authorizations-per-minute N  StartDeviceAuthorization calls a minute from one
                             address (default 60; 0: no limit)
  --max-live-clients N       most registrations alive at once (default 100000)

access portal (GetRoleCredentials, ListAccounts, ListAccountRoles, Logout):
  --portal-requests-per-minute N  requests a minute with one sign-in's access tokens
                             (default 600; 0: no limit): TooManyRequestsException

audit trail (CloudTrail-shaped events, read with `tessera audit`):
  --audit-retention-days N   days an event is kept (default 90; 0: forever)
  --audit-log FILE           also append each event, once committed, as a JSON line to FILE
                             (best effort; the database is the record)

environment:
  TESSERA_MASTER_KEY             base64 or hex of 32 bytes; encrypts keys and secrets at rest
  TESSERA_MASTER_KEY_FILE        key file used when TESSERA_MASTER_KEY is unset
                                 (SQLite: default <db dir>/master.key, created 0600 at first
                                 start; PostgreSQL: one of the two is required and the file
                                 must exist, so every node has the same key)
  TESSERA_ROOT_ACCESS_KEY_ID     the instance owner's root credential
  TESSERA_ROOT_SECRET_ACCESS_KEY (generated at first start and printed once if unset)
  TESSERA_DEMO_PASSWORD          the demo user's password, set at every start (if unset:
                                 generated and printed when the demo user is created, then
                                 kept; set-password changes it)
)";
}

StatusOr<ServerConfig> ParseServeFlags(const std::vector<std::string>& args) {
  ServerConfig c;
  bool regions_given = false;
  std::vector<http::IpNetwork> proxies;
  http::ForwardedHeader proxy_header = http::ForwardedHeader::kXForwardedFor;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> StatusOr<std::string> {
      if (i + 1 >= args.size()) return InvalidArgumentError(a + " needs a value");
      return args[++i];
    };
    if (a == "--demo") {
      c.demo = true;
    } else if (a == "--access-log") {
      c.access_log = true;
    } else if (a == "--require-pkce") {
      c.require_pkce = true;
    } else if (a == "--allow-insecure-loopback-issuers") {
      c.allow_insecure_loopback_issuers = true;
    } else if (a == "--allow-private-network-issuers") {
      c.allow_private_network_issuers = true;
    } else if (a == "--log-format") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (!log::ParseFormat(*v, &c.log_format)) {
        return InvalidArgumentError("--log-format takes text or json, got '" + *v + "'");
      }
    } else if (a == "--tls-cert" || a == "--tls-key" || a == "--trusted-proxy" ||
               a == "--proxy-headers") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (a == "--tls-cert") c.tls_cert_file = *v;
      if (a == "--tls-key") c.tls_key_file = *v;
      if (a == "--trusted-proxy") {
        auto network = http::IpNetwork::Parse(*v);
        if (!network.ok()) {
          return InvalidArgumentError("--trusted-proxy: " +
                                      std::string(network.status().message()));
        }
        proxies.push_back(*network);
      }
      if (a == "--proxy-headers") {
        if (*v == "xforwarded") {
          proxy_header = http::ForwardedHeader::kXForwardedFor;
        } else if (*v == "forwarded") {
          proxy_header = http::ForwardedHeader::kForwarded;
        } else {
          return InvalidArgumentError("--proxy-headers takes xforwarded or forwarded, got '" + *v +
                                      "'");
        }
      }
    } else if (a == "--management-listen") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (Status s = CheckHostPort(a, *v); !s.ok()) return s;
      c.management_listen = *v;
    } else if (a == "--shutdown-grace-seconds" || a == "--shutdown-delay-seconds") {
      auto v = value();
      if (!v.ok()) return v.status();
      auto n = ParseSeconds(a, *v, 0, kMaxShutdownGraceSeconds);
      if (!n.ok()) return n.status();
      (a == "--shutdown-grace-seconds" ? c.shutdown_grace_seconds : c.shutdown_delay_seconds) = *n;
    } else if (a == "--issuer-ca-file") {
      auto v = value();
      if (!v.ok()) return v.status();
      c.issuer_ca_file = *v;
    } else if (a == "--audit-log") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (v->empty()) return InvalidArgumentError("--audit-log needs a file name");
      c.audit_log = *v;
    } else if (a == "--audit-retention-days") {
      auto v = value();
      if (!v.ok()) return v.status();
      auto n = ParseSeconds(a, *v, 0, kMaxRetentionDays);
      if (!n.ok()) return n.status();
      c.audit_retention_days = *n;
    } else if (a == "--listen" || a == "--db" || a == "--public-url" || a == "--bootstrap" ||
               a == "--region" || a == "--threads" || a == "--io-threads" ||
               a == "--access-token-ttl" || a == "--refresh-token-ttl" || a == "--refresh-grace" ||
               a == "--code-ttl" || a == "--session-ttl" || a == "--issuer-fetch-timeout-ms" ||
               a == "--jwks-min-cache" || a == "--jwks-max-cache" || a == "--jwks-max-stale" ||
               a == "--jwks-refetch-interval" || a == "--assertion-max-age" ||
               a == "--config-cache-ttl-ms" || a == "--signing-key-rotation" ||
               a == "--jwks-max-age" || a == "--key-reload-interval" ||
               a == "--client-registrations-per-minute" ||
               a == "--device-authorizations-per-minute" || a == "--max-live-clients" ||
               a == "--portal-requests-per-minute" || a == "--tls-reload-interval" ||
               a == "--max-queued-requests" || a == "--max-worker-queue" ||
               a == "--max-connections" || a == "--read-timeout" || a == "--idle-timeout" ||
               a == "--write-timeout" || a == "--shed-io-lag-us" || a == "--memory-trim-interval") {
      auto v = value();
      if (!v.ok()) return v.status();
      if (a == "--listen") {
        if (Status s = CheckHostPort(a, *v); !s.ok()) return s;
        c.listen = *v;
      } else if (a == "--db") {
        c.db_path = *v;
      } else if (a == "--public-url") {
        c.public_url = *v;
        while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
      } else if (a == "--bootstrap") {
        c.bootstrap_file = *v;
      } else if (a == "--region") {
        if (!regions_given) c.regions.clear();
        regions_given = true;
        c.regions.push_back(*v);
      } else {
        // Bounded so that a lifetime added to the clock cannot overflow, and a unit mistake
        // (milliseconds given as seconds) is caught rather than obeyed.
        int64_t max = kMaxSecondsFlag;
        if (a == "--threads" || a == "--io-threads") max = kMaxThreadsFlag;
        if (IsCountFlag(a) && max != kMaxThreadsFlag) max = kMaxCountFlag;
        if (a.ends_with("-ms")) max = kMaxMillisecondsFlag;
        if (a.ends_with("-us")) max = kMaxMicrosecondsFlag;
        auto n = ParseSeconds(a, *v, 0, max);
        if (!n.ok()) return n.status();
        if (a == "--threads") c.threads = static_cast<int>(*n);
        if (a == "--io-threads") c.io_threads = static_cast<int>(*n);
        if (a == "--access-token-ttl") c.access_token_ttl = *n;
        if (a == "--refresh-token-ttl") c.refresh_token_ttl = *n;
        if (a == "--refresh-grace") c.refresh_grace_seconds = *n;
        if (a == "--code-ttl") c.code_ttl = *n;
        if (a == "--session-ttl") c.session_ttl = *n;
        if (a == "--issuer-fetch-timeout-ms") c.issuer_fetch_timeout_ms = *n;
        if (a == "--jwks-min-cache") c.jwks_min_cache_seconds = *n;
        if (a == "--jwks-max-cache") c.jwks_max_cache_seconds = *n;
        if (a == "--jwks-max-stale") c.jwks_max_stale_seconds = *n;
        if (a == "--jwks-refetch-interval") c.jwks_refetch_interval_seconds = *n;
        if (a == "--config-cache-ttl-ms") c.config_cache_ttl_ms = *n;
        if (a == "--assertion-max-age") c.assertion_max_age_seconds = *n;
        if (a == "--signing-key-rotation") c.signing_key_rotation_seconds = *n;
        if (a == "--jwks-max-age") c.jwks_max_age_seconds = *n;
        if (a == "--client-registrations-per-minute") c.client_registrations_per_minute = *n;
        if (a == "--device-authorizations-per-minute") c.device_authorizations_per_minute = *n;
        if (a == "--max-live-clients") c.max_live_clients = *n;
        if (a == "--portal-requests-per-minute") c.portal_requests_per_minute = *n;
        if (a == "--tls-reload-interval") c.tls_reload_seconds = *n;
        if (a == "--max-queued-requests") c.max_queued_requests = *n;
        if (a == "--max-worker-queue") c.max_worker_queue = *n;
        if (a == "--max-connections") c.max_connections = *n;
        if (a == "--shed-io-lag-us") c.shed_io_lag_micros = *n;
        if (a == "--memory-trim-interval") c.memory_trim_seconds = *n;
        if (a == "--read-timeout" || a == "--idle-timeout" || a == "--write-timeout") {
          // Zero would close every connection at once; a day is already no deadline.
          if (*n < 1 || *n > 86400) {
            return InvalidArgumentError(
                a + " takes a whole number of seconds from 1 to 86400, got '" + *v + "'");
          }
          if (a == "--read-timeout") c.read_timeout_seconds = *n;
          if (a == "--idle-timeout") c.idle_timeout_seconds = *n;
          if (a == "--write-timeout") c.write_timeout_seconds = *n;
        }
        if (a == "--key-reload-interval") {
          if (*n == 0) return InvalidArgumentError("--key-reload-interval must be at least 1");
          c.key_reload_seconds = *n;
        }
      }
    } else {
      return InvalidArgumentError("unknown flag '" + a + "'\n\n" + ServeUsage());
    }
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return InvalidArgumentError("give both --tls-cert and --tls-key, or neither");
  }
  c.trusted_proxies = http::TrustedProxies(std::move(proxies), proxy_header);
  c.master_key_env = Env("TESSERA_MASTER_KEY");
  c.master_key_file = Env("TESSERA_MASTER_KEY_FILE");
  c.root_access_key_id = Env("TESSERA_ROOT_ACCESS_KEY_ID");
  c.root_secret_key = Env("TESSERA_ROOT_SECRET_ACCESS_KEY");
  c.demo_password = Env("TESSERA_DEMO_PASSWORD");
  if (c.root_access_key_id.empty() != c.root_secret_key.empty()) {
    return InvalidArgumentError(
        "set both TESSERA_ROOT_ACCESS_KEY_ID and TESSERA_ROOT_SECRET_ACCESS_KEY, or neither");
  }
  return c;
}

}  // namespace ts::server
