#include "scenarios.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/http/message.h"
#include "ts/sigv4/credential.h"
#include "ts/sigv4/signer.h"

namespace loadgen {
namespace {

namespace json = boost::json;

constexpr std::string_view kVerifier = "loadgen-pkce-verifier-0123456789abcdefghijklmnopqrstuvw";
constexpr std::string_view kJwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
constexpr std::string_view kTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange";
constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string HtmlUnescape(std::string s) {
  static const std::pair<std::string_view, std::string_view> kEntities[] = {
      {"&quot;", "\""}, {"&#39;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
  for (const auto& [from, to] : kEntities) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
      s.replace(p, from.size(), to);
    }
  }
  return s;
}

// Sets `error` and returns false: how setup steps report failure.
bool Fail(std::string& error, std::string message) {
  error = std::move(message);
  return false;
}

// The error type of a failed response: awsJson/restJson put it in x-amzn-ErrorType, OAuth in
// the body's "error".
std::string ErrorType(const HttpResponse& r) {
  if (auto it = r.headers.find("x-amzn-errortype"); it != r.headers.end()) {
    return it->second.substr(0, it->second.find(':'));
  }
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const json::value* e = v.as_object().if_contains("error"); e && e->is_string()) {
      return std::string(e->as_string());
    }
  }
  return "HTTP " + std::to_string(r.status);
}

