// Registered clients with the real SqliteStore: RegisterClient (client_registration.h), client
// authentication (client_auth.h), StartDeviceAuthorization and CreateToken with both front ends
// (public_clients.h), and the errors' wire shapes.
#include "ts/oauth/public_clients.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/common/ascii.h"
#include "ts/common/clock.h"
#include "ts/common/refusals.h"
#include "ts/common/thread_pool.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/jose/jwk.h"
#include "ts/jose/verifier.h"
#include "ts/oauth/application_cache.h"
#include "ts/oauth/client_auth.h"
#include "ts/oauth/client_registration.h"
#include "ts/oauth/errors.h"
#include "ts/oauth/rate_limiter.h"
#include "ts/oauth/token_service.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/tokens/key_ring.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;
using ::ts::testing::IsOk;

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kPublicUrl[] = "https://tessera.example";
constexpr char kIssuer[] = "https://tessera.example/ssoins-111111111111";
constexpr char kApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1";
constexpr char kAppRedirect[] = "https://app.example/callback";
constexpr char kUser[] = "730448f2-e0a1-70a7-c954-000000000000";
constexpr char kOutsider[] = "730448f2-e0a1-70a7-c954-000000000001";
constexpr char kLoopback[] = "http://127.0.0.1/oauth/callback";
constexpr char kLoopbackWithPort[] = "http://127.0.0.1:51234/oauth/callback";
// RFC 7636 Appendix B.
constexpr char kVerifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kChallenge[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
constexpr char kStartUrl[] = "https://d-3333333333.awsapps.com/start";
constexpr char kDeviceGrant[] = "urn:ietf:params:oauth:grant-type:device_code";
constexpr std::chrono::seconds kAsyncTimeout{30};

// Forwards to the real store, counting what the service does with device authorizations: a
// pending poll must be one read and no write.
class CountingClientStore final : public storage::ClientStore {
 public:
  explicit CountingClientStore(storage::StorePtr inner) : inner_(std::move(inner)) {}

  std::atomic<int> reads{0};
  std::atomic<int> writes{0};

  Status CreateClient(const storage::RegisteredClient& client) override {
    ++writes;
    return inner_->CreateClient(client);
  }
  StatusOr<storage::RegisteredClient> GetClient(const std::string& client_id) override {
    ++reads;
    return inner_->GetClient(client_id);
  }
  StatusOr<int64_t> CountLiveClients(int64_t now) override {
    ++reads;
    return inner_->CountLiveClients(now);
  }
  Status CreateDeviceAuthorization(const storage::DeviceAuthorization& authorization) override {
    ++writes;
    return inner_->CreateDeviceAuthorization(authorization);
  }
  StatusOr<storage::DeviceAuthorization> GetDeviceAuthorization(
      const std::string& device_code_hash) override {
    ++reads;
    return inner_->GetDeviceAuthorization(device_code_hash);
  }
  StatusOr<storage::DeviceAuthorization> GetDeviceAuthorizationByUserCode(
      const std::string& user_code_hash, int64_t now) override {
    ++reads;
    return inner_->GetDeviceAuthorizationByUserCode(user_code_hash, now);
  }
  Status DecideDeviceAuthorization(const std::string& user_code_hash, bool approve,
                                   const std::string& user_id, const std::string& session_hash,
                                   int64_t auth_time, int64_t now) override {
    ++writes;
    return inner_->DecideDeviceAuthorization(user_code_hash, approve, user_id, session_hash,
                                             auth_time, now);
  }
  StatusOr<storage::DeviceRedeemOutcome> RedeemDeviceAuthorization(
      const std::string& device_code_hash, int64_t now, const storage::TokenFamily& family,
      const std::optional<storage::RefreshToken>& first_refresh) override {
    ++writes;
    return inner_->RedeemDeviceAuthorization(device_code_hash, now, family, first_refresh);
  }

 private:
  storage::StorePtr inner_;
};

std::string Str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::set<std::string> Keys(const json::object& o) {
  std::set<std::string> keys;
  for (const auto& kv : o) keys.emplace(kv.key());
  return keys;
}

std::string FileBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PublicClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-public-clients");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, IsOk());
    store_ = *store;
    counting_ = std::make_shared<CountingClientStore>(store_);

    instance_.instance_arn = "arn:aws:sso:::instance/ssoins-111111111111";
    instance_.instance_id = "ssoins-111111111111";
    instance_.identity_store_id = "d-3333333333";
    instance_.owner_account_id = "111111111111";
    instance_.region = "us-east-1";
    ASSERT_THAT(store_->PutInstance(instance_), IsOk());
    for (const auto& [id, name] : {std::pair{kUser, "alice"}, std::pair{kOutsider, "bob"}}) {
      storage::User user;
      user.user_id = id;
      user.identity_store_id = instance_.identity_store_id;
      user.user_name = name;
      user.display_name = std::string(name) + " Example";
      user.attributes_json = R"({"Emails":[{"Value":"other@example.com"},{"Value":")" +
                             std::string(name) + R"(@example.com","Primary":true}]})";
      ASSERT_THAT(store_->CreateUser(user), IsOk());
    }
    storage::Application app;
    app.application_arn = kApp;
    app.instance_arn = instance_.instance_arn;
    app.application_provider_arn = "arn:aws:sso::aws:applicationProvider/custom";
    app.name = "entitled";
    app.grants = {{"authorization_code", std::string(R"({"RedirectUris":[")") + kAppRedirect +
                                             R"(","http://127.0.0.1/oauth/callback"]})"},
                  {"refresh_token", "{}"}};
    app.access_scopes["sso:account:access"] = {};
    app.created_at = kNow;
    ASSERT_THAT(store_->PutApplication(app), IsOk());
    ASSERT_THAT(store_->PutAssignment(kApp, kUser, "USER"), IsOk());

    auto ring = tokens::KeyRing::Open(store_, std::string(32, 's'), clock_);
    ASSERT_THAT(ring, IsOk());
    ring_ = *ring;
    minter_ = std::make_shared<tokens::TokenMinter>(ring_, instance_, kIssuer, std::string(32, 'i'),
                                                    std::string(32, 'r'));
    applications_ =
        std::make_shared<ApplicationCache>(store_, clock_, std::chrono::milliseconds(0));
    MakeServices(RegistrationOptions{}, PublicClientOptions{});
    auto pool = ThreadPool::Create(2);
    ASSERT_THAT(pool, IsOk());
    pool_ = std::move(*pool);
  }

  void TearDown() override {
    pool_.reset();
    service_.reset();
    registration_.reset();
    authenticator_.reset();
    minter_.reset();
    ring_.reset();
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  void MakeServices(RegistrationOptions ropts, PublicClientOptions popts,
                    std::vector<std::string> regions = {"us-east-1", "eu-west-1"}) {
    authenticator_ = std::make_shared<ClientAuthenticator>(counting_, clock_, std::move(regions),
                                                           std::chrono::milliseconds(1000));
    ropts.public_url = kPublicUrl;
    ropts.region = "us-east-1";
    registration_ =
        std::make_unique<ClientRegistration>(counting_, applications_, clock_, std::move(ropts));
    popts.public_url = kPublicUrl;
    service_ = std::make_unique<PublicClientService>(
        ClientStorage{counting_, store_, store_, store_}, authenticator_, applications_, minter_,
        clock_, TokenServiceOptions{}, std::move(popts));
  }

  struct Client {
    std::string id;
    std::string secret;
  };

  StatusOr<std::string> RegisterRaw(const std::string& body, const std::string& address = "a") {
    return registration_->Register(body, address);
  }

  Client Register(json::object body) {
    auto r = RegisterRaw(json::serialize(body));
    EXPECT_THAT(r, IsOk());
    if (!r.ok()) return {};
    json::object o = json::parse(*r).as_object();
    return {Str(o, "clientId"), Str(o, "clientSecret")};
  }

  // A client like the AWS CLI's device flow: the default grants (device_code, refresh_token).
  Client DeviceClient(json::array scopes = {"sso:account:access"}) {
    return Register({{"clientName", "cli"}, {"clientType", "public"}, {"scopes", scopes}});
  }

  // A client like `aws sso login`'s browser flow, plus openid scopes.
  Client CodeClient(json::object extra = {}) {
    json::object body{{"clientName", "browser"},
                      {"clientType", "public"},
                      {"grantTypes", json::array{"authorization_code", "refresh_token"}},
                      {"redirectUris", json::array{kLoopback}},
                      {"scopes", json::array{"openid", "profile", "email", "sso:account:access"}}};
    for (const auto& kv : extra) body[kv.key()] = kv.value();
    return Register(body);
  }

  static ClientTokenRequest TokenRequest(const Client& client, std::string grant_type) {
    ClientTokenRequest req;
    req.client_id = client.id;
    req.client_secret = client.secret;
    req.grant_type = std::move(grant_type);
    return req;
  }

  StatusOr<std::string> Token(const ClientTokenRequest& req,
                              TokenFormat format = TokenFormat::kAwsJson) {
    return service_->CreateToken(req, format);
  }

  json::object TokenOk(const ClientTokenRequest& req, TokenFormat format = TokenFormat::kAwsJson) {
    auto r = Token(req, format);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? json::parse(*r).as_object() : json::object();
  }

  struct Device {
    std::string device_code;
    std::string user_code;
    json::object response;
  };

  Device Start(const Client& client, const std::string& start_url = kStartUrl,
               const std::string& address = "a") {
    auto r = service_->StartDeviceAuthorization(
        json::serialize(json::object{
            {"clientId", client.id}, {"clientSecret", client.secret}, {"startUrl", start_url}}),
        address);
    EXPECT_THAT(r, IsOk());
    if (!r.ok()) return {};
    json::object o = json::parse(*r).as_object();
    return {Str(o, "deviceCode"), Str(o, "userCode"), o};
  }

  // What the verification page does once the user decides.
  void Decide(const Device& device, bool approve, const std::string& user = kUser) {
    ASSERT_THAT(
        store_->DecideDeviceAuthorization(UserCodeHash(device.user_code), approve, user,
                                          "session-hash", kNow - 30, clock_->NowUnixSeconds()),
        IsOk());
  }

  ClientTokenRequest Poll(const Client& client, const Device& device) {
    ClientTokenRequest req = TokenRequest(client, kDeviceGrant);
    req.device_code = device.device_code;
    return req;
  }

  // Stores a code as /authorize would for a registered client, and returns its plaintext.
  std::string MakeCode(const Client& client, const std::string& nonce = "",
                       std::vector<std::string> scopes = {"openid", "profile", "email",
                                                          "sso:account:access"},
                       const std::string& user = kUser) {
    return StoreCode(client.id, kChallenge, nonce, std::move(scopes), user);
  }

  // A code of `owner` (a client id or an application ARN) with `challenge` ("" for none).
  std::string StoreCode(const std::string& owner, const std::string& challenge,
                        const std::string& nonce = "", std::vector<std::string> scopes = {"openid"},
                        const std::string& user = kUser) {
    const std::string code = tokens::TokenMinter::NewAuthorizationCode();
    storage::AuthorizationCode record;
    record.code_hash = tokens::TokenMinter::Hash(code);
    record.application_arn = owner;
    record.user_id = user;
    record.redirect_uri = kLoopbackWithPort;
    record.code_challenge = challenge;
    record.scopes = std::move(scopes);
    record.session_hash = "session-hash";
    record.auth_time = kNow - 5;
    record.created_at = clock_->NowUnixSeconds();
    record.expires_at = clock_->NowUnixSeconds() + 300;
    record.nonce = nonce;
    EXPECT_THAT(store_->CreateAuthorizationCode(record), IsOk());
    return code;
  }

  ClientTokenRequest CodeRequest(const Client& client, const std::string& code) {
    ClientTokenRequest req = TokenRequest(client, "authorization_code");
    req.code = code;
    req.redirect_uri = kLoopbackWithPort;
    req.code_verifier = kVerifier;
    return req;
  }

  ClientTokenRequest RefreshRequest(const Client& client, const std::string& token) {
    ClientTokenRequest req = TokenRequest(client, "refresh_token");
    req.refresh_token = token;
    return req;
  }

  json::object VerifiedPayload(const std::string& token, std::string* typ = nullptr) {
    auto set = jose::JwkSet::Parse(ring_->JwksJson());
    EXPECT_THAT(set, IsOk());
    if (!set.ok()) return {};
    auto verified = jose::VerifyJws(token, *set, {"ES256"});
    EXPECT_THAT(verified, IsOk());
    if (!verified.ok()) return {};
    if (typ != nullptr) *typ = Str(json::parse(verified->header_json).as_object(), "typ");
    return json::parse(verified->payload_json).as_object();
  }

  std::string FamilyOf(const std::string& access_token) {
    return Str(VerifiedPayload(access_token), "tsr:fid");
  }

  // CreateTokenAsync's answer, however it came (done, or finish_done run here).
  struct AsyncAnswer {
    StatusOr<std::string> result = InternalError("no answer");
    bool through_finish = false;
    int executor_tasks = 0;
  };

  AsyncAnswer CallAsync(ClientTokenRequest req, TokenFormat format = TokenFormat::kAwsJson) {
    auto promise = std::make_shared<std::promise<std::pair<StatusOr<std::string>, bool>>>();
    auto future = promise->get_future();
    auto tasks = std::make_shared<std::atomic<int>>(0);
    service_->CreateTokenAsync(
        std::move(req), format,
        [this, tasks](std::function<void()> task) {
          ++*tasks;
          pool_->Post(std::move(task));
        },
        [promise](StatusOr<std::string> body) {
          promise->set_value({std::move(body), false});
        },
        [promise](Finish finish) {
          promise->set_value({finish(), true});
        });
    AsyncAnswer answer;
    if (future.wait_for(kAsyncTimeout) != std::future_status::ready) return answer;
    auto [result, through_finish] = future.get();
    answer.result = std::move(result);
    answer.through_finish = through_finish;
    answer.executor_tasks = tasks->load();
    return answer;
  }

  // Runs `redeem` on 8 threads at once; every loser must get InvalidGrantException. Returns how
  // many won.
  static int Winners(const std::function<StatusOr<std::string>()>& redeem) {
    constexpr int kThreads = 8;
    std::vector<StatusOr<std::string>> results(kThreads, InternalError("not run"));
    ::ts::testing::RunConcurrently(kThreads, [&](int i) { results[i] = redeem(); });
    int winners = 0;
    for (const auto& r : results) {
      if (r.ok()) {
        ++winners;
      } else {
        EXPECT_EQ(r.status().error_type(), "InvalidGrantException") << r.status();
      }
    }
    return winners;
  }

  fs::path dir_;
  storage::StorePtr store_;
  std::shared_ptr<CountingClientStore> counting_;
  storage::Instance instance_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>(kNow);
  std::shared_ptr<tokens::KeyRing> ring_;
  std::shared_ptr<tokens::TokenMinter> minter_;
  std::shared_ptr<ApplicationCache> applications_;
  std::shared_ptr<ClientAuthenticator> authenticator_;
  std::unique_ptr<ClientRegistration> registration_;
  std::unique_ptr<PublicClientService> service_;
  std::unique_ptr<ThreadPool> pool_;
};

