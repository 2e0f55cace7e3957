#include "node-agent/ssh_sessions.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"
#include "node-agent/sshd_log_framing.h"

namespace keyfleet::agent {
namespace {

// Reads a small /proc file (comm, cmdline) whole; nullopt when it cannot or it is too large.
std::optional<std::string> ReadSmall(const std::string& path, size_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  if (ReadAll(fd.get(), limit, &out) != ReadAllResult::kOk) return std::nullopt;
  return out;
}

// "socket:[12345]" → 12345.
std::optional<uint64_t> SocketInode(absl::string_view link) {
  if (!absl::ConsumePrefix(&link, "socket:[") || !absl::ConsumeSuffix(&link, "]")) {
    return std::nullopt;
  }
  uint64_t inode = 0;
  if (link.empty() || !absl::SimpleAtoi(link, &inode)) return std::nullopt;
  return inode;
}

// A /proc entry that names a process.
std::optional<pid_t> ParsePidName(const char* name) {
  pid_t pid = 0;
  if (!ParsePid(name, &pid)) return std::nullopt;
  return pid;
}

int PidfdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// The parent of `pid` from /proc/PID/stat ("PID (COMM) STATE PPID …"; COMM may hold spaces and
// parentheses, so the fields are counted from the last ')').
std::optional<pid_t> ParentOf(const std::string& proc_root, pid_t pid) {
  std::optional<std::string> stat = ReadSmall(absl::StrCat(proc_root, "/", pid, "/stat"), 4096);
  if (!stat) return std::nullopt;
  const size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 4 >= stat->size()) return std::nullopt;
  absl::string_view rest = absl::string_view(*stat).substr(close + 4);  // ") S " then PPID
  const size_t space = rest.find(' ');
  int64_t ppid = 0;
  if (space == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, space), &ppid)) {
    return std::nullopt;
  }
  return static_cast<pid_t>(ppid);
}

// Pidfds of every process below `root` (its session child, the user's shell or command and
// theirs), each checked, with its pidfd held, to still have the parent it was found under: a
// command run without a terminal gets no hangup when the monitor ends, and would outlive the
// session it belongs to. A process that left the tree (double-forked away) is not found.
std::vector<UniqueFd> DescendantPidfds(const std::string& proc_root, pid_t root,
                                       size_t max_scanned) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid) of every process
  if (DIR* proc = opendir(proc_root.c_str())) {
    size_t seen = 0;
    while (struct dirent* entry = readdir(proc)) {
      std::optional<pid_t> pid = ParsePidName(entry->d_name);
      if (!pid) continue;
      if (++seen > max_scanned) break;
      if (std::optional<pid_t> ppid = ParentOf(proc_root, *pid))
        parent_of.emplace_back(*pid, *ppid);
    }
    closedir(proc);
  }
  std::vector<UniqueFd> out;
  std::vector<pid_t> frontier = {root};
  for (size_t depth = 0; depth < 64 && !frontier.empty(); ++depth) {
    std::vector<pid_t> next;
    for (const auto& [pid, ppid] : parent_of) {
      if (std::find(frontier.begin(), frontier.end(), ppid) == frontier.end()) continue;
      UniqueFd fd(PidfdOpen(pid));
      if (!fd.valid() || ParentOf(proc_root, pid) != ppid) continue;  // gone, or a reused PID
      out.push_back(std::move(fd));
      next.push_back(pid);
    }
    frontier = std::move(next);
  }
  return out;
}

// The effective capability set from a /proc/PID/status text ("CapEff:\t000001ffffffffff").
std::optional<uint64_t> EffectiveCapabilities(absl::string_view status) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, "CapEff:")) continue;
    uint64_t caps = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(line), &caps)) return std::nullopt;
    return caps;
  }
  return std::nullopt;
}

}  // namespace

