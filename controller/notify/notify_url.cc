#include "controller/notify/notify_url.h"

#include <initializer_list>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyfleet::controller::notify {
namespace {

struct SchemeDefault {
  const char* scheme;
  int port;
};

bool IsHostNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool IsIpv6LiteralChar(char c) {
  return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
}

// Visible ASCII: what may appear in a path and query (already percent-encoded).
bool IsVisibleAscii(char c) {
  return c > 0x20 && c < 0x7f;
}

absl::StatusOr<ServiceUrl> ParseUrl(absl::string_view text,
                                    std::initializer_list<SchemeDefault> schemes,
                                    bool allow_target) {
  std::vector<std::string> scheme_names;
  for (const SchemeDefault& s : schemes) scheme_names.push_back(absl::StrCat(s.scheme, "://"));
  const std::string expected = absl::StrJoin(scheme_names, " or ");
  if (text.empty())
    return absl::InvalidArgumentError(absl::StrCat("the URL is empty; use ", expected));
  if (text.size() > kMaxUrlBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the URL is longer than ", kMaxUrlBytes, " bytes"));
  }
  for (char c : text) {
    if (!IsVisibleAscii(c)) {
      return absl::InvalidArgumentError(
          "the URL may hold only visible ASCII characters (percent-encode anything else)");
    }
  }
  ServiceUrl url;
  absl::string_view rest = text;
  for (const SchemeDefault& s : schemes) {
    const std::string prefix = absl::StrCat(s.scheme, "://");
    if (absl::StartsWith(rest, prefix)) {
      url.scheme = s.scheme;
      url.port = s.port;
      rest.remove_prefix(prefix.size());
      break;
    }
  }
  if (url.scheme.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the URL must start with ", expected, " (in lower case)"));
  }
  const size_t authority_end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, authority_end);
  absl::string_view target =
      authority_end == absl::string_view::npos ? absl::string_view() : rest.substr(authority_end);
  if (absl::StrContains(authority, '@')) {
    return absl::InvalidArgumentError(
        "the URL must not carry a user name or password (user@host); receivers authenticate "
        "keyfleet by its signature or password_file");
  }
  if (absl::StrContains(target, '#')) {
    return absl::InvalidArgumentError("the URL must not have a fragment (#...)");
  }
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    const size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("the URL's IPv6 address has no closing ']'");
    }
    absl::string_view v6 = authority.substr(1, close - 1);
    if (v6.empty() || !absl::StrContains(v6, ':')) {
      return absl::InvalidArgumentError("the URL's [IPv6] address is not an IPv6 address");
    }
    for (char c : v6) {
      if (!IsIpv6LiteralChar(c)) {
        return absl::InvalidArgumentError(
            "the URL's [IPv6] address may hold only hex digits, ':' and '.' (no zone)");
      }
    }
    url.host = std::string(v6);
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError("the URL has text after its [IPv6] address");
      }
      port_text = after.substr(1);
      if (port_text.empty()) return absl::InvalidArgumentError("the URL's port is empty");
    }
  } else {
    const size_t colon = authority.find(':');
    absl::string_view host = authority.substr(0, colon);
    if (colon != absl::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return absl::InvalidArgumentError("the URL's port is empty");
    }
    if (host.empty()) return absl::InvalidArgumentError("the URL has no host");
    if (host.size() > kMaxUrlHostBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the URL's host is longer than ", kMaxUrlHostBytes, " characters"));
    }
    for (char c : host) {
      if (!IsHostNameChar(c)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the URL's host \"", host,
            "\" may hold only letters, digits, '.', '-' and '_' (or be an [IPv6] address)"));
      }
    }
    url.host = std::string(host);
  }
  if (!port_text.empty()) {
    int port = 0;
    const bool digits_only = absl::c_all_of(
        port_text, [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
    if (!digits_only || port_text.size() > 5 || !absl::SimpleAtoi(port_text, &port) || port < 1 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("the URL's port \"", port_text, "\" is not a number from 1 to 65535"));
    }
    url.port = port;
  }
  if (allow_target) {
    if (!target.empty() && target[0] == '?') {
      url.target = absl::StrCat("/", target);
    } else {
      url.target = target.empty() ? "/" : std::string(target);
    }
  } else if (!target.empty() && target != "/") {
    return absl::InvalidArgumentError(absl::StrCat(
        "the URL must end after the host and port (nothing after them, found \"", target, "\")"));
  }
  return url;
}

}  // namespace

std::string ServiceUrl::Authority() const {
  return absl::StrContains(host, ':') ? absl::StrCat("[", host, "]:", port)
                                      : absl::StrCat(host, ":", port);
}

std::string ServiceUrl::Origin() const {
  return absl::StrCat(scheme, "://", Authority());
}

std::string ServiceUrl::ForDisplay() const {
  return absl::StrCat(Origin(), target.substr(0, target.find('?')));
}

absl::StatusOr<ServiceUrl> ParseWebhookUrl(absl::string_view text) {
  return ParseUrl(text, {{"http", 80}, {"https", 443}}, /*allow_target=*/true);
}

absl::StatusOr<ServiceUrl> ParseSmtpUrl(absl::string_view text) {
  return ParseUrl(text, {{"smtp", 25}, {"smtps", 465}}, /*allow_target=*/false);
}

}  // namespace keyfleet::controller::notify
