#include "ts/server/app.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "ts/admin/admin_api.h"
#include "ts/common/ascii.h"
#include "ts/common/json_writer.h"
#include "ts/common/log.h"
#include "ts/common/memory.h"
#include "ts/common/metrics.h"
#include "ts/common/status_macros.h"
#include "ts/common/thread_pool.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/oauth/client_auth.h"
#include "ts/oauth/client_introspection.h"
#include "ts/oauth/client_registration.h"
#include "ts/oauth/dynamic_registration.h"
#include "ts/oauth/errors.h"
#include "ts/oauth/introspection.h"
#include "ts/oauth/public_clients.h"
#include "ts/oauth/token_service.h"
#include "ts/oauth/userinfo.h"
#include "ts/portal/portal_api.h"
#include "ts/server/bootstrap.h"
#include "ts/server/credentials.h"
#include "ts/server/discovery.h"
#include "ts/server/master_key.h"
#include "ts/server/overload.h"
#include "ts/server/request_metrics.h"
#include "ts/server/routes.h"
#include "ts/sigv4/verifier.h"
#include "ts/storage/audit.h"
#include "ts/storage/postgres/postgres_store.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"
#include "ts/tti/assertion.h"
#include "ts/tti/curl_fetcher.h"
#include "ts/tti/jwks_cache.h"
#include "ts/web/authorize.h"
#include "ts/web/device_page.h"
#include "ts/web/login_page.h"
#include "ts/web/sign_in.h"
#include "ts/web/start_page.h"

