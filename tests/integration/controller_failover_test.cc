// Controller high availability end to end: three keyfleet-controller replicas (the binary) on one
// PostgreSQL database and one CA directory, and agents that know all three: in-process agents
// (WatchClient and Reconciler on sandbox hosts) given the three addresses, the keyfleet-agent
// binary given them as flags, and in-process agents that know the replicas only as one DNS name
// with three addresses (answered by a small DNS server on loopback, which gRPC's resolver asks
// as the target's DNS authority). Twice, the replica some agents are watching is killed with
// SIGKILL: each of its agents must be watching another replica within 5 s, and a revocation made
// through a surviving replica must converge on every host (rollout status and the files). The
// first victim is restarted before the second kill. Prints the failover times.
// Labels: postgres, tls.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "node-agent/host_credentials.h"
#include "node-agent/reconciler.h"
#include "node-agent/tests/sandbox.h"
#include "node-agent/watch_client.h"
#include "tests/support/admin_setup.h"
#include "tests/support/admin_token.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/tcp_listening.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"

namespace keyfleet::testing {
namespace {

using agent::testing::Read;
using agent::testing::Sandbox;
using Clock = std::chrono::steady_clock;

constexpr int kReplicas = 3;
constexpr char kDnsName[] = "replicas.keyfleet.test";
// What the issue asks of a failover.
constexpr auto kFailoverBudget = std::chrono::seconds(5);

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Polls `done` every 20 ms until it holds or `limit` passed; whether it held.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// A DNS server on 127.0.0.1 (UDP) that knows one name: its A records, and no AAAA; any other name
// is NXDOMAIN. Serves until destroyed.
class LoopbackDns {
 public:
  LoopbackDns(std::string name, const std::vector<std::string>& ipv4) : name_(std::move(name)) {
    for (const std::string& ip : ipv4) {
      in_addr a{};
      inet_pton(AF_INET, ip.c_str(), &a);
      addresses_.push_back(a);
    }
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~LoopbackDns() {
    stop_ = true;
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  int port() const { return port_; }
  int answered() const { return answered_; }

 private:
  void Serve() {
    std::array<uint8_t, 512> query{};
    while (!stop_ && fd_ >= 0) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n = recvfrom(fd_, query.data(), query.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) continue;
      std::vector<uint8_t> reply = Answer(query.data(), static_cast<size_t>(n));
      if (reply.empty()) continue;
      sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
      ++answered_;
    }
  }

  // The reply to one query, or nothing for a malformed one.
  std::vector<uint8_t> Answer(const uint8_t* q, size_t size) {
    if (size < 12 || q[4] != 0 || q[5] != 1) return {};  // one question
    size_t at = 12;
    std::vector<std::string> labels;
    while (at < size && q[at] != 0) {
      const size_t len = q[at];
      if (len > 63 || at + 1 + len >= size) return {};
      labels.emplace_back(reinterpret_cast<const char*>(q + at + 1), len);
      at += 1 + len;
    }
    if (at + 5 > size) return {};
    const size_t question_end = at + 5;  // the root label, QTYPE, QCLASS
    const int qtype = q[at + 1] << 8 | q[at + 2];
    const bool ours = absl::AsciiStrToLower(absl::StrJoin(labels, ".")) == name_;
    const size_t answers = ours && qtype == 1 ? addresses_.size() : 0;
    std::vector<uint8_t> r(q, q + question_end);
    r[2] = 0x80 | 0x04 | (q[2] & 0x01);  // a response, authoritative, RD as asked
    r[3] = 0x80 | (ours ? 0 : 3);        // recursion available; NOERROR or NXDOMAIN
    r[6] = 0;
    r[7] = static_cast<uint8_t>(answers);
    r[8] = r[9] = r[10] = r[11] = 0;
    for (size_t i = 0; i < answers; ++i) {
      const uint8_t* ip = reinterpret_cast<const uint8_t*>(&addresses_[i].s_addr);
      const uint8_t record[] = {
          0xc0, 0x0c, 0, 1, 0,     1,     0,     0,
          0,    0,    0, 4, ip[0], ip[1], ip[2], ip[3]};  // the name, A, IN, TTL 0
      r.insert(r.end(), std::begin(record), std::end(record));
    }
    return r;
  }

  std::string name_;
  std::vector<in_addr> addresses_;
  int fd_ = -1;
  int port_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

// An agent in this process on its own sandbox host: the real WatchClient and Reconciler.
class InProcessAgent {
 public:
  InProcessAgent(std::string name, std::vector<std::string> controllers)
      : name_(std::move(name)), config_(MakeConfig(std::move(controllers), sandbox_)) {}
  ~InProcessAgent() {
    if (client_) client_->Stop();
    if (thread_.joinable()) thread_.join();
  }
  absl::Status Start() {
    if (absl::Status s = reconciler_.Start().status(); !s.ok()) return s;
    client_ = std::make_unique<agent::WatchClient>(config_, reconciler_);
    thread_ = std::thread([this] { client_->Run(); });
    return absl::OkStatus();
  }
  const std::string& name() const { return name_; }
  const agent::AgentConfig& config() const { return config_; }
  std::string file() const { return sandbox_.Path("home/alice/.ssh/authorized_keys"); }
  // "127.0.0.N" of the replica it is watching, or "".
  std::string WatchedIp() const {
    if (!client_) return "";
    std::optional<agent::WatchedController> watched = client_->watching();
    return watched ? IpOfPeer(watched->peer) : "";
  }
  // "ipv4:127.0.0.2:7443" -> "127.0.0.2".
  static std::string IpOfPeer(const std::string& peer) {
    std::string s = peer;
    if (absl::StartsWith(s, "ipv4:")) s = s.substr(5);
    return s.substr(0, s.rfind(':'));
  }

 private:
  static agent::AgentConfig MakeConfig(std::vector<std::string> controllers,
                                       const Sandbox& sandbox) {
    agent::AgentConfig config;
    config.controllers = std::move(controllers);
    config.tls_dir = sandbox.Path("tls");
    config.root = sandbox.root();
    config.cache_path = sandbox.Path("agent-cache");
    config.recheck_interval = absl::Seconds(5);
    return config;
  }

  std::string name_;
  Sandbox sandbox_;
  agent::AgentConfig config_;
  agent::Reconciler reconciler_{agent::ReconcilerSettingsOf(config_)};
  std::unique_ptr<agent::WatchClient> client_;
  std::thread thread_;
};

struct Replica {
  std::string ip;
  std::string address;
  std::string log;
  pid_t pid = -1;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

class ControllerFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = pg_.Url(pg_.CreateDatabase());
    const int port = FreeLoopbackPort();
    for (int i = 0; i < kReplicas; ++i) {
      replicas_[i].ip = absl::StrCat("127.0.0.", i + 1);
      replicas_[i].address = absl::StrCat(replicas_[i].ip, ":", port);
      replicas_[i].log = absl::StrCat(dir_.path().string(), "/controller-", i, ".log");
    }
    // The first start creates the CA and registers the bootstrap token; the others read both.
    ASSERT_TRUE(StartReplica(0)) << Tail(replicas_[0].log);
    ASSERT_TRUE(StartReplica(1)) << Tail(replicas_[1].log);
    ASSERT_TRUE(StartReplica(2)) << Tail(replicas_[2].log);
  }
  void TearDown() override {
    if (agent_binary_ > 0) StopProcess(agent_binary_);
    for (Replica& r : replicas_) {
      if (r.pid > 0) StopProcess(r.pid);
    }
  }

  std::string CaDir() const { return dir_.path().string() + "/ca"; }
  std::string TokenFile() const { return dir_.path().string() + "/bootstrap.token"; }
  std::vector<std::string> Addresses() const {
    std::vector<std::string> out;
    for (const Replica& r : replicas_) out.push_back(r.address);
    return out;
  }

  // Starts replica I and waits (30 s at most) until it answers an admin call.
  bool StartReplica(int i) {
    Replica& r = replicas_[i];
    r.pid = SpawnProcess(
        {KEYFLEET_CONTROLLER, "--db", database_, "--listen", r.address, "--ca-dir", CaDir(),
         "--tls-name", "127.0.0.1", "--tls-name", "127.0.0.2", "--tls-name", "127.0.0.3",
         "--tls-name", kDnsName, "--bootstrap-token-file", TokenFile(), "--log-level", "info"},
        r.log);
    return WaitFor(
        [&] {
          if (!r.admin) {
            // Only once it listens: a channel refused early backs off for seconds.
            if (!Listening(r.address)) return false;
            const std::string ca = Read(CaDir() + "/ca.crt");
            absl::StatusOr<std::string> token = ReadTokenFile(TokenFile());
            if (ca.empty() || !token.ok()) return false;
            r.admin = v1::AdminService::NewStub(TokenTlsChannel(r.address, ca, *token));
          }
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
          v1::ListHostsResponse hosts;
          return r.admin->ListHosts(&ctx, v1::ListHostsRequest(), &hosts).ok();
        },
        std::chrono::seconds(30));
  }

  void KillReplica(int i) {
    kill(replicas_[i].pid, SIGKILL);
    waitpid(replicas_[i].pid, nullptr, 0);
    replicas_[i].pid = -1;
    replicas_[i].admin.reset();
  }

  int ReplicaOfIp(const std::string& ip) const {
    for (int i = 0; i < kReplicas; ++i) {
      if (replicas_[i].ip == ip) return i;
    }
    return -1;
  }

  // A join token for HOSTNAME (env=prod) and the CA pin, from replica I.
  std::pair<std::string, std::string> JoinToken(int i, const std::string& hostname) {
    grpc::ClientContext ctx;
    v1::CreateHostTokenRequest req;
    req.set_hostname(hostname);
    (*req.mutable_labels())["env"] = "prod";
    v1::CreateHostTokenResponse resp;
    grpc::Status s = replicas_[i].admin->CreateHostToken(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.token(), resp.ca_pin()};
  }

  static std::string Tail(const std::string& path) {
    const std::string text = Read(path);
    return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
  }

  TempPostgres pg_;
  ScopedTempDir dir_{"kf-failover"};
  std::string database_;
  std::array<Replica, kReplicas> replicas_;
  Sandbox binary_host_;  // the keyfleet-agent binary's host
  pid_t agent_binary_ = -1;
};

// The keyfleet-agent binary's view: the replica named by the last "watching controller" line of
// its log, and how many such lines there are.
std::pair<std::string, int> BinaryWatching(const std::string& log) {
  std::istringstream in(Read(log));
  std::string line, ip;
  int count = 0;
  while (std::getline(in, line)) {
    const size_t at = line.find("watching controller ");
    if (at == std::string::npos) continue;
    ++count;
    const size_t open = line.find('(', at);
    const size_t close = line.find(')', open);
    if (open != std::string::npos && close != std::string::npos) {
      ip = InProcessAgent::IpOfPeer(line.substr(open + 1, close - open - 1));
    }
  }
  return {ip, count};
}

TEST_F(ControllerFailover, KilledReplicasAgentsWatchAnotherWithinFiveSecondsAndRevokesConverge) {
  const auto test_start = Clock::now();
  LoopbackDns dns(kDnsName, {"127.0.0.1", "127.0.0.2", "127.0.0.3"});
  ASSERT_GT(dns.port(), 0);
  const std::string port = replicas_[0].address.substr(replicas_[0].address.rfind(':') + 1);
  // gRPC's dns resolver with an authority asks that server; pick_first tries its addresses in
  // turn.
  const std::string dns_target =
      absl::StrCat("dns://127.0.0.1:", dns.port(), "/", kDnsName, ":", port);

  // alice's keys, granted to every env=prod host: each round revokes one.
  std::vector<std::string> lines;
  for (int i = 1; i <= 3; ++i) lines.push_back(SyntheticEd25519Line(i, absl::StrCat("key", i)));
  absl::StatusOr<v1::AddKeysResponse> added = AddPrincipalWithGrant(
      *replicas_[0].admin, "alice", lines, LabelSelector("env", "prod"), "alice");
  ASSERT_TRUE(added.ok()) << added.status();
  auto key_b64 = [&](int i) { return lines[i].substr(12, 68); };

  // In-process agents: four with the replicas' addresses, two with the DNS name. Each enrolls
  // through a list that starts with an address nobody serves, so enrollment fails over too.
  const std::string dead = absl::StrCat("127.0.0.1:", FreeLoopbackPort());
  std::vector<std::unique_ptr<InProcessAgent>> agents;
  for (int i = 0; i < 4; ++i) {
    agents.push_back(std::make_unique<InProcessAgent>(absl::StrCat("list-", i), Addresses()));
  }
  for (int i = 0; i < 2; ++i) {
    agents.push_back(
        std::make_unique<InProcessAgent>(absl::StrCat("dns-", i), std::vector{dns_target}));
  }
  for (size_t i = 0; i < agents.size(); ++i) {
    auto [token, pin] = JoinToken(static_cast<int>(i % kReplicas), agents[i]->name());
    std::vector<std::string> enroll_at = {dead};
    for (const std::string& a : Addresses()) enroll_at.push_back(a);
    absl::StatusOr<agent::HostCredentials> enrolled =
        agent::Enroll({enroll_at, token, pin, "", agents[i]->config().tls_dir, absl::Seconds(10)});
    ASSERT_TRUE(enrolled.ok()) << agents[i]->name() << ": " << enrolled.status();
    ASSERT_TRUE(agents[i]->Start().ok());
  }
  // The binary: enrolled through a dead address first, then given the replicas as flags (one
  // repeated, one comma-separated).
  const std::string binary_log = dir_.path().string() + "/agent.log";
  {
    auto [token, pin] = JoinToken(1, "binary-0");
    const std::string token_file = dir_.path().string() + "/binary.token";
    std::ofstream(token_file) << token;
    CommandResult enrolled = RunCommand(
        absl::StrCat(KEYFLEET_AGENT, " enroll --controller ", dead, " --controller ",
                     absl::StrJoin(Addresses(), ","), " --token-file ", token_file, " --ca-hash ",
                     pin, " --tls-dir ", binary_host_.Path("tls"), " --timeout 10s 2>&1"));
    ASSERT_EQ(enrolled.exit_code, 0) << enrolled.out;
    EXPECT_THAT(enrolled.out, ::testing::HasSubstr("enrolled as binary-0"));
    agent_binary_ =
        SpawnProcess({KEYFLEET_AGENT, "run", "--controller", replicas_[0].address, "--controller",
                      replicas_[1].address + "," + replicas_[2].address, "--tls-dir",
                      binary_host_.Path("tls"), "--root", binary_host_.root(), "--cache",
                      binary_host_.Path("agent-cache"), "--recheck-interval", "5s"},
                     binary_log);
    ASSERT_GT(agent_binary_, 0);
  }
  const int hosts = static_cast<int>(agents.size()) + 1;
  auto every_file = [&](const std::function<bool(const std::string&)>& holds) {
    for (const auto& a : agents) {
      if (!holds(Read(a->file()))) return false;
    }
    return holds(Read(binary_host_.Path("home/alice/.ssh/authorized_keys")));
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        return every_file([&](const std::string& text) {
          return absl::StrContains(text, key_b64(0)) && absl::StrContains(text, key_b64(2));
        });
      },
      std::chrono::seconds(20)))
      << "every host has alice's keys";
  ASSERT_TRUE(
      WaitFor([&] { return BinaryWatching(binary_log).second > 0; }, std::chrono::seconds(5)))
      << Read(binary_log);

