//! The hash-chained audit log.
//!
//! Every operation appends one JSON line (JSON Lines, one object per `\n`-terminated line):
//!
//! ```json
//! {"seq":3,"time":"2025-01-31T12:00:00Z","op":"rotate","key":"gw","version":2,"actor":"ana",
//!  "outcome":"ok","state":"sha256:…","prev":"<hash of line 2>","hash":"<hex SHA-256>"}
//! ```
//!
//! (one line in the file). `seq` counts from 1 and equals the line number. `outcome` is `ok`
//! or `denied:<code>` ([`crate::Error::denial_code`]). `detail` (optional) says what changed,
//! e.g. a policy value. `state` (present when the operation wrote a key record) is the
//! `sha256:` of the record's stored bytes, which lets crash recovery decide whether the record
//! was written and lets a reviewer match records to the log. `prev` is the previous line's
//! `hash` (64 zeros for line 1) and
//! `hash = hex(SHA-256(prev ‖ canonical JSON of the line without "hash"))`, where the
//! canonical JSON is serde's output for [`AuditLine`]: fields in the order shown, absent
//! optional fields omitted, no whitespace. A line must be byte-for-byte canonical.
//!
//! The store metadata records the *head*: `seq`, `hash` and byte length of the last committed
//! line. [`verify`] walks the chain and reports the first bad line by number: an edited line
//! fails its hash; a removed, inserted or reordered line breaks `seq` or `prev`; lines removed
//! from the end fall short of the head. The chain has no secret key: someone who can rewrite
//! the log *and* the metadata can forge a consistent history, so the head should also be
//! anchored outside the store (an open item).
//!
//! A crash can leave one complete line after the head (written ahead of its change, see the
//! directory backend) and a torn partial line; [`verify`] accepts those and reports them as
//! pending, and the next write resolves them.

use qsafe_core::symmetric::Hash;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `prev` of the first line.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The logged operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Store created.
    Init,
    /// Key created (version 1).
    Create,
    /// New version added.
    Rotate,
    /// Policy changed.
    SetPolicy,
    /// Version retired.
    Retire,
    /// Version's private material destroyed.
    Destroy,
    /// Public key exported.
    ExportPublic,
    /// Private key exported (the line is durable before the key is returned).
    ExportPrivate,
    /// A version exported still wrapped under the store's KEK (a Kubernetes Secret bundle).
    ExportWrapped,
    /// A refused attempt to load a decapsulation key.
    UseDecrypt,
    /// A refused attempt to load a signing key.
    UseSign,
    /// A refused attempt to load a verifying key.
    UseVerify,
}

/// What an operation asks to be logged; the backend adds `seq`, `time`, `state` and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Operation.
    pub op: Op,
    /// Key name, if the operation concerns one.
    pub key: Option<String>,
    /// Version, if the operation concerns one.
    pub version: Option<u32>,
    /// Who (from `$USER`, or set by the caller).
    pub actor: String,
    /// `ok` or `denied:<code>`.
    pub outcome: String,
    /// What changed, e.g. `min_decryption_version 1 -> 3`.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// A successful operation.
    pub fn ok(op: Op, key: Option<&str>, version: Option<u32>, actor: &str) -> Self {
        AuditEntry {
            op,
            key: key.map(str::to_owned),
            version,
            actor: actor.to_owned(),
            outcome: "ok".into(),
            detail: None,
        }
    }

    /// A refused operation.
    pub fn denied(
        op: Op,
        key: Option<&str>,
        version: Option<u32>,
        actor: &str,
        code: &str,
    ) -> Self {
        AuditEntry {
            outcome: format!("denied:{code}"),
            ..Self::ok(op, key, version, actor)
        }
    }

    /// Adds a detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLine {
    /// 1, 2, … (the line number).
    pub seq: u64,
    /// RFC 3339 UTC.
    pub time: String,
    /// Operation.
    pub op: Op,
    /// Key name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Who.
    pub actor: String,
    /// `ok` or `denied:<code>`.
    pub outcome: String,
    /// What changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `sha256:` of the key record this operation wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Previous line's hash.
    pub prev: String,
    /// This line's hash (empty while computing it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

