// File: service_model.h
// The AWS service models of sso-admin and identitystore (botocore, trimmed and embedded at build
// time from third_party/aws-models/) and request validation driven by them: every constraint an
// operation's input shape declares is checked generically, so handlers carry only semantics.
//
// Checked (botocore's model vocabulary): `required` members; string `min`/`max` (in Unicode code
// points) and `pattern` (matched against the whole value; see x-tessera-regex in
// third_party/aws-models/extract.py); `enum`; integer/long `min`/`max`; list and map
// `min`/`max` (entries), map keys and values; unions: exactly one member set; nested structures;
// JSON types (string, number, boolean, object, array). A `null` member counts as absent; a
// `null` list element or map value is refused ("Member must not be null"), since an element
// cannot be absent. Unknown members are ignored (as AWS does) unless ValidationOptions says
// otherwise. Documents (ActorPolicy) are accepted as any JSON value, null included.
//
// Thread-safe after construction (immutable); the embedded models are parsed once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ts/common/status.h"

namespace boost::json {
class value;
}

namespace ts::admin {

// How a value is validated and its problems named. The default is the wire's: AWS's messages,
// unknown members ignored.
struct ValidationOptions {
  // Where the value sits in a document (e.g. "Applications[0].Grants[1]" in a bootstrap file).
  // When set, messages read "<path>: <problem>", list elements are named [i] (0-based, as a
  // reader of the file counts) and there is no "N validation errors detected" preamble.
  std::string root;
  // Members the model does not know are errors (a typo in a file) instead of ignored (AWS
  // ignores them so that SDKs newer than the model work).
  bool reject_unknown = false;
  // Members of the top structure the caller fills in itself (the ApplicationArn of a grant
  // nested in its application's entry): never required, and unknown if present.
  std::vector<std::string> omit;
  // Shapes whose pattern is not checked, for identifiers the caller checks itself (the demo's
  // documentation ARNs, shorter than the patterns allow: docs/design/admin-plane.md).
  std::vector<std::string> skip_patterns;
  // The server's own instance id (ssoins-...). The models want 16 characters after "ins-"; the
  // demo's documentation id has 12. A value that fails its pattern only because it contains
  // this id (it matches with the id replaced by a 16-character stand-in) is accepted, so the
  // ARNs the server hands out pass its own validation. "" disables.
  std::string own_instance_id;
};

class ServiceModel {
 public:
  // Parses a (trimmed) botocore service-2.json document and compiles its patterns.
  // InvalidArgument naming the shape if the document or a pattern is malformed.
  static StatusOr<std::shared_ptr<const ServiceModel>> Parse(std::string_view model_json);

  ~ServiceModel();
  ServiceModel(const ServiceModel&) = delete;
  ServiceModel& operator=(const ServiceModel&) = delete;

  // metadata.targetPrefix ("SWBExternalService", "AWSIdentityStore") and signingName.
  const std::string& target_prefix() const;
  const std::string& signing_name() const;

  bool HasOperation(std::string_view operation) const;

  // Validates `input` against the operation's input shape. OK, or
  // ApiError(kInvalidArgument, "ValidationException", "<n> validation error(s) detected: ...")
  // naming each offending member by its path (e.g. "Grant.AuthorizationCode.RedirectUris").
  // NotFound if the operation is not in the model.
  Status ValidateInput(std::string_view operation, const boost::json::value& input,
                       const ValidationOptions& options = {}) const;

  // Validates `value` against the shape named `shape` (e.g. "ApplicationArn"), with the same
  // rules and messages as ValidateInput. NotFound if the model has no such shape.
  Status ValidateShape(std::string_view shape, const boost::json::value& value,
                       const ValidationOptions& options = {}) const;

  // The names of the members of `shape`'s structure marked idempotencyToken (ClientToken).
  std::vector<std::string> IdempotencyTokenMembers(std::string_view operation) const;

 private:
  struct Impl;
  explicit ServiceModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The embedded models, parsed on first use. A model that fails to parse is a build defect: the
// unit tests parse both.
StatusOr<std::shared_ptr<const ServiceModel>> SsoAdminModel();
StatusOr<std::shared_ptr<const ServiceModel>> IdentityStoreModel();

// Maps every non-ASCII code point of valid UTF-8 `text` to the byte 0x01 (the marker the
// translated patterns use for "any non-ASCII character") and counts code points. Exposed for
// tests.
std::string MarkNonAscii(std::string_view text, size_t* code_points);

}  // namespace ts::admin
