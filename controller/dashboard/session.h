// The dashboard's browser session: the API token in a cookie, and the CSRF token derived from it.
//
// After the login form the browser holds the token in `__Host-keyfleet` (HttpOnly: scripts cannot
// read it; Secure and the __Host- prefix: HTTPS only, this origin only; SameSite=Strict: no other
// site's page sends it). Every mutation must also carry X-CSRF-Token, which the page learns from
// /api/v1/session: SHA-256 of a fixed label and the token, so it is the same on every replica,
// changes with the token, and cannot be made without it.
#pragma once

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::controller::dashboard {

inline constexpr char kSessionCookieName[] = "__Host-keyfleet";
inline constexpr char kCsrfHeader[] = "X-CSRF-Token";

// True for text that can be an API token: 1 to 256 of A-Z a-z 0-9 and '_' (what the controller
// issues is "kfat_" and hex). Anything else never reaches a request header.
bool LooksLikeApiToken(absl::string_view text);

// The session cookie's token from a Cookie header ("a=1; __Host-keyfleet=kfat_…"); nullopt when
// absent, repeated or not LooksLikeApiToken.
std::optional<std::string> SessionTokenFromCookies(absl::string_view cookie_header);

// Set-Cookie values: the session for `token`, and one that removes it.
std::string SessionCookie(absl::string_view token);
std::string ClearedSessionCookie();

// 64 lower-case hex digits.
std::string CsrfTokenFor(absl::string_view token);
// Whether `header` is CsrfTokenFor(token), compared in constant time.
bool CsrfTokenMatches(absl::string_view token, absl::string_view header);

// Whether a POST may come from this page: its Origin header, when the browser sends one, is
// https://HOST with HOST the request's Host header; and Sec-Fetch-Site, when sent, is
// same-origin. Empty arguments are headers the request did not have.
bool SameOriginRequest(absl::string_view origin, absl::string_view host,
                       absl::string_view sec_fetch_site);

}  // namespace keyfleet::controller::dashboard
