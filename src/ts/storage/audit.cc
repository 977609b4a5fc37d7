// File: audit.cc
#include "ts/storage/audit.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>

#include "ts/common/json_writer.h"

namespace ts::storage {
namespace {

thread_local AuditRequestContext* current_request = nullptr;
thread_local AuditScope* current_scope = nullptr;

struct Defaults {
  std::string region = "us-east-1";
  std::string account_id;
  std::string identity_store_arn;
};
Defaults& TheDefaults() {
  static Defaults defaults;
  return defaults;
}

AuditStream& TheStream() {
  static AuditStream stream;
  return stream;
}

// eventID is an identifier, not a secret: a per-thread generator seeded from the OS suffices.
std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (static_cast<uint64_t>(std::random_device{}()) << 32)};
  const uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  const uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
  return out;
}

void Pairs(JsonWriter& w, std::string_view key,
           const std::vector<std::pair<std::string, std::string>>& pairs) {
  w.Key(key);
  if (pairs.empty()) {
    w.Null();
    return;
  }
  w.BeginObject();
  for (const auto& [name, value] : pairs) w.Member(name, value);
  w.EndObject();
}

void Fill(AuditEvent& e) {
  if (e.event_time == 0) e.event_time = static_cast<int64_t>(std::time(nullptr));
  if (const AuditRequestContext* r = AuditRequest::Current(); r != nullptr) {
    if (e.source_ip.empty()) e.source_ip = r->source_ip;
    if (e.user_agent.empty()) e.user_agent = r->user_agent;
    if (e.request_id.empty()) e.request_id = r->request_id;
    if (e.principal_arn.empty() && e.identity_type.empty() && !r->identity_type.empty()) {
      e.identity_type = r->identity_type;
      e.user_name = r->user_name;
    }
    if (e.principal_arn.empty() && e.identity_type.empty() && !r->principal_arn.empty()) {
      e.principal_arn = r->principal_arn;
      e.account_id = r->account_id;
      e.access_key_id = r->access_key_id;
      e.identity_type = IdentityTypeOf(r->principal_arn);
      // CloudTrail's principalId of a root or IAM user is an opaque id; the account id (root)
      // or the ARN's last part stands in for it.
      if (e.principal_id.empty()) {
        const size_t slash = r->principal_arn.find_last_of("/:");
        e.principal_id =
            e.identity_type == "Root" ? r->account_id : r->principal_arn.substr(slash + 1);
      }
    }
  }
  if (e.event_id.empty()) e.event_id = NewUuid();
  if (e.identity_type == "IdentityCenterUser" && e.identity_store_arn.empty()) {
    e.identity_store_arn = TheDefaults().identity_store_arn;
  }
  if (e.account_id.empty() && e.identity_type == "IdentityCenterUser") {
    e.account_id = TheDefaults().account_id;
  }
}

}  // namespace

AuditRequest::AuditRequest(AuditRequestContext context)
    : context_(std::move(context)), previous_(current_request) {
  current_request = &context_;
}
AuditRequest::~AuditRequest() { current_request = previous_; }
const AuditRequestContext* AuditRequest::Current() { return current_request; }

void AuditRequest::SetCaller(std::string principal_arn, std::string account_id,
                             std::string access_key_id) {
  if (current_request == nullptr) return;
  current_request->principal_arn = std::move(principal_arn);
  current_request->account_id = std::move(account_id);
  current_request->access_key_id = std::move(access_key_id);
}

std::string IdentityTypeOf(std::string_view arn) {
  if (arn.ends_with(":root")) return "Root";
  if (arn.find(":user/") != std::string_view::npos) return "IAMUser";
  if (arn.find(":assumed-role/") != std::string_view::npos ||
      arn.find(":role/") != std::string_view::npos) {
    return "AssumedRole";
  }
  return "Unknown";
}

void SetAuditDefaults(std::string region, std::string account_id, std::string identity_store_arn) {
  TheDefaults() = {std::move(region), std::move(account_id), std::move(identity_store_arn)};
}

void SetAuditInstance(std::string region, const std::string& owner_account_id,
                      const std::string& identity_store_id) {
  SetAuditDefaults(
      std::move(region), owner_account_id,
      "arn:aws:identitystore::" + owner_account_id + ":identitystore/" + identity_store_id);
}

