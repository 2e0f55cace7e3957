#include "node-agent/sshd_config_check.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/krl.h"
#include "node-agent/key_files.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"

extern char** environ;

namespace keyfleet::agent {
namespace {

// The AuthorizedKeysFile value `config`'s key_files mode needs.
std::string AuthorizedKeysFileFor(const AgentConfig& config) {
  const std::string central = UnderRoot(config.root, kCentralAuthorizedKeysFile);
  switch (config.key_files) {
    case v1::KEY_FILES_MODE_CENTRAL:
      return central;
    case v1::KEY_FILES_MODE_BOTH:
      return absl::StrCat(central, " ", kHomeAuthorizedKeysFile);
    default:
      return kHomeAuthorizedKeysFile;
  }
}

// How much of `sshd -T` output is read: its full configuration is a few KiB.
constexpr size_t kMaxSshdOutputBytes = 1 << 20;

SshdCheck Ok(std::string message) {
  return {true, std::move(message)};
}
SshdCheck Problem(std::string message) {
  return {false, std::move(message)};
}

// Whether sshd's AuthorizedKeysFile value names the home file (relative paths are from the
// home; %h and ~ spell it out).
bool ReadsHomeFile(absl::string_view path) {
  return path == kHomeAuthorizedKeysFile || path == "%h/.ssh/authorized_keys" ||
         path == "~/.ssh/authorized_keys";
}

SshdCheck CheckKrlFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) {
    return Problem(absl::StrCat(
        "RevokedKeys ", path, " cannot be opened (", std::strerror(errno),
        "): sshd refuses every key while it is missing; run `keyfleet-agent enroll` or start "
        "the agent to create it"));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Problem(absl::StrCat("RevokedKeys ", path, " is not a regular file"));
  }
  if (st.st_uid != 0 || (st.st_mode & 022) != 0) {
    return Problem(absl::StrFormat(
        "RevokedKeys %s is owned by uid %d with mode %o: it must be root's and not writable by "
        "group or others (chown root %s; chmod 644 %s)",
        path, st.st_uid, st.st_mode & 07777, path, path));
  }
  std::string bytes;
  if (ReadAll(fd.get(), kMaxKrlBytes, &bytes) != ReadAllResult::kOk) {
    return Problem(absl::StrCat("RevokedKeys ", path, " cannot be read whole"));
  }
  absl::StatusOr<Krl> krl = ParseKrl(bytes);
  if (!krl.ok()) {
    return Problem(absl::StrCat("RevokedKeys ", path, " is not a KRL (", krl.status().message(),
                                "): sshd refuses every key with it"));
  }
  return Ok(absl::StrCat("RevokedKeys ", path, ": a root-owned KRL revoking ", krl->sha256.size(),
                         " key(s)"));
}

}  // namespace

std::string RenderSshdConfigLines(const AgentConfig& config, const SshdConfigOptions& options) {
  std::string out;
  if (!config.revoked_keys_file.empty()) {
    absl::StrAppend(&out,
                    "# The fleet's revoked keys (kept by keyfleet-agent): refused wherever they "
                    "appear.\nRevokedKeys ",
                    UnderRoot(config.root, config.revoked_keys_file), "\n");
  }
  switch (config.key_files) {
    case v1::KEY_FILES_MODE_CENTRAL:
      out +=
          "# key_files: central: only the root-owned files keyfleet-agent writes; users cannot "
          "add keys.\n";
      break;
    case v1::KEY_FILES_MODE_BOTH:
      out += "# key_files: both: the central files and the users' own.\n";
      break;
    default:
      out += "# key_files: home: the users' own files.\n";
  }
  absl::StrAppend(&out, "AuthorizedKeysFile ", AuthorizedKeysFileFor(config), "\n");
  if (options.command) {
    if (config.keys_index_dir.empty()) {
      absl::StrAppend(&out,
                      "# keys_index_dir is \"\": the command answers from the cache (root-only), "
                      "all of the account's lines.\nAuthorizedKeysCommand ",
                      options.agent_binary, " authorized-keys-command --cache ", config.cache_path,
                      " %u\n");
    } else {
      absl::StrAppend(&out,
                      "# The offered key's lines only, from the index (cost independent of the "
                      "number of keys).\nAuthorizedKeysCommand ",
                      options.agent_binary, " authorized-keys-command --index-dir ",
                      UnderRoot(config.root, config.keys_index_dir), " %u --fingerprint %f\n");
    }
    absl::StrAppend(&out, "AuthorizedKeysCommandUser root\n");
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseSshdEffectiveConfig(
    absl::string_view text) {
  std::map<std::string, std::string> out;
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError("sshd -T printed nothing");
  }
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  int number = 0;
  for (absl::string_view line : lines) {
    ++number;
    // Only the final newline leaves an empty piece; sshd -T prints no blank line.
    if (line.empty() && static_cast<size_t>(number) == lines.size()) continue;
    const size_t space = line.find(' ');
    const absl::string_view keyword = line.substr(0, space);
    const bool word = !keyword.empty() && std::all_of(keyword.begin(), keyword.end(), [](char c) {
      return absl::ascii_islower(static_cast<unsigned char>(c)) ||
             absl::ascii_isdigit(static_cast<unsigned char>(c));
    });
    if (!word || space == absl::string_view::npos || space + 1 == line.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", number, " of sshd -T output is not \"keyword value\": ", line.substr(0, 80)));
    }
    std::string& value = out[std::string(keyword)];
    if (!value.empty()) value += "\n";
    value += std::string(line.substr(space + 1));
  }
  if (out.empty()) return absl::InvalidArgumentError("sshd -T printed nothing");
  return out;
}

