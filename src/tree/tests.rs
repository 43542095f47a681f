//! Unit tests of the layer merge: tiny layer stacks built here with the `tar` crate, each
//! checked against a dump whose expected text follows from image-spec `layer.md` and the rules
//! in the `merge` module docs.

use std::sync::Arc;

use expect_test::{Expect, expect};
use formats::tree::{Content, ContentSource, NodeKind, Tree};

use super::{MemoryContent, merge_layers};

/// Builds one layer tar, entry by entry, writing names verbatim (even `..`).
pub(crate) struct LayerBuilder {
    out: Vec<u8>,
    /// Device numbers for the next entries.
    device: (u32, u32),
}

/// A PAX record list.
pub(crate) type Pax<'a> = &'a [(&'a str, &'a [u8])];

impl LayerBuilder {
    pub(crate) fn new() -> LayerBuilder {
        LayerBuilder { out: Vec::new(), device: (0, 0) }
    }

    /// Appends one entry; `pax` records go in a PAX header before it.
    #[allow(clippy::too_many_arguments, reason = "a test helper mirroring the tar header")]
    pub(crate) fn raw(
        mut self,
        name: &str,
        entry_type: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: &str,
        pax: Pax<'_>,
    ) -> LayerBuilder {
        if !pax.is_empty() {
            let mut records = Vec::new();
            for (key, value) in pax {
                let body_len = key.len() + value.len() + 3;
                // The length field counts its own digits.
                let mut len = body_len + 1;
                while len.to_string().len() + body_len != len {
                    len = len.to_string().len() + body_len;
                }
                records.extend_from_slice(format!("{len} {key}=").as_bytes());
                records.extend_from_slice(value);
                records.push(b'\n');
            }
            self =
                self.header_and_data("PaxHeaders/x", tar::EntryType::XHeader, 0o644, &records, "");
        }
        self.header_and_data(name, entry_type, mode, data, link)
    }

