// The list RPCs page (issue 15): ListPrincipals, ListGrants, ListHosts, ListHostTokens and
// ListTokens through the admin service in-process, over a FakeStore and a fixed clock. One table
// of lists, each paged across items added and removed between pages, with bad tokens and page
// sizes; and a host-scoped operator's pages holding only the hosts it may see.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/credential_handlers.h"
#include "controller/handlers/enrollment_handlers.h"
#include "controller/handlers/host_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/notify_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/host_selector.h"
#include "controller/service/admin_auth.h"
#include "controller/service/admin_service.h"
#include "controller/service/page_token.h"
#include "controller/service/request_ledger.h"
#include "controller/tests/fake_store.h"
#include "controller/tests/handler_test_fixture.h"
#include "controller/view_follower.h"

namespace keyfleet::controller {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// One page as the test compares it: each item's sort key as a string that sorts like the list.
struct Page {
  std::vector<std::string> keys;
  std::string next;
};

// The admin service over a FakeStore, served in-process; calls carry an admin token. Public:
// the table of lists below drives it.
class ListPagingTest : public HandlerTest {
 public:
  ListPagingTest()
      : security_events_(store_),
        host_handlers_(ctx_, ""),
        credentials_(ctx_, nullptr),
        admin_auth_(credentials_, view_, store_, security_events_, clock_),
        notify_(nullptr, {}, clock_),
        requests_(store_),
        service_(admin_auth_, inventory_, report_handlers_, host_handlers_, credentials_, notify_,
                 requests_, clock_) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    stub_ = v1::AdminService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    admin_token_ = Token("admin", Role::kAdmin, {});
  }
  ~ListPagingTest() override { server_->Shutdown(); }

  std::string Token(const std::string& name, Role role, const Labels& host_scope) {
    CredentialSpec spec;
    spec.name = name;
    spec.role = role;
    spec.host_scope = host_scope;
    absl::StatusOr<NewApiToken> token = credentials_.CreateToken("test", spec);
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? token->text : "";
  }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + (token.empty() ? admin_token_ : token));
    return ctx;
  }

  // Calls `rpc` with page_size and page_token set; the page's keys come from `key_of`.
  template <typename Request, typename Response, typename KeyOf>
  grpc::Status Call(grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*,
                                                                const Request&, Response*),
                    Request req, uint32_t size, const std::string& token, KeyOf key_of, Page* page,
                    const std::string& caller_token = "") {
    req.set_page_size(size);
    req.set_page_token(token);
    Response resp;
    grpc::Status s = (stub_.get()->*rpc)(Context(caller_token).get(), req, &resp);
    *page = Page();
    if (!s.ok()) return s;
    page->keys = key_of(resp);
    page->next = resp.next_page_token();
    return s;
  }

  void AddPrincipal(const std::string& name) {
    ASSERT_TRUE(inventory_.AddPrincipal("test", name, PrincipalKind::kPerson, "").ok()) << name;
  }
  // Returns the grant's id.
  int64_t AddGrant(const std::string& account) {
    GrantRecord g;
    g.principal = "owner";
    g.hosts = *ParseHostSelector("env=prod");
    g.account = account;
    absl::StatusOr<AddGrantResult> added = inventory_.AddGrant("test", g);
    EXPECT_TRUE(added.ok()) << added.status();
    return added.ok() ? added->grant.id : 0;
  }
  void AddHost(const std::string& hostname, const Labels& labels = {{"env", "dev"}}) {
    ASSERT_TRUE(agents_.Connect(hostname, labels).ok()) << hostname;
  }
  void AddJoinToken(const std::string& hostname, const Labels& labels = {{"env", "dev"}}) {
    ASSERT_TRUE(host_handlers_.CreateJoinToken("test", hostname, labels, std::nullopt, 1).ok())
        << hostname;
  }

  SecurityEventBuffer security_events_;
  HostHandlers host_handlers_;
  CredentialHandlers credentials_;
  AdminAuthorizer admin_auth_;
  NotifyHandlers notify_;
  RequestLedger requests_;
  AdminServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::AdminService::Stub> stub_;
  std::string admin_token_;
};

