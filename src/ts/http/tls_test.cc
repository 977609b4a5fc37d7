// File: tls_test.cc
// The TLS context builder (bad PEM, key mismatch, chain order, encrypted keys) and the server
// over TLS with a real OpenSSL client: the served certificate before and after a reload, a
// refused reload keeping the old one, TLS 1.1 refused, plain HTTP on the TLS port. Certificates
// are made at test time (a CA and leaves signed by it).
#include "ts/http/tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "test/common/loopback_socket.h"
#include "test/common/status_matchers.h"
#include "ts/http/server.h"

namespace ts::http {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Key NewKey() { return Key(EVP_EC_gen("P-256")); }

// A certificate for `cn` with `key`, signed by `issuer`/`issuer_key` (self-signed when null).
Cert NewCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, long serial,
             bool ca) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add(NID_subject_key_identifier, "hash");
  if (ca) {
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add(NID_authority_key_identifier, "keyid");
    add(NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  }
  X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return cert;
}

std::string Pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string Pem(EVP_PKEY* key, bool encrypted = false) {
  BIO* bio = BIO_new(BIO_s_mem());
  static char kPass[] = "secret";
  PEM_write_bio_PrivateKey(bio, key, encrypted ? EVP_aes_256_cbc() : nullptr,
                           encrypted ? reinterpret_cast<unsigned char*>(kPass) : nullptr,
                           encrypted ? 6 : 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string Sha256Hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  std::string out;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof(buf), "%02X", md[i]);
    out += buf;
  }
  return out;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ts-tls-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ca_key_ = NewKey();
    ca_ = NewCert("Tessera Test CA", ca_key_.get(), nullptr, nullptr, 1, true);
    leaf_key_ = NewKey();
    leaf_ = NewCert("localhost", leaf_key_.get(), ca_.get(), ca_key_.get(), 100, false);
    Write("ca.pem", Pem(ca_.get()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    const std::string path = (dir_ / name).string();
    // A new file each time (rename over the old one), as certbot and Kubernetes do.
    const std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << content;
    }
    chmod(tmp.c_str(), mode);
    std::rename(tmp.c_str(), path.c_str());
    return path;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes cert.pem (leaf + CA) and key.pem for a new leaf with `serial`; returns its
  // fingerprint.
  std::string WriteNewLeaf(long serial) {
    Key key = NewKey();
    Cert cert = NewCert("localhost", key.get(), ca_.get(), ca_key_.get(), serial, false);
    Write("cert.pem", Pem(cert.get()) + Pem(ca_.get()));
    Write("key.pem", Pem(key.get()));
    return Sha256Hex(cert.get());
  }

  std::filesystem::path dir_;
  Key ca_key_, leaf_key_;
  Cert ca_, leaf_;
};

TEST_F(TlsTest, LoadsLeafThenChainAndReportsTheLeafFingerprint) {
  auto cert = Write("cert.pem", Pem(leaf_.get()) + Pem(ca_.get()));
  auto key = Write("key.pem", Pem(leaf_key_.get()));
  std::vector<std::string> warnings;
  auto tls = TlsContext::Load(cert, key, &warnings);
  ASSERT_THAT(tls, IsOk());
  EXPECT_EQ((*tls)->Fingerprint(), Sha256Hex(leaf_.get()));
  EXPECT_THAT((*tls)->Describe(), HasSubstr("CN=localhost"));
  EXPECT_NE((*tls)->Current(), nullptr);
  EXPECT_TRUE(warnings.empty());
}

TEST_F(TlsTest, RefusesUnusableFilesNamingTheProblem) {
  auto good_cert = Write("cert.pem", Pem(leaf_.get()) + Pem(ca_.get()));
  auto good_key = Write("key.pem", Pem(leaf_key_.get()));

  EXPECT_THAT(TlsContext::Load(Path("missing.pem"), good_key),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("cannot read the certificate")));
  EXPECT_THAT(TlsContext::Load(good_cert, Path("missing.pem")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("cannot read the key file")));
  auto garbage = Write("garbage.pem", "not a certificate\n");
  EXPECT_THAT(TlsContext::Load(garbage, good_key),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no readable PEM certificate")));
  auto truncated = Pem(leaf_.get());
  truncated.resize(truncated.size() / 2);
  auto half = Write("half.pem", truncated);
  EXPECT_THAT(TlsContext::Load(half, good_key),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no readable PEM certificate")));
  // A key given as the certificate, and a certificate given as the key.
  EXPECT_THAT(TlsContext::Load(good_key, good_key),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no readable PEM certificate")));
  EXPECT_THAT(TlsContext::Load(good_cert, good_cert),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no readable PEM private key")));

  Key other = NewKey();
  auto other_key = Write("other.pem", Pem(other.get()));
  EXPECT_THAT(TlsContext::Load(good_cert, other_key),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("does not match the certificate")));

  auto encrypted = Write("enc.pem", Pem(leaf_key_.get(), /*encrypted=*/true));
  EXPECT_THAT(TlsContext::Load(good_cert, encrypted),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("encrypted key")));
}

TEST_F(TlsTest, RefusesAChainInTheWrongOrder) {
  auto key = Write("key.pem", Pem(leaf_key_.get()));
  // The CA first: the key matches the second certificate.
  auto reversed = Write("reversed.pem", Pem(ca_.get()) + Pem(leaf_.get()));
  EXPECT_THAT(TlsContext::Load(reversed, key),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("matches certificate 2 of '" + reversed + "', not the first")));
  // An intermediate that did not issue the leaf.
  Key stranger_key = NewKey();
  Cert stranger = NewCert("Stranger CA", stranger_key.get(), nullptr, nullptr, 7, true);
  auto wrong = Write("wrong.pem", Pem(leaf_.get()) + Pem(stranger.get()));
  EXPECT_THAT(TlsContext::Load(wrong, key),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("certificate 2 of '" + wrong +
                                                               "' (CN=Stranger CA) did not issue "
                                                               "certificate 1")));
}

