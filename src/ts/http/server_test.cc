#include "ts/http/server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"

namespace ts::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

struct RawResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // First value of a header, case-insensitive.
  std::optional<std::string> Get(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return v;
    }
    return std::nullopt;
  }
  int Count(std::string_view name) const {
    int count = 0;
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) ++count;
    }
    return count;
  }
};

// A tiny blocking HTTP/1.1 client on POSIX sockets. Every receive gives up after 10 s, a
// generous bound that only matters when the server misbehaves.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{};
    tv.tv_sec = 10;
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  void Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed: the reads that follow report it
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Reads one response (skipping 1xx unless `keep_interim`); nullopt if the connection closed
  // or timed out first.
  std::optional<RawResponse> Read(bool head = false, bool keep_interim = false) {
    for (;;) {
      size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill()) return std::nullopt;
      }
      RawResponse r;
      std::string head_text = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      size_t line_end = head_text.find("\r\n");
      std::string status_line = head_text.substr(0, line_end);
      if (status_line.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
      r.status = std::stoi(status_line.substr(9, 3));
      size_t pos = line_end == std::string::npos ? head_text.size() : line_end + 2;
      while (pos < head_text.size()) {
        size_t next = head_text.find("\r\n", pos);
        if (next == std::string::npos) next = head_text.size();
        std::string line = head_text.substr(pos, next - pos);
        size_t colon = line.find(':');
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        r.headers.emplace_back(line.substr(0, colon), value);
        pos = next + 2;
      }
      if (r.status < 200 && !keep_interim) continue;
      size_t length = 0;
      if (auto cl = r.Get("content-length"); cl && !head) length = std::stoul(*cl);
      while (buf_.size() < length) {
        if (!Fill()) return std::nullopt;
      }
      r.body = buf_.substr(0, length);
      buf_.erase(0, length);
      return r;
    }
  }

  // True once the server closes the connection (EOF or reset); false if it stays open for
  // 10 s. Bytes received meanwhile are ignored.
  bool WaitForClose() {
    char tmp[4096];
    for (;;) {
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  bool Fill() {
    char tmp[4096];
    ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

// Records every request the handler sees.
class Recorder {
 public:
  void Add(const Request& r) {
    std::lock_guard lock(mu_);
    requests_.push_back(r);
  }
  std::vector<Request> Get() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::vector<Request> requests_;
};

ServerOptions TestOptions() {
  ServerOptions o;
  o.port = 0;
  o.threads = 2;
  return o;
}

std::unique_ptr<Server> StartOrDie(ServerOptions options, Handler handler) {
  auto server = Server::Start(std::move(options), std::move(handler));
  EXPECT_THAT(server, IsOk());
  return server.ok() ? std::move(server).value() : nullptr;
}

// Echoes "<method> <target> <body>" and records the request.
Handler EchoHandler(Recorder* recorder) {
  return [recorder](const Request& r) {
    recorder->Add(r);
    Response res;
    res.status = r.method == "POST" ? 201 : 200;
    res.SetHeader("X-Reply", "yes");
    res.body = r.method + " " + r.target + " " + r.body;
    return res;
  };
}

TEST(FormatHttpDateTest, ProducesImfFixdate) {
  // The example of RFC 9110 §5.6.7.
  EXPECT_EQ(FormatHttpDate(Clock::TimePoint(std::chrono::seconds(784111777))),
            "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(FormatHttpDate(Clock::TimePoint(std::chrono::seconds(0))),
            "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(DefaultErrorResponseTest, IsJsonWithMessage) {
  Response r = DefaultErrorResponse(413, "too \"big\"");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, R"({"message":"too \"big\""})");
  EXPECT_THAT(r.FindHeader("content-type"), Optional(std::string_view("application/json")));
}

TEST(ServerTest, StartOnPortZeroReportsTheBoundPort) {
  auto server = StartOrDie(TestOptions(), [](const Request&) { return Response{}; });
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
}

TEST(ServerTest, StartWithoutHandlerFails) {
  EXPECT_THAT(Server::Start(TestOptions(), nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("handler is empty")));
}

TEST(ServerTest, StartOnPortInUseFails) {
  auto first = StartOrDie(TestOptions(), [](const Request&) { return Response{}; });
  ASSERT_NE(first, nullptr);
  ServerOptions options = TestOptions();
  options.port = first->port();
  EXPECT_THAT(Server::Start(options, [](const Request&) { return Response{}; }),
              StatusIs(StatusCode::kUnavailable,
                       HasSubstr("cannot bind 127.0.0.1:" + std::to_string(first->port()))));
}

TEST(ServerTest, PostAndGetRoundTrip) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  ASSERT_TRUE(c.connected());
  c.Send(
      "POST /echo?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
      "Content-Length: 5\r\n\r\nhello");
  auto post = c.Read();
  ASSERT_TRUE(post.has_value());
  EXPECT_EQ(post->status, 201);
  EXPECT_EQ(post->body, "POST /echo?x=1 hello");
  EXPECT_EQ(post->Get("X-Reply"), "yes");
  EXPECT_EQ(post->Get("Content-Length"), "20");

  c.Send("GET /items HTTP/1.1\r\nHost: h\r\n\r\n");
  auto get = c.Read();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "GET /items ");

  auto seen = recorder.Get();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/echo?x=1");
  EXPECT_EQ(seen[0].body, "hello");
  EXPECT_EQ(seen[0].remote_address, "127.0.0.1");
  EXPECT_FALSE(seen[0].secure);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].body, "");
}