// --- RegisterClient ---

TEST_F(PublicClientsTest, RegisterAnswersEveryMemberAndStoresTheSecretHashed) {
  auto r = RegisterRaw(json::serialize(json::object{
      {"clientName", "aws-cli"}, {"clientType", "public"}, {"scopes", {"sso:account:access"}}}));
  ASSERT_THAT(r, IsOk());
  json::object o = json::parse(*r).as_object();
  EXPECT_EQ(Keys(o), (std::set<std::string>{"clientId", "clientSecret", "clientIdIssuedAt",
                                            "clientSecretExpiresAt", "authorizationEndpoint",
                                            "tokenEndpoint"}));
  EXPECT_EQ(o["clientIdIssuedAt"], kNow);
  EXPECT_EQ(o["clientSecretExpiresAt"], kNow + 90 * 86400);
  EXPECT_EQ(Str(o, "authorizationEndpoint"), std::string(kPublicUrl) + "/authorize");
  EXPECT_EQ(Str(o, "tokenEndpoint"), std::string(kPublicUrl) + "/token");
  const std::string id = Str(o, "clientId");
  const std::string secret = Str(o, "clientSecret");
  // The id ends in its region (base64url "us-east-1"); the secret is 256 random bits.
  EXPECT_THAT(id, MatchesRegex("[A-Za-z0-9_-]{22}dXMtZWFzdC0x"));
  EXPECT_EQ(RegionOfClientId(id), "us-east-1");
  EXPECT_THAT(secret, MatchesRegex("tscs_[A-Za-z0-9_-]{43}"));

  auto stored = store_->GetClient(id);
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->secret_hash, tokens::TokenMinter::Hash(secret));
  EXPECT_EQ(stored->client_name, "aws-cli");
  EXPECT_EQ(stored->client_type, "public");
  EXPECT_THAT(stored->scopes, ElementsAre("sso:account:access"));
  // docs/design/public-clients.md: no grantTypes means the legacy device flow's.
  EXPECT_THAT(stored->grant_types, ElementsAre(kDeviceGrant, "refresh_token"));
  EXPECT_EQ(stored->created_at, kNow);
  EXPECT_EQ(stored->secret_expires_at, kNow + 90 * 86400);
}

