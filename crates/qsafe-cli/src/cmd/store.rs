//! `qsafe key init|create|rotate|list|show|set-policy|retire|destroy|audit` and the store
//! side of `qsafe key export`: the versioned key store of `qsafe-keys`.

use qsafe_core::keys::codec;
use qsafe_keys::backend::postgres::{Config as PgConfig, PgBackend};
use qsafe_keys::{
    Backend, DirBackend, Error as KeysError, InsecurePlaintextKek, Kek, KekInfo, Key, KeyStore,
    Passphrase, PassphraseKek, Pkcs11Kek, Pkcs11Pin, Pkcs11Problem, default_root,
};
use serde_json::{Value, json};

use super::Out;
use crate::cli::{
    KeyExportArgs, StoreArgs, StoreBackupArgs, StoreCreateArgs, StoreDestroyArgs, StoreInitArgs,
    StoreNameArgs, StoreOnlyArgs, StoreRestoreArgs, StoreSetPolicyArgs, StoreVersionArgs,
};
use crate::failure::{Failure, Outcome, exit};
use crate::io::{Content, Sensitivity, print_json, read_input, write_output};

/// Maps a store error: refusals by policy and wrong passphrases exit 3, the rest 1.
pub(super) fn fail(context: &str, e: KeysError) -> Failure {
    let (code, hint) = match &e {
        KeysError::WrongPassphrase { .. } | KeysError::WrongKek { .. } => (
            exit::CRYPTO,
            "check --passphrase-file or the variable named by --passphrase-env",
        ),
        KeysError::BelowMinDecryptionVersion { .. }
        | KeysError::VersionRetired { .. }
        | KeysError::VersionDestroyed { .. } => (
            exit::CRYPTO,
            "`qsafe key show NAME` lists the versions and the policy",
        ),
        KeysError::NotAStore(_) | KeysError::NoDefaultRoot => (
            exit::ERROR,
            "create one with `qsafe key init`, or point --store (or QSAFE_HOME) at it",
        ),
        KeysError::Pkcs11 {
            problem: Pkcs11Problem::PinIncorrect | Pkcs11Problem::PinLocked,
            ..
        } => (
            exit::CRYPTO,
            "check --pkcs11-pin-file or the variable named by --pkcs11-pin-env",
        ),
        KeysError::Pkcs11 { .. } => (
            exit::ERROR,
            "check --pkcs11-module, the token label and the key label (`softhsm2-util \
             --show-slots` or your HSM's tool lists them)",
        ),
        KeysError::Database { .. } => (
            exit::ERROR,
            "check the connection string (--store or QSAFE_STORE), that the server is up, \
             and the role's password (in the string or PGPASSWORD)",
        ),
        KeysError::UnknownAlgorithm(_) | KeysError::InvalidName { .. } => (
            exit::USAGE,
            "see `qsafe algs`; names are [a-z0-9][a-z0-9._-]*",
        ),
        _ if e.denial_code().is_some() => (exit::ERROR, "`qsafe key show NAME` shows the key"),
        _ => (exit::ERROR, "check the store path and its permissions"),
    };
    Failure::new(code, format!("{context}: {e}"), hint)
}

/// The store the CLI works on: behind one trait, a directory or a PostgreSQL schema.
pub(super) type Store = KeyStore<Box<dyn Backend>>;

/// True for `postgres://`, `postgresql://` and key-value (`host=… dbname=…`) strings.
fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://")
        || location.starts_with("postgresql://")
        || location.split_whitespace().any(|kv| {
            ["host=", "dbname=", "user="]
                .iter()
                .any(|k| kv.starts_with(k))
        })
}

fn backend(args: &StoreArgs) -> Outcome<Box<dyn Backend>> {
    match args.store.as_deref() {
        Some(conn) if is_postgres(conn) => {
            let mut config: PgConfig = conn.parse().map_err(|e| {
                Failure::usage(
                    format!("--store: not a PostgreSQL connection string: {e}"),
                    "use postgresql://USER@HOST:PORT/DB or 'host=… user=… dbname=…'",
                )
            })?;
            if config.get_password().is_none()
                && let Some(pw) = std::env::var_os("PGPASSWORD")
            {
                config.password(pw.into_encoded_bytes());
            }
            let pg = PgBackend::connect_config(&config, &args.pg_schema)
                .map_err(|e| fail("connecting to the key store", e))?;
            Ok(Box::new(pg))
        }
        Some(dir) => Ok(Box::new(DirBackend::new(std::path::PathBuf::from(dir)))),
        None => {
            let root = default_root().map_err(|e| fail("locating the key store", e))?;
            Ok(Box::new(DirBackend::new(root)))
        }
    }
}

