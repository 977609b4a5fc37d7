// File: http_client.h
// The load generator's HTTP/1.1 plumbing: a blocking keep-alive client connection to a loopback
// server, and a tiny single-threaded server for the trusted token issuer's discovery document
// and JWKS. Deliberately minimal (Content-Length bodies only, no chunking, no TLS): it talks to
// Tessera and the peer on 127.0.0.1, where a thread per connection costs less than an event loop
// would in code.
//
// Thread-safety: a Connection is used by one thread at a time; StaticServer runs its own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>

namespace loadgen {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Parses one response from the front of `buffer` and removes it: 1 when a whole response was
// there, 0 when more bytes are needed (nothing removed), -1 when the bytes are not HTTP.
int ParseResponse(std::string& buffer, HttpResponse& response);

// Opens a TCP connection to host:port with TCP_NODELAY; -1 with `error` set on failure.
int ConnectTcp(const std::string& host, uint16_t port, std::string& error);

class Connection {
 public:
  Connection(std::string host, uint16_t port) : host_(std::move(host)), port_(port) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `raw_request` (a complete HTTP/1.1 request) and reads the response. Connects first if
  // needed; on a broken keep-alive connection reconnects once and resends. Returns false with
  // `error` set when the exchange fails.
  bool RoundTrip(const std::string& raw_request, HttpResponse& response, std::string& error);

 private:
  bool Connect(std::string& error);
  void Close();
  bool ReadResponse(HttpResponse& response, std::string& error);

  std::string host_;
  uint16_t port_;
  int fd_ = -1;
  std::string buffer_;  // bytes read past the previous response
};

// Serves fixed bodies by path (GET only) on 127.0.0.1:`port` until destroyed.
class StaticServer {
 public:
  StaticServer() = default;
  ~StaticServer();
  // Binds and starts serving; false with `error` on failure.
  bool Start(uint16_t port, std::map<std::string, std::string> bodies, std::string& error);

 private:
  void Serve();
  void Handle(int client);

  int listen_fd_ = -1;
  std::map<std::string, std::string> bodies_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace loadgen