// Security: the plaintext secret is nowhere in the database files.
TEST_F(PublicClientsTest, TheSecretIsNeverStoredInPlaintext) {
  Client client = DeviceClient();
  ASSERT_FALSE(client.secret.empty());
  Device device = Start(client);
  ASSERT_FALSE(device.device_code.empty());
  std::string bytes;
  for (const auto& entry : fs::directory_iterator(dir_)) bytes += FileBytes(entry.path());
  ASSERT_FALSE(bytes.empty());
  const std::string secret_body = client.secret.substr(5);  // without "tscs_"
  EXPECT_EQ(bytes.find(secret_body), std::string::npos) << "client secret stored in plaintext";
  EXPECT_EQ(bytes.find(device.device_code.substr(5)), std::string::npos)
      << "device code stored in plaintext";
  const std::string letters =
      device.user_code.substr(0, 4) + device.user_code.substr(5, 4);  // XXXX-XXXX
  EXPECT_EQ(bytes.find(letters), std::string::npos) << "user code stored in plaintext";
}

TEST_F(PublicClientsTest, RegisterRefusesMalformedRequestsWithInvalidRequest) {
  EXPECT_API_ERROR(RegisterRaw("{"), "InvalidRequestException", "not valid JSON");
  EXPECT_API_ERROR(RegisterRaw("[]"), "InvalidRequestException", "must be a JSON object");
  EXPECT_API_ERROR(RegisterRaw(R"({"clientType":"public"})"), "InvalidRequestException",
                   "Member 'clientName' is required");
  EXPECT_API_ERROR(RegisterRaw(R"({"clientName":"x"})"), "InvalidRequestException",
                   "Member 'clientType' is required");
  EXPECT_API_ERROR(RegisterRaw(R"({"clientName":5,"clientType":"public"})"),
                   "InvalidRequestException", "Member 'clientName' must be a string");
  EXPECT_API_ERROR(RegisterRaw(R"({"clientName":"x","clientType":"public","scopes":"a"})"),
                   "InvalidRequestException", "Member 'scopes' must be a list of strings");
  EXPECT_API_ERROR(RegisterRaw(R"({"clientName":"x","clientType":"public","grantTypes":[1]})"),
                   "InvalidRequestException", "Member 'grantTypes' must be a list of strings");
  EXPECT_API_ERROR(RegisterRaw(R"({"clientName":"x","clientType":"public","redirectUris":{}})"),
                   "InvalidRequestException", "Member 'redirectUris' must be a list of strings");
  auto live = store_->CountLiveClients(kNow);
  ASSERT_THAT(live, IsOk());
  EXPECT_EQ(*live, 0);
}

