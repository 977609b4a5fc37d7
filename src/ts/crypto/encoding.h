// File: encoding.h
// Hex (lower case) and base64url without padding (RFC 4648 §5, as JOSE uses it).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ts::crypto {

std::string HexEncode(std::span<const uint8_t> data);
inline std::string HexEncode(std::string_view data) {
  return HexEncode({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
}
// Decodes hex of either case; nullopt on odd length or a non-hex character.
std::optional<std::string> HexDecode(std::string_view hex);

std::string Base64UrlEncode(std::string_view data);
inline std::string Base64UrlEncode(std::span<const uint8_t> data) {
  return Base64UrlEncode({reinterpret_cast<const char*>(data.data()), data.size()});
}
// Appends the base64url encoding of `data` to `out` (no temporary string).
void AppendBase64Url(std::string_view data, std::string& out);
// Strict: rejects padding, characters outside the url-safe alphabet and non-canonical trailing
// bits. nullopt on any of those.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Standard base64 with padding (for PEM-free key storage and basic auth style values).
std::string Base64Encode(std::string_view data);
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace ts::crypto
