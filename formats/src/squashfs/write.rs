//! Emitting an image: data blocks (compressed in parallel, written in order), then the
//! metadata tables built from the plan and the data layout, then the superblock.

use std::collections::BTreeMap;
use std::io::{self, SeekFrom};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::copy::{ExactReader, write_zeros};
use crate::dump::display_path;
use crate::squashfs::compressor::{Compression, CompressorError, Encoder};
use crate::squashfs::dir::{DirEntry, DirHeader, DirIndex, MAX_ENTRIES_PER_HEADER};
use crate::squashfs::inode::{
    Body, DevInode, DirInode, ExtDirInode, ExtFileInode, FileInode, Inode, InodeHeader, IpcInode,
    SymlinkInode, kind,
};
use crate::squashfs::metablock::{METADATA_SIZE, MetadataWriter, indexed_table};
use crate::squashfs::plan::{self, Plan, PlannedInode, PlannedKind, clamp_time};
use crate::squashfs::superblock::{INVALID_BLK, INVALID_FRAG, INVALID_XATTR, Superblock, flags};
use crate::squashfs::table::{
    FragmentEntry, UNCOMPRESSED_BLOCK, XattrEntry, XattrId, XattrIdTable,
};
use crate::squashfs::{Error, Fragments, SquashfsOptions, WriteSeek};
use crate::tree::{ContentSource, Tree};

/// Where a file's data went.
#[derive(Debug, Clone, Default)]
pub(crate) struct FileData {
    /// Position of the first block (0 for a file without blocks).
    pub(crate) start_block: Option<u64>,
    /// Stored size of each block.
    pub(crate) blocks: Vec<u32>,
    /// Fragment index and offset of the tail.
    pub(crate) fragment: Option<(u32, u32)>,
    /// Stored once already, as the file at this data index.
    pub(crate) duplicate_of: Option<usize>,
}

