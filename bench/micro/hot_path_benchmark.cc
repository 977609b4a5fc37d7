// Microbenchmarks of CreateTokenWithIAM's hot path (Google Benchmark), and the crypto floor: the
// primitives a refresh request cannot avoid, measured on the same machine in the same run so the
// whole request's CPU can be stated as a multiple of them (bench/run_bench.py does).
//
//   build/release/tessera-microbench [--benchmark_filter=...]
//
// Everything runs in process, without sockets. The store lives in a temporary directory on the
// same file system as the build (durable: WAL + synchronous=FULL, as in production).
#include <argon2.h>
#include <benchmark/benchmark.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/json_writer.h"
#include "ts/crypto/aead.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/password.h"
#include "ts/crypto/random.h"
#include "ts/http/message.h"
#include "ts/oauth/public_clients.h"
#include "ts/server/app.h"
#include "ts/server/config.h"
#include "ts/sigv4/credential.h"
#include "ts/sigv4/signer.h"
#include "ts/sigv4/verifier.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"

namespace {

using namespace ts;  // NOLINT: a benchmark file, every name is Tessera's

constexpr char kKeyId[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kApp[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222";

// A scratch directory next to the build, removed at exit. The path is never destroyed: a
// std::string static would be destroyed before an exit handler registered during its own
// initialization runs, and the directory was left behind.
const std::string& ScratchDir() {
  static const std::string* const dir = [] {
    std::string base = std::filesystem::current_path() / "bench-scratch-XXXXXX";
    if (::mkdtemp(base.data()) == nullptr) {
      std::perror("tessera-microbench: cannot create a scratch directory");
      std::exit(1);
    }
    auto* made = new std::string(base);
    std::atexit([] { std::filesystem::remove_all(ScratchDir()); });
    return made;
  }();
  return *dir;
}

// --- sign-in's password hash (issue 23) -------------------------------------------------------
// HashPassword and VerifyPassword map argon2's 19 MiB work area for each call and unmap it after
// (docs/design/memory.md); the malloc variant is libargon2's high-level API, as the code before
// it hashed, reusing the block glibc keeps once its mmap threshold has risen. The difference is
// what giving the block back costs per sign-in.

void BM_PasswordHash(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(crypto::HashPassword("bench password 2026"));
}
BENCHMARK(BM_PasswordHash)->Unit(benchmark::kMillisecond);

void BM_PasswordVerify(benchmark::State& state) {
  const std::string hash = *crypto::HashPassword("bench password 2026");
  for (auto _ : state)
    benchmark::DoNotOptimize(crypto::VerifyPassword("bench password 2026", hash));
}
BENCHMARK(BM_PasswordVerify)->Unit(benchmark::kMillisecond);

void BM_PasswordHash_MallocWorkArea(benchmark::State& state) {
  const std::string password = "bench password 2026";
  const std::string salt = crypto::RandomBytes(crypto::kArgon2SaltSize);
  char encoded[128];
  for (auto _ : state) {
    benchmark::DoNotOptimize(argon2id_hash_encoded(
        crypto::kArgon2Iterations, crypto::kArgon2MemoryKib, crypto::kArgon2Parallelism,
        password.data(), password.size(), salt.data(), salt.size(), crypto::kArgon2HashSize,
        encoded, sizeof encoded));
  }
}
BENCHMARK(BM_PasswordHash_MallocWorkArea)->Unit(benchmark::kMillisecond);

// --- the crypto floor -------------------------------------------------------------------------

// ES256: ECDSA P-256 over SHA-256 of a token-sized input (what every JWT signature costs).
void BM_Floor_Es256Sign(benchmark::State& state) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  const std::string input(320, 'x');
  unsigned char sig[80];
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    EVP_MD_CTX_free(ctx);
    benchmark::DoNotOptimize(sig);
  }
  EVP_PKEY_free(key);
}
BENCHMARK(BM_Floor_Es256Sign);

void BM_Floor_Sha256(benchmark::State& state) {
  const std::string input(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Sha256(input));
}
BENCHMARK(BM_Floor_Sha256)->Arg(64)->Arg(400);

void BM_Floor_HmacSha256(benchmark::State& state) {
  const std::string key(32, 'k'), input(200, 'x');
  for (auto _ : state) benchmark::DoNotOptimize(crypto::HmacSha256(key, input));
}
BENCHMARK(BM_Floor_HmacSha256);

void BM_Floor_AesGcmSeal(benchmark::State& state) {
  const std::string key(32, 'k'), input(200, 'x');
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Seal(key, input, "aad"));
}
BENCHMARK(BM_Floor_AesGcmSeal);

