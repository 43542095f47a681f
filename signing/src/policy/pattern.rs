//! Image-reference patterns that select a policy rule, and which of several matching patterns
//! is the most specific.
//!
//! A pattern names repositories, never tags or digests: `host[:port]/path/…` split on `/` into
//! components. Each component is one of
//! - a literal (`docker.io`, `linuxkit`, `kernel`), compared exactly;
//! - `*`, matching exactly one component (`docker.io/linuxkit/*` matches
//!   `docker.io/linuxkit/kernel` but not `docker.io/linuxkit/a/b`);
//! - `**`, allowed only as the last component, matching one or more components
//!   (`localhost:5000/**` matches every repository on that registry at any depth).
//!
//! The pattern `**` alone matches every repository (a default rule).
//! The first component must be a registry host (it contains `.` or `:` or is `localhost`),
//! or `*`: short Docker Hub names are written out (`docker.io/library/alpine`), as in
//! containers-policy.json, so a pattern never depends on name normalization.
//!
//! # Most specific match
//!
//! When several patterns match a repository, the most specific wins, as in
//! containers-policy.json where a repository scope beats its namespace, which beats its host,
//! which beats the default. Precisely: compare the two patterns component by component from the
//! left; at the first position where their kinds differ, the pattern whose component is narrower
//! wins, with literal > `*` > `**`. If one pattern ends first, the longer one wins (this cannot
//! happen between two patterns that match the same repository unless the shorter ends in `**`,
//! which already differs at that position). Two patterns matching the same repository with the
//! same kinds at every position are textually identical, and the policy parser rejects
//! identical patterns, so the winner is always unique.
//!
//! Examples for `docker.io/linuxkit/kernel`, most specific first:
//! `docker.io/linuxkit/kernel`, `docker.io/linuxkit/*`, `docker.io/linuxkit/**`,
//! `docker.io/*/kernel`, `docker.io/**`, `*/linuxkit/kernel`, `**`.

use std::cmp::Ordering;
use std::fmt;

/// Why a pattern string is not a valid pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty or has an empty component (`a//b`, trailing `/`).
    #[error("empty path component: expected components separated by single `/`")]
    EmptyComponent,
    /// `*` mixed with other characters in one component.
    #[error("`{component}`: `*` and `**` must be a whole path component")]
    PartialWildcard {
        /// The offending component.
        component: String,
    },
    /// `**` before the last component.
    #[error("`**` is allowed only as the last component")]
    InnerDoubleStar,
    /// The first component is not a registry host.
    #[error(
        "`{first}` is not a registry host: expected a fully qualified repository such as docker.io/{first}/… or docker.io/library/{first}"
    )]
    MissingHost {
        /// The first component.
        first: String,
    },
    /// A tag or digest in the pattern.
    #[error("`{component}`: patterns name repositories, drop the tag or digest")]
    TagOrDigest {
        /// The offending component.
        component: String,
    },
    /// Characters outside what references allow.
    #[error(
        "`{component}`: unexpected character {found:?}, expected lowercase letters, digits, `.`, `_`, `-` (and `:` in the host)"
    )]
    BadCharacter {
        /// The offending component.
        component: String,
        /// The character found.
        found: char,
    },
}

/// A parsed repository pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    components: Vec<Component>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Component {
    Literal(String),
    Star,
    DoubleStar,
}

impl Component {
    /// Narrowness used for specificity: literal > `*` > `**`.
    fn rank(&self) -> u8 {
        match self {
            Component::Literal(_) => 2,
            Component::Star => 1,
            Component::DoubleStar => 0,
        }
    }
}

impl Pattern {
    /// Parses a pattern (see the module documentation for the grammar).
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text == "**" {
            return Ok(Pattern { text: text.to_owned(), components: vec![Component::DoubleStar] });
        }
        let parts: Vec<&str> = text.split('/').collect();
        let n_parts = parts.len();
        let mut components = Vec::with_capacity(n_parts);
        for (idx, part) in parts.into_iter().enumerate() {
            let is_host = idx == 0;
            let component = match part {
                "" => return Err(PatternError::EmptyComponent),
                "*" => Component::Star,
                "**" if idx + 1 == n_parts => Component::DoubleStar,
                "**" => return Err(PatternError::InnerDoubleStar),
                _ => {
                    check_literal(part, is_host)?;
                    Component::Literal(part.to_owned())
                }
            };
            components.push(component);
        }
        if let Some(Component::Literal(first)) = components.first() {
            let is_host = first.contains('.') || first.contains(':') || first == "localhost";
            if !is_host {
                return Err(PatternError::MissingHost { first: first.clone() });
            }
        }
        Ok(Pattern { text: text.to_owned(), components })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches a repository name (`host/path/…`, no tag or digest).
    pub fn matches(&self, repository: &str) -> bool {
        let names: Vec<&str> = repository.split('/').collect();
        let mut name_idx = 0;
        for component in &self.components {
            match component {
                Component::DoubleStar => {
                    // One or more remaining components.
                    return name_idx < names.len();
                }
                Component::Star => {
                    if names.get(name_idx).is_none_or(|n| n.is_empty()) {
                        return false;
                    }
                }
                Component::Literal(lit) => {
                    if names.get(name_idx) != Some(&lit.as_str()) {
                        return false;
                    }
                }
            }
            name_idx += 1;
        }
        name_idx == names.len()
    }

