#include "cli/controller_client.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "common/database_unavailable.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/secure_file.h"
#include "common/tls/x509.h"

namespace keyfleet::cli {
namespace {

constexpr int kCallSeconds = 30;
// Asking again after a lost answer waits this long for the controller to accept a connection:
// long enough for a restarted controller (or a failed-over replica behind the same name), short
// enough that a controller that is gone for good is reported within half a minute.
constexpr int kReconnectSeconds = 10;
constexpr size_t kMaxCaFileBytes = 1 << 20;
constexpr size_t kMaxTokenFileBytes = 4096;
constexpr size_t kMaxConfigBytes = 1 << 20;

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid request";
    case grpc::StatusCode::NOT_FOUND:
      return "not found";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "already exists";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "refused";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "permission denied";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "not authenticated";
    default:
      return "error";
  }
}

}  // namespace

namespace {

// A setting from ~/.config/keyfleet/config.yaml, or "" when there is none.
std::string ConfigSetting(const char* key) {
  if (const char* home = std::getenv("HOME")) {
    try {
      YAML::Node config = YAML::LoadFile(std::string(home) + "/.config/keyfleet/config.yaml");
      if (config[key]) return config[key].as<std::string>();
    } catch (const YAML::Exception&) {
      // No file (or not YAML): nothing set.
    }
  }
  return "";
}

}  // namespace

std::string ResolveControllerAddress(const GlobalOptions& globals) {
  if (!globals.controller.empty()) return globals.controller;
  std::string configured = ConfigSetting("controller");
  return configured.empty() ? kDefaultController : configured;
}

namespace {

absl::StatusOr<std::string> ReadTokenFile(const std::string& file) {
  absl::StatusOr<std::string> text = tls::ReadSecretFile(file, kMaxTokenFileBytes);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use the token file: ", text.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(file, " is empty"));
  return token;
}

}  // namespace