/// The store passphrase: `--passphrase-file`, else the variable named by `--passphrase-env`,
/// else a prompt on the terminal (asked twice when `confirm`, for a new store). Without a
/// terminal and without either source this is a usage error, never a hang.
fn passphrase(args: &StoreArgs, confirm: bool) -> Outcome<Passphrase> {
    let result = match &args.passphrase_file {
        Some(path) => Passphrase::from_file(path),
        None if std::env::var_os(&args.passphrase_env).is_some() || !can_prompt() => {
            Passphrase::from_env(&args.passphrase_env)
        }
        None => return prompt_passphrase(confirm),
    };
    result.map_err(|e| {
        Failure::usage(
            format!("no passphrase: {e}"),
            format!(
                "set {}, pass --passphrase-file FILE, or run on a terminal to be asked",
                args.passphrase_env
            ),
        )
    })
}

/// The store passphrase for unlocking mounted key bundles in a service: `--passphrase-file`,
/// else the variable if set, else none (a bundle that needs one then says so); never a prompt.
pub(super) fn service_passphrase(args: &StoreArgs) -> Outcome<Option<Passphrase>> {
    let result = match &args.passphrase_file {
        Some(path) => Passphrase::from_file(path),
        None if std::env::var_os(&args.passphrase_env).is_some() => {
            Passphrase::from_env(&args.passphrase_env)
        }
        None => return Ok(None),
    };
    result.map(Some).map_err(|e| {
        Failure::usage(
            format!("no passphrase: {e}"),
            "mount the passphrase Secret and pass --passphrase-file FILE (or set QSAFE_PASSPHRASE)",
        )
    })
}

fn can_prompt() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Reads the passphrase from the terminal with echo off (rpassword reads `/dev/tty`).
fn prompt_passphrase(confirm: bool) -> Outcome<Passphrase> {
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| {
                Failure::error(
                    format!("reading the passphrase from the terminal: {e}"),
                    "pass --passphrase-file FILE or set QSAFE_PASSPHRASE instead",
                )
            })
    };
    let first = ask("key store passphrase: ")?;
    if confirm {
        let again = ask("repeat the passphrase: ")?;
        if first.as_bytes() != again.as_bytes() {
            return Err(Failure::usage(
                "the two passphrases differ",
                "run the command again and type the same passphrase twice",
            ));
        }
    }
    Passphrase::from_bytes(first.as_bytes().to_vec())
        .map_err(|e| Failure::usage(format!("no passphrase: {e}"), "type a non-empty passphrase"))
}

fn pkcs11_module(args: &StoreArgs) -> Outcome<&std::path::Path> {
    args.pkcs11_module.as_deref().ok_or_else(|| {
        Failure::usage(
            "this key store's KEK is on a PKCS#11 token: no module given",
            "pass --pkcs11-module PATH (or set QSAFE_PKCS11_MODULE), e.g. \
             /usr/lib/softhsm/libsofthsm2.so",
        )
    })
}

fn pkcs11_pin(args: &StoreArgs) -> Outcome<Pkcs11Pin> {
    let result = match &args.pkcs11_pin_file {
        Some(path) => Pkcs11Pin::from_file(path),
        None => Pkcs11Pin::from_env(&args.pkcs11_pin_env),
    };
    result.map_err(|e| {
        Failure::usage(
            format!("no token PIN: {e}"),
            format!("set {} or pass --pkcs11-pin-file FILE", args.pkcs11_pin_env),
        )
    })
}

/// Opens the store with the KEK it was created with; warns loudly about plaintext stores.
pub(super) fn open(args: &StoreArgs) -> Outcome<Store> {
    let backend = backend(args)?;
    let location = backend.location();
    let info = KeyStore::kek_info(&backend).map_err(|e| fail("opening the key store", e))?;
    let store = match info {
        KekInfo::InsecurePlaintext => {
            eprintln!(
                "warning: the key store at {location} keeps private keys UNWRAPPED \
                 (--insecure-plaintext); use it for tests only"
            );
            KeyStore::open(backend, InsecurePlaintextKek)
        }
        KekInfo::Pkcs11 { .. } => {
            KeyStore::open_with_pkcs11(backend, pkcs11_module(args)?, &pkcs11_pin(args)?)
        }
        _ => KeyStore::open_with_passphrase(backend, &passphrase(args, false)?),
    };
    store.map_err(|e| fail(&format!("opening the key store at {location}"), e))
}

