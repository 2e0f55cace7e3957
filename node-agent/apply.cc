#include "node-agent/apply.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/authorized_keys_line.h"
#include "common/delivery_limits.h"
#include "common/report_limits.h"
#include "nlohmann/json.hpp"
#include "node-agent/key_files.h"
#include "node-agent/keys_index_file.h"
#include "node-agent/managed_block.h"
#include "node-agent/observed_keys.h"
#include "node-agent/posix/root_key_dir.h"
#include "node-agent/posix/safe_fs.h"
#include "node-agent/report_request.h"
#include "node-agent/report_text.h"

namespace keyfleet::agent {
namespace {

// Central files are read by sshd as the account itself: readable by all, written by root only.
constexpr mode_t kCentralFileMode = 0644;

UnmanagedKeysMode ModeOf(const v1::AccountKeys& a) {
  if (a.exclusive() || a.unmanaged() == v1::UNMANAGED_KEYS_REMOVE) {
    return UnmanagedKeysMode::kRemove;
  }
  if (a.unmanaged() == v1::UNMANAGED_KEYS_REPORT) return UnmanagedKeysMode::kReport;
  return UnmanagedKeysMode::kKeep;
}

// What one of an account's files came to.
struct FileOutcome {
  AccountOutcome outcome = AccountOutcome::kUnchanged;
  std::string detail;
};

int Severity(AccountOutcome outcome) {
  switch (outcome) {
    case AccountOutcome::kFailed:
      return 4;
    case AccountOutcome::kRefused:
      return 3;
    case AccountOutcome::kWritten:
      return 2;
    default:
      return 1;
  }
}

class AccountApplier {
 public:
  AccountApplier(SafeAccountFs& fs, int root_fd, std::string root_label,
                 const ApplySettings& settings, const PasswdFile& passwd, StateVersion version,
                 const PreviousLines* previous, ApplyReport* report)
      : fs_(fs),
        root_fd_(root_fd),
        root_label_(std::move(root_label)),
        settings_(settings),
        passwd_(passwd),
        version_(std::move(version)),
        previous_(previous),
        report_(report) {}

