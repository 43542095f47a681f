//! The newc ("new ASCII") cpio header, as the Linux kernel documents it in
//! Documentation/driver-api/early-userspace/buffer-format.rst and GNU cpio writes it.
//!
//! 110 bytes: a 6-byte magic, then 13 fields of 8 ASCII hexadecimal digits each. The header is
//! followed by the name (`namesize` bytes, NUL included), padding to a multiple of 4 bytes from
//! the start of the header, the data (`filesize` bytes) and padding to a multiple of 4.

/// `c_mode` file type bits (from `<sys/stat.h>`).
pub(crate) mod mode {
    /// Mask of the file type bits.
    pub(crate) const S_IFMT: u32 = 0o170_000;
    /// Symbolic link.
    pub(crate) const S_IFLNK: u32 = 0o120_000;
    /// Regular file.
    pub(crate) const S_IFREG: u32 = 0o100_000;
    /// Block device.
    pub(crate) const S_IFBLK: u32 = 0o060_000;
    /// Directory.
    pub(crate) const S_IFDIR: u32 = 0o040_000;
    /// Character device.
    pub(crate) const S_IFCHR: u32 = 0o020_000;
    /// Named pipe.
    pub(crate) const S_IFIFO: u32 = 0o010_000;
}

/// The two newc magics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Magic {
    /// `070701`: no checksums; what kit writes.
    Newc,
    /// `070702`: `c_check` holds the sum of the data bytes of regular files.
    NewcCrc,
}

/// One newc header. Field names follow the spec's `c_*` names without the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewcHeader {
    /// `c_magic`: "070701" or "070702".
    pub(crate) magic: Magic,
    /// `c_ino`: inode number; entries with the same (`devmajor`, `devminor`, `ino`) and
    /// `nlink >= 2` are hard links of one file.
    pub(crate) ino: u32,
    /// `c_mode`: file type and permission bits.
    pub(crate) mode: u32,
    /// `c_uid`: numeric owner.
    pub(crate) uid: u32,
    /// `c_gid`: numeric group.
    pub(crate) gid: u32,
    /// `c_nlink`: number of names of the inode (2 + subdirectories for a directory).
    pub(crate) nlink: u32,
    /// `c_mtime`: modification time, seconds since the epoch, unsigned 32 bits.
    pub(crate) mtime_secs: u32,
    /// `c_filesize`: data bytes after the name; must be 0 for everything but regular files
    /// and symlinks (whose data is the target).
    pub(crate) filesize_bytes: u32,
    /// `c_maj`: major number of the device holding the file.
    pub(crate) devmajor: u32,
    /// `c_min`: minor number of the device holding the file.
    pub(crate) devminor: u32,
    /// `c_rmaj`: major number of a character or block device node.
    pub(crate) rdevmajor: u32,
    /// `c_rmin`: minor number of a character or block device node.
    pub(crate) rdevminor: u32,
    /// `c_namesize`: length of the name including its terminating NUL.
    pub(crate) namesize_bytes: u32,
    /// `c_chksum`: 0 for `070701`; for `070702`, the 32-bit sum of the data bytes.
    pub(crate) check: u32,
}

/// A header field that is not 8 hexadecimal digits, or a wrong magic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The first 6 bytes are not a newc magic.
    #[error("magic is {found:?}, expected \"070701\" or \"070702\" (newc)")]
    Magic {
        /// The 6 bytes found, lossily decoded.
        found: String,
    },
    /// A field is not 8 hexadecimal digits.
    #[error("field {field} is {found:?}, expected 8 hexadecimal digits")]
    Field {
        /// The spec's field name.
        field: &'static str,
        /// The 8 bytes found, lossily decoded.
        found: String,
    },
}

impl NewcHeader {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 110;

    /// Field names in encoding order, after the magic.
    const FIELDS: [&'static str; 13] = [
        "c_ino",
        "c_mode",
        "c_uid",
        "c_gid",
        "c_nlink",
        "c_mtime",
        "c_filesize",
        "c_maj",
        "c_min",
        "c_rmaj",
        "c_rmin",
        "c_namesize",
        "c_chksum",
    ];

    fn values(&self) -> [u32; 13] {
        [
            self.ino,
            self.mode,
            self.uid,
            self.gid,
            self.nlink,
            self.mtime_secs,
            self.filesize_bytes,
            self.devmajor,
            self.devminor,
            self.rdevmajor,
            self.rdevminor,
            self.namesize_bytes,
            self.check,
        ]
    }