std::vector<SshdCheck> CheckSshdConfig(const std::map<std::string, std::string>& effective,
                                       const AgentConfig& config) {
  std::vector<SshdCheck> checks;
  auto value = [&](const char* keyword) {
    auto it = effective.find(keyword);
    return it == effective.end() ? std::string("none") : it->second;
  };
  if (!config.revoked_keys_file.empty()) {
    const std::string krl = UnderRoot(config.root, config.revoked_keys_file);
    const std::string revoked = value("revokedkeys");
    if (revoked != krl) {
      checks.push_back(Problem(absl::StrCat(
          "sshd's RevokedKeys is ", revoked, ", not the agent's KRL: add `RevokedKeys ", krl,
          "` to sshd_config (revoked keys are otherwise refused only where keyfleet wrote them)")));
    } else {
      checks.push_back(Ok(absl::StrCat("sshd's RevokedKeys is the agent's KRL, ", krl)));
    }
    checks.push_back(CheckKrlFile(krl));
  } else {
    checks.push_back(Ok("revoked_keys_file is \"\": the agent keeps no KRL, nothing to check"));
  }
  const std::string files = value("authorizedkeysfile");
  const std::string central_file = UnderRoot(config.root, kCentralAuthorizedKeysFile);
  bool central = false;
  bool home = false;
  for (absl::string_view path : absl::StrSplit(files, ' ', absl::SkipEmpty())) {
    central = central || path == central_file;
    home = home || ReadsHomeFile(path);
  }
  const std::string want = absl::StrCat("AuthorizedKeysFile ", AuthorizedKeysFileFor(config));
  const char* mode = KeyFilesModeName(config.key_files);
  bool files_ok = true;
  if (WritesCentralFiles(config.key_files) && !central) {
    files_ok = false;
    checks.push_back(
        Problem(absl::StrCat("key_files is ", mode, " but sshd's AuthorizedKeysFile (", files,
                             ") does not read ", central_file, ": set `", want, "`")));
  }
  if (WritesHomeFiles(config.key_files) && !home) {
    files_ok = false;
    checks.push_back(
        Problem(absl::StrCat("key_files is ", mode, " but sshd's AuthorizedKeysFile (", files,
                             ") does not read ", kHomeAuthorizedKeysFile, ": set `", want, "`")));
  }
  if (config.key_files == v1::KEY_FILES_MODE_CENTRAL && home) {
    files_ok = false;
    checks.push_back(Problem(absl::StrCat(
        "key_files is central but sshd's AuthorizedKeysFile (", files,
        ") also reads the users' own files, so a key a user adds logs in: set `", want, "`")));
  }
  if (files_ok) {
    checks.push_back(Ok(absl::StrCat("sshd's AuthorizedKeysFile (", files, ") reads the ", mode,
                                     " key files the agent writes")));
  }
  return checks;
}

absl::StatusOr<std::string> RunSshdT(const std::string& sshd_path, const std::string& config_file,
                                     const std::string& connection) {
  std::vector<std::string> args = {sshd_path, "-T"};
  if (!config_file.empty()) args.insert(args.end(), {"-f", config_file});
  if (!connection.empty()) args.insert(args.end(), {"-C", connection});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("cannot make a pipe");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError("cannot make a pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, sshd_path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  UniqueFd out_fd(out_pipe[0]);
  UniqueFd err_fd(err_pipe[0]);
  if (spawned != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", sshd_path, ": ", std::strerror(spawned)));
  }
  // sshd -T writes a few KiB and little on stderr: reading one then the other cannot deadlock
  // on a pipe buffer (64 KiB).
  std::string out;
  std::string err;
  const ReadAllResult read_out = ReadAll(out_fd.get(), kMaxSshdOutputBytes, &out);
  (void)ReadAll(err_fd.get(), 64 << 10, &err);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(sshd_path, " -T failed (it needs root; with Match blocks give --connection): ",
                     absl::StripAsciiWhitespace(err)));
  }
  if (read_out != ReadAllResult::kOk) {
    return absl::InternalError(absl::StrCat("cannot read the output of ", sshd_path, " -T"));
  }
  return out;
}

}  // namespace keyfleet::agent
