// Who is watching which host: the fleet view's listener notifies the streams of hosts whose
// desired state changed, and a timer sends heartbeats. Subscribers are callback reactors; the
// hub never blocks on a stream.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace keyfleet::controller {

class WatchHub {
 public:
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void Notify() = 0;     // desired state may have changed
    virtual void Heartbeat() = 0;  // send a heartbeat when idle
  };

  // A subscriber stays valid until Remove returns: calls into it happen under the hub's lock.
  // The lock is recursive because gRPC may run a reactor's OnDone (which calls Remove) inline
  // from a call the hub made into it.
  void Add(const std::string& hostname, Subscriber* subscriber);
  void Remove(const std::string& hostname, Subscriber* subscriber);

  void HostsChanged(const std::vector<std::string>& hostnames);
  void HeartbeatAll();
  std::vector<std::string> ConnectedHosts() const;
  size_t size() const;

 private:
  mutable std::recursive_mutex mu_;
  std::unordered_map<std::string, std::set<Subscriber*>> subscribers_;
  size_t count_ = 0;
};

}  // namespace keyfleet::controller
