#include "ts/server/commands.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include "ts/common/log.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/password.h"
#include "ts/http/server.h"
#include "ts/http/tls.h"
#include "ts/iam/policy.h"
#include "ts/server/app.h"
#include "ts/server/bootstrap.h"
#include "ts/server/config.h"
#include "ts/server/credentials.h"
#include "ts/server/management.h"
#include "ts/server/master_key.h"
#include "ts/storage/audit.h"
#include "ts/storage/postgres/postgres_store.h"
#include "ts/tokens/key_ring.h"

namespace ts::server {
namespace {

constexpr char kUsage[] = R"(usage: tessera <command> [flags]

commands:
  serve                 run the server (tessera serve --help)
  set-password          --db PATH --user-name NAME; reads the new password from stdin
  create-principal      --db PATH --arn ARN            register an IAM user or role
  put-identity-policy   --db PATH --principal-arn ARN   reads the principal's IAM identity policy
                        (JSON) from stdin; it authorizes sso:* / identitystore:* admin calls
  create-access-key     --db PATH --principal-arn ARN [--duration-seconds N]
                        prints a new key pair; with N (1 to 129600) a temporary one with a
                        session token that expires after N seconds
  list-access-keys      --db PATH --principal-arn ARN
  delete-access-key     --db PATH --access-key-id ID
  rotate-signing-key    --db PATH [--keep-retired-seconds N] [--activate-after-seconds N]
                        publishes a new key now; nodes sign with it after N seconds
                        (default 360: one JWKS max-age and two key reloads)
  print-jwks            --db PATH
  account add           --db PATH --account-id ID --name NAME --email EMAIL
                        declares an AWS account (12 digits) that permission sets can be
                        assigned on; again with the same ID renames it
  account list          --db PATH
  account remove        --db PATH --account-id ID   (refused while it has account assignments)
  account roles         --db PATH --account-id ID   the roles permission sets are provisioned
                        as there: role ARN and permission set ARN
  audit                 --db PATH [--since T] [--until T] [--event-name NAME]
                        [--principal ARN|USER-ID|USER-NAME] [--limit N]
                        the audit trail, oldest first, one CloudTrail-shaped JSON event a
                        line; T is ISO 8601 (2024-05-01T12:00:00Z, 2024-05-01) or Unix seconds,
                        --until is exclusive; --limit (default 1000) counts the newest matching
  version, --version    the version and the commit it was built from
)";

struct Flags {
  std::vector<std::pair<std::string, std::string>> values;
  std::string Get(const std::string& name, const std::string& fallback = "") const {
    for (const auto& [k, v] : values) {
      if (k == name) return v;
    }
    return fallback;
  }
  bool Has(const std::string& name) const {
    for (const auto& [k, v] : values) {
      if (k == name) return true;
    }
    return false;
  }
};

// The longest --duration-seconds: STS GetSessionToken's longest session (36 hours). Longer-lived
// access belongs in a long-term key, which can be listed and deleted.
constexpr int64_t kMaxSessionSeconds = 129600;

StatusOr<Flags> ParseFlags(const std::vector<std::string>& args, size_t start,
                           const std::vector<std::string>& allowed) {
  Flags flags;
  for (size_t i = start; i < args.size(); i += 2) {  // a flag and its value
    bool known = false;
    for (const auto& a : allowed) known |= (args[i] == a);
    if (!known) return InvalidArgumentError("unknown flag '" + args[i] + "'");
    if (i + 1 >= args.size()) return InvalidArgumentError(args[i] + " needs a value");
    flags.values.emplace_back(args[i], args[i + 1]);
  }
  return flags;
}

// The store and master-key-derived keys a maintenance command works with.
struct Offline {
  storage::StorePtr store;
  MasterKeys keys;
};

StatusOr<Offline> OpenOffline(const Flags& flags) {
  const std::string db = flags.Get("--db", "./var/tessera.db");
  if (!storage::IsPostgresUrl(db) && !std::filesystem::exists(db)) {
    return InvalidArgumentError("no database at " + db + " (start `tessera serve` first)");
  }
  Offline o;
  const char* env = std::getenv("TESSERA_MASTER_KEY");
  const char* file = std::getenv("TESSERA_MASTER_KEY_FILE");
  TS_ASSIGN_OR_RETURN(std::string master, LoadNodeMasterKey(db, env != nullptr ? env : "",
                                                            file != nullptr ? file : ""));
  TS_ASSIGN_OR_RETURN(o.store, OpenDatabase(db));
  TS_RETURN_IF_ERROR(VerifyMasterKey(*o.store, master));
  o.keys = DeriveMasterKeys(master);
  return o;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int Fail(std::ostream& err, const Status& s) {
  err << "tessera: " << s.message() << "\n";
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

// The audit identity of the CLI (docs/design/audit.md): a local operator, named by the OS user,
// on this host. Every change a command makes is recorded with it.
storage::AuditRequestContext CliAuditContext() {
  return storage::LocalOperatorContext(std::string("tessera-cli/") + kVersion);
}

// The event of a CLI change: eventSource tessera.cli, the command as eventName, and the
// allow-listed flags as requestParameters (ids and ARNs only).
storage::AuditEvent CliEvent(std::string_view name,
                             std::vector<std::pair<std::string, std::string>> parameters) {
  storage::AuditEvent e;
  e.event_source = "tessera.cli";
  e.event_name = std::string(name);
  e.request_parameters = std::move(parameters);
  return e;
}

// `tessera audit`: the trail as JSON lines, oldest first. --limit keeps the newest N of the
// matching events (read in pages by id, so a long trail is never held at once).
int AuditCommand(const Flags& flags, std::ostream& out, std::ostream& err) {
  storage::AuditQuery query;
  for (const char* name : {"--since", "--until"}) {
    if (!flags.Has(name)) continue;
    auto t = storage::ParseIsoTime(flags.Get(name));
    if (!t) {
      return Fail(err, InvalidArgumentError(std::string(name) +
                                            " takes an ISO 8601 time (2024-05-01T12:00:00Z or "
                                            "2024-05-01) or Unix seconds, got '" +
                                            flags.Get(name) + "'"));
    }
    (std::string_view(name) == "--since" ? query.since : query.until) = *t;
  }
  int64_t limit = 1000;
  if (flags.Has("--limit")) {
    auto n = ParseSeconds("--limit", flags.Get("--limit"), 1, 1'000'000);
    if (!n.ok()) {
      return Fail(err,
                  InvalidArgumentError("--limit takes a whole number from 1 to 1000000, got '" +
                                       flags.Get("--limit") + "'"));
    }
    limit = *n;
  }
  query.event_name = flags.Get("--event-name");
  auto o = OpenOffline(flags);
  if (!o.ok()) return Fail(err, o.status());
  query.principal = flags.Get("--principal");
  if (!query.principal.empty() && query.principal.rfind("arn:", 0) != 0) {
    // A user name stands for its user id, which user events carry.
    if (auto user = o->store->GetUserByName(query.principal); user.ok()) {
      query.principal = user->user_id;
    }
  }
  auto trail = std::dynamic_pointer_cast<storage::AuditStore>(o->store);
  if (trail == nullptr) return Fail(err, InternalError("this database keeps no audit trail"));
  // The newest `limit` matching events, oldest first: page through, keeping a window.
  std::deque<std::string> window;
  query.limit = 1000;
  while (true) {
    auto page = trail->ListAuditEvents(query);
    if (!page.ok()) return Fail(err, page.status());
    for (auto& record : *page) {
      window.push_back(std::move(record.json));
      if (static_cast<int64_t>(window.size()) > limit) window.pop_front();
    }
    if (static_cast<int>(page->size()) < query.limit) break;
    query.after_id = page->back().id;
  }
  for (const std::string& line : window) out << line << "\n";
  return 0;
}

}  // namespace

std::string DemoBanner(const std::string& url, const Tessera::DemoSecrets& s,
                       const std::string& program, const std::string& db, bool require_pkce) {
  using Origin = Tessera::DemoSecrets::Origin;
  // A fixed PKCE pair so the printed commands work as pasted: fine for a demo, never for real use.
  constexpr char kVerifier[] = "tessera-demo-pkce-verifier-0123456789abcdefghijklmnop";
  constexpr char kChallenge[] = "bxYgJC2DzeVMvczmLIUimmaHn4DxVH1j2aRebxLVjLQ";
  const std::string db_flag = " --db " + RedactDatabase(db);
  std::ostringstream out;
  out << "\n== Demo ==\n";
  // Secrets are printed only by the start that generated them (README, Environment).
  switch (s.demo_password) {
    case Origin::kGenerated:
      out << "Sign-in user: demo   password: " << s.generated_demo_password << "\n";
      break;
    case Origin::kEnvironment:
      out << "Sign-in user: demo   password: the value of TESSERA_DEMO_PASSWORD\n";
      break;
    case Origin::kEarlierStart:
      out << "Sign-in user: demo   password: printed when the demo user was created (first "
             "start); to choose a new one:\n"
          << "  echo 'a new password' | " << program << " set-password --user-name demo" << db_flag
          << "\n"
          << "  (or start with TESSERA_DEMO_PASSWORD set)\n";
      break;
  }
  out << "Root credential (may call CreateTokenWithIAM for every application):\n"
      << "  export AWS_ACCESS_KEY_ID=" << s.access_key_id << "\n";
  switch (s.root_secret) {
    case Origin::kGenerated:
      out << "  export AWS_SECRET_ACCESS_KEY='" << s.generated_secret_access_key
          << "'   # shown only this once\n";
      break;
    case Origin::kEnvironment:
      out << "  export AWS_SECRET_ACCESS_KEY=\"$TESSERA_ROOT_SECRET_ACCESS_KEY\"\n";
      break;
    case Origin::kEarlierStart:
      out << "  # AWS_SECRET_ACCESS_KEY was printed when this key was generated (first start);\n"
          << "  # lost it? a new root key pair: " << program
          << " create-access-key --principal-arn " << s.root_arn << db_flag << "\n";
      break;
  }
  const std::string authorize =
      url +
      "/authorize?response_type=code&client_id=arn%3Aaws%3Asso%3A%3A123456789012%3A"
      "application%2Fssoins-111111111111%2Fapl-222222222222&redirect_uri=https%3A%2F%2F"
      "mywebapp.example%2Fredirect&state=demo";
  out << "  export AWS_DEFAULT_REGION=us-east-1\n\n"
      << "1. Open in a browser and sign in (the browser then goes to\n"
      << "   https://mywebapp.example/redirect?code=...; copy the code from the address bar).\n"
      << "   With PKCE (recommended: the code is bound to the verifier of step 2):\n"
      << "  " << authorize << "&code_challenge_method=S256&code_challenge=" << kChallenge << "\n";
  if (!require_pkce) {
    out << "   Or without PKCE, as AWS's CreateTokenWithIAM example redeems it:\n"
        << "  " << authorize << "\n";
  }
  out << "\n"
      << "2. authorization_code, with the AWS CLI (v1 first needs\n"
      << "   `aws configure set cli_follow_urlparam false`, or it tries to download the\n"
      << "   https:// redirect URI given as a parameter):\n"
      << "  aws sso-oidc create-token-with-iam --endpoint-url " << url << " \\\n"
      << "    --client-id " << kDemoApplicationArn << " \\\n"
      << "    --grant-type authorization_code --redirect-uri https://mywebapp.example/redirect \\\n"
      << "    --code-verifier " << kVerifier << " --code CODE\n";
  if (!require_pkce) {
    out << "   (a code from the URL without PKCE: leave out --code-verifier, as AWS's example "
           "does)\n";
  }
  out << "   or with boto3:\n"
      << "  python3 -c \"import boto3; print(boto3.client('sso-oidc', endpoint_url='" << url
      << "').create_token_with_iam(clientId='" << kDemoApplicationArn
      << "', grantType='authorization_code', redirectUri='https://mywebapp.example/redirect', "
         "codeVerifier='"
      << kVerifier << "', code='CODE'))\"\n\n"
      << "3. refresh_token (rotates: use the refreshToken of the previous answer):\n"
      << "  aws sso-oidc create-token-with-iam --endpoint-url " << url << " \\\n"
      << "    --client-id " << kDemoApplicationArn << " \\\n"
      << "    --grant-type refresh_token --refresh-token REFRESH_TOKEN\n\n"
      << "4. The access portal: open " << url << "/start, sign in as demo, and press\n"
      << "   \"Command line or programmatic access\" for a role's temporary credentials.\n";
  return out.str();
}

namespace {

// Connections are files: take the hard limit the administrator allows (as Go's runtime does at
// start), so that --max-connections' default is not cut to a shell's soft 1024.
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);  // best effort: the default follows whatever remains
}

int Serve(const std::vector<std::string>& args, const std::string& program, std::ostream& out,
          std::ostream& err) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << ServeUsage();
      return 0;
    }
  }
  auto config = ParseServeFlags({args.begin() + 1, args.end()});
  if (!config.ok()) return Fail(err, config.status());
  // Before any thread starts: every line from here on is in the chosen format.
  log::SetFormat(config->log_format);

  // Block the stop signals (and SIGHUP, the reload) in every thread; the main thread waits for
  // them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  http::TlsContextPtr tls;
  if (!config->tls_cert_file.empty()) {
    std::vector<std::string> warnings;
    auto loaded = http::TlsContext::Load(config->tls_cert_file, config->tls_key_file, &warnings);
    if (!loaded.ok()) return Fail(err, loaded.status());
    for (const auto& w : warnings) err << w << "\n";
    tls = *loaded;
    tls->StartWatching(std::chrono::seconds(config->tls_reload_seconds));
  }
  const std::string scheme = tls ? "https://" : "http://";

  RaiseOpenFileLimit();
  auto clock = std::make_shared<SystemClock>();
  RegisterProcessMetrics();
  // The management listener comes first, so that orchestrators see the process live (and not
  // yet ready) while migrations run and keys load. Its own io thread: a public listener under
  // load must not delay a health probe.
  auto readiness = std::make_shared<Readiness>();
  http::ServerPtr management;
  if (!config->management_listen.empty()) {
    http::ServerOptions mopts;
    mopts.host = config->management_listen.substr(0, config->management_listen.rfind(':'));
    mopts.port = static_cast<uint16_t>(std::atoi(
        config->management_listen.substr(config->management_listen.rfind(':') + 1).c_str()));
    mopts.threads = 1;
    mopts.clock = clock;
    auto started =
        http::Server::Start(mopts, http::Handler([readiness](const http::Request& request) {
                              return HandleManagement(request, *readiness);
                            }));
    if (!started.ok()) {
      return Fail(err, Status(started.status().code(),
                              "--management-listen: " + std::string(started.status().message())));
    }
    management = std::move(*started);
  }
  // The server binds first (so --listen with port 0 resolves), and answers 503 until ready.
  auto ready = std::make_shared<std::atomic<const Tessera*>>(nullptr);
  http::ServerOptions sopts;
  sopts.host = config->Host();
  sopts.port = config->Port();
  sopts.threads = config->io_threads;
  sopts.clock = clock;
  sopts.access_log = config->access_log;
  sopts.max_connections = static_cast<size_t>(config->max_connections);
  sopts.read_timeout = std::chrono::seconds(config->read_timeout_seconds);
  sopts.idle_timeout = std::chrono::seconds(config->idle_timeout_seconds);
  sopts.write_timeout = std::chrono::seconds(config->write_timeout_seconds);
  sopts.make_error = TransportError;
  sopts.tls = tls;
  sopts.trusted_proxies = config->trusted_proxies;
  // The lag is measured from the start (tessera_io_lag_seconds); samples before the application
  // exists are dropped.
  sopts.on_io_lag = [ready](std::chrono::microseconds lag) {
    if (const Tessera* app = ready->load(std::memory_order_acquire)) app->ObserveIoLag(lag);
  };
  auto server = http::Server::Start(
      sopts, http::AsyncHandler([ready](http::Request request, http::Responder respond) {
        const Tessera* app = ready->load(std::memory_order_acquire);
        if (app == nullptr) return respond(TransportError(503, "Tessera is starting", request));
        app->HandleAsync(std::move(request), std::move(respond));
      }));
  if (!server.ok()) return Fail(err, server.status());
  const std::string public_url =
      config->public_url.empty() ? scheme + (*server)->address() : config->public_url;

  std::vector<std::string> notices;
  auto app = Tessera::Create(*config, public_url, clock, &notices);
  if (!app.ok()) {
    (*server)->Shutdown(std::chrono::milliseconds(0));
    if (management != nullptr) management->Shutdown(std::chrono::milliseconds(0));
    return Fail(err, app.status());
  }
  ready->store(app->get(), std::memory_order_release);
  readiness->app.store(app->get(), std::memory_order_release);

  // The bound address (what a load balancer targets), then the URL clients see when it differs.
  out << "Tessera listening on " << scheme << (*server)->address() << "\n";
  if (management != nullptr) {
    out << "  management: http://" << management->address()
        << " (GET /metrics, /health/live, /health/ready)\n";
  }
  if (public_url != scheme + (*server)->address()) out << "  public URL: " << public_url << "\n";
  if (tls) out << "  certificate: " << tls->Describe() << "\n";
  out << "  issuer: " << (*app)->issuer() << "\n";
  out << "  database: " << RedactDatabase(config->db_path) << "\n";
  for (const auto& n : notices) out << "  " << n << "\n";
  if (config->demo) {
    out << DemoBanner(public_url, (*app)->demo_secrets(), program, config->db_path,
                      config->require_pkce);
  }
  out.flush();

  int sig = 0;
  // SIGHUP reloads the certificate (TlsContext logs the outcome) and keeps serving.
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    if (tls) {
      (void)tls->Reload();
    } else {
      err << "tessera: SIGHUP: nothing to reload (no --tls-cert)\n";
    }
  }
  // The drain (docs/design/metrics.md): readiness fails at once, and the public listener keeps
  // serving for the delay, so balancers stop sending before connections are refused; then it
  // stops accepting and lets what is in flight finish (each acknowledged only once committed)
  // within the grace period; then the application goes, which flushes the store's writer. The
  // management listener answers (503) until the public one has drained.
  readiness->draining.store(true, std::memory_order_release);
  out << "tessera: signal " << sig << ", draining (readiness fails; serving "
      << config->shutdown_delay_seconds << " s more, then up to " << config->shutdown_grace_seconds
      << " s for requests in flight)\n";
  out.flush();
  if (config->shutdown_delay_seconds > 0) {
    // A second signal ends the delay early (an operator's impatient Ctrl-C).
    // SIGHUP (a reload) does not: it stays pending.
    timespec delay{static_cast<time_t>(config->shutdown_delay_seconds), 0};
    sigset_t end_delay = stop_signals;
    sigdelset(&end_delay, SIGHUP);
    sigtimedwait(&end_delay, nullptr, &delay);
  }
  (*server)->Shutdown(std::chrono::seconds(config->shutdown_grace_seconds));
  ready->store(nullptr);
  if (management != nullptr) management->Shutdown(std::chrono::seconds(1));
  readiness->app.store(nullptr);
  app->reset();
  out << "tessera: stopped\n";
  out.flush();
  return 0;
}

