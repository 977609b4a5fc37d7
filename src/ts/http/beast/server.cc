// File: beast/server.cc
// The Boost.Beast/Asio implementation of server.h. Shape of Beast's http_server_async example:
// N io threads run one io_context; an acceptor on its own strand accepts asynchronously; each
// connection is a Session (enable_shared_from_this) on its own strand chaining
// read -> handle -> write, with `expires_after` before every read and every write. The handle step
// may end on another thread: the handler's Responder dispatches the answer back to the strand.
//
// Beast stays in this file only: it costs ~12 s per translation unit to compile.
//
// Exceptions: Beast/Asio calls here use error_code overloads; the few that can still throw
// (allocation, thread creation, a throwing Handler or make_error) are caught in this file, so
// none crosses into callers.
#include "ts/http/server.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "ts/common/ascii.h"
#include "ts/common/log.h"
#include "ts/common/refusals.h"
#include "ts/common/status_macros.h"
#include "ts/crypto/random.h"
#include "ts/http/beast/request_parser.h"
#include "ts/http/tls.h"

namespace ts::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// After a response that closes the connection we half-close and drain what the client still
// sends for at most this long / this much, so an unread request body does not make the kernel
// reset the connection before the client has read our (error) response (RFC 9112 §9.6).
constexpr std::chrono::seconds kLingerTimeout{2};
constexpr size_t kLingerMaxBytes = 256 * 1024;
// Delay before accepting again after accept() failed (e.g. EMFILE), so we do not spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// First read of a request: enough for a typical request in one go.
constexpr size_t kFirstReadBytes = 4096;

// The transport's own trouble, under the calling thread's request id (if any).
void LogLine(std::string_view line) { log::Write(log::Level::kError, line); }

// Log-safe rendering of request-controlled text: printable ASCII only, bounded length.
std::string Printable(std::string_view text) {
  constexpr size_t kMax = 200;
  std::string out;
  for (char ch : text.substr(0, kMax)) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(c >= 0x20 && c < 0x7f ? ch : '?');
  }
  if (text.size() > kMax) out += "...";
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

// RFC 9110 §5.6.2 token characters.
bool IsTokenChar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsValidHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return IsTokenChar(static_cast<unsigned char>(c));
  });
}

// Rejects CR, LF and NUL: a value carrying them would split the response (RFC 9110 §5.5).
bool IsValidHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers the transport owns: framing and connection management.
bool IsTransportHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive");
}

