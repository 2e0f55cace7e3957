#include "tests/support/admin_token.h"

#include <grpcpp/generic/generic_stub.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
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

grpc::Status GenericUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& method, const std::string& request,
                              std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = s;
    done = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (status.ok() && response != nullptr) {
    std::vector<grpc::Slice> slices;
    if (!resp.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "bad response");
    response->clear();
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

}  // namespace keyfleet::testing