pub(crate) fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &SquashfsOptions,
    out: &mut dyn WriteSeek,
) -> Result<(), Error> {
    options
        .compression
        .validate()
        .map_err(|source| Error::Compressor { what: "options".to_owned(), source })?;
    let block_size = options.block_size.bytes();
    let plan = plan::plan(tree)?;
    let origin = out.stream_position().map_err(write_err("image"))?;
    let mut pos = 0u64;
    // The superblock is written last, over these zeros.
    emit(out, &mut pos, &[0u8; Superblock::SIZE], "superblock")?;
    let mut sb_flags = 0u16;
    if let Some(bytes) = options.compression.options() {
        // Compressor options are one uncompressed metadata block, as mksquashfs writes them.
        let mut block = Vec::with_capacity(2 + bytes.len());
        block.extend_from_slice(&(8u16 | 0x8000).to_le_bytes());
        block.extend_from_slice(&bytes);
        emit(out, &mut pos, &block, "compressor options")?;
        sb_flags |= flags::COMPRESSOR_OPTIONS;
    }
    let hashes =
        if options.deduplicate { hash_same_sized(&plan, source)? } else { BTreeMap::new() };
    let data = write_data(&plan, source, options, &hashes, out, &mut pos)?;

    let encoder = || Encoder::new(options.compression, block_size);
    let tables = build_metadata(&plan, &data, encoder)?;

    let inode_table_start = pos;
    emit(out, &mut pos, &tables.inode_table, "inode table")?;
    let directory_table_start = pos;
    emit(out, &mut pos, &tables.directory_table, "directory table")?;

    let mut fragment_bytes = Vec::with_capacity(data.fragments.len() * FragmentEntry::SIZE);
    for entry in &data.fragments {
        let mut b = [0u8; FragmentEntry::SIZE];
        entry.encode(&mut b);
        fragment_bytes.extend_from_slice(&b);
    }
    let (bytes, fragment_table_start) =
        indexed_table(encoder(), &fragment_bytes, pos).map_err(compress_err("fragment table"))?;
    emit(out, &mut pos, &bytes, "fragment table")?;

    let lookup_table_start = if options.export_table {
        let mut lookup = Vec::with_capacity(tables.refs.len() * 8);
        for reference in &tables.refs {
            lookup.extend_from_slice(&reference.to_le_bytes());
        }
        let (bytes, start) =
            indexed_table(encoder(), &lookup, pos).map_err(compress_err("export table"))?;
        emit(out, &mut pos, &bytes, "export table")?;
        sb_flags |= flags::EXPORTABLE;
        start
    } else {
        INVALID_BLK
    };

    let ids: Vec<u8> = plan.ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    let (bytes, id_table_start) =
        indexed_table(encoder(), &ids, pos).map_err(compress_err("id table"))?;
    emit(out, &mut pos, &bytes, "id table")?;

    let xattr_id_table_start = if plan.xattr_sets.is_empty() {
        INVALID_BLK
    } else {
        write_xattrs(&plan, encoder, out, &mut pos)?
    };

    let bytes_used = pos;
    let padded = pos.next_multiple_of(4096);
    let padding = usize::try_from(padded - pos).unwrap_or(0);
    write_zeros(out, padding).map_err(write_err("padding"))?;

    sb_flags |= match options.fragments {
        Fragments::Off => flags::NO_FRAGMENTS,
        Fragments::SmallFiles => 0,
        Fragments::AllTails => flags::ALWAYS_FRAGMENTS,
    };
    if options.deduplicate {
        sb_flags |= flags::DUPLICATES;
    }
    let too_many = |what: &'static str, size: usize| Error::TooLarge {
        what,
        path: "/".to_owned(),
        size: u64::try_from(size).unwrap_or(u64::MAX),
        limit: u64::from(u32::MAX),
    };
    let superblock = Superblock {
        inodes: u32::try_from(plan.inodes.len())
            .map_err(|_| Error::TooManyInodes { count: plan.inodes.len() })?,
        mkfs_time_secs: clamp_time(options.epoch),
        block_size_bytes: block_size,
        fragments: u32::try_from(data.fragments.len())
            .map_err(|_| too_many("fragment count", data.fragments.len()))?,
        compression: options.compression.id(),
        block_log: u16::try_from(block_size.trailing_zeros()).unwrap_or(0),
        flags: sb_flags,
        // The planner refuses more than 65536 ids; 65536 itself cannot be stored in `no_ids`.
        no_ids: u16::try_from(plan.ids.len()).map_err(|_| too_many("id count", plan.ids.len()))?,
        s_major: 4,
        s_minor: 0,
        root_inode: tables.root,
        bytes_used,
        id_table_start,
        xattr_id_table_start,
        inode_table_start,
        directory_table_start,
        fragment_table_start,
        lookup_table_start,
    };
    let mut bytes = [0u8; Superblock::SIZE];
    superblock.encode(&mut bytes);
    out.seek(SeekFrom::Start(origin)).map_err(write_err("superblock"))?;
    out.write_all(&bytes).map_err(write_err("superblock"))?;
    out.seek(SeekFrom::Start(origin + padded)).map_err(write_err("superblock"))?;
    Ok(())
}

fn write_err(what: &'static str) -> impl Fn(io::Error) -> Error {
    move |source| Error::Write { what: what.to_owned(), source }
}

fn compress_err(what: &'static str) -> impl Fn(CompressorError) -> Error {
    move |source| Error::Compressor { what: format!("compressing the {what}"), source }
}

fn emit(
    out: &mut dyn WriteSeek,
    pos: &mut u64,
    bytes: &[u8],
    what: &'static str,
) -> Result<(), Error> {
    out.write_all(bytes).map_err(write_err(what))?;
    *pos += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    Ok(())
}

