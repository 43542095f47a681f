//! Rock Ridge (IEEE P1282, RRIP 1.12) System Use entries: POSIX attributes (PX, 4.1.1), device
//! numbers (PN, 4.1.2), symbolic links (SL, 4.1.3), alternate names (NM, 4.1.4), time stamps
//! (TF, 4.1.6) and directory relocation (CL, PL, RE, 4.1.5).
//!
//! How POSIX things are expressed:
//!
//! - Hard links: every name of an inode has its own directory record; they point at the same
//!   extent and carry the same PX file serial number (RRIP 1.12 4.1.1, "inode number") and link
//!   count. The serial is what libisofs and libarchive use to tell hard links apart.
//! - Device nodes: PX carries the type bits, PN the device number as the two 32-bit halves of a
//!   64-bit `dev_t` (4.1.2). kit writes the glibc `dev_t` encoding, as libisofs does: high half
//!   0, low half `(major << 8) | (minor & 0xff) | ((minor & !0xff) << 12)`, which libisofs and
//!   libarchive decode, and which the Linux kernel (`fs/isofs/rock.c`) decodes right for minors
//!   below 256. genisoimage writes `high = major, low = minor` instead; readers here take a
//!   non-zero high half as that form.
//! - FIFOs: PX type bits only. Symlinks: PX type bits plus SL components; the ISO 9660 record is
//!   an empty file.

use crate::iso9660::both_endian::{array, read_u32_both, u32_both};
use crate::iso9660::datetime::{RecordingDateTime, VolumeDateTime};
use crate::iso9660::susp::push_entry;

/// `st_mode` file type bits (POSIX `<sys/stat.h>`), as PX records them.
pub(crate) mod mode {
    /// Mask of the file type bits.
    pub(crate) const S_IFMT: u32 = 0o170_000;
    /// Socket.
    pub(crate) const S_IFSOCK: u32 = 0o140_000;
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

/// 4.1.1 PX: POSIX file attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PosixAttributes {
    /// Bytes 5-12, `st_mode`: file type and permission bits.
    pub(crate) mode: u32,
    /// Bytes 13-20, `st_nlink`: number of links.
    pub(crate) links: u32,
    /// Bytes 21-28, `st_uid`.
    pub(crate) uid: u32,
    /// Bytes 29-36, `st_gid`.
    pub(crate) gid: u32,
    /// Bytes 37-44, `st_ino`: file serial number, equal for all names of one inode. RRIP 1.10
    /// entries (36 bytes, as genisoimage and xorriso's default write) have none.
    pub(crate) serial: Option<u32>,
}

impl PosixAttributes {
    /// Encoded size in bytes (RRIP 1.12, with the serial number).
    pub(crate) const SIZE: usize = 44;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[..4].copy_from_slice(&[b'P', b'X', 44, 1]);
        let fields = [self.mode, self.links, self.uid, self.gid, self.serial.unwrap_or(0)];
        for (idx, value) in fields.iter().enumerate() {
            out[4 + idx * 8..12 + idx * 8].copy_from_slice(&u32_both(*value));
        }
    }

    /// Decodes a PX body (after the header): 32 bytes (RRIP 1.10) or 40 (1.12).
    pub(crate) fn decode_body(body: &[u8]) -> Result<PosixAttributes, &'static str> {
        if body.len() < 32 {
            return Err("PX entry is shorter than 36 bytes");
        }
        let field = |idx: usize| read_u32_both(array(body, idx * 8));
        Ok(PosixAttributes {
            mode: field(0),
            links: field(1),
            uid: field(2),
            gid: field(3),
            serial: if body.len() >= 40 { Some(field(4)) } else { None },
        })
    }
}

/// 4.1.2 PN: the device number of a character or block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceNumber {
    /// Bytes 5-12: high 32 bits of the 64-bit `dev_t`.
    pub(crate) high: u32,
    /// Bytes 13-20: low 32 bits.
    pub(crate) low: u32,
}

