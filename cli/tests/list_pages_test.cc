// The list commands follow pages: the `keyfleet` binary against a fake controller on loopback
// (--insecure-dev) that answers every list two items to a page and refuses any page token it did
// not give. Each command must print every item once, in order, as a table and as JSON. The same
// controller answers the fleet reports (`host status`, `key reach`) from fixed answers cut at the
// limit the CLI sends.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

namespace keyfleet::cli {
namespace {

using ::keyfleet::testing::CommandResult;
using ::keyfleet::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kItems = 7;  // four pages of two
constexpr int kPageSize = 2;

std::string Name(const char* prefix, int i) {
  return absl::StrFormat("%s-%02d", prefix, i);
}

// Every list, two items to a page; the token for the page starting at item i is "page-i".
class PagingController final : public v1::AdminService::Service {
 public:
  std::atomic<int> calls{0};

  grpc::Status ListPrincipals(grpc::ServerContext*, const v1::ListPrincipalsRequest* req,
                              v1::ListPrincipalsResponse* resp) override {
    return Page(req->page_token(), resp, [&](int i) {
      v1::Principal* p = resp->add_principals();
      p->set_name(Name("principal", i));
      p->set_kind(v1::PRINCIPAL_KIND_PERSON);
    });
  }
  grpc::Status ListGrants(grpc::ServerContext*, const v1::ListGrantsRequest* req,
                          v1::ListGrantsResponse* resp) override {
    return Page(req->page_token(), resp, [&](int i) {
      v1::Grant* g = resp->add_grants();
      g->set_id(std::to_string(100 + i));
      g->set_principal("alice");
      g->set_account(Name("account", i));
      (*g->mutable_hosts()->mutable_labels())["env"] = "prod";
    });
  }
  grpc::Status ListHosts(grpc::ServerContext*, const v1::ListHostsRequest* req,
                         v1::ListHostsResponse* resp) override {
    return Page(req->page_token(), resp, [&](int i) {
      v1::Host* h = resp->add_hosts();
      h->set_hostname(Name("host", i));
      if (i % 3 == 0) {  // hosts 0, 3, 6 (on pages 1, 2 and 4) report drift
        v1::DriftItem* d = h->add_last_drift();
        d->set_account(Name("drifted", i));
        d->set_kind(v1::DRIFT_KIND_UNMANAGED_KEY);
      }
    });
  }
  grpc::Status ListHostTokens(grpc::ServerContext*, const v1::ListHostTokensRequest* req,
                              v1::ListHostTokensResponse* resp) override {
    return Page(req->page_token(), resp, [&](int i) {
      v1::HostToken* t = resp->add_tokens();
      t->set_id(absl::StrFormat("%016x", 0xabc000 + i));
      t->set_hostname(Name("joiner", i));
      t->set_state("active");
    });
  }
  grpc::Status ListTokens(grpc::ServerContext*, const v1::ListTokensRequest* req,
                          v1::ListTokensResponse* resp) override {
    return Page(req->page_token(), resp, [&](int i) {
      v1::Credential* c = resp->add_credentials();
      c->set_id(absl::StrFormat("%016x", 0xdef000 + i));
      c->set_name(Name("credential", i));
      c->set_kind("token");
      c->set_role(v1::ROLE_AUDITOR);
    });
  }

  // Audit events 1..7 (their actors "actor-00".."actor-06"), at most two to a page in either
  // order; newest first has its own tokens ("newest-SEQ": events before SEQ), and each order
  // refuses the other's.
  std::atomic<uint32_t> audit_page_size{0};
  grpc::Status ListAudit(grpc::ServerContext*, const v1::ListAuditRequest* req,
                         v1::ListAuditResponse* resp) override {
    audit_page_size = req->page_size();
    if (!req->newest_first()) {
      return Page(req->page_token(), resp, [&](int i) { AddAuditEvent(i, resp); });
    }
    ++calls;
    int below = kItems;  // items below this index are left
    if (!req->page_token().empty()) {
      if (req->page_token().rfind("newest-", 0) != 0) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: not a newest one");
      }
      below = std::stoi(req->page_token().substr(7)) - 1;
    }
    const int size = std::min<int>(req->page_size() == 0 ? kPageSize : req->page_size(), kPageSize);
    int i = below - 1;
    for (; i >= 0 && i > below - 1 - size; --i) AddAuditEvent(i, resp);
    if (i >= 0) resp->set_next_page_token(absl::StrCat("newest-", i + 2));
    return grpc::Status::OK;
  }

