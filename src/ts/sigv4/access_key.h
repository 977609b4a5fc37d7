// File: access_key.h
// How Tessera makes and seals IAM access keys, shared by every place that issues them (the CLI,
// bootstrap files, the access portal) and the credential provider that opens them.
#pragma once

#include <string>
#include <string_view>

namespace ts::sigv4 {

// An access key id shaped like AWS's: "AKIA" (long-term) or "ASIA" (temporary) and 16 upper-case
// base32 characters from the CSPRNG.
std::string NewAccessKeyId(bool temporary);

// The additional authenticated data that binds a sealed secret access key to its key id, so a
// sealed secret copied onto another key's row does not open.
std::string AccessKeySecretAad(std::string_view access_key_id);

}  // namespace ts::sigv4
