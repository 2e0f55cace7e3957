// CheckFieldLimits: the walk over a request, by reflection, against the table.
#include <google/protobuf/descriptor.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/duration_text.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "controller/service/field_limits.h"
#include "keyfleet/v1/admin.pb.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr int kMapEntry = -1;  // PathNode::index of a map entry: its order means nothing
constexpr int kNoIndex = -2;   // a singular field

// Where the walk is, for naming a field in an error: built on the stack, rendered only then.
struct PathNode {
  const PathNode* parent;
  const FieldDescriptor* field;
  int index;
};

void AppendPath(const PathNode* node, std::string* out) {
  if (node == nullptr) return;
  AppendPath(node->parent, out);
  if (!out->empty()) out->push_back('.');
  absl::StrAppend(out, node->field->name());
  if (node->index >= 0) absl::StrAppend(out, "[", node->index, "]");
}

std::string PathText(const PathNode& node) {
  std::string out;
  AppendPath(&node, &out);
  return out;
}

enum class Kind : uint8_t { kText, kMessage, kTime, kNumber };

struct Plan;

// One field of a message type, as the walk visits it (bools need nothing and are left out).
struct Step {
  const FieldDescriptor* field;
  const FieldLimit* limit;  // null: a field without a row (a programming error)
  Kind kind;
  bool utf8 = false;                            // a string field (bytes fields hold anything)
  bool is_map = false;                          // cached: descriptors answer these slowly
  const Plan* message = nullptr;                // kMessage: the plan of its type
  const FieldDescriptor* seconds = nullptr;     // kTime
  const FieldDescriptor* nanos = nullptr;       // kTime
  const Reflection* time_reflection = nullptr;  // kTime
};

struct Plan {
  // The generated type's: every message of that type in a generated request has it, so the walk
  // asks no message for its own (a virtual call and a once-check each).
  const Reflection* reflection = nullptr;
  std::vector<Step> steps;
};

const Reflection* GeneratedReflection(const Descriptor* d) {
  return google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->GetReflection();
}

bool IsTimeType(const Descriptor* d) {
  return d->full_name() == "google.protobuf.Timestamp" ||
         d->full_name() == "google.protobuf.Duration";
}

// The plan of every message type the three services take, built once; a plan points at the
// plans of its fields' types, so the walk looks nothing up.
class Plans {
 public:
  Plans() {
    const google::protobuf::FileDescriptor* admin = v1::AddPrincipalRequest::descriptor()->file();
    const google::protobuf::FileDescriptor* agent = v1::AgentMessage::descriptor()->file();
    for (const google::protobuf::ServiceDescriptor* service :
         {admin->FindServiceByName("AdminService"), agent->FindServiceByName("AgentService"),
          agent->FindServiceByName("EnrollmentService")}) {
      for (int i = 0; i < service->method_count(); ++i) Add(service->method(i)->input_type());
    }
  }

  const Plan* Find(const Descriptor* d) const {
    auto it = plans_.find(d);
    return it == plans_.end() ? nullptr : &it->second;
  }

 private:
  const Plan* Add(const Descriptor* d) {
    auto [it, added] = plans_.try_emplace(d);  // node_hash_map: the address stays
    Plan* plan = &it->second;
    if (!added) return plan;
    plan->reflection = GeneratedReflection(d);
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      Step step{f, FindFieldLimit(f->full_name()), Kind::kNumber};
      step.utf8 = f->type() == FieldDescriptor::TYPE_STRING;
      step.is_map = f->is_map();
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_BOOL:
          continue;
        case FieldDescriptor::CPPTYPE_STRING:
          step.kind = Kind::kText;
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (IsTimeType(f->message_type())) {
            step.kind = Kind::kTime;
            step.seconds = f->message_type()->FindFieldByNumber(1);
            step.nanos = f->message_type()->FindFieldByNumber(2);
            step.time_reflection = GeneratedReflection(f->message_type());
          } else {
            step.kind = Kind::kMessage;
            step.message = Add(f->message_type());
          }
          break;
        default:
          break;
      }
      // A single number or time whose row checks nothing here costs nothing to skip.
      const bool nothing_to_check = (step.kind == Kind::kNumber || step.kind == Kind::kTime) &&
                                    !f->is_repeated() && step.limit != nullptr &&
                                    step.limit->value != ValueRule::kRange;
      if (!nothing_to_check) plan->steps.push_back(step);
    }
    return plan;
  }

  absl::node_hash_map<const Descriptor*, Plan> plans_;
};

