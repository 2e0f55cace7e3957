#include "common/tls/tests/openssl_cli.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/run_command.h"

namespace keyfleet::tls::testing {

std::string Openssl(const std::string& args) {
  const std::string command = absl::StrCat("openssl ", args, " 2>&1");
  keyfleet::testing::CommandResult result = keyfleet::testing::RunCommand(command);
  EXPECT_EQ(result.exit_code, 0) << command << "\n" << result.out;
  return result.out;
}

std::string ReadTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void WriteTextFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

CliCertificate MakeCliCertificate(const std::filesystem::path& dir, const std::string& stem,
                                  const CliCertificateSpec& spec) {
  CliCertificate made;
  made.key_path = dir / (stem + ".key");
  made.cert_path = dir / (stem + ".crt");
  const std::filesystem::path config = dir / (stem + ".cnf");
  // A config of our own: the system one would add its default v3_ca extensions.
  WriteTextFile(config, absl::StrCat("[req]\ndistinguished_name=dn\nx509_extensions=ext\n[dn]\n",
                                     "[ext]\n", absl::StrJoin(spec.extensions, "\n"), "\n"));
  std::string args =
      absl::StrCat("req -x509 -config ", config.string(), " -newkey ", spec.new_key,
                   " -nodes -keyout ", made.key_path.string(), " -out ", made.cert_path.string(),
                   " -subj '/CN=", spec.common_name, "' -days ", spec.days);
  if (!spec.issuer_cert.empty()) {
    absl::StrAppend(&args, " -CA ", spec.issuer_cert.string(), " -CAkey ",
                    spec.issuer_key.string());
  }
  Openssl(args);
  made.key_pem = ReadTextFile(made.key_path);
  made.cert_pem = ReadTextFile(made.cert_path);
  return made;
}

CliCertificate MakeCliCa(const std::filesystem::path& dir, const std::string& stem) {
  CliCertificateSpec spec;
  spec.common_name = stem;
  spec.extensions = {"basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign",
                     "subjectKeyIdentifier=hash"};
  return MakeCliCertificate(dir, stem, spec);
}

std::string CliPin(const std::filesystem::path& cert_path) {
  const std::string command =
      absl::StrCat("openssl x509 -in ", cert_path.string(),
                   " -pubkey -noout | openssl pkey -pubin -outform der | sha256sum");
  keyfleet::testing::CommandResult result = keyfleet::testing::RunCommand(command);
  EXPECT_EQ(result.exit_code, 0) << command;
  // sha256sum prints "HEX  -".
  return absl::StrCat("sha256:", result.out.substr(0, result.out.find(' ')));
}

}  // namespace keyfleet::tls::testing
