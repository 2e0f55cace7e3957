// Why a TCP connection fails, in words for delivery details. cpp-httplib 0.11 reports a refused
// connection, an unreachable network and an unknown host name all as one Error::Connection, and
// "connection failed" tells an admin nothing about what to fix; after such a failure the webhook
// sink asks this probe what happens now.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace keyfleet::controller::notify {

// Resolves `host` and tries a TCP connection to each address on `port` once, waiting at most
// `timeout` in all (the resolver aside). Returns the reason of the last failure:
// "cannot resolve host NAME: REASON", "connection refused", "no route to host",
// "timed out", …; "" when a connection succeeds now.
std::string DescribeConnectFailure(const std::string& host, int port, absl::Duration timeout);

}  // namespace keyfleet::controller::notify
