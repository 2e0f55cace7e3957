#include "controller/handlers/inventory_handlers.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/duration_text.h"
#include "common/fingerprint.h"
#include "common/key_policy.h"
#include "common/openssh_private_key.h"
#include "common/ssh_key_generation.h"
#include "common/ssh_key_type.h"
#include "common/ssh_public_key.h"
#include "common/status_macros.h"
#include "controller/desired_state.h"
#include "controller/host_selector.h"
#include "controller/inventory_validation.h"
#include "controller/store/inventory_errors.h"

namespace keyfleet::controller {
namespace {

// A key as AddKeys and RotateKey register it: parsed, no certificate, allowed by the policy.
// Its life is the owner's kind's max key age.
absl::StatusOr<KeyRecord> NewKeyRecord(const std::string& line, const std::string& principal,
                                       const std::string& label, const PolicyRecord& policy,
                                       PrincipalKind kind, KeySource source, absl::Time now) {
  absl::StatusOr<PublicKey> key = ParsePublicKey(line);
  if (!key.ok()) return key.status();
  if (key->certificate) {
    return absl::InvalidArgumentError(
        "this is a certificate, not a key; add the plain public key (the certificate's key is "
        "in the matching .pub file)");
  }
  KF_RETURN_IF_ERROR(CheckKeyAgainstPolicy(*key, policy.key_policy));
  if (key->comment.size() > kMaxKeyCommentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the key's comment is ", key->comment.size(),
                                                   " bytes; at most ", kMaxKeyCommentBytes));
  }
  KeyRecord record;
  record.fingerprint = Fingerprint(*key);
  record.principal = principal;
  record.type = std::string(KeyTypeName(key->type));
  record.bits = key->bits;
  record.comment = key->comment;
  PublicKey plain = *key;
  plain.comment.clear();
  record.public_key = RenderPublicKey(plain);
  record.label = label;
  record.created_at = now;
  record.expires_at = now + policy.RuleFor(kind).max_key_age;
  record.source = source;
  return record;
}

// The owner's kind picks the rotation rule; an unknown owner is refused by the store.
PrincipalKind KindOf(const FleetView& view, const std::string& principal) {
  std::optional<PrincipalRecord> p = view.FindPrincipal(principal);
  return p ? p->kind : PrincipalKind::kPerson;
}

MutationContext Mutation(const HandlerContext& ctx, const Actor& actor) {
  return actor.At(ctx.Now());
}

absl::Status KeyError(size_t index, size_t total, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("key ", index + 1, " of ", total, ": ", status.message()));
}

}  // namespace

absl::StatusOr<uint64_t> InventoryHandlers::Visible(absl::StatusOr<uint64_t> change) {
  if (!change.ok() || *change == 0) return change;
  KF_RETURN_IF_ERROR(ctx_.follower.CatchUpTo(*change));
  return change;
}

absl::StatusOr<uint64_t> InventoryHandlers::AddPrincipal(const Actor& actor,
                                                         const std::string& name,
                                                         PrincipalKind kind,
                                                         const std::string& email) {
  KF_RETURN_IF_ERROR(ValidatePrincipalName(name));
  KF_RETURN_IF_ERROR(ValidateEmail(email));
  PrincipalRecord p;
  p.name = name;
  p.kind = kind;
  p.email = email;
  p.created_at = ctx_.Now();
  return Visible(ctx_.store.AddPrincipal(Mutation(ctx_, actor), p));
}

std::vector<PrincipalRecord> InventoryHandlers::ListPrincipals() const {
  return ctx_.view.Principals();
}

absl::StatusOr<uint64_t> InventoryHandlers::DisablePrincipal(const Actor& actor,
                                                             const std::string& name) {
  KF_RETURN_IF_ERROR(ValidatePrincipalName(name));
  return Visible(ctx_.store.DisablePrincipal(Mutation(ctx_, actor), name));
}

absl::StatusOr<AddKeysResult> InventoryHandlers::AddKeys(const Actor& actor,
                                                         const std::string& principal,
                                                         const std::vector<std::string>& lines,
                                                         const std::string& label) {
  return AddKeysFrom(actor, principal, lines, label, KeySource::kUploaded);
}

