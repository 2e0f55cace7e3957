// A fresh directory under /tmp for one test, removed with everything in it when destroyed.
#pragma once

#include <filesystem>
#include <string>

namespace keyfleet::testing {

class ScopedTempDir {
 public:
  // Creates <parent>/<prefix>.XXXXXX (parent /tmp by default); aborts the test binary if it
  // cannot.
  explicit ScopedTempDir(const std::string& prefix, const std::string& parent = "/tmp");
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace keyfleet::testing
