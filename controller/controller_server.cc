#include "controller/controller_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/report_limits.h"
#include "common/status_macros.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/secure_file.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/credential_handlers.h"
#include "controller/handlers/enrollment_handlers.h"
#include "controller/handlers/host_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/metrics/host_tracker.h"
#include "controller/metrics/mutation_interceptor.h"
#include "controller/notify/make_sinks.h"
#include "controller/notify_dispatcher.h"
#include "controller/service/admin_service.h"
#include "controller/service/agent_service.h"
#include "controller/service/watch_hub.h"
#include "controller/store/change_listener.h"
#include "controller/store/migrations.h"
#include "controller/store/postgres_store.h"
#include "controller/view_follower.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

constexpr int kTlsMaxFrameBytes = 4096;
// Also the TCP_USER_TIMEOUT of every connection, as gRPC derives it for its own listeners.
constexpr int kKeepaliveTimeoutMs = 10000;

// Straight to stderr, once, never through the logger (whose sinks may be files or shipped
// elsewhere): the operator needs it now and it is never shown again. With JSON logs, as one JSON
// line like the rest of the output, so that a log collector parses it.
void PrintBootstrapToken(const std::string& token, LogFormat format) {
  if (format == LogFormat::kJson) {
    const std::string line = JsonLogLine(
        "warning", "keyfleet-controller",
        absl::StrCat("keyfleet bootstrap admin token (shown once, store it now): ", token,
                     " - use it with `keyfleet --token-file FILE` or KEYFLEET_TOKEN, create named "
                     "tokens (`keyfleet token create`), then `keyfleet token revoke bootstrap`"));
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    return;
  }
  std::fprintf(stderr,
               "\n"
               "==================================================================\n"
               "keyfleet bootstrap admin token (shown once, store it now):\n\n"
               "  %s\n\n"
               "Use it with `keyfleet --token-file FILE` or KEYFLEET_TOKEN, create named\n"
               "tokens (`keyfleet token create`), then `keyfleet token revoke bootstrap`.\n"
               "==================================================================\n\n",
               token.c_str());
  std::fflush(stderr);
}

}  // namespace

// Everything a replica owns, in construction order (destroyed in reverse).
namespace {

std::vector<std::string> SinkNames(
    const std::vector<std::unique_ptr<notify::NotificationSink>>& sinks) {
  std::vector<std::string> names;
  for (const auto& sink : sinks) names.push_back(sink->name());
  return names;
}

}  // namespace

struct ControllerServer::Parts {
  Parts(const ControllerConfig& config, const Clock& clock, const CertificateAuthority* ca,
        const AuditSigner* audit_signer, metrics::ControllerMetrics& metrics,
        std::shared_ptr<PgPoolCounters> pool_counters)
      : store(PgOptions{config.database, config.db_pool_size, config.db_retry_budget,
                        std::move(pool_counters)}),
        view(config.default_policy),
        follower(store, view, clock),
        tracker(view, metrics, clock),
        ctx{store, view, follower, clock,
            HandlerSettings{config.host_stale_after, 3 * config.heartbeat_interval}},
        reports(store),
        security_events(store),
        inventory(ctx),
        report_handlers(
            ctx, AuditTrust{audit_signer == nullptr
                                ? std::vector<const AuditVerifier*>()
                                : std::vector<const AuditVerifier*>{&audit_signer->verifier()},
                            [this] { return store.signed_head(); }}),
        host_handlers(ctx, ca == nullptr ? "" : ca->pin()),
        agents(ctx, reports),
        enrollment(ca == nullptr
                       ? std::nullopt
                       : std::make_optional<EnrollmentHandlers>(ctx, *ca, security_events,
                                                                config.host_certificate_lifetime)),
        auth(enrollment ? &*enrollment : nullptr),
        credentials(ctx, ca),
        admin_auth(credentials, view, store, security_events, clock),
        sinks(notify::MakeSinks(config.notifications, clock)),
        notify_handlers(&store, SinkNames(sinks), clock),
        requests(store),
        admin_service(admin_auth, inventory, report_handlers, host_handlers, credentials,
                      notify_handlers, requests, clock),
        agent_service(agents, hub, auth, clock),
        enrollment_service(auth) {}