absl::StatusOr<AddKeysResult> InventoryHandlers::AddKeysFrom(const Actor& actor,
                                                             const std::string& principal,
                                                             const std::vector<std::string>& lines,
                                                             const std::string& label,
                                                             KeySource source) {
  KF_RETURN_IF_ERROR(ValidatePrincipalName(principal));
  KF_RETURN_IF_ERROR(ValidateKeyLabel(label));
  if (lines.empty()) return absl::InvalidArgumentError("no public keys given");
  const PolicyRecord policy = ctx_.view.policy();
  const PrincipalKind kind = KindOf(ctx_.view, principal);
  const absl::Time now = ctx_.Now();
  AddKeysResult result;
  std::set<std::string> seen;
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StatusOr<KeyRecord> record =
        NewKeyRecord(lines[i], principal, label, policy, kind, source, now);
    if (!record.ok()) return KeyError(i, lines.size(), record.status());
    if (!seen.insert(record->fingerprint).second) {
      return KeyError(i, lines.size(),
                      absl::InvalidArgumentError(absl::StrCat("key ", record->fingerprint,
                                                              " appears twice in this request")));
    }
    result.keys.push_back(*std::move(record));
  }
  for (const GrantRecord& g : ctx_.view.Grants()) {
    if (g.principal == principal) KF_RETURN_IF_ERROR(CheckGrantLinesFit(g, result.keys));
  }
  {
    ProposedChange proposed;
    proposed.new_keys = result.keys;
    KF_RETURN_IF_ERROR(ctx_.view.CheckDelivery(proposed, now));
  }
  KF_ASSIGN_OR_RETURN(result.change,
                      Visible(ctx_.store.AddKeys(Mutation(ctx_, actor), result.keys)));
  return result;
}

absl::StatusOr<RotateKeyResult> InventoryHandlers::RotateKey(
    const Actor& actor, const std::string& old_fingerprint, const std::string& public_key,
    const std::string& label, std::optional<absl::Duration> overlap, KeySource source) {
  std::optional<KeyRecord> old_key = ctx_.view.FindKey(old_fingerprint);
  if (!old_key) return KeyNotFoundError(old_fingerprint);
  KF_RETURN_IF_ERROR(CheckRotatable(*old_key));
  if (!label.empty()) KF_RETURN_IF_ERROR(ValidateKeyLabel(label));
  const PolicyRecord policy = ctx_.view.policy();
  const PrincipalKind kind = KindOf(ctx_.view, old_key->principal);
  const RotationRule rule = policy.RuleFor(kind);
  const absl::Time now = ctx_.Now();
  const absl::Duration keep = overlap.value_or(rule.rotation_overlap);
  if (keep < absl::ZeroDuration() || keep > rule.max_key_age) {
    return absl::InvalidArgumentError(
        absl::StrCat("the overlap must be between 0 (--now) and the policy's max key age (",
                     FormatDurationText(rule.max_key_age), ")"));
  }
  absl::StatusOr<KeyRecord> next =
      NewKeyRecord(public_key, old_key->principal, label.empty() ? old_key->label : label, policy,
                   kind, source, now);
  if (!next.ok()) {
    return absl::Status(next.status().code(),
                        absl::StrCat("the new key: ", next.status().message()));
  }
  if (next->fingerprint == old_fingerprint) {
    return absl::InvalidArgumentError(
        "the new key is the old one; generate a new key pair (ssh-keygen) and rotate to it");
  }
  // What the new key's lines need: the principal's grants, and copies of the old fingerprint's.
  ProposedChange proposed;
  proposed.new_keys = {*next};
  for (const GrantRecord& g : ctx_.view.Grants()) {
    if (g.principal == next->principal) KF_RETURN_IF_ERROR(CheckGrantLinesFit(g, {*next}));
    if (g.key_fingerprint == old_fingerprint) {
      GrantRecord copy = g;
      copy.key_fingerprint = next->fingerprint;
      KF_RETURN_IF_ERROR(CheckGrantLinesFit(copy, {*next}));
      proposed.new_grants.push_back(std::move(copy));
    }
  }
  KF_RETURN_IF_ERROR(ctx_.view.CheckDelivery(proposed, now));
  KeyRotation rotation{old_fingerprint, now + keep, *next};
  RotateKeyResult result;
  KF_ASSIGN_OR_RETURN(result.change,
                      ctx_.store.RotateKey(Mutation(ctx_, actor), rotation, &result.carried));
  KF_RETURN_IF_ERROR(ctx_.follower.CatchUpTo(result.change));
  // As stored: the view has caught up with the rotation (a later change may already have
  // removed either key; then the error says so rather than guess).
  std::optional<KeyRecord> stored_new = ctx_.view.FindKey(next->fingerprint);
  std::optional<KeyRecord> stored_old = ctx_.view.FindKey(old_fingerprint);
  if (!stored_new || !stored_old) {
    return absl::AbortedError(absl::StrCat("key ", old_fingerprint, " was rotated (change ",
                                           result.change,
                                           "), but a later change removed one of the keys"));
  }
  result.new_key = *std::move(stored_new);
  result.old_key = *std::move(stored_old);
  return result;
}

