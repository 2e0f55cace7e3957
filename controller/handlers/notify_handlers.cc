#include "controller/handlers/notify_handlers.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace keyfleet::controller {
namespace {

absl::Status NoOutbox() {
  return absl::FailedPreconditionError("this controller keeps no notification outbox");
}

}  // namespace

absl::StatusOr<NotifyStatus> NotifyHandlers::Status(const std::string& state, size_t limit) const {
  if (outbox_ == nullptr) return NoOutbox();
  if (!state.empty() && state != "pending" && state != "delivered" && state != "dead") {
    return absl::InvalidArgumentError(absl::StrCat("unknown delivery state \"", state,
                                                   "\"; use pending, delivered or dead (or none)"));
  }
  if (limit > kMaxListLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("a limit of ", limit, " is too large; at most ", kMaxListLimit));
  }
  NotifyStatus status;
  status.sinks = sinks_;
  KF_ASSIGN_OR_RETURN(status.counts, outbox_->CountDeliveries());
  KF_ASSIGN_OR_RETURN(status.deliveries,
                      outbox_->ListDeliveries(state, limit == 0 ? kDefaultListLimit : limit));
  return status;
}

absl::Status NotifyHandlers::Retry(int64_t delivery_id) const {
  if (outbox_ == nullptr) return NoOutbox();
  if (delivery_id <= 0) {
    return absl::InvalidArgumentError(
        "a delivery id is a positive number (keyfleet notify status)");
  }
  return outbox_->RetryDelivery(delivery_id, clock_.Now());
}

}  // namespace keyfleet::controller
