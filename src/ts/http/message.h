// File: message.h
// Plain HTTP request and response values, free of any transport. Handlers turn a Request into a
// Response and never touch a socket (Beast's handle_request idea), so they test without one.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ts::http {

struct Header {
  std::string name;  // lower case in requests (the transport folds it); as written in responses
  std::string value;
};

struct Request {
  std::string method;           // "GET", "POST", ...
  std::string target;           // raw request-target, e.g. "/token?aws_iam=t"
  std::vector<Header> headers;  // arrival order; names lower-cased
  std::string body;
  std::string remote_address;  // TCP peer IP, e.g. "127.0.0.1" (a proxy's, behind one)
  // The address the request is attributed to, set by the transport (client_address.h): the
  // peer, or the client a trusted proxy names. Read it through ClientAddress().
  std::string client_address;
  std::string request_id;  // set by the transport; echoed as x-amzn-RequestId
  bool secure = false;     // arrived over TLS

  // The one address to throttle, log and audit a request by: client_address, or remote_address
  // when no transport set it (requests built in process).
  const std::string& ClientAddress() const {
    return client_address.empty() ? remote_address : client_address;
  }
  // Raw path (before '?') and raw query (after '?', "" if none).
  std::string_view Path() const;
  std::string_view Query() const;
  // First header with this lower-case name.
  std::optional<std::string_view> FindHeader(std::string_view lower_name) const;
  // Every value of this lower-case name, in arrival order.
  std::vector<std::string_view> FindHeaders(std::string_view lower_name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  // Runs on the connection's io thread just before the response is written, and may change all
  // of it: lets a Responder called on another thread (a store's commit thread) leave the answer's
  // last CPU work, such as signing, to the io threads. A throw answers 500.
  std::function<void(Response&)> finish;

  // Replaces every header of that name (case-insensitive) with one.
  void SetHeader(std::string_view name, std::string_view value);
  // Appends another header of that name (for Set-Cookie).
  void AddHeader(std::string_view name, std::string_view value);
  std::optional<std::string_view> FindHeader(std::string_view name) const;  // case-insensitive
};

using Handler = std::function<Response(const Request&)>;

// Completes one request with its response: call it once, from any thread (later calls are
// ignored). A Responder dropped without being called answers 500, so a lost request still gets
// an answer.
using Responder = std::function<void(Response)>;
// A handler that may answer later and from another thread, e.g. once the write it queued is
// durable. It runs on an io thread, so it must not block: work that waits (a network call, a
// synchronous commit, a password hash) belongs on another thread, which then calls the
// Responder.
using AsyncHandler = std::function<void(Request, Responder)>;

// Decodes %XX and, when `plus_as_space`, '+' (form encoding). nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space);
// Encodes everything outside RFC 3986 unreserved (A-Z a-z 0-9 - _ . ~) as %XX (upper-case hex).
std::string PercentEncode(std::string_view text);
// The same, appended to `out` (no temporary: SigV4 canonicalization uses it per segment).
void AppendPercentEncoded(std::string_view text, std::string& out);

// Parses "a=1&b=2" (query or application/x-www-form-urlencoded body) into ordered pairs.
// nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseForm(std::string_view text);

}  // namespace ts::http
