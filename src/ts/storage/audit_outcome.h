// File: audit_outcome.h
// Whether a write that returned OK made the change its audit event records (audit.h): a
// redemption that found its code used, expired or undecided changed nothing an event should
// claim. Shared by both backends' write helpers.
#pragma once

#include <type_traits>

#include "ts/common/status.h"
#include "ts/storage/client_store.h"
#include "ts/storage/grant_store.h"

namespace ts::storage {

inline bool MadeTheChange(const Status&) { return true; }

template <typename T>
bool MadeTheChange(const StatusOr<T>& result) {
  if constexpr (std::is_same_v<T, RedeemOutcome>) return *result == RedeemOutcome::kRedeemed;
  if constexpr (std::is_same_v<T, DeviceRedeemOutcome>) {
    return *result == DeviceRedeemOutcome::kRedeemed;
  }
  return true;
}

}  // namespace ts::storage
