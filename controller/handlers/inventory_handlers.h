// Admin mutations and reads of principals, keys, grants and policy, without gRPC. Each
// mutation validates everything first, commits through the store, and returns once this
// replica's view shows the change (so a read right after sees it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ssh_key_generation.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

struct AddKeysResult {
  uint64_t change = 0;
  std::vector<KeyRecord> keys;
};

struct RotateKeyResult {
  uint64_t change = 0;
  KeyRecord old_key;  // superseded, its life ending at the overlap's end
  KeyRecord new_key;
  std::vector<GrantRecord> carried;  // grants made to the old fingerprint, copied to the new one
};

struct GeneratedKeyResult {
  uint64_t change = 0;
  KeyRecord key;
  SecretBytes private_key;  // OpenSSH format, unencrypted
};

struct GeneratedRotationResult {
  RotateKeyResult rotation;
  SecretBytes private_key;  // the new key's, as GeneratedKeyResult's
};

struct AddGrantResult {
  uint64_t change = 0;
  GrantRecord grant;
};

class InventoryHandlers {
 public:
  explicit InventoryHandlers(HandlerContext& ctx) : ctx_(ctx) {}

  absl::StatusOr<uint64_t> AddPrincipal(const Actor& actor, const std::string& name,
                                        PrincipalKind kind, const std::string& email);
  std::vector<PrincipalRecord> ListPrincipals() const;
  absl::StatusOr<uint64_t> DisablePrincipal(const Actor& actor, const std::string& name);

  // `public_keys`: OpenSSH public key lines. Each is parsed strictly and checked against the
  // policy; certificates and duplicates are refused; expires_at = now + max key age. The
  // first bad key is reported by position ("key 2 of 3: …") and nothing is added.
  absl::StatusOr<AddKeysResult> AddKeys(const Actor& actor, const std::string& principal,
                                        const std::vector<std::string>& public_keys,
                                        const std::string& label);
  // `key rotate`: the successor `public_key` (same principal; `label`, or the old key's) replaces
  // `old_fingerprint`, which is superseded and ends at now + `overlap` (the policy's
  // rotation_overlap when unset; zero for a replaced laptop). Grants to the old fingerprint are
  // copied to the new one; the principal's grants reach it anyway. Refused like AddKeys for the
  // new key, and for a revoked or already superseded old key.
  absl::StatusOr<RotateKeyResult> RotateKey(const Actor& actor,
                                            const std::string& old_fingerprint,
                                            const std::string& public_key, const std::string& label,
                                            std::optional<absl::Duration> overlap,
                                            KeySource source = KeySource::kUploaded);

  // `key generate`: a key pair made here (`type`: "ed25519", "ecdsa-p256", "rsa-3072"); only
  // the public half is stored (source generated), added like AddKeys. The private key, in
  // OpenSSH's format and unencrypted, is in the result and nowhere else.
  absl::StatusOr<GeneratedKeyResult> GenerateKey(const Actor& actor,
                                                 const std::string& principal,
                                                 const std::string& type, const std::string& label);
  // `key rotate --generate`: RotateKey to a key pair made here, as GenerateKey.
  absl::StatusOr<GeneratedRotationResult> RotateToGeneratedKey(
      const Actor& actor, const std::string& old_fingerprint, const std::string& type,
      const std::string& label, std::optional<absl::Duration> overlap);
  // INVALID_ARGUMENT for an unknown state name. With filter.unused_for, only keys created at
  // least that long ago with no use recorded since (read from the store).
  absl::StatusOr<std::vector<KeyRecord>> ListKeys(const KeyFilter& filter) const;
  absl::StatusOr<KeyRecord> GetKey(const std::string& fingerprint) const;
  // The newest recorded use of each of `fingerprints` over the fleet; never-used keys absent.
  absl::StatusOr<std::map<std::string, absl::Time>> LastUses(
      const std::vector<std::string>& fingerprints) const;
  // The key's newest uses per (host, account) and its sessions ended per host, at most
  // kMaxKeyUsageRows of each.
  static constexpr size_t kMaxKeyUsageRows = 1000;
  absl::StatusOr<KeyUsage> Usage(const std::string& fingerprint) const;
  // The key `fingerprint` replaced (`key rotate`), "" for none.
  std::string PredecessorOf(const std::string& fingerprint) const {
    return ctx_.view.PredecessorOf(fingerprint);
  }
  absl::StatusOr<uint64_t> LabelKey(const Actor& actor, const std::string& fingerprint,
                                    const std::string& label);
  absl::StatusOr<uint64_t> RemoveKey(const Actor& actor, const std::string& fingerprint);
  // `kill_sessions`: agents end the key's live sshd sessions; nullopt: as the policy's
  // end_sessions_on_revoke says.
  absl::StatusOr<uint64_t> RevokeKey(const Actor& actor, const std::string& fingerprint,
                                     const std::string& reason,
                                     std::optional<bool> kill_sessions = std::nullopt);

  // Validates subject, selector, account and options (stored in canonical form).
  absl::StatusOr<AddGrantResult> AddGrant(const Actor& actor, GrantRecord grant);
  // Grants matching a host (when `host` is set) and a principal (when set; key grants count
  // for their key's owner).
  absl::StatusOr<std::vector<GrantRecord>> ListGrants(const std::string& host,
                                                      const std::string& principal) const;
  absl::StatusOr<uint64_t> RemoveGrant(const Actor& actor, int64_t id);

  PolicyRecord GetPolicy() const;
  // What a new policy does to existing keys whose lives it would shorten (ShortenedLives):
  // kKeep leaves them (the rotation report lists them overdue once past the new max age),
  // kShorten shortens them with the policy in one change, kDryRun changes nothing.
  enum class ExistingKeys { kKeep, kShorten, kDryRun };
  struct SetPolicyResult {
    uint64_t change = 0;
    std::vector<KeyLifeChange> shortened;  // applied only with kShorten
  };
  absl::StatusOr<SetPolicyResult> SetPolicy(const Actor& actor, const PolicyRecord& policy,
                                            ExistingKeys existing = ExistingKeys::kKeep);

 private:
  absl::StatusOr<AddKeysResult> AddKeysFrom(const Actor& actor, const std::string& principal,
                                            const std::vector<std::string>& public_keys,
                                            const std::string& label, KeySource source);
  // Waits for this replica's view to show `change`; the mutation is committed either way.
  absl::StatusOr<uint64_t> Visible(absl::StatusOr<uint64_t> change);

  HandlerContext& ctx_;
};

}  // namespace keyfleet::controller
