#include "cli/key_usage_text.h"

#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"

namespace keyfleet::cli {

std::string LastUsedText(const v1::Key& key) {
  if (key.usage_unknown()) return "unknown";
  return key.has_last_used() ? FormatTimestamp(key.last_used().seconds()) : "never";
}

std::string KeyUsesText(const v1::Key& key) {
  if (key.usage_unknown()) {
    return "last use and sessions ended: unknown (the controller's database is unavailable)\n";
  }
  std::string out;
  if (key.uses().empty()) {
    out = "no recorded use (agents report logins from sshd's log)\n";
  } else {
    Table uses({"HOST", "ACCOUNT", "LAST USED", "FROM"});
    for (const v1::KeyUseOnHost& u : key.uses()) {
      uses.Add({u.hostname(), u.account(), FormatTimestamp(u.last_used().seconds()),
                u.from_address().empty() ? "-" : u.from_address()});
    }
    out = uses.Render();
  }
  if (!key.sessions_ended().empty()) {
    Table ended({"HOST", "SESSIONS ENDED", "LAST REPORTED"});
    for (const v1::SessionsEndedOnHost& e : key.sessions_ended()) {
      ended.Add({e.hostname(), std::to_string(e.count()), FormatTimestamp(e.last_at().seconds())});
    }
    out += ended.Render();
  }
  return out;
}

std::string SessionsEndedSummary(const v1::Key& key) {
  uint64_t sessions = 0;
  std::set<std::string> hosts;
  for (const v1::SessionsEndedOnHost& e : key.sessions_ended()) {
    if (e.count() == 0) continue;
    sessions += e.count();
    hosts.insert(e.hostname());
  }
  if (sessions == 0) {
    return "no live sessions of this key were found: no agent reported ending one (agents end "
           "the sessions that authenticated with it as they apply the revocation)";
  }
  return absl::StrCat("ended ", sessions, sessions == 1 ? " live session" : " live sessions",
                      " on ", hosts.size(), hosts.size() == 1 ? " host" : " hosts");
}

}  // namespace keyfleet::cli
