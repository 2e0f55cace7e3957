// Fuzzes what an admin can send into a grant or a policy, and the stored-record JSON the change
// feed carries. The first byte picks the parser. Each accepted input must round-trip.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/duration_text.h"
#include "controller/host_selector.h"
#include "controller/inventory_validation.h"
#include "controller/record_json.h"

using namespace keyfleet;
using namespace keyfleet::controller;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      auto selector = ParseHostSelector(input);
      if (selector.ok()) {
        auto again = ParseHostSelector(FormatHostSelector(*selector));
        if (!again.ok() || !(*again == *selector)) std::abort();
        (void)SelectorMatches(*selector, "web-1.example.com", {{"env", "prod"}});
      }
      break;
    }
    case 1: {
      auto d = ParseDurationText(input);
      if (d.ok()) {
        auto again = ParseDurationText(FormatDurationText(*d));
        if (!again.ok() || *again != *d) std::abort();
      }
      break;
    }
    case 2:
      (void)ValidateAccountName(input, input.size() % 2 == 0);
      break;
    case 3: {
      auto canonical = CanonicalGrantOptions(input);
      if (canonical.ok()) {
        auto again = CanonicalGrantOptions(*canonical);
        if (!again.ok() || *again != *canonical) std::abort();
      }
      break;
    }
    case 4: {
      auto key = KeyFromJson(input);
      if (key.ok() && !(*KeyFromJson(KeyToJson(*key)) == *key)) std::abort();
      auto grant = GrantFromJson(input);
      if (grant.ok() && !(*GrantFromJson(GrantToJson(*grant)) == *grant)) std::abort();
      break;
    }
    case 5: {
      auto policy = PolicyFromJson(input);
      if (policy.ok() && !(*PolicyFromJson(PolicyToJson(*policy)) == *policy)) std::abort();
      auto principal = PrincipalFromJson(input);
      if (principal.ok() && !(*PrincipalFromJson(PrincipalToJson(*principal)) == *principal)) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
