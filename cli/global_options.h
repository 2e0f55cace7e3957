// Options every `keyfleet` command accepts.
#pragma once

#include <string>

namespace keyfleet::cli {

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  std::string controller;     // --controller, KEYFLEET_CONTROLLER
  std::string ca_file;        // --ca, KEYFLEET_CA: the controller's CA certificate(s), PEM
  bool insecure_dev = false;  // --insecure-dev: plaintext, for a --insecure-dev controller
  // Who the caller is: an API token (--token, --token-file; else $KEYFLEET_TOKEN,
  // $KEYFLEET_TOKEN_FILE unless --cert is given) or an admin client certificate (--cert, --key).
  std::string token;
  std::string token_file;
  std::string env_token;
  std::string env_token_file;
  std::string cert_file;
  std::string key_file;
  OutputFormat output = OutputFormat::kTable;
  // --request-id, KEYFLEET_REQUEST_ID: the idempotency key of this invocation's mutation (a
  // command that makes several uses ID.2, ID.3, …); "" makes a random one per mutation.
  std::string request_id;
};

}  // namespace keyfleet::cli
