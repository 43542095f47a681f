//! Reading a containers-policy.json (containers/image, as used by Podman, Skopeo and CRI-O) as a
//! kit policy.
//!
//! Users who already keep a `/etc/containers/policy.json` can pass it to `--policy` unchanged.
//! It is translated into kit's own rules and signers (the same [`PolicyFile`] the YAML format
//! gives), so everything downstream, rule selection and verification, is shared. The parts of
//! the format kit cannot enforce exactly are errors naming the line, never silently dropped,
//! because a dropped requirement would loosen the policy.
//!
//! # Translation
//!
//! - Only the `docker` transport is read: kit pulls every image by registry reference (a local
//!   `--source` stands in for its registry reference). Other transports (`oci`,
//!   `docker-daemon`, `dir`, …) are ignored; their scopes never name the images kit verifies.
//! - Scopes become patterns, with containers/image's "most specific scope wins" order, which
//!   kit's pattern order reproduces ([`super::pattern`]): a repository or namespace scope
//!   `host/ns/repo` becomes `host/ns/repo` and `host/ns/repo/**`, a host scope `host[:port]`
//!   becomes `host[:port]/**`, and the transport default `""` (else the top-level `default`)
//!   becomes `**`. Scopes with a tag or digest, and `*.domain` wildcards, are refused: kit pins
//!   every image by digest and matches by repository.
//! - Requirements of one scope must all hold (containers/image's AND):
//!   `reject` anywhere makes the scope reject; `insecureAcceptAnything` holds trivially, so a
//!   scope with nothing else becomes `unsigned: accept`; each `sigstoreSigned` requirement is a
//!   group of keys of which one must sign (`keyPath`, `keyPaths`, `keyData` or `keyDatas`).
//!   One group becomes a rule with threshold 1 over its keys; several single-key groups become a
//!   rule with a threshold equal to the number of groups. Several groups with several keys each
//!   (an AND of ORs) cannot be expressed as one threshold and are refused.
//! - `signedIdentity` maps to `docker-reference`: `matchRepoDigestOrExact` (the default) and
//!   `matchRepository` to `repository` (kit verifies digest-pinned images, for which both mean
//!   "the signed reference names this repository"), `exactRepository` to `{exact: …}`.
//!   `exactReference` and `remapIdentity` are refused.
//! - Refused with an explanation: `signedBy` (GPG simple signing, which kit does not verify),
//!   `fulcio`, `pki` and `rekorPublicKey*` (a containers-policy keyless requirement has no
//!   Sigstore trusted root, hence no CT log keys for the SCT check kit requires: write a kit
//!   policy with a `keyless` signer and a `trusted-root` instead).
//! - Signers are named after their key (`key /etc/pki/a.pub`, `keyData 1`); the same key named
//!   in several scopes is one signer.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::{
    DockerReferenceRule, KeySource, Pattern, PolicyError, PolicyFile, Requirement, Rule,
    SignerSpec, SourceLoc, normalize_repository, yaml_message,
};
use crate::keys::RsaScheme;

/// Whether `text` is a containers-policy.json rather than a kit policy: a mapping with a
/// `default` or `transports` key and no `version`.
pub(super) fn is_containers_policy(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        version: Option<IgnoredAny>,
        default: Option<IgnoredAny>,
        transports: Option<IgnoredAny>,
    }
    match serde_saphyr::from_str::<Probe>(text) {
        Ok(probe) => {
            probe.version.is_none() && (probe.default.is_some() || probe.transports.is_some())
        }
        Err(_) => false,
    }
}

