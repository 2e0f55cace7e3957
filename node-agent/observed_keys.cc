#include "node-agent/observed_keys.h"

#include <optional>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/authorized_keys_line.h"
#include "common/delivery_limits.h"
#include "common/fingerprint.h"
#include "common/ssh_key_type.h"
#include "node-agent/managed_block.h"
#include "node-agent/report_text.h"

namespace keyfleet::agent {
namespace {

// The options as a report carries them (report_text.h), or nullopt when they cannot be carried
// faithfully: a cut list would not be what sshd reads, so options too long once escaped are
// left out, as are escaped ones that no longer parse (the controller parses them again).
std::optional<std::string> ReportedOptions(const AuthorizedKeysOptions& options) {
  const std::string rendered = RenderAuthorizedKeysOptions(options);
  std::optional<std::string> reported = ReportTextUncut(rendered, kMaxObservedOptionsBytes);
  if (reported && *reported != rendered && !ParseAuthorizedKeysOptions(*reported).ok()) {
    return std::nullopt;
  }
  return reported;
}

void AddLine(absl::string_view raw, bool managed, const std::string& file_name,
             absl::TimeZone local, ObservedBudget* budget, v1::ObservedAccount* out) {
  if (!raw.empty() && raw.back() == '\n') raw.remove_suffix(1);
  if (IsBlankOrCommentLine(raw)) return;
  absl::StatusOr<AuthorizedKeysLine> line = ParseAuthorizedKeysLine(raw);
  if (!line.ok()) {
    out->set_lines_left_out(out->lines_left_out() + 1);
    return;
  }
  std::optional<std::string> options = ReportedOptions(line->options);
  if (!options) {
    out->set_lines_left_out(out->lines_left_out() + 1);
    return;
  }
  v1::ObservedKeyLine observed;
  observed.set_fingerprint(Fingerprint(line->key));
  observed.set_managed(managed);
  observed.set_options(*std::move(options));
  if (std::optional<absl::Time> expiry = line->options.EarliestExpiry(local)) {
    observed.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(*expiry));
  }
  observed.set_comment(ReportText(line->key.comment, kMaxObservedCommentBytes));
  observed.set_file(file_name);
  observed.set_key_type(std::string(KeyTypeName(line->key.type)));
  const size_t cost = observed.ByteSizeLong() + 8;
  if (cost > budget->bytes_left) {
    out->set_lines_left_out(out->lines_left_out() + 1);
    return;
  }
  budget->bytes_left -= cost;
  *out->add_lines() = std::move(observed);
}

}  // namespace

void ObserveKeyLines(absl::string_view content, const std::string& file_name, absl::TimeZone local,
                     ObservedBudget* budget, v1::ObservedAccount* out) {
  if (file_name == "authorized_keys") {
    ParsedAuthorizedKeys parsed = ParseAuthorizedKeysFile(content);
    if (parsed.state == BlockState::kIntact) {
      for (const std::string& l : parsed.before) AddLine(l, false, file_name, local, budget, out);
      for (const std::string& l : parsed.block) AddLine(l, true, file_name, local, budget, out);
      for (const std::string& l : parsed.after) AddLine(l, false, file_name, local, budget, out);
      return;
    }
  }
  for (absl::string_view l : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
    AddLine(l, false, file_name, local, budget, out);
  }
}

}  // namespace keyfleet::agent
