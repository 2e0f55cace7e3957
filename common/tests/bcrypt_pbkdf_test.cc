#include "common/bcrypt_pbkdf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

struct KdfVector {
  std::string passphrase;
  std::string salt_hex;
  uint32_t rounds;
  size_t bytes;
  std::string hex;  // expected output, or (when sha256 is set) SHA-256 of it
  bool sha256 = false;
};

// From python3-bcrypt 3.2.2's bcrypt.kdf (OpenBSD's bcrypt_pbkdf.c compiled in), e.g.
//   python3 -c "import bcrypt; print(bcrypt.kdf(b'password', b'salt', 32, 4).hex())"
// The first is also the vector in python-bcrypt's own test suite.
const std::vector<KdfVector>& Vectors() {
  static const auto* vectors = new std::vector<KdfVector>{
      {"password", "73616c74", 4, 32,
       "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"},
      {std::string(1, '\0'), "00", 1, 32,
       "8e5b5accb09bd14edeb91d7f11530bc2a94efa1917e8348d69fa1816eebecb71"},
      {"a", "000102030405060708090a0b0c0d0e0f", 16, 48,
       "73fd91a9e6cd7e76259b299e56db83fe767db958158ccf23fd5ab5768c104e76d44f7e5f4e0f63b961cb2da7d56"
       "3d56d"},
      {"correct horse battery staple", "a5f3c07e19d2b4680b1e2d3c4f506172", 16, 64,
       "9037da57fd1b333258e99eddef0b353c39d7514d1191393e7b1a626139dca29dc625c8f8182b165ee0d7230df3f"
       "91113e527ea48058efc151301e0f10829adf5"},
      {"p\xc3\xa4ssw\xc3\xb6rd", "4e61436c", 4, 88,
       "fbfea879d130bce84b7d914e276be424912cb7f0127145001f119ed5663a653285942fc394e56c3607da744f7dc"
       "1a084a53b59e22ae06b8489dfe6afc6eb806a770754ac023deaa9a196c97edd13babf02ecc025132b5264"},
      {std::string(100, 'x'),
       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2"
       "d2"
       "e2f303132333435363738393a3b3c3d3e3f",
       1, 88,
       "183ae5527cc47c22e4ab343745c2b6f67196b4e6ef698edd08adb7be9be270e6d92cae1ccdf1d6521a6019ecc05"
       "4e58c0680a6842533d80d3eaa6e4597db55eb32d5be5781fbc4520f06c00cb17bb5f1460bb037e3a57c64"},
      {"ab", "73616c74", 2, 1, "d2"},
      // ssh-keygen's shape: 32-byte AES key + 16-byte IV, 16-byte salt, 16 rounds.
      {"secret passphrase", "73737373737373737373737373737373", 16, 48,
       "32b191c95ac6a0511a05971d20c9476c69c2b3ebbb100c320758c5a33a45d9eafa4152943774019230fc5b85199"
       "04951"},
      // python-bcrypt stops at 512 bytes; compared by digest.
      {"limit", "73616c74", 1, 512,
       "114dfc56fdeda2041118e3bbee5b2401bf54097eb0d71e0b68ee2717964ae451", true},
  };
  return *vectors;
}

std::string Derive(absl::string_view passphrase, absl::string_view salt, uint32_t rounds,
                   size_t bytes, absl::Status* status) {
  std::string out(bytes, '\0');
  *status = BcryptPbkdf(passphrase, salt, rounds,
                        absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

TEST(BcryptPbkdfTest, MatchesOpenBsdVectors) {
  for (const KdfVector& v : Vectors()) {
    SCOPED_TRACE(
        absl::StrCat(absl::CHexEscape(v.passphrase), " rounds ", v.rounds, " bytes ", v.bytes));
    absl::Status status;
    const std::string out =
        Derive(v.passphrase, absl::HexStringToBytes(v.salt_hex), v.rounds, v.bytes, &status);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(v.sha256 ? Sha256Hex(out) : absl::BytesToHexString(out), v.hex);
  }
}

TEST(BcryptPbkdfTest, LimitsAndRefusals) {
  struct Row {
    std::string name;
    std::string passphrase, salt;
    uint32_t rounds;
    size_t bytes;
    std::string reason;  // empty: must succeed
  };
  const std::vector<Row> rows = {
      {"output at the limit", "p", "s", 1, kBcryptPbkdfMaxOutputBytes, ""},
      {"output past the limit", "p", "s", 1, kBcryptPbkdfMaxOutputBytes + 1, "1 to 1024"},
      {"empty output", "p", "s", 1, 0, "1 to 1024"},
      {"salt at the limit", "p", std::string(kBcryptPbkdfMaxSaltBytes, 's'), 1, 32, ""},
      {"salt past the limit", "p", std::string(kBcryptPbkdfMaxSaltBytes + 1, 's'), 1, 32,
       "at most 1048576"},
      {"empty salt", "p", "", 1, 32, "salt is empty"},
      {"empty passphrase", "", "s", 1, 32, "passphrase is empty"},
      {"zero rounds", "p", "s", 0, 32, "at least 1"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    absl::Status status;
    Derive(row.passphrase, row.salt, row.rounds, row.bytes, &status);
    if (row.reason.empty()) {
      EXPECT_TRUE(status.ok()) << status;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(status.message()), HasSubstr(row.reason));
    }
  }
}

// OpenBSD interleaves the 32-byte blocks by output length (key[i * stride + block]), so a
// shorter request is not a prefix of a longer one, unlike PBKDF2.
TEST(BcryptPbkdfTest, OutputIsNotAPrefixOfALongerOne) {
  absl::Status status;
  const std::string short_key = Derive("pw", "salt", 2, 32, &status);
  ASSERT_TRUE(status.ok());
  const std::string long_key = Derive("pw", "salt", 2, 48, &status);
  ASSERT_TRUE(status.ok());
  EXPECT_NE(long_key.substr(0, 32), short_key);
}

}  // namespace
}  // namespace keyfleet
