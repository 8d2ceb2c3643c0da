//! Self-signed development certificates (rcgen with the aws-lc-rs backend).
//!
//! The certificate is ECDSA: P-256 with SHA-256 for [`Suite::Default`], P-384 with SHA-384 for
//! [`Suite::Cnsa2`] (the CNSA 1.0 curve, allowed during the CNSA 2.0 transition). It is not
//! post-quantum — browsers, OpenSSL 3.0 and curl cannot verify ML-DSA certificates yet — and it
//! does not need to be for confidentiality: the session keys come from the hybrid ML-KEM key
//! exchange, and a recorded handshake cannot be decrypted by forging its signature later.
//!
//! Valid from one hour ago for [`DEV_VALIDITY_DAYS`] days, `serverAuth` only, not a CA; the
//! same certificate is the trust anchor a development client loads.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::policy::Suite;

/// Host names a local development gateway answers to.
pub const DEV_HOSTNAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// How long a development certificate is valid.
pub const DEV_VALIDITY_DAYS: u64 = 30;

/// A self-signed certificate and its private key, as PEM and DER.
///
/// Not `Clone`; `Debug` shows the certificate only; both forms of the key are zeroized on drop.
pub struct DevCertificate {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key_der: PrivatePkcs8KeyDer<'static>,
    key_pem: Zeroizing<String>,
    suite: Suite,
}

impl DevCertificate {
    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The PKCS#8 private key as PEM (`-----BEGIN PRIVATE KEY-----`). Secret.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The chain to hand to [`crate::server_config`]: the certificate alone.
    pub fn cert_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone()]
    }

    /// A copy of the private key for [`crate::server_config`].
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }

    /// A root store that trusts this certificate, for a development client.
    pub fn root_store(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone())?;
        Ok(roots)
    }
}

impl Drop for DevCertificate {
    fn drop(&mut self) {
        self.key_der.zeroize();
    }
}

impl fmt::Debug for DevCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCertificate")
            .field("suite", &self.suite)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Generates a fresh self-signed certificate for `hostnames` (DNS names or IP addresses, the
/// first one also the subject common name).
pub fn dev_certificate(suite: Suite, hostnames: &[&str]) -> Result<DevCertificate> {
    let first = hostnames.first().ok_or(Error::NoHostnames)?;
    let alg = match suite {
        Suite::Default => &PKCS_ECDSA_P256_SHA256,
        Suite::Cnsa2 => &PKCS_ECDSA_P384_SHA384,
    };
    let key_pair = Zeroizing::new(KeyPair::generate_for(alg)?);

    let mut params = CertificateParams::new(
        hostnames
            .iter()
            .map(|h| (*h).to_owned())
            .collect::<Vec<_>>(),
    )?;
    params
        .distinguished_name
        .push(DnType::CommonName, (*first).to_owned());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "qsafe development certificate");
    let now = SystemTime::now();
    params.not_before = OffsetDateTime::from(now - Duration::from_secs(3600));
    params.not_after =
        OffsetDateTime::from(now + Duration::from_secs(DEV_VALIDITY_DAYS * 24 * 3600));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

    let cert = params.self_signed(&*key_pair)?;
    Ok(DevCertificate {
        cert_der: cert.der().clone(),
        cert_pem: cert.pem(),
        key_der: PrivatePkcs8KeyDer::from(key_pair.serialize_der()),
        key_pem: Zeroizing::new(key_pair.serialize_pem()),
        suite,
    })
}
