//! Command-line grammar (`qsafe <noun> <verb>`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "qsafe", version, about = "Hybrid post-quantum protection for AI workloads", long_about = None)]
pub struct Cli {
    /// Print exactly one JSON document on stdout (logs stay on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the algorithm registry.
    Algs(AlgsArgs),
    /// Generate, convert and inspect keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Key encapsulation with a KEM public key.
    #[command(subcommand)]
    Kem(KemCommand),
    /// Sign a file.
    Sign(SignArgs),
    /// Verify a signature over a file.
    Verify(VerifyArgs),
    /// Encrypt a file to one or more recipients, optionally signed (sealed container v1).
    Seal(SealArgs),
    /// Decrypt a sealed file: all of it, a byte range, or one safetensors tensor.
    Open(OpenArgs),
    /// Show a sealed file's suite, recipients, signer and sizes (no key needed).
    Inspect(InspectArgs),
    /// Re-wrap a sealed file's key to new recipients without re-encrypting the payload.
    Rewrap(RewrapArgs),
    /// Measure primitive costs and encoding sizes on this machine.
    Bench(BenchArgs),
    /// Sign and verify a model directory (OpenSSF model_signing v1.0 bundles).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Serve the Kubernetes KMS v2 plugin API on a unix socket with a store key.
    KmsPlugin(KmsPluginArgs),
    /// Run the inference gateway (post-quantum TLS, signed and encrypted requests).
    Serve(Box<ServeArgs>),
    /// Call a qsafe gateway: sign, encrypt, send, verify and decrypt one inference.
    Infer(InferArgs),
    /// Federated training with post-quantum protection: authenticated, encrypted updates and
    /// secure aggregation (the aggregator sees only the sum).
    #[command(subcommand)]
    Train(TrainCommand),
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Run the aggregator: wait for the workers, run the rounds, write the final model.
    Aggregator(TrainAggregatorArgs),
    /// Run one worker on its shard of the UCI digits training data.
    Worker(TrainWorkerArgs),
    /// Start an aggregator and N workers as separate processes on loopback; print each round.
    Demo(TrainDemoArgs),
}

/// How updates travel.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainMode {
    /// No protection (the baseline).
    Plaintext,
    /// Authenticated, encrypted session; the aggregator sees each update.
    Protected,
    /// Session plus secure aggregation: the aggregator sees only the sum.
    Secagg,
}

/// How the digits training data is split across workers.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainPartition {
    /// Independent and identically distributed shards.
    Iid,
    /// Label skew: most workers see two or three digits.
    LabelSkew,
}

#[derive(Args)]
pub struct TrainAggregatorArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Rounds of federated averaging.
    #[arg(long, value_name = "R", default_value_t = 20)]
    pub rounds: u64,
    /// Workers to wait for before round 1.
    #[arg(long, value_name = "K")]
    pub min_workers: usize,
    /// Protection.
    #[arg(long, value_enum, default_value = "secagg")]
    pub mode: TrainMode,
    /// Least contributions for a round (secure aggregation: the Shamir threshold; default a
    /// majority of --min-workers).
    #[arg(long, value_name = "T")]
    pub threshold: Option<usize>,
    /// The aggregator's signing key (protected modes; mldsa65-ed25519-sha512).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Directory of the workers' public keys (*.pub); worker ids follow the file names' order.
    #[arg(long, value_name = "DIR")]
    pub workers: Option<PathBuf>,
    /// Write the final model here (safetensors, servable by `qsafe serve --model` once sealed).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also seal the final model to this recipient (x-wing public key): FILE.qsealed.
    #[arg(long, value_name = "PUB", requires_all = ["output", "sign_with"])]
    pub seal_to: Option<PathBuf>,
    /// Sign the sealed model with this key (the publisher the gateway trusts).
    #[arg(long, value_name = "KEY", requires = "seal_to")]
    pub sign_with: Option<PathBuf>,
    /// Seconds each phase waits for the workers (local training included).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub phase_timeout: u64,
    /// Print one JSON object per line as the run progresses (for `train demo`).
    #[arg(long)]
    pub events: bool,
    /// Overwrite --output.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct TrainWorkerArgs {
    /// The aggregator's address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7070")]
    pub connect: String,
    /// This worker's shard: I/N (0-based I of N shards).
    #[arg(long, value_name = "I/N")]
    pub shard: String,
    /// Protection (must match the aggregator).
    #[arg(long, value_enum, default_value = "secagg")]
    pub mode: TrainMode,
    /// How the data is split (all workers must agree).
    #[arg(long, value_enum, default_value = "iid")]
    pub partition: TrainPartition,
    /// The worker's signing key (protected modes).
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// The aggregator's public key, pinned (protected modes).
    #[arg(long, value_name = "PUB")]
    pub aggregator_key: Option<PathBuf>,
    /// Fault injection for demos and tests: disconnect while training in round N (after the
    /// secure-aggregation key exchange, before sending the update).
    #[arg(long, value_name = "N", hide = true)]
    pub exit_in_round: Option<u64>,
}