  // Nine hosts: 3 converged, 3 pending, 2 failed (unless `fleet_fails` is false: converged
  // then), 1 offline; every list cut at the request's limit.
  std::atomic<bool> fleet_fails{true};
  std::atomic<uint32_t> fleet_list_limit{0};
  grpc::Status FleetStatus(grpc::ServerContext*, const v1::FleetStatusRequest* req,
                           v1::FleetStatusResponse* resp) override {
    fleet_list_limit = req->list_limit();
    const int limit = req->list_limit() == 0 ? 100 : static_cast<int>(req->list_limit());
    const int failed = fleet_fails ? 2 : 0;
    resp->set_hosts(9);
    resp->set_converged(5 - failed);
    resp->set_pending(3);
    resp->set_failed(failed);
    resp->set_offline(1);
    resp->set_not_seen(1);
    resp->mutable_stale_after()->set_seconds(86400);
    for (int i = 0; i < std::min(failed, limit); ++i) {
      v1::FailedHost* h = resp->add_failed_hosts();
      h->set_hostname(Name("failed", i));
      v1::AccountFailure* a = h->add_accounts();
      a->set_account(Name("deploy", i));
      a->set_reason("refused: unsafe path");
    }
    for (int i = 0; i < std::min(3, limit); ++i) {
      v1::Host* h = resp->add_pending_hosts();
      h->set_hostname(Name("pending", i));
      h->set_applied_generation(4);
      h->set_desired_generation(5);
    }
    v1::Host* offline = resp->add_offline_hosts();
    offline->set_hostname(Name("offline", 0));
    offline->mutable_last_seen()->set_seconds(1795000000);  // 2026-11-18 11:06Z
    resp->set_lists_truncated(limit < 3 || limit < failed);
    v1::DriftCount* unmanaged = resp->add_drift();
    unmanaged->set_kind(v1::DRIFT_KIND_UNMANAGED_KEY);
    unmanaged->set_hosts(2);
    unmanaged->set_items(5);
    v1::DriftCount* missing = resp->add_drift();
    missing->set_kind(v1::DRIFT_KIND_NO_SUCH_ACCOUNT);
    missing->set_hosts(1);
    missing->set_items(1);
    return grpc::Status::OK;
  }

