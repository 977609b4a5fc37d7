// File: token_request_fuzz.cc
// The sso-oidc token endpoint's request readers (oauth/): CreateToken's rest-json body and its
// RFC 6749 form body with the Authorization header, and the shared json_request helpers every
// rest-json operation (CreateTokenWithIAM, RegisterClient, StartDeviceAuthorization) reads its
// members with. The input is "<Authorization header>\n<body>" for the form reader and the whole
// input for the JSON readers.
// Invariants: no crash or UB; every failure is a modeled error, InvalidRequestException or (form
// client authentication) InvalidClientException, never an untyped one (which would answer 500).
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "ts/oauth/json_request.h"
#include "ts/oauth/public_clients.h"

namespace {

using namespace ts;

bool IsModeled(const Status& s, bool client_auth_allowed) {
  if (s.error_type() == "InvalidRequestException") return true;
  return client_auth_allowed && s.error_type() == "InvalidClientException";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = fuzz::AsView(data, size);

  if (auto json = oauth::ParseCreateTokenJson(input); !json.ok()) {
    FUZZ_CHECK(IsModeled(json.status(), false));
  }

  std::string_view rest = input;
  const std::string_view authorization = fuzz::NextLine(rest);
  const std::optional<std::string_view> header =
      authorization.empty() ? std::nullopt : std::optional<std::string_view>(authorization);
  if (auto form = oauth::ParseCreateTokenForm(rest, header); !form.ok()) {
    FUZZ_CHECK(IsModeled(form.status(), true));
  }

  auto object = oauth::ParseJsonObject(input);
  if (!object.ok()) {
    FUZZ_CHECK(IsModeled(object.status(), false));
    return 0;
  }
  for (const auto& member : *object) {
    std::vector<std::string> list;
    const Status read = oauth::ReadStringList(*object, member.key(), list);
    if (read.ok()) {
      const boost::json::value& v = member.value();
      FUZZ_CHECK(v.is_null() || (v.is_array() && v.as_array().size() == list.size()));
    } else {
      FUZZ_CHECK(IsModeled(read, false));
    }
  }
  return 0;
}