  std::vector<double> failover_seconds;
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round + 1));
    // The victim: the replica the first DNS agent watches, then the one the first list agent
    // watches (the replicas are spread at random; these are sure to have an agent).
    const InProcessAgent& marker = round == 0 ? *agents[4] : *agents[0];
    std::string victim_ip;
    ASSERT_TRUE(WaitFor([&] { return !(victim_ip = marker.WatchedIp()).empty(); },
                        std::chrono::seconds(10)));
    const int victim = ReplicaOfIp(victim_ip);
    ASSERT_GE(victim, 0) << victim_ip;
    std::vector<InProcessAgent*> on_victim;
    std::map<std::string, std::string> placement;
    for (const auto& a : agents) {
      placement[a->name()] = a->WatchedIp();
      if (a->WatchedIp() == victim_ip) on_victim.push_back(a.get());
    }
    const std::pair<std::string, int> binary_before = BinaryWatching(binary_log);
    const std::string binary_ip = binary_before.first;
    const int binary_lines = binary_before.second;
    placement["binary-0"] = binary_ip;
    const bool binary_on_victim = binary_ip == victim_ip;
    std::printf("round %d: killing replica %s, watched by %zu of %d agents (%s)\n", round + 1,
                replicas_[victim].address.c_str(), on_victim.size() + (binary_on_victim ? 1 : 0),
                hosts, absl::StrJoin(placement, ", ", absl::PairFormatter("@")).c_str());

    KillReplica(victim);
    const auto killed_at = Clock::now();
    std::vector<std::optional<double>> moved(on_victim.size());
    std::optional<double> binary_moved;
    WaitFor(
        [&] {
          bool all = true;
          for (size_t i = 0; i < on_victim.size(); ++i) {
            const std::string ip = on_victim[i]->WatchedIp();
            if (!moved[i] && !ip.empty() && ip != victim_ip) moved[i] = SecondsSince(killed_at);
            all = all && moved[i].has_value();
          }
          if (binary_on_victim && !binary_moved) {
            const auto [ip, count] = BinaryWatching(binary_log);
            if (count > binary_lines && ip != victim_ip) binary_moved = SecondsSince(killed_at);
            all = all && binary_moved.has_value();
          }
          return all;
        },
        std::chrono::seconds(10));
    for (size_t i = 0; i < on_victim.size(); ++i) {
      ASSERT_TRUE(moved[i].has_value())
          << on_victim[i]->name() << " is not watching another replica 10 s after the kill";
      std::printf("  %s: watching %s after %.3f s\n", on_victim[i]->name().c_str(),
                  on_victim[i]->WatchedIp().c_str(), *moved[i]);
      failover_seconds.push_back(*moved[i]);
      EXPECT_LT(*moved[i], std::chrono::duration<double>(kFailoverBudget).count())
          << on_victim[i]->name();
    }
    if (binary_on_victim) {
      ASSERT_TRUE(binary_moved.has_value()) << Tail(binary_log);
      std::printf("  binary-0: watching %s after %.3f s\n",
                  BinaryWatching(binary_log).first.c_str(), *binary_moved);
      failover_seconds.push_back(*binary_moved);
      EXPECT_LT(*binary_moved, std::chrono::duration<double>(kFailoverBudget).count());
    }

    // A revocation through a surviving replica converges on every host.
    const int survivor = (victim + 1) % kReplicas;
    grpc::ClientContext rc;
    v1::RevokeKeyRequest revoke;
    revoke.set_fingerprint(added->keys(round).fingerprint());
    revoke.set_reason("failover test");
    v1::MutationResponse revoked;
    const auto revoked_at = Clock::now();
    grpc::Status s = replicas_[survivor].admin->RevokeKey(&rc, revoke, &revoked);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::RolloutStatusResponse rollout;
    const bool converged = WaitFor(
        [&] {
          grpc::ClientContext c;
          v1::RolloutStatusRequest req;
          req.set_change(revoked.change());
          rollout.Clear();
          return replicas_[survivor].admin->RolloutStatus(&c, req, &rollout).ok() &&
                 rollout.targeted_hosts() == static_cast<uint32_t>(hosts) &&
                 rollout.converged_hosts() == rollout.targeted_hosts();
        },
        std::chrono::seconds(20));
    EXPECT_TRUE(converged) << rollout.DebugString();
    EXPECT_TRUE(WaitFor(
        [&] {
          return every_file(
              [&](const std::string& text) { return !absl::StrContains(text, key_b64(round)); });
        },
        std::chrono::seconds(5)))
        << "the revoked key left every host's file";
    EXPECT_TRUE(every_file([&](const std::string& text) {
      return absl::StrContains(text, key_b64(2));
    })) << "and the other key stayed";
    std::printf("  revoke through %s: converged on %u/%u hosts in %.3f s\n",
                replicas_[survivor].address.c_str(), rollout.converged_hosts(),
                rollout.targeted_hosts(), SecondsSince(revoked_at));
    if (round == 0) {
      ASSERT_TRUE(StartReplica(victim)) << Tail(replicas_[victim].log);
    }
  }
  EXPECT_GT(dns.answered(), 0) << "the DNS agents asked the loopback DNS server";
  std::sort(failover_seconds.begin(), failover_seconds.end());
  std::printf("failover: %zu agents, %.3f s min, %.3f s max; test took %.1f s\n",
              failover_seconds.size(), failover_seconds.front(), failover_seconds.back(),
              SecondsSince(test_start));
}

}  // namespace
}  // namespace keyfleet::testing
