// Memory under agents that never read (not a ctest test; the CI-sized check is
// controller/tests/stalled_watch_test.cc). Starts a private PostgreSQL and the real controller
// binary with mTLS, grants ACCOUNTS × KEYS_PER_ACCOUNT keys to every host (each desired state
// is then about ACCOUNTS × KEYS_PER_ACCOUNT × 110 bytes), opens STREAMS Watch streams over
// CONNECTIONS TLS connections that send their hello and never read, holds them HOLD_SECONDS
// (revoking a key half-way, while one well-behaved agent reads), then closes them all. Prints
// the controller's RSS at each stage.
//
//   stalled_watchers CONTROLLER_BINARY [STREAMS=2000] [CONNECTIONS=100] [KEYS_PER_ACCOUNT=2700]
//                    [ACCOUNTS=2] [HOLD_SECONDS=20]
#include "tests/support/stalled_watchers.h"

#include <cstdio>
#include <cstdlib>

#include "common/runtime_setup.h"

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CONTROLLER_BINARY [STREAMS=2000] [CONNECTIONS=100] "
                 "[KEYS_PER_ACCOUNT=2700] [ACCOUNTS=2] [HOLD_SECONDS=20]\n",
                 argv[0]);
    return 2;
  }
  keyfleet::testing::StalledWatchOptions options;
  options.controller_binary = argv[1];
  options.streams = argc > 2 ? std::atoi(argv[2]) : 2000;
  options.connections = argc > 3 ? std::atoi(argv[3]) : 100;
  options.keys_per_account = argc > 4 ? std::atoi(argv[4]) : 2700;
  options.accounts = argc > 5 ? std::atoi(argv[5]) : 2;
  options.hold = absl::Seconds(argc > 6 ? std::atoi(argv[6]) : 20);
  options.release_wait = absl::Seconds(30);
  options.progress = true;
  absl::StatusOr<keyfleet::testing::StalledWatchFigures> f =
      keyfleet::testing::RunStalledWatchers(options);
  if (!f.ok()) {
    std::fprintf(stderr, "%s\n", f.status().ToString().c_str());
    return 1;
  }
  auto mib = [](long kib) { return kib / 1024.0; };
  std::printf(
      "streams=%d connections=%d state_bytes=%zu\n"
      "rss_idle_mib=%.1f rss_connections_mib=%.1f rss_streams_mib=%.1f rss_peak_mib=%.1f "
      "rss_after_mib=%.1f\n"
      "peak_over_idle_mib=%.1f peak_over_connections_mib=%.1f after_over_idle_mib=%.1f "
      "returned_s=%.2f\n"
      "revoke_delivery_to_reading_agent_s=%.3f stalled_streams_ended_by_controller=%d/%d\n",
      options.streams, options.connections, f->state_bytes, mib(f->idle_rss_kib),
      mib(f->connections_rss_kib), mib(f->streams_rss_kib), mib(f->peak_rss_kib),
      mib(f->after_rss_kib), mib(f->peak_rss_kib - f->idle_rss_kib),
      mib(f->peak_rss_kib - f->connections_rss_kib), mib(f->after_rss_kib - f->idle_rss_kib),
      f->returned_s, f->revoke_delivery_s, f->ended_by_controller, f->opened);
  return 0;
}