// A top-level string member of a JSON response. Scans instead of parsing: the generator's own
// CPU per request must stay well below the server's, and token values never need unescaping
// (any escaped value falls back to a real parse).
std::string Member(const std::string& body, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\"";
  size_t at = body.find(key);
  if (at != std::string::npos) {
    at = body.find_first_not_of(" \t\r\n:", at + key.size());
    if (at != std::string::npos && body[at] == '"') {
      const size_t end = body.find('"', at + 1);
      if (end != std::string::npos && body.find('\\', at) > end) {
        return body.substr(at + 1, end - at - 1);
      }
    }
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return "";
  const json::value* m = v.as_object().if_contains(name);
  return m != nullptr && m->is_string() ? std::string(m->as_string()) : "";
}

std::string Serialize(const ts::http::Request& req) {
  std::string out = req.method + " " + req.target + " HTTP/1.1\r\n";
  for (const auto& h : req.headers) out += h.name + ": " + h.value + "\r\n";
  out += "content-length: " + std::to_string(req.body.size()) + "\r\n\r\n";
  out += req.body;
  return out;
}

// Everything that talks to Tessera: signed CreateTokenWithIAM calls and the browser sign-in.
class TesseraClient {
 public:
  explicit TesseraClient(const Options& o)
      : o_(o), authorize_client_id_(o.application_arn), authorize_redirect_uri_(o.redirect_uri) {
    cred_.access_key_id = o.access_key_id;
    cred_.secret_access_key = o.secret_access_key;
    host_ = o.host + ":" + std::to_string(o.port);
  }

  // A CreateTokenWithIAM request signed as botocore signs it.
  std::string CreateToken(const json::object& body) const {
    ts::http::Request req;
    req.method = "POST";
    req.target = "/token?aws_iam=t";
    req.headers = {{"host", host_}, {"content-type", "application/json"}};
    req.body = json::serialize(body);
    ts::sigv4::SignRequest(req, cred_, o_.region, "sso-oauth", Now()).IgnoreError();
    return Serialize(req);
  }

  // An unsigned sso-oidc call (RegisterClient, StartDeviceAuthorization, CreateToken): JSON, no
  // Authorization header, as the AWS CLI sends them.
  std::string Unsigned(std::string_view target, const json::object& body) const {
    const std::string text = json::serialize(body);
    return "POST " + std::string(target) + " HTTP/1.1\r\nhost: " + host_ +
           "\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(text.size()) +
           "\r\n\r\n" + text;
  }

  // Registers a public client as `aws sso login` does; its id and secret are kept for the
  // requests that follow.
  bool Register(json::object registration, std::string& error) {
    registration["clientName"] = "tessera-loadgen";
    registration["clientType"] = "public";
    Connection c(o_.host, o_.port);
    HttpResponse r;
    if (!c.RoundTrip(Unsigned("/client/register", registration), r, error)) return false;
    if (r.status != 200) return Fail(error, "RegisterClient: " + ErrorType(r) + " " + r.body);
    client_id_ = Member(r.body, "clientId");
    client_secret_ = Member(r.body, "clientSecret");
    if (client_id_.empty() || client_secret_.empty()) {
      return Fail(error, "RegisterClient answered no clientId or clientSecret: " + r.body);
    }
    return true;
  }
  // An admin-plane call (awsJson 1.1, SigV4 with the service's signing name), for setup.
  std::string AdminCall(std::string_view target, std::string_view signing_name,
                        const json::object& body) const {
    ts::http::Request req;
    req.method = "POST";
    req.target = "/";
    req.headers = {{"host", host_},
                   {"content-type", "application/x-amz-json-1.1"},
                   {"x-amz-target", std::string(target)}};
    req.body = json::serialize(body);
    ts::sigv4::SignRequest(req, cred_, o_.region, std::string(signing_name), Now()).IgnoreError();
    return Serialize(req);
  }

  const std::string& client_id() const { return client_id_; }
  const std::string& client_secret() const { return client_secret_; }

  // CreateToken (the registered client's token call), with its id and secret.
  std::string ClientCreateToken(json::object body) const {
    body["clientId"] = client_id_;
    body["clientSecret"] = client_secret_;
    return Unsigned("/token", body);
  }

  // From now on /authorize is called for the registered client, with the CLI's parameters
  // (`scopes`, a loopback redirect URI with a port the registration does not name).
  void AuthorizeAsClient(std::string redirect_uri, std::string scopes) {
    authorize_client_id_ = client_id_;
    authorize_redirect_uri_ = std::move(redirect_uri);
    authorize_scopes_ = std::move(scopes);
  }

  std::string AuthorizeTarget() const {
    const std::string challenge =
        ts::crypto::Base64UrlEncode(ts::crypto::AsBytes(ts::crypto::Sha256(kVerifier)));
    std::string t = "/authorize?response_type=code&client_id=" + FormEncode(authorize_client_id_) +
                    "&redirect_uri=" + FormEncode(authorize_redirect_uri_) +
                    "&state=loadgen&code_challenge=" + challenge + "&code_challenge_method=S256";
    if (!authorize_scopes_.empty()) t += "&scopes=" + FormEncode(authorize_scopes_);
    return t;
  }

  // Signs in through the login page once (keeping the session cookie) and then collects `count`
  // codes from /authorize, which a live session answers with a redirect: Tessera's real
  // code-issuing path, one durable code each.
  bool CollectCodes(int64_t count, std::vector<std::string>& codes, std::string& error) {
    Connection c(o_.host, o_.port);
    HttpResponse r;
    if (!c.RoundTrip(Get(AuthorizeTarget(), ""), r, error)) return false;
    if (r.status != 200) return Fail(error, "login page: HTTP " + std::to_string(r.status));
    std::string csrf_cookie = CookieValue(r, "tessera_csrf");
    std::string form =
        "username=" + FormEncode(o_.username) + "&password=" + FormEncode(o_.password);
    static const std::regex kHidden("<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\">");
    for (std::sregex_iterator it(r.body.begin(), r.body.end(), kHidden), end; it != end; ++it) {
      form += "&" + FormEncode(HtmlUnescape((*it)[1])) + "=" + FormEncode(HtmlUnescape((*it)[2]));
    }
    std::string post = "POST /authorize HTTP/1.1\r\nhost: " + host_ + "\r\norigin: http://" +
                       host_ + "\r\ncontent-type: application/x-www-form-urlencoded\r\ncookie: " +
                       CookieHeader(csrf_cookie) +
                       "\r\ncontent-length: " + std::to_string(form.size()) + "\r\n\r\n" + form;
    if (!c.RoundTrip(post, r, error)) return false;
    if (r.status != 303)
      return Fail(error, "sign-in: HTTP " + std::to_string(r.status) + " " + r.body);
    session_cookie_ = CookieValue(r, "tessera_session");
    if (session_cookie_.empty()) return Fail(error, "sign-in set no session cookie");
    codes.push_back(CodeFrom(r));
    // The rest in parallel, so the codes' durable writes share group commits.
    const int64_t remaining = count - 1;
    const int threads = static_cast<int>(std::min<int64_t>(16, std::max<int64_t>(remaining, 1)));
    std::mutex mu;
    std::string first_error;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      const int64_t share = remaining / threads + (t < remaining % threads ? 1 : 0);
      workers.emplace_back([&, share] {
        Connection own(o_.host, o_.port);
        HttpResponse resp;
        std::string err;
        for (int64_t i = 0; i < share; ++i) {
          if (!own.RoundTrip(Get(AuthorizeTarget(), "tessera_session=" + session_cookie_), resp,
                             err) ||
              resp.status != 302) {
            std::lock_guard<std::mutex> lock(mu);
            if (first_error.empty()) {
              first_error = err.empty() ? "authorize: HTTP " + std::to_string(resp.status) : err;
            }
            return;
          }
          std::string code = CodeFrom(resp);
          std::lock_guard<std::mutex> lock(mu);
          codes.push_back(std::move(code));
        }
      });
    }
    for (auto& w : workers) w.join();
    if (!first_error.empty()) return Fail(error, first_error);
    return true;
  }

  std::string RedeemRequest(const std::string& code) const {
    return CreateToken({{"clientId", o_.application_arn},
                        {"grantType", "authorization_code"},
                        {"code", code},
                        {"redirectUri", o_.redirect_uri},
                        {"codeVerifier", kVerifier}});
  }

  // Redeems codes for `n` token sets (setup only), spread over a few connections.
  bool RedeemMany(int n, std::vector<std::string>& bodies, std::string& error) {
    std::vector<std::string> codes;
    if (!CollectCodes(n, codes, error)) return false;
    Connection c(o_.host, o_.port);
    for (const std::string& code : codes) {
      HttpResponse r;
      if (!c.RoundTrip(RedeemRequest(code), r, error)) return false;
      if (r.status != 200) return Fail(error, "redeem: " + ErrorType(r) + " " + r.body);
      bodies.push_back(r.body);
    }
    return true;
  }

 private:
  std::string Get(const std::string& target, const std::string& cookie) const {
    std::string g = "GET " + target + " HTTP/1.1\r\nhost: " + host_ + "\r\n";
    if (!cookie.empty()) g += "cookie: " + cookie + "\r\n";
    return g + "\r\n";
  }
  static std::string CookieValue(const HttpResponse& r, const std::string& name) {
    auto it = r.headers.find("set-cookie");
    if (it == r.headers.end()) return "";
    std::istringstream lines(it->second);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(name + "=", 0) == 0) {
        return line.substr(name.size() + 1, line.find(';') - name.size() - 1);
      }
    }
    return "";
  }
  static std::string CookieHeader(const std::string& csrf) { return "tessera_csrf=" + csrf; }
  static std::string CodeFrom(const HttpResponse& r) {
    auto it = r.headers.find("location");
    if (it == r.headers.end()) return "";
    static const std::regex kCode("[?&]code=([^&]*)");
    std::smatch m;
    return std::regex_search(it->second, m, kCode) ? std::string(m[1]) : "";
  }

  const Options& o_;
  ts::sigv4::Credential cred_;
  std::string host_;
  std::string session_cookie_;
  std::string client_id_, client_secret_;  // after Register
  std::string authorize_client_id_, authorize_redirect_uri_, authorize_scopes_;
};

