#include "common/authorized_keys_options.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/expiry_time.h"
#include "common/openssh_text.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

enum class ValueKind {
  kFlag,
  kFreeText,  // command=, principals=
  kFrom,
  kExpiry,
  kEnvironment,
  kPermitOpen,
  kPermitListen,
  kTunnel,
};

struct OptionSpec {
  absl::string_view name;
  ValueKind kind;
  bool at_most_once;
};

// The OpenSSH 9 option set (auth-options.c). Flags marked negatable in sshd appear twice.
constexpr std::array<OptionSpec, 24> kOptionSpecs = {{
    {"restrict", ValueKind::kFlag, false},
    {"cert-authority", ValueKind::kFlag, false},
    {"port-forwarding", ValueKind::kFlag, false},
    {"no-port-forwarding", ValueKind::kFlag, false},
    {"agent-forwarding", ValueKind::kFlag, false},
    {"no-agent-forwarding", ValueKind::kFlag, false},
    {"x11-forwarding", ValueKind::kFlag, false},
    {"no-x11-forwarding", ValueKind::kFlag, false},
    {"touch-required", ValueKind::kFlag, false},
    {"no-touch-required", ValueKind::kFlag, false},
    {"verify-required", ValueKind::kFlag, false},
    {"no-verify-required", ValueKind::kFlag, false},
    {"pty", ValueKind::kFlag, false},
    {"no-pty", ValueKind::kFlag, false},
    {"user-rc", ValueKind::kFlag, false},
    {"no-user-rc", ValueKind::kFlag, false},
    {"command", ValueKind::kFreeText, true},
    {"principals", ValueKind::kFreeText, true},
    {"from", ValueKind::kFrom, true},
    {"expiry-time", ValueKind::kExpiry, false},
    {"environment", ValueKind::kEnvironment, false},
    {"permitopen", ValueKind::kPermitOpen, false},
    {"permitlisten", ValueKind::kPermitListen, false},
    {"tunnel", ValueKind::kTunnel, true},
}};

const OptionSpec* FindSpec(absl::string_view lower_name) {
  for (const auto& spec : kOptionSpecs) {
    if (spec.name == lower_name) return &spec;
  }
  return nullptr;
}

absl::Status Invalid(absl::string_view option, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", option, "=\"", absl::CEscape(value.substr(0, 80)), "\": ", why));
}

bool AllCharsIn(absl::string_view s, absl::string_view allowed_punct) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           allowed_punct.find(c) != absl::string_view::npos;
  });
}

