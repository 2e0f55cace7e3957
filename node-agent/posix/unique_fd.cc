#include "node-agent/posix/unique_fd.h"

#include <unistd.h>

namespace keyfleet::agent {

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

}  // namespace keyfleet::agent
