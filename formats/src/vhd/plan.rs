//! The layout of a VHD: virtual size, geometry, and for a dynamic disk the place of every
//! block. Pure: computed from the disk's extents and the options only.

use crate::extent::{ExtentMap, blocks_with_data};
use crate::gpt::Guid;
use crate::vhd::bat::{self, Bat};
use crate::vhd::dynamic_header::{self, DynamicHeader};
use crate::vhd::footer::{self, Footer};
use crate::vhd::{Error, Subformat, VhdOptions};

/// Seconds from 1970-01-01 to 2000-01-01, the VHD time base.
pub const VHD_EPOCH_UNIX: i64 = 946_684_800;
/// The largest virtual size kit writes: 2040 GiB (65535 × 16 × 255 sectors is 2040 GiB less
/// a little; qemu and Hyper-V refuse larger VHDs).
pub const MAX_SIZE_BYTES: u64 = 2040 << 30;
const MIB: u64 = 1 << 20;
/// Bytes of the sector bitmap before each 2 MiB block: one bit per sector, padded to a sector.
pub const BITMAP_BYTES: u64 = 512;

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The footer (written last, and first in a dynamic disk).
    pub footer: Footer,
    /// The dynamic disk header (dynamic disks only).
    pub dynamic: Option<DynamicLayout>,
    /// Size of the whole file.
    pub file_bytes: u64,
}

/// The dynamic part of the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicLayout {
    /// The header at byte 512.
    pub header: DynamicHeader,
    /// Bytes of the BAT (entries padded to a sector).
    pub bat_bytes: u64,
    /// Per block: the sector of its bitmap, or [`bat::UNUSED`] when not allocated.
    pub bat: Vec<u32>,
}

/// Plans the VHD of `disk`.
pub fn plan(disk: &ExtentMap, options: &VhdOptions) -> Result<Layout, Error> {
    let align = if options.round_to_mib { MIB } else { 512 };
    let size = disk.len_bytes().div_ceil(align) * align;
    if size > MAX_SIZE_BYTES {
        return Err(Error::TooLarge { size_bytes: size, max_bytes: MAX_SIZE_BYTES });
    }
    let (cylinders, heads, sectors_per_track) = footer::geometry(size / 512);
    let seconds = options.epoch.saturating_sub(VHD_EPOCH_UNIX).max(0);
    let time_stamp = u32::try_from(seconds).unwrap_or(u32::MAX);
    let unique_id = Guid::derive(&options.seed, "vhd unique id").to_disk_bytes();
    let mut footer = Footer {
        cookie: footer::COOKIE,
        features: footer::FEATURES_RESERVED,
        file_format_version: footer::FILE_FORMAT_VERSION,
        data_offset: footer::NO_DATA_OFFSET,
        time_stamp,
        creator_application: options.creator_application,
        creator_version: 0x0001_0000,
        creator_host_os: footer::HOST_OS_WINDOWS,
        original_size_bytes: size,
        current_size_bytes: size,
        cylinders,
        heads,
        sectors_per_track,
        disk_type: footer::DISK_TYPE_FIXED,
        checksum: 0,
        unique_id,
        saved_state: 0,
    };
    let footer_bytes = 512;
    match options.subformat {
        Subformat::Fixed => Ok(Layout {
            footer: footer.with_checksum(),
            dynamic: None,
            file_bytes: size + footer_bytes,
        }),
        Subformat::Dynamic => {
            let block = u64::from(dynamic_header::BLOCK_SIZE_BYTES);
            let blocks = size.div_ceil(block);
            let table_offset = 512 + 1024;
            let bat_bytes = Bat::size_bytes(blocks);
            let used = blocks_with_data(disk, block, blocks);
            let mut next = table_offset + bat_bytes;
            let mut bat = Vec::with_capacity(used.len());
            for used in used {
                if used {
                    let sector = u32::try_from(next / 512).map_err(|_| Error::TooLarge {
                        size_bytes: size,
                        max_bytes: MAX_SIZE_BYTES,
                    })?;
                    bat.push(sector);
                    next += BITMAP_BYTES + block;
                } else {
                    bat.push(bat::UNUSED);
                }
            }
            footer.data_offset = 512;
            footer.disk_type = footer::DISK_TYPE_DYNAMIC;
            let header = DynamicHeader {
                cookie: dynamic_header::COOKIE,
                data_offset: u64::MAX,
                table_offset,
                header_version: dynamic_header::HEADER_VERSION,
                max_table_entries: u32::try_from(blocks)
                    .map_err(|_| Error::TooLarge { size_bytes: size, max_bytes: MAX_SIZE_BYTES })?,
                block_size_bytes: dynamic_header::BLOCK_SIZE_BYTES,
                checksum: 0,
                parent_unique_id: [0; 16],
                parent_time_stamp: 0,
            }
            .with_checksum();
            Ok(Layout {
                footer: footer.with_checksum(),
                dynamic: Some(DynamicLayout { header, bat_bytes, bat }),
                file_bytes: next + footer_bytes,
            })
        }
    }
}