/// SHA-256 of every file whose size another file shares (empty files excepted), by inode.
fn hash_same_sized(
    plan: &Plan<'_>,
    source: &dyn ContentSource,
) -> Result<BTreeMap<usize, [u8; 32]>, Error> {
    let mut by_size: BTreeMap<u64, usize> = BTreeMap::new();
    for &idx in &plan.files {
        if let PlannedKind::File(content) = &plan.inodes[idx].kind {
            *by_size.entry(content.len()).or_default() += 1;
        }
    }
    let mut hashes = BTreeMap::new();
    let mut buf = vec![0u8; 128 * 1024];
    for &idx in &plan.files {
        let inode = &plan.inodes[idx];
        let PlannedKind::File(content) = &inode.kind else { continue };
        if content.is_empty() || by_size.get(&content.len()).copied().unwrap_or(0) < 2 {
            continue;
        }
        let mut reader = ExactReader::open(content, source, &inode.path)?;
        let mut hasher = Sha256::new();
        loop {
            let n = reader.read_chunk(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hashes.insert(idx, hasher.finalize().into());
    }
    Ok(hashes)
}

/// The data area's layout: per file (by data index, the order of `plan.files`) and the
/// fragment table.
pub(crate) struct DataLayout {
    pub(crate) files: Vec<FileData>,
    pub(crate) fragments: Vec<FragmentEntry>,
}

/// Whose block a job is.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// A data block of the file with this data index.
    File(usize),
    /// A fragment block.
    Fragment,
}

struct Job {
    seq: u64,
    owner: Owner,
    data: Vec<u8>,
}

enum Stored {
    Hole,
    Compressed(Vec<u8>),
    Raw(Vec<u8>),
}

struct Done {
    seq: u64,
    owner: Owner,
    stored: Stored,
}

fn process(encoder: &mut Encoder, job: Job) -> Result<Done, CompressorError> {
    let stored = match job.owner {
        Owner::File(_) if job.data.iter().all(|b| *b == 0) => Stored::Hole,
        _ => match encoder.compress(&job.data)? {
            Some(packed) => Stored::Compressed(packed),
            None => Stored::Raw(job.data),
        },
    };
    Ok(Done { seq: job.seq, owner: job.owner, stored })
}

/// Writes finished blocks in submission order.
struct Sink<'o> {
    out: &'o mut dyn WriteSeek,
    pos: u64,
    files: Vec<FileData>,
    fragments: Vec<FragmentEntry>,
    waiting: BTreeMap<u64, Done>,
    next_seq: u64,
}

impl Sink<'_> {
    fn accept(&mut self, done: Done) -> Result<(), Error> {
        self.waiting.insert(done.seq, done);
        while let Some(done) = self.waiting.remove(&self.next_seq) {
            self.next_seq += 1;
            let (size, bytes) = match done.stored {
                Stored::Hole => (0, None),
                Stored::Compressed(bytes) => (stored_len(&bytes), Some(bytes)),
                Stored::Raw(bytes) => (stored_len(&bytes) | UNCOMPRESSED_BLOCK, Some(bytes)),
            };
            match done.owner {
                Owner::File(file) => {
                    if let Some(data) = self.files.get_mut(file) {
                        data.start_block.get_or_insert(self.pos);
                        data.blocks.push(size);
                    }
                }
                Owner::Fragment => {
                    self.fragments.push(FragmentEntry { start_block: self.pos, size });
                }
            }
            if let Some(bytes) = bytes {
                emit(self.out, &mut self.pos, &bytes, "data block")?;
            }
        }
        Ok(())
    }
}

/// Blocks are at most 1 MiB, so their length fits in the 24 bits of a block size.
fn stored_len(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(0)
}

/// Runs jobs inline or on worker threads.
enum Exec<'a> {
    Inline(Encoder),
    Threads {
        jobs: SyncSender<Job>,
        done: &'a Receiver<Result<Done, CompressorError>>,
        in_flight: usize,
        max: usize,
    },
}

impl Exec<'_> {
    fn submit(&mut self, job: Job, sink: &mut Sink<'_>) -> Result<(), Error> {
        match self {
            Exec::Inline(encoder) => sink.accept(process(encoder, job).map_err(data_err)?),
            Exec::Threads { jobs, done, in_flight, max } => {
                while *in_flight >= *max {
                    receive(done, sink)?;
                    *in_flight -= 1;
                }
                jobs.send(job).map_err(|_| worker_gone())?;
                *in_flight += 1;
                Ok(())
            }
        }
    }

    fn drain(&mut self, sink: &mut Sink<'_>) -> Result<(), Error> {
        if let Exec::Threads { done, in_flight, .. } = self {
            while *in_flight > 0 {
                receive(done, sink)?;
                *in_flight -= 1;
            }
        }
        Ok(())
    }
}

fn receive(
    done: &Receiver<Result<Done, CompressorError>>,
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    let result = done.recv().map_err(|_| worker_gone())?;
    sink.accept(result.map_err(data_err)?)
}

fn data_err(source: CompressorError) -> Error {
    Error::Compressor { what: "compressing a data block".to_owned(), source }
}

fn worker_gone() -> Error {
    Error::Write {
        what: "data blocks".to_owned(),
        source: io::Error::other("a compression thread stopped"),
    }
}

