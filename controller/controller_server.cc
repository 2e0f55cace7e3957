#include "controller/controller_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/service/admin_service.h"
#include "controller/service/agent_service.h"
#include "controller/service/watch_hub.h"
#include "controller/store/change_listener.h"
#include "controller/store/migrations.h"
#include "controller/store/postgres_store.h"
#include "controller/view_follower.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {

// Everything a replica owns, in construction order (destroyed in reverse).
struct ControllerServer::Parts {
  Parts(const ControllerConfig& config, const Clock& clock)
      : store(PgOptions{config.database, config.db_pool_size, config.db_retry_budget}),
        view(config.default_policy),
        follower(store, view, clock),
        ctx{store, view, follower, clock,
            HandlerSettings{config.host_stale_after, 3 * config.heartbeat_interval}},
        reports(store),
        inventory(ctx),
        report_handlers(ctx),
        agents(ctx, reports),
        admin_service(inventory, report_handlers, clock),
        agent_service(agents, hub) {}

  PostgresStore store;
  FleetView view;
  ViewFollower follower;
  HandlerContext ctx;
  ReportBuffer reports;
  InventoryHandlers inventory;
  ReportHandlers report_handlers;
  AgentHandlers agents;
  WatchHub hub;
  AdminServiceImpl admin_service;
  AgentServiceImpl agent_service;
  std::unique_ptr<ChangeListener> listener;
};

ControllerServer::ControllerServer(ControllerConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

ControllerServer::~ControllerServer() {
  Shutdown();
}

absl::Status ControllerServer::Start() {
  if (config_.database.empty()) {
    return absl::InvalidArgumentError(
        "no database given: pass --db postgresql://USER@HOST/DB, set KEYFLEET_DB, or set "
        "`database:` in the config file");
  }
  parts_ = std::make_unique<Parts>(config_, clock_);
  if (config_.migrate_on_start) {
    KF_ASSIGN_OR_RETURN(MigrationResult migrated, parts_->store.Migrate());
    for (const std::string& name : migrated.applied) spdlog::info("applied migration {}", name);
  }
  KF_RETURN_IF_ERROR(parts_->store.CheckSchema());
  KF_RETURN_IF_ERROR(parts_->follower.Load());
  parts_->follower.SetListener(
      [hub = &parts_->hub](const std::vector<std::string>& hosts) { hub->HostsChanged(hosts); });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which lets a second controller bind the same port and
  // silently share traffic; a busy port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(config_.listen, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(&parts_->admin_service);
  builder.RegisterService(&parts_->agent_service);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config_.listen, " (address in use or not local?)"));
  }
  parts_->listener = std::make_unique<ChangeListener>(
      config_.database,
      [this] {
        absl::Status s = parts_->follower.CatchUp();
        if (!s.ok()) spdlog::error("fleet view catch-up failed: {}", s.ToString());
      },
      config_.feed_poll_interval);
  parts_->listener->Start();
  timer_ = std::thread([this] { RunTimer(); });
  writer_ = std::thread([this] { RunWriter(); });
  spdlog::info("keyfleet-controller serving on port {} at change {}", port_,
               parts_->view.sequence());
  return absl::OkStatus();
}

void ControllerServer::RunTimer() {
  absl::Time last_heartbeat = absl::Now();
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!stopping_) {
    timer_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    parts_->follower.Tick();  // expiry: in memory, never waits for the database
    if (absl::Now() - last_heartbeat >= config_.heartbeat_interval) {
      last_heartbeat = absl::Now();
      parts_->hub.HeartbeatAll();
    }
    lock.lock();
  }
}

// Database writes live on their own thread so a PostgreSQL outage (each call may retry for
// db_retry_budget) never delays expiry or heartbeats.
void ControllerServer::RunWriter() {
  absl::Time last_touch = absl::InfinitePast();
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!stopping_) {
    timer_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    absl::Status flushed = parts_->reports.Flush();
    if (!flushed.ok()) spdlog::warn("writing host reports: {}", flushed.ToString());
    if (absl::Now() - last_touch >= config_.heartbeat_interval) {
      last_touch = absl::Now();
      absl::Status touched = parts_->store.TouchHosts(parts_->hub.ConnectedHosts(), clock_.Now());
      if (!touched.ok()) spdlog::warn("marking connected hosts as seen: {}", touched.ToString());
    }
    lock.lock();
  }
}

void ControllerServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  if (writer_.joinable()) writer_.join();
  if (parts_) {
    parts_->listener.reset();
    (void)parts_->reports.Flush();
  }
}

void ControllerServer::Wait() {
  if (server_) server_->Wait();
}

std::shared_ptr<grpc::Channel> ControllerServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

}  // namespace keyfleet::controller
