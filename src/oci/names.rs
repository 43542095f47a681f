//! Matching the names stored in `index.json` annotations (or `docker save`'s `RepoTags`) against
//! the reference a configuration asks for.
//!
//! Tools store names differently: LinuxKit the fully expanded reference
//! (`docker.io/linuxkit/init:<tag>`), skopeo and umoci whatever the user typed after the layout
//! path (`busybox:1` or just `1`), `docker save` `busybox:1` and containerd
//! `docker.io/library/busybox:1`. A stored name matches a reference, from best to worst:
//! 1. when the strings are equal;
//! 2. when both expand (Docker's rules: `docker.io` registry, `library/` for single names,
//!    `latest` when neither tag nor digest is given) to the same repository and tag, or to the
//!    same repository and digest;
//! 3. when the stored name is a bare tag (no `/`, `:` or `@`) equal to the reference's tag.
//!
//! Only the best level that has any match is used.
//!
//! This is a small local expansion rule so that the layout code does not depend on the registry
//! reference parser; it only ever compares two names.

/// A reference split into repository (with registry), tag and digest.
#[derive(Debug, PartialEq, Eq)]
struct Expanded {
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn expand(reference: &str) -> Option<Expanded> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest.to_owned())),
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[last_slash..].rfind(':') {
        Some(colon) => {
            (&rest[..last_slash + colon], Some(rest[last_slash + colon + 1..].to_owned()))
        }
        None => (rest, None),
    };
    if repository.is_empty() || tag.as_deref() == Some("") {
        return None;
    }
    let (domain, path) = match repository.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, path.to_owned())
        }
        _ => ("docker.io", repository.to_owned()),
    };
    let domain = if domain == "index.docker.io" { "docker.io" } else { domain };
    let path =
        if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path };
    let tag = if tag.is_none() && digest.is_none() { Some("latest".to_owned()) } else { tag };
    Some(Expanded { repository: format!("{domain}/{path}"), tag, digest })
}

fn is_bare_tag(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', ':', '@'])
}

/// How well a stored `name` matches `reference`: 1 is best, `None` is no match.
pub(crate) fn match_level(name: &str, reference: &str) -> Option<u8> {
    if name == reference {
        return Some(1);
    }
    if let (Some(a), Some(b)) = (expand(name), expand(reference))
        && a.repository == b.repository
    {
        let same_digest = a.digest.is_some() && a.digest == b.digest;
        let same_tag = a.tag.is_some() && a.tag == b.tag;
        let digests_compatible = a.digest.is_none() || b.digest.is_none() || a.digest == b.digest;
        if same_digest || (same_tag && digests_compatible) {
            return Some(2);
        }
    }
    if is_bare_tag(name)
        && let Some(b) = expand(reference)
        && b.tag.as_deref() == Some(name)
    {
        return Some(3);
    }
    None
}

/// The digest a reference pins (`name@sha256:…`), if any.
pub(crate) fn pinned_digest(reference: &str) -> Option<&str> {
    reference.split_once('@').map(|(_, digest)| digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let cases: &[(&str, &str, Option<u8>)] = &[
            ("busybox:1", "busybox:1", Some(1)),
            ("docker.io/library/busybox:1", "busybox:1", Some(2)),
            ("docker.io/linuxkit/init:abc", "linuxkit/init:abc", Some(2)),
            ("index.docker.io/linuxkit/init:abc", "linuxkit/init:abc", Some(2)),
            ("docker.io/library/alpine:latest", "alpine", Some(2)),
            ("localhost:5000/lkfix/init:1", "localhost:5000/lkfix/init:1", Some(1)),
            ("localhost:5000/lkfix/init:1", "lkfix/init:1", None),
            ("1", "busybox:1", Some(3)),
            ("1", "1", Some(1)),
            ("latest", "busybox", Some(3)),
            ("busybox:2", "busybox:1", None),
            ("docker.io/linuxkit/init:abc", "linuxkit/init:abd", None),
            (&format!("docker.io/linuxkit/init@{d}"), &format!("linuxkit/init@{d}"), Some(2)),
            (&format!("docker.io/linuxkit/init:v1@{d}"), &format!("linuxkit/init@{d}"), Some(2)),
            ("docker.io/linuxkit/init:v1", &format!("linuxkit/init:v1@{d}"), Some(2)),
            ("quay.io/a/b:1", "a/b:1", None),
        ];
        for (name, reference, want) in cases {
            assert_eq!(match_level(name, reference), *want, "{name} vs {reference}");
        }
    }
}
