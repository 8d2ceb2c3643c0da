//! `qsafe model` against the real OpenSSF `model_signing` 1.1 (PyPI `model-signing`), offline
//! in key mode, in both directions:
//!
//! - qsafe ECDSA P-256/P-384 bundles pass `model_signing verify key`, and fail it after one
//!   byte of one weight file changes;
//! - composite keys with `--classical-compat`: the classical bundle passes
//!   `model_signing verify key` with the emitted PEM (and fails after tampering), while the
//!   hybrid bundle does not (model_signing knows no composite keys);
//! - `model_signing sign key` bundles (its own key, and a qsafe key file) pass
//!   `qsafe model verify`, which names the changed file after tampering;
//! - sharded manifests both ways through model_signing's Python API (its CLI hashes whole
//!   files only).
//!
//! Needs `QSAFE_INTEROP_PYTHON` (scripts/test.sh makes a venv with `model-signing>=1.1,<1.2`);
//! without it the test says so and skips. With it but without model_signing, it fails.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

struct Tools<'a> {
    python: &'a OsStr,
    dir: &'a Path,
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Tools<'_> {
    fn qsafe(&self, args: &[&str]) -> Output {
        Command::new(assert_cmd::cargo::cargo_bin("qsafe"))
            .current_dir(self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    fn qsafe_ok(&self, args: &[&str]) {
        let o = self.qsafe(args);
        assert!(o.status.success(), "qsafe {args:?}: {}", text(&o));
    }

    fn model_signing(&self, args: &[&str]) -> Output {
        Command::new(self.python)
            .current_dir(self.dir)
            .args(["-m", "model_signing"])
            .args(args)
            .output()
            .unwrap()
    }

    fn python(&self, script: &str) -> Output {
        Command::new(self.python)
            .current_dir(self.dir)
            .args(["-c", script])
            .output()
            .unwrap()
    }

    /// `model_signing verify key` of `model`; true when it accepts.
    fn ms_verifies(&self, public: &str, sig: &str) -> bool {
        let o = self.model_signing(&[
            "verify",
            "key",
            "model",
            "--public_key",
            public,
            "--signature",
            sig,
        ]);
        let ok = o.status.success();
        assert_eq!(
            ok,
            text(&o).contains("Verification succeeded"),
            "model_signing: {}",
            text(&o)
        );
        ok
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x01;
    fs::write(path, b).unwrap();
}

#[test]
fn model_signing_cli_interoperates_in_both_directions() {
    let Some(python) = std::env::var_os("QSAFE_INTEROP_PYTHON") else {
        eprintln!(
            "skipped model_signing interop: QSAFE_INTEROP_PYTHON is not set (scripts/test.sh sets it up)"
        );
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let t = Tools {
        python: &python,
        dir: d.path(),
    };
    let version = t.model_signing(&["--version"]);
    assert!(
        version.status.success(),
        "QSAFE_INTEROP_PYTHON={} cannot run model_signing; install it with \
         `pip install 'model-signing>=1.1,<1.2' pyOpenSSL` (scripts/test.sh does): {}",
        python.to_string_lossy(),
        text(&version)
    );
    let version = text(&version);
    assert!(version.contains("version 1.1."), "{version}");
    eprintln!("{}", version.trim());

    let m = d.path().join("model");
    fs::create_dir_all(m.join("layers")).unwrap();
    fs::create_dir_all(m.join(".git")).unwrap();
    let weights: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(m.join("layers/weights.safetensors"), &weights).unwrap();
    fs::write(m.join("layers/bias.bin"), vec![9u8; 4096]).unwrap();
    fs::write(m.join("config.json"), r#"{"arch": "toy"}"#).unwrap();
    fs::write(m.join(".hidden"), "dotfile").unwrap();
    fs::write(m.join("empty"), "").unwrap();
    fs::write(m.join(".git/HEAD"), "ref: refs/heads/main").unwrap();
    let weights_path = m.join("layers/weights.safetensors");
    let mut checks = 0;

    // 1. qsafe ECDSA bundles verify with model_signing; one flipped byte does not.
    for alg in ["ecdsa-p256-sha256", "ecdsa-p384-sha384"] {
        t.qsafe_ok(&["key", "gen", "--alg", alg, "-o", alg]);
        let sig = format!("{alg}.sig");
        t.qsafe_ok(&["model", "sign", "model", "--key", alg, "-o", &sig]);
        assert!(t.ms_verifies(&format!("{alg}.pub"), &sig), "{alg}");
        flip_byte(&weights_path, 1_234_567);
        assert!(
            !t.ms_verifies(&format!("{alg}.pub"), &sig),
            "{alg} tampered"
        );
        flip_byte(&weights_path, 1_234_567);
        checks += 2;
    }
    // The signature inside the model directory is left out, as model_signing does.
    t.qsafe_ok(&[
        "model",
        "sign",
        "model",
        "--key",
        "ecdsa-p256-sha256",
        "-o",
        "model/model.sig",
    ]);
    assert!(t.ms_verifies("ecdsa-p256-sha256.pub", "model/model.sig"));
    fs::remove_file(m.join("model.sig")).unwrap();
    checks += 1;

    // 2. Composite keys: the classical-compat bundle verifies with model_signing; the hybrid
    //    bundle verifies with qsafe only.
    for alg in ["mldsa87-ecdsa-p384-sha512", "mldsa65-ecdsa-p256-sha512"] {
        t.qsafe_ok(&["key", "gen", "--alg", alg, "-o", alg]);
        let sig = format!("{alg}.sig");
        t.qsafe_ok(&[
            "model",
            "sign",
            "model",
            "--key",
            alg,
            "-o",
            &sig,
            "--classical-compat",
        ]);
        let (csig, cpub) = (format!("{sig}.classical"), format!("{sig}.classical.pub"));
        assert!(t.ms_verifies(&cpub, &csig), "{alg} classical");
        assert!(
            !t.ms_verifies(&cpub, &sig),
            "{alg}: model_signing accepted the hybrid bundle"
        );
        t.qsafe_ok(&[
            "model",
            "verify",
            "model",
            "--key",
            &format!("{alg}.pub"),
            "--signature",
            &sig,
            "--require-pq",
        ]);
        flip_byte(&weights_path, 42);
        assert!(!t.ms_verifies(&cpub, &csig), "{alg} classical tampered");
        let o = t.qsafe(&[
            "model",
            "verify",
            "model",
            "--key",
            &format!("{alg}.pub"),
            "--signature",
            &sig,
        ]);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(
            text(&o).contains("changed: layers/weights.safetensors"),
            "{}",
            text(&o)
        );
        flip_byte(&weights_path, 42);
        checks += 4;
    }

    // 3. model_signing's own bundles verify with qsafe: a key made by pyca/cryptography, and
    //    a qsafe key file.
    let keygen = t.python(
        "from cryptography.hazmat.primitives.asymmetric import ec\n\
         from cryptography.hazmat.primitives import serialization as s\n\
         k = ec.generate_private_key(ec.SECP256R1())\n\
         open('py.pem', 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))\n\
         open('py.pub', 'wb').write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))\n",
    );
    assert!(keygen.status.success(), "{}", text(&keygen));
    for (private, public) in [
        ("py.pem", "py.pub"),
        ("ecdsa-p384-sha384", "ecdsa-p384-sha384.pub"),
    ] {
        let o = t.model_signing(&[
            "sign",
            "key",
            "model",
            "--private_key",
            private,
            "--signature",
            "ms.sig",
        ]);
        assert!(o.status.success(), "model_signing sign: {}", text(&o));
        let verify = [
            "model",
            "verify",
            "model",
            "--key",
            public,
            "--signature",
            "ms.sig",
        ];
        t.qsafe_ok(&verify);
        let o = t.qsafe(&[&verify[..], &["--require-pq"]].concat());
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        flip_byte(&m.join("config.json"), 3);
        let o = t.qsafe(&verify);
        assert_eq!(o.status.code(), Some(3), "{}", text(&o));
        assert!(text(&o).contains("changed: config.json"), "{}", text(&o));
        flip_byte(&m.join("config.json"), 3);
        fs::remove_file(d.path().join("ms.sig")).unwrap();
        checks += 3;
    }

    // 4. Sharded manifests through model_signing's Python API, both ways.
    t.qsafe_ok(&[
        "model",
        "sign",
        "model",
        "--key",
        "ecdsa-p256-sha256",
        "-o",
        "sh.sig",
        "--shard-size",
        "1000000",
    ]);
    let o = t.python(
        "import model_signing as ms\n\
         ms.verifying.Config().use_elliptic_key_verifier(public_key='ecdsa-p256-sha256.pub')\
         .verify('model', 'sh.sig')\n\
         ms.signing.Config().use_elliptic_key_signer(private_key='py.pem').set_hashing_config(\
         ms.hashing.Config().use_shard_serialization(shard_size=1000000)).sign('model', 'ms-sh.sig')\n",
    );
    assert!(o.status.success(), "model_signing API: {}", text(&o));
    t.qsafe_ok(&[
        "model",
        "verify",
        "model",
        "--key",
        "py.pub",
        "--signature",
        "ms-sh.sig",
    ]);
    checks += 2;

    assert_eq!(checks, 21);
}
