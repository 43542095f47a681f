//! The embedded text descriptor ("Virtual Disk Format 5.0", "The Descriptor File"), in the
//! words and order `qemu-img convert -O vmdk -o subformat=streamOptimized` writes it.

use crate::vmdk::AdapterType;

/// Sectors reserved for the descriptor (as qemu-img: 20, 10 KiB).
pub const DESCRIPTOR_SECTORS: u64 = 20;

/// Cylinders/heads/sectors as qemu-img computes them: 16 heads for IDE, 255 otherwise, 63
/// sectors per track, cylinders = size / (heads * 63 * 512), rounded down.
pub fn geometry(capacity_sectors: u64, adapter: AdapterType) -> (u64, u64, u64) {
    let heads = match adapter {
        AdapterType::Ide => 16,
        AdapterType::LsiLogic => 255,
    };
    (capacity_sectors / (heads * 63), heads, 63)
}

/// The descriptor text.
pub fn text(cid: u32, capacity_sectors: u64, file_name: &str, adapter: AdapterType) -> String {
    let (cylinders, heads, sectors) = geometry(capacity_sectors, adapter);
    let adapter = match adapter {
        AdapterType::Ide => "ide",
        AdapterType::LsiLogic => "lsilogic",
    };
    format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         CID={cid:08x}\n\
         parentCID=ffffffff\n\
         createType=\"streamOptimized\"\n\
         \n\
         # Extent description\n\
         RW {capacity_sectors} SPARSE \"{file_name}\"\n\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.virtualHWVersion = \"4\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"{heads}\"\n\
         ddb.geometry.sectors = \"{sectors}\"\n\
         ddb.adapterType = \"{adapter}\"\n\
         ddb.toolsVersion = \"2147483647\"\n"
    )
}

/// The value of `key=value` or `key = "value"` in a descriptor, quotes removed.
pub fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}