std::string EndpointText(const tcp::endpoint& ep) {
  const auto& addr = ep.address();
  std::string host = addr.to_string();
  if (addr.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

using PlainStream = beast::tcp_stream;
using TlsStream = net::ssl::stream<beast::tcp_stream>;

// What the server needs of a connection of either kind.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Shutdown: closes the connection if it is waiting for a request that has not begun.
  virtual void PostCloseIfIdle() = 0;
};

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, AsyncHandler handler, int threads)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        ioc_(threads),
        acceptor_(net::make_strand(ioc_)),
        accept_retry_timer_(acceptor_.get_executor()),
        lag_timer_(ioc_),
        lag_reader_(ioc_),
        lag_writer_(ioc_) {}

  Status Listen();
  Status RunThreads(int threads);
  void DoAccept();
  // Starts the lag probe (ServerOptions::on_io_lag), when asked for; ArmLagProbe runs it.
  void StartLagProbe();
  void ArmLagProbe();
  void BeginShutdown(std::chrono::milliseconds drain_timeout);
  void Finish();
  bool OnIoThread() const { return current_io_server_ == this; }

  // For sessions.
  const ServerOptions& options() const { return options_; }
  const AsyncHandler& handler() const { return handler_; }
  bool draining() const { return draining_.load(); }
  Response MakeError(int status, std::string_view message, const Request& context) const;
  std::string HttpDate() const;
  void Register(const std::shared_ptr<SessionBase>& session);
  void Unregister(SessionBase* session);
  // Brackets a request from the handler's call until its Responder answered or was dropped:
  // Finish() waits for none to be outstanding before it stops the io_context.
  void BeginHandling();
  void EndHandling();

  const tcp::endpoint& endpoint() const { return endpoint_; }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket);
  bool AtConnectionCap();
  void RefuseConnection(tcp::socket socket);
  void CloseAcceptorAndIdleSessions();

  static thread_local const Impl* current_io_server_;

  const ServerOptions options_;
  const AsyncHandler handler_;
  std::atomic<bool> draining_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;  // guarded by mu_
  bool shutdown_begun_ = false;                                            // guarded by mu_
  bool acceptor_closed_ = false;                                           // guarded by mu_
  int outstanding_ = 0;               // requests not yet answered (BeginHandling); guarded by mu_
  SteadyClock::time_point deadline_;  // guarded by mu_

  std::mutex join_mu_;
  bool joined_ = false;  // guarded by join_mu_
  std::vector<std::thread> threads_;

  tcp::endpoint endpoint_;
  // Declared after the state above: destroying the io_context destroys pending handlers, and
  // with them the sessions, whose destructors call Unregister().
  net::io_context ioc_;
  // Keeps the io threads running while nothing is pending on a socket: a session waiting for
  // its Responder has no operation in flight, and its answer must find a thread. Finish() stops
  // the io_context explicitly.
  net::executor_work_guard<net::io_context::executor_type> work_{ioc_.get_executor()};
  tcp::acceptor acceptor_;                // on its own strand
  net::steady_timer accept_retry_timer_;  // on the acceptor's strand
  // The lag probe: a timer, then a byte through a socket pair of its own. Not on a strand: only
  // the probe's own handlers, one at a time, touch them (the drain stops it from re-arming; the
  // io_context's end destroys a pending wait).
  net::steady_timer lag_timer_;
  net::local::stream_protocol::socket lag_reader_;
  net::local::stream_protocol::socket lag_writer_;
  std::array<char, 16> lag_buffer_{};
  // Connections refused at the cap since the last log line; on the acceptor's strand.
  uint64_t refused_since_log_ = 0;
  SteadyClock::time_point last_refusal_log_{};
};

thread_local const Server::Impl* Server::Impl::current_io_server_ = nullptr;

// The Date header (RFC 9110 §6.6.1) changes once a second and formatting it costs about a
// microsecond, so each thread keeps the last one it formatted.
std::string Server::Impl::HttpDate() const {
  const auto second = std::chrono::floor<std::chrono::seconds>(options_.clock->Now());
  struct Formatted {
    Clock::TimePoint second;
    std::string text;
  };
  thread_local Formatted last;
  if (last.text.empty() || last.second != second) last = {second, FormatHttpDate(second)};
  return last.text;
}

namespace {

template <class Stream>
class Session;

// One request's answer, shared by the copies of its Responder. The first Answer wins; dropping
// every copy unanswered answers 500. Outstanding (BeginHandling) from the handler's call until
// answered, so the server does not stop under it; once answered it lets go of the session, so a
// copy kept after answering holds neither the session nor Shutdown.
template <class Stream>
class PendingReply {
 public:
  explicit PendingReply(std::shared_ptr<Session<Stream>> session);
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;
  ~PendingReply();

  void Answer(Response response);

