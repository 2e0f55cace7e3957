// Fuzzes what the agent reads from disk: authorized_keys files (managed block parsing and
// merging) and passwd files. A merge must keep every user line and produce a file whose block
// parses back intact with exactly the desired lines. What the agent reports of a file, and any
// text made fit for a report, must be valid UTF-8 within its limit.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/authorized_keys_line.h"
#include "common/delivery_limits.h"
#include "common/utf8.h"
#include "node-agent/accounts.h"
#include "node-agent/managed_block.h"
#include "node-agent/observed_keys.h"
#include "node-agent/report_text.h"

using namespace keyfleet::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 4 == 3) {
    // Any bytes made fit for a report: valid UTF-8 within the limit, valid input kept whole
    // when it fits, and a cut one a prefix of the escaped text plus the marker.
    const size_t limit = input.size() / 2 + data[0] / 4 % 8;
    const std::string reported = ReportText(input, limit);
    if (reported.size() > limit || keyfleet::FindInvalidUtf8(reported)) std::abort();
    const std::optional<std::string> whole = ReportTextUncut(input, SIZE_MAX);
    if (!whole || keyfleet::FindInvalidUtf8(*whole)) std::abort();
    if (!keyfleet::FindInvalidUtf8(input) && *whole != input) std::abort();
    if (whole->size() <= limit) {
      if (reported != *whole) std::abort();
    } else if (limit >= kReportCutMarker.size()) {
      const size_t kept = reported.size() - kReportCutMarker.size();
      if (reported.substr(kept) != kReportCutMarker || whole->compare(0, kept, reported, 0, kept)) {
        std::abort();
      }
    }
    return 0;
  }
  if (data[0] % 4 == 1) {
    PasswdFile passwd = PasswdFile::Parse(input);
    (void)passwd.Find("alice");
    return 0;
  }
  if (data[0] % 4 == 2) {
    // What the agent reports of a file: every line reported or counted, within the budget.
    ObservedBudget budget{2000};
    keyfleet::v1::ObservedAccount observed;
    ObserveKeyLines(input, "authorized_keys", absl::UTCTimeZone(), &budget, &observed);
    size_t key_lines = 0;
    for (absl::string_view line : absl::StrSplit(input, '\n', absl::SkipEmpty())) {
      if (!keyfleet::IsBlankOrCommentLine(line)) ++key_lines;
    }
    if (observed.lines_size() + observed.lines_left_out() > key_lines) std::abort();
    if (observed.ByteSizeLong() > 2000 + 16) std::abort();
    for (const auto& l : observed.lines()) {
      if (l.fingerprint().rfind("SHA256:", 0) != 0) std::abort();
      if (l.comment().size() > keyfleet::kMaxObservedCommentBytes) std::abort();
      if (l.options().size() > keyfleet::kMaxObservedOptionsBytes) std::abort();
      if (keyfleet::FindInvalidUtf8(l.comment()) || keyfleet::FindInvalidUtf8(l.options())) {
        std::abort();
      }
    }
    return 0;
  }
  ParsedAuthorizedKeys parsed = ParseAuthorizedKeysFile(input);
  const std::vector<std::string> desired = {
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAW53AlXRnBEcxRF/Kzhodm/BfbHN9ejfRvr58es7nwZ a"};
  auto merged = MergeAuthorizedKeys(parsed, desired, 9, keyfleet::UnmanagedKeysMode::kKeep);
  if (parsed.state == BlockState::kDamaged) {
    if (merged.ok()) std::abort();  // a damaged file is never merged blindly
    // Repaired from the previously managed lines: a clean file with exactly the desired block.
    auto repaired =
        RepairDamagedFile(parsed, {desired[0]}, desired, 9, keyfleet::UnmanagedKeysMode::kKeep);
    if (!repaired.ok()) std::abort();
    ParsedAuthorizedKeys again = ParseAuthorizedKeysFile(repaired->content);
    if (again.state != BlockState::kIntact || again.block != desired) std::abort();
    return 0;
  }
  if (!merged.ok()) std::abort();
  const std::string block = RenderManagedBlock(desired, 9);
  const std::string expected =
      parsed.state == BlockState::kNone
          ? block + input
          : absl::StrJoin(parsed.before, "") + block + absl::StrJoin(parsed.after, "");
  if (merged->content != expected) std::abort();  // user lines kept byte for byte
  ParsedAuthorizedKeys again = ParseAuthorizedKeysFile(merged->content);
  if (again.state != BlockState::kIntact || again.block != desired || !again.hash_matches) {
    std::abort();
  }
  return 0;
}
