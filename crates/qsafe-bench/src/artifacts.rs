//! `qsafe bench artifacts`: sealing, opening and model signing on real files, timed as the
//! commands a user runs, next to the tools users compare qsafe with, in the same run:
//! OpenSSF `model_signing sign key` / `verify key` and age (`age -r` / `age -d`).
//!
//! Every tool runs as a process on the same files; sealed outputs go through stdout into a
//! file as `age -o` writes them (page cache, no fsync), and qsafe's durable `-o FILE` path
//! (fsync, then rename) is timed as its own row. Each opened file is compared byte for byte
//! with its source. Peak RSS comes from `/usr/bin/time` when it is installed.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

/// Where the tools are and how much to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `qsafe` binary under test.
    pub qsafe: PathBuf,
    /// OpenSSF `model_signing` CLI, if installed.
    pub model_signing: Option<PathBuf>,
    /// `age` and `age-keygen`, if installed.
    pub age: Option<(PathBuf, PathBuf)>,
    /// Scratch directory (emptied and removed by the caller).
    pub dir: PathBuf,
    /// Small data sets (64 MiB model, 200 files) and one repetition.
    pub quick: bool,
}

/// One timed operation.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Data set name.
    pub dataset: String,
    /// Operation (`seal`, `open`, `sign`, `verify`, `seal-durable`).
    pub op: &'static str,
    /// Tool and key (`qsafe x-wing`, `age X25519`, `model_signing ecdsa-p256`).
    pub tool: String,
    /// Payload bytes processed.
    pub bytes: u64,
    /// Median wall-clock seconds over the repetitions.
    pub seconds: f64,
    /// Throughput in GB/s (10^9 bytes).
    pub gb_per_s: f64,
    /// Peak resident set of the largest process, KiB.
    pub peak_rss_kib: Option<u64>,
}

/// A ratio of two rows (qsafe over the peer), with the issue's target where one is set.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// What is compared.
    pub what: String,
    /// qsafe seconds / peer seconds (below 1: qsafe is faster).
    pub time_ratio: f64,
    /// Target for `time_ratio`, if any.
    pub target: Option<f64>,
}

/// Sealed size against plaintext size.
#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    /// Data set.
    pub dataset: String,
    /// Plaintext bytes.
    pub plaintext: u64,
    /// Sealed bytes (qsafe).
    pub sealed: u64,
    /// Overhead in percent.
    pub percent: f64,
    /// The issue's budget: 0.2 % + 8 KiB per file, in bytes.
    pub budget_bytes: u64,
    /// age's sealed bytes, when measured.
    pub age_sealed: Option<u64>,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Timed operations.
    pub rows: Vec<Row>,
    /// qsafe against the peers.
    pub ratios: Vec<Ratio>,
    /// Size overheads (the seed claims +20–35 % for encrypted checkpoints).
    pub overhead: Vec<Overhead>,
    /// Every opened file matched its source byte for byte.
    pub roundtrip_ok: bool,
    /// Tools that were not found, so their rows are missing.
    pub missing: Vec<String>,
}

/// A benchmark failure, with the command that failed.
#[derive(Debug)]
pub struct BenchError(pub String);

impl core::fmt::Display for BenchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

type Res<T> = Result<T, BenchError>;

fn io_err(what: &str) -> impl Fn(std::io::Error) -> BenchError + '_ {
    move |e| BenchError(format!("{what}: {e}"))
}

struct Dataset {
    name: String,
    dir: PathBuf,
    bytes: u64,
    /// Single-stream form for seal/open: the model's files themselves, or one tar of the
    /// many-small-files set (how a directory is sealed with qsafe or age).
    streams: Vec<PathBuf>,
}

/// Fast deterministic incompressible bytes (xorshift64*): data generation must not dominate.
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
    }
}

/// A valid safetensors file: one F32 tensor filling `size` bytes.
fn write_safetensors(path: &Path, size: u64, seed: u64) -> Res<()> {
    let mut header = format!(
        r#"{{"weight":{{"dtype":"F32","shape":[{}],"data_offsets":[0,{size}]}}}}"#,
        size / 4
    )
    .into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut f = BufWriter::new(File::create(path).map_err(io_err("creating model file"))?);
    f.write_all(&(header.len() as u64).to_le_bytes())
        .and_then(|()| f.write_all(&header))
        .map_err(io_err("writing model file"))?;
    let mut state = seed | 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        let part = buf.get_mut(..n).unwrap_or_default();
        fill(part, &mut state);
        f.write_all(part).map_err(io_err("writing model file"))?;
        left -= n as u64;
    }
    f.flush().map_err(io_err("writing model file"))
}

