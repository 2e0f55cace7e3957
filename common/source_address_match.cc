#include "common/source_address_match.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace keyfleet {
namespace {

constexpr int kIPv4Bits = 32;
constexpr int kIPv6Bits = 128;

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

int FamilyBits(SourceFamily family) {
  return family == SourceFamily::kIPv4 ? kIPv4Bits : kIPv6Bits;
}

std::string AddressText(SourceFamily family, const std::array<uint8_t, 16>& bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = family == SourceFamily::kIPv4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes.data(), buf, sizeof(buf)) == nullptr) return "?";
  return buf;
}

// True when bit `index` (0 = most significant of the first byte) is set.
bool BitSet(const std::array<uint8_t, 16>& bytes, int index) {
  return (bytes[index / 8] >> (7 - index % 8)) & 1;
}

// One from= entry split into its negation and the rest.
struct Entry {
  absl::string_view text;  // as written, with the '!'
  absl::string_view body;  // without it
  bool negated = false;
};

Entry SplitEntry(absl::string_view text) {
  Entry entry{text, text, false};
  if (!text.empty() && text.front() == '!') {
    entry.negated = true;
    entry.body.remove_prefix(1);
  }
  return entry;
}

// The list's entries as sshd's strsep(&list, ",") yields them: "" is one empty entry. (StrSplit
// yields nothing for a null string_view, which would make an empty list look valid.)
std::vector<absl::string_view> SplitList(absl::string_view pattern_list) {
  if (pattern_list.empty()) return {absl::string_view("")};
  return absl::StrSplit(pattern_list, ',');
}

// What sshd's addr_pton_cidr() makes of an entry body.
struct CidrEntry {
  enum class Kind { kNotCidr, kInvalid, kNetwork };
  Kind kind = Kind::kNotCidr;
  SourceFamily family = SourceFamily::kIPv4;
  std::array<uint8_t, 16> bytes{};
  uint32_t scope_id = 0;  // IPv6 zone ("%eth0", "%2"); sshd compares it too
  int prefix = 0;
  std::string problem;  // for kInvalid
};

// The address part through getaddrinfo(AI_NUMERICHOST) as sshd's addr_pton() does, so the
// shorthands glibc accepts there ("127.1", "0x7f.1", "2130706433") mean what they mean to sshd.
// SOCK_STREAM only asks for one result instead of one per socket type; what parses is unchanged.
bool ParseNumericHost(const std::string& host, CidrEntry* out) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) return false;
  bool ok = false;
  if (result->ai_addr != nullptr && result->ai_family == AF_INET &&
      result->ai_addrlen >= sizeof(sockaddr_in)) {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(result->ai_addr);
    out->family = SourceFamily::kIPv4;
    std::memcpy(out->bytes.data(), &in4->sin_addr, 4);
    ok = true;
  } else if (result->ai_addr != nullptr && result->ai_family == AF_INET6 &&
             result->ai_addrlen >= sizeof(sockaddr_in6)) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(result->ai_addr);
    out->family = SourceFamily::kIPv6;
    std::memcpy(out->bytes.data(), &in6->sin6_addr, 16);
    out->scope_id = in6->sin6_scope_id;
    ok = true;
  }
  freeaddrinfo(result);
  return ok;
}

CidrEntry ParseCidrEntry(absl::string_view body) {
  CidrEntry cidr;
  if (body.size() > kMaxCidrEntryBytes) return cidr;
  absl::string_view host = body;
  bool has_prefix = false;
  int prefix = 0;
  if (const size_t slash = body.find('/'); slash != absl::string_view::npos) {
    host = body.substr(0, slash);
    const absl::string_view digits = body.substr(slash + 1);
    // strtoul(…, 10) with a digit first and nothing after the digits; over 128 is not CIDR.
    if (digits.empty()) return cidr;
    for (const char c : digits) {
      if (c < '0' || c > '9') return cidr;
      if (prefix <= kIPv6Bits) prefix = prefix * 10 + (c - '0');  // saturates past 128
    }
    if (prefix > kIPv6Bits) return cidr;
    has_prefix = true;
  }
  if (!ParseNumericHost(std::string(host), &cidr)) return cidr;
  const int bits = FamilyBits(cidr.family);
  cidr.prefix = has_prefix ? prefix : bits;
  if (cidr.prefix > bits) {
    cidr.kind = CidrEntry::Kind::kInvalid;
    cidr.problem = absl::StrCat("prefix length /", cidr.prefix, " is out of range for IPv4 (0-32)");
    return cidr;
  }
  for (int bit = cidr.prefix; bit < bits; ++bit) {
    if (BitSet(cidr.bytes, bit)) {
      std::array<uint8_t, 16> network = cidr.bytes;
      for (int clear = cidr.prefix; clear < bits; ++clear) {
        network[clear / 8] &= static_cast<uint8_t>(~(1u << (7 - clear % 8)));
      }
      cidr.kind = CidrEntry::Kind::kInvalid;
      cidr.problem = absl::StrCat("address has host bits set past its /", cidr.prefix,
                                  " prefix (the network is ", AddressText(cidr.family, network),
                                  "/", cidr.prefix, ")");
      return cidr;
    }
  }
  cidr.kind = CidrEntry::Kind::kNetwork;
  return cidr;
}