  // The ed25519 test key logs in as "deploy" on reach-00..reach-04; the principal "alice" owns
  // it and a second key, which logs in as "root" on reach-00 too. Entries cut at the limit.
  std::mutex reach_mu;
  v1::KeyReachRequest last_reach;
  grpc::Status KeyReach(grpc::ServerContext*, const v1::KeyReachRequest* req,
                        v1::KeyReachResponse* resp) override {
    {
      std::lock_guard<std::mutex> lock(reach_mu);
      last_reach = *req;
    }
    const std::string key = keyfleet::testing::Vector("ed25519").sha256;
    const std::string other = keyfleet::testing::Vector("ecdsa256").sha256;
    std::vector<v1::ReachEntry> all;
    auto add = [&](int host, const std::string& account, const std::string& fingerprint) {
      v1::ReachEntry e;
      e.set_hostname(Name("reach", host));
      e.set_account(account);
      e.set_fingerprint(fingerprint);
      e.set_principal("alice");
      e.set_grant_id(std::to_string(40 + host));
      if (host == 1) e.set_options("from=\"10.0.0.0/8\"");
      if (host == 2) e.mutable_expires_at()->set_seconds(1798761600);  // 2027-01-01 00:00Z
      e.set_applied(host != 3);
      all.push_back(std::move(e));
    };
    if (req->subject_case() == v1::KeyReachRequest::kPrincipal) {
      if (req->principal() != "alice") {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            "no principal \"" + req->principal() + "\"");
      }
      add(0, "deploy", key);
      add(0, "root", other);
      for (int i = 1; i < 5; ++i) add(i, "deploy", key);
      resp->set_accounts(6);
    } else if (req->subject_case() == v1::KeyReachRequest::kFingerprint) {
      if (req->fingerprint() != key) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            "no key " + req->fingerprint() + " in the inventory");
      }
      for (int i = 0; i < 5; ++i) add(i, "deploy", key);
      resp->set_accounts(5);
    } else {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "give either a key's fingerprint or a principal");
    }
    resp->set_hosts(5);
    const size_t limit = req->limit() == 0 ? 1000 : req->limit();
    for (size_t i = 0; i < all.size() && i < limit; ++i) *resp->add_entries() = all[i];
    resp->set_truncated(all.size() > limit);
    return grpc::Status::OK;
  }

 private:
  static void AddAuditEvent(int i, v1::ListAuditResponse* resp) {
    v1::AuditEvent* e = resp->add_events();
    e->set_sequence(static_cast<uint64_t>(i) + 1);
    e->set_actor(Name("actor", i));
    e->set_action("key.add");
  }

  template <typename Response, typename AddItem>
  grpc::Status Page(const std::string& token, Response* resp, AddItem add_item) {
    ++calls;
    int first = 0;
    if (!token.empty()) {
      if (token.rfind("page-", 0) != 0) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_token: not mine");
      }
      first = std::stoi(token.substr(5));
    }
    const int end = std::min(first + kPageSize, kItems);
    for (int i = first; i < end; ++i) add_item(i);
    if (end < kItems) resp->set_next_page_token(absl::StrCat("page-", end));
    return grpc::Status::OK;
  }
};

class ListPagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&controller_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  // `keyfleet ARGS` against the fake controller, with a clean environment and home.
  CommandResult Cli(const std::string& args) {
    return RunCommand(absl::StrCat("env -i HOME=", home_.path().string(), " ", KEYFLEET_CLI,
                                   " --controller 127.0.0.1:", port_,
                                   " --insecure-dev --token kfat_test ", args, " 2>&1"));
  }

  PagingController controller_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  keyfleet::testing::ScopedTempDir home_{"cli-list-pages"};
};

// Each item's name is on the page in order, once.
void ExpectEveryItemInOrder(const std::string& out, const char* prefix) {
  size_t at = 0;
  for (int i = 0; i < kItems; ++i) {
    const std::string name = Name(prefix, i);
    const size_t found = out.find(name, at);
    ASSERT_NE(found, std::string::npos) << name << " missing or out of order in:\n" << out;
    EXPECT_EQ(out.find(name, found + 1), std::string::npos) << name << " twice in:\n" << out;
    at = found + name.size();
  }
}

struct ListCommand {
  const char* command;
  const char* prefix;     // of each item's name in the output
  const char* json_list;  // the answer's repeated field in -o json
};

TEST_F(ListPagesTest, EveryListCommandPrintsEveryPage) {
  const ListCommand commands[] = {
      {"principal list", "principal", "principals"},
      {"grant list", "account", "grants"},
      {"host list", "host", "hosts"},
      {"host token list", "joiner", "tokens"},
      {"token list", "credential", "credentials"},
  };
  for (const ListCommand& c : commands) {
    SCOPED_TRACE(c.command);
    controller_.calls = 0;
    CommandResult table = Cli(c.command);
    ASSERT_EQ(table.exit_code, 0) << table.out;
    ExpectEveryItemInOrder(table.out, c.prefix);
    EXPECT_EQ(controller_.calls, 4) << "one call per page";

    CommandResult json = Cli(absl::StrCat("-o json ", c.command));
    ASSERT_EQ(json.exit_code, 0) << json.out;
    const nlohmann::json answer = nlohmann::json::parse(json.out, nullptr, false);
    ASSERT_TRUE(answer.is_object()) << json.out;
    EXPECT_EQ(answer[c.json_list].size(), static_cast<size_t>(kItems)) << json.out;
    EXPECT_EQ(answer.value("next_page_token", ""), "") << "no token left in the merged answer";
    ExpectEveryItemInOrder(json.out, c.prefix);
  }
}