#[derive(Args)]
pub struct TrainDemoArgs {
    /// Workers (separate processes).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub workers: usize,
    /// Workers that disconnect mid-round (in round 2, after the key exchange).
    #[arg(long, value_name = "D", default_value_t = 0)]
    pub dropout: usize,
    /// Run only the unprotected baseline.
    #[arg(long)]
    pub plaintext: bool,
    /// Rounds.
    #[arg(long, value_name = "R", default_value_t = 20)]
    pub rounds: u64,
    /// How the data is split.
    #[arg(long, value_enum, default_value = "iid")]
    pub partition: TrainPartition,
    /// Where the keys and the final model go.
    #[arg(long, value_name = "DIR", default_value = "qsafe-train-demo")]
    pub dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Throw-away keys and certificate, the embedded model, and a printed client command.
    #[arg(long)]
    pub dev: bool,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Where --dev writes the client key, the gateway's public key, the CA and a sample input.
    #[arg(long, value_name = "DIR", default_value = "qsafe-dev")]
    pub dev_dir: PathBuf,
    /// Accept classical-only TLS clients: enabled or disabled (default: FALLBACK_CRYPTO, else
    /// disabled).
    #[arg(long, value_name = "MODE")]
    pub fallback: Option<String>,
    /// Forward the KServe V2 and OpenAI-compatible API to this model server
    /// (http://host:port[/prefix]) instead of serving the embedded model.
    #[arg(long, value_name = "URL", env = "QSAFE_UPSTREAM")]
    pub upstream: Option<String>,
    /// Seconds allowed for one upstream exchange.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub upstream_timeout: u64,
    /// TLS certificate chain (PEM, leaf first).
    #[arg(long, value_name = "PEM", conflicts_with = "dev")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", conflicts_with = "dev")]
    pub tls_key: Option<PathBuf>,
    /// Store key for OHTTP (x-wing, or mlkem1024-p384); its rotations are picked up live.
    #[arg(long, value_name = "NAME", conflicts_with = "dev")]
    pub ohttp_key: Option<String>,
    /// Store key that signs responses (composite or pure ML-DSA); rotations picked up live.
    #[arg(long, value_name = "NAME", conflicts_with = "dev")]
    pub signing_key: Option<String>,
    /// The OHTTP key from a mounted Kubernetes Secret (`qsafe key export --k8s-secret`): the
    /// mount directory or its key-bundle.json, unlocked with the store passphrase; an updated
    /// Secret is picked up live.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["dev", "ohttp_key"], requires = "signing_key_bundle")]
    pub ohttp_key_bundle: Option<PathBuf>,
    /// The response-signing key from a mounted Kubernetes Secret (as --ohttp-key-bundle).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["dev", "signing_key"], requires = "ohttp_key_bundle")]
    pub signing_key_bundle: Option<PathBuf>,
    /// Directory of authorised client public keys (`*.pub`; key id = fingerprint).
    #[arg(long, value_name = "DIR", conflicts_with = "dev")]
    pub clients: Option<PathBuf>,
    /// The embedded model: weights sealed to --model-key and signed by --model-publisher.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "dev",
        requires = "model_publisher"
    )]
    pub model: Option<PathBuf>,
    /// Store key (KEM) the model is sealed to.
    #[arg(long, value_name = "NAME", requires = "model")]
    pub model_key: Option<String>,
    /// The model's key from a mounted Kubernetes Secret instead of the store.
    #[arg(
        long,
        value_name = "PATH",
        requires = "model",
        conflicts_with = "model_key"
    )]
    pub model_key_bundle: Option<PathBuf>,
    /// The model publisher's public key; the model loads only if it signed the file.
    #[arg(long, value_name = "PUB", requires = "model")]
    pub model_publisher: Option<PathBuf>,
    /// Replay-cache size: at least peak signed requests per second x 121 (the default carries
    /// about 830 per second sustained); past it requests get 503 replay_cache_full.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub replay_cache_entries: usize,
    /// Seconds between looks at the key store (or the mounted Secrets) for rotated keys.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub key_refresh: u64,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct InferArgs {
    /// Gateway URL, e.g. https://127.0.0.1:8443.
    #[arg(long, value_name = "URL")]
    pub gateway: String,
    /// The client's private signing key (composite or ML-DSA).
    #[arg(long, value_name = "PATH")]
    pub key: PathBuf,
    /// The gateway's response-signing public key; without it responses are not verified.
    #[arg(long, value_name = "PUB")]
    pub gateway_key: Option<PathBuf>,
    /// CA certificate (PEM) the gateway's TLS certificate chains to.
    #[arg(long, value_name = "CERT")]
    pub ca: Option<PathBuf>,
    /// Model name: POST the input to /v2/models/NAME/infer (KServe V2).
    #[arg(
        long,
        value_name = "NAME",
        required_unless_present = "openai",
        conflicts_with = "openai"
    )]
    pub model: Option<String>,
    /// POST the input to an OpenAI-compatible endpoint instead: chat, completions or
    /// embeddings (/v1/chat/completions, /v1/completions, /v1/embeddings).
    #[arg(long, value_name = "API", value_enum)]
    pub openai: Option<OpenAiApi>,
    /// Ask for the answer chunk by chunk (chunked OHTTP) and, with --openai, print each piece
    /// as it arrives (use an OpenAI request with "stream": true). The gateway's signature over
    /// the whole stream is checked at the end: exit 3 if it fails, and the printed pieces must
    /// then be discarded.
    #[arg(long)]
    pub stream: bool,
    /// The request body (JSON): a KServe V2 inference request or an OpenAI request; - for stdin.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OpenAiApi {
    Chat,
    Completions,
    Embeddings,
}