// Sort keys that sort as the lists do: names as they are; ids and times zero-padded.
std::string Padded(int64_t n) {
  return absl::StrFormat("%020d", n);
}
std::string CreationKey(const google::protobuf::Timestamp& at, const std::string& id) {
  return absl::StrCat(Padded(at.seconds() * 1000000 + at.nanos() / 1000), ":", id);
}

std::vector<std::string> PrincipalKeys(const v1::ListPrincipalsResponse& r) {
  std::vector<std::string> keys;
  for (const v1::Principal& p : r.principals()) keys.push_back(p.name());
  return keys;
}
std::vector<std::string> GrantKeys(const v1::ListGrantsResponse& r) {
  std::vector<std::string> keys;
  for (const v1::Grant& g : r.grants()) keys.push_back(Padded(std::stoll(g.id())));
  return keys;
}
std::vector<std::string> HostKeys(const v1::ListHostsResponse& r) {
  std::vector<std::string> keys;
  for (const v1::Host& h : r.hosts()) keys.push_back(h.hostname());
  return keys;
}
std::vector<std::string> JoinTokenKeys(const v1::ListHostTokensResponse& r) {
  std::vector<std::string> keys;
  for (const v1::HostToken& t : r.tokens()) keys.push_back(CreationKey(t.created_at(), t.id()));
  return keys;
}
std::vector<std::string> CredentialKeys(const v1::ListTokensResponse& r) {
  std::vector<std::string> keys;
  for (const v1::Credential& c : r.credentials()) {
    keys.push_back(CreationKey(c.created_at(), c.id()));
  }
  return keys;
}

using PageCall =
    std::function<grpc::Status(ListPagingTest&, uint32_t size, const std::string& token, Page*)>;

// One page of `rpc` (its request otherwise empty), as the admin.
template <typename Request, typename Response>
PageCall Lister(grpc::Status (v1::AdminService::Stub::*rpc)(grpc::ClientContext*, const Request&,
                                                            Response*),
                std::vector<std::string> (*key_of)(const Response&)) {
  return [=](ListPagingTest& t, uint32_t size, const std::string& token, Page* page) {
    return t.Call(rpc, Request(), size, token, key_of, page);
  };
}

// One list RPC, as the table below drives it.
struct ListCase {
  std::string rpc;
  uint32_t default_size;
  // Adds the item numbered `n` (names sort by n: 15 falls between 10 and 20).
  std::function<void(ListPagingTest&, int n)> add;
  // Removes the item with sort key `key`; null for lists whose items are never removed.
  std::function<void(ListPagingTest&, const std::string& key)> remove;
  PageCall list;
};

void PrintTo(const ListCase& c, std::ostream* os) {
  *os << c.rpc;
}

class ListCaseTest : public ListPagingTest, public ::testing::WithParamInterface<ListCase> {};