fn write_data(
    plan: &Plan<'_>,
    source: &dyn ContentSource,
    options: &SquashfsOptions,
    hashes: &BTreeMap<usize, [u8; 32]>,
    out: &mut dyn WriteSeek,
    pos: &mut u64,
) -> Result<DataLayout, Error> {
    let block_size = options.block_size.bytes();
    let mut sink = Sink {
        out,
        pos: *pos,
        files: vec![FileData::default(); plan.files.len()],
        fragments: Vec::new(),
        waiting: BTreeMap::new(),
        next_seq: 0,
    };
    let threads = options.threads.max(1);
    if threads == 1 {
        let mut exec = Exec::Inline(Encoder::new(options.compression, block_size));
        store_files(plan, source, options, hashes, &mut exec, &mut sink)?;
    } else {
        std::thread::scope(|scope| -> Result<(), Error> {
            let max = threads * 4;
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(max);
            let job_rx = Arc::new(Mutex::new(job_rx));
            let (done_tx, done_rx) = mpsc::channel();
            for _ in 0..threads {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                let compression = options.compression;
                scope.spawn(move || worker(&job_rx, &done_tx, compression, block_size));
            }
            drop(done_tx);
            let mut exec = Exec::Threads { jobs: job_tx, done: &done_rx, in_flight: 0, max };
            let result = store_files(plan, source, options, hashes, &mut exec, &mut sink);
            // Dropping the sender stops the workers once the queue is empty.
            drop(exec);
            result
        })?;
    }
    *pos = sink.pos;
    Ok(DataLayout { files: sink.files, fragments: sink.fragments })
}

fn worker(
    jobs: &Mutex<Receiver<Job>>,
    done: &mpsc::Sender<Result<Done, CompressorError>>,
    compression: Compression,
    block_size: u32,
) {
    let mut encoder = Encoder::new(compression, block_size);
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if done.send(process(&mut encoder, job)).is_err() {
            return;
        }
    }
}

fn store_files(
    plan: &Plan<'_>,
    source: &dyn ContentSource,
    options: &SquashfsOptions,
    hashes: &BTreeMap<usize, [u8; 32]>,
    exec: &mut Exec<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    let block_size = u64::from(options.block_size.bytes());
    let mut seq = 0u64;
    let mut next_job = |owner: Owner, data: Vec<u8>| {
        let job = Job { seq, owner, data };
        seq += 1;
        job
    };
    let mut seen: BTreeMap<(u64, [u8; 32]), usize> = BTreeMap::new();
    let mut fragment = Vec::new();
    let mut fragment_idx = 0u32;
    for (data_idx, &inode_idx) in plan.files.iter().enumerate() {
        let inode = &plan.inodes[inode_idx];
        let PlannedKind::File(content) = &inode.kind else { continue };
        let size = content.len();
        if let Some(hash) = hashes.get(&inode_idx) {
            if let Some(&original) = seen.get(&(size, *hash)) {
                if let Some(data) = sink.files.get_mut(data_idx) {
                    data.duplicate_of = Some(original);
                }
                continue;
            }
            seen.insert((size, *hash), data_idx);
        }
        let tail = size % block_size;
        let tail_in_fragment = tail > 0
            && match options.fragments {
                Fragments::Off => false,
                Fragments::SmallFiles => size < block_size,
                Fragments::AllTails => true,
            };
        let n_blocks = if tail_in_fragment { size / block_size } else { size.div_ceil(block_size) };
        let mut reader = ExactReader::open(content, source, &inode.path)?;
        for block_idx in 0..n_blocks {
            let len = (size - block_idx * block_size).min(block_size);
            let mut data = vec![0u8; usize::try_from(len).unwrap_or(0)];
            reader.read_chunk(&mut data)?;
            exec.submit(next_job(Owner::File(data_idx), data), sink)?;
        }
        if tail_in_fragment {
            let mut data = vec![0u8; usize::try_from(tail).unwrap_or(0)];
            reader.read_chunk(&mut data)?;
            let fill = u64::try_from(fragment.len()).unwrap_or(u64::MAX);
            if fill + tail > block_size {
                let full = std::mem::take(&mut fragment);
                exec.submit(next_job(Owner::Fragment, full), sink)?;
                fragment_idx = fragment_idx.checked_add(1).ok_or(Error::TooLarge {
                    what: "fragment count",
                    path: display_path(&inode.path),
                    size: u64::from(u32::MAX) + 1,
                    limit: u64::from(INVALID_FRAG - 1),
                })?;
            }
            let offset = u32::try_from(fragment.len()).unwrap_or(0);
            fragment.extend_from_slice(&data);
            if let Some(file) = sink.files.get_mut(data_idx) {
                file.fragment = Some((fragment_idx, offset));
            }
        }
        // Checks that the source has nothing past the announced length (also for empty files).
        reader.read_chunk(&mut [])?;
    }
    if !fragment.is_empty() {
        exec.submit(next_job(Owner::Fragment, fragment), sink)?;
    }
    exec.drain(sink)
}

