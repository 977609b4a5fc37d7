#include "ts/oauth/errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>

namespace ts::oauth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

namespace json = boost::json;

json::object Body(const http::Response& r) {
  json::value v = json::parse(r.body);
  EXPECT_TRUE(v.is_object()) << r.body;
  return v.is_object() ? v.as_object() : json::object();
}

std::set<std::string> Keys(const json::object& o) {
  std::set<std::string> keys;
  for (const auto& kv : o) keys.emplace(kv.key());
  return keys;
}

struct ModeledCase {
  Status (*make)(std::string_view);
  const char* type;
  StatusCode code;
  int http_status;
  const char* oauth_error;
};

class ModeledErrorTest : public ::testing::TestWithParam<ModeledCase> {};

TEST_P(ModeledErrorTest, ConstructorAndResponse) {
  const ModeledCase& c = GetParam();
  Status status = c.make("the reason");
  EXPECT_EQ(status.code(), c.code);
  EXPECT_EQ(status.error_type(), c.type);
  EXPECT_EQ(status.message(), "the reason");

  http::Response r = ToErrorResponse(status);
  EXPECT_EQ(r.status, c.http_status);
  auto type = r.FindHeader("x-amzn-ErrorType");
  ASSERT_TRUE(type.has_value());
  // The shape name first (SDKs cut at ':'), then the Coral namespace AWS sends.
  EXPECT_THAT(std::string(*type), StartsWith(std::string(c.type) + ":http://internal.amazon.com/"));
  EXPECT_THAT(r.FindHeader("content-type"), Optional(std::string_view("application/json")));
  json::object body = Body(r);
  EXPECT_THAT(Keys(body), UnorderedElementsAre("error", "error_description", "message"));
  EXPECT_EQ(body["error"], c.oauth_error);
  EXPECT_EQ(body["error_description"], "the reason");
  EXPECT_EQ(body["message"], "the reason");

  ErrorMapping mapping = MapErrorType(c.type);
  EXPECT_EQ(mapping.http_status, c.http_status);
  EXPECT_EQ(mapping.oauth_error, c.oauth_error);
}

INSTANTIATE_TEST_SUITE_P(
    AllConstructors, ModeledErrorTest,
    ::testing::Values(ModeledCase{InvalidRequest, "InvalidRequestException",
                                  StatusCode::kInvalidArgument, 400, "invalid_request"},
                      ModeledCase{InvalidClient, "InvalidClientException",
                                  StatusCode::kUnauthenticated, 401, "invalid_client"},
                      ModeledCase{InvalidGrant, "InvalidGrantException",
                                  StatusCode::kInvalidArgument, 400, "invalid_grant"},
                      ModeledCase{UnauthorizedClient, "UnauthorizedClientException",
                                  StatusCode::kPermissionDenied, 400, "unauthorized_client"},
                      ModeledCase{UnsupportedGrantType, "UnsupportedGrantTypeException",
                                  StatusCode::kInvalidArgument, 400, "unsupported_grant_type"},
                      ModeledCase{InvalidScope, "InvalidScopeException",
                                  StatusCode::kInvalidArgument, 400, "invalid_scope"},
                      ModeledCase{AccessDenied, "AccessDeniedException",
                                  StatusCode::kPermissionDenied, 400, "access_denied"}));

TEST(ToErrorResponseTest, OtherModeledShapesUseTheirStatusAndOauthError) {
  struct Case {
    const char* type;
    int status;
    const char* error;
  };
  for (const Case& c : {Case{"AuthorizationPendingException", 400, "authorization_pending"},
                        Case{"ExpiredTokenException", 400, "expired_token"},
                        Case{"InternalServerException", 500, "server_error"},
                        Case{"InvalidClientMetadataException", 400, "invalid_client_metadata"},
                        Case{"InvalidRedirectUriException", 400, "invalid_redirect_uri"},
                        Case{"InvalidRequestRegionException", 400, "invalid_request"},
                        Case{"SlowDownException", 400, "slow_down"}}) {
    SCOPED_TRACE(c.type);
    http::Response r = ToErrorResponse(ApiError(StatusCode::kInvalidArgument, c.type, "why"));
    EXPECT_EQ(r.status, c.status);
    json::object body = Body(r);
    EXPECT_EQ(body["error"], c.error);
    EXPECT_EQ(body["error_description"], "why");
    EXPECT_EQ(body["message"], "why");
    EXPECT_EQ(MapErrorType(c.type).http_status, c.status);
    EXPECT_EQ(MapErrorType(c.type).oauth_error, c.error);
  }
}