  void Apply(const v1::AccountKeys& desired) {
    const std::string& name = desired.account();
    auto refuse = [&](v1::DriftKind kind, const std::string& path, std::string why) {
      report_->drift.push_back({name, kind, path, why, false});
      report_->accounts.push_back({name, AccountOutcome::kRefused, std::move(why)});
    };
    if (absl::Status s = ValidateUsername(name); !s.ok()) {
      return refuse(v1::DRIFT_KIND_REFUSED_ACCOUNT, "", std::string(s.message()));
    }
    std::optional<Account> account = passwd_.Find(name);
    if (desired.keys_size() == 0 &&
        (!account || !CheckAccountAllowed(*account, settings_.accounts).ok())) {
      // Nothing to write, and the agent never writes such an account: nothing to report (its
      // central file and index, if any, go in Finish).
      report_->accounts.push_back(
          {name, AccountOutcome::kSkipped,
           account ? "refused account, no keys" : "no such account, no keys"});
      return;
    }
    if (!account) {
      std::string why = absl::StrCat("no account named ", name, " on this host");
      report_->drift.push_back({name, v1::DRIFT_KIND_NO_SUCH_ACCOUNT, "", why, false});
      report_->accounts.push_back({name, AccountOutcome::kNoAccount, std::move(why)});
      return;
    }
    if (absl::Status s = CheckAccountAllowed(*account, settings_.accounts); !s.ok()) {
      return refuse(v1::DRIFT_KIND_REFUSED_ACCOUNT, "", std::string(s.message()));
    }
    // From here on nothing half-written: a refused state leaves the account's central file and
    // index as they are, like its home file.
    if (static_cast<size_t>(desired.keys_size()) > kMaxManagedKeysPerAccount) {
      KeepAsItIs(name);
      return refuse(v1::DRIFT_KIND_REFUSED_ACCOUNT, "",
                    absl::StrCat("the desired state has ", desired.keys_size(),
                                 " managed keys; the limit is ", kMaxManagedKeysPerAccount,
                                 " per account; nothing written"));
    }
    std::vector<std::string> lines;
    for (int i = 0; i < desired.keys_size(); ++i) {
      if (auto parsed = ParseAuthorizedKeysLine(desired.keys(i)); !parsed.ok()) {
        KeepAsItIs(name);
        return refuse(v1::DRIFT_KIND_REFUSED_ACCOUNT, "",
                      absl::StrCat("desired line ", i + 1, " is invalid (",
                                   parsed.status().message(), "); nothing written"));
      }
      lines.push_back(desired.keys(i));
    }
    const bool home = WritesHomeFiles(settings_.key_files);
    const bool central = WritesCentralFiles(settings_.key_files);
    home_content_.reset();
    keys2_account_.clear();
    std::vector<std::pair<const char*, FileOutcome>> parts;
    std::string notes;
    if (home) {
      parts.emplace_back("home", ApplyHome(*account, desired, lines, /*cleanup=*/false));
    } else {
      // Central only: sshd does not read the home file, but an old managed block there must
      // not stay (it would log in again if the mode or sshd_config changed back).
      FileOutcome cleanup = ApplyHome(*account, desired, {}, /*cleanup=*/true);
      if (NotApplied({name, cleanup.outcome, ""})) {
        absl::StrAppend(&notes,
                        "; its home file's managed lines were not removed: ", cleanup.detail);
      }
    }
    std::optional<std::string> central_content;
    if (central) parts.emplace_back("central", ApplyCentral(name, lines, &central_content));
    // A file refused this state as older than what it holds: the index keeps the lines of that
    // newer state too, or the AuthorizedKeysCommand would let in keys the files no longer have.
    const bool refused = std::any_of(parts.begin(), parts.end(), [](const auto& part) {
      return part.second.outcome == AccountOutcome::kRefused;
    });
    if (refused) {
      KeepAsItIs(name);
    } else if (!settings_.keys_index_dir.empty()) {
      UpdateIndex(name, lines, &notes);
    }
    Observe(name, home ? home_content_ : std::nullopt, central_content);
    AccountApplied applied{name, AccountOutcome::kUnchanged, ""};
    for (auto& [label, part] : parts) {
      if (Severity(part.outcome) > Severity(applied.outcome)) applied.outcome = part.outcome;
      if (part.detail.empty()) continue;
      if (!applied.detail.empty()) applied.detail += "; ";
      absl::StrAppend(&applied.detail, parts.size() > 1 ? absl::StrCat(label, ": ") : "",
                      part.detail);
    }
    applied.detail += notes;
    report_->accounts.push_back(std::move(applied));
  }

  // After every account: removes the central files (home mode: all of them) and index files
  // of accounts the state gives no managed keys (dropped, gone from the host, refused).
  void Finish() {
    absl::StatusOr<const RootKeyDir*> central = CentralDir(/*create=*/false);
    if (central.ok()) {
      Sweep(**central,
            WritesCentralFiles(settings_.key_files) ? central_keep_ : std::set<std::string>());
    } else if (!absl::IsNotFound(central.status())) {
      HostProblem(central.status(), "central key files");
    }
    if (!settings_.keys_index_dir.empty()) {
      absl::StatusOr<const RootKeyDir*> index = IndexDir();
      if (index.ok()) Sweep(**index, index_keep_);
    }
  }

 private:
  // A refused account's central file and index stay as they were.
  void KeepAsItIs(const std::string& name) {
    central_keep_.insert(name);
    index_keep_.insert(name);
  }

