// How much one host can be sent and hold, defined once: the controller refuses what would exceed
// these, and the agent enforces them (and reports an account it could not write as failed).
#pragma once

#include <cstddef>

#include "common/authorized_keys_line.h"  // kMaxAuthorizedKeysLineBytes: one line, 8 KiB

namespace keyfleet {

// One authorized_keys file, managed block and the user's own lines together. The agent neither
// reads nor writes a bigger one.
inline constexpr size_t kMaxAuthorizedKeysFileBytes = 1 << 20;

// keyfleet's share of that file: the managed block (its lines, their newlines and the two
// marker lines, counted as kManagedBlockMarkerBytes). The rest, 256 KiB, stays for the user's own
// lines; only a file whose own lines pass that can still be refused by the agent.
inline constexpr size_t kManagedBlockMarkerBytes = 160;
inline constexpr size_t kMaxManagedBlockBytes = kMaxAuthorizedKeysFileBytes - (256 << 10);

// Managed keys in one account of one host (sshd reads the file line by line at every login).
inline constexpr size_t kMaxManagedKeysPerAccount = 4096;

// One desired state as sent to an agent (the serialized WatchResponse): the largest message the
// agent's channel accepts.
inline constexpr size_t kMaxDesiredStateBytes = 4 << 20;

// What an agent reports of the key lines it found (ObservedAccount), all accounts together; lines
// past this are counted as left out, so a report always fits the controller's receive limit.
inline constexpr size_t kMaxObservedReportBytes = 2 << 20;
// The comment of a line is cut to this size in a report (it decides nothing).
inline constexpr size_t kMaxObservedCommentBytes = 256;
// Options are never cut (a cut list would not be what sshd reads): a parsed line's options fit
// the line limit.
inline constexpr size_t kMaxObservedOptionsBytes = kMaxAuthorizedKeysLineBytes;

}  // namespace keyfleet
