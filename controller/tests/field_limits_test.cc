// The field limits table against the protos (every field has a row, every row a field), each row
// at its limit and one past it, the errors' wording, and the cost of checking a typical report.
#include "controller/service/field_limits.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "keyfleet/v1/admin.pb.h"
#include "keyfleet/v1/agent.pb.h"

namespace keyfleet::controller {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using ::testing::HasSubstr;
using ::testing::Not;

bool IsTimeType(const Descriptor* d) {
  return d != nullptr && (d->full_name() == "google.protobuf.Timestamp" ||
                          d->full_name() == "google.protobuf.Duration");
}

std::vector<const google::protobuf::ServiceDescriptor*> Services() {
  const google::protobuf::FileDescriptor* admin = v1::AddPrincipalRequest::descriptor()->file();
  const google::protobuf::FileDescriptor* agent = v1::AgentMessage::descriptor()->file();
  return {admin->FindServiceByName("AdminService"), agent->FindServiceByName("AgentService"),
          agent->FindServiceByName("EnrollmentService")};
}

// Every field reachable from the services' input types, with one way to reach it: the root
// request type and the chain of fields from it.
struct Reach {
  const Descriptor* root;
  std::vector<const FieldDescriptor*> chain;  // ends with the field itself
};

void Collect(const Descriptor* root, const Descriptor* d,
             std::vector<const FieldDescriptor*>& chain, std::map<std::string, Reach>* out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    chain.push_back(f);
    const bool seen = out->count(f->full_name()) > 0;
    if (!seen) (*out)[f->full_name()] = Reach{root, chain};
    if (!seen && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        !IsTimeType(f->message_type())) {
      Collect(root, f->message_type(), chain, out);
    }
    chain.pop_back();
  }
}

std::map<std::string, Reach> RequestFields() {
  std::map<std::string, Reach> out;
  for (const auto* service : Services()) {
    for (int i = 0; i < service->method_count(); ++i) {
      const Descriptor* input = service->method(i)->input_type();
      std::vector<const FieldDescriptor*> chain;
      Collect(input, input, chain, &out);
    }
  }
  return out;
}

bool IsNumber(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_ENUM:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return true;
    default:
      return false;
  }
}

// What a row must say for a field; "" when it says it.
std::string RowProblem(const FieldDescriptor* f, const FieldLimit* row) {
  const bool text = f->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
  const bool time =
      f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && IsTimeType(f->message_type());
  const bool valued = IsNumber(f) || time;
  const bool needs_row = text || valued || f->is_repeated();
  if (row == nullptr) return needs_row ? "has no row" : "";
  if (!needs_row) return "has a row, but nothing of it is checked (a bool or a message)";
  if (text != (row->max_bytes > 0)) {
    return text ? "is a string or bytes field without max_bytes" : "is not text but has max_bytes";
  }
  if (f->is_repeated() != (row->max_count > 0)) {
    return f->is_repeated() ? "is repeated without max_count" : "is not repeated but has max_count";
  }
  if (valued == (row->value == ValueRule::kNone)) {
    return valued ? "is a number or time without a value rule" : "has a value rule but no value";
  }
  if (row->value == ValueRule::kRange || row->value == ValueRule::kByHandler) {
    if (row->min > row->max) return "has min > max";
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT ||
        f->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
      if (row->value == ValueRule::kRange) return "is floating point: no kRange check exists";
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM &&
        (f->enum_type()->FindValueByNumber(row->min) == nullptr ||
         f->enum_type()->FindValueByNumber(row->max) == nullptr)) {
      return "is an enum whose range ends are not values of it";
    }
  }
  if (row->from.empty()) return "says nowhere where its limit comes from";
  return "";
}

TEST(FieldLimitsTest, EveryFieldOfEveryRequestHasItsRow) {
  std::vector<std::string> problems;
  for (const auto& [name, reach] : RequestFields()) {
    const FieldDescriptor* f = reach.chain.back();
    std::string problem = RowProblem(f, FindFieldLimit(name));
    if (!problem.empty()) problems.push_back(absl::StrCat(name, " ", problem));
  }
  EXPECT_THAT(problems, ::testing::IsEmpty())
      << "add or fix the rows in controller/service/field_limits.cc:\n"
      << absl::StrJoin(problems, "\n");
}

TEST(FieldLimitsTest, EveryRowIsAFieldOfARequestOnce) {
  const std::map<std::string, Reach> fields = RequestFields();
  std::set<std::string> seen;
  for (const FieldLimit& row : FieldLimits()) {
    EXPECT_TRUE(fields.count(std::string(row.field))) << row.field << " is no request's field";
    EXPECT_TRUE(seen.insert(std::string(row.field)).second) << row.field << " has two rows";
  }
}

