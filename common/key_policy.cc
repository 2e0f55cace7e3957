#include "common/key_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace keyfleet {
namespace {

bool IsDsa(KeyType type) {
  return KeyTypeFamily(type) == KeyFamily::kDsa;
}

}  // namespace

KeyPolicy KeyPolicy::Default() {
  KeyPolicy p;
  p.allowed_types = {KeyType::kEd25519,   KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                     KeyType::kEcdsaP521, KeyType::kSkEd25519, KeyType::kSkEcdsaP256,
                     KeyType::kRsa};
  return p;
}

absl::Status ValidateKeyPolicy(const KeyPolicy& policy) {
  if (policy.allowed_types.empty()) {
    return absl::InvalidArgumentError("policy allows no key types; allow at least one");
  }
  for (KeyType t : policy.allowed_types) {
    if (IsDsa(t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy may not allow ", KeyTypeName(t), ": DSA keys are never allowed"));
    }
  }
  if (policy.min_rsa_bits < kRsaBitsFloor) {
    return absl::InvalidArgumentError(absl::StrCat("minimum RSA size ", policy.min_rsa_bits,
                                                   " is below the floor of ", kRsaBitsFloor,
                                                   " bits"));
  }
  // Above the largest key OpenSSH (and the parser) accepts, no RSA key could ever be added.
  if (policy.min_rsa_bits > kMaxRsaModulusBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("minimum RSA size ", policy.min_rsa_bits, " is above ", kMaxRsaModulusBits,
                     " bits, the largest RSA key OpenSSH accepts; allowed: ", kRsaBitsFloor, " to ",
                     kMaxRsaModulusBits,
                     " (remove ssh-rsa from the allowed types to "
                     "refuse RSA)"));
  }
  return absl::OkStatus();
}

absl::Status CheckKeyAgainstPolicy(const PublicKey& key, const KeyPolicy& policy) {
  const absl::string_view name = KeyTypeName(key.type);
  if (IsDsa(key.type)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key type ", name,
        " is never allowed (rule: no-dsa): DSA keys are at most 1024 bits and OpenSSH disables "
        "them by default; use ssh-ed25519"));
  }
  if (std::find(policy.allowed_types.begin(), policy.allowed_types.end(), key.type) ==
      policy.allowed_types.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key type ", name, " is not allowed by policy (rule: allowed-types; allowed: ",
                     KeyTypeListToString(policy.allowed_types), ")"));
  }
  if (KeyTypeFamily(key.type) == KeyFamily::kRsa) {
    if (key.bits < kRsaBitsFloor) {
      return absl::FailedPreconditionError(
          absl::StrCat("RSA key is ", key.bits, " bits; RSA keys below ", kRsaBitsFloor,
                       " bits are never allowed (rule: rsa-floor)"));
    }
    if (key.bits < policy.min_rsa_bits) {
      return absl::FailedPreconditionError(
          absl::StrCat("RSA key is ", key.bits, " bits; policy requires at least ",
                       policy.min_rsa_bits, " (rule: min-rsa-bits)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KeyType>> ParseKeyTypeList(absl::string_view text) {
  std::vector<KeyType> types;
  for (absl::string_view name : absl::StrSplit(text, ',')) {
    auto type = KeyTypeFromName(name);
    if (!type) {
      std::vector<absl::string_view> known;
      for (KeyType t : AllKeyTypes()) known.push_back(KeyTypeName(t));
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown key type \"", name, "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
    if (std::find(types.begin(), types.end(), *type) == types.end()) types.push_back(*type);
  }
  return types;
}

std::string KeyTypeListToString(const std::vector<KeyType>& types) {
  std::vector<absl::string_view> names;
  for (KeyType t : types) names.push_back(KeyTypeName(t));
  return absl::StrJoin(names, ", ");
}

}  // namespace keyfleet