int SetPassword(const Flags& flags, std::istream& in, std::ostream& out, std::ostream& err) {
  const std::string name = flags.Get("--user-name");
  if (name.empty()) return Fail(err, InvalidArgumentError("--user-name is required"));
  auto o = OpenOffline(flags);
  if (!o.ok()) return Fail(err, o.status());
  auto user = o->store->GetUserByName(name);
  if (!user.ok()) return Fail(err, user.status());
  std::string password;
  std::getline(in, password);
  if (Status s = ValidatePassword(password); !s.ok()) return Fail(err, s);
  auto hash = crypto::HashPassword(password);
  if (!hash.ok()) return Fail(err, hash.status());
  user->password_hash = *hash;
  user->updated_at = Now();
  Status s = o->store->UpdateUser(*user);
  if (!s.ok()) return Fail(err, s);
  out << "password set for " << name << "\n";
  return 0;
}

// `tessera account add|list|remove`: the accounts the access portal offers (Tessera has no
// Organizations API).
int AccountCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const std::string sub = args.size() > 1 ? args[1] : "";
  std::vector<std::string> allowed = {"--db"};
  if (sub == "add") allowed.insert(allowed.end(), {"--account-id", "--name", "--email"});
  if (sub == "remove" || sub == "roles") allowed.push_back("--account-id");
  if (sub != "add" && sub != "list" && sub != "remove" && sub != "roles") {
    return Fail(err, InvalidArgumentError("account: expected add, list, remove or roles"));
  }
  auto flags = ParseFlags(args, 2, allowed);
  if (!flags.ok()) return Fail(err, flags.status());
  storage::Account account{flags->Get("--account-id"), flags->Get("--name"), flags->Get("--email"),
                           Now()};
  if (sub != "list") {
    if (Status s = ValidateAccountId(account.account_id); !s.ok()) {
      return Fail(err, InvalidArgumentError("--account-id " + std::string(s.message())));
    }
  }
  if (sub == "add") {
    if (Status s = ValidateAccountName(account.name); !s.ok()) {
      return Fail(err, InvalidArgumentError("--name " + std::string(s.message())));
    }
    if (Status s = ValidateAccountEmail(account.email); !s.ok()) {
      return Fail(err, InvalidArgumentError("--email " + std::string(s.message())));
    }
  }
  auto o = OpenOffline(*flags);
  if (!o.ok()) return Fail(err, o.status());
  if (sub == "add") {
    storage::AuditScope audit(CliEvent("AddAccount", {{"accountId", account.account_id}}));
    Status s = o->store->PutAccount(account);
    if (!s.ok()) return Fail(err, s);
    out << "account " << account.account_id << " (" << account.name << ") declared\n";
    return 0;
  }
  if (sub == "list") {
    auto accounts = o->store->ListAccounts();
    if (!accounts.ok()) return Fail(err, accounts.status());
    for (const auto& a : *accounts)
      out << a.account_id << "\t" << a.name << "\t" << a.email << "\n";
    return 0;
  }
  if (sub == "roles") {
    auto account_status = o->store->GetAccount(account.account_id);
    if (!account_status.ok()) return Fail(err, account_status.status());
    auto roles = o->store->ListProvisionedRoles(account.account_id, "");
    if (!roles.ok()) return Fail(err, roles.status());
    for (const auto& r : *roles) {
      out << "arn:aws:iam::" << r.account_id << ":role/" << r.role_name << "\t"
          << r.permission_set_arn << "\n";
    }
    return 0;
  }
  storage::AuditScope audit(CliEvent("RemoveAccount", {{"accountId", account.account_id}}));
  Status s = o->store->DeleteAccount(account.account_id);
  if (s.code() == StatusCode::kFailedPrecondition) {
    return Fail(err, FailedPreconditionError("account " + account.account_id +
                                             " has account assignments; delete them first "
                                             "(aws sso-admin delete-account-assignment)"));
  }
  if (!s.ok()) return Fail(err, s);
  out << "account " << account.account_id << " removed\n";
  return 0;
}

}  // namespace

