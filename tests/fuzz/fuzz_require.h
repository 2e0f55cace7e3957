// A fuzz target's property check: the input is reported as a crash when `condition` is false.
#pragma once

#include <cstdlib>

namespace keyfleet::fuzz {

inline void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace keyfleet::fuzz
