// The from="PATTERN-LIST" authorized_keys option as OpenSSH 9.2's sshd decides it: does a
// connection from a given source address satisfy the list? Written from the rules of sshd's
// match_host_and_ip() (match.c), addr_match_list() (addrmatch.c) and addr_pton_cidr() (addr.c),
// for sshd's default `UseDNS no`, where the "host name" sshd matches is the address text itself.
//
// The rules, in the order sshd applies them (source file in brackets):
//  1. The list is split at every ','. Each entry may start with one '!' (negation). An empty
//     entry, or a lone '!', makes the list invalid [addrmatch.c].
//  2. Address pass, entries in order [addrmatch.c addr_match_list]:
//     - An entry that parses as an address or CIDR block [addr.c addr_pton_cidr] is compared by
//       network: same family, same IPv6 zone id, and the source masked to the prefix equals the
//       network. It is never also tried as a wildcard. Sources carry no zone, so an entry with a
//       non-zero zone ("fe80::1%2", "fe80::1%eth0") never matches; "%0" is no zone.
//       Parsing is sshd's: getaddrinfo(AI_NUMERICHOST), so IPv4 shorthands count ("127.1" is
//       127.0.0.1, "10" is 0.0.0.10, "010.0.0.1" is octal 8.0.0.1); an entry of 64 bytes or more
//       is never a CIDR entry; the prefix must be 0-128 decimal digits only. A zone name is
//       looked up among this machine's interfaces, as sshd does on its own machine.
//       Invalid (the whole list denies): an IPv4 prefix of 33..128 ("10.0.0.0/33"), or host bits
//       set past the prefix ("10.0.0.1/8"). A prefix over 128, an empty or non-numeric prefix,
//       or an unparseable address just makes the entry a wildcard (which then cannot match,
//       since an address's text never holds a '/').
//     - Any other entry is a case-sensitive wildcard ('*' any run, '?' one character) matched
//       against the source's text.
//     - The first negated entry that matches denies at once; an invalid entry met before any
//       negated match makes the list invalid, even after a positive match.
//  3. Host-name pass (only when step 2 did not deny or fail) [match.c match_hostname]: every
//     entry, CIDR or not, is a wildcard matched case-insensitively against the address text.
//     The first negated match denies. An entry longer than kMaxHostnamePatternEntryBytes ends
//     this pass with "no match" at that entry, discarding its earlier positive matches.
//  4. Allowed when either pass found a positive match; denied otherwise.
//
// The source's text is what sshd prints for the peer (inet_ntop form: "2001:db8::1", lower
// case); an IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is seen by sshd as plain IPv4 a.b.c.d
// (canohost.c ipv64_normalise_mapped), so mapped patterns like "::ffff:10.0.0.0/104" never match.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

// The longest text ParseSourceAddress reads: INET6_ADDRSTRLEN - 1, the longest IPv6 literal
// ("0000:0000:0000:0000:0000:ffff:255.255.255.255").
inline constexpr size_t kMaxSourceAddressBytes = 45;
// sshd copies a CIDR entry into a 64-byte buffer; an entry of 64 bytes or more is not CIDR.
inline constexpr size_t kMaxCidrEntryBytes = 63;
// sshd's match_pattern_list() copies each entry into a 1024-byte buffer and gives up (no match)
// on an entry that does not fit with room to spare: 1022 bytes fit, 1023 do not.
inline constexpr size_t kMaxHostnamePatternEntryBytes = 1022;

enum class SourceFamily { kIPv4, kIPv6 };

// A connection's source address as sshd sees it.
struct SourceAddress {
  SourceFamily family = SourceFamily::kIPv4;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
  std::string text;                 // inet_ntop form, what wildcards are matched against

  bool operator==(const SourceAddress& other) const {
    return family == other.family && bytes == other.bytes && text == other.text;
  }
};

// Strict: an IPv4 dotted quad or an IPv6 literal (inet_pton), nothing else: no host names,
// brackets, ports, prefixes, zone ids ("%eth0") or surrounding blanks. An IPv4-mapped IPv6
// address becomes the IPv4 address, as in sshd. INVALID_ARGUMENT saying why otherwise.
absl::StatusOr<SourceAddress> ParseSourceAddress(absl::string_view text);

enum class SourceMatch {
  kAllowed,
  kDenied,
  kBadPattern,  // sshd found an invalid entry before deciding; it denies the login
};

struct SourceDecision {
  SourceMatch result = SourceMatch::kDenied;
  // The entry (with its '!') that decided; empty when nothing matched.
  std::string entry;
  // One line for people, e.g. `10.1.2.3 is excluded by "!10.1.2.0/24"`.
  std::string reason;
};

// Whether a login from `source` satisfies from="`pattern_list`" (the option's value, quotes
// removed), by the rules above. sshd lets the login in only for kAllowed. kBadPattern is
// returned exactly when sshd would fail on the list for this source (a negated match earlier in
// the list denies first and gives kDenied); use ValidateFromPatternList to check a list
// independently of any source. A list holding a NUL byte is kBadPattern (sshd could never see
// the bytes after it).
SourceDecision MatchFromOption(absl::string_view pattern_list, const SourceAddress& source);

// The list check sshd runs with no address (addr_match_list(NULL, list)): OK, or
// INVALID_ARGUMENT naming the first entry that makes sshd deny every login with this list.
absl::Status ValidateFromPatternList(absl::string_view pattern_list);

// sshd's wildcard match (match.c match_pattern): '*' matches any run, '?' any one character,
// everything else itself, case-sensitively. Runs in O(text * pattern) time.
bool WildcardMatch(absl::string_view text, absl::string_view pattern);

}  // namespace keyfleet
