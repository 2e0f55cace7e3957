// Fuzzes the parser of a signed audit checkpoint's events column. The parser accepts only the
// canonical form, so every accepted text must format back to exactly itself, pass
// ValidateCheckpointEvents, and encode as a signing payload; every refusal is INVALID_ARGUMENT.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/audit_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keyfleet::controller;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto events = ParseCheckpointEvents(input);
  if (!events.ok()) {
    if (events.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    if (events.status().message().empty()) std::abort();
    return 0;
  }
  if (events->empty() || events->size() > kMaxCheckpointEvents) std::abort();
  if (FormatCheckpointEvents(*events) != input) std::abort();
  if (!ValidateCheckpointEvents(*events).ok()) std::abort();
  AuditCheckpoint cp;
  cp.events = *std::move(events);
  if (CheckpointPayload(cp).size() < input.size()) std::abort();
  return 0;
}