 private:
  std::shared_ptr<Session<Stream>> session_;  // reset once answered
  Server::Impl& server_;
  std::atomic<bool> answered_{false};
};

// One connection, plain (PlainStream) or TLS (TlsStream). All its methods run on its strand;
// the only cross-thread entry point is PostCloseIfIdle().
template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `stream_args`: the socket, and for TLS the connection's SSL object (owned from then on).
  template <class... StreamArgs>
  explicit Session(Server::Impl& server, StreamArgs&&... stream_args)
      : server_(server),
        stream_(std::forward<StreamArgs>(stream_args)...),
        strand_(stream_.get_executor()) {
    beast::error_code ec;
    tcp_stream().socket().set_option(tcp::no_delay(true), ec);  // best effort
    net::ip::address addr = tcp_stream().socket().remote_endpoint(ec).address();
    if (!ec) {
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
        addr = net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6());
      }
      remote_address_ = addr.to_string();
    }
  }
  ~Session() { server_.Unregister(this); }

  void Start() {
    if constexpr (kTls) {
      net::dispatch(strand_,
                    beast::bind_front_handler(&Session::Handshake, this->shared_from_this()));
    } else {
      net::dispatch(strand_,
                    beast::bind_front_handler(&Session::ReadRequest, this->shared_from_this()));
    }
  }

  void PostCloseIfIdle() override {
    net::post(strand_, [self = this->shared_from_this()] {
      if (self->state_ == State::kIdle) self->tcp_stream().close();
    });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kClosing };

  const ServerOptions& options() const { return server_.options(); }
  beast::tcp_stream& tcp_stream() { return beast::get_lowest_layer(stream_); }

  template <class>
  friend class PendingReply;  // Deliver, DeliverError, server_

  // TLS: the handshake must complete within the read timeout, like a request's first bytes.
  // While it runs the connection counts as idle, so shutdown closes it.
  void Handshake() {
    state_ = State::kIdle;
    tcp_stream().expires_after(options().read_timeout);
    stream_.async_handshake(
        net::ssl::stream_base::server,
        beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (!ec) {
      ReadRequest();
      return;
    }
    // Plain HTTP sent to the TLS port: say so in plain HTTP (as nginx does) and close, rather
    // than leave the client waiting or guessing.
    if (ec.category() == net::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
      static constexpr std::string_view kBody =
          "{\"message\":\"This port speaks HTTPS: use an https:// URL.\"}";
      response_bytes_ =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
          "Connection: close\r\nContent-Length: " +
          std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
      state_ = State::kClosing;
      tcp_stream().expires_after(options().write_timeout);
      net::async_write(tcp_stream(), net::buffer(response_bytes_),
                       [self = this->shared_from_this()](beast::error_code, size_t) {
                         beast::error_code ignored;
                         self->tcp_stream().socket().shutdown(tcp::socket::shutdown_send, ignored);
                       });
    }
    // Anything else (a client that does not trust us, a protocol or cipher we refuse, a
    // timeout): close. OpenSSL has already sent the alert.
  }

  void ReadRequest() {
    parser_.emplace();
    LimitRequestHeader(*parser_, options());  // the body's limit once the header is in (OnHeader)
    if (buffer_.size() > 0) {                 // pipelined request already buffered
      started_ = SteadyClock::now();
      ReadHeader();
      return;
    }
    if (server_.draining()) {
      tcp_stream().close();
      return;
    }
    // Wait for the first byte under the idle (keep-alive) timeout; from then on the request
    // must arrive within read_timeout.
    state_ = State::kIdle;
    tcp_stream().expires_after(first_request_ ? options().read_timeout : options().idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kFirstReadBytes),
        beast::bind_front_handler(&Session::OnFirstBytes, this->shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, size_t n) {
    if (ec) return;  // peer closed, idle timeout or shutdown: the destructor closes the socket
    buffer_.commit(n);
    started_ = SteadyClock::now();
    ReadHeader();
  }

  void ReadHeader() {
    state_ = State::kReading;
    tcp_stream().expires_after(options().read_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, this->shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t header_bytes) {
    if (ec) {
      OnReadError(ec, /*in_header=*/true);
      return;
    }
    // The header is in: refuse an oversized header, or an oversized or chunked body, before
    // reading any of the body.
    if (const int refusal = RefuseAfterHeader(*parser_, header_bytes, options()); refusal != 0) {
      SendTransportError(refusal);
      return;
    }
    if (server_.draining()) {
      SendError(503, "server is shutting down");
      return;
    }
    const auto& msg = parser_->get();
    // RFC 9110 §10.1.1: tell a client waiting on Expect: 100-continue to send the body.
    if (!parser_->is_done() && msg.version() >= 11 &&
        EqualsIgnoreCase(msg[bhttp::field::expect], "100-continue")) {
      continue_ = {};
      continue_.version(11);
      continue_.result(bhttp::status::continue_);
      state_ = State::kWriting;
      tcp_stream().expires_after(options().write_timeout);
      bhttp::async_write(
          stream_, continue_,
          beast::bind_front_handler(&Session::OnContinueWritten, this->shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, size_t) {
    if (ec) return;
    ReadBody();
  }

  void ReadBody() {
    state_ = State::kReading;
    tcp_stream().expires_after(options().read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::OnBody, this->shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) {
      OnReadError(ec, /*in_header=*/false);
      return;
    }
    HandleRequest();
  }

  void OnReadError(beast::error_code ec, bool in_header) {
    // 0: the client went away, a socket error, a timeout or shutdown: just close.
    SendTransportError(ReadErrorStatus(ec, in_header));
  }

  // The transport's own answers (request_parser.h: RefuseAfterHeader, ReadErrorStatus), with
  // their messages; 0 sends nothing.
  void SendTransportError(int status) {
    switch (status) {
      case 431:
        SendError(431, "request header fields too large");
        break;
      case 413:
        SendError(413, BodyTooLarge());
        break;
      case 411:
        SendError(411, "a request body needs a Content-Length; chunked bodies are not accepted");
        break;
      case 400:
        SendError(400, "malformed request");
        break;
      default:
        break;
    }
  }

  void HandleRequest() {
    state_ = State::kHandling;
    auto& msg = parser_->get();
    Request request = RequestHead();
    request.body = std::move(msg.body());
    request.request_id = crypto::RandomUuid();
    exchange_ = {msg.keep_alive(),   msg.version() < 11, msg.method() == bhttp::verb::head,
                 request.request_id, request.method,     std::string(request.Path())};
    exchange_.client = request.ClientAddress();
    // Every line the handler writes on this thread, and on the threads it hands work to, names
    // the request (log.h).
    log::ScopedRequestId request_scope(exchange_.request_id);
    if (server_.draining()) {
      SendResponse(ErrorResponse(503, "server is shutting down"));
      return;
    }
    auto reply = std::make_shared<PendingReply<Stream>>(this->shared_from_this());
    try {
      server_.handler()(std::move(request), [reply](Response r) { reply->Answer(std::move(r)); });
    } catch (const std::exception& e) {
      LogLine("http: handler threw for " + Printable(exchange_.method) + " " +
              Printable(exchange_.path) + ": " + Printable(e.what()));
      reply->Answer(ErrorResponse(500, "internal error"));
    } catch (...) {
      LogLine("http: handler threw a non-exception for " + Printable(exchange_.method) + " " +
              Printable(exchange_.path));
      reply->Answer(ErrorResponse(500, "internal error"));
    }
  }

  // The answer to the request being handled, from any thread: runs SendResponse on the strand
  // (inline when the handler answered before returning).
  void Deliver(Response response) {
    net::dispatch(strand_,
                  [self = this->shared_from_this(), response = std::move(response)]() mutable {
                    self->SendResponse(std::move(response));
                  });
  }

  // Delivers the transport's own error for the request being handled (a dropped Responder).
  void DeliverError(int status, std::string_view message) {
    net::dispatch(strand_,
                  [self = this->shared_from_this(), status, message = std::string(message)] {
                    self->SendResponse(self->ErrorResponse(status, message));
                  });
  }

  std::string BodyTooLarge() const {
    return "request body too large: at most " + std::to_string(options().max_body_bytes) + " bytes";
  }

  // What make_error may know of the request: its method, target and headers once the header is
  // parsed (so the error can take the shape of the API it targets; never the body), and the
  // request id. On the strand only: parser_ keeps the header until the next request is read.
  Response ErrorResponse(int status, std::string_view message) const {
    Request context;
    if (parser_ && parser_->is_header_done()) {
      context = RequestHead();
    } else {
      context.remote_address = remote_address_;
      context.secure = kTls;
    }
    context.request_id = exchange_.request_id;
    return server_.MakeError(status, message, context);
  }

  // The parsed header as a Request (header names lower-cased), without the body.
  Request RequestHead() const {
    Request request = RequestFromHeader(parser_->get());
    request.remote_address = remote_address_;
    request.client_address =
        options().trusted_proxies.ClientAddress(remote_address_, request.headers);
    request.secure = kTls;
    return request;
  }

  // Transport-level error: always closes the connection afterwards.
  void SendError(int status, std::string_view message) {
    exchange_ = {/*keep_alive=*/false,
                 /*http10=*/false,
                 /*head=*/false,       crypto::RandomUuid(), "-", "-"};
    if (parser_ && parser_->is_header_done()) {
      const auto& msg = parser_->get();
      exchange_.method = std::string(msg.method_string());
      std::string_view target = msg.target();
      exchange_.path = std::string(target.substr(0, target.find('?')));
      exchange_.client = RequestHead().ClientAddress();
    } else {
      exchange_.client = remote_address_;
    }
    SendResponse(ErrorResponse(status, message));
  }

  void SendResponse(Response response) {
    const std::string& request_id = exchange_.request_id;
    log::ScopedRequestId request_scope(request_id);
    if (response.finish) {
      auto finish = std::move(response.finish);
      response.finish = nullptr;
      std::string operation = std::move(response.operation);
      try {
        finish(response);
      } catch (const std::exception& e) {
        LogLine("http: finishing the response threw: " + Printable(e.what()));
        response = ErrorResponse(500, "internal error");
      } catch (...) {
        LogLine("http: finishing the response threw a non-exception");
        response = ErrorResponse(500, "internal error");
      }
      if (response.operation.empty()) response.operation = std::move(operation);
    }
    bool keep_alive = exchange_.keep_alive;
    if (response.status < 200 || response.status > 599) {
      LogLine("http: handler returned invalid status " + std::to_string(response.status));
      response = ErrorResponse(500, "internal error");
    }
    if (auto c = response.FindHeader("connection"); c && EqualsIgnoreCase(*c, "close")) {
      keep_alive = false;
    }
    if (server_.draining()) keep_alive = false;

    // One buffer, one write: the status line, the headers and the body serialized here rather
    // than by Beast's serializer, which walked a buffer sequence of every field (about 3 µs of
    // the ~100 µs a refresh costs). RFC 9110 §6.2: answer with the highest version we speak,
    // HTTP/1.1, even to 1.0 clients.
    std::string& out = response_bytes_;
    out.clear();
    out.append("HTTP/1.1 ").append(std::to_string(response.status)).push_back(' ');
    out.append(bhttp::obsolete_reason(static_cast<bhttp::status>(response.status))).append("\r\n");
    auto append_header = [&out](std::string_view name, std::string_view value) {
      out.append(name).append(": ").append(value).append("\r\n");
    };
    for (const Header& h : response.headers) {
      if (IsTransportHeader(h.name)) continue;
      if (!IsValidHeaderName(h.name) || !IsValidHeaderValue(h.value)) {
        LogLine("http: dropping invalid response header '" + Printable(h.name) + "'");
        continue;
      }
      append_header(h.name, h.value);
    }
    if (!response.FindHeader("date")) append_header("Date", server_.HttpDate());
    if (!response.FindHeader("x-amzn-requestid")) append_header("x-amzn-RequestId", request_id);
    // RFC 9110 §8.6: no Content-Length (and no body) on 204 and 304; a HEAD response carries
    // the length of the body it omits (§9.3.2).
    const bool has_body = response.status != 204 && response.status != 304;
    if (has_body) append_header("Content-Length", std::to_string(response.body.size()));
    if (!keep_alive) {
      append_header("Connection", "close");
    } else if (exchange_.http10) {
      append_header("Connection", "keep-alive");  // RFC 9112 §9.3 / RFC 2068 §19.7.1
    }
    out.append("\r\n");
    if (has_body && !exchange_.head) out.append(response.body);

    if (options().access_log) AccessLog(response);

    state_ = State::kWriting;
    tcp_stream().expires_after(options().write_timeout);
    net::async_write(
        stream_, net::buffer(response_bytes_),
        beast::bind_front_handler(&Session::OnWrite, this->shared_from_this(), keep_alive));
  }

  // One line per request (ServerOptions::access_log): in words for the text format, with
  // structured fields for JSON. Never the query, a body or a header's value.
  void AccessLog(const Response& response) const {
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - started_);
    const std::string method = Printable(exchange_.method);
    const std::string path = Printable(exchange_.path);
    char duration[32];
    std::snprintf(duration, sizeof(duration), "%.3fms", static_cast<double>(micros.count()) / 1e3);
    const std::string text = "http: " + method + " " + path + " " +
                             std::to_string(response.status) + " " + duration +
                             " client=" + Printable(exchange_.client);
    if (log::CurrentFormat() == log::Format::kText) {
      log::Write(log::Level::kInfo, text);
      return;
    }
    // The modeled type only: restJson appends ":<namespace URL>" (docs/protocol.md).
    std::string_view type = response.FindHeader("x-amzn-errortype").value_or("");
    type = type.substr(0, type.find(':'));
    const std::string error_type = response.status >= 400 ? Printable(type) : std::string();
    const std::string operation = Printable(response.operation);
    log::Write(log::Level::kInfo, text,
               {{"method", method},
                {"path", path},
                {"status", response.status},
                {"duration_ms", micros},
                {"operation", operation},
                {"error_type", error_type},
                {"client_address", exchange_.client}});
  }

  void OnWrite(bool keep_alive, beast::error_code ec, size_t) {
    if (ec) return;
    if (!keep_alive) {
      Linger();
      return;
    }
    first_request_ = false;
    ReadRequest();
  }

  // Half-close, then discard input until the peer closes (see kLingerTimeout).
  void Linger() {
    state_ = State::kClosing;
    beast::error_code ec;
    if constexpr (kTls) {
      // close_notify, then wait (under the same bound) for the client's or its close.
      tcp_stream().expires_after(kLingerTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
      return;
    }
    tcp_stream().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return;
    tcp_stream().expires_after(kLingerTimeout);
    DoLingerRead();
  }

  void DoLingerRead() {
    stream_.async_read_some(
        net::buffer(discard_),
        beast::bind_front_handler(&Session::OnLinger, this->shared_from_this()));
  }

  void OnLinger(beast::error_code ec, size_t n) {
    discarded_ += n;
    if (ec || discarded_ > kLingerMaxBytes) return;
    DoLingerRead();
  }

  Server::Impl& server_;
  Stream stream_;
  const net::any_io_executor strand_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::empty_body> continue_;
  std::string response_bytes_;  // the response being written; its capacity is reused
  std::string remote_address_;
  // What SendResponse needs of the request being answered.
  struct Exchange {
    bool keep_alive = true;
    bool http10 = false;
    bool head = false;
    std::string request_id;
    std::string method;
    std::string path;    // never the query: it may carry codes
    std::string client;  // Request::ClientAddress()
  };
  Exchange exchange_;
  State state_ = State::kIdle;
  bool first_request_ = true;
  SteadyClock::time_point started_ = SteadyClock::now();
  std::array<char, 4096> discard_{};
  size_t discarded_ = 0;
};

template <class Stream>
PendingReply<Stream>::PendingReply(std::shared_ptr<Session<Stream>> session)
    : session_(std::move(session)), server_(session_->server_) {
  server_.BeginHandling();
}

template <class Stream>
PendingReply<Stream>::~PendingReply() {
  if (answered_.exchange(true)) return;
  LogLine("http: a handler dropped its responder without answering");
  session_->DeliverError(500, "internal error");
  server_.EndHandling();
}

template <class Stream>
void PendingReply<Stream>::Answer(Response response) {
  if (answered_.exchange(true)) return;
  // Only this call gets here, and the destructor does nothing after it: session_ is ours.
  session_->Deliver(std::move(response));
  session_.reset();
  server_.EndHandling();
}

}  // namespace

Response Server::Impl::MakeError(int status, std::string_view message,
                                 const Request& context) const {
  try {
    return options_.make_error(status, message, context);
  } catch (...) {
    LogLine("http: make_error threw; using the default error response");
    return DefaultErrorResponse(status, message);
  }
}

void Server::Impl::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard lock(mu_);
  sessions_.emplace(session.get(), session);
}

void Server::Impl::BeginHandling() {
  std::lock_guard lock(mu_);
  ++outstanding_;
}

void Server::Impl::EndHandling() {
  bool notify;
  {
    std::lock_guard lock(mu_);
    notify = --outstanding_ == 0;
  }
  if (notify) cv_.notify_all();
}

void Server::Impl::Unregister(SessionBase* session) {
  bool notify;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(session);
    notify = sessions_.empty();
  }
  if (notify) cv_.notify_all();
}

Status Server::Impl::Listen() {
  beast::error_code ec;
  tcp::endpoint ep;
  net::ip::address addr = net::ip::make_address(options_.host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, options_.port);
  } else {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return InvalidArgumentError("http server: cannot resolve host '" + options_.host +
                                  "': " + (ec ? ec.message() : "no addresses"));
    }
    ep = results.begin()->endpoint();
  }
  std::string where = EndpointText(ep);
  if (acceptor_.open(ep.protocol(), ec); ec) {
    return UnavailableError("http server: cannot open socket for " + where + ": " + ec.message());
  }
  if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec) {
    return UnavailableError("http server: cannot set SO_REUSEADDR on " + where + ": " +
                            ec.message());
  }
  if (acceptor_.bind(ep, ec); ec) {
    return UnavailableError("http server: cannot bind " + where + ": " + ec.message());
  }
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec) {
    return UnavailableError("http server: cannot listen on " + where + ": " + ec.message());
  }
  endpoint_ = acceptor_.local_endpoint(ec);
  if (ec) {
    return UnavailableError("http server: cannot read the bound address of " + where + ": " +
                            ec.message());
  }
  return OkStatus();
}