std::vector<ListCase> ListCases() {
  auto name = [](const char* prefix, int n) { return absl::StrFormat("%s%03d", prefix, n); };
  return {
      {"ListPrincipals", kPrincipalPageSize,
       [=](ListPagingTest& t, int n) { t.AddPrincipal(name("p", n)); }, nullptr,
       Lister(&v1::AdminService::Stub::ListPrincipals, PrincipalKeys)},
      {"ListGrants", kGrantPageSize,
       [=](ListPagingTest& t, int n) {
         if (!t.view_.FindPrincipal("owner")) t.AddPrincipal("owner");
         t.AddGrant(name("a", n));
       },
       [](ListPagingTest& t, const std::string& key) {
         ASSERT_TRUE(t.inventory_.RemoveGrant("test", std::stoll(key)).ok()) << key;
       },
       Lister(&v1::AdminService::Stub::ListGrants, GrantKeys)},
      {"ListHosts", kHostPageSize, [=](ListPagingTest& t, int n) { t.AddHost(name("h", n)); },
       [](ListPagingTest& t, const std::string& key) {
         ASSERT_TRUE(t.host_handlers_.RemoveHost("test", key).ok()) << key;
       },
       Lister(&v1::AdminService::Stub::ListHosts, HostKeys)},
      // Join tokens and credentials list oldest first; the clock stands still between some,
      // so ties on the time are settled by id.
      {"ListHostTokens", kJoinTokenPageSize,
       [=](ListPagingTest& t, int n) {
         if (n % 20 == 0) t.clock_.Advance(absl::Seconds(1));
         t.AddJoinToken(name("t", n));
       },
       nullptr, Lister(&v1::AdminService::Stub::ListHostTokens, JoinTokenKeys)},
      {"ListTokens", kCredentialPageSize,
       [=](ListPagingTest& t, int n) {
         if (n % 20 == 0) t.clock_.Advance(absl::Seconds(1));
         t.Token(name("c", n), Role::kAuditor, {});
       },
       nullptr, Lister(&v1::AdminService::Stub::ListTokens, CredentialKeys)},
  };
}

// Every page, following next_page_token from `token`, at most 100 pages.
std::vector<Page> Pages(ListPagingTest& t, const ListCase& c, uint32_t size, std::string token) {
  std::vector<Page> pages;
  for (int i = 0; i < 100; ++i) {
    Page page;
    grpc::Status s = c.list(t, size, token, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) break;
    pages.push_back(page);
    if (page.next.empty()) break;
    token = page.next;
  }
  return pages;
}

std::vector<std::string> Keys(const std::vector<Page>& pages) {
  std::vector<std::string> keys;
  for (const Page& p : pages) keys.insert(keys.end(), p.keys.begin(), p.keys.end());
  return keys;
}

// Items numbered 10, 20, … 70; pages of 3. Between the first page and the rest, the first
// page's last item (the one its token names) and a later one are removed where the list allows
// removals, and items are added before and after where the order allows it. The pages together
// hold the first page and then exactly what the list holds after its last key: nothing skipped,
// nothing twice, in order.
TEST_P(ListCaseTest, PagesSurviveAddsAndRemovesBetweenThem) {
  const ListCase& c = GetParam();
  for (int n = 10; n <= 70; n += 10) c.add(*this, n);
  // The admin token is an item of ListTokens: what is listed is counted, not assumed.
  const std::vector<std::string> before = Keys(Pages(*this, c, kMaxPageSize, ""));
  ASSERT_GE(before.size(), 7u);

  Page first;
  ASSERT_TRUE(c.list(*this, 3, "", &first).ok());
  ASSERT_EQ(first.keys, std::vector<std::string>(before.begin(), before.begin() + 3));
  ASSERT_FALSE(first.next.empty());
  if (c.remove) {
    c.remove(*this, first.keys.back());
    c.remove(*this, before[4]);
  }
  c.add(*this, 15);
  c.add(*this, 65);

  const std::vector<std::string> after = Keys(Pages(*this, c, kMaxPageSize, ""));
  std::vector<std::string> expected = first.keys;
  for (const std::string& k : after) {
    if (k > first.keys.back()) expected.push_back(k);
  }
  const std::vector<Page> rest = Pages(*this, c, 3, first.next);
  for (const Page& p : rest) EXPECT_LE(p.keys.size(), 3u);
  std::vector<std::string> listed = first.keys;
  for (const std::string& k : Keys(rest)) listed.push_back(k);
  EXPECT_THAT(listed, ElementsAreArray(expected));
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), listed.size());
  if (c.remove) {
    EXPECT_EQ(std::count(listed.begin(), listed.end(), before[4]), 0) << "removed before listed";
  }
}

