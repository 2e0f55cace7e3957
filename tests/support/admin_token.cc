#include "tests/support/admin_token.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/tls/grpc_credentials.h"

namespace keyfleet::testing {
namespace {

namespace gx = grpc::experimental;

class AddToken : public gx::Interceptor {
 public:
  explicit AddToken(const std::string& header) : header_(header) {}
  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            gx::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", header_});
    }
    methods->Proceed();
  }

 private:
  std::string header_;
};

class AddTokenFactory : public gx::ClientInterceptorFactoryInterface {
 public:
  explicit AddTokenFactory(const std::string& token) : header_("Bearer " + token) {}
  gx::Interceptor* CreateClientInterceptor(gx::ClientRpcInfo*) override {
    return new AddToken(header_);
  }

 private:
  std::string header_;
};

}  // namespace

std::unique_ptr<gx::ClientInterceptorFactoryInterface> TokenInterceptor(const std::string& token) {
  return std::make_unique<AddTokenFactory>(token);
}

std::vector<std::unique_ptr<gx::ClientInterceptorFactoryInterface>> TokenInterceptors(
    const std::string& token) {
  std::vector<std::unique_ptr<gx::ClientInterceptorFactoryInterface>> out;
  out.push_back(TokenInterceptor(token));
  return out;
}

std::shared_ptr<grpc::Channel> TokenChannel(const std::string& address,
                                            std::shared_ptr<grpc::ChannelCredentials> credentials,
                                            const std::string& token) {
  return gx::CreateCustomChannelWithInterceptors(
      address, std::move(credentials), grpc::ChannelArguments(), TokenInterceptors(token));
}

std::shared_ptr<grpc::Channel> TokenTlsChannel(const std::string& address,
                                               const std::string& ca_pem,
                                               const std::string& token) {
  return TokenChannel(address, tls::ClientTlsCredentials(ca_pem), token);
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

}  // namespace keyfleet::testing
