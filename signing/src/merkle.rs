//! Transparency-log inclusion: RFC 6962 / RFC 9162 Merkle audit paths and the signed
//! checkpoint (a "signed note", golang.org/x/mod/sumdb/note) that commits to the tree.
//!
//! - Leaf hash `SHA-256(0x00 || entry)`, node hash `SHA-256(0x01 || left || right)`.
//! - [`root_from_inclusion_proof`] is RFC 9162 §2.1.3.2 ("verifying an inclusion proof").
//! - A checkpoint is `<origin>\n<tree size>\n<base64 root hash>\n[<extension lines>\n]` followed
//!   by a blank line and signature lines `— <name> <base64(4-byte key hint || signature)>`
//!   (U+2014). The signature is over the text before the blank line, including its final
//!   newline. For Rekor the key hint is the first 4 bytes of the log id and the signature is
//!   ECDSA (DER) over SHA-256 of that text.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::keys::RsaScheme;
use crate::trusted_root::TransparencyLog;

/// Errors in an inclusion proof or checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// The proof's shape is impossible.
    #[error("inclusion proof is malformed: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// The audit path does not lead to the claimed root.
    #[error(
        "inclusion proof does not reproduce the root hash: computed {computed}, expected {expected}"
    )]
    RootMismatch {
        /// The root computed from the leaf and the path, hex.
        computed: String,
        /// The root hash the proof or checkpoint claims, hex.
        expected: String,
    },
    /// The checkpoint text is malformed.
    #[error("checkpoint is malformed: {reason}")]
    Checkpoint {
        /// Why.
        reason: String,
    },
    /// No checkpoint signature verifies with the log key (coarse on purpose).
    #[error("checkpoint signature does not verify with log key {key}")]
    CheckpointSignature {
        /// The log key.
        key: crate::keys::KeyId,
    },
    /// The checkpoint commits to another tree than the proof.
    #[error("checkpoint is for {found}, the inclusion proof for {expected}")]
    CheckpointMismatch {
        /// What the proof says.
        expected: String,
        /// What the checkpoint says.
        found: String,
    },
}

/// `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Most audit-path hashes accepted (a tree of 2^64 leaves needs 64).
pub const MAX_PROOF_HASHES: usize = 64;

/// The root hash implied by a leaf, its index, the tree size and the audit path (leaf to root),
/// per RFC 9162 §2.1.3.2.
pub fn root_from_inclusion_proof(
    leaf: [u8; 32],
    leaf_index: u64,
    tree_size: u64,
    path: &[[u8; 32]],
) -> Result<[u8; 32], MerkleError> {
    let malformed = |reason: String| MerkleError::Malformed { reason };
    if leaf_index >= tree_size {
        return Err(malformed(format!(
            "leaf index {leaf_index} is not below tree size {tree_size}"
        )));
    }
    if path.len() > MAX_PROOF_HASHES {
        return Err(malformed(format!("{} hashes, more than {MAX_PROOF_HASHES}", path.len())));
    }
    let mut f_n = leaf_index;
    let mut s_n = tree_size - 1;
    let mut r = leaf;
    for p in path {
        if s_n == 0 {
            return Err(malformed("audit path is longer than the tree is deep".to_owned()));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(malformed("audit path is shorter than the tree is deep".to_owned()));
    }
    Ok(r)
}

/// A checkpoint whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The origin line (e.g. `rekor.sigstore.dev - 1193050959916656506`).
    pub origin: String,
    /// The tree size.
    pub tree_size: u64,
    /// The root hash.
    pub root_hash: [u8; 32],
}

/// Largest checkpoint accepted, in bytes.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

