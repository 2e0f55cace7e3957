// Host selectors on the command line (`grant add --hosts`, `known-hosts --hosts`):
// "KEY=VALUE[,KEY=VALUE…]" and/or one hostname glob, e.g. "env=prod,role=web" or "web-*".
#pragma once

#include <string>

#include "keyfleet/v1/inventory.pb.h"

namespace keyfleet::cli {

// Parses `text` into `out`: each comma-separated part with '=' is a label, the one without is
// the hostname glob. False with `error` set for a second glob; the controller validates names,
// values and the glob's characters.
bool ParseSelector(const std::string& text, v1::HostSelector* out, std::string* error);

// Sorted "k=v,k2=v2" then the glob, if any: the form ParseSelector reads.
std::string SelectorText(const v1::HostSelector& selector);

}  // namespace keyfleet::cli