TEST(ServerTest, HeadersAreLowerCasedInOrderWithDuplicates) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 20260101T000000Z\r\nX-Multi: a\r\n"
      "x-MULTI: b\r\nAccept: */*\r\n\r\n");
  ASSERT_TRUE(c.Read().has_value());
  auto seen = recorder.Get();
  ASSERT_EQ(seen.size(), 1u);
  std::vector<std::pair<std::string, std::string>> headers;
  for (const Header& h : seen[0].headers) headers.emplace_back(h.name, h.value);
  EXPECT_THAT(headers,
              ElementsAre(std::pair<std::string, std::string>("host", "h"),
                          std::pair<std::string, std::string>("x-amz-date", "20260101T000000Z"),
                          std::pair<std::string, std::string>("x-multi", "a"),
                          std::pair<std::string, std::string>("x-multi", "b"),
                          std::pair<std::string, std::string>("accept", "*/*")));
}

TEST(ServerTest, DateAndFreshRequestIdOnEveryResponse) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.clock = std::make_shared<FakeClock>(784111777);
  auto server = StartOrDie(options, EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  auto first = c.Read();
  c.Send("GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  auto second = c.Read();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->Get("Date"), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(second->Get("Date"), "Sun, 06 Nov 1994 08:49:37 GMT");
  ASSERT_TRUE(first->Get("x-amzn-RequestId").has_value());
  ASSERT_TRUE(second->Get("x-amzn-RequestId").has_value());
  EXPECT_EQ(first->Get("x-amzn-RequestId")->size(), 36u);  // a UUID
  EXPECT_NE(first->Get("x-amzn-RequestId"), second->Get("x-amzn-RequestId"));
  auto seen = recorder.Get();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].request_id, *first->Get("x-amzn-RequestId"));
  EXPECT_EQ(seen[1].request_id, *second->Get("x-amzn-RequestId"));
}

TEST(ServerTest, KeepsRequestIdAndDateSetByTheHandler) {
  auto server = StartOrDie(TestOptions(), [](const Request&) {
    Response r;
    r.SetHeader("x-amzn-RequestId", "from-handler");
    r.SetHeader("Date", "Mon, 07 Nov 1994 08:49:37 GMT");
    return r;
  });
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Get("x-amzn-RequestId"), "from-handler");
  EXPECT_EQ(r->Count("x-amzn-RequestId"), 1);
  EXPECT_EQ(r->Get("Date"), "Mon, 07 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(r->Count("Date"), 1);
}

