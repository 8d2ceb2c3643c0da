//! The algorithm registry: one `&'static` descriptor per algorithm.
//!
//! Every format and protocol in qsafe names algorithms by the stable string [`Algorithm::id`];
//! swapping a suite is a change of value, never of format. Code points come from the documents
//! named in [`Algorithm::standard`] (draft identifiers carry the draft version):
//! OIDs from FIPS 203/204/205 (NIST CSOR), RFC 8410, RFC 5480, the LAMPS composite drafts and the
//! X-Wing draft; HPKE KEM ids from RFC 9180 §7.1 and draft-ietf-hpke-pq; TLS group ids from the
//! IANA TLS Supported Groups registry (draft-ietf-tls-ecdhe-mlkem, draft-ietf-tls-mlkem).

use serde::Serialize;

/// What an algorithm is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Key encapsulation mechanism.
    Kem,
    /// Digital signature.
    Signature,
    /// Authenticated encryption with associated data.
    Aead,
    /// Key derivation function.
    Kdf,
    /// Hash function.
    Hash,
}

/// Which kind of hardness the algorithm rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Post-quantum only (lattices, hashes, codes).
    PostQuantum,
    /// Classical public key (RSA, elliptic curves): broken by Shor's algorithm.
    Classical,
    /// A classical and a post-quantum component; secure while either holds.
    Hybrid,
    /// Symmetric primitive (Grover halves the key strength; 256-bit keys stay safe).
    Symmetric,
}

/// Status under NSA's CNSA 2.0 suite (2022, updated 2024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cnsa2 {
    /// Listed in CNSA 2.0.
    Approved,
    /// Hybrid whose post-quantum component is CNSA 2.0; allowed while classical is phased out.
    HybridApproved,
    /// CNSA 1.0 classical algorithm, allowed only during the transition.
    Transitional,
    /// Not part of CNSA.
    NotApproved,
}

/// How settled the algorithm's specification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A published standard (FIPS, RFC).
    Standard,
    /// An IETF/IRTF draft: identifiers and encodings may still change.
    Draft,
    /// Not yet standardised; keys and signatures will change.
    Experimental,
    /// Quantum-vulnerable baseline kept for comparison and migration.
    Legacy,
}

/// Sizes in bytes of the standard encodings. `None` where the notion does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Sizes {
    /// Public key (raw encoding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<usize>,
    /// Private key in its stored form (a seed where the standard allows one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<usize>,
    /// KEM ciphertext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<usize>,
    /// KEM shared secret, or symmetric key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_secret: Option<usize>,
    /// Signature (the maximum, for DER-encoded ECDSA), AEAD tag or digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<usize>,
}

/// Internal selector of the implementation behind a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[allow(missing_docs)] // the variant names are the algorithms
pub enum AlgId {
    MlKem512,
    MlKem768,
    MlKem1024,
    X25519,
    P256,
    P384,
    XWing,
    MlKem768P256,
    MlKem1024P384,
    X25519MlKem768,
    X25519MlKem1024HkdfSha384,
    McEliece348864,
    MlDsa44,
    MlDsa65,
    MlDsa87,
    Ed25519,
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    RsaPss2048Sha256,
    MlDsa44Ed25519Sha512,
    MlDsa65Ed25519Sha512,
    MlDsa65EcdsaP256Sha512,
    MlDsa87EcdsaP384Sha512,
    SlhDsaSha2_128s,
    SlhDsaSha2_128f,
    SlhDsaSha2_256s,
    FnDsa512,
    FnDsa1024,
    Aes256Gcm,
    ChaCha20Poly1305,
    HkdfSha256,
    HkdfSha384,
    HkdfSha512,
    Sha256,
    Sha384,
    Sha512,
    Blake3,
}

