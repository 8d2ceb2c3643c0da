//! The PostgreSQL backend: one store shared by several processes, replicas or zones, each
//! with its own connection. A rotation committed by one is seen by the next read of any other.
//!
//! Three tables in a schema of the caller's choice (default `qsafe`):
//!
//! ```sql
//! qsafe_meta  (id INT PRIMARY KEY CHECK (id = 1), body BYTEA)  -- store.json
//! qsafe_keys  (name TEXT PRIMARY KEY, body BYTEA)              -- keys/<name>.json
//! qsafe_audit (seq BIGINT PRIMARY KEY, line BYTEA)             -- audit.jsonl, one row a line
//! ```
//!
//! The bytes are exactly those of the directory backend, so both share the model, audit and
//! verification code. Writers serialise on `SELECT … FOR UPDATE` of the metadata row, and a
//! write (audit line, key record, head) is one transaction: there is no partial state to
//! recover after a crash. Readers use a `REPEATABLE READ` snapshot.

use std::cell::RefCell;
use std::sync::Mutex;

use postgres::config::Host;
use postgres::{Client, IsolationLevel, NoTls, Transaction};

/// A parsed libpq connection configuration (re-exported so callers need no `postgres` dependency).
pub use postgres::Config;

use crate::audit::{self, AuditEntry, AuditHead};
use crate::backend::{Backend, Commit, StoreMeta, Txn};
use crate::model::{Key, KeyName, state_hash, unix_now};
use crate::{Error, Result};

/// A store in a PostgreSQL schema.
pub struct PgBackend {
    client: Mutex<Client>,
    location: String,
}

impl core::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PgBackend({})", self.location)
    }
}

fn db(location: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| Error::Database {
        location: location.to_string(),
        // The server's own message ("password authentication failed for user …") says far
        // more than the client's summary ("db error"); neither carries the password.
        reason: match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            },
        },
    }
}

/// Where a configuration points, without its password: `user@host:port/dbname`.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        if ports.is_empty() {
            "5432".into()
        } else {
            ports.join(",")
        },
        config.get_dbname().unwrap_or("?"),
    )
}

impl PgBackend {
    /// Connects with a libpq connection string, key-value (`host=127.0.0.1 user=… dbname=…`)
    /// or URI (`postgresql://user@host:port/dbname`), and uses `schema`; see
    /// [`PgBackend::connect_config`].
    pub fn connect(conn: &str, schema: &str) -> Result<PgBackend> {
        let config: Config = conn.parse().map_err(|e: postgres::Error| Error::Database {
            location: "postgres (connection string)".into(),
            // The parser's messages name the offending option, never its value.
            reason: format!("cannot parse the connection string: {e}"),
        })?;
        Self::connect_config(&config, schema)
    }

    /// Connects and uses `schema` (`[a-z_][a-z0-9_]*`), creating it and the tables if needed.
    pub fn connect_config(config: &Config, schema: &str) -> Result<PgBackend> {
        let valid = schema
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_lowercase() || b == b'_' || (i > 0 && b.is_ascii_digit()));
        if schema.is_empty() || schema.len() > 63 || !valid {
            return Err(Error::Database {
                location: describe(config),
                reason: format!("schema name {schema:?} must match [a-z_][a-z0-9_]*"),
            });
        }
        let location = format!("postgres {} schema {schema}", describe(config));
        let mut client = config.connect(NoTls).map_err(db(&location))?;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 SET search_path TO {schema};
                 CREATE TABLE IF NOT EXISTS qsafe_meta (
                     id INT PRIMARY KEY CHECK (id = 1), body BYTEA NOT NULL);
                 CREATE TABLE IF NOT EXISTS qsafe_keys (name TEXT PRIMARY KEY, body BYTEA NOT NULL);
                 CREATE TABLE IF NOT EXISTS qsafe_audit (seq BIGINT PRIMARY KEY, line BYTEA NOT NULL);"
            ))
            .map_err(db(&location))?;
        Ok(PgBackend {
            client: Mutex::new(client),
            location,
        })
    }

    fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let mut client = self.client.lock().map_err(|_| Error::Database {
            location: self.location.clone(),
            reason: "connection poisoned by an earlier panic".into(),
        })?;
        f(&mut client)
    }
}

