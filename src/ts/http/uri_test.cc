#include "ts/http/uri.h"

#include <gtest/gtest.h>

#include <string>

namespace ts::http {
namespace {

TEST(RedirectUriTest, AcceptsHttpsAndHttpWithAHost) {
  for (const char* uri :
       {"https://app.example/callback", "https://app.example",
        "https://app.example:8443/cb?tenant=a&x=%2F", "HTTPS://App.Example/cb",
        "http://127.0.0.1/cb", "http://127.0.0.1:9000/oauth/callback", "http://localhost:8080/cb",
        "http://[::1]:4000/cb", "https://app.example/a*b/(c)'!$,;=+~",
        "https://xn--bcher-kva.example/"}) {
    EXPECT_EQ(RedirectUriProblem(uri), std::nullopt) << uri;
  }
}

TEST(RedirectUriTest, RefusesWithAReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "it is empty"},
      {"not a uri", "it is not an absolute URI (https://host/path)"},
      {"*", "it is not an absolute URI (https://host/path)"},
      {"/relative/cb", "it is not an absolute URI (https://host/path)"},
      {"1https://x/", "it is not an absolute URI (https://host/path)"},
      {"https://x.example/cb#frag", "it has a fragment (RFC 6749 §3.1.2)"},
      {"https://x.example/cb#", "it has a fragment (RFC 6749 §3.1.2)"},
      {"javascript:alert(1)//", "scheme 'javascript' is not allowed, only https and http"},
      {"data:text/html,x", "scheme 'data' is not allowed, only https and http"},
      {"com.example.app:/oauth2redirect",
       "scheme 'com.example.app' is not allowed, only https "
       "and http"},
      {"https:/x.example/cb", "it has no host (https://host/path)"},
      {"https:///cb", "it has no host (https://host/path)"},
      {"https://:443/cb", "it has no host (https://host/path)"},
      {"https://good.example@evil.example/cb", "it has user information before the host"},
      {"https://*.example.com/cb",
       "'*' in the host: redirect URIs are matched exactly, never as patterns (RFC 9700 §2.1)"},
      {"https://x.example:0/cb", "its port is not a number from 1 to 65535"},
      {"https://x.example:65536/cb", "its port is not a number from 1 to 65535"},
      {"https://x.example:/cb", "its port is not a number from 1 to 65535"},
      {"https://x.example:80a/cb", "its port is not a number from 1 to 65535"},
      {"https://[::1/cb", "its IP literal is not closed by ']'"},
      {"https://[::1]x/cb", "its IP literal is followed by more than a port"},
      {"https://[zz]/cb", "its IP literal is not an IPv6 address"},
      {"https://a!b.example/cb", "its host is not a host name or IP address"},
      {"https://x.example/a b",
       "it has a character that URIs cannot contain at offset 19 (RFC "
       "3986 §2)"},
      {"https://x.example/\"><script>",
       "it has a character that URIs cannot contain at offset "
       "18 (RFC 3986 §2)"},
      {"https://x.example\\@evil/",
       "it has a character that URIs cannot contain at offset 17 "
       "(RFC 3986 §2)"},
      {"https://x.example/\xc3\xa9",
       "it has a character that URIs cannot contain at offset 18 "
       "(RFC 3986 §2)"},
      {"https://x.example/%zz", "it has a '%' that does not start a %XX escape (RFC 3986 §2.1)"},
      {"https://x.example/\r\nSet-Cookie:a=b",
       "it has a character that URIs cannot contain at "
       "offset 18 (RFC 3986 §2)"},
  };
  for (const auto& [uri, reason] : cases) {
    EXPECT_EQ(RedirectUriProblem(uri), std::optional<std::string>(reason)) << uri;
  }
}

}  // namespace
}  // namespace ts::http
