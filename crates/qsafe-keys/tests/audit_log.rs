//! The audit log: tampering is detected with the line number; what a crash leaves is accepted
//! and resolved by the next write.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::path::{Path, PathBuf};

use qsafe_keys::audit::{self, AuditEntry, AuditHead, AuditProblem, Op};
use qsafe_keys::{DirBackend, Error};
use support::{audit_problem, new_store, open, snapshot};

/// A store with 6 lines: init, create, rotate, rotate, set-policy, export-public.
fn store_with_history(dir: &Path) -> PathBuf {
    let (store, root) = new_store(dir);
    store.create("k", "x-wing").unwrap();
    store.rotate("k").unwrap();
    store.rotate("k").unwrap();
    store.set_policy("k", Some(2), None).unwrap();
    store.export_public("k", None).unwrap();
    let report = store.verify_audit().unwrap();
    assert_eq!((report.lines, report.head_seq), (6, 6));
    assert!(report.is_clean());
    root
}

fn lines(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(root: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(root.join("audit.jsonl"), text).unwrap();
}

fn verify(root: &Path) -> Result<audit::AuditReport, Error> {
    qsafe_keys::verify_audit(&DirBackend::new(root))
}

#[test]
fn every_line_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_history(dir.path());
    let all = support::audit_lines(&root);
    let ops: Vec<_> = all.iter().map(|l| l["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "init",
            "create",
            "rotate",
            "rotate",
            "set-policy",
            "export-public"
        ]
    );
    for (i, l) in all.iter().enumerate() {
        assert_eq!(l["seq"], i as u64 + 1);
        assert!(l["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(l["outcome"], "ok");
        assert_eq!(l["hash"].as_str().unwrap().len(), 64);
        if i == 0 {
            assert_eq!(l["prev"], audit::ZERO_HASH);
        } else {
            assert_eq!(l["prev"], all[i - 1]["hash"]);
        }
    }
    assert_eq!(all[2]["version"], 2);
    // Lines that wrote a key record carry the record's hash; the last one matches the file.
    let record = std::fs::read(root.join("keys/k.json")).unwrap();
    assert_eq!(all[4]["state"], qsafe_keys::model::state_hash(&record));
    assert!(all[5].get("state").is_none());
}

#[test]
fn tampering_is_detected_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_history(dir.path());
    let good = lines(&root);
    let cases: Vec<(&str, Vec<String>, AuditProblem)> = vec![
        (
            "edited actor",
            {
                let mut l = good.clone();
                l[2] = l[2].replace("\"actor\":\"tester\"", "\"actor\":\"mallory\"");
                l
            },
            AuditProblem::Edited { line: 3 },
        ),
        (
            "edited outcome of the last line",
            {
                let mut l = good.clone();
                l[5] = l[5].replace("\"outcome\":\"ok\"", "\"outcome\":\"denied:x\"");
                l
            },
            AuditProblem::Edited { line: 6 },
        ),
        (
            "removed",
            {
                let mut l = good.clone();
                l.remove(2);
                l
            },
            AuditProblem::Sequence { line: 3, found: 4 },
        ),
        (
            "reordered",
            {
                let mut l = good.clone();
                l.swap(2, 3);
                l
            },
            AuditProblem::Sequence { line: 3, found: 4 },
        ),
        (
            "inserted copy",
            {
                let mut l = good.clone();
                l.insert(3, good[1].clone());
                l
            },
            AuditProblem::Sequence { line: 4, found: 2 },
        ),
        (
            "truncated",
            good[..4].to_vec(),
            AuditProblem::Truncated {
                lines: 4,
                head_seq: 6,
            },
        ),
        (
            "emptied",
            Vec::new(),
            AuditProblem::Malformed {
                line: 1,
                reason: "EOF while parsing a value at line 1 column 0".into(),
            },
        ),
    ];
    for (case, tampered, expected) in cases {
        write_lines(&root, &tampered);
        let problem = audit_problem(verify(&root));
        assert_eq!(problem, expected, "{case}");
        let msg = Error::Audit {
            file: "audit.jsonl".into(),
            problem,
        }
        .to_string();
        assert!(msg.contains("line"), "{case}: {msg}");
    }

    // A forger who recomputes the edited line's hash breaks the next line's chain.
    let mut forged: audit::AuditLine = serde_json::from_str(&good[2]).unwrap();
    forged.actor = "mallory".into();
    forged.hash = forged.compute_hash().unwrap();
    let mut l = good.clone();
    l[2] = String::from_utf8(forged.to_text().unwrap())
        .unwrap()
        .trim_end()
        .to_owned();
    write_lines(&root, &l);
    assert_eq!(
        audit_problem(verify(&root)),
        AuditProblem::BrokenChain { line: 4 }
    );
    // ... and one who rewrites the rest of the chain still misses the head in store.json.
    let mut head = AuditHead::genesis();
    let mut rewritten = Vec::new();
    for text in &l {
        let mut line: audit::AuditLine = serde_json::from_str(text).unwrap();
        line.prev = head.hash.clone();
        line.hash = line.compute_hash().unwrap();
        let t = line.to_text().unwrap();
        head = head.after(&line, t.len());
        rewritten.push(String::from_utf8(t).unwrap().trim_end().to_owned());
    }
    write_lines(&root, &rewritten);
    assert_eq!(
        audit_problem(verify(&root)),
        AuditProblem::HeadMismatch { line: 6 }
    );

    write_lines(&root, &good);
    assert!(verify(&root).unwrap().is_clean());
}

#[test]
fn a_truncated_log_stops_writers() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_history(dir.path());
    let good = lines(&root);
    write_lines(&root, &good[..5]);
    let before = snapshot(&root);
    let store = open(&root);
    let err = store.rotate("k").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Audit {
                problem: AuditProblem::Length { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(snapshot(&root), before);
    // Two extra lines are not what a crash leaves: writers refuse.
    write_lines(&root, &good);
    let mut extra = good.clone();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("store.json")).unwrap()).unwrap();
    let mut head: AuditHead = serde_json::from_value(meta["audit"].clone()).unwrap();
    for _ in 0..2 {
        let (line, text) = audit::seal(
            &head,
            AuditEntry::ok(Op::ExportPublic, Some("k"), None, "x"),
            None,
            0,
        )
        .unwrap();
        head = head.after(&line, text.len());
        extra.push(String::from_utf8(text).unwrap().trim_end().to_owned());
    }
    write_lines(&root, &extra);
    assert_eq!(
        audit_problem(verify(&root)),
        AuditProblem::Uncommitted { line: 7, count: 2 }
    );
    let before = snapshot(&root);
    assert!(matches!(
        store.rotate("k"),
        Err(Error::Audit {
            problem: AuditProblem::Uncommitted { .. },
            ..
        })
    ));
    assert_eq!(snapshot(&root), before);
}