// Builds a request of `reach.root` holding the field at the end of the chain: one element of
// each repeated field on the way. Returns the message that holds the field.
Message* Holder(const Reach& reach, Message* root) {
  Message* m = root;
  for (size_t i = 0; i + 1 < reach.chain.size(); ++i) {
    const FieldDescriptor* f = reach.chain[i];
    const Reflection* r = m->GetReflection();
    m = f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f);
  }
  return m;
}

// The path CheckFieldLimits names the field by, in such a request.
std::string PathOf(const Reach& reach, bool with_index) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < reach.chain.size(); ++i) {
    const FieldDescriptor* f = reach.chain[i];
    const bool last = i + 1 == reach.chain.size();
    const bool indexed = f->is_repeated() && !f->is_map() && (!last || with_index);
    parts.push_back(indexed ? absl::StrCat(f->name(), "[0]") : f->name());
  }
  return absl::StrJoin(parts, ".");
}

std::unique_ptr<Message> NewRequest(const Reach& reach) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(reach.root)->New());
}

void SetText(Message* m, const FieldDescriptor* f, std::string value) {
  if (f->is_repeated()) {
    m->GetReflection()->AddString(m, f, std::move(value));
  } else {
    m->GetReflection()->SetString(m, f, std::move(value));
  }
}

// Every text row: a value of exactly max_bytes passes, one byte more is refused, naming the
// field by its path and both sizes, and quoting nothing of the value.
TEST(FieldLimitsTest, EveryTextRowAtItsLimitPassesAndOneByteMoreIsRefused) {
  const std::map<std::string, Reach> fields = RequestFields();
  int tested = 0;
  for (const FieldLimit& row : FieldLimits()) {
    if (row.max_bytes == 0) continue;
    ++tested;
    SCOPED_TRACE(row.field);
    const Reach& reach = fields.at(std::string(row.field));
    const FieldDescriptor* f = reach.chain.back();
    std::unique_ptr<Message> at_limit = NewRequest(reach);
    SetText(Holder(reach, at_limit.get()), f, std::string(row.max_bytes, 'Q'));
    EXPECT_TRUE(CheckFieldLimits(*at_limit).ok()) << CheckFieldLimits(*at_limit);

    std::unique_ptr<Message> over = NewRequest(reach);
    SetText(Holder(reach, over.get()), f, std::string(row.max_bytes + 1, 'Q'));
    absl::Status s = CheckFieldLimits(*over);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), absl::StrCat(PathOf(reach, true), " is ", row.max_bytes + 1,
                                        " bytes; the limit is ", row.max_bytes, " bytes"));
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("QQ")));
  }
  EXPECT_GE(tested, 80);
}

// Every repeated row with a count small enough to build: max_count entries pass, one more is
// refused naming the list. (The big ones share the code; AddKeys stands for them below.)
TEST(FieldLimitsTest, EveryListAtItsCountPassesAndOneMoreIsRefused) {
  const std::map<std::string, Reach> fields = RequestFields();
  int tested = 0;
  for (const FieldLimit& row : FieldLimits()) {
    if (row.max_count == 0 ||
        (row.max_count > 4096 && row.field != "keyfleet.v1.AddKeysRequest.public_keys")) {
      continue;
    }
    SCOPED_TRACE(row.field);
    const Reach& reach = fields.at(std::string(row.field));
    const FieldDescriptor* f = reach.chain.back();
    auto fill = [&](size_t n) {
      std::unique_ptr<Message> request = NewRequest(reach);
      Message* holder = Holder(reach, request.get());
      const Reflection* r = holder->GetReflection();
      for (size_t i = 0; i < n; ++i) {
        switch (f->cpp_type()) {
          case FieldDescriptor::CPPTYPE_STRING:
            r->AddString(holder, f, "k");
            break;
          case FieldDescriptor::CPPTYPE_ENUM:
            r->AddEnumValue(holder, f, 0);
            break;
          case FieldDescriptor::CPPTYPE_MESSAGE: {
            Message* entry = r->AddMessage(holder, f);
            if (f->is_map()) {  // distinct keys, as a map holds them
              const FieldDescriptor* key = f->message_type()->map_key();
              entry->GetReflection()->SetString(entry, key, absl::StrCat("k", i));
            }
            break;
          }
          default:
            ADD_FAILURE() << "no filler for this type";
        }
      }
      return request;
    };
    EXPECT_TRUE(CheckFieldLimits(*fill(row.max_count)).ok());
    absl::Status s = CheckFieldLimits(*fill(row.max_count + 1));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), absl::StrCat(PathOf(reach, false), " has ", row.max_count + 1,
                                        " entries; the limit is ", row.max_count));
    ++tested;
  }
  EXPECT_GE(tested, 10);
}

