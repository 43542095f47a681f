//! `kit inspect`: list what is inside an artifact, or name the first difference between two.

use std::path::PathBuf;

use anyhow::anyhow;

use kit::inspect::{Inspection, entry_line, first_difference, inspect};

use super::{Failure, print_stdout};

/// Arguments of `kit inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: kind, size, sha256, header facts and every entry.
    #[arg(long)]
    json: bool,

    /// Compare two artifacts, of the same kind or not (a tar against a squashfs): print the first
    /// path and field that differ and exit 1, or exit 0 when they are the same.
    #[arg(long)]
    diff: bool,

    /// The artifact (two with --diff). Its kind is recognized from its bytes: tar, initrd,
    /// squashfs, EROFS, ISO 9660, a GPT disk, a FAT image, an EFI executable (UKI), the
    /// header of a qcow2, VHD(X) or VMDK disk, or a kernel image.
    #[arg(required = true, value_name = "ARTIFACT")]
    artifacts: Vec<PathBuf>,
}

/// Runs `kit inspect`.
pub fn run(args: &Args) -> Result<(), Failure> {
    if args.diff {
        return diff(args);
    }
    if args.artifacts.len() != 1 {
        return Err(Failure::Usage(anyhow!("kit inspect takes one artifact, or two with --diff")));
    }
    let inspection = inspect(&args.artifacts[0]).map_err(|e| Failure::Failed(e.into()))?;
    let text = if args.json { to_json(&inspection) + "\n" } else { to_text(&inspection) };
    print_stdout(&text)?;
    Ok(())
}

fn diff(args: &Args) -> Result<(), Failure> {
    let [a, b] = args.artifacts.as_slice() else {
        return Err(Failure::Usage(anyhow!("--diff takes exactly two artifacts")));
    };
    // As diff(1): 0 same, 1 different, 2 trouble (an artifact that cannot be read).
    let a = inspect(a).map_err(|e| Failure::Usage(e.into()))?;
    let b = inspect(b).map_err(|e| Failure::Usage(e.into()))?;
    // Listings compare across kinds (a tar against the squashfs of the same build); the kind
    // and then the bytes decide only when the listings are the same or absent.
    let listed = match (&a.entries, &b.entries) {
        (Some(x), Some(y)) => first_difference(x, y),
        _ => None,
    };
    let difference = listed
        .or_else(|| {
            (a.kind != b.kind).then(|| format!("kind: {} != {}", a.kind.name(), b.kind.name()))
        })
        .or_else(|| {
            a.summary
                .iter()
                .zip(&b.summary)
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!("{}: {} != {}", x.0, x.1, y.1))
        })
        .or_else(|| {
            (a.summary.len() != b.summary.len())
                .then(|| format!("header facts: {} != {}", a.summary.len(), b.summary.len()))
        })
        .or_else(|| (a.sha256 != b.sha256).then(|| "same contents, different bytes".to_owned()));
    let Some(difference) = difference else {
        if args.json {
            print_stdout("{\"same\":true}\n")?;
        }
        return Ok(());
    };
    if args.json {
        let json = serde_json::json!({ "same": false, "difference": difference });
        print_stdout(&format!("{json}\n"))?;
    } else {
        print_stdout(&format!(
            "{} and {} differ: {difference}\n",
            a.path.display(),
            b.path.display()
        ))?;
    }
    Err(Failure::No)
}

fn to_text(inspection: &Inspection) -> String {
    let mut out = format!(
        "{}: {}, {} bytes, sha256 {}\n",
        inspection.path.display(),
        inspection.kind.name(),
        inspection.size,
        inspection.sha256
    );
    for (key, value) in &inspection.summary {
        out.push_str(&format!("  {key}: {value}\n"));
    }
    for entry in inspection.entries.iter().flatten() {
        out.push_str(&entry_line(entry));
        out.push('\n');
    }
    out
}

fn to_json(inspection: &Inspection) -> String {
    let summary: serde_json::Map<String, serde_json::Value> = inspection
        .summary
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "path": inspection.path,
        "kind": inspection.kind.name(),
        "size": inspection.size,
        "sha256": inspection.sha256,
        "summary": summary,
        "entries": inspection.entries,
    })
    .to_string()
}