    /// Writes the header; hexadecimal digits are lowercase, as GNU cpio writes them.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let magic: &[u8; 6] = match self.magic {
            Magic::Newc => b"070701",
            Magic::NewcCrc => b"070702",
        };
        out[..6].copy_from_slice(magic);
        for (idx, value) in self.values().iter().enumerate() {
            let start = 6 + idx * 8;
            out[start..start + 8].copy_from_slice(format!("{value:08x}").as_bytes());
        }
    }

    /// Parses a header; hexadecimal digits may be of either case (the kernel accepts both).
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<NewcHeader, HeaderError> {
        let magic = match &bytes[..6] {
            b"070701" => Magic::Newc,
            b"070702" => Magic::NewcCrc,
            other => {
                return Err(HeaderError::Magic { found: String::from_utf8_lossy(other).into() });
            }
        };
        let mut values = [0u32; 13];
        for (idx, value) in values.iter_mut().enumerate() {
            let start = 6 + idx * 8;
            let field = &bytes[start..start + 8];
            let parsed = std::str::from_utf8(field)
                .ok()
                .filter(|text| text.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|text| u32::from_str_radix(text, 16).ok());
            *value = parsed.ok_or_else(|| HeaderError::Field {
                field: Self::FIELDS[idx],
                found: String::from_utf8_lossy(field).into(),
            })?;
        }
        let [
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime_secs,
            filesize_bytes,
            devmajor,
            devminor,
            rdevmajor,
            rdevminor,
            namesize_bytes,
            check,
        ] = values;
        Ok(NewcHeader {
            magic,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime_secs,
            filesize_bytes,
            devmajor,
            devminor,
            rdevmajor,
            rdevminor,
            namesize_bytes,
            check,
        })
    }
}

/// Zero bytes needed after `len` bytes to reach a multiple of 4.
pub(crate) fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewcHeader {
        NewcHeader {
            magic: Magic::Newc,
            ino: 0x2d1,
            mode: mode::S_IFREG | 0o4755,
            uid: 0,
            gid: 0xffff_fffe,
            nlink: 2,
            mtime_secs: 1_700_000_000,
            filesize_bytes: 5,
            devmajor: 0,
            devminor: 0,
            rdevmajor: 0,
            rdevminor: 0,
            namesize_bytes: 9,
            check: 0,
        }
    }

    #[test]
    fn size_is_110() {
        assert_eq!(NewcHeader::SIZE, 6 + 13 * 8);
    }

    #[test]
    fn encodes_as_the_spec_says() {
        let mut out = [0u8; NewcHeader::SIZE];
        sample().encode(&mut out);
        // 0o104755 = 0x89ed; 1700000000 = 0x6553f100.
        let expected = concat!(
            "070701", "000002d1", "000089ed", "00000000", "fffffffe", "00000002", "6553f100",
            "00000005", "00000000", "00000000", "00000000", "00000000", "00000009", "00000000"
        );
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
        assert_eq!(NewcHeader::decode(&out), Ok(sample()));
    }

    #[test]
    fn decode_accepts_uppercase_and_crc_magic_and_rejects_garbage() {
        let mut out = [0u8; NewcHeader::SIZE];
        sample().encode(&mut out);
        let upper: Vec<u8> = out.iter().map(u8::to_ascii_uppercase).collect();
        let mut upper: [u8; NewcHeader::SIZE] = upper.try_into().unwrap();
        upper[5] = b'2';
        let decoded = NewcHeader::decode(&upper).unwrap();
        assert_eq!(decoded, NewcHeader { magic: Magic::NewcCrc, ..sample() });

        let mut bad = out;
        bad[6 + 8] = b'g';
        assert_eq!(
            NewcHeader::decode(&bad).unwrap_err().to_string(),
            "field c_mode is \"g00089ed\", expected 8 hexadecimal digits"
        );
        bad[..6].copy_from_slice(b"070707");
        assert_eq!(
            NewcHeader::decode(&bad).unwrap_err().to_string(),
            "magic is \"070707\", expected \"070701\" or \"070702\" (newc)"
        );
    }

    #[test]
    fn padding() {
        assert_eq!([0, 1, 2, 3, 4, 5].map(pad4), [0, 3, 2, 1, 0, 3]);
    }
}
