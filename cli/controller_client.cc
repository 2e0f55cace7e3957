#include "cli/controller_client.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <iostream>

#include "cli/exit_codes.h"

namespace keyfleet::cli {
namespace {

constexpr int kCallSeconds = 30;

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

std::string ResolveControllerAddress(const GlobalOptions& globals) {
  if (!globals.controller.empty()) return globals.controller;
  if (const char* home = std::getenv("HOME")) {
    try {
      YAML::Node config = YAML::LoadFile(std::string(home) + "/.config/keyfleet/config.yaml");
      if (config["controller"]) return config["controller"].as<std::string>();
    } catch (const YAML::Exception&) {
      // No file (or not YAML): the default below.
    }
  }
  return kDefaultController;
}

ControllerClient::ControllerClient(const GlobalOptions& globals)
    : address_(ResolveControllerAddress(globals)),
      channel_(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials())),
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