TEST(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
  auto one = c.Read();
  c.Send("GET /two HTTP/1.1\r\nHost: h\r\n\r\n");
  auto two = c.Read();
  ASSERT_TRUE(one.has_value());
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(one->body, "GET /one ");
  EXPECT_EQ(two->body, "GET /two ");
  EXPECT_EQ(one->Get("Connection"), std::nullopt);
  EXPECT_EQ(two->Get("Connection"), std::nullopt);
}

TEST(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n");
  auto one = c.Read();
  auto two = c.Read();
  ASSERT_TRUE(one.has_value());
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(one->body, "GET /one ");
  EXPECT_EQ(two->body, "GET /two ");
}

TEST(ServerTest, ConnectionCloseIsHonoured) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, HandlerConnectionCloseClosesTheConnection) {
  auto server = StartOrDie(TestOptions(), [](const Request&) {
    Response r;
    r.SetHeader("Connection", "close");
    return r;
  });
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_EQ(r->Count("Connection"), 1);
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, Http10WithoutKeepAliveCloses) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /old HTTP/1.0\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /old ");
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, Http10WithKeepAliveStaysOpen) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto one = c.Read();
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->Get("Connection"), "keep-alive");
  c.Send("GET /two HTTP/1.0\r\n\r\n");
  auto two = c.Read();
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->body, "GET /two ");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, HeadOmitsTheBodyButKeepsItsLength) {
  auto server = StartOrDie(TestOptions(), [](const Request&) {
    Response r;
    r.body = "twelve bytes";
    return r;
  });
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n");
  auto head = c.Read(/*head=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->Get("Content-Length"), "12");
  // The next response follows directly: no body bytes were sent for HEAD.
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  auto get = c.Read();
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->body, "twelve bytes");
}

TEST(ServerTest, ExpectContinueGets100ThenTheResponse) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.Read(/*head=*/false, /*keep_interim=*/true);
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  c.Send("abc");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "POST /e abc");
}

TEST(ServerTest, BodyOverLimitGets413FromMakeError) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.max_body_bytes = 10;
  options.make_error = [](int status, std::string_view message) {
    Response r;
    r.status = status;
    r.SetHeader("Content-Type", "application/x-amz-json-1.1");
    r.body = "{\"custom\":\"" + std::string(message) + "\"}";
    return r;
  };
  auto server = StartOrDie(options, EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  // Refused from Content-Length alone, before the body is sent.
  c.Send("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"custom":"request body too large"})");
  EXPECT_EQ(r->Get("Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_TRUE(r->Get("x-amzn-RequestId").has_value());
  EXPECT_TRUE(r->Get("Date").has_value());
  EXPECT_TRUE(c.WaitForClose());
  EXPECT_TRUE(recorder.Get().empty());
}

TEST(ServerTest, ChunkedBodyOverLimitGets413) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.max_body_bytes = 10;
  auto server = StartOrDie(options, EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send(
      "POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "14\r\n01234567890123456789\r\n0\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"message":"request body too large"})");
  EXPECT_TRUE(recorder.Get().empty());
}

TEST(ServerTest, BodyAtTheLimitIsServed) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.max_body_bytes = 10;
  auto server = StartOrDie(options, EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "POST /ok 0123456789");
}

TEST(ServerTest, HeaderOverLimitGets431) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.max_header_bytes = 1024;
  auto server = StartOrDie(options, EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->body, R"({"message":"request header fields too large"})");
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_TRUE(recorder.Get().empty());
}

TEST(ServerTest, GarbageRequestLineGets400AndCloses) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("\x01\x02 not http at all\r\n\r\n");
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, R"({"message":"malformed request"})");
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_TRUE(r->Get("x-amzn-RequestId").has_value());
  EXPECT_TRUE(c.WaitForClose());
  EXPECT_TRUE(recorder.Get().empty());
}

TEST(ServerTest, HandlerExceptionGives500AndServerKeepsServing) {
  auto server = StartOrDie(TestOptions(), [](const Request& r) -> Response {
    if (r.Path() == "/throw") throw std::runtime_error("boom");
    Response ok;
    ok.body = "fine";
    return ok;
  });
  ASSERT_NE(server, nullptr);
  {
    Client c(server->port());
    c.Send("GET /throw HTTP/1.1\r\nHost: h\r\n\r\n");
    auto r = c.Read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->body, R"({"message":"internal error"})");
    EXPECT_TRUE(r->Get("x-amzn-RequestId").has_value());
  }
  Client next(server->port());
  next.Send("GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = next.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "fine");
}

