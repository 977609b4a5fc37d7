// File: internal/openssl_util.h
// Helpers shared by the jose sources: owned OpenSSL keys, digests fetched once, and the ECDSA
// signature conversions between DER (what OpenSSL speaks) and JOSE's fixed R || S form
// (RFC 7518 §3.4). Not part of the module's API. Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_pkey_st;
struct evp_md_st;

namespace ts::jose::internal {

using PkeyPtr = std::shared_ptr<evp_pkey_st>;

// Takes ownership of `pkey` (freed with EVP_PKEY_free). Null stays null.
PkeyPtr AdoptPkey(evp_pkey_st* pkey);

// SHA-256/384/512 for `bits` = 256/384/512, fetched from the default provider once; nullptr for
// other sizes. Explicit fetching avoids a by-name lookup on every signature.
const evp_md_st* Sha2Md(int bits);

// DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) to R || S, each left-padded to
// `scalar_size` bytes. nullopt when `der` is not exactly one such structure or r/s do not fit.
std::optional<std::string> EcdsaDerToRaw(std::string_view der, size_t scalar_size);

// R || S (two equal halves) to DER. nullopt when `raw` is empty or of odd length.
std::optional<std::string> EcdsaRawToDer(std::string_view raw);

// RFC 7638 §3.2 canonical JSON (required members in lexicographic order, no whitespace) hashed
// with SHA-256 and base64url-encoded. The arguments are the members' base64url values as they
// appear in the JWK.
std::string EcThumbprint(std::string_view crv, std::string_view x, std::string_view y);
std::string OkpThumbprint(std::string_view crv, std::string_view x);
std::string RsaThumbprint(std::string_view n, std::string_view e);

}  // namespace ts::jose::internal
