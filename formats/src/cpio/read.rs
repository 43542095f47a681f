//! Reading newc archives into a tree, with the kernel unpacker's hard link rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cpio::Error;
use crate::cpio::header::{NewcHeader, mode, pad4};
use crate::cpio::write::TRAILER;
use crate::dump::display_path;
use crate::extract::{TreeBuilder, normalize};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// Identity of an inode within one archive: (`c_maj`, `c_min`, `c_ino`).
type InodeKey = (u32, u32, u32);

pub(crate) fn read(data: &[u8]) -> Result<Tree, Error> {
    let mut builder = TreeBuilder::new();
    let mut first_name: BTreeMap<InodeKey, Vec<u8>> = BTreeMap::new();
    let mut offset = 0;
    // True between a trailer and the next archive, where zero padding may appear.
    let mut between_archives = false;
    let mut seen_trailer = false;
    while offset < data.len() {
        if between_archives && data[offset] == 0 {
            offset += 1;
            continue;
        }
        if offset % 4 != 0 {
            return Err(Error::Padding { offset });
        }
        between_archives = false;
        let entry = parse_entry(data, offset)?;
        offset = entry.next_offset;
        if entry.name == TRAILER {
            seen_trailer = true;
            between_archives = true;
            // Like the kernel, forget the inodes of the archive that ended.
            first_name.clear();
            continue;
        }
        seen_trailer = false;
        apply(&mut builder, &mut first_name, entry)?;
    }
    if !seen_trailer {
        return Err(Error::MissingTrailer { len: data.len() });
    }
    Ok(builder.finish())
}

/// The length of the one uncompressed archive at the start of `data`: up to and including its
/// `TRAILER!!!` entry and that entry's padding.
pub(crate) fn archive_len(data: &[u8]) -> Result<usize, Error> {
    let mut offset = 0;
    loop {
        if offset >= data.len() {
            return Err(Error::MissingTrailer { len: data.len() });
        }
        let entry = parse_entry(data, offset)?;
        offset = entry.next_offset;
        if entry.name == TRAILER {
            return Ok(offset.min(data.len()));
        }
    }
}

struct RawEntry<'a> {
    header: NewcHeader,
    name: &'a [u8],
    data: &'a [u8],
    next_offset: usize,
}

fn parse_entry(data: &[u8], offset: usize) -> Result<RawEntry<'_>, Error> {
    let truncated = |what| Error::Truncated { offset, what, len: data.len() };
    let header_bytes: &[u8; NewcHeader::SIZE] = data
        .get(offset..offset + NewcHeader::SIZE)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| truncated("header"))?;
    let header =
        NewcHeader::decode(header_bytes).map_err(|source| Error::Header { offset, source })?;
    let name_start = offset + NewcHeader::SIZE;
    let namesize = usize::try_from(header.namesize_bytes).map_err(|_| truncated("name"))?;
    let name_end = name_start.checked_add(namesize).ok_or_else(|| truncated("name"))?;
    let name = data.get(name_start..name_end).ok_or_else(|| truncated("name"))?;
    let Some((0, name)) = name.split_last() else {
        return Err(Error::Name { offset });
    };
    if name.contains(&0) {
        return Err(Error::Name { offset });
    }
    let data_start = name_end + pad4(NewcHeader::SIZE + namesize);
    let filesize = usize::try_from(header.filesize_bytes).map_err(|_| truncated("data"))?;
    let data_end = data_start.checked_add(filesize).ok_or_else(|| truncated("data"))?;
    let body = data.get(data_start..data_end).ok_or_else(|| truncated("data"))?;
    let next_offset = data_end + pad4(filesize);
    Ok(RawEntry { header, name, data: body, next_offset })
}

fn apply(
    builder: &mut TreeBuilder,
    first_name: &mut BTreeMap<InodeKey, Vec<u8>>,
    entry: RawEntry<'_>,
) -> Result<(), Error> {
    let RawEntry { header, name, data, .. } = entry;
    let meta = Meta {
        mode: header.mode & 0o7777,
        uid: header.uid,
        gid: header.gid,
        mtime: i64::from(header.mtime_secs),
        xattrs: BTreeMap::new(),
    };
    let kind = match header.mode & mode::S_IFMT {
        mode::S_IFREG => {
            let key = (header.devmajor, header.devminor, header.ino);
            let earlier = if header.nlink >= 2 { first_name.get(&key).cloned() } else { None };
            match earlier {
                Some(first) => {
                    // A later name of the inode: the kernel links it to the first name and
                    // writes any data it carries into the shared file.
                    if !data.is_empty()
                        && let Some(node) = builder.get_mut(&first)
                        && let NodeKind::File(content) = &mut node.kind
                    {
                        *content = Content::Inline(Arc::from(data));
                    }
                    NodeKind::HardLink(first)
                }
                None => {
                    if header.nlink >= 2 {
                        first_name.insert(key, normalize(name)?.join(&b'/'));
                    }
                    NodeKind::File(Content::Inline(Arc::from(data)))
                }
            }
        }
        mode::S_IFDIR => NodeKind::Dir(Dir::new()),
        mode::S_IFLNK => NodeKind::Symlink(data.to_vec()),
        mode::S_IFCHR => NodeKind::CharDevice { major: header.rdevmajor, minor: header.rdevminor },
        mode::S_IFBLK => NodeKind::BlockDevice { major: header.rdevmajor, minor: header.rdevminor },
        mode::S_IFIFO => NodeKind::Fifo,
        _ => {
            return Err(Error::UnsupportedType { path: display_path(name), mode: header.mode });
        }
    };
    builder.insert(name, Node::new(kind, meta))?;
    Ok(())
}
