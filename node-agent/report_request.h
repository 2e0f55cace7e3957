// The report an agent sends its controller after an apply or a recheck, built so the controller
// always accepts it (common/report_limits.h): whatever the agent read from the host is valid
// UTF-8 and within its field's limit (report_text.h), and the drift and the failed accounts stay
// within their byte budgets, with one last entry counting what was left out. (The observed key
// lines keep to their own budget as they are read: observed_keys.h.)
#pragma once

#include <string>
#include <vector>

#include "keyfleet/v1/agent.pb.h"
#include "node-agent/apply.h"
#include "node-agent/drift.h"
#include "node-agent/host_keys.h"

namespace keyfleet::agent {

// The report of `report` (hostname left empty: the stream's host). Drift about the accounts
// themselves (no such account, StrictModes, unsafe paths…) goes in first, then drift about key
// lines (one per unmanaged or edited line, as many as a file has lines), each in order until
// kMaxReportDriftBytes; the items that did not fit are counted in one DRIFT_KIND_LEFT_OUT item
// at the end. Failed accounts likewise within kMaxReportFailureBytes, the rest counted in a last
// failure without an account. Kept items stay in the order the apply found them. The host's
// keys (ReadHostKeys keeps them within kMaxReportHostPublicKeys and
// kMaxReportHostPublicKeyBytes) and the key files mode go in as they are; the revocations
// error, the agent's own words, made valid UTF-8 and cut to kMaxReportTextBytes.
v1::ReportRequest ReportRequestFor(const ApplyReport& report, const HostKeys& host_keys);

// One drift item as a report carries it: its path and detail made valid UTF-8 and cut to
// kMaxReportPathBytes and kMaxReportTextBytes. The account comes from the desired state (the
// controller sent it) and is kept as it is.
v1::DriftItem ReportedDriftItem(const Drift& drift);

}  // namespace keyfleet::agent