/// The requirements of one scope, all of which must hold.
type RawRequirements = Spanned<Vec<Spanned<RawRequirement>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainersPolicy {
    default: Option<RawRequirements>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, RawRequirements>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRequirement {
    #[serde(rename = "type")]
    kind: String,
    // signedBy (GPG)
    key_type: Option<IgnoredAny>,
    // signedBy and sigstoreSigned
    key_path: Option<String>,
    key_paths: Option<Vec<String>>,
    key_data: Option<String>,
    key_datas: Option<Vec<String>>,
    signed_identity: Option<Spanned<RawSignedIdentity>>,
    // sigstoreSigned, refused
    fulcio: Option<IgnoredAny>,
    pki: Option<IgnoredAny>,
    rekor_public_key_path: Option<IgnoredAny>,
    rekor_public_key_paths: Option<IgnoredAny>,
    rekor_public_key_data: Option<IgnoredAny>,
    rekor_public_key_datas: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSignedIdentity {
    #[serde(rename = "type")]
    kind: String,
    docker_reference: Option<String>,
    docker_repository: Option<String>,
    prefix: Option<String>,
    signed_prefix: Option<String>,
}

/// Signers collected across scopes, one per distinct key.
#[derive(Default)]
struct Signers {
    by_source: BTreeMap<KeySourceKey, String>,
    specs: BTreeMap<String, (SourceLoc, SignerSpec)>,
    n_inline: usize,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum KeySourceKey {
    Path(String),
    Pem(String),
}

impl Signers {
    fn add(&mut self, source: KeySource, at: &SourceLoc) -> String {
        let key = match &source {
            KeySource::Path(p) => KeySourceKey::Path(p.clone()),
            KeySource::Pem(p) => KeySourceKey::Pem(p.clone()),
        };
        if let Some(name) = self.by_source.get(&key) {
            return name.clone();
        }
        let name = match &source {
            KeySource::Path(p) => format!("key {p}"),
            KeySource::Pem(_) => {
                self.n_inline += 1;
                format!("keyData {}", self.n_inline)
            }
        };
        let spec = SignerSpec::CosignKey {
            key: source,
            rsa_scheme: RsaScheme::Pkcs1v15Sha256,
            tlog_trusted_root: None,
        };
        self.specs.insert(name.clone(), (at.clone(), spec));
        self.by_source.insert(key, name.clone());
        name
    }
}

/// Parses a containers-policy.json into a kit [`PolicyFile`].
pub(super) fn parse(file: &str, text: &str) -> Result<PolicyFile, PolicyError> {
    let loc = |line: u64, column: u64| SourceLoc { file: file.to_owned(), line, column };
    let at = |s: &serde_saphyr::Location| loc(s.line(), s.column());
    let raw: RawContainersPolicy = serde_saphyr::from_str(text).map_err(|err| {
        let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
        PolicyError::Yaml { at: loc(line, column), message: yaml_message(&err) }
    })?;
    let mut docker = raw.transports.into_iter().find(|(t, _)| t == "docker").map(|(_, s)| s);
    let transport_default = docker.as_mut().and_then(|scopes| scopes.remove(""));
    let Some(default) = transport_default.or(raw.default) else {
        return Err(PolicyError::ContainersPolicy {
            at: loc(1, 1),
            problem: "no `default` requirements: containers-policy.json needs a top-level `default` (for example `[{\"type\": \"reject\"}]`)".to_owned(),
        });
    };

    let mut signers = Signers::default();
    let mut rules = Vec::new();
    rules.push(scope_rule("", &["**".to_owned()], default, &mut signers, &at)?);
    for (scope, requirements) in docker.unwrap_or_default() {
        let scope_at = at(&requirements.referenced);
        let patterns = scope_patterns(&scope, &scope_at)?;
        rules.push(scope_rule(&scope, &patterns, requirements, &mut signers, &at)?);
    }
    Ok(PolicyFile { file: file.to_owned(), signers: signers.specs, rules })
}

fn scope_patterns(scope: &str, at: &SourceLoc) -> Result<Vec<String>, PolicyError> {
    let refuse = |problem: String| Err(PolicyError::ContainersPolicy { at: at.clone(), problem });
    if scope.starts_with("*.") {
        return refuse(format!(
            "scope `{scope}`: wildcard host scopes are not supported; name the registry host"
        ));
    }
    let last = scope.rsplit('/').next().unwrap_or(scope);
    if scope.contains('@') || (scope.contains('/') && last.contains(':')) {
        return refuse(format!(
            "scope `{scope}`: scopes naming a tag or digest are not supported: kit pins every image by digest and selects rules by repository"
        ));
    }
    let patterns = if scope.contains('/') {
        vec![scope.to_owned(), format!("{scope}/**")]
    } else {
        vec![format!("{scope}/**")]
    };
    for pattern in &patterns {
        if let Err(source) = Pattern::parse(pattern) {
            return refuse(format!("scope `{scope}`: {source}"));
        }
    }
    Ok(patterns)
}

fn scope_rule(
    scope: &str,
    patterns: &[String],
    requirements: RawRequirements,
    signers: &mut Signers,
    at: &dyn Fn(&serde_saphyr::Location) -> SourceLoc,
) -> Result<Rule, PolicyError> {
    let rule_at = at(&requirements.referenced);
    let label = if scope.is_empty() { "default" } else { scope };
    let refuse = |at: SourceLoc, problem: String| PolicyError::ContainersPolicy { at, problem };
    if requirements.value.is_empty() {
        return Err(refuse(
            rule_at,
            format!(
                "scope `{label}`: an empty requirement list is not allowed (containers/image refuses it too)"
            ),
        ));
    }
    let mut reject = false;
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut identity: Option<(DockerReferenceRule, SourceLoc)> = None;
    for spanned in requirements.value {
        let req_at = at(&spanned.referenced);
        let req = spanned.value;
        match req.kind.as_str() {
            "insecureAcceptAnything" | "reject" => {
                let extra = req.key_type.is_some()
                    || req.key_path.is_some()
                    || req.key_paths.is_some()
                    || req.key_data.is_some()
                    || req.key_datas.is_some()
                    || req.signed_identity.is_some()
                    || req.fulcio.is_some()
                    || req.pki.is_some()
                    || req.rekor_public_key_path.is_some()
                    || req.rekor_public_key_paths.is_some()
                    || req.rekor_public_key_data.is_some()
                    || req.rekor_public_key_datas.is_some();
                if extra {
                    return Err(refuse(
                        req_at,
                        format!("scope `{label}`: `{}` takes no other fields", req.kind),
                    ));
                }
                reject |= req.kind == "reject";
            }
            "signedBy" => {
                return Err(refuse(
                    req_at,
                    format!(
                        "scope `{label}`: `signedBy` (GPG simple signing) is not supported: kit verifies cosign, Sigstore and Notation signatures (use `sigstoreSigned` with a key)"
                    ),
                ));
            }
            "sigstoreSigned" => {
                if req.key_type.is_some() {
                    return Err(refuse(
                        req_at,
                        format!(
                            "scope `{label}`: `keyType` belongs to `signedBy`, not `sigstoreSigned`"
                        ),
                    ));
                }
                if req.fulcio.is_some()
                    || req.pki.is_some()
                    || req.rekor_public_key_path.is_some()
                    || req.rekor_public_key_paths.is_some()
                    || req.rekor_public_key_data.is_some()
                    || req.rekor_public_key_datas.is_some()
                {
                    return Err(refuse(
                        req_at,
                        format!(
                            "scope `{label}`: `fulcio`, `pki` and `rekorPublicKey*` are not supported in a containers-policy.json: write a kit policy (YAML) with a `keyless` signer and a Sigstore `trusted-root`, which also pins the CT log keys kit checks"
                        ),
                    ));
                }
                let sources = key_sources(&req, &req_at, label)?;
                let names: Vec<String> =
                    sources.into_iter().map(|s| signers.add(s, &req_at)).collect();
                let rule = docker_reference(req.signed_identity, label, at, &req_at)?;
                match &identity {
                    Some((first, _)) if *first != rule.0 => {
                        return Err(refuse(
                            rule.1,
                            format!(
                                "scope `{label}`: requirements with different `signedIdentity` cannot be combined into one kit rule"
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => identity = Some(rule),
                }
                groups.push(names);
            }
            other => {
                return Err(refuse(
                    req_at,
                    format!(
                        "scope `{label}`: unknown requirement type `{other}`: expected `insecureAcceptAnything`, `reject`, `signedBy` or `sigstoreSigned`"
                    ),
                ));
            }
        }
    }
    let name = Some(if scope.is_empty() { "default".to_owned() } else { format!("scope {scope}") });
    let patterns = patterns
        .iter()
        .map(|p| {
            Pattern::parse(p).map_err(|source| PolicyError::Pattern {
                at: rule_at.clone(),
                pattern: p.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let requirement = if reject {
        Requirement::Reject
    } else if groups.is_empty() {
        Requirement::UnsignedAccept
    } else {
        let docker_reference = identity.map(|(r, _)| r).unwrap_or_default();
        let (signers, threshold) = if groups.len() == 1 {
            let names = groups.remove(0);
            (names, 1)
        } else if groups.iter().all(|g| g.len() == 1) {
            let names: Vec<String> = groups.into_iter().flatten().collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            if unique.len() != names.len() {
                return Err(refuse(
                    rule_at,
                    format!(
                        "scope `{label}`: the same key is required by two `sigstoreSigned` requirements"
                    ),
                ));
            }
            let n = names.len();
            (names, n)
        } else {
            return Err(refuse(
                rule_at,
                format!(
                    "scope `{label}`: several `sigstoreSigned` requirements with several keys each cannot be expressed as one threshold: write a kit policy instead"
                ),
            ));
        };
        Requirement::Signed { signers, threshold, docker_reference }
    };
    Ok(Rule { at: rule_at, name, patterns, requirement })
}

fn key_sources(
    req: &RawRequirement,
    at: &SourceLoc,
    label: &str,
) -> Result<Vec<KeySource>, PolicyError> {
    let refuse = |problem: String| PolicyError::ContainersPolicy { at: at.clone(), problem };
    let n_sources = usize::from(req.key_path.is_some())
        + usize::from(req.key_paths.is_some())
        + usize::from(req.key_data.is_some())
        + usize::from(req.key_datas.is_some());
    if n_sources != 1 {
        return Err(refuse(format!(
            "scope `{label}`: `sigstoreSigned` needs exactly one of `keyPath`, `keyPaths`, `keyData`, `keyDatas`, found {n_sources}"
        )));
    }
    let mut sources = Vec::new();
    let paths = req.key_path.iter().chain(req.key_paths.iter().flatten());
    for path in paths {
        if path.is_empty() {
            return Err(refuse(format!("scope `{label}`: empty key path")));
        }
        sources.push(KeySource::Path(path.clone()));
    }
    let datas = req.key_data.iter().chain(req.key_datas.iter().flatten());
    for data in datas {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|_| {
                refuse(format!(
                    "scope `{label}`: `keyData` is not standard base64 (of a PEM public key)"
                ))
            })?;
        let pem = String::from_utf8(bytes).map_err(|_| {
            refuse(format!("scope `{label}`: `keyData` does not decode to PEM text"))
        })?;
        sources.push(KeySource::Pem(pem));
    }
    if sources.is_empty() {
        return Err(refuse(format!("scope `{label}`: empty key list")));
    }
    Ok(sources)
}

fn docker_reference(
    identity: Option<Spanned<RawSignedIdentity>>,
    label: &str,
    at: &dyn Fn(&serde_saphyr::Location) -> SourceLoc,
    req_at: &SourceLoc,
) -> Result<(DockerReferenceRule, SourceLoc), PolicyError> {
    // containers/image's default is `matchRepoDigestOrExact`.
    let Some(identity) = identity else {
        return Ok((DockerReferenceRule::Repository, req_at.clone()));
    };
    let id_at = at(&identity.referenced);
    let id = identity.value;
    let refuse = |problem: String| PolicyError::ContainersPolicy { at: id_at.clone(), problem };
    let no_fields = |id: &RawSignedIdentity| {
        id.docker_reference.is_none()
            && id.docker_repository.is_none()
            && id.prefix.is_none()
            && id.signed_prefix.is_none()
    };
    let rule = match id.kind.as_str() {
        "matchRepoDigestOrExact" | "matchRepository" => {
            if !no_fields(&id) {
                return Err(refuse(format!(
                    "scope `{label}`: `{}` takes no other fields",
                    id.kind
                )));
            }
            DockerReferenceRule::Repository
        }
        "exactRepository" => {
            match (&id.docker_repository, &id.docker_reference, &id.prefix, &id.signed_prefix) {
                (Some(repo), None, None, None) if !repo.is_empty() => {
                    DockerReferenceRule::Exact(normalize_repository(repo))
                }
                _ => {
                    return Err(refuse(format!(
                        "scope `{label}`: `exactRepository` needs exactly `dockerRepository`"
                    )));
                }
            }
        }
        "exactReference" | "remapIdentity" => {
            return Err(refuse(format!(
                "scope `{label}`: signedIdentity `{}` is not supported: kit pins images by digest; use `matchRepository` or `exactRepository`",
                id.kind
            )));
        }
        other => {
            return Err(refuse(format!("scope `{label}`: unknown signedIdentity type `{other}`")));
        }
    };
    Ok((rule, id_at))
}

#[cfg(test)]
mod tests;
