#include "common/base64.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (uint8_t i = 0; i < 64; ++i) table[static_cast<uint8_t>(alphabet[i])] = i;
  return table;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

// Hand-written rather than OpenSSL's EVP_DecodeBlock: that one skips whitespace, accepts
// non-zero padding bits and does not tell how much padding it saw, so two different texts
// could decode to the same key blob (and the same key pass a blocklist under another spelling).
absl::StatusOr<std::string> Base64DecodeStrict(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("base64 is empty");
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("base64 length ", text.size(), " is not a multiple of 4"));
  }
  size_t padding = 0;
  if (text.back() == '=') padding = (text[text.size() - 2] == '=') ? 2 : 1;
  std::string out;
  out.resize(text.size() / 4 * 3 - padding);
  size_t o = 0;
  const size_t full_quads = text.size() / 4 - (padding ? 1 : 0);
  const auto* in = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t q = 0; q < full_quads; ++q, in += 4) {
    const uint8_t a = kDecode[in[0]], b = kDecode[in[1]], c = kDecode[in[2]], d = kDecode[in[3]];
    if ((a | b | c | d) & 0xc0) {  // kInvalid has these bits; valid symbols are < 64
      return absl::InvalidArgumentError(
          absl::StrCat("base64 has a character outside A-Z a-z 0-9 + / near offset ", q * 4));
    }
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    out[o++] = static_cast<char>(v >> 16);
    out[o++] = static_cast<char>(v >> 8);
    out[o++] = static_cast<char>(v);
  }
  if (padding) {
    const uint8_t a = kDecode[in[0]], b = kDecode[in[1]];
    const uint8_t c = padding == 1 ? kDecode[in[2]] : 0;
    if (a == kInvalid || b == kInvalid || c == kInvalid) {
      return absl::InvalidArgumentError(
          "base64 has a character outside A-Z a-z 0-9 + / or '=' before the end");
    }
    if (padding == 2 ? (b & 0x0f) != 0 : (c & 0x03) != 0) {
      return absl::InvalidArgumentError("base64 has non-zero bits in its padding");
    }
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6);
    out[o++] = static_cast<char>(v >> 16);
    if (padding == 1) out[o++] = static_cast<char>(v >> 8);
  }
  return out;
}

std::string Base64Encode(absl::string_view bytes) {
  std::string out;
  out.resize(4 * ((bytes.size() + 2) / 3) + 1);  // EVP_EncodeBlock writes a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64EncodeUnpadded(absl::string_view bytes) {
  std::string out = Base64Encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

}  // namespace keyfleet
