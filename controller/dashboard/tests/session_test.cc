// The dashboard's session pieces (session.h): the cookie parser (good and bad input, as a table),
// the cookie attributes, the CSRF token and the same-origin rule.
#include "controller/dashboard/session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace keyfleet::controller::dashboard {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "kfat_0123456789abcdef_0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(SessionTokenFromCookies, Table) {
  struct Case {
    std::string header;
    std::optional<std::string> token;
  };
  const std::string t = kToken;
  const Case cases[] = {
      {"__Host-keyfleet=" + t, t},
      {"a=1; __Host-keyfleet=" + t + "; b=2", t},
      {"  __Host-keyfleet=" + t + "  ", t},
      {"", std::nullopt},
      {"keyfleet=" + t, std::nullopt},         // without the prefix: another cookie
      {"__host-keyfleet=" + t, std::nullopt},  // names are case-sensitive
      {"__Host-keyfleet=", std::nullopt},      // empty
      {"__Host-keyfleet=" + t + "; __Host-keyfleet=" + t, std::nullopt},  // tossed cookie
      {"__Host-keyfleet=kfat_x\r\nEvil: 1", std::nullopt},
      {"__Host-keyfleet=\"" + t + "\"", std::nullopt},  // quoted: not a token
      {"__Host-keyfleet=kfat_" + std::string(300, 'a'), std::nullopt},
      {"__Host-keyfleet=kfat_é", std::nullopt},
      {"__Host-keyfleet " + t, std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SessionTokenFromCookies(c.header), c.token) << c.header;
  }
}

TEST(LooksLikeApiToken, OnlyTokenCharacters) {
  EXPECT_TRUE(LooksLikeApiToken(kToken));
  EXPECT_FALSE(LooksLikeApiToken(""));
  EXPECT_FALSE(LooksLikeApiToken("kfat_a b"));
  EXPECT_FALSE(LooksLikeApiToken("kfat_a\nb"));
  EXPECT_FALSE(LooksLikeApiToken("kfat_a;b"));
  EXPECT_FALSE(LooksLikeApiToken(std::string(257, 'a')));
  EXPECT_TRUE(LooksLikeApiToken(std::string(256, 'a')));
}

TEST(SessionCookie, StrictAttributes) {
  const std::string cookie = SessionCookie(kToken);
  EXPECT_THAT(cookie, HasSubstr(std::string("__Host-keyfleet=") + kToken + ";"));
  for (const char* attribute : {"Path=/", "Secure", "HttpOnly", "SameSite=Strict"}) {
    EXPECT_THAT(cookie, HasSubstr(attribute));
  }
  EXPECT_THAT(cookie, ::testing::Not(HasSubstr("Domain")));
  // A session cookie: the browser keeps the token in memory only, until it closes.
  EXPECT_THAT(cookie, ::testing::Not(HasSubstr("Max-Age")));
  EXPECT_THAT(cookie, ::testing::Not(HasSubstr("Expires")));
  EXPECT_THAT(ClearedSessionCookie(), HasSubstr("__Host-keyfleet=;"));
  EXPECT_THAT(ClearedSessionCookie(), HasSubstr("Max-Age=0"));
}

TEST(CsrfToken, DerivedFromTheTokenAndComparedWhole) {
  const std::string csrf = CsrfTokenFor(kToken);
  EXPECT_EQ(csrf.size(), 64u);
  EXPECT_EQ(csrf, CsrfTokenFor(kToken));  // the same on every replica
  EXPECT_NE(csrf, CsrfTokenFor(std::string(kToken) + "0"));
  EXPECT_THAT(csrf, ::testing::Not(HasSubstr("kfat")));
  EXPECT_TRUE(CsrfTokenMatches(kToken, csrf));
  EXPECT_FALSE(CsrfTokenMatches(kToken, ""));
  EXPECT_FALSE(CsrfTokenMatches(kToken, csrf.substr(0, 63)));
  EXPECT_FALSE(CsrfTokenMatches(kToken, csrf + "0"));
  std::string flipped = csrf;
  flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(CsrfTokenMatches(kToken, flipped));
}

TEST(SameOriginRequest, Table) {
  struct Case {
    const char *origin, *host, *site;
    bool same;
  };
  const Case cases[] = {
      {"", "", "", true},  // an old browser or a script: CSRF token and SameSite still hold
      {"https://127.0.0.1:9443", "127.0.0.1:9443", "same-origin", true},
      {"https://127.0.0.1:9443", "127.0.0.1:9443", "", true},
      {"", "127.0.0.1:9443", "same-origin", true},
      {"https://evil.example", "127.0.0.1:9443", "", false},
      {"http://127.0.0.1:9443", "127.0.0.1:9443", "", false},  // not https
      {"null", "127.0.0.1:9443", "", false},
      {"https://127.0.0.1:9443", "", "", false},
      {"", "127.0.0.1:9443", "cross-site", false},
      {"", "127.0.0.1:9443", "same-site", false},
      {"https://127.0.0.1:9443", "127.0.0.1:9443", "none", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SameOriginRequest(c.origin, c.host, c.site), c.same)
        << c.origin << " " << c.host << " " << c.site;
  }
}

}  // namespace
}  // namespace keyfleet::controller::dashboard
