// File: status.h
// Tessera's one error vocabulary: Status and StatusOr<T>, returned by every fallible function.
// No exception crosses a module boundary.
//
// A Status has a canonical code (the absl/google.rpc set), a message for humans and, for errors
// the wire protocol models, the name of the error shape that goes into `x-amzn-ErrorType`
// (e.g. "InvalidGrantException"). Only the HTTP front ends turn shapes into status codes.
//
// Why not absl::Status: Debian 12's libabsl is built with its own absl::string_view, which does
// not accept std::string_view, so every call site would need conversions (docs/design/status.md).
//
// Like leveldb::Status, OK holds no state and costs nothing. Thread-compatible.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace ts {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kFailedPrecondition,
  kResourceExhausted,
  kAborted,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string_view message, std::string_view error_type = {});
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  std::string_view message() const { return rep_ ? std::string_view(rep_->message) : ""; }
  // The wire error shape, or "" for an internal failure with no modeled shape.
  std::string_view error_type() const { return rep_ ? std::string_view(rep_->error_type) : ""; }

  // "INVALID_ARGUMENT [InvalidGrantException]: message", or "OK".
  std::string ToString() const;

  // Silences [[nodiscard]] where ignoring is deliberate (best-effort cleanup).
  void IgnoreError() const {}

 private:
  struct Rep {
    StatusCode code;
    std::string message;
    std::string error_type;
  };
  std::unique_ptr<Rep> rep_;
};

inline Status OkStatus() { return Status(); }
inline std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.ToString(); }

// Constructors for the common codes, like absl::InvalidArgumentError.
inline Status InvalidArgumentError(std::string_view m) { return {StatusCode::kInvalidArgument, m}; }
inline Status NotFoundError(std::string_view m) { return {StatusCode::kNotFound, m}; }
inline Status AlreadyExistsError(std::string_view m) { return {StatusCode::kAlreadyExists, m}; }
inline Status PermissionDeniedError(std::string_view m) {
  return {StatusCode::kPermissionDenied, m};
}
inline Status UnauthenticatedError(std::string_view m) { return {StatusCode::kUnauthenticated, m}; }
inline Status FailedPreconditionError(std::string_view m) {
  return {StatusCode::kFailedPrecondition, m};
}
inline Status AbortedError(std::string_view m) { return {StatusCode::kAborted, m}; }
inline Status UnavailableError(std::string_view m) { return {StatusCode::kUnavailable, m}; }
inline Status InternalError(std::string_view m) { return {StatusCode::kInternal, m}; }

// A modeled wire error: `error_type` is the shape name for `x-amzn-ErrorType`.
inline Status ApiError(StatusCode code, std::string_view error_type, std::string_view message) {
  return {code, message, error_type};
}

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) { assert(!status_.ok()); }        // NOLINT
  StatusOr(Status&& status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT
  StatusOr(const T& value) : value_(value) {}                                        // NOLINT
  StatusOr(T&& value) : value_(std::move(value)) {}                                  // NOLINT
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status> &&
           !std::is_same_v<std::decay_t<U>, StatusOr<T>>) StatusOr(U&& value)
      : value_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace ts