// addr_netmatch(): same family, same zone, and equal under the prefix. Sources carry no zone.
bool NetworkContains(const CidrEntry& network, const SourceAddress& source) {
  if (network.family != source.family) return false;
  if (network.scope_id != 0) return false;
  for (int bit = 0; bit < network.prefix; ++bit) {
    if (BitSet(network.bytes, bit) != BitSet(source.bytes, bit)) return false;
  }
  return true;
}

// Why an entry makes sshd reject the whole list, or empty when it does not.
std::string EntryProblem(const Entry& entry, const CidrEntry* cidr) {
  if (entry.body.empty()) return entry.negated ? "a '!' with nothing after it" : "it is empty";
  if (cidr != nullptr && cidr->kind == CidrEntry::Kind::kInvalid) return cidr->problem;
  return "";
}

std::string BadListMessage(absl::string_view pattern_list, size_t index, const Entry& entry,
                           absl::string_view problem) {
  return absl::StrCat("from=", Quote(pattern_list), " is invalid: entry ", index + 1, " ",
                      Quote(entry.text), ": ", problem, "; sshd denies every login with this list");
}

constexpr absl::string_view kNulProblem =
    "it holds a NUL byte (sshd would read only the text before it)";

SourceDecision Decision(SourceMatch result, absl::string_view entry, std::string reason) {
  return SourceDecision{result, std::string(entry), std::move(reason)};
}

}  // namespace

absl::StatusOr<SourceAddress> ParseSourceAddress(absl::string_view text) {
  const std::string hint =
      "expected an IPv4 or IPv6 address such as 192.0.2.7 or 2001:db8::7; host names, "
      "[brackets], ports, /prefixes, %zone ids and blanks are not accepted";
  if (text.empty()) return absl::InvalidArgumentError("source address is empty; " + hint);
  if (text.size() > kMaxSourceAddressBytes) {
    constexpr size_t kShownBytes = 64;  // of a long input, in the message
    return absl::InvalidArgumentError(absl::StrCat(
        "source address ", Quote(text.substr(0, kShownBytes)), text.size() > kShownBytes ? "…" : "",
        " is longer than ", kMaxSourceAddressBytes, " bytes; ", hint));
  }
  const std::string copy(text);
  SourceAddress address;
  in_addr v4{};
  in6_addr v6{};
  if (copy.find('\0') != std::string::npos) {
    // inet_pton would stop at the NUL and accept a prefix of the text.
  } else if (inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    address.family = SourceFamily::kIPv4;
    std::memcpy(address.bytes.data(), &v4, 4);
    address.text = AddressText(address.family, address.bytes);
    return address;
  } else if (inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      // sshd turns a mapped peer into the IPv4 one before matching (ipv64_normalise_mapped).
      address.family = SourceFamily::kIPv4;
      std::memcpy(address.bytes.data(), reinterpret_cast<const uint8_t*>(&v6) + 12, 4);
    } else {
      address.family = SourceFamily::kIPv6;
      std::memcpy(address.bytes.data(), &v6, 16);
    }
    address.text = AddressText(address.family, address.bytes);
    return address;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("source address ", Quote(text), " is not an IP address; ", hint));
}