impl OpenAiApi {
    /// The inner path.
    pub fn path(self) -> &'static str {
        match self {
            OpenAiApi::Chat => "/v1/chat/completions",
            OpenAiApi::Completions => "/v1/completions",
            OpenAiApi::Embeddings => "/v1/embeddings",
        }
    }
}

#[derive(Args)]
pub struct KmsPluginArgs {
    /// Unix socket to listen on (kube-apiserver's `endpoint: unix://PATH`).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// Store key to seal data keys to (a KEM key: x-wing, or mlkem1024-p384 for CNSA 2.0).
    #[arg(long, value_name = "NAME")]
    pub key: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct AlgsArgs {
    /// Only algorithms of this kind.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    Kem,
    Signature,
    Aead,
    Kdf,
    Hash,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Generate a key pair: PATH (private, mode 0600) and PATH.pub.
    Gen(KeyGenArgs),
    /// Write the public key of a private key.
    Pub(KeyPubArgs),
    /// Re-encode a key (private or public) as raw bytes, DER or PEM.
    Export(KeyExportArgs),
    /// Read a raw, DER or PEM key and write it as qsafe PEM.
    Import(KeyImportArgs),
    /// Show a key's algorithm, sizes and fingerprint.
    Info(KeyInfoArgs),
    /// Create a key store (passphrase-wrapped, or --insecure-plaintext for tests).
    Init(StoreInitArgs),
    /// Create a named key in the store (version 1).
    Create(StoreCreateArgs),
    /// Add a new active version; the previous one becomes decrypt/verify-only.
    Rotate(StoreNameArgs),
    /// List the store's keys.
    List(StoreOnlyArgs),
    /// Show a key's versions, statuses, fingerprints and policy.
    Show(StoreNameArgs),
    /// Set a key's min_decryption_version and rotation period.
    SetPolicy(StoreSetPolicyArgs),
    /// Retire a decrypt-only version: it can no longer decrypt or verify.
    Retire(StoreVersionArgs),
    /// Destroy a version's private key for good (requires --confirm).
    Destroy(StoreDestroyArgs),
    /// Verify the store's hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write the whole store (private keys still wrapped) to one file, mode 0600.
    Backup(StoreBackupArgs),
    /// Restore a backup into a new or empty store directory.
    Restore(StoreRestoreArgs),
}

#[derive(Args)]
pub struct StoreBackupArgs {
    /// Backup file (`-` for stdout).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StoreRestoreArgs {
    /// Backup file written by `qsafe key backup`.
    pub backup: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where the key store is and how to unlock it.
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// Key store: a directory, or a PostgreSQL connection (`postgresql://user@host/db` or
    /// `host=… user=… dbname=…`; the password from the string or PGPASSWORD) shared by
    /// several replicas. Default: $QSAFE_HOME, then $XDG_DATA_HOME/qsafe, ~/.local/share/qsafe.
    #[arg(
        long,
        value_name = "DIR|URL",
        env = "QSAFE_STORE",
        hide_env_values = true
    )]
    pub store: Option<String>,
    /// PostgreSQL schema holding the store's tables (one store per schema).
    #[arg(long, value_name = "NAME", default_value = "qsafe")]
    pub pg_schema: String,
    /// Read the store passphrase from this file (first line).
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    /// Read the store passphrase from this environment variable.
    #[arg(long, value_name = "VAR", default_value = "QSAFE_PASSPHRASE")]
    pub passphrase_env: String,
    /// PKCS#11 module (shared library) for a store whose KEK is on a token, e.g.
    /// /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, value_name = "PATH", env = "QSAFE_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// Read the token's user PIN from this file (first line).
    #[arg(long, value_name = "PATH")]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Read the token's user PIN from this environment variable.
    #[arg(long, value_name = "VAR", default_value = "QSAFE_PKCS11_PIN")]
    pub pkcs11_pin_env: String,
}

