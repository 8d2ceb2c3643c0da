//! Errors as the user sees them: a message naming the problem, a hint, and an exit code.

use qsafe_artifact::Error as ArtifactError;
use qsafe_core::Error as CoreError;

/// Documented exit codes (README "Exit codes").
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Any error other than below (I/O, bad key file, unsupported operation).
    pub const ERROR: u8 = 1;
    /// Command-line usage error.
    pub const USAGE: u8 = 2;
    /// A signature did not verify, or decapsulation/decryption failed.
    pub const CRYPTO: u8 = 3;
}

/// A failure to report.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
    /// The command already printed its JSON document (e.g. `verify` with `"valid": false`).
    pub json_done: bool,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
            hint: Some(hint.into()),
            json_done: false,
        }
    }

    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message, hint)
    }

    pub fn error(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(exit::ERROR, message, hint)
    }

    /// Wraps a core error with what was being done ("reading key.pem").
    pub fn core(context: impl core::fmt::Display, err: CoreError) -> Self {
        let (code, hint) = match &err {
            CoreError::Verification => (
                exit::CRYPTO,
                "the message, signature, context or public key differ from what was signed",
            ),
            CoreError::Decapsulation | CoreError::Decryption => (
                exit::CRYPTO,
                "the ciphertext was modified or made for another key",
            ),
            CoreError::UnknownAlgorithm(_) => (
                exit::USAGE,
                "run `qsafe algs` to list the supported algorithm ids",
            ),
            CoreError::WrongKind { .. } => (
                exit::USAGE,
                "use a KEM key with `qsafe kem` and a signature key with `qsafe sign`/`verify`; see `qsafe algs`",
            ),
            CoreError::Length { .. } => (
                exit::ERROR,
                "the file may be truncated, or made for another algorithm; check --alg and --format",
            ),
            CoreError::InvalidKey { .. } => (
                exit::ERROR,
                "the key is corrupt or belongs to another algorithm; regenerate it with `qsafe key gen`",
            ),
            CoreError::Encoding(_) => (
                exit::ERROR,
                "expected a PEM or DER key as written by `qsafe key gen` or `qsafe key export`",
            ),
            CoreError::ContextTooLong(_) => (
                exit::USAGE,
                "shorten --context to at most 255 bytes (510 hex digits)",
            ),
            CoreError::Unsupported { .. } => (
                exit::USAGE,
                "see `qsafe algs` for what each algorithm supports",
            ),
            _ => (
                exit::ERROR,
                "this is unexpected; please report it with the command you ran",
            ),
        };
        Failure {
            code,
            message: format!("{context}: {err}"),
            hint: Some(hint.to_string()),
            json_done: false,
        }
    }
}

impl Failure {
    /// Wraps an artifact error: authentication and format failures exit 3, policy refusals 2.
    pub fn artifact(context: impl core::fmt::Display, err: ArtifactError) -> Self {
        use ArtifactError as E;
        let err = match err {
            E::Core(e) => return Failure::core(context, e),
            other => other,
        };
        let (code, hint) = match &err {
            E::Io(_) => (
                exit::ERROR,
                "check the paths, permissions and free space".to_string(),
            ),
            E::NoRecipient { .. } => (
                exit::CRYPTO,
                "open it with the private key of one of these recipients (`qsafe key info KEY` \
                 shows a key's fingerprint)"
                    .to_string(),
            ),
            E::Algorithm { .. } => (
                exit::USAGE,
                "see `qsafe algs`; recipients need hybrid or post-quantum KEM keys".to_string(),
            ),
            E::Version(_) => (
                exit::CRYPTO,
                "the file was written by a newer qsafe; upgrade to read it".to_string(),
            ),
            E::NotSigned | E::SignerMismatch { .. } => (
                exit::CRYPTO,
                "the file was not sealed by the key given with --verify-with".to_string(),
            ),
            E::Range { .. } => (
                exit::USAGE,
                "`qsafe inspect FILE` shows the plaintext size; --range takes START:LEN"
                    .to_string(),
            ),
            E::InPlace(_) => (
                exit::USAGE,
                "write a new file with -o OUT, or run `qsafe rewrap --recover FILE` if a rewrite \
                 was interrupted"
                    .to_string(),
            ),
            E::Safetensors(_) => (
                exit::USAGE,
                "--tensor needs a sealed safetensors file and a tensor name it contains"
                    .to_string(),
            ),
            _ => (
                exit::CRYPTO,
                "the file is damaged or was tampered with; nothing unauthenticated was written"
                    .to_string(),
            ),
        };
        Failure {
            code,
            message: format!("{context}: {err}"),
            hint: Some(hint),
            json_done: false,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::error(format!("i/o error: {e}"), "check the paths and permissions")
    }
}

/// Result alias for command handlers.
pub type Outcome<T = ()> = Result<T, Failure>;