fn load_meta(tx: &mut Transaction<'_>, location: &str, lock: bool) -> Result<Option<StoreMeta>> {
    let sql = if lock {
        "SELECT body FROM qsafe_meta WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT body FROM qsafe_meta WHERE id = 1"
    };
    let row = tx.query_opt(sql, &[]).map_err(db(location))?;
    row.map(|r| StoreMeta::from_json(&r.get::<_, Vec<u8>>(0), location))
        .transpose()
}

/// Takes the store's table lock and checks the schema holds no store and no leftover rows.
fn lock_empty(tx: &mut Transaction<'_>, location: &str) -> Result<()> {
    tx.batch_execute("LOCK TABLE qsafe_meta IN EXCLUSIVE MODE")
        .map_err(db(location))?;
    if load_meta(tx, location, false)?.is_some() {
        return Err(Error::StoreExists(location.to_string()));
    }
    let leftovers: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM qsafe_keys) + (SELECT count(*) FROM qsafe_audit)",
            &[],
        )
        .map_err(db(location))?
        .get(0);
    if leftovers > 0 {
        return Err(Error::PartialStore(location.to_string()));
    }
    Ok(())
}

fn seq(n: u64, location: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::corrupt(location, "audit sequence out of range"))
}

impl Backend for PgBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn create(&self, mut meta: StoreMeta, first: AuditEntry) -> Result<()> {
        let location = &self.location;
        self.with_client(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start()
                .map_err(db(location))?;
            lock_empty(&mut tx, location)?;
            let (line, text) = audit::seal(&AuditHead::genesis(), first, None, unix_now())?;
            tx.execute(
                "INSERT INTO qsafe_audit (seq, line) VALUES ($1, $2)",
                &[&seq(line.seq, location)?, &text],
            )
            .map_err(db(location))?;
            meta.audit = AuditHead::genesis().after(&line, text.len());
            tx.execute(
                "INSERT INTO qsafe_meta (id, body) VALUES (1, $1)",
                &[&meta.to_json()?],
            )
            .map_err(db(location))?;
            tx.commit().map_err(db(location))
        })
    }

    fn read_meta(&self) -> Result<StoreMeta> {
        let location = &self.location;
        self.with_client(|client| {
            let mut tx = client.transaction().map_err(db(location))?;
            load_meta(&mut tx, location, false)?.ok_or_else(|| Error::NotAStore(location.clone()))
        })
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<()>) -> Result<()> {
        let location = &self.location;
        self.with_client(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db(location))?;
            let meta = load_meta(&mut tx, location, false)?
                .ok_or_else(|| Error::NotAStore(location.clone()))?;
            let txn = PgTxn {
                tx: RefCell::new(tx),
                meta,
                location,
            };
            f(&txn)?;
            txn.tx.into_inner().commit().map_err(db(location))
        })
    }

    fn update(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<Commit>) -> Result<()> {
        let location = &self.location;
        self.with_client(|client| {
            let mut tx = client.transaction().map_err(db(location))?;
            let meta = load_meta(&mut tx, location, true)?
                .ok_or_else(|| Error::NotAStore(location.clone()))?;
            let txn = PgTxn {
                tx: RefCell::new(tx),
                meta,
                location,
            };
            let Commit { key, audit: entry } = f(&txn)?;
            let PgTxn { tx, mut meta, .. } = txn;
            let mut tx = tx.into_inner();
            let record = key.map(|k| k.to_json().map(|b| (k.name, b))).transpose()?;
            let state = record.as_ref().map(|(_, b)| state_hash(b));
            let (line, text) = audit::seal(&meta.audit, entry, state, unix_now())?;
            tx.execute(
                "INSERT INTO qsafe_audit (seq, line) VALUES ($1, $2)",
                &[&seq(line.seq, location)?, &text],
            )
            .map_err(db(location))?;
            if let Some((name, bytes)) = &record {
                tx.execute(
                    "INSERT INTO qsafe_keys (name, body) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body",
                    &[&name.as_str(), bytes],
                )
                .map_err(db(location))?;
            }
            meta.audit = meta.audit.after(&line, text.len());
            tx.execute(
                "UPDATE qsafe_meta SET body = $1 WHERE id = 1",
                &[&meta.to_json()?],
            )
            .map_err(db(location))?;
            tx.commit().map_err(db(location))
        })
    }

    /// In one transaction, into a schema that holds no store and no leftover rows.
    fn restore(&self, store: &[u8], keys: &[(KeyName, Vec<u8>)], audit: &[u8]) -> Result<()> {
        let location = &self.location;
        self.with_client(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start()
                .map_err(db(location))?;
            lock_empty(&mut tx, location)?;
            for (n, line) in audit.split_inclusive(|&b| b == b'\n').enumerate() {
                tx.execute(
                    "INSERT INTO qsafe_audit (seq, line) VALUES ($1, $2)",
                    &[&seq(n as u64 + 1, location)?, &line],
                )
                .map_err(db(location))?;
            }
            for (name, bytes) in keys {
                tx.execute(
                    "INSERT INTO qsafe_keys (name, body) VALUES ($1, $2)",
                    &[&name.as_str(), bytes],
                )
                .map_err(db(location))?;
            }
            tx.execute(
                "INSERT INTO qsafe_meta (id, body) VALUES (1, $1)",
                &[&store],
            )
            .map_err(db(location))?;
            tx.commit().map_err(db(location))
        })
    }
}

