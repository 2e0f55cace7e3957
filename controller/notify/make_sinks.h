// The sinks a parsed `notifications:` section describes.
#pragma once

#include <memory>
#include <vector>

#include "common/clock.h"
#include "controller/notify/notification.h"
#include "controller/notify/notify_config.h"

namespace keyfleet::controller::notify {

// One WebhookSink per webhook, in config order, then the SmtpSink when smtp is set. Their
// names are unique (the config refuses duplicate webhook names). `clock` must outlive them.
std::vector<std::unique_ptr<NotificationSink>> MakeSinks(const NotifyConfig& config,
                                                         const Clock& clock);

}  // namespace keyfleet::controller::notify
