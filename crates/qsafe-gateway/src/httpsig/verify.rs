//! Verifying requests and responses (RFC 9421 §3.2) under an application policy (§1.4).
//!
//! The checks run cheapest first, and the replay cache is written only once everything else
//! has passed:
//!
//! 1. `Signature-Input`/`Signature` parse; the signature is chosen by label or tag;
//! 2. required parameters (`keyid`, `created`, `nonce`) and covered components are present;
//! 3. `expires` has not passed and `created` is within `±window` of the clock;
//! 4. the key id resolves, and `alg` (if present) names the key's algorithm (§3.2 step 6);
//! 5. the signature base is rebuilt and the signature verified;
//! 6. a covered `content-digest` matches the body (RFC 9530);
//! 7. the `(keyid, nonce)` pair is recorded, failing if it was already used.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use qsafe_core::sig::VerifyingKey;

use super::Error;
use super::alg::{self, HttpSigAlgorithm};
use super::component::{ComponentId, ComponentParam, ParsedSignature, Target, parse_signatures};
use super::digest::verify_content_digest;
use super::error::shown;
use super::message::{Request, Response};
use crate::replay::{NonceCache, NonceCacheConfig};

/// Default time window: a signature is accepted within 60 s of its `created` time.
pub const DEFAULT_WINDOW_SECS: i64 = 60;

/// A source of the current time (Unix seconds), injectable for tests.
pub trait Clock: Send + Sync + core::fmt::Debug {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: i64) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time by `secs` (may be negative).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Finds the verifying key for a `keyid`. The key's registry algorithm fixes the HTTP
/// algorithm ([`alg::for_key`]); an `alg` parameter must agree with it.
pub trait KeyResolver: Send + Sync {
    /// The key, or `None` when the key id is unknown (or revoked).
    fn resolve(&self, keyid: &str) -> Option<VerifyingKey>;
}

impl<S: std::hash::BuildHasher + Send + Sync> KeyResolver for HashMap<String, VerifyingKey, S> {
    fn resolve(&self, keyid: &str) -> Option<VerifyingKey> {
        self.get(keyid).cloned()
    }
}

/// A requirement on the covered components: satisfied when every component of at least one
/// alternative is covered (plain, without parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    alternatives: Vec<Vec<String>>,
}

impl Requirement {
    /// The component `name` must be covered.
    pub fn component(name: &str) -> Self {
        Requirement {
            alternatives: vec![vec![name.to_owned()]],
        }
    }

    /// One of the sets of components must be covered in full.
    pub fn any_of(alternatives: &[&[&str]]) -> Self {
        Requirement {
            alternatives: alternatives
                .iter()
                .map(|set| set.iter().map(|s| (*s).to_owned()).collect())
                .collect(),
        }
    }

    fn satisfied_by(&self, covered: &[ComponentId]) -> bool {
        self.alternatives.iter().any(|set| {
            set.iter()
                .all(|name| covered.iter().any(|c| c.is_plain(name)))
        })
    }

    fn describe(&self) -> String {
        self.alternatives
            .iter()
            .map(|set| set.join(" "))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// What a verifier insists on (RFC 9421 §1.4 "application requirements").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Components that must be covered.
    pub required: Vec<Requirement>,
    /// With a non-empty body, `content-digest` must be covered (and is then checked).
    pub require_content_digest_with_body: bool,
    /// `created` must be present.
    pub require_created: bool,
    /// `nonce` must be present (and is checked against the replay cache).
    pub require_nonce: bool,
    /// `alg` must be present.
    pub require_alg: bool,
    /// Accept `created` within this many seconds of the clock, past or future.
    pub window_secs: i64,
    /// Verify the signature with this label only.
    pub label: Option<String>,
    /// Verify only a signature whose `tag` is this.
    pub tag: Option<String>,
    /// Accept keys of these algorithms only (`None`: every algorithm in [`alg::ALL`]).
    pub allowed_algorithms: Option<Vec<&'static HttpSigAlgorithm>>,
}

impl Policy {
    /// For requests: `@method`; `@target-uri` or all of `@authority`, `@path`, `@query`;
    /// `content-digest` with a body; `keyid`, `created` and `nonce`; ±60 s.
    pub fn request_default() -> Self {
        Policy {
            required: vec![
                Requirement::component("@method"),
                Requirement::any_of(&[&["@target-uri"], &["@authority", "@path", "@query"]]),
            ],
            require_content_digest_with_body: true,
            require_created: true,
            require_nonce: true,
            require_alg: false,
            window_secs: DEFAULT_WINDOW_SECS,
            label: None,
            tag: None,
            allowed_algorithms: None,
        }
    }

