// Whether something accepts TCP connections at an address: a probe for tests waiting on a
// server they started (or checking one is gone).
#pragma once

#include <string>

namespace keyfleet::testing {

// Whether a TCP connection to "IPV4:PORT" is accepted (closed at once).
bool Listening(const std::string& address);

}  // namespace keyfleet::testing
