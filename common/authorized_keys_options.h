// The options field of authorized_keys lines, as OpenSSH 9 sshd parses it (sshauthopt_parse).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace keyfleet {

inline constexpr size_t kMaxEnvironmentOptions = 1024;    // SSH_AUTHOPT_ENV_MAX
inline constexpr size_t kMaxPermitOptions = 4096;         // SSH_AUTHOPT_PERMIT_MAX, per option
inline constexpr size_t kMaxPermitHostBytes = 1024;       // NI_MAXHOST - 1
inline constexpr uint32_t kMaxTunnelId = 0x7fffffff - 2;  // SSH_TUNID_MAX

struct AuthorizedKeysOption {
  std::string name;                  // canonical lower-case spelling, e.g. "no-x11-forwarding"
  std::optional<std::string> value;  // unquoted and unescaped; present for valued options only

  bool operator==(const AuthorizedKeysOption& o) const {
    return name == o.name && value == o.value;
  }
  bool operator!=(const AuthorizedKeysOption& o) const { return !(*this == o); }
};

struct AuthorizedKeysOptions {
  std::vector<AuthorizedKeysOption> items;  // in line order

  bool empty() const { return items.empty(); }
  bool Has(absl::string_view name) const;
  // The first value of option `name`, or nullptr.
  const std::string* Value(absl::string_view name) const;
  // The earliest expiry-time among the options (sshd enforces the earliest), or nullopt.
  std::optional<absl::Time> EarliestExpiry(absl::TimeZone local) const;

  bool operator==(const AuthorizedKeysOptions& o) const { return items == o.items; }
  bool operator!=(const AuthorizedKeysOptions& o) const { return !(*this == o); }
};

// The option names sshd knows, in the form they are written: flags ("restrict", "no-pty",
// "pty", …) and valued options ("command", "from", …).
const std::vector<std::string>& KnownAuthorizedKeysOptionNames();

// Parses options from the start of `text` up to the first space or tab outside a quoted value,
// or the end. Option names are case-insensitive; values must be double-quoted, with \" for a
// quote inside. Refused, each with a reason: unknown options; flags given a value; valued
// options without one; missing or unterminated quotes; an empty option or trailing comma;
// command=, from= or principals= given twice; invalid expiry-time, from, environment,
// permitopen, permitlisten or tunnel values; more than kMaxEnvironmentOptions environment or
// kMaxPermitOptions permitopen/permitlisten options; CR, LF or NUL anywhere.
// On success `*consumed` is the length of the options text.
absl::StatusOr<AuthorizedKeysOptions> ParseAuthorizedKeysOptionsPrefix(absl::string_view text,
                                                                       size_t* consumed);

// Like the prefix form, but the whole of `text` must be options (as given on a command line).
absl::StatusOr<AuthorizedKeysOptions> ParseAuthorizedKeysOptions(absl::string_view text);

// "name,name=\"value\",…", quotes inside values escaped as \". Empty for no options.
std::string RenderAuthorizedKeysOptions(const AuthorizedKeysOptions& options);

// OK when `options` (however built) renders to text that parses back to the same options: the
// check to run on options that did not come from the parser, before they are written anywhere.
absl::Status ValidateAuthorizedKeysOptions(const AuthorizedKeysOptions& options);

}  // namespace keyfleet