fn datasets(cfg: &Config) -> Res<Vec<Dataset>> {
    let (tensor, many) = if cfg.quick {
        (16u64 << 20, 200usize)
    } else {
        (256u64 << 20, 2000usize)
    };
    let model = cfg.dir.join("model");
    fs::create_dir_all(&model).map_err(io_err("creating model dir"))?;
    let mut files = Vec::new();
    for i in 0..4u64 {
        let p = model.join(format!("model-{:05}-of-00004.safetensors", i + 1));
        write_safetensors(&p, tensor, 0x9e37_79b9_7f4a_7c15 ^ i)?;
        files.push(p);
    }
    let model_bytes = files
        .iter()
        .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let small = cfg.dir.join("files");
    fs::create_dir_all(&small).map_err(io_err("creating files dir"))?;
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..many {
        let p = small.join(format!("shard-{i:05}.bin"));
        fill(&mut buf, &mut state);
        fs::write(&p, &buf).map_err(io_err("writing small file"))?;
    }
    let tar = cfg.dir.join("files.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&small)
        .arg(".")
        .status()
        .map_err(io_err("running tar"))?;
    if !status.success() {
        return Err(BenchError("tar failed".into()));
    }
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    Ok(vec![
        Dataset {
            name: format!("4-file model, {:.2} GiB", gib(model_bytes)),
            dir: model,
            streams: files,
            bytes: model_bytes,
        },
        Dataset {
            name: format!("{many} x 64 KiB files"),
            dir: small,
            bytes: (many as u64) << 16,
            streams: vec![tar],
        },
    ])
}

/// Runs a command; stdout to `stdout_to` when given. Returns the peak RSS if measured.
fn run(program: &Path, args: &[&std::ffi::OsStr], stdout_to: Option<&Path>) -> Res<Option<u64>> {
    let time = Path::new("/usr/bin/time");
    let rss_file = std::env::temp_dir().join(format!("qsafe-bench-rss-{}", std::process::id()));
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
    match stdout_to {
        Some(p) => cmd.stdout(File::create(p).map_err(io_err("creating output"))?),
        None => cmd.stdout(Stdio::null()),
    };
    let out = cmd
        .output()
        .map_err(|e| BenchError(format!("running {}: {e}", program.display())))?;
    if !out.status.success() {
        return Err(BenchError(format!(
            "{} {:?} failed: {}",
            program.display(),
            args,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let rss = fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let _ = fs::remove_file(&rss_file);
    Ok(rss)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(fa), Ok(fb)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let (mut ra, mut rb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let (Ok(na), Ok(nb)) = (read_full(&mut ra, &mut ba), read_full(&mut rb, &mut bb)) else {
            return false;
        };
        if na != nb || ba.get(..na) != bb.get(..nb) {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default())? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Measures everything; `progress` is told what runs.
pub fn run_all(cfg: &Config, progress: &mut dyn FnMut(&str)) -> Res<Report> {
    let reps = if cfg.quick { 1 } else { 3 };
    progress("generating data");
    let sets = datasets(cfg)?;
    let keys = cfg.dir.join("keys");
    fs::create_dir_all(&keys).map_err(io_err("creating keys dir"))?;
    let q = &cfg.qsafe;
    for (name, alg) in [
        ("recipient", "x-wing"),
        ("p256", "ecdsa-p256-sha256"),
        ("hybrid", "mldsa87-ecdsa-p384-sha512"),
    ] {
        let path = keys.join(name);
        run(
            q,
            &[
                os("key"),
                os("gen"),
                os("--alg"),
                os(alg),
                os("-o"),
                path.as_os_str(),
                os("--quiet"),
            ],
            None,
        )?;
    }
    let mut missing = Vec::new();
    let age_keys = match &cfg.age {
        Some((_, keygen)) => {
            let k = keys.join("age.key");
            run(keygen, &[os("-o"), k.as_os_str()], None)?;
            let text = fs::read_to_string(&k).map_err(io_err("reading age key"))?;
            let recipient = text
                .lines()
                .find_map(|l| l.strip_prefix("# public key: "))
                .map(str::to_string)
                .ok_or_else(|| BenchError("age-keygen wrote no public key".into()))?;
            Some((k, recipient))
        }
        None => {
            missing.push("age".to_string());
            None
        }
    };
    if cfg.model_signing.is_none() {
        missing.push("model_signing".to_string());
    }
    let mut rows = Vec::new();
    let mut overhead = Vec::new();
    let mut roundtrip_ok = true;
    let recipient_pub = keys.join("recipient.pub");
    let recipient_key = keys.join("recipient");
    let sealed_dir = cfg.dir.join("sealed");
    fs::create_dir_all(&sealed_dir).map_err(io_err("creating sealed dir"))?;

    for set in &sets {
        let mut time =
            |op: &'static str, tool: String, f: &mut dyn FnMut() -> Res<Option<u64>>| -> Res<()> {
                progress(&format!("{op} {} with {tool}", set.name));
                let mut secs = Vec::new();
                let mut rss = None;
                for _ in 0..reps {
                    let t = Instant::now();
                    rss = rss.max(f()?);
                    secs.push(t.elapsed().as_secs_f64());
                }
                let seconds = median(secs);
                rows.push(Row {
                    dataset: set.name.clone(),
                    op,
                    tool,
                    bytes: set.bytes,
                    seconds,
                    gb_per_s: set.bytes as f64 / seconds / 1e9,
                    peak_rss_kib: rss,
                });
                Ok(())
            };
        let sealed = |s: &Path, ext: &str| {
            sealed_dir.join(format!(
                "{}.{ext}",
                s.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ))
        };
        time("seal", "qsafe x-wing".into(), &mut || {
            let mut rss = None;
            for s in &set.streams {
                let args = [
                    os("seal"),
                    os("-r"),
                    recipient_pub.as_os_str(),
                    os("-o"),
                    os("-"),
                    os("--quiet"),
                    s.as_os_str(),
                ];
                rss = rss.max(run(q, &args, Some(&sealed(s, "qs")))?);
            }
            Ok(rss)
        })?;
        time("seal-durable", "qsafe x-wing -o FILE".into(), &mut || {
            let mut rss = None;
            for s in &set.streams {
                let out = sealed(s, "qsd");
                let args = [
                    os("seal"),
                    os("-r"),
                    recipient_pub.as_os_str(),
                    os("-o"),
                    out.as_os_str(),
                    os("--force"),
                    os("--quiet"),
                    s.as_os_str(),
                ];
                rss = rss.max(run(q, &args, None)?);
            }
            Ok(rss)
        })?;
        time("open", "qsafe x-wing".into(), &mut || {
            let mut rss = None;
            for s in &set.streams {
                let input = sealed(s, "qs");
                let args = [
                    os("open"),
                    os("-k"),
                    recipient_key.as_os_str(),
                    os("-o"),
                    os("-"),
                    os("--quiet"),
                    input.as_os_str(),
                ];
                rss = rss.max(run(q, &args, Some(&sealed(s, "out")))?);
            }
            Ok(rss)
        })?;
        for s in &set.streams {
            roundtrip_ok &= same_file(s, &sealed(s, "out"));
            let _ = fs::remove_file(sealed(s, "out"));
            let _ = fs::remove_file(sealed(s, "qsd"));
        }
        let sealed_bytes: u64 = set
            .streams
            .iter()
            .map(|s| fs::metadata(sealed(s, "qs")).map_or(0, |m| m.len()))
            .sum();
        let plain: u64 = set
            .streams
            .iter()
            .map(|s| fs::metadata(s).map_or(0, |m| m.len()))
            .sum();
        let mut age_sealed = None;
        if let (Some((age, _)), Some((age_key, age_recipient))) = (&cfg.age, &age_keys) {
            time("seal", "age X25519".into(), &mut || {
                let mut rss = None;
                for s in &set.streams {
                    let out = sealed(s, "age");
                    let args = [
                        os("-r"),
                        os(age_recipient),
                        os("-o"),
                        out.as_os_str(),
                        s.as_os_str(),
                    ];
                    rss = rss.max(run(age, &args, None)?);
                }
                Ok(rss)
            })?;
            time("open", "age X25519".into(), &mut || {
                let mut rss = None;
                for s in &set.streams {
                    let out = sealed(s, "ageout");
                    let input = sealed(s, "age");
                    let args = [
                        os("-d"),
                        os("-i"),
                        age_key.as_os_str(),
                        os("-o"),
                        out.as_os_str(),
                        input.as_os_str(),
                    ];
                    rss = rss.max(run(age, &args, None)?);
                }
                Ok(rss)
            })?;
            age_sealed = Some(
                set.streams
                    .iter()
                    .map(|s| fs::metadata(sealed(s, "age")).map_or(0, |m| m.len()))
                    .sum(),
            );
            for s in &set.streams {
                roundtrip_ok &= same_file(s, &sealed(s, "ageout"));
                let _ = fs::remove_file(sealed(s, "ageout"));
                let _ = fs::remove_file(sealed(s, "age"));
            }
        }
        for s in &set.streams {
            let _ = fs::remove_file(sealed(s, "qs"));
        }
        overhead.push(Overhead {
            dataset: set.name.clone(),
            plaintext: plain,
            sealed: sealed_bytes,
            percent: (sealed_bytes.saturating_sub(plain)) as f64 * 100.0 / plain.max(1) as f64,
            budget_bytes: plain / 500 + 8192 * set.streams.len() as u64,
            age_sealed,
        });

        // Model signing over the directory itself (every file hashed).
        let sig = |tool: &str| cfg.dir.join(format!("sig-{tool}.json"));
        for (key, label) in [("p256", "ecdsa-p256"), ("hybrid", "mldsa87-ecdsa-p384")] {
            let k = keys.join(key);
            let kp = keys.join(format!("{key}.pub"));
            let s = sig(key);
            time("sign", format!("qsafe {label}"), &mut || {
                let args = [
                    os("model"),
                    os("sign"),
                    set.dir.as_os_str(),
                    os("--key"),
                    k.as_os_str(),
                    os("-o"),
                    s.as_os_str(),
                    os("--force"),
                    os("--quiet"),
                ];
                run(q, &args, None)
            })?;
            time("verify", format!("qsafe {label}"), &mut || {
                let args = [
                    os("model"),
                    os("verify"),
                    set.dir.as_os_str(),
                    os("--key"),
                    kp.as_os_str(),
                    os("--signature"),
                    s.as_os_str(),
                    os("--quiet"),
                ];
                run(q, &args, None)
            })?;
        }
        if let Some(ms) = &cfg.model_signing {
            let k = keys.join("p256");
            let kp = keys.join("p256.pub");
            let s = sig("model_signing");
            time("sign", "model_signing ecdsa-p256".into(), &mut || {
                let args = [
                    os("sign"),
                    os("key"),
                    os("--private_key"),
                    k.as_os_str(),
                    os("--signature"),
                    s.as_os_str(),
                    set.dir.as_os_str(),
                ];
                run(ms, &args, None)
            })?;
            time("verify", "model_signing ecdsa-p256".into(), &mut || {
                let args = [
                    os("verify"),
                    os("key"),
                    os("--public_key"),
                    kp.as_os_str(),
                    os("--signature"),
                    s.as_os_str(),
                    set.dir.as_os_str(),
                ];
                run(ms, &args, None)
            })?;
        }
    }
    let ratios = ratios(&rows);
    Ok(Report {
        rows,
        ratios,
        overhead,
        roundtrip_ok,
        missing,
    })
}

fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let find = |ds: &str, op: &str, tool: &str| {
        rows.iter()
            .find(|r| r.dataset == ds && r.op == op && r.tool == tool)
            .map(|r| r.seconds)
    };
    let mut out = Vec::new();
    let mut sets: Vec<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
    sets.dedup();
    for (i, ds) in sets.into_iter().enumerate() {
        let sign_target = if i == 0 { 0.5 } else { 0.2 };
        let pairs = [
            ("seal", "qsafe x-wing", "age X25519", None),
            ("open", "qsafe x-wing", "age X25519", None),
            (
                "sign",
                "qsafe ecdsa-p256",
                "model_signing ecdsa-p256",
                Some(sign_target),
            ),
            (
                "sign",
                "qsafe mldsa87-ecdsa-p384",
                "model_signing ecdsa-p256",
                Some(sign_target),
            ),
            (
                "verify",
                "qsafe ecdsa-p256",
                "model_signing ecdsa-p256",
                None,
            ),
            (
                "verify",
                "qsafe mldsa87-ecdsa-p384",
                "model_signing ecdsa-p256",
                None,
            ),
        ];
        for (op, ours, theirs, target) in pairs {
            if let (Some(a), Some(b)) = (find(ds, op, ours), find(ds, op, theirs)) {
                out.push(Ratio {
                    what: format!("{ds}: {op} {ours} / {theirs}"),
                    time_ratio: a / b,
                    target,
                });
            }
        }
    }
    out
}
