// File: status_matchers.h
// IsOk(), StatusIs(code, message_matcher), IsOkAndHolds(m): the matchers of Abseil's newer
// status_matchers.h. Tests assert on the specific error, never on "not ok".
#pragma once

#include <gmock/gmock.h>

#include "ts/common/status.h"

namespace ts::testing {

inline const ts::Status& GetStatus(const ts::Status& s) { return s; }
template <typename T>
const ts::Status& GetStatus(const ts::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const ts::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const ts::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

MATCHER_P(IsOkAndHolds, value_matcher, "") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace ts::testing

// Asserts that the StatusOr `expr` failed with the modeled wire error `type` (its
// x-amzn-ErrorType shape) and a message containing `fragment`.
#define EXPECT_API_ERROR(expr, type, fragment)                                                    \
  do {                                                                                            \
    auto ts_api_error_result_ = (expr);                                                           \
    EXPECT_FALSE(ts_api_error_result_.ok());                                                      \
    EXPECT_EQ(ts_api_error_result_.status().error_type(), type) << ts_api_error_result_.status(); \
    EXPECT_THAT(std::string(ts_api_error_result_.status().message()),                             \
                ::testing::HasSubstr(fragment));                                                  \
  } while (0)
