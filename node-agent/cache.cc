#include "node-agent/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "node-agent/posix/read_all.h"
#include "node-agent/posix/safe_fs.h"

namespace keyfleet::agent {

absl::Status SaveDesiredStateCache(const std::string& path, const v1::DesiredState& state) {
  std::string bytes;
  if (!state.SerializeToString(&bytes)) return absl::InternalError("cannot serialize the cache");
  const std::string temp = path + ".tmp";
  UniqueFd fd(open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return absl::UnavailableError(absl::StrCat("cannot write ", temp, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(absl::StrCat("cannot write ", temp));
    done += static_cast<size_t>(n);
  }
  if (fchmod(fd.get(), 0600) != 0 || fsync(fd.get()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot sync ", temp));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  const std::string dir =
      path.substr(0, path.rfind('/') == std::string::npos ? 0 : path.rfind('/'));
  UniqueFd dir_fd(open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.valid()) fsync(dir_fd.get());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::DesiredState>> LoadDesiredStateCache(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<v1::DesiredState>();
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open cache ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("cache ", path, " is not a regular file"));
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cache ", path, " must be owned by the agent's user with mode 600; refusing to trust it"));
  }
  std::string bytes;
  if (ReadAll(fd.get(), kMaxCacheBytes, &bytes) != ReadAllResult::kOk) {
    return absl::DataLossError(absl::StrCat("cannot read cache ", path, ": ", std::strerror(errno),
                                            " (or larger than ", kMaxCacheBytes, " bytes)"));
  }
  v1::DesiredState state;
  if (!state.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("cache ", path, " is corrupt"));
  }
  return std::optional<v1::DesiredState>(std::move(state));
}

}  // namespace keyfleet::agent
