// File: status_macros.h
// Early-return helpers with the semantics of Abseil's newer status_macros.h, which Debian's
// libabsl 20220623 lacks.
#pragma once

#include "ts/common/status.h"

#define TS_STATUS_CONCAT_INNER_(a, b) a##b
#define TS_STATUS_CONCAT_(a, b) TS_STATUS_CONCAT_INNER_(a, b)

// TS_RETURN_IF_ERROR(expr): returns the status of `expr` from the enclosing function unless ok.
#define TS_RETURN_IF_ERROR(expr)                        \
  do {                                                  \
    const ::ts::Status ts_status_macro_value_ = (expr); \
    if (!ts_status_macro_value_.ok()) {                 \
      return ts_status_macro_value_;                    \
    }                                                   \
  } while (false)

// TS_ASSIGN_OR_RETURN(lhs, expr): evaluates the StatusOr `expr`; returns its status unless ok,
// otherwise moves its value into `lhs` (which may be a declaration: `auto x`).
#define TS_ASSIGN_OR_RETURN(lhs, expr) \
  TS_ASSIGN_OR_RETURN_IMPL_(TS_STATUS_CONCAT_(ts_statusor_, __LINE__), lhs, expr)

#define TS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) {                                \
    return std::move(statusor).status();               \
  }                                                    \
  lhs = std::move(statusor).value()