impl DeviceNumber {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 20;
    /// Largest Linux major number (12 bits) plus one.
    pub(crate) const MAJOR_LIMIT: u32 = 1 << 12;
    /// Largest Linux minor number (20 bits) plus one.
    pub(crate) const MINOR_LIMIT: u32 = 1 << 20;

    /// The glibc `dev_t` of a Linux device number; `None` beyond Linux's 12-bit majors and
    /// 20-bit minors (the only numbers whose high half is 0).
    pub(crate) fn from_linux(major: u32, minor: u32) -> Option<DeviceNumber> {
        if major >= Self::MAJOR_LIMIT || minor >= Self::MINOR_LIMIT {
            return None;
        }
        let low = (major << 8) | (minor & 0xff) | ((minor & !0xff) << 12);
        Some(DeviceNumber { high: 0, low })
    }

    /// Major and minor: the glibc decoding of the low half when the high half is 0, else
    /// genisoimage's `(high, low)`.
    pub(crate) fn to_linux(self) -> (u32, u32) {
        if self.high != 0 {
            return (self.high, self.low);
        }
        let major = (self.low >> 8) & 0xfff;
        let minor = (self.low & 0xff) | ((self.low >> 12) & 0xf_ff00);
        (major, minor)
    }

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[..4].copy_from_slice(&[b'P', b'N', 20, 1]);
        out[4..12].copy_from_slice(&u32_both(self.high));
        out[12..20].copy_from_slice(&u32_both(self.low));
    }

    /// Decodes a PN body.
    pub(crate) fn decode_body(body: &[u8]) -> Result<DeviceNumber, &'static str> {
        if body.len() < 16 {
            return Err("PN entry is shorter than 20 bytes");
        }
        Ok(DeviceNumber { high: read_u32_both(array(body, 0)), low: read_u32_both(array(body, 8)) })
    }
}

/// 4.1.6 TF flags.
pub(crate) mod tf {
    /// Creation time recorded.
    pub(crate) const CREATION: u8 = 0x01;
    /// Modification time recorded.
    pub(crate) const MODIFY: u8 = 0x02;
    /// Access time recorded.
    pub(crate) const ACCESS: u8 = 0x04;
    /// Attribute change time recorded.
    pub(crate) const ATTRIBUTES: u8 = 0x08;
    /// Times are 17-byte volume dates instead of 7-byte recording dates.
    pub(crate) const LONG_FORM: u8 = 0x80;
}

/// 4.1.6 TF as kit writes it: modification, access and attribute change times, all the node's
/// mtime, in the 7-byte form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamps {
    /// The time (clamped to 1900 ..= 2155 by the 7-byte form).
    pub(crate) mtime: RecordingDateTime,
}

impl Timestamps {
    /// Encoded size in bytes: header, flags and three 7-byte times.
    pub(crate) const SIZE: usize = 5 + 3 * RecordingDateTime::SIZE;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[..5].copy_from_slice(&[b'T', b'F', 26, 1, tf::MODIFY | tf::ACCESS | tf::ATTRIBUTES]);
        let mut date = [0u8; RecordingDateTime::SIZE];
        self.mtime.encode(&mut date);
        for idx in 0..3 {
            out[5 + idx * 7..12 + idx * 7].copy_from_slice(&date);
        }
    }

    /// The modification time in a TF body (flags byte and times in flag order), if recorded
    /// and valid.
    pub(crate) fn decode_modify(body: &[u8]) -> Result<Option<i64>, &'static str> {
        let (&flags, times) = body.split_first().ok_or("TF entry has no flags byte")?;
        let size =
            if flags & tf::LONG_FORM != 0 { VolumeDateTime::SIZE } else { RecordingDateTime::SIZE };
        if flags & tf::MODIFY == 0 {
            return Ok(None);
        }
        let before = usize::from(flags & tf::CREATION != 0);
        let at = before * size;
        let stamp =
            times.get(at..at + size).ok_or("TF entry is shorter than its flags announce")?;
        if size == RecordingDateTime::SIZE {
            return Ok(RecordingDateTime::decode(&array(stamp, 0)).to_unix());
        }
        let date = VolumeDateTime::decode(&array(stamp, 0))?;
        let as_recording = RecordingDateTime {
            years_since_1900: u8::try_from(date.year.saturating_sub(1900)).unwrap_or(u8::MAX),
            month: date.month,
            day: date.day,
            hour: date.hour,
            minute: date.minute,
            second: date.second,
            gmt_offset_quarter_hours: date.gmt_offset_quarter_hours,
        };
        Ok(as_recording.to_unix())
    }
}

