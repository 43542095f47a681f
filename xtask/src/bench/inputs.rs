//! The benchmarks' inputs, in `target/kit-bench/`, made once and reused while `stamp` matches:
//!
//! - `oci/`: four images `kit.example/bench-{a,b,c,d}:1` of three gzip layers each: ~1500 small
//!   text files (256 B to 8 KiB), then two layers of two 12 MiB files of pseudo-random bytes
//!   (splitmix64, so poorly compressible and the same on every machine), the last layer also
//!   replacing a small file. About 53 MB per image, 210 MB in all. Each is signed with the
//!   fixtures' example key (see `fixtures::sign`).
//! - `bench.yml`: the example kernel and init from `target/kit-fixtures`, bench-a and bench-b
//!   as init images, bench-c onboot and bench-d a service.
//! - `policy.yaml`: `kit.example/**` signed by the fixtures' example key.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::fixtures::layer::{Layer, TarBuilder};
use crate::fixtures::layout::Layout;
use crate::fixtures::{self, sign};

/// The bench images, in the order the config uses them.
pub const IMAGES: [&str; 4] = ["bench-a", "bench-b", "bench-c", "bench-d"];
/// Bump when the generated images change.
const STAMP: &str = "kit-bench inputs v1: 4 images x (1500 small + 4 x 12 MiB)\n";
const SMALL_FILES: usize = 1500;
const BIG_FILE: usize = 12 << 20;

/// Paths of the benchmarks' inputs.
pub struct Inputs {
    /// `target/kit-bench`.
    pub dir: PathBuf,
    /// The fixtures' layout (the example kernel and init).
    pub fixtures_oci: PathBuf,
    /// The bench images' layout.
    pub bench_oci: PathBuf,
    /// The LinuxKit YAML.
    pub config: PathBuf,
    /// The signature policy.
    pub policy: PathBuf,
}

impl Inputs {
    /// The full reference of bench image `name`.
    pub fn reference(name: &str) -> String {
        format!("{}{name}:1", crate::fixtures::example::PREFIX)
    }
}

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// Text-like bytes: words over a small alphabet (compresses about 2:1).
    fn text(&mut self, len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"etaoinshrdlucmfwyp";
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let r = self.next();
            for shift in 0..12 {
                let symbol = usize::try_from((r >> (shift * 5)) & 31).unwrap_or(0);
                out.push(*ALPHABET.get(symbol).unwrap_or(if symbol % 3 == 0 {
                    &b'\n'
                } else {
                    &b' '
                }));
            }
        }
        out.truncate(len);
        out
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn image_layers(name: &str, seed: u64) -> Result<Vec<Layer>> {
    let mut rng = Rng(seed);
    let base = format!("usr/share/{name}");
    let mut small = TarBuilder::new();
    for dir in ["usr", "usr/share", base.as_str()] {
        small.dir(dir, 0o755)?;
    }
    for group in 0..SMALL_FILES / 100 {
        small.dir(&format!("{base}/g{group:02}"), 0o755)?;
        for file in 0..100 {
            let len = usize::try_from(256 + rng.below(8192 - 256)).unwrap_or(256);
            small.file(&format!("{base}/g{group:02}/f{file:03}.txt"), &rng.text(len), 0o644)?;
        }
    }
    let mut layers = vec![Layer::from_tar(&small.finish())?];
    let opt = format!("opt/{name}");
    for layer in 0..2 {
        let mut big = TarBuilder::new();
        big.dir("opt", 0o755)?;
        big.dir(&opt, 0o755)?;
        for file in 0..2 {
            big.file(&format!("{opt}/blob{layer}{file}.bin"), &rng.bytes(BIG_FILE), 0o644)?;
        }
        if layer == 1 {
            for dir in ["usr", "usr/share", base.as_str(), &format!("{base}/g00")] {
                big.dir(dir, 0o755)?;
            }
            big.file(&format!("{base}/g00/f000.txt"), b"replaced by the top layer\n", 0o644)?;
        }
        layers.push(Layer::from_tar(&big.finish())?);
    }
    Ok(layers)
}

