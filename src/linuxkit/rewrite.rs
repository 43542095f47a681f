//! LinuxKit's per-image rewrite rules (`ImageTar` in `moby/build/image.go`, reference/linuxkit.md
//! §2.5 and §10 fact 10), applied to a merged image tree before it is placed in the root.
//!
//! * `.dockerenv`, `Dockerfile`, `dev/console` and `etc/hostname` are dropped.
//! * `dev/pts` and `dev/shm` are dropped as entries but re-created as directories: LinuxKit's
//!   "must exist" table is keyed with trailing slashes that never match, so `dev`, `dev/pts`,
//!   `dev/shm`, `etc`, `proc` and `sys` are always re-emitted as 0755 root-owned directories
//!   with the fixed mtime. In a tree this means: their metadata is replaced, their content kept.
//! * `etc/hosts` is always a fixed 0644 localhost file; `etc/resolv.conf` is a 0644 stub file
//!   for containers, or a symlink (mode 0644) to `/run/resolvconf/resolv.conf` for init and
//!   volume images.
//! * `etc/mtab` keeps what the image has with the fixed mtime, or becomes a 0755 symlink to
//!   `/proc/mounts`.
//!
//! Where LinuxKit drops only a directory's own entry (`Dockerfile/`...), kit drops the whole
//! subtree.

use std::sync::Arc;

use formats::tree::{Content, Dir, Meta, Node, NodeKind, Origin, Tree};

use crate::linuxkit::place;

/// The fixed `etc/hosts` LinuxKit writes into every image.
pub const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";

/// The `etc/resolv.conf` stub LinuxKit writes into container images.
pub const RESOLV_STUB: &str = "\n# no resolv.conf configured\n";

/// Where `etc/resolv.conf` points in init and volume images.
pub const RESOLV_SYMLINK: &str = "/run/resolvconf/resolv.conf";

/// How `etc/resolv.conf` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolv {
    /// A regular file with [`RESOLV_STUB`] (container root filesystems).
    Stub,
    /// A symlink to [`RESOLV_SYMLINK`] (init and volume images).
    Symlink,
}

/// Returns the image's root entries rewritten as LinuxKit writes them, every node carrying
/// `origin`, hard-link targets prefixed with `link_prefix` (`""` at `/`, or the bundle path
/// followed by `/`), generated entries stamped with `epoch`.
pub fn rewrite_image(
    image: &Tree,
    resolv: Resolv,
    epoch: i64,
    origin: &Option<Arc<Origin>>,
    link_prefix: &[u8],
) -> Dir {
    let mut root = image.root.clone();
    place::stamp(&mut root, origin, link_prefix);

    for path in [&b".dockerenv"[..], b"Dockerfile", b"etc/hostname", b"dev/console"] {
        remove(&mut root, path);
    }

    let dir_meta = Meta::new(0o755, epoch);
    for path in [&b"dev"[..], b"dev/pts", b"dev/shm", b"etc", b"proc", b"sys"] {
        let parts = place::components(path);
        place::mkdir_all(&mut root, &parts, &dir_meta, origin);
    }

    let etc = place::mkdir_all(&mut root, &[b"etc"], &dir_meta, origin);
    match etc.get_mut(&b"mtab"[..]) {
        Some(mtab) => mtab.meta.mtime = epoch,
        None => {
            etc.insert(
                b"mtab".to_vec(),
                Node {
                    kind: NodeKind::Symlink(b"/proc/mounts".to_vec()),
                    meta: Meta::new(0o755, epoch),
                    origin: origin.clone(),
                },
            );
        }
    }
    etc.insert(
        b"hosts".to_vec(),
        Node {
            kind: NodeKind::File(Content::Inline(Arc::from(HOSTS.as_bytes()))),
            meta: Meta::new(0o644, epoch),
            origin: origin.clone(),
        },
    );
    let resolv_kind = match resolv {
        Resolv::Stub => NodeKind::File(Content::Inline(Arc::from(RESOLV_STUB.as_bytes()))),
        Resolv::Symlink => NodeKind::Symlink(RESOLV_SYMLINK.as_bytes().to_vec()),
    };
    etc.insert(
        b"resolv.conf".to_vec(),
        Node { kind: resolv_kind, meta: Meta::new(0o644, epoch), origin: origin.clone() },
    );
    root
}

