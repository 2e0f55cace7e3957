#include "common/krl.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("not a KRL keyfleet reads: ", what));
}

// Each entry of a section's data: length-prefixed strings to its end, at least one.
absl::StatusOr<std::vector<absl::string_view>> SectionEntries(absl::string_view data,
                                                              absl::string_view what) {
  WireReader r(data);
  std::vector<absl::string_view> entries;
  while (!r.AtEnd()) {
    KF_ASSIGN_OR_RETURN(absl::string_view entry, r.ReadString(what));
    entries.push_back(entry);
  }
  if (entries.empty()) return Bad(absl::StrCat("an empty ", what, " section"));
  return entries;
}

// What WireReader says of a field that runs past the end.
constexpr absl::string_view kBlobTruncated = "key blob is truncated in ";

}  // namespace

absl::StatusOr<Krl> ParseKrlFields(absl::string_view bytes);

bool Krl::operator==(const Krl& o) const {
  return version == o.version && generated_at == o.generated_at && comment == o.comment &&
         sha256 == o.sha256 && key_blobs == o.key_blobs;
}

absl::StatusOr<std::string> BuildKrl(const Krl& krl) {
  std::set<std::string> digests = krl.sha256;
  for (const std::string& d : digests) {
    if (d.size() != kSha256Bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("a KRL fingerprint is a 32-byte SHA-256, not ", d.size(), " bytes"));
    }
  }
  for (const std::string& blob : krl.key_blobs) {
    absl::Status plain = ParsePlainPublicKeyBlob(blob).status();
    if (!plain.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("a KRL's explicit keys are plain public keys: ", plain.message()));
    }
    digests.insert(Sha256Digest(blob));
  }
  WireWriter out;
  out.U64(kKrlMagic).U32(kKrlFormatVersion).U64(krl.version).U64(krl.generated_at).U64(0);
  out.String("").String(krl.comment);
  if (!digests.empty()) {
    // std::set orders the raw digests bytewise: numeric order of big-endian integers, as
    // sshd requires.
    WireWriter section;
    for (const std::string& d : digests) section.String(d);
    out.U8(kKrlSectionFingerprintSha256).String(section.bytes());
  }
  if (!krl.key_blobs.empty()) {
    WireWriter section;
    for (const std::string& blob : krl.key_blobs) section.String(blob);
    out.U8(kKrlSectionExplicitKey).String(section.bytes());
  }
  return out.Take();
}

absl::StatusOr<Krl> ParseKrl(absl::string_view bytes) {
  absl::StatusOr<Krl> krl = ParseKrlFields(bytes);
  if (!krl.ok() && absl::StartsWith(krl.status().message(), kBlobTruncated)) {
    // The wire reader speaks of key blobs; here it is the file.
    return Bad(absl::StrCat("the KRL is truncated in ",
                            krl.status().message().substr(kBlobTruncated.size())));
  }
  return krl;
}

absl::StatusOr<Krl> ParseKrlFields(absl::string_view bytes) {
  if (bytes.size() > kMaxKrlBytes) {
    return Bad(absl::StrCat(bytes.size(), " bytes, more than the ", kMaxKrlBytes, " allowed"));
  }
  WireReader r(bytes);
  Krl krl;
  KF_ASSIGN_OR_RETURN(uint64_t magic, r.ReadU64("the KRL magic"));
  if (magic != kKrlMagic) return Bad("no \"SSHKRL\\n\\0\" magic at the start");
  KF_ASSIGN_OR_RETURN(uint32_t format, r.ReadU32("the KRL format version"));
  if (format != kKrlFormatVersion) {
    return Bad(absl::StrCat("format version ", format, " (only ", kKrlFormatVersion, " exists)"));
  }
  KF_ASSIGN_OR_RETURN(krl.version, r.ReadU64("the KRL version"));
  KF_ASSIGN_OR_RETURN(krl.generated_at, r.ReadU64("the generation date"));
  KF_ASSIGN_OR_RETURN(uint64_t flags, r.ReadU64("the flags"));
  if (flags != 0) return Bad(absl::StrCat("flags ", flags, " (none are defined)"));
  KF_RETURN_IF_ERROR(r.ReadString("the reserved field").status());
  KF_ASSIGN_OR_RETURN(absl::string_view comment, r.ReadString("the comment"));
  krl.comment = std::string(comment);
  while (!r.AtEnd()) {
    const size_t at = r.Position();
    KF_ASSIGN_OR_RETURN(uint8_t type, r.ReadU8("a section type"));
    KF_ASSIGN_OR_RETURN(absl::string_view data, r.ReadString("a section"));
    if (type == kKrlSectionFingerprintSha256) {
      KF_ASSIGN_OR_RETURN(std::vector<absl::string_view> digests,
                          SectionEntries(data, "SHA256 fingerprint"));
      absl::string_view previous;
      for (absl::string_view d : digests) {
        if (d.size() != kSha256Bytes) {
          return Bad(absl::StrCat("a SHA256 fingerprint of ", d.size(), " bytes at byte ", at));
        }
        // sshd refuses a section out of order (krl.c: "KRL has unsorted fingerprints").
        if (!previous.empty() && d <= previous) {
          return Bad(absl::StrCat("SHA256 fingerprints out of order at byte ", at));
        }
        previous = d;
        krl.sha256.emplace(d);
      }
    } else if (type == kKrlSectionExplicitKey) {
      KF_ASSIGN_OR_RETURN(std::vector<absl::string_view> blobs,
                          SectionEntries(data, "explicit key"));
      for (absl::string_view blob : blobs) {
        absl::Status plain = ParsePlainPublicKeyBlob(blob).status();
        if (!plain.ok()) {
          return Bad(absl::StrCat("an explicit key at byte ", at, ": ", plain.message()));
        }
        krl.key_blobs.emplace(blob);
      }
    } else if (type == kKrlSectionExtension) {
      WireReader ext(data);
      KF_ASSIGN_OR_RETURN(absl::string_view name, ext.ReadString("an extension's name"));
      KF_ASSIGN_OR_RETURN(uint8_t critical, ext.ReadU8("an extension's criticality"));
      KF_RETURN_IF_ERROR(ext.ReadString("an extension's contents").status());
      KF_RETURN_IF_ERROR(ext.ExpectEnd("an extension"));
      if (critical != 0) {
        return Bad(absl::StrCat("a critical extension \"", absl::CHexEscape(name.substr(0, 64)),
                                "\" it does not know"));
      }
    } else {
      return Bad(absl::StrCat("section type ", type, " at byte ", at,
                              " (keyfleet reads SHA256 fingerprint (5), explicit key (2) and "
                              "non-critical extension (255) sections)"));
    }
  }
  return krl;
}

bool KrlRevokes(const Krl& krl, absl::string_view blob) {
  return krl.key_blobs.count(std::string(blob)) > 0 || krl.sha256.count(Sha256Digest(blob)) > 0;
}

}  // namespace keyfleet
