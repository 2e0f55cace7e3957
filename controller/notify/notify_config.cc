#include "controller/notify/notify_config.h"

#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/duration_text.h"
#include "common/status_macros.h"
#include "common/tls/secure_file.h"
#include "common/tls/x509.h"
#include "controller/notify/mail_message.h"

namespace keyfleet::controller::notify {
namespace {

constexpr char kSection[] = "notifications";

absl::Status Invalid(const std::string& path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

// The same error with the key path in front, keeping its code.
absl::Status AtPath(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

// Every key of `map` must be one of `allowed`, and given once.
absl::Status CheckKeys(const YAML::Node& map, const std::set<std::string>& allowed,
                       const std::string& path) {
  std::set<std::string> seen;
  for (const auto& item : map) {
    if (!item.first.IsScalar()) {
      return Invalid(path, "keys must be plain words");
    }
    const std::string key = item.first.as<std::string>();
    if (!allowed.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown setting \"", path, ".", key,
                                                     "\"; known: ", absl::StrJoin(allowed, ", ")));
    }
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", key, " is given twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> String(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return Invalid(path, "must be a single value (a string)");
  return node.as<std::string>();
}

absl::StatusOr<std::string> RequiredString(const YAML::Node& map, const std::string& key,
                                           const std::string& path) {
  const std::string key_path = absl::StrCat(path, ".", key);
  if (!map[key]) return absl::InvalidArgumentError(absl::StrCat(key_path, " is required"));
  KF_ASSIGN_OR_RETURN(std::string value, String(map[key], key_path));
  if (value.empty()) return Invalid(key_path, "must not be empty");
  return value;
}

absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, const std::string& path,
                                        absl::Duration min, absl::Duration max,
                                        absl::Duration default_value) {
  KF_ASSIGN_OR_RETURN(std::string text, String(node, path));
  absl::StatusOr<absl::Duration> d = ParseDurationText(text);
  if (!d.ok()) return Invalid(path, d.status().message());
  if (*d < min || *d > max) {
    return Invalid(path, absl::StrCat("must be between ", FormatDurationText(min), " and ",
                                      FormatDurationText(max), " (default ",
                                      FormatDurationText(default_value), "), not ", text));
  }
  return *d;
}

absl::StatusOr<int> Int(const YAML::Node& node, const std::string& path, int min, int max) {
  const std::string allowed = absl::StrCat("must be a whole number from ", min, " to ", max);
  if (!node.IsScalar()) return Invalid(path, allowed);
  int value = 0;
  try {
    value = node.as<int>();
  } catch (const YAML::BadConversion&) {
    return Invalid(path, absl::StrCat(allowed, ", not \"", node.as<std::string>(), "\""));
  }
  if (value < min || value > max) return Invalid(path, absl::StrCat(allowed, ", not ", value));
  return value;
}

std::set<std::string> AllEvents() {
  std::set<std::string> all;
  for (absl::string_view event : kNotificationEvents) all.emplace(event);
  return all;
}

absl::StatusOr<std::set<std::string>> Events(const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence() || node.size() == 0) {
    return Invalid(path, "must be a non-empty list of events (leave it out for every event)");
  }
  std::set<std::string> events;
  for (size_t i = 0; i < node.size(); ++i) {
    KF_ASSIGN_OR_RETURN(std::string event, String(node[i], absl::StrCat(path, "[", i, "]")));
    if (!IsKnownNotificationEvent(event)) {
      return Invalid(path, absl::StrCat("unknown event \"", event, "\" (allowed: ",
                                        absl::StrJoin(kNotificationEvents, ", "), ")"));
    }
    if (!events.insert(event).second) {
      return Invalid(path, absl::StrCat("lists \"", event, "\" twice"));
    }
  }
  return events;
}

// A secret (webhook HMAC key, SMTP password) from its file, which must be private to us.
absl::StatusOr<std::string> ReadSecret(const YAML::Node& node, const std::string& path) {
  KF_ASSIGN_OR_RETURN(std::string file, String(node, path));
  if (file.empty()) return Invalid(path, "must name a file");
  absl::StatusOr<std::string> secret = tls::ReadSecretFile(file, kMaxNotifySecretBytes);
  if (!secret.ok()) return AtPath(path, secret.status());
  // Editors and `echo` end the file with a newline that is not part of the secret.
  absl::string_view value = *secret;
  if (absl::ConsumeSuffix(&value, "\n")) absl::ConsumeSuffix(&value, "\r");
  if (value.empty()) {
    return Invalid(path, absl::StrCat(file, " is empty; put the secret in it"));
  }
  return std::string(value);
}

// The path of a CA bundle, checked now so that a mistake shows at start, not at the first
// delivery. The sinks read the file again at each delivery.
absl::StatusOr<std::string> CaFile(const YAML::Node& node, const std::string& path) {
  KF_ASSIGN_OR_RETURN(std::string file, String(node, path));
  if (file.empty()) return Invalid(path, "must name a file");
  absl::StatusOr<std::string> pem = tls::ReadPublicFile(file, kMaxNotifyCaFileBytes);
  if (!pem.ok()) return AtPath(path, pem.status());
  absl::StatusOr<std::vector<std::string>> certificates = tls::SplitCertificatesPem(*pem);
  if (!certificates.ok()) {
    return Invalid(path, absl::StrCat(file, ": ", certificates.status().message()));
  }
  return file;
}

bool IsValidWebhookName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxWebhookNameBytes) return false;
  for (char c : name) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<WebhookSettings> ParseWebhook(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) return Invalid(path, "must be a mapping with name, url and secret_file");
  KF_RETURN_IF_ERROR(
      CheckKeys(node, {"name", "url", "secret_file", "events", "ca_file", "timeout"}, path));
  WebhookSettings webhook;
  KF_ASSIGN_OR_RETURN(webhook.name, RequiredString(node, "name", path));
  if (!IsValidWebhookName(webhook.name)) {
    return Invalid(absl::StrCat(path, ".name"),
                   absl::StrCat("\"", webhook.name, "\" must be 1 to ", kMaxWebhookNameBytes,
                                " characters of a-z, 0-9 and '-'"));
  }
  KF_ASSIGN_OR_RETURN(std::string url, RequiredString(node, "url", path));
  absl::StatusOr<ServiceUrl> parsed = ParseWebhookUrl(url);
  if (!parsed.ok()) return Invalid(absl::StrCat(path, ".url"), parsed.status().message());
  webhook.url = *std::move(parsed);
  if (!node["secret_file"]) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ".secret_file is required: the file with the key that signs each request"));
  }
  KF_ASSIGN_OR_RETURN(webhook.secret, ReadSecret(node["secret_file"], path + ".secret_file"));
  webhook.events = AllEvents();
  if (node["events"]) {
    KF_ASSIGN_OR_RETURN(webhook.events, Events(node["events"], path + ".events"));
  }
  if (node["ca_file"]) {
    if (!webhook.url.is_tls()) {
      return Invalid(path + ".ca_file", "is only for https:// URLs");
    }
    KF_ASSIGN_OR_RETURN(webhook.ca_file, CaFile(node["ca_file"], path + ".ca_file"));
  }
  if (node["timeout"]) {
    KF_ASSIGN_OR_RETURN(webhook.timeout,
                        Duration(node["timeout"], path + ".timeout", kMinNotifyTimeout,
                                 kMaxWebhookTimeout, kDefaultWebhookTimeout));
  }
  return webhook;
}

