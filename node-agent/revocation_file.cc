#include "node-agent/revocation_file.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/krl.h"
#include "node-agent/posix/system_file_dir.h"

namespace keyfleet::agent {
namespace {

constexpr absl::string_view kComment = "keyfleet revoked keys";
constexpr absl::string_view kEpochPart = "; epoch ";

bool IsEpoch(absl::string_view text) {
  if (text.size() != 16) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> RevocationKrl(const RevocationSet& set, absl::Time now) {
  Krl krl;
  krl.version = set.sha256.size();
  krl.generated_at = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixSeconds(now)));
  krl.comment =
      set.epoch.empty() ? std::string(kComment) : absl::StrCat(kComment, kEpochPart, set.epoch);
  krl.sha256 = set.sha256;
  return BuildKrl(krl);
}

absl::StatusOr<RevocationSet> ParseRevocationKrl(absl::string_view bytes) {
  absl::StatusOr<Krl> krl = ParseKrl(bytes);
  if (!krl.ok()) return krl.status();
  RevocationSet set;
  set.sha256 = krl->sha256;
  absl::string_view comment = krl->comment;
  if (krl->key_blobs.empty() && absl::ConsumePrefix(&comment, kComment) &&
      absl::ConsumePrefix(&comment, kEpochPart) && IsEpoch(comment) &&
      krl->version == set.sha256.size()) {
    set.epoch = std::string(comment);
  }
  return set;
}

absl::Status SplitFilePath(const std::string& path, std::string* dir, std::string* name) {
  const size_t slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash + 1 == path.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" is not an absolute path naming a file"));
  }
  *dir = slash == 0 ? "/" : path.substr(0, slash);
  *name = path.substr(slash + 1);
  if (*name == "." || *name == "..") {
    return absl::InvalidArgumentError(absl::StrCat("\"", path, "\" names no file"));
  }
  return absl::OkStatus();
}

absl::Status EnsureRevocationFile(const std::string& path) {
  std::string dir_path, name;
  if (absl::Status s = SplitFilePath(path, &dir_path, &name); !s.ok()) return s;
  absl::StatusOr<SystemFileDir> dir = SystemFileDir::Open(dir_path, /*create=*/true);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::string> empty = RevocationKrl({}, absl::Now());
  if (!empty.ok()) return empty.status();
  absl::StatusOr<bool> created = dir->CreateIfMissing(name, *empty, 0644);
  if (!created.ok()) return created.status();
  if (*created) return absl::OkStatus();
  // Something is there: sshd must be able to read it as a KRL, or it refuses every key.
  absl::StatusOr<std::optional<std::string>> existing = dir->Read(name, kMaxKrlBytes);
  if (!existing.ok()) return existing.status();
  if (!existing->has_value()) return EnsureRevocationFile(path);  // removed meanwhile
  if (ParseRevocationKrl(**existing).ok()) return absl::OkStatus();
  // Damaged: sshd refuses every key with it. An empty one lets them in until the agent writes
  // the fleet's list from the controller's next state.
  return dir->Replace(name, *empty, 0644);
}

}  // namespace keyfleet::agent
