//! Unit tests of the EROFS writer and reader.

use std::io::Cursor;

use super::*;
use crate::dump::dump;
use crate::testutil::tree_from_fixture;
use crate::tree::NoBlobs;

fn options(compression: Compression) -> ErofsOptions {
    ErofsOptions { epoch: 1_700_000_000, uuid: None, volume_name: b"kit".to_vec(), compression }
}

#[test]
fn scratch_write() {
    let tree = tree_from_fixture(
        r#"
//- /bin/busybox mode=04755 mtime=1700000000 xattr.security.capability=0x0100000200200000000000000000000000000000
#!/bin/sh
//- /bin/sh symlink=busybox mtime=1700000000
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,16 mode=0660 gid=6
//- /etc/init.d/001-hello mode=0755 mtime=1700000000 xattr.user.a=1 xattr.user.b=2
echo hello
//- /etc/init.d/002-hello-hardlink hardlink=/etc/init.d/001-hello mode=0644
//- /etc/ping mode=0755 uid=3000000 gid=1000 xattr.user.a=1
//- /etc/pong mode=0755 uid=3000000 gid=1000 xattr.user.a=1
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
"#,
    )
    .unwrap();
    let mut tree = tree;
    let big: Vec<u8> = (0..100_000u32).flat_map(|i| format!("{i}\n").into_bytes()).collect();
    tree.root.insert(
        b"big".to_vec(),
        crate::tree::Node::new(
            crate::tree::NodeKind::File(crate::tree::Content::Inline(std::sync::Arc::from(big))),
            crate::tree::Meta::new(0o644, 1_700_000_000),
        ),
    );
    for (name, compression) in [("plain", Compression::None), ("lz4", Compression::Lz4)] {
        let bytes = to_vec(&tree, &NoBlobs, &options(compression)).unwrap();
        std::fs::write(format!("/tmp/kit-erofs-{name}.img"), &bytes).unwrap();
        let back = read(&mut Cursor::new(&bytes)).unwrap();

        let _ = dump(&back);
    }
}
