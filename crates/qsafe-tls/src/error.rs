//! Errors of `qsafe-tls`.

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while configuring TLS. Messages name the file or value at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `FALLBACK_CRYPTO` (or a flag) had a value other than `enabled` / `disabled`.
    #[error("invalid FALLBACK_CRYPTO value {value:?}: expected `enabled` or `disabled`")]
    InvalidFallback {
        /// The value given.
        value: String,
    },
    /// A suite name other than `default` / `cnsa2`.
    #[error("invalid TLS suite {value:?}: expected `default` or `cnsa2`")]
    InvalidSuite {
        /// The value given.
        value: String,
    },
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from {}: {source}", path.display())]
    Pem {
        /// `certificate chain`, `private key` or `trusted certificates`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause (I/O, malformed PEM, no matching section).
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file parsed but held no certificate.
    #[error("no CERTIFICATE section in {}: expected a PEM certificate chain", path.display())]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A trusted certificate was rejected by the root store.
    #[error("unusable trusted certificate in {}: {source}", path.display())]
    BadTrustAnchor {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused the configuration (for example a key that does not match the certificate,
    /// or a key type it cannot sign with).
    #[error("tls configuration rejected: {0}")]
    Config(#[from] rustls::Error),
    /// The development certificate could not be generated.
    #[error("cannot generate development certificate: {0}")]
    DevCertificate(#[from] rcgen::Error),
    /// A development certificate needs at least one host name.
    #[error("a development certificate needs at least one host name (e.g. localhost)")]
    NoHostnames,
}