/// The version of store key `name` that the sealed file `file` (with `header`) is sealed to,
/// unlocked (refused below `min_decryption_version`, retired or destroyed).
pub(super) fn recipient_version(
    store: &Store,
    name: &str,
    header: &qsafe_artifact::container::Header,
    file: &std::path::Path,
) -> Outcome<(qsafe_core::kem::DecapsulationKey, u32)> {
    let key = store
        .show(name)
        .map_err(|e| fail(&format!("reading key {name}"), e))?;
    let sealed_to = header.recipient_fingerprints();
    let version = key
        .versions
        .iter()
        .rev()
        .find(|v| sealed_to.contains(&v.fingerprint))
        .map(|v| v.version)
        .ok_or_else(|| {
            Failure::new(
                exit::CRYPTO,
                format!(
                    "no version of key {name} is a recipient of {}; it is sealed to: {}",
                    file.display(),
                    sealed_to.join(", ")
                ),
                "`qsafe key show NAME` lists the versions' fingerprints",
            )
        })?;
    let dk = store
        .decapsulation_key(name, version)
        .map_err(|e| fail(&format!("unlocking {name} version {version}"), e))?;
    Ok((dk, version))
}

fn key_json(key: &Key) -> Value {
    json!({
        "name": key.name.as_str(),
        "algorithm": key.algorithm,
        "purpose": key.purpose,
        "created": key.created.utc,
        "policy": {
            "min_decryption_version": key.policy.min_decryption_version,
            "rotation_period_s": key.policy.rotation_period,
        },
        "versions": key.versions.iter().map(|v| json!({
            "version": v.version,
            "status": v.status.label(key.purpose),
            "created": v.created.utc,
            "fingerprint": v.fingerprint,
            "private_key": v.private.is_some(),
        })).collect::<Vec<_>>(),
    })
}

pub fn init(out: Out, args: StoreInitArgs) -> Outcome {
    let backend = backend(&args.store)?;
    let location = backend.location();
    let kek: Box<dyn Kek> = if args.insecure_plaintext {
        eprintln!("warning: private keys will be stored UNWRAPPED; for tests only");
        Box::new(InsecurePlaintextKek)
    } else if let (Some(token), Some(key)) = (&args.pkcs11_token, &args.pkcs11_key) {
        let module = pkcs11_module(&args.store)?;
        let pin = pkcs11_pin(&args.store)?;
        let kek = if args.pkcs11_create_key {
            Pkcs11Kek::create_key(module, token, &pin, key)
        } else {
            Pkcs11Kek::open(module, token, &pin, key)
        };
        let kek = kek.map_err(|e| fail("preparing the PKCS#11 key-encryption key", e))?;
        if let Ok(props) = kek.key_properties()
            && !props.is_hardware_bound()
        {
            eprintln!(
                "warning: the wrapping key `{key}` on token `{token}` can leave the token \
                     (extractable or not sensitive); prefer --pkcs11-create-key"
            );
        }
        Box::new(kek)
    } else {
        let kek = PassphraseKek::new(&passphrase(&args.store, true)?)
            .map_err(|e| fail("deriving the key-encryption key", e))?;
        Box::new(kek)
    };
    let store = KeyStore::init(backend, kek)
        .map_err(|e| fail(&format!("creating a key store at {location}"), e))?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": true, "store": location,
            "kek": store_kek_kind(&store),
        }));
    }
    out.say(format!(
        "created key store at {location} ({})",
        store_kek_kind(&store)
    ));
    Ok(())
}

fn store_kek_kind(store: &Store) -> &'static str {
    match store.kek_description() {
        KekInfo::InsecurePlaintext => "insecure-plaintext",
        KekInfo::Pkcs11 { .. } => "pkcs11 token key",
        _ => "argon2id passphrase",
    }
}

pub fn create(out: Out, args: StoreCreateArgs) -> Outcome {
    let store = open(&args.store)?;
    let v = store
        .create(&args.name, &args.alg)
        .map_err(|e| fail(&format!("creating key {}", args.name), e))?;
    report_version(out, "created", &v)
}

pub fn rotate(out: Out, args: StoreNameArgs) -> Outcome {
    let store = open(&args.store)?;
    let v = store
        .rotate(&args.name)
        .map_err(|e| fail(&format!("rotating key {}", args.name), e))?;
    report_version(out, "rotated", &v)
}

fn report_version(out: Out, what: &str, v: &qsafe_keys::NewVersion) -> Outcome {
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": true, "name": v.name.as_str(), "version": v.version,
            "algorithm": v.algorithm, "fingerprint": v.fingerprint,
        }));
    }
    out.say(format!(
        "{what} {} version {} ({}) {}",
        v.name.as_str(),
        v.version,
        v.algorithm,
        v.fingerprint
    ));
    Ok(())
}