// The words of a space-separated list, as a JSON array.
json::array Words(std::string_view text) {
  json::array out;
  std::istringstream words{std::string(text)};
  for (std::string w; words >> w;) out.emplace_back(w);
  return out;
}

// Each virtual user follows its own rotation chain of sso-oidc refresh tokens (CreateTokenWithIAM
// or CreateToken: both answer `refreshToken` and `accessToken`), always sending the token it
// received last.
class RefreshChainScenario : public Scenario {
 public:
  std::string OnResponse(int user, const HttpResponse& r) override {
    if (r.status != 200) return ErrorType(r);
    std::string next = Member(r.body, "refreshToken");
    if (next.empty() || Member(r.body, "accessToken").empty()) return "MalformedResponse";
    chains_[static_cast<size_t>(user)] = std::move(next);
    return "";
  }

 protected:
  std::vector<std::string> chains_;  // each user's current refresh token
};

// refresh: each virtual user follows its own rotation chain.
class RefreshScenario final : public RefreshChainScenario {
 public:
  explicit RefreshScenario(const Options& o) : o_(o), client_(o) {}
  bool Setup(int users, int64_t, std::string& error) override {
    std::vector<std::string> bodies;
    if (!client_.RedeemMany(users, bodies, error)) return false;
    for (const std::string& b : bodies) chains_.push_back(Member(b, "refreshToken"));
    return true;
  }
  std::string NextRequest(int user) override {
    json::object body{{"clientId", o_.application_arn},
                      {"grantType", "refresh_token"},
                      {"refreshToken", chains_[static_cast<size_t>(user)]}};
    // Downscoping on refresh (e.g. "aws" alone: no ID token to sign).
    if (!o_.scope.empty()) body["scope"] = Words(o_.scope);
    return client_.CreateToken(body);
  }

