#include "ts/common/status.h"

#include <gtest/gtest.h>

#include "test/common/status_matchers.h"
#include "ts/common/status_macros.h"

namespace ts {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

TEST(StatusTest, OkCarriesNothing) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.error_type(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ApiErrorCarriesShapeNameCodeAndMessage) {
  Status s = ApiError(StatusCode::kInvalidArgument, "InvalidGrantException", "bad code");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad code");
  EXPECT_EQ(s.error_type(), "InvalidGrantException");
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT [InvalidGrantException]: bad code");
  Status copy = s;
  EXPECT_EQ(copy.error_type(), "InvalidGrantException");
}

TEST(StatusTest, OkCodeWithMessageIsStillOk) {
  EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok());
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  TS_ASSIGN_OR_RETURN(int h, Half(x));
  TS_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  TS_RETURN_IF_ERROR(Half(x).status());
  return OkStatus();
}

TEST(StatusMacrosTest, PropagateTheFirstError) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_THAT(CheckEven(4), IsOk());
  EXPECT_THAT(CheckEven(3), StatusIs(StatusCode::kInvalidArgument, "odd"));
}

TEST(StatusOrTest, HoldsMoveOnlyValues) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(7);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> taken = std::move(p).value();
  EXPECT_EQ(*taken, 7);
}

}  // namespace
}  // namespace ts
