#include "ts/common/json_writer.h"

#include <charconv>
#include <cstdint>
#include <cstring>

namespace ts {

void JsonWriter::Separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_element_.empty()) {
    if (has_element_.back()) out_.push_back(',');
    has_element_.back() = true;
  }
}

void JsonWriter::Open(char c) {
  Separate();
  out_.push_back(c);
  has_element_.push_back(false);
}

void JsonWriter::Close(char c) {
  out_.push_back(c);
  has_element_.pop_back();
}

void JsonWriter::Key(std::string_view key) {
  Separate();
  AppendEscaped(key);
  out_.push_back(':');
  after_key_ = true;
}

void JsonWriter::String(std::string_view value) {
  Separate();
  AppendEscaped(value);
}

void JsonWriter::Int(int64_t value) {
  Separate();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, end);
}

void JsonWriter::Bool(bool value) {
  Separate();
  out_.append(value ? "true" : "false");
}

void JsonWriter::Null() {
  Separate();
  out_.append("null");
}

void JsonWriter::Raw(std::string_view json) {
  Separate();
  out_.append(json);
}

void JsonWriter::Member(std::string_view key, const std::vector<std::string>& values) {
  Key(key);
  BeginArray();
  for (const std::string& v : values) String(v);
  EndArray();
}

namespace {

// True for the bytes JSON strings must escape (RFC 8259 §7).
constexpr bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// The index of the first byte at or after `from` that must be escaped, or s.size(). Eight bytes
// at a time (the strings written are mostly tokens of hundreds of plain bytes): a word has a byte
// below 0x20 iff (w - 0x20..) & ~w & 0x80.. is nonzero, and a byte equal to c iff w ^ c.. has a
// zero byte, found the same way.
size_t PlainUntil(std::string_view s, size_t from) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  auto has_below = [](uint64_t w, uint64_t n) { return (w - kOnes * n) & ~w & kHighs; };
  size_t i = from;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, sizeof(w));
    if ((has_below(w, 0x20) | has_below(w ^ (kOnes * '"'), 1) | has_below(w ^ (kOnes * '\\'), 1)) !=
        0) {
      break;
    }
  }
  while (i < s.size() && !NeedsEscape(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

}  // namespace

void JsonWriter::AppendEscaped(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out_.reserve(out_.size() + s.size() + 2);
  out_.push_back('"');
  // Tokens, ARNs and scopes never need escaping: copy runs of plain bytes in one append.
  size_t run = 0;
  for (size_t i = PlainUntil(s, 0); i < s.size(); i = PlainUntil(s, run)) {
    const auto c = static_cast<unsigned char>(s[i]);
    out_.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out_.append("\\\"");
        break;
      case '\\':
        out_.append("\\\\");
        break;
      case '\n':
        out_.append("\\n");
        break;
      case '\r':
        out_.append("\\r");
        break;
      case '\t':
        out_.append("\\t");
        break;
      case '\b':
        out_.append("\\b");
        break;
      case '\f':
        out_.append("\\f");
        break;
      default:
        out_.append("\\u00");
        out_.push_back(kHex[c >> 4]);
        out_.push_back(kHex[c & 15]);
    }
  }
  out_.append(s.data() + run, s.size() - run);
  out_.push_back('"');
}

}  // namespace ts
