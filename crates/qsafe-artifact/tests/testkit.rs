//! Every testkit case through the library: the expected error, never a panic, and no
//! plaintext released from a failing stream beyond authenticated chunks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Cursor, Read};

use qsafe_artifact::container::Header;
use qsafe_artifact::testkit::{Kit, decapsulation_key};
use qsafe_core::keys::PrivateKey;

fn open(kit: &Kit, case: &qsafe_artifact::testkit::Case) -> Result<Vec<u8>, String> {
    let dk = decapsulation_key(kit.open_key(case.key)).unwrap();
    let vk = case.verify_with.map(|v| match kit.verify_key(v) {
        PrivateKey::Sig(sk) => sk.verifying_key().unwrap(),
        PrivateKey::Kem(_) => panic!("signer is a KEM key"),
    });
    let mut r = Cursor::new(&case.bytes[..]);
    let header = Header::read(&mut r).map_err(|e| e.to_string())?;
    let key = header.unlock(dk).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    header
        .open_stream(&key, r, vk.as_ref())
        .map_err(|e| e.to_string())?
        .read_to_end(&mut out)
        .map_err(|e| qsafe_artifact::unwrap_io(e).to_string())?;
    Ok(out)
}

#[test]
fn every_case_gives_its_expected_outcome() {
    let kit = Kit::generate().unwrap();
    assert!(kit.cases.len() >= 150, "only {} cases", kit.cases.len());
    let mut names = std::collections::HashSet::new();
    let mut wrong = Vec::new();
    for case in &kit.cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case {}",
            case.name
        );
        let got =
            std::panic::catch_unwind(|| open(&kit, case)).unwrap_or_else(|_| Err("PANIC".into()));
        let ok = match (&got, case.exit) {
            (Ok(out), 0) => {
                let want: &[u8] = if case.empty_plaintext {
                    &[]
                } else {
                    &kit.plaintext
                };
                out == want
            }
            (Err(msg), e) if e != 0 => msg.contains(case.message),
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name,
                case.message,
                got.map(|v| v.len())
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        kit.cases.len(),
        wrong.join("\n")
    );
}