TEST_F(PublicClientsTest, OversizedOrInvalidMetadataIsInvalidClientMetadataAndStoresNothing) {
  auto body = [](json::object extra) {
    json::object o{{"clientName", "x"}, {"clientType", "public"}};
    for (const auto& kv : extra) o[kv.key()] = kv.value();
    return json::serialize(o);
  };
  json::array many_scopes;
  for (int i = 0; i < 26; ++i) many_scopes.emplace_back("svc:scope" + std::to_string(i));
  json::array many_uris;
  for (int i = 0; i < 11; ++i) many_uris.emplace_back("https://a.example/" + std::to_string(i));
  const std::string long_text(5000, 'a');
  const struct {
    json::object extra;
    const char* fragment;
  } cases[] = {
      {{{"clientType", "confidential"}}, "'clientType' must be 'public'"},
      {{{"clientName", std::string(257, 'n')}}, "'clientName' is longer than 256"},
      {{{"clientName", "bad\nname"}}, "control character"},
      {{{"scopes", many_scopes}}, "'scopes' has more than 25"},
      {{{"scopes", json::array{"svc:" + long_text}}}, "'scopes entry' is longer than 256"},
      {{{"scopes", json::array{""}}}, "empty entry"},
      {{{"redirectUris", many_uris}}, "'redirectUris' has more than 10"},
      {{{"redirectUris", json::array{"https://a.example/" + long_text}}}, "longer than 2048"},
      {{{"issuerUrl", "https://a.example/" + long_text}}, "'issuerUrl' is longer"},
      {{{"issuerUrl", "not a url"}}, "'issuerUrl' must be"},
      {{{"entitledApplicationArn", long_text}}, "'entitledApplicationArn' is longer"},
      {{{"entitledApplicationArn", "arn:aws:sso::123456789012:application/x/apl-none"}},
       "names no enabled application"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(json::serialize(c.extra));
    EXPECT_API_ERROR(RegisterRaw(body(c.extra)), "InvalidClientMetadataException", c.fragment);
  }
  auto live = store_->CountLiveClients(kNow);
  ASSERT_THAT(live, IsOk());
  EXPECT_EQ(*live, 0);
}

TEST_F(PublicClientsTest, GrantTypesScopesAndRedirectUrisAreChecked) {
  auto body = [](json::object extra) {
    json::object o{{"clientName", "x"}, {"clientType", "public"}};
    for (const auto& kv : extra) o[kv.key()] = kv.value();
    return json::serialize(o);
  };
  EXPECT_API_ERROR(RegisterRaw(body({{"grantTypes", {"client_credentials"}}})),
                   "UnsupportedGrantTypeException", "Unsupported grant type: client_credentials");
  EXPECT_API_ERROR(RegisterRaw(body({{"grantTypes", {"authorization_code"}}})),
                   "InvalidRedirectUriException", "'redirectUris' is required");
  for (const char* scope : {"aws", "admin", "sso account", "Svc:x", "sso:", ":x"}) {
    SCOPED_TRACE(scope);
    EXPECT_API_ERROR(RegisterRaw(body({{"scopes", {scope}}})), "InvalidScopeException",
                     std::string("Scope '") + scope + "' is not allowed");
  }
  for (const char* uri :
       {"http://example.com/cb", "http://localhost/cb", "https://a.example/cb#frag",
        "javascript:alert(1)", "myapp:/cb", "https://user@a.example/cb", "/relative"}) {
    SCOPED_TRACE(uri);
    EXPECT_API_ERROR(
        RegisterRaw(body({{"grantTypes", {"authorization_code"}}, {"redirectUris", {uri}}})),
        "InvalidRedirectUriException", std::string("'") + uri + "' is not allowed");
  }
  // What RFC 8252 allows a native app, and every scope of the note.
  auto ok = RegisterRaw(
      body({{"grantTypes", {"authorization_code", "refresh_token", kDeviceGrant, "refresh_token"}},
            {"redirectUris",
             {"https://a.example/cb", "http://127.0.0.1/cb", "http://127.0.0.1:8400/cb",
              "http://[::1]:8400/cb", "com.example.app:/oauth2redirect"}},
            {"scopes",
             {"openid", "profile", "email", "offline_access", "sso:account:access",
              "codewhisperer:completions", "sts:identity_context"}},
            {"issuerUrl", kStartUrl}}));
  ASSERT_THAT(ok, IsOk());
  auto stored = store_->GetClient(Str(json::parse(*ok).as_object(), "clientId"));
  ASSERT_THAT(stored, IsOk());
  EXPECT_THAT(stored->grant_types,
              ElementsAre("authorization_code", kDeviceGrant, "refresh_token"));
  EXPECT_EQ(stored->redirect_uris.size(), 5u);
  EXPECT_EQ(stored->issuer_url, kStartUrl);
}

TEST_F(PublicClientsTest, TheEntitledApplicationBoundsTheClient) {
  auto body = [](json::object extra) {
    json::object o{{"clientName", "x"},
                   {"clientType", "public"},
                   {"entitledApplicationArn", kApp},
                   {"grantTypes", {"authorization_code", "refresh_token"}},
                   {"redirectUris", {kAppRedirect}},
                   {"scopes", {"openid", "sso:account:access"}}};
    for (const auto& kv : extra) o[kv.key()] = kv.value();
    return json::serialize(o);
  };
  EXPECT_API_ERROR(RegisterRaw(body({{"scopes", {"codewhisperer:completions"}}})),
                   "InvalidScopeException", "not one the entitled application");
  EXPECT_API_ERROR(RegisterRaw(body({{"redirectUris", {"https://other.example/cb"}}})),
                   "InvalidRedirectUriException", "not one of the entitled application's");
  storage::Application app = *store_->GetApplication(kApp);
  app.grants.erase("refresh_token");
  ASSERT_THAT(store_->PutApplication(app), IsOk());
  EXPECT_API_ERROR(RegisterRaw(body({})), "InvalidClientMetadataException", "no refresh_token");
  app.grants["refresh_token"] = "{}";
  app.status = "DISABLED";
  ASSERT_THAT(store_->PutApplication(app), IsOk());
  EXPECT_API_ERROR(RegisterRaw(body({})), "InvalidClientMetadataException",
                   "names no enabled application");
  app.status = "ENABLED";
  ASSERT_THAT(store_->PutApplication(app), IsOk());
  auto ok = RegisterRaw(body({}));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(
      store_->GetClient(Str(json::parse(*ok).as_object(), "clientId"))->entitled_application_arn,
      kApp);
}

// Hostile volume: one address is limited, others are not, and a refused registration stores
// nothing.
TEST_F(PublicClientsTest, RegistrationsFromOneAddressAreRateLimited) {
  RegistrationOptions ropts;
  ropts.registrations_per_minute = 5;
  MakeServices(ropts, PublicClientOptions{});
  const std::string body = R"({"clientName":"x","clientType":"public"})";
  for (int i = 0; i < 5; ++i) ASSERT_THAT(RegisterRaw(body, "10.0.0.1"), IsOk());
  for (int i = 0; i < 100; ++i) {
    EXPECT_API_ERROR(RegisterRaw(body, "10.0.0.1"), "SlowDownException",
                     "Too many client registrations from this address");
  }
  // Even a malformed request from that address is refused before it is read.
  EXPECT_API_ERROR(RegisterRaw("{", "10.0.0.1"), "SlowDownException", "Too many");
  EXPECT_THAT(RegisterRaw(body, "10.0.0.2"), IsOk());
  EXPECT_EQ(*store_->CountLiveClients(kNow), 6);
  // The bucket refills: one more a 12 seconds.
  clock_->Advance(std::chrono::seconds(12));
  EXPECT_THAT(RegisterRaw(body, "10.0.0.1"), IsOk());
  EXPECT_API_ERROR(RegisterRaw(body, "10.0.0.1"), "SlowDownException", "Too many");
}

TEST_F(PublicClientsTest, LiveRegistrationsAreCapped) {
  RegistrationOptions ropts;
  ropts.max_live_clients = 3;
  ropts.registrations_per_minute = 0;
  MakeServices(ropts, PublicClientOptions{});
  const std::string body = R"({"clientName":"x","clientType":"public"})";
  for (int i = 0; i < 3; ++i) ASSERT_THAT(RegisterRaw(body), IsOk());
  EXPECT_API_ERROR(RegisterRaw(body), "SlowDownException", "as many client registrations");
  EXPECT_EQ(*store_->CountLiveClients(kNow), 3);
}

TEST(RateLimiterTest, TheTableIsBoundedAndRefusesNewKeysWhenFull) {
  RateLimiter limiter(2, 3);
  const uint64_t refused_before = RefusalCount(Refusal::kRateLimit);
  EXPECT_TRUE(limiter.Allow("a", 0));
  EXPECT_TRUE(limiter.Allow("b", 0));
  EXPECT_TRUE(limiter.Allow("c", 0));
  EXPECT_FALSE(limiter.Allow("d", 0));  // full of buckets that are not refilled
  EXPECT_EQ(RefusalCount(Refusal::kRateLimit) - refused_before, 1u);
  EXPECT_EQ(limiter.SizeForTest(), 3u);
  // A minute later every bucket is full again: as good as absent, swept for the new key.
  EXPECT_TRUE(limiter.Allow("d", 60'000'000));
  EXPECT_EQ(limiter.SizeForTest(), 1u);
  EXPECT_TRUE(RateLimiter(0, 1).Allow("x", 0));
}

TEST(RateLimiterTest, ARequestOverTheRateIsRefusedAndCountedAsARateLimit) {
  RateLimiter limiter(2, 10);
  const uint64_t refused_before = RefusalCount(Refusal::kRateLimit);
  EXPECT_TRUE(limiter.Allow("a", 0));
  EXPECT_TRUE(limiter.Allow("a", 0));
  EXPECT_FALSE(limiter.Allow("a", 0));
  EXPECT_FALSE(limiter.Allow("a", 1'000'000));  // one every 30 s: not yet
  EXPECT_TRUE(limiter.Allow("a", 31'000'000));
  EXPECT_EQ(RefusalCount(Refusal::kRateLimit) - refused_before, 2u);
}

// --- client authentication ---

TEST_F(PublicClientsTest, UnknownClientWrongSecretAndExpiredSecretGetTheSameAnswer) {
  Client client = DeviceClient();
  Client other = DeviceClient();
  std::vector<Status> failures;
  // Wrong secret (another client's, a guess), unknown client, then the expired secret.
  failures.push_back(authenticator_->Authenticate(client.id, other.secret).status());
  failures.push_back(authenticator_->Authenticate(client.id, client.secret + "x").status());
  failures.push_back(
      authenticator_->Authenticate(NewClientId("us-east-1"), client.secret).status());
  failures.push_back(authenticator_->Authenticate("short", client.secret).status());
  EXPECT_THAT(authenticator_->Authenticate(client.id, client.secret), IsOk());
  clock_->Advance(std::chrono::seconds(90 * 86400));
  failures.push_back(authenticator_->Authenticate(client.id, client.secret).status());
  for (const Status& s : failures) {
    EXPECT_EQ(s.error_type(), "InvalidClientException") << s;
    EXPECT_EQ(s.message(), kInvalidClientMessage);
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr(client.secret)));
    http::Response r = ToErrorResponse(s);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body, ToErrorResponse(failures.front()).body);  // byte for byte
  }
  EXPECT_API_ERROR(authenticator_->Authenticate("", client.secret), "InvalidRequestException",
                   "Member 'clientId' is required");
  EXPECT_API_ERROR(authenticator_->Authenticate(client.id, ""), "InvalidRequestException",
                   "Member 'clientSecret' is required");
}

// A client id of a region this server does not serve: InvalidRequestRegionException with the
// modeled `region` and `endpoint` members.
TEST_F(PublicClientsTest, AClientOfAnotherRegionIsInvalidRequestRegion) {
  const std::string id = NewClientId("ap-south-2");
  auto s = authenticator_->Authenticate(id, "tscs_whatever").status();
  EXPECT_EQ(s.error_type(), "InvalidRequestRegionException") << s;
  EXPECT_EQ(RegionOfError(s), "ap-south-2");
  http::Response r = ToErrorResponse(s);
  EXPECT_EQ(r.status, 400);
  json::object body = json::parse(r.body).as_object();
  EXPECT_EQ(body["error"], "invalid_request");
  EXPECT_EQ(body["region"], "ap-south-2");
  EXPECT_EQ(body["endpoint"], "https://oidc.ap-south-2.amazonaws.com");
  // A region this server serves besides its first is a region like any other.
  auto eu = Register({{"clientName", "x"}, {"clientType", "public"}});
  EXPECT_THAT(authenticator_->Authenticate(eu.id, eu.secret), IsOk());
  EXPECT_EQ(RegionOfClientId(NewClientId("eu-west-1")), "eu-west-1");
  EXPECT_EQ(RegionOfClientId("tooshort"), std::nullopt);
  EXPECT_EQ(RegionOfClientId(std::string(22, 'A') + crypto::Base64UrlEncode("Not A Region")),
            std::nullopt);
}

// Security: the secret's hash is compared in constant time, and nowhere else with ==.
TEST(ClientAuthSecurityTest, TheSecretHashIsComparedInConstantTime) {
  const std::string source = FileBytes("src/ts/oauth/client_auth.cc");
  ASSERT_FALSE(source.empty()) << "run from the source tree";
  EXPECT_THAT(source, HasSubstr("crypto::ConstantTimeEquals(presented, (*client)->secret_hash)"));
  for (const char* path : {"src/ts/oauth/client_auth.cc", "src/ts/oauth/public_clients.cc",
                           "src/ts/oauth/client_registration.cc"}) {
    const std::string text = FileBytes(path);
    EXPECT_THAT(text, Not(HasSubstr("secret_hash ==")));
    EXPECT_THAT(text, Not(HasSubstr("secret_hash !=")));
    EXPECT_THAT(text, Not(HasSubstr("== (*client)->secret_hash")));
  }
}

