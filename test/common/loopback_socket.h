// File: loopback_socket.h
// A blocking TCP connection to a server on 127.0.0.1, for tests that speak to it byte by byte:
// raw HTTP/1.1 (http/server_test.cc) or a TLS handshake on the same descriptor (tls_test.cc).
// Every receive gives up after the timeout (10 s by default), a generous bound that only
// matters when the server misbehaves.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ts::testing {

class LoopbackSocket {
 public:
  explicit LoopbackSocket(uint16_t port,
                          std::chrono::seconds receive_timeout = std::chrono::seconds(10)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(receive_timeout.count());
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~LoopbackSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  bool connected() const { return connected_; }
  // For what layers itself on the connection (SSL_set_fd).
  int fd() const { return fd_; }

  // Sends all of `data`, stopping early if the server closed (the reads that follow report it).
  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  // One recv: the byte count, 0 once the server closed, < 0 on a timeout or an error (errno).
  ssize_t Receive(char* buffer, size_t size) { return ::recv(fd_, buffer, size, 0); }

  // Every byte until the server closes the connection or a receive times out. `closed`, when
  // given, says which ended it.
  std::string ReceiveAll(bool* closed = nullptr) {
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = Receive(buffer, sizeof(buffer))) > 0) out.append(buffer, static_cast<size_t>(n));
    if (closed != nullptr) *closed = n == 0;
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace ts::testing