  // The home file: `lines` as the managed block, or, for `cleanup` (central mode), no managed
  // block and the user's own lines left alone, with only what concerns that reported.
  FileOutcome ApplyHome(const Account& account, const v1::AccountKeys& desired,
                        const std::vector<std::string>& lines, bool cleanup) {
    const std::string& name = account.name;
    std::vector<Drift>& drift = report_->drift;
    std::vector<Drift> open_drift;
    absl::StatusOr<AccountDirs> dirs =
        fs_.Open(account, /*create=*/!lines.empty(), cleanup ? &open_drift : &drift);
    // What sshd would refuse does not matter for a file it does not read; repairs do.
    for (Drift& d : open_drift) {
      if (d.repaired) drift.push_back(std::move(d));
    }
    if (!dirs.ok()) {
      if (dirs.status().code() == absl::StatusCode::kNotFound && lines.empty()) {
        home_content_ = "";
        return {AccountOutcome::kUnchanged, "no .ssh, no keys"};
      }
      return Failed(name, dirs.status());
    }
    if (settings_.sweep_stale_temps) fs_.RemoveStaleTempFiles(*dirs);
    const std::string path = dirs->ssh_path + "/authorized_keys";
    if (!cleanup && fs_.HasAuthorizedKeys2(*dirs)) ObserveAuthorizedKeys2(account, *dirs);
    absl::StatusOr<ExistingFile> existing = fs_.ReadAuthorizedKeys(*dirs);
    if (!existing.ok()) return Failed(name, existing.status());
    if (!existing->exists && lines.empty()) {
      home_content_ = "";
      return {AccountOutcome::kUnchanged, "no file, no keys"};
    }
    ParsedAuthorizedKeys parsed = ParseAuthorizedKeysFile(existing->content);
    // Never an older state over a newer block this agent wrote: after a damaged cache slot the
    // agent may start from an older state, and writing it would put back keys a later state
    // removed (a revoked one among them). The file stays as it is until a newer state comes.
    // Removing the block (cleanup) puts nothing back.
    if (!cleanup && parsed.state == BlockState::kIntact && parsed.hash_matches &&
        MayBeNewer(parsed.version)) {
      home_content_ = existing->content;
      return {AccountOutcome::kRefused,
              absl::StrCat("the file holds ", DescribeVersion(parsed.version),
                           ", maybe newer than this state's ", DescribeVersion(version_),
                           " (an older cached state?): left as it is until the controller sends "
                           "a newer state")};
    }
    if (cleanup && parsed.state == BlockState::kNone) {
      home_content_ = existing->content;
      return {AccountOutcome::kUnchanged, ""};
    }
    const UnmanagedKeysMode mode = cleanup ? UnmanagedKeysMode::kKeep : ModeOf(desired);
    absl::StatusOr<MergeResult> merged = MergeAuthorizedKeys(parsed, lines, version_, mode);
    if (!merged.ok() && parsed.state == BlockState::kDamaged && previous_ != nullptr) {
      auto known = previous_->find(name);
      if (known != previous_->end()) {
        merged = RepairDamagedFile(parsed, known->second, lines, version_, mode);
      }
    }
    if (!merged.ok()) {
      drift.push_back({name, v1::DRIFT_KIND_DAMAGED_MARKER, path,
                       std::string(merged.status().message()), false});
      home_content_ = existing->content;
      return {AccountOutcome::kRefused, std::string(merged.status().message())};
    }
    for (Drift& d : merged->drift) {
      d.account = name;
      d.path = path;
      drift.push_back(std::move(d));
    }
    if (cleanup) {
      // The merge left an empty block (markers, no keys); central mode leaves none at all.
      const ParsedAuthorizedKeys emptied = ParseAuthorizedKeysFile(merged->content);
      if (emptied.state == BlockState::kIntact) {
        merged->content =
            absl::StrCat(absl::StrJoin(emptied.before, ""), absl::StrJoin(emptied.after, ""));
      }
    }
    bool write = !existing->exists || existing->content != merged->content;
    if (!cleanup && existing->exists && existing->mode != 0600) {
      drift.push_back({name, v1::DRIFT_KIND_WRONG_MODE, path,
                       absl::StrFormat("mode was %o, rewritten as 600", existing->mode), true});
      write = true;
    }
    if (!cleanup && existing->exists && existing->uid != account.uid) {
      drift.push_back({name, v1::DRIFT_KIND_WRONG_OWNER, path,
                       absl::StrCat("owned by uid ", existing->uid, ", rewritten as ", account.uid),
                       true});
      write = true;
    }
    if (!write) {
      home_content_ = existing->content;
      return {AccountOutcome::kUnchanged, ""};
    }
    if (merged->content.size() > kMaxAuthorizedKeysFileBytes) {
      // Written, it could never be read back (nor changed again): refuse, keep the old file.
      home_content_ = existing->content;
      return {AccountOutcome::kRefused,
              absl::StrCat("the file would be ", merged->content.size(), " bytes, over the ",
                           kMaxAuthorizedKeysFileBytes,
                           "-byte limit; nothing written (the previous file stays)")};
    }
    if (absl::Status s = fs_.ReplaceAuthorizedKeys(*dirs, account, merged->content); !s.ok()) {
      home_content_ = existing->content;  // the replacement is atomic: the old file stays
      return Failed(name, s);
    }
    home_content_ = merged->content;
    ++report_->writes;
    return {AccountOutcome::kWritten, cleanup ? absl::StrCat("managed lines removed from ", path)
                                              : absl::StrCat(lines.size(), " managed key(s)")};
  }