// --- StartDeviceAuthorization ---

TEST_F(PublicClientsTest, StartDeviceAuthorizationAnswersTheModeledMembers) {
  Client client = DeviceClient();
  Device device = Start(client);
  json::object& o = device.response;
  EXPECT_EQ(Keys(o), (std::set<std::string>{"deviceCode", "userCode", "verificationUri",
                                            "verificationUriComplete", "expiresIn", "interval"}));
  EXPECT_THAT(device.device_code, MatchesRegex("tsdc_[A-Za-z0-9_-]{43}"));
  EXPECT_THAT(device.user_code,
              MatchesRegex("[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}"));
  EXPECT_EQ(Str(o, "verificationUri"), std::string(kPublicUrl) + "/device");
  EXPECT_EQ(Str(o, "verificationUriComplete"),
            std::string(kPublicUrl) + "/device?user_code=" + device.user_code);
  EXPECT_EQ(o["expiresIn"], 600);
  EXPECT_EQ(o["interval"], 1);
  auto stored = store_->GetDeviceAuthorization(tokens::TokenMinter::Hash(device.device_code));
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->client_id, client.id);
  EXPECT_EQ(stored->user_code_hash, UserCodeHash(device.user_code));
  EXPECT_EQ(UserCodeHash(device.user_code), UserCodeHash(AsciiLower(device.user_code)));
  EXPECT_THAT(stored->scopes, ElementsAre("sso:account:access"));
  EXPECT_EQ(stored->status, "PENDING");
  EXPECT_EQ(stored->expires_at, kNow + 600);
}

TEST_F(PublicClientsTest, StartDeviceAuthorizationAcceptsOnlyThisInstancesStartUrl) {
  Client client = DeviceClient();
  for (const std::string& url :
       {std::string(kStartUrl), std::string(kStartUrl) + "/", std::string(kStartUrl) + "#/",
        std::string(kPublicUrl) + "/start", std::string(kPublicUrl) + "/start/"}) {
    SCOPED_TRACE(url);
    EXPECT_FALSE(Start(client, url).device_code.empty());
  }
  for (const std::string& url :
       {std::string("https://d-0000000000.awsapps.com/start"),
        std::string("https://evil.example/start"), std::string(kStartUrl) + "/x",
        std::string("http://d-3333333333.awsapps.com/start"),
        std::string(kStartUrl) + ".evil.example"}) {
    SCOPED_TRACE(url);
    EXPECT_API_ERROR(
        service_->StartDeviceAuthorization(
            json::serialize(json::object{
                {"clientId", client.id}, {"clientSecret", client.secret}, {"startUrl", url}}),
            "a"),
        "InvalidRequestException", "startUrl is not this instance's");
  }
}

TEST_F(PublicClientsTest, StartDeviceAuthorizationErrors) {
  Client device_client = DeviceClient();
  Client code_client = CodeClient();
  auto start = [&](json::object body) {
    return service_->StartDeviceAuthorization(json::serialize(body), "a");
  };
  EXPECT_API_ERROR(start({{"clientId", device_client.id}, {"clientSecret", device_client.secret}}),
                   "InvalidRequestException", "Member 'startUrl' is required");
  EXPECT_API_ERROR(start({{"clientId", device_client.id}, {"startUrl", kStartUrl}}),
                   "InvalidRequestException", "Member 'clientSecret' is required");
  EXPECT_API_ERROR(start({{"clientId", 7}, {"clientSecret", "x"}, {"startUrl", kStartUrl}}),
                   "InvalidRequestException", "Member 'clientId' must be a string");
  EXPECT_API_ERROR(start({{"clientId", device_client.id},
                          {"clientSecret", "tscs_wrong"},
                          {"startUrl", kStartUrl}}),
                   "InvalidClientException", "Invalid client");
  EXPECT_API_ERROR(start({{"clientId", code_client.id},
                          {"clientSecret", code_client.secret},
                          {"startUrl", kStartUrl}}),
                   "UnauthorizedClientException", "not registered for grant type");
}

TEST_F(PublicClientsTest, StartDeviceAuthorizationIsRateLimitedPerAddress) {
  PublicClientOptions popts;
  popts.device_authorizations_per_minute = 3;
  MakeServices(RegistrationOptions{}, popts);
  Client client = DeviceClient();
  for (int i = 0; i < 3; ++i)
    EXPECT_FALSE(Start(client, kStartUrl, "10.1.1.1").device_code.empty());
  const int writes = counting_->writes;
  EXPECT_API_ERROR(
      service_->StartDeviceAuthorization(
          json::serialize(json::object{
              {"clientId", client.id}, {"clientSecret", client.secret}, {"startUrl", kStartUrl}}),
          "10.1.1.1"),
      "SlowDownException", "Too many device authorizations");
  EXPECT_EQ(counting_->writes, writes);
  EXPECT_FALSE(Start(client, kStartUrl, "10.1.1.2").device_code.empty());
}

// --- CreateToken: device_code ---

TEST_F(PublicClientsTest, APendingPollIsOneReadAndNoWriteAndPollingFasterIsSlowDown) {
  Client client = DeviceClient();
  Device device = Start(client);
  EXPECT_THAT(authenticator_->Authenticate(client.id, client.secret), IsOk());  // cached now
  const int reads = counting_->reads;
  const int writes = counting_->writes;
  auto pending = Token(Poll(client, device));
  EXPECT_API_ERROR(pending, "AuthorizationPendingException", "Authorization is still pending");
  EXPECT_EQ(counting_->reads, reads + 1);
  EXPECT_EQ(counting_->writes, writes);
  // The wire shape a real AWS pending answer has.
  http::Response r = ToErrorResponse(pending.status());
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(std::string(r.FindHeader("x-amzn-ErrorType").value_or("")),
              StartsWith("AuthorizationPendingException:"));
  EXPECT_EQ(json::parse(r.body).at("error"), "authorization_pending");

  // A storm within the interval: SlowDown, decided without even a read.
  for (int i = 0; i < 50; ++i) {
    clock_->Advance(std::chrono::milliseconds(10));
    EXPECT_API_ERROR(Token(Poll(client, device)), "SlowDownException", "faster than the interval");
  }
  EXPECT_EQ(counting_->reads, reads + 1);
  EXPECT_EQ(counting_->writes, writes);
  // Waiting the interval after the last poll: pending again.
  clock_->Advance(std::chrono::seconds(1));
  EXPECT_API_ERROR(Token(Poll(client, device)), "AuthorizationPendingException", "pending");
  EXPECT_EQ(counting_->writes, writes);
}

TEST_F(PublicClientsTest, AnApprovedDeviceCodeIsRedeemedOnceAndReuseRevokesTheFamily) {
  Client client = DeviceClient();
  Device device = Start(client);
  EXPECT_API_ERROR(Token(Poll(client, device)), "AuthorizationPendingException", "pending");
  Decide(device, true);
  clock_->Advance(std::chrono::seconds(2));
  json::object o = TokenOk(Poll(client, device));
  EXPECT_EQ(Keys(o), (std::set<std::string>{"accessToken", "tokenType", "expiresIn",
                                            "refreshToken"}));  // no idToken without openid
  EXPECT_EQ(o["tokenType"], "Bearer");
  EXPECT_EQ(o["expiresIn"], 3600);
  std::string typ;
  json::object at = VerifiedPayload(Str(o, "accessToken"), &typ);
  EXPECT_EQ(typ, "at+jwt");
  EXPECT_EQ(at["aud"], json::value(client.id));
  EXPECT_EQ(at["client_id"], json::value(client.id));
  EXPECT_EQ(at["sub"], kUser);
  EXPECT_EQ(at["scope"], "sso:account:access");
  auto family = store_->GetFamily(Str(at, "tsr:fid"));
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->application_arn, client.id);
  EXPECT_EQ(family->grant_type, kDeviceGrant);
  EXPECT_EQ(family->session_hash, "session-hash");
  EXPECT_EQ(family->revoked_at, 0);

  // At once: a redeemed code's next poll is answered as such, not told to slow down.
  EXPECT_API_ERROR(Token(Poll(client, device)), "InvalidGrantException", "already been used");
  EXPECT_NE(store_->GetFamily(Str(at, "tsr:fid"))->revoked_at, 0);
  EXPECT_API_ERROR(Token(RefreshRequest(client, Str(o, "refreshToken"))), "InvalidGrantException",
                   "revoked");
}

