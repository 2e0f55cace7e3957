// How much one host can be sent and hold, defined once: the controller refuses what would exceed
// these, and the agent enforces them (and reports an account it could not write as failed).
#pragma once

#include <cstddef>

#include "common/authorized_keys_line.h"  // kMaxAuthorizedKeysLineBytes: one line, 8 KiB

namespace keyfleet {

// One authorized_keys file, managed block and the user's own lines together. The agent neither
// reads nor writes a bigger one.
inline constexpr size_t kMaxAuthorizedKeysFileBytes = 1 << 20;

// One desired state as sent to an agent (the serialized WatchResponse): the largest message the
// agent's channel accepts.
inline constexpr size_t kMaxDesiredStateBytes = 4 << 20;

}  // namespace keyfleet
