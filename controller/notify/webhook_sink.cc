#include "controller/notify/webhook_sink.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/duration_text.h"
#include "common/tls/openssl_util.h"
#include "controller/notify/connect_probe.h"
#include "common/scoped_sigpipe_block.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller::notify {
namespace {

constexpr absl::Duration kIoTimeoutMargin = absl::Seconds(1);

// Calls client.stop() when `timeout` passes before Finish(): that shuts the socket down under
// a request that is still reading or writing, which then fails at once. cpp-httplib's own
// timeouts apply to each read and write, so a receiver trickling bytes could hold a delivery
// for ever without this.
class Watchdog {
 public:
  Watchdog(httplib::Client& client, absl::Duration timeout)
      : thread_([this, &client, timeout] {
          std::unique_lock<std::mutex> lock(mu_);
          if (done_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                             [this] { return finished_; })) {
            return;
          }
          fired_ = true;
          lock.unlock();
          ScopedSigpipeBlock no_sigpipe;  // stop() may shut TLS down, which writes
          client.stop();
        }) {}
  ~Watchdog() { Finish(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Whether the timeout had passed (and the request was cut off).
  bool Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_ = true;
    }
    done_.notify_one();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    return fired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  bool finished_ = false;
  bool fired_ = false;
  std::thread thread_;  // last: it starts using the members above at once
};

// For details: printable ASCII, anything else as '?', at most kMaxWebhookDetailExcerptBytes.
std::string Excerpt(absl::string_view body) {
  std::string out;
  for (char c : body.substr(0, kMaxWebhookDetailExcerptBytes)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : (c == '\n' || c == '\r' || c == '\t' ? ' ' : '?'));
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

DeliveryResult FromStatus(int status, const std::string& url, absl::string_view body) {
  std::string detail = absl::StrCat("HTTP ", status, " from ", url);
  const std::string excerpt = Excerpt(body);
  if (!excerpt.empty()) absl::StrAppend(&detail, ": ", excerpt);
  if (status >= 200 && status < 300) return {DeliveryOutcome::kDelivered, detail};
  // 408 and 429 say "not now"; 5xx is the receiver's trouble, which may pass.
  if (status == 408 || status == 429 || (status >= 500 && status < 600)) {
    return {DeliveryOutcome::kRetry, detail};
  }
  return {DeliveryOutcome::kPermanentFailure, detail};
}

// A request that got no status: why, for the detail. Every such failure may pass, so each is
// retried. `time_left` bounds the connection probe.
DeliveryResult FromTransportError(httplib::Error error, const httplib::Client& client,
                                  const WebhookSettings& settings, absl::Duration time_left) {
  const std::string where = settings.url.Authority();
  switch (error) {
    case httplib::Error::Connection: {
      std::string why = DescribeConnectFailure(settings.url.host, settings.url.port,
                                               std::max(time_left, absl::Milliseconds(100)));
      if (why.empty()) why = "connection failed";
      return {DeliveryOutcome::kRetry, absl::StrCat("cannot connect to ", where, ": ", why)};
    }
    case httplib::Error::ConnectionTimeout:
      return {DeliveryOutcome::kRetry,
              absl::StrCat("timed out after ", FormatDurationForHumans(settings.timeout / 2),
                           " connecting to ", where)};
    case httplib::Error::SSLConnection:
      return {DeliveryOutcome::kRetry,
              absl::StrCat("TLS handshake with ", where, " failed: ", tls::OpenSslErrors())};
    case httplib::Error::SSLServerVerification: {
      const long verify = client.get_openssl_verify_result();
      if (verify != X509_V_OK) {
        return {
            DeliveryOutcome::kRetry,
            absl::StrCat("TLS: the certificate of ", where, " is not trusted (",
                         X509_verify_cert_error_string(verify),
                         settings.ca_file.empty()
                             ? "; checked against the system's trust store)"
                             : absl::StrCat("; checked against ca_file ", settings.ca_file, ")"))};
      }
      return {DeliveryOutcome::kRetry,
              absl::StrCat("TLS: the certificate of ", where, " is not valid for the name \"",
                           settings.url.host, "\"")};
    }
    case httplib::Error::SSLLoadingCerts:
      return {DeliveryOutcome::kRetry,
              absl::StrCat("TLS: cannot load the trusted certificates from ",
                           settings.ca_file.empty() ? "the system's trust store"
                                                    : absl::StrCat("ca_file ", settings.ca_file))};
    case httplib::Error::Write:
      return {DeliveryOutcome::kRetry,
              absl::StrCat("the connection to ", where, " broke while sending the request")};
    case httplib::Error::Read:
      return {DeliveryOutcome::kRetry,
              absl::StrCat("the connection to ", where, " closed before a response came")};
    default:
      return {DeliveryOutcome::kRetry, absl::StrCat("the request to ", settings.url.ForDisplay(),
                                                    " failed: ", httplib::to_string(error))};
  }
}

}  // namespace

absl::StatusOr<std::string> WebhookBody(const Notification& n) {
  const nlohmann::json payload = nlohmann::json::parse(n.payload_json, nullptr,
                                                       /*allow_exceptions=*/false);
  if (!payload.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("notification ", n.id, " (", n.event,
                                                   ") has a payload that is not a JSON object"));
  }
  // RFC 3339 in UTC with "Z", and a fraction only when the time has one.
  const nlohmann::json at = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", n.at, absl::UTCTimeZone());
  // The payload goes in as written (it was just checked to be one JSON object), so numbers and
  // key order reach the receiver exactly as the controller made them.
  return absl::StrCat("{\"id\":", n.id, ",\"event\":", nlohmann::json(n.event).dump(),
                      ",\"at\":", at.dump(), ",\"data\":", n.payload_json, "}");
}