#[derive(Args)]
pub struct StoreInitArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Store private keys unwrapped. For tests and the gateway's dev mode only.
    #[arg(long, conflicts_with = "pkcs11_token")]
    pub insecure_plaintext: bool,
    /// Wrap private keys under an AES-256 key on this PKCS#11 token (by label) instead of a
    /// passphrase; needs --pkcs11-module and --pkcs11-key.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_key")]
    pub pkcs11_token: Option<String>,
    /// Label of the token's AES-256 wrapping key.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_token")]
    pub pkcs11_key: Option<String>,
    /// Generate the wrapping key on the token (non-extractable); without it the key must exist.
    #[arg(long, requires = "pkcs11_token")]
    pub pkcs11_create_key: bool,
}

#[derive(Args)]
pub struct StoreOnlyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StoreCreateArgs {
    /// Key name ([a-z0-9][a-z0-9._-]*).
    pub name: String,
    /// Algorithm id: any registry KEM or signature algorithm.
    #[arg(long)]
    pub alg: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StoreNameArgs {
    /// Key name.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StoreVersionArgs {
    /// Key name.
    pub name: String,
    /// Version number.
    #[arg(long)]
    pub version: u32,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StoreDestroyArgs {
    /// Key name.
    pub name: String,
    /// Version number.
    #[arg(long)]
    pub version: u32,
    /// Confirm that the private key is to be destroyed irrecoverably.
    #[arg(long)]
    pub confirm: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args)]
pub struct StoreSetPolicyArgs {
    /// Key name.
    pub name: String,
    /// Versions below this may no longer decrypt or verify.
    #[arg(long, value_name = "N")]
    pub min_decryption_version: Option<u32>,
    /// Rotate automatically after this many days (reported by `qsafe key list`).
    #[arg(long, value_name = "DAYS", conflicts_with = "no_rotation_period")]
    pub rotation_period_days: Option<u64>,
    /// Remove the rotation period.
    #[arg(long)]
    pub no_rotation_period: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Detect any edited, removed, inserted, reordered or truncated audit line.
    Verify(StoreOnlyArgs),
}

#[derive(Args)]
pub struct KeyGenArgs {
    /// Algorithm id (see `qsafe algs`).
    #[arg(long)]
    pub alg: String,
    /// Deterministic generation from this seed (hex), as the algorithm's standard defines.
    #[arg(long, value_name = "HEX")]
    pub seed: Option<String>,
    /// Private key path; the public key goes to PATH.pub.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct KeyPubArgs {
    /// Private key file (PEM or DER).
    pub private: PathBuf,
    /// Output path (default stdout).
    #[arg(short, long, value_name = "PATH", default_value = "-")]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Raw,
    Der,
    Pem,
}

#[derive(Args)]
pub struct KeyExportArgs {
    /// Key file (private or public, PEM or DER), or with --public/--private a stored key's name.
    pub key: PathBuf,
    /// Encoding (default pem for stored keys).
    #[arg(long, value_enum, required_unless_present_any = ["public", "private", "k8s_secret"])]
    pub format: Option<Format>,
    /// Export a stored key's public key.
    #[arg(long, conflicts_with_all = ["private", "k8s_secret"])]
    pub public: bool,
    /// Print a Kubernetes v1/Secret manifest: public key, private key still wrapped under
    /// the store's KEK, key id and version as annotations.
    #[arg(long, conflicts_with = "private")]
    pub k8s_secret: bool,
    /// Namespace for --k8s-secret.
    #[arg(long, value_name = "NS", requires = "k8s_secret")]
    pub namespace: Option<String>,
    /// Name for --k8s-secret (default qsafe-NAME-vVERSION); keep one name per key so each
    /// rotation updates the Secret a running gateway mounts.
    #[arg(long, value_name = "NAME", requires = "k8s_secret")]
    pub secret_name: Option<String>,
    /// Export a stored key's private key, unwrapped (audited; written 0600).
    #[arg(long)]
    pub private: bool,
    /// The stored key's version (default: the active one).
    #[arg(long)]
    pub version: Option<u32>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output path (default stdout; binary formats are refused on a terminal).
    #[arg(short, long, value_name = "PATH", default_value = "-")]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct KeyImportArgs {
    /// Algorithm id of the key.
    #[arg(long)]
    pub alg: String,
    #[arg(long, value_enum)]
    pub format: Format,
    /// The input is a private key (otherwise public).
    #[arg(long)]
    pub private: bool,
    /// Input file (`-` for stdin).
    pub file: PathBuf,
    /// Output PEM path.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct KeyInfoArgs {
    /// Key file (private or public).
    pub key: PathBuf,
}

#[derive(Subcommand)]
pub enum KemCommand {
    /// Encapsulate a fresh shared secret to a public key.
    Encap(EncapArgs),
    /// Recover the shared secret from a ciphertext.
    Decap(DecapArgs),
}

#[derive(Args)]
pub struct EncapArgs {
    /// Recipient public key.
    #[arg(long, value_name = "PUBLIC")]
    pub to: PathBuf,
    /// Where to write the ciphertext.
    #[arg(long, value_name = "OUT")]
    pub ciphertext: PathBuf,
    /// Where to write the shared secret (mode 0600).
    #[arg(long, value_name = "OUT")]
    pub secret: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct DecapArgs {
    /// Private key.
    #[arg(long, value_name = "PRIVATE")]
    pub key: PathBuf,
    /// Ciphertext file.
    #[arg(long, value_name = "IN")]
    pub ciphertext: PathBuf,
    /// Where to write the shared secret (mode 0600).
    #[arg(long, value_name = "OUT")]
    pub secret: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct SignArgs {
    /// Private signing key.
    #[arg(long, value_name = "PRIVATE")]
    pub key: PathBuf,
    /// Context string (hex), at most 255 bytes; ML-DSA and composite only.
    #[arg(long, value_name = "HEX")]
    pub context: Option<String>,
    /// Signature output (default MESSAGE.sig; `-` for stdout).
    #[arg(short, long, value_name = "SIG")]
    pub output: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
    /// File to sign (`-` for stdin).
    pub message: PathBuf,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Public key.
    #[arg(long, value_name = "PUBLIC")]
    pub key: PathBuf,
    /// Context string (hex) the signer used.
    #[arg(long, value_name = "HEX")]
    pub context: Option<String>,
    /// Signature file.
    #[arg(long, value_name = "SIG")]
    pub signature: PathBuf,
    /// Signed file (`-` for stdin).
    pub message: PathBuf,
}

#[derive(Args)]
pub struct SealArgs {
    /// Recipient public key (KEM); repeat for several recipients.
    #[arg(short, long = "recipient", value_name = "PUBLIC", required = true)]
    pub recipients: Vec<PathBuf>,
    /// Sign the sealed file with this private key (composite ML-DSA recommended).
    #[arg(long, value_name = "PRIVATE")]
    pub sign_with: Option<PathBuf>,
    /// Algorithm suite: `default` or `cnsa2` (admits only CNSA 2.0 algorithms).
    #[arg(long, default_value = "default")]
    pub suite: String,
    /// Accept classical-only (quantum-vulnerable) recipients or signer.
    #[arg(long)]
    pub allow_classical: bool,
    /// Output file (`-` for stdout); it appears only once complete.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
    /// File to seal (`-` for stdin).
    pub input: PathBuf,
}

#[derive(Args)]
pub struct OpenArgs {
    /// Private key of one of the recipients.
    #[arg(short, long, value_name = "PRIVATE")]
    pub key: PathBuf,
    /// Require a sender signature by this public key.
    #[arg(long, value_name = "PUBLIC")]
    pub verify_with: Option<PathBuf>,
    /// Only the plaintext bytes START:LEN (decrypts only the chunks they cover).
    #[arg(long, value_name = "START:LEN", conflicts_with = "tensor")]
    pub range: Option<String>,
    /// Only this tensor of a sealed safetensors file, written as a one-tensor safetensors file.
    #[arg(long, value_name = "NAME")]
    pub tensor: Option<String>,
    /// Output file (`-` for stdout); it appears only once everything authenticated.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
    /// Sealed file (`-` for stdin; --range and --tensor need a file).
    pub input: PathBuf,
}

#[derive(Args)]
pub struct RewrapArgs {
    /// Private key file of a current recipient, or the name of a key in the store: then the
    /// file is re-wrapped from whichever version it is sealed to onto the active version.
    #[arg(
        short,
        long,
        value_name = "PRIVATE|NAME",
        required_unless_present = "recover"
    )]
    pub key: Option<std::path::PathBuf>,
    /// New recipient public key; repeat for several. Replaces every current recipient
    /// (not used with a stored key name).
    #[arg(short, long = "recipient", value_name = "PUBLIC")]
    pub recipients: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Accept classical-only (quantum-vulnerable) recipients.
    #[arg(long)]
    pub allow_classical: bool,
    /// Rewrite the header in place (milliseconds for any size; needs the same recipient
    /// algorithms), with a journal that makes it crash safe.
    #[arg(long, conflicts_with = "output", required_unless_present_any = ["output", "recover"])]
    pub in_place: bool,
    /// Write a new file instead (copies the payload unchanged).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
    /// Undo an interrupted --in-place rewrite from its journal, then stop.
    #[arg(long, conflicts_with_all = ["key", "output", "in_place"])]
    pub recover: bool,
    /// Sealed file.
    pub input: PathBuf,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Sealed file (`-` for stdin).
    pub input: PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Fewer iterations and smaller data: finishes in seconds, with wider error bars.
    #[arg(long, global = true)]
    pub quick: bool,
    /// What to measure (default: primitives).
    #[command(subcommand)]
    pub what: Option<BenchWhat>,
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// Primitive costs and encoding sizes: the seed's tables (the default).
    Primitives,
    /// Seal, open and model signing on a 4-file model and many small files, against age and
    /// OpenSSF model_signing in the same run.
    Artifacts(BenchArtifactsArgs),
    /// The inference gateway under load on loopback: the model direct, behind PQ TLS only,
    /// and with full protection (signed, OHTTP-encapsulated), plus a 10x overload.
    Gateway(BenchGatewayArgs),
    /// Federated averaging on loopback: bytes on the wire and round time in plaintext,
    /// protected and secure-aggregation modes, beside the seed's network-impact claims.
    Training(BenchTrainingArgs),
}

#[derive(Args)]
pub struct BenchTrainingArgs {
    /// Model sizes in parameters, comma-separated (default 1e4,1e5,1e6,1e7; 1e4,1e5 with
    /// --quick). Accepts plain integers or 1eN.
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_count)]
    pub params: Vec<usize>,
    /// Worker counts, comma-separated (default 4,16; 4 with --quick).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub workers: Vec<usize>,
    /// Rounds per run, the first carrying the handshakes (default 4; 3 with --quick).
    #[arg(long, value_name = "N")]
    pub rounds: Option<u64>,
}