absl::StatusOr<std::vector<KeyRecord>> InventoryHandlers::ListKeys(const KeyFilter& filter) const {
  static const std::set<std::string> kStates = {"active", "superseded", "expired", "revoked"};
  if (filter.state && !kStates.count(*filter.state)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown key state \"", *filter.state, "\"; use active, superseded, expired or revoked"));
  }
  if (filter.expiring_within && *filter.expiring_within < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("expiring-within must not be negative");
  }
  if (filter.unused_for && *filter.unused_for < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("unused-for must not be negative");
  }
  const absl::Time now = ctx_.Now();
  std::vector<KeyRecord> keys = ctx_.view.Keys(filter, now);
  if (!filter.unused_for) return keys;
  // Unused: old enough to have been used within the window, and not used within it.
  const absl::Time since = now - *filter.unused_for;
  KF_ASSIGN_OR_RETURN(const std::set<std::string> used, ctx_.view.UsedSince(since));
  std::vector<KeyRecord> unused;
  for (KeyRecord& key : keys) {
    if (key.created_at > since) continue;
    if (used.count(key.fingerprint)) continue;
    unused.push_back(std::move(key));
  }
  return unused;
}

absl::StatusOr<std::map<std::string, absl::Time>> InventoryHandlers::LastUses(
    const std::vector<std::string>& fingerprints) const {
  return ctx_.view.LastUses(fingerprints);
}

absl::StatusOr<KeyUsage> InventoryHandlers::Usage(const std::string& fingerprint) const {
  return ctx_.store.KeyUsageOf(fingerprint, kMaxKeyUsageRows);
}

absl::StatusOr<KeyRecord> InventoryHandlers::GetKey(const std::string& fingerprint) const {
  std::optional<KeyRecord> key = ctx_.view.FindKey(fingerprint);
  if (!key) return KeyNotFoundError(fingerprint);
  return *key;
}

absl::StatusOr<uint64_t> InventoryHandlers::LabelKey(const Actor& actor,
                                                     const std::string& fingerprint,
                                                     const std::string& label) {
  KF_RETURN_IF_ERROR(ValidateKeyLabel(label));
  if (std::optional<KeyRecord> key = ctx_.view.FindKey(fingerprint)) {
    key->label = label;  // the label is in the line's comment
    for (const GrantRecord& g : ctx_.view.Grants()) {
      if (g.principal == key->principal || g.key_fingerprint == fingerprint) {
        KF_RETURN_IF_ERROR(CheckGrantLinesFit(g, {*key}));
      }
    }
    ProposedChange proposed;
    proposed.relabelled_key = *key;
    KF_RETURN_IF_ERROR(ctx_.view.CheckDelivery(proposed, ctx_.Now()));
  }
  return Visible(ctx_.store.LabelKey(Mutation(ctx_, actor), fingerprint, label));
}

absl::StatusOr<uint64_t> InventoryHandlers::RemoveKey(const Actor& actor,
                                                      const std::string& fingerprint) {
  // A revoked key's record is the evidence of its revocation and is listed as long as the
  // blocklist holds its fingerprint (for ever): it is on no host, so there is nothing to remove.
  if (std::optional<KeyRecord> key = ctx_.view.FindKey(fingerprint);
      key && key->state == KeyState::kRevoked) {
    return absl::FailedPreconditionError(
        absl::StrCat("key ", fingerprint,
                     " is revoked: it is on no host, and its record stays (listed by "
                     "`keyfleet key list --state revoked`) as long as the blocklist holds it"));
  }
  return Visible(ctx_.store.RemoveKey(Mutation(ctx_, actor), fingerprint));
}