TEST(ServerTest, InvalidStatusAndUnsafeHeadersFromTheHandlerAreRefused) {
  auto server = StartOrDie(TestOptions(), [](const Request& r) {
    Response res;
    if (r.Path() == "/bad-status") {
      res.status = 42;
    } else {
      res.SetHeader("X-Split", "a\r\nSet-Cookie: evil=1");
      res.SetHeader("X-Fine", "ok");
    }
    return res;
  });
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET /bad-status HTTP/1.1\r\nHost: h\r\n\r\n");
  auto bad = c.Read();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 500);
  c.Send("GET /split HTTP/1.1\r\nHost: h\r\n\r\n");
  auto split = c.Read();
  ASSERT_TRUE(split.has_value());
  EXPECT_EQ(split->Get("X-Split"), std::nullopt);
  EXPECT_EQ(split->Get("Set-Cookie"), std::nullopt);
  EXPECT_EQ(split->Get("X-Fine"), "ok");
}

TEST(ServerTest, AccessLogOmitsQueryBodyAndAuthorization) {
  ServerOptions options = TestOptions();
  options.access_log = true;
  auto server = StartOrDie(options, [](const Request&) {
    Response r;
    r.status = 202;
    return r;
  });
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  ::testing::internal::CaptureStderr();
  c.Send(
      "POST /token?code=secret-code HTTP/1.1\r\nHost: h\r\nAuthorization: secret-auth\r\n"
      "Content-Length: 11\r\n\r\nsecret-body");
  auto r = c.Read();  // the line is written before the response
  std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(log, HasSubstr("POST /token 202 "));
  EXPECT_THAT(log, HasSubstr("id=" + *r->Get("x-amzn-RequestId")));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("secret")));
}

TEST(ServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  Recorder recorder;
  ServerOptions options = TestOptions();
  options.idle_timeout = std::chrono::seconds(1);
  auto server = StartOrDie(options, EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(c.Read().has_value());
  // The client's 10 s receive timeout is the generous upper bound.
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, ShutdownLetsAnInFlightRequestFinish) {
  std::promise<void> entered;
  std::atomic<bool> finished{false};
  auto server = StartOrDie(TestOptions(), [&](const Request&) {
    entered.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a slow handler
    finished = true;
    Response r;
    r.body = "done";
    return r;
  });
  ASSERT_NE(server, nullptr);
  uint16_t port = server->port();
  Client c(port);
  c.Send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  entered.get_future().wait();
  auto shutdown =
      std::async(std::launch::async, [&] { server->Shutdown(std::chrono::seconds(30)); });
  auto r = c.Read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->Get("Connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
  shutdown.get();
  EXPECT_TRUE(finished);
  Client late(port);
  EXPECT_FALSE(late.connected());
  server->Shutdown(std::chrono::seconds(30));  // idempotent
}

TEST(ServerTest, ShutdownClosesIdleKeepAliveConnections) {
  Recorder recorder;
  auto server = StartOrDie(TestOptions(), EchoHandler(&recorder));
  ASSERT_NE(server, nullptr);
  Client c(server->port());
  c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(c.Read().has_value());
  // The drain timeout is long: Shutdown returns early only because the idle one was closed.
  server->Shutdown(std::chrono::seconds(30));
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, WaitReturnsOnceAnotherThreadShutsDown) {
  auto server = StartOrDie(TestOptions(), [](const Request&) { return Response{}; });
  ASSERT_NE(server, nullptr);
  std::atomic<bool> waited{false};
  std::thread waiter([&] {
    server->Wait();
    waited = true;
  });
  server->Shutdown(std::chrono::seconds(5));
  waiter.join();
  EXPECT_TRUE(waited);
}

}  // namespace
}  // namespace ts::http
