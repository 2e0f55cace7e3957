#include "controller/notify/make_sinks.h"

#include "controller/notify/smtp_sink.h"
#include "controller/notify/webhook_sink.h"

namespace keyfleet::controller::notify {

std::vector<std::unique_ptr<NotificationSink>> MakeSinks(const NotifyConfig& config,
                                                         const Clock& clock) {
  std::vector<std::unique_ptr<NotificationSink>> sinks;
  for (const WebhookSettings& webhook : config.webhooks) {
    sinks.push_back(std::make_unique<WebhookSink>(webhook, clock));
  }
  if (config.smtp) sinks.push_back(std::make_unique<SmtpSink>(*config.smtp, clock));
  return sinks;
}

}  // namespace keyfleet::controller::notify
