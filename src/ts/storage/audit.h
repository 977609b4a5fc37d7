// File: audit.h
// The audit trail (issue 20, docs/design/audit.md): CloudTrail-shaped events that commit in the
// same transaction as the change they record.
//
// How an event reaches the transaction: whoever is about to make a change opens an `AuditScope`
// on its thread with the event; the next write the store is asked for on that thread takes the
// event (whether that write then succeeds or not) and inserts it inside the write's own
// transaction, after the change and only if the change succeeded. So a refused or failed change
// leaves no event, and a committed change always has its event. Reads do not take it. An
// asynchronous write takes the event on the calling thread, when it is queued.
//
// `AuditRequest` carries what the transport knows about the request (address, user agent,
// request id) on the thread that serves it, so events made deeper down need not be told.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ts/common/status.h"

namespace ts::storage {

// What the transport knows about the request being served on this thread.
struct AuditRequestContext {
  std::string source_ip;
  std::string user_agent;
  std::string request_id;
  // The SigV4 caller, once verified (SetCaller); events made without an identity of their own
  // take this one.
  std::string principal_arn;
  std::string account_id;
  std::string access_key_id;
  // Set for callers that are not SigV4 principals (the CLI: LocalOperator and the OS user).
  std::string identity_type;
  std::string user_name;
};

// Sets the request context for this thread while alive (nests: restores the previous one).
class AuditRequest {
 public:
  explicit AuditRequest(AuditRequestContext context);
  ~AuditRequest();
  AuditRequest(const AuditRequest&) = delete;
  AuditRequest& operator=(const AuditRequest&) = delete;
  static const AuditRequestContext* Current();
  // Records the verified SigV4 caller in this thread's context (no-op without one).
  static void SetCaller(std::string principal_arn, std::string account_id,
                        std::string access_key_id);

 private:
  AuditRequestContext context_;
  AuditRequestContext* previous_;
};

// userIdentity.type for an IAM principal ARN: Root, IAMUser, AssumedRole (a role), else Unknown.
std::string IdentityTypeOf(std::string_view principal_arn);

// One CloudTrail record before it is serialized. Strings left empty are left out (or null,
// where CloudTrail always has the member). Parameters are name/value pairs that the caller has
// already passed through an allow-list: nothing here is redacted again.
struct AuditEvent {
  int64_t event_time = 0;                 // Unix seconds; 0 = now
  std::string event_source;               // sso-oauth.amazonaws.com, sso.amazonaws.com, ...
  std::string event_name;                 // the API operation, or e.g. UserAuthentication
  std::string event_type = "AwsApiCall";  // AwsApiCall, AwsServiceEvent, AwsConsoleSignIn
  bool read_only = false;
  // userIdentity.
  std::string identity_type;  // Root, IAMUser, AssumedRole, IdentityCenterUser, Unknown, ...
  std::string principal_arn;  // userIdentity.arn
  std::string principal_id;   // userIdentity.principalId (the Identity Store user id for users)
  std::string account_id;     // userIdentity.accountId
  std::string access_key_id;  // userIdentity.accessKeyId
  std::string user_name;      // userIdentity.userName
  std::string credential_id;  // userIdentity.credentialId: the client or application acting
  // IdentityCenterUser: userIdentity.onBehalfOf {userId, identityStoreArn}; the user id is
  // principal_id.
  std::string identity_store_arn;
  // From the request context unless set.
  std::string source_ip;
  std::string user_agent;
  std::string request_id;
  std::vector<std::pair<std::string, std::string>> request_parameters;
  std::vector<std::pair<std::string, std::string>> response_elements;
  std::vector<std::pair<std::string, std::string>> additional_event_data;
  std::vector<std::pair<std::string, std::string>> service_event_details;  // AwsServiceEvent
  std::string error_code;
  std::string error_message;
  std::string event_id;  // a UUID; generated when empty

  // The CloudTrail record, one JSON object on one line. Fills time, context and id first.
  std::string ToJson();
};

// Region and account every event names (awsRegion, recipientAccountId), and the identity
// store's ARN that users' events name; set once at start-up.
void SetAuditDefaults(std::string region, std::string account_id,
                      std::string identity_store_arn = {});
// The same, for an instance: its owner account and identity store
// (arn:aws:identitystore::<account>:identitystore/<id>).
void SetAuditInstance(std::string region, const std::string& owner_account_id,
                      const std::string& identity_store_id);

// The context of an operator acting on this host rather than over the API (the CLI, and the
// server's start-up applying --demo or --bootstrap): userIdentity.type LocalOperator with the OS
// user's name, sourceIPAddress "localhost".
AuditRequestContext LocalOperatorContext(std::string user_agent);

// An event as the store keeps it.
struct AuditRecord {
  int64_t id = 0;  // increasing, assigned by the store
  int64_t event_time = 0;
  std::string event_name;
  std::string principal_arn;
  std::string principal_id;
  std::string json;  // the CloudTrail record
};

// Builds the record (filling time, context, id) for a backend to insert.
AuditRecord ToRecord(AuditEvent& event);

// Hands `event` to the next store write on this thread while alive. Current() lets the code
// that makes the change add what it learns late (a new resource's id) to responseElements.
class AuditScope {
 public:
  explicit AuditScope(AuditEvent event);
  ~AuditScope();
  AuditScope(const AuditScope&) = delete;
  AuditScope& operator=(const AuditScope&) = delete;
  // The event still waiting for a write on this thread, or nullptr.
  static AuditEvent* Current();

 private:
  std::optional<AuditEvent> event_;
  AuditScope* previous_;
  friend std::optional<AuditRecord> TakePendingAudit();
};

// For backends: takes this thread's pending event (nullopt when none), as its record.
std::optional<AuditRecord> TakePendingAudit();

// The optional stream (--audit-log): called with each record after its transaction committed.
// Best effort; the table is the record. Set once at start-up, before any write.
using AuditStream = std::function<void(const AuditRecord&)>;
void SetAuditStream(AuditStream stream);
void StreamAudit(const AuditRecord& record);

// The time filter and paging of `tessera audit`; 0 / empty = no bound.
struct AuditQuery {
  int64_t since = 0;  // event_time >= since
  int64_t until = 0;  // event_time < until (0: no bound)
  std::string event_name;
  std::string principal;  // principal ARN or principal id (an Identity Store user id)
  int64_t after_id = 0;   // id > after_id
  int limit = 1000;
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // Records an event that is itself the change (a failed sign-in, a throttled one): one write
  // that inserts only the event.
  virtual Status AppendAuditEvent(AuditEvent event) = 0;
  // Events matching `query`, oldest first (by id). InvalidArgument for a limit <= 0.
  virtual StatusOr<std::vector<AuditRecord>> ListAuditEvents(const AuditQuery& query) = 0;
  // Retention (the housekeeper, --audit-retention-days): deletes up to `batch` events older than
  // `before` (event_time < before), oldest first, and returns how many it deleted.
  virtual StatusOr<int64_t> PurgeAuditEvents(int64_t before, int batch) = 0;
};

// Seconds since the epoch as CloudTrail writes eventTime: 2024-05-01T12:00:00Z.
std::string IsoTime(int64_t unix_seconds);
// Parses that form (also with fractional seconds, or a date alone) or plain Unix seconds;
// nullopt when neither.
std::optional<int64_t> ParseIsoTime(std::string_view text);

}  // namespace ts::storage
