// File: jose_fuzz.cc
// JOSE parsing (jose/): JWK Sets as an issuer publishes them and compact JWS as a client presents
// them, read without verifying a signature (jose_verify_fuzz.cc verifies). The input is read
// whole as a JWK Set and whole as a compact JWS.
// Invariants: no crash or UB; every failure is InvalidArgument (a client's mistake, never a
// 500); a parsed set renders (ToJson) to a set that parses back to as many keys with the same
// thumbprints; a parsed token's alg is an allowed one, never none or HS*.
// Split from the verifying target because verification keeps a per-thread cache of contexts
// (jose/verifier.cc): an input whose own keys enter it leaves allocations behind, and libFuzzer
// then reruns the input and scans the heap for leaks, which made this target ten times slower
// (docs/design/fuzzing.md, "Speed").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "ts/jose/jwk.h"
#include "ts/jose/verifier.h"

namespace {

using namespace ts;

const std::vector<std::string>& AllAlgs() {
  static const auto* algs =
      new std::vector<std::string>{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA", "none",  "HS256"};
  return *algs;
}

void CheckSet(std::string_view text) {
  auto set = jose::JwkSet::Parse(text);
  if (!set.ok()) {
    FUZZ_CHECK(set.status().code() == StatusCode::kInvalidArgument);
    return;
  }
  auto again = jose::JwkSet::Parse(set->ToJson());
  FUZZ_CHECK(again.ok() && again->size() == set->size());
  for (size_t i = 0; i < set->size(); ++i) {
    FUZZ_CHECK(again->keys()[i].Thumbprint() == set->keys()[i].Thumbprint());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::AsView(data, size);
  CheckSet(input);
  auto parsed = jose::ParseJws(input, AllAlgs());
  if (parsed.ok()) {
    FUZZ_CHECK(parsed->alg != "none" && parsed->alg.rfind("HS", 0) != 0);
  } else {
    FUZZ_CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
  }
  return 0;
}