// "addr/len" with no bits set past the mask: sshd refuses the whole key on a mask that does not
// match its address, so such a from= locks everyone out.
absl::Status ValidateCidr(absl::string_view entry) {
  const size_t slash = entry.find('/');
  const std::string addr(entry.substr(0, slash));
  unsigned char bytes[16];
  int family = addr.find(':') == std::string::npos ? AF_INET : AF_INET6;
  const int max_len = family == AF_INET ? 32 : 128;
  if (inet_pton(family, addr.c_str(), bytes) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", addr, "\" is not an IP address"));
  }
  int len = 0;
  const absl::string_view len_text = entry.substr(slash + 1);
  if (len_text.empty() || !AllCharsIn(len_text, "") || len_text.size() > 3 ||
      !absl::SimpleAtoi(len_text, &len) || len > max_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("mask length \"", len_text, "\" is not 0..", max_len));
  }
  for (int bit = len; bit < max_len; ++bit) {
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", entry, "\" has address bits set past the /", len, " mask (sshd would refuse it)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFrom(absl::string_view value) {
  if (value.empty()) return Invalid("from", value, "the pattern list is empty");
  for (absl::string_view entry : absl::StrSplit(value, ',')) {
    if (!entry.empty() && entry[0] == '!') entry.remove_prefix(1);
    if (entry.empty()) return Invalid("from", value, "empty entry in the pattern list");
    if (entry.find('/') != absl::string_view::npos) {
      absl::Status s = ValidateCidr(entry);
      if (!s.ok()) return Invalid("from", value, s.message());
    } else if (!AllCharsIn(entry, ".-_*?:")) {
      return Invalid("from", value,
                     absl::StrCat("entry \"", entry,
                                  "\" may hold only letters, digits, . - _ : and wildcards * ?"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePort(absl::string_view option, absl::string_view value,
                          absl::string_view port) {
  int n = 0;
  if (port == "*") return absl::OkStatus();
  if (port.empty() || port.size() > 5 || !AllCharsIn(port, "") || !absl::SimpleAtoi(port, &n) ||
      n < 1 || n > 65535) {
    return Invalid(option, value, "the port must be 1..65535 or *");
  }
  return absl::OkStatus();
}

absl::Status ValidatePermit(absl::string_view option, absl::string_view value,
                            bool allow_bare_port) {
  if (allow_bare_port && value.find(':') == absl::string_view::npos) {
    return ValidatePort(option, value, value);
  }
  absl::string_view host, port;
  if (!value.empty() && value[0] == '[') {
    const size_t close = value.find(']');
    if (close == absl::string_view::npos || close + 1 >= value.size() || value[close + 1] != ':') {
      return Invalid(option, value, "expected [ADDRESS]:PORT");
    }
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
    if (host.empty() || !AllCharsIn(host, ":.%")) {
      return Invalid(option, value, "the bracketed address is not an IPv6 address");
    }
  } else {
    const size_t colon = value.find(':');
    if (colon == absl::string_view::npos) return Invalid(option, value, "expected HOST:PORT");
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (host.empty() || host.size() > kMaxPermitHostBytes || !AllCharsIn(host, ".-_*")) {
      return Invalid(option, value,
                     "the host must be a name or IPv4 address (IPv6 in brackets), or *");
    }
  }
  return ValidatePort(option, value, port);
}

absl::Status ValidateTunnel(absl::string_view value) {
  uint32_t id = 0;
  if (absl::EqualsIgnoreCase(value, "any")) return absl::OkStatus();
  if (value.empty() || value.size() > 10 || !AllCharsIn(value, "") ||
      !absl::SimpleAtoi(value, &id) || id > kMaxTunnelId) {
    return Invalid("tunnel", value, absl::StrCat("expected \"any\" or 0..", kMaxTunnelId));
  }
  return absl::OkStatus();
}

absl::Status ValidateEnvironment(absl::string_view value, std::vector<std::string>* seen_names) {
  const size_t eq = value.find('=');
  const absl::string_view name = value.substr(0, eq);
  if (eq == absl::string_view::npos || name.empty() || !AllCharsIn(name, "_")) {
    return Invalid("environment", value,
                   "expected NAME=VALUE with NAME made of letters, digits and _");
  }
  if (std::find(seen_names->begin(), seen_names->end(), name) != seen_names->end()) {
    return Invalid("environment", value, absl::StrCat("variable ", name, " is set more than once"));
  }
  seen_names->emplace_back(name);
  return absl::OkStatus();
}

// Counts and once-only rules across the option list, accumulated while parsing.
struct OptionTally {
  std::vector<std::string> env_names;
  size_t permitopen = 0, permitlisten = 0;
};

absl::Status ValidateValue(const OptionSpec& spec, absl::string_view value, OptionTally* tally) {
  switch (spec.kind) {
    case ValueKind::kFlag:
    case ValueKind::kFreeText:
      return absl::OkStatus();
    case ValueKind::kFrom:
      return ValidateFrom(value);
    case ValueKind::kExpiry: {
      auto t = ParseExpiryTime(value);
      return t.ok() ? absl::OkStatus() : t.status();
    }
    case ValueKind::kEnvironment:
      if (tally->env_names.size() >= kMaxEnvironmentOptions) {
        return absl::InvalidArgumentError(
            absl::StrCat("more than ", kMaxEnvironmentOptions, " environment options"));
      }
      return ValidateEnvironment(value, &tally->env_names);
    case ValueKind::kPermitOpen:
    case ValueKind::kPermitListen: {
      const bool listen = spec.kind == ValueKind::kPermitListen;
      size_t& count = listen ? tally->permitlisten : tally->permitopen;
      if (++count > kMaxPermitOptions) {
        return absl::InvalidArgumentError(
            absl::StrCat("more than ", kMaxPermitOptions, " ", spec.name, " options"));
      }
      return ValidatePermit(spec.name, value, listen);
    }
    case ValueKind::kTunnel:
      return ValidateTunnel(value);
  }
  return absl::InternalError("unhandled option kind");
}

std::string AllowedList() {
  std::vector<absl::string_view> names;
  for (const auto& spec : kOptionSpecs) names.push_back(spec.name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

bool AuthorizedKeysOptions::Has(absl::string_view name) const {
  return std::any_of(items.begin(), items.end(), [&](const auto& o) { return o.name == name; });
}

const std::string* AuthorizedKeysOptions::Value(absl::string_view name) const {
  for (const auto& o : items) {
    if (o.name == name && o.value) return &*o.value;
  }
  return nullptr;
}

std::optional<absl::Time> AuthorizedKeysOptions::EarliestExpiry(absl::TimeZone local) const {
  std::optional<absl::Time> earliest;
  for (const auto& o : items) {
    if (o.name != "expiry-time" || !o.value) continue;
    auto parsed = ParseExpiryTime(*o.value);
    if (!parsed.ok()) continue;  // unreachable for parsed options
    const absl::Time t = ExpiryInstant(*parsed, local);
    if (!earliest || t < *earliest) earliest = t;
  }
  return earliest;
}

const std::vector<std::string>& KnownAuthorizedKeysOptionNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& spec : kOptionSpecs) v.emplace_back(spec.name);
    return v;
  }();
  return names;
}

absl::StatusOr<AuthorizedKeysOptions> ParseAuthorizedKeysOptionsPrefix(absl::string_view text,
                                                                       size_t* consumed) {
  const size_t bad = text.find_first_of(absl::string_view("\r\n\0", 3));
  if (bad != absl::string_view::npos) {
    return absl::InvalidArgumentError("options contain a CR, LF or NUL byte");
  }
  AuthorizedKeysOptions out;
  OptionTally tally;
  size_t pos = 0;
  if (text.empty() || IsFieldBlank(text[0])) return absl::InvalidArgumentError("options are empty");
  while (true) {
    const size_t name_start = pos;
    while (pos < text.size() &&
           absl::string_view(",= \t\"").find(text[pos]) == absl::string_view::npos) {
      ++pos;
    }
    const absl::string_view name = text.substr(name_start, pos - name_start);
    if (name.empty()) {
      if (pos < text.size() && text[pos] == '"') {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected quote at offset ", pos, " outside an option value"));
      }
      return absl::InvalidArgumentError(absl::StrCat("empty option at offset ", pos));
    }
    const std::string lower = absl::AsciiStrToLower(name);
    const OptionSpec* spec = FindSpec(lower);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown option \"",
                                                     absl::CEscape(name.substr(0, 64)),
                                                     "\" (allowed: ", AllowedList(), ")"));
    }
    AuthorizedKeysOption option{lower, std::nullopt};
    if (pos < text.size() && text[pos] == '=') {
      if (spec->kind == ValueKind::kFlag) {
        return absl::InvalidArgumentError(absl::StrCat("option ", lower, " takes no value"));
      }
      ++pos;
      if (pos >= text.size() || text[pos] != '"') {
        return absl::InvalidArgumentError(absl::StrCat(
            "the value of option ", lower, " must be in double quotes: ", lower, "=\"…\""));
      }
      ++pos;
      std::string value;
      // As sshd's opt_dequote: \" is a quote, every other byte (including \) is itself.
      while (pos < text.size() && text[pos] != '"') {
        if (text[pos] == '\\' && pos + 1 < text.size() && text[pos + 1] == '"') ++pos;
        value.push_back(text[pos++]);
      }
      if (pos >= text.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unterminated quote in the value of option ", lower));
      }
      ++pos;  // closing quote
      KF_RETURN_IF_ERROR(ValidateValue(*spec, value, &tally));
      option.value = std::move(value);
    } else if (spec->kind != ValueKind::kFlag) {
      return absl::InvalidArgumentError(
          absl::StrCat("option ", lower, " needs a value: ", lower, "=\"…\""));
    }
    if (spec->at_most_once && out.Has(lower)) {
      return absl::InvalidArgumentError(absl::StrCat("option ", lower, " is given more than once"));
    }
    out.items.push_back(std::move(option));
    if (pos == text.size() || IsFieldBlank(text[pos])) break;
    if (text[pos] != ',') {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected character '", absl::CEscape(text.substr(pos, 1)),
                       "' after option ", lower, " (options are separated by commas)"));
    }
    ++pos;
    if (pos == text.size() || IsFieldBlank(text[pos])) {
      return absl::InvalidArgumentError(absl::StrCat("trailing comma after option ", lower));
    }
  }
  *consumed = pos;
  return out;
}

