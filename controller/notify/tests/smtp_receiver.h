// A real SMTP server for tests: aiosmtpd (python3-aiosmtpd) on 127.0.0.1 with the recording
// handler of recording_smtpd.py, started as a child process.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller::notify::testing {

struct ReceivedMail {
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  bool tls = false;     // the session had switched to TLS (STARTTLS)
  std::string content;  // the message as received (headers and body, CRLF line ends)
};

struct SmtpReceiverOptions {
  std::string mode = "accept";  // accept, refuse-rcpt or tempfail-rcpt (recording_smtpd.py)
  // Both set: STARTTLS is offered with this certificate, and required before MAIL (aiosmtpd's
  // default).
  std::filesystem::path tls_cert, tls_key;
};

// How long a receiver may take to start answering before a test fails.
inline constexpr absl::Duration kReceiverStartTimeout = absl::Seconds(15);

class SmtpReceiver {
 public:
  explicit SmtpReceiver(SmtpReceiverOptions options = {});
  ~SmtpReceiver();
  SmtpReceiver(const SmtpReceiver&) = delete;
  SmtpReceiver& operator=(const SmtpReceiver&) = delete;

  // Starts aiosmtpd and waits (at most kReceiverStartTimeout) for its 220 greeting. An error
  // says why, with the server's output: tests ASSERT on it and never skip.
  absl::Status Start();
  // Stops the server (SIGTERM, then SIGKILL); the port is free afterwards. Idempotent.
  void Stop();

  int port() const { return port_; }
  std::string Url() const;  // smtp://127.0.0.1:PORT
  // The messages accepted so far, in order.
  std::vector<ReceivedMail> Mails() const;
  std::string Log() const;

 private:
  SmtpReceiverOptions options_;
  keyfleet::testing::ScopedTempDir dir_;
  int port_ = -1;
  pid_t pid_ = -1;
};

// The python3 that can import aiosmtpd: $KEYFLEET_TEST_PYTHON, /usr/bin/python3 or python3
// on PATH (a pyenv or virtualenv python may lack Debian's python3-aiosmtpd). An error naming
// what to install otherwise.
absl::StatusOr<std::string> PythonWithAiosmtpd();

}  // namespace keyfleet::controller::notify::testing
