#include "ts/web/login_page.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ts::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(HtmlEscapeTest, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x" title='y'>&</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("plain text, ünïcode"), "plain text, ünïcode");
  EXPECT_EQ(HtmlEscape(""), "");
  EXPECT_EQ(HtmlEscape("&amp;"), "&amp;amp;");  // not idempotent by design: escape once
}

TEST(RenderLoginPageTest, EscapesEveryInterpolatedValue) {
  LoginPageModel m;
  m.application_name = "<b>app</b>";
  m.error = "bad <i>";
  m.csrf_token = "tok\"en";
  m.user_name = "\"><script>x</script>";
  m.hidden = {{"state", "\"><script>alert(1)</script>"}, {"client_id", "arn:a&b"}};
  const std::string page = RenderLoginPage(m);
  EXPECT_THAT(page, Not(HasSubstr("<script>")));
  EXPECT_THAT(page, Not(HasSubstr("<b>app")));
  EXPECT_THAT(page, HasSubstr("&lt;b&gt;app&lt;/b&gt;"));
  EXPECT_THAT(page, HasSubstr("role=\"alert\" id=\"error\">bad &lt;i&gt;</div>"));
  EXPECT_THAT(page, HasSubstr("name=\"csrf_token\" value=\"tok&quot;en\""));
  EXPECT_THAT(page, HasSubstr("name=\"state\" value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/"
                              "script&gt;\""));
  EXPECT_THAT(page, HasSubstr("name=\"client_id\" value=\"arn:a&amp;b\""));
  EXPECT_THAT(page, HasSubstr("<form method=\"post\" action=\"/authorize\""));
  EXPECT_THAT(page, HasSubstr("aria-describedby=\"error\""));
}

TEST(RenderLoginPageTest, NoAlertWithoutError) {
  LoginPageModel m;
  m.application_name = "app";
  const std::string page = RenderLoginPage(m);
  EXPECT_THAT(page, Not(HasSubstr("role=\"alert\"")));
  EXPECT_THAT(page, Not(HasSubstr("aria-describedby")));
}

TEST(RenderLoginPageTest, FocusesTheFirstEmptyField) {
  LoginPageModel fresh;
  const std::string first = RenderLoginPage(fresh);
  EXPECT_THAT(first, HasSubstr("spellcheck=\"false\" required autofocus value=\"\""));
  EXPECT_THAT(first, HasSubstr("autocomplete=\"current-password\" required>"));

  LoginPageModel retry;
  retry.user_name = "alice";
  retry.error = "Incorrect user name or password.";
  const std::string again = RenderLoginPage(retry);
  EXPECT_THAT(again, HasSubstr("spellcheck=\"false\" required value=\"alice\""));
  EXPECT_THAT(again, HasSubstr("autocomplete=\"current-password\" required autofocus "
                               "aria-describedby=\"error\">"));
}

TEST(RenderErrorPageTest, EscapesErrorAndDescription) {
  const std::string page = RenderErrorPage("invalid<request>", "no \"client_id\" & more");
  EXPECT_THAT(page, HasSubstr("<strong>invalid&lt;request&gt;</strong>: no &quot;client_id&quot; "
                              "&amp; more"));
}

}  // namespace
}  // namespace ts::web
