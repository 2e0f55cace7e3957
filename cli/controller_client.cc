#include "cli/controller_client.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/secure_file.h"

namespace keyfleet::cli {
namespace {

constexpr int kCallSeconds = 30;
constexpr size_t kMaxCaFileBytes = 1 << 20;

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

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ResolveCredentials(
    const GlobalOptions& globals) {
  if (globals.insecure_dev || ConfigSetting("insecure_dev") == "true") {
    return grpc::InsecureChannelCredentials();
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
  return tls::ClientTlsCredentials(*pem);
}

ControllerClient::ControllerClient(const GlobalOptions& globals,
                                   std::shared_ptr<grpc::ChannelCredentials> credentials)
    : address_(ResolveControllerAddress(globals)),
      channel_(grpc::CreateChannel(address_, std::move(credentials))),
      admin_(v1::AdminService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> ControllerClient::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kCallSeconds));
  if (const char* user = std::getenv("USER")) ctx->AddMetadata("keyfleet-actor", user);
  return ctx;
}

int ControllerClient::Fail(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::cerr << "keyfleet: cannot reach the controller at " << address_ << ": "
              << status.error_message() << "\n"
              << "  (set --controller, $KEYFLEET_CONTROLLER or ~/.config/keyfleet/config.yaml)\n";
    return kExitUnreachable;
  }
  std::cerr << "keyfleet: " << CodeName(status.error_code()) << ": " << status.error_message()
            << "\n";
  return kExitRefused;
}

}  // namespace keyfleet::cli
