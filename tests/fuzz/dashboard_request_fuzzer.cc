// Fuzzes what a browser's request brings the dashboard before any RPC: the Cookie header
// (session.h) and the query parameters (query_message.h). Input: a Cookie header, a newline,
// then query parameters, one NAME=VALUE per line. Checks, for every input:
//  - a session token taken from the header looks like a token, and the cookie made for it
//    gives it back; its CSRF token matches it and a changed one does not;
//  - the parameters become a ListAuditRequest and a KeyReachRequest, or an error with a
//    message of bounded size; a request that parsed serializes and parses back equal.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "controller/dashboard/query_message.h"
#include "controller/dashboard/session.h"
#include "keyfleet/v1/admin.pb.h"
#include "tests/fuzz/fuzz_require.h"

namespace {

using keyfleet::fuzz::Require;

template <class Message>
void CheckQuery(const std::vector<std::pair<std::string, std::string>>& params) {
  Message message;
  absl::Status s = keyfleet::controller::dashboard::MessageFromQuery(params, &message);
  if (!s.ok()) {
    Require(s.code() == absl::StatusCode::kInvalidArgument);
    Require(!s.message().empty() && s.message().size() < 2048);
    return;
  }
  Message again;
  Require(again.ParseFromString(message.SerializeAsString()));
  Require(again.SerializeAsString() == message.SerializeAsString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace dashboard = keyfleet::controller::dashboard;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const absl::string_view cookie = input.substr(0, newline);
  const absl::string_view query =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);

  std::optional<std::string> token = dashboard::SessionTokenFromCookies(cookie);
  if (token) {
    Require(dashboard::LooksLikeApiToken(*token));
    const std::string set_cookie = dashboard::SessionCookie(*token);
    const std::string sent = set_cookie.substr(0, set_cookie.find(';'));
    Require(dashboard::SessionTokenFromCookies(sent) == token);
    std::string csrf = dashboard::CsrfTokenFor(*token);
    Require(dashboard::CsrfTokenMatches(*token, csrf));
    csrf[0] = csrf[0] == '0' ? '1' : '0';
    Require(!dashboard::CsrfTokenMatches(*token, csrf));
  }

  std::vector<std::pair<std::string, std::string>> params;
  for (absl::string_view line : absl::StrSplit(query, '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    params.emplace_back(std::string(line.substr(0, eq)),
                        eq == absl::string_view::npos ? "" : std::string(line.substr(eq + 1)));
  }
  CheckQuery<keyfleet::v1::ListAuditRequest>(params);
  CheckQuery<keyfleet::v1::KeyReachRequest>(params);
  CheckQuery<keyfleet::v1::FleetStatusRequest>(params);
  return 0;
}
