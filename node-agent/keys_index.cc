#include "node-agent/keys_index.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace keyfleet::agent {
namespace {

constexpr size_t kMagicBytes = 8;
constexpr size_t kDigestBytes = 32;

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(absl::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed keys index: ", why));
}

struct Entry {
  std::string digest;
  uint32_t offset = 0;
  uint32_t length = 0;
};

absl::StatusOr<Entry> ReadEntry(const KeysIndexSource& source, const KeysIndexHeader& header,
                                uint32_t i) {
  std::string bytes;
  if (!source.ReadAt(kKeysIndexHeaderBytes + uint64_t{i} * kKeysIndexEntryBytes,
                     kKeysIndexEntryBytes, &bytes)) {
    return Malformed(absl::StrCat("entry ", i + 1, " cannot be read"));
  }
  Entry e{bytes.substr(0, kDigestBytes), GetU32(bytes, kDigestBytes),
          GetU32(bytes, kDigestBytes + 4)};
  if (e.length < 2 || e.length > kMaxKeysIndexLineBytes ||
      uint64_t{e.offset} + e.length > header.lines_bytes) {
    return Malformed(absl::StrCat("entry ", i + 1, " points outside the lines (offset ", e.offset,
                                  ", length ", e.length, ", lines ", header.lines_bytes, ")"));
  }
  return e;
}

// The digest sshd's %f is made of: the certified key for a certificate.
std::string KeyDigest(const AuthorizedKeysLine& line) {
  return Sha256Digest(line.key.FingerprintBlob());
}

// The line of `e`, checked: one line ending in its only '\n', parsing, with e's key.
absl::StatusOr<std::string> ReadLine(const KeysIndexSource& source, const KeysIndexHeader& header,
                                     const Entry& e, uint32_t i) {
  std::string line;
  const uint64_t lines_at = kKeysIndexHeaderBytes + uint64_t{header.entries} * kKeysIndexEntryBytes;
  if (!source.ReadAt(lines_at + e.offset, e.length, &line)) {
    return Malformed(absl::StrCat("the line of entry ", i + 1, " cannot be read"));
  }
  if (line.back() != '\n') {
    return Malformed(absl::StrCat("the line of entry ", i + 1, " does not end where it says"));
  }
  line.pop_back();
  absl::StatusOr<AuthorizedKeysLine> parsed = ParseAuthorizedKeysLine(line);
  if (!parsed.ok()) {
    return Malformed(
        absl::StrCat("the line of entry ", i + 1, " is not valid: ", parsed.status().message()));
  }
  if (KeyDigest(*parsed) != e.digest) {
    return Malformed(absl::StrCat("the line of entry ", i + 1, " holds another key"));
  }
  line.push_back('\n');
  return line;
}

}  // namespace

bool KeysIndexBytes::ReadAt(uint64_t offset, size_t length, std::string* out) const {
  if (offset > bytes_.size() || length > bytes_.size() - offset) return false;
  out->assign(bytes_.data() + offset, length);
  return true;
}

std::string KeysIndexLinesDigest(const std::vector<std::string>& lines) {
  Sha256 sha;
  for (const std::string& line : lines) {
    sha.Update(line);
    sha.Update("\n");
  }
  return sha.Finish();
}

absl::StatusOr<std::string> BuildKeysIndex(const std::vector<std::string>& lines) {
  if (lines.size() > kMaxKeysIndexEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat(lines.size(), " lines: an index holds at most ", kMaxKeysIndexEntries));
  }
  std::vector<Entry> entries;
  std::string blob;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StatusOr<AuthorizedKeysLine> parsed = ParseAuthorizedKeysLine(lines[i]);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", i + 1, " is not valid: ", parsed.status().message()));
    }
    if (blob.size() + lines[i].size() + 1 > kMaxKeysIndexLinesBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the lines pass the index's ", kMaxKeysIndexLinesBytes, "-byte limit"));
    }
    entries.push_back({KeyDigest(*parsed), static_cast<uint32_t>(blob.size()),
                       static_cast<uint32_t>(lines[i].size() + 1)});
    absl::StrAppend(&blob, lines[i], "\n");
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.digest != b.digest ? a.digest < b.digest : a.offset < b.offset;
  });
  std::string out(kKeysIndexMagic, kMagicBytes);
  PutU32(&out, static_cast<uint32_t>(entries.size()));
  PutU32(&out, static_cast<uint32_t>(blob.size()));
  out += Sha256Digest(blob);
  for (const Entry& e : entries) {
    out += e.digest;
    PutU32(&out, e.offset);
    PutU32(&out, e.length);
  }
  out += blob;
  return out;
}

