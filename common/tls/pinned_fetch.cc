#include "common/tls/pinned_fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/scoped_sigpipe_block.h"
#include "common/status_macros.h"
#include "common/tls/held_fd.h"
#include "common/tls/x509.h"

namespace keyfleet::tls {
namespace {

// ALPN wire format: length-prefixed protocol names. gRPC servers refuse a handshake without "h2".
constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct AddrinfoFree {
  void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitAddress(const std::string& address) {
  HostPort split;
  absl::string_view port;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == std::string::npos || address.compare(close + 1, 1, ":") != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address \"", address, "\" has no \"]:port\" after its bracketed IPv6 literal"));
    }
    split.host = address.substr(1, close - 1);
    port = absl::string_view(address).substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address \"", address, "\" is not host:port (write an IPv6 literal as [addr]:port)"));
    }
    split.host = address.substr(0, colon);
    port = absl::string_view(address).substr(colon + 1);
  }
  uint32_t number = 0;
  if (split.host.empty() || !absl::SimpleAtoi(port, &number) || number == 0 || number > 65535 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return absl::InvalidArgumentError(
        absl::StrCat("address \"", address, "\" is not host:port with a port from 1 to 65535"));
  }
  split.port = std::string(port);
  return split;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// Waits until `fd` is ready for `events` or `deadline` passes (false then).
bool WaitUntil(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd entry = {fd, events, 0};
    const int ready =
        poll(&entry, 1,
             static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return true;  // let the next call report the error
  }
}

absl::Status TimedOut(const std::string& address, absl::Duration timeout, absl::string_view step) {
  return absl::DeadlineExceededError(absl::StrCat("no ", step, " with the controller at ", address,
                                                  " within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<HeldFd> Connect(const HostPort& target, const std::string& address,
                               absl::Duration timeout, absl::Time deadline) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* raw = nullptr;
  if (int err = getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &raw); err != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", target.host, " (from ", address, "): ", gai_strerror(err)));
  }
  std::unique_ptr<addrinfo, AddrinfoFree> addresses(raw);
  int last_error = 0;
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    HeldFd fd(
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last_error = errno;
      continue;
    }
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) {
      last_error = errno;
      continue;
    }
    if (!WaitUntil(fd.get(), POLLOUT, deadline)) return TimedOut(address, timeout, "connection");
    int err = 0;
    socklen_t size = sizeof(err);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &size) != 0) err = errno;
    if (err == 0) return fd;
    last_error = err;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to the controller at ", address, ": ",
                   last_error != 0 ? std::strerror(last_error) : "no usable address"));
}

absl::Status Handshake(SSL* ssl, int fd, const std::string& address, absl::Duration timeout,
                       absl::Time deadline) {
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int result = SSL_connect(ssl);
    if (result == 1) return absl::OkStatus();
    const int error = SSL_get_error(ssl, result);
    const short events = error == SSL_ERROR_WANT_READ    ? POLLIN
                         : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                         : 0;
    if (events == 0) {
      std::string reason = error == SSL_ERROR_SSL ? OpenSslErrors()
                           : errno != 0           ? std::string(std::strerror(errno))
                                                  : "the connection was closed";
      return absl::UnavailableError(
          absl::StrCat("TLS handshake with the controller at ", address, " failed: ", reason));
    }
    if (!WaitUntil(fd, events, deadline)) return TimedOut(address, timeout, "TLS handshake");
  }
}

// The leaf must chain to `ca`, which is trusted as an anchor even if it is not self-signed: the
// pin, not a root store, is what the operator vouched for.
absl::Status VerifyLeaf(X509* leaf, STACK_OF(X509) * presented, X509* ca,
                        const std::string& address, const std::string& pin) {
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, presented) != 1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER) != 1) {
    return absl::InternalError(
        absl::StrCat("cannot set up certificate verification: ", OpenSslErrors()));
  }
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) == 1) return absl::OkStatus();
  ERR_clear_error();
  return absl::PermissionDeniedError(absl::StrCat(
      "the certificate of the controller at ", address, " does not verify against the CA with pin ",
      pin, ": ", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
}

}  // namespace

absl::StatusOr<std::string> FetchPinnedCaBundle(const std::string& address, const std::string& pin,
                                                absl::Duration timeout) {
  KF_RETURN_IF_ERROR(ValidatePin(pin));
  KF_ASSIGN_OR_RETURN(HostPort target, SplitAddress(address));
  const absl::Time deadline = absl::Now() + timeout;
  KF_ASSIGN_OR_RETURN(HeldFd fd, Connect(target, address, timeout, deadline));

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return absl::InternalError(absl::StrCat("cannot set up a TLS client: ", OpenSslErrors()));
  }
  // The chain is checked below against the pin; OpenSSL has nothing it could verify it with.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  if (ssl == nullptr || SSL_set_fd(ssl.get(), fd.get()) != 1 ||
      SSL_set_alpn_protos(ssl.get(), kAlpnH2, sizeof(kAlpnH2)) != 0 ||  // 0 is success here
      (!IsIpLiteral(target.host) &&
       SSL_set_tlsext_host_name(ssl.get(), target.host.c_str()) != 1)) {
    return absl::InternalError(absl::StrCat("cannot set up a TLS client: ", OpenSslErrors()));
  }
  {
    ::keyfleet::ScopedSigpipeBlock no_sigpipe;
    KF_RETURN_IF_ERROR(Handshake(ssl.get(), fd.get(), address, timeout, deadline));
    SSL_shutdown(ssl.get());  // best effort: the server learns we are done, nothing waits on it
  }

  // On the client side the peer chain includes the server's leaf certificate.
  STACK_OF(X509)* presented = SSL_get_peer_cert_chain(ssl.get());
  X509* leaf = SSL_get0_peer_certificate(ssl.get());
  if (presented == nullptr || sk_X509_num(presented) == 0 || leaf == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("the controller at ", address, " presented no certificate"));
  }
  std::vector<std::string> presented_pins;
  X509* match = nullptr;
  for (int i = 0; i < sk_X509_num(presented); ++i) {
    X509* cert = sk_X509_value(presented, i);
    presented_pins.push_back(PinOf(cert));
    if (match == nullptr && absl::EqualsIgnoreCase(presented_pins.back(), pin)) match = cert;
  }
  if (match == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the controller at ", address, " presented no CA certificate matching ", pin,
        " (it presented: ", absl::StrJoin(presented_pins, ", "), "); check --ca-hash"));
  }
  if ((X509_get_extension_flags(match) & EXFLAG_CA) == 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the certificate with pin ", pin, " presented by the controller at ", address,
        " is not a CA certificate (no basicConstraints CA:TRUE); the pin must be the CA's"));
  }
  KF_RETURN_IF_ERROR(VerifyLeaf(leaf, presented, match, address, pin));
  return CertificateToPem(match);
}

}  // namespace keyfleet::tls