/// A transaction's view for [`Txn`]; queries need `&mut`, the trait gives `&self`.
struct PgTxn<'c, 'l> {
    tx: RefCell<Transaction<'c>>,
    meta: StoreMeta,
    location: &'l str,
}

impl PgTxn<'_, '_> {
    fn body(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .tx
            .borrow_mut()
            .query_opt("SELECT body FROM qsafe_keys WHERE name = $1", &[&name])
            .map_err(db(self.location))?;
        Ok(row.map(|r| r.get(0)))
    }
}

impl Txn for PgTxn<'_, '_> {
    fn meta(&self) -> &StoreMeta {
        &self.meta
    }

    fn key(&self, name: &KeyName) -> Result<Option<Key>> {
        let file = format!("{} key {name}", self.location);
        let Some(bytes) = self.body(name.as_str())? else {
            return Ok(None);
        };
        let key = Key::from_json(&bytes, &file)?;
        if &key.name != name {
            return Err(Error::corrupt(file, format!("it holds key `{}`", key.name)));
        }
        Ok(Some(key))
    }

    fn names(&self) -> Result<Vec<KeyName>> {
        let rows = self
            .tx
            .borrow_mut()
            .query("SELECT name FROM qsafe_keys ORDER BY name", &[])
            .map_err(db(self.location))?;
        rows.iter()
            .map(|r| KeyName::new(r.get::<_, &str>(0)))
            .collect()
    }

    fn key_state(&self, name: &str) -> Result<Option<String>> {
        Ok(self.body(name)?.map(|b| state_hash(&b)))
    }

    fn audit_log(&self) -> Result<Vec<u8>> {
        let rows = self
            .tx
            .borrow_mut()
            .query("SELECT line FROM qsafe_audit ORDER BY seq", &[])
            .map_err(db(self.location))?;
        Ok(rows.iter().flat_map(|r| r.get::<_, Vec<u8>>(0)).collect())
    }

    fn audit_location(&self) -> String {
        format!("{} table qsafe_audit", self.location)
    }
}