/// NM and SL flag: the name or component continues in the next entry or record.
pub(crate) const CONTINUE: u8 = 0x01;
/// NM flag: the entry names the current directory; SL: component `.`.
pub(crate) const CURRENT: u8 = 0x02;
/// NM flag: the entry names the parent directory; SL: component `..`.
pub(crate) const PARENT: u8 = 0x04;
/// SL component flag: the root directory `/`.
pub(crate) const ROOT: u8 = 0x08;

/// Longest name piece per NM entry: 255 - 5 header and flags bytes.
const NM_PIECE_BYTES: usize = 250;
/// Room for component records in one SL entry: 255 - 5 header and flags bytes.
const SL_ROOM_BYTES: usize = 250;

/// 4.1.4 NM: the entries holding `name`, each at most 255 bytes; all but the last have the
/// CONTINUE flag.
pub(crate) fn nm_entries(name: &[u8]) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = name.chunks(NM_PIECE_BYTES).collect();
    let last = pieces.len().saturating_sub(1);
    pieces
        .iter()
        .enumerate()
        .map(|(idx, piece)| {
            let mut body = vec![if idx < last { CONTINUE } else { 0 }];
            body.extend_from_slice(piece);
            let mut entry = Vec::new();
            push_entry(*b"NM", &body, &mut entry);
            entry
        })
        .collect()
}

/// 4.1.3 SL: the entries holding the symlink `target`, each at most 255 bytes; all but the last
/// have the CONTINUE flag.
///
/// A leading `/` is a ROOT component, `.` and `..` are CURRENT and PARENT, other components are
/// text (possibly empty, so `a//b` and `a/` survive), and a component that does not fit in the
/// rest of an entry is split across component records with the CONTINUE flag.
pub(crate) fn sl_entries(target: &[u8]) -> Vec<Vec<u8>> {
    let mut components: Vec<(u8, &[u8])> = Vec::new();
    let rest = match target.strip_prefix(b"/") {
        Some(rest) => {
            components.push((ROOT, &[]));
            rest
        }
        None => target,
    };
    if !(components.len() == 1 && rest.is_empty()) {
        for part in rest.split(|b| *b == b'/') {
            match part {
                b"." => components.push((CURRENT, &[])),
                b".." => components.push((PARENT, &[])),
                text => components.push((0, text)),
            }
        }
    }
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut records: Vec<u8> = Vec::new();
    for (flags, mut text) in components {
        loop {
            let need = if text.is_empty() { 2 } else { 3 };
            if SL_ROOM_BYTES - records.len() < need {
                bodies.push(std::mem::take(&mut records));
            }
            let room = SL_ROOM_BYTES - records.len() - 2;
            let take = text.len().min(room);
            let more = take < text.len();
            records.push(if more { flags | CONTINUE } else { flags });
            records.push(u8::try_from(take).unwrap_or(u8::MAX));
            records.extend_from_slice(&text[..take]);
            text = &text[take..];
            if !more {
                break;
            }
        }
    }
    bodies.push(records);
    let last = bodies.len() - 1;
    bodies
        .iter()
        .enumerate()
        .map(|(idx, records)| {
            let mut body = vec![if idx < last { CONTINUE } else { 0 }];
            body.extend_from_slice(records);
            let mut entry = Vec::new();
            push_entry(*b"SL", &body, &mut entry);
            entry
        })
        .collect()
}