pub fn list(out: Out, args: StoreOnlyArgs) -> Outcome {
    let store = open(&args.store)?;
    let keys = store.list().map_err(|e| fail("listing keys", e))?;
    let due = store
        .due_for_rotation(qsafe_keys::model::unix_now())
        .map_err(|e| fail("checking rotation periods", e))?;
    if out.json {
        let due: Vec<Value> = due
            .iter()
            .map(|d| json!({"name": d.name.as_str(), "version": d.version, "due_since": d.due_since}))
            .collect();
        return print_json(&json!({
            "schema_version": 1, "ok": true,
            "keys": keys.iter().map(key_json).collect::<Vec<_>>(),
            "rotation_due": due,
        }));
    }
    out.say(format!(
        "{:<24} {:<30} {:>7} {:>8}  ROTATION",
        "NAME", "ALGORITHM", "ACTIVE", "MIN-DEC"
    ));
    for k in &keys {
        let rotation = if due.iter().any(|d| d.name == k.name) {
            "due"
        } else if k.policy.rotation_period.is_some() {
            "scheduled"
        } else {
            "-"
        };
        out.say(format!(
            "{:<24} {:<30} {:>7} {:>8}  {rotation}",
            k.name.as_str(),
            k.algorithm,
            k.latest(),
            k.policy.min_decryption_version
        ));
    }
    Ok(())
}

pub fn show(out: Out, args: StoreNameArgs) -> Outcome {
    let store = open(&args.store)?;
    let key = store
        .show(&args.name)
        .map_err(|e| fail(&format!("reading key {}", args.name), e))?;
    if out.json {
        let mut doc = key_json(&key);
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("schema_version".into(), json!(1));
            obj.insert("ok".into(), json!(true));
        }
        return print_json(&doc);
    }
    out.say(format!(
        "{} ({}, {}), created {}",
        key.name.as_str(),
        key.algorithm,
        key.purpose.as_str(),
        key.created.utc
    ));
    out.say(format!(
        "policy: min_decryption_version {}, rotation period {}",
        key.policy.min_decryption_version,
        key.policy
            .rotation_period
            .map_or("none".to_string(), |s| format!("{} days", s / 86_400))
    ));
    for v in &key.versions {
        out.say(format!(
            "  v{:<4} {:<13} {} {}",
            v.version,
            v.status.label(key.purpose),
            v.created.utc,
            v.fingerprint
        ));
    }
    Ok(())
}

pub fn set_policy(out: Out, args: StoreSetPolicyArgs) -> Outcome {
    let store = open(&args.store)?;
    let period = if args.no_rotation_period {
        Some(None)
    } else {
        args.rotation_period_days
            .map(|d| Some(d.saturating_mul(86_400)))
    };
    store
        .set_policy(&args.name, args.min_decryption_version, period)
        .map_err(|e| fail(&format!("setting the policy of {}", args.name), e))?;
    show(
        out,
        StoreNameArgs {
            name: args.name,
            store: args.store,
        },
    )
}

pub fn retire(out: Out, args: StoreVersionArgs) -> Outcome {
    let store = open(&args.store)?;
    store.retire(&args.name, args.version).map_err(|e| {
        fail(
            &format!("retiring {} version {}", args.name, args.version),
            e,
        )
    })?;
    done(
        out,
        &format!("retired {} version {}", args.name, args.version),
    )
}

pub fn destroy(out: Out, args: StoreDestroyArgs) -> Outcome {
    if !args.confirm {
        return Err(Failure::usage(
            format!(
                "destroying {} version {} deletes its private key for good",
                args.name, args.version
            ),
            "add --confirm to proceed; anything sealed only to that version becomes unreadable",
        ));
    }
    let store = open(&args.store)?;
    store.destroy(&args.name, args.version).map_err(|e| {
        fail(
            &format!("destroying {} version {}", args.name, args.version),
            e,
        )
    })?;
    done(
        out,
        &format!("destroyed {} version {}", args.name, args.version),
    )
}

fn done(out: Out, line: &str) -> Outcome {
    if out.json {
        return print_json(&json!({"schema_version": 1, "ok": true, "done": line}));
    }
    out.say(line);
    Ok(())
}

