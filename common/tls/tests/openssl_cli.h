// Test helpers that make keys and certificates with the `openssl` command-line tool, so that
// keyfleet's own code is checked against an independent implementation.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace keyfleet::tls::testing {

// Runs `openssl ARGS` through the shell and returns its standard output; records a test failure
// with openssl's output when it exits non-zero.
std::string Openssl(const std::string& args);

// The text of `path`; records a test failure when it cannot be read.
std::string ReadTextFile(const std::filesystem::path& path);
// Writes `content` to `path`; records a test failure when it cannot.
void WriteTextFile(const std::filesystem::path& path, const std::string& content);

struct CliCertificateSpec {
  std::string common_name;
  // Lines of the X.509v3 extension section, e.g. "basicConstraints=critical,CA:TRUE".
  std::vector<std::string> extensions;
  // The -newkey argument.
  std::string new_key = "ec -pkeyopt ec_paramgen_curve:P-256";
  // Empty for a self-signed certificate.
  std::filesystem::path issuer_cert, issuer_key;
  int days = 1;
};

struct CliCertificate {
  std::filesystem::path key_path, cert_path;
  std::string key_pem, cert_pem;
};

// `openssl req -x509` of a certificate as `spec` says, written to DIR/STEM.key and DIR/STEM.crt.
CliCertificate MakeCliCertificate(const std::filesystem::path& dir, const std::string& stem,
                                  const CliCertificateSpec& spec);

// A CA certificate (basicConstraints CA:TRUE, keyCertSign) with a new P-256 key.
CliCertificate MakeCliCa(const std::filesystem::path& dir, const std::string& stem);

// The pin as kubeadm's documentation computes it:
// openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum.
std::string CliPin(const std::filesystem::path& cert_path);

}  // namespace keyfleet::tls::testing
