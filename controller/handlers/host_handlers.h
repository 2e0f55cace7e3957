// Admin calls on hosts and their join tokens, without gRPC: labels (set only by admins and by
// the token a host enrolled with), removal, and the tokens agents enroll with.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

struct NewJoinToken {
  std::string text;  // the secret token: shown once, never stored
  JoinTokenRecord record;
  std::string ca_pin;  // what agents pin (`--ca-hash`); "" with --insecure-dev
};

// One host's SSH host keys, for a known_hosts file.
struct HostKnownKeys {
  std::string hostname;
  // "TYPE BASE64" each, from the host's last report; empty: it reported none.
  std::vector<std::string> public_keys;
};

class HostHandlers {
 public:
  // `ca_pin`: the signing CA's pin, handed out with each token ("" with --insecure-dev).
  HostHandlers(HandlerContext& ctx, std::string ca_pin) : ctx_(ctx), ca_pin_(std::move(ca_pin)) {}

  // Sets `set` and removes `remove` (unknown keys in `remove` are INVALID_ARGUMENT, as is
  // asking for nothing). NOT_FOUND for an unknown host.
  absl::StatusOr<uint64_t> LabelHost(const Actor& actor, const std::string& hostname,
                                     const Labels& set, const std::vector<std::string>& remove);
  // Deletes the host; once this replica's view shows it, the host's streams are closed and its
  // certificates refused by every replica as it catches up.
  absl::StatusOr<uint64_t> RemoveHost(const Actor& actor, const std::string& hostname);

  // `ttl`: default kDefaultJoinTokenTtl, at most kMaxJoinTokenTtl; `uses`: 0 means 1, at most
  // kMaxJoinTokenUses. The hostname (if any) and labels are validated. `creator_scope`: the
  // host scope of the operator asking ({} : none), recorded on the token.
  absl::StatusOr<NewJoinToken> CreateJoinToken(const Actor& actor,
                                               const std::string& hostname, const Labels& labels,
                                               std::optional<absl::Duration> ttl, uint32_t uses,
                                               const Labels& creator_scope = {});
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokens() const;
  // At most `limit` join tokens created after (`created_at`, `id`) (InfinitePast: from the
  // first) that `visible` accepts, oldest first: a page, read a batch at a time (keyset_read.h).
  absl::StatusOr<std::vector<JoinTokenRecord>> ListJoinTokensAfter(
      absl::Time created_at, const std::string& id, size_t limit,
      const std::function<bool(const JoinTokenRecord&)>& visible) const;
  absl::Status RevokeJoinToken(const Actor& actor, const std::string& id);

  // At most `limit` hosts named after `after` ("": from the first) that `selector` selects and
  // `visible` accepts, in hostname order, each with the host keys its last report gave (hosts
  // that reported none are included, with none): a page of `keyfleet known-hosts`. An empty
  // selector selects every host; INVALID_ARGUMENT for an invalid one (ValidateHostSelector).
  absl::StatusOr<std::vector<HostKnownKeys>> KnownHostsAfter(
      const HostSelector& selector, const std::string& after, size_t limit,
      const std::function<bool(const HostRecord&)>& visible) const;

 private:
  HandlerContext& ctx_;
  std::string ca_pin_;
};

}  // namespace keyfleet::controller
