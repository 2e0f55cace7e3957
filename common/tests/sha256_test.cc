#include "common/sha256.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"

namespace keyfleet {
namespace {

// FIPS 180-4 / NIST CAVP example vectors.
struct Vector {
  std::string input;
  const char* hex;
};

const Vector kVectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

TEST(Sha256Test, KnownVectorsOneShot) {
  for (const Vector& v : kVectors) {
    EXPECT_EQ(Sha256Hex(v.input), v.hex) << "input of " << v.input.size() << " bytes";
    EXPECT_EQ(absl::BytesToHexString(Sha256Digest(v.input)), v.hex);
    EXPECT_EQ(Sha256Digest(v.input).size(), kSha256Bytes);
  }
}

TEST(Sha256Test, IncrementalEqualsOneShotAtEverySplit) {
  const std::string input = kVectors[2].input;
  for (size_t split = 0; split <= input.size(); ++split) {
    Sha256 sha;
    sha.Update(absl::string_view(input).substr(0, split));
    sha.Update(absl::string_view(input).substr(split));
    EXPECT_EQ(absl::BytesToHexString(sha.Finish()), kVectors[2].hex) << "split at " << split;
  }
}

}  // namespace
}  // namespace keyfleet