absl::StatusOr<uint64_t> InventoryHandlers::RevokeKey(const Actor& actor,
                                                      const std::string& fingerprint,
                                                      const std::string& reason,
                                                      std::optional<bool> kill_sessions) {
  KF_RETURN_IF_ERROR(ValidateReason(reason));
  const bool ends_sessions = kill_sessions.value_or(ctx_.view.policy().end_sessions_on_revoke);
  return Visible(ctx_.store.RevokeKey(Mutation(ctx_, actor), fingerprint, reason, ends_sessions));
}

absl::StatusOr<AddGrantResult> InventoryHandlers::AddGrant(const Actor& actor, GrantRecord grant) {
  if (grant.principal.empty() == grant.key_fingerprint.empty()) {
    return absl::InvalidArgumentError(
        "a grant names exactly one subject: a principal or a single key's fingerprint");
  }
  if (!grant.principal.empty()) {
    KF_RETURN_IF_ERROR(ValidatePrincipalName(grant.principal));
    std::optional<PrincipalRecord> p = ctx_.view.FindPrincipal(grant.principal);
    if (p && p->disabled) return PrincipalDisabledError(grant.principal);
  } else {
    std::optional<KeyRecord> key = ctx_.view.FindKey(grant.key_fingerprint);
    if (!key) return KeyNotFoundError(grant.key_fingerprint);
    if (key->state == KeyState::kRevoked) {
      return absl::FailedPreconditionError(
          absl::StrCat("key ", grant.key_fingerprint, " is revoked and cannot be granted"));
    }
  }
  KF_RETURN_IF_ERROR(ValidateHostSelector(grant.hosts));
  KF_RETURN_IF_ERROR(ValidateAccountName(grant.account, grant.allow_root));
  KF_ASSIGN_OR_RETURN(grant.options, CanonicalGrantOptions(grant.options));
  {
    std::vector<KeyRecord> covered;
    if (!grant.principal.empty()) {
      KeyFilter filter;
      filter.principal = grant.principal;
      covered = ctx_.view.Keys(filter, ctx_.Now());
    } else if (std::optional<KeyRecord> key = ctx_.view.FindKey(grant.key_fingerprint)) {
      covered.push_back(*key);
    }
    KF_RETURN_IF_ERROR(CheckGrantLinesFit(grant, covered));
  }
  if (grant.expires_at)
    *grant.expires_at = absl::FromUnixMicros(absl::ToUnixMicros(*grant.expires_at));
  {
    ProposedChange proposed;
    proposed.new_grants = {grant};
    KF_RETURN_IF_ERROR(ctx_.view.CheckDelivery(proposed, ctx_.Now()));
  }
  grant.id = 0;
  grant.created_at = ctx_.Now();
  KF_ASSIGN_OR_RETURN(auto added, ctx_.store.AddGrant(Mutation(ctx_, actor), grant));
  KF_RETURN_IF_ERROR(ctx_.follower.CatchUpTo(added.first));
  return AddGrantResult{added.first, added.second};
}

absl::StatusOr<std::vector<GrantRecord>> InventoryHandlers::ListGrants(
    const std::string& host, const std::string& principal) const {
  std::vector<GrantRecord> grants;
  if (!host.empty()) {
    if (!ctx_.view.FindHost(host)) {
      return absl::NotFoundError(
          absl::StrCat("no host named \"", host, "\" has connected (see `keyfleet host list`)"));
    }
    grants = ctx_.view.GrantsForHost(host);
  } else {
    grants = ctx_.view.Grants();
  }
  if (principal.empty()) return grants;
  std::vector<GrantRecord> out;
  for (GrantRecord& g : grants) {
    std::string owner = g.principal;
    if (owner.empty()) {
      std::optional<KeyRecord> key = ctx_.view.FindKey(g.key_fingerprint);
      if (key) owner = key->principal;
    }
    if (owner == principal) out.push_back(std::move(g));
  }
  return out;
}

