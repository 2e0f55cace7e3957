// Finding and ending the sshd process that serves one SSH connection. sshd logs the client's
// address and port when a key is accepted; the kernel's socket tables say which socket inode has
// that remote end, /proc/PID/fd which process holds it. The process signalled is sshd's
// per-connection monitor ("sshd: USER [priv]", root): SIGTERM makes it end the session's
// child and exit. Everything is checked again right before the signal, on a pidfd taken
// first, so a reused PID or a connection that closed meanwhile is never signalled.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "node-agent/key_use_tracker.h"
#include "node-agent/proc_net_tcp.h"

namespace keyfleet::agent {

struct SshSessionLimits {
  size_t max_processes_scanned = 65536;  // /proc entries looked at per search
  size_t max_fds_per_process = 4096;     // /proc/PID/fd entries looked at per process
  size_t max_cmdline_bytes = 4096;
};

struct SshSessionProcess {
  pid_t pid = 0;
  uint64_t socket_inode = 0;
};

struct KillSessionsResult {
  size_t ended = 0;      // monitors signalled (their sessions end with them)
  size_t not_found = 0;  // no sshd monitor of that account holds that connection any more
  std::vector<std::string> errors;  // sessions that could not be checked or signalled, and why
};

// What End did: whether the session's monitor was signalled, and how many of the session's
// other processes (the user's, found below it) could not be.
struct EndSessionResult {
  bool ended = false;
  size_t processes_not_signalled = 0;
};

// Whether this process holds what ending a session takes, from PROC_ROOT/self/status: root,
// CAP_SYS_PTRACE (without it the kernel hides sshd's processes, or their descriptors, from a
// process with fewer capabilities than sshd: systemd's ProtectProc=invisible, /proc/PID/fd) and
// CAP_KILL (the session's own processes belong to the user). OK, or FailedPrecondition saying
// what is missing and where it is granted.
absl::Status CheckSessionEndingCapabilities(const std::string& proc_root = "/proc");

class SshSessionFinder {
 public:
  explicit SshSessionFinder(SshSessionLimits limits = {}, std::string proc_root = "/proc");

  // The monitor process of `account`'s session from the client `address`:`port`: an
  // ESTABLISHED socket with that remote end, held by a root process whose comm is "sshd" (or
  // "sshd-session") and whose command line is exactly "sshd: ACCOUNT [priv]". With `pid` (the
  // log named the process) only that process is considered. nullopt when there is none.
  absl::StatusOr<std::optional<SshSessionProcess>> Find(const std::string& account,
                                                        const std::string& address, uint16_t port,
                                                        std::optional<pid_t> pid) const;

  // Finds the session's monitor and sends it SIGTERM, checking everything Find checks again
  // through a pidfd opened first, then SIGHUP and SIGTERM to the processes it had below it.
  // `ended` is false when there was no such process.
  absl::StatusOr<EndSessionResult> End(const std::string& account, const std::string& address,
                                       uint16_t port, std::optional<pid_t> pid) const;

  // Ends the live sessions `tracker` knows of the keys whose raw digests are `digests`, and
  // forgets them (ended or found gone) in the tracker. When a session could not be ended or
  // found and CheckSessionEndingCapabilities fails, its message is one of the errors.
  KillSessionsResult KillSessions(KeyUseTracker& tracker,
                                  const std::vector<std::string>& digests) const;

 private:
  // Whether `pid` is an sshd monitor of `account` and holds one of `inodes` (which one).
  std::optional<uint64_t> MonitorHolding(pid_t pid, const std::string& account,
                                         const std::vector<uint64_t>& inodes) const;
  bool IsMonitorOf(pid_t pid, const std::string& account) const;

  const SshSessionLimits limits_;
  const std::string proc_root_;
};

}  // namespace keyfleet::agent