/// One algorithm: everything a format, a CLI table or a policy needs to know about it.
#[derive(Debug, Serialize)]
pub struct Algorithm {
    /// Stable lowercase identifier used in files, flags and APIs (`x-wing`, `ml-dsa-65`).
    pub id: &'static str,
    /// Display name as the standard spells it.
    pub name: &'static str,
    /// What it does.
    pub kind: Kind,
    /// Classical, post-quantum, hybrid or symmetric.
    pub family: Family,
    /// Object identifier of the key (SubjectPublicKeyInfo / PKCS#8 algorithm), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid: Option<&'static str>,
    /// Extra OID: the named curve for EC keys, or the signature OID where it differs from `oid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oid_params: Option<&'static str>,
    /// HPKE KEM, KDF or AEAD identifier (RFC 9180 §7, draft-ietf-hpke-pq).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hpke_id: Option<u16>,
    /// TLS NamedGroup code point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_group: Option<u16>,
    /// NIST post-quantum security category (1-5); `None` for quantum-vulnerable algorithms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nist_level: Option<u8>,
    /// CNSA 2.0 status.
    pub cnsa2: Cnsa2,
    /// Encoding sizes.
    pub sizes: Sizes,
    /// The standard or draft (with version) this implementation follows.
    pub standard: &'static str,
    /// Specification maturity.
    pub status: Status,
    /// Cargo feature of `qsafe-core` that enables it, if it is optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<&'static str>,
    /// Implementation selector.
    #[serde(skip)]
    pub alg_id: AlgId,
}

impl Algorithm {
    /// True when a quantum computer breaks the algorithm on its own.
    pub fn is_quantum_vulnerable(&self) -> bool {
        self.family == Family::Classical
    }

    /// True when this build of qsafe can run the algorithm.
    pub fn is_available(&self) -> bool {
        match self.feature {
            None => true,
            Some("slh") => cfg!(feature = "slh"),
            Some("experimental") => cfg!(feature = "experimental"),
            Some("mceliece") => cfg!(feature = "mceliece"),
            Some(_) => false,
        }
    }
}

