// File: log.h
// The server's one way to write a log line: to stderr, one line per call, as plain text (the
// default, the sentences of earlier versions) or as one JSON object per line
// (`--log-format json`): {"time","level","msg","request_id", structured fields...}.
// docs/design/operations.md has the choices.
//
// The request id: every line a request causes carries the id its response carries in
// x-amzn-RequestId. The transport sets it for the thread handling the request
// (ScopedRequestId); work handed to another thread takes it along (ThreadPool::Post and the
// SQLite and PostgreSQL group-commit writers capture CurrentRequestId() when work is queued and
// restore it while it and its completion run).
//
// Never log a token, code, secret, password, Authorization header or query string: callers pass
// what is safe, this file does not redact.
//
//   log::Write(log::Level::kError, "sign-in: " + status.ToString(),
//              {{"error_type", "InternalServerException"}});
//
// Thread-safe: Write may be called from any thread; SetFormat before threads start.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace ts::log {

enum class Level : uint8_t { kInfo, kWarning, kError };
enum class Format : uint8_t { kText, kJson };

// "text" or "json"; false for anything else.
bool ParseFormat(std::string_view text, Format* format);

// The process's format (kText until set).
void SetFormat(Format format);
Format CurrentFormat();

// One structured member of a JSON line: text or a number; empty text is left out. Text mode
// leaves fields out (the message says it in words). The views must outlive the Write call.
struct Field {
  enum class Kind : uint8_t { kText, kInt, kMillis };
  Field(std::string_view k, std::string_view v) : key(k), text(v) {}
  Field(std::string_view k, const char* v) : key(k), text(v) {}
  Field(std::string_view k, const std::string& v) : key(k), text(v) {}
  Field(std::string_view k, int v) : key(k), kind(Kind::kInt), number(v) {}
  Field(std::string_view k, int64_t v) : key(k), kind(Kind::kInt), number(v) {}
  // A duration, written in milliseconds with three decimals (microsecond precision).
  Field(std::string_view k, std::chrono::microseconds v)
      : key(k), kind(Kind::kMillis), number(v.count()) {}

  std::string_view key;
  Kind kind = Kind::kText;
  std::string_view text;
  int64_t number = 0;
};

// A request id held by value (no allocation, trivially copyable) so it can follow work onto
// other threads cheaply. Longer ids are truncated to kMaxSize (the transport's are UUIDs, 36).
class RequestId {
 public:
  static constexpr size_t kMaxSize = 64;
  RequestId() = default;
  explicit RequestId(std::string_view id);
  std::string_view view() const { return {data_, size_}; }
  bool empty() const { return size_ == 0; }

 private:
  char data_[kMaxSize] = {};
  uint8_t size_ = 0;
};

// The request the calling thread is working for (empty when none).
const RequestId& CurrentRequestId();

// Sets the calling thread's request id for its lifetime, then restores the previous one.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(const RequestId& id);
  explicit ScopedRequestId(std::string_view id) : ScopedRequestId(RequestId(id)) {}
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  RequestId previous_;
};

// Writes one line to stderr in the process's format, with the calling thread's request id.
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

// The line Write would write (with its '\n'), for tests: `time` is rendered as RFC 3339 UTC
// with milliseconds, e.g. 2024-05-01T12:34:56.789Z.
std::string FormatLine(Format format, Level level, std::chrono::system_clock::time_point time,
                       std::string_view request_id, std::string_view msg,
                       std::span<const Field> fields);

// Appends `text` as a JSON string (RFC 8259 §7): quotes, backslash and every control character
// escaped (\n, \t, ... or \u00XX), DEL and U+2028/U+2029 escaped, and bytes that are not UTF-8
// replaced by U+FFFD, so a line is always one valid JSON object whatever a client sent.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace ts::log
