#include "ts/sigv4/canonical_request.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <utility>

#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"

namespace ts::sigv4 {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string EncodeComponent(std::string_view raw) {
  std::string out;
  auto decoded = http::PercentDecode(raw, /*plus_as_space=*/false);
  http::AppendPercentEncoded(decoded ? std::string_view(*decoded) : raw, out);
  return out;
}

bool ParseDigits(std::string_view s, int& out) {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

std::optional<int64_t> ToUnix(int year, int month, int day, int hour, int minute, int second) {
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                     std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  int64_t days = sys_days(ymd).time_since_epoch().count();
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace

std::string CanonicalUri(std::string_view raw_path) {
  // Remove dot segments and empty segments (RFC 3986 §5.2.4 plus the AWS rule that consecutive
  // slashes collapse), as botocore's normalize_url_path and smithy's getCanonicalPath do.
  std::vector<std::string_view> segments;
  std::string_view rest = raw_path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(segment);
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) out.push_back('/');
    http::AppendPercentEncoded(segments[i], out);
  }
  if (!segments.empty() && !raw_path.empty() && raw_path.back() == '/') out.push_back('/');
  return out;
}

std::string CanonicalQuery(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string_view rest = raw_query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    pairs.emplace_back(EncodeComponent(key), EncodeComponent(value));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out.append(key);
    out.push_back('=');
    out.append(value);
  }
  return out;
}

std::string CanonicalHeaderValue(std::string_view value) {
  value = Trim(value);
  std::string out;
  out.reserve(value.size());
  bool in_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out.push_back(' ');
    in_space = false;
    out.push_back(c);
  }
  return out;
}

std::string CanonicalRequest(const http::Request& request,
                             const std::vector<std::string>& signed_headers,
                             std::string_view payload_hash) {
  std::string out;
  out.reserve(256 + request.target.size());
  out.append(request.method);
  out.push_back('\n');
  out.append(CanonicalUri(request.Path()));
  out.push_back('\n');
  out.append(CanonicalQuery(request.Query()));
  out.push_back('\n');
  std::string lower;
  for (const std::string& name : signed_headers) {
    lower.assign(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.append(lower);
    out.push_back(':');
    bool first = true;
    for (const http::Header& header : request.headers) {
      if (header.name != lower) continue;
      if (!first) out.push_back(',');
      first = false;
      out.append(CanonicalHeaderValue(header.value));
    }
    out.push_back('\n');
  }
  out.push_back('\n');
  for (size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) out.push_back(';');
    out.append(signed_headers[i]);
  }
  out.push_back('\n');
  out.append(payload_hash);
  return out;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string out;
  out.reserve(kAlgorithm.size() + amz_date.size() + scope.size() + 67);
  out.append(kAlgorithm);
  out.push_back('\n');
  out.append(amz_date);
  out.push_back('\n');
  out.append(scope);
  out.push_back('\n');
  out.append(crypto::HexEncode(crypto::Sha256(canonical_request)));
  return out;
}

std::string CredentialScope(std::string_view date, std::string_view region,
                            std::string_view service) {
  std::string out;
  out.reserve(date.size() + region.size() + service.size() + kScopeTerminator.size() + 3);
  out.append(date).append("/").append(region).append("/").append(service).append("/");
  out.append(kScopeTerminator);
  return out;
}

std::string DeriveSigningKey(std::string_view secret_access_key, std::string_view date,
                             std::string_view region, std::string_view service) {
  std::string k_secret = "AWS4";
  k_secret.append(secret_access_key);
  std::string k_date = crypto::AsBytes(crypto::HmacSha256(k_secret, date));
  std::string k_region = crypto::AsBytes(crypto::HmacSha256(k_date, region));
  std::string k_service = crypto::AsBytes(crypto::HmacSha256(k_region, service));
  return crypto::AsBytes(crypto::HmacSha256(k_service, kScopeTerminator));
}

std::string SignatureHex(std::string_view signing_key, std::string_view string_to_sign) {
  return crypto::HexEncode(crypto::HmacSha256(signing_key, string_to_sign));
}