    /// For responses: `@status`; `content-digest` with a body; `keyid` and `created`; ±60 s.
    /// No nonce: a client binds a response to its request with `;req` components instead.
    pub fn response_default() -> Self {
        Policy {
            required: vec![Requirement::component("@status")],
            require_nonce: false,
            ..Self::request_default()
        }
    }

    /// Accept only post-quantum and hybrid algorithms (no Ed25519 or ECDSA alone).
    #[must_use]
    pub fn post_quantum_only(mut self) -> Self {
        self.allowed_algorithms = Some(
            alg::ALL
                .iter()
                .copied()
                .filter(|a| !a.is_quantum_vulnerable())
                .collect(),
        );
        self
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::request_default()
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The label of the verified signature.
    pub label: String,
    /// The key id.
    pub keyid: String,
    /// The algorithm.
    pub algorithm: &'static HttpSigAlgorithm,
    /// Covered components, in order.
    pub components: Vec<ComponentId>,
    /// `created`.
    pub created: Option<i64>,
    /// `expires`.
    pub expires: Option<i64>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// True when a covered `content-digest` was checked against the body.
    pub content_digest_checked: bool,
}

/// Verifies signed messages: a key resolver, a policy, a clock and a replay cache.
pub struct Verifier {
    resolver: Arc<dyn KeyResolver>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    nonces: Arc<NonceCache>,
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("clock", &self.clock)
            .field("nonces", &self.nonces.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier on the system clock, with its own replay cache sized by
    /// [`NonceCacheConfig::for_window`].
    pub fn new(resolver: Arc<dyn KeyResolver>, policy: Policy) -> Self {
        let nonces = Arc::new(NonceCache::new(NonceCacheConfig::for_window(
            policy.window_secs,
        )));
        Verifier {
            resolver,
            policy,
            clock: Arc::new(SystemClock),
            nonces,
        }
    }

    /// Uses another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses (and possibly shares) another replay cache.
    #[must_use]
    pub fn with_nonce_cache(mut self, nonces: Arc<NonceCache>) -> Self {
        self.nonces = nonces;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The replay cache.
    pub fn nonce_cache(&self) -> &Arc<NonceCache> {
        &self.nonces
    }

    /// Verifies a request and its (complete) body.
    pub fn verify_request(&self, request: &Request, body: &[u8]) -> Result<Verified, Error> {
        self.verify(Target::Request(request), body)
    }

    /// Verifies a response and its body; `request` supplies `;req` components.
    pub fn verify_response(
        &self,
        response: &Response,
        request: Option<&Request>,
        body: &[u8],
    ) -> Result<Verified, Error> {
        self.verify(Target::Response { response, request }, body)
    }

    fn select(
        &self,
        signatures: Vec<ParsedSignature>,
    ) -> Result<(ParsedSignature, Vec<u8>), Error> {
        let mut candidates = signatures.into_iter().filter(|s| {
            self.policy.label.as_ref().is_none_or(|l| *l == s.label)
                && self
                    .policy
                    .tag
                    .as_deref()
                    .is_none_or(|t| s.input.tag() == Some(t))
        });
        let chosen = candidates.next().ok_or(Error::MissingSignature(
            "no signature with the expected label or tag",
        ))?;
        if candidates.next().is_some() {
            return Err(Error::Malformed(
                "several signatures match; the policy must name a label or tag",
            ));
        }
        let signature = chosen
            .signature
            .clone()
            .ok_or(Error::Malformed("Signature has no member for the label"))?;
        Ok((chosen, signature))
    }

    fn verify(&self, target: Target<'_>, body: &[u8]) -> Result<Verified, Error> {
        let policy = &self.policy;
        // 1. parse and choose
        let (chosen, signature) = self.select(parse_signatures(target.headers())?)?;
        let input = &chosen.input;

        // 2. parameters and coverage
        let keyid = input.keyid().ok_or(Error::ParameterMissing("keyid"))?;
        if policy.require_created && input.created().is_none() {
            return Err(Error::ParameterMissing("created"));
        }
        if policy.require_nonce && input.nonce().is_none() {
            return Err(Error::ParameterMissing("nonce"));
        }
        if policy.require_alg && input.alg().is_none() {
            return Err(Error::ParameterMissing("alg"));
        }
        let covered = input.components();
        for requirement in &policy.required {
            if !requirement.satisfied_by(covered) {
                return Err(Error::ComponentNotCovered(requirement.describe()));
            }
        }
        // `content-digest` from the headers, or `content-digest;tr` from the trailers of a
        // streamed body.
        let digest_in_headers = covered.iter().any(|c| c.is_plain("content-digest"));
        let digest_in_trailers = covered
            .iter()
            .any(|c| c.name() == "content-digest" && c.params() == [ComponentParam::Tr]);
        let digest_covered = digest_in_headers || digest_in_trailers;
        if policy.require_content_digest_with_body && !body.is_empty() && !digest_covered {
            return Err(Error::ComponentNotCovered("content-digest".to_owned()));
        }

        // 3. time
        let now = self.clock.now();
        let window = policy.window_secs;
        if let (Some(created), Some(expires)) = (input.created(), input.expires())
            && expires < created
        {
            return Err(Error::Malformed("expires is before created"));
        }
        if let Some(expires) = input.expires()
            && now > expires
        {
            return Err(Error::Expired { expires, now });
        }
        if let Some(created) = input.created()
            && now.abs_diff(created) > window.unsigned_abs()
        {
            return Err(Error::OutsideWindow {
                created,
                now,
                window,
            });
        }

        // 4. key and algorithm
        let key = self
            .resolver
            .resolve(keyid)
            .ok_or_else(|| Error::UnknownKey(shown(keyid)))?;
        let algorithm = alg::for_key(key.algorithm())
            .ok_or_else(|| Error::UnsupportedAlgorithm(key.algorithm().id.to_owned()))?;
        if let Some(name) = input.alg() {
            let named =
                alg::by_name(name).ok_or_else(|| Error::UnsupportedAlgorithm(shown(name)))?;
            if named != algorithm {
                return Err(Error::AlgorithmMismatch {
                    alg: shown(name),
                    key: algorithm.name,
                });
            }
        }
        if let Some(allowed) = &policy.allowed_algorithms
            && !allowed.contains(&algorithm)
        {
            return Err(Error::AlgorithmNotAllowed(algorithm.name));
        }

        if let Some(nonce) = input.nonce() {
            self.nonces.check_syntax(keyid, nonce)?;
        }

        // 5. signature
        let base = input.base(target)?;
        algorithm.verify(&key, base.as_bytes(), &signature)?;

        // 6. content digest (the field is now known to be the signer's)
        for (covered, fields) in [
            (digest_in_headers, target.headers()),
            (digest_in_trailers, target.trailers()),
        ] {
            if !covered {
                continue;
            }
            let value = match fields
                .combined_ascii("content-digest", super::digest::MAX_CONTENT_DIGEST_LEN)
            {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Err(Error::DigestMalformed(e)),
                None => return Err(Error::ComponentMissing("\"content-digest\"".to_owned())),
            };
            verify_content_digest(&value, body)?;
        }

        // 7. replay
        if let Some(nonce) = input.nonce() {
            let created = input.created().unwrap_or(now);
            let mut until = created.saturating_add(window);
            if let Some(expires) = input.expires() {
                until = until.min(expires);
            }
            self.nonces.check_and_insert(keyid, nonce, until, now)?;
        }

        Ok(Verified {
            label: chosen.label.clone(),
            keyid: keyid.to_owned(),
            algorithm,
            components: covered.to_vec(),
            created: input.created(),
            expires: input.expires(),
            nonce: input.nonce().map(str::to_owned),
            tag: input.tag().map(str::to_owned),
            content_digest_checked: digest_covered,
        })
    }
}