void BM_Floor_Random16(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(crypto::RandomBytes(16));
}
BENCHMARK(BM_Floor_Random16);

// --- components -------------------------------------------------------------------------------

http::Request RefreshRequest(const std::string& refresh_token, int64_t now) {
  http::Request req;
  req.method = "POST";
  req.target = "/token?aws_iam=t";
  req.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "application/json"}};
  boost::json::object body{
      {"clientId", kApp}, {"grantType", "refresh_token"}, {"refreshToken", refresh_token}};
  req.body = boost::json::serialize(body);
  sigv4::Credential cred;
  cred.access_key_id = kKeyId;
  cred.secret_access_key = kSecret;
  sigv4::SignRequest(req, cred, "us-east-1", "sso-oauth", now).IgnoreError();
  return req;
}

void BM_SigV4Sign(benchmark::State& state) {
  const int64_t now = SystemClock().NowUnixSeconds();
  for (auto _ : state) benchmark::DoNotOptimize(RefreshRequest("aorAAAAA-refresh", now));
}
BENCHMARK(BM_SigV4Sign);

// Verification with the signing key cached (the steady state: one key per access key and day).
void BM_SigV4Verify(benchmark::State& state) {
  sigv4::InMemoryCredentialProvider provider;
  sigv4::Credential cred;
  cred.access_key_id = kKeyId;
  cred.secret_access_key = kSecret;
  cred.principal_arn = "arn:aws:iam::111111111111:root";
  cred.account_id = "111111111111";
  provider.Put(cred);
  auto clock = std::make_shared<SystemClock>();
  sigv4::Verifier verifier(sigv4::VerifierOptions(), &provider, clock);
  const http::Request req = RefreshRequest(std::string(140, 'r'), clock->NowUnixSeconds());
  for (auto _ : state) {
    auto caller = verifier.Verify(req);
    if (!caller.ok()) state.SkipWithError(std::string(caller.status().message()).c_str());
    benchmark::DoNotOptimize(caller);
  }
}
BENCHMARK(BM_SigV4Verify);

void BM_JsonDecodeRequest(benchmark::State& state) {
  const std::string body = RefreshRequest(std::string(140, 'r'), 1700000000).body;
  for (auto _ : state) {
    boost::system::error_code ec;
    benchmark::DoNotOptimize(boost::json::parse(body, ec));
  }
}
BENCHMARK(BM_JsonDecodeRequest);

void BM_JsonEncodeResponse(benchmark::State& state) {
  const std::string access(700, 'a'), id(800, 'i'), refresh(140, 'r');
  const std::vector<std::string> scopes = {"openid", "aws", "sts:identity_context"};
  for (auto _ : state) {
    JsonWriter w;
    w.BeginObject();
    w.Member("accessToken", access);
    w.Member("tokenType", "Bearer");
    w.Member("expiresIn", int64_t{3600});
    w.Member("refreshToken", refresh);
    w.Member("idToken", id);
    w.Member("issuedTokenType", "urn:ietf:params:oauth:token-type:refresh_token");
    w.Member("scope", scopes);
    w.EndObject();
    benchmark::DoNotOptimize(w.Take());
  }
}
BENCHMARK(BM_JsonEncodeResponse);

// A JWT's claims are base64url-encoded before they are signed (about 600 bytes for an ID token).
void BM_Base64UrlEncode(benchmark::State& state) {
  const std::string payload(600, 'p');
  for (auto _ : state) benchmark::DoNotOptimize(crypto::Base64UrlEncode(payload));
}
BENCHMARK(BM_Base64UrlEncode);

struct Minting {
  std::shared_ptr<storage::SqliteStore> store;
  std::unique_ptr<tokens::TokenMinter> minter;
  tokens::TokenSubject subject;
};

Minting& SharedMinting() {
  static Minting* m = [] {
    auto* mt = new Minting;
    mt->store = storage::SqliteStore::Open(ScratchDir() + "/minting.db").value();
    auto clock = std::make_shared<SystemClock>();
    auto ring = tokens::KeyRing::Open(mt->store, std::string(32, 's'), clock).value();
    storage::Instance instance;
    instance.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    instance.instance_id = "ssoins-111111111111";
    instance.identity_store_id = "d-3333333333";
    instance.owner_account_id = "111111111111";
    instance.region = "us-east-1";
    mt->minter = std::make_unique<tokens::TokenMinter>(ring, instance, "https://issuer.example",
                                                       std::string(32, 'c'), std::string(32, 'r'));
    mt->subject = {"94482488-3041-7026-18f3-be45837cd0e4",
                   kApp,
                   {"openid", "aws", "sts:identity_context"},
                   "family-1",
                   1700000000};
    return mt;
  }();
  return *m;
}