/// Appends the line that follows the committed head, as an interrupted writer would.
fn append_pending(root: &Path, entry: AuditEntry, state: Option<String>) {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("store.json")).unwrap()).unwrap();
    let head: AuditHead = serde_json::from_value(meta["audit"].clone()).unwrap();
    let (_, text) = audit::seal(&head, entry, state, 0).unwrap();
    let mut log = std::fs::read(root.join("audit.jsonl")).unwrap();
    log.extend_from_slice(&text);
    std::fs::write(root.join("audit.jsonl"), log).unwrap();
}

#[test]
fn crash_leftovers_are_accepted_then_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let root = store_with_history(dir.path());
    let store = open(&root);

    // 1. Torn partial line: accepted, then dropped by the next write.
    let mut log = std::fs::read(root.join("audit.jsonl")).unwrap();
    log.extend_from_slice(b"{\"seq\":7,\"time\":\"20");
    std::fs::write(root.join("audit.jsonl"), &log).unwrap();
    let report = verify(&root).unwrap();
    assert_eq!((report.torn_bytes, report.pending.is_none()), (19, true));
    store.rotate("k").unwrap();
    let report = verify(&root).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.lines, 7);

    // 2. A line written ahead of a key change that never happened: not applied, dropped.
    append_pending(
        &root,
        AuditEntry::ok(Op::Rotate, Some("k"), Some(5), "tester"),
        Some(format!("sha256:{}", "0".repeat(64))),
    );
    let report = verify(&root).unwrap();
    let pending = report.pending.unwrap();
    assert_eq!((pending.seq, pending.applied), (8, false));
    store.rotate("k").unwrap();
    let report = verify(&root).unwrap();
    assert!(report.is_clean());
    assert_eq!(
        report.lines, 8,
        "the unapplied line was replaced by the real rotate"
    );
    assert_eq!(store.show("k").unwrap().latest(), 5);
    assert_eq!(support::count_lines(&root, "rotate", "k", "ok"), 4);

    // 3. Crash after the key record, before the head: applied, committed by the next write.
    let meta_before = std::fs::read(root.join("store.json")).unwrap();
    store.rotate("k").unwrap();
    std::fs::write(root.join("store.json"), &meta_before).unwrap();
    let report = verify(&root).unwrap();
    let pending = report.pending.unwrap();
    assert_eq!(
        (pending.seq, pending.applied, pending.op),
        (9, true, Op::Rotate)
    );
    assert_eq!(
        store.show("k").unwrap().latest(),
        6,
        "readers see the new key set"
    );
    store.export_public("k", None).unwrap();
    let report = verify(&root).unwrap();
    assert!(report.is_clean());
    assert_eq!(report.lines, 10);
    assert_eq!(support::count_lines(&root, "rotate", "k", "ok"), 5);

    // 4. A pending line that does not chain to the head is tampering: writers refuse.
    let mut log = std::fs::read(root.join("audit.jsonl")).unwrap();
    let last = lines(&root).last().unwrap().clone();
    log.extend_from_slice(last.as_bytes());
    log.push(b'\n');
    std::fs::write(root.join("audit.jsonl"), &log).unwrap();
    let before = snapshot(&root);
    let err = store.rotate("k").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Audit {
                problem: AuditProblem::Sequence {
                    line: 11,
                    found: 10
                },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(snapshot(&root), before);
}
