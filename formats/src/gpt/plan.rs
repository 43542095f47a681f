//! The layout of a GPT disk: every LBA, computed before any byte is written.

use std::collections::BTreeMap;

use crate::gpt::entry::{PartitionEntry, encode_name};
use crate::gpt::guid::Guid;
use crate::gpt::header::{GPT_REVISION, GPT_SIGNATURE, GptHeader};
use crate::gpt::mbr::{MBR_SIGNATURE, Mbr, MbrPartitionRecord, OS_TYPE_GPT_PROTECTIVE};
use crate::gpt::{
    ALIGNMENT_BYTES, DiskSize, Error, GptOptions, NUMBER_OF_ENTRIES, PartitionSize, PartitionSpec,
};

/// Every LBA of a disk, as [`plan()`] computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Logical block size in bytes.
    pub sector_bytes: u64,
    /// Size of the whole disk in bytes.
    pub disk_bytes: u64,
    /// `DiskGUID`.
    pub disk_guid: Guid,
    /// `FirstUsableLBA`.
    pub first_usable_lba: u64,
    /// `LastUsableLBA`.
    pub last_usable_lba: u64,
    /// First LBA of the primary entry array (always 2).
    pub primary_entries_lba: u64,
    /// First LBA of the backup entry array.
    pub backup_entries_lba: u64,
    /// The backup header's LBA: the last of the disk.
    pub backup_header_lba: u64,
    /// The partitions, in entry order.
    pub partitions: Vec<PlannedPartition>,
    /// LBA 0.
    pub mbr: Mbr,
}

/// One placed partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPartition {
    /// Its number (1 for the first entry), as `sgdisk` and Linux (`sda1`) count.
    pub number: usize,
    /// Its name.
    pub name: String,
    /// Its entry, with `StartingLBA` and `EndingLBA`.
    pub entry: PartitionEntry,
}

impl PlannedPartition {
    /// Offset of the first byte in the disk.
    pub fn start_bytes(&self, layout: &Layout) -> u64 {
        self.entry.starting_lba * layout.sector_bytes
    }

    /// Size in bytes.
    pub fn size_bytes(&self, layout: &Layout) -> u64 {
        (self.entry.ending_lba + 1 - self.entry.starting_lba) * layout.sector_bytes
    }
}

impl Layout {
    /// Number of blocks on the disk.
    pub fn total_lbas(&self) -> u64 {
        self.disk_bytes / self.sector_bytes
    }

    /// Blocks taken by one entry array.
    pub fn entry_array_lbas(&self) -> u64 {
        entry_array_lbas(self.sector_bytes)
    }

    /// The entry array (128 entries).
    pub fn entry_array(&self) -> Vec<u8> {
        let mut array = vec![0u8; entry_array_bytes()];
        for (idx, partition) in self.partitions.iter().enumerate() {
            let mut bytes = [0u8; PartitionEntry::SIZE];
            partition.entry.encode(&mut bytes);
            let start = idx * PartitionEntry::SIZE;
            array[start..start + PartitionEntry::SIZE].copy_from_slice(&bytes);
        }
        array
    }

    /// The primary (`backup == false`) or backup header, with both CRCs filled in.
    pub fn header(&self, backup: bool, entry_array_crc32: u32) -> GptHeader {
        let last_lba = self.backup_header_lba;
        let (my_lba, alternate_lba, partition_entry_lba) = if backup {
            (last_lba, 1, self.backup_entries_lba)
        } else {
            (1, last_lba, self.primary_entries_lba)
        };
        GptHeader {
            signature: GPT_SIGNATURE,
            revision: GPT_REVISION,
            // 92 fits.
            header_size_bytes: u32::try_from(GptHeader::SIZE).unwrap_or(92),
            header_crc32: 0,
            reserved: 0,
            my_lba,
            alternate_lba,
            first_usable_lba: self.first_usable_lba,
            last_usable_lba: self.last_usable_lba,
            disk_guid: self.disk_guid,
            partition_entry_lba,
            number_of_partition_entries: NUMBER_OF_ENTRIES,
            size_of_partition_entry_bytes: u32::try_from(PartitionEntry::SIZE).unwrap_or(128),
            partition_entry_array_crc32: entry_array_crc32,
        }
        .with_crc()
    }
}

