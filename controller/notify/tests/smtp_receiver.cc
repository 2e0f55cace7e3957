#include "controller/notify/tests/smtp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"

namespace keyfleet::controller::notify::testing {
namespace {

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Whether a connection to 127.0.0.1:port gets an SMTP greeting within `wait`.
bool Greets(int port, absl::Duration wait) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool greeted = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    pollfd pfd = {fd, POLLIN, 0};
    char buf[64] = {};
    if (poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) == 1 &&
        read(fd, buf, sizeof(buf) - 1) >= 3) {
      greeted = absl::StartsWith(buf, "220");
      const char quit[] = "QUIT\r\n";
      (void)!write(fd, quit, sizeof(quit) - 1);
    }
  }
  close(fd);
  return greeted;
}

}  // namespace

absl::StatusOr<std::string> PythonWithAiosmtpd() {
  std::vector<std::string> candidates;
  if (const char* configured = std::getenv("KEYFLEET_TEST_PYTHON"))
    candidates.push_back(configured);
  candidates.push_back("/usr/bin/python3");
  keyfleet::testing::CommandResult on_path = keyfleet::testing::RunCommand("command -v python3");
  if (on_path.exit_code == 0) {
    candidates.push_back(std::string(absl::StripAsciiWhitespace(on_path.out)));
  }
  for (const std::string& python : candidates) {
    if (keyfleet::testing::RunCommand(absl::StrCat("'", python, "' -c 'import aiosmtpd' 2>&1"))
            .exit_code == 0) {
      return python;
    }
  }
  return absl::FailedPreconditionError(
      "no python3 here can import aiosmtpd: install python3-aiosmtpd (deploy/install-deps.sh) "
      "or point KEYFLEET_TEST_PYTHON at a python3 that has it");
}

SmtpReceiver::SmtpReceiver(SmtpReceiverOptions options)
    : options_(std::move(options)), dir_("keyfleet-smtpd") {
  std::filesystem::create_directory(dir_.path() / "mail");
}

SmtpReceiver::~SmtpReceiver() {
  Stop();
}

absl::Status SmtpReceiver::Start() {
  absl::StatusOr<std::string> python = PythonWithAiosmtpd();
  if (!python.ok()) return python.status();
  port_ = keyfleet::testing::FreeLoopbackPort();
  if (port_ <= 0) return absl::InternalError("no free port on 127.0.0.1");
  std::vector<std::string> argv = {
      "/usr/bin/env",
      absl::StrCat("PYTHONPATH=", KEYFLEET_NOTIFY_TEST_DIR),
      "PYTHONDONTWRITEBYTECODE=1",  // no __pycache__ in the source tree
      *python,
      "-m",
      "aiosmtpd",
      "-n",
      "-l",
      absl::StrCat("127.0.0.1:", port_),
      "-c",
      "recording_smtpd.RecordingHandler"};
  if (!options_.tls_cert.empty()) {
    argv.insert(argv.end(),
                {"--tlscert", options_.tls_cert.string(), "--tlskey", options_.tls_key.string()});
  }
  // The handler's arguments come last, after every option.
  argv.insert(argv.end(), {(dir_.path() / "mail").string(), options_.mode});
  pid_ = keyfleet::testing::SpawnProcess(argv, (dir_.path() / "smtpd.log").string());
  if (pid_ <= 0) return absl::InternalError("cannot fork for aiosmtpd");
  const absl::Time deadline = absl::Now() + kReceiverStartTimeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("aiosmtpd exited (status ", status, ") before it served:\n", Log()));
    }
    if (Greets(port_, absl::Seconds(2))) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop();
  return absl::DeadlineExceededError(
      absl::StrCat("aiosmtpd did not greet on port ", port_, " within ",
                   absl::FormatDuration(kReceiverStartTimeout), ":\n", Log()));
}

void SmtpReceiver::Stop() {
  if (pid_ > 0) keyfleet::testing::StopProcess(pid_, 5000);
  pid_ = -1;
}

std::string SmtpReceiver::Url() const {
  return absl::StrCat("smtp://127.0.0.1:", port_);
}

std::vector<ReceivedMail> SmtpReceiver::Mails() const {
  std::vector<ReceivedMail> mails;
  for (int n = 1;; ++n) {
    const std::filesystem::path file = dir_.path() / "mail" / absl::StrCat("mail-", n, ".json");
    if (!std::filesystem::exists(file)) break;
    const nlohmann::json record = nlohmann::json::parse(ReadFile(file));
    ReceivedMail mail;
    mail.mail_from = record.at("mail_from").get<std::string>();
    mail.rcpt_tos = record.at("rcpt_tos").get<std::vector<std::string>>();
    mail.tls = record.at("tls").get<bool>();
    mail.content = record.at("content").get<std::string>();
    mails.push_back(std::move(mail));
  }
  return mails;
}

std::string SmtpReceiver::Log() const {
  return ReadFile(dir_.path() / "smtpd.log");
}

}  // namespace keyfleet::controller::notify::testing
