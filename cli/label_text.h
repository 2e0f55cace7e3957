// Labels on the command line: "KEY=VALUE[,KEY=VALUE…]" in, the same form out.
#pragma once

#include <google/protobuf/map.h>

#include <string>

namespace keyfleet::cli {

// "k=v,k2=v2" into `out`; the controller validates names and values. False with `error` set
// when a part is not KEY=VALUE.
bool ParseLabelList(const std::string& text, google::protobuf::Map<std::string, std::string>* out,
                    std::string* error);

// Sorted "k=v,k2=v2".
std::string LabelText(const google::protobuf::Map<std::string, std::string>& labels);

}  // namespace keyfleet::cli
