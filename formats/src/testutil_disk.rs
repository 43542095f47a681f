//! Disk fixtures for the container formats' tests: `L1000 Z5M C3000` is a literal of 1000
//! pattern bytes, 5 MiB of zeros, then a content extent of 3000 pattern bytes (suffixes K, M,
//! G are binary).

use std::sync::Arc;

use crate::extent::ExtentMap;
use crate::tree::Content;

/// Pattern bytes: `index % 251` xor `salt`.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap_or(0) ^ salt).collect()
}

/// The disk a fixture describes (panics on a malformed fixture: tests only).
pub fn disk(spec: &str) -> ExtentMap {
    let mut map = ExtentMap::new();
    for (index, token) in spec.split_whitespace().enumerate() {
        let (kind, number) = token.split_at(1);
        let (digits, unit) = match number.strip_suffix(['K', 'M', 'G']) {
            Some(digits) => (digits, &number[digits.len()..]),
            None => (number, ""),
        };
        let shift = match unit {
            "K" => 10,
            "M" => 20,
            "G" => 30,
            _ => 0,
        };
        let len =
            digits.parse::<u64>().unwrap_or_else(|_| panic!("bad fixture token {token}")) << shift;
        let salt = u8::try_from(index % 256).unwrap_or(0);
        match kind {
            "Z" => map.push_zeros(len),
            "L" => map.push_literal(pattern(usize::try_from(len).unwrap_or(0), salt)),
            "C" => map.push_content(
                format!("content{index}").as_bytes(),
                Content::Inline(Arc::from(pattern(usize::try_from(len).unwrap_or(0), salt))),
            ),
            _ => panic!("bad fixture token {token}"),
        }
    }
    map
}
