#include "node-agent/managed_block.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/authorized_keys_line.h"
#include "common/fingerprint.h"
#include "common/sha256.h"

namespace keyfleet::agent {
namespace {

std::string BlockHash(const std::vector<std::string>& lines) {
  Sha256 sha;
  for (const std::string& line : lines) {
    sha.Update(line);
    sha.Update("\n");
  }
  return absl::BytesToHexString(sha.Finish());
}

// The line without its terminator ("\n" or "\r\n").
absl::string_view Text(absl::string_view raw) {
  if (absl::EndsWith(raw, "\n")) raw.remove_suffix(1);
  if (absl::EndsWith(raw, "\r")) raw.remove_suffix(1);
  return raw;
}

std::vector<std::string> SplitRawLines(absl::string_view content) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t nl = content.find('\n', start);
    size_t end = nl == absl::string_view::npos ? content.size() : nl + 1;
    lines.emplace_back(content.substr(start, end - start));
    start = end;
  }
  return lines;
}

// "SHA256:…" for a key line, or a short description when it does not parse.
std::string Describe(absl::string_view text) {
  auto line = ParseAuthorizedKeysLine(text);
  if (line.ok()) return Fingerprint(line->key);
  return absl::StrCat("unparsable line: ", absl::CHexEscape(text.substr(0, 60)));
}

bool IsLowerHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

// Parses "# keyfleet:begin [epoch=E ]generation=N sha256=HEX" exactly (E: kEpochLength
// lower-case hex digits; N: 1 to 20 digits fitting 64 bits; HEX: 64 lower-case hex digits). A
// hand-written scanner rather than std::regex: the line comes from a user-writable file and
// this keeps the cost linear and the stack flat.
bool ParseBeginMarker(absl::string_view text, StateVersion* version, std::string* hash) {
  if (!absl::ConsumePrefix(&text, kBlockBeginPrefix)) return false;
  std::string epoch;
  if (absl::ConsumePrefix(&text, "epoch=")) {
    if (text.size() < kEpochLength + 1 || !IsLowerHex(text.substr(0, kEpochLength)) ||
        text[kEpochLength] != ' ') {
      return false;
    }
    epoch = std::string(text.substr(0, kEpochLength));
    text.remove_prefix(kEpochLength + 1);
  }
  if (!absl::ConsumePrefix(&text, "generation=")) return false;
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  uint64_t generation = 0;
  if (digits == 0 || digits > 20 || !absl::SimpleAtoi(text.substr(0, digits), &generation)) {
    return false;
  }
  text.remove_prefix(digits);
  if (!absl::ConsumePrefix(&text, " sha256=") || text.size() != 64 || !IsLowerHex(text)) {
    return false;
  }
  *version = StateVersion(std::move(epoch), generation);
  *hash = std::string(text);
  return true;
}

// The key blob of a line, for telling an edited managed line from an unrelated one.
std::string KeyBlob(absl::string_view text) {
  auto line = ParseAuthorizedKeysLine(text);
  return line.ok() ? line->key.blob : std::string(text);
}

}  // namespace

absl::StatusOr<MergeResult> RepairDamagedFile(const ParsedAuthorizedKeys& parsed,
                                              const std::set<std::string>& previously_managed,
                                              const std::vector<std::string>& desired,
                                              const StateVersion& version,
                                              UnmanagedKeysMode mode) {
  if (parsed.state != BlockState::kDamaged) {
    return absl::InvalidArgumentError("the file's managed block is not damaged");
  }
  ParsedAuthorizedKeys cleaned;
  cleaned.state = BlockState::kNone;
  size_t dropped = 0;
  for (const std::string& raw : parsed.before) {
    const std::string text(Text(raw));
    if (absl::StartsWith(text, "# keyfleet:") || previously_managed.count(text)) {
      ++dropped;
      continue;
    }
    cleaned.before.push_back(raw);
  }
  absl::StatusOr<MergeResult> merged = MergeAuthorizedKeys(cleaned, desired, version, mode);
  if (!merged.ok()) return merged;
  merged->drift.insert(
      merged->drift.begin(),
      Drift{"", v1::DRIFT_KIND_DAMAGED_MARKER, "",
            absl::StrCat("the managed block was damaged (", parsed.damage, "); rebuilt: ", dropped,
                         " marker or previously managed line(s) dropped, every other "
                         "line kept"),
            true});
  return merged;
}

bool IsValidEpoch(absl::string_view epoch) {
  return epoch.empty() || (epoch.size() == kEpochLength && IsLowerHex(epoch));
}

std::string DescribeVersion(const StateVersion& version) {
  if (version.epoch.empty()) return absl::StrCat("generation ", version.generation);
  return absl::StrCat("generation ", version.generation, " of epoch ", version.epoch);
}

std::string RenderManagedBlock(const std::vector<std::string>& lines, const StateVersion& version) {
  std::string out = kBlockBeginPrefix;
  if (!version.epoch.empty()) absl::StrAppend(&out, "epoch=", version.epoch, " ");
  absl::StrAppend(&out, "generation=", version.generation, " sha256=", BlockHash(lines), "\n");
  for (const std::string& line : lines) absl::StrAppend(&out, line, "\n");
  absl::StrAppend(&out, kBlockEnd, "\n");
  return out;
}