absl::StatusOr<uint64_t> InventoryHandlers::RemoveGrant(const Actor& actor, int64_t id) {
  if (id <= 0) return absl::InvalidArgumentError("a grant id is a positive number");
  return Visible(ctx_.store.RemoveGrant(Mutation(ctx_, actor), id));
}

PolicyRecord InventoryHandlers::GetPolicy() const {
  return ctx_.view.policy();
}

absl::StatusOr<InventoryHandlers::SetPolicyResult> InventoryHandlers::SetPolicy(
    const Actor& actor, const PolicyRecord& policy, ExistingKeys existing) {
  KF_RETURN_IF_ERROR(ValidatePolicy(policy));
  const absl::Time now = ctx_.Now();
  SetPolicyResult result;
  result.shortened = ShortenedLives(
      policy, ctx_.view.Keys(KeyFilter{}, now),
      [this](const std::string& name) -> std::optional<PrincipalKind> {
        std::optional<PrincipalRecord> p = ctx_.view.FindPrincipal(name);
        if (!p) return std::nullopt;
        return p->kind;
      },
      now);
  if (existing == ExistingKeys::kDryRun) return result;
  const std::vector<KeyLifeChange> none;
  KF_ASSIGN_OR_RETURN(
      result.change,
      Visible(ctx_.store.SetPolicy(Mutation(ctx_, actor), policy,
                                   existing == ExistingKeys::kShorten ? result.shortened : none)));
  return result;
}

namespace {

struct GeneratedPair {
  std::string public_line;
  SecretBytes private_key;
};

// The pair is made before the inventory is asked anything: a refused request leaves nothing
// behind but wiped memory.
absl::StatusOr<GeneratedPair> MakeKeyPair(const std::string& type_name,
                                          const std::string& principal) {
  KF_ASSIGN_OR_RETURN(GeneratedKeyType type,
                      ParseGeneratedKeyType(type_name.empty() ? "ed25519" : type_name));
  KF_ASSIGN_OR_RETURN(SshKeyPair pair, GenerateSshKeyPair(type, principal + "@keyfleet"));
  KF_ASSIGN_OR_RETURN(PublicKey pub, SshKeyPairPublicKey(pair));
  GeneratedPair out;
  out.public_line = RenderPublicKey(pub);
  KF_ASSIGN_OR_RETURN(out.private_key, EncodeOpenSshPrivateKey(pair, std::nullopt));
  return out;
}

}  // namespace

absl::StatusOr<GeneratedKeyResult> InventoryHandlers::GenerateKey(const Actor& actor,
                                                                  const std::string& principal,
                                                                  const std::string& type,
                                                                  const std::string& label) {
  KF_RETURN_IF_ERROR(ValidatePrincipalName(principal));
  KF_RETURN_IF_ERROR(ValidateKeyLabel(label));
  KF_ASSIGN_OR_RETURN(GeneratedPair pair, MakeKeyPair(type, principal));
  KF_ASSIGN_OR_RETURN(AddKeysResult added, AddKeysFrom(actor, principal, {pair.public_line}, label,
                                                       KeySource::kGenerated));
  GeneratedKeyResult result;
  result.change = added.change;
  result.key = std::move(added.keys.at(0));
  result.private_key = std::move(pair.private_key);
  return result;
}

absl::StatusOr<GeneratedRotationResult> InventoryHandlers::RotateToGeneratedKey(
    const Actor& actor, const std::string& old_fingerprint, const std::string& type,
    const std::string& label, std::optional<absl::Duration> overlap) {
  std::optional<KeyRecord> old_key = ctx_.view.FindKey(old_fingerprint);
  if (!old_key) return KeyNotFoundError(old_fingerprint);
  KF_ASSIGN_OR_RETURN(GeneratedPair pair, MakeKeyPair(type, old_key->principal));
  GeneratedRotationResult result;
  KF_ASSIGN_OR_RETURN(result.rotation, RotateKey(actor, old_fingerprint, pair.public_line, label,
                                                 overlap, KeySource::kGenerated));
  result.private_key = std::move(pair.private_key);
  return result;
}

}  // namespace keyfleet::controller
