// File: handle_fuzz.cc
// Whole requests through Tessera::Handle, the server's entire HTTP surface (routes.h), on a real
// SQLite store in a temporary directory: one process-wide demo instance, as `tessera serve
// --demo` starts it. The input is a request in request_text.h's form; a header
// `x-fuzz-sign: <service>` (sso-oauth, sso or identitystore) has the request signed with the
// instance's root credential, so that the fuzzer reaches CreateTokenWithIAM and the admin plane's
// handlers past SigV4, not only their authentication errors.
// TS_FUZZ_VERBOSE=1 in the environment prints every answer (to see where a seed gets).
// Invariants: no crash or UB, and no 5xx answer for any input (README: a client's mistake gets
// its modeled 4xx error; the store cannot fail here). Inputs can change the instance (an admin
// request that creates a user stays), as on a real server.
// The issuers' documents come from a fetcher that answers 404 to everything: a fuzzer must reach
// no network, and the assertion validator still runs its fetch-failure paths.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "fuzz/request_text.h"
#include "test/common/temp_dir.h"
#include "ts/common/clock.h"
#include "ts/crypto/encoding.h"
#include "ts/server/app.h"
#include "ts/server/config.h"
#include "ts/sigv4/signer.h"
#include "ts/tti/fetcher.h"

namespace {

using namespace ts;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kPublicUrl[] = "http://127.0.0.1:8080";
constexpr char kRootId[] = "AKIAROOTEXAMPLE00001";
constexpr char kRootSecret[] = "root/secret/EXAMPLEKEY";

class NothingFetcher final : public tti::HttpFetcher {
 public:
  StatusOr<tti::FetchResult> Get(const std::string&) override {
    return tti::FetchResult{404, "", -1};
  }
};

struct World {
  std::filesystem::path dir;
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>(kNow);
  std::unique_ptr<server::Tessera> app;
};

World* MakeWorld() {
  auto* world = new World();
  world->dir = testing::MakeTempDir("ts-fuzz-handle");
  FUZZ_CHECK(!world->dir.empty());
  static const std::filesystem::path* dir = new std::filesystem::path(world->dir);
  std::atexit([] { testing::RemoveTempDir(*dir); });  // libFuzzer ends a timed run with exit()
  server::ServerConfig config;
  config.db_path = (world->dir / "t.db").string();
  config.demo = true;
  config.demo_password = "demo-password";
  config.master_key_env = crypto::HexEncode(std::string(32, 'm'));
  config.root_access_key_id = kRootId;
  config.root_secret_key = kRootSecret;
  config.threads = 2;
  config.io_threads = 1;
  // Limits per address would soon refuse every registration from the one fuzzing address.
  config.client_registrations_per_minute = 0;
  config.device_authorizations_per_minute = 0;
  config.issuer_fetcher = std::make_shared<NothingFetcher>();
  std::vector<std::string> notices;
  auto app = server::Tessera::Create(config, kPublicUrl, world->clock, &notices);
  if (!app.ok()) {
    std::fprintf(stderr, "handle_fuzz: Tessera::Create: %s\n", app.status().ToString().c_str());
    std::abort();
  }
  world->app = std::move(*app);
  return world;
}

World* TheWorld() {
  static World* world = MakeWorld();
  return world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World* world = TheWorld();
  http::Request request = fuzz::ParseRequestText(fuzz::AsView(data, size));
  const std::string service = fuzz::TakeHeader(request, "x-fuzz-sign");
  if (!service.empty()) {
    if (!request.FindHeader("host")) request.headers.push_back({"host", "127.0.0.1:8080"});
    sigv4::Credential root;
    root.access_key_id = kRootId;
    root.secret_access_key = kRootSecret;
    (void)sigv4::SignRequest(request, root, "us-east-1", service, kNow);
  }
  http::Response response = world->app->Handle(request);
  // What the transport does last on its io thread (signing a token, for one).
  if (response.finish) {
    auto finish = std::move(response.finish);
    response.finish = nullptr;
    finish(response);
  }
  static const bool verbose = std::getenv("TS_FUZZ_VERBOSE") != nullptr;
  if (verbose || response.status >= 500 || response.status < 200) {
    std::fprintf(stderr, "handle_fuzz: %d for %s %s\n%s\n", response.status, request.method.c_str(),
                 request.target.c_str(), response.body.c_str());
  }
  FUZZ_CHECK(response.status >= 200 && response.status < 500);
  return 0;
}
