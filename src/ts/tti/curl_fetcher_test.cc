#include "ts/tti/curl_fetcher.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "test/common/status_matchers.h"

namespace ts::tti {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

TEST(ClassifyAddress, Ranges) {
  EXPECT_EQ(ClassifyAddress("8.8.8.8"), AddressClass::kPublic);
  EXPECT_EQ(ClassifyAddress("2606:4700::1111"), AddressClass::kPublic);
  EXPECT_EQ(ClassifyAddress("127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(ClassifyAddress("127.9.9.9"), AddressClass::kLoopback);
  EXPECT_EQ(ClassifyAddress("::1"), AddressClass::kLoopback);
  EXPECT_EQ(ClassifyAddress("10.1.2.3"), AddressClass::kPrivate);
  EXPECT_EQ(ClassifyAddress("172.31.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassifyAddress("172.32.0.1"), AddressClass::kPublic);
  EXPECT_EQ(ClassifyAddress("192.168.1.1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassifyAddress("fd12::1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassifyAddress("169.254.169.254"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("169.254.1.1"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("fe80::1"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("fd00:ec2::254"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("100.100.100.200"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("::ffff:169.254.169.254"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("::ffff:127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(ClassifyAddress("0.0.0.0"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("::"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("224.0.0.1"), AddressClass::kForbidden);
  EXPECT_EQ(ClassifyAddress("not-an-ip"), AddressClass::kForbidden);
}

TEST(CheckUrl, HttpsOnlyExceptLoopbackInDevelopment) {
  CurlFetcherOptions strict;
  CurlFetcherOptions dev;
  dev.allow_insecure_loopback = true;
  EXPECT_THAT(CheckUrl("https://idp.example/x", strict), IsOk());
  EXPECT_THAT(CheckUrl("http://idp.example/x", strict),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must use https")));
  EXPECT_THAT(CheckUrl("http://idp.example/x", dev),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must use https")));
  EXPECT_THAT(CheckUrl("http://127.0.0.1:8080/x", strict),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--allow-insecure-loopback")));
  EXPECT_THAT(CheckUrl("http://127.0.0.1:8080/x", dev), IsOk());
  EXPECT_THAT(CheckUrl("http://localhost:8080/x", dev), IsOk());
  EXPECT_THAT(CheckUrl("http://[::1]:8080/x", dev), IsOk());
  EXPECT_THAT(CheckUrl("ftp://idp.example/x", dev),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must use https")));
  EXPECT_THAT(CheckUrl("https://user:pw@idp.example/x", strict),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("user info")));
  EXPECT_THAT(CheckUrl("/relative", strict),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an absolute URL")));
}

TEST(CurlFetcher, RefusesMetadataAndLoopbackAddressesBeforeConnecting) {
  auto fetcher = MakeCurlFetcher({});
  EXPECT_THAT(fetcher->Get("https://169.254.169.254/latest/meta-data/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("non-public address")));
  EXPECT_THAT(fetcher->Get("https://127.0.0.1/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("non-public address")));
  EXPECT_THAT(fetcher->Get("https://10.0.0.1/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("non-public address")));
  EXPECT_THAT(fetcher->Get("https://[fe80::1]/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("non-public address")));
}

// A one-connection-at-a-time HTTP server on 127.0.0.1 answering every request with `respond`.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<std::string()> respond) : respond_(std::move(respond)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        (void)::recv(c, buf, sizeof buf, 0);
        const std::string out = respond_();
        (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~LoopbackServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  std::function<std::string()> respond_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::string Response(const std::string& status, const std::string& headers,
                     const std::string& body) {
  return "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n" + headers + "\r\n" + body;
}

CurlFetcherOptions Dev() {
  CurlFetcherOptions o;
  o.allow_insecure_loopback = true;
  o.timeout_ms = 2000;
  o.max_bytes = 1000;
  return o;
}

TEST(CurlFetcher, FetchesFromLoopbackInDevelopmentWithCacheControl) {
  LoopbackServer server(
      [] { return Response("200 OK", "Cache-Control: public, max-age=120\r\n", "{\"a\":1}"); });
  auto r = MakeCurlFetcher(Dev())->Get(server.url("/jwks"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"a\":1}");
  EXPECT_EQ(r->max_age, 120);
}

TEST(CurlFetcher, NoStoreMeansZeroAndAbsentMeansUnknown) {
  LoopbackServer no_store([] { return Response("200 OK", "Cache-Control: no-store\r\n", "x"); });
  LoopbackServer plain([] { return Response("200 OK", "", "x"); });
  auto fetcher = MakeCurlFetcher(Dev());
  EXPECT_EQ(fetcher->Get(no_store.url())->max_age, 0);
  EXPECT_EQ(fetcher->Get(plain.url())->max_age, -1);
}

TEST(CurlFetcher, RedirectsAreNotFollowed) {
  LoopbackServer server([] {
    return Response("302 Found", "Location: http://169.254.169.254/latest/meta-data/\r\n", "");
  });
  auto r = MakeCurlFetcher(Dev())->Get(server.url());
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 302);
}

TEST(CurlFetcher, ResponsesOverTheSizeLimitAreRefused) {
  LoopbackServer server([] { return Response("200 OK", "", std::string(5000, 'x')); });
  EXPECT_THAT(MakeCurlFetcher(Dev())->Get(server.url()),
              StatusIs(StatusCode::kUnavailable, HasSubstr("larger than 1000 bytes")));
}

TEST(CurlFetcher, SlowServersTimeOut) {
  LoopbackServer server([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return Response("200 OK", "", "late");
  });
  CurlFetcherOptions o = Dev();
  o.timeout_ms = 200;
  EXPECT_THAT(MakeCurlFetcher(o)->Get(server.url()),
              StatusIs(StatusCode::kUnavailable, HasSubstr("timed out after 200 ms")));
}

TEST(CurlFetcher, UnreachableServerIsUnavailable) {
  int port = 0;
  {
    LoopbackServer gone([] { return std::string(); });
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  EXPECT_THAT(MakeCurlFetcher(Dev())->Get("http://127.0.0.1:" + std::to_string(port) + "/"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot fetch")));
}

}  // namespace
}  // namespace ts::tti