absl::Status CheckSessionEndingCapabilities(const std::string& proc_root) {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "ending sshd sessions needs root (sshd's session monitors are root's processes)");
  }
  std::optional<std::string> status = ReadSmall(proc_root + "/self/status", 1 << 16);
  std::optional<uint64_t> caps;
  if (status) caps = EffectiveCapabilities(*status);
  if (!caps) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read this process's capabilities from ", proc_root, "/self/status"));
  }
  std::vector<std::string> missing;
  if ((*caps & (uint64_t{1} << CAP_SYS_PTRACE)) == 0) {
    missing.push_back("CAP_SYS_PTRACE (to see sshd's processes and the sockets they hold)");
  }
  if ((*caps & (uint64_t{1} << CAP_KILL)) == 0) {
    missing.push_back("CAP_KILL (to signal the session's processes, which are the user's)");
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the agent lacks ", absl::StrJoin(missing, " and "),
      ": it cannot end sshd sessions, or not all of their processes (keyfleet-agent.service "
      "keeps both; a drop-in's CapabilityBoundingSet=~ or a container without them takes them "
      "away)"));
}

SshSessionFinder::SshSessionFinder(SshSessionLimits limits, std::string proc_root)
    : limits_(limits), proc_root_(std::move(proc_root)) {}

bool SshSessionFinder::IsMonitorOf(pid_t pid, const std::string& account) const {
  const std::string dir = absl::StrCat(proc_root_, "/", pid);
  struct stat st;
  // The monitor keeps root's identity; the session's own sshd runs as the account.
  if (stat(dir.c_str(), &st) != 0 || st.st_uid != 0) return false;
  std::optional<std::string> comm = ReadSmall(dir + "/comm", 64);
  if (!comm) return false;
  absl::string_view name = *comm;
  absl::ConsumeSuffix(&name, "\n");
  if (!IsSshdProgramName(name)) return false;
  std::optional<std::string> cmdline = ReadSmall(dir + "/cmdline", limits_.max_cmdline_bytes);
  if (!cmdline) return false;
  // setproctitle() overwrites argv in place: the title, then NUL (or space) padding.
  absl::string_view title = *cmdline;
  while (!title.empty() && (title.back() == '\0' || title.back() == ' ')) title.remove_suffix(1);
  return title == absl::StrCat(name, ": ", account, " [priv]");
}

std::optional<uint64_t> SshSessionFinder::MonitorHolding(
    pid_t pid, const std::string& account, const std::vector<uint64_t>& inodes) const {
  if (inodes.empty() || !IsMonitorOf(pid, account)) return std::nullopt;
  const std::string fd_dir = absl::StrCat(proc_root_, "/", pid, "/fd");
  DIR* dir = opendir(fd_dir.c_str());
  if (dir == nullptr) return std::nullopt;
  std::optional<uint64_t> found;
  size_t seen = 0;
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    if (++seen > limits_.max_fds_per_process) break;
    char link[64];
    const ssize_t n = readlinkat(dirfd(dir), entry->d_name, link, sizeof(link));
    if (n <= 0 || static_cast<size_t>(n) >= sizeof(link)) continue;
    std::optional<uint64_t> inode = SocketInode(absl::string_view(link, static_cast<size_t>(n)));
    if (inode && std::find(inodes.begin(), inodes.end(), *inode) != inodes.end()) {
      found = inode;
      break;
    }
  }
  closedir(dir);
  return found;
}

absl::StatusOr<std::optional<SshSessionProcess>> SshSessionFinder::Find(
    const std::string& account, const std::string& address, uint16_t port,
    std::optional<pid_t> pid) const {
  absl::StatusOr<TcpEndpoint> remote = MakeTcpEndpoint(address, port);
  if (!remote.ok()) return remote.status();
  absl::StatusOr<std::vector<uint64_t>> inodes = EstablishedSocketInodes(proc_root_, *remote);
  if (!inodes.ok()) return inodes.status();
  if (inodes->empty()) return std::optional<SshSessionProcess>();
  if (pid) {
    if (std::optional<uint64_t> inode = MonitorHolding(*pid, account, *inodes)) {
      return std::optional<SshSessionProcess>(SshSessionProcess{*pid, *inode});
    }
    return std::optional<SshSessionProcess>();
  }
  DIR* proc = opendir(proc_root_.c_str());
  if (proc == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", proc_root_, ": ", std::strerror(errno)));
  }
  std::optional<SshSessionProcess> found;
  size_t seen = 0;
  while (struct dirent* entry = readdir(proc)) {
    std::optional<pid_t> candidate = ParsePidName(entry->d_name);
    if (!candidate) continue;
    if (++seen > limits_.max_processes_scanned) break;
    if (std::optional<uint64_t> inode = MonitorHolding(*candidate, account, *inodes)) {
      found = SshSessionProcess{*candidate, *inode};
      break;
    }
  }
  closedir(proc);
  return found;
}

