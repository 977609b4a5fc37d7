// File: server.h
// Tessera's HTTP/1.1 server: accepts connections, parses requests into http::Request, calls one
// Handler per request and writes its http::Response back, with keep-alive, size limits, timeouts
// and graceful shutdown. The implementation (beast/server.cc) uses Boost.Beast/Asio; this header
// is Beast-free so users compile fast.
//
// Thread-safety: Start() may be called from any thread. port(), address(), Shutdown() and Wait()
// are thread-safe. The handler is called concurrently from the server's io threads and must be
// thread-safe itself. Shutdown() and ~Server() must not be called from inside the handler.
//
// Two kinds of handler: a Handler returns its Response and holds the io thread until it does; an
// AsyncHandler may answer later through its Responder, from any thread, and frees the io thread
// at once. A server whose slow work completes elsewhere (Tessera's token endpoint: the group
// commit) needs only an io thread per core.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/http/client_address.h"
#include "ts/http/message.h"

namespace ts::http {

class TlsContext;  // tls.h

struct ServerOptions {
  std::string host = "127.0.0.1";       // IP literal or resolvable name to bind
  uint16_t port = 8080;                 // 0 = let the kernel pick a free port (see Server::port())
  int threads = 0;                      // io threads; 0 = std::thread::hardware_concurrency()
  size_t max_header_bytes = 16 * 1024;  // request line + headers; larger -> 431
  size_t max_body_bytes = 256 * 1024;   // larger -> 413
  // Each of: a new connection's first byte, a request's header (counted from its first byte),
  // its body must arrive within this: one deadline for the whole of each, however the client
  // trickles its bytes (a slowloris connection is closed when it passes).
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};   // keep-alive wait for the next request
  std::chrono::seconds write_timeout{30};  // to send one response; a client that does not read
                                           // it is dropped when it passes
  // Connections open at once (those lingering after a close included). A connection beyond it
  // is accepted and closed at once, unread (docs/design/overload.md). 0: DefaultMaxConnections().
  size_t max_connections = 0;
  ClockPtr clock;  // for the Date header; null = SystemClock
  // Builds the transport's own error responses: 400 malformed request, 413 body too large, 431
  // headers too large, 500 handler threw, 503 shutting down. `request` carries the method,
  // target and headers when the request's header was read (never its body: a 413 is answered
  // without reading it), so the error can take the shape of the API it targets; the request id
  // always. Null = DefaultErrorResponse.
  std::function<Response(int status, std::string_view message, const Request& request)> make_error;
  // One stderr line per request: method, path (never the query: it may carry codes), status,
  // duration, request id and client address. Bodies and Authorization are never logged.
  bool access_log = false;
  // Serve HTTPS with this context (tls.h); each connection keeps the certificate that was
  // current when it was accepted. Null: plain HTTP. The handshake must complete within
  // read_timeout; plain HTTP on a TLS port gets a 400 and is closed.
  std::shared_ptr<TlsContext> tls;
  // Whose X-Forwarded-For / Forwarded to believe when setting Request::client_address.
  TrustedProxies trusted_proxies;
  // The io threads' lag (docs/design/overload.md): a timer on the io threads expires every
  // `io_lag_interval`, and `on_io_lag` is called, on an io thread, with how long after its
  // expiry its handler ran: how long work that is ready waits for an io thread, which grows
  // when their CPU is saturated. No callback or a zero interval: no timer.
  std::chrono::milliseconds io_lag_interval{10};
  std::function<void(std::chrono::microseconds lag)> on_io_lag;
};

class Server {
 public:
  // Binds `options.host:options.port` (SO_REUSEADDR) and starts serving on `options.threads`
  // io threads. Returns the running server, or
  //   kInvalidArgument if the options are unusable (no handler, host does not resolve);
  //   kUnavailable if the address cannot be bound or listened on (e.g. port in use), with the
  //     OS reason in the message;
  //   kInternal if the io threads cannot be created.
  static StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);
  // The same with a handler that answers through its Responder (message.h).
  static StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, AsyncHandler handler);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Shuts down (drain timeout 0) if Shutdown() has not completed yet.
  ~Server();

  // The bound port (the kernel's choice when options.port was 0).
  uint16_t port() const;
  // "HOST:PORT" of the bound socket, e.g. "127.0.0.1:34567" ("[::1]:80" for IPv6).
  std::string address() const;

  // Stops accepting, closes idle keep-alive connections, lets requests whose handler is running
  // finish and send their response (with Connection: close); requests that complete arriving
  // after this call get 503. Returns once every connection has closed or `drain_timeout` has
  // passed, whichever is first; then the io threads are stopped and joined (a handler still
  // running past the timeout, or a Responder not yet called or dropped, delays the return until
  // it returns or is answered). Idempotent; concurrent callers
  // all return after the first completes. Callable from any thread except an io thread.
  void Shutdown(std::chrono::milliseconds drain_timeout);

  // Blocks until Shutdown() has been called (from another thread) and has completed.
  void Wait();

  class Impl;  // defined in beast/server.cc

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using ServerPtr = std::unique_ptr<Server>;

// RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string FormatHttpDate(Clock::TimePoint time);

// The default of ServerOptions::max_connections: 10,000, or fewer when the process may not open
// that many files (RLIMIT_NOFILE's soft limit less 128 for the database, logs and fetches).
size_t DefaultMaxConnections();

// The default ServerOptions::make_error: `status` with Content-Type application/json and body
// {"message":"<message>"}.
Response DefaultErrorResponse(int status, std::string_view message);

}  // namespace ts::http