/// The inode and directory tables, the root's reference and every inode's reference.
struct Tables {
    inode_table: Vec<u8>,
    directory_table: Vec<u8>,
    root: u64,
    /// Reference of each inode, by inode number - 1.
    refs: Vec<u64>,
}

struct MetaBuilder<'p, 't> {
    plan: &'p Plan<'t>,
    /// Layout of each file, by inode index.
    files: BTreeMap<usize, FileData>,
    inodes: MetadataWriter,
    dirs: MetadataWriter,
    refs: Vec<Option<u64>>,
}

fn build_metadata(
    plan: &Plan<'_>,
    data: &DataLayout,
    encoder: impl Fn() -> Encoder,
) -> Result<Tables, Error> {
    let mut files = BTreeMap::new();
    for (data_idx, &inode_idx) in plan.files.iter().enumerate() {
        let Some(mut layout) = data.files.get(data_idx).cloned() else { continue };
        if let Some(original) = layout.duplicate_of
            && let Some(shared) = data.files.get(original)
        {
            layout = FileData { duplicate_of: Some(original), ..shared.clone() };
        }
        files.insert(inode_idx, layout);
    }
    let mut builder = MetaBuilder {
        plan,
        files,
        inodes: MetadataWriter::new(encoder()),
        dirs: MetadataWriter::new(encoder()),
        refs: vec![None; plan.inodes.len()],
    };
    let root = builder.dir(0)?;
    let MetaBuilder { inodes, dirs, refs, .. } = builder;
    let (inode_table, _) = inodes.finish().map_err(compress_err("inode table"))?;
    let (directory_table, _) = dirs.finish().map_err(compress_err("directory table"))?;
    Ok(Tables {
        inode_table,
        directory_table,
        root,
        refs: refs.into_iter().map(|r| r.unwrap_or(0)).collect(),
    })
}

/// One directory entry before encoding.
struct EntryInfo<'a> {
    name: &'a [u8],
    reference: u64,
    inode_number: u32,
    entry_type: u16,
}

impl MetaBuilder<'_, '_> {
    fn header(&self, idx: usize, inode_type: u16) -> InodeHeader {
        let inode = &self.plan.inodes[idx];
        InodeHeader {
            inode_type,
            mode: inode.mode,
            uid_idx: inode.uid_idx,
            gid_idx: inode.gid_idx,
            mtime_secs: inode.mtime_secs,
            inode_number: PlannedInode::number(idx),
        }
    }

    fn append_inode(&mut self, idx: usize, inode: &Inode) -> Result<u64, Error> {
        let reference = self.inodes.reference();
        if reference >> 16 > u64::from(u32::MAX) {
            return Err(Error::TooLarge {
                what: "inode table",
                path: display_path(&self.plan.inodes[idx].path),
                size: reference >> 16,
                limit: u64::from(u32::MAX),
            });
        }
        let mut bytes = Vec::new();
        inode.encode(&mut bytes);
        self.inodes.append(&bytes).map_err(compress_err("inode table"))?;
        if let Some(slot) = self.refs.get_mut(idx) {
            *slot = Some(reference);
        }
        Ok(reference)
    }