  PostgresStore store;
  FleetView view;
  ViewFollower follower;
  metrics::HostStateTracker tracker;  // observes the agents' streams and the view's changes
  HandlerContext ctx;
  ReportBuffer reports;
  SecurityEventBuffer security_events;
  InventoryHandlers inventory;
  ReportHandlers report_handlers;
  HostHandlers host_handlers;
  AgentHandlers agents;
  std::optional<EnrollmentHandlers> enrollment;  // none with --insecure-dev
  AgentAuthenticator auth;
  CredentialHandlers credentials;
  AdminAuthorizer admin_auth;
  // Moved into the dispatcher at start.
  std::vector<std::unique_ptr<notify::NotificationSink>> sinks;
  NotifyHandlers notify_handlers;
  std::unique_ptr<NotifyDispatcher> dispatcher;
  WatchHub hub;
  RequestLedger requests;
  AdminServiceImpl admin_service;
  AgentServiceImpl agent_service;
  EnrollmentServiceImpl enrollment_service;
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
  // First, so that /healthz answers (and /readyz says why not yet) while a large fleet loads.
  KF_RETURN_IF_ERROR(StartMetricsPort());
  std::shared_ptr<grpc::ServerCredentials> credentials;
  IssuedKeyPair server_pair;  // also the dashboard's
  if (config_.insecure_dev) {
    if (!tls::IsLoopbackAddress(config_.listen)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--insecure-dev serves plaintext and trusts what agents say about themselves: it "
          "listens only on loopback (127.0.0.1, [::1], localhost), not on ",
          config_.listen));
    }
    spdlog::warn(
        "INSECURE DEVELOPMENT MODE: no TLS, no authentication of agents; any local process can "
        "claim to be any host. Never use this outside a development machine.");
    credentials = grpc::InsecureServerCredentials();
  } else {
    KF_ASSIGN_OR_RETURN(ca_, LoadOrCreateCa(config_.ca_dir, clock_.Now()));
    KF_ASSIGN_OR_RETURN(server_pair,
                        ca_->IssueServerCertificate(config_.tls_names, clock_.Now(),
                                                    config_.server_certificate_lifetime));
    credentials = tls::ServerTlsCredentials(server_pair.key_pem, server_pair.chain_pem,
                                            ca_->trust_bundle_pem());
    server_certificate_expires_ = clock_.Now() + config_.server_certificate_lifetime;
    spdlog::info("TLS with a certificate for {} from CA {} ({})",
                 absl::StrJoin(config_.tls_names, ", "), config_.ca_dir, ca_->pin());
  }
  // Events written before signed checkpoints existed are signed once, when the audit key is
  // new: with an existing key, unsigned events mean checkpoints were deleted, and signing them
  // would launder the tampering.
  bool new_audit_key = false;
  if (!config_.insecure_dev) {
    absl::StatusOr<bool> key_exists = tls::FileExists(config_.ca_dir, kAuditKeyFile);
    if (!key_exists.ok()) return key_exists.status();
    new_audit_key = !*key_exists;
    KF_ASSIGN_OR_RETURN(audit_signer_, AuditSigner::LoadOrCreate(config_.ca_dir, clock_.Now()));
  } else {
    spdlog::warn("--insecure-dev: audit checkpoints are not signed (no key directory)");
  }
  parts_ = std::make_unique<Parts>(config_, clock_, ca_.get(), audit_signer_.get(), metrics_,
                                   pool_counters_);
  parts_->store.SetAuditSigner(audit_signer_.get());
  if (config_.migrate_on_start) {
    KF_ASSIGN_OR_RETURN(MigrationResult migrated, parts_->store.Migrate());
    for (const std::string& name : migrated.applied) spdlog::info("applied migration {}", name);
  }
  KF_RETURN_IF_ERROR(parts_->store.CheckSchema());
  if (audit_signer_) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    audit_high_water_ = std::make_unique<AuditHighWater>(config_.ca_dir, host);
    absl::StatusOr<uint64_t> recorded = audit_high_water_->Load();
    if (!recorded.ok()) {
      spdlog::error("audit log high-water marks in {}: {}", config_.ca_dir,
                    recorded.status().ToString());
    } else {
      parts_->store.NoteSigned(*recorded);
    }
  }
  if (audit_signer_ && new_audit_key) {
    absl::StatusOr<uint64_t> adopted = parts_->store.AdoptUnsignedAudit();
    if (!adopted.ok()) {
      spdlog::error("audit log: {}", adopted.status().ToString());
    } else if (*adopted > 0) {
      spdlog::warn(
          "audit log: signed the {} events written before signed checkpoints existed "
          "(key {})",
          *adopted, audit_signer_->key_id());
    }
  }
  KF_RETURN_IF_ERROR(parts_->follower.Load());
  view_loaded_ = true;
  KF_ASSIGN_OR_RETURN(std::optional<std::string> bootstrap,
                      parts_->credentials.EnsureBootstrapToken(config_.bootstrap_token_file,
                                                               config_.bootstrap_token));
  if (bootstrap) PrintBootstrapToken(*bootstrap, config_.log_format);
  parts_->follower.SetListener(
      [hub = &parts_->hub](const std::vector<std::string>& hosts) { hub->HostsChanged(hosts); });
  parts_->follower.SetChangeObserver([parts = parts_.get()](const std::vector<Change>& changes) {
    parts->tracker.ChangesApplied(changes, [parts] { return parts->hub.ConnectedHosts(); });
  });
  parts_->agent_service.set_observer(&parts_->tracker);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(metrics::MutationCounterFactory(metrics_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // gRPC sets SO_REUSEPORT by default, which lets a second controller bind the same port and
  // silently share traffic; a busy port must be an error instead. (TCP ports are bound by the
  // ConnectionAcceptor below, which never sets it; this keeps gRPC's own listener honest too.)
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // gRPC's default, said out loud: agents size their reports to it (common/report_limits.h).
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxReportMessageBytes));
  // TLS records of at most 4 KiB: gRPC keeps a buffer of this size per connection, and a fleet
  // is one connection per host (measured: 8.5 KiB less per connection than the 16 KiB default,
  // no change in propagation time).
  builder.AddChannelArgument(GRPC_ARG_TSI_MAX_FRAME_SIZE, kTlsMaxFrameBytes);
  // Keepalive both ways: the controller pings a silent agent after 20 s and drops it 10 s later
  // without an answer (a dead or frozen host frees its stream); agents ping as often
  // (node-agent/watch_client.h), which must not count as abuse: one ping per 10 s is allowed on
  // an idle stream (gRPC's default, 5 minutes, would close their connections).
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  // TCP ports are ours, not gRPC's: its 1.51 listener stops accepting for good after running out
  // of descriptors once (controller/service/connection_acceptor.h). A unix: socket is local
  // only and stays with gRPC.
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> to_grpc;
  if (absl::StartsWith(config_.listen, "unix:")) {
    builder.AddListeningPort(config_.listen, credentials, &port_);
  } else {
    ConnectionAcceptorOptions listen_options;
    listen_options.tcp_user_timeout = std::chrono::milliseconds(kKeepaliveTimeoutMs);
    KF_ASSIGN_OR_RETURN(acceptor_, ConnectionAcceptor::Listen(config_.listen, listen_options));
    to_grpc = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
  }
  builder.RegisterService(&parts_->admin_service);
  builder.RegisterService(&parts_->agent_service);
  builder.RegisterService(&parts_->enrollment_service);
  server_ = builder.BuildAndStart();
  if (acceptor_ && server_) {
    acceptor_->Start(std::move(to_grpc));
    port_ = acceptor_->port();
  }
  if (!server_ || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config_.listen,
        acceptor_ ? " (gRPC did not start; see its log above)" : " (address in use?)"));
  }
  // The default health service says SERVING until told otherwise: not before the checks below.
  server_->GetHealthCheckService()->SetServingStatus(false);
  parts_->listener = std::make_unique<ChangeListener>(
      config_.database,
      [this] {
        absl::Status s = parts_->follower.CatchUp();
        view_current_ = s.ok();
        if (!s.ok()) spdlog::error("fleet view catch-up failed: {}", s.ToString());
      },
      config_.feed_poll_interval,
      // After a failover (a new WAL timeline, so a new epoch) the view is loaded again.
      [this](const std::string& epoch) {
        absl::Status s = parts_->follower.FollowEpoch(epoch);
        view_current_ = s.ok();
        if (!s.ok()) spdlog::error("fleet view catch-up failed: {}", s.ToString());
      });
  parts_->listener->Start();
  DispatcherSettings notify_settings;
  notify_settings.retry = config_.notifications.retry;
  notify_settings.scan_interval = config_.notify_scan_interval;
  notify_settings.host_stale_after = config_.host_stale_after;
  notify_settings.rollout_deadline = config_.host_stale_after;
  // A claimed delivery is this replica's for the longest sink timeout and some slack: a replica
  // that dies mid-delivery holds it no longer than that.
  absl::Duration longest = absl::ZeroDuration();
  for (const auto& w : config_.notifications.webhooks) longest = std::max(longest, w.timeout);
  if (config_.notifications.smtp) longest = std::max(longest, config_.notifications.smtp->timeout);
  notify_settings.lease = longest + absl::Seconds(10);
  for (const std::string& sink : SinkNames(parts_->sinks)) metrics_.DeclareSink(sink);
  notify_settings.on_delivery = [this, configured = SinkNames(parts_->sinks)](
                                    const std::string& sink, const char* result) {
    // A sink that was configured when the event was fanned out and is gone now keeps no label
    // of its own: labels stay those of the config.
    const bool known = std::find(configured.begin(), configured.end(), sink) != configured.end();
    metrics_.CountDelivery(known ? sink : "unconfigured", result);
  };
  parts_->dispatcher =
      std::make_unique<NotifyDispatcher>(parts_->store, std::move(parts_->sinks), notify_settings,
                                         parts_->view, parts_->report_handlers, clock_);
  parts_->dispatcher->Start();
  serving_parts_ = parts_.get();
  // A replica that returns from Start is ready: the listener's first connection takes moments
  // (the database just answered). Should it not come, the timer reports readiness when it does.
  for (int i = 0; i < 500 && !Readiness().ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  UpdateHealth();
  KF_RETURN_IF_ERROR(StartDashboard(server_pair));
  timer_ = std::thread([this] { RunTimer(); });
  writer_ = std::thread([this] { RunWriter(); });
  spdlog::info("keyfleet-controller serving on port {} at change {}", port_,
               parts_->view.sequence());
  return absl::OkStatus();
}

