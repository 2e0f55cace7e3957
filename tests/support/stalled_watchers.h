// Agents that never read (issue 15): the real controller binary with mTLS and a private
// PostgreSQL, many keys granted to every host so each desired state is large, then many Watch
// streams from clients that send their hello and never read, so the controller's write to each
// stays pending, while one well-behaved agent keeps reading. Measures the controller's RSS before,
// while and after those clients are there, and how long the reading agent waits for a revocation
// made while they are. Shared by the ctest test (controller/tests/stalled_watch_test.cc) and the
// full-size benchmark (tests/bench/stalled_watchers.cc).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace keyfleet::testing {

struct StalledWatchOptions {
  std::string controller_binary;
  int streams = 400;
  // The stalled streams share this many TLS connections, all with one host's certificate (a
  // misbehaving client needs one enrolled identity; what the controller holds per stream is the
  // same either way). `connections == streams` gives each its own, as separate hosts would.
  int connections = 40;
  // Each host's desired state holds accounts × keys_per_account lines of about 110 bytes.
  int keys_per_account = 2700;
  int accounts = 2;
  absl::Duration hold = absl::Seconds(6);           // the stalled streams stay this long, then go
  absl::Duration release_wait = absl::Seconds(15);  // the longest wait for RSS to come back
  long returned_within_kib = 16 * 1024;             // "back": within this much of idle
  bool progress = false;                            // narrate each stage on stderr
};

struct StalledWatchFigures {
  size_t state_bytes = 0;        // one host's desired state, serialized
  long idle_rss_kib = 0;         // inventory loaded, one reading agent, nothing else
  long connections_rss_kib = 0;  // plus the stalled clients' connections, before their streams
  long streams_rss_kib = 0;      // when every stalled stream is open and has had its first write
  long peak_rss_kib = 0;         // the highest sample while the stalled streams were open
  long after_rss_kib = 0;        // the controller's RSS once the stalled clients were gone
  double returned_s = -1;        // seconds after they went until RSS was back near idle (-1: never)
  double revoke_delivery_s = -1;  // the reading agent's wait for the revocation (-1: never came)
  int opened = 0;                 // stalled streams opened
  int ended_by_controller = 0;    // streams the controller ended as stalled (from its log)
};

// Runs the whole scenario; an error if any set-up step fails (the controller's log is named).
absl::StatusOr<StalledWatchFigures> RunStalledWatchers(const StalledWatchOptions& options);

}  // namespace keyfleet::testing