absl::StatusOr<StartTls> ParseStartTls(const YAML::Node& node, const std::string& path) {
  KF_ASSIGN_OR_RETURN(std::string text, String(node, path));
  if (text == "try") return StartTls::kTry;
  if (text == "require") return StartTls::kRequire;
  if (text == "never") return StartTls::kNever;
  return Invalid(path, absl::StrCat("must be try, require or never, not \"", text, "\""));
}

absl::StatusOr<SmtpSettings> ParseSmtp(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) return Invalid(path, "must be a mapping with url and from");
  KF_RETURN_IF_ERROR(CheckKeys(
      node,
      {"url", "from", "starttls", "username", "password_file", "ca_file", "timeout", "events"},
      path));
  SmtpSettings smtp;
  KF_ASSIGN_OR_RETURN(std::string url, RequiredString(node, "url", path));
  absl::StatusOr<ServiceUrl> parsed = ParseSmtpUrl(url);
  if (!parsed.ok()) return Invalid(path + ".url", parsed.status().message());
  smtp.url = *std::move(parsed);
  KF_ASSIGN_OR_RETURN(smtp.from, RequiredString(node, "from", path));
  if (absl::Status valid = ValidateMailAddress(smtp.from); !valid.ok()) {
    return Invalid(path + ".from", valid.message());
  }
  if (node["starttls"]) {
    if (smtp.url.is_tls()) {
      return Invalid(path + ".starttls",
                     "is only for smtp:// URLs (smtps:// is TLS from the start)");
    }
    KF_ASSIGN_OR_RETURN(smtp.starttls, ParseStartTls(node["starttls"], path + ".starttls"));
  }
  const bool tls_always = smtp.url.is_tls() || smtp.starttls == StartTls::kRequire;
  if (node["username"] || node["password_file"]) {
    if (!node["username"] || !node["password_file"]) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".username and ", path, ".password_file go together"));
    }
    KF_ASSIGN_OR_RETURN(smtp.username, RequiredString(node, "username", path));
    for (char c : smtp.username) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return Invalid(path + ".username", "must not hold control characters");
      }
    }
    if (!tls_always) {
      return Invalid(path + ".username",
                     "a password is sent only over TLS: use an smtps:// URL or starttls: require");
    }
    KF_ASSIGN_OR_RETURN(smtp.password, ReadSecret(node["password_file"], path + ".password_file"));
  }
  if (node["ca_file"]) {
    if (smtp.starttls == StartTls::kNever && !smtp.url.is_tls()) {
      return Invalid(path + ".ca_file", "has no use with starttls: never");
    }
    KF_ASSIGN_OR_RETURN(smtp.ca_file, CaFile(node["ca_file"], path + ".ca_file"));
  }
  if (node["timeout"]) {
    KF_ASSIGN_OR_RETURN(smtp.timeout,
                        Duration(node["timeout"], path + ".timeout", kMinNotifyTimeout,
                                 kMaxSmtpTimeout, kDefaultSmtpTimeout));
  }
  smtp.events = AllEvents();
  if (node["events"]) {
    KF_ASSIGN_OR_RETURN(smtp.events, Events(node["events"], path + ".events"));
  }
  return smtp;
}

