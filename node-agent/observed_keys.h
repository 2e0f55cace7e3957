// What an account's key files hold, line by line, as sshd reads them: reported to the controller
// so `keyfleet access` and `verify` answer from the files, not from what keyfleet meant to write
// (a pending change, a user's own key, an authorized_keys2).
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "keyfleet/v1/inventory.pb.h"

namespace keyfleet::agent {

// Bytes left for the lines of one report (starts at kMaxObservedReportBytes): lines past it are
// counted in lines_left_out, so a report always fits the controller's receive limit.
struct ObservedBudget {
  size_t bytes_left;
};

// Appends every key line of `content` (the file `file_name`: "authorized_keys" or
// "authorized_keys2") to `out`. Lines inside an intact keyfleet block are managed, every other
// key line is the user's own; a file whose block is damaged counts all its lines as the user's.
// A line sshd could not read either (our parser is sshd's) is counted as left out. Expiry times
// are read in `local`, the host's zone, as sshd reads them. Comments and options are made valid
// UTF-8 (report_text.h); a comment is cut to kMaxObservedCommentBytes, options are never cut: a
// line whose options pass kMaxObservedOptionsBytes once escaped is counted as left out.
void ObserveKeyLines(absl::string_view content, const std::string& file_name, absl::TimeZone local,
                     ObservedBudget* budget, v1::ObservedAccount* out);

}  // namespace keyfleet::agent
