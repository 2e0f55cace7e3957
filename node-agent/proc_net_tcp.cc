#include "node-agent/proc_net_tcp.h"

#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {
namespace {

bool HexValue(absl::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 8) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
    v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : (absl::ascii_tolower(c) - 'a' + 10));
  }
  *out = v;
  return true;
}

// "0100007F:0016" (IPv4: one 32-bit word in host order) or 32 hex digits (four words).
bool ParseKernelEndpoint(absl::string_view text, TcpEndpoint* out) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return false;
  const absl::string_view addr = text.substr(0, colon);
  uint32_t port = 0;
  if (text.size() - colon - 1 != 4 || !HexValue(text.substr(colon + 1), &port)) return false;
  unsigned char bytes[16] = {0};
  if (addr.size() == 8) {
    uint32_t word = 0;
    if (!HexValue(addr, &word)) return false;
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes + 12, &word, 4);  // the kernel printed the __be32 as a host-order number
  } else if (addr.size() == 32) {
    for (int i = 0; i < 4; ++i) {
      uint32_t word = 0;
      if (!HexValue(addr.substr(8 * i, 8), &word)) return false;
      std::memcpy(bytes + 4 * i, &word, 4);
    }
  } else {
    return false;
  }
  out->address16.assign(reinterpret_cast<char*>(bytes), 16);
  out->port = static_cast<uint16_t>(port);
  return true;
}

absl::StatusOr<std::string> ReadProcFile(const std::string& path, bool* missing) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT && missing != nullptr) {
      *missing = true;
      return std::string();
    }
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string content;
  switch (ReadAll(fd.get(), kMaxProcNetTcpBytes, &content)) {
    case ReadAllResult::kOk:
      return content;
    case ReadAllResult::kTooLarge:
      return absl::ResourceExhaustedError(
          absl::StrCat(path, " is larger than ", kMaxProcNetTcpBytes, " bytes"));
    case ReadAllResult::kError:
      break;
  }
  return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<TcpEndpoint> MakeTcpEndpoint(absl::string_view address, uint16_t port) {
  std::string text(address.substr(0, address.find('%')));
  unsigned char bytes[16] = {0};
  if (inet_pton(AF_INET, text.c_str(), bytes + 12) == 1) {
    bytes[10] = bytes[11] = 0xff;
  } else if (inet_pton(AF_INET6, text.c_str(), bytes) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a numeric IPv4 or IPv6 address"));
  }
  return TcpEndpoint{std::string(reinterpret_cast<char*>(bytes), 16), port};
}

std::vector<TcpSocketEntry> ParseProcNetTcp(absl::string_view content, size_t* bad_rows) {
  std::vector<TcpSocketEntry> out;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(content, '\n', absl::SkipEmpty())) {
    if (header) {
      header = false;
      continue;
    }
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    TcpSocketEntry e;
    uint32_t state = 0;
    if (f.size() < 10 || !ParseKernelEndpoint(f[1], &e.local) ||
        !ParseKernelEndpoint(f[2], &e.remote) || !HexValue(f[3], &state) ||
        !absl::SimpleAtoi(f[9], &e.inode)) {
      if (bad_rows != nullptr) ++*bad_rows;
      continue;
    }
    e.state = static_cast<int>(state);
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> EstablishedSocketInodes(const std::string& proc_root,
                                                              const TcpEndpoint& remote) {
  std::vector<uint64_t> inodes;
  // Through /proc/self (the agent shares the host's network namespace): /proc/net itself is
  // hidden under systemd's ProcSubset=pid, self is not.
  for (const char* table : {"/self/net/tcp", "/self/net/tcp6"}) {
    bool missing = false;
    absl::StatusOr<std::string> content = ReadProcFile(proc_root + table, &missing);
    if (!content.ok()) return content.status();
    for (const TcpSocketEntry& e : ParseProcNetTcp(*content)) {
      if (e.state == kTcpEstablished && e.remote == remote && e.inode != 0) {
        inodes.push_back(e.inode);
      }
    }
  }
  return inodes;
}

}  // namespace keyfleet::agent
