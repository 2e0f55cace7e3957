#include "controller/handlers/host_handlers.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/host_names.h"
#include "common/status_macros.h"
#include "controller/enrollment_rules.h"
#include "controller/handlers/keyset_read.h"
#include "controller/host_selector.h"
#include "controller/secret_token.h"
#include "controller/store/inventory_errors.h"

namespace keyfleet::controller {

absl::StatusOr<uint64_t> HostHandlers::LabelHost(const Actor& actor,
                                                 const std::string& hostname, const Labels& set,
                                                 const std::vector<std::string>& remove) {
  KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  if (set.empty() && remove.empty()) {
    return absl::InvalidArgumentError("give labels to set (k=v,…) or --remove KEY");
  }
  std::optional<HostRecord> host = ctx_.view.FindHost(hostname);
  if (!host) return HostNotFoundError(hostname);
  Labels labels = host->labels;
  for (const std::string& key : remove) {
    if (labels.erase(key) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("host ", hostname, " has no label \"", key, "\" to remove"));
    }
  }
  for (const auto& [key, value] : set) labels[key] = value;
  KF_RETURN_IF_ERROR(ValidateLabels(labels));
  {
    ProposedChange proposed;
    proposed.relabelled_host = *host;
    proposed.relabelled_host->labels = labels;
    KF_RETURN_IF_ERROR(ctx_.view.CheckDelivery(proposed, ctx_.Now()));
  }
  KF_ASSIGN_OR_RETURN(uint64_t change,
                      ctx_.store.SetHostLabels(actor.At(ctx_.Now()), hostname, labels));
  if (change != 0) KF_RETURN_IF_ERROR(ctx_.follower.CatchUpTo(change));
  return change;
}

absl::StatusOr<uint64_t> HostHandlers::RemoveHost(const Actor& actor,
                                                  const std::string& hostname) {
  KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  KF_ASSIGN_OR_RETURN(uint64_t change, ctx_.store.RemoveHost(actor.At(ctx_.Now()), hostname));
  KF_RETURN_IF_ERROR(ctx_.follower.CatchUpTo(change));
  return change;
}

absl::StatusOr<NewJoinToken> HostHandlers::CreateJoinToken(
    const Actor& actor, const std::string& hostname, const Labels& labels,
    std::optional<absl::Duration> ttl, uint32_t uses, const Labels& creator_scope) {
  if (!hostname.empty()) KF_RETURN_IF_ERROR(ValidateHostname(hostname));
  KF_RETURN_IF_ERROR(ValidateLabels(labels));
  const absl::Duration lifetime = ttl.value_or(kDefaultJoinTokenTtl);
  if (lifetime <= absl::ZeroDuration() || lifetime > kMaxJoinTokenTtl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ttl must be more than 0 and at most ", absl::FormatDuration(kMaxJoinTokenTtl),
        " (a join token is a short-lived credential), got ", absl::FormatDuration(lifetime)));
  }
  if (uses == 0) uses = 1;
  if (uses > kMaxJoinTokenUses) {
    return absl::InvalidArgumentError(
        absl::StrCat("--uses must be 1 to ", kMaxJoinTokenUses, ", got ", uses));
  }
  if (!hostname.empty() && uses > 1) {
    return absl::InvalidArgumentError(
        "a token for one --hostname enrolls that host once: --uses must be 1");
  }
  KF_ASSIGN_OR_RETURN(SecretTokenParts parts, GenerateSecretToken(kJoinTokenFormat));
  NewJoinToken out;
  out.text = parts.text;
  out.ca_pin = ca_pin_;
  JoinTokenRecord& t = out.record;
  t.id = parts.id;
  t.secret_hash = parts.secret_hash;
  t.hostname = hostname;
  t.labels = labels;
  t.created_at = ctx_.Now();
  t.expires_at = t.created_at + lifetime;
  t.uses_allowed = uses;
  t.created_by = actor.name;
  t.creator_scope = creator_scope;
  KF_RETURN_IF_ERROR(ctx_.store.CreateJoinToken(actor.At(t.created_at), t));
  return out;
}

absl::StatusOr<std::vector<JoinTokenRecord>> HostHandlers::ListJoinTokens() const {
  return ctx_.store.ListJoinTokens();
}

absl::StatusOr<std::vector<JoinTokenRecord>> HostHandlers::ListJoinTokensAfter(
    absl::Time created_at, const std::string& id, size_t limit,
    const std::function<bool(const JoinTokenRecord&)>& visible) const {
  using Cursor = std::pair<absl::Time, std::string>;
  return ReadKeptRows<JoinTokenRecord>(
      Cursor(created_at, id), limit,
      [this](const Cursor& from, size_t n) {
        return ctx_.store.ListJoinTokensAfter(from.first, from.second, n);
      },
      [](const JoinTokenRecord& t) { return Cursor(t.created_at, t.id); }, visible);
}

absl::Status HostHandlers::RevokeJoinToken(const Actor& actor, const std::string& id) {
  return ctx_.store.RevokeJoinToken(actor.At(ctx_.Now()), id);
}

absl::StatusOr<std::vector<HostKnownKeys>> HostHandlers::KnownHostsAfter(
    const HostSelector& selector, const std::string& after, size_t limit,
    const std::function<bool(const HostRecord&)>& visible) const {
  // No selector is every host here (a grant must say "*": it gives access; this only reads).
  const bool every_host = selector.labels.empty() && selector.hostname_glob.empty();
  if (!every_host) KF_RETURN_IF_ERROR(ValidateHostSelector(selector));
  KF_ASSIGN_OR_RETURN(
      std::vector<HostRecord> hosts,
      ReadKeptRows<HostRecord>(
          after, limit,
          [this](const std::string& from, size_t n) { return ctx_.store.ListHostsAfter(from, n); },
          [](const HostRecord& h) { return h.hostname; },
          [&](const HostRecord& h) {
            return (every_host || SelectorMatches(selector, h.hostname, h.labels)) && visible(h);
          }));
  std::vector<HostKnownKeys> out;
  out.reserve(hosts.size());
  for (HostRecord& h : hosts) {
    out.push_back({std::move(h.hostname), std::move(h.host_public_keys)});
  }
  return out;
}

}  // namespace keyfleet::controller