void BM_AccessTokenSign(benchmark::State& state) {
  Minting& m = SharedMinting();
  const int64_t now = SystemClock().NowUnixSeconds();
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.minter->AccessToken(m.subject, "jti-1", now, now + 3600));
  }
}
BENCHMARK(BM_AccessTokenSign);

void BM_IdTokenSign(benchmark::State& state) {
  Minting& m = SharedMinting();
  const int64_t now = SystemClock().NowUnixSeconds();
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.minter->IdToken(m.subject, "family-1", "", now, now + 3600));
  }
}
BENCHMARK(BM_IdTokenSign);

void BM_AccessTokenVerify(benchmark::State& state) {
  Minting& m = SharedMinting();
  const int64_t now = SystemClock().NowUnixSeconds();
  const std::string token = m.minter->AccessToken(m.subject, "jti-1", now, now + 3600).value();
  for (auto _ : state) benchmark::DoNotOptimize(m.minter->VerifyAccessToken(token, now));
}
BENCHMARK(BM_AccessTokenVerify);

// The refresh compare-and-set, durable. With one thread every rotation waits for its own disk
// sync; with many, the group-commit writer acknowledges a whole batch with one sync.
void BM_StoreRotateRefreshToken(benchmark::State& state) {
  static std::shared_ptr<storage::SqliteStore> store;
  static std::atomic<int> families{0};
  if (state.thread_index() == 0) {
    store = storage::SqliteStore::Open(ScratchDir() + "/rotate.db").value();
  }
  // Each thread rotates its own chain.
  storage::TokenFamily family;
  storage::RefreshToken current;
  const int64_t now = 1700000000;
  bool ready = false;
  for (auto _ : state) {
    if (!ready) {
      state.PauseTiming();
      family.family_id = "f-" + std::to_string(families.fetch_add(1)) + crypto::RandomToken(4);
      family.application_arn = kApp;
      family.user_id = "u";
      family.scopes = {"aws"};
      family.grant_type = "authorization_code";
      family.created_at = now;
      family.expires_at = now + 86400;
      // Keys as the server makes them (stamped by the clock, so they sort by minting time).
      current.token_hash = tokens::TokenMinter::RefreshTokenKey(
          tokens::TokenMinter::NewRefreshToken(SystemClock().NowUnixMicros()));
      current.family_id = family.family_id;
      current.scopes = family.scopes;
      current.created_at = now;
      current.expires_at = family.expires_at;
      while (!store) {
      }
      store->CreateFamily(family, current).IgnoreError();
      ready = true;
      state.ResumeTiming();
    }
    storage::RefreshToken next = current;
    next.token_hash = tokens::TokenMinter::RefreshTokenKey(
        tokens::TokenMinter::NewRefreshToken(SystemClock().NowUnixMicros()));
    auto outcome = store->RotateRefreshToken(current.token_hash, now, next);
    if (!outcome.ok() || *outcome != storage::RotateOutcome::kRotated) {
      state.SkipWithError("rotation failed");
      break;
    }
    current = next;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreRotateRefreshToken)->Threads(1)->UseRealTime();
BENCHMARK(BM_StoreRotateRefreshToken)->Threads(32)->UseRealTime();

// The whole CreateTokenWithIAM refresh_token grant through Tessera::Handle: routing, SigV4,
// actor policy, store reads, the durable rotation, two signatures (access + ID token), the
// identity context and the JSON response. Signing the request (the client's work) is excluded.
void BM_CreateTokenWithIamRefresh(benchmark::State& state) {
  // One Tessera for every run of this benchmark (Google Benchmark calls it repeatedly).
  static auto clock = std::make_shared<SystemClock>();
  static StatusOr<std::unique_ptr<server::Tessera>> app = [] {
    server::ServerConfig config;
    config.demo = true;
    config.db_path = ScratchDir() + "/handler.db";
    config.master_key_env = std::string(64, '1');
    config.root_access_key_id = kKeyId;
    config.root_secret_key = kSecret;
    config.demo_password = "benchmark password";
    std::vector<std::string> notices;
    return server::Tessera::Create(config, "http://127.0.0.1:8080", clock, &notices);
  }();
  if (!app.ok()) {
    state.SkipWithError(std::string(app.status().message()).c_str());
    return;
  }
  // A family and a first refresh token straight into the store, as a code redemption makes
  // them (the benchmark measures the refresh, not the sign-in).
  auto store = (*app)->store();
  auto user = store->GetUserByName("demo");
  const int64_t now = clock->NowUnixSeconds();
  storage::TokenFamily family;
  family.family_id = crypto::RandomUuid();
  family.application_arn = kApp;
  family.user_id = user.ok() ? user->user_id : "";
  family.scopes = {"openid", "aws", "sts:identity_context"};
  family.grant_type = "authorization_code";
  family.created_at = now;
  family.expires_at = now + 86400;
  std::string refresh = tokens::TokenMinter::NewRefreshToken(SystemClock().NowUnixMicros());
  storage::RefreshToken first;
  first.token_hash = tokens::TokenMinter::RefreshTokenKey(refresh);
  first.family_id = family.family_id;
  first.scopes = family.scopes;
  first.created_at = now;
  first.expires_at = family.expires_at;
  if (Status seeded = store->CreateFamily(family, first); !seeded.ok()) {
    state.SkipWithError(("cannot seed the family: " + std::string(seeded.message())).c_str());
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    const http::Request req = RefreshRequest(refresh, clock->NowUnixSeconds());
    state.ResumeTiming();
    http::Response resp = (*app)->Handle(req);
    if (resp.status != 200) {
      state.SkipWithError(resp.body.c_str());
      break;
    }
    state.PauseTiming();
    boost::system::error_code ec;
    auto parsed = boost::json::parse(resp.body, ec);
    refresh = std::string(parsed.as_object().at("refreshToken").as_string());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_CreateTokenWithIamRefresh)->MeasureProcessCPUTime()->UseRealTime();

// --- a registered client's CreateToken (docs/design/public-clients.md) ---

// A Tessera serving the demo with a registered client, on `clock`.
struct ClientBench {
  std::unique_ptr<server::Tessera> app;
  std::string client_id;
  std::string client_secret;
  std::string error;  // non-empty: setting up failed

  http::Response Post(const std::string& path, const boost::json::object& body) const {
    http::Request req;
    req.method = "POST";
    req.target = path;
    req.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "application/json"}};
    req.remote_address = "127.0.0.1";
    req.body = boost::json::serialize(body);
    return app->Handle(req);
  }
  // StartDeviceAuthorization: the device code and the user code.
  std::pair<std::string, std::string> StartDevice() const {
    http::Response r =
        Post("/device_authorization", {{"clientId", client_id},
                                       {"clientSecret", client_secret},
                                       {"startUrl", "https://d-3333333333.awsapps.com/start"}});
    if (r.status != 200) return {};
    auto o = boost::json::parse(r.body).as_object();
    return {std::string(o.at("deviceCode").as_string()), std::string(o.at("userCode").as_string())};
  }
  http::Response Poll(const std::string& device_code) const {
    return Post("/token", {{"clientId", client_id},
                           {"clientSecret", client_secret},
                           {"grantType", "urn:ietf:params:oauth:grant-type:device_code"},
                           {"deviceCode", device_code}});
  }
};