/// Rebuilds a symlink target from SL entry bodies, in order, the way the Linux kernel's
/// `get_symlink_chunk` does: a `/` goes between components unless the first was continued or
/// was the root.
#[derive(Debug, Default)]
pub(crate) struct SymlinkBuilder {
    target: Vec<u8>,
    /// The next component needs a `/` before it.
    separator: bool,
    /// The previous component record continues into the next.
    continuing: bool,
}

impl SymlinkBuilder {
    /// Adds the component records of one SL body (flags byte first).
    pub(crate) fn push_body(&mut self, body: &[u8]) -> Result<(), &'static str> {
        let mut records = body.get(1..).ok_or("SL entry has no flags byte")?;
        while let [flags, len, rest @ ..] = records {
            let len = usize::from(*len);
            let text = rest.get(..len).ok_or("SL component overruns its entry")?;
            if self.separator && !self.continuing {
                self.target.push(b'/');
            }
            match flags & !CONTINUE {
                CURRENT => self.target.push(b'.'),
                PARENT => self.target.extend_from_slice(b".."),
                ROOT => self.target.push(b'/'),
                _ => self.target.extend_from_slice(text),
            }
            self.separator = flags & ROOT == 0;
            self.continuing = flags & CONTINUE != 0;
            records = &rest[len..];
        }
        Ok(())
    }

    /// The target built so far.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.target
    }
}

/// 4.1.5.1 CL (child link, on the placeholder record of a relocated directory) and 4.1.5.2 PL
/// (parent link, on the `..` record of the relocated directory): a 12-byte entry holding a
/// directory's first sector.
pub(crate) fn link_entry(signature: [u8; 2], lba: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&[signature[0], signature[1], 12, 1]);
    out[4..12].copy_from_slice(&u32_both(lba));
    out
}

/// Decodes a CL or PL body.
pub(crate) fn decode_link_body(body: &[u8]) -> Result<u32, &'static str> {
    if body.len() < 8 {
        return Err("CL or PL entry is shorter than 12 bytes");
    }
    Ok(read_u32_both(array(body, 0)))
}

