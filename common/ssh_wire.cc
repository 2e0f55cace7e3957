#include "common/ssh_wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

absl::Status Truncated(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("key blob is truncated in ", what));
}

}  // namespace

absl::StatusOr<uint8_t> WireReader::ReadU8(absl::string_view what) {
  if (data_.size() - pos_ < 1) return Truncated(what);
  return static_cast<uint8_t>(data_[pos_++]);
}

absl::StatusOr<uint32_t> WireReader::ReadU32(absl::string_view what) {
  if (data_.size() - pos_ < 4) return Truncated(what);
  const auto* p = reinterpret_cast<const uint8_t*>(data_.data() + pos_);
  pos_ += 4;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

absl::StatusOr<uint64_t> WireReader::ReadU64(absl::string_view what) {
  auto hi = ReadU32(what);
  if (!hi.ok()) return hi.status();
  auto lo = ReadU32(what);
  if (!lo.ok()) return lo.status();
  return (uint64_t{*hi} << 32) | *lo;
}

absl::StatusOr<absl::string_view> WireReader::ReadString(absl::string_view what) {
  auto len = ReadU32(what);
  if (!len.ok()) return len.status();
  if (data_.size() - pos_ < *len) return Truncated(what);
  absl::string_view s = data_.substr(pos_, *len);
  pos_ += *len;
  return s;
}

absl::StatusOr<absl::string_view> WireReader::ReadCString(absl::string_view what) {
  auto s = ReadString(what);
  if (!s.ok()) return s;
  if (s->find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " contains a NUL byte"));
  }
  return s;
}

absl::StatusOr<absl::string_view> WireReader::ReadPositiveMpint(absl::string_view what) {
  auto s = ReadString(what);
  if (!s.ok()) return s;
  absl::string_view v = *s;
  if (v.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is zero"));
  const auto first = static_cast<uint8_t>(v[0]);
  if (first & 0x80) return absl::InvalidArgumentError(absl::StrCat(what, " is negative"));
  if (first == 0) {
    if (v.size() == 1 || (static_cast<uint8_t>(v[1]) & 0x80) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a superfluous leading zero (not canonically encoded)"));
    }
    v.remove_prefix(1);
  }
  if (v.size() > kSshMaxBignumBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is longer than ", kSshMaxBignumBytes * 8, " bits"));
  }
  return v;
}

absl::Status WireReader::ExpectEnd(absl::string_view what) const {
  if (AtEnd()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " has ", data_.size() - pos_, " unexpected trailing bytes"));
}

WireWriter& WireWriter::U8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}

WireWriter& WireWriter::U32(uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out_.append(b, 4);
  return *this;
}

WireWriter& WireWriter::U64(uint64_t v) {
  U32(static_cast<uint32_t>(v >> 32));
  return U32(static_cast<uint32_t>(v));
}

WireWriter& WireWriter::String(absl::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  out_.append(s.data(), s.size());
  return *this;
}

WireWriter& WireWriter::Mpint(absl::string_view magnitude) {
  if (!magnitude.empty() && (static_cast<uint8_t>(magnitude[0]) & 0x80)) {
    U32(static_cast<uint32_t>(magnitude.size() + 1));
    out_.push_back('\0');
    out_.append(magnitude.data(), magnitude.size());
    return *this;
  }
  return String(magnitude);
}

WireWriter& WireWriter::Raw(absl::string_view bytes) {
  out_.append(bytes.data(), bytes.size());
  return *this;
}

uint32_t BigEndianBitLength(absl::string_view magnitude) {
  size_t i = 0;
  while (i < magnitude.size() && magnitude[i] == '\0') ++i;
  if (i == magnitude.size()) return 0;
  auto top = static_cast<uint8_t>(magnitude[i]);
  uint32_t bits = static_cast<uint32_t>((magnitude.size() - i - 1) * 8);
  while (top) {
    ++bits;
    top >>= 1;
  }
  return bits;
}

}  // namespace keyfleet