/// `10000` or `1e4`.
fn parse_count(s: &str) -> Result<usize, String> {
    let bad = || format!("{s:?} is not a count (write 10000 or 1e4)");
    match s.split_once(['e', 'E']) {
        Some((m, e)) => {
            let m: usize = m.parse().map_err(|_| bad())?;
            let e: u32 = e.parse().map_err(|_| bad())?;
            10usize
                .checked_pow(e)
                .and_then(|p| p.checked_mul(m))
                .ok_or_else(bad)
        }
        None => s.parse().map_err(|_| bad()),
    }
}

#[derive(Args)]
pub struct BenchGatewayArgs {
    /// Seconds measured per set-up (default 5, or 1 with --quick).
    #[arg(long, value_name = "SECS")]
    pub seconds: Option<u64>,
    /// Concurrent keep-alive connections.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub connections: usize,
}

#[derive(Args)]
pub struct BenchArtifactsArgs {
    /// Where to put the scratch data (default: the temp dir); a new subdirectory is made in it
    /// and removed after the run (about 4 GiB for the full run).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The OpenSSF model_signing CLI (default: $QSAFE_MODEL_SIGNING, then PATH, then
    /// ./.venv/bin/model_signing).
    #[arg(long, value_name = "PATH")]
    pub model_signing: Option<PathBuf>,
    /// Keep the scratch directory.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Hash every file of a model and sign the manifest (Sigstore bundle, JSON).
    Sign(ModelSignArgs),
    /// Check a model against a signed manifest; names added, removed and changed files.
    Verify(ModelVerifyArgs),
}

