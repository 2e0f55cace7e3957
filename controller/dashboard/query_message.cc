#include "controller/dashboard/query_message.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller::dashboard {
namespace {

namespace pb = google::protobuf;

// Names and messages echo at most this much of what was sent.
constexpr size_t kEchoBytes = 64;

bool IsScalarMessage(const pb::FieldDescriptor& field) {
  if (field.type() != pb::FieldDescriptor::TYPE_MESSAGE) return true;
  const std::string& name = field.message_type()->full_name();
  return name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration";
}

}  // namespace

absl::Status MessageFromQuery(const std::vector<std::pair<std::string, std::string>>& params,
                              pb::Message* message) {
  const pb::Descriptor* d = message->GetDescriptor();
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : params) {
    const pb::FieldDescriptor* field = d->FindFieldByName(name);
    if (field == nullptr || field->is_repeated() || !IsScalarMessage(*field)) {
      std::vector<std::string> known;
      for (int i = 0; i < d->field_count(); ++i) {
        if (!d->field(i)->is_repeated() && IsScalarMessage(*d->field(i))) {
          known.push_back(d->field(i)->name());
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter \"", absl::CHexEscape(name.substr(0, kEchoBytes)),
          "\"; this page takes ", known.empty() ? "none" : absl::StrJoin(known, ", ")));
    }
    if (object.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat("parameter \"", name, "\" given twice"));
    }
    if (field->type() == pb::FieldDescriptor::TYPE_BOOL) {
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter \"", name, "\" is true or false"));
      }
      object[name] = value == "true";
    } else {
      // Numbers too: the JSON mapping takes integers as strings, and checks their range.
      object[name] = value;
    }
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  // Invalid UTF-8 in a value is replaced, never passed on (the mapping refuses it for strings).
  auto parsed = pb::util::JsonStringToMessage(
      object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), message, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad parameters: ", std::string(parsed.message()).substr(0, 4 * kEchoBytes)));
  }
  return absl::OkStatus();
}

}  // namespace keyfleet::controller::dashboard