 private:
  const Options& o_;
  TesseraClient client_;
};

// Hands out prepared single-use material (codes, assertions) across users.
class Material {
 public:
  void Add(std::string item) { items_.push_back(std::move(item)); }
  size_t size() const { return items_.size(); }
  const std::string* Take() {
    const size_t i = next_.fetch_add(1);
    return i < items_.size() ? &items_[i] : nullptr;
  }

 private:
  std::vector<std::string> items_;
  std::atomic<size_t> next_{0};
};

// Scenarios whose requests are all prepared by Setup (single-use codes and assertions): each
// request is taken once, by whichever user is free.
class PreparedRequestsScenario : public Scenario {
 public:
  std::string NextRequest(int) override {
    const std::string* r = material_.Take();
    return r != nullptr ? *r : "";
  }
  std::string OnResponse(int, const HttpResponse& r) override {
    if (r.status != 200) return ErrorType(r);
    return Member(r.body, "accessToken").empty() ? "MalformedResponse" : "";
  }

 protected:
  Material material_;
};

// code: redeems codes collected beforehand from /authorize.
class CodeScenario final : public PreparedRequestsScenario {
 public:
  explicit CodeScenario(const Options& o) : client_(o) {}
  bool Setup(int, int64_t planned, std::string& error) override {
    std::vector<std::string> codes;
    if (!client_.CollectCodes(planned, codes, error)) return false;
    for (std::string& c : codes) material_.Add(client_.RedeemRequest(c));
    return true;
  }

 private:
  TesseraClient client_;
};

// exchange: app A's access tokens exchanged for tokens of the target application.
class ExchangeScenario final : public Scenario {
 public:
  explicit ExchangeScenario(const Options& o) : o_(o), client_(o) {}
  bool Setup(int users, int64_t, std::string& error) override {
    std::vector<std::string> bodies;
    if (!client_.RedeemMany(users, bodies, error)) return false;
    for (const std::string& b : bodies) subjects_.push_back(Member(b, "accessToken"));
    return true;
  }
  std::string NextRequest(int user) override {
    return client_.CreateToken({{"clientId", o_.exchange_target_arn},
                                {"grantType", kTokenExchange},
                                {"subjectToken", subjects_[static_cast<size_t>(user)]},
                                {"subjectTokenType", kAccessTokenType}});
  }
  std::string OnResponse(int, const HttpResponse& r) override {
    if (r.status != 200) return ErrorType(r);
    return Member(r.body, "accessToken").empty() ? "MalformedResponse" : "";
  }

 private:
  const Options& o_;
  TesseraClient client_;
  std::vector<std::string> subjects_;
};

// An RS256 key of the generator's own OpenID provider.
class RsaIssuerKey {
 public:
  RsaIssuerKey() : key_(EVP_RSA_gen(2048)), kid_(ts::crypto::RandomToken(8)) {}
  ~RsaIssuerKey() { EVP_PKEY_free(key_); }
  bool ok() const { return key_ != nullptr; }

  std::string Jwks() const {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key_, OSSL_PKEY_PARAM_RSA_E, &e);
    auto b64 = [](const BIGNUM* bn) {
      std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
      BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
      return ts::crypto::Base64UrlEncode(bytes);
    };
    json::object jwk{{"kty", "RSA"},   {"kid", kid_}, {"use", "sig"},
                     {"alg", "RS256"}, {"n", b64(n)}, {"e", b64(e)}};
    BN_free(n);
    BN_free(e);
    return json::serialize(json::object{{"keys", json::array{jwk}}});
  }

  std::string Sign(const json::object& claims) const {
    const std::string input = ts::crypto::Base64UrlEncode(json::serialize(
                                  json::object{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid_}})) +
                              "." + ts::crypto::Base64UrlEncode(json::serialize(claims));
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    std::string sig;
    if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_) == 1 &&
        EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1) {
      sig.resize(len);
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size());
      sig.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    return input + "." + ts::crypto::Base64UrlEncode(sig);
  }

 private:
  EVP_PKEY* key_;
  std::string kid_;
};