    fn header_and_data(
        mut self,
        name: &str,
        entry_type: tar::EntryType,
        mode: u32,
        data: &[u8],
        link: &str,
    ) -> LayerBuilder {
        let mut header = if entry_type == tar::EntryType::GNUSparse {
            tar::Header::new_gnu()
        } else {
            tar::Header::new_ustar()
        };
        let name_bytes = name.as_bytes();
        let n = name_bytes.len().min(100);
        header.as_old_mut().name[..n].copy_from_slice(&name_bytes[..n]);
        let link_bytes = link.as_bytes();
        let n = link_bytes.len().min(100);
        header.as_old_mut().linkname[..n].copy_from_slice(&link_bytes[..n]);
        header.set_entry_type(entry_type);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        if let Some(gnu) = header.as_gnu_mut() {
            gnu.set_real_size(u64::try_from(data.len()).unwrap());
        } else {
            header.set_device_major(self.device.0).unwrap();
            header.set_device_minor(self.device.1).unwrap();
        }
        header.set_size(u64::try_from(data.len()).unwrap());
        header.set_cksum();
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(data);
        let padding = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, padding));
        self
    }

    /// A character or block device.
    pub(crate) fn device(
        mut self,
        name: &str,
        entry_type: tar::EntryType,
        (major, minor): (u32, u32),
        pax: Pax<'_>,
    ) -> LayerBuilder {
        self.device = (major, minor);
        let out = self.raw(name, entry_type, 0o660, b"", "", pax);
        LayerBuilder { device: (0, 0), ..out }
    }

    pub(crate) fn file(self, name: &str, data: &str) -> LayerBuilder {
        self.raw(name, tar::EntryType::Regular, 0o644, data.as_bytes(), "", &[])
    }

    pub(crate) fn file_mode(self, name: &str, mode: u32, data: &str) -> LayerBuilder {
        self.raw(name, tar::EntryType::Regular, mode, data.as_bytes(), "", &[])
    }

    pub(crate) fn dir(self, name: &str, mode: u32) -> LayerBuilder {
        self.raw(name, tar::EntryType::Directory, mode, b"", "", &[])
    }

    pub(crate) fn symlink(self, name: &str, target: &str) -> LayerBuilder {
        self.raw(name, tar::EntryType::Symlink, 0o777, b"", target, &[])
    }

    pub(crate) fn hardlink(self, name: &str, target: &str) -> LayerBuilder {
        self.raw(name, tar::EntryType::Link, 0o644, b"", target, &[])
    }

    /// An empty regular file, as whiteouts and opaque markers are written.
    pub(crate) fn marker(self, name: &str) -> LayerBuilder {
        self.raw(name, tar::EntryType::Regular, 0o644, b"", "", &[])
    }

    pub(crate) fn build(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

/// One line per node: `path type mode uid:gid [mtime] [xattrs] [payload]`.
pub(crate) fn dump(tree: &Tree, content: &dyn ContentSource) -> String {
    let mut out = String::new();
    tree.walk::<()>(&mut |path, node| {
        let path = String::from_utf8_lossy(path);
        let meta = &node.meta;
        let (kind, payload) = match &node.kind {
            NodeKind::Dir(_) => ("dir", String::new()),
            NodeKind::File(c) => {
                let mut data = Vec::new();
                c.open(content).unwrap().read_to_end(&mut data).unwrap();
                if let Content::Blob(range) = c {
                    assert_eq!(range.len, u64::try_from(data.len()).unwrap());
                }
                ("file", format!(" {:?}", String::from_utf8_lossy(&data)))
            }
            NodeKind::Symlink(t) => ("symlink", format!(" -> {}", String::from_utf8_lossy(t))),
            NodeKind::HardLink(t) => ("hardlink", format!(" => {}", String::from_utf8_lossy(t))),
            NodeKind::CharDevice { major, minor } => ("char", format!(" {major},{minor}")),
            NodeKind::BlockDevice { major, minor } => ("block", format!(" {major},{minor}")),
            NodeKind::Fifo => ("fifo", String::new()),
        };
        let mut line = format!("{path} {kind} {:04o} {}:{}", meta.mode, meta.uid, meta.gid);
        if meta.mtime != 0 {
            line += &format!(" @{}", meta.mtime);
        }
        for (key, value) in &meta.xattrs {
            line += &format!(" xattr:{key}={}", hex::encode(value));
        }
        out += &line;
        out += &payload;
        out.push('\n');
        Ok(())
    })
    .unwrap();
    out
}

use std::io::Read;

fn check(layers: Vec<Vec<u8>>, expect: Expect) {
    let mut content = MemoryContent::new();
    let mut inputs = Vec::new();
    for (idx, layer) in layers.into_iter().enumerate() {
        let id: Arc<str> = Arc::from(format!("L{idx}"));
        content.insert(&id, layer.clone());
        inputs.push((id, std::io::Cursor::new(layer)));
    }
    let actual = match merge_layers(inputs) {
        Ok(tree) => dump(&tree, &content),
        Err(e) => format!("error: {e}\n"),
    };
    expect.assert_eq(&actual);
}

fn l() -> LayerBuilder {
    LayerBuilder::new()
}

#[test]
fn kinds_modes_owners_and_xattrs() {
    let capability: &[u8] = &[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let layer = l()
        .dir("bin/", 0o755)
        .raw(
            "bin/ping",
            tar::EntryType::Regular,
            0o4755,
            b"ELF",
            "",
            &[("SCHILY.xattr.security.capability", capability), ("mtime", b"1700000000.5")],
        )
        .dir("tmp", 0o1777)
        .file_mode("usr/bin/wall", 0o2755, "w")
        .symlink("bin/sh", "busybox")
        .device("dev/null", tar::EntryType::Char, (1, 3), &[])
        .device("dev/sda", tar::EntryType::Block, (8, 0), &[("uid", b"4294967295")])
        .raw("run/fifo", tar::EntryType::Fifo, 0o600, b"", "", &[("gid", b"42")])
        .file("empty", "")
        .build();
    check(
        vec![layer],
        expect![[r#"
            bin dir 0755 0:0
            bin/ping file 4755 0:0 @1700000000 xattr:security.capability=0100000200200000000000000000000000000000 "ELF"
            bin/sh symlink 0777 0:0 -> busybox
            dev dir 0755 0:0
            dev/null char 0660 0:0 1,3
            dev/sda block 0660 4294967295:0 8,0
            empty file 0644 0:0 ""
            run dir 0755 0:0
            run/fifo fifo 0600 0:42
            tmp dir 1777 0:0
            usr dir 0755 0:0
            usr/bin dir 0755 0:0
            usr/bin/wall file 2755 0:0 "w"
        "#]],
    );
}

#[test]
fn long_names_pax_and_gnu() {
    let long_dir = "d".repeat(120);
    let pax_name = format!("{long_dir}/pax-file");
    let gnu_name = format!("{long_dir}/gnu-file");
    let mut gnu = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1);
    header.set_entry_type(tar::EntryType::Regular);
    gnu.append_data(&mut header, &gnu_name, &b"gnu"[..]).unwrap();
    let pax = l()
        .raw(
            "short-name",
            tar::EntryType::Regular,
            0o644,
            b"pax",
            "",
            &[("path", pax_name.as_bytes())],
        )
        .raw("lnk", tar::EntryType::Link, 0o644, b"", "x", &[("linkpath", pax_name.as_bytes())])
        .build();
    let tree_text = {
        let mut content = MemoryContent::new();
        let gnu = gnu.into_inner().unwrap();
        content.insert("L0", gnu.clone());
        content.insert("L1", pax.clone());
        let tree = merge_layers([
            (Arc::from("L0"), std::io::Cursor::new(gnu)),
            (Arc::from("L1"), std::io::Cursor::new(pax)),
        ])
        .unwrap();
        dump(&tree, &content)
    };
    assert_eq!(
        tree_text,
        format!(
            "{long_dir} dir 0755 0:0\n{gnu_name} file 0600 0:0 @1 \"gnu\"\n{pax_name} file 0644 0:0 \
             \"pax\"\nlnk hardlink 0644 0:0 => {pax_name}\n"
        )
    );
}

#[test]
fn whiteouts_delete_lower_entries_and_subtrees() {
    let base = l()
        .file("etc/keep", "k")
        .file("etc/gone", "g")
        .file("var/lib/db/data", "d")
        .file("var/lib/other", "o")
        .build();
    let top = l().marker("etc/.wh.gone").marker("var/lib/.wh.db").marker("var/.wh.absent").build();
    check(
        vec![base, top],
        expect![[r#"
            etc dir 0755 0:0
            etc/keep file 0644 0:0 "k"
            var dir 0755 0:0
            var/lib dir 0755 0:0
            var/lib/other file 0644 0:0 "o"
        "#]],
    );
}

#[test]
fn a_whiteout_never_hides_its_own_layer() {
    // Whiteouts apply to lower layers only, before or after the addition in tar order.
    let base = l().file("a/x", "old").file("a/y", "old").build();
    let top = l().file("a/x", "new").marker("a/.wh.x").marker("a/.wh.y").file("a/y", "new").build();
    check(
        vec![base, top],
        expect![[r#"
            a dir 0755 0:0
            a/x file 0644 0:0 "new"
            a/y file 0644 0:0 "new"
        "#]],
    );
}

#[test]
fn opaque_directory_hides_lower_children_only() {
    let base = l().dir("tmp", 0o1777).file("tmp/old", "o").file("tmp/sub/old", "o").build();
    // The opaque marker comes AFTER the layer's own additions and still keeps them.
    let top = l().file("tmp/new", "n").dir("tmp/sub2", 0o700).marker("tmp/.wh..wh..opq").build();
    check(
        vec![base, top],
        expect![[r#"
            tmp dir 1777 0:0
            tmp/new file 0644 0:0 "n"
            tmp/sub2 dir 0700 0:0
        "#]],
    );
}

#[test]
fn opaque_marker_first_and_on_a_missing_directory() {
    let base = l().file("a/old", "o").build();
    let top = l().marker("a/.wh..wh..opq").file("a/new", "n").marker("b/c/.wh..wh..opq").build();
    check(
        vec![base, top],
        expect![[r#"
            a dir 0755 0:0
            a/new file 0644 0:0 "n"
            b dir 0755 0:0
            b/c dir 0755 0:0
        "#]],
    );
}

#[test]
fn replacing_files_and_directories() {
    let base = l()
        .file("x/inner", "i")
        .file("y", "was a file")
        .dir("z", 0o700)
        .file("z/kept", "k")
        .symlink("s", "x")
        .build();
    let top = l()
        .file("x", "now a file")
        .dir("y", 0o750)
        .file("y/child", "c")
        .dir("z/", 0o755)
        .file("s", "replaces the symlink, not its target")
        .build();
    check(
        vec![base, top],
        expect![[r#"
            s file 0644 0:0 "replaces the symlink, not its target"
            x file 0644 0:0 "now a file"
            y dir 0750 0:0
            y/child file 0644 0:0 "c"
            z dir 0755 0:0
            z/kept file 0644 0:0 "k"
        "#]],
    );
}

#[test]
fn names_are_normalized_and_duplicates_last_wins() {
    let layer = l()
        .file("./a/b", "first")
        .file("/a//b", "second")
        .file("a/./c/../d", "cleaned")
        .dir("./", 0o700)
        .dir("e/", 0o711)
        .dir("./e", 0o755)
        .build();
    check(
        vec![layer],
        expect![[r#"
            a dir 0755 0:0
            a/b file 0644 0:0 "second"
            a/d file 0644 0:0 "cleaned"
            e dir 0755 0:0
        "#]],
    );
}

#[test]
fn escapes_are_errors_naming_layer_and_path() {
    check(
        vec![l().file("ok", "").build(), l().file("a/../../etc/passwd", "x").build()],
        expect![[r#"
            error: layer L1: a/../../etc/passwd: path climbs above the root with `..`
        "#]],
    );
    check(
        vec![l().hardlink("x", "../outside").build()],
        expect![[r#"
            error: layer L0: x: hard link target "../outside" is not a path inside the layer
        "#]],
    );
}

#[test]
fn parent_that_is_a_file_is_an_error() {
    check(
        vec![l().file("a", "file").build(), l().file("a/b", "x").build()],
        expect![[r#"
            error: layer L1: a/b: parent a is not a directory (expected a directory, found a file, device or fifo)
        "#]],
    );
}

#[test]
fn symlinked_parents_are_followed_inside_the_tree() {
    // usrmerge: /lib -> usr/lib; a later layer writes through it, and an absolute or climbing
    // link stays inside the root.
    let base = l()
        .dir("usr/lib", 0o755)
        .symlink("lib", "usr/lib")
        .symlink("usr/lib/up", "../../../../etc")
        .symlink("abs", "/usr/lib")
        .file("usr/lib/old", "o")
        .build();
    let top =
        l().file("lib/libc.so", "c").file("usr/lib/up/conf", "e").marker("abs/.wh.old").build();
    check(
        vec![base, top],
        expect![[r#"
            abs symlink 0777 0:0 -> /usr/lib
            etc dir 0755 0:0
            etc/conf file 0644 0:0 "e"
            lib symlink 0777 0:0 -> usr/lib
            usr dir 0755 0:0
            usr/lib dir 0755 0:0
            usr/lib/libc.so file 0644 0:0 "c"
            usr/lib/up symlink 0777 0:0 -> ../../../../etc
        "#]],
    );
}

#[test]
fn symlink_loops_are_errors() {
    check(
        vec![l().symlink("a", "b").symlink("b", "a").build(), l().file("a/x", "").build()],
        expect![[r#"
            error: layer L1: a/x: more than 40 symbolic links in the path
        "#]],
    );
}

#[test]
fn hard_links_within_a_layer() {
    let layer = l()
        .file_mode("bin/busybox", 0o755, "bb")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("a-first", "./bin/busybox")
        .build();
    // The first path in tree order holds the file; the others link to it.
    check(
        vec![layer],
        expect![[r#"
            a-first file 0755 0:0 "bb"
            bin dir 0755 0:0
            bin/busybox hardlink 0755 0:0 => a-first
            bin/sh hardlink 0755 0:0 => a-first
        "#]],
    );
}

#[test]
fn hard_links_keep_old_content_when_the_target_is_replaced_or_deleted() {
    let l0 = l().file("etc/init.d/001-hello", "v1").file("x/t", "t1").build();
    let l1 =
        l().hardlink("etc/init.d/002-link", "etc/init.d/001-hello").hardlink("y", "x/t").build();
    // Replace the first target, delete the second (with its whole directory).
    let l2 = l().file("etc/init.d/001-hello", "v2").marker(".wh.x").build();
    check(
        vec![l0, l1, l2],
        expect![[r#"
            etc dir 0755 0:0
            etc/init.d dir 0755 0:0
            etc/init.d/001-hello file 0644 0:0 "v2"
            etc/init.d/002-link file 0644 0:0 "v1"
            y file 0644 0:0 "t1"
        "#]],
    );
}

#[test]
fn hard_links_across_layers_stay_links() {
    let l0 = l().file("usr/bin/tool", "t").build();
    let l1 = l().hardlink("bin/tool", "usr/bin/tool").build();
    check(
        vec![l0, l1],
        expect![[r#"
            bin dir 0755 0:0
            bin/tool file 0644 0:0 "t"
            usr dir 0755 0:0
            usr/bin dir 0755 0:0
            usr/bin/tool hardlink 0644 0:0 => bin/tool
        "#]],
    );
}

#[test]
fn hard_link_errors() {
    check(
        vec![l().hardlink("a", "missing").build()],
        expect![[r#"
            error: layer L0: a: hard link to missing: expected an existing file, found none
        "#]],
    );
    check(
        vec![l().dir("d", 0o755).hardlink("a", "d").build()],
        expect![[r#"
            error: layer L0: a: hard link to d: expected a file, found a directory
        "#]],
    );
    // The target must come before the link in the tar.
    check(
        vec![l().hardlink("a", "b").file("b", "x").build()],
        expect![[r#"
            error: layer L0: a: hard link to b: expected an existing file, found none
        "#]],
    );
}

#[test]
fn hard_link_to_a_symlink_becomes_a_copy() {
    check(
        vec![l().symlink("s", "target").hardlink("t", "s").build()],
        expect![[r#"
            s symlink 0777 0:0 -> target
            t symlink 0777 0:0 -> target
        "#]],
    );
}

#[test]
fn unsupported_entry_types_and_whiteout_without_name() {
    check(
        vec![l().raw("sparse", tar::EntryType::GNUSparse, 0o644, b"", "", &[]).build()],
        expect![[r#"
            error: layer L0: sparse: unsupported entry type 'S' (expected a file, directory, link, device or fifo)
        "#]],
    );
    check(
        vec![l().marker("a/.wh.").build()],
        expect![[r#"
            error: layer L0: a/.wh.: whiteout `.wh.` names no entry
        "#]],
    );
}

#[test]
fn aufs_metadata_and_global_headers_are_skipped() {
    let layer = l()
        .raw("pax_global_header", tar::EntryType::XGlobalHeader, 0o644, b"", "", &[])
        .dir(".wh..wh.plnk", 0o700)
        .marker(".wh..wh.aufs")
        .file("f", "x")
        .build();
    check(
        vec![layer],
        expect![[r#"
            f file 0644 0:0 "x"
        "#]],
    );
}

#[test]
fn layer_is_read_to_the_end_and_checked_before_it_applies() {
    use crate::digest::{Digest, Verifier};
    let layer = l().file("f", "x").build();
    let good = Verifier::new(&layer[..], &Digest::sha256(&layer), None);
    assert!(merge_layers([(Arc::from("L0"), good)]).is_ok());
    // Tampering after the end-of-archive marker is still detected.
    let mut tampered = layer.clone();
    let last = tampered.len() - 1;
    tampered[last] = 1;
    let bad = Verifier::new(&tampered[..], &Digest::sha256(&layer), None);
    let err = merge_layers([(Arc::from("L0"), bad)]).unwrap_err();
    assert!(err.to_string().starts_with("layer L0: digest mismatch"), "{err}");
}

#[test]
fn empty_numeric_fields_read_as_zero_like_go() {
    let mut layer = l().file("f", "x").build();
    // Blank the uid, gid and mtime fields of the first header and fix its checksum.
    let mut header = tar::Header::new_old();
    header.as_mut_bytes().copy_from_slice(&layer[..512]);
    header.as_old_mut().uid = [0; 8];
    header.as_old_mut().gid = [b' '; 8];
    header.as_old_mut().mtime = [0; 12];
    header.set_cksum();
    layer[..512].copy_from_slice(header.as_bytes());
    check(
        vec![layer],
        expect![[r#"
            f file 0644 0:0 "x"
        "#]],
    );
}
