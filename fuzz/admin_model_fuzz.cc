// File: admin_model_fuzz.cc
// The admin plane's request admission (admin/service_model.h): an awsJson 1.1 body validated
// against the sso-admin or identitystore model of the operation its X-Amz-Target names, both the
// wire's way (AWS's messages, unknown members ignored) and the bootstrap file's (a root path,
// unknown members refused). The input is "<X-Amz-Target>\n<JSON body>".
// Invariants: no crash or UB (deep nesting included); the answer is OK, a ValidationException
// (InvalidArgument) or, for an operation the model lacks, NotFound; never anything else.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "ts/admin/service_model.h"

namespace {

using namespace ts;

void CheckValidation(const admin::ServiceModel& model, std::string_view operation,
                     const boost::json::value& body, const admin::ValidationOptions& options) {
  const Status s = model.ValidateInput(operation, body, options);
  if (s.ok()) return;
  if (!model.HasOperation(operation)) {
    FUZZ_CHECK(s.code() == StatusCode::kNotFound);
    return;
  }
  FUZZ_CHECK(s.code() == StatusCode::kInvalidArgument);
  FUZZ_CHECK(s.error_type() == "ValidationException");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* sso_admin =
      new std::shared_ptr<const admin::ServiceModel>(*admin::SsoAdminModel());
  static const auto* identity_store =
      new std::shared_ptr<const admin::ServiceModel>(*admin::IdentityStoreModel());

  std::string_view input = fuzz::AsView(data, size);
  const std::string_view target = fuzz::NextLine(input);
  const size_t dot = target.find('.');
  const std::string_view prefix = target.substr(0, dot);
  const std::string_view operation =
      dot == std::string_view::npos ? std::string_view() : target.substr(dot + 1);
  const admin::ServiceModel& model =
      prefix == (*identity_store)->target_prefix() ? **identity_store : **sso_admin;

  boost::json::error_code ec;
  // The same parse limits as the admin plane's front end (its default depth, 32).
  const boost::json::value body = boost::json::parse(input, ec);
  if (ec) return 0;

  CheckValidation(model, operation, body, {});
  admin::ValidationOptions file;
  file.root = "Applications[0]";
  file.reject_unknown = true;
  CheckValidation(model, operation, body, file);
  return 0;
}
