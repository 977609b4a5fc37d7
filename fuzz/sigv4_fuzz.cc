// File: sigv4_fuzz.cc
// SigV4 (sigv4/): the Authorization header grammar, the canonical request's parts, both date
// formats, and Verifier::Verify on a whole request (request_text.h).
// Invariants: no crash or UB; a failed verification is one of the ApiErrors verifier.h lists
// (never an untyped error, which the front end would answer 500); ParseAmzDate and FormatAmzDate
// are inverse; and when the input asks for it (header `x-fuzz-sign: <service>`), a request that
// SignRequest signed verifies: signer and verifier agree on every path, query and header the
// fuzzer makes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "fuzz/request_text.h"
#include "ts/common/clock.h"
#include "ts/sigv4/canonical_request.h"
#include "ts/sigv4/credential.h"
#include "ts/sigv4/signer.h"
#include "ts/sigv4/verifier.h"

namespace {

using namespace ts;

constexpr int64_t kNow = 1'795'277'954;  // 20261121T161914Z

sigv4::Credential LongTerm() {
  sigv4::Credential c;
  c.access_key_id = "AKIDLONGTERM";
  c.secret_access_key = "long/term+secret/EXAMPLEKEY";
  c.principal_arn = "arn:aws:iam::123456789012:user/alice";
  c.account_id = "123456789012";
  return c;
}

sigv4::Credential Session() {
  sigv4::Credential c;
  c.access_key_id = "ASIASESSION";
  c.secret_access_key = "session/secret+EXAMPLEKEY";
  c.principal_arn = "arn:aws:sts::123456789012:assumed-role/webapp/session-1";
  c.account_id = "123456789012";
  c.session_token = "IQoJb3JpZ2luX2VjEXAMPLE//token==";
  c.expires_at = kNow + 3600;
  return c;
}

struct World {
  World() {
    provider.Put(LongTerm());
    provider.Put(Session());
    sigv4::VerifierOptions options;
    options.regions = {"us-east-1", "eu-west-1"};
    verifier =
        std::make_unique<sigv4::Verifier>(options, &provider, std::make_shared<FakeClock>(kNow));
  }
  sigv4::InMemoryCredentialProvider provider;
  std::unique_ptr<sigv4::Verifier> verifier;
};

bool IsModeledFailure(const Status& s) {
  if (s.error_type().empty()) return false;
  return s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kPermissionDenied;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  const std::string_view input = fuzz::AsView(data, size);

  // The pure building blocks on the raw input.
  (void)sigv4::CanonicalUri(input);
  (void)sigv4::CanonicalQuery(input);
  const std::string header_value = sigv4::CanonicalHeaderValue(input);
  FUZZ_CHECK(header_value.size() <= input.size());
  if (auto parsed = sigv4::ParseAuthorization(input); parsed.ok()) {
    FUZZ_CHECK(parsed->scope ==
               sigv4::CredentialScope(parsed->date, parsed->region, parsed->service));
  } else {
    FUZZ_CHECK(parsed.status().error_type() == "IncompleteSignatureException");
  }
  if (auto t = sigv4::ParseAmzDate(input)) FUZZ_CHECK(sigv4::FormatAmzDate(*t) == input);
  (void)sigv4::ParseHttpDate(input);

  // A whole request.
  http::Request request = fuzz::ParseRequestText(input);
  const std::string sign_service = fuzz::TakeHeader(request, "x-fuzz-sign");
  const bool session = !fuzz::TakeHeader(request, "x-fuzz-session").empty();
  bool signed_here = false;
  if (!sign_service.empty()) {
    // What a client's SDK controls itself is taken out of the fuzzer's hands.
    for (const char* name : {"authorization", "x-amz-date", "date", "x-amz-security-token",
                             "x-amz-content-sha256", "host"}) {
      fuzz::TakeHeader(request, name);
    }
    request.headers.push_back({"host", "127.0.0.1:8080"});
    signed_here = sigv4::SignRequest(request, session ? Session() : LongTerm(), "us-east-1",
                                     sign_service, kNow)
                      .ok();
  }
  auto caller = world->verifier->Verify(request);
  if (caller.ok()) {
    FUZZ_CHECK(caller->access_key_id == "AKIDLONGTERM" || caller->access_key_id == "ASIASESSION");
  } else {
    FUZZ_CHECK(IsModeledFailure(caller.status()));
  }
  if (signed_here && sign_service == "sso-oauth" && !caller.ok()) {
    std::fprintf(stderr, "sigv4_fuzz: a request SignRequest signed fails to verify: %s\n",
                 caller.status().ToString().c_str());
    FUZZ_CHECK(caller.ok());
  }
  return 0;
}