TEST_F(ListPagesTest, TheDriftReportKeepsTheHostsWithDriftFromEveryPage) {
  CommandResult table = Cli("report drift");
  ASSERT_EQ(table.exit_code, 0) << table.out;
  for (int i : {0, 3, 6}) EXPECT_THAT(table.out, HasSubstr(Name("drifted", i)));
  EXPECT_THAT(table.out, ::testing::Not(HasSubstr(Name("host", 1))));

  CommandResult json = Cli("-o json report drift");
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const nlohmann::json answer = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << json.out;
  ASSERT_EQ(answer["hosts"].size(), 3u) << json.out;
  EXPECT_EQ(answer["hosts"][2]["hostname"], Name("host", 6));
}

TEST_F(ListPagesTest, TheAuditLogListsNewestFirstFollowingItsOwnPageTokens) {
  CommandResult oldest = Cli("audit");
  ASSERT_EQ(oldest.exit_code, 0) << oldest.out;
  ExpectEveryItemInOrder(oldest.out, "actor");

  controller_.calls = 0;
  CommandResult newest = Cli("audit --newest-first");
  ASSERT_EQ(newest.exit_code, 0) << newest.out;
  EXPECT_EQ(controller_.calls, 4) << "one call per page";
  size_t at = 0;
  for (int i = kItems - 1; i >= 0; --i) {
    const size_t found = newest.out.find(Name("actor", i), at);
    ASSERT_NE(found, std::string::npos) << Name("actor", i) << " missing or out of order in:\n"
                                        << newest.out;
    at = found;
  }

  CommandResult json = Cli("-o json audit --newest-first");
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const nlohmann::json answer = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << json.out;
  ASSERT_EQ(answer["events"].size(), static_cast<size_t>(kItems)) << json.out;
  EXPECT_EQ(answer["events"][0]["sequence"], "7");  // uint64 in the protobuf JSON mapping
  EXPECT_EQ(answer["events"][kItems - 1]["sequence"], "1");
}

TEST_F(ListPagesTest, AuditLatestStopsAfterTheNewestN) {
  controller_.calls = 0;
  CommandResult table = Cli("audit --latest 3");
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_EQ(controller_.audit_page_size, 3u) << "asks for no more than it prints";
  EXPECT_EQ(controller_.calls, 2) << "stops once it has 3 (the fake serves 2 to a page)";
  for (int i : {6, 5, 4}) EXPECT_THAT(table.out, HasSubstr(Name("actor", i)));
  EXPECT_THAT(table.out, Not(HasSubstr(Name("actor", 3))));

  CommandResult json = Cli("-o json audit --latest 3");
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const nlohmann::json answer = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << json.out;
  ASSERT_EQ(answer["events"].size(), 3u) << json.out;
  EXPECT_EQ(answer["events"][2]["actor"], Name("actor", 4));

  CommandResult zero = Cli("audit --latest 0");
  EXPECT_EQ(zero.exit_code, 2) << zero.out;
  EXPECT_THAT(zero.out, HasSubstr("--latest"));
  // Export and verify read the log oldest first; the listing's order options are refused there.
  CommandResult exported = Cli("audit --latest 3 export");
  EXPECT_EQ(exported.exit_code, 2) << exported.out;
  EXPECT_THAT(exported.out, HasSubstr("`audit export` writes the log oldest first"));
}

