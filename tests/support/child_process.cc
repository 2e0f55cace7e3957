#include "tests/support/child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

namespace keyfleet::testing {

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  // A test or benchmark killed by a timeout must not leave its servers running.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (!log_path.empty()) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

int StopProcess(pid_t pid, int grace_ms) {
  int status = 0;
  kill(pid, SIGTERM);
  for (int waited = 0; waited < grace_ms; waited += 20) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

bool Exited(pid_t pid) {
  int status = 0;
  const pid_t r = waitpid(pid, &status, WNOHANG);
  return r == pid || (r < 0 && errno == ECHILD);
}

MemoryUse ReadMemoryUse(pid_t pid) {
  MemoryUse use;
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long value = 0;
  std::string unit;
  long private_clean = 0, private_dirty = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (sscanf(line.c_str(), "Rss: %ld", &value) == 1) use.rss_kib = value;
    if (sscanf(line.c_str(), "Pss: %ld", &value) == 1) use.pss_kib = value;
    if (sscanf(line.c_str(), "Private_Clean: %ld", &value) == 1) private_clean = value;
    if (sscanf(line.c_str(), "Private_Dirty: %ld", &value) == 1) private_dirty = value;
    if (sscanf(line.c_str(), "Anonymous: %ld", &value) == 1) use.anonymous_kib = value;
  }
  use.private_kib = private_clean + private_dirty;
  return use;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/stat")
                            : "/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces, hence the last ')'): state is field 3,
  // utime and stime are fields 14 and 15.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string RssByObject(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::map<std::string, long> rss_by_object;
  std::string object = "[anonymous]";
  std::string line;
  while (std::getline(in, line)) {
    long kib = 0;
    if (std::sscanf(line.c_str(), "Rss: %ld", &kib) == 1) {
      rss_by_object[object] += kib;
      continue;
    }
    // A mapping's header line: "start-end perms offset dev inode [path]"; field lines have no
    // '-' before their first space.
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find('-') > space) continue;
    size_t pos = 0;
    for (int field = 0; field < 5 && pos != std::string::npos; ++field) {
      pos = line.find_first_not_of(' ', line.find(' ', pos));
    }
    object = pos == std::string::npos ? "[anonymous]" : line.substr(pos);
  }
  std::vector<std::pair<long, std::string>> sorted;
  for (const auto& [name, kib] : rss_by_object) {
    if (kib > 0) sorted.emplace_back(kib, name);
  }
  std::sort(sorted.rbegin(), sorted.rend());
  std::string out;
  for (const auto& [kib, name] : sorted) {
    char row[64];
    std::snprintf(row, sizeof(row), "  %6ld KiB  ", kib);
    out += row + name + "\n";
  }
  return out;
}

}  // namespace keyfleet::testing
