#include "node-agent/apply.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/authorized_keys_line.h"
#include "common/delivery_limits.h"
#include "common/report_limits.h"
#include "nlohmann/json.hpp"
#include "node-agent/managed_block.h"
#include "node-agent/observed_keys.h"
#include "node-agent/posix/safe_fs.h"
#include "node-agent/report_request.h"
#include "node-agent/report_text.h"

namespace keyfleet::agent {
namespace {

UnmanagedKeysMode ModeOf(const v1::AccountKeys& a) {
  if (a.exclusive() || a.unmanaged() == v1::UNMANAGED_KEYS_REMOVE) {
    return UnmanagedKeysMode::kRemove;
  }
  if (a.unmanaged() == v1::UNMANAGED_KEYS_REPORT) return UnmanagedKeysMode::kReport;
  return UnmanagedKeysMode::kKeep;
}

class AccountApplier {
 public:
  AccountApplier(SafeAccountFs& fs, const ApplySettings& settings, const PasswdFile& passwd,
                 StateVersion version, const PreviousLines* previous, ApplyReport* report)
      : fs_(fs),
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
      // Nothing to write, and the agent never writes such an account: nothing to report.
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
    if (static_cast<size_t>(desired.keys_size()) > kMaxManagedKeysPerAccount) {
      return refuse(v1::DRIFT_KIND_REFUSED_ACCOUNT, "",
                    absl::StrCat("the desired state has ", desired.keys_size(),
                                 " managed keys; the limit is ", kMaxManagedKeysPerAccount,
                                 " per account; nothing written"));
    }
    std::vector<std::string> lines;
    for (int i = 0; i < desired.keys_size(); ++i) {
      if (auto parsed = ParseAuthorizedKeysLine(desired.keys(i)); !parsed.ok()) {
        return refuse(v1::DRIFT_KIND_REFUSED_ACCOUNT, "",
                      absl::StrCat("desired line ", i + 1, " is invalid (",
                                   parsed.status().message(), "); nothing written"));
      }
      lines.push_back(desired.keys(i));
    }
    std::vector<Drift>& drift = report_->drift;
    absl::StatusOr<AccountDirs> dirs = fs_.Open(*account, /*create=*/!lines.empty(), &drift);
    if (!dirs.ok()) {
      if (dirs.status().code() == absl::StatusCode::kNotFound && lines.empty()) {
        Observe(name, "");
        report_->accounts.push_back({name, AccountOutcome::kUnchanged, "no .ssh, no keys"});
        return;
      }
      return Failed(name, dirs.status());
    }
    if (settings_.sweep_stale_temps) fs_.RemoveStaleTempFiles(*dirs);
    const std::string path = dirs->ssh_path + "/authorized_keys";
    if (fs_.HasAuthorizedKeys2(*dirs)) ObserveAuthorizedKeys2(*account, *dirs);
    absl::StatusOr<ExistingFile> existing = fs_.ReadAuthorizedKeys(*dirs);
    if (!existing.ok()) return Failed(name, existing.status());
    if (!existing->exists && lines.empty()) {
      Observe(name, "");
      report_->accounts.push_back({name, AccountOutcome::kUnchanged, "no file, no keys"});
      return;
    }
    ParsedAuthorizedKeys parsed = ParseAuthorizedKeysFile(existing->content);
    // Never an older state over a newer block this agent wrote: after a damaged cache slot the
    // agent may start from an older state, and writing it would put back keys a later state
    // removed (a revoked one among them). The file stays as it is until a newer state comes.
    if (parsed.state == BlockState::kIntact && parsed.hash_matches && MayBeNewer(parsed.version)) {
      Observe(name, existing->content);
      report_->accounts.push_back(
          {name, AccountOutcome::kRefused,
           absl::StrCat("the file holds ", DescribeVersion(parsed.version),
                        ", maybe newer than this state's ", DescribeVersion(version_),
                        " (an older cached state?): left as it is until the controller sends a "
                        "newer state")});
      return;
    }
    absl::StatusOr<MergeResult> merged =
        MergeAuthorizedKeys(parsed, lines, version_, ModeOf(desired));
    if (!merged.ok() && parsed.state == BlockState::kDamaged && previous_ != nullptr) {
      auto known = previous_->find(name);
      if (known != previous_->end()) {
        merged = RepairDamagedFile(parsed, known->second, lines, version_, ModeOf(desired));
      }
    }
    if (!merged.ok()) {
      drift.push_back({name, v1::DRIFT_KIND_DAMAGED_MARKER, path,
                       std::string(merged.status().message()), false});
      Observe(name, existing->content);
      report_->accounts.push_back(
          {name, AccountOutcome::kRefused, std::string(merged.status().message())});
      return;
    }
    for (Drift& d : merged->drift) {
      d.account = name;
      d.path = path;
      drift.push_back(std::move(d));
    }
    bool write = !existing->exists || existing->content != merged->content;
    if (existing->exists && existing->mode != 0600) {
      drift.push_back({name, v1::DRIFT_KIND_WRONG_MODE, path,
                       absl::StrFormat("mode was %o, rewritten as 600", existing->mode), true});
      write = true;
    }
    if (existing->exists && existing->uid != account->uid) {
      drift.push_back(
          {name, v1::DRIFT_KIND_WRONG_OWNER, path,
           absl::StrCat("owned by uid ", existing->uid, ", rewritten as ", account->uid), true});
      write = true;
    }
    if (!write) {
      Observe(name, existing->content);
      report_->accounts.push_back({name, AccountOutcome::kUnchanged, ""});
      return;
    }
    if (merged->content.size() > kMaxAuthorizedKeysFileBytes) {
      // Written, it could never be read back (nor changed again): refuse, keep the old file.
      Observe(name, existing->content);
      report_->accounts.push_back(
          {name, AccountOutcome::kRefused,
           absl::StrCat("the file would be ", merged->content.size(), " bytes, over the ",
                        kMaxAuthorizedKeysFileBytes,
                        "-byte limit; nothing written (the previous file stays)")});
      return;
    }
    if (absl::Status s = fs_.ReplaceAuthorizedKeys(*dirs, *account, merged->content); !s.ok()) {
      Observe(name, existing->content);  // the replacement is atomic: the old file stays
      return Failed(name, s);
    }
    Observe(name, merged->content);
    ++report_->writes;
    report_->accounts.push_back(
        {name, AccountOutcome::kWritten, absl::StrCat(lines.size(), " managed key(s)")});
  }