void SetNumber(Message* m, const FieldDescriptor* f, int64_t value) {
  const Reflection* r = m->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return r->SetInt32(m, f, static_cast<int32_t>(value));
    case FieldDescriptor::CPPTYPE_INT64:
      return r->SetInt64(m, f, value);
    case FieldDescriptor::CPPTYPE_UINT32:
      return r->SetUInt32(m, f, static_cast<uint32_t>(value));
    case FieldDescriptor::CPPTYPE_UINT64:
      return r->SetUInt64(m, f, static_cast<uint64_t>(value));
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->SetEnumValue(m, f, static_cast<int>(value));
    case FieldDescriptor::CPPTYPE_MESSAGE: {  // Timestamp or Duration: seconds
      Message* t = r->MutableMessage(m, f);
      return t->GetReflection()->SetInt64(t, t->GetDescriptor()->FindFieldByNumber(1), value);
    }
    default:
      ADD_FAILURE() << f->full_name() << ": no setter";
  }
}

// Whether `value` fits the field's type (a value just past a range may not).
bool Representable(const FieldDescriptor* f, absl::int128 value) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_ENUM:
      return value >= INT32_MIN && value <= INT32_MAX;
    case FieldDescriptor::CPPTYPE_UINT32:
      return value >= 0 && value <= UINT32_MAX;
    case FieldDescriptor::CPPTYPE_UINT64:
      return value >= 0;  // the ranges are int64
    default:
      return value >= INT64_MIN && value <= INT64_MAX;
  }
}

// Every range row: both ends pass, one past either end is refused naming the field.
TEST(FieldLimitsTest, EveryRangeRowAtItsEndsPassesAndOnePastIsRefused) {
  const std::map<std::string, Reach> fields = RequestFields();
  int tested = 0;
  for (const FieldLimit& row : FieldLimits()) {
    if (row.value != ValueRule::kRange || row.max_count > 0) continue;
    SCOPED_TRACE(row.field);
    const Reach& reach = fields.at(std::string(row.field));
    const FieldDescriptor* f = reach.chain.back();
    for (int64_t end : {row.min, row.max}) {
      std::unique_ptr<Message> request = NewRequest(reach);
      SetNumber(Holder(reach, request.get()), f, end);
      EXPECT_TRUE(CheckFieldLimits(*request).ok()) << end << ": " << CheckFieldLimits(*request);
    }
    for (absl::int128 past : {absl::int128(row.min) - 1, absl::int128(row.max) + 1}) {
      if (!Representable(f, past)) continue;
      std::unique_ptr<Message> request = NewRequest(reach);
      SetNumber(Holder(reach, request.get()), f, static_cast<int64_t>(past));
      absl::Status s = CheckFieldLimits(*request);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat(PathOf(reach, true), " is ")));
      EXPECT_THAT(std::string(s.message()), HasSubstr("allowed: "));
      ++tested;
    }
  }
  EXPECT_GE(tested, 8);
}

// Numbers whose handler checks them, or where every value means something, pass here whatever
// they hold: the handler's own message stays the one callers see.
TEST(FieldLimitsTest, NumbersOfOtherRowsAreNotCheckedHere) {
  const std::map<std::string, Reach> fields = RequestFields();
  for (const FieldLimit& row : FieldLimits()) {
    if (row.value != ValueRule::kByHandler && row.value != ValueRule::kAnyValue) continue;
    if (row.max_count > 0) continue;
    SCOPED_TRACE(row.field);
    const Reach& reach = fields.at(std::string(row.field));
    std::unique_ptr<Message> request = NewRequest(reach);
    SetNumber(Holder(reach, request.get()), reach.chain.back(), -5);
    EXPECT_TRUE(CheckFieldLimits(*request).ok()) << CheckFieldLimits(*request);
  }
}

struct BadCase {
  const char* what;
  std::function<std::unique_ptr<Message>()> request;
  const char* message;  // the whole error
};

std::unique_ptr<Message> Own(const Message& m) {
  std::unique_ptr<Message> copy(m.New());
  copy->CopyFrom(m);
  return copy;
}