absl::Status ControllerServer::StartMetricsPort() {
  const bool configured = config_.metrics_listen.has_value();
  const std::string listen = configured ? *config_.metrics_listen : metrics::kDefaultMetricsListen;
  if (listen.empty()) return absl::OkStatus();  // metrics_listen: off
  absl::StatusOr<std::unique_ptr<metrics::MetricsHttpServer>> http =
      metrics::MetricsHttpServer::Start(
          listen, {[this] { return RenderMetrics(); }, [this] { return Readiness(); }});
  if (!http.ok()) {
    if (configured) return http.status();
    // The built-in default is taken (another controller on this machine): this one serves
    // without it rather than not at all.
    spdlog::warn("no /metrics, /healthz or /readyz: {}", std::string(http.status().message()));
    return absl::OkStatus();
  }
  http_ = *std::move(http);
  spdlog::info("metrics and probes on http://{} (/metrics, /healthz, /readyz)",
               absl::StrCat(listen.substr(0, listen.rfind(':')), ":", http_->port()));
  return absl::OkStatus();
}

metrics::Readiness ControllerServer::Readiness() const {
  if (stopping_) return {false, "shutting down"};
  if (!view_loaded_) return {false, "the fleet view is not loaded yet (starting)"};
  const Parts* parts = serving_parts_.load();
  if (parts == nullptr) return {false, "starting"};
  if (!parts->listener->connected()) return {false, "the database is unreachable"};
  if (!view_current_) return {false, "the fleet view cannot follow the database's change feed"};
  return {true, ""};
}