const Plans& ThePlans() {
  static const Plans* const plans = new Plans();
  return *plans;
}

absl::Status Unlisted(const PathNode& at) {
  return absl::InternalError(absl::StrCat(at.field->full_name(),
                                          " has no row in the field limits table "
                                          "(controller/service/field_limits.cc)"));
}

// Most text is ASCII: eight bytes at a time, before the full UTF-8 check.
bool IsAscii(absl::string_view text) {
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if (word & 0x8080808080808080ULL) return false;
  }
  for (; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) >= 0x80) return false;
  }
  return true;
}

absl::Status CheckText(const std::string& text, const Step& step, const PathNode& at) {
  if (text.size() > step.limit->max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(PathText(at), " is ", text.size(),
                                                   " bytes; the limit is ", step.limit->max_bytes,
                                                   " bytes"));
  }
  if (step.utf8 && !IsAscii(text)) {
    if (std::optional<size_t> bad = FindInvalidUtf8(text)) {
      return absl::InvalidArgumentError(
          absl::StrCat(PathText(at), " is not valid UTF-8 (at byte ", *bad, ")"));
    }
  }
  return absl::OkStatus();
}

// A field's value (`index` >= 0: an element of a repeated field).
absl::int128 NumberAt(const Message& m, const Reflection& r, const FieldDescriptor* f, int index) {
  const bool repeated = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return repeated ? r.GetRepeatedInt32(m, f, index) : r.GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return repeated ? r.GetRepeatedInt64(m, f, index) : r.GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return repeated ? r.GetRepeatedUInt32(m, f, index) : r.GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return repeated ? r.GetRepeatedUInt64(m, f, index) : r.GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return repeated ? r.GetRepeatedEnumValue(m, f, index) : r.GetEnumValue(m, f);
    default:  // float and double: none in these protos; the test allows them no kRange row
      return 0;
  }
}

std::string EnumName(const FieldDescriptor* f, int64_t number) {
  const google::protobuf::EnumValueDescriptor* v = f->enum_type()->FindValueByNumber(number);
  return v == nullptr ? std::to_string(number) : v->name();
}

absl::Status CheckNumber(const Message& m, const Reflection& r, const Step& step, int index,
                         const PathNode& at) {
  const absl::int128 value = NumberAt(m, r, step.field, index);
  const FieldLimit& limit = *step.limit;
  if (value >= limit.min && value <= limit.max) return absl::OkStatus();
  std::string allowed = absl::StrCat(limit.min, " to ", limit.max);
  if (step.field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
    absl::StrAppend(&allowed, " (", EnumName(step.field, limit.min), " to ",
                    EnumName(step.field, limit.max), ")");
  }
  // The value came from an int32, int64, uint32 or uint64: one of these holds it.
  const std::string text = value < 0 ? absl::StrCat(static_cast<int64_t>(value))
                                     : absl::StrCat(static_cast<uint64_t>(value));
  return absl::InvalidArgumentError(
      absl::StrCat(PathText(at), " is ", text, "; allowed: ", allowed));
}

