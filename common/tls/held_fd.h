// A file descriptor closed when its owner goes (this library cannot use the agent's UniqueFd).
#pragma once

#include <unistd.h>

#include <utility>

namespace keyfleet::tls {

class HeldFd {
 public:
  explicit HeldFd(int fd = -1) : fd_(fd) {}
  ~HeldFd() {
    if (fd_ >= 0) close(fd_);
  }
  HeldFd(HeldFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  HeldFd& operator=(HeldFd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace keyfleet::tls
