#include "common/tls/pinned_fetch.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/tls/tests/openssl_cli.h"
#include "common/tls/x509.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::tls {
namespace {

namespace fs = std::filesystem;
using ::keyfleet::testing::ScopedTempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(5);

// A socket bound to 127.0.0.1 on a port the kernel picks; listening if `listen_too`.
int BindLoopback(bool listen_too, int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  if (listen_too) EXPECT_EQ(listen(fd, 8), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  *port = ntohs(address.sin_port);
  return fd;
}

// Accepts connections on 127.0.0.1 in a thread until destroyed and runs `serve` on each.
class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<void(int)> serve) : serve_(std::move(serve)) {
    listener_ = BindLoopback(/*listen_too=*/true, &port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    close(listener_);
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  void Run() {
    // The client may hang up first; a write to its socket must not kill the test binary.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (!stop_) {
      pollfd entry = {listener_, POLLIN, 0};
      if (poll(&entry, 1, 20) <= 0) continue;
      const int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const timeval two_seconds = {2, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two_seconds, sizeof(two_seconds));
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &two_seconds, sizeof(two_seconds));
      serve_(fd);
      close(fd);
    }
  }

  std::function<void(int)> serve_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// A TLS server like gRPC's as far as the handshake goes: it presents `chain_file` (leaf first)
// and insists on ALPN "h2".
class TestTlsServer {
 public:
  TestTlsServer(const fs::path& chain_file, const fs::path& key_file)
      : ctx_(SSL_CTX_new(TLS_server_method())), server_([this](int fd) { Handshake(fd); }) {
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_.get(), chain_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_.get(), key_file.c_str(), SSL_FILETYPE_PEM), 1);
    SSL_CTX_set_alpn_select_cb(ctx_.get(), SelectH2, this);
  }
  std::string address() const { return server_.address(); }
  bool negotiated_h2() const { return negotiated_h2_; }

 private:
  static int SelectH2(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_size,
                      const unsigned char* offered, unsigned int offered_size, void* self) {
    static const unsigned char kH2[] = {2, 'h', '2'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_size, kH2, sizeof(kH2), offered, offered_size) !=
        OPENSSL_NPN_NEGOTIATED) {
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = selected;
    static_cast<TestTlsServer*>(self)->negotiated_h2_ = true;
    return SSL_TLSEXT_ERR_OK;
  }
  void Handshake(int fd) {
    SSL* ssl = SSL_new(ctx_.get());
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) SSL_shutdown(ssl);
    SSL_free(ssl);
  }

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  std::atomic<bool> negotiated_h2_{false};
  LoopbackServer server_;  // last: its thread uses the members above
};

// Two CAs made with the openssl CLI and a server certificate from each.
class PinnedFetchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScopedTempDir("kf-pinned-fetch-test");
    const fs::path dir = dir_->path();
    ca_a_ = new testing::CliCertificate(testing::MakeCliCa(dir, "ca-a"));
    ca_b_ = new testing::CliCertificate(testing::MakeCliCa(dir, "ca-b"));
    leaf_a_ = new testing::CliCertificate(MakeServerCert(dir, "leaf-a", *ca_a_));
    const testing::CliCertificate leaf_b = MakeServerCert(dir, "leaf-b", *ca_b_);
    testing::WriteTextFile(dir / "chain-a.pem", leaf_a_->cert_pem + ca_a_->cert_pem);
    // Claims CA A but its leaf was issued by CA B.
    testing::WriteTextFile(dir / "chain-mixed.pem", leaf_b.cert_pem + ca_a_->cert_pem);
  }
  static void TearDownTestSuite() {
    delete leaf_a_;
    delete ca_b_;
    delete ca_a_;
    delete dir_;
  }
  static testing::CliCertificate MakeServerCert(const fs::path& dir, const std::string& stem,
                                                const testing::CliCertificate& ca) {
    testing::CliCertificateSpec spec;
    spec.common_name = "keyfleet-controller";
    spec.extensions = {"basicConstraints=critical,CA:FALSE", "keyUsage=digitalSignature",
                       "extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1"};
    spec.issuer_cert = ca.cert_path;
    spec.issuer_key = ca.key_path;
    return testing::MakeCliCertificate(dir, stem, spec);
  }
  static fs::path File(const std::string& name) { return dir_->path() / name; }
  static std::string Pin(const testing::CliCertificate& cert) {
    return *CertificatePin(cert.cert_pem);
  }

  static ScopedTempDir* dir_;
  static testing::CliCertificate *ca_a_, *ca_b_, *leaf_a_;
};
ScopedTempDir* PinnedFetchTest::dir_ = nullptr;
testing::CliCertificate* PinnedFetchTest::ca_a_ = nullptr;
testing::CliCertificate* PinnedFetchTest::ca_b_ = nullptr;
testing::CliCertificate* PinnedFetchTest::leaf_a_ = nullptr;

TEST_F(PinnedFetchTest, RightPinReturnsTheCaCertificate) {
  TestTlsServer server(File("chain-a.pem"), File("leaf-a.key"));
  absl::StatusOr<std::string> ca = FetchPinnedCaBundle(server.address(), Pin(*ca_a_), kTimeout);
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(*ca, ca_a_->cert_pem);
  EXPECT_TRUE(server.negotiated_h2()) << "the client must offer ALPN h2, as gRPC requires";

  // Pins are compared case-insensitively.
  const std::string upper = "sha256:" + absl::AsciiStrToUpper(Pin(*ca_a_).substr(7));
  ca = FetchPinnedCaBundle(server.address(), upper, kTimeout);
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(*ca, ca_a_->cert_pem);
}