AuditRequestContext LocalOperatorContext(std::string user_agent) {
  AuditRequestContext c;
  c.source_ip = "localhost";
  c.user_agent = std::move(user_agent);
  c.identity_type = "LocalOperator";
  const passwd* pw = ::getpwuid(::geteuid());
  c.user_name = pw != nullptr ? pw->pw_name : std::to_string(::geteuid());
  return c;
}

std::string AuditEvent::ToJson() {
  Fill(*this);
  const Defaults& d = TheDefaults();
  JsonWriter w;
  w.BeginObject();
  w.Member("eventVersion", "1.09");
  w.Key("userIdentity");
  w.BeginObject();
  w.Member("type", identity_type.empty() ? "Unknown" : identity_type);
  if (!principal_id.empty()) w.Member("principalId", principal_id);
  if (!principal_arn.empty()) w.Member("arn", principal_arn);
  if (!account_id.empty()) w.Member("accountId", account_id);
  if (!access_key_id.empty()) w.Member("accessKeyId", access_key_id);
  if (!user_name.empty()) w.Member("userName", user_name);
  if (!credential_id.empty()) w.Member("credentialId", credential_id);
  if (identity_type == "IdentityCenterUser" && !principal_id.empty()) {
    w.Key("onBehalfOf");
    w.BeginObject();
    w.Member("userId", principal_id);
    if (!identity_store_arn.empty()) w.Member("identityStoreArn", identity_store_arn);
    w.EndObject();
  }
  w.EndObject();
  w.Member("eventTime", IsoTime(event_time));
  w.Member("eventSource", event_source);
  w.Member("eventName", event_name);
  w.Member("awsRegion", d.region);
  w.Member("sourceIPAddress", source_ip);
  w.Member("userAgent", user_agent);
  if (!error_code.empty()) {
    w.Member("errorCode", error_code);
    w.Member("errorMessage", error_message);
  }
  Pairs(w, "requestParameters", request_parameters);
  Pairs(w, "responseElements", response_elements);
  if (!additional_event_data.empty()) Pairs(w, "additionalEventData", additional_event_data);
  if (!service_event_details.empty()) Pairs(w, "serviceEventDetails", service_event_details);
  w.Member("requestID", request_id);
  w.Member("eventID", event_id);
  w.MemberBool("readOnly", read_only);
  w.Member("eventType", event_type);
  w.MemberBool("managementEvent", true);
  w.Member("recipientAccountId", d.account_id);
  w.Member("eventCategory", "Management");
  w.EndObject();
  return w.Take();
}

AuditRecord ToRecord(AuditEvent& event) {
  AuditRecord r;
  r.json = event.ToJson();
  r.event_time = event.event_time;
  r.event_name = event.event_name;
  r.principal_arn = event.principal_arn;
  r.principal_id = event.principal_id;
  return r;
}

AuditScope::AuditScope(AuditEvent event) : event_(std::move(event)), previous_(current_scope) {
  current_scope = this;
}
AuditScope::~AuditScope() { current_scope = previous_; }

AuditEvent* AuditScope::Current() {
  for (AuditScope* s = current_scope; s != nullptr; s = s->previous_) {
    if (s->event_) return &*s->event_;
  }
  return nullptr;
}

std::optional<AuditRecord> TakePendingAudit() {
  for (AuditScope* s = current_scope; s != nullptr; s = s->previous_) {
    if (!s->event_) continue;
    AuditRecord record = ToRecord(*s->event_);
    s->event_.reset();
    return record;
  }
  return std::nullopt;
}

void SetAuditStream(AuditStream stream) { TheStream() = std::move(stream); }

void StreamAudit(const AuditRecord& record) {
  if (const AuditStream& stream = TheStream(); stream) stream(record);
}

std::string IsoTime(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::optional<int64_t> ParseIsoTime(std::string_view text) {
  if (text.empty()) return std::nullopt;
  bool digits = true;
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (digits && text.size() <= 12) return std::stoll(std::string(text));
  std::tm tm{};
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) == 6) {
    std::string_view rest = text.substr(static_cast<size_t>(consumed));
    if (!rest.empty() && rest.front() == '.') {
      size_t i = 1;
      while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
      if (i == 1) return std::nullopt;
      rest.remove_prefix(i);
    }
    if (rest != "Z") return std::nullopt;
  } else if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                         &consumed) == 3 &&
             static_cast<size_t>(consumed) == s.size()) {
  } else {
    return std::nullopt;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace ts::storage