/// Which files make up the model (as model_signing decides).
#[derive(Args)]
pub struct ModelFilesArgs {
    /// Leave out this path (relative to the current directory; repeatable).
    #[arg(long = "ignore-paths", value_name = "PATH")]
    pub ignore_paths: Vec<PathBuf>,
    /// Include .git, .gitattributes, .github and .gitignore (left out by default).
    #[arg(long)]
    pub no_ignore_git_paths: bool,
    /// Follow symbolic links to files (refused by default).
    #[arg(long)]
    pub allow_symlinks: bool,
}

#[derive(Args)]
pub struct ModelSignArgs {
    /// The model: a directory or a single file.
    pub path: PathBuf,
    /// Private signing key (ECDSA P-256/P-384 for model_signing, or any qsafe signature key).
    #[arg(long, value_name = "PRIVATE")]
    pub key: PathBuf,
    /// The bundle to write (`-` for stdout).
    #[arg(short, long, value_name = "SIG")]
    pub output: PathBuf,
    /// With an ECDSA composite key, also write SIG.classical (a bundle signed by the ECDSA
    /// half alone) and SIG.classical.pub, for `model_signing verify key`.
    #[arg(long)]
    pub classical_compat: bool,
    /// Hash shards of this many bytes instead of whole files (faster for a few large files;
    /// the model_signing CLI verifies whole-file manifests only).
    #[arg(long, value_name = "BYTES")]
    pub shard_size: Option<u64>,
    #[command(flatten)]
    pub files: ModelFilesArgs,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct ModelVerifyArgs {
    /// The model: a directory or a single file.
    pub path: PathBuf,
    /// Public key (a private key file is accepted too).
    #[arg(long, value_name = "PUBLIC")]
    pub key: PathBuf,
    /// The bundle from `qsafe model sign` or `model_signing sign key`.
    #[arg(long, value_name = "SIG")]
    pub signature: PathBuf,
    /// Refuse classical-only (quantum-vulnerable) signatures.
    #[arg(long)]
    pub require_pq: bool,
    #[command(flatten)]
    pub files: ModelFilesArgs,
}
