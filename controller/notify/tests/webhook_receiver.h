// A webhook receiver for tests: cpp-httplib's server on an ephemeral 127.0.0.1 port, plain or
// TLS, recording each request and answering as the test says.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace keyfleet::controller::notify::testing {

struct ReceivedRequest {
  std::string method, path;
  httplib::Headers headers;
  std::string body;

  std::string Header(const std::string& name) const;  // "" when absent
};

class WebhookReceiver {
 public:
  // Plain HTTP.
  WebhookReceiver();
  // HTTPS with this certificate (chain) and key.
  WebhookReceiver(const std::filesystem::path& cert, const std::filesystem::path& key);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  // Binds 127.0.0.1:0 and serves; waits (at most 5 s) until it runs. Tests ASSERT on it.
  absl::Status Start();

  int port() const { return port_; }
  // "http(s)://127.0.0.1:PORT" + path.
  std::string Url(const std::string& path) const;

  // Every request is answered with this status and body (default 200, "ok").
  void AnswerWith(int status, std::string body);
  // Each answer waits this long first (cut short when the receiver stops).
  void DelayAnswers(absl::Duration delay);

  std::vector<ReceivedRequest> Requests() const;

 private:
  void Handle(const httplib::Request& request, httplib::Response& response);

  const bool tls_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;

  mutable std::mutex mu_;
  std::condition_variable stopping_cv_;
  bool stopping_ = false;
  int status_ = 200;
  std::string body_ = "ok";
  absl::Duration delay_ = absl::ZeroDuration();
  std::vector<ReceivedRequest> requests_;
};

}  // namespace keyfleet::controller::notify::testing
