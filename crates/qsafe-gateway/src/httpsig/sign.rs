//! Signing requests and responses (RFC 9421 §3.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qsafe_core::sig::SigningKey;

use super::alg::{self, HttpSigAlgorithm};
use super::component::{ComponentId, SignatureHeaders, SignatureInput, Target};
use super::message::{Request, Response};
use super::{Error, sfv};

/// A fresh nonce: 16 bytes from the OS CSPRNG, base64url without padding (22 characters).
pub fn random_nonce() -> Result<String, Error> {
    let bytes = qsafe_core::secret::random_bytes(16).map_err(Error::Signing)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.expose()))
}

/// What one signature covers and asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// Covered components, in order.
    pub components: Vec<ComponentId>,
    /// `created` (Unix seconds).
    pub created: Option<i64>,
    /// `expires` (Unix seconds).
    pub expires: Option<i64>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `tag` (application profile, RFC 9421 §2.3).
    pub tag: Option<String>,
    /// Emit the `alg` parameter (RFC 9421 makes it optional; verifiers here check it against
    /// the key when present).
    pub include_alg: bool,
}

impl SignatureParams {
    /// Covers `components` with no parameters but `alg`.
    pub fn new(components: Vec<ComponentId>) -> Self {
        SignatureParams {
            components,
            created: None,
            expires: None,
            nonce: None,
            tag: None,
            include_alg: true,
        }
    }

    /// What [`crate::httpsig::Policy::request_default`] expects: `@method`, `@target-uri`,
    /// and `content-digest`, `content-type` and `content-length` when the request has them;
    /// `created = now`, a random `nonce`, and `alg`.
    pub fn for_request(request: &Request, now: i64) -> Result<Self, Error> {
        let mut components = vec![
            ComponentId::new("@method")?,
            ComponentId::new("@target-uri")?,
        ];
        for field in ["content-digest", "content-type", "content-length"] {
            if request.headers.contains(field) {
                components.push(ComponentId::new(field)?);
            }
        }
        Ok(SignatureParams {
            created: Some(now),
            nonce: Some(random_nonce()?),
            ..Self::new(components)
        })
    }

    /// What [`crate::httpsig::Policy::response_default`] expects: `@status`, the same optional
    /// fields, `"content-digest";tr` when the digest is a trailer (a streamed body), and `@method`, `@target-uri` and the request's `content-digest` with `;req`
    /// when `request` is given (binding the response to its request, RFC 9421 §2.4);
    /// `created = now`, a random `nonce`, and `alg`.
    pub fn for_response(
        response: &Response,
        request: Option<&Request>,
        now: i64,
    ) -> Result<Self, Error> {
        let mut components = vec![ComponentId::new("@status")?];
        for field in ["content-digest", "content-type", "content-length"] {
            if response.headers.contains(field) {
                components.push(ComponentId::new(field)?);
            }
        }
        // A streamed body's digest arrives as a trailer (§2.1.4), with the signature.
        if response.trailers.contains("content-digest") {
            components.push(ComponentId::new("content-digest")?.tr()?);
        }
        if let Some(request) = request {
            components.push(ComponentId::new("@method")?.req());
            components.push(ComponentId::new("@target-uri")?.req());
            if request.headers.contains("content-digest") {
                components.push(ComponentId::new("content-digest")?.req());
            }
        }
        Ok(SignatureParams {
            created: Some(now),
            nonce: Some(random_nonce()?),
            ..Self::new(components)
        })
    }
}

/// Signs messages with one key under one key id and label.
#[derive(Debug)]
pub struct Signer {
    key: SigningKey,
    keyid: String,
    label: String,
    alg: &'static HttpSigAlgorithm,
}

impl Signer {
    /// A signer for `key`, announced as `keyid` (printable ASCII), label `sig1`.
    pub fn new(key: SigningKey, keyid: &str) -> Result<Self, Error> {
        let alg = alg::for_key(key.algorithm())
            .ok_or_else(|| Error::UnsupportedAlgorithm(key.algorithm().id.to_owned()))?;
        if keyid.is_empty() || !sfv::is_valid_string(keyid) {
            return Err(Error::InvalidMessage(
                "key id must be non-empty printable ASCII",
            ));
        }
        Ok(Signer {
            key,
            keyid: keyid.to_owned(),
            label: "sig1".to_owned(),
            alg,
        })
    }

    /// Uses another label (an RFC 8941 key: lowercase letters, digits, `_-.*`).
    pub fn with_label(mut self, label: &str) -> Result<Self, Error> {
        if !sfv::is_valid_key(label) {
            return Err(Error::InvalidMessage("label is not a structured-field key"));
        }
        label.clone_into(&mut self.label);
        Ok(self)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &'static HttpSigAlgorithm {
        self.alg
    }

    /// The key id.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn input(&self, params: &SignatureParams) -> Result<SignatureInput, Error> {
        SignatureInput::new(
            params.components.clone(),
            params.created,
            params.expires,
            Some(&self.keyid),
            params.nonce.as_deref(),
            params.include_alg.then_some(self.alg.name),
            params.tag.as_deref(),
        )
    }

    fn sign(
        &self,
        target: Target<'_>,
        params: &SignatureParams,
    ) -> Result<SignatureHeaders, Error> {
        let input = self.input(params)?;
        let base = input.base(target)?;
        let signature = self.alg.sign(&self.key, base.as_bytes())?;
        Ok(SignatureHeaders::new(&self.label, &input, signature))
    }

    /// Signs a request; add the result with [`SignatureHeaders::apply`]. Covered fields (such
    /// as `content-digest`, see [`crate::httpsig::content_digest`]) must already be set.
    pub fn sign_request(
        &self,
        request: &Request,
        params: &SignatureParams,
    ) -> Result<SignatureHeaders, Error> {
        self.sign(Target::Request(request), params)
    }

    /// Signs a response; `request` supplies `;req` components.
    pub fn sign_response(
        &self,
        response: &Response,
        request: Option<&Request>,
        params: &SignatureParams,
    ) -> Result<SignatureHeaders, Error> {
        self.sign(Target::Response { response, request }, params)
    }
}
