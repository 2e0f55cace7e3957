// Fuzzes the from="…" source-address matcher. Input: a source address, a newline, a pattern list.
// Checks, for every input:
//  - a parsed address prints back to itself;
//  - kBadPattern only for a list ValidateFromPatternList rejects, and a list it accepts is never
//    kBadPattern; every decision has a reason, and an entry unless nothing matched;
//  - "!<address>," in front of a valid list excludes the address (sshd's first negated match wins);
//  - a valid list that matched nothing, with ",*" appended, allows the address.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/source_address_match.h"
#include "tests/fuzz/fuzz_require.h"

namespace {

using keyfleet::fuzz::Require;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const absl::string_view address_text =
      newline == absl::string_view::npos ? input : input.substr(0, newline);
  const absl::string_view patterns =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);

  const bool list_valid = keyfleet::ValidateFromPatternList(patterns).ok();
  absl::StatusOr<keyfleet::SourceAddress> address = keyfleet::ParseSourceAddress(address_text);
  if (!address.ok()) {
    // Still exercise the list parser with a fixed address.
    address = keyfleet::ParseSourceAddress("10.1.2.3");
    Require(address.ok());
  }
  absl::StatusOr<keyfleet::SourceAddress> again = keyfleet::ParseSourceAddress(address->text);
  Require(again.ok() && *again == *address);
  Require(address->text.size() <= keyfleet::kMaxSourceAddressBytes);

  const keyfleet::SourceDecision decision = keyfleet::MatchFromOption(patterns, *address);
  Require(!decision.reason.empty());
  if (decision.result == keyfleet::SourceMatch::kBadPattern) Require(!list_valid);
  if (list_valid) Require(decision.result != keyfleet::SourceMatch::kBadPattern);
  if (decision.result == keyfleet::SourceMatch::kAllowed) Require(!decision.entry.empty());

  if (list_valid) {
    const std::string excluded = absl::StrCat("!", address->text, ",", patterns);
    const keyfleet::SourceDecision first = keyfleet::MatchFromOption(excluded, *address);
    Require(first.result == keyfleet::SourceMatch::kDenied &&
            first.entry == absl::StrCat("!", address->text));
    if (decision.result == keyfleet::SourceMatch::kDenied && decision.entry.empty()) {
      const std::string widened = absl::StrCat(patterns, ",*");
      Require(keyfleet::MatchFromOption(widened, *address).result ==
              keyfleet::SourceMatch::kAllowed);
    }
  }
  return 0;
}