impl PartialEq for Algorithm {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Algorithm {}

const fn kem_sizes(pk: usize, sk: usize, ct: usize, ss: usize) -> Sizes {
    Sizes {
        public_key: Some(pk),
        private_key: Some(sk),
        ciphertext: Some(ct),
        shared_secret: Some(ss),
        signature: None,
    }
}

const fn sig_sizes(pk: usize, sk: usize, sig: usize) -> Sizes {
    Sizes {
        public_key: Some(pk),
        private_key: Some(sk),
        ciphertext: None,
        shared_secret: None,
        signature: Some(sig),
    }
}

const fn sym_sizes(key: Option<usize>, out: usize) -> Sizes {
    Sizes {
        public_key: None,
        private_key: None,
        ciphertext: None,
        shared_secret: key,
        signature: Some(out),
    }
}

macro_rules! alg {
    ($konst:ident, $id:literal, $name:literal, $kind:ident, $family:ident, oid: $oid:expr,
     params: $params:expr, hpke: $hpke:expr, tls: $tls:expr, level: $level:expr,
     cnsa2: $cnsa:ident, sizes: $sizes:expr, std: $std:literal, status: $status:ident,
     alg_id: $alg_id:ident) => {
        alg!($konst, $id, $name, $kind, $family, oid: $oid, params: $params, hpke: $hpke,
            tls: $tls, level: $level, cnsa2: $cnsa, sizes: $sizes, std: $std, status: $status,
            alg_id: $alg_id, feature: None);
    };
    ($konst:ident, $id:literal, $name:literal, $kind:ident, $family:ident, oid: $oid:expr,
     params: $params:expr, hpke: $hpke:expr, tls: $tls:expr, level: $level:expr,
     cnsa2: $cnsa:ident, sizes: $sizes:expr, std: $std:literal, status: $status:ident,
     alg_id: $alg_id:ident, feature: $feature:expr) => {
        #[doc = concat!("`", $id, "`: ", $name, " (", $std, ").")]
        pub static $konst: Algorithm = Algorithm {
            id: $id,
            name: $name,
            kind: Kind::$kind,
            family: Family::$family,
            oid: $oid,
            oid_params: $params,
            hpke_id: $hpke,
            tls_group: $tls,
            nist_level: $level,
            cnsa2: Cnsa2::$cnsa,
            sizes: $sizes,
            standard: $std,
            status: Status::$status,
            feature: $feature,
            alg_id: AlgId::$alg_id,
        };
    };
}

/// Version tags of the drafts followed, kept in one place so a bump is one edit.
pub mod drafts {
    /// X-Wing KEM.
    pub const XWING: &str = "draft-connolly-cfrg-xwing-kem-08";
    /// Composite ML-KEM for X.509.
    pub const COMPOSITE_KEM: &str = "draft-ietf-lamps-pq-composite-kem-17";
    /// Composite ML-DSA for X.509.
    pub const COMPOSITE_SIGS: &str = "draft-ietf-lamps-pq-composite-sigs-19";
    /// Hybrid ECDHE-MLKEM key agreement for TLS 1.3.
    pub const TLS_ECDHE_MLKEM: &str = "draft-ietf-tls-ecdhe-mlkem-03";
    /// PQ and hybrid KEMs for HPKE (editor's copy of 2026-04-17, commit 74dafaa).
    pub const HPKE_PQ: &str = "draft-ietf-hpke-pq (editor's copy 2026-04-17)";
}

const ID_EC_PUBLIC_KEY: Option<&str> = Some("1.2.840.10045.2.1");
const SECP256R1: Option<&str> = Some("1.2.840.10045.3.1.7");
const SECP384R1: Option<&str> = Some("1.3.132.0.34");

// ---- KEMs -------------------------------------------------------------------------------------

alg!(ML_KEM_512, "ml-kem-512", "ML-KEM-512", Kem, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.4.1"), params: None, hpke: Some(0x0040), tls: Some(0x0200),
    level: Some(1), cnsa2: NotApproved, sizes: kem_sizes(800, 64, 768, 32),
    std: "FIPS 203", status: Standard, alg_id: MlKem512);
alg!(ML_KEM_768, "ml-kem-768", "ML-KEM-768", Kem, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.4.2"), params: None, hpke: Some(0x0041), tls: Some(0x0201),
    level: Some(3), cnsa2: NotApproved, sizes: kem_sizes(1184, 64, 1088, 32),
    std: "FIPS 203", status: Standard, alg_id: MlKem768);
alg!(ML_KEM_1024, "ml-kem-1024", "ML-KEM-1024", Kem, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.4.3"), params: None, hpke: Some(0x0042), tls: Some(0x0202),
    level: Some(5), cnsa2: Approved, sizes: kem_sizes(1568, 64, 1568, 32),
    std: "FIPS 203", status: Standard, alg_id: MlKem1024);
alg!(X25519, "x25519", "DHKEM(X25519, HKDF-SHA256)", Kem, Classical,
    oid: Some("1.3.101.110"), params: None, hpke: Some(0x0020), tls: Some(0x001d),
    level: None, cnsa2: NotApproved, sizes: kem_sizes(32, 32, 32, 32),
    std: "RFC 7748, RFC 9180 §4.1", status: Legacy, alg_id: X25519);
alg!(P256, "p256", "DHKEM(P-256, HKDF-SHA256)", Kem, Classical,
    oid: ID_EC_PUBLIC_KEY, params: SECP256R1, hpke: Some(0x0010), tls: Some(0x0017),
    level: None, cnsa2: NotApproved, sizes: kem_sizes(65, 32, 65, 32),
    std: "SP 800-56A, RFC 9180 §4.1", status: Legacy, alg_id: P256);
alg!(P384, "p384", "DHKEM(P-384, HKDF-SHA384)", Kem, Classical,
    oid: ID_EC_PUBLIC_KEY, params: SECP384R1, hpke: Some(0x0011), tls: Some(0x0018),
    level: None, cnsa2: Transitional, sizes: kem_sizes(97, 48, 97, 48),
    std: "SP 800-56A, RFC 9180 §4.1", status: Legacy, alg_id: P384);
alg!(X_WING, "x-wing", "X-Wing (ML-KEM-768 + X25519)", Kem, Hybrid,
    oid: Some("1.3.6.1.4.1.62253.25722"), params: None, hpke: Some(0x647a), tls: None,
    level: Some(3), cnsa2: NotApproved, sizes: kem_sizes(1216, 32, 1120, 32),
    std: "draft-connolly-cfrg-xwing-kem-08", status: Draft, alg_id: XWing);
alg!(MLKEM768_P256, "mlkem768-p256", "MLKEM768-P256 (id-MLKEM768-ECDH-P256-SHA3-256)", Kem, Hybrid,
    oid: Some("1.3.6.1.5.5.7.6.59"), params: None, hpke: Some(0x0050), tls: None,
    level: Some(3), cnsa2: NotApproved, sizes: kem_sizes(1249, 115, 1153, 32),
    std: "draft-ietf-lamps-pq-composite-kem-17", status: Draft, alg_id: MlKem768P256);
alg!(MLKEM1024_P384, "mlkem1024-p384", "MLKEM1024-P384 (id-MLKEM1024-ECDH-P384-SHA3-256)", Kem,
    Hybrid, oid: Some("1.3.6.1.5.5.7.6.63"), params: None, hpke: Some(0x0051), tls: None,
    level: Some(5), cnsa2: HybridApproved, sizes: kem_sizes(1665, 128, 1665, 32),
    std: "draft-ietf-lamps-pq-composite-kem-17", status: Draft, alg_id: MlKem1024P384);
alg!(X25519_MLKEM768, "x25519-mlkem768", "X25519MLKEM768 (TLS concatenation)", Kem, Hybrid,
    oid: None, params: None, hpke: None, tls: Some(0x11ec),
    level: Some(3), cnsa2: NotApproved, sizes: kem_sizes(1216, 96, 1120, 64),
    std: "draft-ietf-tls-ecdhe-mlkem-03", status: Draft, alg_id: X25519MlKem768);
alg!(X25519_MLKEM1024_HKDF_SHA384, "x25519-mlkem1024-hkdf-sha384",
    "X25519 + ML-KEM-1024, HKDF-SHA384 combiner", Kem, Hybrid,
    oid: None, params: None, hpke: None, tls: None,
    level: Some(5), cnsa2: NotApproved, sizes: kem_sizes(1600, 96, 1600, 64),
    std: "qsafe docs/combiners.md (SP 800-227 §4.6 combiner)", status: Draft,
    alg_id: X25519MlKem1024HkdfSha384);

alg!(MCELIECE_348864, "mceliece348864", "Classic McEliece 348864", Kem, PostQuantum,
    oid: None, params: None, hpke: None, tls: None,
    level: Some(1), cnsa2: NotApproved, sizes: kem_sizes(261120, 32, 96, 32),
    std: "Classic McEliece NIST round 4 (2022), classic-mceliece-rust 3.1", status: Experimental,
    alg_id: McEliece348864, feature: Some("mceliece"));

// ---- Signatures -------------------------------------------------------------------------------

alg!(ML_DSA_44, "ml-dsa-44", "ML-DSA-44", Signature, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.3.17"), params: None, hpke: None, tls: Some(0x0904),
    level: Some(2), cnsa2: NotApproved, sizes: sig_sizes(1312, 32, 2420),
    std: "FIPS 204", status: Standard, alg_id: MlDsa44);
alg!(ML_DSA_65, "ml-dsa-65", "ML-DSA-65", Signature, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.3.18"), params: None, hpke: None, tls: Some(0x0905),
    level: Some(3), cnsa2: NotApproved, sizes: sig_sizes(1952, 32, 3309),
    std: "FIPS 204", status: Standard, alg_id: MlDsa65);
alg!(ML_DSA_87, "ml-dsa-87", "ML-DSA-87", Signature, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.3.19"), params: None, hpke: None, tls: Some(0x0906),
    level: Some(5), cnsa2: Approved, sizes: sig_sizes(2592, 32, 4627),
    std: "FIPS 204", status: Standard, alg_id: MlDsa87);
alg!(ED25519, "ed25519", "Ed25519", Signature, Classical,
    oid: Some("1.3.101.112"), params: None, hpke: None, tls: Some(0x0807),
    level: None, cnsa2: NotApproved, sizes: sig_sizes(32, 32, 64),
    std: "RFC 8032, FIPS 186-5", status: Legacy, alg_id: Ed25519);
alg!(ECDSA_P256_SHA256, "ecdsa-p256-sha256", "ECDSA P-256 with SHA-256", Signature, Classical,
    oid: ID_EC_PUBLIC_KEY, params: SECP256R1, hpke: None, tls: Some(0x0403),
    level: None, cnsa2: NotApproved, sizes: sig_sizes(65, 32, 72),
    std: "FIPS 186-5, RFC 5480", status: Legacy, alg_id: EcdsaP256Sha256);
alg!(ECDSA_P384_SHA384, "ecdsa-p384-sha384", "ECDSA P-384 with SHA-384", Signature, Classical,
    oid: ID_EC_PUBLIC_KEY, params: SECP384R1, hpke: None, tls: Some(0x0503),
    level: None, cnsa2: Transitional, sizes: sig_sizes(97, 48, 104),
    std: "FIPS 186-5, RFC 5480", status: Legacy, alg_id: EcdsaP384Sha384);
alg!(RSA_PSS_2048_SHA256, "rsa-pss-2048-sha256", "RSASSA-PSS 2048 with SHA-256", Signature,
    Classical, oid: Some("1.2.840.113549.1.1.1"), params: Some("1.2.840.113549.1.1.10"),
    hpke: None, tls: Some(0x0804), level: None, cnsa2: NotApproved,
    sizes: sig_sizes(270, 1218, 256),
    std: "RFC 8017 (PKCS #1 v2.2)", status: Legacy, alg_id: RsaPss2048Sha256);
alg!(MLDSA44_ED25519_SHA512, "mldsa44-ed25519-sha512", "id-MLDSA44-Ed25519-SHA512", Signature,
    Hybrid, oid: Some("1.3.6.1.5.5.7.6.39"), params: None, hpke: None, tls: None,
    level: Some(2), cnsa2: NotApproved, sizes: sig_sizes(1344, 64, 2484),
    std: "draft-ietf-lamps-pq-composite-sigs-19", status: Draft, alg_id: MlDsa44Ed25519Sha512);
alg!(MLDSA65_ED25519_SHA512, "mldsa65-ed25519-sha512", "id-MLDSA65-Ed25519-SHA512", Signature,
    Hybrid, oid: Some("1.3.6.1.5.5.7.6.48"), params: None, hpke: None, tls: None,
    level: Some(3), cnsa2: NotApproved, sizes: sig_sizes(1984, 64, 3373),
    std: "draft-ietf-lamps-pq-composite-sigs-19", status: Draft, alg_id: MlDsa65Ed25519Sha512);
alg!(MLDSA65_ECDSA_P256_SHA512, "mldsa65-ecdsa-p256-sha512", "id-MLDSA65-ECDSA-P256-SHA512",
    Signature, Hybrid, oid: Some("1.3.6.1.5.5.7.6.45"), params: None, hpke: None, tls: None,
    level: Some(3), cnsa2: NotApproved, sizes: sig_sizes(2017, 83, 3381),
    std: "draft-ietf-lamps-pq-composite-sigs-19", status: Draft, alg_id: MlDsa65EcdsaP256Sha512);
alg!(MLDSA87_ECDSA_P384_SHA512, "mldsa87-ecdsa-p384-sha512", "id-MLDSA87-ECDSA-P384-SHA512",
    Signature, Hybrid, oid: Some("1.3.6.1.5.5.7.6.49"), params: None, hpke: None, tls: None,
    level: Some(5), cnsa2: HybridApproved, sizes: sig_sizes(2689, 96, 4731),
    std: "draft-ietf-lamps-pq-composite-sigs-19", status: Draft, alg_id: MlDsa87EcdsaP384Sha512);

alg!(SLH_DSA_SHA2_128S, "slh-dsa-sha2-128s", "SLH-DSA-SHA2-128s", Signature, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.3.20"), params: None, hpke: None, tls: None,
    level: Some(1), cnsa2: NotApproved, sizes: sig_sizes(32, 64, 7856),
    std: "FIPS 205", status: Standard, alg_id: SlhDsaSha2_128s, feature: Some("slh"));
alg!(SLH_DSA_SHA2_128F, "slh-dsa-sha2-128f", "SLH-DSA-SHA2-128f", Signature, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.3.21"), params: None, hpke: None, tls: None,
    level: Some(1), cnsa2: NotApproved, sizes: sig_sizes(32, 64, 17088),
    std: "FIPS 205", status: Standard, alg_id: SlhDsaSha2_128f, feature: Some("slh"));
alg!(SLH_DSA_SHA2_256S, "slh-dsa-sha2-256s", "SLH-DSA-SHA2-256s", Signature, PostQuantum,
    oid: Some("2.16.840.1.101.3.4.3.24"), params: None, hpke: None, tls: None,
    level: Some(5), cnsa2: NotApproved, sizes: sig_sizes(64, 128, 29792),
    std: "FIPS 205", status: Standard, alg_id: SlhDsaSha2_256s, feature: Some("slh"));
alg!(FN_DSA_512, "fn-dsa-512", "FN-DSA-512 (Falcon-512)", Signature, PostQuantum,
    oid: None, params: None, hpke: None, tls: None,
    level: Some(1), cnsa2: NotApproved, sizes: sig_sizes(897, 1345, 666),
    std: "draft FIPS 206 (not yet published; fn-dsa 0.4)", status: Experimental, alg_id: FnDsa512,
    feature: Some("experimental"));
alg!(FN_DSA_1024, "fn-dsa-1024", "FN-DSA-1024 (Falcon-1024)", Signature, PostQuantum,
    oid: None, params: None, hpke: None, tls: None,
    level: Some(5), cnsa2: NotApproved, sizes: sig_sizes(1793, 2369, 1280),
    std: "draft FIPS 206 (not yet published; fn-dsa 0.4)", status: Experimental, alg_id: FnDsa1024,
    feature: Some("experimental"));

// ---- Symmetric --------------------------------------------------------------------------------

alg!(AES_256_GCM, "aes-256-gcm", "AES-256-GCM", Aead, Symmetric,
    oid: Some("2.16.840.1.101.3.4.1.46"), params: None, hpke: Some(0x0002), tls: None,
    level: Some(5), cnsa2: Approved, sizes: sym_sizes(Some(32), 16),
    std: "FIPS 197, SP 800-38D", status: Standard, alg_id: Aes256Gcm);
alg!(CHACHA20_POLY1305, "chacha20-poly1305", "ChaCha20-Poly1305", Aead, Symmetric,
    oid: Some("1.2.840.113549.1.9.16.3.18"), params: None, hpke: Some(0x0003), tls: None,
    level: Some(5), cnsa2: NotApproved, sizes: sym_sizes(Some(32), 16),
    std: "RFC 8439", status: Standard, alg_id: ChaCha20Poly1305);
alg!(HKDF_SHA256, "hkdf-sha256", "HKDF-SHA256", Kdf, Symmetric,
    oid: Some("1.2.840.113549.1.9.16.3.28"), params: None, hpke: Some(0x0001), tls: None,
    level: Some(2), cnsa2: NotApproved, sizes: sym_sizes(None, 32),
    std: "RFC 5869", status: Standard, alg_id: HkdfSha256);
alg!(HKDF_SHA384, "hkdf-sha384", "HKDF-SHA384", Kdf, Symmetric,
    oid: Some("1.2.840.113549.1.9.16.3.29"), params: None, hpke: Some(0x0002), tls: None,
    level: Some(4), cnsa2: Approved, sizes: sym_sizes(None, 48),
    std: "RFC 5869", status: Standard, alg_id: HkdfSha384);
alg!(HKDF_SHA512, "hkdf-sha512", "HKDF-SHA512", Kdf, Symmetric,
    oid: Some("1.2.840.113549.1.9.16.3.30"), params: None, hpke: Some(0x0003), tls: None,
    level: Some(5), cnsa2: Approved, sizes: sym_sizes(None, 64),
    std: "RFC 5869", status: Standard, alg_id: HkdfSha512);
alg!(SHA256, "sha-256", "SHA-256", Hash, Symmetric,
    oid: Some("2.16.840.1.101.3.4.2.1"), params: None, hpke: None, tls: None,
    level: Some(2), cnsa2: NotApproved, sizes: sym_sizes(None, 32),
    std: "FIPS 180-4", status: Standard, alg_id: Sha256);
alg!(SHA384, "sha-384", "SHA-384", Hash, Symmetric,
    oid: Some("2.16.840.1.101.3.4.2.2"), params: None, hpke: None, tls: None,
    level: Some(4), cnsa2: Approved, sizes: sym_sizes(None, 48),
    std: "FIPS 180-4", status: Standard, alg_id: Sha384);
alg!(SHA512, "sha-512", "SHA-512", Hash, Symmetric,
    oid: Some("2.16.840.1.101.3.4.2.3"), params: None, hpke: None, tls: None,
    level: Some(5), cnsa2: Approved, sizes: sym_sizes(None, 64),
    std: "FIPS 180-4", status: Standard, alg_id: Sha512);
alg!(BLAKE3, "blake3", "BLAKE3", Hash, Symmetric,
    oid: None, params: None, hpke: None, tls: None,
    level: Some(2), cnsa2: NotApproved, sizes: sym_sizes(None, 32),
    std: "BLAKE3 specification (2020)", status: Standard, alg_id: Blake3);

/// Every algorithm this build knows, in display order.
pub static ALL: &[&Algorithm] = &[
    &ML_KEM_512,
    &ML_KEM_768,
    &ML_KEM_1024,
    &X25519,
    &P256,
    &P384,
    &X_WING,
    &MLKEM768_P256,
    &MLKEM1024_P384,
    &X25519_MLKEM768,
    &X25519_MLKEM1024_HKDF_SHA384,
    &MCELIECE_348864,
    &ML_DSA_44,
    &ML_DSA_65,
    &ML_DSA_87,
    &ED25519,
    &ECDSA_P256_SHA256,
    &ECDSA_P384_SHA384,
    &RSA_PSS_2048_SHA256,
    &MLDSA44_ED25519_SHA512,
    &MLDSA65_ED25519_SHA512,
    &MLDSA65_ECDSA_P256_SHA512,
    &MLDSA87_ECDSA_P384_SHA512,
    &SLH_DSA_SHA2_128S,
    &SLH_DSA_SHA2_128F,
    &SLH_DSA_SHA2_256S,
    &FN_DSA_512,
    &FN_DSA_1024,
    &AES_256_GCM,
    &CHACHA20_POLY1305,
    &HKDF_SHA256,
    &HKDF_SHA384,
    &HKDF_SHA512,
    &SHA256,
    &SHA384,
    &SHA512,
    &BLAKE3,
];

/// How many KEM and signature algorithms this build can run (the optional features add some).
pub fn available_key_algorithms() -> (usize, usize) {
    let count = |k: Kind| {
        ALL.iter()
            .filter(|a| a.kind == k && a.is_available())
            .count()
    };
    (count(Kind::Kem), count(Kind::Signature))
}

/// Looks an algorithm up by its stable id (case-insensitive).
pub fn by_id(id: &str) -> Option<&'static Algorithm> {
    ALL.iter().copied().find(|a| a.id.eq_ignore_ascii_case(id))
}

