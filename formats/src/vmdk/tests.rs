//! Unit tests of the VMDK streamOptimized writer and reader: structures, the descriptor, round trips and damaged images.

use std::io::Cursor;
use std::sync::Arc;

use expect_test::expect;

use super::*;
use crate::tree::{Content, NoBlobs};

const MIB: u64 = 1 << 20;

fn options() -> VmdkOptions {
    VmdkOptions {
        adapter_type: AdapterType::LsiLogic,
        file_name: "disk.vmdk".to_owned(),
        cid: None,
    }
}

fn sample() -> ExtentMap {
    let mut disk = ExtentMap::new();
    disk.push_literal(&b"boot sector"[..]);
    disk.push_zeros(MIB - 11);
    let data: Vec<u8> = (0..200_000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    disk.push_content(b"part", Content::Inline(Arc::from(&data[..])));
    disk.push_zeros(40 * MIB);
    disk.push_literal(vec![0u8; 70_000]);
    disk.push_literal(&b"end"[..]);
    disk.push_zeros(1000);
    disk
}

#[test]
fn round_trip_and_determinism() {
    let disk = sample();
    let image = to_vec(&disk, &NoBlobs, &options()).unwrap();
    assert_eq!(image, to_vec(&disk, &NoBlobs, &options()).unwrap());
    assert_eq!(image.len() % 512, 0);
    let mut back = Vec::new();
    let size = read_to(&mut Cursor::new(&image), &mut back).unwrap();
    assert_eq!(size, disk.len_bytes().next_multiple_of(512));
    let mut expected = disk.to_vec(&NoBlobs).unwrap();
    expected.resize(back.len(), 0);
    assert!(back == expected);
}

#[test]
fn descriptor_and_summary() {
    let options =
        VmdkOptions { adapter_type: AdapterType::Ide, cid: Some(0x1234_abcd), ..options() };
    let image = to_vec(&sample(), &NoBlobs, &options).unwrap();
    let text = String::from_utf8_lossy(&image[512..1024]);
    expect![[r##"
        # Disk DescriptorFile
        version=1
        CID=1234abcd
        parentCID=ffffffff
        createType="streamOptimized"

        # Extent description
        RW 84498 SPARSE "disk.vmdk"

        # The Disk Data Base
        #DDB

        ddb.virtualHWVersion = "4"
        ddb.geometry.cylinders = "83"
        ddb.geometry.heads = "16"
        ddb.geometry.sectors = "63"
        ddb.adapterType = "ide"
        ddb.toolsVersion = "2147483647"
    "##]]
    .assert_eq(text.trim_end_matches('\0'));
    let lines = summary(&mut Cursor::new(&image)).unwrap();
    let text: Vec<String> = lines.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    expect![[r#"
        format: vmdk
        version: 3
        create type: streamOptimized
        CID: 1234abcd
        parent CID: ffffffff
        adapter type: ide
        geometry: 83/16/63
        virtual size: 43262976 bytes
        grain size: 65536 bytes
        flags: 0x30001
        compression: deflate
        grain directory sector: 148"#]]
    .assert_eq(&text.join("\n"));
}

#[test]
fn cid_follows_the_content() {
    let mut other = sample();
    other.push_literal(&b"x"[..]);
    assert_ne!(write::derived_cid(&sample()), write::derived_cid(&other));
}

#[test]
fn bad_file_name_and_garbage() {
    let options = VmdkOptions { file_name: "a\"b".to_owned(), ..options() };
    let err = to_vec(&sample(), &NoBlobs, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "VMDK extent file name \"a\\\"b\" contains a quote, control character or newline"
    );
    let err = to_vec(&ExtentMap::new(), &NoBlobs, &self::options()).unwrap_err();
    assert_eq!(err.to_string(), "the disk is empty; a VMDK needs at least one sector");
    let err = read_to(&mut Cursor::new(b"nope"), &mut Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "not a VMDK sparse extent (no KDMV header)");
}

#[test]
fn a_gibibyte_of_zeros_is_small() {
    let mut disk = ExtentMap::new();
    disk.push_zeros(1 << 30);
    let len = write(&disk, &NoBlobs, &options(), &mut std::io::sink()).unwrap();
    assert!(len <= 70_000, "{len}");
}

#[test]
fn content_errors_name_the_path() {
    let mut disk = ExtentMap::new();
    disk.push_zeros(MIB);
    let blob = crate::tree::BlobRange { object: Arc::from("sha256:00"), offset: 0, len: 4 };
    disk.push_content(b"root.img", Content::Blob(blob));
    let err = to_vec(&disk, &NoBlobs, &options()).unwrap_err().to_string();
    assert!(err.starts_with("reading the content of /root.img"), "{err}");
}

#[test]
fn grains_in_several_tables() {
    // 512 grains (32 MiB) per grain table: grains in tables 0 and 2, none in table 1.
    let mut disk = ExtentMap::new();
    disk.push_literal(vec![1u8; 1000]);
    disk.push_zeros(70 * MIB);
    disk.push_literal(vec![2u8; 3 * 65536]);
    let image = to_vec(&disk, &NoBlobs, &options()).unwrap();
    let mut back = Vec::new();
    read_to(&mut Cursor::new(&image), &mut back).unwrap();
    let mut expected = disk.to_vec(&NoBlobs).unwrap();
    expected.resize(expected.len().next_multiple_of(512), 0);
    assert!(back == expected);
}