TEST(ToErrorResponseTest, GenericSigV4ShapesCarryAMessageOnly) {
  struct Case {
    const char* type;
    int status;
  };
  for (const Case& c :
       {Case{"MissingAuthenticationTokenException", 403}, Case{"IncompleteSignatureException", 403},
        Case{"UnrecognizedClientException", 403}, Case{"InvalidSignatureException", 403},
        Case{"UnknownOperationException", 404}, Case{"SerializationException", 400}}) {
    SCOPED_TRACE(c.type);
    http::Response r =
        ToErrorResponse(ApiError(StatusCode::kUnauthenticated, c.type, "Signature mismatch"));
    EXPECT_EQ(r.status, c.status);
    auto type = r.FindHeader("x-amzn-errortype");
    ASSERT_TRUE(type.has_value());
    EXPECT_THAT(std::string(*type), StartsWith(std::string(c.type) + ":"));
    json::object body = Body(r);
    EXPECT_THAT(Keys(body), UnorderedElementsAre("message"));
    EXPECT_EQ(body["message"], "Signature mismatch");
    EXPECT_EQ(MapErrorType(c.type).http_status, c.status);
    EXPECT_EQ(MapErrorType(c.type).oauth_error, "");
  }
}

TEST(ToErrorResponseTest, UntypedStatusBecomesInternalServerErrorWithoutItsMessage) {
  for (const Status& s :
       {InternalError("sqlite: disk I/O error at /var/secret/path"),
        // A store's transient failure (PostgreSQL restarting): the SDKs retry this shape.
        UnavailableError("PostgreSQL statement: server closed the connection /var/secret/path"),
        Status(StatusCode::kNotFound, "sqlite: disk I/O error at /var/secret/path"),
        ApiError(StatusCode::kInternal, "NoSuchShape",
                 "sqlite: disk I/O error at /var/secret/path")}) {
    SCOPED_TRACE(s.ToString());
    http::Response r = ToErrorResponse(s);
    EXPECT_EQ(r.status, 500);
    auto type = r.FindHeader("x-amzn-ErrorType");
    ASSERT_TRUE(type.has_value());
    EXPECT_THAT(std::string(*type), StartsWith("InternalServerException:"));
    EXPECT_THAT(r.body, Not(HasSubstr("sqlite")));
    EXPECT_THAT(r.body, Not(HasSubstr("PostgreSQL")));
    EXPECT_THAT(r.body, Not(HasSubstr("secret")));
    json::object body = Body(r);
    EXPECT_EQ(body["error"], "server_error");
    EXPECT_TRUE(body["error_description"].is_string());
    EXPECT_FALSE(body["error_description"].as_string().empty());
  }
}

TEST(ToErrorResponseTest, MessageIsJsonEscaped) {
  http::Response r = ToErrorResponse(InvalidGrant("bad \"code\"\n\\"));
  EXPECT_EQ(Body(r)["error_description"], "bad \"code\"\n\\");
}

TEST(ToErrorResponseTest, ExpiredSessionCredentialsFromSigV4Are403) {
  // The SigV4 verifier reports expired session credentials as kUnauthenticated
  // ExpiredTokenException, a name shared with the modeled device-flow shape: an authentication
  // failure, so 403 (docs/protocol.md §2.5), with the OAuth members SDKs read.
  http::Response r =
      ToErrorResponse(ApiError(StatusCode::kUnauthenticated, "ExpiredTokenException",
                               "The security token included in the request is expired"));
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(std::string(r.FindHeader("x-amzn-ErrorType").value_or("")),
              StartsWith("ExpiredTokenException:"));
  json::object body = Body(r);
  EXPECT_EQ(body["error"], "expired_token");
  EXPECT_EQ(body["error_description"], "The security token included in the request is expired");
  EXPECT_EQ(body["message"], "The security token included in the request is expired");

  // The modeled shape (device flow) keeps its 400.
  EXPECT_EQ(
      ToErrorResponse(ApiError(StatusCode::kInvalidArgument, "ExpiredTokenException", "x")).status,
      400);
}

TEST(MapErrorTypeTest, UnknownShapeIsServerError) {
  ErrorMapping m = MapErrorType("WhateverException");
  EXPECT_EQ(m.http_status, 500);
  EXPECT_EQ(m.oauth_error, "server_error");
  EXPECT_EQ(MapErrorType("").http_status, 500);
}

}  // namespace
}  // namespace ts::oauth
