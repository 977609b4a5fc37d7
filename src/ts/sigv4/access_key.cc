#include "ts/sigv4/access_key.h"

#include <cstdint>

#include "ts/crypto/random.h"

namespace ts::sigv4 {

std::string NewAccessKeyId(bool temporary) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const std::string bytes = crypto::RandomBytes(16);
  std::string id = temporary ? "ASIA" : "AKIA";
  for (char b : bytes) id.push_back(kAlphabet[static_cast<uint8_t>(b) % 32]);
  return id;
}

std::string AccessKeySecretAad(std::string_view access_key_id) {
  return "tessera-iam-secret:" + std::string(access_key_id);
}

}  // namespace ts::sigv4
