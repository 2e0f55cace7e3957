#include "controller/store/pg_array.h"

namespace keyfleet::controller {

std::string PgTextArray(const std::vector<std::string>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : elements[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string PgBigintArray(const std::vector<int64_t>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(elements[i]);
  }
  return out + "}";
}

}  // namespace keyfleet::controller
