#include "node-agent/agent_config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/duration_text.h"
#include "common/host_names.h"
#include "node-agent/key_files.h"

namespace keyfleet::agent {
namespace {

constexpr size_t kMaxDnsLabelBytes = 63;

std::string Quoted(absl::string_view text) {
  return absl::StrCat("\"", PrintableName(text), "\"");
}

absl::Status BadAddress(absl::string_view address, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(Quoted(address), " ", why));
}

bool IsDnsName(absl::string_view host) {
  if (host.empty() || host.size() > kMaxHostnameBytes) return false;
  absl::ConsumeSuffix(&host, ".");  // a fully qualified name
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > kMaxDnsLabelBytes) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

// The address as a key that two spellings of one controller share: the name in lower case
// without a final dot, an IPv6 address in its canonical form, the port as a number. The address
// must be valid.
std::string CanonicalAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  absl::string_view host = address.substr(0, colon);
  int port = 0;
  (void)absl::SimpleAtoi(address.substr(colon + 1), &port);
  if (absl::ConsumePrefix(&host, "[")) {
    absl::ConsumeSuffix(&host, "]");
    in6_addr v6{};
    char text[INET6_ADDRSTRLEN] = {};
    inet_pton(AF_INET6, std::string(host).c_str(), &v6);
    inet_ntop(AF_INET6, &v6, text, sizeof(text));
    return absl::StrCat("[", text, "]:", port);
  }
  absl::ConsumeSuffix(&host, ".");
  return absl::StrCat(absl::AsciiStrToLower(host), ":", port);
}

}  // namespace

absl::Status ValidateControllerAddress(absl::string_view address) {
  if (address.empty()) return absl::InvalidArgumentError("an empty address; give HOST:PORT");
  for (char c : address) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '\0') {
      return BadAddress(address, "contains a blank or control character");
    }
  }
  if (absl::StrContains(address, '/')) {
    return BadAddress(address,
                      "is a URL or a path; give HOST:PORT, e.g. controller.example.com:7443");
  }
  absl::string_view host;
  absl::string_view port;
  bool bracketed = false;
  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos) return BadAddress(address, "has no closing ']'");
    host = address.substr(1, close - 1);
    absl::string_view rest = address.substr(close + 1);
    if (!absl::ConsumePrefix(&rest, ":")) {
      return BadAddress(address, "has no port; write [IPV6]:PORT, e.g. [2001:db8::1]:7443");
    }
    port = rest;
    bracketed = true;
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      const bool numeric = std::all_of(address.begin(), address.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      });
      return BadAddress(
          address,
          absl::StrCat("has no port; write HOST:PORT, e.g. ",
                       numeric ? "controller.example.com" : PrintableName(address), ":7443"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (absl::StrContains(host, ':')) {
      return BadAddress(address,
                        "holds an IPv6 address without brackets; write [IPV6]:PORT, e.g. "
                        "[2001:db8::1]:7443");
    }
  }
  if (host.empty()) return BadAddress(address, "has no host; give HOST:PORT");
  int port_number = 0;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return BadAddress(address, "has no valid port: give a number from 1 to 65535 after the ':'");
  }
  const std::string host_text(host);
  if (bracketed) {
    in6_addr v6{};
    if (inet_pton(AF_INET6, host_text.c_str(), &v6) != 1) {
      return BadAddress(address, "holds no IPv6 address between its brackets");
    }
    return absl::OkStatus();
  }
  const bool looks_numeric = std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
  if (looks_numeric) {
    in_addr v4{};
    if (inet_pton(AF_INET, host_text.c_str(), &v4) != 1) {
      return BadAddress(address, "holds no valid IPv4 address (four numbers 0..255, as 10.0.0.5)");
    }
    return absl::OkStatus();
  }
  if (!IsDnsName(host)) {
    return BadAddress(address,
                      "holds no valid host name: dot-separated labels of letters, digits and "
                      "'-' (not first or last), at most 63 bytes each and 253 in all");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseControllerList(
    const std::vector<std::string>& values) {
  if (values.empty()) return absl::InvalidArgumentError("no controller address given");
  std::vector<std::string> addresses;
  size_t entry = 0;
  for (const std::string& value : values) {
    for (absl::string_view piece : absl::StrSplit(value, ',')) {
      ++entry;
      // Checked before the rest is split: a huge list is refused without being copied.
      if (addresses.size() == kMaxControllers) {
        return absl::InvalidArgumentError(
            absl::StrCat("more than ", kMaxControllers,
                         " controller addresses; list the replicas of one fleet"));
      }
      absl::string_view address = absl::StripAsciiWhitespace(piece);
      if (address.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "address ", entry, " is empty (a doubled or trailing comma?); give HOST:PORT"));
      }
      addresses.emplace_back(address);
    }
  }
  std::map<std::string, std::string> seen;  // canonical form -> as written
  for (const std::string& address : addresses) {
    if (absl::Status s = ValidateControllerAddress(address); !s.ok()) return s;
    auto [it, inserted] = seen.emplace(CanonicalAddress(address), address);
    if (!inserted) {
      return absl::InvalidArgumentError(
          it->second == address ? absl::StrCat(Quoted(address), " is listed twice")
                                : absl::StrCat(Quoted(it->second), " and ", Quoted(address),
                                               " are the same controller; list it once"));
    }
  }
  return addresses;
}

