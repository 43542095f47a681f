//! Unit tests of the ISO 9660 writer and reader: layouts (`check`), errors, determinism, the
//! reader's views and a property test round trip.

use std::io::{self, Cursor, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::arb::{arb_tree, iso9660_model};
use crate::dump::{display_path, dump};
use crate::iso9660::plan::{Descriptor, Hierarchy, MAX_EXTENT_BYTES, Plan};
use crate::iso9660::rock_ridge::{DeviceNumber, SymlinkBuilder};
use crate::iso9660::susp::{self, ContinuationArea};
use crate::testutil::tree_from_fixture;
use crate::tree::{BlobRange, Content, Meta, NoBlobs, Node, NodeKind};

/// LinuxKit's choices (`genisoimage -l -J -R -joliet-long -V LinuxKit`).
fn linuxkit() -> IsoOptions {
    IsoOptions {
        volume_id: "LinuxKit".to_owned(),
        epoch: 1_700_000_000,
        primary_names: PrimaryNames::Long31,
        joliet: Some(JolietNames::Long103),
        relocate_deep_directories: true,
        boot: None,
    }
}

/// genisoimage's defaults: 8.3 names, 64-character Joliet names.
fn short_names() -> IsoOptions {
    IsoOptions {
        primary_names: PrimaryNames::Iso8Dot3,
        joliet: Some(JolietNames::Max64),
        ..linuxkit()
    }
}

/// Plans and writes the fixture, lists the layout (descriptors, path tables, every record with
/// its System Use entries, continuation areas, file extents), then the tree read back.
fn check(fixture: &str, options: IsoOptions, expect: Expect) {
    check_with(fixture, options, MAX_EXTENT_BYTES, expect);
}

fn check_with(fixture: &str, options: IsoOptions, max_extent_bytes: u64, expect: Expect) {
    let tree = tree_from_fixture(fixture).unwrap();
    let plan = match plan::plan(&tree, &options, max_extent_bytes) {
        Ok(plan) => plan,
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    };
    let mut out = layout(&plan);
    let mut bytes = Cursor::new(Vec::new());
    write::emit(&plan, &NoBlobs, &mut bytes).unwrap();
    let bytes = bytes.into_inner();
    assert_eq!(u64::try_from(bytes.len()).unwrap(), u64::from(plan.volume_sectors) * 2048);
    out.push_str("--- read back\n");
    out.push_str(&dump(&read(&mut Cursor::new(&bytes)).unwrap()));
    expect.assert_eq(&out);
}

fn layout(plan: &Plan<'_>) -> String {
    let mut out = String::new();
    let descriptors: Vec<String> = plan
        .descriptors
        .iter()
        .map(|(lba, d)| {
            let name = match d {
                Descriptor::Primary => "primary",
                Descriptor::BootRecord => "boot-record",
                Descriptor::Joliet => "joliet",
                Descriptor::Terminator => "terminator",
            };
            format!("{name}@{lba}")
        })
        .collect();
    out.push_str(&format!("descriptors {}\n", descriptors.join(" ")));
    hierarchy(&mut out, "primary", &plan.primary, plan);
    if !plan.continuation_blocks.is_empty() {
        out.push_str(&format!(
            "continuation areas @{} x{}\n",
            plan.continuation_lba,
            plan.continuation_blocks.len()
        ));
    }
    if let Some(joliet) = &plan.joliet {
        hierarchy(&mut out, "joliet", joliet, plan);
    }
    if let Some(boot) = &plan.boot {
        out.push_str(&format!("boot catalog @{}\n", boot.catalog_lba));
        let images = crate::iso9660::el_torito::decode_catalog(&boot.catalog).unwrap();
        for image in images {
            let e = image.entry;
            out.push_str(&format!(
                "  platform {:#04x} indicator {:#04x} media {} segment {:#x} count {} @{}\n",
                image.platform_id,
                e.boot_indicator,
                e.boot_media_type,
                e.load_segment,
                e.sector_count,
                e.load_rba
            ));
        }
        if let Some(area) = &boot.system_area {
            let mut bytes = Cursor::new(area.head.clone());
            bytes.get_mut().resize(usize::try_from(plan.volume_sectors).unwrap() * 2048, 0);
            let len = bytes.get_ref().len();
            bytes.get_mut()[len - area.tail.len()..].copy_from_slice(&area.tail);
            let mbr = crate::gpt::mbr::Mbr::decode(&area.head[..512].try_into().unwrap()).unwrap();
            for record in mbr.partition_records.iter().filter(|r| r.os_type != 0) {
                out.push_str(&format!(
                    "  mbr type {:#04x} blocks {} + {}\n",
                    record.os_type, record.starting_lba, record.size_in_lba
                ));
            }
            if let Ok(disk) = crate::gpt::read(&mut bytes) {
                for partition in disk.partitions {
                    out.push_str(&format!(
                        "  gpt {} {:?} blocks {}..={} type {} guid {}\n",
                        partition.number,
                        partition.entry.name(),
                        partition.entry.starting_lba,
                        partition.entry.ending_lba,
                        partition.entry.partition_type_guid,
                        partition.entry.unique_partition_guid
                    ));
                }
                out.push_str(&format!(
                    "  gpt disk {} usable {}..={} backup @{}\n",
                    disk.primary.disk_guid,
                    disk.primary.first_usable_lba,
                    disk.primary.last_usable_lba,
                    disk.backup.my_lba
                ));
            }
        }
    }
    for file in &plan.files {
        out.push_str(&format!(
            "data {} @{} {} bytes\n",
            display_path(&file.path),
            file.lba,
            file.content.len()
        ));
    }
    out.push_str(&format!(
        "padding @{} volume {} sectors\n",
        plan.data_end_lba, plan.volume_sectors
    ));
    out
}

fn hierarchy(out: &mut String, name: &str, hierarchy: &Hierarchy, plan: &Plan<'_>) {
    let joliet = name == "joliet";
    out.push_str(&format!(
        "{name} path tables {} bytes L@{} M@{}\n",
        hierarchy.path_table_bytes, hierarchy.l_table_lba, hierarchy.m_table_lba
    ));
    for (idx, dir) in hierarchy.dirs.iter().enumerate() {
        out.push_str(&format!(
            "  dir #{} {} ({}, parent #{}) @{} {} bytes\n",
            idx + 1,
            display_path(&dir.path),
            show_id(&dir.identifier, joliet),
            dir.parent_number,
            dir.lba,
            dir.size_bytes
        ));
        for record in &dir.records {
            let mut flags = String::new();
            if record.flags & dir_record::flags::DIRECTORY != 0 {
                flags.push_str(" dir");
            }
            if record.flags & dir_record::flags::MULTI_EXTENT != 0 {
                flags.push_str(" multi");
            }
            let su = system_use(&record.system_use, plan);
            out.push_str(&format!(
                "    +{} {} @{} {}{flags}{su}\n",
                record.offset,
                show_id(&record.identifier, joliet),
                record.extent_lba,
                record.data_length_bytes
            ));
        }
    }
}

/// A name as the dump shows it, without the leading `/`.
fn show(name: &[u8]) -> String {
    display_path(name).split_off(1)
}

fn show_id(id: &[u8], joliet: bool) -> String {
    match id {
        [0] => ".".to_owned(),
        [1] => "..".to_owned(),
        _ if joliet => {
            let units: Vec<u16> = id.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            format!("{:?}", String::from_utf16_lossy(&units))
        }
        _ => String::from_utf8_lossy(id).into_owned(),
    }
}

/// The System Use entries of a record, continuation areas followed (shown after `|`).
fn system_use(bytes: &[u8], plan: &Plan<'_>) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    let mut out = String::from(" [");
    let mut area = bytes.to_vec();
    loop {
        let mut next = None;
        let mut symlink = SymlinkBuilder::default();
        for entry in susp::entries(&area) {
            let entry = entry.unwrap();
            let sig = String::from_utf8_lossy(&entry.signature).into_owned();
            let shown = match &entry.signature {
                b"NM" => format!("NM{}={}", show_flags(entry.body[0]), show(&entry.body[1..])),
                b"PX" => {
                    let px = rock_ridge::PosixAttributes::decode_body(entry.body).unwrap();
                    format!(
                        "PX={:o},{},{}:{},#{}",
                        px.mode,
                        px.links,
                        px.uid,
                        px.gid,
                        px.serial.unwrap()
                    )
                }
                b"PN" => {
                    let (major, minor) = DeviceNumber::decode_body(entry.body).unwrap().to_linux();
                    format!("PN={major},{minor}")
                }
                b"TF" => format!(
                    "TF={}",
                    rock_ridge::Timestamps::decode_modify(entry.body).unwrap().unwrap()
                ),
                b"SL" => {
                    symlink.push_body(entry.body).unwrap();
                    format!("SL{}", show_flags(entry.body[0]))
                }
                b"CE" => {
                    let ce = ContinuationArea::decode_body(entry.body).unwrap();
                    next = Some(ce);
                    format!("CE={}+{}/{}", ce.block_lba, ce.offset_bytes, ce.length_bytes)
                }
                b"CL" | b"PL" => {
                    format!("{sig}={}", rock_ridge::decode_link_body(entry.body).unwrap())
                }
                _ => sig,
            };
            out.push_str(&shown);
            out.push(' ');
        }
        let target = symlink.finish();
        if !target.is_empty() {
            out.push_str(&format!("->{} ", show(&target)));
        }
        let Some(ce) = next else { break };
        out.push_str("| ");
        let block = usize::try_from(ce.block_lba - plan.continuation_lba).unwrap();
        let start = usize::try_from(ce.offset_bytes).unwrap();
        let end = start + usize::try_from(ce.length_bytes).unwrap();
        area = plan.continuation_blocks[block][start..end].to_vec();
    }
    out.pop();
    out.push(']');
    out
}

fn show_flags(flags: u8) -> String {
    if flags & rock_ridge::CONTINUE != 0 { "+".to_owned() } else { String::new() }
}

#[test]
fn every_kind_with_linuxkit_options() {
    // Sectors: 16 PVD, 17 Joliet SVD, 18 terminator, 19/20 primary path tables (L/M), 21/22
    // Joliet ones, 23-28 primary directories in path table order (/, /bin, /dev, /etc, /run,
    // /etc/init.d), 29 continuation area (the root's ER entry), 30-35 Joliet directories, then
    // data in walk order; the hard link group shares one extent (@36) and serial (#6), with
    // link count 2 and the file's metadata on both names. Empty files, links, devices and
    // FIFOs have extent 0.
    check(
        r#"
//- / mode=0755 mtime=1700000000
//- /bin/busybox mode=04755 uid=1 gid=2 mtime=1700000000
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=259,300 mode=0660 gid=6
//- /etc/init.d/001-hello mode=0755
echo hello
//- /etc/init.d/002-hello-hardlink hardlink=/etc/init.d/001-hello mode=0600
//- /etc/empty
//- /run/fifo fifo mode=0600 mtime=-5
"#,
        linuxkit(),
        expect![[r#"
            descriptors primary@16 joliet@17 terminator@18
            primary path tables 72 bytes L@19 M@20
              dir #1 / (., parent #1) @23 2048 bytes
                +0 . @23 2048 dir [SP PX=40755,6,0:0,#1 TF=1700000000 CE=29+0/182 | ER]
                +140 .. @23 2048 dir [PX=40755,6,0:0,#1 TF=1700000000]
                +244 BIN @24 2048 dir [PX=40755,2,0:0,#2 TF=0 NM=bin]
                +358 DEV @25 2048 dir [PX=40755,2,0:0,#5 TF=0 NM=dev]
                +472 ETC @26 2048 dir [PX=40755,3,0:0,#8 TF=0 NM=etc]
                +586 RUN @27 2048 dir [PX=40755,2,0:0,#12 TF=0 NM=run]
              dir #2 /bin (BIN, parent #1) @24 2048 bytes
                +0 . @24 2048 dir [PX=40755,2,0:0,#2 TF=0]
                +104 .. @23 2048 dir [PX=40755,6,0:0,#1 TF=1700000000]
                +208 BUSYBOX.;1 @36 10 [PX=104755,1,1:2,#3 TF=1700000000 NM=busybox]
                +334 SH.;1 @0 0 [PX=120777,1,0:0,#4 TF=0 NM=sh SL ->busybox]
              dir #3 /dev (DEV, parent #1) @25 2048 bytes
                +0 . @25 2048 dir [PX=40755,2,0:0,#5 TF=0]
                +104 .. @23 2048 dir [PX=40755,6,0:0,#1 TF=1700000000]
                +208 CONSOLE.;1 @0 0 [PX=20600,1,0:0,#6 TF=0 NM=console PN=5,1]
                +354 SDA.;1 @0 0 [PX=60660,1,0:6,#7 TF=0 NM=sda PN=259,300]
              dir #4 /etc (ETC, parent #1) @26 2048 bytes
                +0 . @26 2048 dir [PX=40755,3,0:0,#8 TF=0]
                +104 .. @23 2048 dir [PX=40755,6,0:0,#1 TF=1700000000]
                +208 EMPTY.;1 @0 0 [PX=100644,1,0:0,#9 TF=0 NM=empty]
                +330 INIT_D @28 2048 dir [PX=40755,2,0:0,#10 TF=0 NM=init.d]
              dir #5 /run (RUN, parent #1) @27 2048 bytes
                +0 . @27 2048 dir [PX=40755,2,0:0,#12 TF=0]
                +104 .. @23 2048 dir [PX=40755,6,0:0,#1 TF=1700000000]
                +208 FIFO.;1 @0 0 [PX=10600,1,0:0,#13 TF=-5 NM=fifo]
              dir #6 /etc/init.d (INIT_D, parent #4) @28 2048 bytes
                +0 . @28 2048 dir [PX=40755,2,0:0,#10 TF=0]
                +104 .. @26 2048 dir [PX=40755,3,0:0,#8 TF=0]
                +208 001_HELLO.;1 @37 11 [PX=100755,2,0:0,#11 TF=0 NM=001-hello]
                +338 002_HELLO_HARDLINK.;1 @37 11 [PX=100755,2,0:0,#11 TF=0 NM=002-hello-hardlink]
            continuation areas @29 x1
            joliet path tables 86 bytes L@21 M@22
              dir #1 / (., parent #1) @30 2048 bytes
                +0 . @30 2048 dir
                +34 .. @30 2048 dir
                +68 "bin" @31 2048 dir
                +108 "dev" @32 2048 dir
                +148 "etc" @33 2048 dir
                +188 "run" @34 2048 dir
              dir #2 /bin ("bin", parent #1) @31 2048 bytes
                +0 . @31 2048 dir
                +34 .. @30 2048 dir
                +68 "busybox" @36 10
                +116 "sh" @0 0
              dir #3 /dev ("dev", parent #1) @32 2048 bytes
                +0 . @32 2048 dir
                +34 .. @30 2048 dir
                +68 "console" @0 0
                +116 "sda" @0 0
              dir #4 /etc ("etc", parent #1) @33 2048 bytes
                +0 . @33 2048 dir
                +34 .. @30 2048 dir
                +68 "empty" @0 0
                +112 "init.d" @35 2048 dir
              dir #5 /run ("run", parent #1) @34 2048 bytes
                +0 . @34 2048 dir
                +34 .. @30 2048 dir
                +68 "fifo" @0 0
              dir #6 /etc/init.d ("init.d", parent #4) @35 2048 bytes
                +0 . @35 2048 dir
                +34 .. @33 2048 dir
                +68 "001-hello" @37 11
                +120 "002-hello-hardlink" @37 11
            data /bin/busybox @36 10 bytes
            data /etc/empty @0 0 bytes
            data /etc/init.d/001-hello @37 11 bytes
            padding @38 volume 188 sectors
            --- read back
            dir      0755 0:0 1700000000 - - /
            dir      0755 0:0 0 - - /bin
            file     4755 1:2 1700000000 10 a8076d3d28d21e02 /bin/busybox
            symlink  0777 0:0 0 - - /bin/sh -> busybox
            dir      0755 0:0 0 - - /dev
            char     0600 0:0 0 - - /dev/console dev=5,1
            block    0660 0:6 0 - - /dev/sda dev=259,300
            dir      0755 0:0 0 - - /etc
            file     0644 0:0 0 0 e3b0c44298fc1c14 /etc/empty
            dir      0755 0:0 0 - - /etc/init.d
            file     0755 0:0 0 11 5dbad7dd0b9b122d /etc/init.d/001-hello
            hardlink 0755 0:0 0 - - /etc/init.d/002-hello-hardlink => /etc/init.d/001-hello
            dir      0755 0:0 0 - - /run
            fifo     0600 0:0 -5 - - /run/fifo
        "#]],
    );
}

#[test]
fn short_names_collide_and_joliet_names_are_cut() {
    // 8.3 identifiers: the second name mapping to LOWERCAS.;1 gets LOWER000.;1 (genisoimage
    // gives the same); the 70-character name is cut to 64 Joliet characters, and the second
    // one equal after cutting gets its last 3 characters replaced by 000.
    check(
        &format!(
            "//- /lowercase\n//- /LOWERCASE\n//- /{a}x\n//- /{a}y\n//- /dir.with.dots/a.b.c.d\n",
            a = "a".repeat(69)
        ),
        short_names(),
        expect![[r#"
            descriptors primary@16 joliet@17 terminator@18
            primary path tables 26 bytes L@19 M@20
              dir #1 / (., parent #1) @23 2048 bytes
                +0 . @23 2048 dir [SP PX=40755,3,0:0,#1 TF=0 CE=25+0/182 | ER]
                +140 .. @23 2048 dir [PX=40755,3,0:0,#1 TF=0]
                +244 AAAAA000.;1 @0 0 [PX=100644,1,0:0,#4 TF=0 NM=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay]
                +434 AAAAAAAA.;1 @0 0 [PX=100644,1,0:0,#3 TF=0 NM=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax]
                +624 DIR_WITH @24 2048 dir [PX=40755,2,0:0,#5 TF=0 NM=dir.with.dots]
                +754 LOWER000.;1 @0 0 [PX=100644,1,0:0,#7 TF=0 NM=lowercase]
                +882 LOWERCAS.;1 @0 0 [PX=100644,1,0:0,#2 TF=0 NM=LOWERCASE]
              dir #2 /dir.with.dots (DIR_WITH, parent #1) @24 2048 bytes
                +0 . @24 2048 dir [PX=40755,2,0:0,#5 TF=0]
                +104 .. @23 2048 dir [PX=40755,3,0:0,#1 TF=0]
                +208 A_B_C.D;1 @0 0 [PX=100644,1,0:0,#6 TF=0 NM=a.b.c.d]
            continuation areas @25 x1
            joliet path tables 44 bytes L@21 M@22
              dir #1 / (., parent #1) @26 2048 bytes
                +0 . @26 2048 dir
                +34 .. @26 2048 dir
                +68 "LOWERCASE" @0 0
                +120 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000" @0 0
                +282 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" @0 0
                +444 "dir.with.dots" @27 2048 dir
                +504 "lowercase" @0 0
              dir #2 /dir.with.dots ("dir.with.dots", parent #1) @27 2048 bytes
                +0 . @27 2048 dir
                +34 .. @26 2048 dir
                +68 "a.b.c.d" @0 0
            data /LOWERCASE @0 0 bytes
            data /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax @0 0 bytes
            data /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay @0 0 bytes
            data /dir.with.dots/a.b.c.d @0 0 bytes
            data /lowercase @0 0 bytes
            padding @28 volume 178 sectors
            --- read back
            dir      0755 0:0 0 - - /
            file     0644 0:0 0 0 e3b0c44298fc1c14 /LOWERCASE
            file     0644 0:0 0 0 e3b0c44298fc1c14 /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaax
            file     0644 0:0 0 0 e3b0c44298fc1c14 /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay
            dir      0755 0:0 0 - - /dir.with.dots
            file     0644 0:0 0 0 e3b0c44298fc1c14 /dir.with.dots/a.b.c.d
            file     0644 0:0 0 0 e3b0c44298fc1c14 /lowercase
        "#]],
    );
}

#[test]
fn long_names_and_targets_continue_in_continuation_areas() {
    // A 200-byte name does not fit in its record with PX and TF: NM goes to a continuation
    // area (one CE in the record). A 600-byte target needs 3 SL entries, its component split
    // across them (`SL+` marks the CONTINUE flag).
    check(
        &format!("//- /{}\n//- /l symlink=/{}/x\n", "n".repeat(200), "t".repeat(600)),
        IsoOptions { joliet: None, ..linuxkit() },
        expect![[r#"
            descriptors primary@16 terminator@17
            primary path tables 10 bytes L@18 M@19
              dir #1 / (., parent #1) @20 2048 bytes
                +0 . @20 2048 dir [SP PX=40755,2,0:0,#1 TF=0 CE=21+0/182 | ER]
                +140 .. @20 2048 dir [PX=40755,2,0:0,#1 TF=0]
                +244 L.;1 @0 0 [PX=120777,1,0:0,#2 TF=0 NM=l CE=21+182/626 | SL+ SL+ SL ->tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt/x]
                +386 NNNNNNNNNNNNNNNNNNNNNNNNNNNNNN.;1 @0 0 [PX=100644,1,0:0,#3 TF=0 CE=21+808/205 | NM=nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn]
            continuation areas @21 x1
            data /nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn @0 0 bytes
            padding @22 volume 172 sectors
            --- read back
            dir      0755 0:0 0 - - /
            symlink  0777 0:0 0 - - /l -> /tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt/x
            file     0644 0:0 0 0 e3b0c44298fc1c14 /nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn
        "#]],
    );
}

#[test]
fn deep_directories_move_to_rr_moved() {
    // /1/2/3/4/5/6/7 is at level 8; 8 would be at level 9, so it moves to /rr_moved (level 2)
    // with RE, a placeholder with CL stays in /1/.../7, and 8's `..` points at rr_moved with a
    // PL to 7. 8's subdirectory 9 is at level 4 there. The tree has its own rr_moved, so the
    // relocation directory is rr_moved_1. Joliet keeps the tree's depth.
    check(
        r#"
//- /1/2/3/4/5/6/7/8/9/f mode=0600
deep
//- /1/2/3/4/5/6/7/g
//- /rr_moved dir
"#,
        IsoOptions { joliet: None, ..linuxkit() },
        expect![[r#"
            descriptors primary@16 terminator@17
            primary path tables 134 bytes L@18 M@19
              dir #1 / (., parent #1) @20 2048 bytes
                +0 . @20 2048 dir [SP PX=40755,5,0:0,#1 TF=0 CE=32+0/182 | ER]
                +140 .. @20 2048 dir [PX=40755,5,0:0,#1 TF=0]
                +244 1 @21 2048 dir [PX=40755,3,0:0,#2 TF=0 NM=1]
                +354 RR_MOVED @22 2048 dir [PX=40755,2,0:0,#13 TF=0 NM=rr_moved]
                +480 RR_MOVED_1 @23 2048 dir [PX=40555,3,0:0,#14 TF=1700000000 NM=rr_moved_1]
              dir #2 /1 (1, parent #1) @21 2048 bytes
                +0 . @21 2048 dir [PX=40755,3,0:0,#2 TF=0]
                +104 .. @20 2048 dir [PX=40755,5,0:0,#1 TF=0]
                +208 2 @24 2048 dir [PX=40755,3,0:0,#3 TF=0 NM=2]
              dir #3 /rr_moved (RR_MOVED, parent #1) @22 2048 bytes
                +0 . @22 2048 dir [PX=40755,2,0:0,#13 TF=0]
                +104 .. @20 2048 dir [PX=40755,5,0:0,#1 TF=0]
              dir #4 /rr_moved_1 (RR_MOVED_1, parent #1) @23 2048 bytes
                +0 . @23 2048 dir [PX=40555,3,0:0,#14 TF=1700000000]
                +104 .. @20 2048 dir [PX=40755,5,0:0,#1 TF=0]
                +208 8 @25 2048 dir [PX=40755,3,0:0,#9 TF=0 NM=8 RE]
              dir #5 /1/2 (2, parent #2) @24 2048 bytes
                +0 . @24 2048 dir [PX=40755,3,0:0,#3 TF=0]
                +104 .. @21 2048 dir [PX=40755,3,0:0,#2 TF=0]
                +208 3 @26 2048 dir [PX=40755,3,0:0,#4 TF=0 NM=3]
              dir #6 /1/2/3/4/5/6/7/8 (8, parent #4) @25 2048 bytes
                +0 . @25 2048 dir [PX=40755,3,0:0,#9 TF=0]
                +104 .. @23 2048 dir [PX=40755,3,0:0,#8 TF=0 PL=31]
                +220 9 @27 2048 dir [PX=40755,2,0:0,#10 TF=0 NM=9]
              dir #7 /1/2/3 (3, parent #5) @26 2048 bytes
                +0 . @26 2048 dir [PX=40755,3,0:0,#4 TF=0]
                +104 .. @24 2048 dir [PX=40755,3,0:0,#3 TF=0]
                +208 4 @28 2048 dir [PX=40755,3,0:0,#5 TF=0 NM=4]
              dir #8 /1/2/3/4/5/6/7/8/9 (9, parent #6) @27 2048 bytes
                +0 . @27 2048 dir [PX=40755,2,0:0,#10 TF=0]
                +104 .. @25 2048 dir [PX=40755,3,0:0,#9 TF=0]
                +208 F.;1 @33 5 [PX=100600,1,0:0,#11 TF=0 NM=f]
              dir #9 /1/2/3/4 (4, parent #7) @28 2048 bytes
                +0 . @28 2048 dir [PX=40755,3,0:0,#5 TF=0]
                +104 .. @26 2048 dir [PX=40755,3,0:0,#4 TF=0]
                +208 5 @29 2048 dir [PX=40755,3,0:0,#6 TF=0 NM=5]
              dir #10 /1/2/3/4/5 (5, parent #9) @29 2048 bytes
                +0 . @29 2048 dir [PX=40755,3,0:0,#6 TF=0]
                +104 .. @28 2048 dir [PX=40755,3,0:0,#5 TF=0]
                +208 6 @30 2048 dir [PX=40755,3,0:0,#7 TF=0 NM=6]
              dir #11 /1/2/3/4/5/6 (6, parent #10) @30 2048 bytes
                +0 . @30 2048 dir [PX=40755,3,0:0,#7 TF=0]
                +104 .. @29 2048 dir [PX=40755,3,0:0,#6 TF=0]
                +208 7 @31 2048 dir [PX=40755,3,0:0,#8 TF=0 NM=7]
              dir #12 /1/2/3/4/5/6/7 (7, parent #11) @31 2048 bytes
                +0 . @31 2048 dir [PX=40755,3,0:0,#8 TF=0]
                +104 .. @30 2048 dir [PX=40755,3,0:0,#7 TF=0]
                +208 8 @0 0 [PX=40755,3,0:0,#9 TF=0 NM=8 CL=25]
                +330 G.;1 @0 0 [PX=100644,1,0:0,#12 TF=0 NM=g]
            continuation areas @32 x1
            data /1/2/3/4/5/6/7/8/9/f @33 5 bytes
            data /1/2/3/4/5/6/7/g @0 0 bytes
            padding @34 volume 184 sectors
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /1
            dir      0755 0:0 0 - - /1/2
            dir      0755 0:0 0 - - /1/2/3
            dir      0755 0:0 0 - - /1/2/3/4
            dir      0755 0:0 0 - - /1/2/3/4/5
            dir      0755 0:0 0 - - /1/2/3/4/5/6
            dir      0755 0:0 0 - - /1/2/3/4/5/6/7
            dir      0755 0:0 0 - - /1/2/3/4/5/6/7/8
            dir      0755 0:0 0 - - /1/2/3/4/5/6/7/8/9
            file     0600 0:0 0 5 64896f89fd111900 /1/2/3/4/5/6/7/8/9/f
            file     0644 0:0 0 0 e3b0c44298fc1c14 /1/2/3/4/5/6/7/g
            dir      0755 0:0 0 - - /rr_moved
        "#]],
    );
}

#[test]
fn deep_directories_without_relocation() {
    check(
        "//- /1/2/3/4/5/6/7/8/9/f\n",
        IsoOptions { joliet: None, relocate_deep_directories: false, ..linuxkit() },
        expect![[r#"
            descriptors primary@16 terminator@17
            primary path tables 100 bytes L@18 M@19
              dir #1 / (., parent #1) @20 2048 bytes
                +0 . @20 2048 dir [SP PX=40755,3,0:0,#1 TF=0 CE=30+0/182 | ER]
                +140 .. @20 2048 dir [PX=40755,3,0:0,#1 TF=0]
                +244 1 @21 2048 dir [PX=40755,3,0:0,#2 TF=0 NM=1]
              dir #2 /1 (1, parent #1) @21 2048 bytes
                +0 . @21 2048 dir [PX=40755,3,0:0,#2 TF=0]
                +104 .. @20 2048 dir [PX=40755,3,0:0,#1 TF=0]
                +208 2 @22 2048 dir [PX=40755,3,0:0,#3 TF=0 NM=2]
              dir #3 /1/2 (2, parent #2) @22 2048 bytes
                +0 . @22 2048 dir [PX=40755,3,0:0,#3 TF=0]
                +104 .. @21 2048 dir [PX=40755,3,0:0,#2 TF=0]
                +208 3 @23 2048 dir [PX=40755,3,0:0,#4 TF=0 NM=3]
              dir #4 /1/2/3 (3, parent #3) @23 2048 bytes
                +0 . @23 2048 dir [PX=40755,3,0:0,#4 TF=0]
                +104 .. @22 2048 dir [PX=40755,3,0:0,#3 TF=0]
                +208 4 @24 2048 dir [PX=40755,3,0:0,#5 TF=0 NM=4]
              dir #5 /1/2/3/4 (4, parent #4) @24 2048 bytes
                +0 . @24 2048 dir [PX=40755,3,0:0,#5 TF=0]
                +104 .. @23 2048 dir [PX=40755,3,0:0,#4 TF=0]
                +208 5 @25 2048 dir [PX=40755,3,0:0,#6 TF=0 NM=5]
              dir #6 /1/2/3/4/5 (5, parent #5) @25 2048 bytes
                +0 . @25 2048 dir [PX=40755,3,0:0,#6 TF=0]
                +104 .. @24 2048 dir [PX=40755,3,0:0,#5 TF=0]
                +208 6 @26 2048 dir [PX=40755,3,0:0,#7 TF=0 NM=6]
              dir #7 /1/2/3/4/5/6 (6, parent #6) @26 2048 bytes
                +0 . @26 2048 dir [PX=40755,3,0:0,#7 TF=0]
                +104 .. @25 2048 dir [PX=40755,3,0:0,#6 TF=0]
                +208 7 @27 2048 dir [PX=40755,3,0:0,#8 TF=0 NM=7]
              dir #8 /1/2/3/4/5/6/7 (7, parent #7) @27 2048 bytes
                +0 . @27 2048 dir [PX=40755,3,0:0,#8 TF=0]
                +104 .. @26 2048 dir [PX=40755,3,0:0,#7 TF=0]
                +208 8 @28 2048 dir [PX=40755,3,0:0,#9 TF=0 NM=8]
              dir #9 /1/2/3/4/5/6/7/8 (8, parent #8) @28 2048 bytes
                +0 . @28 2048 dir [PX=40755,3,0:0,#9 TF=0]
                +104 .. @27 2048 dir [PX=40755,3,0:0,#8 TF=0]
                +208 9 @29 2048 dir [PX=40755,2,0:0,#10 TF=0 NM=9]
              dir #10 /1/2/3/4/5/6/7/8/9 (9, parent #9) @29 2048 bytes
                +0 . @29 2048 dir [PX=40755,2,0:0,#10 TF=0]
                +104 .. @28 2048 dir [PX=40755,3,0:0,#9 TF=0]
                +208 F.;1 @0 0 [PX=100644,1,0:0,#11 TF=0 NM=f]
            continuation areas @30 x1
            data /1/2/3/4/5/6/7/8/9/f @0 0 bytes
            padding @31 volume 181 sectors
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /1
            dir      0755 0:0 0 - - /1/2
            dir      0755 0:0 0 - - /1/2/3
            dir      0755 0:0 0 - - /1/2/3/4
            dir      0755 0:0 0 - - /1/2/3/4/5
            dir      0755 0:0 0 - - /1/2/3/4/5/6
            dir      0755 0:0 0 - - /1/2/3/4/5/6/7
            dir      0755 0:0 0 - - /1/2/3/4/5/6/7/8
            dir      0755 0:0 0 - - /1/2/3/4/5/6/7/8/9
            file     0644 0:0 0 0 e3b0c44298fc1c14 /1/2/3/4/5/6/7/8/9/f
        "#]],
    );
}

#[test]
fn large_files_are_multi_extent() {
    // With extents limited to 2 sectors, a 5000-byte file has extents of 4096 and 904 bytes,
    // each with its own record (the first flagged multi-extent) carrying the same Rock Ridge
    // entries; its hard link repeats both records. Joliet does the same.
    check_with(
        &format!("//- /big noeol\n{}\n//- /link hardlink=/big\n", "x".repeat(5000)),
        linuxkit(),
        4096,
        expect![[r#"
            descriptors primary@16 joliet@17 terminator@18
            primary path tables 10 bytes L@19 M@20
              dir #1 / (., parent #1) @23 2048 bytes
                +0 . @23 2048 dir [SP PX=40755,2,0:0,#1 TF=0 CE=24+0/182 | ER]
                +140 .. @23 2048 dir [PX=40755,2,0:0,#1 TF=0]
                +244 BIG.;1 @26 4096 multi [PX=100644,2,0:0,#2 TF=0 NM=big]
                +362 BIG.;1 @28 904 [PX=100644,2,0:0,#2 TF=0 NM=big]
                +480 LINK.;1 @26 4096 multi [PX=100644,2,0:0,#2 TF=0 NM=link]
                +600 LINK.;1 @28 904 [PX=100644,2,0:0,#2 TF=0 NM=link]
            continuation areas @24 x1
            joliet path tables 10 bytes L@21 M@22
              dir #1 / (., parent #1) @25 2048 bytes
                +0 . @25 2048 dir
                +34 .. @25 2048 dir
                +68 "big" @26 4096 multi
                +108 "big" @28 904
                +148 "link" @26 4096 multi
                +190 "link" @28 904
            data /big @26 5000 bytes
            padding @29 volume 179 sectors
            --- read back
            dir      0755 0:0 0 - - /
            file     0644 0:0 0 5000 c59d3c0480cc2d71 /big
            hardlink 0644 0:0 0 - - /link => /big
        "#]],
    );
}

#[test]
fn hundreds_of_entries_span_sectors_without_splitting_records() {
    let mut fixture = String::new();
    for idx in 0..300 {
        fixture
            .push_str(&format!("//- /many/file-with-a-long-name-{idx:04}.conf mode=0640\n{idx}\n"));
    }
    let tree = tree_from_fixture(&fixture).unwrap();
    let plan = plan::plan(&tree, &linuxkit(), MAX_EXTENT_BYTES).unwrap();
    // Long31 identifiers are unique without counters.
    assert_eq!(plan.primary.dirs[1].records[2].identifier, b"FILE_WITH_A_LONG_NAME_0000.CONF;1");
    for hierarchy in [&plan.primary, plan.joliet.as_ref().unwrap()] {
        let many = &hierarchy.dirs[1];
        assert_eq!(many.path, b"many");
        assert_eq!(many.records.len(), 302);
        let mut end = 0;
        for record in &many.records {
            let len = u32::try_from(dir_record::record_len(
                record.identifier.len(),
                record.system_use.len(),
            ))
            .unwrap();
            assert_eq!(
                record.offset / 2048,
                (record.offset + len - 1) / 2048,
                "record crosses a sector"
            );
            assert!(record.offset >= end);
            end = record.offset + len;
        }
        assert!(many.size_bytes >= 3 * 2048 && many.size_bytes % 2048 == 0, "{}", many.size_bytes);
    }
    let bytes = to_vec(&tree, &NoBlobs, &linuxkit()).unwrap();
    assert_eq!(dump(&read(&mut Cursor::new(&bytes)).unwrap()), dump(&tree));
}

#[test]
fn writer_errors_name_the_path_and_the_limit() {
    let err = |fixture: &str, options: IsoOptions| {
        let tree = tree_from_fixture(fixture).unwrap();
        to_vec(&tree, &NoBlobs, &options).unwrap_err().to_string()
    };
    let long = format!("//- /d/{}\n", "x".repeat(254));
    let message = err(&long, linuxkit());
    assert!(message.starts_with("name of /d/xxx"), "{message}");
    assert!(
        message.ends_with(
            "x is 254 bytes, the Linux kernel reads Rock Ridge names of at most 253 bytes"
        ),
        "{message}"
    );
    assert!(
        to_vec(
            &tree_from_fixture(&format!("//- /{}\n", "x".repeat(253))).unwrap(),
            &NoBlobs,
            &linuxkit()
        )
        .is_ok()
    );
    assert_eq!(
        err(&format!("//- /l symlink={}\n", "t".repeat(4096)), linuxkit()),
        "symlink /l has a 4096-byte target, expected at most 4095 bytes"
    );
    assert_eq!(
        err("//- /dev/x char=4096,0\n", linuxkit()),
        "device /dev/x is 4096,0, expected a major below 4096 and a minor below 1048576 (Linux dev_t)"
    );
    assert_eq!(
        err("//- /dev/x block=1,1048576\n", linuxkit()),
        "device /dev/x is 1,1048576, expected a major below 4096 and a minor below 1048576 (Linux dev_t)"
    );
    assert_eq!(
        err("//- /f\n", IsoOptions { volume_id: "V".repeat(33), ..linuxkit() }),
        format!(
            "volume id \"{}\" is longer than the 32 bytes of the volume identifier field",
            "V".repeat(33)
        )
    );
    assert_eq!(
        err("//- /f\n", IsoOptions { volume_id: "Linüx".to_owned(), ..linuxkit() }),
        "volume id \"Linüx\" has a character outside printable ASCII"
    );
    let mut tree = tree_from_fixture("//- /f\n").unwrap();
    tree.root.get_mut(&b"f"[..]).unwrap().meta.mode = 0o10644;
    assert_eq!(
        to_vec(&tree, &NoBlobs, &linuxkit()).unwrap_err().to_string(),
        "mode of /f is 0o10644, expected permission bits within 0o7777"
    );
    let mut tree = tree_from_fixture("//- /f\n").unwrap();
    let node = tree.root.remove(&b"f"[..]).unwrap();
    tree.root.insert(b"a/b".to_vec(), node);
    assert_eq!(
        to_vec(&tree, &NoBlobs, &linuxkit()).unwrap_err().to_string(),
        "name of /a/b contains `/` or NUL"
    );
}

/// A content source whose blobs are `offset` bytes of `x`, whatever their announced length.
struct Lying;

impl ContentSource for Lying {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(io::repeat(b'x').take(range.offset)))
    }
}

fn blob_tree(announced: u64, actual: u64) -> Tree {
    let mut tree = Tree::new(0);
    let range = BlobRange { object: Arc::from("sha256:00"), offset: actual, len: announced };
    tree.root.insert(
        b"blob".to_vec(),
        Node::new(NodeKind::File(Content::Blob(range)), Meta::new(0o644, 0)),
    );
    tree
}

#[test]
fn content_errors_name_the_file() {
    let err = |tree: &Tree| to_vec(tree, &Lying, &linuxkit()).unwrap_err().to_string();
    assert_eq!(err(&blob_tree(10, 4)), "content of /blob ended after 4 bytes, expected 10");
    assert_eq!(err(&blob_tree(10, 11)), "content of /blob is longer than its announced 10 bytes");
    let bytes = to_vec(&blob_tree(5000, 5000), &Lying, &linuxkit()).unwrap();
    let back = read(&mut Cursor::new(&bytes)).unwrap();
    assert_eq!(
        back.get(b"blob").unwrap().kind,
        NodeKind::File(Content::Inline(Arc::from(vec![b'x'; 5000])))
    );
}

#[test]
fn files_beyond_4_gib_plan_as_multi_extent() {
    // 4 GiB - 2048 per extent, as libisofs: a 9 GiB file has three extents.
    let tree = blob_tree(9 << 30, 0);
    let plan = plan::plan(&tree, &linuxkit(), MAX_EXTENT_BYTES).unwrap();
    let records: Vec<(u32, u32, u8)> = plan.primary.dirs[0].records[2..]
        .iter()
        .map(|r| (r.extent_lba, r.data_length_bytes, r.flags))
        .collect();
    let first = plan.files[0].lba;
    let per_extent = u32::try_from(MAX_EXTENT_BYTES / 2048).unwrap();
    assert_eq!(
        records,
        [
            (first, 0xffff_f800, 0x80),
            (first + per_extent, 0xffff_f800, 0x80),
            // 9 GiB - 2 * (4 GiB - 2048) = 1 GiB + 4096.
            (first + 2 * per_extent, 1_073_745_920, 0)
        ]
    );
    assert_eq!(plan.data_end_lba, first + u32::try_from((9u64 << 30) / 2048).unwrap());
}

#[test]
fn same_tree_same_bytes() {
    let fixture =
        "//- /a/b\nx\n//- /a/c hardlink=/a/b\n//- /d/1/2/3/4/5/6/7/8/9 dir\n//- /z symlink=a/b\n";
    let tree = tree_from_fixture(fixture).unwrap();
    for options in [
        linuxkit(),
        short_names(),
        IsoOptions { joliet: None, relocate_deep_directories: false, ..linuxkit() },
    ] {
        let first = to_vec(&tree, &NoBlobs, &options).unwrap();
        let mut cursor = Cursor::new(Vec::new());
        write(&tree.clone(), &NoBlobs, &options, &mut cursor).unwrap();
        assert_eq!(first, cursor.into_inner());
    }
    // The epoch changes the volume dates and nothing else (no relocation directory here).
    let flat = tree_from_fixture("//- /a\n").unwrap();
    let one = to_vec(&flat, &NoBlobs, &linuxkit()).unwrap();
    let two = to_vec(&flat, &NoBlobs, &IsoOptions { epoch: 1, ..linuxkit() }).unwrap();
    let differing: Vec<usize> =
        (0..one.len()).filter(|i| one[*i] != two[*i]).map(|i| i / 2048).collect();
    assert!(differing.iter().all(|sector| *sector == 16 || *sector == 17), "{differing:?}");
}

#[test]
fn joliet_and_plain_views() {
    let tree = tree_from_fixture(
        "//- /Dir.Name/Lower.txt mode=0600 mtime=1700000000\nx\n//- /Dir.Name/sym symlink=Lower.txt\n",
    )
    .unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &short_names()).unwrap();
    let view = |view| dump(&read::read(&mut Cursor::new(&bytes), view).unwrap());
    // Without Rock Ridge: Joliet names, or ISO 9660 identifiers without version and trailing
    // dot; no owners or modes (directories 0555, files 0444), symlinks are empty files.
    expect![[r#"
        dir      0555 0:0 0 - - /
        dir      0555 0:0 0 - - /Dir.Name
        file     0444 0:0 1700000000 2 73cb3858a687a849 /Dir.Name/Lower.txt
        file     0444 0:0 0 0 e3b0c44298fc1c14 /Dir.Name/sym
    "#]]
    .assert_eq(&view(read::View::Joliet));
    expect![[r#"
        dir      0555 0:0 0 - - /
        dir      0555 0:0 0 - - /DIR_NAME
        file     0444 0:0 1700000000 2 73cb3858a687a849 /DIR_NAME/LOWER.TXT
        file     0444 0:0 0 0 e3b0c44298fc1c14 /DIR_NAME/SYM
    "#]]
    .assert_eq(&view(read::View::Plain));
}

#[test]
fn summary_lists_the_descriptors() {
    let tree = tree_from_fixture("//- /a\n").unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &linuxkit()).unwrap();
    let lines: Vec<String> = summary(&mut Cursor::new(&bytes))
        .unwrap()
        .into_iter()
        .map(|(key, value)| format!("{key}: {value}"))
        .collect();
    expect![[r#"
        format: ISO 9660
        volume descriptors: primary@16, supplementary@17, terminator@18
        system id: LINUX
        volume id: LinuxKit
        volume set id: LinuxKit
        publisher id: 
        data preparer id: 
        application id: KIT
        logical block size: 2048
        volume size: 176 sectors (360448 bytes)
        created: 2023-11-14 22:13:20.00 +00:00
        modified: 2023-11-14 22:13:20.00 +00:00
        expires: unset
        effective: 2023-11-14 22:13:20.00 +00:00
        root directory: sector 23, 2048 bytes
        path table: 10 bytes, type L at sector 19, type M at sector 20
        joliet: UCS-2 level 3, volume id "LinuxKit"
        rock ridge: IEEE_1282 (RRIP 1.12)
    "#]]
    .assert_eq(&(lines.join("\n") + "\n"));
}

#[test]
fn reader_errors() {
    let err = |bytes: &[u8]| read(&mut Cursor::new(bytes)).unwrap_err().to_string();
    assert_eq!(
        err(&[0u8; 40_000]),
        "not an ISO 9660 image: sector 16: standard identifier is not CD001"
    );
    assert_eq!(
        err(&[0u8; 100]),
        "not an ISO 9660 image: the 100-byte image ends at sector 16 before a volume descriptor set terminator"
    );
    let tree = tree_from_fixture("//- /d/f mode=0600\ndata\n").unwrap();
    let image = to_vec(&tree, &NoBlobs, &IsoOptions { joliet: None, ..linuxkit() }).unwrap();
    // Sectors: 16 PVD, 17 terminator, 18/19 path tables, 20 /, 21 /d, 22 continuation, 23 data.
    assert_eq!(
        err(&image[..23 * 2048]),
        "file /d/f at sector 23 (5 bytes) lies beyond the end of the 47104-byte image"
    );
    // /d's record in / points back at the root: a loop.
    let mut looped = image.clone();
    let root = 20 * 2048;
    let d = root + 244;
    assert_eq!(looped[d + 33], b'D');
    looped[d + 2..d + 10].copy_from_slice(&both_endian::u32_both(20));
    assert_eq!(
        err(&looped),
        "directory /d at sector 20 was already read: the hierarchy has a loop"
    );
    // f's PX says socket.
    let mut socket = image.clone();
    let px = find(&socket, &[b'P', b'X', 44, 1, 0x80, 0x81]).unwrap();
    socket[px + 5] = 0xc1;
    assert_eq!(err(&socket), "/d/f is a socket; sockets are not supported");
    // A record shorter than its fixed part.
    let mut cut = image;
    cut[d] = 20;
    assert_eq!(
        err(&cut),
        "directory /, record at byte 244 of its extent: directory record is shorter than 34 bytes"
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn reads_relocated_and_hides_only_empty_relocation_dirs() {
    // A tree entry named rr_moved_1 that holds a directory stays.
    let tree = tree_from_fixture("//- /1/2/3/4/5/6/7/8/f\n//- /rr_moved_1/x dir\n").unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &linuxkit()).unwrap();
    assert_eq!(dump(&read(&mut Cursor::new(&bytes)).unwrap()), dump(&tree));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Rock Ridge keeps everything but xattrs and origins; mtimes are clamped to 1900-2155 and
    /// hard links share the file's metadata (see `iso9660_model`).
    #[test]
    fn round_trip(
        tree in arb_tree(),
        long in any::<bool>(),
        joliet in prop::option::of(prop::bool::ANY),
        relocate in any::<bool>(),
    ) {
        let options = IsoOptions {
            volume_id: "PROPTEST".to_owned(),
            epoch: 0,
            primary_names: if long { PrimaryNames::Long31 } else { PrimaryNames::Iso8Dot3 },
            joliet: joliet.map(|long| if long { JolietNames::Long103 } else { JolietNames::Max64 }),
            relocate_deep_directories: relocate,
            boot: None,
        };
        let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
        let back = read(&mut Cursor::new(&bytes)).unwrap();
        prop_assert_eq!(dump(&back), dump(&iso9660_model(&tree)));
        prop_assert_eq!(bytes, to_vec(&tree, &NoBlobs, &options).unwrap());
    }
}

#[test]
fn reader_refuses_trees_deeper_than_linux_paths() {
    let deep = (1..=2049).map(|n| format!("d{n}")).collect::<Vec<_>>().join("/");
    let tree = tree_from_fixture(&format!("//- /{deep} dir\n")).unwrap();
    let options = IsoOptions { joliet: None, relocate_deep_directories: false, ..linuxkit() };
    let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
    let err = read(&mut Cursor::new(&bytes)).unwrap_err().to_string();
    assert!(err.ends_with("/d2049 is nested deeper than 2048 levels"), "{err}");
}

#[test]
fn golden_image_bytes() {
    // Pins the exact bytes of one image: a change here must be deliberate (and noted, since
    // it changes every kernel+iso output).
    use sha2::{Digest, Sha256};
    let tree = tree_from_fixture(
        "//- /bin/sh symlink=busybox\n//- /bin/busybox mode=04755\nx\n//- /dev/null char=1,3\n//- /a/b/c/d/e/f/g/h/i/j dir\n",
    )
    .unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &linuxkit()).unwrap();
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    expect!["413696 23bc63d089a027289cb8e8f470fe91772805f3211d7c76acab8f8b5e776e535b"]
        .assert_eq(&format!("{} {}", bytes.len(), digest));
}

fn boot(bios: Option<&str>, efi: Option<&str>, hybrid: Hybrid) -> IsoOptions {
    IsoOptions {
        joliet: None,
        boot: Some(ElTorito {
            bios: bios.map(|path| BiosBoot {
                loader: path.as_bytes().to_vec(),
                load_sectors: 4,
                boot_info_table: false,
            }),
            efi_image: efi.map(|path| path.as_bytes().to_vec()),
            hybrid,
            seed: b"seed".to_vec(),
        }),
        ..linuxkit()
    }
}

const BOOT_FIXTURE: &str = "//- /boot/isolinux.bin\nloader\n//- /boot/efi.img\nFAT image\n//- /boot/zz-efi-link hardlink=/boot/efi.img\n//- /boot/empty\n//- /boot/dir dir\n";

#[test]
fn el_torito_layouts() {
    // BIOS default entry, EFI in a final section; catalog after the directories and the
    // continuation area, before the files; the boot record right after the primary descriptor.
    check(
        BOOT_FIXTURE,
        boot(Some("/boot/isolinux.bin"), Some("boot/efi.img"), Hybrid::None),
        expect![[r#"
            descriptors primary@16 boot-record@17 terminator@18
            primary path tables 34 bytes L@19 M@20
              dir #1 / (., parent #1) @21 2048 bytes
                +0 . @21 2048 dir [SP PX=40755,3,0:0,#1 TF=0 CE=24+0/182 | ER]
                +140 .. @21 2048 dir [PX=40755,3,0:0,#1 TF=0]
                +244 BOOT @22 2048 dir [PX=40755,3,0:0,#2 TF=0 NM=boot]
              dir #2 /boot (BOOT, parent #1) @22 2048 bytes
                +0 . @22 2048 dir [PX=40755,3,0:0,#2 TF=0]
                +104 .. @21 2048 dir [PX=40755,3,0:0,#1 TF=0]
                +208 DIR @23 2048 dir [PX=40755,2,0:0,#3 TF=0 NM=dir]
                +322 EFI.IMG;1 @26 10 [PX=100644,2,0:0,#4 TF=0 NM=efi.img]
                +446 EMPTY.;1 @0 0 [PX=100644,1,0:0,#5 TF=0 NM=empty]
                +568 ISOLINUX.BIN;1 @27 7 [PX=100644,1,0:0,#6 TF=0 NM=isolinux.bin]
                +704 ZZ_EFI_LINK.;1 @26 10 [PX=100644,2,0:0,#4 TF=0 NM=zz-efi-link]
              dir #3 /boot/dir (DIR, parent #2) @23 2048 bytes
                +0 . @23 2048 dir [PX=40755,2,0:0,#3 TF=0]
                +104 .. @22 2048 dir [PX=40755,3,0:0,#2 TF=0]
            continuation areas @24 x1
            boot catalog @25
              platform 0x00 indicator 0x88 media 0 segment 0x0 count 4 @27
              platform 0xef indicator 0x88 media 0 segment 0x0 count 1 @26
            data /boot/efi.img @26 10 bytes
            data /boot/empty @0 0 bytes
            data /boot/isolinux.bin @27 7 bytes
            padding @28 volume 178 sectors
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /boot
            dir      0755 0:0 0 - - /boot/dir
            file     0644 0:0 0 10 1d0597db763de09d /boot/efi.img
            file     0644 0:0 0 0 e3b0c44298fc1c14 /boot/empty
            file     0644 0:0 0 7 2fab32e1c9b2563d /boot/isolinux.bin
            hardlink 0644 0:0 0 - - /boot/zz-efi-link => /boot/efi.img
        "#]],
    );
    // EFI alone through a hard link, with an MBR; then with a GPT (the backup in the padding).
    check(
        BOOT_FIXTURE,
        boot(None, Some("boot/zz-efi-link"), Hybrid::Mbr),
        expect![[r#"
        descriptors primary@16 boot-record@17 terminator@18
        primary path tables 34 bytes L@19 M@20
          dir #1 / (., parent #1) @21 2048 bytes
            +0 . @21 2048 dir [SP PX=40755,3,0:0,#1 TF=0 CE=24+0/182 | ER]
            +140 .. @21 2048 dir [PX=40755,3,0:0,#1 TF=0]
            +244 BOOT @22 2048 dir [PX=40755,3,0:0,#2 TF=0 NM=boot]
          dir #2 /boot (BOOT, parent #1) @22 2048 bytes
            +0 . @22 2048 dir [PX=40755,3,0:0,#2 TF=0]
            +104 .. @21 2048 dir [PX=40755,3,0:0,#1 TF=0]
            +208 DIR @23 2048 dir [PX=40755,2,0:0,#3 TF=0 NM=dir]
            +322 EFI.IMG;1 @26 10 [PX=100644,2,0:0,#4 TF=0 NM=efi.img]
            +446 EMPTY.;1 @0 0 [PX=100644,1,0:0,#5 TF=0 NM=empty]
            +568 ISOLINUX.BIN;1 @27 7 [PX=100644,1,0:0,#6 TF=0 NM=isolinux.bin]
            +704 ZZ_EFI_LINK.;1 @26 10 [PX=100644,2,0:0,#4 TF=0 NM=zz-efi-link]
          dir #3 /boot/dir (DIR, parent #2) @23 2048 bytes
            +0 . @23 2048 dir [PX=40755,2,0:0,#3 TF=0]
            +104 .. @22 2048 dir [PX=40755,3,0:0,#2 TF=0]
        continuation areas @24 x1
        boot catalog @25
          platform 0xef indicator 0x88 media 0 segment 0x0 count 1 @26
          mbr type 0xef blocks 104 + 1
        data /boot/efi.img @26 10 bytes
        data /boot/empty @0 0 bytes
        data /boot/isolinux.bin @27 7 bytes
        padding @28 volume 178 sectors
        --- read back
        dir      0755 0:0 0 - - /
        dir      0755 0:0 0 - - /boot
        dir      0755 0:0 0 - - /boot/dir
        file     0644 0:0 0 10 1d0597db763de09d /boot/efi.img
        file     0644 0:0 0 0 e3b0c44298fc1c14 /boot/empty
        file     0644 0:0 0 7 2fab32e1c9b2563d /boot/isolinux.bin
        hardlink 0644 0:0 0 - - /boot/zz-efi-link => /boot/efi.img
    "#]],
    );
    check(
        BOOT_FIXTURE,
        boot(None, Some("boot/efi.img"), Hybrid::Gpt),
        expect![[r#"
        descriptors primary@16 boot-record@17 terminator@18
        primary path tables 34 bytes L@19 M@20
          dir #1 / (., parent #1) @21 2048 bytes
            +0 . @21 2048 dir [SP PX=40755,3,0:0,#1 TF=0 CE=24+0/182 | ER]
            +140 .. @21 2048 dir [PX=40755,3,0:0,#1 TF=0]
            +244 BOOT @22 2048 dir [PX=40755,3,0:0,#2 TF=0 NM=boot]
          dir #2 /boot (BOOT, parent #1) @22 2048 bytes
            +0 . @22 2048 dir [PX=40755,3,0:0,#2 TF=0]
            +104 .. @21 2048 dir [PX=40755,3,0:0,#1 TF=0]
            +208 DIR @23 2048 dir [PX=40755,2,0:0,#3 TF=0 NM=dir]
            +322 EFI.IMG;1 @26 10 [PX=100644,2,0:0,#4 TF=0 NM=efi.img]
            +446 EMPTY.;1 @0 0 [PX=100644,1,0:0,#5 TF=0 NM=empty]
            +568 ISOLINUX.BIN;1 @27 7 [PX=100644,1,0:0,#6 TF=0 NM=isolinux.bin]
            +704 ZZ_EFI_LINK.;1 @26 10 [PX=100644,2,0:0,#4 TF=0 NM=zz-efi-link]
          dir #3 /boot/dir (DIR, parent #2) @23 2048 bytes
            +0 . @23 2048 dir [PX=40755,2,0:0,#3 TF=0]
            +104 .. @22 2048 dir [PX=40755,3,0:0,#2 TF=0]
        continuation areas @24 x1
        boot catalog @25
          platform 0xef indicator 0x88 media 0 segment 0x0 count 1 @26
          mbr type 0xee blocks 1 + 711
          gpt 1 "EFI boot image" blocks 104..=104 type C12A7328-F81F-11D2-BA4B-00A0C93EC93B guid 63B51BD1-406A-4FF6-8D6C-990953581B3A
          gpt disk 06819549-C0BD-40C8-AC6E-78D597860633 usable 34..=678 backup @711
        data /boot/efi.img @26 10 bytes
        data /boot/empty @0 0 bytes
        data /boot/isolinux.bin @27 7 bytes
        padding @28 volume 178 sectors
        --- read back
        dir      0755 0:0 0 - - /
        dir      0755 0:0 0 - - /boot
        dir      0755 0:0 0 - - /boot/dir
        file     0644 0:0 0 10 1d0597db763de09d /boot/efi.img
        file     0644 0:0 0 0 e3b0c44298fc1c14 /boot/empty
        file     0644 0:0 0 7 2fab32e1c9b2563d /boot/isolinux.bin
        hardlink 0644 0:0 0 - - /boot/zz-efi-link => /boot/efi.img
    "#]],
    );
}

#[test]
fn el_torito_errors() {
    for (options, expected) in [
        (
            boot(None, Some("boot/missing"), Hybrid::None),
            expect!["boot image /boot/missing is not in the tree"],
        ),
        (
            boot(None, Some("/boot/dir"), Hybrid::None),
            expect!["boot image /boot/dir is not a regular file"],
        ),
        (boot(Some("boot/empty"), None, Hybrid::None), expect!["boot image /boot/empty is empty"]),
        (
            boot(Some("boot/isolinux.bin"), None, Hybrid::Gpt),
            expect!["El Torito options: a hybrid MBR or GPT needs an EFI image for its partition"],
        ),
        (
            boot(None, None, Hybrid::None),
            expect!["El Torito options: no BIOS loader and no EFI image given"],
        ),
        (
            {
                let mut options = boot(Some("boot/isolinux.bin"), None, Hybrid::None);
                if let Some(bios) = options.boot.as_mut().and_then(|boot| boot.bios.as_mut()) {
                    bios.boot_info_table = true;
                }
                options
            },
            expect![
                "boot image /boot/isolinux.bin is 7 bytes, a boot info table needs a loader of at least 64"
            ],
        ),
    ] {
        let tree = tree_from_fixture(BOOT_FIXTURE).unwrap();
        let err = plan::plan(&tree, &options, MAX_EXTENT_BYTES).unwrap_err();
        expected.assert_eq(&err.to_string());
    }
}

#[test]
fn el_torito_deterministic_and_seeded() {
    let tree = tree_from_fixture(BOOT_FIXTURE).unwrap();
    let options = boot(Some("boot/isolinux.bin"), Some("boot/efi.img"), Hybrid::Gpt);
    let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
    assert_eq!(bytes, to_vec(&tree, &NoBlobs, &options).unwrap());
    let mut other = options.clone();
    if let Some(boot) = &mut other.boot {
        boot.seed = b"other".to_vec();
    }
    let other = to_vec(&tree, &NoBlobs, &other).unwrap();
    // Only the GUIDs and the CRCs that cover them differ.
    assert_ne!(bytes, other);
    assert_eq!(bytes[32768..bytes.len() - 16896], other[32768..other.len() - 16896]);
    assert_eq!(read(&mut Cursor::new(&bytes)).unwrap(), tree);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A bootable image reads back as the same tree (the catalog is in no directory), its GPT
    /// reads back with the EFI image as partition 1, and the catalog points at the image.
    #[test]
    fn boot_round_trip(
        mut tree in arb_tree(),
        efi_len in 1usize..20_000,
        gpt in any::<bool>(),
    ) {
        let efi: Vec<u8> = (0..efi_len).map(|i| u8::try_from(i % 251).unwrap()).collect();
        tree.root.insert(
            b"zz-efi.img".to_vec(),
            Node::new(NodeKind::File(Content::Inline(Arc::from(efi.clone()))), Meta::new(0o644, 0)),
        );
        let options = boot(None, Some("zz-efi.img"), if gpt { Hybrid::Gpt } else { Hybrid::Mbr });
        let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
        let back = read(&mut Cursor::new(&bytes)).unwrap();
        prop_assert_eq!(dump(&back), dump(&iso9660_model(&tree)));
        let lines = summary(&mut Cursor::new(&bytes)).unwrap();
        let image = lines.iter().find(|(k, _)| k == "el torito image 1").unwrap();
        prop_assert!(image.1.ends_with(", /zz-efi.img"), "{:?}", image);
        let sector: usize = image.1.rsplit(", sector ").next().unwrap().split(',').next().unwrap().parse().unwrap();
        prop_assert_eq!(&bytes[sector * 2048..sector * 2048 + efi_len], &efi[..]);
        if gpt {
            let disk = crate::gpt::read(&mut Cursor::new(&bytes)).unwrap();
            prop_assert_eq!(disk.partitions.len(), 1);
            let entry = &disk.partitions[0].entry;
            prop_assert_eq!(entry.starting_lba, u64::try_from(sector * 4).unwrap());
            prop_assert_eq!(entry.ending_lba + 1 - entry.starting_lba, u64::try_from(efi_len.div_ceil(512)).unwrap());
        }
    }
}

#[test]
fn golden_bootable_image_bytes() {
    // Pins the bytes of a BIOS + EFI image with a GPT: a change must be deliberate.
    use sha2::{Digest, Sha256};
    let tree = tree_from_fixture(BOOT_FIXTURE).unwrap();
    let options = boot(Some("boot/isolinux.bin"), Some("boot/efi.img"), Hybrid::Gpt);
    let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    expect!["364544 ae520042e691f93660b314f8e6f9d38bd04cfedb67fc0a75a81389d908c816ee"]
        .assert_eq(&format!("{} {}", bytes.len(), digest));
}
