//! `qsafe algs`: the registry as a table or JSON.

use qsafe_core::registry::{self, Algorithm, Kind};
use serde_json::json;

use super::Out;
use crate::cli::{AlgsArgs, KindArg};
use crate::failure::Outcome;
use crate::io::{emit, print_json};
use std::fmt::Write as _;

fn wanted(kind: Option<KindArg>, alg: &Algorithm) -> bool {
    let k = match kind {
        None => return true,
        Some(KindArg::Kem) => Kind::Kem,
        Some(KindArg::Signature) => Kind::Signature,
        Some(KindArg::Aead) => Kind::Aead,
        Some(KindArg::Kdf) => Kind::Kdf,
        Some(KindArg::Hash) => Kind::Hash,
    };
    alg.kind == k
}

/// A note for algorithms this build cannot run.
fn availability(a: &Algorithm) -> String {
    match a.feature {
        Some(f) if !a.is_available() => format!("  [not in this build: cargo feature `{f}`]"),
        _ => String::new(),
    }
}

fn size(v: Option<usize>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
}

pub fn run(out: Out, args: AlgsArgs) -> Outcome {
    let algs: Vec<&Algorithm> = registry::ALL
        .iter()
        .copied()
        .filter(|a| wanted(args.kind, a))
        .collect();
    if out.json {
        return print_json(&json!({
            "schema_version": 1,
            "algorithms": algs.iter().map(|a| {
                let mut v = serde_json::to_value(a).unwrap_or_default();
                if let Some(m) = v.as_object_mut() {
                    m.insert("available".into(), a.is_available().into());
                }
                v
            }).collect::<Vec<_>>(),
            "suites": registry::SUITES,
        }));
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<30} {:<9} {:<13} {:>5} {:<15} {:>6} {:>6} {:>6} {:>5}  STANDARD",
        "ID", "KIND", "FAMILY", "LEVEL", "CNSA2", "PK", "SK", "CT/SIG", "SS"
    );
    for a in &algs {
        let kind = serde_json::to_value(a.kind)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let family = serde_json::to_value(a.family)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let cnsa = serde_json::to_value(a.cnsa2)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let ct_sig = a.sizes.ciphertext.or(a.sizes.signature);
        let _ = writeln!(
            t,
            "{:<30} {:<9} {:<13} {:>5} {:<15} {:>6} {:>6} {:>6} {:>5}  {}{}",
            a.id,
            kind,
            family,
            a.nist_level
                .map(|l| l.to_string())
                .unwrap_or_else(|| "-".into()),
            cnsa,
            size(a.sizes.public_key),
            size(a.sizes.private_key),
            size(ct_sig),
            size(a.sizes.shared_secret),
            a.standard,
            availability(a)
        );
    }
    t.push('\n');
    for s in registry::SUITES {
        let _ = writeln!(
            t,
            "suite {:<8} kem={} signature={} aead={} hash={}",
            s.id, s.kem.id, s.signature.id, s.aead.id, s.hash.id
        );
    }
    emit(&t)
}