TEST_F(PublicClientsTest, TwoConcurrentRedemptionsOfOneApprovedDeviceCodeHaveOneWinner) {
  Client client = DeviceClient();
  Device device = Start(client);
  Decide(device, true);
  EXPECT_EQ(Winners([&] { return Token(Poll(client, device)); }), 1);
}

TEST_F(PublicClientsTest, DeniedExpiredForeignAndUnknownDeviceCodes) {
  Client client = DeviceClient();
  Client other = DeviceClient();
  Device denied = Start(client);
  EXPECT_API_ERROR(Token(Poll(client, denied)), "AuthorizationPendingException", "pending");
  Decide(denied, false);
  clock_->Advance(std::chrono::milliseconds(500));  // within the interval: still too soon
  EXPECT_API_ERROR(Token(Poll(client, denied)), "SlowDownException", "interval");
  clock_->Advance(std::chrono::seconds(1));
  EXPECT_API_ERROR(Token(Poll(client, denied)), "AccessDeniedException", "denied");
  EXPECT_API_ERROR(Token(Poll(client, denied)), "AccessDeniedException", "denied");
  Device foreign = Start(client);
  EXPECT_API_ERROR(Token(Poll(other, foreign)), "InvalidGrantException",
                   "Invalid device code provided");
  Device unknown{"tsdc_unknown", "BBBB-BBBB", {}};
  EXPECT_API_ERROR(Token(Poll(client, unknown)), "InvalidGrantException",
                   "Invalid device code provided");
  ClientTokenRequest missing = TokenRequest(client, kDeviceGrant);
  EXPECT_API_ERROR(Token(missing), "InvalidRequestException", "Member 'deviceCode' is required");
  Device late = Start(client);
  clock_->Advance(std::chrono::seconds(601));
  EXPECT_API_ERROR(Token(Poll(client, late)), "ExpiredTokenException", "expired");
  EXPECT_EQ(ToErrorResponse(Token(Poll(client, late)).status()).status, 400);
}

TEST_F(PublicClientsTest, TheApprovingUserMustStillExistAndBeEntitled) {
  Client client = DeviceClient();
  Device device = Start(client);
  Decide(device, true, kOutsider);
  // Deleting the user deletes the unredeemed approval with it (storage): nothing to redeem.
  ASSERT_THAT(store_->DeleteUser(kOutsider, kNow), IsOk());
  EXPECT_API_ERROR(Token(Poll(client, device)), "InvalidGrantException",
                   "Invalid device code provided");

  Client entitled = Register({{"clientName", "x"},
                              {"clientType", "public"},
                              {"entitledApplicationArn", kApp},
                              {"scopes", {"sso:account:access"}}});
  Device assigned = Start(entitled);
  Decide(assigned, true, kUser);
  EXPECT_THAT(Token(Poll(entitled, assigned)), IsOk());
  storage::User carol;
  carol.user_id = "730448f2-e0a1-70a7-c954-000000000002";
  carol.identity_store_id = instance_.identity_store_id;
  carol.user_name = "carol";
  ASSERT_THAT(store_->CreateUser(carol), IsOk());
  Device unassigned = Start(entitled);
  Decide(unassigned, true, carol.user_id);
  EXPECT_API_ERROR(Token(Poll(entitled, unassigned)), "InvalidGrantException",
                   "not assigned to application");
}

TEST_F(PublicClientsTest, ScopeNarrowsWithinTheRegistration) {
  Client client = DeviceClient({"sso:account:access", "codewhisperer:completions"});
  Device device = Start(client);
  Decide(device, true);
  ClientTokenRequest req = Poll(client, device);
  req.scope = {"codewhisperer:completions", "openid"};
  EXPECT_API_ERROR(Token(req), "InvalidScopeException", "Scope 'openid' is not allowed");
  req.scope = {"codewhisperer:completions"};
  json::object o = TokenOk(req);
  EXPECT_EQ(VerifiedPayload(Str(o, "accessToken"))["scope"], "codewhisperer:completions");
}

// --- CreateToken: authorization_code ---

TEST_F(PublicClientsTest, CodeRedemptionGivesAStandardIdTokenWithTheNonce) {
  Client client = CodeClient();
  json::object o = TokenOk(CodeRequest(client, MakeCode(client, "n-0S6_WzA2Mj")));
  EXPECT_EQ(Keys(o), (std::set<std::string>{"accessToken", "tokenType", "expiresIn", "refreshToken",
                                            "idToken"}));
  std::string typ;
  json::object id = VerifiedPayload(Str(o, "idToken"), &typ);
  EXPECT_EQ(typ, "JWT");
  EXPECT_EQ(id["iss"], kIssuer);
  EXPECT_EQ(id["sub"], kUser);
  EXPECT_EQ(id["aud"], json::value(client.id));
  EXPECT_EQ(id["azp"], json::value(client.id));
  EXPECT_EQ(id["iat"], kNow);
  EXPECT_EQ(id["exp"], kNow + 3600);
  EXPECT_EQ(id["auth_time"], kNow - 5);  // OIDC Core: a number, not AWS's ISO string
  EXPECT_EQ(id["nonce"], "n-0S6_WzA2Mj");
  EXPECT_EQ(id["preferred_username"], "alice");
  EXPECT_EQ(id["name"], "alice Example");
  EXPECT_EQ(id["email"], "alice@example.com");  // the primary one
  EXPECT_EQ(VerifiedPayload(Str(o, "accessToken"))["aud"], json::value(client.id));

  // Only the claims the granted scopes ask for; no nonce when the request had none.
  ClientTokenRequest narrow = CodeRequest(client, MakeCode(client));
  narrow.scope = {"openid"};
  json::object bare = VerifiedPayload(Str(TokenOk(narrow), "idToken"));
  EXPECT_EQ(Keys(bare),
            (std::set<std::string>{"iss", "sub", "aud", "azp", "iat", "exp", "auth_time"}));
  // No openid, no ID token.
  ClientTokenRequest no_openid = CodeRequest(client, MakeCode(client));
  no_openid.scope = {"sso:account:access"};
  EXPECT_FALSE(TokenOk(no_openid).contains("idToken"));
}

// RFC 9700 §4.8.2: a verifier presented for a code issued without a challenge is a downgrade
// attempt, refused for a registered client as for an application.
TEST_F(PublicClientsTest, VerifierForACodeWithoutChallengeIsRefused) {
  Client client = CodeClient();
  ClientTokenRequest req = CodeRequest(client, StoreCode(client.id, ""));
  EXPECT_API_ERROR(Token(req), "InvalidGrantException", "issued without a code_challenge");
}

TEST_F(PublicClientsTest, CodeRedemptionChecksPkceRedirectAndOwnership) {
  Client client = CodeClient();
  Client other = CodeClient();
  ClientTokenRequest req = CodeRequest(client, MakeCode(client));
  req.code_verifier.clear();
  EXPECT_API_ERROR(Token(req), "InvalidRequestException", "Member 'codeVerifier' is required");
  // A registered client is public: a code without a challenge is refused whatever the server's
  // PKCE setting (an IAM application may do without).
  req = CodeRequest(client, StoreCode(client.id, ""));
  req.code_verifier.clear();
  EXPECT_API_ERROR(Token(req), "InvalidGrantException", "PKCE is required");
  req = CodeRequest(client, MakeCode(client));
  req.code_verifier = std::string(43, 'a');
  EXPECT_API_ERROR(Token(req), "InvalidGrantException", "does not match the code challenge");
  req = CodeRequest(client, MakeCode(client));
  req.redirect_uri = kLoopback;  // what was registered, not what /authorize received
  EXPECT_API_ERROR(Token(req), "InvalidGrantException", "redirectUri does not match");
  EXPECT_API_ERROR(Token(CodeRequest(other, MakeCode(client))), "InvalidGrantException",
                   "Invalid authorization code provided");
  // A device-only client is not registered for the grant.
  Client device_client = DeviceClient();
  EXPECT_API_ERROR(Token(CodeRequest(device_client, MakeCode(device_client))),
                   "UnauthorizedClientException", "not registered for grant type");
  // An IAM application's code is no client's.
  EXPECT_API_ERROR(Token(CodeRequest(client, StoreCode(kApp, kChallenge))), "InvalidGrantException",
                   "Invalid authorization code provided");
}

