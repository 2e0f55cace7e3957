// The controller's listening sockets and its own accept loop. Each accepted connection is handed
// to gRPC through ServerBuilder::experimental().AddExternalConnectionAcceptor, which runs TLS (or
// plaintext with --insecure-dev) and HTTP/2 on it exactly as on a connection it accepted itself.
//
// Why it is hand-written: gRPC 1.51's own listener (src/core/lib/iomgr/tcp_server_posix.cc,
// on_read) re-arms its listening socket only after accept4 fails with EAGAIN. Any other error,
// EMFILE and ENFILE included, logs "Failed accept4: Too many open files" and leaves the socket
// unwatched for good: one flood of connections past the open-file limit and the port never
// accepted again until a restart, although the descriptors came back seconds later. This loop
// pauses and retries instead; meanwhile new connections wait in the kernel's accept queue and are
// served as soon as descriptors are free.
#pragma once

#include <grpcpp/server_builder.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tls/held_fd.h"

namespace keyfleet::controller {

// A listen address: "HOST:PORT" (an IPv4 address or a name: every address it resolves to) or
// "[IPV6]:PORT". 0.0.0.0 and [::] are the wildcard (every address, IPv4 and IPv6, as gRPC binds
// them). Strict: the port is a number from 0 to 65535 and is never left out.
struct ListenAddress {
  std::string host;  // without brackets
  uint16_t port = 0;
  bool wildcard = false;
};
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view listen);

struct ConnectionAcceptorOptions {
  // TCP_USER_TIMEOUT on every accepted connection (zero leaves the kernel's default): gRPC sets
  // it on its own listeners from GRPC_ARG_KEEPALIVE_TIMEOUT_MS, so data unacknowledged that long
  // drops the connection.
  std::chrono::milliseconds tcp_user_timeout{0};
  // How long accepting pauses after running out of descriptors (or kernel memory) before it tries
  // again.
  std::chrono::milliseconds exhausted_pause{100};
  // While accepting keeps failing, the failure is logged again at most this often.
  std::chrono::seconds repeat_report_after{60};
};

class ConnectionAcceptor {
 public:
  // Binds and listens on every address `listen` names (see ListenAddress). Port 0 picks a free
  // port, the same on every address (port()). SO_REUSEADDR, so a restart is not refused over
  // connections in TIME_WAIT, but never SO_REUSEPORT: a port another process listens on is
  // UNAVAILABLE, not silently shared. When a name resolves to several addresses, those that
  // cannot be bound are logged and the others served (as gRPC does); none is UNAVAILABLE. A
  // malformed address is INVALID_ARGUMENT.
  static absl::StatusOr<std::unique_ptr<ConnectionAcceptor>> Listen(
      absl::string_view listen, ConnectionAcceptorOptions options = {});
  ~ConnectionAcceptor();  // Stop()
  ConnectionAcceptor(const ConnectionAcceptor&) = delete;
  ConnectionAcceptor& operator=(const ConnectionAcceptor&) = delete;

  int port() const { return port_; }
  // The bound addresses, e.g. "127.0.0.1:7443", "[::]:7443".
  std::vector<std::string> addresses() const;

  // Starts the accept thread; every connection goes to `to_grpc` (from
  // AddExternalConnectionAcceptor, after the server has started). Once only.
  void Start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> to_grpc);
  // Stops accepting, closes the listening sockets (new connections are refused) and returns once
  // the accept thread has ended. Call it before the gRPC server's Shutdown: gRPC 1.51 neither
  // serves nor closes a connection handed to it after that. Idempotent.
  void Stop();

 private:
  struct Socket {
    tls::HeldFd fd;
    std::string name;
  };
  ConnectionAcceptor(std::vector<Socket> sockets, int port, tls::HeldFd wake,
                     ConnectionAcceptorOptions options);

  void Run();
  // Accepts what `socket` has queued; false when stopping.
  bool AcceptQueued(const Socket& socket);
  void HandOver(const Socket& socket, int fd);
  // After an accept error that is not transient: logs (once per burst, then at most every
  // repeat_report_after) and pauses. False when stopping.
  bool PauseAfter(const Socket& socket, int error);
  void NoteAccepted(const Socket& socket);
  // Sleeps up to `pause`; false when Stop() woke it.
  bool Sleep(std::chrono::milliseconds pause);

  std::vector<Socket> sockets_;
  const int port_;
  tls::HeldFd wake_;  // an eventfd: Stop() writes to it
  const ConnectionAcceptorOptions options_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> to_grpc_;
  std::thread thread_;
  std::atomic<bool> stopped_{false};

  // The current burst of failures (accept thread only).
  bool failing_ = false;
  std::chrono::steady_clock::time_point failing_since_;
  std::chrono::steady_clock::time_point last_report_;
  uint64_t failures_ = 0;
};

}  // namespace keyfleet::controller