 private:
  // Records what `name`'s authorized_keys holds now (`content`) for the report, with the lines
  // of its authorized_keys2 (sshd's default AuthorizedKeysFile reads both).
  void Observe(const std::string& name, absl::string_view content) {
    v1::ObservedAccount& observed = report_->observed.emplace_back();
    observed.set_account(name);
    ObserveKeyLines(content, "authorized_keys", local_zone_, &budget_, &observed);
    if (keys2_account_ == name) {
      ObserveKeyLines(keys2_content_, "authorized_keys2", local_zone_, &budget_, &observed);
      observed.set_lines_left_out(observed.lines_left_out() + keys2_left_out_);
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

  void Failed(const std::string& name, const absl::Status& status) {
    const bool refused = status.code() == absl::StatusCode::kFailedPrecondition;
    if (refused) {
      report_->drift.push_back(
          {name, v1::DRIFT_KIND_UNSAFE_PATH, "", std::string(status.message()), false});
    }
    report_->accounts.push_back({name, refused ? AccountOutcome::kRefused : AccountOutcome::kFailed,
                                 std::string(status.message())});
  }

  SafeAccountFs& fs_;
  const ApplySettings& settings_;
  const PasswdFile& passwd_;
  // Whether a block written from `file` may be newer than this state. Within one epoch the
  // generations say; across epochs only a state from the controller is known to be current.
  bool MayBeNewer(const StateVersion& file) const {
    if (file.epoch == version_.epoch) return file.generation > version_.generation;
    return settings_.state_from_cache;
  }

  const StateVersion version_;
  const PreviousLines* previous_;
  ApplyReport* report_;
  const absl::TimeZone local_zone_ = absl::LocalTimeZone();
  std::string keys2_account_;  // the account whose authorized_keys2 keys2_content_ is
  std::string keys2_content_;
  uint32_t keys2_left_out_ = 0;
  ObservedBudget budget_{kMaxObservedReportBytes};
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
  SafeAccountFs fs(root.get(), settings.root == "/" ? "" : settings.root);
  AccountApplier applier(fs, settings, passwd, StateVersion(desired.epoch(), desired.generation()),
                         previous, &report);
  for (const v1::AccountKeys& account : desired.accounts()) applier.Apply(account);
  return report;
}

std::string ApplyReportToJson(const ApplyReport& report) {
  nlohmann::json out;
  out["generation"] = std::to_string(report.generation);
  if (!report.epoch.empty()) out["epoch"] = report.epoch;
  out["writes"] = report.writes;
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