// jwt: assertions from the generator's own issuer (discovery + JWKS served on loopback), each
// with its own jti (Tessera refuses replays), minted before the run: RS256 signing costs the
// generator more than the verification costs the server.
class JwtScenario final : public PreparedRequestsScenario {
 public:
  explicit JwtScenario(const Options& o) : o_(o), client_(o) {}
  bool Setup(int, int64_t planned, std::string& error) override {
    if (!key_.ok()) return Fail(error, "cannot generate an RSA key");
    const std::string issuer = "http://127.0.0.1:" + std::to_string(o_.issuer_port);
    const std::string discovery = json::serialize(
        json::object{{"issuer", issuer},
                     {"jwks_uri", issuer + "/jwks"},
                     {"id_token_signing_alg_values_supported", json::array{"RS256"}}});
    if (!issuer_server_.Start(
            o_.issuer_port,
            {{"/.well-known/openid-configuration", discovery}, {"/jwks", key_.Jwks()}}, error)) {
      return false;
    }
    // Minted on every core before the run starts (RS256 signing is the slow side of this grant).
    const int64_t now = Now();
    std::vector<std::string> requests(static_cast<size_t>(planned));
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> minters;
    for (unsigned t = 0; t < threads; ++t) {
      minters.emplace_back([&, t] {
        for (size_t i = t; i < requests.size(); i += threads) {
          const std::string assertion = key_.Sign({{"iss", issuer},
                                                   {"sub", "loadgen-user"},
                                                   {"aud", o_.jwt_audience},
                                                   {"email", o_.jwt_email},
                                                   {"iat", now},
                                                   {"exp", now + 1800},
                                                   {"jti", ts::crypto::RandomToken(16)}});
          requests[i] = client_.CreateToken({{"clientId", o_.application_arn},
                                             {"grantType", kJwtBearer},
                                             {"assertion", assertion}});
        }
      });
    }
    for (auto& m : minters) m.join();
    for (std::string& r : requests) material_.Add(std::move(r));
    return true;
  }

 private:
  const Options& o_;
  TesseraClient client_;
  RsaIssuerKey key_;
  StaticServer issuer_server_;
};

// oauth-refresh: the peer's standard token endpoint, rotating refresh tokens from its seed file.
class OAuthRefreshScenario final : public Scenario {
 public:
  explicit OAuthRefreshScenario(const Options& o) : o_(o) {}
  bool Setup(int users, int64_t, std::string& error) override {
    std::ifstream in(o_.seed_file);
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    json::value seed = json::parse(text.str(), ec);
    if (ec || !seed.is_object()) {
      error = "cannot read the seed file " + o_.seed_file;
      return false;
    }
    const json::object& s = seed.as_object();
    const std::string url(s.at("token_url").as_string());
    const size_t path_at = url.find('/', url.find("//") + 2);
    path_ = url.substr(path_at);
    host_ = url.substr(url.find("//") + 2, path_at - url.find("//") - 2);
    auth_ = "Basic " + ts::crypto::Base64Encode(std::string(s.at("client_id").as_string()) + ":" +
                                                std::string(s.at("client_secret").as_string()));
    if (const json::value* extra = s.if_contains("extra_params"); extra && extra->is_string()) {
      extra_ = std::string(extra->as_string());
    }
    for (const json::value& t : s.at("refresh_tokens").as_array()) {
      chains_.emplace_back(t.as_string());
    }
    if (static_cast<int>(chains_.size()) < users) {
      error = "the seed file has " + std::to_string(chains_.size()) + " refresh tokens, need " +
              std::to_string(users);
      return false;
    }
    return true;
  }
  std::string NextRequest(int user) override {
    std::string body =
        "grant_type=refresh_token&refresh_token=" + FormEncode(chains_[static_cast<size_t>(user)]);
    if (!extra_.empty()) body += "&" + extra_;
    return "POST " + path_ + " HTTP/1.1\r\nhost: " + host_ + "\r\nauthorization: " + auth_ +
           "\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  std::string OnResponse(int user, const HttpResponse& r) override {
    if (r.status != 200) return ErrorType(r);
    std::string next = Member(r.body, "refresh_token");
    if (next.empty() || Member(r.body, "access_token").empty()) return "MalformedResponse";
    chains_[static_cast<size_t>(user)] = std::move(next);
    return "";
  }

 private:
  const Options& o_;
  std::string path_, host_, auth_, extra_;
  std::vector<std::string> chains_;
};