absl::Status ValidateMetricsTextfile(absl::string_view path) {
  if (path.empty()) return absl::OkStatus();
  const size_t slash = path.rfind('/');
  if (path.front() != '/' || !absl::EndsWith(path, ".prom") || path.size() - slash <= 6 ||
      absl::StrContains(path, "/../") || absl::StrContains(path, std::string(1, '\0'))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics_textfile ", Quoted(path),
        " must be an absolute path to a file named *.prom (node_exporter's textfile collector "
        "reads nothing else), e.g. ",
        kDefaultMetricsTextfile, "; \"\" writes none"));
  }
  return absl::OkStatus();
}

absl::Status ValidateHostPathSetting(absl::string_view setting, absl::string_view path) {
  if (path.empty()) return absl::OkStatus();
  bool bad = path.front() != '/' || path.back() == '/' || absl::StrContains(path, '\0');
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    bad = bad || part == "." || part == "..";
  }
  if (bad) {
    return absl::InvalidArgumentError(absl::StrCat(
        setting, " ", Quoted(path),
        " must be an absolute path without . or .. components or a trailing '/', or \"\" for "
        "none"));
  }
  return absl::OkStatus();
}

namespace {

// `controller:` as one address, comma-separated addresses, or a sequence of addresses.
absl::StatusOr<std::vector<std::string>> ControllersFromYaml(const YAML::Node& node) {
  std::vector<std::string> values;
  if (node.IsScalar()) {
    values.push_back(node.as<std::string>());
  } else if (node.IsSequence()) {
    if (node.size() == 0) {
      return absl::InvalidArgumentError("the list is empty; give at least one HOST:PORT");
    }
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat("item ", i + 1, " is not an address; each item is one HOST:PORT"));
      }
      std::string item = node[i].as<std::string>();
      if (absl::StrContains(item, ',')) {
        return absl::InvalidArgumentError(
            absl::StrCat("item ", i + 1, " holds a comma; give one HOST:PORT per item"));
      }
      values.push_back(std::move(item));
    }
  } else {
    return absl::InvalidArgumentError(
        "give HOST:PORT, comma-separated addresses, or a YAML list of addresses");
  }
  return ParseControllerList(values);
}

}  // namespace

absl::Status ValidateSshdLogSettings(absl::string_view sshd_log, absl::string_view format) {
  if (sshd_log != "auto" && sshd_log != "journald" && sshd_log != "off") {
    if (sshd_log.empty() || sshd_log[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "sshd_log: \"", absl::CHexEscape(sshd_log.substr(0, 64)),
          "\" is not a source; use auto, journald, off or the absolute path of a log file"));
    }
    if (absl::Status s = ValidateHostPathSetting("sshd_log", sshd_log); !s.ok()) return s;
  }
  if (format != "syslog" && format != "sshd") {
    return absl::InvalidArgumentError(
        absl::StrCat("sshd_log_format: \"", absl::CHexEscape(format.substr(0, 64)),
                     "\" is not a format; use syslog (auth.log) or sshd (sshd -E FILE)"));
  }
  return absl::OkStatus();
}

