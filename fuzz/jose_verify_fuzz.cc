// File: jose_verify_fuzz.cc
// JOSE verification (jose/verifier.h): compact JWS verified against fixed keys (RFC 7515 A.3's
// P-256 key and RFC 7638's RSA key, imported once per process), and "<token>\n<JWK Set>" verified
// against the input's own keys. Parsing alone is jose_fuzz.cc's.
// Invariants: no crash or UB; every failure is InvalidArgument (a client's mistake, never a
// 500); a verified token's alg is an allowed one, never none or HS*.
// Every input ends by dropping the thread's cached verification contexts: a context holds its
// key, and an input's own key kept past the input is, to libFuzzer, a leak to rerun the input for
// and scan the heap after (ten times slower; docs/design/fuzzing.md, "Speed").
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

constexpr char kFixedKeys[] =
    R"({"keys":[{"kty":"EC","crv":"P-256","kid":"a3",)"
    R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},)"
    R"({"kty":"RSA","kid":"2011-04-29","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbW)"
    R"(hM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9)"
    R"(yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5)"
    R"(hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF)"
    R"(Cur-kEgU8awapJzKnqDKgw"}]})";

const std::vector<std::string>& AllAlgs() {
  static const auto* algs =
      new std::vector<std::string>{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                   "ES256", "ES384", "ES512", "EdDSA", "none",  "HS256"};
  return *algs;
}

void CheckVerified(const StatusOr<jose::VerifiedJws>& verified) {
  if (verified.ok()) {
    FUZZ_CHECK(verified->alg != "none" && verified->alg.rfind("HS", 0) != 0);
  } else {
    FUZZ_CHECK(verified.status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const jose::JwkSet* fixed = new jose::JwkSet(*jose::JwkSet::Parse(kFixedKeys));
  const std::string_view input = fuzz::AsView(data, size);
  auto parsed = jose::ParseJws(input, AllAlgs());
  if (parsed.ok()) {
    FUZZ_CHECK(parsed->alg != "none" && parsed->alg.rfind("HS", 0) != 0);
    CheckVerified(jose::VerifyParsedJws(*parsed, *fixed));
  } else {
    FUZZ_CHECK(parsed.status().code() == StatusCode::kInvalidArgument);
  }
  CheckVerified(jose::VerifyJws(input, *fixed, AllAlgs()));

  const size_t newline = input.find('\n');
  if (newline != std::string_view::npos) {
    auto keys = jose::JwkSet::Parse(input.substr(newline + 1));
    if (keys.ok()) CheckVerified(jose::VerifyJws(input.substr(0, newline), *keys, AllAlgs()));
  }
  jose::internal::ClearThreadVerifyContexts();
  return 0;
}
