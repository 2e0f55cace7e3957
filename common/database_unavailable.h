// How the controller says its database is down, shared with the CLI: an UNAVAILABLE status whose
// message starts with this is not an unreachable controller (the CLI exits 6, not 3).
#pragma once

namespace keyfleet {

inline constexpr char kDatabaseUnavailable[] = "the controller's database is unavailable";

}  // namespace keyfleet