TEST_F(TlsTest, WarnsAboutAKeyEveryUserCanRead) {
  auto cert = Write("cert.pem", Pem(leaf_.get()));
  auto key = Write("key.pem", Pem(leaf_key_.get()), 0644);
  std::vector<std::string> warnings;
  ASSERT_THAT(TlsContext::Load(cert, key, &warnings), IsOk());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("readable by every user"));
  // The warning names the file, never its content.
  EXPECT_THAT(warnings[0], ::testing::Not(HasSubstr("PRIVATE KEY")));
}

// A blocking TLS client on a loopback socket, trusting only the test CA.
class TlsClient {
 public:
  // `version`: 0 for TLS 1.2 to 1.3, else exactly that version (TLS1_1_VERSION...).
  TlsClient(uint16_t port, const std::string& ca_file, int version = 0) : socket_(port) {
    if (!socket_.connected()) return;
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (version != 0) {
      // Old protocols need the lowest security level even to be offered.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "ALL:@SECLEVEL=0");
      SSL_CTX_set_min_proto_version(ctx_, version);
      SSL_CTX_set_max_proto_version(ctx_, version);
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, socket_.fd());
    SSL_set1_host(ssl_, "localhost");
    connected_ = SSL_connect(ssl_) == 1;
    ERR_clear_error();
  }
  ~TlsClient() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  bool connected() const { return connected_; }

  std::string PeerFingerprint() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    std::string fp = Sha256Hex(cert);
    X509_free(cert);
    return fp;
  }

  // Sends a GET and returns the raw response (up to its body's end, by Content-Length).
  std::string Get(const std::string& path) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) <= 0) return "";
    std::string response;
    char buf[4096];
    for (;;) {
      const size_t end = response.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t cl = response.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) {
          const size_t length = std::stoul(response.substr(cl + 16));
          if (response.size() >= end + 4 + length) return response;
        }
      }
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) return response;
      response.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  ::ts::testing::LoopbackSocket socket_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

class TlsServerTest : public TlsTest {
 protected:
  std::unique_ptr<Server> StartServer(
      TlsContextPtr tls, std::chrono::seconds read_timeout = std::chrono::seconds(30)) {
    ServerOptions options;
    options.port = 0;
    options.threads = 2;
    options.read_timeout = read_timeout;
    options.tls = std::move(tls);
    auto server = Server::Start(std::move(options), [this](const Request& r) {
      saw_secure_ = r.secure;
      Response res;
      res.body = "hello over " + std::string(r.secure ? "tls" : "plain");
      return res;
    });
    EXPECT_THAT(server, IsOk());
    return server.ok() ? std::move(server).value() : nullptr;
  }
  std::atomic<bool> saw_secure_{false};
};

TEST_F(TlsServerTest, ServesHttpsWithTheLoadedChain) {
  const std::string fingerprint = WriteNewLeaf(200);
  auto tls = TlsContext::Load(Path("cert.pem"), Path("key.pem"));
  ASSERT_THAT(tls, IsOk());
  auto server = StartServer(*tls);
  ASSERT_NE(server, nullptr);
  TlsClient client(server->port(), Path("ca.pem"));
  ASSERT_TRUE(client.connected());
  EXPECT_EQ(client.PeerFingerprint(), fingerprint);
  EXPECT_THAT(client.Get("/"), HasSubstr("hello over tls"));
  EXPECT_TRUE(saw_secure_.load());
}

