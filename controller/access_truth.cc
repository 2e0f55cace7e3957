#include "controller/access_truth.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/authorized_keys_line.h"
#include "common/delivery_limits.h"
#include "common/source_address_match.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

// At most `limit` bytes of an agent's text, control characters dropped. Not escaped: options
// are parsed again and compared with the desired line's (PrintableName's C escapes turned every
// quote into \" and cut at a hostname's length, so no managed line with options ever matched).
std::string Cut(const std::string& text, size_t limit) {
  std::string out;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (out.size() == limit) {
      // Cut: do not leave half a UTF-8 sequence at the end.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) {
        out.pop_back();
      }
      if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
      break;
    }
    out.push_back(c);
  }
  return out;
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone());
}

// Kinds of drift after which sshd lets no key in through the account's files.
bool SshdRefuses(const std::string& kind) {
  return kind == "DRIFT_KIND_NO_SUCH_ACCOUNT" || kind == "DRIFT_KIND_SSHD_WILL_REFUSE";
}
// Kinds after which the agent did not read the files: what sshd does there is unknown.
// (or whether sshd uses them at all cannot be told).
bool FilesUnread(const std::string& kind) {
  return kind == "DRIFT_KIND_UNSAFE_PATH" || kind == "DRIFT_KIND_REFUSED_ACCOUNT" ||
         kind == "DRIFT_KIND_SSHD_MAY_REFUSE";
}

// The options of a line the desired state wants, rendered as the agent renders what it reads.
struct DesiredParts {
  std::string options;
  std::optional<absl::Time> expires_at;
  std::string comment;
  std::string key_type;
};
DesiredParts PartsOf(const AccessLine& line) {
  DesiredParts parts;
  absl::StatusOr<AuthorizedKeysLine> parsed = ParseAuthorizedKeysLine(line.line->text);
  if (!parsed.ok()) return parts;  // cannot happen: the view renders valid lines
  parts.options = RenderAuthorizedKeysOptions(parsed->options);
  // keyfleet writes expiry-time in UTC ("Z"), so the host's zone does not matter here.
  parts.expires_at = parsed->options.EarliestExpiry(absl::UTCTimeZone());
  parts.comment = parsed->key.comment;
  parts.key_type = std::string(KeyTypeName(parsed->key.type));
  return parts;
}

// What sshd (OpenSSH 9.2, Debian's defaults) does with a line it reads, for a key that matches
// it: false with the reason when it refuses, else true with what limits it.
void JudgeLineInFile(AccessVerdict& v, absl::Time now) {
  absl::StatusOr<AuthorizedKeysOptions> options =
      v.options.empty() ? AuthorizedKeysOptions() : ParseAuthorizedKeysOptions(v.options);
  if (!options.ok()) {
    v.logs_in = false;
    v.why = absl::StrCat("sshd cannot read this line's options (", options.status().message(), ")");
    return;
  }
  if (options->Has("cert-authority")) {
    v.logs_in = false;
    v.why = "cert-authority: certificates this key signed log in, the key itself does not";
    return;
  }
  if (v.key_type == "ssh-dss" || v.key_type == "ssh-dss-cert-v01@openssh.com") {
    v.logs_in = false;
    v.why = "sshd 9.2 does not accept DSA keys (PubkeyAcceptedAlgorithms)";
    return;
  }
  if (v.expires_at && *v.expires_at < now) {
    v.logs_in = false;
    v.why = absl::StrCat("expired at ", TimeText(*v.expires_at), " (expiry-time in the line)");
    return;
  }
  v.logs_in = true;
  if (const std::string* from = options->Value("from")) {
    v.why = absl::StrCat(v.why.empty() ? "" : v.why + "; ", "only from ", *from);
  }
}

}  // namespace