/// 4.1.5.3 RE: marks the record of a relocated directory in its new parent.
pub(crate) const RELOCATED: [u8; 4] = [b'R', b'E', 4, 1];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso9660::susp::entries;

    #[test]
    fn px_pn_tf_round_trip() {
        let px =
            PosixAttributes { mode: 0o100_644, links: 2, uid: 1000, gid: 100, serial: Some(7) };
        let mut bytes = [0u8; PosixAttributes::SIZE];
        px.encode(&mut bytes);
        assert_eq!(&bytes[..4], b"PX\x2c\x01");
        assert_eq!(PosixAttributes::decode_body(&bytes[4..]), Ok(px));
        assert_eq!(
            PosixAttributes::decode_body(&bytes[4..36]),
            Ok(PosixAttributes { serial: None, ..px })
        );
        assert!(PosixAttributes::decode_body(&bytes[4..20]).is_err());

        let pn = DeviceNumber::from_linux(259, 300).unwrap();
        // The glibc makedev(259, 300) is 0x11032c: libisofs writes these bytes.
        assert_eq!(pn, DeviceNumber { high: 0, low: 0x0011_032c });
        let mut bytes = [0u8; DeviceNumber::SIZE];
        pn.encode(&mut bytes);
        assert_eq!(DeviceNumber::decode_body(&bytes[4..]).unwrap().to_linux(), (259, 300));
        assert_eq!(DeviceNumber::from_linux(5, 1).unwrap().to_linux(), (5, 1));
        assert_eq!(DeviceNumber::from_linux(4095, 0xf_ffff).unwrap().to_linux(), (4095, 0xf_ffff));
        assert_eq!(DeviceNumber::from_linux(4096, 0), None);
        assert_eq!(DeviceNumber::from_linux(0, 1 << 20), None);
        // genisoimage's form.
        assert_eq!(DeviceNumber { high: 5, low: 1 }.to_linux(), (5, 1));

        let tf = Timestamps { mtime: RecordingDateTime::from_unix(1_700_000_000) };
        let mut bytes = [0u8; Timestamps::SIZE];
        tf.encode(&mut bytes);
        assert_eq!(Timestamps::SIZE, 26);
        assert_eq!(Timestamps::decode_modify(&bytes[4..]), Ok(Some(1_700_000_000)));
        // Long form with a creation time first: 2023-11-14 22:13:20 twice.
        let mut long = vec![tf::LONG_FORM | tf::CREATION | tf::MODIFY];
        long.extend_from_slice(b"2000010100000000\0");
        long.extend_from_slice(b"2023111422132000\0");
        assert_eq!(Timestamps::decode_modify(&long), Ok(Some(1_700_000_000)));
        assert_eq!(
            Timestamps::decode_modify(&long[..20]),
            Err("TF entry is shorter than its flags announce")
        );
        assert_eq!(Timestamps::decode_modify(&[tf::ACCESS, 1, 1, 1, 1, 1, 1, 0]), Ok(None));
    }

    fn names(entries_bytes: &[Vec<u8>]) -> Vec<(usize, u8)> {
        entries_bytes.iter().map(|e| (e.len(), e[4])).collect()
    }

    #[test]
    fn nm_splits_at_250_bytes() {
        assert_eq!(names(&nm_entries(b"hello")), [(10, 0)]);
        let long = vec![b'n'; 600];
        let split = nm_entries(&long);
        assert_eq!(names(&split), [(255, CONTINUE), (255, CONTINUE), (105, 0)]);
        let joined: Vec<u8> = split.iter().flat_map(|e| e[5..].to_vec()).collect();
        assert_eq!(joined, long);
    }

    fn round_trip(target: &[u8]) -> (usize, Vec<u8>) {
        let sl = sl_entries(target);
        let mut builder = SymlinkBuilder::default();
        for entry in &sl {
            assert!(entry.len() <= 255);
            for raw in entries(entry) {
                builder.push_body(raw.unwrap().body).unwrap();
            }
        }
        (sl.len(), builder.finish())
    }

    #[test]
    fn sl_components_round_trip() {
        for target in
            [&b"busybox"[..], b"/", b"/bin/busybox", b"../x/./y", b"a//b/", b"//", b"", b"..."]
        {
            assert_eq!(round_trip(target), (1, target.to_vec()), "{target:?}");
        }
        let sl = sl_entries(b"/usr/../lib");
        assert_eq!(
            &sl[0][4..],
            [0, ROOT, 0, 0, 3, b'u', b's', b'r', PARENT, 0, 0, 3, b'l', b'i', b'b']
        );
        // A 600-byte component spans three entries through continued component records.
        let long = vec![b'x'; 600];
        let (n, back) = round_trip(&long);
        assert_eq!((n, back == long), (3, true));
        let sl = sl_entries(&long);
        assert_eq!((sl[0][4], sl[0][5], sl[0][6]), (CONTINUE, CONTINUE, 248));
        let mixed: Vec<u8> = [&b"/"[..], &[b'a'; 300], b"/", &[b'b'; 4000], b"/.."].concat();
        assert_eq!(round_trip(&mixed).1, mixed);
    }

    #[test]
    fn links() {
        let cl = link_entry(*b"CL", 77);
        assert_eq!(&cl[..4], b"CL\x0c\x01");
        assert_eq!(decode_link_body(&cl[4..]), Ok(77));
        assert!(decode_link_body(&cl[4..8]).is_err());
    }
}