Status Server::Impl::RunThreads(int threads) {
  try {
    threads_.reserve(static_cast<size_t>(threads));
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "ts-http-io");  // for top -H and perf
        current_io_server_ = this;
        for (;;) {
          try {
            ioc_.run();
            return;  // stopped
          } catch (const std::exception& e) {
            // A completion handler threw past its session (which is now gone): keep serving.
            LogLine(std::string("http: io thread caught: ") + e.what());
          }
        }
      });
    }
  } catch (const std::exception& e) {
    ioc_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    return InternalError(std::string("http server: cannot start io threads: ") + e.what());
  }
  return OkStatus();
}

void Server::Impl::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Impl::OnAccept, this));
}

void Server::Impl::StartLagProbe() {
  if (!options_.on_io_lag || options_.io_lag_interval.count() <= 0) return;
  beast::error_code ec;
  net::local::connect_pair(lag_reader_, lag_writer_, ec);
  if (!ec) lag_writer_.non_blocking(true, ec);
  if (ec) {
    LogLine("http: no io lag probe (socket pair: " + ec.message() + ")");
    return;
  }
  ArmLagProbe();
}

// Each round: the timer expires; its handler (which waits in the io_context's queue behind
// every completion ready before it) starts a read on the pair, then writes a byte into it. The
// byte makes the reader ready behind every connection the kernel already holds ready (epoll
// hands them out at most 128 at a time, in order), so the read completes when a request that
// arrived at that moment would be read. From the timer's expiry to that completion is the lag.
void Server::Impl::ArmLagProbe() {
  lag_timer_.expires_after(options_.io_lag_interval);
  lag_timer_.async_wait([this](beast::error_code ec) {
    if (ec || draining()) return;
    // The read first: started after the write, asio would find the byte at once (a speculative
    // read) and never wait for the kernel.
    lag_reader_.async_read_some(
        net::buffer(lag_buffer_), [this](beast::error_code read_ec, size_t) {
          if (read_ec || draining()) return;
          const auto lag = std::chrono::duration_cast<std::chrono::microseconds>(
              SteadyClock::now() - lag_timer_.expiry());
          try {
            options_.on_io_lag(lag);
          } catch (...) {
            LogLine("http: the io lag callback threw");
          }
          ArmLagProbe();
        });
    const char byte = 0;
    lag_writer_.write_some(net::buffer(&byte, 1), ec);
    if (ec) LogLine("http: io lag probe stopped (write: " + ec.message() + ")");
  });
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (draining()) {
    socket.close(ec);
    return;
  }
  if (ec) {
    if (ec == net::error::operation_aborted) return;
    LogLine("http: accept failed: " + ec.message());
    accept_retry_timer_.expires_after(kAcceptRetryDelay);
    accept_retry_timer_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && !draining()) DoAccept();
    });
    return;
  }
  if (AtConnectionCap()) {
    RefuseConnection(std::move(socket));
    DoAccept();
    return;
  }
  if (options_.tls) {
    // The context current at accept: a reload afterwards does not change this connection's.
    SSL* ssl = SSL_new(options_.tls->Current().get());
    if (ssl == nullptr) {
      LogLine("http: cannot create a TLS connection (out of memory?)");
      socket.close(ec);
    } else {
      auto session =
          std::make_shared<Session<TlsStream>>(*this, beast::tcp_stream(std::move(socket)), ssl);
      Register(session);
      session->Start();
    }
  } else {
    auto session = std::make_shared<Session<PlainStream>>(*this, std::move(socket));
    Register(session);
    session->Start();
  }
  DoAccept();
}