  // The account's central file: the managed block alone (the whole file is the agent's),
  // root-owned, kCentralFileMode; removed when there are no lines. `content` gets what it holds
  // afterwards, when known.
  FileOutcome ApplyCentral(const std::string& name, const std::vector<std::string>& lines,
                           std::optional<std::string>* content) {
    absl::StatusOr<const RootKeyDir*> dir = CentralDir(/*create=*/!lines.empty());
    if (!dir.ok()) {
      if (absl::IsNotFound(dir.status()) && lines.empty()) {
        *content = "";
        return {AccountOutcome::kUnchanged, "no central file, no keys"};
      }
      return Failed(name, dir.status());
    }
    const std::string path = (*dir)->path() + "/" + name;
    absl::StatusOr<RootKeyFile> existing =
        (*dir)->Read(name, kMaxAuthorizedKeysFileBytes, /*whole=*/true);
    if (!existing.ok() && absl::IsFailedPrecondition(existing.status())) {
      existing = RootKeyFile{};  // too large: replaced like any other wrong file
      existing->exists = true;
      report_->drift.push_back(
          {name, v1::DRIFT_KIND_UNSAFE_PATH, path, std::string(existing.status().message()), true});
    }
    if (!existing.ok()) return Failed(name, existing.status());
    if (lines.empty()) {
      if (!existing->exists) {
        *content = "";
        return {AccountOutcome::kUnchanged, "no central file, no keys"};
      }
      if (absl::Status s = (*dir)->Remove(name); !s.ok()) return Failed(name, s);
      *content = "";
      ++report_->writes;
      return {AccountOutcome::kWritten, absl::StrCat("removed ", path, " (no managed keys)")};
    }
    central_keep_.insert(name);
    const std::string want = RenderManagedBlock(lines, version_);
    ParsedAuthorizedKeys parsed;
    if (existing->regular) {
      parsed = ParseAuthorizedKeysFile(existing->content);
      if (parsed.state == BlockState::kIntact && parsed.hash_matches &&
          MayBeNewer(parsed.version)) {
        *content = existing->content;
        return {AccountOutcome::kRefused,
                absl::StrCat(path, " holds ", DescribeVersion(parsed.version),
                             ", maybe newer than this state's ", DescribeVersion(version_),
                             " (an older cached state?): left as it is until the controller "
                             "sends a newer state")};
      }
    }
    bool write = !existing->exists || !existing->regular || existing->content != want;
    std::vector<Drift>& drift = report_->drift;
    if (existing->exists && !existing->regular) {
      drift.push_back({name, v1::DRIFT_KIND_UNSAFE_PATH, path,
                       "was not a regular file (a symbolic link, a FIFO…): replaced by one", true});
    } else if (existing->exists && write &&
               (parsed.state != BlockState::kIntact || !parsed.hash_matches ||
                !parsed.before.empty() || !parsed.after.empty() || parsed.version == version_)) {
      drift.push_back({name, v1::DRIFT_KIND_MANAGED_KEY_EDITED, path,
                       "edited by hand (the whole file is keyfleet's): rewritten", true});
    }
    if (existing->exists && existing->uid != 0) {
      drift.push_back({name, v1::DRIFT_KIND_WRONG_OWNER, path,
                       absl::StrCat("owned by uid ", existing->uid, ", rewritten as root's"),
                       true});
      write = true;
    }
    if (existing->exists && existing->regular && existing->mode != kCentralFileMode) {
      drift.push_back(
          {name, v1::DRIFT_KIND_WRONG_MODE, path,
           absl::StrFormat("mode was %o, rewritten as %o", existing->mode, kCentralFileMode),
           true});
      write = true;
    }
    if (existing->exists && existing->links > 1) {
      drift.push_back({name, v1::DRIFT_KIND_UNSAFE_PATH, path,
                       absl::StrCat("had ", existing->links, " hard links: replaced"), true});
      write = true;
    }
    if (!write) {
      *content = existing->content;
      return {AccountOutcome::kUnchanged, ""};
    }
    if (want.size() > kMaxAuthorizedKeysFileBytes) {
      if (existing->regular) *content = existing->content;
      return {AccountOutcome::kRefused,
              absl::StrCat(path, " would be ", want.size(), " bytes, over the ",
                           kMaxAuthorizedKeysFileBytes, "-byte limit; nothing written")};
    }
    if (absl::Status s = (*dir)->Replace(name, want, kCentralFileMode); !s.ok()) {
      if (existing->regular) *content = existing->content;
      return Failed(name, s);
    }
    *content = want;
    ++report_->writes;
    return {AccountOutcome::kWritten, absl::StrCat(lines.size(), " managed key(s) in ", path)};
  }

