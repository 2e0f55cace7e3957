#include "node-agent/posix/fd_io.h"

#include <errno.h>
#include <unistd.h>

namespace keyfleet::agent {

ReadAllResult ReadAll(int fd, size_t limit, std::string* out) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ReadAllResult::kError;
    }
    if (n == 0) return ReadAllResult::kOk;
    if (out->size() + static_cast<size_t>(n) > limit) return ReadAllResult::kTooLarge;
    out->append(buf, static_cast<size_t>(n));
  }
}

bool WriteAll(int fd, absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace keyfleet::agent
