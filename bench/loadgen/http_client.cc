#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace loadgen {
namespace {

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

int ConnectTcp(const std::string& host, uint16_t port, std::string& error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

bool Connection::Connect(std::string& error) {
  fd_ = ConnectTcp(host_, port_, error);
  return fd_ >= 0;
}

bool Connection::RoundTrip(const std::string& raw_request, HttpResponse& response,
                           std::string& error) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = fd_ >= 0;
    if (!reused && !Connect(error)) return false;
    if (SendAll(fd_, raw_request) && ReadResponse(response, error)) {
      auto it = response.headers.find("connection");
      if (it != response.headers.end() && Lower(it->second) == "close") Close();
      return true;
    }
    Close();
    // A fresh connection that failed is a real failure; a reused one may have been closed by
    // the server's idle timeout, so try once more on a new connection.
    if (!reused) {
      if (error.empty()) error = "connection closed";
      return false;
    }
  }
  return false;
}

int ParseResponse(std::string& buffer, HttpResponse& response) {
  const size_t header_end = buffer.find("\r\n\r\n");
  if (header_end == std::string::npos) return 0;
  response = HttpResponse();
  const size_t line_end = buffer.find("\r\n");
  if (line_end < 12 || buffer.compare(0, 5, "HTTP/") != 0) return -1;
  response.status = std::atoi(buffer.c_str() + 9);
  size_t pos = line_end + 2;
  while (pos < header_end) {
    const size_t eol = buffer.find("\r\n", pos);
    const std::string line = buffer.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      // Repeated headers (Set-Cookie) are kept one per line.
      std::string& value = response.headers[Lower(line.substr(0, colon))];
      value += (value.empty() ? "" : "\n") + Trim(line.substr(colon + 1));
    }
    pos = eol + 2;
  }
  size_t length = 0;
  if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
    length = static_cast<size_t>(std::strtoull(it->second.c_str(), nullptr, 10));
  }
  const size_t body_start = header_end + 4;
  if (buffer.size() < body_start + length) return 0;
  response.body = buffer.substr(body_start, length);
  buffer.erase(0, body_start + length);
  return 1;
}

bool Connection::ReadResponse(HttpResponse& response, std::string& error) {
  char chunk[16384];
  while (true) {
    const int parsed = ParseResponse(buffer_, response);
    if (parsed > 0) return true;
    if (parsed < 0) {
      error = "malformed status line";
      return false;
    }
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n == 0 ? "connection closed" : std::string("recv: ") + std::strerror(errno);
      return false;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

StaticServer::~StaticServer() {
  stop_ = true;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

bool StaticServer::Start(uint16_t port, std::map<std::string, std::string> bodies,
                         std::string& error) {
  bodies_ = std::move(bodies);
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    error = std::string("issuer server bind/listen: ") + std::strerror(errno);
    return false;
  }
  thread_ = std::thread([this] { Serve(); });
  return true;
}

void StaticServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Handle(client);
    ::close(client);
  }
}

// One request per connection (Connection: close): the issuer is fetched rarely.
void StaticServer::Handle(int client) {
  std::string request;
  char chunk[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    const ssize_t n = ::recv(client, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    request.append(chunk, static_cast<size_t>(n));
  }
  const size_t sp1 = request.find(' ');
  const size_t sp2 = request.find(' ', sp1 + 1);
  const std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
  auto it = bodies_.find(path);
  std::string response;
  if (it == bodies_.end()) {
    response = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  } else {
    response =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=3600"
        "\r\nConnection: close\r\nContent-Length: " +
        std::to_string(it->second.size()) + "\r\n\r\n" + it->second;
  }
  SendAll(client, response);
}

}  // namespace loadgen