fn remove(root: &mut Dir, path: &[u8]) {
    let parts = place::components(path);
    let Some((last, parents)) = parts.split_last() else { return };
    let mut dir = root;
    for part in parents {
        match dir.get_mut(*part).map(|node| &mut node.kind) {
            Some(NodeKind::Dir(entries)) => dir = entries,
            _ => return,
        }
    }
    dir.remove(*last);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::linuxkit::testutil::{dump_dir, tree_from_text};

    fn check(text: &str, resolv: Resolv, link_prefix: &str, expect: Expect) {
        let image = tree_from_text(text);
        let origin = place::origin("img", "onboot[0]");
        let root = rewrite_image(&image, resolv, 1492533000, &origin, link_prefix.as_bytes());
        expect.assert_eq(&dump_dir(&root));
    }

    #[test]
    fn empty_image_gets_the_must_exist_entries() {
        // Expected from image.go's `touch` table: dirs 0755, mtab 0755 symlink, hosts 0644,
        // resolv.conf 0644 (symlink for init), all at the fixed time.
        check(
            "",
            Resolv::Symlink,
            "",
            expect![[r#"
                dir 0755 0:0 @1492533000 dev
                dir 0755 0:0 @1492533000 dev/pts
                dir 0755 0:0 @1492533000 dev/shm
                dir 0755 0:0 @1492533000 etc
                file 0644 0:0 @1492533000 etc/hosts size=160
                symlink 0755 0:0 @1492533000 etc/mtab -> /proc/mounts
                symlink 0644 0:0 @1492533000 etc/resolv.conf -> /run/resolvconf/resolv.conf
                dir 0755 0:0 @1492533000 proc
                dir 0755 0:0 @1492533000 sys
            "#]],
        );
    }

    #[test]
    fn excluded_replaced_and_touched_entries() {
        check(
            "
            //- /.dockerenv mode=0644
            //- /Dockerfile mode=0644
            FROM scratch
            //- /dev mode=0700 uid=5 mtime=7 dir
            //- /dev/console mode=0600 char=5,1
            //- /dev/pts mode=0700 dir
            //- /dev/shm/keep mode=0600
            x
            //- /etc mode=0750 dir
            //- /etc/hostname mode=0644
            box
            //- /etc/hosts mode=0600 uid=3
            1.2.3.4 x
            //- /etc/resolv.conf mode=0600
            nameserver 1.1.1.1
            //- /etc/mtab mode=0444 mtime=9
            mine
            //- /etc/passwd mode=0644 mtime=9
            root
            //- /etc/link mode=0644 hardlink=etc/passwd
            ",
            Resolv::Stub,
            "containers/services/x/lower/",
            expect![[r#"
                dir 0755 0:0 @1492533000 dev
                dir 0755 0:0 @1492533000 dev/pts
                dir 0755 0:0 @1492533000 dev/shm
                file 0600 0:0 @0 dev/shm/keep size=2
                dir 0755 0:0 @1492533000 etc
                file 0644 0:0 @1492533000 etc/hosts size=160
                hardlink 0644 0:0 @0 etc/link -> containers/services/x/lower/etc/passwd
                file 0444 0:0 @1492533000 etc/mtab size=5
                file 0644 0:0 @9 etc/passwd size=5
                file 0644 0:0 @1492533000 etc/resolv.conf size=29
                dir 0755 0:0 @1492533000 proc
                dir 0755 0:0 @1492533000 sys
            "#]],
        );
    }
}