// client-refresh: CreateToken's refresh_token grant for a client registered as `aws sso login`
// registers itself; each user follows its own rotation chain. Setup registers the client, signs
// in at /authorize as the CLI's browser flow does and redeems one code per user with CreateToken.
class ClientRefreshScenario final : public RefreshChainScenario {
 public:
  explicit ClientRefreshScenario(const Options& o) : o_(o), client_(o) {}
  bool Setup(int users, int64_t, std::string& error) override {
    const std::string scopes = o_.scope.empty() ? "sso:account:access" : o_.scope;
    if (!client_.Register({{"grantTypes", json::array{"authorization_code", "refresh_token"}},
                           {"redirectUris", json::array{"http://127.0.0.1/oauth/callback"}},
                           {"scopes", Words(scopes)}},
                          error)) {
      return false;
    }
    const std::string redirect = "http://127.0.0.1:9/oauth/callback";
    client_.AuthorizeAsClient(redirect, scopes);
    std::vector<std::string> codes;
    if (!client_.CollectCodes(users, codes, error)) return false;
    Connection c(o_.host, o_.port);
    for (const std::string& code : codes) {
      HttpResponse r;
      if (!c.RoundTrip(client_.ClientCreateToken({{"grantType", "authorization_code"},
                                                  {"code", code},
                                                  {"redirectUri", redirect},
                                                  {"codeVerifier", kVerifier}}),
                       r, error)) {
        return false;
      }
      if (r.status != 200) return Fail(error, "CreateToken: " + ErrorType(r) + " " + r.body);
      chains_.push_back(Member(r.body, "refreshToken"));
      if (chains_.back().empty()) return Fail(error, "CreateToken gave no refreshToken");
    }
    return true;
  }
  std::string NextRequest(int user) override {
    return client_.ClientCreateToken(
        {{"grantType", "refresh_token"}, {"refreshToken", chains_[static_cast<size_t>(user)]}});
  }

 private:
  const Options& o_;
  TesseraClient client_;
};

// device-poll: the device flow's polling while the user has not approved yet, as the AWS CLI
// polls: CreateToken with the device_code grant, answered AuthorizationPendingException (the
// expected answer, counted as a success; anything else is an error). Setup registers a client and
// starts --device-codes authorizations; the requests go round all of them in turn, whichever
// connection sends them (the open loop hands most requests to the connection idle last), so a
// code is polled no faster than its interval (1 s) while the rate stays below their number a
// second.
class DevicePollScenario final : public Scenario {
 public:
  explicit DevicePollScenario(const Options& o) : o_(o), client_(o) {}
  bool Setup(int users, int64_t, std::string& error) override {
    if (o_.start_url.empty()) return Fail(error, "device-poll needs --start-url");
    if (!client_.Register({}, error)) return false;
    const int64_t total = std::max<int64_t>(users, o_.device_codes);
    std::vector<std::string> codes(static_cast<size_t>(total));
    std::mutex mu;
    std::string first_error;
    std::vector<std::thread> starters;
    constexpr int kThreads = 16;  // so the starts share group commits
    for (int t = 0; t < kThreads; ++t) {
      starters.emplace_back([&, t] {
        Connection c(o_.host, o_.port);
        HttpResponse r;
        std::string err;
        for (int64_t i = t; i < total; i += kThreads) {
          const std::string request =
              client_.Unsigned("/device_authorization", {{"clientId", client_.client_id()},
                                                         {"clientSecret", client_.client_secret()},
                                                         {"startUrl", o_.start_url}});
          if (!c.RoundTrip(request, r, err) || r.status != 200 ||
              Member(r.body, "deviceCode").empty()) {
            std::lock_guard<std::mutex> lock(mu);
            if (first_error.empty()) {
              first_error =
                  err.empty() ? "StartDeviceAuthorization: " + ErrorType(r) + " " + r.body : err;
            }
            return;
          }
          codes[static_cast<size_t>(i)] = Member(r.body, "deviceCode");
        }
      });
    }
    for (auto& s : starters) s.join();
    if (!first_error.empty()) return Fail(error, first_error);
    for (const std::string& code : codes) {
      polls_.push_back(client_.ClientCreateToken(
          {{"grantType", "urn:ietf:params:oauth:grant-type:device_code"}, {"deviceCode", code}}));
    }
    return true;
  }
  std::string NextRequest(int) override { return polls_[next_.fetch_add(1) % polls_.size()]; }
  std::string OnResponse(int, const HttpResponse& r) override {
    const std::string type = ErrorType(r);
    return type == "AuthorizationPendingException" ? "" : type;
  }

 private:
  const Options& o_;
  TesseraClient client_;
  std::vector<std::string> polls_;  // one prepared poll request per device code
  std::atomic<size_t> next_{0};
};

