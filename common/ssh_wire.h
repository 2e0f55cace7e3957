// The SSH wire encoding (RFC 4251 section 5) used inside public key blobs and certificates.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

// Caps, as OpenSSH sets them (sshbuf.h, sshkey.h).
inline constexpr size_t kSshMaxBignumBytes = 16384 / 8;         // SSHBUF_MAX_BIGNUM
inline constexpr size_t kSshMaxPublicKeyBlobBytes = 16 * 1024;  // SSH_MAX_PUBKEY_BYTES

// Reads fields from a byte buffer it does not own. Each Read* fails with INVALID_ARGUMENT naming
// `what` when the buffer is too short or the field malformed; views point into the buffer.
class WireReader {
 public:
  explicit WireReader(absl::string_view data) : data_(data) {}

  absl::StatusOr<uint8_t> ReadU8(absl::string_view what);
  absl::StatusOr<uint32_t> ReadU32(absl::string_view what);
  absl::StatusOr<uint64_t> ReadU64(absl::string_view what);
  // A length-prefixed byte string.
  absl::StatusOr<absl::string_view> ReadString(absl::string_view what);
  // A length-prefixed string that must not contain NUL (OpenSSH's sshbuf_get_cstring).
  absl::StatusOr<absl::string_view> ReadCString(absl::string_view what);
  // A positive mpint in its one canonical encoding: non-empty, no sign bit, no superfluous
  // leading zero byte, at most kSshMaxBignumBytes of magnitude. Returns the magnitude bytes
  // (big-endian, without the leading 0x00).
  absl::StatusOr<absl::string_view> ReadPositiveMpint(absl::string_view what);

  // Fails unless every byte was consumed.
  absl::Status ExpectEnd(absl::string_view what) const;

  bool AtEnd() const { return pos_ == data_.size(); }
  size_t Position() const { return pos_; }
  absl::string_view Remaining() const { return data_.substr(pos_); }

 private:
  absl::string_view data_;
  size_t pos_ = 0;
};

// Appends wire fields to a byte string; used to build blobs (tests, fuzzers, plain key blobs).
class WireWriter {
 public:
  WireWriter& U8(uint8_t v);
  WireWriter& U32(uint32_t v);
  WireWriter& U64(uint64_t v);
  WireWriter& String(absl::string_view s);
  // Writes `magnitude` (big-endian, no leading zeros) as a positive mpint.
  WireWriter& Mpint(absl::string_view magnitude);
  WireWriter& Raw(absl::string_view bytes);
  const std::string& bytes() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Number of significant bits of a big-endian magnitude without leading zero bytes.
uint32_t BigEndianBitLength(absl::string_view magnitude);

}  // namespace keyfleet