ParsedAuthorizedKeys ParseAuthorizedKeysFile(absl::string_view content) {
  ParsedAuthorizedKeys parsed;
  std::vector<std::string> raw = SplitRawLines(content);
  int begin = -1;
  int end = -1;
  std::string recorded_hash;
  auto damaged = [&](std::string why) {
    ParsedAuthorizedKeys d;
    d.state = BlockState::kDamaged;
    d.before = raw;
    d.damage = std::move(why);
    return d;
  };
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string text(Text(raw[i]));
    if (!absl::StartsWith(text, "# keyfleet:")) continue;
    StateVersion version;
    std::string hash;
    if (ParseBeginMarker(text, &version, &hash)) {
      if (begin >= 0) return damaged(absl::StrCat("a second begin marker on line ", i + 1));
      begin = static_cast<int>(i);
      parsed.version = std::move(version);
      recorded_hash = std::move(hash);
    } else if (text == kBlockEnd) {
      if (begin < 0) return damaged(absl::StrCat("an end marker without a begin on line ", i + 1));
      if (end >= 0) return damaged(absl::StrCat("a second end marker on line ", i + 1));
      end = static_cast<int>(i);
    } else {
      return damaged(absl::StrCat("an unrecognized keyfleet marker on line ", i + 1));
    }
  }
  if (begin < 0) {
    parsed.before = std::move(raw);
    return parsed;
  }
  if (end < 0) return damaged("a begin marker without an end");
  parsed.state = BlockState::kIntact;
  parsed.before.assign(raw.begin(), raw.begin() + begin);
  for (int i = begin + 1; i < end; ++i) parsed.block.emplace_back(Text(raw[i]));
  parsed.after.assign(raw.begin() + end + 1, raw.end());
  parsed.hash_matches = BlockHash(parsed.block) == recorded_hash;
  return parsed;
}

absl::StatusOr<MergeResult> MergeAuthorizedKeys(const ParsedAuthorizedKeys& parsed,
                                                const std::vector<std::string>& desired,
                                                const StateVersion& version,
                                                UnmanagedKeysMode mode) {
  if (parsed.state == BlockState::kDamaged) {
    return absl::FailedPreconditionError(
        absl::StrCat("the managed block is damaged (", parsed.damage,
                     "); the file is left as it is so no user line is lost"));
  }
  MergeResult result;
  auto keep_unmanaged = [&](const std::vector<std::string>& raw_lines, std::string* out) {
    for (const std::string& raw : raw_lines) {
      absl::string_view text = Text(raw);
      if (IsBlankOrCommentLine(text) || mode == UnmanagedKeysMode::kKeep) {
        out->append(raw);
        continue;
      }
      const bool remove = mode == UnmanagedKeysMode::kRemove;
      result.drift.push_back(
          {"", v1::DRIFT_KIND_UNMANAGED_KEY, "",
           absl::StrCat(remove ? "removed (exclusive account): " : "not managed by keyfleet: ",
                        Describe(text)),
           remove});
      if (!remove) out->append(raw);
    }
  };
  if (parsed.state == BlockState::kIntact && !parsed.hash_matches) {
    if (parsed.version == version) {
      std::set<std::string> in_block(parsed.block.begin(), parsed.block.end());
      std::set<std::string> wanted(desired.begin(), desired.end());
      std::set<std::string> wanted_blobs;
      for (const std::string& line : desired) wanted_blobs.insert(KeyBlob(line));
      for (const std::string& line : desired) {
        if (!in_block.count(line)) {
          result.drift.push_back({"", v1::DRIFT_KIND_MANAGED_KEY_MISSING, "",
                                  absl::StrCat("restored ", Describe(line)), true});
        }
      }
      for (const std::string& line : parsed.block) {
        if (wanted.count(line)) continue;
        result.drift.push_back(
            {"", v1::DRIFT_KIND_MANAGED_KEY_EDITED, "",
             absl::StrCat(wanted_blobs.count(KeyBlob(line)) ? "edited managed line replaced: "
                                                            : "line added to the managed block "
                                                              "removed: ",
                          Describe(line)),
             true});
      }
    } else {
      result.drift.push_back({"", v1::DRIFT_KIND_MANAGED_KEY_EDITED, "",
                              "the managed block was edited by hand; rewritten", true});
    }
  }
  std::string block = RenderManagedBlock(desired, version);
  if (parsed.state == BlockState::kNone) {
    result.content = block;
    keep_unmanaged(parsed.before, &result.content);
  } else {
    keep_unmanaged(parsed.before, &result.content);
    // A user line before the block without a final newline cannot exist (the block follows
    // it), so the block always starts on its own line.
    result.content += block;
    keep_unmanaged(parsed.after, &result.content);
  }
  return result;
}

}  // namespace keyfleet::agent
