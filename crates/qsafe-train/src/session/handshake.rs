//! The three-message handshake (see the byte layout in the [module docs](super)).

use qsafe_core::SecretBytes;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_core::symmetric::{Hash, Hasher};

use super::wire::{Reader, put_vec16};
use super::{Role, Session, SessionConfig};
use crate::error::{Error, Result, SessionError};

/// First four bytes of a `ClientHello`.
pub const MAGIC: &[u8; 4] = b"QTS1";
/// Length of the handshake nonces.
pub const NONCE_LEN: usize = 32;
/// Upper bound on any handshake message, for transports sizing their reads.
pub const MAX_HANDSHAKE_LEN: usize = 16 * 1024;

const CLIENT_HELLO: u8 = 0x01;
const SERVER_HELLO: u8 = 0x02;
const CLIENT_FINISH: u8 = 0x03;
const CTX_AGGREGATOR: &[u8] = b"qsafe-train/session/v1 aggregator";
const CTX_WORKER: &[u8] = b"qsafe-train/session/v1 worker";

fn hash(cfg: &SessionConfig) -> Result<Hash> {
    Ok(Hash::from_algorithm(cfg.suite().hash)?)
}

fn digest(cfg: &SessionConfig, parts: &[&[u8]]) -> Result<Vec<u8>> {
    let mut h = Hasher::new(hash(cfg)?);
    parts.iter().for_each(|p| h.update(p));
    Ok(h.finish())
}

/// The key id of a verifying key: the suite hash of its raw encoding.
pub fn key_id(cfg: &SessionConfig, key: &[u8]) -> Result<Vec<u8>> {
    digest(cfg, &[key])
}

fn check_alg(cfg: &SessionConfig, alg: &'static qsafe_core::registry::Algorithm) -> Result<()> {
    if alg != cfg.suite().signature {
        return Err(Error::InvalidParameter(format!(
            "suite {} signs with {}, not {}",
            cfg.suite().id,
            cfg.suite().signature.id,
            alg.id
        )));
    }
    Ok(())
}

fn too_long(msg: &[u8], what: &'static str) -> Result<()> {
    if msg.len() > MAX_HANDSHAKE_LEN {
        return Err(SessionError::Malformed(what).into());
    }
    Ok(())
}

/// The worker's side: sends `ClientHello`, then answers the `ServerHello` with `ClientFinish`.
pub struct WorkerHandshake {
    pub(super) cfg: SessionConfig,
    pub(super) client_hello: Vec<u8>,
    pub(super) aggregator: VerifyingKey,
}

impl core::fmt::Debug for WorkerHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkerHandshake")
            .field("suite", &self.cfg.suite().id)
            .finish_non_exhaustive()
    }
}

impl WorkerHandshake {
    /// Starts a handshake as `identity` towards the aggregator whose verifying key is pinned
    /// as `aggregator`. Returns the `ClientHello` to send.
    pub fn start(
        cfg: SessionConfig,
        identity: &SigningKey,
        aggregator: &VerifyingKey,
    ) -> Result<(WorkerHandshake, Vec<u8>)> {
        check_alg(&cfg, identity.algorithm())?;
        check_alg(&cfg, aggregator.algorithm())?;
        let nonce = qsafe_core::secret::random_bytes(NONCE_LEN)?;
        let suite_id = cfg.suite().id.as_bytes();
        let suite_len = u8::try_from(suite_id.len())
            .map_err(|_| Error::InvalidParameter("suite id too long".into()))?;
        let mut ch = Vec::with_capacity(128);
        ch.extend_from_slice(MAGIC);
        ch.push(CLIENT_HELLO);
        ch.push(suite_len);
        ch.extend_from_slice(suite_id);
        ch.extend_from_slice(nonce.expose());
        put_vec16(
            &mut ch,
            &key_id(&cfg, &identity.public_bytes())?,
            "client hello",
        )?;
        Ok((
            WorkerHandshake {
                cfg,
                client_hello: ch.clone(),
                aggregator: aggregator.clone(),
            },
            ch,
        ))
    }

    /// Verifies the `ServerHello` (pinned aggregator key, signature over the transcript),
    /// encapsulates to the aggregator's ephemeral KEM key, and returns the session and the
    /// `ClientFinish` to send.
    pub fn finish(self, identity: &SigningKey, server_hello: &[u8]) -> Result<(Session, Vec<u8>)> {
        too_long(server_hello, "server hello")?;
        let cfg = self.cfg;
        let mut r = Reader::new(server_hello, "server hello");
        if r.u8()? != SERVER_HELLO {
            return Err(SessionError::Malformed("server hello").into());
        }
        r.take(NONCE_LEN)?;
        let ek = r.vec16()?;
        let kid = r.vec16()?;
        let body_len = r.consumed(server_hello);
        let sig = r.vec16()?;
        r.finish()?;
        if kid != key_id(&cfg, self.aggregator.as_bytes())? {
            return Err(SessionError::UnknownKey { role: "aggregator" }.into());
        }
        let body = server_hello
            .get(..body_len)
            .ok_or(SessionError::Malformed("server hello"))?;
        let th1 = digest(&cfg, &[&self.client_hello, body])?;
        self.aggregator
            .verify(&th1, CTX_AGGREGATOR, sig)
            .map_err(|_| SessionError::Authentication { role: "aggregator" })?;
        let ek = EncapsulationKey::from_bytes(cfg.suite().kem, ek)
            .map_err(|_| SessionError::Malformed("server hello key"))?;
        let (ct, ss) = ek.encapsulate()?;

        let mut cf = vec![CLIENT_FINISH];
        put_vec16(&mut cf, &ct, "client finish")?;
        let th2 = digest(&cfg, &[&self.client_hello, server_hello, &cf])?;
        let sig = identity.sign(&th2, CTX_WORKER)?;
        put_vec16(&mut cf, &sig, "client finish")?;
        let th3 = digest(&cfg, &[&self.client_hello, server_hello, &cf])?;
        let session = Session::new(cfg, Role::Worker, &ss, &th3, self.aggregator.as_bytes())?;
        Ok((session, cf))
    }
}

