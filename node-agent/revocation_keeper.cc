#include "node-agent/revocation_keeper.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "common/krl.h"
#include "common/revocation_limits.h"
#include "common/status_macros.h"
#include "node-agent/posix/system_file_dir.h"
#include "spdlog/spdlog.h"

namespace keyfleet::agent {
namespace {

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

RevocationKeeper::RevocationKeeper(std::string path) : path_(std::move(path)) {
  if (!path_.empty()) path_status_ = SplitFilePath(path_, &dir_path_, &name_);
}

absl::Status RevocationKeeper::Start() {
  if (path_.empty()) return absl::OkStatus();
  absl::Status s = path_status_;
  if (s.ok()) s = EnsureRevocationFile(path_);
  if (s.ok()) {
    absl::StatusOr<SystemFileDir> dir = SystemFileDir::Open(dir_path_, false);
    if (dir.ok()) {
      if (int removed = dir->RemoveStaleTemps(name_); removed > 0) {
        spdlog::info("removed {} leftover temporary file(s) of {}", removed, path_);
      }
    }
  }
  if (!s.ok()) {
    spdlog::error("the KRL {} for sshd's RevokedKeys is not usable: {}", path_, s.ToString());
  }
  return s;
}

absl::StatusOr<RevocationSet> RevocationKeeper::CurrentLocked() {
  struct stat st {};
  if (known_ && fstatat(AT_FDCWD, path_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      SameFile(st, known_stat_)) {
    return *known_;
  }
  // known_ stays as it was until the file reads: what it held is what to write again when it
  // went missing or was damaged.
  KF_RETURN_IF_ERROR(path_status_);
  absl::StatusOr<SystemFileDir> dir = SystemFileDir::Open(dir_path_, false);
  if (!dir.ok()) {
    return absl::IsNotFound(dir.status()) ? absl::NotFoundError(dir.status().message())
                                          : dir.status();
  }
  absl::StatusOr<std::optional<std::string>> bytes = dir->Read(name_, kMaxKrlBytes);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return absl::NotFoundError(absl::StrCat(path_, " is missing"));
  absl::StatusOr<RevocationSet> set = ParseRevocationKrl(**bytes);
  if (!set.ok()) {
    return absl::DataLossError(
        absl::StrCat(path_, " is not a valid KRL: ", set.status().message()));
  }
  if (fstatat(dir->fd(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    known_ = *set;
    known_stat_ = st;
  }
  return set;
}

absl::Status RevocationKeeper::WriteLocked(const RevocationSet& set) {
  KF_RETURN_IF_ERROR(path_status_);
  absl::StatusOr<SystemFileDir> dir = SystemFileDir::Open(dir_path_, /*create=*/true);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::string> bytes = RevocationKrl(set, absl::Now());
  if (!bytes.ok()) return bytes.status();
  if (absl::Status s = dir->Replace(name_, *bytes, 0644); !s.ok()) return s;
  struct stat st {};
  if (fstatat(dir->fd(), name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    known_ = set;
    known_stat_ = st;
  }
  return absl::OkStatus();
}

std::string RevocationKeeper::Update(const v1::DesiredState& state, const RevocationFetcher& fetch,
                                     std::vector<std::string>* end_sessions) {
  if (end_sessions != nullptr) end_sessions->clear();
  if (path_.empty() || !state.has_revocations()) return "";
  const v1::Revocations& wanted = state.revocations();
  std::lock_guard<std::mutex> lock(mu_);
  // What the KRL holds, or held before it went missing or was damaged (then it is written
  // again at once: sshd refuses every key meanwhile).
  std::optional<RevocationSet> base;
  bool rewrite = false;
  absl::StatusOr<RevocationSet> current = CurrentLocked();
  if (current.ok()) {
    base = *std::move(current);
  } else if (absl::IsNotFound(current.status()) || absl::IsDataLoss(current.status())) {
    spdlog::error("{}: sshd refuses every key until it is written again; writing it now",
                  std::string(current.status().message()));
    rewrite = true;
    base = known_;
  } else {
    // A symlink, a foreign owner, an unreadable directory: nothing is written through it.
    return std::string(current.status().ToString());
  }
  const bool same_epoch = base && base->epoch == state.epoch();
  RevocationSet next;
  if (same_epoch && base->sha256.size() >= wanted.total()) {
    if (!rewrite) return "";
    next = *base;
  } else {
    next.epoch = state.epoch();
    if (same_epoch) next.sha256 = base->sha256;
    for (const std::string& digest : wanted.recent_sha256()) {
      if (digest.size() == kSha256DigestBytes) next.sha256.insert(digest);
    }
  }
  if (next.sha256.size() < wanted.total()) {
    // Too far behind (or of another epoch): the whole list.
    if (!fetch) {
      if (rewrite) WriteLocked(base ? *base : RevocationSet{}).IgnoreError();  // never missing
      return absl::StrCat("the KRL holds ", same_epoch ? base->sha256.size() : 0,
                          " of the fleet's ", wanted.total(),
                          " revoked keys and the controller cannot be asked for the rest now");
    }
    absl::StatusOr<RevocationSet> whole = fetch();
    std::string problem;
    if (!whole.ok()) {
      problem = absl::StrCat("cannot get the fleet's revoked keys from the controller: ",
                             whole.status().message());
    } else if (whole->epoch != state.epoch()) {
      problem = absl::StrCat("the controller's revoked keys are of epoch ", whole->epoch,
                             ", the desired state's of ", state.epoch());
    } else {
      for (const std::string& digest : wanted.recent_sha256()) {
        if (digest.size() == kSha256DigestBytes) whole->sha256.insert(digest);
      }
      if (whole->sha256.size() < wanted.total()) {
        problem = absl::StrCat("the controller sent ", whole->sha256.size(),
                               " revoked keys, fewer than the ", wanted.total(),
                               " its desired state counts");
      }
    }
    if (!problem.empty()) {
      if (rewrite) WriteLocked(base ? *base : RevocationSet{}).IgnoreError();  // never missing
      return absl::StrCat(problem, " (the KRL keeps what it held; asking again later)");
    }
    if (base && !base->epoch.empty() && base->epoch != state.epoch()) {
      spdlog::warn(
          "the controller's database history changed (epoch {} to {}): the KRL now holds its {} "
          "revoked keys instead of the {} it held; keys revoked only in the old history are no "
          "longer refused by sshd (revoke them again)",
          base->epoch, state.epoch(), whole->sha256.size(), base->sha256.size());
    }
    next = *std::move(whole);
  }
  for (const std::string& digest : wanted.kill_sessions_sha256()) {
    if (digest.size() == kSha256DigestBytes) next.kill_sessions.insert(digest);
  }
  if (absl::Status s = WriteLocked(next); !s.ok()) {
    return absl::StrCat("cannot write the KRL: ", s.message(), " (it keeps what it held)");
  }
  if (end_sessions != nullptr) {
    for (const std::string& digest : next.kill_sessions) {
      if (!next.sha256.count(digest)) continue;
      if (same_epoch && base->sha256.count(digest)) continue;  // not new: handled before
      end_sessions->push_back(digest);
    }
  }
  spdlog::info("KRL {} now holds {} revoked key(s)", path_, next.sha256.size());
  return "";
}

}  // namespace keyfleet::agent
