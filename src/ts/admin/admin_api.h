// File: admin_api.h
// The AWS-compatible admin plane (issue 3): the sso-admin (X-Amz-Target SWBExternalService.*,
// SigV4 signing name "sso") and identitystore (AWSIdentityStore.*, "identitystore") operations
// over awsJson 1.1 (docs/protocol.md §6), on top of the Store. Requests are validated against the
// embedded service models (service_model.h) before a handler sees them; callers are authorized
// as the instance owner's root credential or by their IAM identity policy
// (docs/design/admin-plane.md).
//
// Thread-safe: Handle may be called from every server thread at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/clock.h"
#include "ts/common/status.h"
#include "ts/http/message.h"
#include "ts/storage/account_store.h"
#include "ts/storage/application_store.h"
#include "ts/storage/credential_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/instance_store.h"

namespace ts::admin {

struct AdminCaller {
  std::string principal_arn;  // the SigV4 caller
  std::string account_id;
  std::string request_id;  // the transport's request id; identitystore errors carry it
};

struct AdminOptions {
  storage::Instance instance;
  // Key of the HMAC that makes NextToken values tamper-evident (32 bytes).
  std::string page_token_key;
};

// The storage the admin plane configures and reads (storage/store.h); one database serves all
// five.
struct AdminStorage {
  std::shared_ptr<storage::DirectoryStore> directory;       // identitystore: users, groups
  std::shared_ptr<storage::ApplicationStore> applications;  // sso-admin: applications, issuers
  std::shared_ptr<storage::CredentialStore> credentials;    // callers' identity policies
  std::shared_ptr<storage::InstanceStore> instance;         // idempotent responses (ClientToken)
  std::shared_ptr<storage::AccountStore> accounts;  // sso-admin: permission sets, assignments
};

class AdminApi {
 public:
  // Loads the embedded service models. Internal if they do not parse (a build defect).
  static StatusOr<std::unique_ptr<AdminApi>> Create(AdminStorage storage, ClockPtr clock,
                                                    AdminOptions options);
  ~AdminApi();

  // The SigV4 signing name for an X-Amz-Target value: "sso" for SWBExternalService.*,
  // "identitystore" for AWSIdentityStore.*, "" for anything else.
  static std::string_view SigningNameFor(std::string_view target);

  // The operations Handle implements for signing name "sso" or "identitystore", sorted (the
  // metrics' bounded operation label).
  std::vector<std::string> OperationNames(std::string_view signing_name) const;

  // Handles one authenticated awsJson 1.1 request: `target` is the X-Amz-Target header, `body`
  // the JSON body. Always returns a response: 200 with the operation's output, or the modeled
  // error (400; 500 InternalServerException for the store's own failures, logged by the caller
  // through `internal_error` when given).
  http::Response Handle(std::string_view target, const AdminCaller& caller, std::string_view body,
                        Status* internal_error = nullptr) const;

 private:
  struct Impl;
  explicit AdminApi(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The awsJson 1.1 error response for `status` (errors raised before an operation runs, such as
// SigV4 failures): `__type` and `Message` in the body plus `x-amzn-ErrorType`; 403 for the
// authentication errors, 400 for other modeled errors, 500 InternalServerException (generic
// message) for a status without an error type. For an identitystore `target` the body also
// carries `RequestId` (its error shapes model it) when `request_id` is given.
http::Response AwsJsonError(const Status& status, std::string_view target = {},
                            std::string_view request_id = {});

}  // namespace ts::admin
