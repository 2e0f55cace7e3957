#include "node-agent/sshd_auth_log.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <array>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/sha256_fingerprint.h"
#include "node-agent/accounts.h"

namespace keyfleet::agent {
namespace {

constexpr absl::string_view kAcceptedPrefix = "Accepted publickey for ";

// sshkey_type()'s short names (OpenSSH 9.2 sshkey_impl .shortname).
constexpr std::array<absl::string_view, 14> kKeyTypes = {
    "RSA",        "RSA-CERT",        "DSA",           "DSA-CERT", "ECDSA",
    "ECDSA-CERT", "ECDSA-SK",        "ECDSA-SK-CERT", "ED25519",  "ED25519-CERT",
    "ED25519-SK", "ED25519-SK-CERT", "XMSS",          "XMSS-CERT"};

bool KnownKeyType(absl::string_view type) {
  for (absl::string_view t : kKeyTypes) {
    if (t == type) return true;
  }
  return false;
}

// Takes the text up to the next ' ' off the front of `rest` (all of it when there is none).
absl::string_view TakeToken(absl::string_view* rest) {
  const size_t space = rest->find(' ');
  absl::string_view token = rest->substr(0, space);
  rest->remove_prefix(space == absl::string_view::npos ? rest->size() : space);
  return token;
}

bool ParsePort(absl::string_view text, uint16_t* port) {
  if (text.empty() || text.size() > 5 || text[0] == '0') return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  uint32_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value == 0 || value > 65535) return false;
  *port = static_cast<uint16_t>(value);
  return true;
}

SshdLogEvent Malformed(absl::string_view message, absl::string_view why) {
  SshdLogEvent e;
  e.kind = SshdLogEventKind::kMalformed;
  e.error = absl::StrCat("sshd \"Accepted publickey\" line refused: ", why, " (line: \"",
                         absl::CHexEscape(message.substr(0, 200)), "\")");
  return e;
}

// "ADDR port PORT" at the front of `rest`; consumes it.
bool TakeEndpoint(absl::string_view* rest, std::string* address, uint16_t* port) {
  absl::string_view addr = TakeToken(rest);
  if (!IsNumericAddress(addr) || !absl::ConsumePrefix(rest, " port ")) return false;
  size_t digits = 0;
  while (digits < rest->size() &&
         absl::ascii_isdigit(static_cast<unsigned char>((*rest)[digits]))) {
    ++digits;
  }
  if (!ParsePort(rest->substr(0, digits), port)) return false;
  rest->remove_prefix(digits);
  *address = std::string(addr);
  return true;
}

SshdLogEvent ParseAccepted(absl::string_view message, absl::string_view rest) {
  SshdLogEvent e;
  const absl::string_view user = TakeToken(&rest);
  if (absl::Status s = ValidateUsername(user); !s.ok()) return Malformed(message, s.message());
  if (!absl::ConsumePrefix(&rest, " from "))
    return Malformed(message, "no \" from \" after the user");
  const absl::string_view address = TakeToken(&rest);
  if (!IsNumericAddress(address)) {
    return Malformed(message, absl::StrCat("address \"", absl::CHexEscape(address),
                                           "\" is not a numeric IPv4 or IPv6 address"));
  }
  if (!absl::ConsumePrefix(&rest, " port "))
    return Malformed(message, "no \" port \" after the address");
  if (!ParsePort(TakeToken(&rest), &e.port)) {
    return Malformed(message, "the port is not a number in 1..65535");
  }
  if (!absl::ConsumePrefix(&rest, " ssh2: ")) {
    return Malformed(message, "no \" ssh2: KEYTYPE FINGERPRINT\" after the port");
  }
  const absl::string_view type = TakeToken(&rest);
  if (!KnownKeyType(type)) {
    return Malformed(
        message, absl::StrCat("key type \"", absl::CHexEscape(type), "\" is not one sshd prints"));
  }
  if (!absl::ConsumePrefix(&rest, " "))
    return Malformed(message, "no fingerprint after the key type");
  // A plain key may be followed by ", INFO" (e.g. "signature count = N"); a certificate by
  // " ID …" (free text: the key ID, serial and CA follow).
  const size_t end = rest.find_first_of(" ,");
  const absl::string_view fingerprint = rest.substr(0, end);
  rest.remove_prefix(end == absl::string_view::npos ? rest.size() : end);
  absl::StatusOr<std::string> digest = Sha256FingerprintDigest(fingerprint);
  if (!digest.ok()) {
    return Malformed(message, absl::StrCat(digest.status().message(),
                                           " (sshd_config must keep FingerprintHash sha256)"));
  }
  const bool certificate = absl::EndsWith(type, "-CERT");
  if (certificate) {
    if (!absl::StartsWith(rest, " ID ")) {
      return Malformed(message, "a certificate's fingerprint is not followed by \" ID \"");
    }
  } else if (!rest.empty() && !(absl::StartsWith(rest, ", ") && rest.size() > 2)) {
    return Malformed(message, "unexpected text after the fingerprint");
  }
  e.kind = SshdLogEventKind::kAccepted;
  e.user = std::string(user);
  e.address = std::string(address);
  e.key_type = std::string(type);
  e.fingerprint = std::string(fingerprint);
  e.digest = *std::move(digest);
  return e;
}

// "Disconnected from user USER ADDR port PORT", "Connection closed by [user USER] ADDR port
// PORT", "Connection reset by …", "Received disconnect from ADDR port PORT:CODE: TEXT".
SshdLogEvent ParseSessionEnd(absl::string_view rest) {
  SshdLogEvent e;
  if (absl::EndsWith(rest, " [preauth]")) return e;
  absl::ConsumePrefix(&rest, "error: ");
  const bool received = absl::ConsumePrefix(&rest, "Received disconnect from ");
  if (!received && !absl::ConsumePrefix(&rest, "Disconnected from ") &&
      !absl::ConsumePrefix(&rest, "Connection closed by ") &&
      !absl::ConsumePrefix(&rest, "Connection reset by ")) {
    return e;
  }
  SshdLogEvent end;
  if (!received && absl::ConsumePrefix(&rest, "user ")) {
    const absl::string_view user = TakeToken(&rest);
    if (!ValidateUsername(user).ok() || !absl::ConsumePrefix(&rest, " ")) return e;
    end.user = std::string(user);
  }
  if (!TakeEndpoint(&rest, &end.address, &end.port)) return e;
  // The client's disconnect text follows "PORT:CODE: " and is never read.
  if (received ? !absl::StartsWith(rest, ":") : !rest.empty()) return e;
  end.kind = SshdLogEventKind::kSessionEnd;
  return end;
}

}  // namespace

