// Certificates for wss:// tests, made at run time with OpenSSL (nothing
// secret is committed, nothing expires in the repository): a CA, a hub
// certificate it signs for 127.0.0.1 / ::1 / localhost, one it signs for
// another name only, and a self-signed one nobody trusts. Written as PEM files
// into a fresh directory under the system's temporary directory.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "test_support.hpp"

namespace herald::testing {

struct TlsFiles {
  std::string ca;               // the CA's certificate: what clients trust
  std::string hub_cert;         // signed by the CA, names 127.0.0.1, ::1 and localhost
  std::string hub_key;          // its key (a file of its own)
  std::string hub_combined;     // certificate and key in one file
  std::string other_name_cert;  // signed by the CA for "elsewhere.invalid" only
  std::string other_name_key;
  std::string self_signed_cert;  // names 127.0.0.1, signed by nobody trusted
  std::string self_signed_key;
};

namespace tls_detail {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

inline void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what);
}

inline Key new_key() {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

inline void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// `issuer` / `issuer_key` null: self-signed.
inline Cert new_cert(EVP_PKEY* key, const char* common_name, X509* issuer, EVP_PKEY* issuer_key,
                     bool is_ca, const char* subject_alt_names, long serial) {
  Cert cert(X509_new(), X509_free);
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (is_ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_names);
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
        "X509_sign");
  return cert;
}

inline void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  check(f != nullptr, "fopen");
  bool ok = true;
  if (cert != nullptr) ok = ok && PEM_write_X509(f, cert) == 1;
  if (key != nullptr) {
    ok = ok && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  std::fclose(f);
  check(ok, "PEM_write");
}

}  // namespace tls_detail

// Made once per test process, in a directory of its own (test processes run
// side by side under ctest -j).
inline const TlsFiles& tls_files() {
  static const TlsFiles files = [] {
    using namespace tls_detail;
    const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                      unique_name("herald-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    static const struct Removed {  // at exit
      std::filesystem::path dir;
      ~Removed() {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      }
    } removed{dir};
    auto at = [&](const char* name) { return (dir / name).string(); };
    TlsFiles f{.ca = at("ca.pem"),
               .hub_cert = at("hub.pem"),
               .hub_key = at("hub.key"),
               .hub_combined = at("hub-combined.pem"),
               .other_name_cert = at("other.pem"),
               .other_name_key = at("other.key"),
               .self_signed_cert = at("self.pem"),
               .self_signed_key = at("self.key")};
    Key ca_key = new_key();
    Cert ca = new_cert(ca_key.get(), "herald test CA", nullptr, nullptr, true, nullptr, 1);
    write_pem(f.ca, ca.get(), nullptr);

    Key hub_key = new_key();
    Cert hub = new_cert(hub_key.get(), "herald test hub", ca.get(), ca_key.get(), false,
                        "IP:127.0.0.1,IP:::1,DNS:localhost", 2);
    write_pem(f.hub_cert, hub.get(), nullptr);
    write_pem(f.hub_key, nullptr, hub_key.get());
    write_pem(f.hub_combined, hub.get(), hub_key.get());

    Key other_key = new_key();
    Cert other = new_cert(other_key.get(), "elsewhere", ca.get(), ca_key.get(), false,
                          "DNS:elsewhere.invalid", 3);
    write_pem(f.other_name_cert, other.get(), nullptr);
    write_pem(f.other_name_key, nullptr, other_key.get());

    Key self_key = new_key();
    Cert self = new_cert(self_key.get(), "herald self-signed", nullptr, nullptr, false,
                         "IP:127.0.0.1,DNS:localhost", 4);
    write_pem(f.self_signed_cert, self.get(), nullptr);
    write_pem(f.self_signed_key, nullptr, self_key.get());
    return f;
  }();
  return files;
}

}  // namespace herald::testing