bool WildcardMatch(absl::string_view text, absl::string_view pattern) {
  // Backtracking only to the most recent '*' is enough for '*'/'?' globs and keeps the work at
  // O(text * pattern): every step advances `t`, `p` or `star_t`, and `star_t` never passes the
  // end of the text. (sshd's recursive version is exponential on patterns like "*?*?*?…".)
  size_t t = 0;
  size_t p = 0;
  size_t star_p = absl::string_view::npos;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_t = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star_p != absl::string_view::npos) {
      p = star_p + 1;
      t = ++star_t;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status ValidateFromPatternList(absl::string_view pattern_list) {
  if (pattern_list.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("from=", Quote(pattern_list), " is invalid: ", kNulProblem));
  }
  const std::vector<absl::string_view> entries = SplitList(pattern_list);
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry entry = SplitEntry(entries[i]);
    CidrEntry cidr;
    if (!entry.body.empty()) cidr = ParseCidrEntry(entry.body);
    if (std::string problem = EntryProblem(entry, &cidr); !problem.empty()) {
      return absl::InvalidArgumentError(BadListMessage(pattern_list, i, entry, problem));
    }
  }
  return absl::OkStatus();
}

SourceDecision MatchFromOption(absl::string_view pattern_list, const SourceAddress& source) {
  if (pattern_list.find('\0') != absl::string_view::npos) {
    return Decision(SourceMatch::kBadPattern, "",
                    absl::StrCat("from=", Quote(pattern_list), " is invalid: ", kNulProblem));
  }
  const std::vector<absl::string_view> entries = SplitList(pattern_list);

  // Address pass (addr_match_list): CIDR entries by network, the rest as case-sensitive
  // wildcards; the first negated match or invalid entry ends it.
  size_t first_positive = entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry entry = SplitEntry(entries[i]);
    CidrEntry cidr;
    if (!entry.body.empty()) cidr = ParseCidrEntry(entry.body);
    if (std::string problem = EntryProblem(entry, &cidr); !problem.empty()) {
      return Decision(SourceMatch::kBadPattern, entry.text,
                      BadListMessage(pattern_list, i, entry, problem));
    }
    const bool matched = cidr.kind == CidrEntry::Kind::kNetwork
                             ? NetworkContains(cidr, source)
                             : WildcardMatch(source.text, entry.body);
    if (!matched) continue;
    if (entry.negated) {
      return Decision(SourceMatch::kDenied, entry.text,
                      absl::StrCat(source.text, " is excluded by ", Quote(entry.text)));
    }
    if (first_positive == entries.size()) first_positive = i;
  }

  // Host-name pass (match_hostname with the address as the name): every entry as a
  // case-insensitive wildcard. Entries are all non-empty here, or the first pass had failed.
  const std::string host = absl::AsciiStrToLower(source.text);
  size_t first_host_positive = entries.size();
  size_t cut_at = entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry entry = SplitEntry(entries[i]);
    if (entry.body.size() > kMaxHostnamePatternEntryBytes) {
      cut_at = i;
      first_host_positive = entries.size();  // sshd returns "no match" from here
      break;
    }
    if (!WildcardMatch(host, absl::AsciiStrToLower(entry.body))) continue;
    if (entry.negated) {
      return Decision(
          SourceMatch::kDenied, entry.text,
          absl::StrCat(source.text, " is excluded by ", Quote(entry.text), " (ignoring case)"));
    }
    if (first_host_positive == entries.size()) first_host_positive = i;
  }

  if (first_positive < entries.size()) {
    return Decision(SourceMatch::kAllowed, entries[first_positive],
                    absl::StrCat(source.text, " is allowed by ", Quote(entries[first_positive])));
  }
  if (first_host_positive < entries.size()) {
    return Decision(SourceMatch::kAllowed, entries[first_host_positive],
                    absl::StrCat(source.text, " is allowed by ",
                                 Quote(entries[first_host_positive]), " (ignoring case)"));
  }
  std::string reason = absl::StrCat(source.text, " matches none of ", Quote(pattern_list));
  if (cut_at < entries.size()) {
    absl::StrAppend(&reason, " (sshd stops its case-insensitive pass at entry ", cut_at + 1,
                    ", which is longer than ", kMaxHostnamePatternEntryBytes, " bytes)");
  }
  return Decision(SourceMatch::kDenied, "", std::move(reason));
}

}  // namespace keyfleet
