//! Verification policy: rules matched by image-reference pattern and the signers each requires.
//!
//! A policy is read in two phases, so this crate never touches the filesystem:
//! 1. [`PolicyFile::parse`] reads the YAML text and checks everything that does not need other
//!    files (patterns, signer references, thresholds, regular expressions). Errors name the
//!    policy file and the line:column of the offending node.
//! 2. The caller reads every file [`PolicyFile::files`] lists (key files, trusted roots,
//!    Notation trust-store certificates; paths as written in the policy, which kit resolves
//!    relative to the policy file) and hands their bytes to [`PolicyFile::resolve`], which parses
//!    the keys and returns a [`Policy`] ready for verification.
//!
//! # Format (version 1)
//!
//! ```yaml
//! version: 1
//! signers:
//!   release:                        # a name, used by rules and in verdicts
//!     cosign-key:
//!       path: keys/release.pub      # or `pem: |` with the PEM inline
//!       # rsa-scheme: pss           # RSA keys only; default pkcs1v15 (what cosign accepts)
//!       # tlog: {trusted-root: sigstore/trusted_root.json}
//!       #   require a Rekor entry (cosign's bundle annotation) signed by a log of that root
//!       #   (what `cosign verify --key` requires unless --insecure-ignore-tlog)

//!   ci:
//!     keyless:
//!       issuer: https://token.actions.githubusercontent.com
//!       subject: https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main
//!       # subject-regex: ^https://github\.com/org/.*$   (instead of subject; always anchored)
//!       trusted-root: sigstore/trusted_root.json
//!   vendor:
//!     notation:
//!       trust-store: [certs/vendor-root.pem]
//!       # trust-store-type: signing-authority   # default `ca`; Notation's store types
//!       identities: ["x509.subject: C=US, O=Vendor"]   # or ["*"]
//! rules:
//!   - images: [docker.io/linuxkit/*]
//!     signers: [release, ci]
//!     threshold: 2                  # k of the listed signers; default 1
//!     # docker-reference: ignore   # default; or `repository`, or {exact: registry/repo}
//!   - images: [localhost:5000/**]
//!     unsigned: accept              # explicit opt-out: every verdict carries a warning
//! ```
//!
//! Patterns and the "most specific rule wins" order are defined in [`pattern`].
//!
//! A containers-policy.json (Podman, Skopeo, CRI-O) is accepted too, recognized by its
//! top-level `default`/`transports` keys, and translated into the same rules and signers; see
//! the `containers` module for what maps to what and what is refused.
//! Every key is checked: unknown or duplicate keys are errors.
//! A rule either lists signers or says `unsigned: accept`, never both.
//!
//! # LinuxKit's `trust:` section
//!
//! LinuxKit configurations may carry `trust: {image: [...], org: [...]}`. From 2017 to 2021
//! LinuxKit pulled the listed images, and every image of the listed Docker Hub organisations,
//! with Docker Content Trust, i.e. it required a Notary v1 (TUF) signature for them; other images
//! were pulled unverified. LinuxKit removed this in 2021 (linuxkit#3609) and has ignored the
//! section since.
//!
//! kit verifies every input under the policy whatever the configuration says, and it cannot
//! verify Notary v1 signatures. So the section is accepted and mapped to the nearest meaning kit
//! can enforce, see [`LegacyTrust`]: an image it names must carry *some* signature that satisfies
//! its policy rule. It can only tighten a policy: an `unsigned: accept` rule does not apply to
//! such an image, which is refused with a message explaining why. It never loosens anything.

mod containers;
pub mod pattern;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;
use sha2::{Digest, Sha256};

use crate::keys::{KeyError, KeyId, PublicKey, RsaScheme};
use crate::notation::TrustStoreType;
use crate::trusted_root::TrustedRoot;
pub use pattern::{Pattern, PatternError};

/// A place in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceLoc {
    /// The policy file's name as the caller gave it.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
}