bool IsNumericAddress(absl::string_view address) {
  if (address.empty() || address.size() > INET6_ADDRSTRLEN + IF_NAMESIZE) return false;
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];
  std::memcpy(buf, address.data(), address.size());
  buf[address.size()] = '\0';
  unsigned char out[sizeof(in6_addr)];
  if (address.find(':') == absl::string_view::npos) return inet_pton(AF_INET, buf, out) == 1;
  const size_t percent = address.find('%');
  if (percent != absl::string_view::npos) {
    const absl::string_view zone = address.substr(percent + 1);
    if (zone.empty() || zone.size() >= IF_NAMESIZE) return false;
    for (char c : zone) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return false;
      }
    }
    buf[percent] = '\0';
  }
  return inet_pton(AF_INET6, buf, out) == 1;
}

SshdLogEvent ParseSshdMessage(absl::string_view message) {
  absl::ConsumeSuffix(&message, "\n");
  absl::ConsumeSuffix(&message, "\r");
  absl::string_view rest = message;
  if (absl::ConsumePrefix(&rest, kAcceptedPrefix)) {
    if (message.size() > kMaxSshdMessageBytes) return Malformed(message, "it is too long");
    return ParseAccepted(message, rest);
  }
  if (message.size() > kMaxSshdMessageBytes) return SshdLogEvent{};
  return ParseSessionEnd(rest);
}

}  // namespace keyfleet::agent