  // The account's keys index. A problem is noted on the account and reported as drift, never
  // a failed account: sshd may not use the index at all.
  void UpdateIndex(const std::string& name, const std::vector<std::string>& lines,
                   std::string* notes) {
    if (lines.empty()) return;  // not kept: Finish removes its file
    absl::StatusOr<const RootKeyDir*> dir = IndexDir();
    if (!dir.ok()) {
      if (!absl::IsNotFound(dir.status())) index_keep_.insert(name);
      return;
    }
    index_keep_.insert(name);
    bool written = false;
    if (absl::Status s = UpdateKeysIndexFile(**dir, name, lines, &written); !s.ok()) {
      absl::StrAppend(notes, "; its keys index was not written: ", s.message());
      report_->drift.push_back({name, v1::DRIFT_KIND_UNSAFE_PATH, (*dir)->path() + "/" + name,
                                absl::StrCat("keys index not written: ", s.message()), false});
      return;
    }
    if (written) ++report_->writes;
  }

  absl::StatusOr<const RootKeyDir*> CentralDir(bool create) {
    if (!central_dir_ || (create && absl::IsNotFound(central_dir_->status()))) {
      std::vector<std::string> repaired;
      central_dir_ = RootKeyDir::Open(root_fd_, root_label_, kCentralKeysDir,
                                      kCentralKeysSystemComponents, create, &repaired);
      for (std::string& r : repaired) {
        report_->drift.push_back({"", v1::DRIFT_KIND_WRONG_MODE, "", std::move(r), true});
      }
    }
    if (!central_dir_->ok()) return central_dir_->status();
    return &**central_dir_;
  }

  // The index directory, created when missing; NOT_FOUND (said nowhere) when its parent is
  // missing. Any other problem is reported once, as drift of the host.
  absl::StatusOr<const RootKeyDir*> IndexDir() {
    if (!index_dir_) {
      const std::string& path = settings_.keys_index_dir;
      size_t components = 0;
      for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
        (void)part;
        ++components;
      }
      std::vector<std::string> repaired;
      index_dir_ =
          RootKeyDir::Open(root_fd_, root_label_, path, components > 0 ? components - 1 : 0,
                           /*create=*/true, &repaired);
      for (std::string& r : repaired) {
        report_->drift.push_back({"", v1::DRIFT_KIND_WRONG_MODE, "", std::move(r), true});
      }
      if (!index_dir_->ok() && !absl::IsNotFound(index_dir_->status())) {
        HostProblem(index_dir_->status(), "keys index");
      }
    }
    if (!index_dir_->ok()) return index_dir_->status();
    return &**index_dir_;
  }

