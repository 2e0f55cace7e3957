#include "node-agent/keys_index_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace keyfleet::agent {

bool KeysIndexFd::ReadAt(uint64_t offset, size_t length, std::string* out) const {
  if (offset > size_ || length > size_ - offset) return false;
  out->resize(length);
  size_t got = 0;
  while (got < length) {
    ssize_t n = pread(fd_, out->data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

absl::Status UpdateKeysIndexFile(const RootKeyDir& dir, const std::string& account,
                                 const std::vector<std::string>& lines, bool* written) {
  *written = false;
  absl::StatusOr<RootKeyFile> existing = dir.Read(account, kKeysIndexHeaderBytes, /*whole=*/false);
  if (!existing.ok()) return existing.status();
  if (existing->exists && existing->regular && existing->uid == 0 &&
      existing->mode == kKeysIndexFileMode && existing->links == 1) {
    // The header alone says whether the lines are these: no need to read the rest.
    const std::string& header = existing->content;
    if (header.size() == kKeysIndexHeaderBytes && header.compare(0, 8, kKeysIndexMagic, 8) == 0 &&
        header.compare(16, 32, KeysIndexLinesDigest(lines)) == 0) {
      return absl::OkStatus();
    }
  }
  absl::StatusOr<std::string> index = BuildKeysIndex(lines);
  if (!index.ok()) return index.status();
  if (absl::Status s = dir.Replace(account, *index, kKeysIndexFileMode); !s.ok()) return s;
  *written = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> LookupKeysIndexFile(const std::string& index_dir,
                                                const std::string& account,
                                                absl::string_view key_digest) {
  UniqueFd root(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) {
    return absl::InternalError(absl::StrCat("cannot open /: ", std::strerror(errno)));
  }
  // Every component is checked as the system's: the command only reads, never repairs.
  absl::StatusOr<RootKeyDir> dir =
      RootKeyDir::Open(root.get(), "", index_dir, /*system_components=*/SIZE_MAX,
                       /*create=*/false, nullptr);
  if (!dir.ok()) return dir.status();
  const std::string path = dir->path() + "/" + account;
  UniqueFd fd(openat(dir->fd(), account.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::string();
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(absl::StrCat(path, " is a symbolic link"));
    }
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_uid != 0 || (st.st_mode & 022) != 0 || st.st_nlink != 1) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is not trusted: owned by uid %d, mode %o, %d link(s); the agent writes it "
        "root-owned, mode %o, one link",
        path, st.st_uid, st.st_mode & 07777, st.st_nlink, kKeysIndexFileMode));
  }
  KeysIndexFd source(fd.get(), static_cast<uint64_t>(st.st_size));
  absl::StatusOr<std::string> lines = LookupKeysIndex(source, key_digest);
  if (!lines.ok()) {
    return absl::Status(lines.status().code(), absl::StrCat(path, ": ", lines.status().message()));
  }
  return lines;
}

}  // namespace keyfleet::agent
