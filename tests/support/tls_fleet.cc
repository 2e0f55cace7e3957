#include "tests/support/tls_fleet.h"

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/tls/grpc_credentials.h"
#include "tests/support/admin_token.h"
#include "tests/support/child_process.h"

namespace keyfleet::testing {
namespace {

constexpr int kTokenUses = 1000;  // the most one join token allows

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

absl::StatusOr<BenchController> StartBenchController(const std::string& binary,
                                                     const std::string& database,
                                                     const std::string& root, bool mtls,
                                                     const grpc::ChannelArguments& admin_args,
                                                     const std::string& log_name) {
  BenchController c;
  c.address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const std::string token_file = root + "/bootstrap.token";
  std::vector<std::string> argv = {binary,    "--db",        database, "--listen",
                                   c.address, "--log-level", "warn",   "--bootstrap-token-file",
                                   token_file};
  if (mtls) {
    argv.insert(argv.end(), {"--ca-dir", root + "/ca", "--tls-name", "127.0.0.1"});
  } else {
    argv.push_back("--insecure-dev");
  }
  c.pid = SpawnProcess(argv, root + "/" + log_name);
  if (c.pid < 0) return absl::InternalError("cannot start " + binary);
  // The CA is there before the port is served, the token file before the first call is answered.
  for (int i = 0; i < 300 && ((mtls && c.ca_pem.empty()) || c.admin_token.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (mtls && c.ca_pem.empty()) c.ca_pem = ReadText(root + "/ca/ca.crt");
    if (c.admin_token.empty()) {
      absl::StatusOr<std::string> token = ReadTokenFile(token_file);
      if (token.ok()) c.admin_token = *token;
    }
  }
  c.admin_channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      c.address, mtls ? tls::ClientTlsCredentials(c.ca_pem) : grpc::InsecureChannelCredentials(),
      admin_args, TokenInterceptors(c.admin_token));
  if ((mtls && c.ca_pem.empty()) || c.admin_token.empty() ||
      !c.admin_channel->WaitForConnected(std::chrono::system_clock::now() +
                                         std::chrono::seconds(30))) {
    StopProcess(c.pid);
    return absl::UnavailableError(
        absl::StrCat("the controller did not start; see ", root, "/", log_name));
  }
  return c;
}

absl::StatusOr<std::vector<TestHostCredentials>> EnrollFleet(
    v1::AdminService::Stub& admin, const BenchController& controller, const std::string& prefix,
    int count, const std::map<std::string, std::string>& labels, int threads) {
  std::vector<std::string> tokens;
  for (int i = 0; i < count; i += kTokenUses) {
    absl::StatusOr<std::string> token =
        CreateJoinToken(admin, "", labels, static_cast<uint32_t>(std::min(kTokenUses, count - i)));
    if (!token.ok()) return token.status();
    tokens.push_back(*token);
  }
  std::vector<TestHostCredentials> creds(count);
  std::vector<absl::Status> errors(count);
  std::atomic<int> next{0};
  auto channel = TlsChannel(controller.address, controller.ca_pem);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i; (i = next++) < count;) {
        absl::StatusOr<TestHostCredentials> c =
            EnrollTestHost(channel, tokens[i / kTokenUses], prefix + std::to_string(i));
        if (c.ok()) {
          creds[i] = *std::move(c);
        } else {
          errors[i] = c.status();
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  for (int i = 0; i < count; ++i) {
    if (!errors[i].ok()) {
      return absl::Status(errors[i].code(),
                          absl::StrCat("enrolling ", prefix, i, ": ", errors[i].message()));
    }
  }
  return creds;
}

FleetConnection ConnectFleet(const BenchController& controller,
                             const std::vector<TestHostCredentials>& hosts,
                             const grpc::ChannelArguments& args, int in_flight) {
  FleetConnection out;
  const int count = static_cast<int>(hosts.size());
  const auto start = std::chrono::steady_clock::now();
  const double controller_cpu = CpuSeconds(controller.pid);
  const double own_cpu = CpuSeconds(0);
  for (const TestHostCredentials& host : hosts) {
    out.channels.push_back(DedicatedTlsChannel(controller.address, controller.ca_pem, host, args));
  }
  // Channels make progress only while someone waits on them: one completion queue watches the
  // connecting ones until each is READY.
  grpc::CompletionQueue cq;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(600);
  int started = 0;
  auto start_next = [&] {
    const int i = started++;
    out.channels[i]->NotifyOnStateChange(out.channels[i]->GetState(/*try_to_connect=*/true),
                                         deadline, &cq,
                                         reinterpret_cast<void*>(static_cast<intptr_t>(i)));
  };
  while (started < std::min(count, in_flight)) start_next();
  int pending = count;
  void* tag = nullptr;
  bool ok = false;
  while (pending > 0 && cq.Next(&tag, &ok)) {
    const int i = static_cast<int>(reinterpret_cast<intptr_t>(tag));
    const grpc_connectivity_state state = out.channels[i]->GetState(true);
    if (ok && state != GRPC_CHANNEL_READY) {
      out.channels[i]->NotifyOnStateChange(state, deadline, &cq, tag);
      continue;
    }
    --pending;
    out.connected += state == GRPC_CHANNEL_READY;
    if (started < count) start_next();
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (count > 0) {
    out.controller_cpu_ms_per_handshake =
        1000 * (CpuSeconds(controller.pid) - controller_cpu) / count;
    out.agents_cpu_ms_per_handshake = 1000 * (CpuSeconds(0) - own_cpu) / count;
  }
  return out;
}

}  // namespace keyfleet::testing