void ControllerServer::UpdateHealth() {
  const metrics::Readiness now = Readiness();
  if (!server_ || now.ready == health_serving_) return;
  health_serving_ = now.ready;
  server_->GetHealthCheckService()->SetServingStatus(now.ready);
  if (now.ready) {
    spdlog::info("ready: gRPC health SERVING, /readyz 200");
  } else {
    spdlog::warn("not ready ({}): gRPC health NOT_SERVING, /readyz 503", now.reason);
  }
}

std::string ControllerServer::RenderMetrics() const {
  metrics::ScrapeValues values;
  values.pool_size = config_.db_pool_size;
  values.pool_in_use = pool_counters_->in_use;
  values.database_retries = pool_counters_->retries;
  values.database_unavailable = pool_counters_->unavailable;
  const metrics::Readiness readiness = Readiness();
  values.ready = readiness.ready;
  if (Parts* parts = serving_parts_.load()) {
    values.database_reachable = parts->listener->connected();
    const std::vector<std::string> connected = parts->hub.ConnectedHosts();
    values.connected_agents = parts->hub.size();
    values.hosts = parts->tracker.Count(connected);
  }
  return metrics_.Render(values);
}

void ControllerServer::RunTimer() {
  absl::Time last_heartbeat = absl::Now();
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!stopping_) {
    timer_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    parts_->follower.Tick();  // expiry: in memory, never waits for the database
    UpdateHealth();
    if (absl::Now() - last_heartbeat >= config_.heartbeat_interval) {
      last_heartbeat = absl::Now();
      parts_->hub.HeartbeatAll();
    }
    WarnOfServerCertificateExpiry();
    lock.lock();
  }
}

