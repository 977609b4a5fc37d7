#include "ts/common/log.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>

namespace ts::log {
namespace {

std::atomic<Format> g_format{Format::kText};
thread_local RequestId t_request_id;

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// The length of the UTF-8 sequence at `s[i]` when it is well formed (RFC 3629 §4: no overlong
// forms, no surrogates, nothing above U+10FFFF), else 0.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return n;
}

void AppendRfc3339Millis(std::string& out, std::chrono::system_clock::time_point time) {
  const auto millis =
      std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(
      millis >= 0 ? millis / 1000 : (millis - 999) / 1000);  // floor for times before 1970
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];  // room for any int the compiler imagines in each field
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis - static_cast<int64_t>(seconds) * 1000));
  out.append(buf);
}

void AppendMillis(std::string& out, int64_t micros) {
  char buf[32];
  const char* sign = micros < 0 ? "-" : "";
  const uint64_t magnitude =
      micros < 0 ? 0 - static_cast<uint64_t>(micros) : static_cast<uint64_t>(micros);
  std::snprintf(buf, sizeof(buf), "%s%llu.%03llu", sign,
                static_cast<unsigned long long>(magnitude / 1000),
                static_cast<unsigned long long>(magnitude % 1000));
  out.append(buf);
}

}  // namespace

bool ParseFormat(std::string_view text, Format* format) {
  if (text == "text") {
    *format = Format::kText;
    return true;
  }
  if (text == "json") {
    *format = Format::kJson;
    return true;
  }
  return false;
}

void SetFormat(Format format) { g_format.store(format, std::memory_order_relaxed); }

Format CurrentFormat() { return g_format.load(std::memory_order_relaxed); }

RequestId::RequestId(std::string_view id) {
  size_ = static_cast<uint8_t>(std::min(id.size(), kMaxSize));
  id.copy(data_, size_);
}

const RequestId& CurrentRequestId() { return t_request_id; }

ScopedRequestId::ScopedRequestId(const RequestId& id) : previous_(t_request_id) {
  t_request_id = id;
}

ScopedRequestId::~ScopedRequestId() { t_request_id = previous_; }

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out.append("\\u00");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out.append("\\ufffd");  // not UTF-8: one replacement per bad byte
      ++i;
      continue;
    }
    const std::string_view sequence = text.substr(i, n);
    if (sequence == "\xE2\x80\xA8") {
      out.append("\\u2028");  // line and paragraph separators break naive line readers
    } else if (sequence == "\xE2\x80\xA9") {
      out.append("\\u2029");
    } else {
      out.append(sequence);
    }
    i += n;
  }
  out.push_back('"');
}

std::string FormatLine(Format format, Level level, std::chrono::system_clock::time_point time,
                       std::string_view request_id, std::string_view msg,
                       std::span<const Field> fields) {
  std::string out;
  if (format == Format::kText) {
    // The sentence as earlier versions wrote it, then the request's id. Control characters
    // become '?' so a line stays one line.
    out.reserve(msg.size() + request_id.size() + 8);
    for (char ch : msg) out.push_back(static_cast<unsigned char>(ch) < 0x20 ? '?' : ch);
    if (!request_id.empty()) out.append(" id=").append(request_id);
    out.push_back('\n');
    return out;
  }
  out.reserve(96 + msg.size() + fields.size() * 24);
  out.append("{\"time\":\"");
  AppendRfc3339Millis(out, time);
  out.append("\",\"level\":\"").append(LevelName(level)).append("\",\"msg\":");
  AppendJsonString(out, msg);
  if (!request_id.empty()) {
    out.append(",\"request_id\":");
    AppendJsonString(out, request_id);
  }
  for (const Field& f : fields) {
    if (f.kind == Field::Kind::kText && f.text.empty()) continue;  // nothing to say
    out.push_back(',');
    AppendJsonString(out, f.key);
    out.push_back(':');
    switch (f.kind) {
      case Field::Kind::kText:
        AppendJsonString(out, f.text);
        break;
      case Field::Kind::kInt:
        out.append(std::to_string(f.number));
        break;
      case Field::Kind::kMillis:
        AppendMillis(out, f.number);
        break;
    }
  }
  out.append("}\n");
  return out;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  const std::string line =
      FormatLine(CurrentFormat(), level, std::chrono::system_clock::now(), t_request_id.view(), msg,
                 std::span<const Field>(fields.begin(), fields.size()));
  // One call per line, so that lines of concurrent threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace ts::log
