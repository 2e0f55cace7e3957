#include "cli/private_key_file.h"

#include "absl/strings/str_cat.h"
#include "common/openssh_private_key.h"
#include "common/status_macros.h"
#include "common/tls/secure_file.h"

namespace keyfleet::cli {
namespace {

absl::StatusOr<SecretBytes> ReadPassphrase(const std::string& path) {
  absl::StatusOr<std::string> text = tls::ReadSecretFile(path, kMaxPassphraseBytes + 1);
  if (!text.ok()) return text.status();
  SecretBytes held(*text);
  internal::CleanseMemory(text->data(), text->size());
  absl::string_view v = held.view();
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  if (v.find('\n') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the passphrase file ", path, " must hold one line (the passphrase)"));
  }
  if (v.size() < kMinPassphraseBytes || v.size() > kMaxPassphraseBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the passphrase in ", path, " must be ",
                                                   kMinPassphraseBytes, " to ", kMaxPassphraseBytes,
                                                   " bytes"));
  }
  return SecretBytes(v);
}

absl::Status MustNotExist(const std::string& dir, const std::string& name) {
  KF_ASSIGN_OR_RETURN(bool exists, tls::FileExists(dir, name));
  if (exists) {
    return absl::AlreadyExistsError(absl::StrCat(
        dir, "/", name, " exists; a key file is never overwritten (choose another --out)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PrivateKeyOutput> PrivateKeyOutput::Prepare(const std::string& path,
                                                           const std::string& passphrase_file) {
  if (path.empty() || path == "-") {
    return absl::InvalidArgumentError(
        "--out needs a file name (a private key is never written to a terminal or a pipe)");
  }
  std::optional<SecretBytes> passphrase;
  if (!passphrase_file.empty()) {
    KF_ASSIGN_OR_RETURN(passphrase, ReadPassphrase(passphrase_file));
  }
  auto [dir, name] = tls::SplitDirAndName(path);
  KF_RETURN_IF_ERROR(MustNotExist(dir, name));
  KF_RETURN_IF_ERROR(MustNotExist(dir, name + ".pub"));
  return PrivateKeyOutput(std::move(dir), std::move(name), std::move(passphrase));
}

absl::Status PrivateKeyOutput::Save(absl::string_view openssh_pem,
                                    const std::string& public_line) const {
  SecretBytes text(openssh_pem);
  if (passphrase_) {
    KF_ASSIGN_OR_RETURN(SshKeyPair pair, DecodeOpenSshPrivateKey(openssh_pem));
    KF_ASSIGN_OR_RETURN(text, EncodeOpenSshPrivateKey(pair, passphrase_->view()));
  }
  KF_RETURN_IF_ERROR(tls::CreateFileExclusively(dir_, name_, text.view(), 0600));
  return tls::CreateFileExclusively(dir_, name_ + ".pub", public_line + "\n", 0644);
}

}  // namespace keyfleet::cli
