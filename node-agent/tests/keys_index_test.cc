// The keys index format (keys_index.h): what the builder writes, what the readers accept, and
// a table of malformed indexes with the reason each must give.
#include "node-agent/keys_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "common/sha256.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;

std::string Key(int n) {
  return ::keyfleet::testing::SyntheticEd25519Line(n, "k" + std::to_string(n));
}

std::string DigestOf(const std::string& line) {
  return Sha256Digest(ParseAuthorizedKeysLine(line)->key.FingerprintBlob());
}

uint32_t GetLength(const std::string& bytes, size_t entry) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[entry + 36 + i]);
  return v;
}

void PutU32(std::string* bytes, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*bytes)[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

TEST(KeysIndex, FindsEachKeysLinesAndNothingForAnother) {
  const std::vector<std::string> lines = {Key(1), "restrict " + Key(2), Key(3),
                                          "from=\"10.0.0.0/8\" " + Key(2)};
  absl::StatusOr<std::string> index = BuildKeysIndex(lines);
  ASSERT_TRUE(index.ok()) << index.status();
  KeysIndexBytes source(*index);
  EXPECT_EQ(*LookupKeysIndex(source, DigestOf(Key(1))), Key(1) + "\n");
  // Both lines of key 2, in the order of the state (sshd takes the first that lets it in).
  EXPECT_EQ(*LookupKeysIndex(source, DigestOf(Key(2))),
            "restrict " + Key(2) + "\nfrom=\"10.0.0.0/8\" " + Key(2) + "\n");
  EXPECT_EQ(*LookupKeysIndex(source, DigestOf(Key(4))), "");
  EXPECT_THAT(*ValidateKeysIndex(source), ::testing::ElementsAreArray(lines));
  EXPECT_FALSE(LookupKeysIndex(source, "short").ok());
}

TEST(KeysIndex, AnEmptyIndexIsValid) {
  absl::StatusOr<std::string> index = BuildKeysIndex({});
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->size(), kKeysIndexHeaderBytes);
  EXPECT_EQ(*LookupKeysIndex(KeysIndexBytes(*index), DigestOf(Key(1))), "");
  EXPECT_TRUE(ValidateKeysIndex(KeysIndexBytes(*index))->empty());
}

TEST(KeysIndex, TheHeaderNamesTheLinesDigest) {
  const std::vector<std::string> lines = {Key(1), Key(2)};
  const std::string index = *BuildKeysIndex(lines);
  EXPECT_EQ(index.substr(16, 32), KeysIndexLinesDigest(lines));
  EXPECT_NE(KeysIndexLinesDigest(lines), KeysIndexLinesDigest({Key(1)}));
}

TEST(KeysIndex, TheBuilderRefusesWhatItCannotIndex) {
  EXPECT_THAT(BuildKeysIndex({Key(1), "ssh-ed25519 notbase64"}).status().message(),
              HasSubstr("line 2 is not valid"));
  EXPECT_FALSE(BuildKeysIndex({Key(1) + "\n" + Key(2)}).ok());
  EXPECT_FALSE(BuildKeysIndex({"# a comment"}).ok());
}

TEST(KeysIndex, EntryLimitAtAndPastIt) {
  // Only the header is read for the count: a header at the limit with no room for the
  // entries fails on its size, one past the limit on the count.
  std::string index = *BuildKeysIndex({});
  PutU32(&index, 8, kMaxKeysIndexEntries);
  EXPECT_THAT(ReadKeysIndexHeader(KeysIndexBytes(index)).status().message(),
              HasSubstr("its size is"));
  PutU32(&index, 8, kMaxKeysIndexEntries + 1);
  EXPECT_THAT(ReadKeysIndexHeader(KeysIndexBytes(index)).status().message(),
              HasSubstr("over the limit"));
  PutU32(&index, 8, 0);
  PutU32(&index, 12, kMaxKeysIndexLinesBytes + 1);
  EXPECT_THAT(ReadKeysIndexHeader(KeysIndexBytes(index)).status().message(),
              HasSubstr("bytes of lines, over the limit"));
}