absl::StatusOr<AuthorizedKeysOptions> ParseAuthorizedKeysOptions(absl::string_view text) {
  size_t consumed = 0;
  KF_ASSIGN_OR_RETURN(AuthorizedKeysOptions options,
                      ParseAuthorizedKeysOptionsPrefix(text, &consumed));
  if (consumed != text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected text after the options at offset ", consumed,
                     " (options contain no spaces outside quoted values)"));
  }
  return options;
}

std::string RenderAuthorizedKeysOptions(const AuthorizedKeysOptions& options) {
  std::string out;
  for (const auto& o : options.items) {
    if (!out.empty()) out.push_back(',');
    out.append(o.name);
    if (o.value) {
      out.append("=\"");
      for (char c : *o.value) {
        if (c == '"') out.push_back('\\');
        out.push_back(c);
      }
      out.push_back('"');
    }
  }
  return out;
}

absl::Status ValidateAuthorizedKeysOptions(const AuthorizedKeysOptions& options) {
  if (options.empty()) return absl::OkStatus();
  KF_ASSIGN_OR_RETURN(AuthorizedKeysOptions reparsed,
                      ParseAuthorizedKeysOptions(RenderAuthorizedKeysOptions(options)));
  if (reparsed != options) {
    return absl::InvalidArgumentError(
        "options cannot be written faithfully (a name not in canonical lower case, or a value "
        "ending in a backslash)");
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