TEST_F(TlsServerTest, ReloadKeepsTheOldCertificateUntilTheNewFilesAreGood) {
  const std::string first = WriteNewLeaf(300);
  auto loaded = TlsContext::Load(Path("cert.pem"), Path("key.pem"));
  ASSERT_THAT(loaded, IsOk());
  TlsContextPtr tls = *loaded;
  auto server = StartServer(tls);
  ASSERT_NE(server, nullptr);
  TlsClient before(server->port(), Path("ca.pem"));
  ASSERT_TRUE(before.connected());
  EXPECT_EQ(before.PeerFingerprint(), first);

  // Nothing changed: nothing reloaded.
  EXPECT_THAT(tls->ReloadIfChanged(), IsOk());

  // A bad certificate (a new leaf whose key was not written yet: mismatched), then garbage.
  Key pending = NewKey();
  Cert next = NewCert("localhost", pending.get(), ca_.get(), ca_key_.get(), 301, false);
  Write("cert.pem", Pem(next.get()) + Pem(ca_.get()));
  EXPECT_THAT(tls->ReloadIfChanged(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("does not match")));
  // The failed attempt is not repeated until the files change again.
  EXPECT_THAT(tls->ReloadIfChanged(), IsOk());
  Write("cert.pem", "garbage");
  EXPECT_THAT(tls->Reload(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no readable PEM certificate")));
  EXPECT_EQ(tls->Fingerprint(), first);
  {
    TlsClient during(server->port(), Path("ca.pem"));
    ASSERT_TRUE(during.connected());
    EXPECT_EQ(during.PeerFingerprint(), first);
  }

  // Good files: new connections get the new certificate, the open one keeps serving.
  Write("cert.pem", Pem(next.get()) + Pem(ca_.get()));
  Write("key.pem", Pem(pending.get()));
  EXPECT_THAT(tls->ReloadIfChanged(), IsOk());
  EXPECT_EQ(tls->Fingerprint(), Sha256Hex(next.get()));
  TlsClient after(server->port(), Path("ca.pem"));
  ASSERT_TRUE(after.connected());
  EXPECT_EQ(after.PeerFingerprint(), Sha256Hex(next.get()));
  EXPECT_THAT(before.Get("/"), HasSubstr("hello over tls"));
  EXPECT_THAT(after.Get("/"), HasSubstr("hello over tls"));
}

TEST_F(TlsServerTest, TheWatcherPicksUpChangedFiles) {
  WriteNewLeaf(400);
  auto tls = TlsContext::Load(Path("cert.pem"), Path("key.pem"));
  ASSERT_THAT(tls, IsOk());
  (*tls)->StartWatching(std::chrono::milliseconds(50));
  const std::string second = WriteNewLeaf(401);
  for (int i = 0; i < 200 && (*tls)->Fingerprint() != second; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ((*tls)->Fingerprint(), second);
}

TEST_F(TlsServerTest, RefusesTls11) {
  WriteNewLeaf(500);
  auto tls = TlsContext::Load(Path("cert.pem"), Path("key.pem"));
  ASSERT_THAT(tls, IsOk());
  auto server = StartServer(*tls);
  ASSERT_NE(server, nullptr);
  TlsClient old(server->port(), Path("ca.pem"), TLS1_1_VERSION);
  EXPECT_FALSE(old.connected());
  // The same weakened client may speak TLS 1.2: the refusal is the protocol version's.
  TlsClient tls12(server->port(), Path("ca.pem"), TLS1_2_VERSION);
  EXPECT_TRUE(tls12.connected());
}

TEST_F(TlsServerTest, PlainHttpOnTheTlsPortGetsA400AndIsClosed) {
  WriteNewLeaf(600);
  auto tls = TlsContext::Load(Path("cert.pem"), Path("key.pem"));
  ASSERT_THAT(tls, IsOk());
  auto server = StartServer(*tls);
  ASSERT_NE(server, nullptr);
  ::ts::testing::LoopbackSocket connection(server->port());
  ASSERT_TRUE(connection.connected());
  connection.Send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  bool closed = false;
  const std::string response = connection.ReceiveAll(&closed);
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(response, HasSubstr("This port speaks HTTPS"));
  EXPECT_TRUE(closed);  // by the server, not timed out
}

TEST_F(TlsServerTest, AStalledHandshakeIsClosedAfterTheReadTimeout) {
  WriteNewLeaf(700);
  auto tls = TlsContext::Load(Path("cert.pem"), Path("key.pem"));
  ASSERT_THAT(tls, IsOk());
  auto server = StartServer(*tls, std::chrono::seconds(1));
  ASSERT_NE(server, nullptr);
  ::ts::testing::LoopbackSocket connection(server->port());
  ASSERT_TRUE(connection.connected());
  const auto start = std::chrono::steady_clock::now();
  char buf[16];
  EXPECT_LE(connection.Receive(buf, sizeof(buf)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace ts::http
