// The list commands follow pages: the `keyfleet` binary against a fake controller on loopback
// (--insecure-dev) that answers every list two items to a page and refuses any page token it did
// not give. Each command must print every item once, in order, as a table and as JSON.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::cli {
namespace {

using ::keyfleet::testing::CommandResult;
using ::keyfleet::testing::RunCommand;
using ::testing::HasSubstr;

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

 private:
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

}  // namespace
}  // namespace keyfleet::cli
