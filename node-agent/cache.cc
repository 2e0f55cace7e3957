#include "node-agent/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "node-agent/posix/fd_io.h"
#include "node-agent/posix/unique_fd.h"

namespace keyfleet::agent {
namespace {

constexpr char kMagic[8] = {'K', 'F', 'C', 'A', 'C', 'H', 'E', '1'};
constexpr size_t kDigestBytes = kSha256Bytes;
constexpr size_t kHeaderBytes = sizeof(kMagic) + 8 + 8 + kDigestBytes;

void Store64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t Load64(const char* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

// SHA-256 over the sequence, the length and the payload.
std::string SlotDigest(uint64_t sequence, absl::string_view payload) {
  char fields[16];
  Store64(fields, sequence);
  Store64(fields + 8, payload.size());
  Sha256 sha;
  sha.Update(absl::string_view(fields, sizeof(fields)));
  sha.Update(payload);
  return sha.Finish();
}

std::string EncodeSlot(uint64_t sequence, const std::string& payload) {
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  Store64(out.data() + 8, sequence);
  Store64(out.data() + 16, payload.size());
  const std::string digest = SlotDigest(sequence, payload);
  std::memcpy(out.data() + 24, digest.data(), kDigestBytes);
  return out + payload;
}

// The state in a slot's bytes; nullopt when torn, truncated or otherwise invalid.
std::optional<std::pair<uint64_t, v1::DesiredState>> DecodeSlot(absl::string_view bytes) {
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return std::nullopt;
  }
  const uint64_t sequence = Load64(bytes.data() + 8);
  const uint64_t length = Load64(bytes.data() + 16);
  absl::string_view payload = bytes.substr(kHeaderBytes);
  if (sequence == 0 || length != payload.size() ||
      SlotDigest(sequence, payload) != bytes.substr(24, kDigestBytes)) {
    return std::nullopt;
  }
  v1::DesiredState state;
  if (!state.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return std::nullopt;
  return std::make_pair(sequence, std::move(state));
}

// Checks an opened slot is ours alone: a regular file, owned by this user, no group or other
// access, one link.
absl::Status CheckTrusted(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("cache ", path, " is not a regular file"));
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0 || st.st_nlink != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("cache ", path,
                     " must be owned by the agent's user, mode 600, with one link; refusing to "
                     "trust it"));
  }
  return absl::OkStatus();
}

absl::Status OpenError(const std::string& path, int err) {
  if (err == ELOOP) {
    return absl::FailedPreconditionError(absl::StrCat("cache ", path, " is a symbolic link"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("cannot open cache ", path, ": ", std::strerror(err)));
}

}  // namespace

absl::StatusOr<std::optional<v1::DesiredState>> DesiredStateCache::Load() {
  std::optional<std::pair<uint64_t, v1::DesiredState>> newest;
  int present = 0;
  for (int slot = 0; slot < 2; ++slot) {
    const std::string path = SlotPath(slot);
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) continue;
      return OpenError(path, errno);
    }
    ++present;
    if (absl::Status s = CheckTrusted(fd.get(), path); !s.ok()) return s;
    std::string bytes;
    if (ReadAll(fd.get(), kMaxCacheBytes + kHeaderBytes, &bytes) != ReadAllResult::kOk) continue;
    auto decoded = DecodeSlot(bytes);
    if (decoded && (!newest || decoded->first > newest->first)) newest = std::move(decoded);
  }
  if (!newest) {
    if (present > 0) {
      return absl::DataLossError(absl::StrCat("cache ", SlotPath(0), " / ", SlotPath(1),
                                              ": no slot holds a complete, valid state"));
    }
    newest_ = 0;
    return std::optional<v1::DesiredState>();
  }
  newest_ = newest->first;
  return std::optional<v1::DesiredState>(std::move(newest->second));
}

absl::Status DesiredStateCache::Save(const v1::DesiredState& state) {
  if (!newest_) {
    if (absl::StatusOr<std::optional<v1::DesiredState>> loaded = Load(); !loaded.ok()) {
      if (loaded.status().code() != absl::StatusCode::kDataLoss) return loaded.status();
      newest_ = 0;  // both slots are invalid: either may be overwritten
    }
  }
  std::string payload;
  if (!state.SerializeToString(&payload)) return absl::InternalError("cannot serialize the cache");
  if (payload.size() > kMaxCacheBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("desired state of ", payload.size(), " bytes exceeds the cache limit"));
  }
  const uint64_t sequence = *newest_ + 1;
  const std::string path = SlotPath(static_cast<int>(sequence % 2));
  const std::string bytes = EncodeSlot(sequence, payload);
  bool created = false;
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid() && errno == ENOENT) {
    fd = UniqueFd(
        open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600));
    created = fd.valid();
  }
  if (!fd.valid()) return OpenError(path, errno);
  if (created && fchmod(fd.get(), 0600) != 0) {  // whatever the umask was
    return absl::UnavailableError(absl::StrCat("cannot chmod ", path));
  }
  if (absl::Status s = CheckTrusted(fd.get(), path); !s.ok()) return s;
  if (!WriteAll(fd.get(), bytes)) {  // at offset 0: the descriptor was just opened
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  if (ftruncate(fd.get(), static_cast<off_t>(bytes.size())) != 0 || fdatasync(fd.get()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot sync ", path, ": ", std::strerror(errno)));
  }
  if (created) {  // the new name must survive a crash too
    const size_t slash = prefix_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : prefix_.substr(0, slash + 1);
    UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid() || fsync(dir_fd.get()) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot sync directory ", dir));
    }
  }
  newest_ = sequence;
  return absl::OkStatus();
}

}  // namespace keyfleet::agent
