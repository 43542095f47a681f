//! Registry client: resolving and pulling images and blobs from OCI registries, digest-verified while streaming.
//!
//! - [`endpoint`]: mirrors (`--mirror`), Docker Hub's API host, loopback and insecure registries.
//! - [`credentials`]: Docker `config.json`, containers `auth.json`, credential helpers.
//! - [`retry`]: exponential backoff for 5xx, 429 and dropped connections.
//! - [`progress`]: progress events and the plain and JSON-lines renderers.
//! - `client`: the asynchronous HTTP layer (auth, retries, verified streaming).
//!
//! Tokio stays inside this module: the public API is blocking and owns its runtime.

mod client;
pub mod credentials;
pub mod endpoint;
mod error;
pub mod progress;
mod registry;
pub mod retry;

pub use client::{ClientOptions, MANIFEST_ACCEPT};
pub use credentials::{Anonymous, AuthFiles, Credential, CredentialProvider, StaticCredentials};
pub use endpoint::EndpointConfig;
pub use error::FetchError;
pub use progress::{FetchEvent, FetchState, JsonProgress, NoProgress, PlainProgress, ProgressSink};
pub use registry::{PullPolicy, PulledImage, Registry, cached_root, ensure_image, resolve_cached};
pub use retry::RetryPolicy;