/// Bytes of an entry array: 128 × 128.
fn entry_array_bytes() -> usize {
    // 128 fits in usize.
    usize::try_from(NUMBER_OF_ENTRIES).unwrap_or(128) * PartitionEntry::SIZE
}

fn entry_array_lbas(sector_bytes: u64) -> u64 {
    (u64::try_from(entry_array_bytes()).unwrap_or(16_384)).div_ceil(sector_bytes)
}

/// Places `partitions` on a disk as `options` say. Pure: computes every LBA, checks every
/// limit, and writes nothing.
pub fn plan(options: &GptOptions, partitions: &[PartitionSpec]) -> Result<Layout, Error> {
    let sector = options.sector_size.bytes();
    let align_lbas = ALIGNMENT_BYTES / sector;
    let array_lbas = entry_array_lbas(sector);
    // LBA 0: MBR, LBA 1: header, then the array.
    let primary_entries_lba = 2;
    let first_usable_lba = primary_entries_lba + array_lbas;
    // The backup array and header.
    let backup_lbas = array_lbas + 1;

    if partitions.len() > usize::try_from(NUMBER_OF_ENTRIES).unwrap_or(128) {
        return Err(Error::TooManyPartitions { count: partitions.len(), max: NUMBER_OF_ENTRIES });
    }
    let mut seen_guids: BTreeMap<Guid, &str> = BTreeMap::new();
    for spec in partitions {
        if spec.type_guid == Guid::ZERO {
            return Err(Error::ZeroType { name: spec.name.clone() });
        }
        if let Some(first) = seen_guids.insert(spec.partition_guid, &spec.name) {
            return Err(Error::DuplicateGuid {
                first: first.to_owned(),
                second: spec.name.clone(),
                guid: spec.partition_guid,
            });
        }
    }

    let given_lbas = match options.disk_size {
        DiskSize::Minimum => None,
        DiskSize::Bytes(size_bytes) => {
            if size_bytes % sector != 0 {
                return Err(Error::DiskSizeUnaligned { size_bytes, sector_bytes: sector });
            }
            let lbas = size_bytes / sector;
            // Both tables and at least one usable block.
            let min_lbas = first_usable_lba + 1 + backup_lbas;
            if lbas < min_lbas {
                return Err(Error::DiskTooSmall {
                    size_bytes,
                    min_bytes: min_lbas.saturating_mul(sector),
                });
            }
            Some(lbas)
        }
    };

    let mut placed = Vec::with_capacity(partitions.len());
    // The first partition starts at 1 MiB.
    let mut next_lba = align_lbas.max(first_usable_lba).next_multiple_of(align_lbas);
    for (idx, spec) in partitions.iter().enumerate() {
        let number = idx + 1;
        let overflow = || Error::Overflow { name: spec.name.clone() };
        let partition_name = encode_name(&spec.name).map_err(|source| Error::Name {
            number,
            name: spec.name.clone(),
            source,
        })?;
        // Space to the last usable LBA of a given disk, rounded down to the alignment.
        let available_lbas = given_lbas.map(|lbas| {
            let last_usable = lbas - backup_lbas - 1;
            (last_usable + 1).saturating_sub(next_lba) / align_lbas * align_lbas
        });
        let size_lbas = match spec.size {
            PartitionSize::Bytes(0) => {
                return Err(Error::EmptyPartition { name: spec.name.clone() });
            }
            PartitionSize::Bytes(bytes) => {
                bytes.checked_next_multiple_of(ALIGNMENT_BYTES).ok_or_else(overflow)? / sector
            }
            PartitionSize::Fill => {
                if number != partitions.len() {
                    return Err(Error::Fill {
                        name: spec.name.clone(),
                        problem: "only the last partition can",
                    });
                }
                match available_lbas {
                    None => {
                        return Err(Error::Fill {
                            name: spec.name.clone(),
                            problem: "the disk size must be given",
                        });
                    }
                    Some(0) => {
                        return Err(Error::Fill {
                            name: spec.name.clone(),
                            problem: "no aligned MiB is left",
                        });
                    }
                    Some(lbas) => lbas,
                }
            }
        };
        if let (Some(available), Some(disk_lbas)) = (available_lbas, given_lbas)
            && size_lbas > available
        {
            return Err(Error::PartitionDoesNotFit {
                name: spec.name.clone(),
                size_bytes: size_lbas.saturating_mul(sector),
                disk_bytes: disk_lbas * sector,
                available_bytes: available * sector,
            });
        }
        let ending_lba = next_lba.checked_add(size_lbas - 1).ok_or_else(overflow)?;
        placed.push(PlannedPartition {
            number,
            name: spec.name.clone(),
            entry: PartitionEntry {
                partition_type_guid: spec.type_guid,
                unique_partition_guid: spec.partition_guid,
                starting_lba: next_lba,
                ending_lba,
                attributes: spec.attributes,
                partition_name,
            },
        });
        next_lba = ending_lba.checked_add(1).ok_or_else(overflow)?;
    }

    let total_lbas = match given_lbas {
        Some(lbas) => lbas,
        None => {
            let last_name = partitions.last().map_or("(none)", |spec| spec.name.as_str());
            let overflow = || Error::Overflow { name: last_name.to_owned() };
            let end = next_lba.checked_add(backup_lbas).ok_or_else(overflow)?;
            end.checked_next_multiple_of(align_lbas).ok_or_else(overflow)?
        }
    };
    let backup_header_lba = total_lbas - 1;
    let backup_entries_lba = backup_header_lba - array_lbas;
    let last_usable_lba = backup_entries_lba - 1;
    let disk_bytes = total_lbas.checked_mul(sector).ok_or_else(|| Error::Overflow {
        name: partitions.last().map_or_else(String::new, |spec| spec.name.clone()),
    })?;
    let mbr = plan_mbr(options, total_lbas, first_usable_lba)?;
    Ok(Layout {
        sector_bytes: sector,
        disk_bytes,
        disk_guid: options.disk_guid,
        first_usable_lba,
        last_usable_lba,
        primary_entries_lba,
        backup_entries_lba,
        backup_header_lba,
        partitions: placed,
        mbr,
    })
}