absl::StatusOr<ClientCredentials> ResolveCredentials(const GlobalOptions& flags) {
  ClientCredentials out;
  GlobalOptions globals = flags;
  // The environment's token, unless the command line names a credential.
  if (globals.token.empty() && globals.token_file.empty() && globals.cert_file.empty() &&
      globals.key_file.empty()) {
    globals.token = globals.env_token;
    globals.token_file = globals.env_token.empty() ? globals.env_token_file : "";
  }
  const bool token_given = !globals.token.empty() || !globals.token_file.empty();
  std::string cert_file = globals.cert_file;
  std::string key_file = globals.key_file;
  if (token_given && (!cert_file.empty() || !key_file.empty())) {
    return absl::InvalidArgumentError(
        "give a token (--token, --token-file, $KEYFLEET_TOKEN) or a certificate (--cert, --key), "
        "not both");
  }
  if (!globals.token.empty() && !globals.token_file.empty()) {
    return absl::InvalidArgumentError("give --token or --token-file, not both");
  }
  if (!globals.token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(globals.token_file);
    if (!token.ok()) return token.status();
    out.token = *std::move(token);
  } else if (!globals.token.empty()) {
    out.token = globals.token;
  } else if (cert_file.empty() && key_file.empty()) {
    // Nothing on the command line or in the environment: the config file.
    if (std::string file = ConfigSetting("token_file"); !file.empty()) {
      absl::StatusOr<std::string> token = ReadTokenFile(file);
      if (!token.ok()) return token.status();
      out.token = *std::move(token);
    } else if (std::string token = ConfigSetting("token"); !token.empty()) {
      // A secret in the config file: the file must be as private as a token file.
      const std::string path = std::string(std::getenv("HOME")) + "/.config/keyfleet/config.yaml";
      absl::StatusOr<std::string> private_copy = tls::ReadSecretFile(path, kMaxConfigBytes);
      if (!private_copy.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the config file holds a token (`token:`), so it must be readable by you only: ",
            private_copy.status().message()));
      }
      out.token = token;
    } else {
      cert_file = ConfigSetting("cert");
      key_file = ConfigSetting("key");
    }
  }
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError(
        "an admin certificate needs both --cert FILE and --key FILE (from `keyfleet admin cert "
        "issue`)");
  }
  // It goes into a header: a newline or control character would make gRPC abort the call.
  if (out.token.size() > kMaxTokenFileBytes ||
      !std::all_of(out.token.begin(), out.token.end(), [](char c) { return c > ' ' && c < 127; })) {
    return absl::InvalidArgumentError(
        "the API token holds characters no token has (spaces, newlines or control "
        "characters; a token is one line, kfat_…): check --token, --token-file or "
        "$KEYFLEET_TOKEN");
  }
  if (globals.insecure_dev || ConfigSetting("insecure_dev") == "true") {
    const std::string address = ResolveControllerAddress(globals);
    if (!tls::IsLoopbackAddress(address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--insecure-dev is plaintext and would send the token in the clear: it reaches only a "
          "loopback controller (127.0.0.1, [::1], localhost), not ",
          address));
    }
    if (!cert_file.empty()) {
      return absl::InvalidArgumentError(
          "--insecure-dev is plaintext: an admin certificate cannot be used; use a token");
    }
    out.channel = grpc::InsecureChannelCredentials();
    return out;
  }
  std::string ca_file = globals.ca_file.empty() ? ConfigSetting("ca") : globals.ca_file;
  if (ca_file.empty()) {
    return absl::InvalidArgumentError(
        "the controller's CA certificate is needed to verify it: pass --ca FILE, set "
        "KEYFLEET_CA, or put `ca: FILE` in ~/.config/keyfleet/config.yaml (FILE is ca.crt in the "
        "controller's ca_dir, or any copy of it)");
  }
  absl::StatusOr<std::string> pem = tls::ReadPublicFile(ca_file, kMaxCaFileBytes);
  if (!pem.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use the CA file: ", pem.status().message()));
  }
  if (cert_file.empty()) {
    out.channel = tls::ClientTlsCredentials(*pem);
    return out;
  }
  absl::StatusOr<std::string> key = tls::ReadSecretFile(key_file, kMaxCaFileBytes);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use the key file: ", key.status().message()));
  }
  absl::StatusOr<std::string> cert = tls::ReadPublicFile(cert_file, kMaxCaFileBytes);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use the certificate file: ", cert.status().message()));
  }
  if (absl::Status match = tls::CheckKeyMatchesCertificate(*key, *cert); !match.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_file, " and ", cert_file, " do not belong together: ", match.message()));
  }
  out.channel = tls::ClientTlsCredentials(*pem, *key, *cert);
  return out;
}

namespace {

// Answers from a large fleet pass gRPC's 4 MiB default (a bulk add of 30,000 keys is 6 MB). The
// controller is authenticated; the cap still bounds a bad one.
// Each channel has its own connections (no sharing through gRPC's global subchannel pool, which
// would carry a dead controller's reconnect backoff into the retry's new channel), and reconnects
// quickly: a CLI call is short-lived and waits at most its deadline.
grpc::ChannelArguments ClientChannelArguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the shortest time a connection
  // attempt may take (20 s by default), and a busy controller's handshake may need longer than
  // a backoff step.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

}  // namespace

ControllerClient::ControllerClient(const GlobalOptions& globals, ClientCredentials credentials)
    : address_(ResolveControllerAddress(globals)),
      credentials_(std::move(credentials.channel)),
      token_(std::move(credentials.token)),
      request_id_(globals.request_id) {
  Reconnect();
}

void ControllerClient::Reconnect() {
  channel_ = grpc::CreateCustomChannel(address_, credentials_, ClientChannelArguments());
  admin_ = v1::AdminService::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> ControllerClient::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kCallSeconds));
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  return ctx;
}