TEST_F(ListPagesTest, HostStatusPrintsCountsFailuresListsAndDrift) {
  CommandResult table = Cli("host status");
  EXPECT_EQ(table.exit_code, 5) << "some hosts failed, as rollout status says it:\n" << table.out;
  EXPECT_EQ(controller_.fleet_list_limit, 0u) << "the controller's default without --limit";
  EXPECT_THAT(table.out, HasSubstr("9 hosts: 3 converged, 3 pending, 2 failed, 1 offline (1 not "
                                   "seen for over 1d)\n"));
  EXPECT_THAT(table.out, HasSubstr("failed (applied, but these accounts are not as desired): "
                                   "2 hosts\n"));
  EXPECT_THAT(table.out, HasSubstr("  failed-01  deploy-01  refused: unsafe path\n"));
  EXPECT_THAT(table.out, HasSubstr("pending (connected, not yet applied): 3 hosts\n"));
  EXPECT_THAT(table.out, HasSubstr("  pending-02  -          4        5\n"));
  EXPECT_THAT(table.out, HasSubstr("  offline-00  2026-11-18 11:06Z\n"));
  EXPECT_THAT(table.out, HasSubstr("  unmanaged-key    2      5\n"));
  EXPECT_THAT(table.out, HasSubstr("  no-such-account  1      1\n"));
  EXPECT_THAT(table.out, Not(HasSubstr("lists cut")));

  CommandResult json = Cli("-o json host status");
  EXPECT_EQ(json.exit_code, 5) << json.out;
  const nlohmann::json answer = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << json.out;
  EXPECT_EQ(answer["hosts"], 9);
  EXPECT_EQ(answer["not_seen"], 1);
  ASSERT_EQ(answer["failed_hosts"].size(), 2u) << json.out;
  EXPECT_EQ(answer["failed_hosts"][0]["accounts"][0]["reason"], "refused: unsafe path");
  EXPECT_EQ(answer["drift"][0]["kind"], "DRIFT_KIND_UNMANAGED_KEY");
  EXPECT_EQ(answer["lists_truncated"], false);

  controller_.fleet_fails = false;
  CommandResult healthy = Cli("host status");
  EXPECT_EQ(healthy.exit_code, 0) << "pending and offline hosts catch up:\n" << healthy.out;
  EXPECT_THAT(healthy.out, Not(HasSubstr("failed (")));
}

TEST_F(ListPagesTest, HostStatusSaysWhenListsWereCut) {
  CommandResult table = Cli("host status --limit 2");
  EXPECT_EQ(table.exit_code, 5) << table.out;
  EXPECT_EQ(controller_.fleet_list_limit, 2u);
  EXPECT_THAT(table.out, HasSubstr("pending (connected, not yet applied): 3 hosts, the first 2 "
                                   "listed\n"));
  EXPECT_THAT(table.out, Not(HasSubstr("pending-02")));
  EXPECT_THAT(table.out, HasSubstr("lists cut at 2 hosts per state (the counts are whole; "
                                   "--limit lists up to 1000)\n"));

  for (const char* bad : {"host status --limit 0", "host status --limit 1001",
                          "host status --limit many", "host status web-1"}) {
    SCOPED_TRACE(bad);
    CommandResult refused = Cli(bad);
    EXPECT_EQ(refused.exit_code, 2) << refused.out;
  }
}

TEST_F(ListPagesTest, KeyReachByFingerprintOrKeyFile) {
  const keyfleet::testing::KeyVector& key = keyfleet::testing::Vector("ed25519");
  CommandResult table = Cli("key reach " + key.sha256);
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_THAT(table.out,
              HasSubstr("HOST      ACCOUNT  GRANT  OPTIONS            EXPIRES            "
                        "APPLIED\n"));
  EXPECT_THAT(table.out, Not(HasSubstr("FINGERPRINT")));
  EXPECT_THAT(table.out, HasSubstr("reach-01  deploy   41     from=\"10.0.0.0/8\"  never"));
  EXPECT_THAT(table.out, HasSubstr("reach-02  deploy   42     -                  2027-01-01 "
                                   "00:00Z  yes\n"));
  EXPECT_THAT(table.out, HasSubstr("reach-03  deploy   43     -                  never        "
                                   "      no\n"));
  EXPECT_THAT(table.out, HasSubstr("\n5 accounts on 5 hosts\n"));
  EXPECT_THAT(table.out, Not(HasSubstr("only the first")));

  // A .pub file names the same key.
  const std::string pub = (home_.path() / "id.pub").string();
  { std::ofstream(pub) << key.line << "\n"; }
  CommandResult by_file = Cli("key reach " + pub);
  ASSERT_EQ(by_file.exit_code, 0) << by_file.out;
  EXPECT_EQ(by_file.out, table.out);
  {
    std::lock_guard<std::mutex> lock(controller_.reach_mu);
    EXPECT_EQ(controller_.last_reach.fingerprint(), key.sha256);
    EXPECT_EQ(controller_.last_reach.limit(), 0u);
  }

  CommandResult json = Cli("-o json key reach " + key.sha256);
  ASSERT_EQ(json.exit_code, 0) << json.out;
  const nlohmann::json answer = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << json.out;
  ASSERT_EQ(answer["entries"].size(), 5u) << json.out;
  EXPECT_EQ(answer["entries"][1]["options"], "from=\"10.0.0.0/8\"");
  EXPECT_EQ(answer["accounts"], 5);
  EXPECT_EQ(answer["truncated"], false);

  // The controller's refusal is exit 1 with its reason.
  CommandResult unknown = Cli("key reach " + keyfleet::testing::Vector("rsa2048").sha256);
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_THAT(unknown.out, HasSubstr("keyfleet: not found: no key SHA256:"));
}

