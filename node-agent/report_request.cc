#include "node-agent/report_request.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/key_use_limits.h"
#include "common/report_limits.h"
#include "node-agent/report_text.h"

namespace keyfleet::agent {
namespace {

// What an entry of a repeated field costs besides itself: its tag and length, at most.
constexpr size_t kEntryFramingBytes = 8;
// Kept free in each budget for the last entry, which counts what was left out.
constexpr size_t kLeftOutEntryBytes = 256;

// Drift about one key line: as many items as the file has lines. Every other kind is about
// the account itself (a few items each) and says whether sshd reads its files at all, which
// `keyfleet access` needs: those are reported first.
bool IsKeyLineDrift(v1::DriftKind kind) {
  return kind == v1::DRIFT_KIND_UNMANAGED_KEY || kind == v1::DRIFT_KIND_MANAGED_KEY_MISSING ||
         kind == v1::DRIFT_KIND_MANAGED_KEY_EDITED;
}

uint32_t CountField(size_t count) {
  return static_cast<uint32_t>(std::min<size_t>(count, UINT32_MAX));
}

void AddDrift(const std::vector<Drift>& drift, v1::ReportRequest* req) {
  std::vector<std::pair<size_t, v1::DriftItem>> kept;  // with its index in `drift`
  size_t bytes_left = kMaxReportDriftBytes - kLeftOutEntryBytes;
  size_t left_out = 0;
  for (const bool key_lines : {false, true}) {
    // Once one item does not fit, the rest of its kind are counted: what is shown is the
    // beginning of the list, never a sample of it.
    bool full = false;
    for (size_t i = 0; i < drift.size(); ++i) {
      if (IsKeyLineDrift(drift[i].kind) != key_lines) continue;
      if (!full) {
        v1::DriftItem item = ReportedDriftItem(drift[i]);
        const size_t cost = item.ByteSizeLong() + kEntryFramingBytes;
        full = cost > bytes_left || kept.size() + 1 >= kMaxReportDriftItems;
        if (!full) {
          bytes_left -= cost;
          kept.emplace_back(i, std::move(item));
          continue;
        }
      }
      ++left_out;
    }
  }
  std::sort(kept.begin(), kept.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& entry : kept) *req->add_drift() = std::move(entry.second);
  if (left_out == 0) return;
  v1::DriftItem* more = req->add_drift();
  more->set_kind(v1::DRIFT_KIND_LEFT_OUT);
  more->set_left_out(CountField(left_out));
  more->set_detail(absl::StrCat(
      kReportCutMarker, " and ", left_out, " more drift item(s), not reported: a report holds ",
      kMaxReportDriftBytes >> 10, " KiB of drift (the accounts' own problems first)"));
}

void AddFailures(const std::vector<AccountApplied>& accounts, v1::ReportRequest* req) {
  size_t bytes_left = kMaxReportFailureBytes - kLeftOutEntryBytes;
  size_t left_out = 0;
  for (const AccountApplied& a : accounts) {
    if (!NotApplied(a)) continue;
    if (left_out > 0) {
      ++left_out;
      continue;
    }
    v1::AccountFailure failure;
    failure.set_account(a.account);
    failure.set_reason(ReportText(a.detail, kMaxReportTextBytes));
    const size_t cost = failure.ByteSizeLong() + kEntryFramingBytes;
    if (cost > bytes_left) {
      ++left_out;
      continue;
    }
    bytes_left -= cost;
    *req->add_failed_accounts() = std::move(failure);
  }
  if (left_out == 0) return;
  req->add_failed_accounts()->set_reason(absl::StrCat(
      kReportCutMarker, " and ", left_out, " more account(s) not as desired, not reported: a ",
      "report holds ", kMaxReportFailureBytes >> 10, " KiB of failures"));
}

}  // namespace

v1::DriftItem ReportedDriftItem(const Drift& drift) {
  v1::DriftItem item;
  item.set_account(drift.account);
  item.set_kind(drift.kind);
  item.set_path(ReportText(drift.path, kMaxReportPathBytes));
  item.set_detail(ReportText(drift.detail, kMaxReportTextBytes));
  item.set_repaired(drift.repaired);
  return item;
}

v1::ReportRequest ReportRequestFor(const ApplyReport& report, const HostKeys& host_keys) {
  v1::ReportRequest req;
  req.set_applied_generation(report.generation);
  req.set_applied_epoch(report.epoch);
  req.set_applied_digest(report.digest);
  AddDrift(report.drift, &req);
  AddFailures(report.accounts, &req);
  for (const std::string& fp : host_keys.fingerprints) req.add_host_key_fingerprints(fp);
  for (const std::string& key : host_keys.public_keys) req.add_host_public_keys(key);
  req.set_revocations_error(ReportText(report.revocations_error, kMaxReportTextBytes));
  req.set_key_files(report.key_files);
  for (const SessionsEndedCount& ended : report.sessions_ended) {
    if (static_cast<size_t>(req.sessions_ended_size()) == kMaxSessionsEndedPerReport) break;
    v1::SessionsEnded* out = req.add_sessions_ended();
    out->set_fingerprint(ended.fingerprint);
    out->set_count(ended.count);
  }
  for (const v1::ObservedAccount& a : report.observed) *req.add_observed() = a;
  req.set_observed_included(true);
  return req;
}

}  // namespace keyfleet::agent
