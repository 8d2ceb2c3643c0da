//! Building rustls `ServerConfig` / `ClientConfig` from a [`Suite`] and [`Fallback`], and
//! loading certificates and keys from PEM files (RFC 7468 textual encodings).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::error::{Error, Result};
use crate::policy::{Fallback, Suite, protocol_versions, provider};

/// A TLS server configuration: the groups, suites and versions of `suite` and `fallback`, the
/// server's own cipher-suite order (`ignore_client_order`), no client authentication.
///
/// ALPN is left empty; a caller that serves HTTP/2 sets it on a clone
/// (`let mut c = (*cfg).clone(); c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()]`)
/// or uses [`crate::TlsAcceptor::with_alpn`].
pub fn server_config(
    suite: Suite,
    fallback: Fallback,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider(suite, fallback))
        .with_protocol_versions(protocol_versions(fallback))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// A TLS client configuration that offers the groups of `suite` and `fallback` (sending a key
/// share for the first) and trusts `roots`.
pub fn client_config(
    suite: Suite,
    fallback: Fallback,
    roots: RootCertStore,
) -> Result<Arc<ClientConfig>> {
    let config = ClientConfig::builder_with_provider(provider(suite, fallback))
        .with_protocol_versions(protocol_versions(fallback))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads every `CERTIFICATE` section of a PEM file, leaf first (as a server sends them).
pub fn load_cert_chain(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let pem_err = |source| Error::Pem {
        what: "certificate chain",
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err)?;
    if certs.is_empty() {
        return Err(Error::NoCertificates {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file (`PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1)
/// or `RSA PRIVATE KEY` (PKCS#1)).
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|source| Error::Pem {
        what: "private key",
        path: path.to_path_buf(),
        source,
    })
}

/// A root store holding every certificate of a PEM file (a CA bundle, or a self-signed dev
/// certificate).
pub fn load_root_store(path: impl AsRef<Path>) -> Result<RootCertStore> {
    let path = path.as_ref();
    let certs = load_cert_chain(path).map_err(|e| match e {
        Error::Pem { path, source, .. } => Error::Pem {
            what: "trusted certificates",
            path,
            source,
        },
        other => other,
    })?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|source| Error::BadTrustAnchor {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(roots)
}