impl fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Errors in a policy file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The YAML does not parse into the policy schema (syntax, unknown or duplicate keys, types).
    #[error("{at}: {message}")]
    Yaml {
        /// Where.
        at: SourceLoc,
        /// What the YAML reader reported.
        message: String,
    },
    /// A containers-policy.json construct kit cannot enforce exactly (see the `containers`
    /// module), or a malformed one.
    #[error("{at}: containers-policy.json: {problem}")]
    ContainersPolicy {
        /// Where.
        at: SourceLoc,
        /// What, and what to write instead.
        problem: String,
    },
    /// `version` is not one this crate reads.
    #[error("{at}: unsupported policy version {found}: expected 1")]
    Version {
        /// Where.
        at: SourceLoc,
        /// The version found.
        found: u32,
    },
    /// An image pattern is malformed.
    #[error("{at}: bad image pattern `{pattern}`: {source}")]
    Pattern {
        /// Where.
        at: SourceLoc,
        /// The pattern as written.
        pattern: String,
        /// Why.
        source: PatternError,
    },
    /// The same pattern appears twice, so neither would be more specific.
    #[error("{at}: image pattern `{pattern}` is already used by the rule at {first}")]
    DuplicatePattern {
        /// Where the second use is.
        at: SourceLoc,
        /// The pattern.
        pattern: String,
        /// The rule that used it first.
        first: SourceLoc,
    },
    /// A rule lists no image pattern.
    #[error("{at}: rule has no `images`: expected at least one pattern")]
    NoImages {
        /// Where.
        at: SourceLoc,
    },
    /// A rule neither lists signers nor accepts unsigned images, or does both.
    #[error(
        "{at}: rule must have either `signers` (non-empty) or `unsigned: accept`, found {found}"
    )]
    RuleRequirement {
        /// Where.
        at: SourceLoc,
        /// What the rule has.
        found: &'static str,
    },
    /// A rule names a signer that is not defined.
    #[error("{at}: unknown signer `{name}`: expected one of the names under `signers:` ({known})")]
    UnknownSigner {
        /// Where.
        at: SourceLoc,
        /// The name.
        name: String,
        /// The defined names, comma-separated.
        known: String,
    },
    /// A rule lists one signer twice.
    #[error("{at}: signer `{name}` is listed twice in this rule")]
    RepeatedSigner {
        /// Where.
        at: SourceLoc,
        /// The name.
        name: String,
    },
    /// The threshold is 0 or larger than the number of listed signers.
    #[error(
        "{at}: threshold {threshold} is out of range: expected 1 to {n_signers} (the number of signers listed)"
    )]
    Threshold {
        /// Where.
        at: SourceLoc,
        /// The threshold written.
        threshold: u32,
        /// How many signers the rule lists.
        n_signers: usize,
    },
    /// A threshold or docker-reference setting on an `unsigned: accept` rule.
    #[error("{at}: `{field}` has no meaning with `unsigned: accept`")]
    UnsignedWith {
        /// Where.
        at: SourceLoc,
        /// The field.
        field: &'static str,
    },
    /// A signer definition has zero or several kinds.
    #[error(
        "{at}: signer `{name}` must have exactly one of `cosign-key`, `keyless`, `notation`, found {found}"
    )]
    SignerKind {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// How many kinds it has.
        found: usize,
    },
    /// A cosign key has neither or both of `path` and `pem`.
    #[error("{at}: cosign-key of signer `{name}` must have exactly one of `path` and `pem`")]
    KeySource {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
    },
    /// A keyless identity has neither or both of `subject` and `subject-regex`.
    #[error("{at}: keyless signer `{name}` must have exactly one of `subject` and `subject-regex`")]
    KeylessSubject {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
    },
    /// A regular expression does not compile.
    #[error("{at}: bad subject-regex of signer `{name}`: {message}")]
    Regex {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// What the regex compiler reported.
        message: String,
    },
    /// A string field is empty.
    #[error("{at}: `{field}` of signer `{name}` is empty")]
    Empty {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// The field.
        field: &'static str,
    },
    /// A Notation identity is not `*` or `x509.subject: …`.
    #[error(
        "{at}: notation identity `{identity}` of signer `{name}`: expected `*` or `x509.subject: C=…, O=…`"
    )]
    NotationIdentity {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// The identity as written.
        identity: String,
    },
    /// A file the policy names was not provided to [`PolicyFile::resolve`].
    #[error("{at}: file `{path}` of signer `{name}` was not provided")]
    MissingFile {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// The path as written in the policy.
        path: String,
    },
    /// A cosign key does not parse.
    #[error("{at}: key of signer `{name}` ({origin}): {source}")]
    Key {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// `inline PEM` or the file path.
        origin: String,
        /// Why.
        source: KeyError,
    },
    /// Two signers pin the same key, which would let one signature count twice.
    #[error("{at}: signer `{name}` has the same key {key} as signer `{other}`")]
    DuplicateKey {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// The other signer's name.
        other: String,
        /// The key id.
        key: KeyId,
    },
    /// A trusted root or trust-store file does not parse.
    #[error("{at}: {what} `{path}` of signer `{name}`: {reason}")]
    TrustFile {
        /// Where.
        at: SourceLoc,
        /// The signer name.
        name: String,
        /// `trusted root` or `trust-store certificate`.
        what: &'static str,
        /// The path as written.
        path: String,
        /// Why.
        reason: String,
    },
}

