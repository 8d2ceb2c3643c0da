//! Accepting TLS connections on tokio with the server's post-quantum preference enforced.
//!
//! rustls 0.23 picks the first group of the *client's* list that the server supports, so with
//! [`Fallback::Enabled`] a client listing `x25519` before `X25519MLKEM768` would get a classical
//! connection although both sides could do better. [`TlsAcceptor`] reads the ClientHello first
//! (tokio-rustls `LazyConfigAcceptor`) and, when the client offers any post-quantum group that
//! qsafe accepts, answers with the post-quantum-only configuration; only clients that offer no
//! post-quantum group at all get the fallback configuration. (The ClientHello is covered by the
//! handshake transcript, so an attacker cannot strip the post-quantum groups to force the
//! fallback.)

use std::fmt;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{Acceptor, ClientHello};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::server_config;
use crate::error::Result;
use crate::policy::{Fallback, Suite, kx_groups};

/// Accepts TLS connections with qsafe's configuration; cheap to clone (two `Arc`s).
#[derive(Clone)]
pub struct TlsAcceptor {
    suite: Suite,
    fallback: Fallback,
    /// Post-quantum groups, TLS 1.3 only (the `Fallback::Disabled` configuration).
    post_quantum: Arc<ServerConfig>,
    /// With `Fallback::Enabled`: the configuration that also accepts classical groups.
    classical: Option<Arc<ServerConfig>>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("suite", &self.suite)
            .field("fallback", &self.fallback)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Builds the configurations for `suite` and `fallback` around one certificate chain and key.
    pub fn new(
        suite: Suite,
        fallback: Fallback,
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self> {
        let classical = match fallback {
            Fallback::Enabled => Some(server_config(
                suite,
                Fallback::Enabled,
                cert_chain.clone(),
                key.clone_key(),
            )?),
            Fallback::Disabled => None,
        };
        let post_quantum = server_config(suite, Fallback::Disabled, cert_chain, key)?;
        Ok(Self {
            suite,
            fallback,
            post_quantum,
            classical,
        })
    }

    /// Sets the ALPN protocols offered (e.g. `[b"h2", b"http/1.1"]`), in preference order.
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> Self {
        let set = |cfg: &mut Arc<ServerConfig>| {
            Arc::make_mut(cfg).alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        };
        set(&mut self.post_quantum);
        if let Some(c) = self.classical.as_mut() {
            set(c);
        }
        self
    }

    /// The suite this acceptor was built for.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The fallback setting this acceptor was built for.
    pub fn fallback(&self) -> Fallback {
        self.fallback
    }

    /// The configuration used for a ClientHello: post-quantum-only when the client offers one of
    /// our post-quantum groups (or when the fallback is disabled), otherwise the fallback one.
    pub fn config_for(&self, hello: &ClientHello<'_>) -> &Arc<ServerConfig> {
        let Some(classical) = &self.classical else {
            return &self.post_quantum;
        };
        let ours = kx_groups(self.suite, Fallback::Disabled);
        let offers_pq = hello
            .named_groups()
            .is_some_and(|offered| offered.iter().any(|g| ours.iter().any(|o| o.name() == *g)));
        if offers_pq {
            &self.post_quantum
        } else {
            classical
        }
    }

    /// Runs the TLS handshake on `io`. On failure the alert has been sent and the error says
    /// why (as an `io::Error` wrapping the `rustls::Error`).
    pub async fn accept<IO>(&self, io: IO) -> std::io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let start = LazyConfigAcceptor::new(Acceptor::default(), io).await?;
        let config = Arc::clone(self.config_for(&start.client_hello()));
        start.into_stream(config).await
    }
}
