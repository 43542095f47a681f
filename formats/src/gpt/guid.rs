//! GUIDs as UEFI 2.10 appendix A and RFC 4122 define them, and the partition type GUIDs kit uses.
//!
//! A [`Guid`] keeps its 16 bytes in text order (the order the hexadecimal digits are printed).
//! On disk, UEFI stores the first three fields (`TimeLow`, `TimeMid`, `TimeHighAndVersion`)
//! little-endian and the last 8 bytes as they are: [`Guid::to_disk_bytes`] and
//! [`Guid::from_disk_bytes`] convert.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A 128-bit GUID, bytes in text order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Guid([u8; 16]);

/// A GUID text that is not `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GUID {found:?} is not of the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX (hexadecimal)")]
pub struct GuidParseError {
    /// The text found.
    pub found: String,
}

impl Guid {
    /// The all-zero GUID: an unused partition entry's type.
    pub const ZERO: Guid = Guid([0; 16]);
    /// EFI System partition.
    pub const EFI_SYSTEM: Guid = Guid::from_fields(
        0xC12A_7328,
        0xF81F,
        0x11D2,
        [0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B],
    );
    /// Linux filesystem data.
    pub const LINUX_FILESYSTEM: Guid = Guid::from_fields(
        0x0FC6_3DAF,
        0x8483,
        0x4772,
        [0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4],
    );
    /// Linux root partition for x86-64 (Discoverable Partitions Specification).
    pub const LINUX_ROOT_X86_64: Guid = Guid::from_fields(
        0x4F68_BCE3,
        0xE8CD,
        0x4DB1,
        [0x96, 0xE7, 0xFB, 0xCA, 0xF9, 0x84, 0xB7, 0x09],
    );
    /// Linux root partition for arm64 (Discoverable Partitions Specification).
    pub const LINUX_ROOT_ARM64: Guid = Guid::from_fields(
        0xB921_B045,
        0x1DF0,
        0x41C3,
        [0xAF, 0x44, 0x4C, 0x6F, 0x28, 0x0D, 0x3F, 0xAE],
    );
    /// BIOS boot partition (GRUB's core image on GPT disks).
    pub const BIOS_BOOT: Guid = Guid::from_fields(
        0x2168_6148,
        0x6449,
        0x6E6F,
        [0x74, 0x4E, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49],
    );
    /// Microsoft basic data.
    pub const MICROSOFT_BASIC_DATA: Guid = Guid::from_fields(
        0xEBD0_A0A2,
        0xB9E5,
        0x4433,
        [0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7],
    );

    /// A GUID from its fields as the text form shows them (`time_low-time_mid-time_hi-` then
    /// the 8 remaining bytes).
    pub const fn from_fields(time_low: u32, time_mid: u16, time_hi: u16, rest: [u8; 8]) -> Guid {
        let low = time_low.to_be_bytes();
        let mid = time_mid.to_be_bytes();
        let hi = time_hi.to_be_bytes();
        Guid([
            low[0], low[1], low[2], low[3], mid[0], mid[1], hi[0], hi[1], rest[0], rest[1],
            rest[2], rest[3], rest[4], rest[5], rest[6], rest[7],
        ])
    }

    /// A GUID from its bytes in text order.
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(bytes)
    }

    /// The bytes in text order.
    pub const fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// The 16 bytes as UEFI stores them: the first three fields little-endian.
    pub fn to_disk_bytes(&self) -> [u8; 16] {
        let b = self.0;
        [
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ]
    }

    /// The GUID stored as `bytes` on disk (see [`Guid::to_disk_bytes`]).
    pub fn from_disk_bytes(bytes: &[u8; 16]) -> Guid {
        // The byte swap is its own inverse.
        Guid(*bytes).swapped()
    }

    fn swapped(self) -> Guid {
        Guid(self.to_disk_bytes())
    }

    /// A GUID derived from `seed` and a purpose `label`: the first 16 bytes of
    /// SHA-256(`seed` ‖ 0x00 ‖ `label`), with the RFC 4122 version 4 (random) bits and the
    /// RFC 4122 variant bits set, so it is a valid random-looking GUID that depends only on
    /// its inputs.
    pub fn derive(seed: &[u8], label: &str) -> Guid {
        let mut hasher = Sha256::new();
        hasher.update(seed);
        hasher.update([0u8]);
        hasher.update(label.as_bytes());
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        // Version 4 in the high nibble of time_hi_and_version.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        // Variant 10x in clock_seq_hi_and_reserved.
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Guid(bytes)
    }

    /// The name of a well-known partition type GUID, if this is one.
    pub fn type_name(&self) -> Option<&'static str> {
        const NAMES: [(Guid, &str); 6] = [
            (Guid::EFI_SYSTEM, "EFI System"),
            (Guid::LINUX_FILESYSTEM, "Linux filesystem"),
            (Guid::LINUX_ROOT_X86_64, "Linux root (x86-64)"),
            (Guid::LINUX_ROOT_ARM64, "Linux root (ARM-64)"),
            (Guid::BIOS_BOOT, "BIOS boot"),
            (Guid::MICROSOFT_BASIC_DATA, "Microsoft basic data"),
        ];
        NAMES.iter().find(|(guid, _)| guid == self).map(|(_, name)| *name)
    }
}

