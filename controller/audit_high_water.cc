#include "controller/audit_high_water.h"

#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls/secure_file.h"

namespace keyfleet::controller {
namespace {

constexpr size_t kMaxFileBytes = 64;

}  // namespace

AuditHighWater::AuditHighWater(std::string dir, const std::string& replica) : dir_(std::move(dir)) {
  std::string name = replica.empty() ? "controller" : replica.substr(0, 64);
  for (char& c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '-';
  }
  file_ = absl::StrCat(kAuditHighWaterPrefix, name);
}

absl::StatusOr<uint64_t> AuditHighWater::Load() const {
  uint64_t highest = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!absl::StartsWith(name, kAuditHighWaterPrefix)) continue;
    KF_ASSIGN_OR_RETURN(std::string text,
                        tls::ReadSecretFile(entry.path().string(), kMaxFileBytes));
    uint64_t sequence = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &sequence)) {
      return absl::DataLossError(
          absl::StrCat(entry.path().string(), " does not hold an audit sequence number"));
    }
    highest = std::max(highest, sequence);
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir_, ": ", ec.message()));
  return highest;
}

absl::Status AuditHighWater::Record(uint64_t sequence) {
  if (sequence <= recorded_) return absl::OkStatus();
  KF_RETURN_IF_ERROR(tls::WriteFileAtomically(dir_, file_, absl::StrCat(sequence, "\n"), 0600));
  recorded_ = sequence;
  return absl::OkStatus();
}

}  // namespace keyfleet::controller
