// Exit codes of `keyfleet`, the same for every command.
#pragma once

namespace keyfleet::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;       // the request (or some input line) was refused
inline constexpr int kExitUsage = 2;         // bad flags or arguments
inline constexpr int kExitUnreachable = 3;   // the controller could not be reached
inline constexpr int kExitNotConverged = 4;  // --wait: some targeted hosts did not apply it in time
inline constexpr int kExitRolloutFailed = 5;  // --wait: some hosts could not write some accounts
inline constexpr int kExitDatabaseUnavailable = 6;  // the controller answered; its database did not

}  // namespace keyfleet::cli