impl AuditLine {
    /// The hash this line must carry.
    pub fn compute_hash(&self) -> Result<String> {
        let body = AuditLine {
            hash: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&body)
            .map_err(|e| Error::corrupt("audit line", format!("cannot serialise: {e}")))?;
        let mut input = Vec::with_capacity(self.prev.len() + json.len());
        input.extend_from_slice(self.prev.as_bytes());
        input.extend_from_slice(&json);
        Ok(hex::encode(Hash::Sha256.digest(&input)))
    }

    /// The canonical line, `\n`-terminated.
    pub fn to_text(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec(self)
            .map_err(|e| Error::corrupt("audit line", format!("cannot serialise: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}

/// The last committed line, as recorded in the store metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHead {
    /// `seq` of the last committed line (0: empty log).
    pub seq: u64,
    /// Its hash ([`ZERO_HASH`] for an empty log).
    pub hash: String,
    /// Length in bytes of the committed log, newlines included.
    pub bytes: u64,
}

impl AuditHead {
    /// The head of an empty log.
    pub fn genesis() -> Self {
        AuditHead {
            seq: 0,
            hash: ZERO_HASH.into(),
            bytes: 0,
        }
    }

    /// The head after appending `line` (whose text is `len` bytes).
    pub fn after(&self, line: &AuditLine, len: usize) -> Self {
        AuditHead {
            seq: line.seq,
            hash: line.hash.clone(),
            bytes: self.bytes + len as u64,
        }
    }
}

/// Makes the line that follows `head` for `entry`; returns it with its text.
pub fn seal(
    head: &AuditHead,
    entry: AuditEntry,
    state: Option<String>,
    now_unix: u64,
) -> Result<(AuditLine, Vec<u8>)> {
    let mut line = AuditLine {
        seq: head.seq + 1,
        time: crate::model::rfc3339(now_unix),
        op: entry.op,
        key: entry.key,
        version: entry.version,
        actor: entry.actor,
        outcome: entry.outcome,
        detail: entry.detail,
        state,
        prev: head.hash.clone(),
        hash: String::new(),
    };
    line.hash = line.compute_hash()?;
    let text = line.to_text()?;
    Ok((line, text))
}

/// Why a log does not verify. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditProblem {
    /// Not a JSON audit line.
    #[error("line {line} is malformed: {reason}")]
    Malformed {
        /// Line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The line's hash does not match its contents.
    #[error("line {line} was edited: its hash does not match its contents")]
    Edited {
        /// Line number.
        line: u64,
    },
    /// `seq` is not the line number.
    #[error(
        "line {line} has seq {found}, expected {line}: lines were removed, inserted or reordered"
    )]
    Sequence {
        /// Line number.
        line: u64,
        /// The seq found.
        found: u64,
    },
    /// `prev` is not the previous line's hash.
    #[error(
        "line {line} does not chain to the line before it: a line was removed, inserted or reordered"
    )]
    BrokenChain {
        /// Line number.
        line: u64,
    },
    /// Fewer lines than the head records.
    #[error(
        "the log has {lines} lines but the store records {head_seq}: lines were removed from the end"
    )]
    Truncated {
        /// Complete lines found.
        lines: u64,
        /// The head's seq.
        head_seq: u64,
    },
    /// The head line's hash differs from the recorded head.
    #[error(
        "line {line} is not the head the store recorded: the log or the store metadata was replaced"
    )]
    HeadMismatch {
        /// Line number.
        line: u64,
    },
    /// The committed part has another length than recorded.
    #[error(
        "the committed log is {found} bytes but the store records {expected}: the log was changed"
    )]
    Length {
        /// Bytes found.
        found: u64,
        /// Bytes recorded.
        expected: u64,
    },
    /// More than one line after the head (a crash leaves at most one).
    #[error(
        "{count} lines after the committed head (line {line} on): a crash leaves at most one; lines were appended by hand"
    )]
    Uncommitted {
        /// First line after the head.
        line: u64,
        /// How many.
        count: u64,
    },
}

