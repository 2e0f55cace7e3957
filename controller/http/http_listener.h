// A cpp-httplib server bound to a configured address and served on a thread of its own: the
// controller's metrics port and its dashboard share this.
//
// Never SO_REUSEPORT (cpp-httplib's default): a second controller on the same port must be an
// error, not silently take half of the requests.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}

namespace keyfleet::controller::http {

struct ListenAddress {
  std::string host;  // an IPv4 address, an IPv6 address without brackets, or a host name
  int port = 0;      // 0: any free port
};

// What a listen setting is called and how to write it, for error messages.
struct ListenSetting {
  absl::string_view name;      // "metrics_listen"
  absl::string_view examples;  // "127.0.0.1:9464, 0.0.0.0:9464, [::1]:9464"
  absl::string_view off;       // "to serve no metrics"
};

// HOST:PORT or [IPV6]:PORT, HOST an IPv4 address or a host name, PORT 0..65535;
// INVALID_ARGUMENT saying what is wrong and what to write.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text,
                                                 const ListenSetting& setting);

// A listen setting that may be off: "" and "off" are nullopt; anything else is `text` itself
// once ParseListenAddress accepts it.
absl::StatusOr<std::optional<std::string>> ParseOptionalListen(absl::string_view text,
                                                               const ListenSetting& setting);

class HttpListener {
 public:
  // Binds `server` (already configured) to `address` and serves it on a new thread. UNAVAILABLE
  // naming `setting` when the address cannot be bound. `server` must outlive the listener, or
  // be owned by `keep_alive`, which the serving thread then holds until it ends.
  static absl::StatusOr<std::unique_ptr<HttpListener>> Start(
      httplib::Server& server, const ListenAddress& address, absl::string_view what,
      const ListenSetting& setting, std::shared_ptr<void> keep_alive = nullptr);
  ~HttpListener();  // Stop()
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  int port() const { return port_; }
  // Stops accepting and waits for the requests in progress to end. With a keep_alive, waits at
  // most `max_wait`: a client still holding a connection then is left to the serving thread,
  // which keeps the server alive until it ends (httplib closes no client socket on stop, so a
  // slow client could otherwise hold the controller's shutdown). Idempotent.
  void Stop(absl::Duration max_wait = absl::InfiniteDuration());

 private:
  explicit HttpListener(httplib::Server& server) : server_(server) {}

  httplib::Server& server_;
  std::thread thread_;
  // Shared with the serving thread, which may outlive this object.
  std::shared_ptr<std::atomic<bool>> listen_returned_ = std::make_shared<std::atomic<bool>>(false);
  bool detachable_ = false;  // Start had a keep_alive
  int port_ = 0;
};

}  // namespace keyfleet::controller::http