    fn dir(&mut self, idx: usize) -> Result<u64, Error> {
        let plan = self.plan;
        let planned = &plan.inodes[idx];
        let PlannedKind::Dir { entries, parent_inode } = &planned.kind else {
            return self.leaf(idx);
        };
        let mut infos = Vec::with_capacity(entries.len());
        for &(name, child) in entries {
            let (reference, entry_type) = match &plan.inodes[child].kind {
                PlannedKind::Dir { .. } => (self.dir(child)?, kind::DIR),
                other => {
                    let reference = match self.refs.get(child).copied().flatten() {
                        Some(reference) => reference,
                        None => self.leaf(child)?,
                    };
                    let entry_type = match other {
                        PlannedKind::File(_) => kind::FILE,
                        PlannedKind::Symlink(_) => kind::SYMLINK,
                        PlannedKind::BlockDev(_) => kind::BLOCK_DEV,
                        PlannedKind::CharDev(_) => kind::CHAR_DEV,
                        PlannedKind::Fifo | PlannedKind::Dir { .. } => kind::FIFO,
                    };
                    (reference, entry_type)
                }
            };
            infos.push(EntryInfo {
                name,
                reference,
                inode_number: PlannedInode::number(child),
                entry_type,
            });
        }
        let (listing, index_points) = listing(&infos);
        let listing_start = self.dirs.uncompressed_len();
        let (block, offset) = self.dirs.position();
        self.dirs.append(&listing).map_err(compress_err("directory table"))?;
        let too_large = |what: &'static str, size: u64, limit: u64| Error::TooLarge {
            what,
            path: display_path(&planned.path),
            size,
            limit,
        };
        let start_block = u32::try_from(block)
            .map_err(|_| too_large("directory table", block, u64::from(u32::MAX)))?;
        let listing_len = u64::try_from(listing.len()).unwrap_or(u64::MAX);
        let file_size = u32::try_from(listing_len + 3)
            .map_err(|_| too_large("directory listing", listing_len + 3, u64::from(u32::MAX)))?;
        let mut index = Vec::with_capacity(index_points.len());
        for (at, name) in index_points {
            let block = self.dirs.block_of(listing_start + u64::from(at));
            let start_block = u32::try_from(block)
                .map_err(|_| too_large("directory table", block, u64::from(u32::MAX)))?;
            index.push(DirIndex { index: at, start_block, name: name.to_vec() });
        }
        let basic_size = u16::try_from(file_size).ok();
        let inode = match (basic_size, planned.xattr, index.is_empty()) {
            (Some(file_size), None, true) => Inode {
                header: self.header(idx, kind::DIR),
                body: Body::Dir(DirInode {
                    start_block,
                    nlink: planned.nlink,
                    file_size,
                    offset,
                    parent_inode: *parent_inode,
                }),
            },
            _ => Inode {
                header: self.header(idx, kind::EXT_DIR),
                body: Body::ExtDir(
                    ExtDirInode {
                        nlink: planned.nlink,
                        file_size,
                        start_block,
                        parent_inode: *parent_inode,
                        i_count: u16::try_from(index.len()).map_err(|_| {
                            too_large("directory index", listing_len, u64::from(u16::MAX) * 8192)
                        })?,
                        offset,
                        xattr: planned.xattr.unwrap_or(INVALID_XATTR),
                    },
                    index,
                ),
            },
        };
        self.append_inode(idx, &inode)
    }

    fn leaf(&mut self, idx: usize) -> Result<u64, Error> {
        let planned = &self.plan.inodes[idx];
        let xattr = planned.xattr;
        let nlink = planned.nlink;
        let inode = match &planned.kind {
            PlannedKind::File(content) => {
                let layout = self.files.get(&idx).cloned().unwrap_or_default();
                let start_block = layout.start_block.unwrap_or(0);
                let (fragment, offset) = layout.fragment.unwrap_or((INVALID_FRAG, 0));
                let file_size = content.len();
                let basic = match (u32::try_from(start_block), u32::try_from(file_size)) {
                    (Ok(start), Ok(size)) if nlink == 1 && xattr.is_none() => Some((start, size)),
                    _ => None,
                };
                match basic {
                    Some((start_block, file_size)) => Inode {
                        header: self.header(idx, kind::FILE),
                        body: Body::File(
                            FileInode { start_block, fragment, offset, file_size },
                            layout.blocks,
                        ),
                    },
                    None => Inode {
                        header: self.header(idx, kind::EXT_FILE),
                        body: Body::ExtFile(
                            ExtFileInode {
                                start_block,
                                file_size,
                                sparse: 0,
                                nlink,
                                fragment,
                                offset,
                                xattr: xattr.unwrap_or(INVALID_XATTR),
                            },
                            layout.blocks,
                        ),
                    },
                }
            }
            PlannedKind::Symlink(target) => {
                let inode_type = if xattr.is_some() { kind::EXT_SYMLINK } else { kind::SYMLINK };
                // The planner limits targets to 4095 bytes.
                let symlink_size = u32::try_from(target.len()).unwrap_or(0);
                Inode {
                    header: self.header(idx, inode_type),
                    body: Body::Symlink(
                        SymlinkInode { nlink, symlink_size },
                        target.to_vec(),
                        xattr,
                    ),
                }
            }
            PlannedKind::CharDev(rdev) | PlannedKind::BlockDev(rdev) => {
                let char_dev = matches!(planned.kind, PlannedKind::CharDev(_));
                let inode_type = match (char_dev, xattr.is_some()) {
                    (true, false) => kind::CHAR_DEV,
                    (true, true) => kind::EXT_CHAR_DEV,
                    (false, false) => kind::BLOCK_DEV,
                    (false, true) => kind::EXT_BLOCK_DEV,
                };
                Inode {
                    header: self.header(idx, inode_type),
                    body: Body::Dev(DevInode { nlink, rdev: *rdev, xattr }),
                }
            }
            PlannedKind::Fifo | PlannedKind::Dir { .. } => {
                let inode_type = if xattr.is_some() { kind::EXT_FIFO } else { kind::FIFO };
                Inode {
                    header: self.header(idx, inode_type),
                    body: Body::Ipc(IpcInode { nlink, xattr }),
                }
            }
        };
        self.append_inode(idx, &inode)
    }
}