std::string ObservedToJson(const std::vector<ObservedAccountRecord>& accounts) {
  nlohmann::json out = nlohmann::json::array();
  for (const ObservedAccountRecord& a : accounts) {
    nlohmann::json lines = nlohmann::json::array();
    for (const ObservedLineRecord& l : a.lines) {
      nlohmann::json line = {{"fp", Cut(l.fingerprint, 128)},
                             {"managed", l.managed},
                             {"options", Cut(l.options, kMaxObservedOptionsBytes)},
                             {"comment", Cut(l.comment, kMaxObservedCommentBytes)},
                             {"file", Cut(l.file, 64)},
                             {"type", Cut(l.key_type, 64)}};
      if (l.expires_at) line["expires"] = absl::ToUnixSeconds(*l.expires_at);
      lines.push_back(std::move(line));
    }
    out.push_back({{"account", Cut(a.account, 64)},
                   {"left_out", a.lines_left_out},
                   {"lines", std::move(lines)}});
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::vector<ObservedAccountRecord>> ObservedFromJson(const std::string& json) {
  std::vector<ObservedAccountRecord> out;
  try {
    nlohmann::json parsed = nlohmann::json::parse(json);
    for (const nlohmann::json& a : parsed) {
      ObservedAccountRecord account;
      account.account = a.at("account").get<std::string>();
      account.lines_left_out = a.at("left_out").get<uint32_t>();
      for (const nlohmann::json& l : a.at("lines")) {
        ObservedLineRecord line;
        line.fingerprint = l.at("fp").get<std::string>();
        line.managed = l.at("managed").get<bool>();
        line.options = l.at("options").get<std::string>();
        line.comment = l.at("comment").get<std::string>();
        line.file = l.at("file").get<std::string>();
        line.key_type = l.at("type").get<std::string>();
        if (l.contains("expires"))
          line.expires_at = absl::FromUnixSeconds(l["expires"].get<int64_t>());
        account.lines.push_back(std::move(line));
      }
      out.push_back(std::move(account));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(
        absl::StrCat("the host's key-line report cannot be read: ", e.what()));
  }
  return out;
}

std::vector<AccountProblem> ProblemsFromDriftJson(const std::string& drift_json) {
  std::vector<AccountProblem> out;
  nlohmann::json parsed = nlohmann::json::parse(drift_json, nullptr, false);
  if (!parsed.is_array()) return out;
  for (const nlohmann::json& d : parsed) {
    if (!d.is_object()) continue;
    AccountProblem p;
    p.account = d.value("account", "");
    p.kind = d.value("kind", "");
    p.detail = d.value("detail", "");
    if (p.account.empty() || p.kind.empty()) continue;
    out.push_back(std::move(p));
  }
  return out;
}

const char* AccessStateName(AccessState state) {
  switch (state) {
    case AccessState::kActive:
      return "active";
    case AccessState::kPendingAdd:
      return "pending-add";
    case AccessState::kPendingRemoval:
      return "pending-removal";
    case AccessState::kUnmanaged:
      return "unmanaged";
    case AccessState::kUnreported:
      return "unreported";
  }
  return "?";
}

AccessAnswer ComputeAccess(const AccessInputs& in, const std::string& only, absl::Time now) {
  AccessAnswer answer;
  answer.files_reported = in.observed.has_value();
  answer.key_files = in.key_files;
  answer.change_pending = !in.converged;
  answer.desired_generation = in.desired_generation;
  answer.applied_generation = in.applied_generation;
  // An expiry recompute keeps the generation: then it is the state, not the generation, that
  // is pending.
  const std::string pending_text =
      in.applied_generation == in.desired_generation && in.desired_generation != 0
          ? absl::StrCat("the host has not applied generation ", in.desired_generation,
                         "'s recomputed state (an expiry) yet")
          : absl::StrCat("the host has not applied generation ", in.desired_generation, " yet");

  // Every account anything mentions.
  std::map<std::string, AccountAccessFacts> facts;
  auto wanted = [&](const std::string& account) { return only.empty() || account == only; };
  for (const AccessLine& l : in.desired) {
    if (wanted(l.account)) facts[l.account].account = l.account;
  }
  std::map<std::string, const ObservedAccountRecord*> observed;
  if (in.observed) {
    for (const ObservedAccountRecord& a : *in.observed) {
      if (!wanted(a.account)) continue;
      observed[a.account] = &a;
      facts[a.account].account = a.account;
      facts[a.account].observed = true;
      facts[a.account].lines_left_out = a.lines_left_out;
    }
  }
  if (!only.empty()) facts[only].account = only;
  for (const AccountProblem& p : in.problems) {
    auto it = facts.find(p.account);
    if (it == facts.end()) continue;
    if (SshdRefuses(p.kind)) it->second.sshd_refuses = true;
    if (FilesUnread(p.kind) || p.kind == "FAILED") it->second.unknown |= FilesUnread(p.kind);
    if (SshdRefuses(p.kind) || FilesUnread(p.kind) || p.kind == "FAILED" ||
        p.kind == "DRIFT_KIND_AUTHORIZED_KEYS2" || p.kind == "DRIFT_KIND_DAMAGED_MARKER") {
      it->second.facts.push_back(p.kind == "FAILED" ? "could not write: " + p.detail : p.detail);
    }
  }
  for (auto& [account, f] : facts) {
    if (f.lines_left_out > 0) {
      f.facts.push_back(absl::StrCat(f.lines_left_out,
                                     " key line(s) not reported (unreadable, or over the report "
                                     "limit): access may be wider than listed"));
    }
  }

  std::map<std::string, std::vector<const AccessLine*>> desired_by_account;
  for (const AccessLine& l : in.desired) {
    if (wanted(l.account)) desired_by_account[l.account].push_back(&l);
  }
  for (auto& [account, f] : facts) {
    std::vector<AccessVerdict> rows;
    auto obs = observed.find(account);
    const bool have_files = obs != observed.end() && !f.unknown;
    // Desired lines, matched against the managed lines in the file by key and options.
    std::vector<bool> used(have_files ? obs->second->lines.size() : 0, false);
    for (const AccessLine* l : desired_by_account[account]) {
      DesiredParts parts = PartsOf(*l);
      AccessVerdict v;
      v.account = account;
      v.fingerprint = l->fingerprint;
      v.grant_id = l->grant_id;
      v.desired_line = l->line->text;
      v.options = parts.options;
      v.expires_at = parts.expires_at;
      v.comment = parts.comment;
      v.key_type = parts.key_type;
      if (!have_files) {
        v.state = AccessState::kUnreported;
        v.known = false;
        v.logs_in = in.converged && !f.sshd_refuses && !f.unknown;
        v.why = f.unknown     ? "the agent could not read this account's files"
                : in.observed ? "the host reported no files for this account"
                              : "the host has not reported its files";
        if (in.converged && !f.unknown) JudgeLineInFile(v, now);
        if (!in.converged) v.why += "; " + pending_text;
        rows.push_back(std::move(v));
        continue;
      }
      bool found = false;
      for (size_t i = 0; i < used.size(); ++i) {
        const ObservedLineRecord& o = obs->second->lines[i];
        if (used[i] || !o.managed || o.fingerprint != l->fingerprint ||
            o.options != parts.options) {
          continue;
        }
        used[i] = true;
        found = true;
        v.expires_at = o.expires_at;
        v.file = o.file;
        break;
      }
      if (found) {
        v.state = AccessState::kActive;
        JudgeLineInFile(v, now);
      } else if (obs->second->lines_left_out > 0) {
        // Perhaps among the lines the host did not report: unknown, not a sure "no".
        v.state = AccessState::kPendingAdd;
        v.known = false;
        v.logs_in = false;
        v.why = absl::StrCat("not among the reported lines (", obs->second->lines_left_out,
                             " were left out): it may be in the file");
      } else {
        v.state = AccessState::kPendingAdd;
        v.logs_in = false;
        v.why = absl::StrCat("not in the file yet: ",
                             in.converged ? "the host has not reported it" : pending_text);
      }
      rows.push_back(std::move(v));
    }
    // Lines in the file nothing matched: managed ones on their way out, and the user's own.
    if (have_files) {
      for (size_t i = 0; i < used.size(); ++i) {
        if (used[i]) continue;
        const ObservedLineRecord& o = obs->second->lines[i];
        AccessVerdict v;
        v.account = account;
        v.fingerprint = o.fingerprint;
        v.options = o.options;
        v.expires_at = o.expires_at;
        v.comment = o.comment;
        v.file = o.file;
        v.key_type = o.key_type;
        v.state = o.managed ? AccessState::kPendingRemoval : AccessState::kUnmanaged;
        JudgeLineInFile(v, now);
        if (v.logs_in) {
          v.why =
              absl::StrCat(o.managed ? "no longer desired, but still in the file until "
                                     : "a line keyfleet did not write, in ",
                           o.managed ? pending_text : o.file, v.why.empty() ? "" : "; " + v.why);
        }
        rows.push_back(std::move(v));
      }
    }
    if (f.sshd_refuses) {
      const std::string reason =
          f.facts.empty() ? "sshd refuses this account's keys" : f.facts.front();
      for (AccessVerdict& v : rows) {
        v.logs_in = false;
        v.why = reason;
      }
    }
    std::stable_sort(rows.begin(), rows.end(), [](const AccessVerdict& a, const AccessVerdict& b) {
      return a.fingerprint < b.fingerprint;
    });
    for (AccessVerdict& v : rows) answer.entries.push_back(std::move(v));
    answer.accounts.push_back(f);
  }
  return answer;
}

absl::StatusOr<VerifyResult> VerifyKeyAccess(const AccessAnswer& answer, const std::string& account,
                                             const std::string& fingerprint,
                                             const std::string& from_address) {
  std::optional<SourceAddress> source;
  if (!from_address.empty()) {
    absl::StatusOr<SourceAddress> parsed = ParseSourceAddress(from_address);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--from: ", parsed.status().message()));
    }
    source = *parsed;
  }
  VerifyResult result;
  for (const AccountAccessFacts& f : answer.accounts) {
    if (f.account == account) result.account = f;
  }
  result.account.account = account;
  for (const AccessVerdict& v : answer.entries) {
    if (v.account == account && v.fingerprint == fingerprint) result.lines.push_back(v);
  }
  if (result.account.sshd_refuses) {
    result.reason = result.account.facts.empty() ? "sshd refuses this account's keys"
                                                 : result.account.facts.front();
    return result;
  }
  if (result.account.unknown) {
    result.determined = false;
    result.reason = absl::StrCat("cannot tell: ", result.account.facts.empty()
                                                      ? "the agent could not read the files"
                                                      : result.account.facts.front());
    return result;
  }
  std::string first_refusal;
  for (AccessVerdict& v : result.lines) {
    if (!v.logs_in) {
      if (first_refusal.empty()) first_refusal = v.why;
      continue;
    }
    absl::StatusOr<AuthorizedKeysOptions> options =
        v.options.empty() ? AuthorizedKeysOptions() : ParseAuthorizedKeysOptions(v.options);
    const std::string* from = options.ok() ? options->Value("from") : nullptr;
    if (from != nullptr && source) {
      SourceDecision d = MatchFromOption(*from, *source);
      if (d.result != SourceMatch::kAllowed) {
        v.logs_in = false;
        v.why = d.reason;
        if (first_refusal.empty()) first_refusal = d.reason;
        continue;
      }
    }
    result.allowed = true;
    result.determined = v.known;
    result.reason = absl::StrCat("yes: ", AccessStateName(v.state), " line in ", v.file,
                                 v.why.empty() ? "" : " (" + v.why + ")",
                                 v.expires_at ? ", until " + TimeText(*v.expires_at) : "");
    if (!v.known) result.reason += " [from the desired state: the host has not reported its files]";
    return result;
  }
  if (!result.lines.empty()) {
    result.reason = absl::StrCat("no: ", first_refusal);
    result.determined = std::all_of(result.lines.begin(), result.lines.end(),
                                    [](const AccessVerdict& v) { return v.known; });
    return result;
  }
  if (answer.files_reported && !result.account.observed) {
    // The agent reads only the accounts keyfleet manages on the host: another account's own
    // keys are unknown to it.
    result.determined = false;
    result.reason = absl::StrCat("cannot tell: keyfleet grants this key nothing as ", account,
                                 ", and the agent does not read the files of accounts keyfleet "
                                 "does not manage on this host");
    return result;
  }
  if (!answer.files_reported) {
    result.determined = !answer.change_pending;
    result.reason = absl::StrCat("no: keyfleet grants this key nothing as ", account,
                                 " (the host has not reported its files, so keys it holds "
                                 "outside keyfleet are unknown)");
    return result;
  }
  result.reason = absl::StrCat("no: no line for this key in ", account,
                               "'s authorized_keys or authorized_keys2");
  if (result.account.lines_left_out > 0) {
    result.determined = false;
    result.reason +=
        absl::StrCat(" (but ", result.account.lines_left_out, " line(s) were not reported)");
  }
  return result;
}

}  // namespace keyfleet::controller