ReconcilerSettings ReconcilerSettingsOf(const AgentConfig& config) {
  ReconcilerSettings settings;
  settings.apply.root = config.root;
  settings.apply.accounts = config.accounts;
  settings.apply.key_files = config.key_files;
  settings.apply.keys_index_dir = config.keys_index_dir;
  settings.cache_path = config.cache_path;
  settings.revoked_keys_file = config.revoked_keys_file;
  return settings;
}

absl::StatusOr<AgentConfig> ParseAgentConfig(const std::string& yaml_text, AgentConfig config) {
  static const std::set<std::string> kKeys = {
      "controller",     "hostname",     "labels",           "min_uid",   "allow_root",
      "cache_path",     "root",         "recheck_interval", "log_level", "log_format",
      "tls_dir",        "insecure_dev", "metrics_textfile", "key_files", "revoked_keys_file",
      "keys_index_dir", "sshd_log",     "sshd_log_format"};
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    if (!root.IsMap()) return absl::InvalidArgumentError("the config must be a YAML mapping");
    for (const auto& item : root) {
      const std::string key = item.first.as<std::string>();
      if (!kKeys.count(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown setting \"", key, "\"; known: ", absl::StrJoin(kKeys, ", ")));
      }
    }
    if (root["controller"]) {
      absl::StatusOr<std::vector<std::string>> controllers =
          ControllersFromYaml(root["controller"]);
      if (!controllers.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("controller: ", controllers.status().message()));
      }
      config.controllers = *std::move(controllers);
    }
    if (root["hostname"]) config.hostname = root["hostname"].as<std::string>();
    if (root["labels"]) {
      config.labels = root["labels"].as<std::map<std::string, std::string>>();
      if (auto s = ValidateLabels(config.labels); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("labels: ", s.message()));
      }
    }
    if (root["min_uid"]) config.accounts.min_uid = root["min_uid"].as<uid_t>();
    if (root["allow_root"]) config.accounts.allow_root = root["allow_root"].as<bool>();
    if (root["cache_path"]) config.cache_path = root["cache_path"].as<std::string>();
    if (root["root"]) config.root = root["root"].as<std::string>();
    if (root["log_level"]) config.log_level = root["log_level"].as<std::string>();
    if (root["log_format"]) {
      absl::StatusOr<LogFormat> format = ParseLogFormat(root["log_format"].as<std::string>());
      if (!format.ok()) return format.status();
      config.log_format = *format;
    }
    if (YAML::Node textfile = root["metrics_textfile"]) {
      config.metrics_textfile = textfile.IsNull() ? "" : textfile.as<std::string>();
      if (absl::Status s = ValidateMetricsTextfile(config.metrics_textfile); !s.ok()) return s;
    }
    if (root["key_files"]) {
      absl::StatusOr<v1::KeyFilesMode> mode =
          ParseKeyFilesMode(root["key_files"].as<std::string>());
      if (!mode.ok()) return mode.status();
      config.key_files = *mode;
    }
    for (auto [key, field] :
         {std::pair<const char*, std::string*>{"revoked_keys_file", &config.revoked_keys_file},
          {"keys_index_dir", &config.keys_index_dir}}) {
      if (YAML::Node node = root[key]) {
        if (!node.IsNull() && !node.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat(key, ": give a path, or \"\" for none"));
        }
        *field = node.IsNull() ? "" : node.as<std::string>();
        if (absl::Status s = ValidateHostPathSetting(key, *field); !s.ok()) return s;
      }
    }
    if (root["sshd_log"]) config.sshd_log = root["sshd_log"].as<std::string>();
    if (root["sshd_log_format"]) {
      config.sshd_log_format = root["sshd_log_format"].as<std::string>();
    }
    if (absl::Status s = ValidateSshdLogSettings(config.sshd_log, config.sshd_log_format);
        !s.ok()) {
      return s;
    }
    if (root["tls_dir"]) config.tls_dir = root["tls_dir"].as<std::string>();
    if (root["insecure_dev"]) config.insecure_dev = root["insecure_dev"].as<bool>();
    if (root["recheck_interval"]) {
      auto d = ParseDurationText(root["recheck_interval"].as<std::string>());
      if (!d.ok())
        return absl::InvalidArgumentError(absl::StrCat("recheck_interval: ", d.status().message()));
      config.recheck_interval = *d;
    }
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
}

absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path, AgentConfig base) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = ParseAgentConfig(ss.str(), std::move(base));
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace keyfleet::agent