/// Encodes a directory listing as mksquashfs does; returns it and its index points (offset of
/// a header in the listing, first name after it).
fn listing<'a>(entries: &[EntryInfo<'a>]) -> (Vec<u8>, Vec<(u32, &'a [u8])>) {
    let mut out = Vec::new();
    let mut index = Vec::new();
    // (position of the header, its start_block, its inode number, entries so far)
    let mut current: Option<(usize, u64, u32, usize)> = None;
    let mut index_count_offset = 0usize;
    for entry in entries {
        let block = entry.reference >> 16;
        let entry_len = DirEntry::SIZE + entry.name.len();
        let needs_header = match current {
            None => true,
            Some((_, start_block, base, count)) => {
                let delta = i64::from(entry.inode_number) - i64::from(base);
                count == MAX_ENTRIES_PER_HEADER
                    || start_block != block
                    || out.len() + entry_len - index_count_offset > METADATA_SIZE
                    || i16::try_from(delta).is_err()
            }
        };
        if needs_header {
            if let Some((header_at, start_block, base, count)) = current {
                if out.len() + entry_len - index_count_offset > METADATA_SIZE {
                    index.push((u32::try_from(out.len()).unwrap_or(u32::MAX), entry.name));
                    index_count_offset = out.len();
                }
                finish_header(&mut out, header_at, start_block, base, count);
            }
            current = Some((out.len(), block, entry.inode_number, 0));
            out.extend_from_slice(&[0u8; DirHeader::SIZE]);
        }
        let Some((_, _, base, count)) = current.as_mut() else { continue };
        let delta = i64::from(entry.inode_number) - i64::from(*base);
        DirEntry {
            offset: u16::try_from(entry.reference & 0xffff).unwrap_or(0),
            // Checked just above: a header starts whenever the delta leaves i16.
            inode_offset: i16::try_from(delta).unwrap_or(0),
            entry_type: entry.entry_type,
            name: entry.name.to_vec(),
        }
        .encode(&mut out);
        *count += 1;
    }
    if let Some((header_at, start_block, base, count)) = current {
        finish_header(&mut out, header_at, start_block, base, count);
    }
    (out, index)
}

fn finish_header(out: &mut [u8], at: usize, start_block: u64, base: u32, count: usize) {
    let header = DirHeader {
        count: u32::try_from(count.saturating_sub(1)).unwrap_or(0),
        // Inode references were checked to have 32-bit blocks.
        start_block: u32::try_from(start_block).unwrap_or(0),
        inode_number: base,
    };
    let mut bytes = [0u8; DirHeader::SIZE];
    header.encode(&mut bytes);
    if let Some(slot) = out.get_mut(at..at + DirHeader::SIZE) {
        slot.copy_from_slice(&bytes);
    }
}

/// Writes the xattr key/value blocks, the xattr id blocks, the id table header and its index;
/// returns the header's position.
fn write_xattrs(
    plan: &Plan<'_>,
    encoder: impl Fn() -> Encoder,
    out: &mut dyn WriteSeek,
    pos: &mut u64,
) -> Result<u64, Error> {
    let mut kv = MetadataWriter::new(encoder());
    let mut ids = Vec::with_capacity(plan.xattr_sets.len() * XattrId::SIZE);
    for set in &plan.xattr_sets {
        let reference = kv.reference();
        let mut bytes = Vec::new();
        let mut size = 0u64;
        for (prefix, name, value) in set {
            XattrEntry { xattr_type: *prefix, name: name.clone(), value: value.clone() }
                .encode(&mut bytes);
            let prefix_len = crate::squashfs::table::XATTR_PREFIXES
                .iter()
                .find(|(id, _)| id == prefix)
                .map_or(0, |(_, text)| text.len());
            size += u64::try_from(prefix_len + name.len() + 1 + value.len()).unwrap_or(0);
        }
        kv.append(&bytes).map_err(compress_err("xattr table"))?;
        let id = XattrId {
            xattr: reference,
            count: u32::try_from(set.len()).unwrap_or(u32::MAX),
            size: u32::try_from(size).unwrap_or(u32::MAX),
        };
        let mut b = [0u8; XattrId::SIZE];
        id.encode(&mut b);
        ids.extend_from_slice(&b);
    }
    let xattr_table_start = *pos;
    let (kv_bytes, _) = kv.finish().map_err(compress_err("xattr table"))?;
    emit(out, pos, &kv_bytes, "xattr table")?;
    let ids_start = *pos;
    let mut id_writer = MetadataWriter::new(encoder());
    id_writer.append(&ids).map_err(compress_err("xattr id table"))?;
    let (id_bytes, starts) = id_writer.finish().map_err(compress_err("xattr id table"))?;
    emit(out, pos, &id_bytes, "xattr id table")?;
    let header_at = *pos;
    let header = XattrIdTable {
        xattr_table_start,
        xattr_ids: u32::try_from(plan.xattr_sets.len()).unwrap_or(u32::MAX),
    };
    let mut b = [0u8; XattrIdTable::SIZE];
    header.encode(&mut b);
    emit(out, pos, &b, "xattr id table")?;
    let index: Vec<u8> =
        starts.iter().flat_map(|start| (ids_start + start).to_le_bytes()).collect();
    emit(out, pos, &index, "xattr id table")?;
    Ok(header_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        name: &'static [u8],
        block: u64,
        offset: u64,
        inode_number: u32,
    ) -> EntryInfo<'static> {
        EntryInfo { name, reference: block << 16 | offset, inode_number, entry_type: kind::FILE }
    }

    #[test]
    fn listing_headers_follow_inode_blocks_and_numbers() {
        let entries = [
            entry(b"a", 0, 10, 5),
            entry(b"b", 0, 40, 6),
            entry(b"c", 300, 0, 7),
            entry(b"d", 300, 40, 40_000),
        ];
        let (bytes, index) = listing(&entries);
        // Three headers (12 bytes) and four 9-byte entries.
        assert_eq!(bytes.len(), 3 * 12 + 4 * 9);
        assert!(index.is_empty());
        assert_eq!(
            DirHeader::decode(bytes[..12].try_into().unwrap()),
            DirHeader { count: 1, start_block: 0, inode_number: 5 }
        );
        assert_eq!(
            DirHeader::decode(bytes[30..42].try_into().unwrap()),
            DirHeader { count: 0, start_block: 300, inode_number: 7 }
        );
        assert_eq!(
            DirHeader::decode(bytes[51..63].try_into().unwrap()),
            DirHeader { count: 0, start_block: 300, inode_number: 40_000 }
        );
    }

    #[test]
    fn large_listings_get_an_index_point_per_8_kib() {
        let names: Vec<Vec<u8>> =
            (0..1000).map(|i| format!("file-number-{i:05}").into_bytes()).collect();
        let entries: Vec<EntryInfo<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| EntryInfo {
                name,
                reference: u64::try_from(i * 40).unwrap(),
                inode_number: 2 + u32::try_from(i).unwrap(),
                entry_type: kind::FILE,
            })
            .collect();
        let (bytes, index) = listing(&entries);
        // 1000 entries of 8 + 17 bytes, a header every 256 entries and at each index point.
        let points: Vec<(u32, String)> = index
            .iter()
            .map(|(at, name)| (*at, String::from_utf8_lossy(name).into_owned()))
            .collect();
        // Headers at 0 and 6412 (256 entries); 6412 + 12 + 70 * 25 = 8174 would pass 8 KiB with
        // the next entry: an index point. Then 256 more entries and 70 more: 16348.
        assert_eq!(
            points,
            [
                (8174, "file-number-00326".to_owned()),
                (16348, "file-number-00652".to_owned()),
                (24522, "file-number-00978".to_owned())
            ]
        );
        assert_eq!(bytes.len(), 1000 * 25 + 7 * 12);
    }
}