bool Server::Impl::AtConnectionCap() {
  std::lock_guard lock(mu_);
  return sessions_.size() >= options_.max_connections;
}

// Past the cap a connection is accepted and closed unread, rather than left in the listen
// backlog: the client learns at once (and an SDK retries a closed connection with backoff)
// instead of at its connect timeout, and the backlog keeps draining. One log line a second.
void Server::Impl::RefuseConnection(tcp::socket socket) {
  CountRefusal(Refusal::kConnections);  // before the close: whoever sees the close sees the count
  beast::error_code ec;
  socket.close(ec);
  ++refused_since_log_;
  const auto now = SteadyClock::now();
  if (now - last_refusal_log_ < std::chrono::seconds(1)) return;
  LogLine("http: refused " + std::to_string(refused_since_log_) + " connection(s): " +
          std::to_string(options_.max_connections) + " open (--max-connections)");
  refused_since_log_ = 0;
  last_refusal_log_ = now;
}

void Server::Impl::BeginShutdown(std::chrono::milliseconds drain_timeout) {
  {
    std::lock_guard lock(mu_);
    if (shutdown_begun_) return;
    shutdown_begun_ = true;
    deadline_ = SteadyClock::now() + drain_timeout;
    draining_.store(true);
  }
  cv_.notify_all();
  net::post(acceptor_.get_executor(), [this] { CloseAcceptorAndIdleSessions(); });
}

