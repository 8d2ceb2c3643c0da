//! Reading inputs and writing outputs safely: `-` for stdin/stdout, no overwrite without
//! `--force`, private material 0600, and files that appear only when complete (written beside
//! the target, then renamed).

use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use crate::failure::{Failure, Outcome};

/// Output buffer: small writes are gathered, block-sized ones (`pipeline`) go straight through
/// without another copy.
const WRITE_BUFFER: usize = 64 * 1024;

/// Reads a whole file, or stdin for `-`.
pub fn read_input(path: &Path) -> Outcome<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        return Ok(buf);
    }
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Failure::error(
            format!("{} does not exist", path.display()),
            "check the path",
        ),
        _ => read_failure(path, &e),
    })
}

/// A file that could not be opened or read.
pub fn read_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::error(
        format!("cannot read {}: {e}", path.display()),
        "check the path and its permissions",
    )
}

/// Whether the bytes are meant for a person (text) or a program (binary).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Content {
    Text,
    Binary,
}

/// How sensitive the output is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    Public,
    /// Written with mode 0600.
    Secret,
}

/// Writes `bytes` to `path` (`-` = stdout).
pub fn write_output(
    path: &Path,
    bytes: &[u8],
    content: Content,
    sensitivity: Sensitivity,
    force: bool,
) -> Outcome {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout();
        if content == Content::Binary && out.is_terminal() {
            return Err(Failure::usage(
                "refusing to write binary output to a terminal",
                "redirect it (`> file`) or pass -o FILE",
            ));
        }
        out.write_all(bytes)?;
        out.flush()?;
        return Ok(());
    }
    write_file_atomic(path, bytes, sensitivity, force)
}

fn write_file_atomic(path: &Path, bytes: &[u8], sensitivity: Sensitivity, force: bool) -> Outcome {
    let mut file = AtomicFile::create(path, sensitivity, force)?;
    file.write_all(bytes).map_err(|e| write_failure(path, &e))?;
    file.commit()
}

fn write_failure(path: &Path, e: &std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::error(
            format!("{} already exists", path.display()),
            "pass --force to overwrite it",
        ),
        std::io::ErrorKind::NotFound => Failure::error(
            format!("cannot write {}: directory does not exist", path.display()),
            "create the directory first",
        ),
        _ => Failure::error(
            format!("cannot write {}: {e}", path.display()),
            "check the directory's permissions and free space",
        ),
    }
}

/// A file that appears at its path only when complete: written to a temporary file beside
/// the target, synced, then linked (or, with `force`, renamed) into place. Dropped without
/// [`AtomicFile::commit`], it leaves nothing behind.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    dir: PathBuf,
    file: Option<std::io::BufWriter<fs::File>>,
    force: bool,
}

impl AtomicFile {
    /// Creates the temporary file (mode 0600 for secrets, 0644 otherwise).
    pub fn create(path: &Path, sensitivity: Sensitivity, force: bool) -> Outcome<Self> {
        refuse_existing(&[path], force)?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.qsafe-tmp-{}", std::process::id()));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(if sensitivity == Sensitivity::Secret {
                0o600
            } else {
                0o644
            });
        }
        let file = opts.open(&tmp).map_err(|e| write_failure(path, &e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            dir,
            file: Some(std::io::BufWriter::with_capacity(WRITE_BUFFER, file)),
            force,
        })
    }

    /// Flushes, syncs and moves the file into place.
    pub fn commit(mut self) -> Outcome {
        let file = self.file.take();
        let result = (|| -> std::io::Result<()> {
            let file = file
                .ok_or_else(|| std::io::Error::other("already committed"))?
                .into_inner()
                .map_err(|e| e.into_error())?;
            file.sync_all()?;
            drop(file);
            if self.force {
                fs::rename(&self.tmp, &self.path)?;
            } else {
                // A hard link fails if the target exists: no window in which another
                // writer's file could be replaced.
                match fs::hard_link(&self.tmp, &self.path) {
                    Ok(()) => fs::remove_file(&self.tmp)?,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e),
                    // File systems without hard links: check, then rename.
                    Err(_) if self.path.exists() => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "exists",
                        ));
                    }
                    Err(_) => fs::rename(&self.tmp, &self.path)?,
                }
            }
            // Make the new directory entry durable too.
            if let Ok(d) = fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        result.map_err(|e| write_failure(&self.path, &e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(data),
            None => Err(std::io::Error::other("already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Removes the temporary file unless it was moved into place.
        drop(self.file.take());
        let _ = fs::remove_file(&self.tmp);
    }
}

/// A streaming output: an [`AtomicFile`], or stdout for `-`.
pub enum Output {
    File(AtomicFile),
    Stdout(std::io::BufWriter<std::io::Stdout>),
}

impl Output {
    /// Opens `path` (`-` = stdout, refused on a terminal for binary data).
    pub fn create(path: &Path, sensitivity: Sensitivity, force: bool) -> Outcome<Self> {
        if path.as_os_str() == "-" {
            let out = std::io::stdout();
            if out.is_terminal() {
                return Err(Failure::usage(
                    "refusing to write binary output to a terminal",
                    "redirect it (`> file`) or pass -o FILE",
                ));
            }
            return Ok(Output::Stdout(std::io::BufWriter::with_capacity(
                WRITE_BUFFER,
                out,
            )));
        }
        Ok(Output::File(AtomicFile::create(path, sensitivity, force)?))
    }

    /// True for stdout, where bytes are released as they are written.
    pub fn is_stdout(&self) -> bool {
        matches!(self, Output::Stdout(_))
    }

    /// Completes the output: the file appears, or stdout is flushed.
    pub fn commit(self) -> Outcome {
        match self {
            Output::File(f) => f.commit(),
            Output::Stdout(mut s) => Ok(s.flush()?),
        }
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::File(f) => f.write(data),
            Output::Stdout(s) => s.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::File(f) => f.flush(),
            Output::Stdout(s) => s.flush(),
        }
    }
}

/// Fails if any of `paths` exists (unless `force`): checked before a command writes anything,
/// so a refusal never leaves some of its outputs behind.
pub fn refuse_existing(paths: &[&Path], force: bool) -> Outcome {
    match paths
        .iter()
        .find(|p| !force && p.as_os_str() != "-" && p.exists())
    {
        Some(p) => Err(Failure::error(
            format!("{} already exists", p.display()),
            "pass --force to overwrite it",
        )),
        None => Ok(()),
    }
}

/// Parses a hex argument (`--seed`, `--context`), naming the flag on error.
pub fn parse_hex(flag: &str, value: &str) -> Outcome<Vec<u8>> {
    let clean: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let clean = clean.strip_prefix("0x").unwrap_or(&clean);
    hex::decode(clean).map_err(|e| {
        Failure::usage(
            format!("{flag} is not valid hex: {e}"),
            format!("pass {flag} as hex digits, e.g. {flag} 00112233"),
        )
    })
}

/// Writes text to stdout; a closed pipe (`qsafe algs | head`) ends output quietly.
pub fn emit(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Failure::from),
    }
}

/// Prints one JSON document on stdout.
pub fn print_json(value: &serde_json::Value) -> Outcome {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::error(format!("json: {e}"), "report this"))?;
    emit(&format!("{text}\n"))
}