impl fmt::Display for Guid {
    /// Uppercase text form, as sgdisk and sfdisk print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, byte) in self.0.iter().enumerate() {
            if matches!(idx, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl FromStr for Guid {
    type Err = GuidParseError;

    /// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`, hexadecimal digits of either case.
    fn from_str(text: &str) -> Result<Guid, GuidParseError> {
        let error = || GuidParseError { found: text.to_owned() };
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return Err(error());
        }
        let mut out = [0u8; 16];
        let mut digits = Vec::with_capacity(32);
        for (idx, byte) in bytes.iter().enumerate() {
            if matches!(idx, 8 | 13 | 18 | 23) {
                if *byte != b'-' {
                    return Err(error());
                }
                continue;
            }
            let digit = char::from(*byte).to_digit(16).ok_or_else(error)?;
            // A hexadecimal digit is below 16, so it fits in a byte.
            digits.push(u8::try_from(digit).map_err(|_| error())?);
        }
        for (idx, pair) in digits.chunks_exact(2).enumerate() {
            out[idx] = pair[0] << 4 | pair[1];
        }
        Ok(Guid(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_disk_order() {
        let guid: Guid = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b".parse().unwrap();
        assert_eq!(guid, Guid::EFI_SYSTEM);
        assert_eq!(guid.to_string(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        // UEFI 2.10 appendix A: the EFI System partition GUID as stored on disk.
        assert_eq!(
            guid.to_disk_bytes(),
            [
                0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
                0xC9, 0x3B
            ]
        );
        assert_eq!(Guid::from_disk_bytes(&guid.to_disk_bytes()), guid);
        for text in [
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
            "B921B045-1DF0-41C3-AF44-4C6F280D3FAE",
            "21686148-6449-6E6F-744E-656564454649",
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        ] {
            let guid: Guid = text.parse().unwrap();
            assert_eq!(guid.to_string(), text);
            assert!(guid.type_name().is_some(), "{text}");
        }
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "",
            "C12A7328F81F11D2BA4B00A0C93EC93B",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93",
            "C12A7328-F81F-11D2-BA4B_00A0C93EC93B",
            "G12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "+12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC9\u{e9}",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad}");
        }
        assert_eq!(
            "x".parse::<Guid>().unwrap_err().to_string(),
            "GUID \"x\" is not of the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX (hexadecimal)"
        );
    }

    #[test]
    fn derive_sets_version_and_variant_and_is_stable() {
        let a = Guid::derive(b"image", "disk");
        assert_eq!(a, Guid::derive(b"image", "disk"));
        assert_ne!(a, Guid::derive(b"image", "esp"));
        // The label is separated from the seed, so moving bytes between them changes the GUID.
        assert_ne!(Guid::derive(b"ab", "c"), Guid::derive(b"a", "bc"));
        for guid in [a, Guid::derive(b"", ""), Guid::derive(&[0xff; 64], "root")] {
            let text = guid.to_string();
            assert_eq!(&text[14..15], "4", "{text}");
            assert!(matches!(&text[19..20], "8" | "9" | "A" | "B"), "{text}");
        }
        // Pinned: `printf 'image\0disk' | sha256sum` is 6b4fac57519d8abab93e3d5135bf6b09...;
        // 0x8a becomes 0x4a (version 4), 0xb9 stays (variant 10x).
        expect_test::expect!["6B4FAC57-519D-4ABA-B93E-3D5135BF6B09"].assert_eq(&a.to_string());
    }
}