TEST_F(PinnedFetchTest, WrongPinIsRefusedListingThePresentedPins) {
  TestTlsServer server(File("chain-a.pem"), File("leaf-a.key"));
  const absl::StatusOr<std::string> ca =
      FetchPinnedCaBundle(server.address(), Pin(*ca_b_), kTimeout);
  ASSERT_EQ(ca.status().code(), absl::StatusCode::kPermissionDenied) << ca.status();
  EXPECT_THAT(ca.status().message(),
              AllOf(HasSubstr(absl::StrCat("the controller at ", server.address(),
                                           " presented no CA certificate matching ", Pin(*ca_b_),
                                           " (it presented: ", Pin(*leaf_a_), ", ", Pin(*ca_a_),
                                           "); check --ca-hash"))));
}

TEST_F(PinnedFetchTest, PinOfTheLeafIsRefusedBecauseItIsNoCa) {
  TestTlsServer server(File("chain-a.pem"), File("leaf-a.key"));
  const absl::StatusOr<std::string> ca =
      FetchPinnedCaBundle(server.address(), Pin(*leaf_a_), kTimeout);
  ASSERT_EQ(ca.status().code(), absl::StatusCode::kPermissionDenied) << ca.status();
  EXPECT_THAT(ca.status().message(), HasSubstr("is not a CA certificate"));
}

TEST_F(PinnedFetchTest, LeafNotIssuedByThePinnedCaIsRefused) {
  TestTlsServer server(File("chain-mixed.pem"), File("leaf-b.key"));
  const absl::StatusOr<std::string> ca =
      FetchPinnedCaBundle(server.address(), Pin(*ca_a_), kTimeout);
  ASSERT_EQ(ca.status().code(), absl::StatusCode::kPermissionDenied) << ca.status();
  EXPECT_THAT(ca.status().message(), HasSubstr("does not verify against the CA with pin"));
}

TEST_F(PinnedFetchTest, NothingListeningIsUnavailable) {
  int port = 0;
  // Bound but not listening: connections to it are refused, and no one else can take the port.
  const int fd = BindLoopback(/*listen_too=*/false, &port);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  const absl::StatusOr<std::string> ca = FetchPinnedCaBundle(address, Pin(*ca_a_), kTimeout);
  close(fd);
  ASSERT_EQ(ca.status().code(), absl::StatusCode::kUnavailable) << ca.status();
  EXPECT_THAT(ca.status().message(), HasSubstr(address));
  EXPECT_THAT(ca.status().message(), HasSubstr("Connection refused"));
}

TEST_F(PinnedFetchTest, ServerSpeakingSomethingElseIsUnavailable) {
  LoopbackServer http([](int fd) {
    char request[512];
    (void)!read(fd, request, sizeof(request));
    const char kReply[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    (void)!write(fd, kReply, sizeof(kReply) - 1);
  });
  const absl::StatusOr<std::string> ca = FetchPinnedCaBundle(http.address(), Pin(*ca_a_), kTimeout);
  ASSERT_EQ(ca.status().code(), absl::StatusCode::kUnavailable) << ca.status();
  EXPECT_THAT(ca.status().message(),
              HasSubstr(absl::StrCat("TLS handshake with the controller at ", http.address())));
}

TEST_F(PinnedFetchTest, TimeoutBoundsAHandshakeThatNeverCompletes) {
  int port = 0;
  // Listening but never accepting: the kernel completes the TCP connection, nobody answers TLS.
  const int fd = BindLoopback(/*listen_too=*/true, &port);
  const absl::Time start = absl::Now();
  const absl::StatusOr<std::string> ca =
      FetchPinnedCaBundle(absl::StrCat("127.0.0.1:", port), Pin(*ca_a_), absl::Seconds(1));
  const absl::Duration elapsed = absl::Now() - start;
  close(fd);
  ASSERT_EQ(ca.status().code(), absl::StatusCode::kDeadlineExceeded) << ca.status();
  EXPECT_THAT(ca.status().message(), HasSubstr("no TLS handshake"));
  EXPECT_GE(elapsed, absl::Milliseconds(950));
  EXPECT_LT(elapsed, absl::Seconds(3));
}

TEST_F(PinnedFetchTest, RefusesMalformedAddressesAndPins) {
  const std::string pin = Pin(*ca_a_);
  const struct {
    const char* why;
    std::string address, pin;
    const char* message;
  } kBad[] = {
      {"no port", "controller", pin, "is not host:port"},
      {"empty host", ":443", pin, "port from 1 to 65535"},
      {"port zero", "controller:0", pin, "port from 1 to 65535"},
      {"port too large", "controller:65536", pin, "port from 1 to 65535"},
      {"port not a number", "controller:https", pin, "port from 1 to 65535"},
      {"signed port", "controller:+443", pin, "port from 1 to 65535"},
      {"bare IPv6", "::1:443", pin, "[addr]:port"},
      {"bracket without port", "[::1]443", pin, "no \"]:port\""},
      {"unclosed bracket", "[::1:443", pin, "no \"]:port\""},
      {"bad pin", "controller:443", "sha256:abc", "is not a CA pin"},
  };
  for (const auto& row : kBad) {
    const absl::StatusOr<std::string> ca = FetchPinnedCaBundle(row.address, row.pin, kTimeout);
    ASSERT_EQ(ca.status().code(), absl::StatusCode::kInvalidArgument) << row.why;
    EXPECT_THAT(ca.status().message(), HasSubstr(row.message)) << row.why;
  }
}

}  // namespace
}  // namespace keyfleet::tls
