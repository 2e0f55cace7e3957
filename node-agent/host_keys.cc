#include "node-agent/host_keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fingerprint.h"
#include "common/report_limits.h"
#include "common/ssh_public_key.h"
#include "node-agent/accounts.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"
#include "spdlog/spdlog.h"

namespace keyfleet::agent {
namespace {

constexpr char kHostKeyPrefix[] = "ssh_host_";
constexpr char kHostKeySuffix[] = "_key.pub";

// "ssh_host_TYPE_key.pub" with a non-empty TYPE, as sshd's default HostKey files are named.
bool IsHostKeyFileName(absl::string_view name) {
  return name.size() > strlen(kHostKeyPrefix) + strlen(kHostKeySuffix) &&
         absl::StartsWith(name, kHostKeyPrefix) && absl::EndsWith(name, kHostKeySuffix);
}

// The sorted names of the host key files in the directory `dir` (held open by the caller).
std::vector<std::string> HostKeyFileNames(int dir) {
  std::vector<std::string> names;
  // fdopendir takes the descriptor it is given: give it its own.
  const int listing = dup(dir);
  if (listing < 0) return names;
  DIR* d = fdopendir(listing);
  if (d == nullptr) {
    close(listing);
    return names;
  }
  while (const dirent* e = readdir(d)) {
    if (IsHostKeyFileName(e->d_name)) names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// The key in `name` under `dir` as "TYPE BASE64", or why it cannot be used.
absl::StatusOr<PublicKey> ReadHostKeyFile(int dir, const std::string& name) {
  UniqueFd fd(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ELOOP) return absl::FailedPreconditionError("is a symlink (not followed)");
    return absl::FailedPreconditionError(absl::StrCat("cannot be opened: ", strerror(errno)));
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot be read: ", strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError("is not a regular file");
  std::string text;
  switch (ReadAll(fd.get(), kMaxHostKeyFileBytes, &text)) {
    case ReadAllResult::kOk:
      break;
    case ReadAllResult::kTooLarge:
      return absl::FailedPreconditionError(
          absl::StrCat("is larger than ", kMaxHostKeyFileBytes, " bytes"));
    case ReadAllResult::kError:
      return absl::FailedPreconditionError(absl::StrCat("cannot be read: ", strerror(errno)));
  }
  absl::string_view line = text;
  absl::ConsumeSuffix(&line, "\n");
  if (line.empty()) return absl::FailedPreconditionError("is empty");
  // ParsePublicKey refuses a newline: a second line is refused with it.
  absl::StatusOr<PublicKey> key = ParsePublicKey(line);
  if (!key.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("does not hold one public key line: ", key.status().message()));
  }
  if (key->certificate) {
    return absl::FailedPreconditionError("holds a certificate, not a plain host key");
  }
  key->comment.clear();
  return key;
}

}  // namespace

HostKeys ReadHostKeys(const std::string& root) {
  HostKeys out;
  const std::string dir_path = UnderRoot(root, "/etc/ssh");
  UniqueFd dir(open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) {
    const int err = errno;
    struct stat st {};
    // O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP): say which it was.
    if ((err == ELOOP || err == ENOTDIR) && lstat(dir_path.c_str(), &st) == 0 &&
        S_ISLNK(st.st_mode)) {
      out.skipped.push_back(absl::StrCat(dir_path, ": is a symlink (not followed)"));
    } else if (err != ENOENT) {
      out.skipped.push_back(absl::StrCat(dir_path, ": cannot be opened: ", strerror(err)));
    }
    for (const std::string& why : out.skipped) spdlog::warn("host keys not reported: {}", why);
    return out;
  }
  for (const std::string& name : HostKeyFileNames(dir.get())) {
    const std::string path = absl::StrCat(dir_path, "/", name);
    if (out.public_keys.size() >= kMaxReportHostPublicKeys) {
      out.skipped.push_back(absl::StrCat(path, ": not reported: a report holds at most ",
                                         kMaxReportHostPublicKeys, " host keys"));
      continue;
    }
    absl::StatusOr<PublicKey> key = ReadHostKeyFile(dir.get(), name);
    if (!key.ok()) {
      out.skipped.push_back(absl::StrCat(path, ": ", key.status().message()));
      continue;
    }
    std::string text = RenderPublicKey(*key);
    if (text.size() > kMaxReportHostPublicKeyBytes) {
      out.skipped.push_back(
          absl::StrCat(path, ": the key is longer than ", kMaxReportHostPublicKeyBytes, " bytes"));
      continue;
    }
    out.fingerprints.push_back(Fingerprint(*key));
    out.public_keys.push_back(std::move(text));
  }
  for (const std::string& why : out.skipped) spdlog::warn("host key not reported: {}", why);
  return out;
}

}  // namespace keyfleet::agent
