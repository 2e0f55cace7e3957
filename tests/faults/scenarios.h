// The fault scenarios. Each builds what it needs, breaks it, and returns its figures and verdict;
// each is bounded in rounds and time (see README.md for what each checks).
#pragma once

#include "tests/faults/harness.h"

namespace keyfleet::faults {

Report ControllerKill9(Campaign& campaign);
Report ReplicaKill(Campaign& campaign);
Report PostgresRestart(Campaign& campaign);
Report PostgresFailover(Campaign& campaign);
Report AgentKill9(Campaign& campaign);
Report SlowClients(Campaign& campaign);
Report DescriptorFlood(Campaign& campaign);

}  // namespace keyfleet::faults