pub fn audit_verify(out: Out, args: StoreOnlyArgs) -> Outcome {
    let backend = backend(&args.store)?;
    let report = qsafe_keys::verify_audit(&backend).map_err(|e| match e {
        KeysError::Audit { .. } => {
            let mut f = Failure::new(
                exit::CRYPTO,
                format!("audit log does not verify: {e}"),
                "a line was edited, removed, inserted or reordered, or the log was truncated; \
                 restore the store from a backup",
            );
            if out.json {
                let _ = print_json(&json!({
                    "schema_version": 1, "ok": false, "valid": false, "problem": e.to_string(),
                }));
                f.json_done = true;
            }
            f
        }
        other => fail("reading the audit log", other),
    })?;
    let pending = report.pending.as_ref().map(|p| {
        if p.applied {
            "one line left by an interrupted write whose change is in the store (committed by the next write)"
        } else {
            "one line left by an interrupted write whose change never happened (dropped by the next write)"
        }
    });
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": true, "valid": true, "lines": report.lines,
            "head_seq": report.head_seq, "pending": pending, "torn_bytes": report.torn_bytes,
        }));
    }
    out.say(format!(
        "audit log intact: {} lines, head {}",
        report.lines, report.head_seq
    ));
    if let Some(p) = pending {
        out.say(format!("note: {p}"));
    }
    Ok(())
}

/// `qsafe key export NAME --public|--private [--version N]`.
pub fn export(out: Out, args: &KeyExportArgs) -> Outcome {
    let store = open(&args.store)?;
    let name = args.key.to_string_lossy().into_owned();
    if args.k8s_secret {
        let bundle = store
            .export_wrapped(&name, args.version)
            .map_err(|e| fail(&format!("exporting {name}"), e))?;
        let manifest = bundle
            .secret_manifest(args.secret_name.as_deref(), args.namespace.as_deref())
            .map_err(|e| fail("writing the Secret manifest", e))?;
        if store.is_insecure() {
            eprintln!(
                "warning: this store is insecure-plaintext: the Secret holds the private key unwrapped"
            );
        }
        write_output(
            &args.output,
            manifest.as_bytes(),
            Content::Text,
            Sensitivity::Secret,
            args.force,
        )?;
        return Ok(());
    }
    if args.private {
        let version = match args.version {
            Some(v) => v,
            None => {
                store
                    .public_key(&name, None)
                    .map_err(|e| fail(&format!("reading key {name}"), e))?
                    .version
            }
        };
        eprintln!(
            "warning: exporting {name} version {version} UNWRAPPED; the file is written 0600"
        );
        let der = store
            .export_private(&name, version)
            .map_err(|e| fail(&format!("exporting {name} version {version}"), e))?;
        let key = codec::private_from_bytes(der.expose(), None)
            .map_err(|e| Failure::core("decoding the exported key", e))?;
        let pem = codec::private_to_pem(&key).map_err(|e| Failure::core("encoding", e))?;
        write_output(
            &args.output,
            pem.as_bytes(),
            Content::Text,
            Sensitivity::Secret,
            args.force,
        )?;
        return done(out, &format!("exported {name} version {version} (private)"));
    }
    let pk = store
        .export_public(&name, args.version)
        .map_err(|e| fail(&format!("exporting {name}"), e))?;
    let pem = codec::public_to_pem(&pk.key).map_err(|e| Failure::core("encoding", e))?;
    write_output(
        &args.output,
        pem.as_bytes(),
        Content::Text,
        Sensitivity::Public,
        args.force,
    )?;
    if args.output.as_os_str() != "-" {
        return done(
            out,
            &format!("exported {name} version {} {}", pk.version, pk.fingerprint),
        );
    }
    Ok(())
}

pub fn backup(out: Out, args: StoreBackupArgs) -> Outcome {
    let backend = backend(&args.store)?;
    let (bytes, summary) =
        qsafe_keys::backup::backup(&backend).map_err(|e| fail("backing up the key store", e))?;
    write_output(
        &args.output,
        &bytes,
        Content::Text,
        Sensitivity::Secret,
        args.force,
    )?;
    if args.output.as_os_str() == "-" {
        return Ok(());
    }
    done(
        out,
        &format!(
            "backed up {} keys and {} audit lines to {} (private keys stay wrapped)",
            summary.keys,
            summary.audit_lines,
            args.output.display()
        ),
    )
}

pub fn restore(out: Out, args: StoreRestoreArgs) -> Outcome {
    let bytes = read_input(&args.backup)?;
    let target = backend(&args.store)?;
    let location = target.location();
    let summary = qsafe_keys::backup::restore(&target, &bytes, &args.backup.display().to_string())
        .map_err(|e| fail(&format!("restoring into {location}"), e))?;
    done(
        out,
        &format!(
            "restored {} keys and {} audit lines into {location}",
            summary.keys, summary.audit_lines
        ),
    )
}