  void HostProblem(const absl::Status& status, absl::string_view what) {
    report_->drift.push_back({"", v1::DRIFT_KIND_UNSAFE_PATH, "",
                              absl::StrCat(what, " not kept: ", status.message()), false});
  }

  // Removes every entry of `dir` not named in `keep`, leftovers of interrupted writes included.
  void Sweep(const RootKeyDir& dir, const std::set<std::string>& keep) {
    absl::StatusOr<std::vector<std::string>> names = dir.Names();
    if (!names.ok()) return HostProblem(names.status(), dir.path());
    for (const std::string& name : *names) {
      if (keep.count(name)) continue;
      if (absl::Status s = dir.Remove(name); !s.ok()) {
        HostProblem(s, dir.path());
      } else {
        ++report_->writes;
      }
    }
  }

  // Records what `name`'s files hold now for the report: the home file (with the lines of its
  // authorized_keys2: sshd's default AuthorizedKeysFile reads both) and the central file, as
  // the agent's mode has sshd read them.
  void Observe(const std::string& name, const std::optional<std::string>& home,
               const std::optional<std::string>& central) {
    if (!home && !central) return;
    v1::ObservedAccount& observed = report_->observed.emplace_back();
    observed.set_account(name);
    if (home) {
      ObserveKeyLines(*home, "authorized_keys", local_zone_, &budget_, &observed);
      if (keys2_account_ == name) {
        ObserveKeyLines(keys2_content_, "authorized_keys2", local_zone_, &budget_, &observed);
        observed.set_lines_left_out(observed.lines_left_out() + keys2_left_out_);
      }
    }
    if (central) {
      // The central file is one managed block, read the way a home file's block is.
      const int from = observed.lines_size();
      ObserveKeyLines(*central, "authorized_keys", local_zone_, &budget_, &observed);
      const std::string file = CentralKeyFilePath(name);
      for (int i = from; i < observed.lines_size(); ++i) observed.mutable_lines(i)->set_file(file);
    }
  }

  // authorized_keys2 is never written, only read and reported: its lines log in like any other
  // unmanaged line unless sshd ignores the file.
  void ObserveAuthorizedKeys2(const Account& account, const AccountDirs& dirs) {
    const std::string path = dirs.ssh_path + "/authorized_keys2";
    keys2_account_ = account.name;
    keys2_content_.clear();
    keys2_left_out_ = 0;
    std::string detail = "authorized_keys2 exists; keys there are not managed by keyfleet";
    absl::StatusOr<ExistingFile> file = fs_.ReadKeyFile(dirs, "authorized_keys2");
    if (!file.ok()) {
      keys2_left_out_ = 1;  // unreadable here, perhaps not for sshd: access may be wider
      absl::StrAppend(&detail, " (not read: ", file.status().message(), ")");
    } else if (std::optional<StrictModesRefusal> refused = fs_.FileRefusal(path, *file, account)) {
      absl::StrAppend(&detail, refused->certain ? "; sshd ignores it: " : "; sshd may ignore it: ",
                      StrictModesMessage(*refused, account.name));
      // Unsure: its lines are not reported, but counted, so access says it may be wider.
      if (!refused->certain) keys2_left_out_ = 1;
    } else {
      keys2_content_ = file->content;
      absl::StrAppend(&detail, " (they log in too)");
    }
    report_->drift.push_back({account.name, v1::DRIFT_KIND_AUTHORIZED_KEYS2, path, detail, false});
  }

  FileOutcome Failed(const std::string& name, const absl::Status& status) {
    const bool refused = status.code() == absl::StatusCode::kFailedPrecondition;
    if (refused) {
      report_->drift.push_back(
          {name, v1::DRIFT_KIND_UNSAFE_PATH, "", std::string(status.message()), false});
    }
    return {refused ? AccountOutcome::kRefused : AccountOutcome::kFailed,
            std::string(status.message())};
  }