/// The aggregator's side: answers a `ClientHello` from a trusted worker with a `ServerHello`
/// carrying a fresh ephemeral KEM key, then completes on the `ClientFinish`.
pub struct AggregatorHandshake {
    cfg: SessionConfig,
    transcript: Vec<u8>,
    ephemeral: DecapsulationKey,
    peer: VerifyingKey,
}

impl core::fmt::Debug for AggregatorHandshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AggregatorHandshake")
            .field("suite", &self.cfg.suite().id)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl AggregatorHandshake {
    /// Parses a `ClientHello`, looks the worker's key id up among `trusted` (unknown →
    /// [`SessionError::UnknownKey`]), and returns the handshake state and the `ServerHello`.
    pub fn respond(
        cfg: SessionConfig,
        identity: &SigningKey,
        trusted: &[VerifyingKey],
        client_hello: &[u8],
    ) -> Result<(AggregatorHandshake, Vec<u8>)> {
        check_alg(&cfg, identity.algorithm())?;
        too_long(client_hello, "client hello")?;
        let mut r = Reader::new(client_hello, "client hello");
        if r.take(MAGIC.len())? != MAGIC {
            return Err(SessionError::Unsupported {
                what: "protocol version",
                got: "not QTS1".into(),
            }
            .into());
        }
        if r.u8()? != CLIENT_HELLO {
            return Err(SessionError::Malformed("client hello").into());
        }
        let suite_len = r.u8()?;
        let suite = r.take(usize::from(suite_len))?;
        if suite != cfg.suite().id.as_bytes() {
            return Err(SessionError::Unsupported {
                what: "suite",
                got: String::from_utf8_lossy(suite).into_owned(),
            }
            .into());
        }
        r.take(NONCE_LEN)?;
        let kid = r.vec16()?;
        r.finish()?;
        let mut peer = None;
        for key in trusted {
            if key.algorithm() == cfg.suite().signature && key_id(&cfg, key.as_bytes())? == kid {
                peer = Some(key.clone());
                break;
            }
        }
        let peer = peer.ok_or(SessionError::UnknownKey { role: "worker" })?;

        let ephemeral = DecapsulationKey::generate(cfg.suite().kem)?;
        let nonce = qsafe_core::secret::random_bytes(NONCE_LEN)?;
        let mut sh = vec![SERVER_HELLO];
        sh.extend_from_slice(nonce.expose());
        put_vec16(&mut sh, &ephemeral.public_bytes(), "server hello")?;
        put_vec16(
            &mut sh,
            &key_id(&cfg, &identity.public_bytes())?,
            "server hello",
        )?;
        let th1 = digest(&cfg, &[client_hello, &sh])?;
        let sig = identity.sign(&th1, CTX_AGGREGATOR)?;
        put_vec16(&mut sh, &sig, "server hello")?;
        let mut transcript = client_hello.to_vec();
        transcript.extend_from_slice(&sh);
        Ok((
            AggregatorHandshake {
                cfg,
                transcript,
                ephemeral,
                peer,
            },
            sh,
        ))
    }

    /// The authenticated worker's verifying key (known once `respond` succeeded; trusted
    /// only after `finish`).
    pub fn peer(&self) -> &VerifyingKey {
        &self.peer
    }

    /// Verifies the worker's signature over the transcript (which covers the KEM ciphertext),
    /// decapsulates, and returns the session.
    pub fn finish(self, client_finish: &[u8]) -> Result<Session> {
        too_long(client_finish, "client finish")?;
        let cfg = self.cfg;
        let mut r = Reader::new(client_finish, "client finish");
        if r.u8()? != CLIENT_FINISH {
            return Err(SessionError::Malformed("client finish").into());
        }
        let ct = r.vec16()?;
        let body_len = r.consumed(client_finish);
        let sig = r.vec16()?;
        r.finish()?;
        let body = client_finish
            .get(..body_len)
            .ok_or(SessionError::Malformed("client finish"))?;
        let th2 = digest(&cfg, &[&self.transcript, body])?;
        self.peer
            .verify(&th2, CTX_WORKER, sig)
            .map_err(|_| SessionError::Authentication { role: "worker" })?;
        let ss: SecretBytes = self
            .ephemeral
            .decapsulate(ct)
            .map_err(|_| SessionError::Malformed("client finish ciphertext"))?;
        let th3 = digest(&cfg, &[&self.transcript, client_finish])?;
        Session::new(cfg, Role::Aggregator, &ss, &th3, self.peer.as_bytes())
    }
}