WebhookSink::WebhookSink(WebhookSettings settings, const Clock& clock)
    : settings_(std::move(settings)),
      sink_name_(absl::StrCat("webhook:", settings_.name)),
      clock_(clock) {}

bool WebhookSink::Wants(const Notification& n) const {
  return settings_.events.count(n.event) > 0;
}

DeliveryResult WebhookSink::Deliver(const Notification& n) {
  const std::string display_url = settings_.url.ForDisplay();
  const std::string timeout_text = FormatDurationForHumans(settings_.timeout);
  // The event goes into a header: only known names, which hold no CR or LF.
  if (!IsKnownNotificationEvent(n.event)) {
    return {DeliveryOutcome::kPermanentFailure,
            absl::StrCat("notification ", n.id, " has an unknown event; not sent")};
  }
  absl::StatusOr<std::string> body = WebhookBody(n);
  if (!body.ok()) return {DeliveryOutcome::kPermanentFailure, std::string(body.status().message())};
  const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(clock_.Now()));
  absl::StatusOr<std::string> signature = WebhookSignature(settings_.secret, timestamp, *body);
  if (!signature.ok()) return {DeliveryOutcome::kRetry, std::string(signature.status().message())};

  httplib::Client client(settings_.url.Origin());
  if (!client.is_valid()) {
    return {DeliveryOutcome::kPermanentFailure,
            absl::StrCat("cannot make an HTTP client for ", display_url)};
  }
  // Connecting, and then the TLS handshake, may each take half the timeout. Reads and writes
  // get longer than the whole: the watchdog ends a slow exchange first, so that it is reported
  // as a timeout rather than as a failed read.
  client.set_connection_timeout(absl::ToChronoMicroseconds(settings_.timeout / 2));
  client.set_read_timeout(absl::ToChronoMicroseconds(settings_.timeout + kIoTimeoutMargin));
  client.set_write_timeout(absl::ToChronoMicroseconds(settings_.timeout + kIoTimeoutMargin));
  client.set_keep_alive(false);
  client.set_follow_location(false);
  client.set_decompress(false);
  if (settings_.url.is_tls()) {
    client.enable_server_certificate_verification(true);
    if (!settings_.ca_file.empty()) client.set_ca_cert_path(settings_.ca_file);
  }

  httplib::Request request;
  request.method = "POST";
  request.path = settings_.url.target;
  request.headers = {
      {"Content-Type", "application/json"}, {"User-Agent", "keyfleet/" KEYFLEET_VERSION},
      {kWebhookEventHeader, n.event},       {kWebhookDeliveryHeader, absl::StrCat(n.id)},
      {kWebhookTimestampHeader, timestamp}, {kWebhookSignatureHeader, *signature},
  };
  request.body = *body;
  // The status is kept as soon as the headers are in: a receiver that said 200 has the
  // notification, even if its body then stalls or is cut off here.
  int status = 0;
  std::string response_body;
  request.response_handler = [&status](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  request.content_receiver = [&response_body](const char* data, size_t size, uint64_t, uint64_t) {
    response_body.append(data, std::min(size, kMaxWebhookResponseBytes - response_body.size()));
    return response_body.size() < kMaxWebhookResponseBytes;  // false: stop reading
  };

  const absl::Time started = absl::Now();
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  bool timed_out = false;
  {
    ScopedSigpipeBlock no_sigpipe;
    ERR_clear_error();  // so that a TLS failure's reasons below are this request's
    Watchdog watchdog(client, settings_.timeout);
    const bool sent = client.send(request, response, error);
    timed_out = watchdog.Finish();
    if (sent) status = response.status;
  }
  if (status != 0) return FromStatus(status, display_url, response_body);
  if (timed_out) {
    return {DeliveryOutcome::kRetry,
            absl::StrCat("timed out after ", timeout_text, " waiting for ", display_url)};
  }
  return FromTransportError(error, client, settings_, settings_.timeout - (absl::Now() - started));
}

}  // namespace keyfleet::controller::notify
