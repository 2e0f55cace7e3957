#include "controller/metrics/controller_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <iterator>
#include <vector>

namespace keyfleet::controller::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric Sample(MetricType type, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

MetricFamily One(std::string name, std::string help, MetricType type, double value) {
  MetricFamily f = Family(std::move(name), std::move(help), type);
  f.metric.push_back(Sample(type, value));
  return f;
}

// The readings of one scrape, as families.
std::vector<MetricFamily> ScrapeFamilies(const ScrapeValues& v) {
  std::vector<MetricFamily> out;
  out.push_back(One("keyfleet_connected_agents",
                    "Agents holding a Watch stream to this controller replica.", MetricType::Gauge,
                    static_cast<double>(v.connected_agents)));
  MetricFamily hosts = Family(
      "keyfleet_hosts",
      "Hosts of the fleet view by state as this replica sees them: converged, pending and failed "
      "count hosts with a stream to this replica (from their last report against the current "
      "desired state); offline counts the view's hosts without one.",
      MetricType::Gauge);
  const std::pair<const char*, uint64_t> states[] = {{"converged", v.hosts.converged},
                                                     {"pending", v.hosts.pending},
                                                     {"failed", v.hosts.failed},
                                                     {"offline", v.hosts.offline}};
  for (const auto& [state, count] : states) {
    hosts.metric.push_back(
        Sample(MetricType::Gauge, static_cast<double>(count), {{"state", state}}));
  }
  out.push_back(std::move(hosts));
  out.push_back(One("keyfleet_database_pool_connections",
                    "PostgreSQL connections the API call pool may open (db_pool_size).",
                    MetricType::Gauge, static_cast<double>(v.pool_size)));
  out.push_back(One("keyfleet_database_pool_connections_in_use",
                    "PostgreSQL connections of the pool lent to a call right now.",
                    MetricType::Gauge, static_cast<double>(v.pool_in_use)));
  out.push_back(One("keyfleet_database_retries_total",
                    "Database attempts repeated within a call's retry budget after a lost "
                    "connection or a retryable error.",
                    MetricType::Counter, static_cast<double>(v.database_retries)));
  out.push_back(One("keyfleet_database_unavailable_total",
                    "Database calls that gave up UNAVAILABLE: PostgreSQL unreachable, or every "
                    "connection busy, for the whole retry budget.",
                    MetricType::Counter, static_cast<double>(v.database_unavailable)));
  out.push_back(One("keyfleet_database_outage",
                    "1 while PostgreSQL is unreachable from this replica (its change listener's "
                    "connection is down), else 0.",
                    MetricType::Gauge, v.database_reachable ? 0 : 1));
  out.push_back(One("keyfleet_ready",
                    "1 while this replica is ready (the database reachable and the fleet view "
                    "loaded: /readyz and gRPC health SERVING), else 0.",
                    MetricType::Gauge, v.ready ? 1 : 0));
  MetricFamily build =
      Family("keyfleet_build_info", "The controller's version; always 1.", MetricType::Gauge);
  build.metric.push_back(Sample(MetricType::Gauge, 1, {{"version", KEYFLEET_VERSION}}));
  out.push_back(std::move(build));
  return out;
}

}  // namespace

ControllerMetrics::ControllerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      mutations_(prometheus::BuildCounter()
                     .Name("keyfleet_admin_mutations_total")
                     .Help("Admin API calls that change something, answered, by RPC and gRPC "
                           "status code (refusals included).")
                     .Register(*registry_)),
      pushes_(prometheus::BuildCounter()
                  .Name("keyfleet_desired_state_pushes_total")
                  .Help("Desired states sent to agents on their Watch streams.")
                  .Register(*registry_)
                  .Add({})),
      revoke_latency_(
          prometheus::BuildHistogram()
              .Name("keyfleet_revoke_to_converged_seconds")
              .Help("Seconds from a key revocation's commit to each targeted host's report of "
                    "having applied it, for hosts connected to this replica when it committed.")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries(std::begin(kRevokeLatencyBuckets),
                                                               std::end(kRevokeLatencyBuckets)))),
      deliveries_(prometheus::BuildCounter()
                      .Name("keyfleet_notification_deliveries_total")
                      .Help("Notification delivery attempts from the outbox by sink and result: "
                            "delivered, retry (tried again later) or dead (dead-lettered).")
                      .Register(*registry_)) {}

ControllerMetrics::~ControllerMetrics() = default;

void ControllerMetrics::CountMutation(absl::string_view rpc, absl::string_view code) {
  mutations_.Add({{"rpc", std::string(rpc)}, {"code", std::string(code)}}).Increment();
}

void ControllerMetrics::CountDesiredStatePush() {
  pushes_.Increment();
}

void ControllerMetrics::ObserveRevokeToConverged(absl::Duration latency) {
  revoke_latency_.Observe(absl::ToDoubleSeconds(std::max(latency, absl::ZeroDuration())));
}

void ControllerMetrics::CountDelivery(absl::string_view sink, absl::string_view result) {
  deliveries_.Add({{"sink", std::string(sink)}, {"result", std::string(result)}}).Increment();
}

void ControllerMetrics::DeclareSink(absl::string_view sink) {
  for (const char* result : {"delivered", "retry", "dead"}) {
    deliveries_.Add({{"sink", std::string(sink)}, {"result", result}});
  }
}

std::string ControllerMetrics::Render(const ScrapeValues& now) const {
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> readings = ScrapeFamilies(now);
  families.insert(families.end(), std::make_move_iterator(readings.begin()),
                  std::make_move_iterator(readings.end()));
  std::sort(families.begin(), families.end(),
            [](const MetricFamily& a, const MetricFamily& b) { return a.name < b.name; });
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace keyfleet::controller::metrics