TEST_F(ListPagesTest, KeyReachByPrincipalShowsEachKeyAndSaysWhenCut) {
  const std::string key = keyfleet::testing::Vector("ed25519").sha256;
  const std::string other = keyfleet::testing::Vector("ecdsa256").sha256;
  CommandResult table = Cli("key reach --principal alice");
  ASSERT_EQ(table.exit_code, 0) << table.out;
  EXPECT_THAT(table.out, HasSubstr("HOST      ACCOUNT  FINGERPRINT"));
  EXPECT_THAT(table.out, HasSubstr("reach-00  root     " + other + "  40"));
  EXPECT_THAT(table.out, HasSubstr("reach-04  deploy   " + key + "  44"));
  EXPECT_THAT(table.out, HasSubstr("\n6 accounts on 5 hosts\n"));
  {
    std::lock_guard<std::mutex> lock(controller_.reach_mu);
    EXPECT_EQ(controller_.last_reach.principal(), "alice");
  }

  CommandResult cut = Cli("key reach --principal alice --limit 2");
  ASSERT_EQ(cut.exit_code, 0) << cut.out;
  EXPECT_THAT(cut.out, Not(HasSubstr("reach-01")));
  EXPECT_THAT(cut.out, HasSubstr("\n6 accounts on 5 hosts\nonly the first 2 entries are listed "
                                 "(the counts are whole; --limit lists up to 10000)\n"));
  CommandResult cut_json = Cli("-o json key reach --principal alice --limit 2");
  ASSERT_EQ(cut_json.exit_code, 0) << cut_json.out;
  const nlohmann::json answer = nlohmann::json::parse(cut_json.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << cut_json.out;
  EXPECT_EQ(answer["entries"].size(), 2u);
  EXPECT_EQ(answer["truncated"], true);
}

TEST_F(ListPagesTest, KeyReachRefusesBadArgumentsBeforeAsking) {
  const std::string key = keyfleet::testing::Vector("ed25519").sha256;
  const std::string two_keys = (home_.path() / "two.pub").string();
  {
    std::ofstream(two_keys) << keyfleet::testing::Vector("ed25519").line << "\n"
                            << keyfleet::testing::Vector("ecdsa256").line << "\n";
  }
  const struct {
    std::string args;
    std::string message;
  } bad[] = {
      {"key reach", "give a KEY (a public key file or its SHA256: fingerprint) or --principal"},
      {"key reach " + key + " --principal alice", "or --principal NAME, one of them"},
      {"key reach SHA256:short", "\"SHA256:short\" is not a SHA256 fingerprint"},
      {"key reach " + two_keys, "holds more than one key"},
      {"key reach /nonexistent/id.pub", "/nonexistent/id.pub"},
      {"key reach --principal alice --limit 0", "--limit"},
      {"key reach --principal alice --limit 10001", "--limit"},
  };
  controller_.calls = 0;
  for (const auto& b : bad) {
    SCOPED_TRACE(b.args);
    CommandResult refused = Cli(b.args);
    EXPECT_EQ(refused.exit_code, 2) << refused.out;
    EXPECT_THAT(refused.out, HasSubstr(b.message));
  }
  std::lock_guard<std::mutex> lock(controller_.reach_mu);
  EXPECT_FALSE(controller_.last_reach.has_fingerprint() || controller_.last_reach.has_principal())
      << "nothing was asked";
}

}  // namespace
}  // namespace keyfleet::cli