/// How a rule treats `critical.identity.docker-reference` in a cosign payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DockerReferenceRule {
    /// Ignore it, as cosign does (images are relocated between registries).
    #[default]
    Ignore,
    /// It must name the repository being verified (Docker Hub spellings `docker.io`,
    /// `index.docker.io` and an implicit `library/` are treated as equal; a tag or digest in the
    /// claimed reference is ignored).
    Repository,
    /// It must equal this repository (for images signed under another name and mirrored).
    Exact(String),
}

/// Where a cosign key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySource {
    /// A file path as written in the policy.
    Path(String),
    /// PEM text inline in the policy.
    Pem(String),
}

/// How a keyless certificate's subject (SAN) must match.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubjectMatch {
    /// Exactly this string.
    Exact(String),
    /// This regular expression, anchored at both ends.
    Regex {
        /// The expression as written.
        source: String,
        /// The compiled, anchored expression.
        regex: regex_lite::Regex,
    },
}

impl SubjectMatch {
    /// Whether `subject` matches.
    pub fn matches(&self, subject: &str) -> bool {
        match self {
            SubjectMatch::Exact(s) => s == subject,
            SubjectMatch::Regex { regex, .. } => regex.is_match(subject),
        }
    }
}

impl PartialEq for SubjectMatch {
    fn eq(&self, other: &SubjectMatch) -> bool {
        match (self, other) {
            (SubjectMatch::Exact(a), SubjectMatch::Exact(b)) => a == b,
            (SubjectMatch::Regex { source: a, .. }, SubjectMatch::Regex { source: b, .. }) => {
                a == b
            }
            _ => false,
        }
    }
}

/// A signer as written in the policy file (phase 1).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SignerSpec {
    /// A cosign public key.
    CosignKey {
        /// Where the key comes from.
        key: KeySource,
        /// RSA padding (ignored for other keys).
        rsa_scheme: RsaScheme,
        /// Path of a trusted root whose transparency logs must have logged the signature
        /// (`tlog: {trusted-root: …}`), or `None` for key-only verification.
        tlog_trusted_root: Option<String>,
    },
    /// A keyless (Fulcio certificate) identity.
    Keyless {
        /// The OIDC issuer, exactly.
        issuer: String,
        /// The certificate subject (SAN).
        subject: SubjectMatch,
        /// Path of the pinned Sigstore `trusted_root.json`.
        trusted_root: String,
    },
    /// Notation certificates and identities.
    Notation {
        /// Paths of trust-store certificates (PEM).
        trust_store: Vec<String>,
        /// What the trust store holds: CAs (`notary.x509` signatures) or signing authorities.
        trust_store_type: TrustStoreType,
        /// Trusted identities: `*` or `x509.subject: …`.
        identities: Vec<String>,
    },
}

/// What a rule requires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// `threshold` distinct signers among `signers` must each have a valid signature.
    Signed {
        /// Signer names, in policy order.
        signers: Vec<String>,
        /// How many of them must sign (1 ..= signers.len()).
        threshold: usize,
        /// How the cosign payload's docker-reference is checked.
        docker_reference: DockerReferenceRule,
    },
    /// Accept the image without a signature; the verdict carries a warning.
    UnsignedAccept,
    /// Refuse the image whatever signs it (containers-policy.json's `reject`).
    Reject,
}

/// A rule as written (shared by both phases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Where the rule starts in the policy file.
    pub at: SourceLoc,
    /// The optional `name:`.
    pub name: Option<String>,
    /// The image patterns, in policy order.
    pub patterns: Vec<Pattern>,
    /// What the rule requires.
    pub requirement: Requirement,
}

/// A parsed policy file whose external files are not read yet (phase 1).
#[derive(Debug, Clone)]
pub struct PolicyFile {
    file: String,
    signers: BTreeMap<String, (SourceLoc, SignerSpec)>,
    rules: Vec<Rule>,
}