absl::StatusOr<KeysIndexHeader> ReadKeysIndexHeader(const KeysIndexSource& source) {
  std::string bytes;
  if (!source.ReadAt(0, kKeysIndexHeaderBytes, &bytes)) {
    return Malformed(absl::StrCat("shorter than its ", kKeysIndexHeaderBytes, "-byte header"));
  }
  if (bytes.compare(0, kMagicBytes, kKeysIndexMagic, kMagicBytes) != 0) {
    return Malformed(absl::StrCat("it does not start with ", kKeysIndexMagic));
  }
  KeysIndexHeader header{GetU32(bytes, 8), GetU32(bytes, 12), bytes.substr(16, kDigestBytes)};
  if (header.entries > kMaxKeysIndexEntries) {
    return Malformed(
        absl::StrCat(header.entries, " entries, over the limit of ", kMaxKeysIndexEntries));
  }
  if (header.lines_bytes > kMaxKeysIndexLinesBytes) {
    return Malformed(absl::StrCat(header.lines_bytes, " bytes of lines, over the limit of ",
                                  kMaxKeysIndexLinesBytes));
  }
  const uint64_t want =
      kKeysIndexHeaderBytes + uint64_t{header.entries} * kKeysIndexEntryBytes + header.lines_bytes;
  if (source.size() != want) {
    return Malformed(absl::StrCat("its size is ", source.size(), " bytes; its header says ", want));
  }
  return header;
}

absl::StatusOr<std::string> LookupKeysIndex(const KeysIndexSource& source,
                                            absl::string_view key_digest) {
  if (key_digest.size() != kDigestBytes) {
    return absl::InvalidArgumentError("a key digest is 32 bytes (a SHA-256)");
  }
  absl::StatusOr<KeysIndexHeader> header = ReadKeysIndexHeader(source);
  if (!header.ok()) return header.status();
  // The first entry whose digest is not below key_digest.
  uint32_t low = 0;
  uint32_t high = header->entries;
  while (low < high) {
    const uint32_t mid = low + (high - low) / 2;
    absl::StatusOr<Entry> e = ReadEntry(source, *header, mid);
    if (!e.ok()) return e.status();
    if (e->digest < key_digest) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  std::string out;
  uint32_t last_offset = 0;
  for (uint32_t i = low; i < header->entries; ++i) {
    absl::StatusOr<Entry> e = ReadEntry(source, *header, i);
    if (!e.ok()) return e.status();
    if (e->digest != key_digest) break;
    if (i > low && e->offset <= last_offset) {
      return Malformed(absl::StrCat("entry ", i + 1, " is out of order"));
    }
    last_offset = e->offset;
    absl::StatusOr<std::string> line = ReadLine(source, *header, *e, i);
    if (!line.ok()) return line.status();
    out += *line;
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ValidateKeysIndex(const KeysIndexSource& source) {
  absl::StatusOr<KeysIndexHeader> header = ReadKeysIndexHeader(source);
  if (!header.ok()) return header.status();
  std::vector<std::pair<uint32_t, std::string>> lines;  // offset, line without '\n'
  std::vector<Entry> entries;
  for (uint32_t i = 0; i < header->entries; ++i) {
    absl::StatusOr<Entry> e = ReadEntry(source, *header, i);
    if (!e.ok()) return e.status();
    if (!entries.empty()) {
      const Entry& before = entries.back();
      if (e->digest < before.digest || (e->digest == before.digest && e->offset <= before.offset)) {
        return Malformed(absl::StrCat("entry ", i + 1, " is out of order"));
      }
    }
    absl::StatusOr<std::string> line = ReadLine(source, *header, *e, i);
    if (!line.ok()) return line.status();
    line->pop_back();
    lines.emplace_back(e->offset, *std::move(line));
    entries.push_back(*std::move(e));
  }
  std::sort(lines.begin(), lines.end());
  std::string blob;
  for (const auto& [offset, line] : lines) {
    if (offset != blob.size()) {
      return Malformed(absl::StrCat("the lines overlap or leave a gap at byte ", blob.size()));
    }
    absl::StrAppend(&blob, line, "\n");
  }
  if (blob.size() != header->lines_bytes) {
    return Malformed(absl::StrCat("the entries cover ", blob.size(), " of ", header->lines_bytes,
                                  " bytes of lines"));
  }
  if (Sha256Digest(blob) != header->lines_sha256) {
    return Malformed("the lines do not match their SHA-256");
  }
  std::vector<std::string> out;
  out.reserve(lines.size());
  for (auto& [offset, line] : lines) out.push_back(std::move(line));
  return out;
}

}  // namespace keyfleet::agent