namespace ts::server {
namespace {

constexpr char kRootKeyMeta[] = "root_access_key_id";

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.SetHeader("Content-Type", "application/json");
  return r;
}

// The front end of a registered client's CreateToken: a standard OAuth client's request is a
// form post (RFC 6749 §4.1.3), the SDKs' is rest-json.
oauth::TokenFormat TokenFormatOf(const http::Request& request) {
  const std::string type = AsciiLower(request.FindHeader("content-type").value_or(""));
  return type.starts_with("application/x-www-form-urlencoded") ? oauth::TokenFormat::kOAuthForm
                                                               : oauth::TokenFormat::kAwsJson;
}

void LogInternal(std::string_view request_id, std::string_view path, const Status& status) {
  // The cause of a 500 goes to the operator, never to the client. Messages never hold secrets.
  // The id is explicit: the completion of a queued write may run where no request is current.
  log::ScopedRequestId scope(request_id);
  log::Write(log::Level::kError, "error path=" + std::string(path) + " " + status.ToString(),
             {{"error_type", "InternalServerException"}});
}

void LogInternal(const http::Request& request, const Status& status) {
  LogInternal(request.request_id, request.Path(), status);
}

// The token endpoint's answer: 200 with the CreateTokenWithIAM body, or the modeled error. A
// status without an error type is a 500 whose cause goes to the log.
http::Response TokenAnswer(std::string_view request_id, StatusOr<std::string> body) {
  if (!body.ok()) {
    if (body.status().error_type().empty()) LogInternal(request_id, "/token", body.status());
    return oauth::ToErrorResponse(body.status());
  }
  http::Response r = Json(200, std::move(*body));
  // RFC 6749 §5.1: a response carrying tokens must not be cached.
  r.SetHeader("Cache-Control", "no-store");
  r.SetHeader("Pragma", "no-cache");
  return r;
}

// A registered client's answer (RegisterClient, StartDeviceAuthorization, CreateToken): 200 with
// the body, or the modeled error in the front end's shape. The bodies hold secrets (client
// secret, device code, tokens): never cached.
http::Response ClientAnswer(std::string_view request_id, std::string_view path,
                            oauth::TokenFormat format, StatusOr<std::string> body) {
  if (!body.ok()) {
    if (body.status().error_type().empty()) LogInternal(request_id, path, body.status());
    return format == oauth::TokenFormat::kOAuthForm ? oauth::ToOAuthErrorResponse(body.status())
                                                    : oauth::ToErrorResponse(body.status());
  }
  http::Response r = Json(200, std::move(*body));
  r.SetHeader("Cache-Control", "no-store");
  r.SetHeader("Pragma", "no-cache");
  return r;
}

// A new instance: ssoins-<16 hex>, identity store d-<10 hex>, a random 12-digit owner account.
storage::Instance NewInstance(const std::string& region, int64_t now) {
  storage::Instance i;
  i.instance_id = "ssoins-" + crypto::HexEncode(crypto::RandomBytes(8));
  i.instance_arn = "arn:aws:sso:::instance/" + i.instance_id;
  i.identity_store_id = "d-" + crypto::HexEncode(crypto::RandomBytes(5));
  const std::string random = crypto::RandomBytes(12);
  for (size_t k = 0; k < 12; ++k) {
    i.owner_account_id += static_cast<char>('0' + static_cast<unsigned char>(random[k]) % 10);
  }
  if (i.owner_account_id[0] == '0') i.owner_account_id[0] = '1';
  i.region = region;
  i.name = "Tessera";
  i.created_at = now;
  return i;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// --audit-log: each committed event appended as a line (O_APPEND: several writers' lines stay
// whole), mode 0600 like the database. Best effort: a failed write is reported, never retried,
// and the request it belongs to is already durable (docs/design/audit.md).
StatusOr<storage::AuditStream> OpenAuditLog(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return InvalidArgumentError("--audit-log: cannot open " + path + ": " + std::strerror(errno));
  }
  auto file = std::shared_ptr<int>(new int(fd), [](int* f) {
    ::close(*f);
    delete f;
  });
  return storage::AuditStream([file](const storage::AuditRecord& record) {
    std::string line = record.json;
    line += '\n';
    if (::write(*file, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      log::Write(log::Level::kError,
                 std::string("audit: appending to the audit log failed: ") + std::strerror(errno));
    }
  });
}

// The access portal operation a route answers; nullopt for other endpoints and for a POST
// /logout without the portal's bearer header (the browser's sign-out form).
std::optional<portal::Operation> PortalOperationOf(const Route& route,
                                                   const http::Request& request) {
  switch (route.endpoint) {
    case Endpoint::kPortalCredentials:
      return portal::Operation::kGetRoleCredentials;
    case Endpoint::kPortalAccounts:
      return portal::Operation::kListAccounts;
    case Endpoint::kPortalRoles:
      return portal::Operation::kListAccountRoles;
    case Endpoint::kLogout:
      if (portal::PortalApi::IsPortalRequest(request)) return portal::Operation::kLogout;
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// What a request no route matches gets.
http::Response NoOperation(const http::Request& request) {
  return oauth::ToErrorResponse(ApiError(
      StatusCode::kNotFound, "UnknownOperationException",
      "No operation at " + std::string(request.method) + " " + std::string(request.Path())));
}

// The answer to a CORS preflight (Fetch standard §3.2.3) on a cors route: any origin may send
// the route's methods with the headers a bearer-token request needs. No credentials (cookies):
// with Allow-Origin * browsers send none.
http::Response Preflight(const Route& route) {
  std::string methods;
  for (const auto& [bit, name] : {std::pair{kGet, "GET"}, std::pair{kHead, "HEAD"},
                                  std::pair{kPost, "POST"}, std::pair{kOptions, "OPTIONS"}}) {
    if ((route.methods & bit) == 0) continue;
    if (!methods.empty()) methods += ", ";
    methods += name;
  }
  http::Response r;
  r.status = 204;
  r.SetHeader("Access-Control-Allow-Origin", "*");
  r.SetHeader("Access-Control-Allow-Methods", methods);
  r.SetHeader("Access-Control-Allow-Headers", "Authorization, Content-Type");
  r.SetHeader("Access-Control-Max-Age", "86400");
  r.SetHeader("Allow", methods);
  return r;
}

}  // namespace

http::Response TransportError(int status, std::string_view message, const http::Request& request) {
  const std::string_view target = request.FindHeader("x-amz-target").value_or("");
  const StatusCode code = status >= 500 ? StatusCode::kUnavailable : StatusCode::kInvalidArgument;
  http::Response r;
  if (!admin::AdminApi::SigningNameFor(target).empty()) {
    // awsJson clients read the error code from `__type` alone (docs/protocol.md §6.1). AWS's shape
    // for an oversized admin request is unconfirmed: ValidationException is modeled by both
    // services (docs/design/decisions.md).
    const char* type = status == 413   ? "ValidationException"
                       : status >= 500 ? "InternalServerException"
                                       : "SerializationException";
    r = admin::AwsJsonError(ApiError(code, type, message), target, request.request_id);
  } else {
    r = oauth::ToErrorResponse(ApiError(
        code, status >= 500 ? "InternalServerException" : "InvalidRequestException", message));
  }
  r.status = status;
  return r;
}

namespace {
// The answer to a request whose handler threw: logged, and modeled for the client.
http::Response InternalErrorAnswer(const http::Request& request, std::string_view cause) {
  LogInternal(request, InternalError("a handler threw: " + std::string(cause)));
  return TransportError(500, "An internal error occurred.", request);
}
}  // namespace

http::Response AnswerOrInternalError(const http::Request& request,
                                     const std::function<http::Response()>& handle) {
  try {
    return handle();
  } catch (const std::exception& e) {
    return InternalErrorAnswer(request, e.what());
  } catch (...) {
    return InternalErrorAnswer(request, "a non-exception");
  }
}

StatusOr<storage::StorePtr> OpenDatabase(const std::string& db) {
  if (storage::IsPostgresUrl(db)) {
    TS_ASSIGN_OR_RETURN(auto store, storage::PostgresStore::Open(db));
    return storage::StorePtr(std::move(store));
  }
  TS_ASSIGN_OR_RETURN(auto store, storage::SqliteStore::Open(db));
  return storage::StorePtr(std::move(store));
}

std::string RedactDatabase(const std::string& db) {
  if (!storage::IsPostgresUrl(db)) return db;
  std::string out = db;
  // postgresql://user:password@host/...: keep the user, hide the password.
  const size_t scheme = out.find("://") + 3;
  const size_t at = out.find('@', scheme);
  const size_t colon = out.find(':', scheme);
  if (at != std::string::npos && colon != std::string::npos && colon < at) {
    out = out.substr(0, colon) + ":***" + out.substr(at);
  }
  // ...?password=secret&sslmode=...: libpq takes passwords as parameters too.
  const size_t query = out.find('?');
  for (size_t p = query; p != std::string::npos && p < out.size(); p = out.find('&', p + 1)) {
    for (std::string_view key : {"password=", "sslpassword="}) {
      if (out.compare(p + 1, key.size(), key) != 0) continue;
      const size_t value = p + 1 + key.size();
      const size_t end = std::min(out.find('&', value), out.size());
      out.replace(value, end - value, "***");
    }
  }
  return out;
}

struct Tessera::Parts {
  ServerConfig config;
  // Overload (docs/design/overload.md). Declared before `workers`, whose destructor runs the
  // tasks still queued, which hold places among the requests in progress.
  std::unique_ptr<Admission> admission;
  std::string public_url;
  ClockPtr clock;
  storage::StorePtr store;
  std::unique_ptr<StoreCredentialProvider> credentials;
  std::unique_ptr<sigv4::Verifier> verifier;
  // The admin plane's SigV4 signing names (sso-admin: "sso", identitystore: "identitystore").
  std::unique_ptr<sigv4::Verifier> sso_admin_verifier;
  std::unique_ptr<sigv4::Verifier> identity_store_verifier;
  std::unique_ptr<admin::AdminApi> admin;
  std::shared_ptr<tokens::KeyRing> keys;
  std::shared_ptr<tokens::TokenMinter> minter;
  // Applications as the token endpoint reads them (cleared by every admin-plane call).
  std::shared_ptr<oauth::ApplicationCache> applications;
  std::unique_ptr<oauth::TokenService> token_service;
  // Registered clients (docs/design/public-clients.md).
  std::shared_ptr<oauth::ClientAuthenticator> client_auth;
  std::unique_ptr<oauth::ClientRegistration> registration;
  std::unique_ptr<oauth::PublicClientService> public_clients;
  std::unique_ptr<oauth::TokenIntrospection> introspection;
  std::unique_ptr<oauth::ClientIntrospection> client_introspection;
  std::unique_ptr<oauth::UserInfo> userinfo;
  // The access portal API (docs/design/access-portal.md).
  std::unique_ptr<portal::PortalApi> portal;
  std::unique_ptr<web::AuthorizeHandler> authorize;
  std::unique_ptr<web::DevicePageHandler> device;
  std::unique_ptr<web::StartPageHandler> start;
  // HandleAsync's threads for work that blocks. Declared after what its tasks use, so it is
  // drained and joined before they go.
  std::unique_ptr<ThreadPool> workers;
  storage::Instance instance;
  std::string discovery_json;
  DemoSecrets demo;
  const RequestMetrics* request_metrics = nullptr;

  // Housekeeping: expired codes, sessions and tokens are purged in small batches so tables do
  // not grow without bound and no purge holds the write lock for long.
  std::mutex housekeeping_mu;
  std::condition_variable housekeeping_cv;
  bool stopping = false;  // guarded by housekeeping_mu
  std::thread housekeeper;
  // Keys: every node re-reads them from the store each key_reload_seconds (keys rotated by
  // another node) and, when automatic rotation is on, offers to rotate (one node does).
  std::thread key_keeper;
  tokens::RotationPolicy rotation;
  // Memory (docs/design/memory.md): every memory_trim_seconds the allocator's free pages go back
  // to the kernel, so the resident memory a burst took is returned once the burst is over.
  std::thread memory_keeper;

  // Rows a purge deletes (or the SQLite refresh-token sweep visits) per call, and calls per
  // wake-up: up to a million rows visited a minute, 16,000 a second, more than one node mints at
  // its peak. Small, because on SQLite a call rides in one of the writer's batches and every
  // token request in that batch waits for its deletes: at 500 rows a call, the soak's p99 rose
  // from ~15 ms to 60-300 ms once its codes began to expire (RELIABILITY.md, "Soak").
  static constexpr int kPurgeBatch = 100;
  static constexpr int kPurgeRounds = 10'000;

  // Between two calls of a purge: rests four times as long as the call took (at least 1 ms), so
  // that purging takes at most a fifth of the writer it shares with the token endpoint, and a
  // request waits behind one small call at most. False once the server is stopping.
  bool RestAfterPurgeCall(std::chrono::steady_clock::time_point call_started) {
    const auto took = std::chrono::steady_clock::now() - call_started;
    const auto rest =
        std::max<std::chrono::steady_clock::duration>(4 * took, std::chrono::milliseconds(1));
    std::unique_lock lock(housekeeping_mu);
    return !housekeeping_cv.wait_for(lock, rest, [&] { return stopping; });
  }

  void Housekeep(storage::HousekeepingStore& expired) {
    std::unique_lock lock(housekeeping_mu);
    while (!housekeeping_cv.wait_for(lock, std::chrono::seconds(60), [&] { return stopping; })) {
      lock.unlock();
      for (int round = 0; round < kPurgeRounds; ++round) {
        const auto started = std::chrono::steady_clock::now();
        auto purged = expired.PurgeExpired(clock->NowUnixSeconds(), kPurgeBatch);
        if (!purged.ok()) {
          log::Write(log::Level::kError, "housekeeping: " + purged.status().ToString());
          break;
        }
        if (purged->finished || !RestAfterPurgeCall(started)) break;
      }
      if (audit_trail != nullptr) PurgeAudit(*audit_trail);
      lock.lock();
    }
  }

  // The audit trail of the store (both backends keep one; storage/audit.h).
  std::shared_ptr<storage::AuditStore> audit_trail;

  // Audit retention (--audit-retention-days; 0 keeps every event): the oldest first, in the
  // same small, rested calls as the purge.
  void PurgeAudit(storage::AuditStore& trail) {
    if (config.audit_retention_days <= 0) return;
    const int64_t before = clock->NowUnixSeconds() - config.audit_retention_days * 86400;
    for (int round = 0; round < kPurgeRounds; ++round) {
      const auto started = std::chrono::steady_clock::now();
      auto purged = trail.PurgeAuditEvents(before, kPurgeBatch);
      if (!purged.ok()) {
        log::Write(log::Level::kError, "housekeeping: audit: " + purged.status().ToString());
        return;
      }
      if (*purged < kPurgeBatch || !RestAfterPurgeCall(started)) return;
    }
  }

  void KeepKeys() {
    std::unique_lock lock(housekeeping_mu);
    while (!housekeeping_cv.wait_for(lock, std::chrono::seconds(config.key_reload_seconds),
                                     [&] { return stopping; })) {
      lock.unlock();
      auto rotated = keys->MaybeRotate(rotation);
      if (!rotated.ok()) {
        log::Write(log::Level::kError, "signing keys: rotation: " + rotated.status().ToString());
      } else if (!rotated->empty()) {
        const int64_t signs_from = clock->NowUnixSeconds() + rotation.publish_lead_seconds;
        log::Write(
            log::Level::kInfo,
            "signing keys: published " + *rotated + "; it signs from " + std::to_string(signs_from),
            {{"kid", *rotated}, {"signs_from", signs_from}});
      }
      if (Status s = keys->Reload(); !s.ok()) {
        log::Write(log::Level::kError, "signing keys: reload: " + s.ToString());
      }
      lock.lock();
    }
  }

  void KeepMemory() {
    const metrics::Histogram duration = MemoryTrimDuration();
    const metrics::Counter returned_bytes = MemoryReturnedBytes();
    std::unique_lock lock(housekeeping_mu);
    while (!housekeeping_cv.wait_for(lock, std::chrono::seconds(config.memory_trim_seconds),
                                     [&] { return stopping; })) {
      lock.unlock();
      const MemoryReturned returned = ReturnFreeMemory();
      duration.Observe(static_cast<double>(returned.micros) / 1e6);
      if (returned.resident_after < returned.resident_before) {
        returned_bytes.Inc(
            static_cast<uint64_t>(returned.resident_before - returned.resident_after));
      }
      lock.lock();
    }
  }

  static metrics::Histogram MemoryTrimDuration() {
    static const metrics::HistogramFamily& family = metrics::DefaultRegistry().AddHistogram(
        "tessera_memory_trim_duration_seconds",
        "Time the allocator took to give its free pages back to the kernel (malloc_trim).", {},
        metrics::LatencyBuckets());
    return family.At(0);
  }

  static metrics::Counter MemoryReturnedBytes() {
    static const metrics::CounterFamily& family = metrics::DefaultRegistry().AddCounter(
        "tessera_memory_returned_bytes_total",
        "Resident memory the allocator gave back to the kernel (malloc_trim).");
    return family.At(0);
  }

  // The checks of CreateTokenWithIAM before the grant: method, SigV4. The verified caller, or
  // the modeled error.
  StatusOr<oauth::Caller> VerifyTokenRequest(const http::Request& request) const {
    if (request.method != "POST") {
      return ApiError(StatusCode::kInvalidArgument, "InvalidRequestException", "Use POST /token");
    }
    TS_ASSIGN_OR_RETURN(auto caller, verifier->Verify(request));
    storage::AuditRequest::SetCaller(caller.principal_arn, caller.account_id, caller.access_key_id);
    return oauth::Caller{caller.principal_arn, caller.account_id};
  }

  // A registered client's CreateToken, parsed by its front end (JSON or RFC 6749 form).
  static StatusOr<oauth::ClientTokenRequest> ParseClientToken(const http::Request& request,
                                                              oauth::TokenFormat format) {
    if (format == oauth::TokenFormat::kOAuthForm) {
      return oauth::ParseCreateTokenForm(request.body, request.FindHeader("authorization"));
    }
    return oauth::ParseCreateTokenJson(request.body);
  }

  ~Parts() {
    if (key_keeper.joinable() || housekeeper.joinable() || memory_keeper.joinable()) {
      {
        std::lock_guard lock(housekeeping_mu);
        stopping = true;
      }
      housekeeping_cv.notify_all();
      if (housekeeper.joinable()) housekeeper.join();
      if (key_keeper.joinable()) key_keeper.join();
      if (memory_keeper.joinable()) memory_keeper.join();
    }
  }
};

namespace {
metrics::CallbackGauge& SigningKeyAge() {
  static metrics::CallbackGauge& gauge = metrics::DefaultRegistry().AddCallbackGauge(
      "tessera_signing_key_age_seconds", "Seconds since the active signing key was created.");
  return gauge;
}
}  // namespace

Tessera::Tessera(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Tessera::~Tessera() { SigningKeyAge().SetCallback(nullptr); }

Status Tessera::CheckReady() const {
  // A cheap read through the same store every request uses: on PostgreSQL it needs a pooled
  // connection and a round trip, so an unreachable database or an exhausted pool shows here.
  if (StatusOr<storage::Instance> instance = parts_->store->GetInstance(); !instance.ok()) {
    return UnavailableError("store: " + std::string(instance.status().message()));
  }
  if (parts_->keys == nullptr || parts_->keys->Active() == nullptr) {
    return UnavailableError("no signing key loaded");
  }
  return OkStatus();
}

void Tessera::ObserveIoLag(std::chrono::microseconds lag) const {
  parts_->admission->ObserveIoLag(lag);
}

std::shared_ptr<storage::Store> Tessera::store() const { return parts_->store; }
std::string Tessera::issuer() const { return parts_->minter->issuer(); }
const Tessera::DemoSecrets& Tessera::demo_secrets() const { return parts_->demo; }

StatusOr<std::unique_ptr<Tessera>> Tessera::Create(const ServerConfig& config,
                                                   const std::string& public_url, ClockPtr clock,
                                                   std::vector<std::string>* notices) {
  auto p = std::make_unique<Parts>();
  p->config = config;
  p->public_url = public_url;
  p->clock = clock;
  // The master key first: a PostgreSQL node without one given must not touch the database.
  TS_ASSIGN_OR_RETURN(
      std::string master_key,
      LoadNodeMasterKey(config.db_path, config.master_key_env, config.master_key_file));
  TS_ASSIGN_OR_RETURN(p->store, OpenDatabase(config.db_path));
  p->audit_trail = std::dynamic_pointer_cast<storage::AuditStore>(p->store);
  TS_RETURN_IF_ERROR(VerifyMasterKey(*p->store, master_key));
  const MasterKeys keys = DeriveMasterKeys(master_key);
  const int64_t now = clock->NowUnixSeconds();

  // The stream first: the bootstrap's events are the server's too.
  if (!config.audit_log.empty()) {
    TS_ASSIGN_OR_RETURN(storage::AuditStream stream, OpenAuditLog(config.audit_log));
    storage::SetAuditStream(std::move(stream));
  }
  BootstrapContext ctx{p->store.get(), keys.iam_secrets, config.regions.front(), now};
  if (config.demo) {
    // The demo user's password is chosen once, when the user is created: a restart keeps it
    // (set-password may have changed it), unless TESSERA_DEMO_PASSWORD names a new one.
    auto existing = p->store->GetUserByName("demo");
    if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) {
      return existing.status();
    }
    std::string password = config.demo_password;
    if (!password.empty()) {
      if (Status st = ValidatePassword(password); !st.ok()) {
        return InvalidArgumentError("TESSERA_DEMO_PASSWORD: " + std::string(st.message()));
      }
      p->demo.demo_password = DemoSecrets::Origin::kEnvironment;
    } else if (!existing.ok() || existing->password_hash.empty()) {
      password = crypto::RandomToken(12);
      p->demo.demo_password = DemoSecrets::Origin::kGenerated;
      p->demo.generated_demo_password = password;
      notices->push_back(
          "generated the demo user's password (set TESSERA_DEMO_PASSWORD to choose "
          "it)");
    }
    ctx.origin = "--demo";
    TS_RETURN_IF_ERROR(ApplyBootstrap(ctx, DemoBootstrap(password)));
  }
  if (!config.bootstrap_file.empty()) {
    TS_ASSIGN_OR_RETURN(std::string text, ReadFile(config.bootstrap_file));
    ctx.origin = "--bootstrap " + config.bootstrap_file;
    TS_RETURN_IF_ERROR(ApplyBootstrap(ctx, text));
  }
  auto instance = p->store->GetInstance();
  if (!instance.ok() && instance.status().code() == StatusCode::kNotFound) {
    // Started from nothing: create an instance in the formats of the sso-admin model, to be
    // configured through the admin plane (ListInstances finds it) or a later bootstrap file.
    TS_RETURN_IF_ERROR(p->store->PutInstance(NewInstance(config.regions.front(), now)));
    instance = p->store->GetInstance();
    if (instance.ok()) {
      notices->push_back("created Identity Center instance " + instance->instance_arn +
                         " (identity store " + instance->identity_store_id + ", account " +
                         instance->owner_account_id + ")");
    }
  }
  if (!instance.ok()) return instance.status();
  p->instance = *instance;
  // The audit trail names the instance's region and account (docs/design/audit.md); events from
  // here on carry them.
  storage::SetAuditInstance(config.regions.front(), p->instance.owner_account_id,
                            p->instance.identity_store_id);

  // The root credential of the instance owner: from the environment, else generated once and
  // kept (sealed) in the store like any other access key. Its secret is printed only when it is
  // generated: SigV4 needs it recoverable, but nobody should read it back.
  // Long-term keys are kept as applications are (--config-cache-ttl-ms, credentials.h).
  p->credentials = std::make_unique<StoreCredentialProvider>(
      p->store, keys.iam_secrets, clock, std::chrono::milliseconds(config.config_cache_ttl_ms));
  const std::string root_arn = "arn:aws:iam::" + p->instance.owner_account_id + ":root";
  p->demo.root_arn = root_arn;
  if (!config.root_access_key_id.empty()) {
    sigv4::Credential root;
    root.access_key_id = config.root_access_key_id;
    root.secret_access_key = config.root_secret_key;
    root.principal_arn = root_arn;
    root.account_id = p->instance.owner_account_id;
    p->credentials->SetRootCredential(root);
    p->demo.access_key_id = root.access_key_id;
    p->demo.root_secret = DemoSecrets::Origin::kEnvironment;
    TS_RETURN_IF_ERROR(p->store->PutMeta(kEnvironmentRootKeyMeta, root.access_key_id));
  } else if (auto id = p->store->GetMeta(kRootKeyMeta); id.ok()) {
    notices->push_back("root access key id: " + *id +
                       " (its secret was printed when it was generated)");
    p->demo.access_key_id = *id;
    p->demo.root_secret = DemoSecrets::Origin::kEarlierStart;
  } else {
    storage::IamPrincipal root{root_arn, p->instance.owner_account_id, "", now};
    TS_RETURN_IF_ERROR(p->store->PutPrincipal(root));
    TS_ASSIGN_OR_RETURN(NewAccessKey key,
                        CreateAccessKey(*p->store, keys.iam_secrets, root_arn, now, 0));
    TS_RETURN_IF_ERROR(p->store->PutMeta(kRootKeyMeta, key.access_key_id));
    notices->push_back("generated the root credential (shown only this once):");
    notices->push_back("  AWS_ACCESS_KEY_ID=" + key.access_key_id);
    notices->push_back("  AWS_SECRET_ACCESS_KEY=" + key.secret_access_key);
    p->demo.access_key_id = key.access_key_id;
    p->demo.root_secret = DemoSecrets::Origin::kGenerated;
    p->demo.generated_secret_access_key = key.secret_access_key;
  }
  if (config.root_access_key_id.empty()) {
    // The environment's root key is gone with this start: list-access-keys stops showing it.
    if (auto env_key = p->store->GetMeta(kEnvironmentRootKeyMeta);
        env_key.ok() && !env_key->empty()) {
      TS_RETURN_IF_ERROR(p->store->PutMeta(kEnvironmentRootKeyMeta, ""));
    }
  }

  sigv4::VerifierOptions vopts;
  vopts.service = "sso-oauth";
  vopts.regions = config.regions;
  p->verifier = std::make_unique<sigv4::Verifier>(vopts, p->credentials.get(), clock);
  vopts.service = "sso";
  p->sso_admin_verifier = std::make_unique<sigv4::Verifier>(vopts, p->credentials.get(), clock);
  vopts.service = "identitystore";
  p->identity_store_verifier =
      std::make_unique<sigv4::Verifier>(vopts, p->credentials.get(), clock);
  TS_ASSIGN_OR_RETURN(
      p->admin, admin::AdminApi::Create({p->store, p->store, p->store, p->store, p->store}, clock,
                                        {p->instance, keys.admin_page_tokens}));

  TS_ASSIGN_OR_RETURN(p->keys, tokens::KeyRing::Open(p->store, keys.signing_keys, clock));
  p->request_metrics = &RequestMetrics::Get(p->admin->OperationNames("sso"),
                                            p->admin->OperationNames("identitystore"));
  // The newest of several instances in one process (tests) is the one measured; ~Tessera
  // clears it, so the gauge never keeps a store alive.
  SigningKeyAge().SetCallback([keys = std::weak_ptr<tokens::KeyRing>(p->keys), clock] {
    const auto ring = keys.lock();
    return ring == nullptr ? 0.0
                           : static_cast<double>(clock->NowUnixSeconds() - ring->ActiveCreatedAt());
  });
  // Publish before use: a new key is in every node's JWKS (after at most one reload) and in
  // every resource server's cached copy (after one max-age) before any node signs with it. A
  // retired key stays published while tokens it signed live (plus the same slack and 5 minutes
  // of clock skew).
  p->rotation.rotation_seconds = config.signing_key_rotation_seconds;
  p->rotation.publish_lead_seconds = config.jwks_max_age_seconds + 2 * config.key_reload_seconds;
  p->rotation.keep_retired_seconds =
      config.access_token_ttl + config.jwks_max_age_seconds + 2 * config.key_reload_seconds + 300;
  const std::string issuer = public_url + "/" + p->instance.instance_id;
  p->minter = std::make_shared<tokens::TokenMinter>(p->keys, p->instance, issuer,
                                                    keys.identity_context, keys.refresh_rotation);
  oauth::TokenServiceOptions topts;
  topts.access_token_ttl = config.access_token_ttl;
  topts.id_token_ttl = config.access_token_ttl;
  topts.refresh_token_ttl = config.refresh_token_ttl;
  topts.refresh_grace_seconds = config.refresh_grace_seconds;
  topts.require_pkce = config.require_pkce;
  // Trusted token issuers' keys (jwt-bearer): fetched with libcurl under the SSRF policy of
  // curl_fetcher.h, cached per issuer (docs/design/jwt-bearer.md).
  tti::CurlFetcherOptions fopts;
  fopts.timeout_ms = config.issuer_fetch_timeout_ms;
  fopts.allow_insecure_loopback = config.allow_insecure_loopback_issuers;
  fopts.allow_private_networks = config.allow_private_network_issuers;
  fopts.extra_ca_file = config.issuer_ca_file;
  tti::JwksCacheOptions copts;
  copts.min_ttl = config.jwks_min_cache_seconds;
  copts.max_ttl = config.jwks_max_cache_seconds;
  copts.default_ttl =
      std::clamp<int64_t>(600, copts.min_ttl, std::max(copts.min_ttl, copts.max_ttl));
  copts.max_stale = config.jwks_max_stale_seconds;
  copts.refetch_interval = config.jwks_refetch_interval_seconds;
  tti::AssertionOptions asopts;
  asopts.max_age_seconds = config.assertion_max_age_seconds;
  auto jwks = std::make_shared<tti::JwksCache>(
      config.issuer_fetcher ? config.issuer_fetcher
                            : std::shared_ptr<tti::HttpFetcher>(tti::MakeCurlFetcher(fopts)),
      clock, copts);
  p->applications = std::make_shared<oauth::ApplicationCache>(
      p->store, clock, std::chrono::milliseconds(config.config_cache_ttl_ms));
  const oauth::TokenStorage token_storage{p->store, p->store, p->store};
  p->token_service = std::make_unique<oauth::TokenService>(
      token_storage, p->minter, clock, topts,
      std::make_shared<tti::AssertionValidator>(jwks, asopts), p->applications);
  p->introspection = std::make_unique<oauth::TokenIntrospection>(token_storage, p->minter, clock);
  // A registration never changes (it is only purged once its secret has expired), so a read
  // is reused for a minute: a device-code poll every `interval` is then one read, of its
  // authorization.
  p->client_auth = std::make_shared<oauth::ClientAuthenticator>(p->store, clock, config.regions,
                                                                std::chrono::seconds(60));
  oauth::RegistrationOptions ropts;
  ropts.public_url = public_url;
  ropts.region = config.regions.front();
  ropts.registrations_per_minute = config.client_registrations_per_minute;
  ropts.max_live_clients = config.max_live_clients;
  p->registration =
      std::make_unique<oauth::ClientRegistration>(p->store, p->applications, clock, ropts);
  oauth::PublicClientOptions popts;
  popts.public_url = public_url;
  popts.device_authorizations_per_minute = config.device_authorizations_per_minute;
  p->public_clients = std::make_unique<oauth::PublicClientService>(
      oauth::ClientStorage{p->store, p->store, p->store, p->store}, p->client_auth, p->applications,
      p->minter, clock, topts, popts);
  p->client_introspection =
      std::make_unique<oauth::ClientIntrospection>(p->client_auth, p->introspection.get());
  p->userinfo = std::make_unique<oauth::UserInfo>(p->store, p->store, p->minter, clock);
  portal::PortalOptions portal_options;
  // Role credentials are access keys: their secrets are sealed as every other key's.
  portal_options.seal_key = keys.iam_secrets;
  portal_options.page_token_key = keys.admin_page_tokens;
  portal_options.requests_per_minute = config.portal_requests_per_minute;
  p->portal = std::make_unique<portal::PortalApi>(
      portal::PortalStorage{p->store, p->store, p->store}, p->minter, clock, portal_options);

  web::AuthorizeOptions aopts;
  aopts.public_url = public_url;
  aopts.issuer = issuer;
  aopts.code_ttl = config.code_ttl;
  aopts.session_ttl = config.session_ttl;
  aopts.require_pkce = config.require_pkce;
  p->authorize = std::make_unique<web::AuthorizeHandler>(
      web::AuthorizeStorage{p->store, p->store, p->store, p->store, p->store}, clock, aopts);
  // The device page signs users in with /authorize's sign-in: one session, one set of limits.
  p->device = std::make_unique<web::DevicePageHandler>(
      web::DevicePageStorage{p->store, p->store, p->store, p->store}, p->authorize->sign_in(),
      clock);
  // The start page too: signing out anywhere revokes the credentials it issued.
  web::StartPageOptions spopts;
  spopts.public_url = public_url;
  spopts.region = config.regions.front();
  spopts.identity_store_id = p->instance.identity_store_id;
  spopts.seal_key = keys.iam_secrets;
  p->start =
      std::make_unique<web::StartPageHandler>(web::StartPageStorage{p->store, p->store, p->store},
                                              p->authorize->sign_in(), clock, std::move(spopts));
  TS_ASSIGN_OR_RETURN(p->workers, ThreadPool::Create(config.threads));
  Admission::Options admission;
  admission.max_in_progress = std::max(1, config.threads) + config.max_queued_requests;
  admission.max_worker_queue = static_cast<size_t>(
      config.max_worker_queue > 0 ? config.max_worker_queue : 8 * std::max(1, config.threads));
  admission.shed_io_lag_micros = config.shed_io_lag_micros;
  p->admission = std::make_unique<Admission>(admission);

  p->discovery_json = AuthorizationServerMetadata({public_url, issuer});
  p->housekeeper = std::thread([parts = p.get()] { parts->Housekeep(*parts->store); });
  p->key_keeper = std::thread([parts = p.get()] { parts->KeepKeys(); });
  if (config.memory_trim_seconds > 0) {
    Parts::MemoryTrimDuration();  // registered now, so that the first scrape shows them
    Parts::MemoryReturnedBytes();
    p->memory_keeper = std::thread([parts = p.get()] { parts->KeepMemory(); });
  }
  return std::unique_ptr<Tessera>(new Tessera(std::move(p)));
}

namespace {
// What the audit trail records of the request being served on this thread (storage/audit.h).
storage::AuditRequestContext AuditContextOf(const http::Request& request) {
  return {request.ClientAddress(), std::string(request.FindHeader("user-agent").value_or("")),
          request.request_id};
}

// Endpoints answered from memory: on the io thread, never queued, never refused for overload (a
// load balancer's health check must see the node alive while it sheds load).
bool AnsweredAtOnce(const Route* route) {
  return route == nullptr || route->endpoint == Endpoint::kDiscovery ||
         route->endpoint == Endpoint::kJwks || route->endpoint == Endpoint::kHealthz;
}

}  // namespace

void Tessera::HandleAsync(http::Request request, http::Responder respond) const {
  const Parts& p = *parts_;
  // Only a token request on a store that never blocks starts on the io thread (see
  // TokenService::CreateTokenWithIamAsync); everything else may wait, so it goes to the workers.
  const Route* route = FindRoute(request.method, request.Path(), p.instance.instance_id);
  const RequestLabels labels = p.request_metrics->Classify(route, request);
  respond = p.request_metrics->Observe(labels, std::move(respond));
  if (p.config.access_log) {
    // The access log names the operation the metrics count, whichever thread answers.
    respond = [respond = std::move(respond),
               operation = p.request_metrics->OperationName(labels)](http::Response r) {
      r.operation = operation;
      respond(std::move(r));
    };
  }
  if (AnsweredAtOnce(route)) return respond(Handle(request));
  const Admission& admission = *p.admission;
  if (std::optional<Refusal> refused = admission.Admit(respond)) {
    return admission.Refuse(*refused, *route, request, respond);
  }
  // The portal's reads, and GetRoleCredentials' queued write, run here too; Logout's
  // synchronous write goes to the workers.
  if (p.store->GrantsWithoutBlocking()) {
    if (std::optional<portal::Operation> op = PortalOperationOf(*route, request);
        op && *op != portal::Operation::kLogout) {
      const storage::AuditRequest audit_request(AuditContextOf(request));
      return HandlePortalAsync(*op, std::move(request), std::move(respond));
    }
  }
  auto workers_full = [&] { return admission.WorkersFull(p.workers->Waiting()); };
  if (route->endpoint != Endpoint::kToken || !p.store->GrantWritesWithoutBlocking()) {
    if (workers_full()) {
      return admission.Refuse(Refusal::kWorkerQueueFull, *route, request, respond);
    }
    p.workers->Post([this, request = std::move(request), respond = std::move(respond)] {
      respond(Handle(request));
    });
    return;
  }
  if (!p.store->GrantsWithoutBlocking()) {
    // PostgreSQL: the reads are round trips, so a worker makes them; it queues the write on the
    // group-commit writer and is free again while the commit is in flight.
    if (workers_full()) {
      return admission.Refuse(Refusal::kWorkerQueueFull, *route, request, respond);
    }
    p.workers->Post([this, request = std::move(request), respond = std::move(respond)]() mutable {
      HandleTokenAsync(std::move(request), std::move(respond));
    });
    return;
  }
  HandleTokenAsync(std::move(request), std::move(respond));
}

void Tessera::HandleTokenAsync(http::Request request, http::Responder respond) const {
  const Parts& p = *parts_;
  const storage::AuditRequest audit_request(AuditContextOf(request));
  ThreadPool* workers = p.workers.get();
  // The service calls exactly one of the two answers below; both reach `respond`.
  struct Reply {
    http::Responder respond;
    std::string request_id;
    // What the audit trail knows of this request, for the work handed to the workers (a reused
    // refresh token's revocation is recorded with the request that caused it).
    storage::AuditRequestContext audit;
  };
  auto reply = std::make_shared<Reply>(Reply{std::move(respond), {}, {}});
  auto blocking = [workers, reply](std::function<void()> task) {
    workers->Post([reply, task = std::move(task)] {
      const storage::AuditRequest audit_request(reply->audit);
      task();
    });
  };
  // The io thread's part of the request, guarded as Handle is: a throw answers a modeled 500
  // (a Responder answered already ignores it).
  auto threw = [&](std::string_view cause) {
    if (!reply->request_id.empty()) request.request_id = reply->request_id;
    reply->respond(InternalErrorAnswer(request, cause));
  };
  try {
    if (request.method == "POST" && !IsIamTokenRequest(request)) {
      // A registered client's CreateToken (TokenService's counterpart, public_clients.h).
      const oauth::TokenFormat format = TokenFormatOf(request);
      StatusOr<oauth::ClientTokenRequest> parsed = Parts::ParseClientToken(request, format);
      if (!parsed.ok()) {
        return reply->respond(ClientAnswer(request.request_id, "/token", format, parsed.status()));
      }
      reply->request_id = std::move(request.request_id);
      reply->audit = *storage::AuditRequest::Current();  // set above
      p.public_clients->CreateTokenAsync(
          std::move(*parsed), format, blocking,
          [reply, format](StatusOr<std::string> body) {
            reply->respond(ClientAnswer(reply->request_id, "/token", format, std::move(body)));
          },
          [reply, format](oauth::Finish sign) {
            http::Response answer;
            answer.finish = [request_id = reply->request_id, format,
                             sign = std::move(sign)](http::Response& out) {
              out = ClientAnswer(request_id, "/token", format, sign());
            };
            reply->respond(std::move(answer));
          });
      return;
    }
    StatusOr<oauth::Caller> caller = p.VerifyTokenRequest(request);
    if (!caller.ok()) return reply->respond(TokenAnswer(request.request_id, caller.status()));
    reply->request_id = std::move(request.request_id);
    reply->audit = *storage::AuditRequest::Current();  // set above
    p.token_service->CreateTokenWithIamAsync(
        std::move(*caller), std::move(request.body), blocking,
        [reply](StatusOr<std::string> body) {
          reply->respond(TokenAnswer(reply->request_id, std::move(body)));
        },
        // A refresh answered by the store's writer thread is signed on the connection's io thread.
        [reply](oauth::TokenService::Finish sign) {
          http::Response answer;
          answer.finish = [request_id = reply->request_id, sign = std::move(sign)](
                              http::Response& out) { out = TokenAnswer(request_id, sign()); };
          reply->respond(std::move(answer));
        });
  } catch (const std::exception& e) {
    threw(e.what());
  } catch (...) {
    threw("a non-exception");
  }
}

void Tessera::HandlePortalAsync(portal::Operation operation, http::Request request,
                                http::Responder respond) const {
  auto respond_shared = std::make_shared<http::Responder>(std::move(respond));
  const std::string request_id = request.request_id;
  const std::string path(request.Path());
  try {
    parts_->portal->HandleAsync(
        operation, request, [respond_shared, request_id, path](http::Response r, Status internal) {
          if (!internal.ok()) LogInternal(request_id, path, internal);
          (*respond_shared)(std::move(r));
        });
  } catch (const std::exception& e) {
    // A Responder answered already ignores this.
    (*respond_shared)(InternalErrorAnswer(request, e.what()));
  } catch (...) {
    (*respond_shared)(InternalErrorAnswer(request, "a non-exception"));
  }
}

http::Response Tessera::Handle(const http::Request& request) const {
  // Lines logged while answering name the request, also when no transport set it (tests).
  log::ScopedRequestId scope(request.request_id);
  const storage::AuditRequest audit_request(AuditContextOf(request));
  return AnswerOrInternalError(request, [&] { return Dispatch(request); });
}

http::Response Tessera::Dispatch(const http::Request& request) const {
  const Parts& p = *parts_;
  // The HTTP surface is the table of routes.cc; Dispatch answers its endpoints.
  const Route* route = FindRoute(request.method, request.Path(), p.instance.instance_id);
  if (route == nullptr) return NoOperation(request);
  if (!route->cors) return DispatchRoute(*route, request);
  if (request.method == "OPTIONS") return Preflight(*route);
  http::Response r = DispatchRoute(*route, request);
  AllowAnyOrigin(r);
  return r;
}

http::Response Tessera::DispatchRoute(const Route& route, const http::Request& request) const {
  const Parts& p = *parts_;
  const std::string_view path = request.Path();
  // Resource-server operations: SigV4-signed JSON like CreateTokenWithIAM.
  using SignedOperation = StatusOr<std::string> (oauth::TokenIntrospection::*)(
      const oauth::Caller&, std::string_view) const;
  auto signed_operation = [&](SignedOperation operation) {
    if (request.method != "POST" || !HasAwsIamQuery(request.Query())) {
      return oauth::ToErrorResponse(ApiError(StatusCode::kInvalidArgument,
                                             "InvalidRequestException",
                                             "Use POST " + std::string(path) + "?aws_iam=t"));
    }
    auto caller = p.verifier->Verify(request);
    if (!caller.ok()) {
      if (caller.status().error_type().empty()) LogInternal(request, caller.status());
      return oauth::ToErrorResponse(caller.status());
    }
    storage::AuditRequest::SetCaller(caller->principal_arn, caller->account_id,
                                     caller->access_key_id);
    auto body =
        ((*p.introspection).*operation)({caller->principal_arn, caller->account_id}, request.body);
    if (!body.ok()) {
      if (body.status().error_type().empty()) LogInternal(request, body.status());
      return oauth::ToErrorResponse(body.status());
    }
    http::Response r = Json(200, std::move(*body));
    // RFC 7662 §2.2 / RFC 6749 §5.1: answers about tokens must not be cached.
    r.SetHeader("Cache-Control", "no-store");
    return r;
  };
  // The same paths as RFC 7662 / RFC 7009 form posts of registered clients
  // (client_introspection.h): a form without aws_iam=t or a SigV4 signature.
  const bool client_form = request.method == "POST" && !IsIamTokenRequest(request) &&
                           TokenFormatOf(request) == oauth::TokenFormat::kOAuthForm;
  using ClientOperation =
      http::Response (oauth::ClientIntrospection::*)(const http::Request&, Status*) const;
  auto client_operation = [&](ClientOperation operation) {
    Status internal;
    http::Response r = ((*p.client_introspection).*operation)(request, &internal);
    if (!internal.ok()) LogInternal(request, internal);
    return r;
  };
  switch (route.endpoint) {
    case Endpoint::kToken: {
      if (request.method == "POST" && !IsIamTokenRequest(request)) {
        const oauth::TokenFormat format = TokenFormatOf(request);
        StatusOr<oauth::ClientTokenRequest> parsed = Parts::ParseClientToken(request, format);
        if (!parsed.ok()) return ClientAnswer(request.request_id, path, format, parsed.status());
        return ClientAnswer(request.request_id, path, format,
                            p.public_clients->CreateToken(*parsed, format));
      }
      StatusOr<oauth::Caller> caller = p.VerifyTokenRequest(request);
      if (!caller.ok()) return TokenAnswer(request.request_id, caller.status());
      return TokenAnswer(request.request_id,
                         p.token_service->CreateTokenWithIam(*caller, request.body));
    }
    case Endpoint::kRegisterClient: {
      if (!oauth::IsRfc7591Request(request.body)) {
        return ClientAnswer(request.request_id, path, oauth::TokenFormat::kAwsJson,
                            p.registration->Register(request.body, request.ClientAddress()));
      }
      // RFC 7591 (dynamic_registration.h): registered as RegisterClient, answered 201 in its
      // shape, errors as RFC 7591 §3.2.2 {error, error_description}.
      auto rfc7591 = oauth::ParseRfc7591Request(request.body);
      auto body = rfc7591.ok() ? p.registration->Register(rfc7591->register_client_json,
                                                          request.ClientAddress())
                               : StatusOr<std::string>(rfc7591.status());
      if (body.ok()) body = oauth::Rfc7591Response(*body, *rfc7591);
      http::Response r =
          ClientAnswer(request.request_id, path, oauth::TokenFormat::kOAuthForm, std::move(body));
      if (r.status == 200) r.status = 201;
      return r;
    }
    case Endpoint::kDeviceAuthorization:
      return ClientAnswer(
          request.request_id, path, oauth::TokenFormat::kAwsJson,
          p.public_clients->StartDeviceAuthorization(request.body, request.ClientAddress()));
    case Endpoint::kIntrospect:
      if (client_form) return client_operation(&oauth::ClientIntrospection::Introspect);
      return signed_operation(&oauth::TokenIntrospection::Introspect);
    case Endpoint::kRevoke:
      if (client_form) return client_operation(&oauth::ClientIntrospection::Revoke);
      return signed_operation(&oauth::TokenIntrospection::Revoke);
    case Endpoint::kIdentityContext:
      return signed_operation(&oauth::TokenIntrospection::ReadIdentityContext);
    case Endpoint::kAdmin: {
      // The operation is named by X-Amz-Target.
      const std::string_view target = request.FindHeader("x-amz-target").value_or("");
      const std::string_view signing_name = admin::AdminApi::SigningNameFor(target);
      if (signing_name.empty()) {
        return admin::AwsJsonError(ApiError(
            StatusCode::kNotFound, "UnknownOperationException",
            "Unknown operation " + std::string(target.empty() ? "(no X-Amz-Target)" : target)));
      }
      const sigv4::Verifier& verifier =
          signing_name == "sso" ? *p.sso_admin_verifier : *p.identity_store_verifier;
      auto caller = verifier.Verify(request);
      if (!caller.ok()) {
        if (caller.status().error_type().empty()) LogInternal(request, caller.status());
        return admin::AwsJsonError(caller.status(), target, request.request_id);
      }
      storage::AuditRequest::SetCaller(caller->principal_arn, caller->account_id,
                                       caller->access_key_id);
      Status internal;
      http::Response r =
          p.admin->Handle(target, {caller->principal_arn, caller->account_id, request.request_id},
                          request.body, &internal);
      if (!internal.ok()) LogInternal(request, internal);
      // Whatever the call changed applies to the next token request (application_cache.h,
      // credentials.h). Every authenticated admin call clears the caches: they are rare, and a
      // read-only one costs one extra store read per application and access key afterwards.
      p.applications->Clear();
      p.credentials->ClearCache();
      return r;
    }
    case Endpoint::kAuthorizeGet:
      return p.authorize->Get(request);
    case Endpoint::kAuthorizePost:
      return p.authorize->Post(request);
    case Endpoint::kLogout:
    case Endpoint::kPortalCredentials:
    case Endpoint::kPortalAccounts:
    case Endpoint::kPortalRoles: {
      const std::optional<portal::Operation> op = PortalOperationOf(route, request);
      if (!op) return p.authorize->Logout(request);
      Status internal;
      http::Response r = p.portal->Handle(*op, request, &internal);
      if (!internal.ok()) LogInternal(request, internal);
      return r;
    }
    case Endpoint::kDeviceGet:
      return p.device->Get(request);
    case Endpoint::kDevicePost:
      return p.device->Post(request);
    case Endpoint::kStartGet:
      return p.start->Get(request);
    case Endpoint::kStartPost:
      return p.start->Post(request);
    case Endpoint::kUserInfo: {
      Status internal;
      http::Response r = p.userinfo->Handle(request, &internal);
      if (!internal.ok()) LogInternal(request, internal);
      return r;
    }
    case Endpoint::kDiscovery:
      return Json(200, p.discovery_json);
    case Endpoint::kJwks: {
      http::Response r = Json(200, p.keys->JwksJson());
      // Resource servers may cache the key set this long; rotation publishes keys longer ahead.
      r.SetHeader("Cache-Control",
                  "public, max-age=" + std::to_string(p.config.jwks_max_age_seconds));
      return r;
    }
    case Endpoint::kHealthz:
      return Json(200, R"({"status":"ok"})");
  }
  return NoOperation(request);  // not reached: every endpoint has its case
}

}  // namespace ts::server