/// A signer with its material resolved (phase 2).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Signer {
    /// A cosign public key.
    CosignKey {
        /// The key.
        key: PublicKey,
        /// RSA padding.
        rsa_scheme: RsaScheme,
        /// The trusted root whose logs must have logged the signature, if required.
        tlog: Option<TrustedRoot>,
    },
    /// A keyless identity with its trusted root's bytes.
    Keyless {
        /// The OIDC issuer.
        issuer: String,
        /// The subject match.
        subject: SubjectMatch,
        /// The parsed trusted root.
        root: TrustedRoot,
        /// The trusted root JSON bytes.
        trusted_root: Vec<u8>,
        /// `sha256:<hex>` of the trusted root bytes, for the lockfile.
        trusted_root_digest: String,
    },
    /// Notation trust store and identities.
    Notation {
        /// The trust-store certificates (PEM bytes), in policy order.
        trust_store: Vec<Vec<u8>>,
        /// What the trust store holds (Notation's `ca` or `signingAuthority` store types).
        trust_store_type: TrustStoreType,
        /// Trusted identities.
        identities: Vec<String>,
    },
}

impl Signer {
    /// A short description for messages: `cosign key sha256:…`, `keyless <issuer>`, `notation`.
    pub fn describe(&self) -> String {
        match self {
            Signer::CosignKey { key, .. } => format!("cosign {} key {}", key.algorithm(), key.id()),
            Signer::Keyless { issuer, .. } => format!("keyless identity from {issuer}"),
            Signer::Notation { .. } => "notation certificate".to_owned(),
        }
    }
}

/// A resolved policy, ready to verify images (phase 2).
#[derive(Debug, Clone)]
pub struct Policy {
    file: Option<String>,
    signers: BTreeMap<String, Signer>,
    rules: Vec<Rule>,
    legacy_trust: LegacyTrust,
}

/// LinuxKit's legacy `trust: {image: [...], org: [...]}` section, mapped to "must be signed".
///
/// LinuxKit (2017-2021) required a Docker Content Trust (Notary v1) signature for every image
/// listed under `image` (compared with the tag or digest removed) and for every image whose
/// organisation, the path component before the image name, is listed under `org` (`linuxkit`
/// covers `linuxkit/kernel`, `library` covers `alpine`). kit cannot verify Notary v1, and it
/// verifies every image under the policy anyway. The section therefore only adds one
/// constraint: an image it covers must satisfy its rule with at least one signature, so an
/// `unsigned: accept` rule does not apply to it. Decision recorded here and in ARCHITECTURE.md.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyTrust {
    images: BTreeSet<String>,
    orgs: BTreeSet<String>,
}

impl LegacyTrust {
    /// Builds the mapping from the section's lists, as written in the LinuxKit YAML
    /// (short Docker Hub names allowed; tags and digests are dropped).
    pub fn new(images: &[String], orgs: &[String]) -> LegacyTrust {
        LegacyTrust {
            images: images.iter().map(|i| normalize_repository(i)).collect(),
            orgs: orgs.iter().cloned().collect(),
        }
    }

    /// Whether the section names the repository (fully qualified, e.g. `docker.io/linuxkit/init`).
    pub fn covers(&self, repository: &str) -> bool {
        let repository = normalize_repository(repository);
        if self.images.contains(&repository) {
            return true;
        }
        let components: Vec<&str> = repository.split('/').collect();
        match components.len().checked_sub(2).and_then(|idx| components.get(idx)) {
            Some(org) => self.orgs.contains(*org),
            None => false,
        }
    }

    /// Whether the section is empty.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.orgs.is_empty()
    }
}

/// Normalizes a repository name the way Docker does for comparisons: adds `docker.io/` to names
/// without a registry host, `library/` to single-component Docker Hub names, maps
/// `index.docker.io` to `docker.io`, and drops a tag or digest.
pub fn normalize_repository(name: &str) -> String {
    let without_digest = name.split_once('@').map_or(name, |(n, _)| n);
    // A tag follows the last `:` after the last `/` (a `:` before it is a registry port).
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    let without_tag = match without_digest[last_slash..].find(':') {
        Some(colon) => &without_digest[..last_slash + colon],
        None => without_digest,
    };
    let mut components: Vec<&str> = without_tag.split('/').collect();
    let has_host = components.len() > 1
        && components
            .first()
            .is_some_and(|h| h.contains('.') || h.contains(':') || *h == "localhost");
    if !has_host {
        components.insert(0, "docker.io");
    }
    if components.first() == Some(&"index.docker.io") {
        components[0] = "docker.io";
    }
    if components.first() == Some(&"docker.io") && components.len() == 2 {
        components.insert(1, "library");
    }
    components.join("/")
}