/// Looks a public-key algorithm up by its key OID (dotted form) and, for EC keys, curve OID.
pub fn by_oid(oid: &str, params: Option<&str>, kind: Kind) -> Option<&'static Algorithm> {
    ALL.iter().copied().find(|a| {
        a.kind == kind
            && a.oid == Some(oid)
            && (a.oid != ID_EC_PUBLIC_KEY || a.oid_params == params)
    })
}

/// A named set of algorithms chosen together.
#[derive(Debug, Serialize)]
pub struct Suite {
    /// Stable name (`default`, `cnsa2`).
    pub id: &'static str,
    /// KEM for recipients and key exchange.
    pub kem: &'static Algorithm,
    /// Signature algorithm.
    pub signature: &'static Algorithm,
    /// Bulk AEAD.
    pub aead: &'static Algorithm,
    /// Hash for digests and manifests.
    pub hash: &'static Algorithm,
}

/// Fast and compact: X-Wing, ML-DSA-65 + Ed25519, AES-256-GCM, SHA-256.
pub static SUITE_DEFAULT: Suite = Suite {
    id: "default",
    kem: &X_WING,
    signature: &MLDSA65_ED25519_SHA512,
    aead: &AES_256_GCM,
    hash: &SHA256,
};

/// CNSA 2.0 levels: ML-KEM-1024 + P-384, ML-DSA-87 + ECDSA P-384, AES-256-GCM, SHA-384.
pub static SUITE_CNSA2: Suite = Suite {
    id: "cnsa2",
    kem: &MLKEM1024_P384,
    signature: &MLDSA87_ECDSA_P384_SHA512,
    aead: &AES_256_GCM,
    hash: &SHA384,
};

