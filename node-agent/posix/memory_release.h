// Keeping the idle agent's resident memory to what idling uses (DESIGN.md: idle RSS <= 10 MiB).
#pragma once

namespace keyfleet::agent {

// Called once the agent is connected and has applied and reported its state, i.e. when it is
// about to idle:
// - returns heap pages freed by start-up, the TLS handshake or a large desired state to the
//   kernel (malloc_trim), which glibc would otherwise keep;
// - asks the kernel to reclaim the resident pages of the agent's own executable
//   (MADV_PAGEOUT). The static binary holds gRPC, OpenSSL, protobuf and abseil; start-up, config
//   parsing, the handshake and enrollment touch about 7 MiB of it, and fault-around keeps the
//   64 KiB around each touched page. Idling (heartbeats, re-checks, reports) faults back the
//   few hundred KiB it needs; the rest stays in the page cache for the next start or handshake.
// Both are advice: nothing depends on them, failures are ignored, and pages shared with other
// processes are left alone by the kernel.
void ReleaseStartupMemory();

}  // namespace keyfleet::agent