TEST(FieldLimitsTest, ErrorsNameTheFieldAndTheLimitNeverTheValue) {
  const std::string secret = "SECRETSECRET";
  const std::vector<BadCase> cases = {
      {"a nested field",
       [&] {
         v1::AddGrantRequest r;
         r.mutable_grant()->set_account(secret + std::string(30, 'x'));
         return Own(r);
       },
       "grant.account is 42 bytes; the limit is 32 bytes"},
      {"a map key",
       [&] {
         v1::AddGrantRequest r;
         (*r.mutable_grant()->mutable_hosts()->mutable_labels())[secret + std::string(60, 'x')] =
             "v";
         return Own(r);
       },
       "grant.hosts.labels.key is 72 bytes; the limit is 63 bytes"},
      {"a map's entries",
       [&] {
         v1::CreateHostTokenRequest r;
         for (int i = 0; i < 33; ++i) (*r.mutable_labels())[absl::StrCat("k", i)] = "v";
         return Own(r);
       },
       "labels has 33 entries; the limit is 32"},
      {"one element of a list",
       [&] {
         v1::AddKeysRequest r;
         r.add_public_keys("ssh-ed25519 AAAA");
         r.add_public_keys(secret + std::string(kMaxPublicKeyLineBytes, 'x'));
         return Own(r);
       },
       "public_keys[1] is 9228 bytes; the limit is 9216 bytes"},
      {"too many keys",
       [&] {
         v1::AddKeysRequest r;
         for (size_t i = 0; i <= kMaxKeysPerAddRequest; ++i) r.add_public_keys("k");
         return Own(r);
       },
       "public_keys has 65537 entries; the limit is 65536"},
      {"deep in a report",
       [&] {
         v1::AgentMessage m;
         v1::ReportRequest* report = m.mutable_report();
         for (int i = 0; i < 3; ++i) report->add_observed()->add_lines();
         report->mutable_observed(2)->add_lines()->set_comment(secret + std::string(250, 'x'));
         return Own(m);
       },
       "report.observed[2].lines[1].comment is 262 bytes; the limit is 256 bytes"},
      {"bad UTF-8",
       [&] {
         v1::AddPrincipalRequest r;
         r.set_email(secret + "\xff@example.org");
         return Own(r);
       },
       "email is not valid UTF-8 (at byte 12)"},
      {"bad UTF-8 in a report",
       [&] {
         v1::AgentMessage m;
         m.mutable_report()->add_drift();
         m.mutable_report()->add_drift()->set_detail(secret + "\xc3(");
         return Own(m);
       },
       "report.drift[1].detail is not valid UTF-8 (at byte 12)"},
      {"a truncated sequence",
       [&] {
         v1::RevokeKeyRequest r;
         r.set_reason(secret + "\xe2\x82");
         return Own(r);
       },
       "reason is not valid UTF-8 (at byte 12)"},
      {"an enum value the proto does not define",
       [&] {
         v1::ListKeysRequest r;
         r.set_state(static_cast<v1::KeyState>(99));
         return Own(r);
       },
       "state is 99; allowed: 0 to 4 (KEY_STATE_UNSPECIFIED to KEY_STATE_REVOKED)"},
      {"a nested enum",
       [&] {
         v1::SetPolicyRequest r;
         r.mutable_policy()->set_unmanaged_keys(static_cast<v1::UnmanagedKeys>(-1));
         return Own(r);
       },
       "policy.unmanaged_keys is -1; allowed: 0 to 3 (UNMANAGED_KEYS_UNSPECIFIED to "
       "UNMANAGED_KEYS_REMOVE)"},
      {"a generation past bigint",
       [&] {
         v1::AgentMessage m;
         m.mutable_report()->set_applied_generation(UINT64_MAX);
         return Own(m);
       },
       "report.applied_generation is 18446744073709551615; allowed: 0 to 9223372036854775807"},
      {"a time before 1970",
       [&] {
         v1::AddGrantRequest r;
         r.mutable_grant()->mutable_created_at()->set_seconds(-1);
         return Own(r);
       },
       "grant.created_at is out of range (-1 seconds since 1970, 0 ns); allowed: "
       "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"},
      {"nanos out of range",
       [&] {
         v1::AgentMessage m;
         m.mutable_report()->add_observed()->add_lines()->mutable_expires_at()->set_nanos(-1);
         return Own(m);
       },
       "report.observed[0].lines[0].expires_at is out of range (0 seconds since 1970, -1 ns); "
       "allowed: 1969-12-31T00:00:00Z to 10000-01-01T23:59:59Z"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    absl::Status s = CheckFieldLimits(*c.request());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), c.message);
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("SECRET")));
  }
}