TEST_F(PublicClientsTest, AReusedCodeRevokesTheFamilyAndARaceHasOneWinner) {
  Client client = CodeClient();
  const std::string code = MakeCode(client);
  json::object first = TokenOk(CodeRequest(client, code));
  const std::string family = FamilyOf(Str(first, "accessToken"));
  EXPECT_API_ERROR(Token(CodeRequest(client, code)), "InvalidGrantException", "already been used");
  EXPECT_NE(store_->GetFamily(family)->revoked_at, 0);

  const std::string raced = MakeCode(client);
  EXPECT_EQ(Winners([&] { return Token(CodeRequest(client, raced)); }), 1);
}

TEST_F(PublicClientsTest, AnEntitledClientsCodeNeedsTheUsersAssignment) {
  Client client =
      CodeClient({{"entitledApplicationArn", kApp}, {"scopes", {"openid", "sso:account:access"}}});
  ASSERT_FALSE(client.id.empty());
  Client device_client = Register({{"clientName", "x"},
                                   {"clientType", "public"},
                                   {"entitledApplicationArn", kApp},
                                   {"scopes", {"sso:account:access"}}});
  EXPECT_THAT(Token(CodeRequest(client, MakeCode(client, "", {"openid"}))), IsOk());
  EXPECT_API_ERROR(Token(CodeRequest(client, MakeCode(client, "", {"openid"}, kOutsider))),
                   "InvalidGrantException", "not assigned to application");
  storage::Application app = *store_->GetApplication(kApp);
  app.status = "DISABLED";
  ASSERT_THAT(store_->PutApplication(app), IsOk());
  EXPECT_API_ERROR(Token(CodeRequest(client, MakeCode(client, "", {"openid"}))),
                   "InvalidClientException", "entitled application is gone or disabled");
  EXPECT_API_ERROR(service_->StartDeviceAuthorization(
                       json::serialize(json::object{{"clientId", device_client.id},
                                                    {"clientSecret", device_client.secret},
                                                    {"startUrl", kStartUrl}}),
                       "a"),
                   "InvalidClientException", "entitled application is gone or disabled");
}

// --- CreateToken: refresh_token ---

TEST_F(PublicClientsTest, RefreshRotatesAndReuseRevokesTheFamily) {
  Client client = CodeClient();
  json::object first = TokenOk(CodeRequest(client, MakeCode(client)));
  const std::string rt1 = Str(first, "refreshToken");
  const std::string family = FamilyOf(Str(first, "accessToken"));
  clock_->Advance(std::chrono::seconds(10));
  ClientTokenRequest narrow = RefreshRequest(client, rt1);
  narrow.scope = {"sso:account:access"};
  json::object second = TokenOk(narrow);
  const std::string rt2 = Str(second, "refreshToken");
  EXPECT_NE(rt2, rt1);
  EXPECT_FALSE(second.contains("idToken"));
  json::object at = VerifiedPayload(Str(second, "accessToken"));
  EXPECT_EQ(at["tsr:fid"], json::value(family));
  EXPECT_EQ(at["scope"], "sso:account:access");
  EXPECT_EQ(at["aud"], json::value(client.id));
  // Widening back within the family's scopes.
  ClientTokenRequest wide = RefreshRequest(client, rt2);
  wide.scope = {"openid", "email"};
  json::object third = TokenOk(wide);
  EXPECT_EQ(VerifiedPayload(Str(third, "idToken"))["email"], "alice@example.com");
  ClientTokenRequest too_wide = RefreshRequest(client, Str(third, "refreshToken"));
  too_wide.scope = {"codewhisperer:completions"};
  EXPECT_API_ERROR(Token(too_wide), "InvalidScopeException", "not allowed");

  EXPECT_API_ERROR(Token(RefreshRequest(client, rt1)), "InvalidGrantException",
                   "already been used");
  EXPECT_NE(store_->GetFamily(family)->revoked_at, 0);
  EXPECT_API_ERROR(Token(RefreshRequest(client, Str(third, "refreshToken"))),
                   "InvalidGrantException", "revoked");
}

TEST_F(PublicClientsTest, RefreshErrors) {
  Client client = CodeClient();
  Client other = CodeClient();
  json::object first = TokenOk(CodeRequest(client, MakeCode(client)));
  EXPECT_API_ERROR(Token(RefreshRequest(client, "")), "InvalidRequestException",
                   "Member 'refreshToken' is required");
  EXPECT_API_ERROR(Token(RefreshRequest(other, Str(first, "refreshToken"))),
                   "InvalidGrantException", "Invalid refresh token provided");
  EXPECT_API_ERROR(Token(RefreshRequest(client, "tsrt_nonsense")), "InvalidGrantException",
                   "Invalid refresh token provided");
  Client no_refresh = Register({{"clientName", "x"},
                                {"clientType", "public"},
                                {"grantTypes", {kDeviceGrant}},
                                {"scopes", {"sso:account:access"}}});
  Device device = Start(no_refresh);
  Decide(device, true);
  json::object tokens = TokenOk(Poll(no_refresh, device));
  EXPECT_FALSE(tokens.contains("refreshToken"));  // not registered for refresh_token
  EXPECT_API_ERROR(Token(RefreshRequest(no_refresh, "tsrt_x")), "UnauthorizedClientException",
                   "not registered for grant type refresh_token");
}

TEST_F(PublicClientsTest, AnEntitledClientsRefreshNeedsTheAssignmentStill) {
  Client client =
      CodeClient({{"entitledApplicationArn", kApp}, {"scopes", {"openid", "sso:account:access"}}});
  json::object first = TokenOk(CodeRequest(client, MakeCode(client, "", {"openid"})));
  ASSERT_THAT(store_->DeleteAssignment(kApp, kUser), IsOk());
  EXPECT_API_ERROR(Token(RefreshRequest(client, Str(first, "refreshToken"))),
                   "InvalidGrantException", "not assigned to application");
  // Nothing rotated: with the assignment back, the same token still works.
  ASSERT_THAT(store_->PutAssignment(kApp, kUser, "USER"), IsOk());
  EXPECT_THAT(Token(RefreshRequest(client, Str(first, "refreshToken"))), IsOk());
}

// On SQLite the refresh is rotated by the store's writer and signed through finish_done: no
// executor. Reuse goes through the executor, as CreateTokenWithIAM's does.
TEST_F(PublicClientsTest, AsyncRefreshOnSqliteIsAnsweredWithoutTheExecutor) {
  ASSERT_TRUE(store_->GrantsWithoutBlocking());
  Client client = CodeClient();
  json::object first = TokenOk(CodeRequest(client, MakeCode(client)));
  const std::string rt1 = Str(first, "refreshToken");
  AsyncAnswer answer = CallAsync(RefreshRequest(client, rt1));
  ASSERT_THAT(answer.result, IsOk());
  EXPECT_TRUE(answer.through_finish);
  EXPECT_EQ(answer.executor_tasks, 0);
  json::object o = json::parse(*answer.result).as_object();
  EXPECT_EQ(FamilyOf(Str(o, "accessToken")), FamilyOf(Str(first, "accessToken")));
  EXPECT_EQ(
      store_->GetRefreshToken(tokens::TokenMinter::RefreshTokenKey(rt1))->token.successor_hash,
      tokens::TokenMinter::RefreshTokenKey(Str(o, "refreshToken")));

  AsyncAnswer reused = CallAsync(RefreshRequest(client, rt1));
  EXPECT_EQ(reused.result.status().error_type(), "InvalidGrantException");
  EXPECT_EQ(reused.executor_tasks, 1);
  EXPECT_NE(store_->GetFamily(FamilyOf(Str(first, "accessToken")))->revoked_at, 0);

  // The form front end's answer comes the same way, in its own shape.
  json::object again = TokenOk(CodeRequest(client, MakeCode(client)));
  AsyncAnswer form =
      CallAsync(RefreshRequest(client, Str(again, "refreshToken")), TokenFormat::kOAuthForm);
  ASSERT_THAT(form.result, IsOk());
  EXPECT_TRUE(json::parse(*form.result).as_object().contains("access_token"));
}

