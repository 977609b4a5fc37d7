// File: device_page.h
// The device verification page of RFC 8628 §3.3 at /device, where a user approves what
// StartDeviceAuthorization started on a device (the AWS CLI's `aws sso login --use-device-code`):
//
//   GET  /device[?user_code=XXXX-XXXX]  the form for the user code (verificationUriComplete
//                                       fills it in; nothing happens until the user submits it)
//   POST /device step=code              looks the code up; then the sign-in form, unless the
//                                       browser has a live session
//   POST /device step=signin            the password (SignIn: the same throttles and session as
//                                       /authorize); then the consent page
//   POST /device step=decide            Approve or Deny, recorded with
//                                       ClientStore::DecideDeviceAuthorization; then a final page
//
// Every POST carries the user code again and is checked afresh: CSRF (SignIn::CheckCsrf, the
// cookie scoped to /device), the code (unknown or expired codes count against the client
// address: RFC 8628 §5.1 brute force), the client, its entitled application (enabled, and the
// user assigned before an approval). The approval records the approving session, so signing
// out revokes what the device obtained. No scripts; every value is escaped.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ts/common/clock.h"
#include "ts/http/message.h"
#include "ts/storage/application_store.h"
#include "ts/storage/client_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/session_store.h"
#include "ts/web/sign_in.h"
#include "ts/web/throttle.h"

namespace ts::web {

// The storage the page uses (storage/store.h); one database serves all four.
struct DevicePageStorage {
  std::shared_ptr<storage::ClientStore> clients;            // device authorizations, clients
  std::shared_ptr<storage::ApplicationStore> applications;  // entitled applications
  std::shared_ptr<storage::DirectoryStore> directory;       // the signed-in user's name
  std::shared_ptr<storage::SessionStore> sessions;          // the wrong-code windows
};

struct DevicePageOptions {
  // Unknown or expired user codes a client address may enter per window before it must wait.
  int max_code_failures_per_address = 10;
  int64_t code_failure_window_seconds = 15 * 60;
};

// A user code as the user typed it, normalised: upper case, without '-' and white space. The
// store keeps TokenMinter::Hash of this form (records.h DeviceAuthorization::user_code_hash).
std::string NormalizeUserCode(std::string_view entered);
// A normalised code as shown: XXXX-XXXX when it has eight characters, else unchanged.
std::string FormatUserCode(std::string_view normalized);

class DevicePageHandler {
 public:
  DevicePageHandler(DevicePageStorage storage, std::shared_ptr<SignIn> sign_in, ClockPtr clock,
                    DevicePageOptions options = {});

  http::Response Get(const http::Request& request);
  http::Response Post(const http::Request& request);

  // Defined in the .cc: a pending authorization found by its user code, with its client.
  struct Found;

 private:
  // The pending authorization the entered code names, or a response for the code form.
  Found Lookup(const std::string& entered, const std::string& client_address, int64_t now);
  http::Response CodePage(std::string_view entered, std::string_view error, int status,
                          const std::string& csrf);
  http::Response SignInPage(const Found& found, std::string_view user_name, std::string_view error,
                            int status, const std::string& csrf);
  http::Response ConsentPage(const Found& found, const storage::SignInSession& session,
                             std::string_view error, int status, const std::string& csrf);
  // Whether the user may approve (their assignment to the entitled application); an error
  // message for the page when the store cannot tell.
  StatusOr<bool> MayApprove(const Found& found, const std::string& user_id);

  DevicePageStorage storage_;
  std::shared_ptr<SignIn> sign_in_;
  ClockPtr clock_;
  DevicePageOptions options_;
  Throttle code_throttle_;
};

}  // namespace ts::web
