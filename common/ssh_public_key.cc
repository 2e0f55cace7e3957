// Text half of ssh_public_key.h: "TYPE BASE64 [COMMENT]".
#include "common/ssh_public_key.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base64.h"
#include "common/openssh_text.h"
#include "common/ssh_wire.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

constexpr size_t kMaxBase64Bytes = (kSshMaxPublicKeyBlobBytes + 2) / 3 * 4;

std::string KnownTypes() {
  std::vector<absl::string_view> names;
  for (KeyType t : AllKeyTypes()) {
    if (!IsCertificateType(t)) names.push_back(KeyTypeName(t));
  }
  return absl::StrCat(absl::StrJoin(names, ", "), " and their -cert-v01@openssh.com forms");
}

}  // namespace

absl::StatusOr<PublicKey> ParsePublicKeyPrefix(absl::string_view text, absl::string_view* rest) {
  const size_t type_end = text.find_first_of(" \t");
  const absl::string_view type_name = text.substr(0, type_end);
  if (type_name.empty()) return absl::InvalidArgumentError("no key type");
  const std::optional<KeyType> type = KeyTypeFromName(type_name);
  if (!type) {
    return absl::InvalidArgumentError(absl::StrCat("unknown key type \"",
                                                   absl::CEscape(type_name.substr(0, 64)),
                                                   "\" (known: ", KnownTypes(), ")"));
  }
  const size_t data_start =
      type_end == absl::string_view::npos ? text.size() : SkipFieldBlanks(text, type_end);
  if (data_start == text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("no key data after key type ", type_name));
  }
  size_t data_end = text.find_first_of(" \t", data_start);
  if (data_end == absl::string_view::npos) data_end = text.size();
  const absl::string_view data = text.substr(data_start, data_end - data_start);
  if (data.size() > kMaxBase64Bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key data is ", data.size(), " characters; at most ", kMaxBase64Bytes, " allowed"));
  }
  auto blob = Base64DecodeStrict(data);
  if (!blob.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key data is not valid base64: ", blob.status().message()));
  }
  auto key = ParsePublicKeyBlob(*blob);
  if (!key.ok()) return key.status();
  if (key->type != *type) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key type on the line is ", type_name, " but the key data is ", KeyTypeName(key->type)));
  }
  *rest = text.substr(SkipFieldBlanks(text, data_end));
  return key;
}

absl::StatusOr<PublicKey> ParsePublicKey(absl::string_view text) {
  KF_RETURN_IF_ERROR(CheckNoLineBreaks(text, "public key"));
  if (text.empty()) return absl::InvalidArgumentError("public key is empty");
  if (IsFieldBlank(text[0])) return absl::InvalidArgumentError("public key starts with whitespace");
  absl::string_view comment;
  KF_ASSIGN_OR_RETURN(PublicKey key, ParsePublicKeyPrefix(text, &comment));
  key.comment = std::string(comment);
  return key;
}

std::string RenderPublicKey(const PublicKey& key) {
  std::string out = absl::StrCat(KeyTypeName(key.type), " ", Base64Encode(key.blob));
  if (!key.comment.empty()) absl::StrAppend(&out, " ", key.comment);
  return out;
}

absl::Status ValidateKeyComment(absl::string_view comment) {
  KF_RETURN_IF_ERROR(CheckNoLineBreaks(comment, "key comment"));
  if (!comment.empty() && IsFieldBlank(comment[0])) {
    return absl::InvalidArgumentError("key comment starts with whitespace");
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