absl::StatusOr<EndSessionResult> SshSessionFinder::End(const std::string& account,
                                                       const std::string& address, uint16_t port,
                                                       std::optional<pid_t> pid) const {
  const EndSessionResult none;
  absl::StatusOr<std::optional<SshSessionProcess>> first = Find(account, address, port, pid);
  if (!first.ok()) return first.status();
  if (!first->has_value()) return none;
  const pid_t target = (*first)->pid;
  // The pidfd names this process for good: if the PID is reused after this, the signal below
  // fails (ESRCH) instead of reaching the newcomer.
  UniqueFd pidfd(PidfdOpen(target));
  if (!pidfd.valid()) {
    if (errno == ESRCH) return none;
    return absl::UnavailableError(
        absl::StrCat("pidfd_open(", target, ") failed: ", std::strerror(errno)));
  }
  // Checked again with the pidfd held: a PID reused before pidfd_open fails these checks.
  absl::StatusOr<std::optional<SshSessionProcess>> again = Find(account, address, port, target);
  if (!again.ok()) return again.status();
  if (!again->has_value() || (*again)->socket_inode != (*first)->socket_inode) return none;
  // The session's processes are found while the monitor still holds them as descendants (once
  // it is gone they belong to init), then the monitor is signalled first: it closes the
  // connection, and had it seen its child die first it would exit on its own, and this
  // session would not count as ended here.
  const std::vector<UniqueFd> descendants =
      DescendantPidfds(proc_root_, target, limits_.max_processes_scanned);
  if (PidfdSendSignal(pidfd.get(), SIGTERM) != 0) {
    if (errno == ESRCH) return none;
    return absl::UnavailableError(
        absl::StrCat("cannot signal sshd process ", target, ": ", std::strerror(errno)));
  }
  EndSessionResult result;
  result.ended = true;
  for (const UniqueFd& descendant : descendants) {
    PidfdSendSignal(descendant.get(), SIGHUP);
    // ESRCH: it ended already (the hangup, or the monitor's going, took it).
    if (PidfdSendSignal(descendant.get(), SIGTERM) != 0 && errno != ESRCH) {
      ++result.processes_not_signalled;
    }
  }
  return result;
}

KillSessionsResult SshSessionFinder::KillSessions(KeyUseTracker& tracker,
                                                  const std::vector<std::string>& digests) const {
  KillSessionsResult result;
  std::vector<LiveSession> handled;
  for (const LiveSession& s : tracker.SessionsOfKeys(digests)) {
    absl::StatusOr<EndSessionResult> ended = End(s.account, s.address, s.port, s.pid);
    const std::string which =
        absl::StrCat("session of ", s.account, " from ", s.address, " port ", s.port, ": ");
    if (!ended.ok()) {
      result.errors.push_back(absl::StrCat(which, ended.status().message()));
      continue;
    }
    ++(ended->ended ? result.ended : result.not_found);
    if (ended->processes_not_signalled > 0) {
      result.errors.push_back(absl::StrCat(which, "ended, but ", ended->processes_not_signalled,
                                           " of its processes could not be signalled"));
    }
    handled.push_back(s);
  }
  // A session not found may only be hidden: say why, when this process cannot see it.
  if (result.not_found > 0 || !result.errors.empty()) {
    if (absl::Status s = CheckSessionEndingCapabilities(proc_root_); !s.ok()) {
      result.errors.emplace_back(s.message());
    }
  }
  tracker.ForgetSessions([&](const LiveSession& s) {
    for (const LiveSession& h : handled) {
      if (h.address == s.address && h.port == s.port && h.digest == s.digest) return true;
    }
    return false;
  });
  return result;
}

}  // namespace keyfleet::agent