std::string ControllerClient::NextRequestId() {
  ++mutations_;
  if (!request_id_.empty()) {
    return mutations_ == 1 ? request_id_ : absl::StrCat(request_id_, ".", mutations_);
  }
  absl::StatusOr<std::string> id = NewRequestId();
  // Without randomness the call goes untagged: still correct, only not safe to repeat.
  return id.ok() ? *id : std::string();
}

bool ControllerClient::CannotTrust(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         absl::StrContains(absl::AsciiStrToLower(status.error_message()), "handshake failed");
}

bool ControllerClient::AnswerMayBeLost(const grpc::Status& status) {
  // A controller whose certificate does not verify never got the request.
  if (CannotTrust(status)) return false;
  switch (status.error_code()) {
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    case grpc::StatusCode::UNAVAILABLE:
      // The database down is an answer ("nothing was changed"), except when the connection
      // broke during the commit.
      return !absl::StartsWith(status.error_message(), kDatabaseUnavailable) ||
             absl::StrContains(status.error_message(), "unknown whether");
    default:
      return false;
  }
}

bool ControllerClient::OutcomeUnknown(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         absl::StartsWith(status.error_message(), kDatabaseUnavailable) &&
         absl::StrContains(status.error_message(), "unknown whether");
}

bool ControllerClient::NoAnswer(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

grpc::Status ControllerClient::StillUnknown(const grpc::Status& last, const std::string& id) {
  if (OutcomeUnknown(last)) return last;
  return grpc::Status(
      grpc::StatusCode::UNAVAILABLE,
      absl::StrCat(kDatabaseUnavailable, ": it is unknown whether request ", id,
                   " was applied: an attempt lost the database connection while committing, "
                   "and no later attempt got an answer (last: ",
                   last.error_message().substr(0, 200), "). Ask again later with --request-id ", id,
                   ": the controller answers with its outcome and never does it twice"));
}

void ControllerClient::WaitBeforeAsking(const grpc::Status& status, const std::string& id,
                                        int attempt) {
  const int seconds = attempt == 1 ? 1 : 3;
  std::cerr << "keyfleet: no answer from the controller at " << address_ << " ("
            << status.error_message().substr(0, 200) << "); asking again in " << seconds
            << " s with the same request id " << id << ", waiting up to " << kReconnectSeconds
            << " s for it to come back (attempt " << attempt + 1 << " of " << kMutationAttempts
            << ")\n";
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  Reconnect();
  // Not wait-for-ready on the call itself: when the controller stays away, the attempt fails
  // with the connection's own reason (refused, a TLS failure) instead of a bare deadline.
  channel_->WaitForConnected(std::chrono::system_clock::now() +
                             std::chrono::seconds(kReconnectSeconds));
}

int ControllerClient::Fail(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      absl::StartsWith(status.error_message(), kDatabaseUnavailable)) {
    std::cerr << "keyfleet: " << status.error_message() << "\n  (the controller at " << address_
              << " is up; PostgreSQL is not: retry later, or ask its operators)\n";
    return kExitDatabaseUnavailable;
  }
  if (CannotTrust(status)) {
    std::cerr << "keyfleet: cannot reach the controller at " << address_
              << ": the TLS handshake failed, so it was not asked anything: "
              << status.error_message() << "\n"
              << "  (check that --ca, $KEYFLEET_CA or `ca:` is the controller's CA, ca.crt in its "
                 "ca_dir, and that the address is one of the names in its certificate)\n";
    return kExitUnreachable;
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::cerr << "keyfleet: cannot reach the controller at " << address_ << ": "
              << status.error_message() << "\n"
              << "  (set --controller, $KEYFLEET_CONTROLLER or ~/.config/keyfleet/config.yaml)\n";
    return kExitUnreachable;
  }
  std::cerr << "keyfleet: " << CodeName(status.error_code()) << ": "
            << (status.error_message().empty()
                    ? "(the controller gave no reason; a request it cannot read, e.g. text that "
                      "is not UTF-8, ends like this)"
                    : status.error_message())
            << "\n";
  return kExitRefused;
}

}  // namespace keyfleet::cli