// --- Phase 1: YAML ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    version: Spanned<u32>,
    #[serde(default)]
    signers: BTreeMap<String, Spanned<RawSigner>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSigner {
    cosign_key: Option<Spanned<RawCosignKey>>,
    keyless: Option<Spanned<RawKeyless>>,
    notation: Option<Spanned<RawNotation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCosignKey {
    path: Option<String>,
    pem: Option<String>,
    rsa_scheme: Option<RawRsaScheme>,
    tlog: Option<RawTlog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTlog {
    trusted_root: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawRsaScheme {
    Pkcs1v15,
    Pss,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKeyless {
    issuer: String,
    subject: Option<String>,
    subject_regex: Option<Spanned<String>>,
    trusted_root: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNotation {
    trust_store: Vec<String>,
    trust_store_type: Option<RawTrustStoreType>,
    identities: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawTrustStoreType {
    Ca,
    SigningAuthority,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    name: Option<String>,
    #[serde(default)]
    images: Vec<Spanned<String>>,
    #[serde(default)]
    signers: Vec<Spanned<String>>,
    threshold: Option<Spanned<u32>>,
    unsigned: Option<RawUnsigned>,
    docker_reference: Option<Spanned<RawDockerReference>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawUnsigned {
    Accept,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawDockerReference {
    Ignore,
    Repository,
    Exact(String),
}

/// The most bytes a policy file may have (a policy is a few kilobytes; inline PEM keys included).
pub const MAX_POLICY_BYTES: usize = 1024 * 1024;

impl PolicyFile {
    /// Parses a policy file. `file` names it in error messages.
    pub fn parse(file: &str, text: &str) -> Result<PolicyFile, PolicyError> {
        let loc = |line: u64, column: u64| SourceLoc { file: file.to_owned(), line, column };
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::Yaml {
                at: loc(0, 0),
                message: format!(
                    "policy is {} bytes, more than the {MAX_POLICY_BYTES} accepted",
                    text.len()
                ),
            });
        }
        if containers::is_containers_policy(text) {
            return containers::parse(file, text);
        }
        let raw: RawPolicy = serde_saphyr::from_str(text).map_err(|err| {
            let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
            PolicyError::Yaml { at: loc(line, column), message: yaml_message(&err) }
        })?;
        let at = |s: &serde_saphyr::Location| loc(s.line(), s.column());
        if raw.version.value != 1 {
            return Err(PolicyError::Version {
                at: at(&raw.version.referenced),
                found: raw.version.value,
            });
        }

        let mut signers = BTreeMap::new();
        for (name, spanned) in raw.signers {
            let signer_at = at(&spanned.referenced);
            let spec = parse_signer(&name, spanned.value, &signer_at, &at)?;
            signers.insert(name, (signer_at, spec));
        }

        let mut rules: Vec<Rule> = Vec::new();
        let mut seen_patterns: BTreeMap<String, SourceLoc> = BTreeMap::new();
        for spanned in raw.rules {
            let rule_at = at(&spanned.referenced);
            let raw_rule = spanned.value;
            if raw_rule.images.is_empty() {
                return Err(PolicyError::NoImages { at: rule_at });
            }
            let mut patterns = Vec::new();
            for image in &raw_rule.images {
                let pattern_at = at(&image.referenced);
                let pattern =
                    Pattern::parse(&image.value).map_err(|source| PolicyError::Pattern {
                        at: pattern_at.clone(),
                        pattern: image.value.clone(),
                        source,
                    })?;
                if let Some(first) = seen_patterns.get(&image.value) {
                    return Err(PolicyError::DuplicatePattern {
                        at: pattern_at,
                        pattern: image.value.clone(),
                        first: first.clone(),
                    });
                }
                seen_patterns.insert(image.value.clone(), rule_at.clone());
                patterns.push(pattern);
            }
            let requirement = match (raw_rule.unsigned, raw_rule.signers.is_empty()) {
                (Some(RawUnsigned::Accept), true) => {
                    if let Some(t) = &raw_rule.threshold {
                        return Err(PolicyError::UnsignedWith {
                            at: at(&t.referenced),
                            field: "threshold",
                        });
                    }
                    if let Some(d) = &raw_rule.docker_reference {
                        return Err(PolicyError::UnsignedWith {
                            at: at(&d.referenced),
                            field: "docker-reference",
                        });
                    }
                    Requirement::UnsignedAccept
                }
                (Some(RawUnsigned::Accept), false) => {
                    return Err(PolicyError::RuleRequirement {
                        at: rule_at,
                        found: "both `signers` and `unsigned: accept`",
                    });
                }
                (None, true) => {
                    return Err(PolicyError::RuleRequirement { at: rule_at, found: "neither" });
                }
                (None, false) => {
                    let mut names: Vec<String> = Vec::new();
                    for s in &raw_rule.signers {
                        if !signers.contains_key(&s.value) {
                            let known: Vec<&str> = signers.keys().map(String::as_str).collect();
                            return Err(PolicyError::UnknownSigner {
                                at: at(&s.referenced),
                                name: s.value.clone(),
                                known: if known.is_empty() {
                                    "none defined".to_owned()
                                } else {
                                    known.join(", ")
                                },
                            });
                        }
                        if names.contains(&s.value) {
                            return Err(PolicyError::RepeatedSigner {
                                at: at(&s.referenced),
                                name: s.value.clone(),
                            });
                        }
                        names.push(s.value.clone());
                    }
                    let threshold = match &raw_rule.threshold {
                        None => 1,
                        Some(t) => {
                            let k = usize::try_from(t.value).unwrap_or(usize::MAX);
                            if k == 0 || k > names.len() {
                                return Err(PolicyError::Threshold {
                                    at: at(&t.referenced),
                                    threshold: t.value,
                                    n_signers: names.len(),
                                });
                            }
                            k
                        }
                    };
                    let docker_reference = match raw_rule.docker_reference.map(|d| d.value) {
                        None | Some(RawDockerReference::Ignore) => DockerReferenceRule::Ignore,
                        Some(RawDockerReference::Repository) => DockerReferenceRule::Repository,
                        Some(RawDockerReference::Exact(r)) => {
                            DockerReferenceRule::Exact(normalize_repository(&r))
                        }
                    };
                    Requirement::Signed { signers: names, threshold, docker_reference }
                }
            };
            rules.push(Rule { at: rule_at, name: raw_rule.name, patterns, requirement });
        }
        Ok(PolicyFile { file: file.to_owned(), signers, rules })
    }

    /// The policy file's name as given to [`PolicyFile::parse`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The rules, in policy order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The signers as written, by name.
    pub fn signers(&self) -> impl Iterator<Item = (&str, &SignerSpec)> {
        self.signers.iter().map(|(n, (_, s))| (n.as_str(), s))
    }

    /// Every external file the policy names (key files, trusted roots, trust-store
    /// certificates), as written; [`PolicyFile::resolve`] needs the bytes of each.
    pub fn files(&self) -> BTreeSet<String> {
        let mut files = BTreeSet::new();
        for (_, spec) in self.signers.values() {
            match spec {
                SignerSpec::CosignKey { key, tlog_trusted_root, .. } => {
                    if let KeySource::Path(p) = key {
                        files.insert(p.clone());
                    }
                    if let Some(p) = tlog_trusted_root {
                        files.insert(p.clone());
                    }
                }
                SignerSpec::Keyless { trusted_root, .. } => {
                    files.insert(trusted_root.clone());
                }
                SignerSpec::Notation { trust_store, .. } => {
                    files.extend(trust_store.iter().cloned());
                }
            }
        }
        files
    }

    /// Resolves every signer's material from `files` (path as written → bytes) into a [`Policy`].
    pub fn resolve(&self, files: &BTreeMap<String, Vec<u8>>) -> Result<Policy, PolicyError> {
        let mut signers = BTreeMap::new();
        let mut key_owners: BTreeMap<KeyId, String> = BTreeMap::new();
        for (name, (at, spec)) in &self.signers {
            let file = |path: &String| {
                files.get(path).ok_or_else(|| PolicyError::MissingFile {
                    at: at.clone(),
                    name: name.clone(),
                    path: path.clone(),
                })
            };
            let signer =
                match spec {
                    SignerSpec::CosignKey { key, rsa_scheme, tlog_trusted_root } => {
                        let (bytes, origin) = match key {
                            KeySource::Path(p) => (file(p)?.as_slice(), p.clone()),
                            KeySource::Pem(pem) => (pem.as_bytes(), "inline PEM".to_owned()),
                        };
                        let key = PublicKey::from_pem(bytes).map_err(|source| {
                            PolicyError::Key { at: at.clone(), name: name.clone(), origin, source }
                        })?;
                        if let Some(other) = key_owners.insert(key.id().clone(), name.clone()) {
                            return Err(PolicyError::DuplicateKey {
                                at: at.clone(),
                                name: name.clone(),
                                other,
                                key: key.id().clone(),
                            });
                        }
                        let tlog = match tlog_trusted_root {
                            None => None,
                            Some(path) => Some(TrustedRoot::parse(file(path)?).map_err(|err| {
                                PolicyError::TrustFile {
                                    at: at.clone(),
                                    name: name.clone(),
                                    what: "trusted root",
                                    path: path.clone(),
                                    reason: err.to_string(),
                                }
                            })?),
                        };
                        Signer::CosignKey { key, rsa_scheme: *rsa_scheme, tlog }
                    }
                    SignerSpec::Keyless { issuer, subject, trusted_root } => {
                        let bytes = file(trusted_root)?;
                        let root =
                            TrustedRoot::parse(bytes).map_err(|err| PolicyError::TrustFile {
                                at: at.clone(),
                                name: name.clone(),
                                what: "trusted root",
                                path: trusted_root.clone(),
                                reason: err.to_string(),
                            })?;
                        Signer::Keyless {
                            issuer: issuer.clone(),
                            subject: subject.clone(),
                            root,
                            trusted_root: bytes.clone(),
                            trusted_root_digest: format!(
                                "sha256:{}",
                                hex::encode(Sha256::digest(bytes))
                            ),
                        }
                    }
                    SignerSpec::Notation { trust_store, trust_store_type, identities } => {
                        let mut certs = Vec::new();
                        for path in trust_store {
                            let bytes = file(path)?;
                            let label = spki::der::pem::decode_label(bytes.trim_ascii());
                            if label != Ok("CERTIFICATE") {
                                return Err(PolicyError::TrustFile {
                                    at: at.clone(),
                                    name: name.clone(),
                                    what: "trust-store certificate",
                                    path: path.clone(),
                                    reason: "expected a PEM `CERTIFICATE` block".to_owned(),
                                });
                            }
                            certs.push(bytes.clone());
                        }
                        Signer::Notation {
                            trust_store: certs,
                            trust_store_type: *trust_store_type,
                            identities: identities.clone(),
                        }
                    }
                };
            signers.insert(name.clone(), signer);
        }
        Ok(Policy {
            file: Some(self.file.clone()),
            signers,
            rules: self.rules.clone(),
            legacy_trust: LegacyTrust::default(),
        })
    }
}

fn yaml_message(err: &serde_saphyr::Error) -> String {
    // The rendered error starts with the message and may append the location and a snippet;
    // kit prints file:line:column itself, so keep only the first line without a location suffix.
    let rendered = err.without_snippet().to_string();
    let mut first = rendered.lines().next().unwrap_or("").trim();
    if let Some(idx) = first.rfind(" at line ") {
        first = &first[..idx];
    }
    // Advice aimed at programs using the YAML library, not at people writing a policy.
    if let Some(idx) = first.find(", set DuplicateKeyPolicy") {
        first = &first[..idx];
    }
    first.to_owned()
}

fn parse_signer(
    name: &str,
    raw: RawSigner,
    signer_at: &SourceLoc,
    at: &dyn Fn(&serde_saphyr::Location) -> SourceLoc,
) -> Result<SignerSpec, PolicyError> {
    let found = usize::from(raw.cosign_key.is_some())
        + usize::from(raw.keyless.is_some())
        + usize::from(raw.notation.is_some());
    if found != 1 {
        return Err(PolicyError::SignerKind {
            at: signer_at.clone(),
            name: name.to_owned(),
            found,
        });
    }
    if let Some(k) = raw.cosign_key {
        let key_at = at(&k.referenced);
        let key = match (k.value.path, k.value.pem) {
            (Some(p), None) if !p.is_empty() => KeySource::Path(p),
            (None, Some(pem)) => KeySource::Pem(pem),
            _ => return Err(PolicyError::KeySource { at: key_at, name: name.to_owned() }),
        };
        let rsa_scheme = match k.value.rsa_scheme {
            None | Some(RawRsaScheme::Pkcs1v15) => RsaScheme::Pkcs1v15Sha256,
            Some(RawRsaScheme::Pss) => RsaScheme::PssSha256,
        };
        let tlog_trusted_root = match k.value.tlog {
            None => None,
            Some(t) if t.trusted_root.is_empty() => {
                return Err(PolicyError::Empty {
                    at: key_at,
                    name: name.to_owned(),
                    field: "tlog.trusted-root",
                });
            }
            Some(t) => Some(t.trusted_root),
        };
        return Ok(SignerSpec::CosignKey { key, rsa_scheme, tlog_trusted_root });
    }
    if let Some(k) = raw.keyless {
        let k_at = at(&k.referenced);
        let k = k.value;
        let empty = |field| PolicyError::Empty { at: k_at.clone(), name: name.to_owned(), field };
        if k.issuer.is_empty() {
            return Err(empty("issuer"));
        }
        if k.trusted_root.is_empty() {
            return Err(empty("trusted-root"));
        }
        let subject = match (k.subject, k.subject_regex) {
            (Some(s), None) if !s.is_empty() => SubjectMatch::Exact(s),
            (None, Some(r)) => {
                let anchored = format!("^(?:{})$", r.value);
                let regex =
                    regex_lite::Regex::new(&anchored).map_err(|err| PolicyError::Regex {
                        at: at(&r.referenced),
                        name: name.to_owned(),
                        message: err.to_string().lines().last().unwrap_or("").trim().to_owned(),
                    })?;
                SubjectMatch::Regex { source: r.value, regex }
            }
            _ => return Err(PolicyError::KeylessSubject { at: k_at, name: name.to_owned() }),
        };
        return Ok(SignerSpec::Keyless { issuer: k.issuer, subject, trusted_root: k.trusted_root });
    }
    if let Some(n) = raw.notation {
        let n_at = at(&n.referenced);
        let n = n.value;
        if n.trust_store.is_empty() || n.trust_store.iter().any(String::is_empty) {
            return Err(PolicyError::Empty {
                at: n_at,
                name: name.to_owned(),
                field: "trust-store",
            });
        }
        if n.identities.is_empty() {
            return Err(PolicyError::Empty {
                at: n_at,
                name: name.to_owned(),
                field: "identities",
            });
        }
        let mut identities = Vec::new();
        for identity in n.identities {
            let ok = identity.value == "*"
                || identity
                    .value
                    .strip_prefix("x509.subject:")
                    .is_some_and(|s| !s.trim().is_empty());
            if !ok {
                return Err(PolicyError::NotationIdentity {
                    at: at(&identity.referenced),
                    name: name.to_owned(),
                    identity: identity.value,
                });
            }
            identities.push(identity.value);
        }
        let trust_store_type = match n.trust_store_type {
            None | Some(RawTrustStoreType::Ca) => TrustStoreType::Ca,
            Some(RawTrustStoreType::SigningAuthority) => TrustStoreType::SigningAuthority,
        };
        return Ok(SignerSpec::Notation {
            trust_store: n.trust_store,
            trust_store_type,
            identities,
        });
    }
    // `found == 1` above guarantees one of the three branches returned.
    Err(PolicyError::SignerKind { at: signer_at.clone(), name: name.to_owned(), found: 0 })
}

/// How a policy rule was chosen for an image.
#[derive(Debug, Clone, Copy)]
pub struct MatchedRule<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// Its pattern that matched (the most specific of the rule's patterns).
    pub pattern: &'a Pattern,
}

impl MatchedRule<'_> {
    /// `pattern` or `name (pattern)`, as verdicts and refusals name rules.
    pub fn label(&self) -> String {
        match &self.rule.name {
            Some(name) => format!("{name} ({})", self.pattern),
            None => self.pattern.to_string(),
        }
    }
}

impl Policy {
    /// The policy used when the user gave none: it has no rules and no signers, so every image
    /// is refused with a message explaining how to write a policy.
    pub fn none() -> Policy {
        Policy {
            file: None,
            signers: BTreeMap::new(),
            rules: Vec::new(),
            legacy_trust: LegacyTrust::default(),
        }
    }

    /// Adds the LinuxKit `trust:` section's constraint (see [`LegacyTrust`]).
    pub fn with_legacy_trust(mut self, legacy_trust: LegacyTrust) -> Policy {
        self.legacy_trust = legacy_trust;
        self
    }

    /// The policy file's name, or `None` for [`Policy::none`].
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The rules, in policy order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A resolved signer by name.
    pub fn signer(&self, name: &str) -> Option<&Signer> {
        self.signers.get(name)
    }

    /// The legacy trust mapping.
    pub fn legacy_trust(&self) -> &LegacyTrust {
        &self.legacy_trust
    }

    /// The rule that applies to `repository` (fully qualified, no tag or digest): the one with
    /// the most specific matching pattern (see [`pattern`]), or `None`.
    pub fn rule_for(&self, repository: &str) -> Option<MatchedRule<'_>> {
        let mut best: Option<MatchedRule<'_>> = None;
        for rule in &self.rules {
            for pattern in &rule.patterns {
                if !pattern.matches(repository) {
                    continue;
                }
                let better = match &best {
                    None => true,
                    Some(b) => pattern.specificity_cmp(b.pattern).is_gt(),
                };
                if better {
                    best = Some(MatchedRule { rule, pattern });
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests;