fn config_yaml() -> String {
    let r = |i: usize| Inputs::reference(IMAGES[i]);
    format!(
        "# Written by `cargo xtask bench`: the example kernel and init with ~210 MB of bench images.\n\
         kernel:\n  image: kit.example/kernel:6.1\n  cmdline: \"console=ttyS0\"\n\
         init:\n  - kit.example/init:1\n  - {}\n  - {}\n\
         onboot:\n  - name: c\n    image: {}\n    command: [\"/bin/true\"]\n\
         services:\n  - name: d\n    image: {}\n    command: [\"/bin/true\"]\n",
        r(0),
        r(1),
        r(2),
        r(3)
    )
}

/// Makes (or reuses) the benchmarks' inputs under `root/target`.
pub fn ensure(root: &Path) -> Result<Inputs> {
    let target = root.join("target");
    let fixtures_dir = target.join("kit-fixtures");
    if !fixtures_dir.join("oci").join("index.json").exists() {
        fixtures::build(&fixtures_dir)?;
    }
    let dir = target.join("kit-bench");
    let inputs = Inputs {
        fixtures_oci: fixtures_dir.join("oci"),
        bench_oci: dir.join("oci"),
        config: dir.join("bench.yml"),
        policy: dir.join("policy.yaml"),
        dir: dir.clone(),
    };
    let key = sign::ensure_key(&fixtures_dir)?;
    let policy = format!(
        "# Written by `cargo xtask bench`: kit.example/** signed by the fixtures' example key.\n\
         version: 1\nsigners:\n  example:\n    cosign-key:\n      path: {}\n\
         rules:\n  - images: [kit.example/**]\n    signers: [example]\n",
        key.public.display()
    );
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(&inputs.policy, policy).context("writing policy.yaml")?;
    fs::write(&inputs.config, config_yaml()).context("writing bench.yml")?;
    let stamp_path = dir.join("stamp");
    let stamp = format!("{STAMP}key {}\n", fs::read_to_string(&key.public)?.trim());
    if fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str())
        && inputs.bench_oci.join("index.json").exists()
    {
        return Ok(inputs);
    }
    let started = std::time::Instant::now();
    eprintln!("xtask: generating the bench images in {} (once)", inputs.bench_oci.display());
    let staging = dir.join("oci.tmp");
    super::fresh_dir(&staging)?;
    let mut layout = Layout::create(&staging)?;
    let mut tagged = Vec::new();
    let mut total = 0;
    for (seed, name) in (1u64..).zip(IMAGES) {
        let layers = image_layers(name, seed)?;
        total += layers.iter().map(|l| l.gzip.len()).sum::<usize>();
        let refs: Vec<&Layer> = layers.iter().collect();
        let desc = layout.image(&refs, json!({}), &format!("kit bench {name}"))?;
        let reference = Inputs::reference(name);
        layout.tag(&desc, &reference);
        tagged.push((reference, desc));
    }
    sign::sign_examples(&mut layout, &tagged, &key, &inputs.bench_oci, &dir.join("sign.tmp"))?;
    layout.finish()?;
    if inputs.bench_oci.exists() {
        fs::remove_dir_all(&inputs.bench_oci)?;
    }
    fs::rename(&staging, &inputs.bench_oci)
        .with_context(|| format!("renaming to {}", inputs.bench_oci.display()))?;
    fs::write(&stamp_path, stamp).context("writing stamp")?;
    #[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
    let mb = total as f64 / 1e6;
    eprintln!(
        "xtask: {} images, {mb:.1} MB of gzip layers, in {:.1} s",
        IMAGES.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // First outputs of Vigna's splitmix64.c seeded with 0.
        let mut rng = Rng(0);
        assert_eq!(rng.next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn random_data_is_poorly_compressible_and_text_is_not() {
        let mut rng = Rng(7);
        let random = rng.bytes(1 << 16);
        let text = rng.text(1 << 16);
        let random_gz = crate::fixtures::layer::gzip(&random).unwrap().len();
        let text_gz = crate::fixtures::layer::gzip(&text).unwrap().len();
        assert!(random_gz > random.len(), "random data should not shrink: {random_gz}");
        assert!(text_gz < text.len() * 3 / 4, "text should shrink: {text_gz}");
    }
}
