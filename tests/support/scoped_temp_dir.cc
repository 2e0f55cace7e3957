#include "tests/support/scoped_temp_dir.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace keyfleet::testing {

ScopedTempDir::ScopedTempDir(const std::string& prefix, const std::string& parent) {
  const std::string pattern = parent + "/" + prefix + ".XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  if (mkdtemp(name.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = name.data();
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace keyfleet::testing
