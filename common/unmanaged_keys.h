// What agents do with authorized_keys lines keyfleet did not write: the controller's policy
// decides, the agent's managed block enforces.
#pragma once

namespace keyfleet {

enum class UnmanagedKeysMode { kKeep, kReport, kRemove };

}  // namespace keyfleet
