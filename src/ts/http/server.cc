// The Beast-free parts of server.h; the transport itself is in beast/server.cc.
#include "ts/http/server.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "ts/common/json_writer.h"

namespace ts::http {

std::string FormatHttpDate(Clock::TimePoint time) {
  // RFC 9110 §5.6.7: day and month names are fixed English, so no locale-dependent strftime.
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

size_t DefaultMaxConnections() {
  constexpr size_t kDefault = 10000;
  constexpr size_t kReserved = 128;  // database files, log, the JWKS fetches, the listener
  constexpr size_t kFloor = 16;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kDefault;
  const auto files = static_cast<size_t>(limit.rlim_cur);
  return std::clamp(files > kReserved ? files - kReserved : kFloor, kFloor, kDefault);
}

Response DefaultErrorResponse(int status, std::string_view message) {
  JsonWriter json;
  json.BeginObject();
  json.Member("message", message);
  json.EndObject();
  Response response;
  response.status = status;
  response.SetHeader("Content-Type", "application/json");
  response.body = json.Take();
  return response;
}

}  // namespace ts::http