void ControllerServer::WarnOfServerCertificateExpiry() {
  const absl::Time now = clock_.Now();
  if (server_certificate_expires_ - now > absl::Hours(24 * 30) || now < next_expiry_warning_) {
    return;
  }
  next_expiry_warning_ = now + absl::Hours(24);
  spdlog::warn(
      "this replica's TLS server certificate expires at {}; restart it before then (it "
      "is issued at start, for server_certificate_lifetime)",
      absl::FormatTime(server_certificate_expires_));
}

// Database writes live on their own thread so a PostgreSQL outage (each call may retry for
// db_retry_budget) never delays expiry or heartbeats.
void ControllerServer::RecordAuditHighWater() {
  if (!audit_high_water_) return;
  const uint64_t head = parts_->store.signed_head();
  if (head <= audit_high_water_->recorded()) return;
  if (absl::Status s = audit_high_water_->Record(head); !s.ok()) {
    spdlog::warn(
        "cannot record the audit log's signed head beside the key ({}); truncation of the log "
        "is then detected only while this replica runs: {}",
        config_.ca_dir, s.ToString());
    audit_high_water_.reset();  // said once; the directory is read-only (a mounted secret)
  }
}

void ControllerServer::RefreshLastUses() {
  absl::StatusOr<std::map<std::string, absl::Time>> uses = parts_->store.AllLastKeyUses();
  if (!uses.ok()) {
    spdlog::warn("reading the keys' last uses: {}", uses.status().ToString());
    return;
  }
  parts_->view.NoteLastUses(*uses, /*whole_table=*/true);
}