StatusOr<AuthorizationHeader> ParseAuthorization(std::string_view value) {
  auto incomplete = [](std::string_view message) {
    return ApiError(StatusCode::kUnauthenticated, "IncompleteSignatureException", message);
  };
  value = Trim(value);
  if (value.substr(0, kAlgorithm.size()) != kAlgorithm ||
      (value.size() > kAlgorithm.size() && !IsSpace(value[kAlgorithm.size()]))) {
    return incomplete("Unsupported Authorization Type: the Authorization header must use " +
                      std::string(kAlgorithm) + ".");
  }
  value.remove_prefix(kAlgorithm.size());
  std::optional<std::string_view> credential, signed_headers, signature;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view param = Trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = Trim(param.substr(0, eq));
    std::string_view v = Trim(param.substr(eq + 1));
    if (name == "Credential") credential = v;
    if (name == "SignedHeaders") signed_headers = v;
    if (name == "Signature") signature = v;
  }
  std::string missing;
  if (!credential || credential->empty()) {
    missing += "Authorization header requires 'Credential' parameter. ";
  }
  if (!signature || signature->empty()) {
    missing += "Authorization header requires 'Signature' parameter. ";
  }
  if (!signed_headers || signed_headers->empty()) {
    missing += "Authorization header requires 'SignedHeaders' parameter. ";
  }
  if (!missing.empty()) {
    missing.pop_back();
    return incomplete(missing);
  }

  AuthorizationHeader out;
  std::vector<std::string_view> parts;
  std::string_view rest = *credential;
  for (size_t slash; (slash = rest.find('/')) != std::string_view::npos;) {
    parts.push_back(rest.substr(0, slash));
    rest = rest.substr(slash + 1);
  }
  parts.push_back(rest);
  if (parts.size() != 5 || parts[0].empty() || parts[1].empty() || parts[2].empty() ||
      parts[3].empty()) {
    return incomplete(
        "Credential must have exactly 5 slash-delimited elements, e.g. "
        "keyid/date/region/service/term, got '" +
        std::string(*credential) + "'");
  }
  if (parts[4] != kScopeTerminator) {
    return incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                      std::string(parts[4]) + "'. ");
  }
  out.access_key_id = parts[0];
  out.date = parts[1];
  out.region = parts[2];
  out.service = parts[3];
  out.scope = CredentialScope(out.date, out.region, out.service);
  rest = *signed_headers;
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view name = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    if (!name.empty()) out.signed_headers.emplace_back(name);
  }
  out.signature = *signature;
  return out;
}

std::string FormatAmzDate(int64_t unix_seconds) {
  using namespace std::chrono;
  int64_t days = unix_seconds >= 0 ? unix_seconds / 86400 : (unix_seconds - 86399) / 86400;
  int64_t secs = unix_seconds - days * 86400;
  year_month_day ymd{sys_days(std::chrono::days(days))};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60));
  return buf;
}

std::optional<int64_t> ParseAmzDate(std::string_view text) {
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  int year, month, day, hour, minute, second;
  if (!ParseDigits(text.substr(0, 4), year) || !ParseDigits(text.substr(4, 2), month) ||
      !ParseDigits(text.substr(6, 2), day) || !ParseDigits(text.substr(9, 2), hour) ||
      !ParseDigits(text.substr(11, 2), minute) || !ParseDigits(text.substr(13, 2), second)) {
    return std::nullopt;
  }
  // A leap second (60) is the HTTP date's to allow (RFC 7231 §7.1.1.1), not X-Amz-Date's: the
  // SDKs format it from clocks that never show 60, and "...T161860Z" would be a second spelling
  // of "...T161900Z" (fuzz/corpus/sigv4/found-amz-date-second-60).
  if (second > 59) return std::nullopt;
  return ToUnix(year, month, day, hour, minute, second);
}

std::optional<int64_t> ParseHttpDate(std::string_view text) {
  // IMF-fixdate (RFC 7231 §7.1.1.1): "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 characters.
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  text = Trim(text);
  if (text.size() != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (text.substr(8, 3) == kMonths[i]) month = i + 1;
  }
  int year, day, hour, minute, second;
  if (month == 0 || !ParseDigits(text.substr(5, 2), day) ||
      !ParseDigits(text.substr(12, 4), year) || !ParseDigits(text.substr(17, 2), hour) ||
      !ParseDigits(text.substr(20, 2), minute) || !ParseDigits(text.substr(23, 2), second)) {
    return std::nullopt;
  }
  return ToUnix(year, month, day, hour, minute, second);
}

}  // namespace ts::sigv4