std::unique_ptr<ClientBench> MakeClientBench(const std::string& name, ClockPtr clock) {
  auto bench = std::make_unique<ClientBench>();
  server::ServerConfig config;
  config.demo = true;
  config.db_path = ScratchDir() + "/" + name + ".db";
  config.master_key_env = std::string(64, '1');
  config.root_access_key_id = kKeyId;
  config.root_secret_key = kSecret;
  config.demo_password = "benchmark password";
  config.device_authorizations_per_minute = 0;
  std::vector<std::string> notices;
  auto app = server::Tessera::Create(config, "http://127.0.0.1:8080", std::move(clock), &notices);
  if (!app.ok()) {
    bench->error = std::string(app.status().message());
    return bench;
  }
  bench->app = std::move(*app);
  http::Response r = bench->Post(
      "/client/register",
      {{"clientName", "bench"}, {"clientType", "public"}, {"scopes", {"sso:account:access"}}});
  if (r.status != 200) {
    bench->error = r.body;
    return bench;
  }
  auto o = boost::json::parse(r.body).as_object();
  bench->client_id = std::string(o.at("clientId").as_string());
  bench->client_secret = std::string(o.at("clientSecret").as_string());
  return bench;
}

// The refresh_token grant of a registered client (the AWS CLI's cached token refreshed by
// botocore's SSOTokenProvider) through Tessera::Handle: client authentication, the durable
// rotation, the access token's signature and the JSON response.
void BM_CreateTokenRefresh(benchmark::State& state) {
  static auto clock = std::make_shared<SystemClock>();
  static std::unique_ptr<ClientBench> bench = MakeClientBench("client-refresh", clock);
  if (!bench->error.empty()) {
    state.SkipWithError(bench->error.c_str());
    return;
  }
  // The device flow, approved as the verification page does, for a first refresh token.
  auto [device_code, user_code] = bench->StartDevice();
  auto store = bench->app->store();
  auto user = store->GetUserByName("demo");
  const int64_t now = clock->NowUnixSeconds();
  if (!user.ok() || !store
                         ->DecideDeviceAuthorization(oauth::UserCodeHash(user_code), true,
                                                     user->user_id, "bench", now, now)
                         .ok()) {
    state.SkipWithError("cannot approve the device code");
    return;
  }
  http::Response first = bench->Poll(device_code);
  if (first.status != 200) {
    state.SkipWithError(first.body.c_str());
    return;
  }
  std::string refresh(boost::json::parse(first.body).as_object().at("refreshToken").as_string());
  for (auto _ : state) {
    http::Response resp = bench->Post("/token", {{"clientId", bench->client_id},
                                                 {"clientSecret", bench->client_secret},
                                                 {"grantType", "refresh_token"},
                                                 {"refreshToken", refresh}});
    if (resp.status != 200) {
      state.SkipWithError(resp.body.c_str());
      break;
    }
    state.PauseTiming();
    refresh = std::string(boost::json::parse(resp.body).as_object().at("refreshToken").as_string());
    state.ResumeTiming();
  }
}
BENCHMARK(BM_CreateTokenRefresh)->MeasureProcessCPUTime()->UseRealTime();

