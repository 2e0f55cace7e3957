// Fuzzes sshd's log parser in all three framings. Input: one line.
// Checks, for every input and framing:
//  - kAccepted only whole: a valid user, a numeric address, a port in 1..65535, and a
//    fingerprint whose digest prints back to it;
//  - kMalformed always says why and carries nothing else;
//  - a syslog or journal line never gives a pid outside 2..PID_MAX_LIMIT.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/time/time.h"
#include "common/sha256_fingerprint.h"
#include "node-agent/accounts.h"
#include "node-agent/sshd_log_framing.h"
#include "tests/fuzz/fuzz_require.h"

namespace {

using keyfleet::agent::SshdLogEventKind;
using keyfleet::fuzz::Require;

void Check(const keyfleet::agent::SshdLogRecord& r) {
  const keyfleet::agent::SshdLogEvent& e = r.event;
  if (r.pid) Require(*r.pid > 1 && *r.pid <= (1 << 22));
  switch (e.kind) {
    case SshdLogEventKind::kAccepted:
      Require(keyfleet::agent::ValidateUsername(e.user).ok());
      Require(keyfleet::agent::IsNumericAddress(e.address));
      Require(e.port != 0 && e.error.empty());
      Require(e.digest.size() == 32 && keyfleet::Sha256FingerprintText(e.digest) == e.fingerprint);
      break;
    case SshdLogEventKind::kSessionEnd:
      Require(keyfleet::agent::IsNumericAddress(e.address) && e.port != 0);
      Require(e.user.empty() || keyfleet::agent::ValidateUsername(e.user).ok());
      break;
    case SshdLogEventKind::kMalformed:
      Require(!e.error.empty() && e.user.empty() && e.digest.empty() && e.address.empty());
      break;
    case SshdLogEventKind::kIgnored:
      Require(e.user.empty() && e.digest.empty() && e.address.empty());
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  const absl::Time now = absl::FromUnixSeconds(1796107638);
  for (auto format :
       {keyfleet::agent::SshdLogFormat::kSshdFile, keyfleet::agent::SshdLogFormat::kSyslog,
        keyfleet::agent::SshdLogFormat::kJournalJson}) {
    Check(keyfleet::agent::ParseSshdLogLine(line, format, now, absl::UTCTimeZone()));
  }
  return 0;
}