/// The protective MBR, with the caller's boot code and hybrid records.
fn plan_mbr(options: &GptOptions, total_lbas: u64, first_usable_lba: u64) -> Result<Mbr, Error> {
    let mbr_options = &options.mbr;
    if mbr_options.boot_code.len() > 440 {
        return Err(Error::Mbr {
            problem: format!(
                "boot code is {} bytes, the MBR holds at most 440",
                mbr_options.boot_code.len()
            ),
        });
    }
    if mbr_options.extra_records.len() > 3 {
        return Err(Error::Mbr {
            problem: format!(
                "{} extra records given, the MBR has room for 3 besides the 0xEE record",
                mbr_options.extra_records.len()
            ),
        });
    }
    let mut boot_code = [0u8; 440];
    boot_code[..mbr_options.boot_code.len()].copy_from_slice(&mbr_options.boot_code);
    let mut partition_records = [MbrPartitionRecord::default(); 4];
    // A plain protective MBR covers the whole disk; a hybrid one only the GPT structures.
    let protected_lbas =
        if mbr_options.extra_records.is_empty() { total_lbas - 1 } else { first_usable_lba - 1 };
    partition_records[0] = MbrPartitionRecord::new(
        0,
        OS_TYPE_GPT_PROTECTIVE,
        1,
        u32::try_from(protected_lbas).unwrap_or(u32::MAX),
    );
    for (idx, record) in mbr_options.extra_records.iter().enumerate() {
        let number = idx + 2;
        let end = record.first_lba.checked_add(record.size_lbas);
        if record.size_lbas == 0 || end.is_none_or(|end| end > total_lbas) {
            return Err(Error::Mbr {
                problem: format!(
                    "record {number} covers blocks {} + {}, expected a non-empty range within the disk's {total_lbas} blocks",
                    record.first_lba, record.size_lbas
                ),
            });
        }
        let (Ok(first), Ok(size)) =
            (u32::try_from(record.first_lba), u32::try_from(record.size_lbas))
        else {
            return Err(Error::Mbr {
                problem: format!(
                    "record {number} starts at block {} and has {} blocks, MBR records store 32 bits",
                    record.first_lba, record.size_lbas
                ),
            });
        };
        let boot = if record.bootable { 0x80 } else { 0x00 };
        partition_records[idx + 1] = MbrPartitionRecord::new(boot, record.os_type, first, size);
    }
    Ok(Mbr {
        boot_code,
        unique_mbr_disk_signature: mbr_options.disk_signature,
        unknown: 0,
        partition_records,
        signature: MBR_SIGNATURE,
    })
}