// Each row damages a valid two-key index; both readers must refuse it with the reason.
TEST(KeysIndex, MalformedIndexesAreRefusedWithTheReason) {
  const std::vector<std::string> lines = {Key(1), Key(2)};
  const std::string good = *BuildKeysIndex(lines);
  // The entry of the smaller digest comes first.
  const bool one_first = DigestOf(Key(1)) < DigestOf(Key(2));
  const std::string first_digest = DigestOf(one_first ? Key(1) : Key(2));
  const size_t e0 = kKeysIndexHeaderBytes;
  const size_t e1 = e0 + kKeysIndexEntryBytes;
  const size_t lines_at = e1 + kKeysIndexEntryBytes;
  struct Row {
    const char* name;
    std::function<void(std::string*)> damage;
    const char* reason;
  };
  const Row rows[] = {
      {"empty file", [](std::string* b) { b->clear(); }, "shorter than its 48-byte header"},
      {"wrong magic", [](std::string* b) { (*b)[0] = 'X'; }, "does not start with KFKEYIX1"},
      {"trailing byte", [](std::string* b) { b->push_back('\n'); }, "its size is"},
      {"truncated", [](std::string* b) { b->pop_back(); }, "its size is"},
      {"count too high", [](std::string* b) { PutU32(b, 8, 3); }, "its size is"},
      {"offset past the lines", [&](std::string* b) { PutU32(b, e0 + 32, 100000); },
       "points outside the lines"},
      {"zero length", [&](std::string* b) { PutU32(b, e0 + 36, 0); }, "points outside the lines"},
      {"length off by one", [&](std::string* b) { PutU32(b, e0 + 36, GetLength(*b, e0) - 1); },
       "does not end where it says"},
      {"digest of another key", [&](std::string* b) { (*b)[e0] ^= 1; }, ""},
      {"a line edited", [&](std::string* b) { (*b)[lines_at + 20] ^= 1; }, ""},
      {"a line break in a line", [&](std::string* b) { (*b)[lines_at + 5] = '\n'; }, ""},
  };
  for (const Row& row : rows) {
    std::string bytes = good;
    row.damage(&bytes);
    KeysIndexBytes source(bytes);
    absl::StatusOr<std::vector<std::string>> all = ValidateKeysIndex(source);
    EXPECT_FALSE(all.ok()) << row.name;
    EXPECT_THAT(all.status().message(), HasSubstr(row.reason)) << row.name;
    EXPECT_THAT(all.status().message(), HasSubstr("malformed keys index")) << row.name;
    // The lookup of the first entry's key either refuses or still finds exactly that key's
    // line: it never returns another key's line.
    absl::StatusOr<std::string> found = LookupKeysIndex(source, first_digest);
    if (found.ok()) {
      EXPECT_TRUE(found->empty() || *found == (one_first ? Key(1) : Key(2)) + "\n") << row.name;
    }
  }
}

TEST(KeysIndex, EntriesOutOfOrderAreRefusedByTheFullCheck) {
  std::string bytes = *BuildKeysIndex({Key(1), Key(2)});
  const size_t e0 = kKeysIndexHeaderBytes;
  std::string first = bytes.substr(e0, kKeysIndexEntryBytes);
  std::string second = bytes.substr(e0 + kKeysIndexEntryBytes, kKeysIndexEntryBytes);
  bytes.replace(e0, kKeysIndexEntryBytes, second);
  bytes.replace(e0 + kKeysIndexEntryBytes, kKeysIndexEntryBytes, first);
  EXPECT_THAT(ValidateKeysIndex(KeysIndexBytes(bytes)).status().message(),
              HasSubstr("out of order"));
}

TEST(KeysIndex, ALookupReadsAFewEntriesWhateverTheSize) {
  std::vector<std::string> lines;
  for (int i = 0; i < 4096; ++i) lines.push_back(Key(i));
  const std::string index = *BuildKeysIndex(lines);
  struct CountingSource : KeysIndexBytes {
    using KeysIndexBytes::KeysIndexBytes;
    bool ReadAt(uint64_t offset, size_t length, std::string* out) const override {
      ++reads;
      return KeysIndexBytes::ReadAt(offset, length, out);
    }
    mutable int reads = 0;
  } source(index);
  EXPECT_EQ(*LookupKeysIndex(source, DigestOf(Key(4000))), Key(4000) + "\n");
  EXPECT_LE(source.reads, 16) << "header, about log2(4096) = 12 entries, the next entry, the line";
}

}  // namespace
}  // namespace keyfleet::agent