/// A complete line after the head, left by an interrupted operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLine {
    /// Its seq (head + 1).
    pub seq: u64,
    /// Its operation.
    pub op: Op,
    /// Its key.
    pub key: Option<String>,
    /// True when its change is in the store (the next write commits the line); false when the
    /// change never happened (the next write drops the line).
    pub applied: bool,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Complete lines in the log (the pending line included).
    pub lines: u64,
    /// The committed head's seq.
    pub head_seq: u64,
    /// A line after the head left by a crash.
    pub pending: Option<PendingLine>,
    /// Bytes of a torn last line left by a crash (dropped by the next write).
    pub torn_bytes: u64,
}

impl AuditReport {
    /// True when nothing is pending.
    pub fn is_clean(&self) -> bool {
        self.pending.is_none() && self.torn_bytes == 0
    }
}

/// Parses one line (without its `\n`) and checks that it is canonical and its hash is right.
pub fn parse_line(text: &[u8], line: u64) -> Result<AuditLine, AuditProblem> {
    let parsed: AuditLine = serde_json::from_slice(text).map_err(|e| AuditProblem::Malformed {
        line,
        reason: e.to_string(),
    })?;
    let canonical = parsed.to_text().map_err(|e| AuditProblem::Malformed {
        line,
        reason: e.to_string(),
    })?;
    if canonical.strip_suffix(b"\n") != Some(text) {
        return Err(AuditProblem::Edited { line });
    }
    match parsed.compute_hash() {
        Ok(h) if h == parsed.hash => Ok(parsed),
        _ => Err(AuditProblem::Edited { line }),
    }
}

/// Checks a line that should follow `head` directly.
pub fn check_next(text: &[u8], head: &AuditHead) -> Result<AuditLine, AuditProblem> {
    let line_no = head.seq + 1;
    let line = parse_line(text, line_no)?;
    if line.seq != line_no {
        return Err(AuditProblem::Sequence {
            line: line_no,
            found: line.seq,
        });
    }
    if line.prev != head.hash {
        return Err(AuditProblem::BrokenChain { line: line_no });
    }
    Ok(line)
}

/// Splits a log into complete lines (without `\n`) and the torn tail.
pub fn split_lines(log: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut lines: Vec<&[u8]> = log.split(|&b| b == b'\n').collect();
    let torn = lines.pop().unwrap_or_default();
    (lines, torn)
}

