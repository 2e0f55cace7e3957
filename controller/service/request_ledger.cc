#include "controller/service/request_ledger.h"

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/request_id.h"
#include "common/sha256.h"
#include "controller/service/status_mapping.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// Answer fields that hold a secret shown once: never stored, so never replayed.
constexpr const char* kSecretFields[] = {"private_key", "token"};

absl::Time DeadlineOf(const grpc::ServerContext& ctx) {
  const auto deadline = ctx.deadline();
  // No deadline is gRPC's infinite future, which absl::FromChrono cannot hold.
  if (deadline >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// `response` without its secrets; *withheld says whether there were any.
std::unique_ptr<google::protobuf::Message> WithoutSecrets(const google::protobuf::Message& response,
                                                          bool* withheld) {
  std::unique_ptr<google::protobuf::Message> copy(response.New());
  copy->CopyFrom(response);
  const google::protobuf::Descriptor* d = copy->GetDescriptor();
  const google::protobuf::Reflection* r = copy->GetReflection();
  *withheld = false;
  for (const char* name : kSecretFields) {
    const google::protobuf::FieldDescriptor* f = d->FindFieldByName(name);
    if (f == nullptr || f->is_repeated() ||
        f->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
      continue;
    }
    if (!r->GetString(*copy, f).empty()) {
      r->ClearField(copy.get(), f);
      *withheld = true;
    }
  }
  return copy;
}

}  // namespace

absl::StatusOr<Actor> RequestLedger::ActorFor(const grpc::ServerContext& ctx, absl::string_view rpc,
                                              const google::protobuf::Message& request,
                                              std::string actor_name) {
  RequestTag tag;
  const auto& metadata = ctx.client_metadata();
  auto [first, last] = metadata.equal_range(kRequestIdMetadata);
  if (first != last) {
    if (std::next(first) != last) {
      return absl::InvalidArgumentError(
          absl::StrCat("a call carries one ", kRequestIdMetadata, ", not several"));
    }
    const absl::string_view id(first->second.data(), first->second.size());
    if (absl::Status s = ValidateRequestId(id); !s.ok()) return s;
    tag.id = std::string(id);
    tag.method = std::string(rpc);
    std::string bytes;
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&out);
    out.Trim();
    tag.digest = Sha256Hex(bytes);
  }
  return Actor(std::move(actor_name), std::move(tag), DeadlineOf(ctx));
}

grpc::Status RequestLedger::Run(grpc::ServerContext& ctx, const Actor& actor,
                                google::protobuf::Message* response,
                                const std::function<grpc::Status()>& mutation) {
  if (actor.request.id.empty()) return mutation();
  if (std::optional<grpc::Status> replayed = Replay(ctx, actor, response)) return *replayed;
  grpc::Status status = mutation();
  if (status.ok()) {
    Record(actor, *response);
    return status;
  }
  // Another attempt of this request may have committed meanwhile (the store refused this one),
  // or this one committed and then failed: either way the first outcome is the answer.
  response->Clear();
  absl::StatusOr<std::optional<RequestOutcome>> found = store_.FindRequestOutcome(actor.request.id);
  if (!found.ok()) {
    // The database is still out of reach (a failover not finished within the retry budget):
    // this attempt's own status says best what is known, "nothing was changed" or "unknown
    // whether" (the client then asks again with the same id), never the lookup's "nothing was
    // changed" about a commit whose outcome is unknown.
    spdlog::warn("request {}: cannot look its outcome up after a failed attempt: {}",
                 actor.request.id, found.status().ToString());
    return status;
  }
  if (!found->has_value()) return status;
  return Answer(ctx, actor, **found, response);
}

std::optional<grpc::Status> RequestLedger::Replay(grpc::ServerContext& ctx, const Actor& actor,
                                                  google::protobuf::Message* response) {
  absl::StatusOr<std::optional<RequestOutcome>> found = store_.FindRequestOutcome(actor.request.id);
  if (!found.ok()) return ToGrpcStatus(found.status());
  if (!found->has_value()) return std::nullopt;
  return Answer(ctx, actor, **found, response);
}

grpc::Status RequestLedger::Answer(grpc::ServerContext& ctx, const Actor& actor,
                                   const RequestOutcome& outcome,
                                   google::protobuf::Message* response) {
  if (outcome.actor != actor.name || outcome.method != actor.request.method ||
      outcome.digest != actor.request.digest) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("request id ", actor.request.id,
                                     " was already used for a different request; a new request "
                                     "needs a new id"));
  }
  ctx.AddTrailingMetadata(kRequestReplayedMetadata, "1");
  if (outcome.secret_withheld) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat(
            "request ", actor.request.id, " was already done (change ", outcome.change, ", ",
            absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", outcome.created_at, absl::UTCTimeZone()),
            "), but its answer held a secret that is shown once and never stored; undo "
            "it if nobody has the secret (see `keyfleet audit`) and ask again"));
  }
  response->Clear();
  if (outcome.response) {
    if (!response->ParseFromString(*outcome.response)) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          absl::StrCat("the recorded answer to request ", actor.request.id,
                                       " cannot be read; it was done as change ", outcome.change));
    }
    return grpc::Status::OK;
  }
  // Committed, answer not recorded (the controller stopped in between): the change is known.
  const google::protobuf::FieldDescriptor* change =
      response->GetDescriptor()->FindFieldByName("change");
  if (change != nullptr && change->type() == google::protobuf::FieldDescriptor::TYPE_UINT64) {
    response->GetReflection()->SetUInt64(response, change, outcome.change);
  }
  return grpc::Status::OK;
}

void RequestLedger::Record(const Actor& actor, const google::protobuf::Message& response) {
  bool withheld = false;
  std::unique_ptr<google::protobuf::Message> kept = WithoutSecrets(response, &withheld);
  absl::Status s =
      store_.RecordRequestResponse(actor.request.id, kept->SerializeAsString(), withheld);
  // Not fatal: a replay then answers with the change alone.
  if (!s.ok()) {
    spdlog::warn("could not record the answer to request {}: {}", actor.request.id, s.ToString());
  }
}

}  // namespace keyfleet::controller