int RunCommand(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err, const std::string& program) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  if (cmd == "serve") return Serve(args, program, out, err);
  if (cmd == "version" || cmd == "--version") {
    out << "tessera " << kVersion << " (commit " << kBuildCommit << ")\n";
    return 0;
  }
  const std::vector<std::string> common = {"--db"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.end(), common.begin(), common.end());
    return ParseFlags(args, 1, more);
  };
  if (cmd == "audit") {
    auto flags = with({"--since", "--until", "--event-name", "--principal", "--limit"});
    if (!flags.ok()) return Fail(err, flags.status());
    return AuditCommand(*flags, out, err);
  }
  // Every change below is recorded in the audit trail as the operator's.
  const storage::AuditRequest audit_request(CliAuditContext());
  if (cmd == "set-password") {
    auto flags = with({"--user-name"});
    if (!flags.ok()) return Fail(err, flags.status());
    storage::AuditScope audit(CliEvent("SetPassword", {}));
    return SetPassword(*flags, in, out, err);
  }
  if (cmd == "create-principal") {
    auto flags = with({"--arn"});
    if (!flags.ok()) return Fail(err, flags.status());
    auto o = OpenOffline(*flags);
    if (!o.ok()) return Fail(err, o.status());
    storage::IamPrincipal p{flags->Get("--arn"), AccountOfArn(flags->Get("--arn")), "", Now()};
    if (Status s = ValidatePrincipalArn(p.arn); !s.ok()) {
      return Fail(err, InvalidArgumentError("--arn " + std::string(s.message())));
    }
    // Registering again keeps the principal's identity policy and permissions boundary.
    if (auto existing = o->store->GetPrincipal(p.arn); existing.ok()) {
      p.identity_policy_json = existing->identity_policy_json;
      p.permissions_boundary_json = existing->permissions_boundary_json;
      p.created_at = existing->created_at;
    }
    storage::AuditScope audit(CliEvent("CreatePrincipal", {{"principalArn", p.arn}}));
    Status s = o->store->PutPrincipal(p);
    if (!s.ok()) return Fail(err, s);
    out << "principal " << p.arn << " registered\n";
    return 0;
  }
  if (cmd == "put-identity-policy") {
    auto flags = with({"--principal-arn"});
    if (!flags.ok()) return Fail(err, flags.status());
    auto o = OpenOffline(*flags);
    if (!o.ok()) return Fail(err, o.status());
    auto principal = o->store->GetPrincipal(flags->Get("--principal-arn"));
    if (!principal.ok()) return Fail(err, principal.status());
    std::string policy((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!policy.empty() && std::isspace(static_cast<unsigned char>(policy.back()))) {
      policy.pop_back();
    }
    // An empty document removes the policy; anything else must be one we can evaluate.
    if (!policy.empty()) {
      auto parsed = iam::ParsePolicy(policy);
      if (!parsed.ok()) return Fail(err, parsed.status());
    }
    principal->identity_policy_json = policy;
    storage::AuditScope audit(
        CliEvent(policy.empty() ? "DeleteIdentityPolicy" : "PutIdentityPolicy",
                 {{"principalArn", principal->arn}}));
    Status s = o->store->PutPrincipal(*principal);
    if (!s.ok()) return Fail(err, s);
    out << (policy.empty() ? "identity policy removed from " : "identity policy set on ")
        << principal->arn << "\n";
    return 0;
  }
  if (cmd == "create-access-key") {
    auto flags = with({"--principal-arn", "--duration-seconds"});
    if (!flags.ok()) return Fail(err, flags.status());
    // Checked before the database is opened: a bad value creates nothing. Absent: long-term.
    int64_t duration = 0;
    if (flags->Has("--duration-seconds")) {
      auto n = ParseSeconds("--duration-seconds", flags->Get("--duration-seconds"), 1,
                            kMaxSessionSeconds);
      if (!n.ok()) return Fail(err, n.status());
      duration = *n;
    }
    auto o = OpenOffline(*flags);
    if (!o.ok()) return Fail(err, o.status());
    storage::AuditScope audit(
        CliEvent("CreateAccessKey", {{"principalArn", flags->Get("--principal-arn")}}));
    auto key = CreateAccessKey(*o->store, o->keys.iam_secrets, flags->Get("--principal-arn"), Now(),
                               duration);
    if (!key.ok()) return Fail(err, key.status());
    out << "AWS_ACCESS_KEY_ID=" << key->access_key_id << "\n";
    out << "AWS_SECRET_ACCESS_KEY=" << key->secret_access_key << "\n";
    if (!key->session_token.empty()) {
      out << "AWS_SESSION_TOKEN=" << key->session_token << "\n";
    }
    return 0;
  }
  if (cmd == "list-access-keys") {
    auto flags = with({"--principal-arn"});
    if (!flags.ok()) return Fail(err, flags.status());
    auto o = OpenOffline(*flags);
    if (!o.ok()) return Fail(err, o.status());
    const std::string principal_arn = flags->Get("--principal-arn");
    auto keys = o->store->ListAccessKeys(principal_arn);
    if (!keys.ok()) return Fail(err, keys.status());
    for (const auto& k : *keys) {
      out << k.access_key_id << "\t" << (k.active ? "Active" : "Inactive") << "\t"
          << (k.session_token_hash.empty() ? "long-term" : "temporary") << "\tcreated "
          << k.created_at << (k.expires_at ? "\texpires " + std::to_string(k.expires_at) : "")
          << "\n";
    }
    // The root key a server took from the environment is never stored: the meta entry names it.
    auto instance = o->store->GetInstance();
    auto env_key = o->store->GetMeta(kEnvironmentRootKeyMeta);
    if (instance.ok() && env_key.ok() && !env_key->empty() &&
        principal_arn == "arn:aws:iam::" + instance->owner_account_id + ":root") {
      out << *env_key << "\tActive\tlong-term\tfrom TESSERA_ROOT_ACCESS_KEY_ID (not stored)\n";
    }
    return 0;
  }
  if (cmd == "delete-access-key") {
    auto flags = with({"--access-key-id"});
    if (!flags.ok()) return Fail(err, flags.status());
    auto o = OpenOffline(*flags);
    if (!o.ok()) return Fail(err, o.status());
    storage::AuditScope audit(
        CliEvent("DeleteAccessKey", {{"accessKeyId", flags->Get("--access-key-id")}}));
    Status s = o->store->DeleteAccessKey(flags->Get("--access-key-id"));
    if (!s.ok()) return Fail(err, s);
    out << "deleted " << flags->Get("--access-key-id") << "\n";
    return 0;
  }
  if (cmd == "account") return AccountCommand(args, out, err);
  if (cmd == "rotate-signing-key" || cmd == "print-jwks") {
    auto flags = with({"--keep-retired-seconds", "--activate-after-seconds"});
    if (!flags.ok()) return Fail(err, flags.status());
    // Checked before the database is opened, like --duration-seconds; at most ten years, so
    // that now + N cannot overflow.
    constexpr int64_t kMaxDelay = 10 * 365 * 86400;
    // Default: keep the old key published for a day, longer than any access or ID token.
    auto keep = ParseSeconds("--keep-retired-seconds",
                             flags->Get("--keep-retired-seconds", "86400"), 0, kMaxDelay);
    if (!keep.ok()) return Fail(err, keep.status());
    // Publish before use (docs/design/deployment.md): resource servers and every node learn the
    // key before any node signs with it.
    auto after = ParseSeconds("--activate-after-seconds",
                              flags->Get("--activate-after-seconds", "360"), 0, kMaxDelay);
    if (!after.ok()) return Fail(err, after.status());
    auto o = OpenOffline(*flags);
    if (!o.ok()) return Fail(err, o.status());
    auto ring =
        tokens::KeyRing::Open(o->store, o->keys.signing_keys, std::make_shared<SystemClock>());
    if (!ring.ok()) return Fail(err, ring.status());
    if (cmd == "print-jwks") {
      out << (*ring)->JwksJson() << "\n";
      return 0;
    }
    auto kid = (*ring)->Rotate(*keep, *after);
    if (!kid.ok()) return Fail(err, kid.status());
    out << "new signing key " << *kid << " is published; running servers sign with it from "
        << Now() + *after << " (in " << *after << " s)\n";
    return 0;
  }
  err << "tessera: unknown command '" << cmd << "'\n\n" << kUsage;
  return 2;
}

}  // namespace ts::server