std::string TimeText(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

// A Timestamp or a Duration: seconds within the row's range, nanos within a second.
absl::Status CheckTime(const Message& t, const Step& step, const PathNode& at) {
  const Reflection* r = step.time_reflection;
  const int64_t seconds = r->GetInt64(t, step.seconds);
  const int32_t nanos = r->GetInt32(t, step.nanos);
  const FieldLimit& limit = *step.limit;
  if (seconds >= limit.min && seconds <= limit.max && nanos >= 0 && nanos <= 999999999) {
    return absl::OkStatus();
  }
  if (step.field->message_type()->full_name() == "google.protobuf.Timestamp") {
    return absl::InvalidArgumentError(
        absl::StrCat(PathText(at), " is out of range (", seconds, " seconds since 1970, ", nanos,
                     " ns); allowed: ", TimeText(limit.min), " to ", TimeText(limit.max)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(PathText(at), " is out of range (", seconds, " s, ", nanos,
                   " ns); allowed: ", FormatDurationText(absl::Seconds(limit.min)), " to ",
                   FormatDurationText(absl::Seconds(limit.max))));
}

absl::Status CheckMessage(const Message& m, const Plan& plan, const PathNode* parent);

// One value of a field: the field itself, or one element of a repeated field.
absl::Status CheckValue(const Message& m, const Reflection& r, const Step& step, int index,
                        const PathNode& at) {
  const bool repeated = index != kNoIndex;
  switch (step.kind) {
    case Kind::kText: {
      std::string scratch;  // used only by string representations other than std::string
      const std::string& text = repeated
                                    ? r.GetRepeatedStringReference(m, step.field, index, &scratch)
                                    : r.GetStringReference(m, step.field, &scratch);
      if (text.empty()) return absl::OkStatus();
      if (step.limit == nullptr) return Unlisted(at);
      return CheckText(text, step, at);
    }
    case Kind::kMessage:
      return CheckMessage(
          repeated ? r.GetRepeatedMessage(m, step.field, index) : r.GetMessage(m, step.field),
          *step.message, &at);
    case Kind::kTime:
      if (step.limit == nullptr) return Unlisted(at);
      if (step.limit->value != ValueRule::kRange) return absl::OkStatus();
      return CheckTime(
          repeated ? r.GetRepeatedMessage(m, step.field, index) : r.GetMessage(m, step.field), step,
          at);
    case Kind::kNumber:
      if (step.limit == nullptr) return Unlisted(at);
      if (step.limit->value != ValueRule::kRange) return absl::OkStatus();
      return CheckNumber(m, r, step, repeated ? index : -1, at);
  }
  return absl::OkStatus();
}

absl::Status CheckMessage(const Message& m, const Plan& plan, const PathNode* parent) {
  const Reflection& r = *plan.reflection;
  for (const Step& step : plan.steps) {
    const FieldDescriptor* f = step.field;
    if (!f->is_repeated()) {
      // Proto3 scalars: "set" is "not the default". Text is read once, below, instead.
      if (step.kind != Kind::kText && !r.HasField(m, f)) continue;
      const PathNode at{parent, f, kNoIndex};
      KF_RETURN_IF_ERROR(CheckValue(m, r, step, kNoIndex, at));
      continue;
    }
    const int n = r.FieldSize(m, f);
    if (n == 0) continue;
    const PathNode list{parent, f, kNoIndex};
    if (step.limit == nullptr) return Unlisted(list);
    if (static_cast<size_t>(n) > step.limit->max_count) {
      return absl::InvalidArgumentError(absl::StrCat(
          PathText(list), " has ", n, " entries; the limit is ", step.limit->max_count));
    }
    for (int i = 0; i < n; ++i) {
      const PathNode at{parent, f, step.is_map ? kMapEntry : i};
      KF_RETURN_IF_ERROR(CheckValue(m, r, step, i, at));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFieldLimits(const Message& request) {
  const Plan* plan = ThePlans().Find(request.GetDescriptor());
  if (plan == nullptr) {
    return absl::InternalError(absl::StrCat("no field limits for message type ",
                                            request.GetDescriptor()->full_name(),
                                            ": it is not a request of the controller's services"));
  }
  if (request.GetReflection() != plan->reflection) {
    return absl::InternalError(
        absl::StrCat("a ", request.GetDescriptor()->full_name(),
                     " that is not the generated class (a DynamicMessage?)"));
  }
  return CheckMessage(request, *plan, nullptr);
}

}  // namespace keyfleet::controller
