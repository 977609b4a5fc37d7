// File: connection_lease.h (internal to the backends)
// ConnectionLease: a connection checked out of a backend's pool, given back when the lease ends.
// Both backends' pools (sqlite/, postgres/) hand them out; what giving back means (keep it idle,
// close it, drop it when broken) is the pool's Release.
#pragma once

#include <memory>
#include <utility>

namespace ts::storage {

// `Pool` has `void Release(std::unique_ptr<Connection>)`.
template <typename Pool, typename Connection>
class ConnectionLease {
 public:
  ConnectionLease(Pool* pool, std::unique_ptr<Connection> connection)
      : pool_(pool), connection_(std::move(connection)) {}
  ConnectionLease(ConnectionLease&& other) noexcept
      : pool_(other.pool_), connection_(std::move(other.connection_)) {}
  ConnectionLease& operator=(ConnectionLease&&) = delete;
  ~ConnectionLease() {
    if (connection_ != nullptr) pool_->Release(std::move(connection_));
  }
  Connection& operator*() const { return *connection_; }

 private:
  Pool* pool_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace ts::storage