/// Parses a checkpoint and verifies its signature with `log`'s key.
pub fn verify_checkpoint(envelope: &str, log: &TransparencyLog) -> Result<Checkpoint, MerkleError> {
    let bad = |reason: &str| MerkleError::Checkpoint { reason: reason.to_owned() };
    if envelope.len() > MAX_CHECKPOINT_BYTES {
        return Err(bad("larger than 16 KiB"));
    }
    let Some(split) = envelope.find("\n\n") else {
        return Err(bad("no blank line between the note text and its signatures"));
    };
    let (text, signatures) = (&envelope[..=split], &envelope[split + 2..]);
    let mut lines = text.lines();
    let origin = lines.next().filter(|l| !l.is_empty()).ok_or_else(|| bad("no origin line"))?;
    let size_line = lines.next().ok_or_else(|| bad("no tree size line"))?;
    if size_line.is_empty()
        || !size_line.bytes().all(|c| c.is_ascii_digit())
        || (size_line.len() > 1 && size_line.starts_with('0'))
    {
        return Err(bad("tree size is not a decimal number"));
    }
    let tree_size: u64 = size_line.parse().map_err(|_| bad("tree size is out of range"))?;
    let root_line = lines.next().ok_or_else(|| bad("no root hash line"))?;
    let root = base64::engine::general_purpose::STANDARD
        .decode(root_line)
        .map_err(|_| bad("root hash is not standard base64"))?;
    let root_hash: [u8; 32] = root.try_into().map_err(|_| bad("root hash is not 32 bytes"))?;

    let hint = log.log_id.get(..4);
    let mut n_lines = 0;
    for line in signatures.lines() {
        n_lines += 1;
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return Err(bad("signature line does not start with an em dash"));
        };
        let Some((_name, sig_b64)) = rest.rsplit_once(' ') else {
            return Err(bad("signature line has no name"));
        };
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig_b64) else {
            return Err(bad("signature is not standard base64"));
        };
        if sig.len() <= 4 || Some(&sig[..4]) != hint {
            continue; // another key's signature (witnesses may co-sign)
        }
        if log.key.verifies(text.as_bytes(), &sig[4..], RsaScheme::Pkcs1v15Sha256) {
            return Ok(Checkpoint { origin: origin.to_owned(), tree_size, root_hash });
        }
    }
    if n_lines == 0 {
        return Err(bad("no signature lines"));
    }
    Err(MerkleError::CheckpointSignature { key: log.key.id().clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6962 §2.1 Merkle tree hash of `leaves`, computed directly from its definition.
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let mut k = 1;
        while k * 2 < leaves.len() {
            k *= 2;
        }
        node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
    }

    /// The RFC 6962 §2.1.1 audit path, from its definition.
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        if leaves.len() <= 1 {
            return Vec::new();
        }
        let mut k = 1;
        while k * 2 < leaves.len() {
            k *= 2;
        }
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn every_leaf_of_small_trees() {
        for size in 1..=33usize {
            let leaves: Vec<[u8; 32]> =
                (0..size).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
            let root = mth(&leaves);
            for m in 0..size {
                let p = path(m, &leaves);
                let (idx, n) = (u64::try_from(m).unwrap(), u64::try_from(size).unwrap());
                assert_eq!(root_from_inclusion_proof(leaves[m], idx, n, &p).unwrap(), root);
                // The same path for another index or size, or with a hash changed, fails.
                if size > 1 {
                    let other = (m + 1) % size;
                    let r =
                        root_from_inclusion_proof(leaves[m], u64::try_from(other).unwrap(), n, &p);
                    assert!(r.is_err() || r.unwrap() != root, "size {size} leaf {m}");
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    let r = root_from_inclusion_proof(leaves[m], idx, n, &bad);
                    assert!(r.is_err() || r.unwrap() != root);
                }
            }
        }
    }

    #[test]
    fn malformed_proofs() {
        let leaf = leaf_hash(b"x");
        let err = |idx, size, p: &[[u8; 32]]| {
            root_from_inclusion_proof(leaf, idx, size, p).unwrap_err().to_string()
        };
        assert_eq!(
            err(3, 3, &[]),
            "inclusion proof is malformed: leaf index 3 is not below tree size 3"
        );
        assert_eq!(
            err(0, 1, &[leaf]),
            "inclusion proof is malformed: audit path is longer than the tree is deep"
        );
        assert_eq!(
            err(0, 4, &[leaf]),
            "inclusion proof is malformed: audit path is shorter than the tree is deep"
        );
    }
}