void Server::Impl::CloseAcceptorAndIdleSessions() {
  beast::error_code ec;
  acceptor_.close(ec);
  accept_retry_timer_.cancel();
  std::vector<std::weak_ptr<SessionBase>> sessions;
  {
    std::lock_guard lock(mu_);
    acceptor_closed_ = true;
    for (const auto& [ptr, weak] : sessions_) sessions.push_back(weak);
  }
  cv_.notify_all();
  // Sessions accepted before this point are registered; those that start reading later see
  // draining() themselves, so no idle connection is missed.
  for (const auto& weak : sessions) {
    if (auto session = weak.lock()) session->PostCloseIfIdle();
  }
}

void Server::Impl::Finish() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return shutdown_begun_; });
    cv_.wait_until(lock, deadline_, [&] { return acceptor_closed_ && sessions_.empty(); });
    // Past the deadline too: an answer still to come would otherwise reach a stopped (or
    // destroyed) io_context.
    cv_.wait(lock, [&] { return outstanding_ == 0; });
  }
  std::lock_guard join_lock(join_mu_);
  if (joined_) return;
  ioc_.stop();
  for (auto& t : threads_) t.join();
  joined_ = true;
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_) Shutdown(std::chrono::milliseconds(0));
}

StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  if (!handler) return InvalidArgumentError("http server: handler is empty");
  return Start(std::move(options),
               AsyncHandler([handler = std::move(handler)](Request request, Responder respond) {
                 respond(handler(request));
               }));
}

StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, AsyncHandler handler) {
  if (!handler) return InvalidArgumentError("http server: handler is empty");
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (options.max_connections == 0) options.max_connections = DefaultMaxConnections();
  if (!options.make_error) {
    options.make_error = [](int status, std::string_view message, const Request&) {
      return DefaultErrorResponse(status, message);
    };
  }
  int threads = options.threads > 0
                    ? options.threads
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  try {
    auto impl = std::make_unique<Impl>(std::move(options), std::move(handler), threads);
    TS_RETURN_IF_ERROR(impl->Listen());
    impl->DoAccept();  // before the threads run, so no strand is needed yet
    impl->StartLagProbe();
    TS_RETURN_IF_ERROR(impl->RunThreads(threads));
    return std::unique_ptr<Server>(new Server(std::move(impl)));
  } catch (const std::exception& e) {
    return InternalError(std::string("http server: cannot start: ") + e.what());
  }
}

uint16_t Server::port() const { return impl_->endpoint().port(); }

std::string Server::address() const { return EndpointText(impl_->endpoint()); }

void Server::Shutdown(std::chrono::milliseconds drain_timeout) {
  impl_->BeginShutdown(drain_timeout);
  if (impl_->OnIoThread()) {
    // Joining from an io thread would deadlock; Wait() or ~Server() completes the shutdown.
    LogLine("http: Shutdown() called from an io thread; not waiting for the drain");
    return;
  }
  impl_->Finish();
}

void Server::Wait() { impl_->Finish(); }

}  // namespace ts::http
