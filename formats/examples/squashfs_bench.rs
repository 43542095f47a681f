//! Packs a host directory into a squashfs image with kit's writer, for comparing speed and size
//! with mksquashfs by hand under `/usr/bin/time` (a scratch tool, not part of kit; the crate
//! reads no clock, so neither does this):
//!
//! ```text
//! cargo run --release -p formats --example squashfs_bench -- SRC OUT [gzip|xz|zstd|lz4] [THREADS] [BLOCK]
//! ```
//!
//! Regular files, directories, symlinks and hard links are taken with their modes, owners and
//! mtimes; other kinds and xattrs are skipped. File contents are read from the host through a
//! content source, one file at a time.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use formats::squashfs::{BlockSize, Compression, Fragments, SquashfsOptions};
use formats::tree::{BlobRange, Content, ContentSource, Dir, Meta, Node, NodeKind, Tree};

struct Host;

impl ContentSource for Host {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        let mut file = fs::File::open(&*range.object)?;
        file.seek(SeekFrom::Start(range.offset))?;
        Ok(Box::new(io::BufReader::with_capacity(256 * 1024, file.take(range.len))))
    }
}

fn meta(md: &fs::Metadata) -> Meta {
    let mut meta = Meta::new(md.mode() & 0o7777, md.mtime());
    meta.uid = md.uid();
    meta.gid = md.gid();
    meta
}

fn scan(dir: &Path, rel: &str, inodes: &mut BTreeMap<(u64, u64), String>) -> io::Result<Dir> {
    let mut out = Dir::new();
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().into_string().expect("UTF-8 names");
        let path = entry.path();
        let md = fs::symlink_metadata(&path)?;
        let child = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let kind = if md.is_dir() {
            NodeKind::Dir(scan(&path, &child, inodes)?)
        } else if md.file_type().is_symlink() {
            NodeKind::Symlink(fs::read_link(&path)?.into_os_string().into_encoded_bytes())
        } else if md.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = inodes.get(&(md.dev(), md.ino())) {
                    out.insert(
                        name.into_bytes(),
                        Node::new(NodeKind::HardLink(first.clone().into_bytes()), meta(&md)),
                    );
                    continue;
                }
                inodes.insert((md.dev(), md.ino()), child.clone());
            }
            let object: Arc<str> = Arc::from(path.to_str().expect("UTF-8 path"));
            NodeKind::File(Content::Blob(BlobRange { object, offset: 0, len: md.len() }))
        } else {
            continue;
        };
        out.insert(name.into_bytes(), Node::new(kind, meta(&md)));
    }
    Ok(out)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let src = PathBuf::from(&args[1]);
    let out = PathBuf::from(&args[2]);
    let compression = match args.get(3).map(String::as_str).unwrap_or("gzip") {
        "gzip" => Compression::Gzip { level: 9 },
        "xz" => Compression::Xz { preset: 6 },
        "zstd" => Compression::Zstd,
        "lz4" => Compression::Lz4,
        other => panic!("unknown compressor {other}"),
    };
    let threads = args.get(4).map_or(2, |t| t.parse().expect("thread count"));
    let block = args.get(5).map_or(128 * 1024, |b| b.parse().expect("block size"));
    let tree =
        Tree { root_meta: meta(&fs::metadata(&src)?), root: scan(&src, "", &mut BTreeMap::new())? };
    let options = SquashfsOptions {
        compression,
        block_size: BlockSize::new(block).expect("block size"),
        epoch: 0,
        fragments: Fragments::SmallFiles,
        deduplicate: true,
        export_table: true,
        threads,
    };
    let mut file = io::BufWriter::with_capacity(1 << 20, fs::File::create(&out)?);
    formats::squashfs::write(&tree, &Host, &options, &mut file).expect("squashfs write");
    drop(file);
    let size = fs::metadata(&out)?.len();
    eprintln!("{} bytes", size);
    Ok(())
}
