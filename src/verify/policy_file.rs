//! Loading the signature policy for the CLI: the policy file, the key and trusted-root files it
//! names, and the configuration's LinuxKit `trust:` section.
//!
//! Paths in the policy are resolved relative to the directory of the policy file (absolute paths
//! stay as they are), so a policy and its keys can be kept together and used from any working
//! directory, as a `.cosign.pub` next to a `policy.yaml`.
//!
//! Errors name the file and, for a file a signer names, the signer's line in the policy.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use signing::{LegacyTrust, Policy, PolicyError, PolicyFile};

use super::VerifyError;
use crate::config::Trust;

/// Largest policy, key or trusted-root file read (a Sigstore trusted root is about 10 KiB).
pub const MAX_POLICY_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads the policy at `path` (`--policy FILE`) and the files it names; `None` gives
/// [`Policy::none`], under which every image is refused with a message showing how to write a
/// policy. `legacy_trust` is the configuration's `trust:` section, if any (see
/// [`signing::LegacyTrust`]: it only ever tightens the policy).
pub fn load_policy(
    path: Option<&Path>,
    legacy_trust: Option<&Trust>,
) -> Result<Policy, VerifyError> {
    let policy = match path {
        None => Policy::none(),
        Some(path) => load_file(path)?,
    };
    Ok(match legacy_trust {
        Some(trust) => policy.with_legacy_trust(LegacyTrust::new(
            trust.image.as_deref().unwrap_or_default(),
            trust.org.as_deref().unwrap_or_default(),
        )),
        None => policy,
    })
}

fn load_file(path: &Path) -> Result<Policy, VerifyError> {
    let read_err = |source| VerifyError::PolicyRead { path: path.to_owned(), source };
    let bytes = read_limited(path).map_err(read_err)?;
    let text = String::from_utf8(bytes)
        .map_err(|e| read_err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    let file = PolicyFile::parse(&path.display().to_string(), &text)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut files = BTreeMap::new();
    // Files that could not be read are left out: `resolve` then reports the signer and its line,
    // and the I/O error is attached below.
    let mut failures: BTreeMap<String, (PathBuf, io::Error)> = BTreeMap::new();
    for written in file.files() {
        let resolved = dir.join(&written);
        match read_limited(&resolved) {
            Ok(bytes) => {
                files.insert(written, bytes);
            }
            Err(err) => {
                failures.insert(written, (resolved, err));
            }
        }
    }
    match file.resolve(&files) {
        Ok(policy) => Ok(policy),
        Err(PolicyError::MissingFile { at, name, path: written }) => {
            let (resolved, source) = failures.remove(&written).unwrap_or_else(|| {
                (dir.join(&written), io::Error::new(io::ErrorKind::NotFound, "not read"))
            });
            Err(VerifyError::PolicySignerFile { at, signer: name, written, path: resolved, source })
        }
        Err(other) => Err(other.into()),
    }
}

fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_POLICY_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {MAX_POLICY_FILE_BYTES} bytes accepted"),
        ));
    }
    Ok(bytes)
}