// The access portal's material (get-role-credentials, list-account-roles): a user in
// kPortalGroups groups that hold kPortalAssignments account assignments, kPortalPermissionSets
// permission sets on kPortalAccounts accounts (ids 200000000000 + i, declared beforehand with
// `tessera account add`: Tessera has no Organizations API). Made through the admin plane with
// the root credential, once per database: a later run finds the permission sets and reuses them.
constexpr int kPortalAccounts = 10;
constexpr int kPortalPermissionSets = 20;
constexpr int kPortalGroups = 50;
constexpr int kPortalAssignments = kPortalAccounts * kPortalPermissionSets;  // 200

std::string PortalAccountId(int i) { return std::to_string(200000000000LL + i); }
std::string PortalPermissionSetName(int i) {
  return "bench-ps-" + std::string(i < 10 ? "0" : "") + std::to_string(i);
}

class PortalScenario : public Scenario {
 public:
  explicit PortalScenario(const Options& o) : o_(o), client_(o) {}

  bool Setup(int users, int64_t, std::string& error) override {
    if (!EnsureRoles(error)) return false;
    // The user's access tokens as `aws sso login` gets them: one sign-in, one token per user.
    if (!client_.Register({{"grantTypes", json::array{"authorization_code", "refresh_token"}},
                           {"redirectUris", json::array{"http://127.0.0.1/oauth/callback"}},
                           {"scopes", json::array{"sso:account:access"}}},
                          error)) {
      return false;
    }
    const std::string redirect = "http://127.0.0.1:9/oauth/callback";
    client_.AuthorizeAsClient(redirect, "sso:account:access");
    std::vector<std::string> codes;
    if (!client_.CollectCodes(users, codes, error)) return false;
    Connection c(o_.host, o_.port);
    for (const std::string& code : codes) {
      HttpResponse r;
      if (!c.RoundTrip(client_.ClientCreateToken({{"grantType", "authorization_code"},
                                                  {"code", code},
                                                  {"redirectUri", redirect},
                                                  {"codeVerifier", kVerifier}}),
                       r, error)) {
        return false;
      }
      if (r.status != 200) return Fail(error, "CreateToken: " + ErrorType(r) + " " + r.body);
      tokens_.push_back(Member(r.body, "accessToken"));
      if (tokens_.back().empty()) return Fail(error, "CreateToken gave no accessToken");
    }
    // Check one request before the run: a setup problem is clearer here than as errors.
    HttpResponse r;
    if (!c.RoundTrip(NextRequest(0), r, error)) return false;
    const std::string failed = OnResponse(0, r);
    if (!failed.empty()) return Fail(error, "first portal request: " + failed + " " + r.body);
    return true;
  }

  std::string OnResponse(int, const HttpResponse& r) override {
    if (r.status != 200) return ErrorType(r);
    return r.body.find(expected_member_) == std::string::npos ? "MalformedResponse" : "";
  }

 protected:
  // A GET of the portal API with user `user`'s token.
  std::string Get(int user, const std::string& target) const {
    return "GET " + target + " HTTP/1.1\r\nhost: " + o_.host + ":" + std::to_string(o_.port) +
           "\r\nx-amz-sso_bearer_token: " + tokens_[static_cast<size_t>(user)] + "\r\n\r\n";
  }
  std::string expected_member_;

 private:
  // One admin-plane call; its answer's body, or false with `error`.
  bool Admin(Connection& c, std::string_view target, std::string_view signing_name,
             const json::object& body, json::object& out, std::string& error) {
    HttpResponse r;
    if (!c.RoundTrip(client_.AdminCall(target, signing_name, body), r, error)) return false;
    if (r.status != 200)
      return Fail(error, std::string(target) + ": " + ErrorType(r) + " " + r.body);
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return Fail(error, std::string(target) + ": not JSON: " + r.body);
    out = std::move(v.as_object());
    return true;
  }

