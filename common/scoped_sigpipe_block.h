// Blocks SIGPIPE in the calling thread for a scope. OpenSSL writes to sockets with write() and
// cpp-httplib sends without MSG_NOSIGNAL, so a peer that closes early would otherwise kill the
// process with SIGPIPE (libcurl, with CURLOPT_NOSIGNAL, no longer ignores it either). A SIGPIPE
// raised meanwhile is discarded. Used by the agent's pinned CA fetch and the notification sinks.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace keyfleet {

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

}  // namespace keyfleet