absl::StatusOr<RetryPolicy> ParseRetry(const YAML::Node& node, const std::string& path) {
  RetryPolicy retry;
  if (node.IsNull()) return retry;
  if (!node.IsMap()) return Invalid(path, "must be a mapping");
  KF_RETURN_IF_ERROR(CheckKeys(node, {"max_attempts", "initial_backoff", "max_backoff"}, path));
  const RetryPolicy defaults;
  if (node["max_attempts"]) {
    KF_ASSIGN_OR_RETURN(retry.max_attempts, Int(node["max_attempts"], path + ".max_attempts",
                                                kMinRetryAttempts, kMaxRetryAttempts));
  }
  if (node["initial_backoff"]) {
    KF_ASSIGN_OR_RETURN(retry.initial_backoff,
                        Duration(node["initial_backoff"], path + ".initial_backoff", kMinBackoff,
                                 kMaxBackoffLimit, defaults.initial_backoff));
  }
  if (node["max_backoff"]) {
    KF_ASSIGN_OR_RETURN(retry.max_backoff,
                        Duration(node["max_backoff"], path + ".max_backoff", kMinBackoff,
                                 kMaxBackoffLimit, defaults.max_backoff));
  }
  if (retry.max_backoff < retry.initial_backoff) {
    return Invalid(
        path + ".max_backoff",
        absl::StrCat(FormatDurationText(retry.max_backoff), " is shorter than initial_backoff (",
                     FormatDurationText(retry.initial_backoff), ")"));
  }
  return retry;
}

absl::StatusOr<NotifyConfig> Parse(const YAML::Node& node) {
  NotifyConfig config;
  if (!node || node.IsNull()) return config;
  const std::string path = kSection;
  if (!node.IsMap()) return Invalid(path, "must be a mapping (webhooks, smtp, retry)");
  KF_RETURN_IF_ERROR(CheckKeys(node, {"webhooks", "smtp", "retry"}, path));
  if (const YAML::Node webhooks = node["webhooks"]; webhooks && !webhooks.IsNull()) {
    if (!webhooks.IsSequence()) return Invalid(path + ".webhooks", "must be a list");
    if (webhooks.size() > kMaxWebhooks) {
      return Invalid(path + ".webhooks",
                     absl::StrCat("has ", webhooks.size(), " entries; at most ", kMaxWebhooks));
    }
    for (size_t i = 0; i < webhooks.size(); ++i) {
      const std::string item_path = absl::StrCat(path, ".webhooks[", i, "]");
      KF_ASSIGN_OR_RETURN(WebhookSettings webhook, ParseWebhook(webhooks[i], item_path));
      for (size_t j = 0; j < config.webhooks.size(); ++j) {
        if (config.webhooks[j].name == webhook.name) {
          return Invalid(item_path + ".name",
                         absl::StrCat("\"", webhook.name, "\" is already the name of webhooks[", j,
                                      "]; names must be unique"));
        }
      }
      config.webhooks.push_back(std::move(webhook));
    }
  }
  if (node["smtp"]) {
    KF_ASSIGN_OR_RETURN(config.smtp, ParseSmtp(node["smtp"], path + ".smtp"));
  }
  if (node["retry"]) {
    KF_ASSIGN_OR_RETURN(config.retry, ParseRetry(node["retry"], path + ".retry"));
  }
  return config;
}

}  // namespace

absl::StatusOr<NotifyConfig> ParseNotifyConfig(const YAML::Node& node) {
  try {
    return Parse(node);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(kSection, ": ", e.what()));
  }
}

}  // namespace keyfleet::controller::notify
