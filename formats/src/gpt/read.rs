//! Reading and checking a GPT disk: both headers, both entry arrays, their CRCs, the used
//! entries.

use std::io::{Read, Seek, SeekFrom};

use crate::gpt::entry::PartitionEntry;
use crate::gpt::header::{GptHeader, crc32};
use crate::gpt::mbr::{Mbr, OS_TYPE_GPT_PROTECTIVE};
use crate::gpt::{Error, size};

/// Largest entry array the reader accepts (UEFI sets no limit; real arrays are 16 KiB).
const MAX_ARRAY_BYTES: u64 = 4 << 20;

/// A GPT disk as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Logical block size (512 or 4096), found where the primary header is.
    pub sector_bytes: u64,
    /// Size of the image in bytes.
    pub disk_bytes: u64,
    /// LBA 0.
    pub mbr: Mbr,
    /// The primary header (LBA 1).
    pub primary: GptHeader,
    /// The backup header (at the primary's `AlternateLBA`).
    pub backup: GptHeader,
    /// The used entries, in entry order.
    pub partitions: Vec<Partition>,
}

/// One used entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Its number: index in the entry array plus 1.
    pub number: usize,
    /// The entry.
    pub entry: PartitionEntry,
}

/// Reads and checks the GPT of `input` (UEFI 2.10 §5.3.2 validity checks, for both headers),
/// and that the primary and backup describe the same disk.
pub fn read(input: &mut (impl Read + Seek)) -> Result<Disk, Error> {
    read_dyn(input)
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

fn read_dyn(input: &mut dyn ReadSeek) -> Result<Disk, Error> {
    let disk_bytes =
        input.seek(SeekFrom::End(0)).map_err(|source| Error::ReadInput { offset: 0, source })?;
    if disk_bytes < 1024 {
        return Err(Error::NotGpt { reason: format!("the image is {disk_bytes} bytes long") });
    }
    let sector0 = read_at(input, 0, 512)?;
    let mbr_bytes: &[u8; Mbr::SIZE] = sector0
        .as_slice()
        .try_into()
        .map_err(|_| Error::NotGpt { reason: "LBA 0 is short".to_owned() })?;
    let mbr = Mbr::decode(mbr_bytes).map_err(|err| Error::NotGpt { reason: err.to_string() })?;
    if !mbr.partition_records.iter().any(|record| record.os_type == OS_TYPE_GPT_PROTECTIVE) {
        return Err(Error::NotGpt { reason: "the MBR has no 0xEE protective record".to_owned() });
    }
    // The primary header is in LBA 1: at byte 512 or 4096.
    let mut sector_bytes = 0;
    for candidate in [512u64, 4096] {
        if disk_bytes >= candidate * 2 && read_at(input, candidate, 8)? == b"EFI PART" {
            sector_bytes = candidate;
            break;
        }
    }
    if sector_bytes == 0 {
        return Err(Error::NotGpt {
            reason: "no \"EFI PART\" signature at byte 512 or 4096".to_owned(),
        });
    }
    let total_lbas = disk_bytes / sector_bytes;
    let primary = read_header(input, "primary", 1, sector_bytes, total_lbas)?;
    let primary_array = read_array(input, "primary", &primary, sector_bytes)?;
    let backup = read_header(input, "backup", primary.alternate_lba, sector_bytes, total_lbas)?;
    let backup_array = read_array(input, "backup", &backup, sector_bytes)?;

    let field = |field, found: u64, expected: u64| Error::HeaderField {
        which: "backup",
        field,
        found: found.to_string(),
        expected: format!("{expected} as in the primary header"),
    };
    if backup.alternate_lba != 1 {
        return Err(Error::HeaderField {
            which: "backup",
            field: "AlternateLBA",
            found: backup.alternate_lba.to_string(),
            expected: "1".to_owned(),
        });
    }
    let pairs = [
        ("FirstUsableLBA", backup.first_usable_lba, primary.first_usable_lba),
        ("LastUsableLBA", backup.last_usable_lba, primary.last_usable_lba),
        (
            "NumberOfPartitionEntries",
            u64::from(backup.number_of_partition_entries),
            u64::from(primary.number_of_partition_entries),
        ),
        (
            "SizeOfPartitionEntry",
            u64::from(backup.size_of_partition_entry_bytes),
            u64::from(primary.size_of_partition_entry_bytes),
        ),
        (
            "PartitionEntryArrayCRC32",
            u64::from(backup.partition_entry_array_crc32),
            u64::from(primary.partition_entry_array_crc32),
        ),
    ];
    for (name, found, expected) in pairs {
        if found != expected {
            return Err(field(name, found, expected));
        }
    }
    if backup.disk_guid != primary.disk_guid {
        return Err(Error::HeaderField {
            which: "backup",
            field: "DiskGUID",
            found: backup.disk_guid.to_string(),
            expected: format!("{} as in the primary header", primary.disk_guid),
        });
    }
    if backup_array != primary_array {
        return Err(Error::HeaderField {
            which: "backup",
            field: "partition entry array",
            found: "different bytes".to_owned(),
            expected: "the primary array's bytes".to_owned(),
        });
    }
    let partitions = parse_entries(&primary, &primary_array)?;
    Ok(Disk { sector_bytes, disk_bytes, mbr, primary, backup, partitions })
}

/// Reads the header at `lba` and checks what can be checked without the other header.
fn read_header(
    input: &mut dyn ReadSeek,
    which: &'static str,
    lba: u64,
    sector_bytes: u64,
    total_lbas: u64,
) -> Result<GptHeader, Error> {
    let bad = |field, found: u64, expected: String| Error::HeaderField {
        which,
        field,
        found: found.to_string(),
        expected,
    };
    if lba == 0 || lba >= total_lbas {
        return Err(bad("MyLBA", lba, format!("an LBA between 1 and {}", total_lbas - 1)));
    }
    let sector = read_at(input, lba * sector_bytes, sector_bytes)?;
    let header = GptHeader::decode_checked(&sector).map_err(|source| Error::Header {
        which,
        lba,
        source,
    })?;
    if header.my_lba != lba {
        return Err(bad("MyLBA", header.my_lba, format!("{lba}, where it was read")));
    }
    if header.alternate_lba == 0 || header.alternate_lba >= total_lbas {
        return Err(bad(
            "AlternateLBA",
            header.alternate_lba,
            format!("an LBA within the disk's {total_lbas} blocks"),
        ));
    }
    let entry_size = header.size_of_partition_entry_bytes;
    if entry_size < 128 || !(entry_size / 128).is_power_of_two() || entry_size % 128 != 0 {
        return Err(bad("SizeOfPartitionEntry", u64::from(entry_size), "128 × 2^n".to_owned()));
    }
    let array_bytes = u64::from(header.number_of_partition_entries) * u64::from(entry_size);
    if array_bytes > MAX_ARRAY_BYTES {
        return Err(bad(
            "NumberOfPartitionEntries",
            u64::from(header.number_of_partition_entries),
            format!("an array of at most {} (it is {})", size(MAX_ARRAY_BYTES), size(array_bytes)),
        ));
    }
    let array_lbas = array_bytes.div_ceil(sector_bytes);
    let array_end = header.partition_entry_lba.saturating_add(array_lbas);
    if header.partition_entry_lba < 2 || array_end > total_lbas {
        return Err(bad(
            "PartitionEntryLBA",
            header.partition_entry_lba,
            format!(
                "an array of {array_lbas} blocks within the disk's {total_lbas} blocks, after LBA 1"
            ),
        ));
    }
    // The array lies outside the usable range (before or after it).
    let array_inside_usable =
        header.partition_entry_lba <= header.last_usable_lba && array_end > header.first_usable_lba;
    if header.first_usable_lba > header.last_usable_lba.saturating_add(1)
        || header.last_usable_lba >= total_lbas
        || header.first_usable_lba < 2
        || array_inside_usable
        || (header.first_usable_lba..=header.last_usable_lba).contains(&header.my_lba)
    {
        return Err(Error::HeaderField {
            which,
            field: "FirstUsableLBA..LastUsableLBA",
            found: format!("{}..{}", header.first_usable_lba, header.last_usable_lba),
            expected: format!(
                "a range within the disk's {total_lbas} blocks that holds neither header nor entry array"
            ),
        });
    }
    Ok(header)
}

/// Reads a header's entry array and checks its CRC32.
fn read_array(
    input: &mut dyn ReadSeek,
    which: &'static str,
    header: &GptHeader,
    sector_bytes: u64,
) -> Result<Vec<u8>, Error> {
    let array_bytes = u64::from(header.number_of_partition_entries)
        * u64::from(header.size_of_partition_entry_bytes);
    let array = read_at(input, header.partition_entry_lba * sector_bytes, array_bytes)?;
    let computed = crc32(&array);
    if computed != header.partition_entry_array_crc32 {
        return Err(Error::EntryArrayCrc {
            which,
            lba: header.partition_entry_lba,
            stored: header.partition_entry_array_crc32,
            computed,
        });
    }
    Ok(array)
}

/// The used entries, each inside the usable range and not overlapping another.
fn parse_entries(header: &GptHeader, array: &[u8]) -> Result<Vec<Partition>, Error> {
    let entry_size = usize::try_from(header.size_of_partition_entry_bytes).unwrap_or(usize::MAX);
    let mut partitions: Vec<Partition> = Vec::new();
    for (idx, chunk) in array.chunks_exact(entry_size).enumerate() {
        let number = idx + 1;
        let Some(bytes) = chunk
            .get(..PartitionEntry::SIZE)
            .and_then(|b| <&[u8; PartitionEntry::SIZE]>::try_from(b).ok())
        else {
            continue;
        };
        let entry = PartitionEntry::decode(bytes);
        if !entry.is_used() {
            continue;
        }
        if entry.starting_lba > entry.ending_lba
            || entry.starting_lba < header.first_usable_lba
            || entry.ending_lba > header.last_usable_lba
        {
            return Err(Error::Entry {
                number,
                problem: format!(
                    "LBAs {}..={} are not a range within the usable LBAs {}..={}",
                    entry.starting_lba,
                    entry.ending_lba,
                    header.first_usable_lba,
                    header.last_usable_lba
                ),
            });
        }
        if let Some(other) = partitions.iter().find(|other| {
            other.entry.starting_lba <= entry.ending_lba
                && entry.starting_lba <= other.entry.ending_lba
        }) {
            return Err(Error::Entry {
                number,
                problem: format!("overlaps partition {}", other.number),
            });
        }
        partitions.push(Partition { number, entry });
    }
    Ok(partitions)
}

/// Reads `len` bytes at `offset`; the caller bounds `len`.
fn read_at(input: &mut dyn ReadSeek, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let io_err = |source| Error::ReadInput { offset, source };
    input.seek(SeekFrom::Start(offset)).map_err(io_err)?;
    let len = usize::try_from(len).map_err(|_| Error::NotGpt {
        reason: format!("a read of {len} bytes does not fit in memory"),
    })?;
    let mut buf = vec![0u8; len];
    input.read_exact(&mut buf).map_err(io_err)?;
    Ok(buf)
}

/// Key/value lines describing the disk, for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    let disk = read(input)?;
    let header = &disk.primary;
    let mut lines = vec![
        ("format".to_owned(), "GPT (UEFI 2.10)".to_owned()),
        ("sector size".to_owned(), format!("{} bytes", disk.sector_bytes)),
        ("disk size".to_owned(), format!("{} ({} bytes)", size(disk.disk_bytes), disk.disk_bytes)),
        ("disk GUID".to_owned(), header.disk_guid.to_string()),
        (
            "usable LBAs".to_owned(),
            format!("{}..={}", header.first_usable_lba, header.last_usable_lba),
        ),
        (
            "entries".to_owned(),
            format!(
                "{} of {} bytes at LBA {} (backup at LBA {})",
                header.number_of_partition_entries,
                header.size_of_partition_entry_bytes,
                header.partition_entry_lba,
                disk.backup.partition_entry_lba
            ),
        ),
        ("backup header LBA".to_owned(), disk.backup.my_lba.to_string()),
    ];
    let hybrid = disk.mbr.partition_records.iter().filter(|r| r.os_type != 0).count() > 1;
    lines.push(("MBR".to_owned(), if hybrid { "hybrid" } else { "protective" }.to_owned()));
    for partition in &disk.partitions {
        let entry = &partition.entry;
        let type_name = entry.partition_type_guid.type_name().unwrap_or("unknown type");
        let blocks = entry.ending_lba - entry.starting_lba + 1;
        lines.push((
            format!("partition {}", partition.number),
            format!(
                "{:?} LBAs {}..={} ({}) type {} ({type_name}) GUID {} attributes {:#x}",
                entry.name(),
                entry.starting_lba,
                entry.ending_lba,
                size(blocks.saturating_mul(disk.sector_bytes)),
                entry.partition_type_guid,
                entry.unique_partition_guid,
                entry.attributes
            ),
        ));
    }
    Ok(lines)
}
