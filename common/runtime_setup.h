// Process-wide settings every keyfleet server process makes first thing in main().
#ifndef KEYFLEET_COMMON_RUNTIME_SETUP_H_
#define KEYFLEET_COMMON_RUNTIME_SETUP_H_

namespace keyfleet {

// Debian builds abseil without NDEBUG, so every absl::Mutex lock (gRPC locks through
// absl::Mutex) runs abseil's debug-only deadlock detector: a global lock-order graph updated on
// each acquisition, which cost several percent of the CPU of the fleet benchmarks and keeps a
// node per mutex ever locked. Release builds of abseil never run it; neither do we.
void DisableAbslDebugChecks();

// Raises the soft limit on open descriptors to the hard limit and returns the new soft limit.
// One descriptor per agent connection: a fleet must never reach the default soft limit of 1024
// (past it new connections wait; the controller's own accept loop, ConnectionAcceptor, resumes
// once descriptors free up, where gRPC 1.51's listener stopped for good). The units and the
// chart set a high hard limit.
unsigned long RaiseOpenFileLimit();

}  // namespace keyfleet

#endif  // KEYFLEET_COMMON_RUNTIME_SETUP_H_