/// Verifies a whole log against the recorded head. `key_state` returns the `sha256:` of a
/// key's stored record (`None` if absent), to classify a pending line. `file` names the log in
/// errors.
pub fn verify(
    log: &[u8],
    head: &AuditHead,
    file: &str,
    key_state: &mut dyn FnMut(&str) -> Result<Option<String>>,
) -> Result<AuditReport> {
    let problem = |problem| Error::Audit {
        file: file.to_owned(),
        problem,
    };
    let (lines, torn) = split_lines(log);
    let mut prev = AuditHead::genesis();
    let mut pending = None;
    for (i, text) in lines.iter().enumerate() {
        let line_no = i as u64 + 1;
        let line = parse_line(text, line_no).map_err(problem)?;
        if line.seq != line_no {
            return Err(problem(AuditProblem::Sequence {
                line: line_no,
                found: line.seq,
            }));
        }
        if line.prev != prev.hash {
            return Err(problem(AuditProblem::BrokenChain { line: line_no }));
        }
        if line_no == head.seq {
            if line.hash != head.hash {
                return Err(problem(AuditProblem::HeadMismatch { line: line_no }));
            }
            let committed = prev.bytes + text.len() as u64 + 1;
            if committed != head.bytes {
                return Err(problem(AuditProblem::Length {
                    found: committed,
                    expected: head.bytes,
                }));
            }
        }
        if line_no > head.seq + 1 {
            return Err(problem(AuditProblem::Uncommitted {
                line: head.seq + 1,
                count: lines.len() as u64 - head.seq,
            }));
        }
        if line_no == head.seq + 1 {
            let applied = match (&line.state, &line.key) {
                (None, _) => true,
                (Some(state), Some(key)) => key_state(key)?.as_deref() == Some(state.as_str()),
                (Some(_), None) => false,
            };
            pending = Some(PendingLine {
                seq: line.seq,
                op: line.op,
                key: line.key.clone(),
                applied,
            });
        }
        prev = prev.after(&line, text.len() + 1);
    }
    let count = lines.len() as u64;
    if count < head.seq {
        return Err(problem(AuditProblem::Truncated {
            lines: count,
            head_seq: head.seq,
        }));
    }
    if head.seq == 0 && head.bytes != 0 {
        return Err(problem(AuditProblem::Length {
            found: 0,
            expected: head.bytes,
        }));
    }
    Ok(AuditReport {
        lines: count,
        head_seq: head.seq,
        pending,
        torn_bytes: torn.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    fn log(n: u64) -> (Vec<u8>, AuditHead) {
        let mut head = AuditHead::genesis();
        let mut out = Vec::new();
        for i in 0..n {
            let entry = AuditEntry::ok(Op::Rotate, Some("k"), Some(i as u32 + 2), "tester");
            let (line, text) = seal(&head, entry, None, 1_700_000_000 + i).unwrap();
            head = head.after(&line, text.len());
            out.extend_from_slice(&text);
        }
        (out, head)
    }

    fn check(log: &[u8], head: &AuditHead) -> Result<AuditReport> {
        verify(log, head, "audit.jsonl", &mut |_| Ok(None))
    }

    fn problem(r: Result<AuditReport>) -> AuditProblem {
        match r {
            Err(Error::Audit { problem, .. }) => problem,
            other => panic!("expected an audit problem, got {other:?}"),
        }
    }

    #[test]
    fn clean_log_verifies() {
        let (text, head) = log(5);
        let report = check(&text, &head).unwrap();
        assert_eq!(report.lines, 5);
        assert!(report.is_clean());
        assert_eq!(head.bytes, text.len() as u64);
        let first = std::str::from_utf8(&text).unwrap().lines().next().unwrap();
        assert!(first.starts_with(r#"{"seq":1,"time":"2023-11-14T22:13:20Z","op":"rotate","key":"k","version":2,"actor":"tester","outcome":"ok","prev":"000"#), "{first}");
        assert_eq!(check(b"", &AuditHead::genesis()).unwrap().lines, 0);
    }

    #[test]
    fn whitespace_edit_is_an_edit() {
        let (text, head) = log(3);
        let s = String::from_utf8(text)
            .unwrap()
            .replacen("\"seq\":2,", "\"seq\": 2,", 1);
        assert_eq!(
            problem(check(s.as_bytes(), &head)),
            AuditProblem::Edited { line: 2 }
        );
    }

    #[test]
    fn pending_and_torn() {
        let (mut text, head) = log(3);
        let (line, extra) =
            seal(&head, AuditEntry::ok(Op::Init, None, None, "t"), None, 0).unwrap();
        text.extend_from_slice(&extra);
        text.extend_from_slice(b"{\"seq\":5,\"ti");
        let r = check(&text, &head).unwrap();
        assert_eq!(
            r.pending.as_ref().map(|p| (p.seq, p.applied)),
            Some((4, true))
        );
        assert_eq!(r.torn_bytes, 12);
        // A second extra line is not a crash artefact.
        let (_, extra2) = seal(
            &head.after(&line, extra.len()),
            AuditEntry::ok(Op::Init, None, None, "t"),
            None,
            0,
        )
        .unwrap();
        let mut two = log(3).0;
        two.extend_from_slice(&extra);
        two.extend_from_slice(&extra2);
        assert_eq!(
            problem(check(&two, &head)),
            AuditProblem::Uncommitted { line: 4, count: 2 }
        );
    }
}