TEST(FieldLimitsTest, GoodRequestsPass) {
  v1::AddGrantRequest grant;
  grant.mutable_grant()->set_principal("alice");
  grant.mutable_grant()->set_account("deploy");
  grant.mutable_grant()->set_options("restrict,from=\"10.0.0.0/8\"");
  (*grant.mutable_grant()->mutable_hosts()->mutable_labels())["env"] = "prod";
  grant.mutable_grant()->mutable_expires_at()->set_seconds(1900000000);
  EXPECT_TRUE(CheckFieldLimits(grant).ok());

  v1::AddPrincipalRequest principal;
  principal.set_name("zoë");  // UTF-8 passes here; the handler decides on the alphabet
  EXPECT_TRUE(CheckFieldLimits(principal).ok());

  // An expiry-time= in a zone east of UTC may come out before 1970 (and west, after 9999).
  v1::AgentMessage report;
  report.mutable_report()->add_observed()->add_lines()->mutable_expires_at()->set_seconds(-3600);
  EXPECT_TRUE(CheckFieldLimits(report).ok());

  EXPECT_TRUE(CheckFieldLimits(v1::ListPrincipalsRequest()).ok());
}

TEST(FieldLimitsTest, AMessageNoServiceTakesIsAProgrammingError) {
  EXPECT_EQ(CheckFieldLimits(v1::Key()).code(), absl::StatusCode::kInternal);
}

// What the controller checks on every report: a typical one must cost microseconds.
TEST(FieldLimitsTest, ATypicalReportIsCheckedInMicroseconds) {
  v1::AgentMessage message;
  v1::ReportRequest* report = message.mutable_report();
  report->set_applied_generation(123456);
  report->set_applied_digest(std::string(64, 'a'));
  report->set_applied_epoch(std::string(16, 'b'));
  for (int i = 0; i < 4; ++i) report->add_host_key_fingerprints(std::string(50, 'f'));
  for (int a = 0; a < 20; ++a) {
    v1::ObservedAccount* account = report->add_observed();
    account->set_account(absl::StrCat("user", a));
    for (int l = 0; l < 5; ++l) {
      v1::ObservedKeyLine* line = account->add_lines();
      line->set_fingerprint("SHA256:" + std::string(43, 'x'));
      line->set_managed(l < 3);
      line->set_options("restrict,from=\"10.0.0.0/8\",expiry-time=\"202612011200Z\"");
      line->mutable_expires_at()->set_seconds(1900000000);
      line->set_comment(absl::StrCat("user", a, "@laptop-", l));
      line->set_file("authorized_keys");
      line->set_key_type("ssh-ed25519");
    }
  }
  for (int d = 0; d < 5; ++d) {
    v1::DriftItem* drift = report->add_drift();
    drift->set_account("user1");
    drift->set_kind(v1::DRIFT_KIND_UNMANAGED_KEY);
    drift->set_path("/home/user1/.ssh/authorized_keys");
    drift->set_detail("not managed by keyfleet: SHA256:" + std::string(43, 'y'));
  }
  ASSERT_TRUE(CheckFieldLimits(message).ok());
  // The best of several rounds (the machine may be busy), beside what parsing the same report
  // costs, which every report pays anyway.
  const std::string wire = message.SerializeAsString();
  auto best_micros = [](const std::function<void()>& run) {
    constexpr int kRounds = 10, kCalls = 200;
    double best = 1e9;
    for (int round = 0; round < kRounds; ++round) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kCalls; ++i) run();
      const std::chrono::duration<double, std::micro> took =
          std::chrono::steady_clock::now() - start;
      best = std::min(best, took.count() / kCalls);
    }
    return best;
  };
  bool all_ok = true;
  const double micros = best_micros([&] { all_ok = all_ok && CheckFieldLimits(message).ok(); });
  const double parse = best_micros([&] {
    v1::AgentMessage parsed;
    all_ok = all_ok && parsed.ParseFromString(wire);
  });
  EXPECT_TRUE(all_ok);
  std::cout << "a report of 20 accounts and 100 lines (" << wire.size()
            << " bytes): CheckFieldLimits " << micros << " us; parsing it " << parse << " us\n";
  // A regression guard, not a benchmark (tests/bench measures): it takes tens of microseconds;
  // only a walk gone quadratic, or copying, would come near this.
  EXPECT_LT(micros, 1000.0);
}

}  // namespace
}  // namespace keyfleet::controller
