// Child processes for benchmarks and end-to-end tests: start a binary, read its memory use,
// stop it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace keyfleet::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int FreeLoopbackPort();

// fork + execv(argv[0], argv), stdout and stderr to `log_path` (or inherited when empty).
// Returns the pid, or -1.
pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path = "");
// SIGTERM, then SIGKILL after `grace_ms`; reaps it. Returns the exit status from waitpid.
int StopProcess(pid_t pid, int grace_ms = 5000);
// Whether our child `pid` has ended (reaped now, or by an earlier call).
bool Exited(pid_t pid);

struct MemoryUse {
  long rss_kib = -1;        // VmRSS: includes shared library pages
  long pss_kib = -1;        // shared pages divided among the processes that map them
  long private_kib = -1;    // Private_Clean + Private_Dirty
  long anonymous_kib = -1;  // heap and stacks
};
MemoryUse ReadMemoryUse(pid_t pid);
// User + system CPU time the process has used so far, in seconds (-1 if unreadable); pid 0 for
// this process.
double CpuSeconds(pid_t pid);
// The process's RSS per mapped object (file, [heap], [stack], [anonymous]), largest first, one
// "  KIB KiB  OBJECT" line each: where the pages of a memory regression come from.
std::string RssByObject(pid_t pid);

}  // namespace keyfleet::testing