TEST_F(PublicClientsTest, AsyncDevicePollsAreAnsweredWithoutTheExecutorUntilApproved) {
  Client client = DeviceClient();
  Device device = Start(client);
  AsyncAnswer pending = CallAsync(Poll(client, device));
  EXPECT_EQ(pending.result.status().error_type(), "AuthorizationPendingException");
  EXPECT_EQ(pending.executor_tasks, 0);
  AsyncAnswer storm = CallAsync(Poll(client, device));
  EXPECT_EQ(storm.result.status().error_type(), "SlowDownException");
  EXPECT_EQ(storm.executor_tasks, 0);
  Decide(device, true);
  clock_->Advance(std::chrono::seconds(2));
  AsyncAnswer approved = CallAsync(Poll(client, device));
  ASSERT_THAT(approved.result, IsOk());
  EXPECT_EQ(approved.executor_tasks, 1);
  // A code's redemption writes: through the executor.
  Client code_client = CodeClient();
  AsyncAnswer code = CallAsync(CodeRequest(code_client, MakeCode(code_client)));
  ASSERT_THAT(code.result, IsOk());
  EXPECT_EQ(code.executor_tasks, 1);
}

TEST_F(PublicClientsTest, TokenRequestsForUnknownGrantsAndClients) {
  Client client = DeviceClient();
  EXPECT_API_ERROR(Token(TokenRequest(client, "client_credentials")),
                   "UnsupportedGrantTypeException", "Unsupported grant type: client_credentials");
  EXPECT_API_ERROR(Token(TokenRequest(client, "")), "InvalidRequestException",
                   "Member 'grantType' is required");
  Client wrong = client;
  wrong.secret = "tscs_guess";
  EXPECT_API_ERROR(Token(TokenRequest(wrong, "refresh_token")), "InvalidClientException",
                   "Invalid client");
}

// --- the two front ends ---

TEST(CreateTokenParseTest, JsonMembersAreCheckedByName) {
  EXPECT_API_ERROR(ParseCreateTokenJson("nope"), "InvalidRequestException", "not valid JSON");
  EXPECT_API_ERROR(ParseCreateTokenJson(R"({"clientSecret":"s","grantType":"g"})"),
                   "InvalidRequestException", "Member 'clientId' is required");
  EXPECT_API_ERROR(ParseCreateTokenJson(R"({"clientId":"c","grantType":"g"})"),
                   "InvalidRequestException", "Member 'clientSecret' is required");
  EXPECT_API_ERROR(ParseCreateTokenJson(R"({"clientId":"c","clientSecret":"s"})"),
                   "InvalidRequestException", "Member 'grantType' is required");
  EXPECT_API_ERROR(
      ParseCreateTokenJson(R"({"clientId":"c","clientSecret":"s","grantType":"g","deviceCode":1})"),
      "InvalidRequestException", "Member 'deviceCode' must be a string");
  EXPECT_API_ERROR(
      ParseCreateTokenJson(R"({"clientId":"c","clientSecret":"s","grantType":"g","scope":"a b"})"),
      "InvalidRequestException", "Member 'scope' must be a list of strings");
  auto ok = ParseCreateTokenJson(
      R"({"clientId":"c","clientSecret":"s","grantType":"refresh_token","refreshToken":"r",)"
      R"("scope":["a","b"],"code":"x","redirectUri":"u","codeVerifier":"v","deviceCode":"d"})");
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->refresh_token, "r");
  EXPECT_EQ(ok->device_code, "d");
  EXPECT_EQ(ok->code_verifier, "v");
  EXPECT_THAT(ok->scope, ElementsAre("a", "b"));
}

TEST(CreateTokenParseTest, FormParametersAndClientAuthentication) {
  // client_secret_basic: id and secret form-url-encoded inside the Basic credentials.
  const std::string basic =
      "Basic " + crypto::Base64Encode("my%3Aclient:s%2Bcr%20et+x");  // "my:client", "s+cr et x"
  auto req = ParseCreateTokenForm(
      "grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
      "&code_verifier=v&scope=openid+email%20profile&unknown=ignored",
      basic);
  ASSERT_THAT(req, IsOk());
  EXPECT_EQ(req->client_id, "my:client");
  EXPECT_EQ(req->client_secret, "s+cr et x");
  EXPECT_EQ(req->grant_type, "authorization_code");
  EXPECT_EQ(req->redirect_uri, "http://127.0.0.1:9/cb");
  EXPECT_THAT(req->scope, ElementsAre("openid", "email", "profile"));
  // client_secret_post.
  auto post = ParseCreateTokenForm(
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d"
      "&client_id=c&client_secret=s",
      std::nullopt);
  ASSERT_THAT(post, IsOk());
  EXPECT_EQ(post->grant_type, kDeviceGrant);
  EXPECT_EQ(post->device_code, "d");
  EXPECT_EQ(post->client_secret, "s");

  EXPECT_API_ERROR(ParseCreateTokenForm("grant_type=refresh_token&client_id=c&client_secret=s",
                                        "Basic " + crypto::Base64Encode("c:s")),
                   "InvalidRequestException", "authenticated twice");
  EXPECT_API_ERROR(
      ParseCreateTokenForm("grant_type=a&grant_type=b&client_id=c&client_secret=s", std::nullopt),
      "InvalidRequestException", "Parameter 'grant_type' is repeated");
  EXPECT_API_ERROR(ParseCreateTokenForm("client_id=c&client_secret=s", std::nullopt),
                   "InvalidRequestException", "Parameter 'grant_type' is required");
  EXPECT_API_ERROR(ParseCreateTokenForm("grant_type=refresh_token&code=%zz", std::nullopt),
                   "InvalidRequestException", "malformed");
  EXPECT_API_ERROR(ParseCreateTokenForm("grant_type=refresh_token", std::nullopt),
                   "InvalidClientException", "Client authentication is required");
  EXPECT_API_ERROR(ParseCreateTokenForm("grant_type=refresh_token", "Basic !!!"),
                   "InvalidClientException", "Malformed HTTP Basic credentials");
  EXPECT_API_ERROR(
      ParseCreateTokenForm("grant_type=refresh_token", "Basic " + crypto::Base64Encode("no-colon")),
      "InvalidClientException", "Malformed HTTP Basic credentials");
  EXPECT_API_ERROR(ParseCreateTokenForm("grant_type=refresh_token", "Bearer abc"),
                   "InvalidClientException", "Unsupported Authorization scheme");
  EXPECT_API_ERROR(ParseCreateTokenForm("grant_type=refresh_token&client_id=other",
                                        "Basic " + crypto::Base64Encode("c:s")),
                   "InvalidRequestException", "differs from the HTTP Basic user name");
}

TEST_F(PublicClientsTest, TheFormFrontEndAnswersInRfc6749Shape) {
  Client client = CodeClient();
  json::object o = TokenOk(CodeRequest(client, MakeCode(client)), TokenFormat::kOAuthForm);
  EXPECT_EQ(Keys(o), (std::set<std::string>{"access_token", "token_type", "expires_in",
                                            "refresh_token", "id_token", "scope"}));
  EXPECT_EQ(o["token_type"], "Bearer");
  EXPECT_EQ(o["expires_in"], 3600);
  EXPECT_EQ(o["scope"], "openid profile email sso:account:access");
  json::object refreshed =
      TokenOk(RefreshRequest(client, Str(o, "refresh_token")), TokenFormat::kOAuthForm);
  EXPECT_TRUE(refreshed.contains("access_token"));
}

TEST(OAuthErrorResponseTest, Rfc6749ShapeWithWwwAuthenticateOn401) {
  http::Response r = ToOAuthErrorResponse(InvalidClient(kInvalidClientMessage));
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(std::string(r.FindHeader("WWW-Authenticate").value_or("")), StartsWith("Basic "));
  EXPECT_EQ(r.FindHeader("Cache-Control").value_or(""), "no-store");
  json::object body = json::parse(r.body).as_object();
  EXPECT_EQ(Keys(body), (std::set<std::string>{"error", "error_description"}));
  EXPECT_EQ(body["error"], "invalid_client");
  http::Response pending =
      ToOAuthErrorResponse(AuthorizationPending("Authorization is still pending"));
  EXPECT_EQ(pending.status, 400);
  EXPECT_FALSE(pending.FindHeader("WWW-Authenticate").has_value());
  EXPECT_EQ(json::parse(pending.body).at("error"), "authorization_pending");
  EXPECT_EQ(json::parse(ToOAuthErrorResponse(SlowDown("x")).body).at("error"), "slow_down");
  EXPECT_EQ(json::parse(ToOAuthErrorResponse(ExpiredToken("x")).body).at("error"), "expired_token");
  http::Response internal = ToOAuthErrorResponse(InternalError("disk on fire"));
  EXPECT_EQ(internal.status, 500);
  EXPECT_THAT(internal.body, AllOf(HasSubstr("server_error"), Not(HasSubstr("disk"))));
}

}  // namespace
}  // namespace ts::oauth
