// How the fleet's revoked keys travel to agents (agent.proto's Revocations and GetRevocations).
#pragma once

#include <cstddef>

namespace keyfleet {

// The newest revocations every desired state carries: an agent at most this many behind adds
// them to its KRL without asking for the whole list.
inline constexpr size_t kMaxRecentRevocations = 64;

// A GetRevocations page: 32-byte digests with 2 bytes of framing each, about 1.7 MB, and as much
// again at most for those revoked with kill_sessions (listed twice): within the agent's 4 MiB
// receive limit.
inline constexpr size_t kRevocationsPerPage = 50000;

// Upper bound of a desired state's Revocations on the wire (the count, the recent digests, those
// of them whose sessions agents end, and their framing), for the controller's delivery checks.
inline constexpr size_t kRevocationsWireBytes = 16 + 2 * kMaxRecentRevocations * (32 + 2);

// A SHA-256 digest of a key blob, raw.
inline constexpr size_t kSha256DigestBytes = 32;

}  // namespace keyfleet
