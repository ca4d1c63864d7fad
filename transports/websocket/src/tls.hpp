// tls.hpp — the TLS of wss://: the hub's context (its certificate and key),
// the client's (what it trusts), and the client's check of the hub's name.
//
// Both ends speak TLS 1.2 or later. The client verifies the hub's certificate
// chain against the system's trust store, or against one CA file when given
// (Options::tls_ca_file), and that the certificate names the host of the URL
// (a DNS name, checked with SNI sent; or an IP address, matched against the
// certificate's IP addresses).
//
// Internal to transports/websocket/src: includes Asio's SSL and OpenSSL.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace herald::ws_tls {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// The hub's context: the PEM certificate chain (leaf first) in
// `certificate_file`, its private key in `private_key_file` (empty: in the
// certificate file too). kInvalidArgument names the file and what is wrong
// (unreadable, not PEM, key not matching the certificate).
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> server_context(
    const std::string& certificate_file, const std::string& private_key_file);

// The client's context: it trusts the PEM certificates in `ca_file`, or the
// system's trust store when empty. kInvalidArgument when `ca_file` cannot be
// read or holds no certificate.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> client_context(
    const std::string& ca_file);

// Before the client's handshake: the certificate must name `host` (a DNS name,
// also sent as SNI; or an IP address literal, brackets allowed).
absl::Status expect_host(TlsStream& stream, std::string_view host);

// Why the client's handshake failed. `not_trusted`: the hub's certificate did
// not verify (chain or name) — retrying will not help.
struct HandshakeFailure {
  bool not_trusted = false;
  std::string why;
};
HandshakeFailure describe_failure(TlsStream& stream, const boost::beast::error_code& ec);

}  // namespace herald::ws_tls