    /// Orders two patterns by specificity: `Greater` means `self` is more specific.
    pub fn specificity_cmp(&self, other: &Pattern) -> Ordering {
        for (a, b) in self.components.iter().zip(&other.components) {
            let by_rank = a.rank().cmp(&b.rank());
            if by_rank != Ordering::Equal {
                return by_rank;
            }
        }
        self.components.len().cmp(&other.components.len())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check_literal(part: &str, is_host: bool) -> Result<(), PatternError> {
    if part.contains('*') {
        return Err(PatternError::PartialWildcard { component: part.to_owned() });
    }
    if part.contains('@') || (!is_host && part.contains(':')) {
        return Err(PatternError::TagOrDigest { component: part.to_owned() });
    }
    for c in part.chars() {
        let ok = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '.' | '_' | '-')
            || (is_host && c == ':');
        if !ok {
            return Err(PatternError::BadCharacter { component: part.to_owned(), found: c });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_match(pattern: &str, repository: &str, expect: bool) {
        let p = Pattern::parse(pattern).unwrap();
        assert_eq!(p.matches(repository), expect, "{pattern} vs {repository}");
    }

    #[test]
    fn matching() {
        check_match("docker.io/linuxkit/kernel", "docker.io/linuxkit/kernel", true);
        check_match("docker.io/linuxkit/kernel", "docker.io/linuxkit/kernel2", false);
        check_match("docker.io/linuxkit/kernel", "docker.io/linuxkit", false);
        check_match("docker.io/linuxkit/*", "docker.io/linuxkit/kernel", true);
        check_match("docker.io/linuxkit/*", "docker.io/linuxkit/a/b", false);
        check_match("docker.io/linuxkit/*", "docker.io/linuxkit", false);
        check_match("docker.io/linuxkit/*", "docker.io/other/kernel", false);
        check_match("localhost:5000/**", "localhost:5000/a", true);
        check_match("localhost:5000/**", "localhost:5000/a/b/c", true);
        check_match("localhost:5000/**", "localhost:5000", false);
        check_match("localhost:5000/**", "localhost:5001/a", false);
        check_match("*/library/alpine", "quay.io/library/alpine", true);
        check_match("**", "anything.example/x/y", true);
        check_match("docker.io/*/kernel", "docker.io/linuxkit/kernel", true);
    }

    fn check_error(pattern: &str, expect: &str) {
        let err = Pattern::parse(pattern).unwrap_err();
        assert_eq!(err.to_string(), expect);
    }

    #[test]
    fn bad_patterns() {
        check_error("", "empty path component: expected components separated by single `/`");
        check_error(
            "docker.io//x",
            "empty path component: expected components separated by single `/`",
        );
        check_error(
            "docker.io/linuxkit/",
            "empty path component: expected components separated by single `/`",
        );
        check_error(
            "docker.io/linuxkit/kernel-*",
            "`kernel-*`: `*` and `**` must be a whole path component",
        );
        check_error("docker.io/**/kernel", "`**` is allowed only as the last component");
        check_error(
            "linuxkit/kernel",
            "`linuxkit` is not a registry host: expected a fully qualified repository such as docker.io/linuxkit/… or docker.io/library/linuxkit",
        );
        check_error(
            "docker.io/linuxkit/kernel:6.6",
            "`kernel:6.6`: patterns name repositories, drop the tag or digest",
        );
        check_error(
            "docker.io/linuxkit/kernel@sha256:ab",
            "`kernel@sha256:ab`: patterns name repositories, drop the tag or digest",
        );
        check_error(
            "docker.io/LinuxKit/kernel",
            "`LinuxKit`: unexpected character 'L', expected lowercase letters, digits, `.`, `_`, `-` (and `:` in the host)",
        );
    }

    /// Sorts the patterns from most to least specific.
    fn ranked(patterns: &[&str]) -> Vec<String> {
        let mut parsed: Vec<Pattern> =
            patterns.iter().map(|p| Pattern::parse(p).unwrap()).collect();
        parsed.sort_by(|a, b| b.specificity_cmp(a));
        parsed.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn specificity_order_follows_containers_policy_scopes() {
        // Expected order from containers-policy.json(5): repository > namespace > host > default,
        // with `*` (fixed depth) narrower than `**` (any depth) at the same position.
        let expected = [
            "docker.io/linuxkit/kernel",
            "docker.io/linuxkit/*",
            "docker.io/linuxkit/**",
            "docker.io/*/kernel",
            "docker.io/**",
            "*/linuxkit/kernel",
            "**",
        ];
        for p in expected {
            assert!(Pattern::parse(p).unwrap().matches("docker.io/linuxkit/kernel"), "{p}");
        }
        let mut shuffled = expected.to_vec();
        shuffled.reverse();
        shuffled.swap(1, 4);
        assert_eq!(ranked(&shuffled), expected);
    }
}