  bool EnsureRoles(std::string& error) {
    Connection c(o_.host, o_.port);
    json::object out;
    if (!Admin(c, "SWBExternalService.ListInstances", "sso", {}, out, error)) return false;
    const json::object& instance = out.at("Instances").as_array().at(0).as_object();
    const std::string instance_arn(instance.at("InstanceArn").as_string());
    const std::string store(instance.at("IdentityStoreId").as_string());
    // Made by an earlier run when the first account has roles already.
    if (!Admin(c, "SWBExternalService.ListPermissionSetsProvisionedToAccount", "sso",
               {{"InstanceArn", instance_arn}, {"AccountId", PortalAccountId(0)}}, out, error)) {
      return false;
    }
    if (!out.at("PermissionSets").as_array().empty()) return true;
    if (!Admin(c, "AWSIdentityStore.GetUserId", "identitystore",
               {{"IdentityStoreId", store},
                {"AlternateIdentifier",
                 {{"UniqueAttribute",
                   {{"AttributePath", "userName"}, {"AttributeValue", o_.username}}}}}},
               out, error)) {
      return false;
    }
    const std::string user_id(out.at("UserId").as_string());
    std::vector<std::string> groups;
    for (int g = 0; g < kPortalGroups; ++g) {
      if (!Admin(c, "AWSIdentityStore.CreateGroup", "identitystore",
                 {{"IdentityStoreId", store}, {"DisplayName", "bench-group-" + std::to_string(g)}},
                 out, error)) {
        return false;
      }
      groups.emplace_back(out.at("GroupId").as_string());
      if (!Admin(c, "AWSIdentityStore.CreateGroupMembership", "identitystore",
                 {{"IdentityStoreId", store},
                  {"GroupId", groups.back()},
                  {"MemberId", {{"UserId", user_id}}}},
                 out, error)) {
        return false;
      }
    }
    std::vector<std::string> permission_sets;
    for (int p = 0; p < kPortalPermissionSets; ++p) {
      if (!Admin(c, "SWBExternalService.CreatePermissionSet", "sso",
                 {{"InstanceArn", instance_arn},
                  {"Name", PortalPermissionSetName(p)},
                  {"SessionDuration", "PT1H"}},
                 out, error)) {
        return false;
      }
      permission_sets.emplace_back(
          out.at("PermissionSet").as_object().at("PermissionSetArn").as_string());
    }
    for (int i = 0; i < kPortalAssignments; ++i) {
      if (!Admin(c, "SWBExternalService.CreateAccountAssignment", "sso",
                 {{"InstanceArn", instance_arn},
                  {"TargetId", PortalAccountId(i / kPortalPermissionSets)},
                  {"TargetType", "AWS_ACCOUNT"},
                  {"PermissionSetArn", permission_sets[i % kPortalPermissionSets]},
                  {"PrincipalType", "GROUP"},
                  {"PrincipalId", groups[i % kPortalGroups]}},
                 out, error)) {
        return false;
      }
    }
    return true;
  }

  const Options& o_;
  TesseraClient client_;
  std::vector<std::string> tokens_;  // each user's access token
};

// get-role-credentials: GetRoleCredentials, each user going round the roles of the first account.
class GetRoleCredentialsScenario final : public PortalScenario {
 public:
  explicit GetRoleCredentialsScenario(const Options& o) : PortalScenario(o) {
    expected_member_ = "\"sessionToken\"";
  }
  std::string NextRequest(int user) override {
    const int p = static_cast<int>(next_.fetch_add(1) % kPortalPermissionSets);
    return Get(user, "/federation/credentials?role_name=" + PortalPermissionSetName(p) +
                         "&account_id=" + PortalAccountId(0));
  }

 private:
  std::atomic<uint64_t> next_{0};
};

// list-account-roles: ListAccountRoles of one account (20 roles, held through the groups).
class ListAccountRolesScenario final : public PortalScenario {
 public:
  explicit ListAccountRolesScenario(const Options& o) : PortalScenario(o) {
    expected_member_ = "\"roleName\"";
  }
  std::string NextRequest(int user) override {
    const int a = static_cast<int>(next_.fetch_add(1) % kPortalAccounts);
    return Get(user, "/assignment/roles?account_id=" + PortalAccountId(a));
  }

 private:
  std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Scenario> MakeScenario(const Options& o, std::string& error) {
  if (o.scenario == "refresh") return std::make_unique<RefreshScenario>(o);
  if (o.scenario == "code") return std::make_unique<CodeScenario>(o);
  if (o.scenario == "exchange") return std::make_unique<ExchangeScenario>(o);
  if (o.scenario == "jwt") return std::make_unique<JwtScenario>(o);
  if (o.scenario == "oauth-refresh") return std::make_unique<OAuthRefreshScenario>(o);
  if (o.scenario == "client-refresh") return std::make_unique<ClientRefreshScenario>(o);
  if (o.scenario == "device-poll") return std::make_unique<DevicePollScenario>(o);
  if (o.scenario == "get-role-credentials") return std::make_unique<GetRoleCredentialsScenario>(o);
  if (o.scenario == "list-account-roles") return std::make_unique<ListAccountRolesScenario>(o);
  error = "unknown scenario '" + o.scenario +
          "' (refresh, code, jwt, exchange, oauth-refresh, client-refresh, device-poll, "
          "get-role-credentials, list-account-roles)";
  return nullptr;
}

}  // namespace loadgen
