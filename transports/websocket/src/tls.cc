// The TLS contexts of wss:// and the client's check of the hub's name.
#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "herald/internal/text.hpp"

namespace herald::ws_tls {

namespace ssl = boost::asio::ssl;
using internal::cat;

namespace {

// TLS 1.0 and 1.1 are deprecated (RFC 8996).
void modern_only(ssl::context& context) {
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
}

absl::Status file_error(std::string_view what, const std::string& file,
                        const boost::system::error_code& ec) {
  return absl::InvalidArgumentError(
      cat("herald: cannot use \"", file, "\" as the TLS ", what, ": ", ec.message()));
}

// OpenSSL reports a file it cannot open as "asio.ssl error": say why first.
absl::Status readable(std::string_view what, const std::string& file) {
  if (std::ifstream(file)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      cat("herald: cannot read \"", file, "\" (the TLS ", what, "): ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> server_context(const std::string& certificate_file,
                                                             const std::string& private_key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  modern_only(*context);
  const std::string& key_file = private_key_file.empty() ? certificate_file : private_key_file;
  if (absl::Status s = readable("certificate", certificate_file); !s.ok()) return s;
  if (absl::Status s = readable("private key", key_file); !s.ok()) return s;
  boost::system::error_code ec;
  context->use_certificate_chain_file(certificate_file, ec);
  if (ec) return file_error("certificate (PEM chain, leaf first)", certificate_file, ec);
  context->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return file_error("private key (PEM)", key_file, ec);
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(cat("herald: the TLS private key in \"", key_file,
                                          "\" does not match the certificate in \"",
                                          certificate_file, "\""));
  }
  return context;
}

absl::StatusOr<std::shared_ptr<ssl::context>> client_context(const std::string& ca_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  modern_only(*context);
  context->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      return absl::FailedPreconditionError(
          cat("herald: cannot load the system's TLS trust store: ", ec.message()));
    }
    return context;
  }
  if (absl::Status s = readable("CA file", ca_file); !s.ok()) return s;
  context->load_verify_file(ca_file, ec);
  if (ec) return file_error("CA file (PEM certificates)", ca_file, ec);
  return context;
}

absl::Status expect_host(TlsStream& stream, std::string_view host) {
  std::string name(host);
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  SSL* handle = stream.native_handle();
  boost::system::error_code not_ip;
  boost::asio::ip::make_address(name, not_ip);
  if (!not_ip) {
    // An address: matched against the certificate's IP addresses; no SNI
    // (RFC 6066 allows host names only).
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), name.c_str()) != 1) {
      return absl::InvalidArgumentError(cat("herald: \"", name, "\" is not an IP address"));
    }
    return absl::OkStatus();
  }
  if (SSL_set_tlsext_host_name(handle, name.c_str()) != 1 ||
      SSL_set1_host(handle, name.c_str()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(cat("herald: \"", name, "\" is not a valid TLS host name"));
  }
  return absl::OkStatus();
}

HandshakeFailure describe_failure(TlsStream& stream, const boost::beast::error_code& ec) {
  const long verified = SSL_get_verify_result(stream.native_handle());
  if (verified != X509_V_OK) {
    return {.not_trusted = true,
            .why = cat("the hub's TLS certificate does not verify: ",
                       X509_verify_cert_error_string(verified))};
  }
  return {.not_trusted = false, .why = cat("TLS handshake failed: ", ec.message())};
}

}  // namespace herald::ws_tls
