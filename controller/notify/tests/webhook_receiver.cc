#include "controller/notify/tests/webhook_receiver.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace keyfleet::controller::notify::testing {

std::string ReceivedRequest::Header(const std::string& name) const {
  auto it = headers.find(name);  // httplib::Headers compares names case-insensitively
  return it == headers.end() ? "" : it->second;
}

WebhookReceiver::WebhookReceiver() : tls_(false), server_(std::make_unique<httplib::Server>()) {}

WebhookReceiver::WebhookReceiver(const std::filesystem::path& cert,
                                 const std::filesystem::path& key)
    : tls_(true),
      server_(std::make_unique<httplib::SSLServer>(cert.string().c_str(), key.string().c_str())) {}

WebhookReceiver::~WebhookReceiver() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stopping_cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

absl::Status WebhookReceiver::Start() {
  if (!server_->is_valid()) {
    return absl::InternalError("the test HTTP server is not valid (TLS certificate or key?)");
  }
  server_->Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
    Handle(request, response);
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return absl::InternalError("the test HTTP server cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!server_->is_running()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("the test HTTP server did not start within 5s");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::OkStatus();
}

std::string WebhookReceiver::Url(const std::string& path) const {
  return absl::StrCat(tls_ ? "https" : "http", "://127.0.0.1:", port_, path);
}

void WebhookReceiver::AnswerWith(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  status_ = status;
  body_ = std::move(body);
}

void WebhookReceiver::DelayAnswers(absl::Duration delay) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_ = delay;
}

std::vector<ReceivedRequest> WebhookReceiver::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void WebhookReceiver::Handle(const httplib::Request& request, httplib::Response& response) {
  std::unique_lock<std::mutex> lock(mu_);
  requests_.push_back({request.method, request.path, request.headers, request.body});
  stopping_cv_.wait_for(lock, absl::ToChronoNanoseconds(delay_), [this] { return stopping_; });
  response.status = status_;
  response.set_content(body_, "text/plain");
}

}  // namespace keyfleet::controller::notify::testing
