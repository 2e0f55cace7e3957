#include "cli/private_key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/openssh_private_key.h"
#include "common/status_macros.h"

namespace keyfleet::cli {
namespace {

absl::Status Errno(const std::string& what, const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0) return Errno("cannot fsync", path);
  return absl::OkStatus();
}

int CreateNew(const std::string& path, mode_t mode) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

absl::StatusOr<SecretBytes> ReadPassphraseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Errno("cannot open the passphrase file", path);
  SecretBytes text;
  char buf[256];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Errno("cannot read the passphrase file", path);
    }
    if (n == 0) break;
    text.Append(absl::string_view(buf, static_cast<size_t>(n)));
    if (text.size() > kMaxPassphraseBytes + 1) break;
  }
  ::close(fd);
  std::memset(buf, 0, sizeof(buf));
  absl::string_view v = text.view();
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  if (v.find('\n') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the passphrase file ", path, " must hold one line (the passphrase)"));
  }
  if (v.size() < kMinPassphraseBytes || v.size() > kMaxPassphraseBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the passphrase in ", path, " must be ",
                                                   kMinPassphraseBytes, " to ", kMaxPassphraseBytes,
                                                   " bytes"));
  }
  return SecretBytes(v);
}

absl::StatusOr<PrivateKeyFiles> PrivateKeyFiles::Create(const std::string& path) {
  if (path.empty() || path == "-") {
    return absl::InvalidArgumentError(
        "--out needs a file name (a private key is never written to a terminal or a pipe)");
  }
  int key_fd = CreateNew(path, 0600);
  if (key_fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " exists; a key file is never overwritten (choose another --out)"));
    }
    return Errno("cannot create", path);
  }
  // The umask may have narrowed the mode; the key file must be 0600 exactly, as ssh demands.
  if (::fchmod(key_fd, 0600) != 0) {
    absl::Status s = Errno("cannot set the mode of", path);
    ::close(key_fd);
    ::unlink(path.c_str());
    return s;
  }
  const std::string pub = path + ".pub";
  int pub_fd = CreateNew(pub, 0644);
  if (pub_fd < 0) {
    absl::Status s =
        errno == EEXIST
            ? absl::AlreadyExistsError(absl::StrCat(
                  pub, " exists; a key file is never overwritten (choose another --out)"))
            : Errno("cannot create", pub);
    ::close(key_fd);
    ::unlink(path.c_str());
    return s;
  }
  return PrivateKeyFiles(path, key_fd, pub_fd);
}

PrivateKeyFiles::PrivateKeyFiles(PrivateKeyFiles&& other) noexcept
    : path_(std::move(other.path_)),
      key_fd_(other.key_fd_),
      pub_fd_(other.pub_fd_),
      committed_(other.committed_) {
  other.key_fd_ = other.pub_fd_ = -1;
  other.committed_ = true;  // the moved-from object removes nothing
}

PrivateKeyFiles::~PrivateKeyFiles() {
  if (key_fd_ >= 0) ::close(key_fd_);
  if (pub_fd_ >= 0) ::close(pub_fd_);
  if (!committed_) {
    ::unlink(path_.c_str());
    ::unlink((path_ + ".pub").c_str());
  }
}

absl::Status PrivateKeyFiles::Commit(absl::string_view openssh_pem,
                                     const std::optional<SecretBytes>& passphrase,
                                     const std::string& public_line) {
  SecretBytes text(openssh_pem);
  if (passphrase) {
    KF_ASSIGN_OR_RETURN(SshKeyPair pair, DecodeOpenSshPrivateKey(openssh_pem));
    KF_ASSIGN_OR_RETURN(text, EncodeOpenSshPrivateKey(pair, passphrase->view()));
  }
  KF_RETURN_IF_ERROR(WriteAll(key_fd_, text.view(), path_));
  KF_RETURN_IF_ERROR(WriteAll(pub_fd_, public_line + "\n", path_ + ".pub"));
  int dir = ::open(DirectoryOf(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace keyfleet::cli
