#include "tests/support/sshd_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/child_process.h"
#include "tests/support/run_command.h"

namespace keyfleet::testing {
namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "SshdFixture: %s\n", why.c_str());
  std::abort();
}

void Must(const std::string& command) {
  CommandResult r = RunCommand(command + " 2>&1");
  if (r.exit_code != 0) Die("`" + command + "` failed: " + r.out);
}

bool Accepting(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

SshdFixture::SshdFixture(const std::string& authorized_keys_files,
                         const std::vector<std::string>& extra_config)
    : dir_("keyfleet-sshd") {
  if (geteuid() != 0) Die("sshd tests must run as root (they create a local account)");
  dir_path_ = dir_.path().string();
  chmod(dir_path_.c_str(), 0755);  // sshd's StrictModes walks up to the home
  user_ = "kf-e2e-" + std::to_string(getpid());
  home_ = dir_path_ + "/home";
  // No password (a '*' that is not "locked"): only keys can log in.
  Must("useradd --no-create-home --home-dir " + home_ + " --shell /bin/sh " + user_);
  Must("usermod -p '*' " + user_);
  struct passwd* pw = getpwnam(user_.c_str());
  if (pw == nullptr) Die("account " + user_ + " was not created");
  uid_ = pw->pw_uid;
  mkdir(home_.c_str(), 0755);
  if (chown(home_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    Teardown();
    Die("cannot chown the home");
  }
  if (RunCommand("ssh-keygen -q -t ed25519 -N '' -f " + dir_path_ + "/host_key").exit_code != 0) {
    Teardown();
    Die("ssh-keygen failed for the host key");
  }
  // sshd's privilege separation directory (Debian's sshd unit makes it at boot). Never removed:
  // tests run in parallel, and another fixture's sshd still needs it after this one ends (its
  // sessions failed with "Missing privilege separation directory" when the first fixture to
  // finish removed it). An empty directory in /run (a tmpfs) is all that stays.
  if (mkdir("/run/sshd", 0755) != 0 && errno != EEXIST) {
    Teardown();
    Die(std::string("cannot make /run/sshd: ") + std::strerror(errno));
  }
  port_ = FreeLoopbackPort();
  std::string extra;
  for (std::string line : extra_config) {
    for (size_t at; (at = line.find("{dir}")) != std::string::npos;) {
      line.replace(at, 5, dir_path_);
    }
    extra += line + "\n";
  }
  std::ofstream(dir_path_ + "/sshd_config")
      << "Port " << port_ << "\n"
      << "ListenAddress 127.0.0.1\n"
      << "HostKey " << dir_path_ << "/host_key\n"
      << "PidFile " << dir_path_ << "/sshd.pid\n"
      << "AuthorizedKeysFile " << authorized_keys_files << "\n"
      << "StrictModes yes\n"
      << "PubkeyAuthentication yes\n"
      << "PasswordAuthentication no\n"
      << "KbdInteractiveAuthentication no\n"
      << "UsePAM no\n"
      << "AllowUsers " << user_ << " " << user_ << "-*\n"
      << "LogLevel VERBOSE\n"
      << extra;
  sshd_ = fork();
  if (sshd_ == 0) {
    const std::string log = dir_path_ + "/sshd.log";
    execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-f", (dir_path_ + "/sshd_config").c_str(),
          "-E", log.c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 100 && !Accepting(port_); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!Accepting(port_)) {
    const std::string log = Log();
    Teardown();
    Die("sshd did not start; its log:\n" + log);
  }
}

SshdFixture::~SshdFixture() {
  Teardown();
}

void SshdFixture::Teardown() {
  if (sshd_ > 0) {
    kill(sshd_, SIGTERM);
    waitpid(sshd_, nullptr, 0);
  }
  sshd_ = -1;
  for (const std::string& account : extra_accounts_) {
    RunCommand("pkill -KILL -u " + account + " 2>/dev/null");
    RunCommand("userdel " + account + " 2>&1");
  }
  extra_accounts_.clear();
  if (!user_.empty()) {
    RunCommand("pkill -KILL -u " + user_ + " 2>/dev/null");
    RunCommand("userdel " + user_ + " 2>&1");
    user_.clear();
  }
}

std::string SshdFixture::NewKey(const std::string& name) {
  Must("ssh-keygen -q -t ed25519 -N '' -C " + name + " -f " + dir_path_ + "/" + name);
  std::ifstream in(dir_path_ + "/" + name + ".pub");
  std::string line;
  std::getline(in, line);
  return line;
}

std::string SshdFixture::AddAccount() {
  const std::string name = user_ + "-" + std::to_string(extra_accounts_.size() + 1);
  const std::string home = dir_path_ + "/home-" + name;
  if (RunCommand("useradd --no-create-home --home-dir " + home + " --shell /bin/sh " + name +
                 " && usermod -p '*' " + name)
          .exit_code != 0) {
    Teardown();
    Die("cannot create account " + name);
  }
  extra_accounts_.push_back(name);
  struct passwd* pw = getpwnam(name.c_str());
  mkdir(home.c_str(), 0755);
  if (pw == nullptr || chown(home.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    Teardown();
    Die("cannot set up the home of " + name);
  }
  return name;
}

bool SshdFixture::Login(const std::string& key, const std::string& command, std::string* out) {
  return LoginAs(user_, key, command, out);
}

bool SshdFixture::LoginAs(const std::string& account, const std::string& key,
                          const std::string& command, std::string* out) {
  CommandResult r =
      RunCommand("ssh -F /dev/null -p " + std::to_string(port_) + " -i " + dir_path_ + "/" + key +
                 " -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no"
                 " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10 " +
                 account + "@127.0.0.1 " + command + " 2>/dev/null");
  if (out != nullptr) *out = r.out;
  return r.exit_code == 0;
}

std::string SshdFixture::Fingerprint(const std::string& key) {
  const std::string pub = dir_path_ + "/" + key + ".pub";
  CommandResult r = RunCommand("ssh-keygen -lf " + pub + " 2>&1");
  std::istringstream words(r.out);
  std::string bits, fingerprint;
  words >> bits >> fingerprint;
  if (r.exit_code != 0 || fingerprint.rfind("SHA256:", 0) != 0) {
    Teardown();
    Die("`ssh-keygen -lf " + pub + "` failed: " + r.out);
  }
  return fingerprint;
}

pid_t SshdFixture::OpenSession(const std::string& account, const std::string& key,
                               int seconds) const {
  return SpawnProcess(
      {"/usr/bin/ssh", "-F", "/dev/null", "-p", std::to_string(port_), "-i", dir_path_ + "/" + key,
       "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o",
       "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", account + "@127.0.0.1",
       "sleep " + std::to_string(seconds)},
      dir_path_ + "/session-" + key + ".log");
}

bool SshdFixture::AddAuthorizedKeys(const std::string& account,
                                    const std::vector<std::string>& lines, KeyFileEdit edit,
                                    const std::string& file) const {
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "SshdFixture::AddAuthorizedKeys(%s): %s\n", account.c_str(), why.c_str());
    return false;
  };
  struct passwd* pw = getpwnam(account.c_str());
  if (pw == nullptr) return fail("no such account");
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  const std::string ssh_dir = std::string(pw->pw_dir) + "/.ssh";
  if (mkdir(ssh_dir.c_str(), 0700) == 0) {
    if (chown(ssh_dir.c_str(), uid, gid) != 0) {
      return fail("chown " + ssh_dir + ": " + std::strerror(errno));
    }
  } else if (errno != EEXIST) {
    return fail("mkdir " + ssh_dir + ": " + std::strerror(errno));
  }
  const std::string path = ssh_dir + "/" + file;
  {
    std::ofstream out(path, edit == KeyFileEdit::kAppend ? std::ios::app : std::ios::trunc);
    for (const std::string& line : lines) {
      out << line;
      if (line.empty() || line.back() != '\n') out << '\n';
    }
    out.close();
    if (!out) return fail("cannot write " + path);
  }
  if (chown(path.c_str(), uid, gid) != 0) {
    return fail("chown " + path + ": " + std::strerror(errno));
  }
  if (chmod(path.c_str(), 0600) != 0) return fail("chmod " + path + ": " + std::strerror(errno));
  return true;
}

std::string SshdFixture::Log() const {
  std::ifstream in(dir_path_ + "/sshd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace keyfleet::testing
