#include "cli/fingerprint_command.h"

#include <cstdio>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/text_input.h"
#include "common/authorized_keys_line.h"
#include "nlohmann/json.hpp"

namespace keyfleet::cli {

FingerprintResult FingerprintKeys(absl::string_view content, FingerprintHash hash) {
  FingerprintResult result;
  ForEachLine(content, [&](size_t number, absl::string_view line) {
    if (!result.errors.empty() && result.errors.front().line == 0) return;  // private key
    if (IsBlankOrCommentLine(line)) return;
    if (number == 1 && absl::StrContains(line, "PRIVATE KEY")) {
      result.errors.push_back(
          {0, "this is a private key file; fingerprint its public key (the .pub file) instead"});
      return;
    }
    auto parsed = ParseAuthorizedKeysLine(line);
    if (!parsed.ok()) {
      result.errors.push_back({number, std::string(parsed.status().message())});
      return;
    }
    FingerprintEntry entry;
    entry.line = number;
    entry.bits = parsed->key.bits;
    entry.fingerprint = Fingerprint(parsed->key, hash);
    entry.type = parsed->key.type;
    // ssh-keygen treats a comment starting with '#' as no comment.
    if (!absl::StartsWith(parsed->key.comment, "#")) entry.comment = std::move(parsed->key.comment);
    result.keys.push_back(std::move(entry));
  });
  return result;
}

std::string FormatFingerprintLines(const std::vector<FingerprintEntry>& keys) {
  std::string out;
  out.reserve(keys.size() * 96);
  for (const auto& k : keys) {
    absl::StrAppend(&out, k.bits, " ", k.fingerprint, " ",
                    k.comment.empty() ? "no comment" : SanitizeForTerminal(k.comment), " (",
                    KeyTypeShortName(k.type), ")\n");
  }
  return out;
}

std::string FormatFingerprintJson(const std::vector<FingerprintEntry>& keys) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& k : keys) {
    array.push_back({{"line", k.line},
                     {"bits", k.bits},
                     {"fingerprint", k.fingerprint},
                     {"comment", k.comment},
                     {"type", KeyTypeShortName(k.type)},
                     {"key_type", KeyTypeName(k.type)}});
  }
  return array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void AddFingerprintCommand(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  struct Args {
    std::string hash = "sha256";
    std::string path;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("fingerprint", "Print key fingerprints as `ssh-keygen -l` does (offline)");
  cmd->footer(
      "Prints the fingerprint of each public key in FILE, in the format of `ssh-keygen -l -f "
      "FILE`: BITS FINGERPRINT COMMENT (TYPE). FILE holds public keys or authorized_keys lines; "
      "blank lines and # comments are skipped. Each bad line is reported on stderr as "
      "FILE:LINE: reason and makes the exit code 1; the good lines are still printed.");
  cmd->add_option("-E", args->hash, "Fingerprint hash: sha256 (default) or md5")
      ->type_name("sha256|md5")
      ->check(CLI::IsMember({"sha256", "md5"}, CLI::ignore_case));
  cmd->add_option("FILE", args->path, "Public key file, or - for standard input")->required();
  cmd->callback([args, &globals, &exit_code] {
    const FingerprintHash hash = *ParseFingerprintHash(args->hash);
    auto content = ReadTextInput(args->path);
    if (!content.ok()) {
      std::cerr << "keyfleet fingerprint: " << content.status().message() << "\n";
      exit_code = kExitRefused;
      return;
    }
    const FingerprintResult result = FingerprintKeys(*content, hash);
    const std::string out = globals.output == OutputFormat::kJson
                                ? FormatFingerprintJson(result.keys)
                                : FormatFingerprintLines(result.keys);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    const std::string name = DisplayName(args->path);
    for (const auto& e : result.errors) {
      if (e.line == 0) {
        std::cerr << name << ": " << e.reason << "\n";
      } else {
        std::cerr << name << ":" << e.line << ": " << e.reason << "\n";
      }
    }
    if (result.keys.empty() && result.errors.empty()) {
      std::cerr << name << ": no public keys found\n";
    }
    exit_code = (result.errors.empty() && !result.keys.empty()) ? kExitOk : kExitRefused;
  });
}

}  // namespace keyfleet::cli