/// The named suites.
pub static SUITES: &[&Suite] = &[&SUITE_DEFAULT, &SUITE_CNSA2];

/// Looks a suite up by name.
pub fn suite(id: &str) -> Option<&'static Suite> {
    SUITES
        .iter()
        .copied()
        .find(|s| s.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_lowercase_and_resolvable() {
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(a.id, a.id.to_ascii_lowercase());
            assert!(
                ALL.iter().skip(i + 1).all(|b| b.id != a.id),
                "duplicate {}",
                a.id
            );
            assert_eq!(by_id(a.id).map(|b| b.id), Some(a.id));
        }
        assert!(by_id("kyber1024").is_none());
    }

    #[test]
    fn draft_algorithms_name_their_draft_version() {
        for a in ALL.iter().filter(|a| a.status == Status::Draft) {
            assert!(
                a.standard.chars().any(|c| c.is_ascii_digit()),
                "{} must carry a version: {}",
                a.id,
                a.standard
            );
        }
        assert_eq!(X_WING.standard, drafts::XWING);
        assert_eq!(MLKEM1024_P384.standard, drafts::COMPOSITE_KEM);
        assert_eq!(MLDSA87_ECDSA_P384_SHA512.standard, drafts::COMPOSITE_SIGS);
        assert_eq!(X25519_MLKEM768.standard, drafts::TLS_ECDHE_MLKEM);
    }

    #[test]
    fn optional_features_add_exactly_their_algorithms() {
        let slh = if cfg!(feature = "slh") { 3 } else { 0 };
        let experimental = if cfg!(feature = "experimental") { 2 } else { 0 };
        let mceliece = if cfg!(feature = "mceliece") { 1 } else { 0 };
        assert_eq!(
            available_key_algorithms(),
            (11 + mceliece, 11 + slh + experimental)
        );
    }

    #[test]
    fn oid_lookup_distinguishes_curves() {
        let p384 = by_oid("1.2.840.10045.2.1", Some("1.3.132.0.34"), Kind::Kem);
        assert_eq!(p384.map(|a| a.id), Some("p384"));
        let p256 = by_oid(
            "1.2.840.10045.2.1",
            Some("1.2.840.10045.3.1.7"),
            Kind::Signature,
        );
        assert_eq!(p256.map(|a| a.id), Some("ecdsa-p256-sha256"));
    }

    #[test]
    fn suites_match_the_design() {
        let cnsa = suite("cnsa2").map(|s| (s.kem.id, s.signature.id, s.hash.id));
        assert_eq!(
            cnsa,
            Some(("mlkem1024-p384", "mldsa87-ecdsa-p384-sha512", "sha-384"))
        );
        assert_eq!(SUITE_DEFAULT.kem.id, "x-wing");
    }
}
