//! newc cpio writer and reader for Linux initramfs images, with real hard links and device nodes.
