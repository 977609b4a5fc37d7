#include "ts/crypto/encoding.h"

#include <array>

namespace ts::crypto {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Writes each output character in place: a per-character push_back (a capacity check and a
// terminator store each) was most of the cost of encoding a token's payload.
void AppendEncoded(std::string_view data, const char* alphabet, bool pad, std::string& out) {
  const size_t whole = data.size() / 3;
  const size_t rest = data.size() % 3;
  const size_t tail = rest == 0 ? 0 : (pad ? 4 : rest + 1);
  const size_t start = out.size();
  out.resize(start + whole * 4 + tail);
  char* p = out.data() + start;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  for (size_t k = 0; k < whole; ++k, in += 3, p += 4) {
    const uint32_t v = (uint32_t{in[0]} << 16) | (uint32_t{in[1]} << 8) | uint32_t{in[2]};
    p[0] = alphabet[v >> 18];
    p[1] = alphabet[(v >> 12) & 63];
    p[2] = alphabet[(v >> 6) & 63];
    p[3] = alphabet[v & 63];
  }
  if (rest == 0) return;
  const uint32_t v = (uint32_t{in[0]} << 16) | (rest == 2 ? uint32_t{in[1]} << 8 : 0);
  p[0] = alphabet[v >> 18];
  p[1] = alphabet[(v >> 12) & 63];
  if (rest == 2) p[2] = alphabet[(v >> 6) & 63];
  if (pad) {
    if (rest == 1) p[2] = '=';
    p[3] = '=';
  }
}

using DecodeTable = std::array<int8_t, 256>;

constexpr DecodeTable MakeDecodeTable(const char* alphabet) {
  DecodeTable table{};
  table.fill(-1);
  for (int k = 0; k < 64; ++k) table[static_cast<uint8_t>(alphabet[k])] = static_cast<int8_t>(k);
  return table;
}

constexpr DecodeTable kUrlTable = MakeDecodeTable(kUrlAlphabet);
constexpr DecodeTable kStdTable = MakeDecodeTable(kStdAlphabet);

std::optional<std::string> Decode(std::string_view text, const DecodeTable& table) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, or two encodings would decode to the same bytes.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string HexEncode(std::span<const uint8_t> data) {
  std::string out(data.size() * 2, '\0');
  char* p = out.data();
  for (uint8_t b : data) {
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 15];
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = HexValue(hex[i]);
    int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  AppendEncoded(data, kUrlAlphabet, false, out);
  return out;
}

void AppendBase64Url(std::string_view data, std::string& out) {
  AppendEncoded(data, kUrlAlphabet, false, out);
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  return Decode(text, kUrlTable);
}

std::string Base64Encode(std::string_view data) {
  std::string out;
  AppendEncoded(data, kStdAlphabet, true, out);
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  return Decode(text.substr(0, text.size() - pad), kStdTable);
}

}  // namespace ts::crypto
