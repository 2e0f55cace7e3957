// How the CLI shows a key's use: its last use (key list, key show, the compliance report), the
// newest login per host and account, and the live sessions agents ended after a revocation with
// --kill-sessions.
#pragma once

#include <string>

#include "cli/table.h"
#include "keyfleet/v1/admin.pb.h"

namespace keyfleet::cli {

// "2026-11-21 10:00Z", or "never" when no agent ever reported a login with the key.
std::string LastUsedText(const v1::Key& key);

// key show: one row per (host, account) with the newest login and where from, newest first;
// "no recorded use" when none. Then the sessions ended per host, when any were.
std::string KeyUsesText(const v1::Key& key);

// "ended 3 live sessions on 2 hosts", or, when no agent reported any, a sentence saying so.
std::string SessionsEndedSummary(const v1::Key& key);

}  // namespace keyfleet::cli
