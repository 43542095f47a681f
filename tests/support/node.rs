//! The npm packages the signing fixture generators in `testdata/signing/` need: checks that
//! node and npm run, then runs `npm ci` of `testdata/signing/fixtures-npm/` once into Cargo's
//! target tmpdir (again only when its lockfile changes), and returns that folder, which the
//! generators read as `KIT_NODE_PREFIX`. Shared with the signing crate's tests (same folder).
//! Callers skip locally and fail under `CI` when this errs.
#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root, from the `kit` package (the root itself) or a member (`signing/`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match manifest_dir.ancestors().find(|dir| dir.join("testdata/signing").is_dir()) {
        Some(root) => root.to_owned(),
        None => manifest_dir.to_owned(),
    }
}

/// Runs `cmd`; its trimmed stdout, or why it failed.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        Ok(o) => Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr))),
        Err(e) => Err(format!("{cmd:?} did not run: {e}")),
    }
}

/// The folder holding the pinned `node_modules`, installed on first use.
pub fn npm_prefix() -> Result<PathBuf, String> {
    run(Command::new("node").arg("--version"))?;
    run(Command::new("npm").arg("--version"))?;
    let pins = repo_root().join("testdata/signing/fixtures-npm");
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("signing-fixtures-npm");
    std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
    let lock = std::fs::read(pins.join("package-lock.json")).map_err(|e| e.to_string())?;
    let stamp = prefix.join("installed-lock.json");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(pins.join(file), prefix.join(file)).map_err(|e| e.to_string())?;
        }
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
            .current_dir(&prefix))?;
        std::fs::write(&stamp, &lock).map_err(|e| e.to_string())?;
    }
    Ok(prefix)
}

/// Runs the generator `testdata/signing/<script>` with `args` and the npm prefix.
pub fn generator(script: &str, prefix: &Path, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    run(Command::new("node")
        .arg(repo_root().join("testdata/signing").join(script))
        .args(args)
        .env("KIT_NODE_PREFIX", prefix))
}