void ControllerServer::RunWriter() {
  absl::Time last_touch = absl::InfinitePast();
  absl::Time last_uses_read = absl::Now();
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!stopping_) {
    timer_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    absl::Status flushed = parts_->reports.Flush();
    if (!flushed.ok()) spdlog::warn("writing host reports: {}", flushed.ToString());
    absl::Status audited = parts_->security_events.Flush();
    if (!audited.ok())
      spdlog::warn("writing security events to the audit log: {}", audited.ToString());
    absl::Status uses = parts_->credentials.FlushUses();
    if (!uses.ok()) spdlog::warn("recording when credentials were last used: {}", uses.ToString());
    RecordAuditHighWater();
    // Other replicas' agents' logins (this replica's count in memory as they arrive).
    if (absl::Now() - last_uses_read >= kLastUsesRefresh) {
      last_uses_read = absl::Now();
      RefreshLastUses();
    }
    if (absl::Now() - last_touch >= config_.heartbeat_interval) {
      last_touch = absl::Now();
      absl::Status touched = parts_->store.TouchHosts(parts_->hub.ConnectedHosts(), clock_.Now());
      if (!touched.ok()) spdlog::warn("marking connected hosts as seen: {}", touched.ToString());
    }
    lock.lock();
  }
}

absl::Status ControllerServer::StartDashboard(const IssuedKeyPair& server_pair) {
  if (config_.dashboard_listen.empty()) return absl::OkStatus();
  if (config_.insecure_dev) {
    spdlog::warn("no dashboard with --insecure-dev: it is served only over TLS ({} ignored)",
                 config_.dashboard_listen);
    return absl::OkStatus();
  }
  dashboard::DashboardOptions options;
  options.listen = config_.dashboard_listen;
  options.key_pem = server_pair.key_pem;
  options.chain_pem = server_pair.chain_pem;
  // The dashboard calls this replica's AdminService as the signed-in token, like the CLI, and
  // takes answers as large as the CLI does (a large fleet's reports pass gRPC's 4 MiB).
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  options.channel = server_->InProcessChannel(args);
  KF_ASSIGN_OR_RETURN(dashboard_, dashboard::DashboardServer::Start(std::move(options)));
  // The URL as a browser on this machine would open it; the certificate's names say which
  // other names work (tls_names).
  std::string host = config_.dashboard_listen.substr(0, config_.dashboard_listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]") host = config_.tls_names.front();
  spdlog::info("dashboard on https://{}:{}/", host, dashboard_->port());
  return absl::OkStatus();
}

void ControllerServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  // First: a scrape or a page must not read the parts while they stop.
  if (http_) http_->Stop();
  if (dashboard_) dashboard_->Stop();
  serving_parts_ = nullptr;
  // Before gRPC's Shutdown: a connection handed to gRPC after it would never be closed.
  if (acceptor_) acceptor_->Stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  if (writer_.joinable()) writer_.join();
  if (parts_) {
    if (parts_->dispatcher) parts_->dispatcher->Stop();
    parts_->listener.reset();
    (void)parts_->reports.Flush();
    (void)parts_->security_events.Flush();
    (void)parts_->credentials.FlushUses();
  }
}

void ControllerServer::Wait() {
  if (server_) server_->Wait();
}

absl::StatusOr<std::unique_ptr<CertificateAuthority>> LoadOrCreateCa(const std::string& dir,
                                                                     absl::Time now) {
  absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = CertificateAuthority::Load(dir);
  if (ca.ok() || !absl::IsNotFound(ca.status())) return ca;
  KF_RETURN_IF_ERROR(CertificateAuthority::Create(dir, now));
  ca = CertificateAuthority::Load(dir);
  if (ca.ok()) {
    spdlog::warn("created a new CA in {} (pin {}); agents enroll with --ca-hash {}", dir,
                 (*ca)->pin(), (*ca)->pin());
  }
  return ca;
}

const CertificateAuthority* ControllerServer::ca() const {
  return ca_.get();
}

std::shared_ptr<grpc::Channel> ControllerServer::InProcessChannel(
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors) {
  // Tests read answers of any size (a bulk add's), as the CLI does.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  if (interceptors.empty()) return server_->InProcessChannel(args);
  return server_->experimental().InProcessChannelWithInterceptors(args, std::move(interceptors));
}

}  // namespace keyfleet::controller
