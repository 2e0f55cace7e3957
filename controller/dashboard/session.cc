#include "controller/dashboard/session.h"

#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"

namespace keyfleet::controller::dashboard {
namespace {

constexpr size_t kMaxTokenBytes = 256;
constexpr absl::string_view kCsrfLabel = "keyfleet dashboard CSRF v1";

}  // namespace

bool LooksLikeApiToken(absl::string_view text) {
  if (text.empty() || text.size() > kMaxTokenBytes) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::optional<std::string> SessionTokenFromCookies(absl::string_view cookie_header) {
  std::optional<std::string> found;
  for (absl::string_view pair : absl::StrSplit(cookie_header, ';')) {
    pair = absl::StripAsciiWhitespace(pair);
    const size_t eq = pair.find('=');
    if (eq == absl::string_view::npos || pair.substr(0, eq) != kSessionCookieName) continue;
    // Two session cookies: a sign of cookie tossing, not a session.
    if (found) return std::nullopt;
    absl::string_view value = pair.substr(eq + 1);
    if (!LooksLikeApiToken(value)) return std::nullopt;
    found = std::string(value);
  }
  return found;
}

std::string SessionCookie(absl::string_view token) {
  // No Max-Age: a session cookie, which the browser drops when it closes instead of keeping the
  // token on disk.
  return absl::StrCat(kSessionCookieName, "=", token, "; Path=/; Secure; HttpOnly; SameSite=Strict");
}

std::string ClearedSessionCookie() {
  return absl::StrCat(kSessionCookieName,
                      "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

std::string CsrfTokenFor(absl::string_view token) {
  return Sha256Hex(absl::StrCat(kCsrfLabel, "\n", token));
}

bool CsrfTokenMatches(absl::string_view token, absl::string_view header) {
  const std::string expected = CsrfTokenFor(token);
  return header.size() == expected.size() &&
         CRYPTO_memcmp(header.data(), expected.data(), expected.size()) == 0;
}

bool SameOriginRequest(absl::string_view origin, absl::string_view host,
                       absl::string_view sec_fetch_site) {
  if (!sec_fetch_site.empty() && sec_fetch_site != "same-origin") return false;
  if (origin.empty()) return true;
  return !host.empty() && origin == absl::StrCat("https://", host);
}

}  // namespace keyfleet::controller::dashboard
