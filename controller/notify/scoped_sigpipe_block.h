// Blocks SIGPIPE in the calling thread for a scope. cpp-httplib sends without MSG_NOSIGNAL and
// OpenSSL writes to sockets with write(), so a receiver that closes early would otherwise kill
// the controller with SIGPIPE (libcurl, with CURLOPT_NOSIGNAL, no longer ignores it either).
// A SIGPIPE raised meanwhile is discarded. (The same as common/tls/pinned_fetch.cc's.)
#pragma once

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace keyfleet::controller::notify {

class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &saved_);
  }
  ~ScopedSigpipeBlock() {
    sigset_t pending;
    if (!was_pending_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      const timespec no_wait = {0, 0};
      sigtimedwait(&pipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t saved_;
  bool was_pending_ = false;
};

}  // namespace keyfleet::controller::notify
