// File: request_metrics.h
// The public listener's request metrics (docs/design/metrics.md): every request is classified
// once, when it arrives, into a bounded set of rows (API and operation, grant type), and counted
// with its latency, status class and modeled error type when its answer is ready. Nothing about
// the caller (client id, address, user) becomes a label.
//
// Classify is the one place a request's operation is decided: the access log names the row's
// operation (OperationName), so a log line and the metrics never disagree.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/metrics.h"
#include "ts/http/message.h"

namespace ts::server {

struct Route;

// What a request counts as, resolved from its route and headers (no allocation).
struct RequestLabels {
  uint16_t operation = 0;  // row of tessera_requests_total's {api, operation}
  uint16_t latency = 0;    // row of tessera_request_duration_seconds' {api, operation}
  uint8_t api = 0;         // row of tessera_request_errors_total's api
  uint8_t grant = 0;       // token requests: 1 + row of grant_type; 0 otherwise
};

class RequestMetrics {
 public:
  // The process's request metrics, registered in metrics::DefaultRegistry() by the first call;
  // the admin planes' operation names (AdminApi::OperationNames) are taken from that call.
  static const RequestMetrics& Get(const std::vector<std::string>& sso_admin_operations,
                                   const std::vector<std::string>& identity_store_operations);

  // `route` is FindRoute's answer (null: no route matched).
  RequestLabels Classify(const Route* route, const http::Request& request) const;

  // The `operation` label of the row (CreateTokenWithIAM, ListInstances, GET /authorize, ...);
  // empty for the row of requests no operation answers (labelled "unknown").
  std::string_view OperationName(RequestLabels labels) const;

  // `respond`, counting the answer it is given (after its `finish`, when it has one) with the
  // time since this call.
  http::Responder Observe(RequestLabels labels, http::Responder respond) const;

  void Record(RequestLabels labels, const http::Response& response,
              std::chrono::steady_clock::time_point start) const;

  // The grant type row of a token request body (JSON grantType or form grant_type), for tests.
  static size_t GrantRow(std::string_view body);

 private:
  RequestMetrics(const std::vector<std::string>& sso_admin_operations,
                 const std::vector<std::string>& identity_store_operations);
  size_t AdminRow(std::string_view target) const;

  std::vector<std::string> sso_admin_;  // sorted
  std::vector<std::string> identity_store_;
  size_t sso_admin_base_ = 0;  // first operation row of each admin plane
  size_t identity_store_base_ = 0;
  std::vector<metrics::Counter> requests_;   // operation row * 4 + status class
  std::vector<metrics::Histogram> latency_;  // latency row
  std::vector<metrics::Counter> errors_;     // api * error types + error type
  std::vector<metrics::Counter> token_;      // grant row * token outcomes + outcome
};

}  // namespace ts::server
