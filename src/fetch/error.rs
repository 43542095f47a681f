//! Errors of the registry client. Every variant names the image (fully expanded reference) or
//! the URL or file it concerns.

use std::io;
use std::path::PathBuf;

use super::credentials::CredentialError;
use super::endpoint::MirrorError;
use crate::digest::Digest;

/// Why fetching failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// A request failed at the transport level (connection refused or dropped, TLS, timeout)
    /// and was not retried or could not be retried any more.
    #[error("{what}: {url}: gave up after {attempts} attempt(s): {detail}")]
    Transport {
        /// The image and object being fetched.
        what: String,
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure, with its causes.
        detail: String,
    },
    /// The registry kept answering with a retryable status (5xx, 429) until the retry budget ran out.
    #[error("{what}: {url}: gave up after {attempts} attempt(s): HTTP {status}: {body}")]
    Unavailable {
        /// The image and object being fetched.
        what: String,
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last status.
        status: u16,
        /// The start of the last answer's body.
        body: String,
    },
    /// An unexpected HTTP status.
    #[error("{what}: {url}: unexpected HTTP {status}: {body}")]
    Status {
        /// The image and object being fetched.
        what: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The manifest (tag or digest) does not exist in the repository.
    #[error("{image}: not found in registry {registry} (HTTP 404: {body})")]
    NotFound {
        /// The image.
        image: String,
        /// The registry host asked.
        registry: String,
        /// The start of the answer's body.
        body: String,
    },
    /// A blob the manifest names does not exist in the repository.
    #[error("{image}: blob {blob} not found in registry {registry} (HTTP 404)")]
    BlobNotFound {
        /// The image.
        image: String,
        /// The blob.
        blob: Digest,
        /// The registry host asked.
        registry: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("{image}: registry {registry} refused access with {credentials}: {detail}")]
    Unauthorized {
        /// The image.
        image: String,
        /// The registry host.
        registry: String,
        /// Which credentials were used: `no credentials` or their origin.
        credentials: String,
        /// The registry's answer.
        detail: String,
    },
    /// A registry's authentication challenge could not be followed.
    #[error("{image}: registry {registry}: cannot authenticate: {detail}")]
    Challenge {
        /// The image.
        image: String,
        /// The registry host.
        registry: String,
        /// What is wrong with the challenge or token answer.
        detail: String,
    },
    /// Bytes that do not hash to the digest they were fetched by.
    #[error("{image}: {blob}: digest mismatch: expected {blob}, found {found}")]
    DigestMismatch {
        /// The image.
        image: String,
        /// The digest asked for.
        blob: Digest,
        /// The digest of what arrived.
        found: Digest,
    },
    /// A blob longer or shorter than its descriptor says.
    #[error("{image}: {blob}: size mismatch: expected {expected} bytes, found {found}")]
    SizeMismatch {
        /// The image.
        image: String,
        /// The blob.
        blob: Digest,
        /// The size from the descriptor.
        expected: u64,
        /// The size that arrived (a lower bound when too long).
        found: u64,
    },
    /// A document larger than kit accepts.
    #[error("{what}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The document.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A manifest answer without a usable digest header when one was needed.
    #[error("{image}: registry answer: {detail}")]
    BadAnswer {
        /// The image.
        image: String,
        /// What was wrong.
        detail: String,
    },
    /// An offline (or locked) resolution found the image incomplete in the cache.
    #[error("{image}: not available offline: {detail}")]
    NotCached {
        /// The image.
        image: String,
        /// What is missing.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An extra CA certificate file is unusable.
    #[error("CA certificate file {path}: {detail}")]
    CaCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Credentials could not be read.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// A mirror setting is unusable.
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    /// An OCI document is malformed, or an image lacks the platform asked for.
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The HTTP client or runtime could not be set up.
    #[error("setting up the registry client: {0}")]
    Setup(String),
}

/// The error chain of `error` as one line: `a: b: c`.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
