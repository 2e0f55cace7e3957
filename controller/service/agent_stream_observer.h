// What the agent service tells an observer about its Watch streams (the controller's metrics:
// desired states pushed, what each host reported applying). Called on gRPC's callback threads,
// some under a stream's lock: an observer must be quick, never block, never call back into the
// stream, and never wait for the database.
#pragma once

#include <string>

#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {

class AgentStreamObserver {
 public:
  virtual ~AgentStreamObserver() = default;
  // A desired state was handed to gRPC for `hostname`'s stream.
  virtual void DesiredStateSent(const std::string& hostname) = 0;
  // `hostname` reported, on its stream, what it applied (a report the controller accepted).
  virtual void Reported(const std::string& hostname, const v1::ReportRequest& report) = 0;
};

}  // namespace keyfleet::controller