  // Whether a block written from `file` may be newer than this state. Within one epoch the
  // generations say; across epochs only a state from the controller is known to be current.
  bool MayBeNewer(const StateVersion& file) const {
    if (file.epoch == version_.epoch) return file.generation > version_.generation;
    return settings_.state_from_cache;
  }

  SafeAccountFs& fs_;
  const int root_fd_;
  const std::string root_label_;
  const ApplySettings& settings_;
  const PasswdFile& passwd_;
  const StateVersion version_;
  const PreviousLines* previous_;
  ApplyReport* report_;
  const absl::TimeZone local_zone_ = absl::LocalTimeZone();
  std::optional<std::string> home_content_;  // the account's home file now, when known
  std::string keys2_account_;                // the account whose authorized_keys2 keys2_content_ is
  std::string keys2_content_;
  uint32_t keys2_left_out_ = 0;
  ObservedBudget budget_{kMaxObservedReportBytes};
  std::optional<absl::StatusOr<RootKeyDir>> central_dir_;  // opened on first use
  std::optional<absl::StatusOr<RootKeyDir>> index_dir_;
  std::set<std::string> central_keep_;  // accounts whose central file stays
  std::set<std::string> index_keep_;    // accounts whose index file stays
};

}  // namespace

const char* AccountOutcomeName(AccountOutcome outcome) {
  switch (outcome) {
    case AccountOutcome::kWritten:
      return "written";
    case AccountOutcome::kUnchanged:
      return "unchanged";
    case AccountOutcome::kNoAccount:
      return "no-account";
    case AccountOutcome::kSkipped:
      return "skipped";
    case AccountOutcome::kRefused:
      return "refused";
    case AccountOutcome::kFailed:
      return "failed";
  }
  return "?";
}

PreviousLines PreviousLinesOf(const v1::DesiredState& applied) {
  PreviousLines out;
  for (const v1::AccountKeys& a : applied.accounts()) {
    out[a.account()].insert(a.keys().begin(), a.keys().end());
  }
  return out;
}

ApplyReport ApplyDesiredState(const v1::DesiredState& desired, const ApplySettings& settings,
                              const PasswdFile& passwd, const PreviousLines* previous) {
  ApplyReport report;
  report.generation = desired.generation();
  report.epoch = desired.epoch();
  report.digest = desired.digest();
  int root_fd = open(settings.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    report.accounts.push_back(
        {"", AccountOutcome::kFailed, absl::StrCat("cannot open root directory ", settings.root)});
    return report;
  }
  UniqueFd root(root_fd);
  const std::string root_label = settings.root == "/" ? "" : settings.root;
  SafeAccountFs fs(root.get(), root_label);
  report.key_files = settings.key_files;
  AccountApplier applier(fs, root.get(), root_label, settings, passwd,
                         StateVersion(desired.epoch(), desired.generation()), previous, &report);
  for (const v1::AccountKeys& account : desired.accounts()) applier.Apply(account);
  applier.Finish();
  return report;
}

std::string ApplyReportToJson(const ApplyReport& report) {
  nlohmann::json out;
  out["generation"] = std::to_string(report.generation);
  if (!report.epoch.empty()) out["epoch"] = report.epoch;
  out["writes"] = report.writes;
  out["key_files"] = KeyFilesModeName(report.key_files);
  out["accounts"] = nlohmann::json::array();
  // Made valid UTF-8 as a report's are (JSON holds nothing else): a path or a message may hold
  // any byte. Not budgeted: this goes to the terminal, not to the controller.
  for (const AccountApplied& a : report.accounts) {
    out["accounts"].push_back({{"account", a.account},
                               {"outcome", AccountOutcomeName(a.outcome)},
                               {"detail", ReportText(a.detail, kMaxReportTextBytes)}});
  }
  out["drift"] = nlohmann::json::array();
  for (const Drift& d : report.drift) {
    const v1::DriftItem item = ReportedDriftItem(d);
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(item, &json, options);
    out["drift"].push_back(nlohmann::json::parse(json));
  }
  return out.dump(2);
}

}  // namespace keyfleet::agent