// A device-code poll while the user has not decided, through Tessera::Handle: client
// authentication (cached), one read of the authorization, no write, the modeled error. The
// clock moves a second between polls, as the CLI's would (a faster poll is the next benchmark).
void BM_CreateTokenPendingPoll(benchmark::State& state) {
  static auto clock = std::make_shared<FakeClock>(SystemClock().NowUnixSeconds());
  static std::unique_ptr<ClientBench> bench = MakeClientBench("client-poll", clock);
  if (!bench->error.empty()) {
    state.SkipWithError(bench->error.c_str());
    return;
  }
  std::string device_code;
  int polls_of_this_code = 0;
  for (auto _ : state) {
    state.PauseTiming();
    clock->Advance(std::chrono::milliseconds(1001));
    // A new code before this one expires (600 s).
    if (device_code.empty() || ++polls_of_this_code == 500) {
      device_code = bench->StartDevice().first;
      polls_of_this_code = 0;
    }
    state.ResumeTiming();
    http::Response resp = bench->Poll(device_code);
    if (resp.status != 400 ||
        !resp.FindHeader("x-amzn-ErrorType")->starts_with("AuthorizationPendingException")) {
      state.SkipWithError(resp.body.c_str());
      break;
    }
  }
}
BENCHMARK(BM_CreateTokenPendingPoll)->MeasureProcessCPUTime()->UseRealTime();

// The same poll repeated at once: SlowDownException from the in-memory table, no read.
void BM_CreateTokenSlowDownPoll(benchmark::State& state) {
  static auto clock = std::make_shared<FakeClock>(SystemClock().NowUnixSeconds());
  static std::unique_ptr<ClientBench> bench = MakeClientBench("client-storm", clock);
  if (!bench->error.empty()) {
    state.SkipWithError(bench->error.c_str());
    return;
  }
  const std::string device_code = bench->StartDevice().first;
  bench->Poll(device_code);  // pending: recorded
  for (auto _ : state) {
    http::Response resp = bench->Poll(device_code);
    if (resp.status != 400 ||
        !resp.FindHeader("x-amzn-ErrorType")->starts_with("SlowDownException")) {
      state.SkipWithError(resp.body.c_str());
      break;
    }
  }
}
BENCHMARK(BM_CreateTokenSlowDownPoll)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
