#include "controller/notify/smtp_sink.h"

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/duration_text.h"
#include "controller/notify/mail_message.h"
#include "common/scoped_sigpipe_block.h"

namespace keyfleet::controller::notify {
namespace {

// How much of the server's last reply a detail quotes.
constexpr size_t kMaxReplyExcerptBytes = 200;

struct CurlEasyFree {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// The message as libcurl's upload source.
struct MessageReader {
  const std::string* message;
  size_t offset = 0;
};

size_t ReadMessage(char* buffer, size_t size, size_t count, void* user) {
  auto* reader = static_cast<MessageReader*>(user);
  const size_t n = std::min(size * count, reader->message->size() - reader->offset);
  std::memcpy(buffer, reader->message->data() + reader->offset, n);
  reader->offset += n;
  return n;
}

// The server's last refusal ("550 5.1.1 mailbox unavailable"), for details: libcurl's own
// message names only the code, and the server's last reply is its "221 Bye" to QUIT. Only
// what the server sent is looked at, never what we sent (AUTH carries the password).
struct LastRefusal {
  std::string line;
};

int KeepServerRefusal(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  if (type != CURLINFO_HEADER_IN || size == 0 || (data[0] != '4' && data[0] != '5')) return 0;
  std::string line;
  for (char c : absl::string_view(data, std::min(size, kMaxReplyExcerptBytes))) {
    if (c == '\r' || c == '\n') break;
    line.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  static_cast<LastRefusal*>(user)->line = std::move(line);
  return 0;
}

bool IsTlsError(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
      return true;
    default:
      return false;
  }
}

}  // namespace

SmtpSink::SmtpSink(SmtpSettings settings, const Clock& clock)
    : settings_(std::move(settings)), clock_(clock) {
  // Reference-counted, and thread-safe in libcurl >= 7.84: each sink holds one reference.
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

SmtpSink::~SmtpSink() {
  curl_global_cleanup();
}

bool SmtpSink::Wants(const Notification& n) const {
  return !n.email_to.empty() && settings_.events.count(n.event) > 0;
}

DeliveryResult SmtpSink::Deliver(const Notification& n) {
  const std::string server = settings_.url.Origin();
  absl::StatusOr<std::string> message = ComposeMail(n, settings_.from, clock_.Now());
  if (!message.ok()) {
    return {DeliveryOutcome::kPermanentFailure,
            absl::StrCat("notification ", n.id, " cannot be mailed: ", message.status().message())};
  }
  std::unique_ptr<CURL, CurlEasyFree> curl(curl_easy_init());
  if (!curl) return {DeliveryOutcome::kRetry, "libcurl could not start a session"};
  CURL* c = curl.get();
  char error_buffer[CURL_ERROR_SIZE] = "";
  const std::string from = absl::StrCat("<", settings_.from, ">");
  // ComposeMail validated the address: it holds no '<', '>', CR or LF that could change the
  // RCPT command.
  std::unique_ptr<curl_slist, CurlSlistFree> recipients(
      curl_slist_append(nullptr, absl::StrCat("<", n.email_to, ">").c_str()));
  if (!recipients) return {DeliveryOutcome::kRetry, "out of memory"};
  MessageReader reader{&*message};
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(settings_.timeout));

  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_URL, server.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for resolver timeouts: threads
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &ReadMessage);
  curl_easy_setopt(c, CURLOPT_READDATA, &reader);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message->size()));
  long use_ssl = CURLUSESSL_NONE;
  if (settings_.url.is_tls()) {
    use_ssl = CURLUSESSL_ALL;
  } else if (settings_.starttls == StartTls::kTry) {
    use_ssl = CURLUSESSL_TRY;
  } else if (settings_.starttls == StartTls::kRequire) {
    use_ssl = CURLUSESSL_ALL;
  }
  curl_easy_setopt(c, CURLOPT_USE_SSL, use_ssl);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!settings_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca_file.c_str());
  if (!settings_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, settings_.password.c_str());
  }

  LastRefusal refusal;
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, &KeepServerRefusal);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &refusal);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // only so that KeepServerRefusal is called

  CURLcode result;
  {
    ScopedSigpipeBlock no_sigpipe;
    result = curl_easy_perform(c);
  }
  long reply = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply);
  if (result == CURLE_OK) {
    return {DeliveryOutcome::kDelivered,
            absl::StrCat("accepted by ", server, " for ", n.email_to, " (SMTP ", reply, ")")};
  }
  const std::string why = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(result);
  if (reply >= 400 && reply < 600) {
    // 5xx: the server will not take this message, however often it is sent; 4xx: not now.
    return {reply >= 500 ? DeliveryOutcome::kPermanentFailure : DeliveryOutcome::kRetry,
            absl::StrCat("SMTP ", reply, " from ", server, " for ", n.email_to, ": ", why,
                         refusal.line.empty() ? "" : absl::StrCat(" (", refusal.line, ")"))};
  }
  if (result == CURLE_OPERATION_TIMEDOUT) {
    return {DeliveryOutcome::kRetry,
            absl::StrCat("timed out after ", FormatDurationForHumans(settings_.timeout),
                         " talking to ", server)};
  }
  if (result == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    return {DeliveryOutcome::kRetry,
            absl::StrCat("cannot connect to ", settings_.url.Authority(), ": ",
                         os_errno == ECONNREFUSED ? std::string("connection refused") : why)};
  }
  if (result == CURLE_USE_SSL_FAILED) {
    return {DeliveryOutcome::kRetry,
            absl::StrCat(server, " does not offer STARTTLS, and starttls is require")};
  }
  if (IsTlsError(result)) {
    return {DeliveryOutcome::kRetry, absl::StrCat("TLS with ", server, " failed: ", why)};
  }
  return {DeliveryOutcome::kRetry, absl::StrCat("sending to ", server, " failed: ", why)};
}

}  // namespace keyfleet::controller::notify
