// The TCP sockets the kernel lists in /proc/net/tcp and /proc/net/tcp6: which socket inode
// has which remote endpoint, for finding the process that serves a connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::agent {

inline constexpr size_t kMaxProcNetTcpBytes = 64 << 20;  // a larger table is refused
inline constexpr int kTcpEstablished = 1;                // the kernel's TCP_ESTABLISHED

// An endpoint in the kernel's form: 16 bytes, IPv4 as ::ffff:a.b.c.d (so a dual-stack socket's
// mapped address compares equal to the IPv4 sshd logs).
struct TcpEndpoint {
  std::string address16;
  uint16_t port = 0;
  bool operator==(const TcpEndpoint& o) const { return address16 == o.address16 && port == o.port; }
};

// "127.0.0.1" or "::1" (an IPv6 zone is dropped) and a port; INVALID_ARGUMENT otherwise.
absl::StatusOr<TcpEndpoint> MakeTcpEndpoint(absl::string_view address, uint16_t port);

struct TcpSocketEntry {
  TcpEndpoint local;
  TcpEndpoint remote;
  int state = 0;
  uint64_t inode = 0;
};

// Parses the content of /proc/net/tcp or /proc/net/tcp6 (header line first). Rows that do not
// parse are skipped and counted in `bad_rows` (when given): the kernel's format is fixed, a bad
// row means a format this code does not know.
std::vector<TcpSocketEntry> ParseProcNetTcp(absl::string_view content, size_t* bad_rows = nullptr);

// Inodes of ESTABLISHED sockets whose remote end is `remote`, from `<proc_root>/net/tcp` and
// `tcp6`. A missing tcp6 (no IPv6) is not an error.
absl::StatusOr<std::vector<uint64_t>> EstablishedSocketInodes(const std::string& proc_root,
                                                              const TcpEndpoint& remote);

}  // namespace keyfleet::agent