TEST_P(ListCaseTest, PageSizesDefaultAndHaveACeiling) {
  const ListCase& c = GetParam();
  for (int n = 10; n <= 50; n += 10) c.add(*this, n);
  const std::vector<std::string> all = Keys(Pages(*this, c, kMaxPageSize, ""));
  Page page;
  ASSERT_TRUE(c.list(*this, 0, "", &page).ok());  // 0: the default, above this list's size
  EXPECT_EQ(page.keys, all);
  EXPECT_THAT(page.next, IsEmpty());
  const std::vector<Page> ones = Pages(*this, c, 1, "");
  EXPECT_EQ(ones.size(), all.size());
  EXPECT_EQ(Keys(ones), all);

  grpc::Status s = c.list(*this, kMaxPageSize + 1, "", &page);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size"));
}

// page_size 0 is the list's own default: one item more makes a second page.
TEST_P(ListCaseTest, TheDefaultPageSizeIsTheListsOwn) {
  const ListCase& c = GetParam();
  const std::vector<std::string> existing = Keys(Pages(*this, c, kMaxPageSize, ""));
  for (int n = 0; n < static_cast<int>(c.default_size + 1 - existing.size()); ++n) c.add(*this, n);
  Page page;
  ASSERT_TRUE(c.list(*this, 0, "", &page).ok());
  EXPECT_EQ(page.keys.size(), c.default_size);
  ASSERT_FALSE(page.next.empty());
  ASSERT_TRUE(c.list(*this, 0, page.next, &page).ok());
  EXPECT_EQ(page.keys.size(), 1u);
  EXPECT_THAT(page.next, IsEmpty());
}

TEST_P(ListCaseTest, ATokenNotMadeForThisListIsRefused) {
  const ListCase& c = GetParam();
  for (int n = 10; n <= 30; n += 10) c.add(*this, n);
  Page first;
  ASSERT_TRUE(c.list(*this, 1, "", &first).ok());
  ASSERT_FALSE(first.next.empty());
  const std::vector<std::string> bad = {
      "garbage",
      "a5",                                            // an audit token
      KeyPageToken("SHA256:" + std::string(43, 'A')),  // a key token
      first.next + "\n",
      first.next.substr(0, first.next.size() - 1) + "!",
      " " + first.next,
      std::string(300, 'h'),  // over the field limit
  };
  for (const std::string& token : bad) {
    Page page;
    grpc::Status s = c.list(*this, 1, token, &page);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token;
    EXPECT_THAT(s.error_message(), HasSubstr("page_token")) << token;
  }
}

INSTANTIATE_TEST_SUITE_P(Lists, ListCaseTest, ::testing::ValuesIn(ListCases()),
                         [](const ::testing::TestParamInfo<ListCase>& info) {
                           return info.param.rpc;
                         });

// A host-scoped operator's pages hold only the hosts in its scope, full pages even when its
// hosts are scattered thinly across many more (read from the store a batch at a time).
TEST_F(ListPagingTest, AScopedOperatorPagesThroughItsOwnHostsOnly) {
  std::vector<std::string> prod;
  for (int n = 0; n < 600; ++n) {
    const std::string hostname = absl::StrFormat("h%04d", n);
    const bool in_scope = n % 100 == 5;
    AddHost(hostname, {{"env", in_scope ? "prod" : "dev"}});
    if (in_scope) prod.push_back(hostname);
  }
  ASSERT_EQ(prod.size(), 6u);
  const std::string operator_token = Token("ops-prod", Role::kOperator, {{"env", "prod"}});
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    Page page;
    ASSERT_TRUE(Call(&v1::AdminService::Stub::ListHosts, v1::ListHostsRequest(), 2, token, HostKeys,
                     &page, operator_token)
                    .ok());
    EXPECT_EQ(page.keys.size(), 2u) << "full pages";
    listed.insert(listed.end(), page.keys.begin(), page.keys.end());
    token = page.next;
    ASSERT_LT(++pages, 10);
  } while (!token.empty());
  EXPECT_EQ(listed, prod);
  EXPECT_EQ(pages, 3);
}

}  // namespace
}  // namespace keyfleet::controller
